// Stage potential (docs/design.md §1 step 1): u_theta on the W2 dual and the amortizer g_phi on
// the conjugate solver's answers, data-parallel (Reduction.swift). The math is PolarCore's: the
// envelope gradients of the dual (ICNNEvaluator.dualGradients), the step's loss, W2 estimate and
// gradient (DualStepSums), the amortizer's regression (maskedSquaredError). This file draws the
// micro-batches, reduces, checks, steps Adam and logs.
import Foundation
import PolarCore

/// The statistics after a potential-stage contribution's gradients, by name.
enum PotentialStat: Int, CaseIterable {
  case samples, sumU, sumConjugate, converged, sumX2, sumY2, iterations, residual, amortizerLoss, evaluations
}

extension Trainer {
  /// First pass over micro-batch m (the j-th of this rank): draw (x, y) and keep them, and write
  /// sum_i d u(x_i) into `slot` (pu values); no conjugate solve is needed, so the all-reduce of
  /// these sums runs behind the second pass (Reducer, docs/design.md §3 "Overlap").
  func potentialSampleGradient(step: Int, microBatch m: Int, local j: Int, into slot: UnsafeMutableBufferPointer<Float>, _ w: StepWorkspace) {
    let mb = config.parallel.microBatch
    problem.batch(seed: config.seed, purpose: .potential, step: step, indices: m * mb ..< (m + 1) * mb, into: &w.xs[j], &w.ys[j])
    for i in 0 ..< slot.count { slot[i] = 0 }
    w.sumU[j] = w.xs[j].storage.withUnsafeBufferPointer { w.evaluator.sampleGradient(x: $0.baseAddress!, rows: mb, gradX: slot.baseAddress!) }
  }

  /// Second pass over micro-batch m: warm start g(y), conjugate solve, the dual's gradient at the
  /// conjugates, amortizer regression |g(y) - xhat|^2 on the converged samples, into its slot
  /// [d u(xhat) sums | amortizer gradient | statistics], through the step's workspace (nothing
  /// allocated).
  func potentialConjugateGradient(local j: Int, into slot: UnsafeMutableBufferPointer<Float>, _ w: StepWorkspace) {
    let mb = config.parallel.microBatch, d = problem.dim
    let pu = nets.potential.parameterCount, pa = nets.amortizer.parameterCount
    for i in 0 ..< pu + pa { slot[i] = 0 }
    let s = w.solver, g = slot.baseAddress!
    let terms = w.ys[j].storage.withUnsafeBufferPointer { py in
      w.amortizer.forward(py.baseAddress!, rows: mb)
      w.solve(py.baseAddress!, rows: mb)
      return w.evaluator.conjugateGradient(y: py.baseAddress!, xhat: s.x, mask: s.converged, rows: mb, gradY: g)
    }
    let amortizerLoss = w.dy.withUnsafeMutableBufferPointer { dy in
      maskedSquaredError(prediction: w.amortizer.y, target: s.x, mask: s.converged, rows: mb, dim: d, gradient: dy.baseAddress!)
    }
    w.dy.withUnsafeBufferPointer { w.amortizer.backward(dy: $0.baseAddress!, rows: mb, grad: g + pu) }
    var sumX2: Float = 0, sumY2: Float = 0, iterations = 0, residual: Float = 0
    for v in w.xs[j].storage { sumX2 += v * v }
    for v in w.ys[j].storage { sumY2 += v * v }
    for r in 0 ..< mb {
      iterations += s.iterations[r]
      if s.residual[r].isFinite { residual += s.residual[r] }
    }
    let stats = UnsafeMutableBufferPointer(rebasing: slot[(pu + pa)...])
    stats[PotentialStat.samples.rawValue] = Float(mb)
    stats[PotentialStat.sumU.rawValue] = Float(w.sumU[j])
    stats[PotentialStat.sumConjugate.rawValue] = Float(terms.sumConjugate)
    stats[PotentialStat.converged.rawValue] = Float(terms.conjugateCount)
    stats[PotentialStat.sumX2.rawValue] = sumX2
    stats[PotentialStat.sumY2.rawValue] = sumY2
    stats[PotentialStat.iterations.rawValue] = Float(iterations)
    stats[PotentialStat.residual.rawValue] = residual
    stats[PotentialStat.amortizerLoss.rawValue] = amortizerLoss
    stats[PotentialStat.evaluations.rawValue] = Float(s.evaluations)
  }

  /// One optimizer step of stage potential.
  func potentialStep(_ step: Int) throws -> StepFigures {
    let mb = config.parallel.microBatch
    let count = config.potential.batch / mb
    let pu = nets.potential.parameterCount, pa = nets.amortizer.parameterCount
    let total = 2 * pu + pa + PotentialStat.allCases.count
    let mine = microBatches(count: count, rank: world.rank, size: world.size)
    let w = stepWorkspace
    w.load(potential: state.params(.potential), amortizer: state.params(.amortizer))
    // The contribution [d u(x) sums | d u(xhat) sums | amortizer gradient | statistics] in two
    // passes: the first pu values before any solve, reduced while the solves run.
    w.reserveBatches(mine.count, rows: mb, dim: problem.dim)
    let sum = try reducer.sum(
      count: total, early: pu, overlap: config.parallel.overlap, microBatches: mine,
      first: { potentialSampleGradient(step: step, microBatch: $0, local: $0 - mine.lowerBound, into: $1, w) },
      rest: { m, slot, poll in
        w.poll = poll
        potentialConjugateGradient(local: m - mine.lowerBound, into: slot, w)
        w.poll = nil
      })
    w.release()
    func stat(_ s: PotentialStat) -> Double { Double(sum[2 * pu + pa + s.rawValue]) }
    let dual = DualStepSums(
      samples: stat(.samples), sumU: stat(.sumU), sumConjugate: stat(.sumConjugate),
      converged: stat(.converged), sumX2: stat(.sumX2), sumY2: stat(.sumY2))
    let c = dual.conjugateCount
    // dL/dtheta = E[d u(x)] - E[d u(xhat)]; the amortizer's mean squared error over converged samples.
    sum.withUnsafeBufferPointer { s in
      w.gradU.withUnsafeMutableBufferPointer { dual.gradient(sumX: s.baseAddress!, sumY: s.baseAddress! + pu, count: pu, into: $0.baseAddress!) }
    }
    for i in 0 ..< pa { w.gradA[i] = sum[2 * pu + i] / Float(c) }
    if let t = Trainer.testNaN, t.step == step + 1, t.always || state.rollbacks == 0 { w.gradU[0] = .nan }
    try checkFinite(Float(dual.sumU), Float(dual.sumConjugate), network: .potential, step: step, what: "loss")
    try checkFinite(w.gradU, network: .potential, step: step)
    try checkFinite(w.gradA, network: .amortizer, step: step)
    // The loss and the W2 estimate (|x|^2 and |F|^2 overflow for a field near 1e30) stop the
    // run like a NaN gradient does, before any parameter changes.
    let loss = dual.loss, w2 = dual.w2, b = dual.samples
    try checkFinite(loss, network: .potential, step: step, what: "loss")
    try checkFinite(w2, network: .potential, step: step, what: "W2 estimate")
    let budgetUsed = state.conjugateBudget(config)
    try checkDualHealth(step: step + 1, share: dual.converged / b, w2: w2, meanX2: dual.sumX2 / b, meanY2: dual.sumY2 / b)
    let reportU = optimize(.potential, w.gradU, potentialAdam)
    potentialChanged = true
    nets.potential.project(&state.networks[.potential]!.params)
    optimize(.amortizer, w.gradA, amortizerAdam)
    w.figures.removeAll(keepingCapacity: true)
    w.figures["loss"] = loss
    w.figures["w2"] = w2
    w.figures["amortizer_loss"] = stat(.amortizerLoss) / c
    w.figures["conjugate_iterations"] = stat(.iterations) / b
    w.figures["conjugate_residual"] = stat(.residual) / b
    w.figures["converged"] = dual.converged / b
    w.figures["conjugate_max_iter"] = Double(budgetUsed)
    w.figures["dual_alerts"] = Double(state.dualAlerts)
    w.figures["grad_norm"] = reportU.gradientNorm
    w.figures["lr"] = reportU.learningRate
    w.figures["samples"] = b
    w.figures["reduce_seconds"] = reducer.lastSeconds
    return StepFigures(values: w.figures)
  }
}
