// Loading checkpoints on all ranks without hanging, and choosing the one to resume from
// (docs/design.md §4): rank 0 checks candidates in one process (CheckpointInspection), broadcasts its
// verdict, and only a checkpoint that passed, and that every rank can open (agreeReadable), is
// then read collectively by every rank. So a damaged file, or one that some ranks cannot see, is
// refused by all ranks together, never half-opened by some of them.
import Foundation
import SwiftMPI

extension Checkpoint {
  /// Checks that every rank can read `path` (agreeReadable) and its contents on rank 0, then
  /// reads it collectively. Throws on every rank (exit 4) when the file is missing on any rank
  /// or damaged.
  public static func load(_ path: String, world: Communicator) throws -> Contents {
    try agreeReadable(path, .checkpoint, world: world)
    let verdict = world.rank == 0 ? inspect(path).problems.first ?? "" : ""
    let problem = try world.broadcast(verdict, root: 0)
    guard problem.isEmpty else { throw CheckpointError(message: problem) }
    return try read(path, world: world)
  }

  /// The checkpoint `dir/latest` names, as a path; a clear CheckpointError when `latest` is
  /// missing, a directory, unreadable, not UTF-8, or not one checkpoint file name of `dir`.
  public static func latest(in dir: String) throws -> String {
    let path = dir + "/latest"
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
      throw CheckpointError(message: "\(path): missing: the run has no checkpoint yet")
    }
    if isDir.boolValue { throw CheckpointError(message: "\(path): is a directory, expected a file naming the newest checkpoint") }
    guard let handle = FileHandle(forReadingAtPath: path) else {
      throw CheckpointError(message: "\(path): cannot read it: \(describeErrno(errno))")
    }
    defer { try? handle.close() }
    let bytes: Data? = try? handle.read(upToCount: 4096)
    guard let text = String(data: bytes ?? Data(), encoding: .utf8) else {
      throw CheckpointError(message: "\(path): damaged: not UTF-8 text")
    }
    let name = text.trimmingCharacters(in: .whitespacesAndNewlines)
    guard isCheckpointFile(name), !name.hasSuffix(".partial"), !name.contains("/") else {
      throw CheckpointError(message: "\(path): damaged: expected one file name ckpt-<stage>-<step>.h5, got \"\(clipped(name))\"")
    }
    return dir + "/" + name
  }

  /// Candidate checkpoints of a directory, newest first: the one `latest` names, then every
  /// ckpt-<stage>-<step>.h5 by stage (done, map, potential) and step.
  public static func candidates(in dir: String) -> [String] {
    let fm = FileManager.default
    let names = ((try? fm.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix("ckpt-") && $0.hasSuffix(".h5") }
    func order(_ name: String) -> (Int, Int) {
      let parts = name.dropFirst(5).dropLast(3).split(separator: "-")
      let stage = Stage(rawValue: String(parts.first ?? ""))?.order ?? -1
      return (stage, Int(parts.last ?? "") ?? -1)
    }
    var out = names.sorted { order($0) > order($1) }
    if let path = try? latest(in: dir), case let latest = (path as NSString).lastPathComponent, out.contains(latest) {
      out.removeAll { $0 == latest }
      out.insert(latest, at: 0)
    }
    return out.map { dir + "/" + $0 }
  }

  /// The checkpoint `--resume` names: `auto` takes the newest good one in `dir` (falling back
  /// past damaged ones, with a warning for each) or nil when there is none; a path must be good.
  /// Decided on rank 0 and broadcast; every rank returns the same answer or throws the same error,
  /// and can read the answer (agreeReadable: a node-local checkpoint directory is refused).
  public static func locate(_ spec: String, dir: String, world: Communicator) throws -> (path: String, warnings: [String])? {
    if spec != "auto" { try agreeReadable(spec, .checkpoint, what: "--resume", world: world) }
    var answer = "", warnings = [String](), failure = ""
    if world.rank == 0 {
      if spec != "auto" {
        if let problem = inspect(spec).problems.first { failure = problem } else { answer = spec }
      } else {
        for candidate in candidates(in: dir) {
          let problems = inspect(candidate).problems
          if problems.isEmpty {
            answer = candidate
            break
          }
          warnings.append("warning: skipping damaged checkpoint \(candidate): \(problems[0])")
        }
        if answer.isEmpty && !warnings.isEmpty {
          failure = "\(dir): every checkpoint is damaged (\(warnings.count)); the newest: \(warnings[0].dropFirst(9))"
        }
      }
    }
    // One broadcast of the fields joined by the ASCII unit separator.
    let decided = try world.broadcast(([answer, failure] + warnings).joined(separator: "\u{1F}"), root: 0)
      .components(separatedBy: "\u{1F}")
    if !decided[1].isEmpty { throw CheckpointError(message: decided[1]) }
    if spec == "auto" && !decided[0].isEmpty { try agreeReadable(decided[0], .checkpoint, what: "--resume auto", world: world) }
    return decided[0].isEmpty ? nil : (decided[0], Array(decided.dropFirst(2)))
  }

  /// Keys that fix what a checkpoint's numbers mean: a checkpoint whose values differ in any of
  /// them cannot be continued (ConfigKeys: ResumeClass.structural).
  public static let structuralKeys = Set(ConfigKeys.paths(.structural))

  /// Keys that may change between runs without changing any result (ResumeClass.free).
  public static let freeKeys = Set(ConfigKeys.paths(.free))
}

extension Config {
  /// Compares this (the run's) configuration with a checkpoint's: throws naming the structural
  /// keys that differ; returns the other differing keys, which change the trajectory (the run
  /// will not match an uninterrupted one) but not the meaning of the saved numbers.
  /// `retraining`: the stage `--retrain` starts afresh, whose keys and its later stages' may differ.
  public func checkResumable(from saved: Config, path: String, retraining: Stage? = nil) throws -> [String] {
    let fresh = (retraining?.networksFromHere ?? []).map { "\($0.rawValue)." }
    let differing = differingKeys(from: saved).filter { key in !fresh.contains { key.hasPrefix($0) } }
    let structural = differing.filter { PolarTrain.Checkpoint.structuralKeys.contains($0) }
    if !structural.isEmpty {
      let rendered = structural.map { key -> String in
        let spec = ConfigKeys.all.first { $0.path == key }!
        return "\(key) (checkpoint \(spec.render(saved)), now \(spec.render(self)))"
      }
      throw CheckpointError(message: "\(path): written by another configuration; differing keys: \(rendered.joined(separator: ", "))")
    }
    return differing.filter { !PolarTrain.Checkpoint.freeKeys.contains($0) }
  }
}
