import SwiftMPI

// Input files every rank opens together (docs/design.md §3). A collective HDF5/MPI-IO open, or a
// broadcast after rank 0 looked at a checkpoint, hangs the ranks that can read the file when
// another rank cannot (a node-local path on a cluster). So before any collective open of an
// input, every rank opens it for reading itself (open(2), O_RDONLY, a regular file) and the ranks
// compare, in one all-gather, what they saw: the same name, readable everywhere, the same size.
// Every rank reaches the same verdict; rank 0 prints it and all ranks throw it together.
#if canImport(Glibc)
  import Glibc
#endif

/// What an input file holds, for the exit status of a refusal: 3 for data, 4 for a checkpoint.
public enum SharedInput: Sendable {
  case data, checkpoint

  var status: Int32 { self == .data ? 3 : 4 }
}

/// Checks on every rank that `path` is a regular file this rank can open for reading, and that
/// every rank names the same path and sees the same size. Collective: every rank must call it.
/// Throws the same CommandFailure (already printed by rank 0) on every rank otherwise; `what`
/// names the setting or option the path came from, e.g. "problem.file" or "--input".
public func agreeReadable(_ path: String, _ kind: SharedInput, what: String? = nil, world: Communicator) throws {
  // This rank's view: [hash of the name, errno of open (0: opened), regular file (1, a directory 2,
  // else 0), size, fingerprint of the contents (edgeFingerprint)].
  var seen: [Int64] = [Int64(bitPattern: fnv1a([path])), 0, 0, -1, 0]
  let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)  // O_NONBLOCK: a FIFO must not block
  if fd < 0 {
    seen[1] = Int64(errno)
  } else {
    var info = stat()
    if fstat(fd, &info) == 0 {
      seen[2] = (info.st_mode & S_IFMT) == S_IFREG ? 1 : (info.st_mode & S_IFMT) == S_IFDIR ? 2 : 0
      seen[3] = Int64(info.st_size)
      if seen[2] == 1 { seen[4] = Int64(bitPattern: edgeFingerprint(fd, size: Int(info.st_size))) }
    } else {
      seen[1] = Int64(errno)
    }
    close(fd)
  }
  let all = try world.allgather(seen)
  let ranks = (0 ..< world.size).map { Array(all[5 * $0 ..< 5 * $0 + 5]) }
  guard let problem = readabilityProblem(ranks, noun: kind == .checkpoint ? "a checkpoint file" : "a data file") else { return }
  throw agreedFailure(status: kind.status, "\(path): \(problem)" + (what.map { " (\($0))" } ?? ""), world: world)
}

/// The verdict on what the ranks saw (one [name hash, errno, regular, size] per rank), or nil
/// when every rank can read the same regular file of the same size.
func readabilityProblem(_ ranks: [[Int64]], noun: String = "a file") -> String? {
  func reason(_ code: Int64) -> String { String(cString: strerror(Int32(code))) }
  if let other = ranks.firstIndex(where: { $0[0] != ranks[0][0] }) {
    return "rank \(other) names another file than rank 0 does"
  }
  let failing = ranks.indices.filter { ranks[$0][1] != 0 }
  if let first = failing.first {
    let code = ranks[first][1]
    if failing.count == ranks.count && ranks.allSatisfy({ $0[1] == code }) {
      return code == Int64(ENOENT) ? "no such file" : "cannot open it: \(reason(code))"
    }
    return "rank \(first) cannot open it: \(reason(code))"
  }
  if ranks.allSatisfy({ $0[2] == 2 }) { return "is a directory, not \(noun)" }
  if let first = ranks.firstIndex(where: { $0[2] != 1 }) {
    return ranks.allSatisfy({ $0[2] != 1 }) ? "not a regular file" : "rank \(first) sees no regular file there"
  }
  if let other = ranks.firstIndex(where: { $0[3] != ranks[0][3] }) {
    return "differs between ranks (rank \(other) sees \(ranks[other][3]) bytes, rank 0 \(ranks[0][3]))"
  }
  if let other = ranks.firstIndex(where: { $0.count > 4 && $0[4] != ranks[0][4] }) {
    return "differs between ranks (rank \(other) sees other contents than rank 0, of the same size)"
  }
  return nil
}

/// FNV-1a of a file's bytes, whole up to 256 MiB, else its first and last 64 KiB (HDF5 keeps its
/// superblock, attributes and most metadata there): different files of one size are told apart.
func edgeFingerprint(_ fd: Int32, size: Int) -> UInt64 {
  var h: UInt64 = 0xcbf2_9ce4_8422_2325
  var buffer = [UInt8](repeating: 0, count: 1 << 16)
  // Files up to 256 MiB whole (a field file, a checkpoint of a few million parameters); beyond, the edges.
  let offsets = size <= 1 << 28 ? Array(stride(from: 0, to: max(size, 1), by: buffer.count)) : Set([0, max(0, size - buffer.count)]).sorted()
  for offset in offsets {
    let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
    for byte in buffer.prefix(max(0, n)) { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
  }
  return h
}

/// FNV-1a (64 bits) of strings, each followed by a 0 byte: a cheap fingerprint to compare
/// between ranks (arguments, configurations, paths).
func fnv1a(_ parts: [String]) -> UInt64 {
  var h: UInt64 = 0xcbf2_9ce4_8422_2325
  for part in parts {
    for byte in part.utf8 { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
    h = (h ^ 0) &* 0x0000_0100_0000_01b3
  }
  return h
}
