// Checkpoints (DESIGN §4), written collectively by all ranks through MPI-IO:
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

  public static func write(_ state: TrainState, config: Config, nets: Networks, metrics: String, runID: String,
                           to path: String, world: Communicator) throws {
    let partial = path + ".partial"
    // Attribute values must be the same bytes on every rank (they are file metadata, written
    // collectively): take rank 0's clock and log.
    let created = try world.broadcast(ISO8601DateFormatter().string(from: Date()), root: 0)
    let metricsText = try world.broadcast(metrics, root: 0)
    // The write is a sequence of collective steps; after each one the ranks agree on whether any
    // failed (a full disk may fail one rank's part only), so that none goes on into the next
    // collective alone and waits there for ever.
    // Room for the file first, checked by reserving it (rank 0): a full disk or an exceeded quota
    // is then a clean error before HDF5 has written anything.
    let bytes = state.networks.values.reduce(1 << 20) { $0 + 12 * $1.params.count } + 2 * (metricsText.utf8.count + config.toml.utf8.count)
    let room = try world.broadcast(world.rank == 0 ? spaceProblem(directory: (path as NSString).deletingLastPathComponent, bytes: bytes) : "", root: 0)
    if !room.isEmpty { throw OutputError(message: "\(path): cannot write the checkpoint: \(room)") }
    let w = CollectiveSteps(world: world)
    var ok = try w.step { w.file = try File.create(partial, access: .mpio(world)) }
    if ok {
      ok = try w.step {
        guard let file = w.file else { return }
        for (name, value) in [("format", format), ("stage", state.stage), ("config", config.toml), ("created", created),
                              ("checksum", String(state.checksum, radix: 16)), ("metrics", metricsText),
                              ("program", "polar-train \(polarTrainVersion)"), ("run_id", runID)] {
          try file.setAttribute(name, value)
        }
        for (name, value) in [("version", version), ("step", Int64(state.step)), ("seed", Int64(bitPattern: config.seed)),
                              ("world_size", Int64(world.size)), ("rollbacks", Int64(state.rollbacks))] {
          try file.setAttribute(name, value)
        }
        try file.setAttribute("lr_scale", state.lrScale)
      }
    }
    for name in Networks.names {
      guard ok, let net = state.networks[name], let file = w.file else { continue }
      for (what, vector) in [("params", net.params), ("adam/m", net.adam.m), ("adam/v", net.adam.v)] where ok {
        ok = try w.step { try writeVector(file, "\(name)/\(what)", vector, world) }
      }
      if ok {
        ok = try w.step {
          try file.createDataset("\(name)/adam/t", type: .int64, shape: [1])
            .write(world.rank == 0 ? [Int64(net.adam.t)] : [], selection: world.rank == 0 ? .all : .none)
          try writeLayout(file, name, nets.layout(name), world)
        }
      }
    }
    if ok { pauseForTests(step: state.step) }
    // Every rank closes the file it opened collectively, also after a failure.
    if let file = w.file { ok = try w.step(always: true) { try file.close() } && ok }
    let failure = w.failure
    guard !ok else { return }
    let first = try world.allreduce(Int32(failure.isEmpty ? Int32.max : Int32(world.rank)), op: .min)
    let message = try world.broadcast(failure, root: Int(first))
    let directory = (path as NSString).deletingLastPathComponent
    let reason = namingFullDisk(message, directory: directory)
    // Rank 0 empties the half-written file (giving the space back) and removes it. (HDF5 keeps a
    // file it could not close and may crash on it when MPI is finalised: the space check above
    // makes this path rare, a disk filled by someone else during the write.)
    if world.rank == 0 { truncate(partial, 0); unlink(partial) }
    try world.barrier()
    throw OutputError(message: "\(path): cannot write the checkpoint: \(reason)")
  }

  /// "" when `bytes` (plus a quarter) can be allocated in `directory` (posix_fallocate of a probe
  /// file, removed at once; where the file system cannot fallocate, statvfs's free space), else
  /// what is wrong: ENOSPC or EDQUOT named as such.
  static func spaceProblem(directory: String, bytes: Int) -> String {
    let need = bytes + bytes / 4
    let probe = directory + "/.space-probe-\(getpid())"
    let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard fd >= 0 else { return "" }  // Unwritable directories are reported by the write itself.
    let code = posix_fallocate(fd, 0, off_t(need))
    close(fd)
    unlink(probe)
    if code == ENOSPC || code == EDQUOT { return "\(describeErrno(code)): it needs about \(need / 1000) kB in \(directory)" }
    guard code != 0 else { return "" }
    var fs = statvfs()
    if statvfs(directory, &fs) == 0 && UInt64(fs.f_bavail) * UInt64(fs.f_frsize) < UInt64(need) {
      return "\(describeErrno(ENOSPC)): it needs about \(need / 1000) kB in \(directory)"
    }
    return ""
  }

  /// An I/O message with a full disk or an exceeded quota said first, so that nobody has to read
  /// HDF5's or MPI-IO's words for it (which vary: errno = 28, MPI_ERR_NO_SPACE, ...).
  static func namingFullDisk(_ message: String, directory: String) -> String {
    let m = message.lowercased()
    if m.contains("quota") || m.contains("errno = 122") { return "\(describeErrno(EDQUOT)) [\(message)]" }
    var fs = statvfs()
    let full = statvfs(directory, &fs) == 0 && UInt64(fs.f_bavail) * UInt64(fs.f_frsize) < 1 << 20
    if full || m.contains("no space") || m.contains("not enough space") || m.contains("errno = 28") || m.contains("no_space") {
      return "\(describeErrno(ENOSPC)) [\(message)]"
    }
    return message
  }

  /// ckpt-<stage>-<step>.h5, or one being written.
  static func isCheckpointFile(_ name: String) -> Bool {
    name.hasPrefix("ckpt-") && (name.hasSuffix(".h5") || name.hasSuffix(".h5.partial"))
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
  public static func publish(_ path: String, keep: Int, onlyRun: String? = nil, world: Communicator) throws {
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
        try prune(dir, keep: keep, newest: (path as NSString).lastPathComponent, onlyRun: onlyRun)
      } catch {
        unlink(path + ".partial")
        failure = "\(path): cannot publish checkpoint: \(namingFullDisk("\(error)", directory: (path as NSString).deletingLastPathComponent))"
      }
    }
    let message = try world.broadcast(failure, root: 0)
    if !message.isEmpty { throw OutputError(message: message) }
  }

  /// Deletes all but the newest `keep` checkpoints (by modification order of publication).
  static func prune(_ dir: String, keep: Int, newest: String, onlyRun: String?) throws {
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
    for (name, _) in dated.dropLast(keep) where name != newest {
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
      var networks: [String: NetworkState] = [:]
      for name in Networks.names where file.exists(name) {
        var st = NetworkState(params: try readVector(file, "\(name)/params", world))
        st.adam.m = try readVector(file, "\(name)/adam/m", world)
        st.adam.v = try readVector(file, "\(name)/adam/v", world)
        st.adam.t = Int(try file.dataset("\(name)/adam/t").read(as: Int64.self)[0])
        networks[name] = st
      }
      var state = TrainState(stage: try file.stringAttribute("stage"),
                             step: Int(try file.scalarAttribute("step", as: Int64.self)), networks: networks)
      state.lrScale = try file.scalarAttribute("lr_scale", as: Double.self)
      state.rollbacks = Int(try file.scalarAttribute("rollbacks", as: Int64.self))
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

/// Collective HDF5 calls in lockstep: after each step every rank knows whether any rank failed.
final class CollectiveSteps {
  let world: Communicator
  var file: File? = nil
  /// This rank's first failure ("" while none).
  var failure = ""

  init(world: Communicator) { self.world = world }

  /// Runs `body` (unless this rank already failed, or with `always`), then agrees: true when no
  /// rank has failed so far.
  func step(always: Bool = false, _ body: () throws -> Void) throws -> Bool {
    if failure.isEmpty || always {
      do { try body() } catch let e as HDF5Error { if failure.isEmpty { failure = e.description } }
    }
    return try world.allreduce(Int32(failure.isEmpty ? 0 : 1), op: .max) == 0
  }
}

/// A checkpoint problem: exit status 4.
public struct CheckpointError: Error, CustomStringConvertible {
  public let message: String
  public init(message: String) { self.message = message }
  public var description: String { message }
}
