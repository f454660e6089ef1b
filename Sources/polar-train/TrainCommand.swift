import ArgumentParser
import Foundation
import PolarCore
import PolarTrain
import SwiftMPI

struct TrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train",
    abstract: "Factorize a field F = grad u o M: train u (ICNN + amortized conjugates), then M_net.",
    discussion: """
      Without --config the defaults apply (a seeded linear field in d = 2 on a Gaussian); every \
      key can be overridden with --set section.key=value, e.g.
        mpirun -n 2 polar-train train --set problem.field=swirl --set problem.reference=uniform \\
          --set problem.box=[-2,2] --output runs/swirl
      The run directory gets config.toml (resolved), metrics.jsonl, checkpoints/ and \
      report/metrics.json, and the marker .polar-train-run with the run's id; checkpoints outside \
      the run directory (an absolute checkpoint.dir) go to <checkpoint.dir>/<run id>/. Rank 0 \
      prints progress: loss, W2^2 estimate, conjugate iterations, residual and converged share, \
      samples/s and ETA.

      Checkpoints go to checkpoints/ every checkpoint.every steps and at the end of each stage. \
      --resume auto continues from the newest intact one (or starts fresh when there is none; \
      damaged ones are skipped with a warning); --resume PATH from that file (into an existing \
      run only one of its own checkpoints; another run's starts a new --output). The result is \
      bitwise the same as an uninterrupted run, also with another number of ranks. Without \
      --config a resumed run takes the run directory's config.toml, or the checkpoint's \
      configuration when the run directory is new (plus --set overrides in both cases). \
      SIGUSR1, SIGUSR2, SIGTERM or Ctrl-C: all ranks write a checkpoint at the next step and \
      exit 75; a second Ctrl-C exits at once.
      """)

  @Option(name: .long, help: "TOML configuration file (keys: polar-train config --keys, docs/configuration.md).")
  var config: String?

  @Option(name: .long, help: "Run directory.")
  var output: String = "run"

  @Option(name: .customLong("set"), help: ArgumentHelp("Override a key: section.key=value (repeatable).", valueName: "key=value"))
  var overrides: [String] = []

  @Option(
    help: ArgumentHelp(
      "Continue from a checkpoint: auto (the newest intact one in the run's checkpoint directory, or a fresh start) or a checkpoint file.",
      valueName: "auto|PATH"))
  var resume: String?

  @Option(
    help: ArgumentHelp(
      "With --resume PATH: keep the checkpoint's networks of the stages before STAGE and train STAGE and the later stages afresh, "
        + "into a new --output. Their keys may differ from the checkpoint's (a wider bridge: --retrain inverse --set inverse.hidden=[1024,1024]).",
      valueName: "map|inverse"))
  var retrain: String?

  @Flag(help: "Replace an existing run directory: only a polar-train run directory (its marker .polar-train-run), and only the run's own files.")
  var force = false

  @Flag(help: "No progress lines (the summary is still printed).")
  var quiet = false

  func validate() throws {
    if resume != nil && force { throw ValidationError("--resume and --force exclude each other") }
    if resume?.isEmpty == true { throw ValidationError("--resume needs auto or a checkpoint path") }
    if output.trimmingCharacters(in: .whitespaces).isEmpty { throw ValidationError("--output: empty path: name the run directory") }
    if let retrain {
      guard Stage.retrainable.contains(where: { $0.rawValue == retrain }) else {
        throw ValidationError("--retrain: expected map or inverse, got \"\(retrain)\"")
      }
      guard let resume, resume != "auto" else { throw ValidationError("--retrain needs --resume PATH: the checkpoint whose earlier stages are kept") }
    }
  }

  /// Rank 0 decides what --output is (RunDirectory.plan); every rank gets the decision.
  func plan(_ cfg: Config, _ world: Communicator) throws -> RunDirectory.Plan {
    let fields = try decidedOnRankZero(world) {
      try RunDirectory.plan(output: output, config: cfg, force: force, resume: resume).fields
    }
    guard let plan = RunDirectory.Plan(fields: fields) else { throw OutputError(message: "\(output): undecidable run directory") }
    return plan
  }

  func run() throws {
    let world = Communicator.world
    StopSignals.install()
    // A resumed run without --config takes the run directory's config.toml (the resolved
    // configuration it started with), or else the checkpoint's own.
    var configFile = config
    let written = output + "/config.toml"
    if resume != nil && config == nil && FileManager.default.fileExists(atPath: written) { configFile = written }
    var cfg = try agreeing(world) { try Config.load(file: configFile, overrides: overrides) }
    try agreeConfiguration(cfg, file: configFile, world: world)
    var plan = try plan(cfg, world)
    var saved: Checkpoint.Contents? = nil
    var resumedFrom: String? = nil
    if let resume {
      let dir = plan.checkpointDirectory
      let found = try agreeing(world) { try Checkpoint.locate(resume, dir: dir, world: world) }
      if let found {
        for w in found.warnings where world.rank == 0 { MPIEnvironment.printError("polar-train: \(w)") }
        let t0 = MPIEnvironment.wallTime()
        var contents = try agreeing(world) { try Checkpoint.read(found.path, world: world) }
        let readSeconds = MPIEnvironment.wallTime() - t0
        // Without --config, the checkpoint's configuration (plus the --set overrides) is the run's.
        if configFile == nil {
          cfg = try agreeing(world) { try Config.load(file: nil, overrides: overrides, base: contents.config) }
          plan = try self.plan(cfg, world)
        }
        let retraining = retrain.flatMap(Stage.init(rawValue:))
        let (savedStage, savedStep) = (contents.state.stage, contents.state.step)
        if let retraining {
          try agreeing(world) {
            guard plan.fresh else {
              throw OutputError(message: "\(plan.path): exists; --retrain \(retraining) writes a new run: choose a new --output")
            }
          }
          contents = try agreeing(world) { try contents.retraining(retraining, config: cfg, path: found.path) }
        }
        let changed = try agreeing(world) { () throws -> [String] in
          let changed = try cfg.checkResumable(from: contents.config, path: found.path, retraining: retraining)
          if contents.state.stage == .done && !changed.isEmpty {
            throw ConfigError(
              source: found.path, key: "",
              message: "the run finished (stage done) with other settings than now asked for (\(changed.joined(separator: ", "))); "
                + "a finished run cannot be continued with them: train a new run (another --output, "
                + "with --resume PATH of one of its earlier checkpoints to start from it)")
          }
          return changed
        }
        if world.rank == 0 {
          print(
            "resuming from \(found.path) (stage \(savedStage), step \(savedStep), "
              + "written by \(contents.worldSize) rank(s); read in \(String(format: "%.3f", readSeconds)) s)")
          if let retraining {
            print("retraining from stage \(retraining): the networks of the earlier stages are the checkpoint's, the others start afresh")
          }
          if contents.state.stage == .done {
            print("the run has already finished training: nothing to train; the steps after training follow")
          } else if !changed.isEmpty {
            print(
              "warning: settings differ from the checkpoint's, so the run will not match an uninterrupted one: "
                + changed.joined(separator: ", "))
          }
        }
        saved = contents
        resumedFrom = found.path
      } else if world.rank == 0 {
        print("no checkpoint in \(dir): starting fresh")
      }
    }
    try cfg.checkMemory(world: world, file: configFile, overrides: overrides)
    let problem = try agreeing(world) { try Problem.make(cfg, world: world) }
    let runDir = try agreeing(world) { try RunDirectory(plan: plan, config: cfg, world: world) }
    if let saved { runDir.restore(metrics: saved.metrics) }
    let trainer = Trainer(config: cfg, problem: problem, world: world, run: runDir, state: saved?.state)
    trainer.verbose = !quiet
    if world.rank == 0 {
      print(
        "polar-train train: field \(cfg.problem.field), d = \(cfg.problem.dim), rho \(cfg.problem.reference), "
          + "\(world.size) rank(s), \(cfg.parallel.reduction) reduction; run directory \(runDir.path) (run \(runDir.marker.runID))")
      print(
        "  networks: potential \(trainer.nets.potential.parameterCount) parameters, amortizer "
          + "\(trainer.nets.amortizer.parameterCount)" + (cfg.map.steps > 0 ? ", map \(trainer.nets.map.parameterCount)" : "")
          + (cfg.inverse.steps > 0 ? ", inverse \(trainer.nets.inverse.parameterCount)" : ""))
    }
    // Heartbeats between the ranks while they train (a lost host ends the job, not hangs it).
    let watchdog = try Watchdog.start(world: world, timeout: cfg.parallel.watchdog)
    trainer.watchdog = watchdog
    defer { watchdog?.stop() }
    do {
      try trainer.train()
    } catch let stop as StoppedBySignal {
      if world.rank == 0 { MPIEnvironment.printError("polar-train: \(stop)") }
      throw CommandFailure(status: 75, message: "\(stop)", printed: true)
    } catch let failure as TrainingError {
      // Decided on all-reduced values, so every rank is here with the same message.
      if world.rank == 0 { MPIEnvironment.printError("polar-train: \(failure)") }
      throw CommandFailure(status: 1, message: "\(failure)", printed: true)
    } catch let failure as OutputError {
      // A checkpoint or metrics.jsonl that could not be written (a full disk): agreed by all ranks.
      if world.rank == 0 { MPIEnvironment.printError("polar-train: \(failure)") }
      throw CommandFailure(status: 2, message: "\(failure)", printed: true)
    }
    let json = try agreeing(world) { () throws -> String in
      guard world.rank == 0 else { return "" }
      let metrics = Evaluation.run(
        config: cfg, problem: problem, nets: trainer.nets, state: trainer.state,
        samples: cfg.train.evalSamples)
      let json = try jsonText(metrics)
      try writeFileAtomically(runDir.path + "/report/metrics.json", json)
      return json
    }
    if world.rank == 0 {
      print("evaluation on \(cfg.train.evalSamples) held-out samples (report/metrics.json):")
      print(json)
      let r = runDir.path
      print("outputs: \(r)/config.toml, \(r)/metrics.jsonl, \(runDir.checkpointDirectory)/, \(r)/report/metrics.json")
    }
    try world.barrier()
    guard let newest = trainer.lastCheckpoint ?? resumedFrom else { return }
    try afterTraining(cfg, run: runDir.path, checkpoint: newest, world: world)
  }

  /// The steps a configuration asks for after training, as the commands would run them:
  /// `sample` into RUN/samples.h5, `langevin` into RUN/langevin.h5, then `report`.
  func afterTraining(_ cfg: Config, run output: String, checkpoint latest: String, world: Communicator) throws {
    if cfg.sample.count > 0 {
      try SampleCommand.parse([
        "--checkpoint", latest, "--count", "\(cfg.sample.count)", "--refine", "\(cfg.sample.refine)",
        "--output", output + "/samples.h5",
      ]).run()
    }
    if cfg.langevin.steps > 0 {
      let l = cfg.langevin
      var args = [
        "--checkpoint", latest, "--output", output + "/langevin.h5", "--steps", "\(l.steps)",
        "--particles", "\(l.particles)", "--step-size", "\(l.stepSize)", "--beta", "\(l.beta)",
        "--every", "\(l.every)", "--inner", "\(l.inner)", "--inner-step-size", "\(l.innerStepSize)",
        "--record", "\(max(1, l.steps / 20))", "--warmup", "\(l.warmup)", "--refresh", "\(l.refresh)",
        "--refresh-lr", "\(l.refreshLR)",
      ]
      if !l.start.isEmpty { args += ["--start", l.start.map { "\($0)" }.joined(separator: ",")] }
      try LangevinCommand.parse(args).run()
    }
    if cfg.train.report { try ReportCommand.parse([output]).run() }
  }
}

func jsonText(_ values: [String: Double]) throws -> String {
  var clean = [String: Any]()
  for (k, v) in values { clean[k] = v.isFinite ? v : nil }
  let data = try JSONSerialization.data(withJSONObject: clean, options: [.prettyPrinted, .sortedKeys])
  return String(decoding: data, as: UTF8.self)
}
