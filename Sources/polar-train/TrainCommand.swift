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
      report/metrics.json. Rank 0 prints progress: loss, W2^2 estimate, conjugate iterations, \
      residual and converged share, samples/s and ETA.

      Checkpoints go to checkpoints/ every checkpoint.every steps and at the end of each stage. \
      --resume auto continues from the newest intact one (or starts fresh when there is none; \
      damaged ones are skipped with a warning); --resume PATH from that file. The result is \
      bitwise the same as an uninterrupted run, also with another number of ranks. Without \
      --config a resumed run takes the run directory's config.toml, or the checkpoint's \
      configuration when the run directory is new (plus --set overrides in both cases). \
      SIGUSR1, SIGUSR2, SIGTERM or Ctrl-C: all ranks write a checkpoint at the next step and \
      exit 75; a second Ctrl-C exits at once.
      """)

  @Option(name: .long, help: "TOML configuration file (keys in README).")
  var config: String?

  @Option(name: .long, help: "Run directory.")
  var output: String = "run"

  @Option(name: .customLong("set"), help: ArgumentHelp("Override a key: section.key=value (repeatable).", valueName: "key=value"))
  var overrides: [String] = []

  @Option(help: ArgumentHelp("Continue from a checkpoint: auto (the newest intact one in the run's checkpoint directory, or a fresh start) or a checkpoint file.", valueName: "auto|PATH"))
  var resume: String?

  @Flag(help: "Replace an existing, non-empty run directory.")
  var force = false

  @Flag(help: "No progress lines (the summary is still printed).")
  var quiet = false

  func validate() throws {
    if resume != nil && force { throw ValidationError("--resume and --force exclude each other") }
    if resume?.isEmpty == true { throw ValidationError("--resume needs auto or a checkpoint path") }
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
    var saved: Checkpoint.Contents? = nil
    if let resume {
      let dir = RunDirectory.checkpointDirectory(config: cfg, run: output)
      let found = try agreeing(world) { try Checkpoint.locate(resume, dir: dir, world: world) }
      if let found {
        for w in found.warnings where world.rank == 0 { MPIEnvironment.printError("polar-train: \(w)") }
        let t0 = MPIEnvironment.wallTime()
        let contents = try agreeing(world) { try Checkpoint.read(found.path, world: world) }
        let readSeconds = MPIEnvironment.wallTime() - t0
        // Without --config, the checkpoint's configuration (plus the --set overrides) is the run's.
        if configFile == nil {
          cfg = try agreeing(world) { try Config.load(file: nil, overrides: overrides, base: contents.config) }
        }
        let changed = try agreeing(world) { try cfg.checkResumable(from: contents.config, path: found.path) }
        if world.rank == 0 {
          print("resuming from \(found.path) (stage \(contents.state.stage), step \(contents.state.step), "
                  + "written by \(contents.worldSize) rank(s); read in \(String(format: "%.3f", readSeconds)) s)")
          if !changed.isEmpty {
            print("warning: settings differ from the checkpoint's, so the run will not match an uninterrupted one: "
                    + changed.joined(separator: ", "))
          }
        }
        saved = contents
      } else if world.rank == 0 {
        print("no checkpoint in \(dir): starting fresh")
      }
    }
    let problem = try agreeing(world) { try Problem.make(cfg, world: world) }
    try agreeing(world) { try RunDirectory.check(path: output, force: force, resume: resume != nil) }
    let runDir = try agreeing(world) {
      try RunDirectory(path: output, config: cfg, world: world, force: force, resume: resume != nil)
    }
    if let saved { runDir.restore(metrics: saved.metrics) }
    let trainer = Trainer(config: cfg, problem: problem, world: world, run: runDir, state: saved?.state)
    trainer.verbose = !quiet
    if world.rank == 0 {
      print("polar-train train: field \(cfg.problem.field), d = \(cfg.problem.dim), rho \(cfg.problem.reference), "
              + "\(world.size) rank(s), \(cfg.parallel.reduction) reduction; run directory \(output)")
      print("  networks: potential \(trainer.nets.potential.parameterCount) parameters, amortizer "
              + "\(trainer.nets.amortizer.parameterCount)" + (cfg.map.steps > 0 ? ", map \(trainer.nets.map.parameterCount)" : "")
              + (cfg.inverse.steps > 0 ? ", inverse \(trainer.nets.inverse.parameterCount)" : ""))
    }
    do {
      try trainer.train()
    } catch let stop as StoppedBySignal {
      if world.rank == 0 { MPIEnvironment.printError("polar-train: \(stop)") }
      throw CommandFailure(status: 75, message: "\(stop)", printed: true)
    } catch let failure as TrainingError {
      // Decided on all-reduced values, so every rank is here with the same message.
      if world.rank == 0 { MPIEnvironment.printError("polar-train: \(failure)") }
      throw CommandFailure(status: 1, message: "\(failure)", printed: true)
    }
    if world.rank == 0 {
      let metrics = Evaluation.run(config: cfg, problem: problem, nets: trainer.nets, state: trainer.state,
                                   samples: cfg.train.evalSamples)
      let json = try jsonText(metrics)
      try json.write(toFile: output + "/report/metrics.json", atomically: true, encoding: .utf8)
      print("evaluation on \(cfg.train.evalSamples) held-out samples (report/metrics.json):")
      print(json)
      print("outputs: \(output)/config.toml, \(output)/metrics.jsonl, \(output)/checkpoints/, \(output)/report/metrics.json")
    }
    try world.barrier()
    try afterTraining(cfg, world: world)
  }

  /// The steps a configuration asks for after training, as the commands would run them:
  /// `sample` into RUN/samples.h5, `langevin` into RUN/langevin.h5, then `report`.
  func afterTraining(_ cfg: Config, world: Communicator) throws {
    let ckpt = RunDirectory.checkpointDirectory(config: cfg, run: output)
    let latest = try agreeing(world) { () throws -> String in
      let name = try String(contentsOfFile: ckpt + "/latest", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
      return name.hasPrefix("/") ? name : ckpt + "/" + name
    }
    if cfg.sample.count > 0 {
      try SampleCommand.parse(["--checkpoint", latest, "--count", "\(cfg.sample.count)", "--refine", "\(cfg.sample.refine)",
                               "--output", output + "/samples.h5"]).run()
    }
    if cfg.langevin.steps > 0 {
      let l = cfg.langevin
      var args = ["--checkpoint", latest, "--output", output + "/langevin.h5", "--steps", "\(l.steps)",
                  "--particles", "\(l.particles)", "--step-size", "\(l.stepSize)", "--beta", "\(l.beta)",
                  "--every", "\(l.every)", "--inner", "\(l.inner)", "--inner-step-size", "\(l.innerStepSize)",
                  "--record", "\(max(1, l.steps / 20))"]
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
