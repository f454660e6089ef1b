// Dense layer Y = X W^T + b (X: [B, in], W: [out, in], b: [out]), and its non-negative variant
// (W >= 0, no bias) used between ICNN layers: W >= 0 with a convex non-decreasing activation
// keeps the network convex in its input (Amos et al. 2017). The constraint is kept by projection
// (W <- max(W, 0)) after every optimizer step; the gradient is the plain one.

public struct Dense: Sendable, Equatable {
  public let input: Int
  public let output: Int
  public let nonNegative: Bool
  public let weight: ParameterBlock  // [out, in]
  public let bias: ParameterBlock?  // [out]

  public init(
    _ name: String, input: Int, output: Int, bias: Bool = true, nonNegative: Bool = false,
    layout: inout ArenaLayout
  ) {
    self.input = input
    self.output = output
    self.nonNegative = nonNegative
    weight = layout.add("\(name).W", [output, input])
    self.bias = bias ? layout.add("\(name).b", [output]) : nil
  }

  /// Forward: Y = X W^T + b.
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func forward<T: BLASScalar>(_ p: UnsafePointer<T>, _ x: Matrix<T>) -> Matrix<T> {
    precondition(x.cols == input, "Dense \(weight.name): input has \(x.cols) columns, expected \(input)")
    var y = Matrix<T>(rows: x.rows, cols: output)
    x.withPointer { px in y.withMutablePointer { forward(p, px, rows: x.rows, into: $0) } }
    return y
  }

  /// Y [n, output] = X W^T + b for X [n, input], into buffers (MLPEvaluator).
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func forward<T: BLASScalar>(_ p: UnsafePointer<T>, _ x: UnsafePointer<T>, rows n: Int, into y: UnsafeMutablePointer<T>) {
    if let bias {
      for r in 0 ..< n { for j in 0 ..< output { y[r * output + j] = p[bias.offset + j] } }
    }
    mm(false, true, n, output, input, 1, x, input, p + weight.offset, input, bias == nil ? 0 : 1, y, output)
  }

  /// Backward: dW += dY^T X, db += sum_rows dY (when `grad` is given); returns dX = dY W when
  /// `inputGradient`.
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func backward<T: BLASScalar>(
    _ p: UnsafePointer<T>, _ x: Matrix<T>, _ dY: Matrix<T>,
    grad: UnsafeMutablePointer<T>?, inputGradient: Bool
  ) -> Matrix<T>? {
    if let grad {
      dY.withPointer { pd in x.withPointer { px in accumulateGradient(px, dY: pd, rows: x.rows, into: grad) } }
    }
    guard inputGradient else { return nil }
    var dX = Matrix<T>(rows: x.rows, cols: input)
    dY.withPointer { pd in dX.withMutablePointer { self.inputGradient(p, dY: pd, rows: x.rows, into: $0) } }
    return dX
  }

  /// dW += dY^T X and db += sum_rows dY for X [n, input], dY [n, output].
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func accumulateGradient<T: BLASScalar>(
    _ x: UnsafePointer<T>, dY: UnsafePointer<T>, rows n: Int,
    into grad: UnsafeMutablePointer<T>
  ) {
    mm(true, false, output, input, n, 1, dY, output, x, input, 1, grad + weight.offset, input)
    if let bias {
      for r in 0 ..< n { for j in 0 ..< output { grad[bias.offset + j] += dY[r * output + j] } }
    }
  }

  /// dX [n, input] = dY W.
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func inputGradient<T: BLASScalar>(
    _ p: UnsafePointer<T>, dY: UnsafePointer<T>, rows n: Int,
    into dX: UnsafeMutablePointer<T>
  ) {
    mm(false, false, n, input, output, 1, dY, output, p + weight.offset, input, 0, dX, input)
  }

  /// Projection onto W >= 0 (non-negative layers only).
  public func project<T: BLASScalar>(_ p: UnsafeMutablePointer<T>) {
    guard nonNegative else { return }
    for i in weight.range where p[i] < 0 { p[i] = 0 }
  }
}
