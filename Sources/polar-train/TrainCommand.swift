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
      Without --config the defaults apply (a seeded linear field in d = 2 on a Gaussian); every
      key can be overridden with --set section.key=value, e.g.
        mpirun -n 2 polar-train train --set problem.field=swirl --set problem.reference=uniform \\
          --set problem.box=[-2,2] --output runs/swirl
      The run directory gets config.toml (resolved), metrics.jsonl, checkpoints/ and
      report/metrics.json. Rank 0 prints progress: loss, W2^2 estimate, conjugate iterations,
      residual and converged share, samples/s and ETA.
      """)

  @Option(name: .long, help: "TOML configuration file (keys in README).")
  var config: String?

  @Option(name: .long, help: "Run directory.")
  var output: String = "run"

  @Option(name: .customLong("set"), help: ArgumentHelp("Override a key: section.key=value (repeatable).", valueName: "key=value"))
  var overrides: [String] = []

  @Flag(help: "Replace an existing, non-empty run directory.")
  var force = false

  @Flag(help: "No progress lines (the summary is still printed).")
  var quiet = false

  func run() throws {
    let world = Communicator.world
    let cfg = try agreeing(world) { try Config.load(file: config, overrides: overrides) }
    let problem = try agreeing(world) { try Problem.make(cfg, world: world) }
    let runDir = try agreeing(world) { try RunDirectory(path: output, config: cfg, world: world, force: force) }
    let trainer = Trainer(config: cfg, problem: problem, world: world, run: runDir)
    trainer.verbose = !quiet
    if world.rank == 0 {
      print("polar-train train: field \(cfg.problem.field), d = \(cfg.problem.dim), rho \(cfg.problem.reference), "
              + "\(world.size) rank(s), \(cfg.parallel.reduction) reduction; run directory \(output)")
      print("  networks: potential \(trainer.nets.potential.parameterCount) parameters, amortizer "
              + "\(trainer.nets.amortizer.parameterCount)" + (cfg.map.steps > 0 ? ", map \(trainer.nets.map.parameterCount)" : ""))
    }
    try trainer.train()
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
  }
}

func jsonText(_ values: [String: Double]) throws -> String {
  var clean = [String: Any]()
  for (k, v) in values { clean[k] = v.isFinite ? v : nil }
  let data = try JSONSerialization.data(withJSONObject: clean, options: [.prettyPrinted, .sortedKeys])
  return String(decoding: data, as: UTF8.self)
}
