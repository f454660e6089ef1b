// An MLP (MLP.swift) on batches with every buffer allocated once: the forward pass keeps each
// layer's input and act'(pre-activation), so backward is one product per layer and direction,
//   forward:  h_0 = X (phi(X) with Fourier features),  pre_k = h_{k-1} W_k^T + b_k,  h_k = act(pre_k),  Y = pre_L (+ X S^T)
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
  let phi: UnsafeMutablePointer<T>  // [n, fourier width]: the Fourier features (unused without)
  let post: [UnsafeMutablePointer<T>]  // h_k = act(pre_k), hidden layers
  let slope: [UnsafeMutablePointer<T>]  // act'(pre_k)
  /// The output Y [n, output] of the latest forward.
  public let y: UnsafeMutablePointer<T>
  let ga: UnsafeMutablePointer<T>, gb: UnsafeMutablePointer<T>  // [n, max width]: G, two in turn
  let pre: UnsafeMutablePointer<T>  // [n, max width]: a hidden layer's pre-activation
  let buffers: Buffers  // owns every pointer above

  public init(_ net: MLP, capacity: Int) {
    precondition(capacity >= 1, "MLPEvaluator: capacity must be at least 1")
    self.net = net
    self.capacity = capacity
    widths = [net.fourier?.width ?? net.input] + net.hidden + [net.output]
    // Every buffer is a slice of one block (Buffers), planned here and pointed below.
    let n = capacity, wmax = widths.max() ?? 1
    var plan = Buffers.Plan()
    let sX = plan.add(T.self, n * net.input), sPhi = plan.add(T.self, n * (net.fourier?.width ?? 0))
    let sPost = net.hidden.map { plan.add(T.self, n * $0) }, sSlope = net.hidden.map { plan.add(T.self, n * $0) }
    let sY = plan.add(T.self, n * net.output)
    let sGa = plan.add(T.self, n * wmax), sGb = plan.add(T.self, n * wmax), sPre = plan.add(T.self, n * wmax)
    let b = Buffers(plan)
    buffers = b
    x = b.pointer(sX, 0)
    phi = b.pointer(sPhi, 0)
    post = sPost.map { b.pointer($0, 0) }
    slope = sSlope.map { b.pointer($0, 0) }
    y = b.pointer(sY, 0)
    ga = b.pointer(sGa, 0); gb = b.pointer(sGb, 0); pre = b.pointer(sPre, 0)
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
      if let fourier = net.fourier {
        fourier.forward(x, rows: n, into: phi)
        h = UnsafePointer(phi)
      }
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
        let h = k > 0 ? UnsafePointer(post[k - 1]) : net.fourier == nil ? UnsafePointer(x) : UnsafePointer(phi)
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
