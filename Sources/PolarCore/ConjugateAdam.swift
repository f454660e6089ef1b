// The conjugate solve by Adam, as in the authors' released code (Vesseron & Cuturi 2024; docs/design.md
// §1): minimise f_b(x) = u(x) - <x, y_b> for every row y_b by Adam (Kingma & Ba 2015) with step
//   lr_t = lr_0 (a + (1 - a) (1 + cos(pi t / T)) / 2),  T = max_iter, a = 1e-4 (the authors' decay),
// all rows advanced together, one batched call of the potential per iteration. A row stops when
// |grad u(x) - y| <= tol (the Euclidean norm, as for L-BFGS, so residuals compare); rows still
// above it at max_iter are reported unconverged (and masked out of the losses by the caller).
// Adam needs far more iterations than L-BFGS: max_iter in the hundreds.
import RealModule

@_specialize(where T == Float)
@_specialize(where T == Double)
public func solveConjugateAdam<T: BLASScalar>(y: Matrix<T>, start: Matrix<T>, config: ConjugateSolverConfig,
                                              potential: (Matrix<T>) -> (u: [T], grad: Matrix<T>)) -> ConjugateResult<T> {
  let n = y.rows, d = y.cols
  let beta1: T = 0.9, beta2: T = 0.999, epsilon: T = 1e-8
  var x = start
  var m = Matrix<T>(rows: n, cols: d), v = m
  var uValue = [T](repeating: 0, count: n)
  var residual = [T](repeating: .infinity, count: n)
  var iterations = [Int](repeating: 0, count: n)
  var done = [Bool](repeating: false, count: n)
  var failed = [Bool](repeating: false, count: n)
  var evaluations = 0
  let tol = T(config.tolerance)
  let total = max(1, config.maxIterations)
  var active = Array(0 ..< n)
  var t = 0
  while !active.isEmpty {
    // Evaluate the active rows; stop those that converged (or at max_iter), step the others.
    var points = Matrix<T>(rows: active.count, cols: d)
    for (r, b) in active.enumerated() { for j in 0 ..< d { points[r, j] = x[b, j] } }
    let (u, grad) = potential(points)
    evaluations += 1
    var still = [Int]()
    let lr = T(config.adamLearningRate) * T(1e-4 + (1 - 1e-4) * (1 + Double.cos(Double.pi * Double(t) / Double(total))) / 2)
    let c1 = 1 - T.pow(beta1, t + 1), c2 = 1 - T.pow(beta2, t + 1)
    for (r, b) in active.enumerated() {
      uValue[b] = u[r]
      var norm: T = 0
      for j in 0 ..< d { let e = grad[r, j] - y[b, j]; norm += e * e }
      residual[b] = norm.squareRoot()
      if !residual[b].isFinite { failed[b] = true; continue }
      if residual[b] <= tol { done[b] = true; continue }
      if t == total { continue }
      for j in 0 ..< d {
        let g = grad[r, j] - y[b, j]
        m[b, j] = beta1 * m[b, j] + (1 - beta1) * g
        v[b, j] = beta2 * v[b, j] + (1 - beta2) * g * g
        x[b, j] -= lr * (m[b, j] / c1) / ((v[b, j] / c2).squareRoot() + epsilon)
      }
      iterations[b] += 1
      still.append(b)
    }
    active = still
    t += 1
  }
  return ConjugateResult(x: x, residual: residual, iterations: iterations,
                         converged: zip(done, failed).map { $0 && !$1 }, evaluations: evaluations, u: uValue)
}
