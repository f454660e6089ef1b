import PolarCore
import Testing

@Suite("Conjugate solver, dual objective, Adam, linear algebra")
struct SolverTests {
  @Test("L-BFGS conjugate of a convex quadratic: xhat = Q^{-1}(y - b)")
  func quadraticClosedForm() {
    // u(x) = 1/2 x^T Q x + b^T x, Q SPD with condition number ~ 20.
    let q = Matrix<Double>([[4, 1, 0], [1, 3, 0.5], [0, 0.5, 0.2]])
    let b = [0.5, -1, 0.25]
    let y = randomBatch(64, 3, seed: 51, scale: 3)
    let potential = quadraticPotential(q, b)
    let result = solveConjugate(
      y: y, start: y, config: ConjugateSolverConfig(maxIterations: 50, tolerance: 1e-10),
      potential: potential)
    let qInv = symmetricFunction(q) { 1 / $0 }
    var yb = y
    for r in 0 ..< 64 { for j in 0 ..< 3 { yb[r, j] -= b[j] } }
    let expected = matmul(yb, qInv, transposeB: true)
    #expect(result.x.maxAbsDifference(expected) < 1e-8)
    #expect(result.converged.allSatisfy { $0 })
    #expect(result.residual.allSatisfy { $0 <= 1e-10 })
    #expect(result.iterations.max()! <= 20, "L-BFGS on a 3-d quadratic: \(result.iterations.max()!)")
  }

  @Test("Adam conjugate (the authors' solver) of a convex quadratic: xhat = Q^{-1}(y - b)")
  func adamQuadratic() {
    let q = Matrix<Double>([[2, 0.5], [0.5, 1]])
    let b = [0.25, -0.5]
    let y = randomBatch(64, 2, seed: 52, scale: 2)
    let potential = quadraticPotential(q, b)
    var config = ConjugateSolverConfig(maxIterations: 2000, tolerance: 1e-6)
    config.method = .adam
    let result = solveConjugate(y: y, start: Matrix(rows: 64, cols: 2), config: config, potential: potential)
    let qInv = symmetricFunction(q) { 1 / $0 }
    var yb = y
    for r in 0 ..< 64 { for j in 0 ..< 2 { yb[r, j] -= b[j] } }
    let expected = matmul(yb, qInv, transposeB: true)
    #expect(result.converged.allSatisfy { $0 }, "converged \(result.convergedShare)")
    #expect(result.x.maxAbsDifference(expected) < 1e-5)
    // Stopped rows are frozen where their residual was measured, and u is at that point.
    let (u, g) = potential(result.x)
    for r in 0 ..< 64 {
      #expect(abs(u[r] - result.u[r]) < 1e-12)
      #expect(abs(((g[r, 0] - y[r, 0]) * (g[r, 0] - y[r, 0]) + (g[r, 1] - y[r, 1]) * (g[r, 1] - y[r, 1])).squareRoot() - result.residual[r]) < 1e-12)
    }
    // Too few iterations: rows are reported unconverged, not silently accepted.
    config.maxIterations = 5
    let short = solveConjugate(y: y, start: Matrix(rows: 64, cols: 2), config: config, potential: potential)
    #expect(short.converged.filter { $0 }.count < 8 && short.iterations.max()! == 5)
  }

  @Test("on a random ICNN, residual |grad u(xhat) - y| < 1e-4 for 99% of points (Double)")
  func icnnResidual() {
    let net = ICNN(dim: 4, hidden: [32, 32], rank: 2, activation: .relu)
    var p = randomVector(net.parameterCount, seed: 61, stream: 61, scale: 0.1)
    net.project(&p)
    let x = randomBatch(500, 4, seed: 62)
    let y = net.valueAndGradient(p, x).grad  // y in the range of grad u
    let result = solveConjugate(y: y, start: y, config: ConjugateSolverConfig(maxIterations: 50, tolerance: 1e-8)) {
      net.valueAndGradient(p, $0)
    }
    let good = result.residual.filter { $0 < 1e-4 }.count
    #expect(good >= 495, "\(good) of 500 below 1e-4")
    let check = net.valueAndGradient(p, result.x).grad  // residuals are what they claim
    for r in 0 ..< 500 where result.converged[r] {
      var s = 0.0
      for j in 0 ..< 4 { s += (check[r, j] - y[r, j]) * (check[r, j] - y[r, j]) }
      #expect(s.squareRoot() <= 1e-8 * 1.0001)
    }
    // u strictly convex: xhat recovers x.
    #expect(result.x.maxAbsDifference(x) < 1e-5)
  }

  @Test("dual objective: envelope gradient equals finite differences of L with re-solved conjugates")
  func envelopeGradient() {
    for act in [Activation.softplus, .elu] {
      let net = ICNN(dim: 2, hidden: [6, 5], rank: 1, activation: act)
      var p = randomVector(net.parameterCount, seed: 71, stream: 71, scale: 0.3)
      net.project(&p)
      let x = randomBatch(8, 2, seed: 72), y = randomBatch(7, 2, seed: 73, scale: 1.5)
      let config = ConjugateSolverConfig(maxIterations: 300, tolerance: 1e-12)
      func loss(_ p: [Double]) -> Double {
        let xhat = solveConjugate(y: y, start: y, config: config) { net.valueAndGradient(p, $0) }
        var gx = [Double](repeating: 0, count: net.parameterCount), gy = gx
        let t = net.dualGradients(p, x: x, y: y, xhat: xhat.x, mask: xhat.converged, gradX: &gx, gradY: &gy)
        return t.sumU / 8 + t.sumConjugate / 7
      }
      let xhat = solveConjugate(y: y, start: y, config: config) { net.valueAndGradient(p, $0) }
      #expect(xhat.converged.allSatisfy { $0 })
      var gx = [Double](repeating: 0, count: net.parameterCount), gy = gx
      _ = net.dualGradients(p, x: x, y: y, xhat: xhat.x, mask: xhat.converged, gradX: &gx, gradY: &gy)
      let grad = zip(gx, gy).map { $0 / 8 - $1 / 7 }
      let fd = finiteDifference(p, step: 1e-5, loss)
      #expect(relativeError(grad, fd) < 1e-6, "\(act): \(relativeError(grad, fd))")
    }
  }

  @Test("Adam: first step is lr * sign(g); converges on a quadratic bowl; clipping and cosine")
  func adam() {
    var p = [1.0, -2.0, 3.0]
    var state = AdamState<Double>(count: 3)
    let config = AdamConfig(learningRate: 0.1)
    adamStep(&p, grad: [0.5, -4, 0.001], state: &state, config: config)
    for (a, e) in zip(p, [0.9, -1.9, 2.9]) { #expect(abs(a - e) < 1e-4) }
    for _ in 0 ..< 2000 { adamStep(&p, grad: p.map { 2 * $0 }, state: &state, config: config) }
    #expect(p.allSatisfy { abs($0) < 1e-3 }, "\(p)")
    let clipped = adamStep(&p, grad: [30, 40, 0], state: &state, config: AdamConfig(learningRate: 0.1, clipNorm: 1))
    #expect(clipped.clipped && clipped.gradientNorm == 50)
    let cosine = LearningRateSchedule.cosine(total: 100, final: 0.1, warmup: 0)
    #expect(cosine.rate(base: 1, step: 0) == 1 && abs(cosine.rate(base: 1, step: 50) - 0.55) < 1e-12)
    #expect(abs(cosine.rate(base: 1, step: 100) - 0.1) < 1e-12)
  }

  @Test("polar decomposition A = P U and the Gaussian (Bures) map")
  func linearAlgebra() {
    let a = Matrix<Double>([[1, 2, 0], [0.5, -1, 1], [2, 0, 1]])
    let (pm, u) = polarDecomposition(a)
    #expect(matmul(pm, u).maxAbsDifference(a) < 1e-10)
    #expect(matmul(u, u, transposeB: true).maxAbsDifference(.identity(3)) < 1e-10)
    #expect(pm.maxAbsDifference(pm.transposed) < 1e-12)
    #expect(symmetricEigen(pm).values.allSatisfy { $0 > 0 })
    // T pushes N(m0, S0) to N(m1, S1): T S0 T = S1, T symmetric positive definite.
    let s0 = Matrix<Double>([[2, 0.3], [0.3, 0.5]]), s1 = Matrix<Double>([[1, -0.4], [-0.4, 3]])
    let (t, shift) = gaussianMap(mean0: [1, 2], cov0: s0, mean1: [-1, 0.5], cov1: s1)
    #expect(matmul(matmul(t, s0), t).maxAbsDifference(s1) < 1e-10)
    #expect(abs(t[0, 0] * 1 + t[0, 1] * 2 + shift[0] - -1) < 1e-12)
    #expect(cholesky(Matrix([[1, 2], [2, 1]])) == nil)
  }
}

/// u(x) = 1/2 x^T Q x + b^T x and grad u(x) = Q x + b at the rows of X (Q symmetric).
func quadraticPotential(_ q: Matrix<Double>, _ b: [Double]) -> (Matrix<Double>) -> (u: [Double], grad: Matrix<Double>) {
  { x in
    var g = matmul(x, q, transposeB: true)
    var u = [Double](repeating: 0, count: x.rows)
    for r in 0 ..< x.rows {
      for j in 0 ..< x.cols { u[r] += x[r, j] * (g[r, j] / 2 + b[j]); g[r, j] += b[j] }
    }
    return (u, g)
  }
}
