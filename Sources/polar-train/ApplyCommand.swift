import ArgumentParser
import Foundation
import ParallelHDF5
import PolarCore
import PolarTrain
import SwiftMPI

struct ApplyCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "apply",
    abstract: "Evaluate u, grad u, M (implicit), M_net and grad u(M) at the points of an HDF5 file.",
    discussion: """
      Reads dataset x [n, d] from --input; writes u [n], grad_u, M, grad_u_of_M and (when the \
      map stage was trained) M_net, each [n, d], to --output. Under mpirun each rank takes a \
      block of rows and the output is written collectively.
      """)

  @Option(help: "A checkpoint file.")
  var checkpoint: String

  @Option(help: "HDF5 file with dataset x [n, d].")
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
    let (n, rows, x) = try agreeing(world) {
      try PointsFile.read(input, dataset: "x", dim: d, world: world, budget: budget,
                          rows: { microBatches(count: $0, rank: world.rank, size: world.size) },
                          estimate: { MemoryEstimate.apply(config, rows: total([$0 / world.size, 1])) })
    }
    let u = contents.state.networks["potential"]!.params
    let (ux, gradU) = nets.potential.valueAndGradient(u, x)
    // M(x) = grad u*(F(x)) needs F at x: from the built-in field, or refused for file fields.
    let problem = try agreeing(world) { try Problem.make(config, world: world) }
    guard let field = problem.field else {
      throw CommandFailure(status: 3, message: "apply: the field of this run is a file; F is known only at its samples", printed: false)
    }
    let f = field(x)
    let m = nets.conjugate(f, state: contents.state, solver: config.solver(evaluation: true)).x
    let gradUofM = nets.potential.valueAndGradient(u, m).grad
    let mapTrained = config.map.steps > 0 && contents.state.stage == "done"
    // Finite points can still give non-finite results (|x| near the Float range): refused, naming
    // the lowest such row, rather than written.
    try agreeing(world) {
      for (name, values, cols) in [("u", ux, 1), ("grad_u", gradU.storage, d), ("M", m.storage, d), ("grad_u_of_M", gradUofM.storage, d)] {
        if let bad = PointsFile.firstNonFiniteRow(values, cols: cols) {
          throw InputError(message: "\(input): /x: row \(rows.lowerBound + bad) gives a non-finite \(name) (a point too far out for this model)")
        }
      }
    }
    // Written as OUTPUT.partial, renamed when every rank succeeded (CollectiveOutput).
    let file = try agreeing(world) { try CollectiveOutput(creating: output, bytes: (5 * n + 1) * d * 4 + n * 4, what: "output", world: world) }
    // Every dataset is a collective step of its own (CollectiveOutput): a rank that failed
    // never leaves another waiting in the next one.
    try agreeing(world) {
      let sel = Selection.rows(rows, trailing: [d])
      try file.dataset("x", .float32, [n, d], x.storage, sel)
      try file.dataset("u", .float32, [n], ux, .rows(rows))
      try file.dataset("grad_u", .float32, [n, d], gradU.storage, sel)
      try file.dataset("M", .float32, [n, d], m.storage, sel)
      try file.dataset("grad_u_of_M", .float32, [n, d], gradUofM.storage, sel)
      if mapTrained {
        let w = contents.state.networks["map"]!.params
        try file.dataset("M_net", .float32, [n, d], nets.map(w, x).storage, sel)
      }
      try file.write { try $0.setAttribute("checkpoint", checkpoint) }
    }
    try agreeing(world) { try file.publish() }
    if world.rank == 0 {
      print("polar-train apply: \(n) points -> \(output) (u, grad_u, M, grad_u_of_M\(mapTrained ? ", M_net" : ""))")
    }
    try world.barrier()
  }
}
