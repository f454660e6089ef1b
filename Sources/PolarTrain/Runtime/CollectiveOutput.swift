// Writing one HDF5 file collectively without losing data or hanging (issue 16): the file is made
// as `<path>.partial` after rank 0 has reserved room for it (a full disk or quota is then a
// clean error before HDF5 writes anything), filled in steps after each of which the ranks agree
// whether any failed (a rank that failed must not leave the others waiting in the next
// collective), closed by every rank, and renamed to `<path>` by rank 0 only when all succeeded.
// On any failure the `.partial` is removed and every rank throws the same OutputError (exit 2),
// naming ENOSPC / EDQUOT as such. Checkpoints and the outputs of apply, sample and langevin use it.
import Foundation
import ParallelHDF5
import SwiftMPI

public final class CollectiveOutput {
  public let path: String
  let world: Communicator
  let what: String
  private(set) var file: File? = nil
  /// This rank's first failure ("" while none).
  private var failure = ""

  /// Reserves `bytes` (rank 0), then creates `path.partial` on every rank. `what` names the file
  /// in messages ("checkpoint", "output").
  public init(creating path: String, bytes: Int, what: String, world: Communicator) throws {
    self.path = path
    self.world = world
    self.what = what
    let directory = (path as NSString).deletingLastPathComponent
    // Fault tests: POLAR_TRAIN_TEST_SKIP_SPACE_CHECK=1 leaves the disk to fill up during the write.
    let skip = ProcessInfo.processInfo.environment["POLAR_TRAIN_TEST_SKIP_SPACE_CHECK"] == "1"
    let room = try world.broadcast(
      world.rank == 0 && !skip ? spaceProblem(directory: directory.isEmpty ? "." : directory, bytes: bytes) : "",
      root: 0)
    if !room.isEmpty { throw OutputError(message: "\(path): cannot write the \(what): \(room)") }
    try step(always: true) { self.file = try File.create(path + ".partial", access: .mpio(world)) }
  }

  /// The whole life of an output file of a command (apply, sample, langevin): created as
  /// `path.partial` after the room is reserved, filled by `body` (its steps agree, `write` and
  /// `dataset`), closed and renamed into place; on a failure on any rank the `.partial` is removed
  /// and every rank throws the same error. Collective.
  public static func produce(
    _ path: String, bytes: Int, what: String = "output", world: Communicator,
    _ body: (CollectiveOutput) throws -> Void
  ) throws {
    let out = try agreeing(world) { try CollectiveOutput(creating: path, bytes: bytes, what: what, world: world) }
    do {
      try agreeing(world) { try body(out) }
      try agreeing(world) { try out.publish() }
    } catch {
      try? out.abandon()
      throw error
    }
  }

  /// Runs `body` on the file on every rank, then agrees; when any rank failed, every rank closes
  /// the file, rank 0 removes it, and all throw the first failing rank's message.
  public func write(_ body: (File) throws -> Void) throws {
    try step { if let file { try body(file) } }
  }

  /// One dataset as its own step: created with `shape` (collective), this rank's `values` written
  /// at `selection` (rank 0 alone: `rankZero`, the others write nothing).
  public func dataset<T: HDF5Scalar>(
    _ name: String, _ type: ElementType, _ shape: [Int], _ values: [T],
    _ selection: Selection, rankZero: Bool = false
  ) throws {
    let mine = !rankZero || world.rank == 0
    try write { try $0.createDataset(name, type: type, shape: shape).write(mine ? values : [], selection: mine ? selection : .none) }
  }

  /// Closes the file on every rank (it stays `path.partial`), agreeing as after a write.
  public func close() throws {
    try step { try file?.close() }
  }

  /// Closes the file on every rank and, when every rank succeeded, renames it into place (rank 0).
  public func publish() throws {
    try close()
    var message = ""
    if world.rank == 0 {
      do { try publishPartial(path) } catch { message = "\(error)" }
    }
    let failed = try world.broadcast(message, root: 0)
    if !failed.isEmpty { throw OutputError(message: failed) }
  }

  /// After a failure outside the file that every rank agreed on (an input row met while
  /// streaming): every rank closes the file, rank 0 empties and removes the `.partial`. Collective.
  public func abandon() throws {
    if let file, file.isOpen { try? file.close() }
    if world.rank == 0 { truncate(path + ".partial", 0); unlink(path + ".partial") }
    try world.barrier()
  }

  private func step(always: Bool = false, _ body: () throws -> Void) throws {
    if failure.isEmpty || always {
      do { try body() } catch let e as HDF5Error { if failure.isEmpty { failure = e.description } }
    }
    guard try world.allreduce(Int32(failure.isEmpty ? 0 : 1), op: .max) != 0 else { return }
    // Every rank closes what it opened collectively (a failed close is already a failure).
    if let file, file.isOpen { do { try file.close() } catch { if failure.isEmpty { failure = "\(error)" } } }
    let first = try world.allreduce(Int32(failure.isEmpty ? Int32.max : Int32(world.rank)), op: .min)
    let message = try world.broadcast(failure, root: Int(first))
    let directory = (path as NSString).deletingLastPathComponent
    let reason = namingFullDisk(message, directory: directory.isEmpty ? "." : directory)
    // Rank 0 empties the half-written file (giving the space back) and removes it. (HDF5 keeps a
    // file it could not close and may crash on it when MPI is finalised: the space reserved
    // first makes this path rare, a disk filled by someone else during the write.)
    if world.rank == 0 { truncate(path + ".partial", 0); unlink(path + ".partial") }
    try world.barrier()
    throw OutputError(message: "\(path): cannot write the \(what): \(reason)")
  }
}

/// "" when `bytes` (plus a quarter) can be allocated in `directory` (posix_fallocate of a probe
/// file, removed at once; where the file system cannot fallocate, statvfs's free space), else
/// what is wrong: ENOSPC or EDQUOT named as such.
func spaceProblem(directory: String, bytes: Int) -> String {
  let need = bytes / 4 > Int.max - bytes ? Int.max : bytes + bytes / 4
  let probe = directory + "/.space-probe-\(getpid())"
  let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
  guard fd >= 0 else { return "" }  // An unwritable directory is reported by the write itself.
  let code = posix_fallocate(fd, 0, off_t(need))
  close(fd)
  unlink(probe)
  if code == ENOSPC || code == EDQUOT { return "\(describeErrno(code)): it needs about \(need / 1000) kB in \(directory)" }
  guard code != 0 else { return "" }
  var fs = statvfs()
  if statvfs(directory, &fs) == 0 && fs.f_blocks > 0 && UInt64(fs.f_bavail) * UInt64(fs.f_frsize) < UInt64(need) {
    return "\(describeErrno(ENOSPC)): it needs about \(need / 1000) kB in \(directory)"
  }
  return ""
}

/// An I/O message with a full disk or an exceeded quota said first, so that nobody has to read
/// HDF5's or MPI-IO's words for it (which vary: errno = 28, MPI_ERR_NO_SPACE, ...).
func namingFullDisk(_ message: String, directory: String) -> String {
  let m = message.lowercased()
  if m.contains("quota") || m.contains("errno = 122") { return "\(describeErrno(EDQUOT)) [\(message)]" }
  var fs = statvfs()
  // A file system with no blocks at all (/proc, /sys) is not a full one.
  let full = statvfs(directory, &fs) == 0 && fs.f_blocks > 0 && UInt64(fs.f_bavail) * UInt64(fs.f_frsize) < 1 << 20
  if full || m.contains("no space") || m.contains("not enough space") || m.contains("errno = 28") || m.contains("no_space") {
    return "\(describeErrno(ENOSPC)) [\(message)]"
  }
  return message
}

/// Checks, on every rank before anything is computed or written, that `output` may be written:
/// a path, not a directory, in a directory that exists, and not one of the command's inputs
/// (nor its `.partial`, which is written first).
/// Inside a run directory (a marker beside it, or above a report/), only `runFile` (samples.h5
/// for `sample`, langevin.h5 for `langevin`) or a name the run does not own may be written.
public func checkOutputFile(_ output: String, inputs: [(flag: String, path: String)], runFile: String? = nil) throws {
  guard !output.trimmingCharacters(in: .whitespaces).isEmpty else {
    throw OutputError(message: "--output: empty path: name the file to write")
  }
  let target = resolvedPath(output)
  var isDir: ObjCBool = false
  var info = stat()
  if lstat(target, &info) == 0 {
    // Only a regular file is replaced, and never one a run owns (a checkpoint, its marker, log,
    // configuration or `latest`): /dev/null or a run's config.toml are not outputs.
    if info.st_mode & S_IFMT == S_IFDIR { throw OutputError(message: "--output \(output): is a directory; name the file to write") }
    guard info.st_mode & S_IFMT == S_IFREG else {
      throw OutputError(message: "--output \(output): exists and is not a regular file (a device, a FIFO, a socket); name a file to write")
    }
    let name = (target as NSString).lastPathComponent, parent = (target as NSString).deletingLastPathComponent
    let inRun = FileManager.default.fileExists(atPath: parent + "/" + RunMarker.fileName)
    let inReport =
      (parent as NSString).lastPathComponent == "report"
      && FileManager.default.fileExists(atPath: (parent as NSString).deletingLastPathComponent + "/" + RunMarker.fileName)
    let runOwned = inReport || (inRun && ["samples.h5", "langevin.h5"].contains(name) && name != runFile)
    if [RunMarker.fileName, "config.toml", "metrics.jsonl", "latest"].contains(name) || Checkpoint.isCheckpointFile(name)
      || runOwned || Checkpoint.isCheckpoint(target)
    {
      throw OutputError(
        message:
          "--output \(output): is a checkpoint or another file of a training run (\(name)); writing it would destroy the run's data: choose another output")
    }
  }
  let parent = (target as NSString).deletingLastPathComponent
  guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDir), isDir.boolValue else {
    throw OutputError(message: "--output \(output): the directory \(parent) does not exist")
  }
  for (flag, input) in inputs where !input.isEmpty {
    if [target, target + ".partial"].contains(where: { sameFile($0, input) }) {
      throw OutputError(message: "--output \(output): is the \(flag) file; writing it would destroy that input: choose another output")
    }
  }
}

/// `--output` as rank 0 resolves it, for every rank (ranks started in other working directories
/// would otherwise open different files collectively and wait for each other for ever); a blank
/// path stays blank, for checkOutputFile to refuse.
public func sharedOutputPath(_ output: String, world: Communicator) throws -> String {
  output.trimmingCharacters(in: .whitespaces).isEmpty ? output : try world.broadcast(resolvedPath(output), root: 0)
}

/// The same file: the same resolved path, or the same device and inode (a hard link).
func sameFile(_ a: String, _ b: String) -> Bool {
  if resolvedPath(a) == resolvedPath(b) { return true }
  var sa = stat(), sb = stat()
  return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
}
