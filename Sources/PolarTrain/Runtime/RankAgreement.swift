// The ranks of one job must run the same command on the same configuration (docs/design.md §3): ranks
// started with different arguments (an MPMD command line, a wrapper that differs per node) or
// reading different configuration files under one name (node-local copies) would take different
// paths through the collectives and hang. These checks compare a 64-bit fingerprint of each in
// one all-gather; where the ranks differ, all of them exit 2 together with one line.
import SwiftMPI

/// Compares the command-line arguments (without the program's path) of all ranks. Collective.
public func agreeArguments(_ arguments: [String], world: Communicator) throws {
  let all = try world.allgather([Int64(bitPattern: fnv1a(arguments))])
  guard let other = all.firstIndex(where: { $0 != all[0] }) else { return }
  throw agreedFailure(status: 2, "the ranks were started with different arguments (rank \(other) differs from rank 0)", world: world)
}

/// Compares the resolved configuration of all ranks; `file` is the configuration file it was
/// read from (nil: defaults, a checkpoint's, --set only). Collective. A rank whose configuration
/// differs from rank 0's names the keys that differ.
public func agreeConfiguration(_ config: Config, file: String?, world: Communicator) throws {
  let text = config.toml
  let all = try world.allgather([Int64(bitPattern: fnv1a([text]))])
  guard all.contains(where: { $0 != all[0] }) else { return }
  let reference = try world.broadcast(text, root: 0)
  try agreeing(world) { () throws -> Void in
    guard all[world.rank] != all[0] else { return }
    var theirs = Config()
    try theirs.apply(toml: reference, source: "rank 0's configuration")
    let keys = config.differingKeys(from: theirs)
    let shown =
      keys.prefix(3).map { key -> String in
        let spec = ConfigKeys.all.first { $0.path == key }!
        return "\(key) = \(spec.render(config)) here, \(spec.render(theirs)) on rank 0"
      } + (keys.count > 3 ? ["\(keys.count - 3) more"] : [])
    throw ConfigError(
      source: file ?? "configuration", key: "",
      message: "the configuration differs between ranks: " + (shown.isEmpty ? "its text" : shown.joined(separator: "; ")))
  }
}
