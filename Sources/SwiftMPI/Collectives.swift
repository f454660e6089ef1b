// Collectives over typed buffers. Each has a buffer-pointer form (for flat parameter arenas, no
// copies) and an array form. Counts and displacements are in elements of T.
import CMPI
import CShims

extension Communicator {
  // MARK: allreduce

  /// MPI_Allreduce in place: buffer[i] <- op over ranks of buffer[i].
  public func allreduce<T: MPIScalar>(
    inPlace buffer: UnsafeMutableBufferPointer<T>,
    op: ReduceOp
  ) throws(MPIError) {
    let n = try mpiCount(buffer.count, "MPI_Allreduce")
    try check(
      "MPI_Allreduce",
      MPI_Allreduce(pt_mpi_in_place(), buffer.baseAddress, n, T.mpiDatatype, op.handle, handle))
  }

  /// MPI_Allreduce out of place into `result` (same count as `send`).
  public func allreduce<T: MPIScalar>(
    _ send: UnsafeBufferPointer<T>,
    into result: UnsafeMutableBufferPointer<T>,
    op: ReduceOp
  ) throws(MPIError) {
    precondition(result.count == send.count, "allreduce: result count differs from send count")
    let n = try mpiCount(send.count, "MPI_Allreduce")
    try check(
      "MPI_Allreduce",
      MPI_Allreduce(send.baseAddress, result.baseAddress, n, T.mpiDatatype, op.handle, handle))
  }

  public func allreduce<T: MPIScalar>(_ buffer: inout [T], op: ReduceOp) throws(MPIError) {
    try buffer.withUnsafeMutableBufferPointer { (p) throws(MPIError) in
      try allreduce(inPlace: p, op: op)
    }
  }

  public func allreduce<T: MPIScalar>(_ send: [T], op: ReduceOp) throws(MPIError) -> [T] {
    var result = [T](repeating: T.zero, count: send.count)
    try send.withUnsafeBufferPointer { (s) throws(MPIError) in
      try result.withUnsafeMutableBufferPointer { (r) throws(MPIError) in
        try allreduce(s, into: r, op: op)
      }
    }
    return result
  }

  public func allreduce<T: MPIScalar>(_ value: T, op: ReduceOp) throws(MPIError) -> T {
    try allreduce([value], op: op)[0]
  }

  // MARK: broadcast

  /// MPI_Bcast of `buffer` from `root`; every rank passes a buffer of the same count.
  public func broadcast<T: MPIScalar>(_ buffer: UnsafeMutableBufferPointer<T>, root: Int) throws(MPIError) {
    let n = try mpiCount(buffer.count, "MPI_Bcast")
    try check("MPI_Bcast", MPI_Bcast(buffer.baseAddress, n, T.mpiDatatype, Int32(root), handle))
  }

  public func broadcast<T: MPIScalar>(_ buffer: inout [T], root: Int = 0) throws(MPIError) {
    try buffer.withUnsafeMutableBufferPointer { (p) throws(MPIError) in try broadcast(p, root: root) }
  }

  /// Broadcasts an array whose length only the root knows.
  public func broadcastArray<T: MPIScalar>(_ values: [T], root: Int = 0) throws(MPIError) -> [T] {
    var count = [Int64(values.count)]
    try broadcast(&count, root: root)
    var out = rank == root ? values : [T](repeating: T.zero, count: Int(count[0]))
    try broadcast(&out, root: root)
    return out
  }

  /// Broadcasts a string (UTF-8) from the root.
  public func broadcast(_ string: String, root: Int = 0) throws(MPIError) -> String {
    let bytes = try broadcastArray(Array(string.utf8), root: root)
    return String(decoding: bytes, as: UTF8.self)
  }

  // MARK: gather

  /// MPI_Gather: every rank sends the same count; the root receives size * count values in rank
  /// order, other ranks receive nil.
  public func gather<T: MPIScalar>(_ send: [T], root: Int = 0) throws(MPIError) -> [T]? {
    let n = try mpiCount(send.count, "MPI_Gather")
    var result = [T](repeating: T.zero, count: rank == root ? send.count * size : 0)
    try send.withUnsafeBufferPointer { (s) throws(MPIError) in
      try result.withUnsafeMutableBufferPointer { (r) throws(MPIError) in
        try check(
          "MPI_Gather",
          MPI_Gather(
            s.baseAddress, n, T.mpiDatatype,
            r.baseAddress, n, T.mpiDatatype, Int32(root), handle))
      }
    }
    return rank == root ? result : nil
  }

  /// MPI_Gatherv: ranks send different counts; the root receives each rank's values.
  public func gatherv<T: MPIScalar>(_ send: [T], root: Int = 0) throws(MPIError) -> [[T]]? {
    let counts = try gather([Int32(try mpiCount(send.count, "MPI_Gatherv"))], root: root)
    let (displs, total) = try Communicator.displacements(counts ?? [])
    var flat = [T](repeating: T.zero, count: rank == root ? total : 0)
    try send.withUnsafeBufferPointer { (s) throws(MPIError) in
      try flat.withUnsafeMutableBufferPointer { (r) throws(MPIError) in
        try check(
          "MPI_Gatherv",
          MPI_Gatherv(
            s.baseAddress, Int32(send.count), T.mpiDatatype, r.baseAddress,
            counts, displs, T.mpiDatatype, Int32(root), handle))
      }
    }
    guard let counts, rank == root else { return nil }
    return Communicator.unflatten(flat, counts: counts)
  }

  // MARK: allgather

  /// MPI_Allgather: every rank sends the same count and receives size * count values.
  public func allgather<T: MPIScalar>(_ send: [T]) throws(MPIError) -> [T] {
    let n = try mpiCount(send.count, "MPI_Allgather")
    var result = [T](repeating: T.zero, count: send.count * size)
    try send.withUnsafeBufferPointer { (s) throws(MPIError) in
      try result.withUnsafeMutableBufferPointer { (r) throws(MPIError) in
        try check(
          "MPI_Allgather",
          MPI_Allgather(
            s.baseAddress, n, T.mpiDatatype,
            r.baseAddress, n, T.mpiDatatype, handle))
      }
    }
    return result
  }

  /// MPI_Allgatherv: ranks send different counts; everyone receives every rank's values.
  public func allgatherv<T: MPIScalar>(_ send: [T]) throws(MPIError) -> [[T]] {
    let counts = try allgather([Int32(try mpiCount(send.count, "MPI_Allgatherv"))])
    let (displs, total) = try Communicator.displacements(counts)
    var flat = [T](repeating: T.zero, count: total)
    try send.withUnsafeBufferPointer { (s) throws(MPIError) in
      try flat.withUnsafeMutableBufferPointer { (r) throws(MPIError) in
        try check(
          "MPI_Allgatherv",
          MPI_Allgatherv(
            s.baseAddress, Int32(send.count), T.mpiDatatype, r.baseAddress,
            counts, displs, T.mpiDatatype, handle))
      }
    }
    return Communicator.unflatten(flat, counts: counts)
  }

  // MARK: reduce-scatter

  /// MPI_Reduce_scatter: `send` (same length on every rank, = sum of `counts`) is reduced
  /// elementwise and rank r receives the r-th block of `counts[r]` values.
  public func reduceScatter<T: MPIScalar>(_ send: [T], counts: [Int], op: ReduceOp) throws(MPIError) -> [T] {
    precondition(counts.count == size, "reduceScatter: one count per rank")
    precondition(counts.reduce(0, +) == send.count, "reduceScatter: counts must sum to send.count")
    var c32 = [Int32]()
    for c in counts { c32.append(try mpiCount(c, "MPI_Reduce_scatter")) }
    var result = [T](repeating: T.zero, count: counts[rank])
    try send.withUnsafeBufferPointer { (s) throws(MPIError) in
      try result.withUnsafeMutableBufferPointer { (r) throws(MPIError) in
        try check(
          "MPI_Reduce_scatter",
          MPI_Reduce_scatter(s.baseAddress, r.baseAddress, c32, T.mpiDatatype, op.handle, handle))
      }
    }
    return result
  }

  // MARK: helpers

  static func displacements(_ counts: [Int32]) throws(MPIError) -> ([Int32], Int) {
    var displs = [Int32]()
    var total = 0
    for c in counts {
      displs.append(try mpiCount(total, "displacement"))
      total += Int(c)
    }
    return (displs, total)
  }

  static func unflatten<T>(_ flat: [T], counts: [Int32]) -> [[T]] {
    var out = [[T]]()
    var at = 0
    for c in counts {
      out.append(Array(flat[at ..< at + Int(c)]))
      at += Int(c)
    }
    return out
  }
}
