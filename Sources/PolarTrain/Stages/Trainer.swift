// A training run from start to end: stage potential, then stage map (when map.steps > 0), then
// stage inverse (when inverse.steps > 0), with progress on rank 0, metrics.jsonl, checkpoints
// every `checkpoint.every` steps and at the end of every stage (docs/design.md §4). At every
// step boundary the ranks agree on stop signals (Signals.swift): a signal ends the run with a
// checkpoint and exit 75. A non-finite loss or gradient stops the run,
// or with `[train] on_nan = "rollback"` restarts from the newest checkpoint at half the learning
// rate, at most `maxRollbacks` times.
import CAllocationCount
import Foundation
import PolarCore
import SwiftMPI

public final class Trainer {
  public let config: Config
  /// The problem whose batches the steps draw (LMC-NPF's refresh swaps in the particles for a while).
  public internal(set) var problem: Problem
  public let world: Communicator
  public let nets: Networks
  public var state: TrainState
  let run: RunDirectory
  let reducer: Reducer
  let solverConfig: ConjugateSolverConfig
  var potentialAdam: AdamConfig
  var amortizerAdam: AdamConfig
  var mapAdam: AdamConfig
  var inverseAdam: AdamConfig
  /// The training steps' buffers, made at the first step.
  lazy var stepWorkspace = StepWorkspace(
    nets: nets, microBatch: config.parallel.microBatch, dim: problem.dim,
    solver: solverConfig)
  /// Print progress (rank 0 only); tests and benchmarks turn it off.
  public var verbose = true
  /// The heartbeat watchdog (train), told the step at every step boundary for its message.
  public var watchdog: Watchdog?

  public static let maxRollbacks = 3
  /// The step boundary's all-reduced flags (stopIfSignalled), kept between steps.
  var boundaryFlags: [Int32] = [0, 0]
  /// Whether u changed since the latest validation (problem.validation).
  var potentialChanged = true
  /// Stage inverse with inverse.pool: the solved couplings (InversePool.swift), made at its first step.
  var inversePool: InversePool? = nil
  var poolRows = [Int]()
  /// LMC-NPF's refresh is running: batches come from the particles, never from the pool.
  var refreshing = false
  /// The newest checkpoint this trainer wrote.
  public private(set) var lastCheckpoint: String? = nil

  /// A trainer from the initial state, or from `state` (read from a checkpoint).
  public init(config: Config, problem: Problem, world: Communicator, run: RunDirectory, state: TrainState? = nil) {
    self.config = config
    self.problem = problem
    self.world = world
    self.run = run
    nets = Networks(config)
    self.state = state ?? TrainState.initial(config, nets, problem: problem)
    reducer = Reducer(world: world, exact: config.parallel.reduction == .exact)
    solverConfig = config.solver(evaluation: false)
    let p = config.potential
    let schedule: LearningRateSchedule =
      p.schedule == .cosine
      ? .cosine(total: p.steps, final: p.lrFinal, warmup: p.warmup) : .constant
    potentialAdam = AdamConfig(learningRate: p.lr, schedule: schedule, clipNorm: p.clip > 0 ? p.clip : nil)
    let amortizerSchedule: LearningRateSchedule =
      p.schedule == .cosine
      ? .cosine(total: p.steps, final: p.lrFinal * config.amortizer.lr / p.lr, warmup: p.warmup) : .constant
    amortizerAdam = AdamConfig(learningRate: config.amortizer.lr, schedule: amortizerSchedule)
    inverseAdam = AdamConfig(
      learningRate: config.inverse.lr,
      schedule: .cosine(total: config.inverse.steps, final: config.inverse.lr / 100, warmup: 0))
    mapAdam = AdamConfig(
      learningRate: config.map.lr,
      schedule: .cosine(total: config.map.steps, final: config.map.lr / 100, warmup: 0))
  }

  /// Runs the remaining stages to the end. The end of every stage writes a checkpoint of the
  /// state to continue from: ckpt-<next stage>-0 (e.g. ckpt-map-0 after stage potential), and
  /// ckpt-done-<steps> at the very end, whose stage attribute is "done". Stages with 0 steps
  /// are skipped: potential, then map, then inverse.
  public func train() throws {
    try state.confirmIdentical(world)
    while state.stage != .done {
      let stage = state.stage
      switch stage {
      case .potential: try runStage(stage, potentialStep)
      case .map: try runStage(stage, mapStep)
      case .inverse:
        if state.step < stage.steps(config) { try prepareInversePool() }
        try runStage(stage, inverseStep)
      case .done: break
      }
      state.stage = stage.next(config)
      if state.stage != .done { state.step = 0 }
      try checkpoint()
    }
    try checkWriteFailure(try world.allreduce(Int32(run.writeFailure == nil ? 0 : 1), op: .max) != 0)
  }

  /// Every rank throws rank 0's metrics.jsonl write failure once they know of it.
  func checkWriteFailure(_ failed: Bool) throws {
    guard failed else { return }
    throw OutputError(message: try world.broadcast(run.writeFailure ?? "", root: 0))
  }

  /// Gives the training solver the budget in effect (adapted by DualHealth, restored from
  /// checkpoints), before any training solve: every step, the inverse pool, the refresh.
  func useConjugateBudget() { stepWorkspace.solver.maxIterations = state.conjugateBudget(config) }

  func runStage(_ stage: Stage, _ body: (Int) throws -> StepFigures) throws {
    let steps = stage.steps(config), batch = stage.batch(config), name = stage.rawValue
    var start = MPIEnvironment.wallTime()
    var first = state.step
    while state.step < steps {
      try stopIfSignalled()
      useConjugateBudget()
      let t0 = MPIEnvironment.wallTime(), allocations0 = pt_thread_allocations(), inReduction0 = reducer.allocations
      let figures: StepFigures
      do {
        figures = try body(state.step)
      } catch let error as TrainingError where error.nonFinite {
        // A dual that lost its meaning is an event of the run's log, kept after a rollback too.
        func logEvent() { if let lost = error.dualLost { run.event("dual_lost", stage: name, step: state.step + 1, message: lost) } }
        guard config.train.onNaN == .rollback else { logEvent(); throw error }
        do { try rollBack(after: error) } catch { logEvent(); throw error }
        logEvent()
        start = MPIEnvironment.wallTime()
        first = state.step
        continue
      }
      // The step's heap allocations, before any logging: those of Open MPI's all-reduce apart.
      let mpiAllocations = reducer.allocations - inReduction0
      let allocations = pt_thread_allocations() - allocations0 - mpiAllocations
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
        record["allocations"] = Double(allocations)
        record["mpi_allocations"] = Double(mpiAllocations)
        try run.log(stage: stage, step: s, of: steps, figures: record, eta: eta, verbose: verbose)
      }
      if s % config.checkpoint.every == 0 && s < steps { try checkpoint() }
    }
  }

  /// Writes a checkpoint of the current state (all ranks, collectively); returns its path.
  @discardableResult
  func checkpoint() throws -> String {
    let name = "ckpt-\(state.stage)-\(state.step).h5", path = run.checkpointDirectory + "/" + name
    // problem.validation: the dual on the held-out rows whenever u changed since the last one.
    var best = false
    if potentialChanged, let (loss, converged) = try validationLoss() {
      potentialChanged = false
      best = loss < state.bestValidation
      if best { (state.bestValidation, state.bestCheckpoint) = (loss, name) }
      let step = state.stage == .potential ? state.step : config.potential.steps
      run.record(["stage": Stage.potential.rawValue, "step": step, "validation_loss": loss, "validation_converged": converged, "best": best])
      if world.rank == 0 && verbose {
        print(
          "validation dual \(String(format: "%.5f", loss)) (\(Int((100 * converged).rounded()))% of its solves converged)\(best ? ", the best so far: checkpoints/best" : "")"
        )
      }
    }
    let t0 = MPIEnvironment.wallTime()
    try Checkpoint.write(
      state, config: config, nets: nets, metrics: run.metricsText, runID: run.marker.runID,
      to: path, world: world)
    try Checkpoint.publish(path, keep: config.checkpoint.keep, onlyRun: run.pruneOnlyRun, best: state.bestCheckpoint, world: world)
    if best && world.rank == 0 {
      do { try writeFileAtomically(run.checkpointDirectory + "/best", name + "\n") } catch {
        throw OutputError(message: "\(run.checkpointDirectory)/best: cannot write: \(error)")
      }
    }
    lastCheckpoint = path
    run.note(checkpoint: path, seconds: MPIEnvironment.wallTime() - t0, verbose: verbose)
    return path
  }

  /// At a step boundary: if any rank has received a stop signal, all write a checkpoint and stop;
  /// if rank 0 could not write metrics.jsonl (a full disk), all stop with its message.
  func stopIfSignalled() throws {
    watchdog?.mark(step: state.step)
    // One kept buffer (no allocation at every step): [signal, metrics write failed].
    boundaryFlags[0] = StopSignals.pending
    boundaryFlags[1] = run.writeFailure == nil ? 0 : 1
    try world.allreduce(&boundaryFlags, op: .max)
    try checkWriteFailure(boundaryFlags[1] != 0)
    let signal = boundaryFlags[0]
    guard signal != 0 else { return }
    let path = try checkpoint()
    throw StoppedBySignal(signal: signal, checkpoint: path)
  }

  /// NaN/Inf with on_nan = "rollback": continue from the newest good checkpoint (or the initial
  /// state when there is none yet) with half the learning rate; after `maxRollbacks`, stop.
  func rollBack(after error: TrainingError) throws {
    guard state.rollbacks < Trainer.maxRollbacks else {
      throw TrainingError(message: "\(error.message); stopping after \(state.rollbacks) rollbacks")
    }
    let scale = state.lrScale / 2, count = state.rollbacks + 1, kept = state
    let from: String
    if let found = try Checkpoint.locate("auto", dir: run.checkpointDirectory, world: world) {
      let contents = try Checkpoint.read(found.path, world: world)
      state = contents.state
      run.restore(metrics: contents.metrics)
      from = (found.path as NSString).lastPathComponent
    } else {
      state = TrainState.initial(config, nets, problem: problem)
      from = "the initial state"
    }
    // The history of the dual's health goes on from where it was, not from the checkpoint.
    (state.conjugateMaxIter, state.dualAlerts, state.dualNote) = (kept.conjugateMaxIter, kept.dualAlerts, kept.dualNote)
    state.lrScale = scale
    state.rollbacks = count
    if world.rank == 0 {
      print(
        "polar-train: \(error.message); rolling back to \(from) (stage \(state.stage), step \(state.step)) "
          + "with the learning rate scaled by \(scale) (rollback \(count) of \(Trainer.maxRollbacks))")
      fflush(nil)
    }
  }
}

extension Trainer {
  /// Fault tests: POLAR_TRAIN_TEST_NAN_AT_STEP=k puts a NaN into the potential's gradient at
  /// step k before any rollback (so one rollback gets past it); k+ after every rollback too.
  static let testNaN: (step: Int, always: Bool)? = {
    guard let text = ProcessInfo.processInfo.environment["POLAR_TRAIN_TEST_NAN_AT_STEP"] else { return nil }
    let always = text.hasSuffix("+")
    return Int(always ? String(text.dropLast()) : text).map { ($0, always) }
  }()
}
