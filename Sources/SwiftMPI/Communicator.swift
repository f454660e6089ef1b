// Communicator: a value wrapping an MPI_Comm. Freeing a derived communicator is collective, so it
// is an explicit `free()` called by every member, never an ARC side effect (docs/design.md §2).
import CMPI
import CShims
import Foundation

public struct Communicator: @unchecked Sendable {
  public let handle: MPI_Comm

  public init(handle: MPI_Comm) { self.handle = handle }

  /// MPI_COMM_WORLD.
  public static var world: Communicator { Communicator(handle: pt_mpi_comm_world()) }
  /// MPI_COMM_SELF.
  public static var selfOnly: Communicator { Communicator(handle: pt_mpi_comm_self()) }

  /// This process's rank in the communicator (MPI_Comm_rank).
  public var rank: Int {
    var r: Int32 = 0
    _ = MPI_Comm_rank(handle, &r)
    return Int(r)
  }

  /// Number of processes (MPI_Comm_size).
  public var size: Int {
    var s: Int32 = 0
    _ = MPI_Comm_size(handle, &s)
    return Int(s)
  }

  public var isRoot: Bool { rank == 0 }

  /// MPI_Barrier.
  public func barrier() throws(MPIError) {
    try check("MPI_Barrier", MPI_Barrier(handle))
  }

  /// MPI_Comm_split: processes with the same `color` form a communicator, ordered by `key`
  /// (then by rank). A nil color (MPI_UNDEFINED) returns nil for this process.
  public func split(color: Int?, key: Int = 0) throws(MPIError) -> Communicator? {
    let c = color.map { Int32($0) } ?? Int32(pt_mpi_undefined())
    var code: Int32 = 0
    let out: MPI_Comm = pt_mpi_comm_split(handle, c, Int32(key), &code)
    try check("MPI_Comm_split", code)
    if out == pt_mpi_comm_null() { return nil }
    try check("MPI_Comm_set_errhandler", MPI_Comm_set_errhandler(out, pt_mpi_errors_return()))
    return Communicator(handle: out)
  }

  /// MPI_Comm_split_type(MPI_COMM_TYPE_SHARED): the processes that can share memory with this one
  /// (those on the same host), ordered by `key` (then by rank). The caller frees it.
  public func splitShared(key: Int = 0) throws(MPIError) -> Communicator {
    var code: Int32 = 0
    let out: MPI_Comm = pt_mpi_comm_split_shared(handle, Int32(key), &code)
    try check("MPI_Comm_split_type", code)
    if out == pt_mpi_comm_null() {
      throw MPIError(function: "MPI_Comm_split_type", code: 0, message: "no shared-memory communicator")
    }
    try check("MPI_Comm_set_errhandler", MPI_Comm_set_errhandler(out, pt_mpi_errors_return()))
    return Communicator(handle: out)
  }

  /// MPI_Comm_dup: a communicator with the same group and a separate message context.
  public func dup() throws(MPIError) -> Communicator {
    var code: Int32 = 0
    let out: MPI_Comm = pt_mpi_comm_dup(handle, &code)
    try check("MPI_Comm_dup", code)
    try check("MPI_Comm_set_errhandler", MPI_Comm_set_errhandler(out, pt_mpi_errors_return()))
    return Communicator(handle: out)
  }

  /// MPI_Comm_free (collective). Never call it on `world` or `selfOnly`.
  public func free() throws(MPIError) {
    precondition(
      handle != pt_mpi_comm_world() && handle != pt_mpi_comm_self(),
      "the predefined communicators cannot be freed")
    try check("MPI_Comm_free", pt_mpi_comm_free(handle))
  }

  /// MPI_Abort on this communicator.
  public func abort(code: Int32) -> Never {
    _ = MPI_Abort(handle, code)
    fatalError("MPI_Abort returned")
  }

  /// MPI_Get_processor_name.
  public static var processorName: String {
    var buffer = [CChar](repeating: 0, count: Int(pt_mpi_max_processor_name()) + 1)
    var length: Int32 = 0
    _ = MPI_Get_processor_name(&buffer, &length)
    return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// MPI_Get_library_version (e.g. "Open MPI v4.1.4, ...").
  public static var libraryVersion: String {
    var buffer = [CChar](repeating: 0, count: Int(pt_mpi_max_library_version_string()) + 1)
    var length: Int32 = 0
    _ = MPI_Get_library_version(&buffer, &length)
    // The reported length may include the terminating NUL: keep the bytes before the first one.
    let bytes = buffer.prefix(Int(length)).prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
  }

  /// MPI_Get_version: the standard version implemented, e.g. (3, 1).
  public static var standardVersion: (major: Int, minor: Int) {
    var major: Int32 = 0, minor: Int32 = 0
    _ = MPI_Get_version(&major, &minor)
    return (Int(major), Int(minor))
  }
}
