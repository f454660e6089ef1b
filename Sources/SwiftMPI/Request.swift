// Nonblocking collectives (MPI-3): a request in flight, advanced by `test` and ended by `wait`.
// MPI progresses a nonblocking collective only inside MPI calls (Open MPI's and MPICH's TCP paths
// have no progress thread by default), so a caller overlapping one with work polls `test` now and
// then. The handle's representation stays in the C shim.
import CMPI
import CShims

/// One nonblocking operation. `null` once complete (or never started).
public struct Request {
  var handle: MPI_Request = pt_mpi_request_null()

  public init() {}

  public var isNull: Bool { handle == pt_mpi_request_null() }

  /// MPI_Test: true once the operation is complete (the request is then null), else false after
  /// letting MPI progress it.
  public mutating func test() throws(MPIError) -> Bool {
    if isNull { return true }
    var done: Int32 = 0, code: Int32 = 0
    handle = pt_mpi_test(handle, &done, &code)
    try check("MPI_Test", code)
    return done != 0
  }

  /// MPI_Wait: blocks until the operation is complete.
  public mutating func wait() throws(MPIError) {
    if isNull { return }
    var code: Int32 = 0
    handle = pt_mpi_wait(handle, &code)
    try check("MPI_Wait", code)
  }
}

extension Communicator {
  /// MPI_Iallreduce in place: buffer[i] <- op over ranks of buffer[i] once the request completes.
  /// The buffer must stay valid and untouched until then; every rank starts the same
  /// nonblocking collectives on a communicator in the same order.
  public func iallreduce<T: MPIScalar>(inPlace buffer: UnsafeMutableBufferPointer<T>, op: ReduceOp) throws(MPIError) -> Request {
    let n = try mpiCount(buffer.count, "MPI_Iallreduce")
    var code: Int32 = 0
    var r = Request()
    r.handle = pt_mpi_iallreduce(pt_mpi_in_place(), buffer.baseAddress, n, T.mpiDatatype, op.handle, handle, &code)
    try check("MPI_Iallreduce", code)
    return r
  }
}
