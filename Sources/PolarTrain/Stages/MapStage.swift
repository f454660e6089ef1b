// Stage map (docs/design.md §1 step 2): the explicit map M_psi regressed onto the implicit
// M(x) = xhat(F(x)) = grad u*(F(x)), a conjugate solve per sample; samples whose solve did not
// converge are left out (maskedSquaredError's mask). A regression stage (RegressionStage.swift).
import PolarCore

extension Trainer {
  /// One micro-batch of stage map: [gradient | RegressionStat], through the step's workspace.
  func mapContribution(_ step: Int, _ m: Int, into slot: UnsafeMutableBufferPointer<Float>, _ w: StepWorkspace) {
    let mb = config.parallel.microBatch, d = problem.dim
    problem.batch(seed: config.seed, purpose: .map, step: step, indices: m * mb ..< (m + 1) * mb, into: &w.x, &w.y)
    let s = w.solver, map = w.map!
    w.y.storage.withUnsafeBufferPointer { py in
      w.amortizer.forward(py.baseAddress!, rows: mb)
      w.solve(py.baseAddress!, rows: mb)
    }
    w.x.storage.withUnsafeBufferPointer { map.forward($0.baseAddress!, rows: mb) }
    var converged: Float = 0
    for r in 0 ..< mb where s.converged[r] { converged += 1 }
    let loss = w.dy.withUnsafeMutableBufferPointer { dy in
      maskedSquaredError(prediction: map.y, target: s.x, mask: s.converged, rows: mb, dim: d, gradient: dy.baseAddress!)
    }
    let p = nets.map.parameterCount
    for i in 0 ..< p { slot[i] = 0 }
    w.dy.withUnsafeBufferPointer { map.backward(dy: $0.baseAddress!, rows: mb, grad: slot.baseAddress!) }
    RegressionStat.write(
      slot, parameters: p, loss: loss, used: converged, drawn: mb,
      iterations: (0 ..< mb).reduce(0) { $0 + s.iterations[$1] })
  }

  /// One optimizer step of stage map.
  func mapStep(_ step: Int) throws -> StepFigures {
    _ = stepWorkspace.map(nets, state.params(.map))
    return try regressionStep(
      .map, step: step, network: .map, parameters: nets.map.parameterCount, adam: mapAdam,
      lossKey: "map_loss", mapContribution)
  }
}
