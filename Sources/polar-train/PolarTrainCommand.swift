import ArgumentParser
import PolarTrain

struct PolarTrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "polar-train",
    abstract: "Brenier polar factorization F = grad u o M with neural networks, data-parallel over MPI.",
    discussion: """
      Run it as a single process or under `mpirun -n N polar-train ...`: every rank holds a \
      replica of the networks and works on its shard of each global batch.

      Exit status: 0 ok, 2 usage or configuration error, 3 input data error, 4 checkpoint \
      error, 75 stopped by a signal after a checkpoint.
      """,
    version: "polar-train \(polarTrainVersion)",
    subcommands: [
      TrainCommand.self, ApplyCommand.self, SampleCommand.self, LangevinCommand.self, EvaluateCommand.self, ReportCommand.self,
      InspectCommand.self, ConfigCommand.self,
      DoctorCommand.self,
    ])
}
