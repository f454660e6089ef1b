// The conjugate solve of docs/design.md §1: for every row y_b of Y, the maximiser of <x, y_b> - u(x),
//   xhat(y_b) = argmin_x f_b(x),  f_b(x) = u(x) - <x, y_b>,  grad f_b(x) = grad u(x) - y_b,
// which is grad u*(y_b). u is strongly convex (its quadratic terms), so f_b has one minimiser.
//
// Batched L-BFGS (Nocedal & Wright 2006, Algorithm 7.4 two-loop recursion; Armijo backtracking):
// every sample keeps its own history of (s, g-difference) pairs and its own step length, and all
// samples still running are evaluated together, one batched call of the potential per line-search
// trial. A sample stops when |grad u(x) - y| <= tol (Euclidean norm) or at max_iter.
// `method = .adam` runs the batched Adam solver of ConjugateAdam.swift instead.

public struct ConjugateSolverConfig: Sendable, Equatable, Codable {
  public enum Method: String, Sendable, Equatable, Codable {
    /// Batched L-BFGS with Armijo backtracking (this file).
    case lbfgs
    /// Batched Adam on f_b, the authors' choice (ConjugateAdam.swift).
    case adam
  }
  public var method = Method.lbfgs
  /// Adam: initial step size, cosine-decayed over maxIterations (Vesseron & Cuturi's code: 0.1).
  public var adamLearningRate = 0.1
  public var maxIterations = 20
  public var tolerance = 1e-5
  /// L-BFGS history length per sample.
  public var history = 8
  /// Armijo backtracking: at most this many halvings per iteration, sufficient decrease c1.
  public var maxLineSearch = 20
  public var armijo = 1e-4

  public init(maxIterations: Int = 20, tolerance: Double = 1e-5, history: Int = 8) {
    self.maxIterations = maxIterations
    self.tolerance = tolerance
    self.history = history
  }
}

public struct ConjugateResult<T: BLASScalar>: Sendable {
  /// xhat, one row per y.
  public var x: Matrix<T>
  /// |grad u(xhat) - y| per row.
  public var residual: [T]
  /// Iterations taken per row.
  public var iterations: [Int]
  /// residual <= tol and finite.
  public var converged: [Bool]
  /// Calls of the potential (batched evaluations), for cost accounting.
  public var evaluations: Int
  /// u(xhat) per row.
  public var u: [T]

  public var convergedShare: Double {
    Double(converged.filter { $0 }.count) / Double(max(1, converged.count))
  }
  public var meanIterations: Double {
    Double(iterations.reduce(0, +)) / Double(max(1, iterations.count))
  }
}

/// Solves the conjugate problems for the rows of `y`, starting at `start` (e.g. the amortizer's
/// prediction). `potential(X)` returns u and grad u at the rows of X.
@_specialize(where T == Float)
@_specialize(where T == Double)
public func solveConjugate<T: BLASScalar>(y: Matrix<T>, start: Matrix<T>, config: ConjugateSolverConfig,
                                          potential: (Matrix<T>) -> (u: [T], grad: Matrix<T>)) -> ConjugateResult<T> {
  precondition(y.rows == start.rows && y.cols == start.cols, "solveConjugate: y and start differ in shape")
  if config.method == .adam { return solveConjugateAdam(y: y, start: start, config: config, potential: potential) }
  let n = y.rows, d = y.cols
  let solver = ConjugateSolver<T>(capacity: max(n, 1), dim: d, config: config)
  y.storage.withUnsafeBufferPointer { py in
    start.storage.withUnsafeBufferPointer { ps in
      solver.solve(y: py.baseAddress!, start: ps.baseAddress!, rows: n) { x, rows, u, grad in
        let (uv, gv) = potential(Matrix(rows: rows, cols: d, storage: Array(UnsafeBufferPointer(start: x, count: rows * d))))
        for i in 0 ..< rows { u[i] = uv[i] }
        for i in 0 ..< rows * d { grad[i] = gv.storage[i] }
      }
    }
  }
  return solver.result
}

/// The batched L-BFGS solve with every buffer allocated once, for `capacity` rows of dimension
/// `dim`: the training step's conjugate solves allocate nothing (the potential writes u and
/// grad u into the solver's buffers, e.g. ICNNEvaluator.evaluate).
public final class ConjugateSolver<T: BLASScalar> {
  public let capacity: Int, dim: Int
  public private(set) var config: ConjugateSolverConfig
  /// The iteration budget of the next solves (the buffers do not depend on it; DualHealth raises it).
  public var maxIterations: Int {
    get { config.maxIterations }
    set { config.maxIterations = max(1, newValue) }
  }
  /// The latest solve, rows 0 ..< rows: xhat [rows, dim], |grad u(xhat) - y|, iterations, converged
  /// (residual <= tol and finite), u(xhat), and the number of batched potential calls.
  public private(set) var rows = 0
  public let x: UnsafeMutablePointer<T>
  public let residual: UnsafeMutablePointer<T>
  public let iterations: UnsafeMutablePointer<Int>
  public let converged: UnsafeMutablePointer<Bool>
  public let u: UnsafeMutablePointer<T>
  public private(set) var evaluations = 0
  // Work buffers.
  let f: UnsafeMutablePointer<T>, g: UnsafeMutablePointer<T>, failed: UnsafeMutablePointer<Bool>
  let dir: UnsafeMutablePointer<T>, sk: UnsafeMutablePointer<T>, yk: UnsafeMutablePointer<T>
  let active: UnsafeMutablePointer<Int>, pending: UnsafeMutablePointer<Int>
  let p: UnsafeMutablePointer<T>, slope: UnsafeMutablePointer<T>, alpha: UnsafeMutablePointer<T>
  let trial: UnsafeMutablePointer<T>, ut: UnsafeMutablePointer<T>, gut: UnsafeMutablePointer<T>
  var memory: LBFGSMemory<T>

  public init(capacity: Int, dim: Int, config: ConjugateSolverConfig) {
    precondition(capacity >= 1 && dim >= 1, "ConjugateSolver: capacity and dim must be positive")
    self.capacity = capacity
    self.dim = dim
    self.config = config
    func buffer<E>(_ count: Int, _ value: E) -> UnsafeMutablePointer<E> {
      let b = UnsafeMutablePointer<E>.allocate(capacity: count)
      b.initialize(repeating: value, count: count)
      return b
    }
    let n = capacity, d = dim
    x = buffer(n * d, 0); residual = buffer(n, 0); iterations = buffer(n, 0); converged = buffer(n, false)
    u = buffer(n, 0); f = buffer(n, 0); g = buffer(n * d, 0); failed = buffer(n, false)
    dir = buffer(d, 0); sk = buffer(d, 0); yk = buffer(d, 0)
    active = buffer(n, 0); pending = buffer(n, 0)
    p = buffer(n * d, 0); slope = buffer(n, 0); alpha = buffer(n, 0)
    trial = buffer(n * d, 0); ut = buffer(n, 0); gut = buffer(n * d, 0)
    memory = LBFGSMemory(samples: n, dim: d, limit: config.history)
  }

  deinit {
    x.deallocate(); residual.deallocate(); iterations.deallocate(); converged.deallocate(); u.deallocate()
    f.deallocate(); g.deallocate(); failed.deallocate(); dir.deallocate(); sk.deallocate(); yk.deallocate()
    active.deallocate(); pending.deallocate(); p.deallocate(); slope.deallocate(); alpha.deallocate()
    trial.deallocate(); ut.deallocate(); gut.deallocate()
  }

  /// The latest solve as values (allocates: for callers outside the training step).
  public var result: ConjugateResult<T> {
    ConjugateResult(x: Matrix(rows: rows, cols: dim, storage: Array(UnsafeBufferPointer(start: x, count: rows * dim))),
                    residual: Array(UnsafeBufferPointer(start: residual, count: rows)),
                    iterations: Array(UnsafeBufferPointer(start: iterations, count: rows)),
                    converged: Array(UnsafeBufferPointer(start: converged, count: rows)),
                    evaluations: evaluations, u: Array(UnsafeBufferPointer(start: u, count: rows)))
  }

  /// Takes a solve made elsewhere (the Adam solver) as the latest one.
  public func store(_ r: ConjugateResult<T>) {
    precondition(r.x.rows <= capacity && r.x.cols == dim, "ConjugateSolver.store: shape")
    rows = r.x.rows
    evaluations = r.evaluations
    for i in 0 ..< rows * dim { x[i] = r.x.storage[i] }
    for b in 0 ..< rows {
      residual[b] = r.residual[b]; iterations[b] = r.iterations[b]; converged[b] = r.converged[b]; u[b] = r.u[b]
    }
  }

  /// Solves rows 0 ..< n (n <= capacity) of y [n, dim] from start [n, dim]; `potential(X, m, u, grad)`
  /// writes u [m] and grad u [m, dim] at the m rows of X.
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func solve(y: UnsafePointer<T>, start: UnsafePointer<T>, rows n: Int,
                    potential: (UnsafePointer<T>, Int, UnsafeMutablePointer<T>, UnsafeMutablePointer<T>) -> Void) {
    precondition(n <= capacity, "ConjugateSolver: \(n) rows, capacity \(capacity)")
    let d = dim
    rows = n
    evaluations = 1
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
        evaluations += 1
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
