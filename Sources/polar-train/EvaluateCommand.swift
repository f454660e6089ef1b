import ArgumentParser
import Foundation
import PolarTrain
import SwiftMPI

struct EvaluateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "evaluate",
    abstract: "Print the quality metrics of a trained factorization as JSON.",
    discussion: """
      Metrics on held-out samples x ~ rho: reconstruction_error (|grad u(M(x)) - F(x)| / |F|), \
      energy_distance between M#rho and fresh rho samples beside energy_distance_floor (two \
      fresh samples), conjugate residuals, convexity violations of u on random segments, the \
      W2^2 estimate, and, for fields with a known factorization, grad_u_error, M_error and \
      M_net_error. After stage inverse: the pre-image check (cos(F(x), F(x')) for \
      x' ~ M^-1(M(x)): mean, std, quantiles) and inverse_consistency (median |M(x') - y| over \
      median |y|, y ~ rho, x' ~ M^-1(y)), with --bridge-steps sampler steps. The conjugate \
      solves use L-BFGS at the run's conjugate.tol and max(100, conjugate.max_iter) iterations; \
      --conjugate-tol and --conjugate-max-iter tighten them, to tell the networks' error from \
      the solver's.
      """)

  @Option(help: "A checkpoint file (e.g. run/checkpoints/ckpt-done-1000.h5; run/checkpoints/latest names the newest).")
  var checkpoint: String

  @Option(help: "Held-out samples.")
  var samples: Int = 4096

  @Option(help: "Euler–Maruyama steps of the bridge sampler in the inverse checks.")
  var bridgeSteps: Int = 100

  @Option(help: "Conjugate solves: stop at |grad u(x) - y| <= this (default: the run's conjugate.tol).")
  var conjugateTol: Double?

  @Option(help: "Conjugate solves: iterations at most (at least 100; default: max(100, the run's conjugate.max_iter)).")
  var conjugateMaxIter: Int?

  @Flag(help: "JSON only (the default output is JSON as well, after a header line).")
  var json = false

  func validate() throws {
    guard samples >= 16 else { throw ValidationError("--samples must be at least 16") }
    guard bridgeSteps >= 1 else { throw ValidationError("--bridge-steps must be at least 1") }
    if let t = conjugateTol { guard t > 0 && t.isFinite else { throw ValidationError("--conjugate-tol must be a positive number") } }
    if let m = conjugateMaxIter { guard m >= 1 else { throw ValidationError("--conjugate-max-iter must be at least 1") } }
  }

  func run() throws {
    let world = Communicator.world
    var contents = try agreeing(world) { try Checkpoint.load(checkpoint, world: world) }
    let trainingBudget = contents.state.conjugateBudget(contents.config)
    if let t = conjugateTol { contents.config.conjugate.tol = t }
    if let m = conjugateMaxIter { contents.config.conjugate.maxIter = m }
    let budget = try MemoryBudget.measure(world)
    try agreeing(world) {
      try checkMemory(MemoryEstimate.evaluation(contents.config, samples: samples), budget: budget, command: "evaluate", flag: "--samples")
    }
    let problem = try agreeing(world) { try Problem.make(contents.config, world: world) }
    if world.rank == 0 {
      var metrics = Evaluation.run(
        config: contents.config, problem: problem, nets: Networks(contents.config),
        state: contents.state, samples: samples, bridgeSteps: bridgeSteps)
      metrics["conjugate_max_iter_training"] = Double(trainingBudget)
      if !json {
        let c = contents.config.conjugate
        print(
          "polar-train evaluate: \(checkpoint) (stage \(contents.state.stage), step \(contents.state.step); conjugate solves: tol \(c.tol), "
            + "\(max(100, c.maxIter)) iterations at most)")
      }
      if let warning = contents.state.dualWarning() { MPIEnvironment.printError("polar-train: warning: \(warning)") }
      print(try jsonText(metrics))
    }
    try world.barrier()
  }
}
