// The W2 dual objective of docs/design.md §1 (Amos 2023, amortized conjugates):
//   L(theta) = E_{x~rho}[u(x)] + E_{y~F#rho}[<xhat(y), y> - u(xhat(y))],  xhat(y) = grad u*(y).
// By the envelope theorem (xhat maximises <x, y> - u(x)), dL/dtheta needs no derivative of xhat:
//   dL/dtheta = E[d_theta u(x)] - E[d_theta u(xhat(y))].
// Samples whose conjugate did not converge are masked out of the second expectation. The two
// sums are kept apart so that, across micro-batches and ranks, each is divided by its own global
// count (the batch size, and the number of converged conjugates).

public struct DualTerms: Sendable {
  /// sum_i u(x_i) over the rows of x.
  public var sumU: Double = 0
  /// sum_j <xhat_j, y_j> - u(xhat_j) = sum u*(y_j) over unmasked rows.
  public var sumConjugate: Double = 0
  /// Number of unmasked y rows.
  public var conjugateCount = 0
  public init() {}
}

extension ICNN {
  /// Accumulates gradX += sum_i d_theta u(x_i) and gradY += sum_{j unmasked} d_theta u(xhat_j),
  /// and returns the sums that make up the objective.
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func dualGradients<T: BLASScalar>(
    _ params: [T], x: Matrix<T>, y: Matrix<T>, xhat: Matrix<T>,
    mask: [Bool], gradX: inout [T], gradY: inout [T]
  ) -> DualTerms {
    precondition(
      x.cols == dim && y.cols == dim && xhat.rows == y.rows && mask.count == y.rows,
      "dualGradients: shapes differ")
    var terms = DualTerms()
    let tx = forward(params, x)
    _ = backward(params, tx, du: [T](repeating: 1, count: x.rows), grad: &gradX, inputGradient: false)
    for v in tx.u { terms.sumU += Double(v) }
    let kept = (0 ..< y.rows).filter { mask[$0] }
    guard !kept.isEmpty else { return terms }
    var xk = Matrix<T>(rows: kept.count, cols: dim)
    for (r, j) in kept.enumerated() { for k in 0 ..< dim { xk[r, k] = xhat[j, k] } }
    let ty = forward(params, xk)
    _ = backward(params, ty, du: [T](repeating: 1, count: kept.count), grad: &gradY, inputGradient: false)
    for (r, j) in kept.enumerated() {
      var xy = 0.0
      for k in 0 ..< dim { xy += Double(xhat[j, k]) * Double(y[j, k]) }
      terms.sumConjugate += xy - Double(ty.u[r])
    }
    terms.conjugateCount = kept.count
    return terms
  }
}

extension ICNNEvaluator {
  /// The same terms through the evaluator, allocating nothing: x, y, xhat [n, d], mask [n]
  /// (n <= capacity; the parameters loaded). The unmasked xhat rows are gathered into a buffer
  /// of the evaluator, so both sums run on fixed buffers whatever the mask.
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func dualGradients(
    x: UnsafePointer<T>, y: UnsafePointer<T>, xhat: UnsafePointer<T>, mask: UnsafePointer<Bool>,
    rows n: Int, gradX: UnsafeMutablePointer<T>, gradY: UnsafeMutablePointer<T>
  ) -> DualTerms {
    let sumU = sampleGradient(x: x, rows: n, gradX: gradX)
    var terms = conjugateGradient(y: y, xhat: xhat, mask: mask, rows: n, gradY: gradY)
    terms.sumU = sumU
    return terms
  }

  /// The first half, which needs no conjugate solve: gradX += sum_i d_theta u(x_i); returns
  /// sum_i u(x_i). A step computes it for all its micro-batches before their solves, so that
  /// its all-reduce runs behind them (docs/design.md §3, "Overlap").
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func sampleGradient(x: UnsafePointer<T>, rows n: Int, gradX: UnsafeMutablePointer<T>) -> Double {
    accumulateParameterGradient(x, rows: n, u: rowValues, into: gradX)
    var sumU = 0.0
    for i in 0 ..< n { sumU += Double(rowValues[i]) }
    return sumU
  }

  /// The second half: gradY += sum_{j unmasked} d_theta u(xhat_j); returns the conjugate sums
  /// (sumU left 0).
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func conjugateGradient(
    y: UnsafePointer<T>, xhat: UnsafePointer<T>, mask: UnsafePointer<Bool>, rows n: Int, gradY: UnsafeMutablePointer<T>
  ) -> DualTerms {
    var terms = DualTerms()
    var kept = 0
    for j in 0 ..< n where mask[j] {
      for k in 0 ..< d { gathered[kept * d + k] = xhat[j * d + k] }
      kept += 1
    }
    guard kept > 0 else { return terms }
    accumulateParameterGradient(gathered, rows: kept, u: rowValues, into: gradY)
    var r = 0
    for j in 0 ..< n where mask[j] {
      var xy = 0.0
      for k in 0 ..< d { xy += Double(xhat[j * d + k]) * Double(y[j * d + k]) }
      terms.sumConjugate += xy - Double(rowValues[r])
      r += 1
    }
    terms.conjugateCount = kept
    return terms
  }
}

/// The sums of one step of the dual over the whole global batch (all micro-batches, all ranks),
/// and what the step takes from them:
///   L = sum u(x) / B + sum u*(y) / C,   W2^2 ~ E|x|^2 + E|y|^2 - 2 L  (Brenier: W2^2 / 2 =
///   E|x|^2 / 2 + E|y|^2 / 2 - min L, for the optimal u),
///   dL/dtheta = sum d_theta u(x) / B - sum d_theta u(xhat) / C,
/// B the samples drawn, C the converged conjugates (at least 1).
public struct DualStepSums: Sendable {
  public var samples: Double
  public var sumU: Double
  public var sumConjugate: Double
  public var converged: Double
  public var sumX2: Double
  public var sumY2: Double

  public init(samples: Double, sumU: Double, sumConjugate: Double, converged: Double, sumX2: Double, sumY2: Double) {
    (self.samples, self.sumU, self.sumConjugate, self.converged, self.sumX2, self.sumY2) =
      (samples, sumU, sumConjugate, converged, sumX2, sumY2)
  }

  /// C, the divisor of the conjugate terms: the converged samples, at least 1.
  public var conjugateCount: Double { max(converged, 1) }
  /// The dual objective L of the step's batch.
  public var loss: Double { sumU / samples + sumConjugate / conjugateCount }
  /// The W2^2 estimate E|x|^2 + E|y|^2 - 2 L.
  public var w2: Double { sumX2 / samples + sumY2 / samples - 2 * loss }

  /// gradient[i] = sumX[i] / B - sumY[i] / C for i < count (sumX: sum d_theta u(x), sumY: sum d_theta u(xhat)).
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func gradient<T: BLASScalar>(
    sumX: UnsafePointer<T>, sumY: UnsafePointer<T>, count: Int,
    into gradient: UnsafeMutablePointer<T>
  ) {
    let b = T(samples), c = T(conjugateCount)
    for i in 0 ..< count { gradient[i] = sumX[i] / b - sumY[i] / c }
  }
}
