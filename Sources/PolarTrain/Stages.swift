// The data-parallel training steps (docs/design.md §1 steps 1-2, §3). A global batch of B samples is
// cut into B / micro_batch micro-batches; rank r takes a contiguous block of them. Each
// micro-batch is drawn, solved and differentiated on its own, with fixed shapes, giving one
// contribution vector [gradients | statistics]; all contributions of all ranks are summed in one
// fused all-reduce (exact: bitwise the same for any N; fast: a float all-reduce). Every rank then
// takes the same optimizer step, so the replicas stay identical.
import CAllocationCount
import Foundation
import PolarCore
import SwiftMPI

/// Which micro-batches rank r of n processes: a contiguous block (uneven when n does not divide).
public func microBatches(count: Int, rank: Int, size: Int) -> Range<Int> {
  (count * rank / size) ..< (count * (rank + 1) / size)
}

/// Sums per-micro-batch contribution vectors over all ranks. Each micro-batch writes its
/// contribution into its slot of one buffer kept from step to step (with the exact sum's
/// workspace and the result), so a step's reduction allocates nothing once warmed up.
/// `lastSeconds`: the wall time of the latest sum (local summation, the all-reduces and the wait
/// for the slowest rank; not the contributions' work), for the log.
final class Reducer {
  let world: Communicator
  let exact: Bool
  private(set) var lastSeconds = 0.0
  /// Heap allocations made inside the sums so far (Open MPI's all-reduce takes temporary
  /// buffers on 2 or more ranks; the sum's own code allocates nothing once warmed up).
  private(set) var allocations: UInt = 0
  private var slots: [Float] = []  // this rank's contributions, one after another
  private var total: [Float] = []
  private var workspace: ExactSumWorkspace<Float>?

  init(world: Communicator, exact: Bool) {
    self.world = world
    self.exact = exact
  }

  /// The sum over all ranks of the contributions `fill(m, slot)` writes (every value of its
  /// slot, `count` long) for the micro-batches m of this rank. The result is valid until the
  /// next call.
  func sum(count: Int, microBatches mine: Range<Int>,
           _ fill: (_ microBatch: Int, _ slot: UnsafeMutableBufferPointer<Float>) -> Void) throws -> [Float] {
    if slots.count != mine.count * count { slots = [Float](repeating: 0, count: mine.count * count) }
    if total.count != count { total = [Float](repeating: 0, count: count) }
    slots.withUnsafeMutableBufferPointer { s in
      for (k, m) in mine.enumerated() { fill(m, UnsafeMutableBufferPointer(rebasing: s[k * count ..< (k + 1) * count])) }
    }
    if exact && workspace?.count != count { workspace = ExactSumWorkspace<Float>(count: count) }
    let t0 = MPIEnvironment.wallTime(), a0 = pt_thread_allocations()
    defer {
      lastSeconds = MPIEnvironment.wallTime() - t0
      allocations += pt_thread_allocations() - a0
    }
    if exact {
      try slots.withUnsafeBufferPointer { (s) throws(MPIError) in
        try total.withUnsafeMutableBufferPointer { (r) throws(MPIError) in try world.exactSum(s, into: r, workspace: workspace!) }
      }
      return total
    }
    slots.withUnsafeBufferPointer { s in
      total.withUnsafeMutableBufferPointer { r in
        for i in 0 ..< count { r[i] = 0 }
        for k in 0 ..< mine.count { for i in 0 ..< count { r[i] += s[k * count + i] } }
      }
    }
    try world.allreduce(&total, op: .sum)
    return total
  }
}

/// Statistics carried at the end of a potential-stage contribution.
enum PotentialStat: Int, CaseIterable {
  case samples, sumU, sumConjugate, converged, sumX2, sumY2, iterations, residual, amortizerLoss, evaluations
}

/// Aggregated figures of one step, for the log.
public struct StepFigures: Sendable {
  public var values: [String: Double] = [:]
}

extension Trainer {
  // MARK: stage potential

  /// One micro-batch: warm start g(y), conjugate solve, envelope gradients of the dual,
  /// amortizer regression |g(y) - xhat|^2 on the converged samples, into its slot
  /// [d u(x) sums | d u(xhat) sums | amortizer gradient | statistics], through the step's
  /// workspace (nothing allocated).
  func potentialContribution(step: Int, microBatch m: Int, into slot: UnsafeMutableBufferPointer<Float>, _ w: StepWorkspace) {
    let mb = config.parallel.microBatch, d = problem.dim
    let pu = nets.potential.parameterCount, pa = nets.amortizer.parameterCount
    problem.batch(seed: config.seed, purpose: .potential, step: step, indices: m * mb ..< (m + 1) * mb, into: &w.x, &w.y)
    for i in 0 ..< 2 * pu + pa { slot[i] = 0 }
    let s = w.solver, g = slot.baseAddress!
    let terms = w.x.storage.withUnsafeBufferPointer { px in
      w.y.storage.withUnsafeBufferPointer { py in
        w.amortizer.forward(py.baseAddress!, rows: mb)
        w.solve(py.baseAddress!, rows: mb)
        return w.evaluator.dualGradients(x: px.baseAddress!, y: py.baseAddress!, xhat: s.x, mask: s.converged, rows: mb,
                                         gradX: g, gradY: g + pu)
      }
    }
    var amortizerLoss: Float = 0
    for r in 0 ..< mb {
      for j in 0 ..< d {
        let e = s.converged[r] ? w.amortizer.y[r * d + j] - s.x[r * d + j] : 0
        w.dy[r * d + j] = 2 * e
        amortizerLoss += e * e
      }
    }
    w.dy.withUnsafeBufferPointer { w.amortizer.backward(dy: $0.baseAddress!, rows: mb, grad: g + 2 * pu) }
    var sumX2: Float = 0, sumY2: Float = 0, iterations = 0, residual: Float = 0
    for v in w.x.storage { sumX2 += v * v }
    for v in w.y.storage { sumY2 += v * v }
    for r in 0 ..< mb {
      iterations += s.iterations[r]
      if s.residual[r].isFinite { residual += s.residual[r] }
    }
    let stats = UnsafeMutableBufferPointer(rebasing: slot[(2 * pu + pa)...])
    stats[PotentialStat.samples.rawValue] = Float(mb)
    stats[PotentialStat.sumU.rawValue] = Float(terms.sumU)
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
    w.load(potential: state.networks["potential"]!.params, amortizer: state.networks["amortizer"]!.params)
    let sum = try reducer.sum(count: total, microBatches: mine) { potentialContribution(step: step, microBatch: $0, into: $1, w) }
    w.release()
    func stat(_ s: PotentialStat) -> Double { Double(sum[2 * pu + pa + s.rawValue]) }
    let b = stat(.samples), c = max(stat(.converged), 1)
    // dL/dtheta = E[d u(x)] - E[d u(xhat)]; the amortizer's mean squared error over converged samples.
    for i in 0 ..< pu { w.gradU[i] = sum[i] / Float(b) - sum[pu + i] / Float(c) }
    for i in 0 ..< pa { w.gradA[i] = sum[2 * pu + i] / Float(c) }
    if let t = Trainer.testNaN, t.step == step + 1, t.always || state.rollbacks == 0 { w.gradU[0] = .nan }
    try checkFinite(Float(stat(.sumU)), Float(stat(.sumConjugate)), network: "potential", step: step, what: "loss")
    try checkFinite(w.gradU, network: "potential", step: step)
    try checkFinite(w.gradA, network: "amortizer", step: step)
    // The loss and the W2 estimate (|x|^2 and |F|^2 overflow for a field near 1e30) stop the
    // run like a NaN gradient does, before any parameter changes.
    let meanU = stat(.sumU) / b, meanConj = stat(.sumConjugate) / c
    let w2 = stat(.sumX2) / b + stat(.sumY2) / b - 2 * (meanU + meanConj)
    try checkFinite(meanU + meanConj, network: "potential", step: step, what: "loss")
    try checkFinite(w2, network: "potential", step: step, what: "W2 estimate")
    let budgetUsed = state.conjugateBudget(config)
    try checkDualHealth(step: step + 1, share: stat(.converged) / b, w2: w2, meanX2: stat(.sumX2) / b, meanY2: stat(.sumY2) / b)
    let reportU = optimize("potential", w.gradU, potentialAdam)
    potentialChanged = true
    nets.potential.project(&state.networks["potential"]!.params)
    optimize("amortizer", w.gradA, amortizerAdam)
    w.figures.removeAll(keepingCapacity: true)
    w.figures["loss"] = meanU + meanConj
    w.figures["w2"] = w2
    w.figures["amortizer_loss"] = stat(.amortizerLoss) / c
    w.figures["conjugate_iterations"] = stat(.iterations) / b
    w.figures["conjugate_residual"] = stat(.residual) / b
    w.figures["converged"] = stat(.converged) / b
    w.figures["conjugate_max_iter"] = Double(budgetUsed)
    w.figures["dual_alerts"] = Double(state.dualAlerts)
    w.figures["grad_norm"] = reportU.gradientNorm
    w.figures["lr"] = reportU.learningRate
    w.figures["samples"] = b
    w.figures["reduce_seconds"] = reducer.lastSeconds
    return StepFigures(values: w.figures)
  }

  // MARK: stage map

  /// One micro-batch of stage map: M_psi(x) regressed onto the implicit M(x) = xhat(F(x)).
  func mapContribution(_ step: Int, _ m: Int, into slot: UnsafeMutableBufferPointer<Float>, _ w: StepWorkspace) {
    let mb = config.parallel.microBatch, d = problem.dim
    problem.batch(seed: config.seed, purpose: .map, step: step, indices: m * mb ..< (m + 1) * mb, into: &w.x, &w.y)
    let s = w.solver, map = w.map!
    w.y.storage.withUnsafeBufferPointer { py in
      w.amortizer.forward(py.baseAddress!, rows: mb)
      w.solve(py.baseAddress!, rows: mb)
    }
    w.x.storage.withUnsafeBufferPointer { map.forward($0.baseAddress!, rows: mb) }
    var loss: Float = 0, converged: Float = 0
    for r in 0 ..< mb {
      if s.converged[r] { converged += 1 }
      for j in 0 ..< d {
        let e = s.converged[r] ? map.y[r * d + j] - s.x[r * d + j] : 0
        w.dy[r * d + j] = 2 * e
        loss += e * e
      }
    }
    let p = nets.map.parameterCount
    for i in 0 ..< p { slot[i] = 0 }
    w.dy.withUnsafeBufferPointer { map.backward(dy: $0.baseAddress!, rows: mb, grad: slot.baseAddress!) }
    writeRegression(slot, parameters: p, loss: loss, used: converged, drawn: mb, iterations: (0 ..< mb).reduce(0) { $0 + s.iterations[$1] })
  }

  func mapStep(_ step: Int) throws -> StepFigures {
    let w = stepWorkspace
    _ = w.map(nets, state.networks["map"]!.params)
    return try regressionStep("map", step: step, batch: config.map.batch, parameters: nets.map.parameterCount,
                              adam: mapAdam, lossKey: "map_loss", mapContribution)
  }

  /// The step of a regression stage (map, inverse; the stage's own network loaded into the
  /// workspace by the caller): every micro-batch contributes
  /// [gradient of the loss sum | loss sum | samples used | samples drawn | conjugate iterations];
  /// one reduction, then the mean gradient over the samples used and one Adam step.
  func regressionStep(_ name: String, step: Int, batch: Int, parameters p: Int, adam: AdamConfig, lossKey: String,
                      _ contribution: (_ step: Int, _ microBatch: Int, _ slot: UnsafeMutableBufferPointer<Float>,
                                       _ w: StepWorkspace) -> Void) throws -> StepFigures {
    let count = batch / config.parallel.microBatch
    let mine = microBatches(count: count, rank: world.rank, size: world.size)
    let w = stepWorkspace
    w.load(potential: state.networks["potential"]!.params, amortizer: state.networks["amortizer"]!.params)
    let sum = try reducer.sum(count: p + 4, microBatches: mine) { contribution(step, $0, $1, w) }
    w.release()
    let used = max(Double(sum[p + 1]), 1)
    if w.gradient.count != p { w.gradient = [Float](repeating: 0, count: p) }
    for i in 0 ..< p { w.gradient[i] = sum[i] / Float(used) }
    try checkFinite(sum[p], 0, network: name, step: step, what: "loss")
    try checkFinite(w.gradient, network: name, step: step)
    let report = optimize(name, w.gradient, adam)
    w.figures.removeAll(keepingCapacity: true)
    w.figures[lossKey] = Double(sum[p]) / used
    w.figures["converged"] = used / Double(sum[p + 2])
    w.figures["conjugate_iterations"] = Double(sum[p + 3]) / Double(sum[p + 2])
    w.figures["grad_norm"] = report.gradientNorm
    w.figures["lr"] = report.learningRate
    w.figures["samples"] = Double(sum[p + 2])
    w.figures["reduce_seconds"] = reducer.lastSeconds
    return StepFigures(values: w.figures)
  }

  /// The statistics after a regression slot's gradient [p]: loss sum, used, drawn, iterations.
  func writeRegression(_ slot: UnsafeMutableBufferPointer<Float>, parameters p: Int, loss: Float, used: Float,
                       drawn: Int, iterations: Int) {
    slot[p] = loss
    slot[p + 1] = used
    slot[p + 2] = Float(drawn)
    slot[p + 3] = Float(iterations)
  }

  /// One Adam step of a network (learning rate scaled by the NaN rollbacks so far), in place.
  @discardableResult
  func optimize(_ name: String, _ grad: [Float], _ adam: AdamConfig) -> AdamStepReport {
    var scaled = adam
    scaled.learningRate *= state.lrScale
    return state.networks[name]!.adamStep(grad: grad, config: scaled)
  }

  /// checkFinite of two loss sums, without an array.
  func checkFinite(_ a: Float, _ b: Float, network: String, step: Int, what: String) throws {
    if !a.isFinite || !b.isFinite { try checkFinite([a, b], network: network, step: step, what: what) }
  }

  /// NaN/Inf in a loss or gradient stops the run on the step it appears, naming the network
  /// (the values are the all-reduced ones, so every rank decides alike).
  func checkFinite(_ g: [Float], network: String, step: Int, what: String = "gradient") throws {
    if let i = g.firstIndex(where: { !$0.isFinite }) { try checkFinite(Double(g[i]), network: network, step: step, what: what) }
  }

  /// The same for one figure computed in doubles (the loss, the W2 estimate).
  func checkFinite(_ value: Double, network: String, step: Int, what: String) throws {
    if !value.isFinite {
      throw TrainingError(message: "\(state.stage) step \(step + 1): non-finite \(what) (\(value)) in network \(network)",
                          nonFinite: true)
    }
  }
}
