// Stage inverse (docs/design.md §1 step 3): the bridge network v(x_t, t, X0) regressed onto X1 on the
// coupling (X0, X1) = (M(x), x), x ~ rho, data-parallel like the other stages. M(x) is implicit
// (xhat(F(x)) by the conjugate solver; samples whose solve did not converge are left out) or
// explicit (M_net). The times t = 1 - (1 - u)^p, u ~ U(0.001, 0.999) (p = inverse.time_power;
// p = 1 is the authors' uniform time, p > 1 spends more of the batch near t = 1 where the sampler
// decides the endpoint's precision) and the bridge noise are counter-based
// functions of (seed, step, global sample index), so the stage is bitwise the same for any N.
import Foundation
import PolarCore
import SwiftMPI

extension Trainer {
  /// One micro-batch: [gradient | RegressionStat], through the step's workspace (nothing allocated).
  func inverseContribution(_ step: Int, _ m: Int, into slot: UnsafeMutableBufferPointer<Float>, _ w: StepWorkspace) {
    let mb = config.parallel.microBatch, d = problem.dim
    let indices = m * mb ..< (m + 1) * mb
    // X0 = M(x): from the pool (inverse.pool), M_net(x) (explicit, every row used) or xhat(F(x))
    // (implicit, converged rows).
    let s = w.solver, explicit = config.inverse.coupling == .explicit, pool = refreshing ? nil : inversePool
    var iterations = 0
    if let pool {
      poolBatch(pool, step: step, microBatch: m, w, rows: &poolRows)
    } else {
      problem.batch(seed: config.seed, purpose: .inverse, step: step, indices: indices, into: &w.x, &w.y)
    }
    if explicit {
      w.x.storage.withUnsafeBufferPointer { w.map!.forward($0.baseAddress!, rows: mb) }
    } else if pool == nil {
      w.y.storage.withUnsafeBufferPointer { py in
        w.amortizer.forward(py.baseAddress!, rows: mb)
        w.solve(py.baseAddress!, rows: mb)
      }
      for r in 0 ..< mb { iterations += s.iterations[r] }
    }
    // The rows used, gathered: z = [x_t | X0 | time features], X1 = x (BridgeNetwork.trainingRow).
    // (nets.inverse is not copied into a local: the copy of the network's description allocates.)
    let bridge = w.bridge!, width = nets.inverse.mlp.input, sigma = Float(config.inverse.sigma)
    let rng = CounterRNG(seed: config.seed, stream: CounterRNG.streamID(Problem.Purpose.inverseBridge.rawValue, UInt64(step)))
    var kept = 0
    func gather(_ x0: UnsafePointer<Float>, _ used: (Int) -> Bool) {
      w.x.storage.withUnsafeBufferPointer { px in
        w.z.withUnsafeMutableBufferPointer { z in
          w.x1.withUnsafeMutableBufferPointer { x1 in
            for r in 0 ..< mb where used(r) {
              let g = UInt64(indices.lowerBound + r) * UInt64(d + 1)
              let t = Float(1 - Foundation.pow(1 - (0.001 + 0.998 * rng.uniform(g)), config.inverse.timePower))
              w.t[kept] = t
              nets.inverse.trainingRow(
                x0: x0 + r * d, x1: px.baseAddress! + r * d, t: t, sigma: sigma,
                eps: { Float(rng.normal(g + 1 + UInt64($0))) },
                input: z.baseAddress! + kept * width, target: x1.baseAddress! + kept * d)
              kept += 1
            }
          }
        }
      }
    }
    if explicit {
      gather(UnsafePointer(w.map!.y)) { _ in true }
    } else if let pool {
      w.y.storage.withUnsafeBufferPointer { py in gather(py.baseAddress!) { pool.converged[poolRows[$0]] } }
    } else {
      gather(UnsafePointer(s.x)) { s.converged[$0] }
    }
    let p = nets.inverse.parameterCount
    for i in 0 ..< p { slot[i] = 0 }
    var loss: Float = 0
    if kept > 0 {
      w.t.withUnsafeBufferPointer { t in w.z.withUnsafeMutableBufferPointer { nets.inverse.timeFeatures(t.baseAddress!, rows: kept, into: $0.baseAddress!) } }
      loss = w.z.withUnsafeBufferPointer { z in
        w.x1.withUnsafeBufferPointer { x1 in
          w.dy.withUnsafeMutableBufferPointer { dy in
            nets.inverse.regression(bridge, inputs: z.baseAddress!, x1: x1.baseAddress!, rows: kept, dv: dy.baseAddress!, grad: slot.baseAddress!)
          }
        }
      }
    }
    RegressionStat.write(slot, parameters: p, loss: loss, used: Float(kept), drawn: mb, iterations: iterations)
  }

  /// inverse.pool: solves the pool once, before the stage's first step. Called by the trainer
  /// only, before it starts the stage's clock, so the progress line's rate and ETA leave it out;
  /// the refresh's inverse steps never use a pool.
  func prepareInversePool() throws {
    guard config.inverse.pool > 0 && inversePool == nil && !refreshing else { return }
    let t0 = MPIEnvironment.wallTime()
    inversePool = try makeInversePool()
    poolRows = [Int](repeating: 0, count: config.parallel.microBatch)
    if world.rank == 0 && verbose {
      let p = inversePool!, share = Double(p.converged.filter { $0 }.count) / Double(p.count)
      print(String(format: "inverse: a pool of %d solved couplings (%.1f%% converged) in %.0f s", p.count, 100 * share, MPIEnvironment.wallTime() - t0))
    }
  }

  /// One optimizer step of stage inverse: the mean squared endpoint error over the samples used.
  func inverseStep(_ step: Int) throws -> StepFigures {
    let w = stepWorkspace
    _ = w.bridge(nets, state.params(.inverse))
    if config.inverse.coupling == .explicit { _ = w.map(nets, state.params(.map)) }
    return try regressionStep(
      .inverse, step: step, network: .inverse, parameters: nets.inverse.parameterCount,
      adam: inverseAdam, lossKey: "inverse_loss", inverseContribution)
  }
}
