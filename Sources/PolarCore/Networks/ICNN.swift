// The input-convex potential u_theta of docs/design.md §1 (Amos et al. 2017, in the variant of
// Vesseron & Cuturi 2024), hidden widths h_1..h_L:
//   z_1 = act(Q_0(x)),  z_{k+1} = act(W_k z_k + Q_k(x)),  u(x) = W_L z_L + Q_L(x) + q(x)
// Q_k: quadratic potentials (Quadratic.swift) of the given rank; W_k >= 0; act convex and
// non-decreasing; q: one potential of full rank d, initialised to 1/2 |x|^2 (grad u = identity)
// or to the Gaussian (Bures) map. The output layer starts at 2e-4 scale so that u starts close to
// q (with fan-in initialisation everywhere grad u is off by 20-34x at start, docs/design.md §1), while
// the hidden layers start at unit scale (see initialParameters).

public struct ICNN: Sendable, Equatable {
  public let dim: Int
  public let hidden: [Int]
  public let rank: Int
  public let activation: Activation
  public let layout: ArenaLayout
  let quads: [Quadratic]  // Q_0 ... Q_L (Q_L has width 1)
  let weights: [Dense]  // W_1 ... W_L (non-negative; W_L has output 1)
  let q: Quadratic  // the initial potential, width 1, rank d

  public init(dim: Int, hidden: [Int], rank: Int, activation: Activation = .relu) {
    precondition(
      dim > 0 && !hidden.isEmpty && hidden.allSatisfy { $0 > 0 } && rank >= 0,
      "ICNN needs dim > 0, at least one hidden layer of positive width, rank >= 0")
    self.dim = dim
    self.hidden = hidden
    self.rank = rank
    self.activation = activation
    var layout = ArenaLayout()
    var quads = [Quadratic(("Q0"), dim: dim, width: hidden[0], rank: rank, layout: &layout)]
    var weights = [Dense]()
    let widths = hidden + [1]
    for k in 1 ..< widths.count {
      weights.append(
        Dense(
          "W\(k)", input: widths[k - 1], output: widths[k], bias: false,
          nonNegative: true, layout: &layout))
      quads.append(Quadratic("Q\(k)", dim: dim, width: widths[k], rank: rank, layout: &layout))
    }
    q = Quadratic("q", dim: dim, width: 1, rank: dim, layout: &layout)
    self.quads = quads
    self.weights = weights
    self.layout = layout
  }

  public var parameterCount: Int { layout.count }

  /// Initial parameters: hidden layers small and random (a pure function of `seed`), q set so
  /// that grad q(x) = S x + t, with S = I, t = 0 (identity) unless `gaussianMap` gives (S, t),
  /// S symmetric positive definite.
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func initialParameters<T: BLASScalar>(
    seed: UInt64,
    gaussianMap: (s: Matrix<Double>, t: [Double])? = nil
  ) -> [T] {
    let rng = CounterRNG(seed: seed, stream: CounterRNG.streamID(0x1C, 0x22))
    var p = [T](repeating: 0, count: layout.count)
    // Hidden layers at unit scale, so that their features are genuinely nonlinear functions of x
    // (with all weights ~0.01 every pre-activation sits where elu is nearly linear, u stays a
    // quadratic and the nonlinear part of the map is learnt very slowly): quadratic potentials
    // with A ~ N(0, 1/d), softplus(d) = 0.1, b ~ N(0, 1/d), c ~ N(0, 1); non-negative W ~ |N(0, 1)|
    // / fan-in, which keeps magnitudes (a positive sum of fan-in terms) from growing layer after
    // layer. The output layer (W_L, Q_L) starts at 2e-4 scale, so grad u starts as grad q.
    let unit = 1 / Double(dim).squareRoot()
    for (k, quad) in quads.enumerated() {
      let output = k == quads.count - 1
      let s = output ? 2e-4 : unit
      for i in quad.a.range { p[i] = T(s * rng.normal(UInt64(i))) }
      for i in quad.d.range { p[i] = softplusInverse(T(output ? 2e-4 : 0.1)) }
      for i in quad.b.range { p[i] = T(s * rng.normal(UInt64(i))) }
      for i in quad.c.range { p[i] = output ? 0 : T(rng.normal(UInt64(i))) }
    }
    for (k, w) in weights.enumerated() {
      let s = k == weights.count - 1 ? 2e-4 : 1 / Double(w.input)
      for i in w.weight.range { p[i] = T(abs(s * rng.normal(UInt64(i)))) }
    }
    // q: 1/2 x^T (A A^T + diag(softplus d)) x + b^T x.
    let s = gaussianMap?.s ?? Matrix<Double>.identity(dim)
    let t = gaussianMap?.t ?? [Double](repeating: 0, count: dim)
    // Split S = A A^T + delta I with delta below S's smallest eigenvalue; A from Cholesky. A tiny
    // random part keeps A's gradient alive (with A = 0 it would stay 0: dA = X^T (G X A)).
    let lambdaMin = symmetricEigen(s).values.min() ?? 1
    let delta = 0.5 * lambdaMin
    var rest = s
    for i in 0 ..< dim { rest[i, i] -= delta }
    let l = cholesky(rest) ?? Matrix<Double>(rows: dim, cols: dim)
    for i in 0 ..< dim {
      for j in 0 ..< dim { p[q.a.offset + i * dim + j] = T(l[i, j] + 1e-3 * rng.normal(UInt64(q.a.offset + i * dim + j))) }
      p[q.d.offset + i] = softplusInverse(T(delta))
      p[q.b.offset + i] = T(t[i])
    }
    return p
  }

  /// Everything backward needs.
  public struct Tape<T: BLASScalar> {
    let quadTapes: [Quadratic.Tape<T>]
    let qTape: Quadratic.Tape<T>
    let pre: [Matrix<T>]  // pre-activations of z_1 ... z_L
    let post: [Matrix<T>]  // z_1 ... z_L
    public let u: [T]
  }

  /// softplus of every quadratic's raw diagonal, Q_0 ... Q_L then q: what `forward` would
  /// compute on each call; pass it in when evaluating the same parameters many times.
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func diagonals<T: BLASScalar>(_ params: [T]) -> [Matrix<T>] {
    params.withUnsafeBufferPointer { buf in (quads + [q]).map { $0.diagonal(buf.baseAddress!) } }
  }

  /// u at every row of X [B, d] (`diagonals`, when given, from `diagonals(params)`).
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func forward<T: BLASScalar>(_ params: [T], _ x: Matrix<T>, diagonals: [Matrix<T>]? = nil) -> Tape<T> {
    precondition(params.count == layout.count, "ICNN: \(params.count) parameters, expected \(layout.count)")
    return params.withUnsafeBufferPointer { buf in
      let p = buf.baseAddress!
      var tapes = [Quadratic.Tape<T>]()
      var pre = [Matrix<T>](), post = [Matrix<T>]()
      let (q0, t0) = quads[0].forward(p, x, diagonal: diagonals?[0])
      tapes.append(t0)
      pre.append(q0)
      post.append(activation.forward(q0))
      for k in 0 ..< weights.count {
        var z = weights[k].forward(p, post[k])
        let (qk, tk) = quads[k + 1].forward(p, x, diagonal: diagonals?[k + 1])
        tapes.append(tk)
        for i in z.storage.indices { z.storage[i] += qk.storage[i] }
        if k + 1 < weights.count {
          pre.append(z)
          post.append(activation.forward(z))
        } else {
          let (qq, tq) = q.forward(p, x, diagonal: diagonals?[quads.count])
          for i in z.storage.indices { z.storage[i] += qq.storage[i] }
          return Tape(quadTapes: tapes, qTape: tq, pre: pre, post: post, u: z.storage)
        }
      }
      fatalError("unreachable: the ICNN has an output layer")
    }
  }

  /// Backward from dL/du = `du` (one weight per row): accumulates dL/dtheta into `grad` when
  /// given, and returns dL/dx (row b: du_b grad u(x_b)) when `inputGradient`.
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func backward<T: BLASScalar>(
    _ params: [T], _ tape: Tape<T>, du: [T],
    grad: inout [T], accumulate: Bool = true,
    inputGradient: Bool
  ) -> Matrix<T>? {
    precondition(grad.count == layout.count, "ICNN: gradient buffer has the wrong size")
    return params.withUnsafeBufferPointer { buf in
      grad.withUnsafeMutableBufferPointer { gbuf in
        backward(
          buf.baseAddress!, tape, du: du, grad: accumulate ? gbuf.baseAddress! : nil,
          inputGradient: inputGradient)
      }
    }
  }

  /// dL/dx only (no parameter gradient).
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func inputGradient<T: BLASScalar>(_ params: [T], _ tape: Tape<T>, du: [T]) -> Matrix<T> {
    params.withUnsafeBufferPointer { backward($0.baseAddress!, tape, du: du, grad: nil, inputGradient: true)! }
  }

  func backward<T: BLASScalar>(
    _ p: UnsafePointer<T>, _ tape: Tape<T>, du: [T],
    grad: UnsafeMutablePointer<T>?, inputGradient: Bool
  ) -> Matrix<T>? {
    let n = du.count
    var g = Matrix<T>(rows: n, cols: 1, storage: du)
    var dx = q.backward(p, tape.qTape, g, grad: grad, inputGradient: inputGradient)
    func addInput(_ m: Matrix<T>?) {
      guard let m else { return }
      for i in dx!.storage.indices { dx!.storage[i] += m.storage[i] }
    }
    // From the top: g is dL/d(pre-activation) of layer k + 1 (the output for the last).
    for k in stride(from: weights.count - 1, through: 0, by: -1) {
      addInput(quads[k + 1].backward(p, tape.quadTapes[k + 1], g, grad: grad, inputGradient: inputGradient))
      let dz = weights[k].backward(p, tape.post[k], g, grad: grad, inputGradient: true)!
      g = activation.backward(tape.pre[k], dz)
    }
    addInput(quads[0].backward(p, tape.quadTapes[0], g, grad: grad, inputGradient: inputGradient))
    return dx
  }

  /// u and grad u at every row of X.
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func valueAndGradient<T: BLASScalar>(
    _ params: [T], _ x: Matrix<T>,
    diagonals: [Matrix<T>]? = nil
  ) -> (u: [T], grad: Matrix<T>) {
    let tape = forward(params, x, diagonals: diagonals)
    return (tape.u, inputGradient(params, tape, du: [T](repeating: 1, count: x.rows)))
  }

  /// Keeps the ICNN convex after an optimizer step: W_k <- max(W_k, 0).
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func project<T: BLASScalar>(_ params: inout [T]) {
    params.withUnsafeMutableBufferPointer { buf in
      for w in weights { w.project(buf.baseAddress!) }
    }
  }
}
