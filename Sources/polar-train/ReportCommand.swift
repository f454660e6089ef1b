import ArgumentParser
import Foundation
import PolarTrain
import SwiftMPI

struct ReportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "report",
    abstract: "Write RUN_DIR/report/index.html (SVG figures) and RUN_DIR/report/metrics.json for a run.",
    discussion: """
      Reads the run's newest checkpoint (checkpoints/latest), metrics.jsonl and report/metrics.json \
      (the evaluation `train` wrote; evaluated now if missing) and draws: loss curves; for d = 2, \
      quiver plots of F, grad u and grad u(M(x)), level sets of u and of f, M#rho against rho, \
      and for topography the elevation, the held-out cells and the reconstruction error map; the \
      pre-image check as a histogram when the inverse map was trained; and, when the run \
      directory holds samples.h5 (`polar-train sample --output RUN_DIR/samples.h5`), the samples \
      of M^-1(grad u*(0)) against the known critical points, or for classifier-loss their loss, \
      accuracy and |grad f| beside gradient descent from random starts. The page is one \
      self-contained file: open it in any browser.

        polar-train report runs/cosine-grid
      """)

  @Argument(help: ArgumentHelp("The run directory (train --output).", valueName: "RUN_DIR"))
  var directory: String

  @Option(help: "A checkpoint other than the newest.")
  var checkpoint: String?

  @Option(help: "Points in the scatter plots and the pre-image check.")
  var samples: Int = 2000

  @Option(help: "Arrows per side of the quiver plots.")
  var grid: Int = 21

  @Option(name: .customLong("descent-steps"), help: "classifier-loss: gradient descent steps of the baseline.")
  var descentSteps: Int = 2000

  func validate() throws {
    guard samples >= 16 else { throw ValidationError("--samples must be at least 16") }
    guard grid >= 3 else { throw ValidationError("--grid must be at least 3") }
    guard descentSteps >= 0 else { throw ValidationError("--descent-steps must be at least 0") }
  }

  func run() throws {
    let world = Communicator.world
    let path = try agreeing(world) { () throws -> String in
      if let checkpoint { return checkpoint }
      guard FileManager.default.fileExists(atPath: directory + "/config.toml") else {
        throw OutputError(message: "\(directory): not a run directory (no config.toml)")
      }
      let config = try Config.load(file: directory + "/config.toml", overrides: [])
      let dir = try RunDirectory.checkpointDirectory(config: config, run: directory)
      return try Checkpoint.latest(in: dir)
    }
    let contents = try agreeing(world) { try Checkpoint.load(path, world: world) }
    let budget = try MemoryBudget.measure(world)
    try agreeing(world) {
      try checkMemory(MemoryEstimate.report(contents.config, grid: grid, samples: 0), budget: budget, command: "report", flag: "--grid")
      try checkMemory(MemoryEstimate.report(contents.config, grid: 0, samples: samples), budget: budget, command: "report", flag: "--samples")
    }
    let problem = try agreeing(world) { try Problem.make(contents.config, world: world) }
    var options = ReportOptions()
    options.samples = samples
    options.grid = grid
    options.descentSteps = descentSteps
    // Rank 0 draws; the others wait (the figures need no collectives).
    let written = try agreeing(world) { () throws -> String in
      guard world.rank == 0 else { return "" }
      let (page, metrics) = try RunReport.build(run: directory, contents: contents, problem: problem, options: options)
      return try RunReport.write(run: directory, page: page, metrics: metrics)
    }
    if world.rank == 0 { print("polar-train report: \(written) (and metrics.json beside it)") }
  }
}
