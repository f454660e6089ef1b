// The conjugate solve by batched L-BFGS (Nocedal & Wright 2006, Algorithm 7.4 two-loop recursion;
// Armijo backtracking): every sample keeps its own history of (s, g-difference) pairs and its own
// step length, and all samples still running are evaluated together, one batched call of the
// potential per line-search trial. A sample stops when |grad u(x) - y| <= tol (Euclidean norm) or
// at max_iter. The problem and the protocol: ConjugateSolver.swift.

/// The batched L-BFGS solve with every buffer allocated once, for `capacity` rows of dimension
/// `dim`: the training step's conjugate solves allocate nothing (the potential writes u and
/// grad u into the solver's buffers, e.g. ICNNEvaluator.evaluate).
public final class LBFGSConjugateSolver<T: BLASScalar>: ConjugateSolver {
  public let capacity: Int, dim: Int
  public private(set) var config: ConjugateSolverConfig
  /// The iteration budget of the next solves (the buffers do not depend on it; DualHealth raises it).
  public var maxIterations: Int {
    get { config.maxIterations }
    set { config.maxIterations = max(1, newValue) }
  }
  public let outputs: ConjugateOutputs<T>
  // Work buffers.
  let f: UnsafeMutablePointer<T>, g: UnsafeMutablePointer<T>, failed: UnsafeMutablePointer<Bool>
  let dir: UnsafeMutablePointer<T>, sk: UnsafeMutablePointer<T>, yk: UnsafeMutablePointer<T>
  let active: UnsafeMutablePointer<Int>, pending: UnsafeMutablePointer<Int>
  let p: UnsafeMutablePointer<T>, slope: UnsafeMutablePointer<T>, alpha: UnsafeMutablePointer<T>
  let trial: UnsafeMutablePointer<T>, ut: UnsafeMutablePointer<T>, gut: UnsafeMutablePointer<T>
  let buffers: Buffers
  var memory: LBFGSMemory<T>

  public init(capacity: Int, dim: Int, config: ConjugateSolverConfig) {
    precondition(capacity >= 1 && dim >= 1, "LBFGSConjugateSolver: capacity and dim must be positive")
    self.capacity = capacity
    self.dim = dim
    self.config = config
    let n = capacity, d = dim
    outputs = ConjugateOutputs(capacity: n, dim: d)
    var plan = Buffers.Plan()
    let sf = plan.add(T.self, n), sg = plan.add(T.self, n * d), sfailed = plan.add(Bool.self, n)
    let sdir = plan.add(T.self, d), ssk = plan.add(T.self, d), syk = plan.add(T.self, d)
    let sactive = plan.add(Int.self, n), spending = plan.add(Int.self, n)
    let sp = plan.add(T.self, n * d), sslope = plan.add(T.self, n), salpha = plan.add(T.self, n)
    let strial = plan.add(T.self, n * d), sut = plan.add(T.self, n), sgut = plan.add(T.self, n * d)
    buffers = Buffers(plan)
    f = buffers.pointer(sf, 0); g = buffers.pointer(sg, 0); failed = buffers.pointer(sfailed, false)
    dir = buffers.pointer(sdir, 0); sk = buffers.pointer(ssk, 0); yk = buffers.pointer(syk, 0)
    active = buffers.pointer(sactive, 0); pending = buffers.pointer(spending, 0)
    p = buffers.pointer(sp, 0); slope = buffers.pointer(sslope, 0); alpha = buffers.pointer(salpha, 0)
    trial = buffers.pointer(strial, 0); ut = buffers.pointer(sut, 0); gut = buffers.pointer(sgut, 0)
    memory = LBFGSMemory(samples: n, dim: d, limit: config.history)
  }

  /// Solves rows 0 ..< n (n <= capacity) of y [n, dim] from start [n, dim]; `potential(X, m, u, grad)`
  /// writes u [m] and grad u [m, dim] at the m rows of X.
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func solve(
    y: UnsafePointer<T>, start: UnsafePointer<T>, rows n: Int,
    potential: (UnsafePointer<T>, Int, UnsafeMutablePointer<T>, UnsafeMutablePointer<T>) -> Void
  ) {
    precondition(n <= capacity, "LBFGSConjugateSolver: \(n) rows, capacity \(capacity)")
    let d = dim, x = outputs.x, u = outputs.u, residual = outputs.residual, converged = outputs.converged
    let iterations = outputs.iterations
    outputs.rows = n
    outputs.evaluations = 1
    for i in 0 ..< n * d { x[i] = start[i] }
    @inline(__always) func rowDot(_ a: UnsafePointer<T>, _ i: Int, _ b: UnsafePointer<T>, _ k: Int) -> T {
      var s: T = 0
      for j in 0 ..< d { s += a[i * d + j] * b[k * d + j] }
      return s
    }
    @inline(__always) func rowNorm(_ a: UnsafePointer<T>, _ i: Int) -> T { rowDot(a, i, a, i).squareRoot() }
    potential(x, n, ut, gut)
    for b in 0 ..< n {
      u[b] = ut[b]
      f[b] = ut[b] - rowDot(x, b, y, b)
      for j in 0 ..< d { g[b * d + j] = gut[b * d + j] - y[b * d + j] }
    }
    let tol = T(config.tolerance)
    for b in 0 ..< n {
      residual[b] = rowNorm(g, b)
      converged[b] = residual[b] <= tol
      iterations[b] = 0
      failed[b] = !residual[b].isFinite
      memory.reset(b)
    }

    for _ in 0 ..< config.maxIterations {
      var na = 0
      for b in 0 ..< n where !converged[b] && !failed[b] { active[na] = b; na += 1 }
      if na == 0 { break }
      // Directions p_b = -H_b g_b (two-loop recursion), steps alpha_b = 1.
      for k in 0 ..< na {
        let b = active[k]
        memory.direction(b, gradient: g + b * d, into: dir)
        var gp: T = 0
        for j in 0 ..< d { gp += g[b * d + j] * dir[j] }
        if !(gp < 0) {  // not a descent direction: restart from steepest descent
          memory.reset(b)
          for j in 0 ..< d { dir[j] = -g[b * d + j] }
          gp = -rowNorm(g, b) * rowNorm(g, b)
        }
        for j in 0 ..< d { p[k * d + j] = dir[j] }
        slope[k] = gp
        alpha[k] = 1
        pending[k] = k
      }
      var np = na, tries = 0
      while np > 0 {
        for r in 0 ..< np {
          let k = pending[r], b = active[k]
          for j in 0 ..< d { trial[r * d + j] = x[b * d + j] + alpha[k] * p[k * d + j] }
        }
        potential(trial, np, ut, gut)
        outputs.evaluations += 1
        tries += 1
        var still = 0  // pending is rewritten in place: still <= r
        for r in 0 ..< np {
          let k = pending[r], b = active[k]
          var ft = ut[r]
          for j in 0 ..< d { ft -= trial[r * d + j] * y[b * d + j] }
          let armijo = ft <= f[b] + T(config.armijo) * alpha[k] * slope[k]
          // Near the solution the decrease |slope| falls below the rounding of f: then accept a
          // step that leaves f unchanged up to rounding and shrinks the gradient (what we stop on).
          var gNew: T = 0
          for j in 0 ..< d { let e = gut[r * d + j] - y[b * d + j]; gNew += e * e }
          let flat = ft - f[b] <= 64 * T.ulpOfOne * max(abs(f[b]), 1) && gNew.squareRoot() < residual[b]
          if ((armijo || flat) && ft.isFinite) || tries > config.maxLineSearch {
            if !ft.isFinite { failed[b] = true; continue }
            // Accept: update the history with s = alpha p, dg = g_new - g_old.
            for j in 0 ..< d {
              let gNew = gut[r * d + j] - y[b * d + j]
              sk[j] = trial[r * d + j] - x[b * d + j]
              yk[j] = gNew - g[b * d + j]
              x[b * d + j] = trial[r * d + j]
              g[b * d + j] = gNew
            }
            memory.push(b, sk, yk)
            f[b] = ft
            u[b] = ut[r]
            iterations[b] += 1
            residual[b] = rowNorm(g, b)
            converged[b] = residual[b] <= tol
            if !residual[b].isFinite { failed[b] = true }
          } else {
            alpha[k] /= 2
            pending[still] = k
            still += 1
          }
        }
        np = still
      }
    }
    for b in 0 ..< n { converged[b] = converged[b] && !failed[b] }
  }
}

/// Every sample's L-BFGS memory in flat ring buffers (no per-sample arrays): up to `limit` pairs
/// (s_k, y_k) with rho_k = 1 / (y_k . s_k) per sample, pair i (0 = oldest) of sample b in slot
/// (head[b] + i) mod limit of s, y [samples, limit, dim].
struct LBFGSMemory<T: BLASScalar> {
  let dim: Int, limit: Int
  var s: [T], y: [T], rho: [T]
  var count: [Int], head: [Int]
  var alpha: [T]

  init(samples: Int, dim: Int, limit: Int) {
    self.dim = dim
    self.limit = max(limit, 1)
    s = [T](repeating: 0, count: samples * self.limit * dim)
    y = s
    rho = [T](repeating: 0, count: samples * self.limit)
    count = [Int](repeating: 0, count: samples)
    head = count
    alpha = [T](repeating: 0, count: self.limit)
  }

  /// Forgets sample b's pairs.
  mutating func reset(_ b: Int) {
    count[b] = 0
    head[b] = 0
  }

  /// Flat index of pair i (0 = oldest) of sample b.
  @inline(__always) func slot(_ b: Int, _ i: Int) -> Int { b * limit + (head[b] + i) % limit }

  /// Adds a pair when the curvature condition s . y > 0 holds (keeps H positive definite); the
  /// oldest goes when there are `limit`.
  mutating func push(_ b: Int, _ sk: UnsafePointer<T>, _ yk: UnsafePointer<T>) {
    var sy: T = 0, ss: T = 0, yy: T = 0
    for j in 0 ..< dim { sy += sk[j] * yk[j]; ss += sk[j] * sk[j]; yy += yk[j] * yk[j] }
    guard sy > T.ulpOfOne * (ss * yy).squareRoot(), sy.isFinite else { return }
    let k: Int
    if count[b] < limit {
      k = slot(b, count[b])
      count[b] += 1
    } else {
      k = slot(b, 0)
      head[b] = (head[b] + 1) % limit
    }
    for j in 0 ..< dim { s[k * dim + j] = sk[j]; y[k * dim + j] = yk[j] }
    rho[k] = 1 / sy
  }

  /// -H g by the two-loop recursion (Nocedal & Wright 2006, Algorithm 7.4), H_0 = (s.y / y.y) I
  /// from the newest pair (I without pairs), for sample b's gradient g [dim], into `out`.
  mutating func direction(_ b: Int, gradient g: UnsafePointer<T>, into out: UnsafeMutablePointer<T>) {
    let m = count[b], d = dim
    for j in 0 ..< d { out[j] = g[j] }
    for i in stride(from: m - 1, through: 0, by: -1) {
      let k = slot(b, i)
      var sq: T = 0
      for j in 0 ..< d { sq += s[k * d + j] * out[j] }
      alpha[i] = rho[k] * sq
      for j in 0 ..< d { out[j] -= alpha[i] * y[k * d + j] }
    }
    var gamma: T = 1
    if m > 0 {
      let k = slot(b, m - 1)
      var yy: T = 0
      for j in 0 ..< d { yy += y[k * d + j] * y[k * d + j] }
      gamma = 1 / (rho[k] * yy)
    }
    for j in 0 ..< d { out[j] *= gamma }
    for i in 0 ..< m {
      let k = slot(b, i)
      var yq: T = 0
      for j in 0 ..< d { yq += y[k * d + j] * out[j] }
      let beta = rho[k] * yq
      for j in 0 ..< d { out[j] += s[k * d + j] * (alpha[i] - beta) }
    }
    for j in 0 ..< d { out[j] = -out[j] }
  }
}
