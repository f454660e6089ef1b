// Stage inverse (DESIGN §1 step 3): the bridge network v(x_t, t, X0) regressed onto X1 on the
// coupling (X0, X1) = (M(x), x), x ~ rho, data-parallel like the other stages. M(x) is implicit
// (xhat(F(x)) by the conjugate solver; samples whose solve did not converge are left out) or
// explicit (M_net). The times t = 1 - (1 - u)^p, u ~ U(0.001, 0.999) (p = inverse.time_power;
// p = 1 is the authors' uniform time, p > 1 spends more of the batch near t = 1 where the sampler
// decides the endpoint's precision) and the bridge noise are counter-based
// functions of (seed, step, global sample index), so the stage is bitwise the same for any N.
import Foundation
import PolarCore

extension Trainer {
  /// One micro-batch: [gradient | loss sum | samples used | samples drawn | conjugate iterations].
  func inverseContribution(_ step: Int, _ m: Int, into slot: UnsafeMutableBufferPointer<Float>) {
    let mb = config.parallel.microBatch, d = problem.dim
    let indices = m * mb ..< (m + 1) * mb
    let (x, y) = problem.batch(seed: config.seed, purpose: .inverse, step: step, indices: indices)
    var x0: Matrix<Float>
    var keep = [Bool](repeating: true, count: mb)
    var iterations = 0
    if config.inverse.coupling == "explicit" {
      x0 = nets.map(state.networks["map"]!.params, x)
    } else {
      let solve = nets.conjugate(y, state: state, solver: solverConfig)
      x0 = solve.x
      keep = solve.converged
      iterations = solve.iterations.reduce(0, +)
    }
    let rows = (0 ..< mb).filter { keep[$0] }
    var b0 = Matrix<Float>(rows: rows.count, cols: d), b1 = b0, eps = b0
    var t = [Float](repeating: 0, count: rows.count)
    let rng = CounterRNG(seed: config.seed, stream: CounterRNG.streamID(Problem.Purpose.inverseBridge.rawValue, UInt64(step)))
    for (k, r) in rows.enumerated() {
      let g = UInt64(indices.lowerBound + r) * UInt64(d + 1)
      t[k] = Float(1 - Foundation.pow(1 - (0.001 + 0.998 * rng.uniform(g)), config.inverse.timePower))
      for j in 0 ..< d {
        b0[k, j] = x0[r, j]
        b1[k, j] = x[r, j]
        eps[k, j] = Float(rng.normal(g + 1 + UInt64(j)))
      }
    }
    var grad = [Float](repeating: 0, count: nets.inverse.parameterCount)
    let loss = rows.isEmpty ? 0 : nets.inverse.loss(state.networks["inverse"]!.params, x0: b0, x1: b1, t: t, eps: eps,
                                                     sigma: Float(config.inverse.sigma), grad: &grad)
    writeRegression(slot, gradient: grad, loss: loss, used: Float(rows.count), drawn: mb, iterations: iterations)
  }

  /// One optimizer step of stage inverse: the mean squared endpoint error over the samples used.
  func inverseStep(_ step: Int) throws -> StepFigures {
    try regressionStep("inverse", step: step, batch: config.inverse.batch, parameters: nets.inverse.parameterCount,
                       adam: inverseAdam, lossKey: "inverse_loss", inverseContribution)
  }
}
