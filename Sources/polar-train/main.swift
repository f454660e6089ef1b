// polar-train: the command line. Parsing happens inside the MPI scope (parseAsRoot, not main(),
// which would exit without MPI_Finalize); help and usage errors print on rank 0 only, and every
// rank exits with the same status. A CommandFailure (validated on every rank, agreed by all)
// exits with its status; any other error escaping a command aborts all ranks (docs/design.md §3).
import ArgumentParser
import ParallelHDF5
import PolarTrain
import SwiftMPI

// `train` takes its stop signals from the first instruction on: a USR1 or SIGTERM that a batch
// system sends while MPI starts must be remembered (and answered by a checkpoint at step 0), not
// kill the rank by the signal's default action. `run` installs the same handlers again. Once
// every rank has them, the launcher hears of it (StopSignals.announceReady).
let training = CommandLine.arguments.dropFirst().first == "train"
if training { StopSignals.install() }

// A parallel HDF5 file that could not be closed (a disk filled up during a write) would crash
// MPI_Finalize: the command has already failed cleanly on every rank, so end without it.
MPIEnvironment.run(program: "polar-train", finalize: { File.abandoned == 0 }) { world in
  // Every rank must run the same command: ranks started with other arguments exit 2 together.
  do {
    try agreeArguments(Array(CommandLine.arguments.dropFirst()), world: world)
  } catch let error as CommandFailure {
    return error.status
  }
  if training { try StopSignals.announceReady(world: world) }
  var command: ParsableCommand
  do {
    command = try PolarTrainCommand.parseAsRoot(Array(CommandLine.arguments.dropFirst()))
  } catch {
    // Parsing errors, --help and --version: identical on every rank; rank 0 speaks.
    let code = PolarTrainCommand.exitCode(for: error)
    if world.rank == 0 {
      let message = PolarTrainCommand.fullMessage(for: error)
      if !message.isEmpty {
        if code == .success { print(message) } else { MPIEnvironment.printErrorText(message) }
      }
    }
    // docs/design.md §5: 2 for usage or configuration errors.
    return code == .validationFailure ? 2 : code.rawValue
  }
  do {
    try command.run()
    return 0
  } catch let error as CommandFailure {
    if !error.printed && world.rank == 0 { MPIEnvironment.printError("polar-train: \(error.message)") }
    if training { StopSignals.recordStatus(error.status, world: world) }
    return error.status
  } catch let error as ExitCode {
    return error.rawValue
  } catch let error as ValidationError {
    if world.rank == 0 { MPIEnvironment.printError("polar-train: \(error)") }
    return 2
  } catch  where PolarTrainCommand.exitCode(for: error) == .success {
    // `polar-train` alone or with --help on a command group: help, on rank 0.
    if world.rank == 0 { print(PolarTrainCommand.fullMessage(for: error)) }
    return 0
  }
  // Anything else propagates: MPIEnvironment.run prints it with the rank and aborts every rank.
}
