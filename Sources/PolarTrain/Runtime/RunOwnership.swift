// What a run owns (issue 16): the run directory carries a marker, `.polar-train-run`, written when
// the run is created, with a run id. Only a directory holding the marker (or a run made before
// markers, recognised by its files) may be replaced by --force or continued by --resume; a
// checkpoint directory outside the run directory (an absolute checkpoint.dir, e.g. a shared
// scratch file system) gets a subdirectory per run, `<checkpoint.dir>/<run id>/`, so pruning,
// `latest` and --resume auto only ever see the run's own checkpoints. A relative checkpoint.dir
// stays inside the run directory (one that leaves it is refused).
import Foundation

/// The run directory's marker file: `run_id`, and the checkpoint layout.
public struct RunMarker: Sendable, Equatable {
  public static let fileName = ".polar-train-run"

  public enum Layout: String, Sendable {
    /// Checkpoints inside the run directory, or in `<checkpoint.dir>/<run id>/` outside it.
    case own
    /// A run made before markers: checkpoints directly in checkpoint.dir, wherever it is; only
    /// files carrying this run's id are pruned there.
    case flat
  }

  public var runID: String
  public var layout: Layout
  /// Where the marker was made (resolved): a copied run directory shows another path, so --force
  /// leaves the checkpoints it shares with its original alone. Empty when unknown.
  public var directory = ""

  public init(runID: String, layout: Layout, directory: String = "") {
    self.runID = runID
    self.layout = layout
    self.directory = directory
  }

  /// A new id: UTC time and 32 random bits, e.g. 20261203-234426-3f2a9c1e (sorts by creation).
  public static func newID() -> String {
    let f = DateFormatter()
    f.locale = Locale(identifier: "en_US_POSIX")
    f.timeZone = TimeZone(identifier: "UTC")
    f.dateFormat = "yyyyMMdd-HHmmss"
    return f.string(from: Date()) + "-" + String(format: "%08x", UInt32.random(in: 0 ... .max))
  }

  var text: String {
    "# polar-train run directory: this marker lets --resume and --force recognise the run\n"
      + "run_id = \"\(runID)\"\nlayout = \"\(layout.rawValue)\"\ndirectory = \(tomlString(directory))\n"
  }

  /// The marker of `run`, nil when there is none; throws when it is unreadable or damaged.
  public static func read(run: String) throws -> RunMarker? {
    let path = run + "/" + fileName
    guard FileManager.default.fileExists(atPath: path) else { return nil }
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
      throw OutputError(message: "\(path): unreadable run marker")
    }
    var fields: [String: String] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
      let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
      guard parts.count == 2, parts[1].hasPrefix("\""), parts[1].hasSuffix("\""), parts[1].count >= 2 else { continue }
      fields[parts[0]] = String(parts[1].dropFirst().dropLast())
    }
    guard let id = fields["run_id"], isValidID(id), let layout = Layout(rawValue: fields["layout"] ?? "") else {
      throw OutputError(message: "\(path): damaged run marker (expected run_id and layout)")
    }
    return RunMarker(runID: id, layout: layout, directory: fields["directory"] ?? "")
  }

  /// Ids name a directory: letters, digits, '-' and '_' only.
  static func isValidID(_ id: String) -> Bool {
    !id.isEmpty && id.count <= 64
      && id.unicodeScalars.allSatisfy {
        ($0.isASCII && CharacterSet.alphanumerics.contains($0)) || $0 == "-" || $0 == "_"
      }
  }

  /// Creates the marker (a complete temporary file linked into place with link(2), which fails
  /// when a marker exists: of two runs started in one directory at the same moment, one wins).
  func create(run: String) throws {
    let path = run + "/" + RunMarker.fileName, tmp = path + ".\(getpid()).tmp"
    try writeFile(tmp, text, append: false)
    defer { unlink(tmp) }
    guard link(tmp, path) == 0 else {
      let code = errno
      if code == EEXIST { throw OutputError(message: "\(run): another polar-train train started in this directory at the same time") }
      throw OutputError(message: "\(path): cannot create the run marker: \(describeErrno(code))")
    }
  }
}

/// An advisory lock (flock(2)) on a run's marker, taken by rank 0 before anything in the run
/// directory changes and held until the process ends: a second `train` on the same run (a
/// requeued job overlapping the old one, a second shell, --force on a running run) is refused
/// instead of interleaving or deleting checkpoints. Where the file system has no flock (ENOLCK,
/// EOPNOTSUPP), there is no lock.
enum RunLock {
  /// The locked marker's descriptor, kept open until exit (-1: none).
  nonisolated(unsafe) static var held: Int32 = -1

  static func acquire(run: String) throws {
    let path = run + "/" + RunMarker.fileName
    var onDisk = stat(), mine = stat()
    if held >= 0 && stat(path, &onDisk) == 0 && fstat(held, &mine) == 0 && onDisk.st_ino == mine.st_ino && onDisk.st_dev == mine.st_dev {
      return
    }
    if held >= 0 { close(held); held = -1 }
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw OutputError(message: "\(path): cannot open the run marker: \(describeErrno(errno))") }
    if flock(fd, LOCK_EX | LOCK_NB) == 0 {
      held = fd
      return
    }
    let code = errno
    close(fd)
    if code == EWOULDBLOCK {
      throw OutputError(
        message: "\(run): in use by another running polar-train train (its marker is locked); "
          + "wait for it to end or stop it (kill -USR1) first")
    }
  }
}

/// Paths as the commands resolve them: absolute, `.` and `..` removed, symbolic links of the part
/// that exists resolved (what `realpath -m` prints).
public func resolvedPath(_ path: String) -> String {
  let parts = lexicalPath(path).split(separator: "/").map(String.init)
  // Resolve links on the longest prefix that exists, then append the rest.
  var prefix = parts.count
  while prefix > 0 {
    let candidate = "/" + parts[..<prefix].joined(separator: "/")
    if let real = realpath(candidate, nil) {
      defer { free(real) }
      let rest = parts[prefix...].joined(separator: "/")
      let base = String(cString: real)
      return rest.isEmpty ? base : (base == "/" ? "/" : base + "/") + rest
    }
    prefix -= 1
  }
  return "/" + parts.joined(separator: "/")
}

/// `path` lies at or below `directory` (both lexically normalised, absolute).
func isInside(_ path: String, _ directory: String) -> Bool {
  path == directory || path.hasPrefix(directory == "/" ? "/" : directory + "/")
}

/// Writes `text` to `path` through `path.tmp` and rename(2), naming a full disk or quota as such.
public func writeFileAtomically(_ path: String, _ text: String) throws {
  let tmp = path + ".tmp"
  do {
    try writeFile(tmp, text, append: false)
    try atomicReplace(path, with: tmp)
  } catch {
    unlink(tmp)
    throw error
  }
}

/// Writes (fsynced) or appends `text` to `path` with POSIX calls, so that a failure is an error
/// value naming errno (Foundation's FileHandle.write traps on ENOSPC).
func writeFile(_ path: String, _ text: String, append: Bool) throws {
  let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0o644)
  guard fd >= 0 else { throw OutputError(message: "\(path): cannot open for writing: \(describeErrno(errno))") }
  var failure: Int32 = 0
  Array(text.utf8).withUnsafeBytes { bytes in
    var offset = 0
    while offset < bytes.count {
      let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
      if n < 0 {
        if errno == EINTR { continue }
        failure = errno
        return
      }
      offset += n
    }
  }
  if failure == 0 && !append && fsync(fd) != 0 && errno != EINVAL { failure = errno }
  if close(fd) != 0 && failure == 0 { failure = errno }
  if failure != 0 { throw OutputError(message: "\(path): cannot write: \(describeErrno(failure))") }
}

/// strerror, with the two errors a user must recognise at once spelled out.
public func describeErrno(_ code: Int32) -> String {
  switch code {
  case ENOSPC: "the disk is full (ENOSPC: \(String(cString: strerror(code))))"
  case EDQUOT: "the disk quota is exceeded (EDQUOT: \(String(cString: strerror(code))))"
  default: String(cString: strerror(code))
  }
}
