// The run directory of DESIGN §4: config.toml (resolved), metrics.jsonl (one JSON object per
// logged step, rank 0), checkpoints/, report/. An existing, non-empty directory is never
// overwritten without --force or --resume (which continues it).
import Foundation
import SwiftMPI

public final class RunDirectory {
  public let path: String
  public let checkpointDirectory: String
  let world: Communicator
  /// metrics.jsonl so far (also stored in checkpoints).
  public private(set) var metricsText = ""

  /// The checkpoint directory of a run: checkpoint.dir, relative to the run directory unless absolute.
  public static func checkpointDirectory(config: Config, run path: String) -> String {
    let dir = config.checkpoint.dir
    return dir.hasPrefix("/") ? dir : path + "/" + dir
  }

  /// Checks, on every rank and without any collective, that `path` may be used as a run
  /// directory: it is new or empty, or --force or --resume was given. Call it on every rank and
  /// agree (`agreeing`) before creating: otherwise rank 0 may create the directory before
  /// another rank has looked, and that rank would refuse it.
  public static func check(path: String, force: Bool, resume: Bool) throws {
    let fm = FileManager.default
    var isDir: ObjCBool = false
    guard fm.fileExists(atPath: path, isDirectory: &isDir) else { return }
    guard isDir.boolValue else { throw OutputError(message: "\(path): exists and is not a directory") }
    let contents = (try? fm.contentsOfDirectory(atPath: path)) ?? []
    if !contents.isEmpty && !force && !resume {
      throw OutputError(message: "\(path): run directory exists and is not empty; pass --resume auto to continue it or --force to overwrite it")
    }
  }

  /// Creates (rank 0) the run directory, after `check` passed on every rank; every rank learns
  /// whether it worked. With `resume`, an existing directory is continued: kept, with
  /// config.toml rewritten and half-written checkpoints (`*.partial`) of a crashed run removed.
  public init(path: String, config: Config, world: Communicator, force: Bool, resume: Bool = false) throws {
    self.path = path
    self.world = world
    checkpointDirectory = RunDirectory.checkpointDirectory(config: config, run: path)
    let fm = FileManager.default
    var failure: String? = nil
    if world.rank == 0 {
      do {
        if force && fm.fileExists(atPath: path) {
          for item in try fm.contentsOfDirectory(atPath: path) { try fm.removeItem(atPath: path + "/" + item) }
        }
        try fm.createDirectory(atPath: checkpointDirectory, withIntermediateDirectories: true)
        try fm.createDirectory(atPath: path + "/report", withIntermediateDirectories: true)
        try config.toml.write(toFile: path + "/config.toml", atomically: true, encoding: .utf8)
        _ = fm.createFile(atPath: path + "/metrics.jsonl", contents: nil)
        for name in (try? fm.contentsOfDirectory(atPath: checkpointDirectory)) ?? [] where name.hasSuffix(".partial") {
          try fm.removeItem(atPath: checkpointDirectory + "/" + name)
        }
      } catch {
        failure = "\(path): cannot create the run directory: \(error.localizedDescription)"
      }
    }
    // Every rank learns whether rank 0 succeeded, so all fail together.
    let message = try world.broadcast(failure ?? "", root: 0)
    if !message.isEmpty { throw OutputError(message: message) }
  }

  /// Continues the log of a checkpoint: metrics.jsonl becomes what it was when the checkpoint
  /// was written (lines logged after it, by a run that then died, are dropped).
  public func restore(metrics: String) {
    metricsText = metrics
    guard world.rank == 0 else { return }
    try? metrics.write(toFile: path + "/metrics.jsonl", atomically: true, encoding: .utf8)
  }

  /// Rank 0: one line saying where a checkpoint went, its size and how long it took.
  func note(checkpoint: String, seconds: Double, verbose: Bool) {
    guard world.rank == 0, verbose else { return }
    let size = (try? FileManager.default.attributesOfItem(atPath: checkpoint)[.size] as? Int) ?? 0
    print("checkpoint \(checkpoint) (\(String(format: "%.2f", Double(size) / 1e6)) MB, \(String(format: "%.3f", seconds)) s)")
    fflush(nil)
  }

  /// Rank 0: one progress line and one metrics.jsonl record.
  func log(stage: String, step: Int, of steps: Int, figures: [String: Double], eta: Double, verbose: Bool) throws {
    guard world.rank == 0 else { return }
    var record: [String: Any] = ["stage": stage, "step": step, "time": Date().timeIntervalSince1970]
    for (k, v) in figures { record[k] = v.isFinite ? v : nil }
    let data = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
    let line = String(decoding: data, as: UTF8.self) + "\n"
    metricsText += line
    if let handle = FileHandle(forWritingAtPath: path + "/metrics.jsonl") {
      handle.seekToEndOfFile()
      handle.write(Data(line.utf8))
      try? handle.close()
    }
    guard verbose else { return }
    func f(_ k: String, _ fmt: String) -> String { figures[k].map { String(format: fmt, $0) } ?? "-" }
    var text = "\(stage) \(step)/\(steps)"
    if stage == "potential" {
      text += "  loss \(f("loss", "%.5f"))  W2^2 \(f("w2", "%.4f"))  amortizer \(f("amortizer_loss", "%.2e"))"
    } else {
      text += stage == "map" ? "  map loss \(f("map_loss", "%.3e"))" : "  bridge loss \(f("inverse_loss", "%.3e"))"
    }
    text += "  conj it \(f("conjugate_iterations", "%.2f"))"
    if let r = figures["conjugate_residual"] { text += " res \(String(format: "%.1e", r))" }
    text += " conv \(f("converged", "%.3f"))  \(f("samples_per_s", "%.0f")) samples/s  ETA \(formatDuration(eta))"
    print(text)
    fflush(nil)
  }
}

func formatDuration(_ s: Double) -> String {
  guard s.isFinite else { return "-" }
  let t = Int(s.rounded())
  return t >= 3600 ? "\(t / 3600)h\(String(format: "%02d", t % 3600 / 60))m"
    : t >= 60 ? "\(t / 60)m\(String(format: "%02d", t % 60))s" : "\(t)s"
}

/// An output problem (run directory, output file): exit status 2.
public struct OutputError: Error, CustomStringConvertible {
  public let message: String
  public init(message: String) { self.message = message }
  public var description: String { message }
}

/// Replaces `path` by `path.partial` in one rename(2): atomic on POSIX file systems, so a reader
/// (or a crash) sees either the old complete file or the new one, never neither.
public func publishPartial(_ path: String) throws { try atomicReplace(path, with: path + ".partial") }

/// rename(2) of `source` onto `path`, replacing it atomically.
public func atomicReplace(_ path: String, with source: String) throws {
  guard rename(source, path) == 0 else {
    throw OutputError(message: "\(path): cannot replace it with \(source): \(String(cString: strerror(errno)))")
  }
}
