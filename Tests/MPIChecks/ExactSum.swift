// The exact sum: the same bytes whatever the number of ranks and the order of contributions.
// Every rank can build all contributions, so the expected answer is computed locally too.
import CAllocationCount
import Foundation
import SwiftMPI

/// Contribution j of `count`, length n: adversarial magnitudes 1e-30 .. 1e30 and cancellation.
func contribution(_ j: Int, count: Int, n: Int, seed: UInt64) -> [Double] {
  var state = seed &+ UInt64(j) &* 0x9E37_79B9_7F4A_7C15
  func next() -> Double {  // xorshift-multiply, deterministic, enough for test data
    state ^= state >> 12; state ^= state << 25; state ^= state >> 27
    return Double((state &* 0x2545_F491_4F6C_DD1D) >> 11) * 0x1p-53
  }
  return (0 ..< n).map { i in
    switch i % 6 {
    case 0: (next() - 0.5) * pow(10, Double(Int(next() * 60) - 30))  // 1e-30 .. 1e30
    case 1: j % 2 == 0 ? 1e30 : -1e30  // cancels across pairs
    case 2: (j == count - 1 ? -1.0 : 1.0 / Double(count - 1)) * 3.0e20 + next()  // cancellation
    case 3: 1e-30 * (next() + 0.5)  // all tiny
    case 4: next() - 0.5
    default: j == 0 ? 1e25 : 1e-5 * next()  // one big, many small
    }
  }
}

func checkExactSum(_ world: Communicator, _ args: [String]) throws {
  let seed = UInt64(args.first ?? "1") ?? 1
  let count = 12, n = 600
  let all = (0 ..< count).map { contribution($0, count: count, n: n, seed: seed) }
  // Rank r owns contributions r, r + size, ... (round robin, so grouping changes with N).
  let mine = Array(stride(from: world.rank, to: count, by: world.size))
  var outputs = [String]()
  for type in ["float", "double"] {
    let forward: [Double], backward: [Double]
    if type == "float" {
      forward = try exact(world, mine.map { all[$0].map { Float($0) } }).map(Double.init)
      backward = try exact(world, mine.reversed().map { all[$0].map { Float($0) } }).map(Double.init)
      let bytes = forward.map { Float($0).bitPattern }
      outputs.append("float " + bytes.map { String($0, radix: 16) }.joined(separator: ","))
      // Float contributions take an integer-only path: the same bits as the same values summed
      // as Doubles and rounded to Float.
      let viaDouble = try exact(world, mine.map { all[$0].map { Double(Float($0)) } }).map { Float($0) }
      try expect(
        forward.map { Float($0).bitPattern } == viaDouble.map(\.bitPattern),
        "float path differs from the double path at \(zip(forward, viaDouble).enumerated().first { Float($0.1.0) != $0.1.1 }.map { "\($0.0): \($0.1)" } ?? "?")"
      )
      // Against a Double-accumulated reference, to Float rounding.
      for i in 0 ..< n {
        let terms = all.map { Double(Float($0[i])) }
        let ref = terms.reduce(0, +), scale = terms.reduce(0) { $0 + abs($1) }
        try expect(
          abs(forward[i] - ref) <= 0x1p-24 * abs(ref) + 0x1p-40 * scale,
          "float exact sum[\(i)] = \(forward[i]), reference \(ref)")
      }
    } else {
      forward = try exact(world, mine.map { all[$0] })
      backward = try exact(world, mine.reversed().map { all[$0] })
      outputs.append("double " + forward.map { String($0.bitPattern, radix: 16) }.joined(separator: ","))
      for i in 0 ..< n {
        let terms = all.map { $0[i] }
        let ref = terms.reduce(0, +), scale = terms.reduce(0) { $0 + abs($1) }
        try expect(abs(forward[i] - ref) <= 0x1p-52 * abs(ref) + 0x1p-48 * scale, "double exact sum[\(i)] = \(forward[i]), reference \(ref)")
      }
    }
    try expect(
      forward.map(\.bitPattern) == backward.map(\.bitPattern),
      "\(type): order of contributions changed the bytes")
  }
  try checkExactSumRequest(world, mine.map { all[$0].map { Float($0) } })
  try checkExactSumAllocations(world)
  // Single-buffer form: rank r contributes (r + 1) * 0.1 everywhere.
  var v = [Float](repeating: Float(world.rank + 1) * 0.1, count: 5)
  try world.exactSum(&v)
  let expected = Float((1 ... world.size).reduce(0.0) { $0 + Double(Float($1) * 0.1) })
  try expect(v.allSatisfy { $0 == expected }, "in-place exact sum \(v) vs \(expected)")
  // Non-finite values.
  var special: [Double] = [
    world.rank == 0 ? .nan : 1, world.rank == 0 ? .infinity : 2,
    world.rank == 0 ? .infinity : (world.size > 1 && world.rank == 1 ? -.infinity : 3),
    0,
  ]
  try world.exactSum(&special)
  try expect(special[0].isNaN && special[1] == .infinity && special[3] == 0, "exact sum NaN/Inf \(special)")
  try expect(world.size > 1 ? special[2].isNaN : special[2] == .infinity, "exact sum +Inf with -Inf \(special)")
  // The same through the Float path, with finite values beside them: the non-finite flags go
  // in a second all-reduce only when some rank has one (here only the last rank does, in
  // element 4), and must not disturb the finite sums.
  let last = world.rank == world.size - 1
  var specialF: [Float] = [last ? .nan : 1, last ? .infinity : 2, 0.5, 0, last ? -.infinity : 0.25]
  try world.exactSum(&specialF)
  let finite = Float(Double(world.size) * 0.5)
  try expect(
    specialF[0].isNaN && specialF[1] == .infinity && specialF[2] == finite && specialF[3] == 0
      && specialF[4] == -.infinity, "Float exact sum with NaN/Inf \(specialF)")
  var plain: [Float] = [1, 2, 0.5]
  try world.exactSum(&plain)
  try expect(plain == [Float(world.size), Float(2 * world.size), finite], "Float exact sum without non-finite \(plain)")
  if world.rank == 0 {
    for line in outputs { print(line) }
  }
}

func exact<T: ExactSummable>(_ world: Communicator, _ parts: [[T]]) throws -> [T] {
  try world.exactSum(parts, count: 600)
}

/// exact-sum-timing [K N REPS]: the median wall time of an exact and of a fast (Float all-reduce)
/// sum of K contributions of N Floats per rank, through a workspace; rank 0 prints both.
func exactSumTiming(_ world: Communicator, _ args: [String]) throws {
  let v = args.compactMap { Int($0) }
  let k = v.count > 0 ? v[0] : 8, n = v.count > 1 ? v[1] : 45000, reps = v.count > 2 ? v[2] : 50
  var slots = [Float](repeating: 0, count: k * n)
  for i in slots.indices { slots[i] = Float(sin(Double(i) * 0.37 + Double(world.rank))) * 1e-3 }
  var result = [Float](repeating: 0, count: n)
  let workspace = ExactSumWorkspace<Float>(count: n)
  var exact = [Double](), fast = [Double](), allocations = [UInt]()
  exact.reserveCapacity(reps); fast.reserveCapacity(reps); allocations.reserveCapacity(reps)
  for _ in 0 ..< reps {
    let a0 = pt_thread_allocations()
    try world.barrier()
    var t0 = MPIEnvironment.wallTime()
    try slots.withUnsafeBufferPointer { s in
      try result.withUnsafeMutableBufferPointer { r in try world.exactSum(s, into: r, workspace: workspace) }
    }
    exact.append(MPIEnvironment.wallTime() - t0)
    allocations.append(pt_thread_allocations() - a0)
    try world.barrier()
    t0 = MPIEnvironment.wallTime()
    for i in 0 ..< n { result[i] = 0 }
    for j in 0 ..< k { for i in 0 ..< n { result[i] += slots[j * n + i] } }
    try world.allreduce(&result, op: .sum)
    fast.append(MPIEnvironment.wallTime() - t0)
  }
  if world.rank == 0 {
    print("allocations per exact sum: \(allocations.prefix(3)) ... \(allocations.suffix(3))")
    print(
      String(
        format: "exact %.3f ms fast %.3f ms (K %d N %d, %d ranks)", exact.sorted()[reps / 2] * 1e3,
        fast.sorted()[reps / 2] * 1e3, k, n, world.size))
  }
}

/// A warmed-up exact sum through a workspace allocates nothing of its own (the training step's
/// reduction): on one rank nothing at all, on more exactly what Open MPI allocates inside two
/// all-reduces of the same types and sizes (its ring all-reduce takes temporary buffers).
func checkExactSumAllocations(_ world: Communicator) throws {
  let k = 3, n = 5000
  let slots = (0 ..< k * n).map { Float(sin(Double($0 + world.rank))) }
  var result = [Float](repeating: 0, count: n)
  var header = [Int16](repeating: 0, count: n), digits = [Double](repeating: 0, count: 2 * n)
  let workspace = ExactSumWorkspace<Float>(count: n)
  var own = [UInt](), mpi = [UInt]()
  for _ in 0 ..< 6 {
    var a0 = pt_thread_allocations()
    try slots.withUnsafeBufferPointer { s in
      try result.withUnsafeMutableBufferPointer { r in try world.exactSum(s, into: r, workspace: workspace) }
    }
    own.append(pt_thread_allocations() - a0)
    a0 = pt_thread_allocations()
    try header.withUnsafeMutableBufferPointer { try world.allreduce(inPlace: $0, op: .max) }
    try digits.withUnsafeMutableBufferPointer { try world.allreduce(inPlace: $0, op: .sum) }
    mpi.append(pt_thread_allocations() - a0)
  }
  // After two warm-up rounds; Open MPI's own count varies by one now and then on 4 ranks, so the
  // fewest of each: one allocation of ours per sum would show.
  let ours = own.dropFirst(2).min()!, theirs = mpi.dropFirst(2).min()!
  try expect(
    ours <= theirs && (world.size > 1 || own.dropFirst(2).allSatisfy { $0 == 0 }),
    "exact sum allocations \(own) against the all-reduces' own \(mpi)")
}

/// The nonblocking form (ExactSumRequest, on a dup of the world) gives the bits of the blocking
/// one: finished by polling alone, with a world all-reduce and local work between polls; finished
/// by waiting; with a NaN and an Inf in one rank's contributions; and with a rank that has none.
func checkExactSumRequest(_ world: Communicator, _ parts: [[Float]]) throws {
  let n = 600
  let blocking: [Float] = try world.exactSum(parts, count: n)
  let flat = Array(parts.joined())
  let request = ExactSumRequest<Float>(comm: try world.dup(), count: n)
  var result = [Float](repeating: 0, count: n)
  func run(_ c: [Float], polls: Bool) throws -> [Float] {
    try c.withUnsafeBufferPointer { s in
      try request.start(s)
      if polls {
        // Until no rank's sum is in flight; the MAX is another collective on the world meanwhile.
        var spins = 0
        while try world.allreduce(Int32(request.inFlight ? 1 : 0), op: .max) != 0 {
          request.progress()
          spins += 1
          try expect(spins < 1_000_000, "ExactSumRequest: polling never completed")
        }
      }
      try result.withUnsafeMutableBufferPointer { try request.finish(into: $0) }
    }
    return result
  }
  for polls in [true, false] {
    let r = try run(flat, polls: polls)
    try expect(r.map(\.bitPattern) == blocking.map(\.bitPattern), "nonblocking exact sum (polls: \(polls)) differs from the blocking one")
  }
  // A rank without contributions (the last one, when there are several) and a non-finite value.
  var special = flat
  if !special.isEmpty { special[3] = .nan; special[4] = world.rank == 0 ? .infinity : 1 }
  let none = world.size > 1 && world.rank == world.size - 1
  let mineSpecial = none ? [] : special
  var expected = [Float](repeating: 0, count: n)
  try mineSpecial.withUnsafeBufferPointer { c in
    try expected.withUnsafeMutableBufferPointer { try world.exactSum(c, into: $0, workspace: ExactSumWorkspace<Float>(count: n)) }
  }
  let r = try run(mineSpecial, polls: true)
  try expect(
    r.map(\.bitPattern) == expected.map(\.bitPattern) && r[3].isNaN,
    "nonblocking exact sum with NaN/Inf or an empty rank differs: \(r[3]) \(r[4]) vs \(expected[3]) \(expected[4])")
}
