import ArgumentParser
import Foundation
import ParallelHDF5
import PolarCore
import PolarTrain
import SwiftMPI

struct ApplyCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "apply",
    abstract: "Evaluate u, grad u, M_net and (where F is known) M and grad u(M) at the points of an HDF5 file.",
    discussion: """
      Reads dataset x [n, d] (float32 or float64) from --input and writes to --output, each a \
      float32 dataset: x, u [n], grad_u [n, d], and M_net [n, d] when the run trained the map \
      stage. M = grad u*(F(x)) and grad_u_of_M = grad u(M) need F at the points: from a dataset \
      F [n, d] in --input when it has one, else from the run's built-in field. A run whose field \
      is a file (problem.field = "file") knows F only at its training samples: give F in --input \
      to get M.

      Works for any n: the rows are streamed in chunks of about 2^22 values (65,536 rows at \
      d = 64), so each rank needs at most about 200 MB for them whatever n is. Under mpirun \
      the ranks share every chunk and write it collectively; the output is the same bytes for \
      any number of ranks. A NaN or infinite row of x or F stops the command at the chunk that \
      holds it (exit 3, naming the row); nothing is left behind (the output is written as \
      OUTPUT.partial and renamed at the end).

      Example: mpirun -n 2 polar-train apply --checkpoint run/checkpoints/ckpt-done-4000.h5 \\
                 --input points.h5 --output maps.h5
      """)

  @Option(help: "A checkpoint file (RUN/checkpoints/ckpt-*.h5).")
  var checkpoint: String

  @Option(help: "HDF5 file with dataset x [n, d] and optionally F [n, d] (F at those points).")
  var input: String

  @Option(help: "HDF5 file to write (replaced if it exists).")
  var output: String

  func run() throws {
    let world = Communicator.world
    // Rank 0's resolution of --output, for every rank (ranks with other working directories).
    let output = try sharedOutputPath(self.output, world: world)
    try agreeing(world) { try checkOutputFile(output, inputs: [("--input", input), ("--checkpoint", checkpoint)], runFile: nil) }
    let contents = try agreeing(world) { try Checkpoint.load(checkpoint, world: world) }
    let config = contents.config, nets = Networks(config), d = config.problem.dim
    try agreeReadable(input, .data, what: "--input", world: world)
    let budget = try MemoryBudget.measure(world)
    let chunk = Apply.chunkRows(dim: d)
    let points = try agreeing(world) {
      try PointsInput(input, dim: d, world: world, budget: budget, bytes: MemoryEstimate.apply(config, rows: chunk))
    }
    // F: the input's, else the run's built-in field, else none (a field file's F is only at its samples).
    var field: Field? = nil
    if !points.hasF && config.problem.field != .file {
      do {
        field = try agreeing(world) { try Problem.make(config, world: world).field }
      } catch {
        try? points.close()
        throw error
      }
    }
    let withM = points.hasF || field != nil
    let mapTrained = config.map.steps > 0 && contents.state.stage == .done
    let outputs = Apply.outputs(withM: withM, mapTrained: mapTrained)
    let n = points.n
    let evaluator = PointEvaluator(nets: nets, state: contents.state, solver: config.solver(evaluation: true), mapTrained: mapTrained)
    let bytes = outputs.reduce(1024) { $0 + n * ($1.wide ? d : 1) * 4 }
    do {
      try CollectiveOutput.produce(output, bytes: bytes, world: world) { out in
        try agreeing(world) {
          try out.write { f in
            for (name, wide) in outputs { _ = try f.createDataset(name, type: .float32, shape: wide ? [n, d] : [n]) }
            try f.setAttribute("checkpoint", checkpoint)
          }
        }
        for lo in stride(from: 0, to: n, by: chunk) {
          let rows = Apply.rows(of: lo ..< min(lo + chunk, n), rank: world.rank, size: world.size)
          // Read and checked first: a bad row stops every rank before this chunk is computed.
          let (x, f) = try agreeing(world) { try points.read(rows) }
          let values = try agreeing(world) {
            try evaluate(x, f: f, field: field, rows: rows, evaluator: evaluator, names: outputs.map(\.name))
          }
          // Every dataset a collective step of its own: a rank that failed never leaves another
          // waiting in the next one.
          try agreeing(world) {
            for (name, wide) in outputs {
              let selection = Selection.rows(rows, trailing: wide ? [d] : [])
              try out.write { try $0.dataset(name).write(name == "x" ? x.storage : values[name] ?? [], selection: selection) }
            }
          }
        }
        try agreeing(world) { try points.close() }
      }
    } catch {
      try? points.close()
      throw error
    }
    if world.rank == 0 {
      let missing = withM ? "" : "; no M: F is not known at these points (add dataset F [n, d] to the input)"
      print("polar-train apply: \(n) points -> \(output) (\(outputs.map(\.name).joined(separator: ", "))\(missing))")
    }
    try world.barrier()
  }

  /// The outputs at this rank's rows (x, and F there from the input or else from `field`),
  /// micro-batch by micro-batch (the built-in field too: a row's bytes never depend on the rows
  /// computed with it), as one array per name; a non-finite result names its row (a point too
  /// far out for this model).
  func evaluate(
    _ x: Matrix<Float>, f: Matrix<Float>?, field: Field?, rows: Range<Int>, evaluator: PointEvaluator,
    names: [String]
  ) throws -> [String: [Float]] {
    let d = x.cols
    var values = [String: [Float]]()
    for lo in stride(from: 0, to: x.rows, by: Apply.microBatch) {
      let part = lo ..< min(lo + Apply.microBatch, x.rows), xb = x.rows(part)
      for (name, v) in evaluator.evaluate(xb, f: f?.rows(part) ?? field.map { $0(xb) }) { values[name, default: []].append(contentsOf: v) }
    }
    for name in names where name != "x" {
      let v = values[name] ?? []
      if let bad = PointsFile.firstNonFiniteRow(v, cols: name == "u" ? 1 : d) {
        throw InputError(message: "\(input): /x: row \(rows.lowerBound + bad) gives a non-finite \(name) (a point too far out for this model)")
      }
    }
    return values
  }
}
