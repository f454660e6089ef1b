// Checkpoints (docs/design.md §4), written collectively by all ranks through MPI-IO:
//   root attributes: format, version, stage, step, seed, world_size, config (TOML), created,
//                    checksum (FNV-1a 64 of the bytes of every parameter and Adam vector, hex),
//                    metrics (JSON lines), lr_scale and rollbacks (NaN rollbacks so far), program,
//                    run_id (the run that wrote it: RunOwnership.swift)
//   /<network>/params, /<network>/adam/m, /<network>/adam/v: flat Float32, each written in N
//       contiguous hyperslabs (one per rank) in one collective call; /<network>/adam/t: [1] int64
//   /<network>/layout/names, offsets, ranks, dims: the arena layout (block names, offsets, shapes)
// Crash safety: every rank writes `<path>.partial` and closes it collectively; then rank 0 fsyncs
// it, renames it into place, fsyncs the directory and atomically replaces `latest`; barriers on
// both sides. The newest `keep` checkpoints are kept. A write that fails (a full disk, a quota)
// is one error on every rank, names ENOSPC / EDQUOT as such, and leaves no `.partial` behind:
// the previous checkpoint and `latest` stay the newest intact ones.
import Foundation
import ParallelHDF5
import PolarCore
import SwiftMPI

public enum Checkpoint {
  public static let format = "polar-train-checkpoint"
  public static let version: Int64 = 1

  public static func write(
    _ state: TrainState, config: Config, nets: Networks, metrics: String, runID: String,
    to path: String, world: Communicator
  ) throws {
    // Attribute values must be the same bytes on every rank (they are file metadata, written
    // collectively): take rank 0's clock and log.
    let created = try world.broadcast(ISO8601DateFormatter().string(from: Date()), root: 0)
    let metricsText = try world.broadcast(metrics, root: 0)
    // Room for the parameters, their Adam moments, the configuration and the log (CollectiveOutput).
    let bytes = state.networks.values.reduce(1 << 20) { $0 + 12 * $1.params.count } + 2 * (metricsText.utf8.count + config.toml.utf8.count)
    let out = try CollectiveOutput(creating: path, bytes: bytes, what: "checkpoint", world: world)
    try out.write { file in
      for (name, value) in [
        ("format", format), ("stage", state.stage.rawValue), ("config", config.toml), ("created", created),
        ("checksum", String(state.checksum, radix: 16)), ("metrics", metricsText),
        ("program", "polar-train \(polarTrainVersion)"), ("run_id", runID),
      ] {
        try file.setAttribute(name, value)
      }
      for (name, value) in [
        ("version", version), ("step", Int64(state.step)), ("seed", Int64(bitPattern: config.seed)),
        ("world_size", Int64(world.size)), ("rollbacks", Int64(state.rollbacks)),
      ] {
        try file.setAttribute(name, value)
      }
      try file.setAttribute("lr_scale", state.lrScale)
      try file.setAttribute("conjugate_max_iter", Int64(state.conjugateMaxIter))
      try file.setAttribute("dual_alerts", Int64(state.dualAlerts))
      try file.setAttribute("dual_note", state.dualNote)
      try file.setAttribute("best_validation", state.bestValidation)
      try file.setAttribute("best_checkpoint", state.bestCheckpoint)
    }
    for name in Networks.names {
      guard let net = state.networks[name] else { continue }
      for (what, vector) in [("params", net.params), ("adam/m", net.adam.m), ("adam/v", net.adam.v)] {
        try out.write { try writeVector($0, "\(name)/\(what)", vector, world) }
      }
      try out.write { file in
        try file.createDataset("\(name)/adam/t", type: .int64, shape: [1])
          .write(world.rank == 0 ? [Int64(net.adam.t)] : [], selection: world.rank == 0 ? .all : .none)
        try writeLayout(file, name.rawValue, nets.layout(name), world)
      }
    }
    pauseForTests(step: state.step)
    try out.close()
  }

  /// ckpt-<stage>-<step>.h5, or one being written.
  static func isCheckpointFile(_ name: String) -> Bool {
    name.hasPrefix("ckpt-") && (name.hasSuffix(".h5") || name.hasSuffix(".h5.partial"))
  }

  /// A file whose `format` attribute says it is a checkpoint (rank 0 or one process, serial open).
  static func isCheckpoint(_ path: String) -> Bool {
    guard let file = try? File.open(path) else { return false }
    defer { try? file.close() }
    return (try? file.stringAttribute("format")) == format
  }

  /// The run_id attribute of a checkpoint (rank 0, serial open), nil when absent or unreadable.
  static func runID(of path: String) -> String? {
    guard let file = try? File.open(path) else { return nil }
    defer { try? file.close() }
    return try? file.stringAttribute("run_id")
  }

  /// Fault tests kill ranks while a checkpoint is being written: with
  /// POLAR_TRAIN_TEST_PAUSE_IN_CHECKPOINT=seconds[@step] every rank sleeps that long before the
  /// collective close, with the `.partial` file half-written (only at steps >= step when given).
  static func pauseForTests(step: Int) {
    guard let text = ProcessInfo.processInfo.environment["POLAR_TRAIN_TEST_PAUSE_IN_CHECKPOINT"] else { return }
    let parts = text.split(separator: "@")
    guard let seconds = Double(parts.first ?? ""), seconds > 0 else { return }
    if parts.count > 1, let from = Int(parts[1]), step < from { return }
    usleep(UInt32(min(seconds, 3600) * 1e6))
  }

  /// Rank r writes its slice [n r / N, n (r + 1) / N) of a flat vector.
  static func writeVector(_ file: File, _ name: String, _ v: [Float], _ world: Communicator) throws {
    let ds = try file.createDataset(name, type: .float32, shape: [v.count])
    let slice = microBatches(count: v.count, rank: world.rank, size: world.size)
    try ds.write(Array(v[slice]), selection: .rows(slice))
  }

  static func writeLayout(_ file: File, _ name: String, _ layout: ArenaLayout, _ world: Communicator) throws {
    let blocks = layout.blocks
    let sel: Selection = world.rank == 0 ? .all : .none
    let width = max(1, blocks.map { $0.name.utf8.count }.max() ?? 1)
    try file.createDataset("\(name)/layout/names", type: .string(length: width), shape: [blocks.count])
      .writeStrings(world.rank == 0 ? blocks.map(\.name) : [], selection: sel)
    try file.createDataset("\(name)/layout/offsets", type: .int64, shape: [blocks.count])
      .write(world.rank == 0 ? blocks.map { Int64($0.offset) } : [], selection: sel)
    try file.createDataset("\(name)/layout/ranks", type: .int64, shape: [blocks.count])
      .write(world.rank == 0 ? blocks.map { Int64($0.shape.count) } : [], selection: sel)
    let dims = blocks.flatMap { $0.shape.map(Int64.init) }
    try file.createDataset("\(name)/layout/dims", type: .int64, shape: [dims.count])
      .write(world.rank == 0 ? dims : [], selection: sel)
  }

  /// Moves a written `.partial` into place and updates `latest` (rank 0), keeping `keep` files;
  /// with `onlyRun`, only checkpoints carrying that run id are pruned (a directory shared with
  /// other runs, the flat layout of runs made before run ids).
  /// `best`: a checkpoint name pruning keeps whatever `keep` says (problem.validation's best).
  public static func publish(_ path: String, keep: Int, onlyRun: String? = nil, best: String = "", world: Communicator) throws {
    try world.barrier()
    var failure = ""
    if world.rank == 0 {
      do {
        let dir = (path as NSString).deletingLastPathComponent
        try fsyncPath(path + ".partial")
        try publishPartial(path)
        try fsyncPath(dir)
        let latest = dir + "/latest"
        try writeFileAtomically(latest, (path as NSString).lastPathComponent + "\n")
        try fsyncPath(dir)
        try prune(dir, keep: keep, newest: (path as NSString).lastPathComponent, onlyRun: onlyRun, best: best)
      } catch {
        unlink(path + ".partial")
        failure = "\(path): cannot publish checkpoint: \(namingFullDisk("\(error)", directory: (path as NSString).deletingLastPathComponent))"
      }
    }
    let message = try world.broadcast(failure, root: 0)
    if !message.isEmpty { throw OutputError(message: message) }
  }

  /// Deletes all but the newest `keep` checkpoints (by modification order of publication).
  static func prune(_ dir: String, keep: Int, newest: String, onlyRun: String?, best: String = "") throws {
    let fm = FileManager.default
    let files = try fm.contentsOfDirectory(atPath: dir).filter {
      $0.hasPrefix("ckpt-") && $0.hasSuffix(".h5") && (onlyRun == nil || runID(of: dir + "/" + $0) == onlyRun)
    }
    var dated: [(name: String, date: Date)] = []
    for name in files {
      let attrs = try? fm.attributesOfItem(atPath: dir + "/" + name)
      dated.append((name, (attrs?[.modificationDate] as? Date) ?? .distantPast))
    }
    dated.sort { a, b in a.date == b.date ? a.name < b.name : a.date < b.date }
    for (name, _) in dated.dropLast(keep) where name != newest && name != best {
      try fm.removeItem(atPath: dir + "/" + name)
    }
  }

  /// fsync(2) of a file or directory.
  static func fsyncPath(_ path: String) throws {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw CheckpointError(message: "\(path): cannot open for fsync") }
    defer { close(fd) }
    guard fsync(fd) == 0 else { throw CheckpointError(message: "\(path): fsync failed") }
  }

  // MARK: reading

  /// What a checkpoint holds.
  public struct Contents: Sendable {
    public var state: TrainState
    public var config: Config
    public var worldSize: Int
    /// metrics.jsonl as it was when the checkpoint was written.
    public var metrics: String
  }

  /// Reads a checkpoint collectively (each rank reads its slice, then all gather) and rebuilds
  /// the configuration it was written with. The file must have passed `inspect` on rank 0
  /// first (format, version, datasets, checksum): use `load`, or `locate` then `read`.
  public static func read(_ path: String, world: Communicator) throws -> Contents {
    do {
      let file = try File.open(path, access: .mpio(world))
      defer { try? file.close() }
      let configText = try file.stringAttribute("config")
      var config = Config()
      try config.apply(toml: configText, source: "\(path) (config attribute)")
      var networks: [NetworkName: NetworkState] = [:]
      for name in Networks.names where file.exists(name.rawValue) {
        var st = NetworkState(params: try readVector(file, "\(name)/params", world))
        st.adam.m = try readVector(file, "\(name)/adam/m", world)
        st.adam.v = try readVector(file, "\(name)/adam/v", world)
        st.adam.t = Int(try file.dataset("\(name)/adam/t").read(as: Int64.self)[0])
        networks[name] = st
      }
      let stageText = try file.stringAttribute("stage")
      guard let stage = Stage(rawValue: stageText) else {
        throw CheckpointError(message: "\(path): attribute stage: \(quoted(stageText)), expected \(stages.joined(separator: ", "))")
      }
      var state = TrainState(
        stage: stage,
        step: Int(try file.scalarAttribute("step", as: Int64.self)), networks: networks)
      state.lrScale = try file.scalarAttribute("lr_scale", as: Double.self)
      state.rollbacks = Int(try file.scalarAttribute("rollbacks", as: Int64.self))
      // Checkpoints older than DualHealth have none of these: the configuration's budget, no alerts.
      if file.hasAttribute("conjugate_max_iter") {
        state.conjugateMaxIter = Int(try file.scalarAttribute("conjugate_max_iter", as: Int64.self))
        state.dualAlerts = Int(try file.scalarAttribute("dual_alerts", as: Int64.self))
        state.dualNote = try file.stringAttribute("dual_note")
        if file.hasAttribute("best_validation") {
          state.bestValidation = try file.scalarAttribute("best_validation", as: Double.self)
          state.bestCheckpoint = try file.stringAttribute("best_checkpoint")
        }
        let cap = DualHealth.cappedBudget(max(config.conjugate.maxIter, 1))
        guard (0 ... cap).contains(state.conjugateMaxIter), state.dualAlerts >= 0 else {
          throw CheckpointError(
            message: "\(path): attribute conjugate_max_iter \(state.conjugateMaxIter) or dual_alerts \(state.dualAlerts): "
              + "must be from 0 to \(cap) and at least 0")
        }
      }
      let worldSize = Int(try file.scalarAttribute("world_size", as: Int64.self))
      let metrics = try file.stringAttribute("metrics")
      try file.close()
      return Contents(state: state, config: config, worldSize: worldSize, metrics: metrics)
    } catch let e as HDF5Error {
      throw CheckpointError(message: e.description)
    }
  }

  static func readVector(_ file: File, _ name: String, _ world: Communicator) throws -> [Float] {
    let ds = try file.dataset(name)
    let n = ds.shape.first ?? 0
    let slice = microBatches(count: n, rank: world.rank, size: world.size)
    let mine = try ds.read(as: Float.self, selection: .rows(slice), shape: [n])
    return try world.allgatherv(mine).flatMap { $0 }
  }
}
