// mpi-checks: programs the test suite runs under `mpirun -n N` (N = 1..4). Each check computes
// the expected answer locally on every rank and compares; a mismatch throws, which aborts the
// job with a non-zero status and the failing rank's message.
import Foundation
import ParallelHDF5
import SwiftMPI

struct CheckFailure: Error, CustomStringConvertible {
  let description: String
}

func expect(_ condition: Bool, _ message: @autoclosure () -> String) throws {
  if !condition { throw CheckFailure(description: message()) }
}

let arguments = Array(CommandLine.arguments.dropFirst())
MPIEnvironment.run(program: "mpi-checks") { world in
  guard let name = arguments.first else {
    throw CheckFailure(description: "usage: mpi-checks CHECK [ARGS]")
  }
  let rest = Array(arguments.dropFirst())
  switch name {
  case "collectives": try checkCollectives(world)
  case "exact-sum": try checkExactSum(world, rest)
  case "exact-sum-timing": try exactSumTiming(world, rest)
  case "fail-rank": try failRank(world)
  case "hdf5-write": try hdf5Write(world, rest)
  case "hdf5-read": try hdf5Read(world, rest)
  default: throw CheckFailure(description: "unknown check \(name)")
  }
  try world.barrier()
  if world.rank == 0 { print("OK \(name) on \(world.size) rank(s)") }
  return 0
}

/// Rank 1 throws before a collective while the others wait in it: the job must end, not hang.
func failRank(_ world: Communicator) throws {
  if world.rank == 1 || world.size == 1 {
    throw CheckFailure(description: "deliberate failure before the barrier")
  }
  try world.barrier()
  try world.barrier()
}
