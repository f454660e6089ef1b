// Every collective of SwiftMPI against values each rank computes locally.
import SwiftMPI

/// A value rank r holds at position i, for every scalar type (small, so UInt8 sums fit).
func value<T: Numeric>(_ r: Int, _ i: Int, _ make: (Int) -> T) -> T { make((r * 7 + i * 3) % 11) }

func checkCollectives(_ world: Communicator) throws {
  try checkType(world, "Float") { Float($0) - 3.25 }
  try checkType(world, "Double") { Double($0) * 1.5 - 4 }
  try checkType(world, "Int32") { Int32($0) - 5 }
  try checkType(world, "Int64") { Int64($0) * 1_000_000_007 }
  try checkType(world, "UInt8") { UInt8($0) }
  try checkCommunicators(world)
  try checkErrors(world)
}

func checkType<T: MPIScalar & Numeric & Comparable>(
  _ world: Communicator, _ name: String,
  _ make: (Int) -> T
) throws {
  let (rank, size) = (world.rank, world.size)
  let n = 17
  let mine = (0 ..< n).map { value(rank, $0, make) }
  let all = (0 ..< size).map { r in (0 ..< n).map { value(r, $0, make) } }
  let sum = (0 ..< n).map { i in all.reduce(T.zero) { $0 + $1[i] } }
  let mx = (0 ..< n).map { i in all.map { $0[i] }.max()! }
  let mn = (0 ..< n).map { i in all.map { $0[i] }.min()! }

  // allreduce out of place, in place, scalar
  try expect(try world.allreduce(mine, op: .sum) == sum, "\(name) allreduce sum")
  try expect(try world.allreduce(mine, op: .max) == mx, "\(name) allreduce max")
  try expect(try world.allreduce(mine, op: .min) == mn, "\(name) allreduce min")
  var inPlace = mine
  try world.allreduce(&inPlace, op: .sum)
  try expect(inPlace == sum, "\(name) allreduce sum in place")
  inPlace = mine
  try world.allreduce(&inPlace, op: .max)
  try expect(inPlace == mx, "\(name) allreduce max in place")
  inPlace = mine
  try world.allreduce(&inPlace, op: .min)
  try expect(inPlace == mn, "\(name) allreduce min in place")
  try expect(try world.allreduce(mine[3], op: .sum) == sum[3], "\(name) scalar allreduce")

  // broadcast from the last rank
  var b = mine
  try world.broadcast(&b, root: size - 1)
  try expect(b == all[size - 1], "\(name) broadcast")

  // gather / allgather: equal counts, rank order
  for root in (size > 1 ? [0, size - 1] : [0]) {
    let g = try world.gather(mine, root: root)
    try expect(rank == root ? g == all.flatMap { $0 } : g == nil, "\(name) gather to \(root)")
  }
  try expect(try world.allgather(mine) == all.flatMap { $0 }, "\(name) allgather")

  // gatherv / allgatherv: rank r sends r + 1 values (rank 0 of a 1-rank run sends 1)
  let ragged = { (r: Int) in Array(all[r].prefix(r + 1)) }
  let gv = try world.gatherv(ragged(rank), root: 0)
  if rank == 0 {
    try expect(gv! == (0 ..< size).map(ragged), "\(name) gatherv")
  } else {
    try expect(gv == nil, "\(name) gatherv on non-root")
  }
  try expect(try world.allgatherv(ragged(rank)) == (0 ..< size).map(ragged), "\(name) allgatherv")
  // an empty contribution
  let withEmpty = try world.allgatherv(rank == 0 ? [] : ragged(rank))
  try expect(withEmpty[0].isEmpty && withEmpty.count == size, "\(name) allgatherv empty")

  // reduce-scatter with uneven counts: rank r receives r + 2 sums
  let counts = (0 ..< size).map { $0 + 2 }
  let total = counts.reduce(0, +)
  let long = (0 ..< total).map { value(rank, $0, make) }
  let longSum = (0 ..< total).map { i in (0 ..< size).reduce(T.zero) { $0 + value($1, i, make) } }
  let offset = counts.prefix(rank).reduce(0, +)
  let rs = try world.reduceScatter(long, counts: counts, op: .sum)
  try expect(rs == Array(longSum[offset ..< offset + counts[rank]]), "\(name) reduce-scatter")
}

/// split, dup and free, with a collective on each new communicator.
func checkCommunicators(_ world: Communicator) throws {
  let (rank, size) = (world.rank, world.size)
  let half = try world.split(color: rank % 2, key: -rank)!
  let members = (0 ..< size).filter { $0 % 2 == rank % 2 }
  try expect(half.size == members.count, "split size")
  // key -rank reverses the order inside each colour
  try expect(half.rank == members.reversed().firstIndex(of: rank)!, "split rank order")
  let s = try half.allreduce([Int64(rank)], op: .sum)[0]
  try expect(s == Int64(members.reduce(0, +)), "allreduce on split communicator")
  try half.free()

  let none = try world.split(color: rank == 0 ? nil : 1)
  try expect((rank == 0) == (none == nil), "split with MPI_UNDEFINED")
  try none?.free()

  let copy = try world.dup()
  try expect(copy.size == size && copy.rank == rank, "dup")
  try expect(try copy.broadcast("hello from rank 0 ✓", root: 0) == "hello from rank 0 ✓", "string broadcast")
  try copy.free()
}

/// MPI_ERRORS_RETURN: a bad call throws MPIError carrying MPI_Error_string's text.
func checkErrors(_ world: Communicator) throws {
  var buffer: [Int32] = [1, 2, 3]
  do {
    try world.broadcast(&buffer, root: world.size + 5)
    throw CheckFailure(description: "broadcast with an invalid root did not throw")
  } catch let error as MPIError {
    try expect(error.function == "MPI_Bcast", "MPIError names the function: \(error)")
    try expect(error.message.lowercased().contains("root"), "MPIError text from MPI_Error_string: \(error)")
  }
}
