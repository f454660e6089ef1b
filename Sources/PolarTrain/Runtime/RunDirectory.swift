// The run directory of docs/design.md §4: config.toml (resolved), metrics.jsonl (one JSON object per
// logged step, rank 0), checkpoints/, report/, and the marker `.polar-train-run` (RunOwnership.swift).
// An existing, non-empty directory is never touched without --force (only a run directory, and
// only the run's own files) or --resume (which continues it). Rank 0 decides (`plan`) and every
// rank learns the decision, so ranks that see different file systems still agree.
import Foundation
import ParallelHDF5
import SwiftMPI

public final class RunDirectory {
  /// The run directory, resolved (absolute, links resolved).
  public let path: String
  public let checkpointDirectory: String
  public let marker: RunMarker
  let world: Communicator
  /// metrics.jsonl so far (also stored in checkpoints).
  public private(set) var metricsText = ""
  /// Rank 0: a metrics.jsonl write that failed (a full disk), for the ranks to agree on at the
  /// next step boundary (`Trainer.stopIfSignalled`); nil while all is well.
  public private(set) var writeFailure: String? = nil
  /// A trainer's stand-in run that writes no file (LMC-NPF's refresh): records stay in memory.
  let detached: Bool

  /// Pruning in a checkpoint directory shared with other runs (the flat layout outside the run
  /// directory) deletes only checkpoints carrying this run's id.
  var pruneOnlyRun: String? {
    marker.layout == .flat && !isInside(lexicalPath(checkpointDirectory), lexicalPath(path)) ? marker.runID : nil
  }

  /// What `train` will do with its --output, decided on rank 0 before anything is written.
  public struct Plan: Sendable {
    public var path: String
    public var marker: RunMarker
    /// A run directory to create (new, empty, or an old run replaced by --force).
    public var fresh: Bool
    public var checkpointDirectory: String

    /// As strings, for a broadcast (`decidedOnRankZero`).
    public var fields: [String] { [path, marker.runID, marker.layout.rawValue, fresh ? "fresh" : "continue", checkpointDirectory] }

    public init?(fields: [String]) {
      guard fields.count == 5, let layout = RunMarker.Layout(rawValue: fields[2]) else { return nil }
      self.init(
        path: fields[0], marker: RunMarker(runID: fields[1], layout: layout, directory: fields[0]), fresh: fields[3] == "fresh",
        checkpointDirectory: fields[4])
    }

    init(path: String, marker: RunMarker, fresh: Bool, checkpointDirectory: String) {
      (self.path, self.marker, self.fresh, self.checkpointDirectory) = (path, marker, fresh, checkpointDirectory)
    }
  }

  /// The checkpoint directory of a run: checkpoint.dir, relative to the run directory unless
  /// absolute; outside the run directory, `<dir>/<run id>` (layout own). A relative
  /// checkpoint.dir that leaves the run directory is refused.
  public static func checkpointDirectory(config: Config, run: String, marker: RunMarker?) throws -> String {
    let dir = config.checkpoint.dir
    if dir.trimmingCharacters(in: .whitespaces).isEmpty {
      throw OutputError(message: "checkpoint.dir: empty: name a directory (the default is \"checkpoints\", inside the run directory)")
    }
    let base = resolvedPath(run)
    let resolved = resolvedPath(dir.hasPrefix("/") ? dir : base + "/" + dir)
    let lexical = dir.hasPrefix("/") ? lexicalPath(dir) : lexicalPath(base + "/" + dir)
    let inside = isInside(lexical, lexicalPath(base))
    if !dir.hasPrefix("/") && !inside {
      throw OutputError(
        message: "checkpoint.dir: \"\(clipped(dir))\" leaves the run directory \(base); "
          + "give an absolute path to keep checkpoints elsewhere (they then go to <dir>/<run id>/)")
    }
    if resolved == "/" { throw OutputError(message: "checkpoint.dir: \"\(clipped(dir))\": the file system root cannot hold checkpoints") }
    guard let marker, marker.layout == .own, !inside else { return resolved }
    return resolved + "/" + marker.runID
  }

  /// The checkpoint directory of an existing run directory (its marker, if any, decides the layout).
  public static func checkpointDirectory(config: Config, run: String) throws -> String {
    try checkpointDirectory(config: config, run: run, marker: try RunMarker.read(run: run))
  }

  /// Decides (rank 0 only; `decidedOnRankZero` shares the answer) what --output means: a new run, a run
  /// replaced by --force, or a run continued by --resume; refuses everything else.
  public static func plan(output: String, config: Config, force: Bool, resume: String?) throws -> Plan {
    if output.trimmingCharacters(in: .whitespaces).isEmpty {
      throw OutputError(message: "--output: empty path: name the run directory")
    }
    let path = resolvedPath(output)
    if path == "/" { throw OutputError(message: "--output \(output): the file system root cannot be a run directory") }
    let fm = FileManager.default
    var isDir: ObjCBool = false
    func fresh() throws -> Plan {
      let marker = RunMarker(runID: RunMarker.newID(), layout: .own, directory: path)
      return Plan(
        path: path, marker: marker, fresh: true,
        checkpointDirectory: try checkpointDirectory(config: config, run: path, marker: marker))
    }
    guard fm.fileExists(atPath: path, isDirectory: &isDir) else { return try fresh() }
    guard isDir.boolValue else { throw OutputError(message: "\(path): exists and is not a directory") }
    let contents: [String]
    do { contents = try fm.contentsOfDirectory(atPath: path) } catch {
      throw OutputError(message: "\(path): cannot list the directory: \(describeErrno(errno))")
    }
    if contents.isEmpty { return try fresh() }
    let marker = try RunMarker.read(run: path)
    if marker != nil && (force || resume != nil) { try RunLock.acquire(run: path) }
    let isRun = marker != nil || looksLikeRun(path, contents)
    let listing = contents.sorted().prefix(3).joined(separator: ", ") + (contents.count > 3 ? ", ..." : "")
    if force {
      guard isRun else {
        throw OutputError(
          message: "\(path): not a polar-train run directory (it holds \(listing)); "
            + "--force replaces only a run directory: choose another --output")
      }
      return try fresh()
    }
    guard let resume else {
      throw OutputError(message: "\(path): run directory exists and is not empty; pass --resume auto to continue it or --force to overwrite it")
    }
    guard isRun else {
      throw OutputError(message: "\(path): not a polar-train run directory (it holds \(listing)); --resume continues a run: choose another --output")
    }
    // A run made before markers keeps its flat checkpoint layout and gets an id now.
    let kept = marker ?? RunMarker(runID: RunMarker.newID(), layout: .flat, directory: path)
    let dir = try checkpointDirectory(config: config, run: path, marker: kept)
    if resume != "auto" && resolvedPath((resume as NSString).deletingLastPathComponent) != resolvedPath(dir) {
      throw OutputError(
        message: "--resume \(resume): not a checkpoint of the run in \(path) (whose checkpoints are in \(dir)); "
          + "continuing from it there would mix two runs: give a new --output")
    }
    return Plan(path: path, marker: kept, fresh: false, checkpointDirectory: dir)
  }

  /// A run made before markers: its config.toml and metrics.jsonl, or its checkpoint directory
  /// (`checkpoints/` with `latest` or ckpt-*.h5 files: a run whose other files were lost).
  static func looksLikeRun(_ path: String, _ contents: [String]) -> Bool {
    if contents.contains("config.toml") && contents.contains("metrics.jsonl") { return true }
    let names = (try? FileManager.default.contentsOfDirectory(atPath: path + "/checkpoints")) ?? []
    return contents.contains("checkpoints") && names.contains { $0 == "latest" || Checkpoint.isCheckpointFile($0) }
  }

  /// Creates (rank 0) the run directory of a plan: a fresh one (an old run's own files removed
  /// first, with --force), or a continued one (config.toml rewritten, half-written checkpoints
  /// `*.partial` of a crashed run removed). Every rank learns whether it worked.
  /// A run directory that writes nothing (metrics only in memory, no checkpoints): the trainer
  /// of LMC-NPF's refresh, whose networks change only in memory.
  public init(detached world: Communicator) {
    (path, checkpointDirectory, self.world, detached) = ("", "", world, true)
    marker = RunMarker(runID: "detached", layout: .own, directory: "")
  }

  public init(plan: Plan, config: Config, world: Communicator) throws {
    detached = false
    path = plan.path
    marker = plan.marker
    checkpointDirectory = plan.checkpointDirectory
    self.world = world
    let fm = FileManager.default
    var failure: String? = nil
    if world.rank == 0 {
      // A failure half-way leaves nothing behind that did not exist before.
      // lstat: a dangling link given as --output exists too, and is not ours to remove.
      func exists(_ p: String) -> Bool { var st = stat(); return lstat(p, &st) == 0 }
      let existed = (path, exists(path)), ckptExisted = (checkpointDirectory, exists(checkpointDirectory))
      do {
        if plan.fresh { try RunDirectory.removeOldRun(at: path) }
        try createDirectory(path, what: "run directory")
        try createDirectory(checkpointDirectory, what: "checkpoint directory")
        try createDirectory(path + "/report", what: "report directory")
        if try RunMarker.read(run: path) == nil { try marker.create(run: path) }
        try RunLock.acquire(run: path)
        try writeFileAtomically(path + "/config.toml", config.toml)
        if plan.fresh { try writeFile(path + "/metrics.jsonl", "", append: false) }
        for name in (try? fm.contentsOfDirectory(atPath: checkpointDirectory)) ?? []
        where name.hasPrefix("ckpt-") && name.hasSuffix(".h5.partial") {
          try fm.removeItem(atPath: checkpointDirectory + "/" + name)
        }
      } catch {
        failure = "\(error)"
        for (dir, was) in [ckptExisted, existed] where !was { try? fm.removeItem(atPath: dir) }
      }
    }
    // Every rank learns whether rank 0 succeeded, so all fail together.
    let message = try world.broadcast(failure ?? "", root: 0)
    if !message.isEmpty { throw OutputError(message: message) }
  }

  /// --force: removes what an old run wrote (its marker, config, log, report, samples, and its
  /// checkpoints wherever they are), never anything else the directory holds.
  static func removeOldRun(at path: String) throws {
    let fm = FileManager.default
    guard fm.fileExists(atPath: path + "/config.toml") || fm.fileExists(atPath: path + "/" + RunMarker.fileName) else { return }
    let old = try? Config.load(file: path + "/config.toml", overrides: [])
    let marker = try? RunMarker.read(run: path)
    if let old, let dir = try? checkpointDirectory(config: old, run: path, marker: marker) {
      // Only checkpoints carrying the run's id (or, for a run made before ids, none), and its
      // `latest`, half-written checkpoints only in a directory of the run's own; outside the run
      // directory only when the marker was made here (a copied run shares its original's id).
      let inside = isInside(lexicalPath(dir), lexicalPath(path))
      let own = (marker?.layout == .own && (inside || marker?.directory == resolvedPath(path))) || (marker == nil && inside)
      for name in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] {
        let checkpoint = name.hasPrefix("ckpt-") && name.hasSuffix(".h5")
        let mine =
          checkpoint
          ? Checkpoint.runID(of: dir + "/" + name) == marker?.runID && (own || marker?.directory == resolvedPath(path))
          : own && (name == "latest" || name == "latest.tmp" || (name.hasPrefix("ckpt-") && name.hasSuffix(".h5.partial")))
        if mine { try fm.removeItem(atPath: dir + "/" + name) }
      }
      rmdir(dir)
    }
    for name in [
      RunMarker.fileName, "config.toml", "metrics.jsonl", "report", "samples.h5", "langevin.h5",
      "samples.h5.partial", "langevin.h5.partial",
    ] where fm.fileExists(atPath: path + "/" + name) {
      try fm.removeItem(atPath: path + "/" + name)
    }
  }

  /// Continues the log of a checkpoint: metrics.jsonl becomes what it was when the checkpoint
  /// was written (lines logged after it, by a run that then died, are dropped).
  public func restore(metrics: String) {
    metricsText = metrics
    guard world.rank == 0, !detached else { return }
    do { try writeFileAtomically(path + "/metrics.jsonl", metrics) } catch { writeFailure = "\(error)" }
  }

  /// Rank 0: one line saying where a checkpoint went, its size and how long it took.
  func note(checkpoint: String, seconds: Double, verbose: Bool) {
    guard world.rank == 0, verbose else { return }
    let size = (try? FileManager.default.attributesOfItem(atPath: checkpoint)[.size] as? Int) ?? 0
    print("checkpoint \(checkpoint) (\(String(format: "%.2f", Double(size) / 1e6)) MB, \(String(format: "%.3f", seconds)) s)")
    fflush(nil)
  }

  /// Rank 0: an event record in metrics.jsonl, {"event": name, "stage", "step", "message"}
  /// (the dual lost its meaning: DualHealth), and the message on stderr.
  func event(_ name: String, stage: String, step: Int, message: String) {
    record(["event": name, "stage": stage, "step": step, "message": message])
  }

  /// Rank 0: one metrics.jsonl record of these fields and the time.
  func record(_ fields: [String: Any]) {
    guard world.rank == 0 else { return }
    var record = fields
    record["time"] = Date().timeIntervalSince1970
    guard let data = try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]) else { return }
    let line = String(decoding: data, as: UTF8.self) + "\n"
    metricsText += line
    if writeFailure == nil && !detached {
      do { try writeFile(path + "/metrics.jsonl", line, append: true) } catch { writeFailure = "\(error)" }
    }
  }

  /// Rank 0: one progress line and one metrics.jsonl record.
  func log(stage: Stage, step: Int, of steps: Int, figures: [String: Double], eta: Double, verbose: Bool) throws {
    guard world.rank == 0 else { return }
    var fields: [String: Any] = ["stage": stage.rawValue, "step": step]
    for (k, v) in figures where v.isFinite { fields[k] = v }
    record(fields)
    guard verbose else { return }
    func f(_ k: String, _ fmt: String) -> String { figures[k].map { String(format: fmt, $0) } ?? "-" }
    var text = "\(stage) \(step)/\(steps)" + stage.progress(f)
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
  return t >= 3600
    ? "\(t / 3600)h\(String(format: "%02d", t % 3600 / 60))m"
    : t >= 60 ? "\(t / 60)m\(String(format: "%02d", t % 60))s" : "\(t)s"
}
/// Creates a directory and its parents (mkdir -p) with POSIX calls, naming errno when it cannot;
/// the directory must then be writable.
func createDirectory(_ path: String, what: String) throws {
  var prefix = ""
  for part in lexicalPath(path).split(separator: "/") {
    prefix += "/" + part
    var st = stat()
    if stat(prefix, &st) == 0 {
      guard st.st_mode & S_IFMT == S_IFDIR else {
        throw OutputError(message: "\(path): cannot create the \(what): \(prefix) exists and is not a directory")
      }
      continue
    }
    if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
      throw OutputError(message: "\(path): cannot create the \(what): \(prefix): \(describeErrno(errno))")
    }
  }
  guard access(path, W_OK) == 0 else {
    throw OutputError(message: "\(path): cannot write into the \(what): \(describeErrno(errno))")
  }
}

/// A path made absolute with `.` and `..` removed, links not resolved.
func lexicalPath(_ path: String) -> String {
  let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
  var parts: [Substring] = []
  for part in absolute.split(separator: "/") where part != "." {
    if part == ".." { if !parts.isEmpty { parts.removeLast() } } else { parts.append(part) }
  }
  return "/" + parts.joined(separator: "/")
}

/// At most 80 characters of a user's value in a message.
public func clipped(_ value: String) -> String {
  value.count <= 80 ? value : String(value.prefix(80)) + "... (\(value.utf8.count) bytes)"
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
