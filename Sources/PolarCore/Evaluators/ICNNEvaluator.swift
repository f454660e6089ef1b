// u(x) and grad u(x) of an ICNN (ICNN.swift) on batches, the conjugate solver's inner loop, with
// every buffer allocated once and the quadratic potentials of all layers packed together.
//
// With the quadratics Q_0..Q_L of widths w_0..w_L (total W) packed column-wise,
//   P = X A_all                       [n, W r]      (one product for every layer's x^T A_i)
//   Q = [X∘X | X] [S_all^T / 2 ; B_all^T] + c_all + 1/2 sum_r P^2      [n, W]
// the hidden layers run on column slices of Q in place (pre_{k+1} = W_k z_k + Q_k, GEMM with
// beta = 1), and u = W_L z_L + Q_L + q(x). Backward from du = 1: G holds dL/dQ for every layer
// (G_L = 1, G_{k-1} = (G_k W_k) ∘ act'(pre_k)), and then
//   grad u = (G ∘_r P) A_all^T + X ∘ (2 T_1) + T_2 + grad q,   [T_1 | T_2] = G [S_all/2 | B_all],
// three products for all layers together, where the layer-by-layer code (ICNN.backward) makes
// three per layer. q (rank d, width 1): grad q = x H + b, H = A_q A_q^T + diag(S_q), symmetric.
// The same numbers as ICNN.valueAndGradient up to rounding (tested in Double).
//
// Parameter gradients of sum_rows u (the dual objective's terms, du = 1), from the same G and
// G ∘_r P: dW_k = G_{k+1}^T z_k; per quadratic dA = X^T (G ∘_r P), and for all of them at once
// [dD' | dB] = G^T [X∘X | X] (dD = dD'/2 ∘ sigmoid(D)), dc = column sums of G; for q (G = 1):
// dA_q = (X^T X) A_q, dD_q = 1/2 sum_rows X∘X ∘ sigmoid(D_q), db_q = sum_rows X, dc_q = n.

public final class ICNNEvaluator<T: BLASScalar> {
  public let net: ICNN
  public let capacity: Int
  let d: Int, r: Int, widths: [Int], offsets: [Int], total: Int
  // Packed parameters (load).
  let aAll: UnsafeMutablePointer<T>  // [d, total * r]
  let sb: UnsafeMutablePointer<T>  // [2d, total]: S^T / 2 over B^T
  let cAll: UnsafeMutablePointer<T>  // [total]
  let hq: UnsafeMutablePointer<T>  // [d, d]
  let bq: UnsafeMutablePointer<T>  // [d]
  var cq: T = 0
  var params: [T] = []
  // Work buffers, capacity rows each.
  let xx: UnsafeMutablePointer<T>  // [n, 2d]: X∘X | X
  let p: UnsafeMutablePointer<T>  // [n, total * r]
  let q: UnsafeMutablePointer<T>  // [n, total]: Q, then the pre-activations in place
  let g: UnsafeMutablePointer<T>  // [n, total]: dL/dQ
  let post: [UnsafeMutablePointer<T>]  // z_k [n, h_k]
  let slope: [UnsafeMutablePointer<T>]  // act'(pre_k) [n, h_k]
  let dz: UnsafeMutablePointer<T>  // [n, max h]
  let t2: UnsafeMutablePointer<T>  // [n, 2d]
  let xh: UnsafeMutablePointer<T>  // [n, d]: X H
  // Parameter gradients (sizes independent of n).
  let tq: UnsafeMutablePointer<T>  // [total, 2d]: G^T [X∘X | X]
  let xtx: UnsafeMutablePointer<T>  // [d, d]
  let colSums: UnsafeMutablePointer<T>  // [2d]
  // The dual objective's (DualObjective.swift), capacity rows.
  let gathered: UnsafeMutablePointer<T>  // [n, d]: the unmasked xhat rows
  let rowValues: UnsafeMutablePointer<T>  // [n]: u at the rows
  let buffers: Buffers  // owns every pointer above

  public init(_ net: ICNN, capacity: Int) {
    precondition(capacity >= 1, "ICNNEvaluator: capacity must be at least 1")
    self.net = net
    self.capacity = capacity
    d = net.dim
    r = net.rank
    widths = net.hidden + [1]
    var off = [Int](), acc = 0
    for w in widths { off.append(acc); acc += w }
    offsets = off
    total = acc
    // Every buffer is a slice of one block (Buffers), planned here and pointed below.
    let n = capacity, hmax = net.hidden.max() ?? 1
    var plan = Buffers.Plan()
    let sA = plan.add(T.self, d * total * r), sSB = plan.add(T.self, 2 * d * total), sC = plan.add(T.self, total)
    let sHq = plan.add(T.self, d * d), sBq = plan.add(T.self, d)
    let sXX = plan.add(T.self, n * 2 * d), sP = plan.add(T.self, n * total * r), sQ = plan.add(T.self, n * total)
    let sG = plan.add(T.self, n * total)
    let sPost = net.hidden.map { plan.add(T.self, n * $0) }, sSlope = net.hidden.map { plan.add(T.self, n * $0) }
    let sDz = plan.add(T.self, n * hmax), sT2 = plan.add(T.self, n * 2 * d), sXh = plan.add(T.self, n * d)
    let sTq = plan.add(T.self, total * 2 * d), sXtx = plan.add(T.self, d * d), sCol = plan.add(T.self, 2 * d)
    let sGathered = plan.add(T.self, n * d), sRows = plan.add(T.self, n)
    let b = Buffers(plan)
    buffers = b
    aAll = b.pointer(sA, 0); sb = b.pointer(sSB, 0); cAll = b.pointer(sC, 0); hq = b.pointer(sHq, 0); bq = b.pointer(sBq, 0)
    xx = b.pointer(sXX, 0); p = b.pointer(sP, 0); q = b.pointer(sQ, 0); g = b.pointer(sG, 0)
    post = sPost.map { b.pointer($0, 0) }
    slope = sSlope.map { b.pointer($0, 0) }
    dz = b.pointer(sDz, 0); t2 = b.pointer(sT2, 0); xh = b.pointer(sXh, 0)
    tq = b.pointer(sTq, 0); xtx = b.pointer(sXtx, 0); colSums = b.pointer(sCol, 0)
    gathered = b.pointer(sGathered, 0); rowValues = b.pointer(sRows, 0)
  }

  /// Packs the parameters (call once per parameter vector; evaluations then reuse it).
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func load(_ params: [T]) {
    precondition(params.count == net.layout.count, "ICNNEvaluator: \(params.count) parameters, expected \(net.layout.count)")
    self.params = params
    params.withUnsafeBufferPointer { buf in
      let prm = buf.baseAddress!
      let tr = total * r
      for (k, quad) in net.quads.enumerated() {
        let w = widths[k], o = offsets[k]
        for i in 0 ..< d {
          for j in 0 ..< w * r { aAll[i * tr + o * r + j] = prm[quad.a.offset + i * w * r + j] }
          for j in 0 ..< w {
            sb[i * total + o + j] = softplus(prm[quad.d.offset + j * d + i]) / 2
            sb[(d + i) * total + o + j] = prm[quad.b.offset + j * d + i]
          }
        }
        for j in 0 ..< w { cAll[o + j] = prm[quad.c.offset + j] }
      }
      // q: H = A A^T + diag(softplus(d)), b, c.
      let a = net.q.a.offset
      for i in 0 ..< d {
        for j in 0 ..< d {
          var s: T = 0
          for t in 0 ..< d { s += prm[a + i * d + t] * prm[a + j * d + t] }
          hq[i * d + j] = s + (i == j ? softplus(prm[net.q.d.offset + i]) : 0)
        }
        bq[i] = prm[net.q.b.offset + i]
      }
      cq = prm[net.q.c.offset]
    }
  }

  /// Drops the reference to the loaded parameter array (so its owner can update it in place);
  /// load again before evaluating.
  public func release() { params = [] }

  /// u [n] and grad u [n, d] at the n rows of x [n, d] (n <= capacity).
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func evaluate(_ x: UnsafePointer<T>, rows n: Int, u: UnsafeMutablePointer<T>, grad: UnsafeMutablePointer<T>) {
    if n == 0 { return }
    forwardBackward(x, rows: n, u: u)
    finishGradient(x, rows: n, grad: grad)
  }

  /// u [n] at the n rows of x, and grad += sum over the rows of d_theta u (in the ICNN's
  /// parameter layout): the dual objective's gradient terms, allocation-free.
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func accumulateParameterGradient(
    _ x: UnsafePointer<T>, rows n: Int, u: UnsafeMutablePointer<T>,
    into grad: UnsafeMutablePointer<T>
  ) {
    if n == 0 { return }
    forwardBackward(x, rows: n, u: u)
    let tr = total * r, L = net.hidden.count
    params.withUnsafeBufferPointer { buf in
      let prm = buf.baseAddress!
      for k in 0 ..< L {  // dW_k = G_{k+1}^T z_k
        let w = net.weights[k]
        mm(true, false, w.output, w.input, n, 1, g + offsets[k + 1], total, post[k], w.input, 1, grad + w.weight.offset, w.input)
      }
      mm(true, false, total, 2 * d, n, 1, g, total, xx, 2 * d, 0, tq, 2 * d)
      for (k, quad) in net.quads.enumerated() {
        let w = widths[k], o = offsets[k]
        mm(true, false, d, w * r, n, 1, x, d, p + o * r, tr, 1, grad + quad.a.offset, w * r)
        for j in 0 ..< w {
          let t = tq + (o + j) * 2 * d
          for i in 0 ..< d {
            grad[quad.d.offset + j * d + i] += t[i] / 2 * sigmoid(prm[quad.d.offset + j * d + i])
            grad[quad.b.offset + j * d + i] += t[d + i]
          }
          var c: T = 0
          for row in 0 ..< n { c += g[row * total + o + j] }
          grad[quad.c.offset + j] += c
        }
      }
      // q, with G = 1 on every row.
      let qa = net.q.a.offset
      mm(true, false, d, d, n, 1, x, d, x, d, 0, xtx, d)
      mm(false, false, d, d, d, 1, xtx, d, prm + qa, d, 1, grad + qa, d)
      for i in 0 ..< 2 * d { colSums[i] = 0 }
      for row in 0 ..< n { for i in 0 ..< 2 * d { colSums[i] += xx[row * 2 * d + i] } }
      for i in 0 ..< d {
        grad[net.q.d.offset + i] += colSums[i] / 2 * sigmoid(prm[net.q.d.offset + i])
        grad[net.q.b.offset + i] += colSums[d + i]
      }
      grad[net.q.c.offset] += T(n)
    }
  }

  /// Forward to u and backward to G (dL/dQ of every layer) and G ∘_r P (in P), from du = 1.
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  func forwardBackward(_ x: UnsafePointer<T>, rows n: Int, u: UnsafeMutablePointer<T>) {
    precondition(n <= capacity, "ICNNEvaluator: \(n) rows, capacity \(capacity)")
    precondition(!params.isEmpty, "ICNNEvaluator: load parameters first")
    let tr = total * r, L = net.hidden.count
    params.withUnsafeBufferPointer { buf in
      let prm = buf.baseAddress!
      // Every quadratic potential at once.
      for i in 0 ..< n {
        for j in 0 ..< d { let v = x[i * d + j]; xx[i * 2 * d + j] = v * v; xx[i * 2 * d + d + j] = v }
      }
      mm(false, false, n, tr, d, 1, x, d, aAll, tr, 0, p, tr)
      mm(false, false, n, total, 2 * d, 1, xx, 2 * d, sb, total, 0, q, total)
      for i in 0 ..< n {
        let qi = q + i * total, pi = p + i * tr
        if r == 1 {  // the common case, as a loop that vectorises
          for j in 0 ..< total { qi[j] += cAll[j] + pi[j] * pi[j] / 2 }
        } else {
          for j in 0 ..< total {
            var s: T = 0
            for t in 0 ..< r { let v = pi[j * r + t]; s += v * v }
            qi[j] += cAll[j] + s / 2
          }
        }
      }
      // Hidden layers, in place on Q's column slices.
      activate(q + offsets[0], rows: n, layer: 0)
      for k in 0 ..< L {
        let w = net.weights[k]
        mm(
          false, true, n, w.output, w.input, 1, post[k], w.input, prm + w.weight.offset, w.input, 1,
          q + offsets[k + 1], total)
        if k + 1 < L { activate(q + offsets[k + 1], rows: n, layer: k + 1) }
      }
      // u = (W_L z_L + Q_L) + q(x), with X H for q's value and gradient.
      mm(false, false, n, d, d, 1, x, d, hq, d, 0, xh, d)
      for i in 0 ..< n {
        var s: T = 0
        for j in 0 ..< d { s += x[i * d + j] * (xh[i * d + j] / 2 + bq[j]) }
        u[i] = q[i * total + offsets[L]] + s + cq
      }
      // Backward from du = 1: G_L = 1, G_{k-1} = (G_k W_k) ∘ act'(pre_k).
      for i in 0 ..< n { g[i * total + offsets[L]] = 1 }
      for k in stride(from: L - 1, through: 0, by: -1) {
        let w = net.weights[k]
        mm(false, false, n, w.input, w.output, 1, g + offsets[k + 1], total, prm + w.weight.offset, w.input, 0, dz, w.input)
        let h = w.input
        for i in 0 ..< n {
          let gi = g + offsets[k] + i * total, di = dz + i * h, si = slope[k] + i * h
          for j in 0 ..< h { gi[j] = di[j] * si[j] }
        }
      }
      // grad u = (G ∘_r P) A_all^T + X ∘ (2 T_1) + T_2 + X H + b_q (P becomes G ∘_r P in place).
      for i in 0 ..< n {
        let gi = g + i * total, pi = p + i * tr
        if r == 1 {
          for j in 0 ..< total { pi[j] *= gi[j] }
        } else {
          for j in 0 ..< total { for t in 0 ..< r { pi[j * r + t] *= gi[j] } }
        }
      }
    }
  }

  /// u and grad u at the rows of x, as new arrays (in chunks of `capacity` rows): for callers
  /// that take values (the conjugate solver's closure).
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func evaluate(_ x: Matrix<T>) -> (u: [T], grad: Matrix<T>) {
    precondition(x.cols == d, "ICNNEvaluator: input has \(x.cols) columns, expected \(d)")
    var u = [T](repeating: 0, count: x.rows)
    var grad = Matrix<T>(rows: x.rows, cols: d)
    x.storage.withUnsafeBufferPointer { px in
      grad.storage.withUnsafeMutableBufferPointer { pg in
        u.withUnsafeMutableBufferPointer { pu in
          for lo in stride(from: 0, to: x.rows, by: capacity) {
            evaluate(
              px.baseAddress! + lo * d, rows: min(capacity, x.rows - lo), u: pu.baseAddress! + lo,
              grad: pg.baseAddress! + lo * d)
          }
        }
      }
    }
    return (u, grad)
  }

  /// grad u from P (now G ∘_r P), G and X H.
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  func finishGradient(_ x: UnsafePointer<T>, rows n: Int, grad: UnsafeMutablePointer<T>) {
    let tr = total * r
    mm(false, true, n, d, tr, 1, p, tr, aAll, tr, 0, grad, d)
    mm(false, true, n, 2 * d, total, 1, g, total, sb, total, 0, t2, 2 * d)
    for i in 0 ..< n {
      let gi = grad + i * d, xi = x + i * d, ti = t2 + i * 2 * d, hi = xh + i * d
      for j in 0 ..< d { gi[j] += xi[j] * 2 * ti[j] + ti[d + j] + hi[j] + bq[j] }
    }
  }

  /// z_k = act(pre_k) and act'(pre_k) for the hidden layer k, reading pre_k from a column slice
  /// (row stride `total`).
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  func activate(_ pre: UnsafeMutablePointer<T>, rows n: Int, layer k: Int) {
    let h = net.hidden[k]
    for i in 0 ..< n {
      net.activation.valueAndSlope(pre + i * total, count: h, value: post[k] + i * h, slope: slope[k] + i * h)
    }
  }
}
