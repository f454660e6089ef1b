import ArgumentParser
import PolarTrain
import SwiftMPI

struct ConfigCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "config",
    abstract: "Print the resolved configuration (defaults, then --config, then --set), or the key reference.",
    discussion: """
      `polar-train config --set problem.dim=16` shows exactly what `train` would run with. \
      `polar-train config --keys` prints every key with its default and meaning (docs/configuration.md).
      """)

  @Option(help: "TOML configuration file.")
  var config: String?

  @Option(name: .customLong("set"), help: ArgumentHelp("Override a key (repeatable).", valueName: "key=value"))
  var overrides: [String] = []

  @Flag(help: "Print the key reference as a Markdown table.")
  var keys = false

  func run() throws {
    let world = Communicator.world
    let resolved = try agreeing(world) { try Config.load(file: config, overrides: overrides) }
    try agreeConfiguration(resolved, file: config, world: world)
    guard world.rank == 0 else { return }
    print(keys ? Config.keyReference : resolved.toml.trimmingCharacters(in: .newlines))
  }
}
