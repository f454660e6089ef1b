// The conjugate solve of DESIGN §1: for every row y_b of Y, the maximiser of <x, y_b> - u(x),
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
  var x = start
  var f = [T](repeating: 0, count: n)
  var g = Matrix<T>(rows: n, cols: d)
  var uValue = [T](repeating: 0, count: n)
  var evaluations = 1
  do {
    let (u0, gu0) = potential(x)
    for b in 0 ..< n {
      uValue[b] = u0[b]
      f[b] = u0[b] - rowDot(x, b, y, b)
      for j in 0 ..< d { g[b, j] = gu0[b, j] - y[b, j] }
    }
  }
  let tol = T(config.tolerance)
  var residual = (0 ..< n).map { rowNorm(g, $0) }
  var converged = residual.map { $0 <= tol }
  var iterations = [Int](repeating: 0, count: n)
  var failed = residual.map { !$0.isFinite }
  var histories = [History<T>](repeating: History(), count: n)

  for _ in 0 ..< config.maxIterations {
    let active = (0 ..< n).filter { !converged[$0] && !failed[$0] }
    if active.isEmpty { break }
    // Directions p_b = -H_b g_b (two-loop recursion), steps alpha_b = 1.
    var p = Matrix<T>(rows: active.count, cols: d)
    var slope = [T](repeating: 0, count: active.count)
    for (k, b) in active.enumerated() {
      var dir = histories[b].direction(g.row(b))
      var gp: T = 0
      for j in 0 ..< d { gp += g[b, j] * dir[j] }
      if !(gp < 0) {  // not a descent direction: restart from steepest descent
        histories[b] = History()
        dir = g.row(b).map { -$0 }
        gp = -rowNorm(g, b) * rowNorm(g, b)
      }
      for j in 0 ..< d { p[k, j] = dir[j] }
      slope[k] = gp
    }
    var alpha = [T](repeating: 1, count: active.count)
    var pending = Array(active.indices)
    var tries = 0
    while !pending.isEmpty {
      var trial = Matrix<T>(rows: pending.count, cols: d)
      for (r, k) in pending.enumerated() {
        let b = active[k]
        for j in 0 ..< d { trial[r, j] = x[b, j] + alpha[k] * p[k, j] }
      }
      let (ut, gut) = potential(trial)
      evaluations += 1
      tries += 1
      var still = [Int]()
      for (r, k) in pending.enumerated() {
        let b = active[k]
        var ft = ut[r]
        for j in 0 ..< d { ft -= trial[r, j] * y[b, j] }
        let armijo = ft <= f[b] + T(config.armijo) * alpha[k] * slope[k]
        // Near the solution the decrease |slope| falls below the rounding of f: then accept a
        // step that leaves f unchanged up to rounding and shrinks the gradient (what we stop on).
        var gNew: T = 0
        for j in 0 ..< d { let e = gut[r, j] - y[b, j]; gNew += e * e }
        let flat = ft - f[b] <= 64 * T.ulpOfOne * max(abs(f[b]), 1) && gNew.squareRoot() < residual[b]
        if ((armijo || flat) && ft.isFinite) || tries > config.maxLineSearch {
          if !ft.isFinite { failed[b] = true; continue }
          // Accept: update the history with s = alpha p, dg = g_new - g_old.
          var s = [T](repeating: 0, count: d), dg = [T](repeating: 0, count: d)
          for j in 0 ..< d {
            let gNew = gut[r, j] - y[b, j]
            s[j] = trial[r, j] - x[b, j]
            dg[j] = gNew - g[b, j]
            x[b, j] = trial[r, j]
            g[b, j] = gNew
          }
          histories[b].push(s, dg, limit: config.history)
          f[b] = ft
          uValue[b] = ut[r]
          iterations[b] += 1
          residual[b] = rowNorm(g, b)
          converged[b] = residual[b] <= tol
          if !residual[b].isFinite { failed[b] = true }
        } else {
          alpha[k] /= 2
          still.append(k)
        }
      }
      pending = still
    }
  }
  return ConjugateResult(x: x, residual: residual, iterations: iterations,
                         converged: zip(converged, failed).map { $0 && !$1 },
                         evaluations: evaluations, u: uValue)
}

/// One sample's L-BFGS memory: pairs (s_k, y_k) with rho_k = 1 / (y_k . s_k).
struct History<T: BLASScalar> {
  var s: [[T]] = []
  var y: [[T]] = []
  var rho: [T] = []

  /// Adds a pair when the curvature condition s . y > 0 holds (keeps H positive definite).
  mutating func push(_ sk: [T], _ yk: [T], limit: Int) {
    var sy: T = 0, ss: T = 0, yy: T = 0
    for j in sk.indices { sy += sk[j] * yk[j]; ss += sk[j] * sk[j]; yy += yk[j] * yk[j] }
    guard sy > T.ulpOfOne * (ss * yy).squareRoot(), sy.isFinite else { return }
    s.append(sk); y.append(yk); rho.append(1 / sy)
    if s.count > limit { s.removeFirst(); y.removeFirst(); rho.removeFirst() }
  }

  /// -H g by the two-loop recursion, H_0 = (s.y / y.y) I from the newest pair (I without pairs).
  func direction(_ g: [T]) -> [T] {
    var q = g
    let m = s.count
    var a = [T](repeating: 0, count: m)
    for i in stride(from: m - 1, through: 0, by: -1) {
      var sq: T = 0
      for j in q.indices { sq += s[i][j] * q[j] }
      a[i] = rho[i] * sq
      for j in q.indices { q[j] -= a[i] * y[i][j] }
    }
    var gamma: T = 1
    if let yl = y.last {
      var yy: T = 0
      for v in yl { yy += v * v }
      gamma = 1 / (rho[m - 1] * yy)
    }
    for j in q.indices { q[j] *= gamma }
    for i in 0 ..< m {
      var yq: T = 0
      for j in q.indices { yq += y[i][j] * q[j] }
      let beta = rho[i] * yq
      for j in q.indices { q[j] += s[i][j] * (a[i] - beta) }
    }
    return q.map { -$0 }
  }
}

@inline(__always)
func rowDot<T: BLASScalar>(_ a: Matrix<T>, _ i: Int, _ b: Matrix<T>, _ k: Int) -> T {
  var s: T = 0
  for j in 0 ..< a.cols { s += a[i, j] * b[k, j] }
  return s
}

@inline(__always)
func rowNorm<T: BLASScalar>(_ a: Matrix<T>, _ i: Int) -> T { rowDot(a, i, a, i).squareRoot() }
