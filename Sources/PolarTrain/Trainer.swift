// A training run from start to end: stage potential, then stage map (when map.steps > 0), with
// progress on rank 0, metrics.jsonl, checkpoints every `checkpoint.every` steps and at the end
// of every stage (DESIGN §4).
import Foundation
import PolarCore
import SwiftMPI

public final class Trainer {
  public let config: Config
  public let problem: Problem
  public let world: Communicator
  public let nets: Networks
  public var state: TrainState
  let run: RunDirectory
  let reducer: Reducer
  let solverConfig: ConjugateSolverConfig
  let potentialAdam: AdamConfig
  let amortizerAdam: AdamConfig
  let mapAdam: AdamConfig
  /// Print progress (rank 0 only); tests and benchmarks turn it off.
  public var verbose = true

  public init(config: Config, problem: Problem, world: Communicator, run: RunDirectory) {
    self.config = config
    self.problem = problem
    self.world = world
    self.run = run
    nets = Networks(config)
    state = TrainState.initial(config, nets, problem: problem)
    reducer = Reducer(world: world, exact: config.parallel.reduction == "exact")
    solverConfig = config.solver(evaluation: false)
    let p = config.potential
    let schedule: LearningRateSchedule = p.schedule == "cosine"
      ? .cosine(total: p.steps, final: p.lrFinal, warmup: p.warmup) : .constant
    potentialAdam = AdamConfig(learningRate: p.lr, schedule: schedule, clipNorm: p.clip > 0 ? p.clip : nil)
    let amortizerSchedule: LearningRateSchedule = p.schedule == "cosine"
      ? .cosine(total: p.steps, final: p.lrFinal * config.amortizer.lr / p.lr, warmup: p.warmup) : .constant
    amortizerAdam = AdamConfig(learningRate: config.amortizer.lr, schedule: amortizerSchedule)
    mapAdam = AdamConfig(learningRate: config.map.lr,
                         schedule: .cosine(total: config.map.steps, final: config.map.lr / 100, warmup: 0))
  }

  /// Runs the remaining stages to the end. The end of every stage writes a checkpoint of the
  /// state to continue from: ckpt-map-0 after stage potential (when map follows), and
  /// ckpt-done-<steps> at the very end, whose stage attribute is "done".
  public func train() throws {
    try state.confirmIdentical(world)
    if state.stage == "potential" {
      try runStage("potential", steps: config.potential.steps, batch: config.potential.batch, potentialStep)
      if config.map.steps > 0 {
        state.stage = "map"
        state.step = 0
      } else {
        state.stage = "done"
      }
      try checkpoint()
    }
    if state.stage == "map" {
      try runStage("map", steps: config.map.steps, batch: config.map.batch, mapStep)
      state.stage = "done"
      try checkpoint()
    }
  }

  func runStage(_ name: String, steps: Int, batch: Int, _ body: (Int) throws -> StepFigures) throws {
    let start = MPIEnvironment.wallTime()
    let first = state.step
    while state.step < steps {
      let t0 = MPIEnvironment.wallTime()
      let figures = try body(state.step)
      state.step += 1
      let stepSeconds = MPIEnvironment.wallTime() - t0
      let s = state.step
      if s % config.train.logEvery == 0 || s == steps || s == first + 1 {
        let elapsed = MPIEnvironment.wallTime() - start
        let rate = Double((s - first) * batch) / max(elapsed, 1e-9)
        let eta = Double(steps - s) * elapsed / Double(s - first)
        var record = figures.values
        record["samples_per_s"] = rate
        record["step_seconds"] = stepSeconds
        try run.log(stage: name, step: s, of: steps, figures: record, eta: eta, verbose: verbose)
      }
      if s % config.checkpoint.every == 0 && s < steps { try checkpoint() }
    }
  }

  /// Writes a checkpoint of the current state (all ranks, collectively).
  func checkpoint() throws {
    let path = run.checkpointDirectory + "/ckpt-\(state.stage)-\(state.step).h5"
    try Checkpoint.write(state, config: config, nets: nets, metrics: run.metricsText, to: path, world: world)
    try Checkpoint.publish(path, keep: config.checkpoint.keep, world: world)
  }
}
