import ArgumentParser
import Foundation
import PolarTrain
import SwiftMPI

struct DoctorCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "doctor",
    abstract: "Check the MPI, parallel HDF5 and OpenBLAS this program runs with, on every rank.",
    discussion: """
      Every rank reports; rank 0 prints the reports in rank order. Run it the way you run \
      training, e.g. `mpirun -n 2 polar-train doctor`, to see what each rank gets: host, MPI \
      library, HDF5 version and whether MPI-IO works, OpenBLAS kernel and thread count. \
      Exits 1 when a rank finds a problem (serial HDF5 linked, no MPI-IO, several BLAS threads).
      """)

  @Flag(help: "Print the reports as JSON (one array) instead of text.")
  var json = false

  func run() throws {
    let world = Communicator.world
    let reports = try DoctorReport.gather(world)
    guard let reports else {
      try world.barrier()
      return try failIfProblems(world, nil)
    }
    if json {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
      print(String(decoding: try encoder.encode(reports), as: UTF8.self))
    } else {
      print("polar-train \(polarTrainVersion) doctor: \(reports.count) rank(s)")
      for r in reports { print(r.text) }
    }
    try world.barrier()
    try failIfProblems(world, reports)
  }

  private func failIfProblems(_ world: Communicator, _ reports: [DoctorReport]?) throws {
    let count = reports.map { $0.reduce(0) { $0 + $1.problems.count } } ?? 0
    var n = [Int64(count)]
    try world.broadcast(&n, root: 0)
    if n[0] > 0 { throw ExitCode(1) }
  }
}
