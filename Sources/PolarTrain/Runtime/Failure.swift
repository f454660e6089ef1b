// How a command fails without hanging (docs/design.md §3): validation runs on every rank before the first
// collective, then the ranks agree (one all-reduce) on whether anyone failed. The lowest failing
// rank prints its one-line message; every rank exits with the same status.
import SwiftMPI

/// A failure every rank knows about: exit with `status`; `message` printed once, if not already.
public struct CommandFailure: Error, CustomStringConvertible {
  public let status: Int32
  public let message: String
  public let printed: Bool
  public init(status: Int32, message: String, printed: Bool) {
    self.status = status
    self.message = message
    self.printed = printed
  }
  public var description: String { message }
}

/// The docs/design.md §5 exit status of an error.
public func exitStatus(of error: Error) -> Int32 {
  switch error {
  case is ConfigError, is OutputError: 2
  case is InputError: 3
  case is CheckpointError: 4
  case let f as CommandFailure: f.status
  default: 1
  }
}

/// Runs `body` on every rank, then agrees: if any rank failed, all throw a CommandFailure with
/// the highest status, printed by the lowest failing rank (unless that rank's failure is a
/// CommandFailure already printed, e.g. by a collective check such as agreeReadable).
public func agreeing<T>(_ world: Communicator, _ body: () throws -> T) throws -> T {
  var result: T? = nil
  var failure: Error? = nil
  do { result = try body() } catch { failure = error }
  let status = failure.map { exitStatus(of: $0) } ?? 0
  let worst = try world.allreduce(status, op: .max)
  guard worst != 0 else { return result! }
  let printer = try world.allreduce(Int32(failure == nil ? Int32.max : Int32(world.rank)), op: .min)
  if let failure, printer == world.rank, (failure as? CommandFailure)?.printed != true {
    MPIEnvironment.printError(world.size > 1 ? "polar-train: rank \(world.rank): \(failure)" : "polar-train: \(failure)")
  }
  throw CommandFailure(status: worst, message: failure.map { "\($0)" } ?? "another rank failed", printed: true)
}

/// Runs `body` on rank 0 only and gives every rank its answer, or throws its error on every rank
/// (printed once): for decisions about files that all ranks must take alike, even when they see
/// the file system differently (node-local paths).
public func decidedOnRankZero(_ world: Communicator, _ body: () throws -> [String]) throws -> [String] {
  var fields: [String] = []
  var status: Int32 = 0
  if world.rank == 0 {
    do { fields = try body() } catch {
      status = exitStatus(of: error)
      fields = ["\(error)"]
    }
  }
  let decided = try world.broadcast(([String(status)] + fields).joined(separator: "\u{1F}"), root: 0)
    .components(separatedBy: "\u{1F}")
  let code = Int32(decided[0]) ?? 1
  guard code == 0 else {
    let message = decided.count > 1 ? decided[1] : "rank 0 failed"
    if world.rank == 0 { MPIEnvironment.printError(world.size > 1 ? "polar-train: rank 0: \(message)" : "polar-train: \(message)") }
    throw CommandFailure(status: code, message: message, printed: true)
  }
  return Array(decided.dropFirst())
}

/// A failure every rank found identically (a verdict on all-gathered values): rank 0 prints it;
/// every rank throws the result.
public func agreedFailure(status: Int32, _ message: String, world: Communicator) -> CommandFailure {
  if world.rank == 0 { MPIEnvironment.printError("polar-train: \(message)") }
  return CommandFailure(status: status, message: message, printed: true)
}

// The errors of the runtime, each with its exit status (exitStatus(of:)).

/// An input data error: exit status 3.
public struct InputError: Error, CustomStringConvertible {
  public let message: String
  public init(message: String) { self.message = message }
  public var description: String { message }
}

/// A configuration error: exit status 2, message `<source>: <key>: <problem>`.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
  public let source: String
  public let key: String
  public let message: String
  public var description: String { key.isEmpty ? "\(source): \(message)" : "\(source): \(key): \(message)" }
  public init(source: String, key: String, message: String) {
    (self.source, self.key, self.message) = (source, key, message)
  }
}

/// A checkpoint problem: exit status 4.
public struct CheckpointError: Error, CustomStringConvertible {
  public let message: String
  public init(message: String) { self.message = message }
  public var description: String { message }
}

/// A training failure (non-finite values, disagreement between ranks): aborts the run.
public struct TrainingError: Error, CustomStringConvertible {
  public let message: String
  /// A NaN or Inf in a loss or gradient, or a dual that lost its meaning (DualHealth): what
  /// `[train] on_nan = "rollback"` recovers from.
  public let nonFinite: Bool
  /// DualHealth's finding when the dual lost its meaning (written to metrics.jsonl as an event).
  public var dualLost: String? = nil
  public init(message: String, nonFinite: Bool = false) {
    self.message = message
    self.nonFinite = nonFinite
  }
  public var description: String { message }
}

/// An output problem (run directory, output file): exit status 2.
public struct OutputError: Error, CustomStringConvertible {
  public let message: String
  public init(message: String) { self.message = message }
  public var description: String { message }
}

/// The run stopped on a signal after writing a checkpoint: exit status 75 (EX_TEMPFAIL, "requeue me").
public struct StoppedBySignal: Error, CustomStringConvertible {
  public let signal: Int32
  public let checkpoint: String
  public var description: String {
    "stopped by \(StopSignals.name(signal)) after writing \(checkpoint); continue with --resume auto"
  }
}
