// The conjugate solve of docs/design.md §1: for every row y_b of Y, the maximiser of <x, y_b> - u(x),
//   xhat(y_b) = argmin_x f_b(x),  f_b(x) = u(x) - <x, y_b>,  grad f_b(x) = grad u(x) - y_b,
// which is grad u*(y_b). u is strongly convex (its quadratic terms), so f_b has one minimiser.
//
// A solver is a `ConjugateSolver`: it solves a batch from a warm start on buffers allocated once
// and reports xhat, the residuals |grad u(xhat) - y|, iterations and the converged mask. Two are
// built (ConjugateSolverConfig.Method): batched L-BFGS (LBFGSSolver.swift) and batched Adam, the
// authors' choice (AdamSolver.swift). A new solver is a file of this folder and a case of Method,
// which `makeConjugateSolver`'s switch then requires.

public struct ConjugateSolverConfig: Sendable, Equatable, Codable {
  public enum Method: String, Sendable, Equatable, Codable, CaseIterable {
    /// Batched L-BFGS with Armijo backtracking (LBFGSSolver.swift).
    case lbfgs
    /// Batched Adam on f_b, the authors' choice (AdamSolver.swift).
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

/// A batched conjugate solver on buffers allocated once for `capacity` rows of dimension `dim`.
public protocol ConjugateSolver<Scalar>: AnyObject {
  associatedtype Scalar: BLASScalar
  var capacity: Int { get }
  var dim: Int { get }
  var config: ConjugateSolverConfig { get }
  /// The iteration budget of the next solves (the buffers do not depend on it; DualHealth raises it).
  var maxIterations: Int { get set }
  /// The latest solve, rows 0 ..< rows: xhat [rows, dim], |grad u(xhat) - y|, iterations, converged
  /// (residual <= tol and finite), u(xhat), and the number of batched potential calls.
  var outputs: ConjugateOutputs<Scalar> { get }
  /// Solves rows 0 ..< n (n <= capacity) of y [n, dim] from start [n, dim]; `potential(X, m, u, grad)`
  /// writes u [m] and grad u [m, dim] at the m rows of X. Allocates nothing.
  func solve(
    y: UnsafePointer<Scalar>, start: UnsafePointer<Scalar>, rows n: Int,
    potential: (UnsafePointer<Scalar>, Int, UnsafeMutablePointer<Scalar>, UnsafeMutablePointer<Scalar>) -> Void)
}

/// The answer buffers every solver writes, for `capacity` rows.
public final class ConjugateOutputs<T: BLASScalar> {
  public internal(set) var rows = 0
  public internal(set) var evaluations = 0
  public let x: UnsafeMutablePointer<T>
  public let residual: UnsafeMutablePointer<T>
  public let iterations: UnsafeMutablePointer<Int>
  public let converged: UnsafeMutablePointer<Bool>
  public let u: UnsafeMutablePointer<T>
  let buffers: Buffers

  init(capacity n: Int, dim d: Int) {
    var plan = Buffers.Plan()
    let sx = plan.add(T.self, n * d), sr = plan.add(T.self, n), si = plan.add(Int.self, n)
    let sc = plan.add(Bool.self, n), su = plan.add(T.self, n)
    buffers = Buffers(plan)
    x = buffers.pointer(sx, 0); residual = buffers.pointer(sr, 0); iterations = buffers.pointer(si, 0)
    converged = buffers.pointer(sc, false); u = buffers.pointer(su, 0)
  }

  /// The latest solve as values (allocates: for callers outside the training step).
  func result(dim: Int) -> ConjugateResult<T> {
    ConjugateResult(
      x: Matrix(rows: rows, cols: dim, storage: Array(UnsafeBufferPointer(start: x, count: rows * dim))),
      residual: Array(UnsafeBufferPointer(start: residual, count: rows)),
      iterations: Array(UnsafeBufferPointer(start: iterations, count: rows)),
      converged: Array(UnsafeBufferPointer(start: converged, count: rows)),
      evaluations: evaluations, u: Array(UnsafeBufferPointer(start: u, count: rows)))
  }
}

extension ConjugateSolver {
  public var x: UnsafeMutablePointer<Scalar> { outputs.x }
  public var residual: UnsafeMutablePointer<Scalar> { outputs.residual }
  public var iterations: UnsafeMutablePointer<Int> { outputs.iterations }
  public var converged: UnsafeMutablePointer<Bool> { outputs.converged }
  public var u: UnsafeMutablePointer<Scalar> { outputs.u }
  public var rows: Int { outputs.rows }
  public var evaluations: Int { outputs.evaluations }
  /// The latest solve as values (allocates: for callers outside the training step).
  public var result: ConjugateResult<Scalar> { outputs.result(dim: dim) }
}

/// The solver `config.method` names: the one place a new solver is registered.
public func makeConjugateSolver<T: BLASScalar>(capacity: Int, dim: Int, config: ConjugateSolverConfig) -> any ConjugateSolver<T> {
  switch config.method {
  case .lbfgs: LBFGSConjugateSolver<T>(capacity: capacity, dim: dim, config: config)
  case .adam: AdamConjugateSolver<T>(capacity: capacity, dim: dim, config: config)
  }
}

/// Solves the conjugate problems for the rows of `y`, starting at `start` (e.g. the amortizer's
/// prediction), with the solver `config.method` names. `potential(X)` returns u and grad u at the
/// rows of X.
@_specialize(where T == Float)
@_specialize(where T == Double)
public func solveConjugate<T: BLASScalar>(
  y: Matrix<T>, start: Matrix<T>, config: ConjugateSolverConfig,
  potential: (Matrix<T>) -> (u: [T], grad: Matrix<T>)
) -> ConjugateResult<T> {
  precondition(y.rows == start.rows && y.cols == start.cols, "solveConjugate: y and start differ in shape")
  let n = y.rows, d = y.cols
  let solver: any ConjugateSolver<T> = makeConjugateSolver(capacity: max(n, 1), dim: d, config: config)
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
