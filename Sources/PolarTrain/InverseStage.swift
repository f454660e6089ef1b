// Stage inverse (docs/design.md §1 step 3): the bridge network v(x_t, t, X0) regressed onto X1 on the
// coupling (X0, X1) = (M(x), x), x ~ rho, data-parallel like the other stages. M(x) is implicit
// (xhat(F(x)) by the conjugate solver; samples whose solve did not converge are left out) or
// explicit (M_net). The times t = 1 - (1 - u)^p, u ~ U(0.001, 0.999) (p = inverse.time_power;
// p = 1 is the authors' uniform time, p > 1 spends more of the batch near t = 1 where the sampler
// decides the endpoint's precision) and the bridge noise are counter-based
// functions of (seed, step, global sample index), so the stage is bitwise the same for any N.
import Foundation
import PolarCore

extension Trainer {
  /// One micro-batch: [gradient | loss sum | samples used | samples drawn | conjugate iterations],
  /// through the step's workspace (nothing allocated).
  func inverseContribution(_ step: Int, _ m: Int, into slot: UnsafeMutableBufferPointer<Float>, _ w: StepWorkspace) {
    let mb = config.parallel.microBatch, d = problem.dim
    let indices = m * mb ..< (m + 1) * mb
    problem.batch(seed: config.seed, purpose: .inverse, step: step, indices: indices, into: &w.x, &w.y)
    // X0 = M(x): M_net(x) (explicit, every row used) or xhat(F(x)) (implicit, converged rows).
    let s = w.solver, explicit = config.inverse.coupling == "explicit"
    var iterations = 0
    let x0: UnsafePointer<Float>
    if explicit {
      w.x.storage.withUnsafeBufferPointer { w.map!.forward($0.baseAddress!, rows: mb) }
      x0 = UnsafePointer(w.map!.y)
    } else {
      w.y.storage.withUnsafeBufferPointer { py in
        w.amortizer.forward(py.baseAddress!, rows: mb)
        w.solve(py.baseAddress!, rows: mb)
      }
      x0 = UnsafePointer(s.x)
      for r in 0 ..< mb { iterations += s.iterations[r] }
    }
    // The rows used, gathered: z = [x_t | X0 | time features], X1 = x, with the bridge point x_t
    // (BridgeNetwork.point).
    let bridge = w.bridge!, width = nets.inverse.mlp.input, sigma = Float(config.inverse.sigma)
    let rng = CounterRNG(seed: config.seed, stream: CounterRNG.streamID(Problem.Purpose.inverseBridge.rawValue, UInt64(step)))
    var kept = 0
    for r in 0 ..< mb where explicit || s.converged[r] {
      let g = UInt64(indices.lowerBound + r) * UInt64(d + 1)
      let t = Float(1 - Foundation.pow(1 - (0.001 + 0.998 * rng.uniform(g)), config.inverse.timePower))
      w.t[kept] = t
      let scale = BridgeNetwork.noiseScale(t: t, sigma: sigma)
      for j in 0 ..< d {
        let a = x0[r * d + j], b = w.x[r, j], eps = Float(rng.normal(g + 1 + UInt64(j)))
        w.z[kept * width + j] = BridgeNetwork.point(x0: a, x1: b, t: t, noiseScale: scale, eps: eps)
        w.z[kept * width + d + j] = a
        w.x1[kept * d + j] = b
      }
      kept += 1
    }
    let p = nets.inverse.parameterCount
    for i in 0 ..< p { slot[i] = 0 }
    var loss: Float = 0
    if kept > 0 {
      w.t.withUnsafeBufferPointer { t in w.z.withUnsafeMutableBufferPointer { nets.inverse.timeFeatures(t.baseAddress!, rows: kept, into: $0.baseAddress!) } }
      w.z.withUnsafeBufferPointer { bridge.forward($0.baseAddress!, rows: kept) }
      // sum_rows |v - X1|^2 and dL/dv = 2 (v - X1) (BridgeNetwork.loss).
      for i in 0 ..< kept * d {
        let e = bridge.y[i] - w.x1[i]
        loss += e * e
        w.dy[i] = 2 * e
      }
      w.dy.withUnsafeBufferPointer { bridge.backward(dy: $0.baseAddress!, rows: kept, grad: slot.baseAddress!) }
    }
    writeRegression(slot, parameters: p, loss: loss, used: Float(kept), drawn: mb, iterations: iterations)
  }

  /// One optimizer step of stage inverse: the mean squared endpoint error over the samples used.
  func inverseStep(_ step: Int) throws -> StepFigures {
    let w = stepWorkspace
    _ = w.bridge(nets, state.networks["inverse"]!.params)
    if config.inverse.coupling == "explicit" { _ = w.map(nets, state.networks["map"]!.params) }
    return try regressionStep("inverse", step: step, batch: config.inverse.batch, parameters: nets.inverse.parameterCount,
                              adam: inverseAdam, lossKey: "inverse_loss", inverseContribution)
  }
}
