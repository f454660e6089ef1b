import ArgumentParser
import Foundation
import PolarTrain
import SwiftMPI

struct InspectCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "inspect",
    abstract: "Show what a checkpoint holds and whether it is intact (exit 4 if it is damaged).",
    discussion: """
      Prints the checkpoint's attributes (stage, step, seed, world size, creation time, ...), \
      every network with its parameter count, layout blocks and Adam step, the last metrics line \
      logged before it was written, and the checksum verdict (FNV-1a over every parameter and \
      optimizer byte). Any problem (truncated file, wrong format or version, a missing dataset, \
      shapes that disagree with the stored configuration, a checksum mismatch) is printed as one \
      line and the exit status is 4. Reads the file in one process; under mpirun rank 0 does it.
        polar-train inspect runs/demo/checkpoints/$(cat runs/demo/checkpoints/latest)
      """)

  @Argument(help: "The checkpoint file.")
  var path: String

  @Flag(help: "Also print the stored configuration (TOML).")
  var config = false

  func run() throws {
    let world = Communicator.world
    var damaged: Int32 = 0
    if world.rank == 0 {
      let r = Checkpoint.inspect(path)
      print("checkpoint \(path)")
      for (name, value) in r.attributes { print("  \(name): \(value)") }
      if !r.networks.isEmpty {
        print("networks:")
        for n in r.networks {
          print("  \(n.name): \(n.parameters) parameters in \(n.blocks) blocks, Adam step \(n.adamStep)")
        }
      }
      let lines = r.metrics.split(separator: "\n")
      if let last = lines.last { print("metrics at save time (\(lines.count) logged steps), last: \(last)") }
      if config && !r.configText.isEmpty { print("configuration:\n\(r.configText)") }
      print("checksum: \(r.checksumVerdict)")
      if r.isValid {
        print("verdict: ok")
      } else {
        for p in r.problems { MPIEnvironment.printError("polar-train: \(p)") }
        print("verdict: DAMAGED (\(r.problems.count) problem\(r.problems.count == 1 ? "" : "s"))")
        damaged = 1
      }
    }
    if try world.allreduce(damaged, op: .max) != 0 {
      throw CommandFailure(status: 4, message: "damaged checkpoint", printed: true)
    }
  }
}
