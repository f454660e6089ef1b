// An MLP (MLP.swift) on batches with every buffer allocated once: the forward pass keeps each
// layer's input and act'(pre-activation), so backward is one product per layer and direction,
//   forward:  h_0 = X,  pre_k = h_{k-1} W_k^T + b_k,  h_k = act(pre_k),  Y = pre_L (+ X S^T)
//   backward: G_L = dY;  dW_k += G_k^T h_{k-1},  db_k += sum_rows G_k,  G_{k-1} = (G_k W_k) ∘ act'(pre_{k-1})
//             (+ dS += dY^T X for the skip).
// The training steps' amortizer, M_psi and bridge network and the sampler run through it (no
// allocation per call); the same numbers as MLP.forward and MLP.backward up to rounding (tested
// in Double).

public final class MLPEvaluator<T: BLASScalar> {
  public let net: MLP
  public let capacity: Int
  let widths: [Int]  // input, hidden..., output
  var params: [T] = []
  let x: UnsafeMutablePointer<T>  // [n, input]: a copy of the batch
  let post: [UnsafeMutablePointer<T>]  // h_k = act(pre_k), hidden layers
  let slope: [UnsafeMutablePointer<T>]  // act'(pre_k)
  /// The output Y [n, output] of the latest forward.
  public let y: UnsafeMutablePointer<T>
  let ga: UnsafeMutablePointer<T>, gb: UnsafeMutablePointer<T>  // [n, max width]: G, two in turn
  let pre: UnsafeMutablePointer<T>  // [n, max width]: a hidden layer's pre-activation

  public init(_ net: MLP, capacity: Int) {
    precondition(capacity >= 1, "MLPEvaluator: capacity must be at least 1")
    self.net = net
    self.capacity = capacity
    widths = [net.input] + net.hidden + [net.output]
    func buffer(_ count: Int) -> UnsafeMutablePointer<T> {
      let b = UnsafeMutablePointer<T>.allocate(capacity: max(count, 1))
      b.initialize(repeating: 0, count: max(count, 1))
      return b
    }
    x = buffer(capacity * net.input)
    post = net.hidden.map { buffer(capacity * $0) }
    slope = net.hidden.map { buffer(capacity * $0) }
    y = buffer(capacity * net.output)
    ga = buffer(capacity * (widths.max() ?? 1))
    gb = buffer(capacity * (widths.max() ?? 1))
    pre = buffer(capacity * (widths.max() ?? 1))
  }

  deinit {
    for b in [x, y, ga, gb, pre] + post + slope { b.deallocate() }
  }

  /// Uses these parameters from now on (keeps a reference; no copy).
  public func load(_ params: [T]) {
    precondition(params.count == net.layout.count, "MLPEvaluator: \(params.count) parameters, expected \(net.layout.count)")
    self.params = params
  }

  /// Drops the reference to the parameter array; load again before the next forward.
  public func release() { params = [] }

  /// Y = f(X) at the n rows of x [n, input] (n <= capacity), into `y`.
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func forward(_ input: UnsafePointer<T>, rows n: Int) {
    precondition(n <= capacity, "MLPEvaluator: \(n) rows, capacity \(capacity)")
    if n == 0 { return }
    for i in 0 ..< n * net.input { x[i] = input[i] }
    params.withUnsafeBufferPointer { buf in
      let p = buf.baseAddress!, L = net.depth
      var h = UnsafePointer(x)
      for k in 0 ..< L {
        let layer = net.layers[k]
        if k == L - 1 {
          layer.forward(p, h, rows: n, into: y)
        } else {  // pre_k, then h_k and act'(pre_k) (not in place: that would not vectorise)
          layer.forward(p, h, rows: n, into: pre)
          net.activation.valueAndSlope(pre, count: n * layer.output, value: post[k], slope: slope[k])
          h = UnsafePointer(post[k])
        }
      }
      if net.residual {  // Y += X S^T
        let skip = net.layers[L]
        mm(false, true, n, skip.output, skip.input, 1, x, skip.input, p + skip.weight.offset, skip.input, 1, y, skip.output)
      }
    }
  }

  /// grad += dL/dparams for dL/dY = dy [n, output], after `forward` on the same n rows.
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func backward(dy: UnsafePointer<T>, rows n: Int, grad: UnsafeMutablePointer<T>) {
    if n == 0 { return }
    params.withUnsafeBufferPointer { buf in
      let p = buf.baseAddress!, L = net.depth
      if net.residual {  // dS += dY^T X
        net.layers[L].accumulateGradient(x, dY: dy, rows: n, into: grad)
      }
      var g = dy, spare = ga
      for k in stride(from: L - 1, through: 0, by: -1) {
        let layer = net.layers[k]
        let h = k == 0 ? UnsafePointer(x) : UnsafePointer(post[k - 1])
        layer.accumulateGradient(h, dY: g, rows: n, into: grad)
        guard k > 0 else { break }
        // G_{k-1} = (G_k W_k) ∘ act'(pre_{k-1})
        layer.inputGradient(p, dY: g, rows: n, into: spare)
        let s = slope[k - 1]
        for i in 0 ..< n * layer.input { spare[i] *= s[i] }
        g = UnsafePointer(spare)
        spare = spare == ga ? gb : ga
      }
    }
  }
}
