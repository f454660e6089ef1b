// The stage math that PolarCore holds for the training stages: the masked regression loss, the
// dual step's sums, the bridge regression on buffers, and the conjugate solvers behind one protocol.
import PolarCore
import Testing

@Suite("Stage math: regression, dual step, bridge regression, conjugate solvers")
struct StageMathTests {
  @Test("maskedSquaredError: the closed-form sum over masked rows, and its gradient by finite differences (Double)")
  func maskedRegression() {
    let rows = 4, dim = 3
    let p = randomVector(rows * dim, seed: 1, stream: 1), t = randomVector(rows * dim, seed: 2, stream: 2)
    let mask = [true, false, true, true]
    func loss(_ p: [Double]) -> Double {
      var g = [Double](repeating: 0, count: rows * dim)
      return maskedSquaredError(prediction: p, target: t, mask: mask, rows: rows, dim: dim, gradient: &g)
    }
    var expected = 0.0
    for r in 0 ..< rows where mask[r] { for j in 0 ..< dim { expected += (p[r * dim + j] - t[r * dim + j]) * (p[r * dim + j] - t[r * dim + j]) } }
    var grad = [Double](repeating: 7, count: rows * dim)
    let l = maskedSquaredError(prediction: p, target: t, mask: mask, rows: rows, dim: dim, gradient: &grad)
    #expect(abs(l - expected) < 1e-12 * max(expected, 1))
    #expect(relativeError(grad, finiteDifference(p, loss)) < 1e-8)
    // Rows outside the mask get a zero gradient (not left as they were); no mask keeps every row.
    #expect(grad[dim ..< 2 * dim].allSatisfy { $0 == 0 })
    var all = [Double](repeating: 0, count: rows * dim)
    let full = maskedSquaredError(prediction: p, target: t, mask: nil, rows: rows, dim: dim, gradient: &all)
    #expect(full > l && all[dim] == 2 * (p[dim] - t[dim]))
  }

  @Test("DualStepSums: L, the W2 estimate and dL/dtheta from the reduced sums; C is at least 1")
  func dualStep() {
    let s = DualStepSums(samples: 8, sumU: 4, sumConjugate: 6, converged: 3, sumX2: 16, sumY2: 40)
    #expect(s.loss == 4.0 / 8 + 6.0 / 3)
    #expect(s.w2 == 16.0 / 8 + 40.0 / 8 - 2 * (4.0 / 8 + 6.0 / 3))
    let sumX: [Float] = [8, -4], sumY: [Float] = [3, 6]
    var g = [Float](repeating: 0, count: 2)
    s.gradient(sumX: sumX, sumY: sumY, count: 2, into: &g)
    let expected: [Float] = [Float(8) / 8 - Float(3) / 3, Float(-4) / 8 - Float(6) / 3]
    #expect(g == expected)
    let none = DualStepSums(samples: 4, sumU: 1, sumConjugate: 0, converged: 0, sumX2: 0, sumY2: 0)
    #expect(none.conjugateCount == 1 && none.loss == 0.25)
  }

  @Test("the W2 estimate of the optimal potential is W2^2: u = |x|^2 / 2 on y = x (W2 = 0)")
  func dualStepAtTheOptimum() {
    // u(x) = |x|^2 / 2, u*(y) = |y|^2 / 2: L = E|x|^2 / 2 + E|y|^2 / 2, W2^2 estimate 0 for y = x.
    let x = randomVector(200, seed: 3, stream: 3)
    let sq = x.reduce(0) { $0 + $1 * $1 }
    let s = DualStepSums(samples: 100, sumU: sq / 2, sumConjugate: sq / 2, converged: 100, sumX2: sq, sumY2: sq)
    #expect(abs(s.w2) < 1e-12 * sq)
  }

  @Test("bridge regression on buffers: the loss and gradient of BridgeNetwork.loss, row by row (Double)")
  func bridgeRegression() {
    let net = BridgeNetwork(dim: 2, hidden: [6], frequencies: 2)
    let params = randomVector(net.parameterCount, seed: 85, stream: 85, scale: 0.5)
    let x0 = randomBatch(4, 2, seed: 86), x1 = randomBatch(4, 2, seed: 87), eps = randomBatch(4, 2, seed: 88)
    let t = [0.2, 0.4, 0.6, 0.8], sigma = 0.3
    var expected = [Double](repeating: 0, count: net.parameterCount)
    let loss = net.loss(params, x0: x0, x1: x1, t: t, eps: eps, sigma: sigma, grad: &expected)
    // The training stage's path: one training row at a time into z and X1, time features, regression.
    let width = net.mlp.input
    var z = [Double](repeating: 0, count: 4 * width), target = [Double](repeating: 0, count: 8)
    for r in 0 ..< 4 {
      x0.storage.withUnsafeBufferPointer { a in
        x1.storage.withUnsafeBufferPointer { b in
          z.withUnsafeMutableBufferPointer { zp in
            target.withUnsafeMutableBufferPointer { tp in
              net.trainingRow(
                x0: a.baseAddress! + 2 * r, x1: b.baseAddress! + 2 * r, t: t[r], sigma: sigma, eps: { eps[r, $0] },
                input: zp.baseAddress! + r * width, target: tp.baseAddress! + 2 * r)
            }
          }
        }
      }
    }
    z.withUnsafeMutableBufferPointer { net.timeFeatures(t, rows: 4, into: $0.baseAddress!) }
    let v = MLPEvaluator<Double>(net.mlp, capacity: 4)
    v.load(params)
    var dv = [Double](repeating: 0, count: 8), grad = [Double](repeating: 0, count: net.parameterCount)
    let l = net.regression(v, inputs: z, x1: target, rows: 4, dv: &dv, grad: &grad)
    #expect(abs(l - loss) < 1e-12 * max(loss, 1))
    #expect(relativeError(grad, expected) < 1e-12)
  }

  @Test("both conjugate solvers behind the protocol solve u = x^T A x / 2: xhat = A^-1 y, every row converged")
  func solversBehindTheProtocol() {
    // A = diag(1, 2, 4): grad u(x) = A x, so xhat = A^-1 y.
    let a: [Double] = [1, 2, 4], n = 5, d = 3
    let y = randomVector(n * d, seed: 9, stream: 9)
    for method in ConjugateSolverConfig.Method.allCases {
      var config = ConjugateSolverConfig(maxIterations: method == .adam ? 3000 : 50, tolerance: 1e-6)
      config.method = method
      let solver: any ConjugateSolver<Double> = makeConjugateSolver(capacity: n, dim: d, config: config)
      let start = [Double](repeating: 0, count: n * d)
      solver.solve(y: y, start: start, rows: n) { x, rows, u, grad in
        for r in 0 ..< rows {
          u[r] = 0
          for j in 0 ..< d {
            grad[r * d + j] = a[j] * x[r * d + j]
            u[r] += a[j] * x[r * d + j] * x[r * d + j] / 2
          }
        }
      }
      #expect(solver.rows == n && solver.evaluations > 0, "\(method)")
      for r in 0 ..< n {
        #expect(solver.converged[r] && solver.residual[r] <= 1e-6, "\(method) row \(r): residual \(solver.residual[r])")
        for j in 0 ..< d { #expect(abs(solver.x[r * d + j] - y[r * d + j] / a[j]) < 1e-5, "\(method) row \(r)") }
      }
    }
  }
}
