// The run directory of DESIGN §4: config.toml (resolved), metrics.jsonl (one JSON object per
// logged step, rank 0), checkpoints/, report/. An existing, non-empty directory is never
// overwritten without --force (or --resume, later).
import Foundation
import SwiftMPI

public final class RunDirectory {
  public let path: String
  public let checkpointDirectory: String
  let world: Communicator
  /// metrics.jsonl so far (also stored in checkpoints).
  public private(set) var metricsText = ""

  /// Checks (on every rank, before any collective) and creates (rank 0) the run directory.
  public init(path: String, config: Config, world: Communicator, force: Bool) throws {
    self.path = path
    self.world = world
    let dir = config.checkpoint.dir
    checkpointDirectory = dir.hasPrefix("/") ? dir : path + "/" + dir
    let fm = FileManager.default
    var isDir: ObjCBool = false
    if fm.fileExists(atPath: path, isDirectory: &isDir) {
      guard isDir.boolValue else { throw OutputError(message: "\(path): exists and is not a directory") }
      let contents = (try? fm.contentsOfDirectory(atPath: path)) ?? []
      if !contents.isEmpty && !force {
        throw OutputError(message: "\(path): run directory exists and is not empty; pass --force to overwrite it")
      }
    }
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
      } catch {
        failure = "\(path): cannot create the run directory: \(error.localizedDescription)"
      }
    }
    // Every rank learns whether rank 0 succeeded, so all fail together.
    let message = try world.broadcast(failure ?? "", root: 0)
    if !message.isEmpty { throw OutputError(message: message) }
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
      text += "  map loss \(f("map_loss", "%.3e"))"
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
