// The step of a regression stage (map, inverse): every micro-batch contributes
// [gradient of the loss sum | RegressionStat], one reduction sums them over micro-batches and
// ranks, then the mean gradient over the samples used takes one Adam step. With the checks every
// step shares: a NaN or Inf in a loss or gradient stops the run on the step it appears.
import PolarCore

/// The statistics after a regression contribution's gradient [p], by name.
enum RegressionStat: Int, CaseIterable {
  /// The loss sum over the samples used.
  case loss
  /// Samples used (e.g. whose conjugate solve converged).
  case used
  /// Samples drawn.
  case drawn
  /// Conjugate-solver iterations, summed over the samples drawn.
  case iterations

  /// Writes the statistics after the gradient of `slot`.
  static func write(
    _ slot: UnsafeMutableBufferPointer<Float>, parameters p: Int, loss: Float, used: Float, drawn: Int,
    iterations: Int
  ) {
    slot[p + RegressionStat.loss.rawValue] = loss
    slot[p + RegressionStat.used.rawValue] = used
    slot[p + RegressionStat.drawn.rawValue] = Float(drawn)
    slot[p + RegressionStat.iterations.rawValue] = Float(iterations)
  }
}

extension Trainer {
  /// The step of a regression stage (the stage's own network loaded into the workspace by the
  /// caller): one reduction, then the mean gradient over the samples used and one Adam step.
  func regressionStep(
    _ stage: Stage, step: Int, network: NetworkName, parameters p: Int, adam: AdamConfig, lossKey: String,
    _ contribution: (
      _ step: Int, _ microBatch: Int, _ slot: UnsafeMutableBufferPointer<Float>,
      _ w: StepWorkspace
    ) -> Void
  ) throws -> StepFigures {
    let count = stage.batch(config) / config.parallel.microBatch
    let mine = microBatches(count: count, rank: world.rank, size: world.size)
    let w = stepWorkspace
    w.load(potential: state.params(.potential), amortizer: state.params(.amortizer))
    let sum = try reducer.sum(count: p + RegressionStat.allCases.count, microBatches: mine) { contribution(step, $0, $1, w) }
    w.release()
    func stat(_ s: RegressionStat) -> Float { sum[p + s.rawValue] }
    let used = max(Double(stat(.used)), 1), drawn = Double(stat(.drawn))
    if w.gradient.count != p { w.gradient = [Float](repeating: 0, count: p) }
    for i in 0 ..< p { w.gradient[i] = sum[i] / Float(used) }
    try checkFinite(stat(.loss), 0, network: network, step: step, what: "loss")
    try checkFinite(w.gradient, network: network, step: step)
    let report = optimize(network, w.gradient, adam)
    w.figures.removeAll(keepingCapacity: true)
    w.figures[lossKey] = Double(stat(.loss)) / used
    w.figures["converged"] = used / drawn
    w.figures["conjugate_iterations"] = Double(stat(.iterations)) / drawn
    w.figures["grad_norm"] = report.gradientNorm
    w.figures["lr"] = report.learningRate
    w.figures["samples"] = drawn
    w.figures["reduce_seconds"] = reducer.lastSeconds
    return StepFigures(values: w.figures)
  }

  /// One Adam step of a network (learning rate scaled by the NaN rollbacks so far), in place.
  @discardableResult
  func optimize(_ name: NetworkName, _ grad: [Float], _ adam: AdamConfig) -> AdamStepReport {
    var scaled = adam
    scaled.learningRate *= state.lrScale
    return state.networks[name]!.adamStep(grad: grad, config: scaled)
  }

  /// checkFinite of two loss sums, without an array.
  func checkFinite(_ a: Float, _ b: Float, network: NetworkName, step: Int, what: String) throws {
    if !a.isFinite || !b.isFinite { try checkFinite([a, b], network: network, step: step, what: what) }
  }

  /// NaN/Inf in a loss or gradient stops the run on the step it appears, naming the network
  /// (the values are the all-reduced ones, so every rank decides alike).
  func checkFinite(_ g: [Float], network: NetworkName, step: Int, what: String = "gradient") throws {
    if let i = g.firstIndex(where: { !$0.isFinite }) { try checkFinite(Double(g[i]), network: network, step: step, what: what) }
  }

  /// The same for one figure computed in doubles (the loss, the W2 estimate).
  func checkFinite(_ value: Double, network: NetworkName, step: Int, what: String) throws {
    if !value.isFinite {
      throw TrainingError(
        message: "\(state.stage) step \(step + 1): non-finite \(what) (\(value)) in network \(network)",
        nonFinite: true)
    }
  }
}
