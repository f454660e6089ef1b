// The conjugate solve by Adam, as in the authors' released code (Vesseron & Cuturi 2024; docs/design.md
// §1): minimise f_b(x) = u(x) - <x, y_b> for every row y_b by Adam (Kingma & Ba 2015) with step
//   lr_t = lr_0 (a + (1 - a) (1 + cos(pi t / T)) / 2),  T = max_iter, a = 1e-4 (the authors' decay),
// all rows still running advanced together, one batched call of the potential per iteration. A row
// stops when |grad u(x) - y| <= tol (the Euclidean norm, as for L-BFGS, so residuals compare); rows
// still above it at max_iter are reported unconverged (and masked out of the losses by the caller).
// Adam needs far more iterations than L-BFGS: max_iter in the hundreds.
import RealModule

/// The batched Adam solve with every buffer allocated once (the training step allocates nothing).
public final class AdamConjugateSolver<T: BLASScalar>: ConjugateSolver {
  public let capacity: Int, dim: Int
  public private(set) var config: ConjugateSolverConfig
  public var maxIterations: Int {
    get { config.maxIterations }
    set { config.maxIterations = max(1, newValue) }
  }
  public let outputs: ConjugateOutputs<T>
  // Work buffers: Adam's moments m, v [n, d]; the running rows, gathered [n, d], and u, grad u there.
  let m: UnsafeMutablePointer<T>, v: UnsafeMutablePointer<T>, failed: UnsafeMutablePointer<Bool>
  let active: UnsafeMutablePointer<Int>, points: UnsafeMutablePointer<T>
  let ut: UnsafeMutablePointer<T>, gut: UnsafeMutablePointer<T>
  let buffers: Buffers

  public init(capacity: Int, dim: Int, config: ConjugateSolverConfig) {
    precondition(capacity >= 1 && dim >= 1, "AdamConjugateSolver: capacity and dim must be positive")
    self.capacity = capacity
    self.dim = dim
    self.config = config
    let n = capacity, d = dim
    outputs = ConjugateOutputs(capacity: n, dim: d)
    var plan = Buffers.Plan()
    let sm = plan.add(T.self, n * d), sv = plan.add(T.self, n * d), sfailed = plan.add(Bool.self, n)
    let sactive = plan.add(Int.self, n), spoints = plan.add(T.self, n * d)
    let sut = plan.add(T.self, n), sgut = plan.add(T.self, n * d)
    buffers = Buffers(plan)
    m = buffers.pointer(sm, 0); v = buffers.pointer(sv, 0); failed = buffers.pointer(sfailed, false)
    active = buffers.pointer(sactive, 0); points = buffers.pointer(spoints, 0)
    ut = buffers.pointer(sut, 0); gut = buffers.pointer(sgut, 0)
  }

  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func solve(
    y: UnsafePointer<T>, start: UnsafePointer<T>, rows n: Int,
    potential: (UnsafePointer<T>, Int, UnsafeMutablePointer<T>, UnsafeMutablePointer<T>) -> Void
  ) {
    precondition(n <= capacity, "AdamConjugateSolver: \(n) rows, capacity \(capacity)")
    let d = dim, x = outputs.x, residual = outputs.residual, iterations = outputs.iterations
    let done = outputs.converged, u = outputs.u
    let beta1: T = 0.9, beta2: T = 0.999, epsilon: T = 1e-8
    for i in 0 ..< n * d { x[i] = start[i]; m[i] = 0; v[i] = 0 }
    for b in 0 ..< n {
      u[b] = 0; residual[b] = .infinity; iterations[b] = 0; done[b] = false; failed[b] = false
      active[b] = b
    }
    outputs.rows = n
    outputs.evaluations = 0
    let tol = T(config.tolerance)
    let total = max(1, config.maxIterations)
    var na = n, t = 0
    while na > 0 {
      // Evaluate the running rows; stop those that converged (or at max_iter), step the others.
      for r in 0 ..< na { for j in 0 ..< d { points[r * d + j] = x[active[r] * d + j] } }
      potential(points, na, ut, gut)
      outputs.evaluations += 1
      let lr = T(config.adamLearningRate) * T(1e-4 + (1 - 1e-4) * (1 + Double.cos(Double.pi * Double(t) / Double(total))) / 2)
      let c1 = 1 - T.pow(beta1, t + 1), c2 = 1 - T.pow(beta2, t + 1)
      var still = 0  // active is rewritten in place: still <= r
      for r in 0 ..< na {
        let b = active[r]
        u[b] = ut[r]
        var norm: T = 0
        for j in 0 ..< d { let e = gut[r * d + j] - y[b * d + j]; norm += e * e }
        residual[b] = norm.squareRoot()
        if !residual[b].isFinite { failed[b] = true; continue }
        if residual[b] <= tol { done[b] = true; continue }
        if t == total { continue }
        for j in 0 ..< d {
          let g = gut[r * d + j] - y[b * d + j], k = b * d + j
          m[k] = beta1 * m[k] + (1 - beta1) * g
          v[k] = beta2 * v[k] + (1 - beta2) * g * g
          x[k] -= lr * (m[k] / c1) / ((v[k] / c2).squareRoot() + epsilon)
        }
        iterations[b] += 1
        active[still] = b
        still += 1
      }
      na = still
      t += 1
    }
    for b in 0 ..< n { done[b] = done[b] && !failed[b] }
  }
}
