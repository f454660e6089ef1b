// The reduction of the data-parallel steps (docs/design.md §1 steps 1-2, §3). A global batch of B
// samples is cut into B / micro_batch micro-batches; rank r takes a contiguous block of them. Each
// micro-batch is drawn, solved and differentiated on its own, with fixed shapes, giving one
// contribution vector [gradients | statistics]; all contributions of all ranks are summed in one
// fused all-reduce (exact: bitwise the same for any N; fast: a float all-reduce). Every rank then
// takes the same optimizer step, so the replicas stay identical.
import CAllocationCount
import Foundation
import PolarCore
import SwiftMPI

/// Which micro-batches rank r of n processes: a contiguous block (uneven when n does not divide).
public func microBatches(count: Int, rank: Int, size: Int) -> Range<Int> {
  (count * rank / size) ..< (count * (rank + 1) / size)
}

/// Sums per-micro-batch contribution vectors over all ranks. Each micro-batch writes its
/// contribution into its slot of one buffer kept from step to step (with the exact sum's
/// workspaces and the result), so a step's reduction allocates nothing once warmed up.
/// `lastSeconds`: the wall time the latest sum kept the step waiting (local summation, the
/// all-reduces and the wait for the slowest rank, minus what ran behind the work), for the log.
final class Reducer {
  let world: Communicator
  let exact: Bool
  private(set) var lastSeconds = 0.0
  /// Heap allocations made inside the sums so far (Open MPI's all-reduce takes temporary
  /// buffers on 2 or more ranks; the sum's own code allocates nothing once warmed up).
  private(set) var allocations: UInt = 0
  // This rank's contributions, one after another (for `sum(early:)`: all the early parts, then
  // all the late ones). Allocated, not an Array: an overlapped all-reduce reads it while the
  // late parts are written.
  private var slots = UnsafeMutableBufferPointer<Float>(start: nil, count: 0)
  private var total: [Float] = []
  private var workspaces: [Int: ExactSumWorkspace<Float>] = [:]
  private var overlapped: OverlappedSum?
  private var poll: () -> Void = {}
  private var lastPoll = 0.0, pollCost = 0.0  // seconds: the last poll's end, a poll's mean cost

  init(world: Communicator, exact: Bool) {
    self.world = world
    self.exact = exact
  }

  deinit { slots.deallocate() }

  private func reserve(_ k: Int, _ count: Int) {
    if slots.count != k * count {
      slots.deallocate()
      slots = .allocate(capacity: k * count)
      slots.initialize(repeating: 0)
    }
    if total.count != count { total = [Float](repeating: 0, count: count) }
  }

  /// result = the sum over all ranks of k contributions of result.count values each (blocking).
  private func reduce(_ c: UnsafeBufferPointer<Float>, _ k: Int, into r: UnsafeMutableBufferPointer<Float>) throws {
    let n = r.count
    if exact {
      let w = workspaces[n] ?? ExactSumWorkspace<Float>(count: n)
      workspaces[n] = w
      try world.exactSum(c, into: r, workspace: w)
      return
    }
    for i in 0 ..< n { r[i] = 0 }
    for j in 0 ..< k { for i in 0 ..< n { r[i] += c[j * n + i] } }
    try world.allreduce(inPlace: r, op: .sum)
  }

  /// The sum over all ranks of the contributions `fill(m, slot)` writes (every value of its
  /// slot, `count` long) for the micro-batches m of this rank. The result is valid until the
  /// next call.
  func sum(
    count: Int, microBatches mine: Range<Int>,
    _ fill: (_ microBatch: Int, _ slot: UnsafeMutableBufferPointer<Float>) -> Void
  ) throws -> [Float] {
    reserve(mine.count, count)
    for (j, m) in mine.enumerated() { fill(m, UnsafeMutableBufferPointer(rebasing: slots[j * count ..< (j + 1) * count])) }
    let t0 = MPIEnvironment.wallTime(), a0 = pt_thread_allocations()
    defer {
      lastSeconds = MPIEnvironment.wallTime() - t0
      allocations += pt_thread_allocations() - a0
    }
    try total.withUnsafeMutableBufferPointer { try reduce(UnsafeBufferPointer(slots), mine.count, into: $0) }
    return total
  }

  /// The same sum in two parts. `first(m, slot)` writes the first `early` values of micro-batch
  /// m's contribution, for every micro-batch of this rank; their all-reduce starts at once,
  /// nonblocking, on a communicator of its own. Then `rest(m, slot, poll)` writes the other
  /// count - early values, calling `poll` now and then to let MPI move the first all-reduce on.
  /// With `overlap` false it is `sum(count:)`, each micro-batch's two passes in a row. The sum
  /// is elementwise, so the bits are the same either way (docs/design.md §3, "Overlap").
  func sum(
    count: Int, early: Int, overlap: Bool, microBatches mine: Range<Int>,
    first: (_ microBatch: Int, _ slot: UnsafeMutableBufferPointer<Float>) -> Void,
    rest: (_ microBatch: Int, _ slot: UnsafeMutableBufferPointer<Float>, _ poll: @escaping () -> Void) -> Void
  ) throws -> [Float] {
    if !overlap {
      // Each contribution whole in its slot, [early | late], and one fused sum after the solves,
      // as `sum(count:)`: no communicator of its own, no extra collective.
      return try sum(count: count, microBatches: mine) { m, slot in
        first(m, UnsafeMutableBufferPointer(rebasing: slot[..<early]))
        rest(m, UnsafeMutableBufferPointer(rebasing: slot[early...])) {}
      }
    }
    let k = mine.count, late = count - early
    reserve(k, count)
    if overlapped?.count != early {  // collective (a dup of the world): every rank's first call
      let o = try OverlappedSum(comm: world.dup(), count: early, exact: exact)
      overlapped = o
      // Made once (passing it allocates nothing). A poll costs little over shared memory but
      // tens of microseconds over TCP (Open MPI runs its event loop), and the solver offers one
      // per evaluation: it polls only when 20 times its mean cost has passed since the last, so
      // polling takes at most about 5% of the time (launch/bench-scaling measured 5-20% more
      // per step without the limit).
      poll = { [unowned self, unowned o] in
        let t = MPIEnvironment.wallTime()
        if t - self.lastPoll < 20 * self.pollCost { return }
        self.counted { o.progress() }
        self.lastPoll = MPIEnvironment.wallTime()
        self.pollCost += 0.1 * (self.lastPoll - t - self.pollCost)
      }
    }
    let o = overlapped!, earlyParts = UnsafeBufferPointer(rebasing: slots[..<(k * early)])
    for (j, m) in mine.enumerated() { first(m, UnsafeMutableBufferPointer(rebasing: slots[j * early ..< (j + 1) * early])) }
    // Only the reduction's own calls count as its allocations (MPI's buffers), not the work
    // between them, which the step's zero-allocation check covers.
    var waited = MPIEnvironment.wallTime()
    try counted { try o.start(earlyParts, k) }
    waited = MPIEnvironment.wallTime() - waited
    for (j, m) in mine.enumerated() {
      let lo = k * early + j * late
      rest(m, UnsafeMutableBufferPointer(rebasing: slots[lo ..< lo + late]), poll)
      poll()
    }
    let t0 = MPIEnvironment.wallTime()
    try counted {
      try total.withUnsafeMutableBufferPointer { r in
        try reduce(UnsafeBufferPointer(rebasing: slots[(k * early)...]), k, into: UnsafeMutableBufferPointer(rebasing: r[early...]))
        try o.finish(into: UnsafeMutableBufferPointer(rebasing: r[..<early]))
      }
    }
    lastSeconds = waited + MPIEnvironment.wallTime() - t0
    return total
  }

  /// Runs `body`, counting its heap allocations as the reduction's.
  private func counted<R>(_ body: () throws -> R) rethrows -> R {
    let a0 = pt_thread_allocations()
    defer { allocations += pt_thread_allocations() - a0 }
    return try body()
  }
}

/// A sum over ranks that runs while the caller works: the exact sum's nonblocking form, or for
/// fast reduction the local sum then one nonblocking float all-reduce.
final class OverlappedSum {
  let count: Int
  private let exactRequest: ExactSumRequest<Float>?
  private let comm: Communicator
  private let buffer: UnsafeMutableBufferPointer<Float>  // fast: the local sum, then the total
  private var request = Request()
  private var failure: Error?

  init(comm: Communicator, count: Int, exact: Bool) {
    self.comm = comm
    self.count = count
    exactRequest = exact ? ExactSumRequest<Float>(comm: comm, count: count) : nil
    buffer = .allocate(capacity: exact ? 0 : count)
    buffer.initialize(repeating: 0)
  }

  deinit { buffer.deallocate() }

  /// Starts the sum of k contributions of `count` values (kept valid until `finish`).
  func start(_ c: UnsafeBufferPointer<Float>, _ k: Int) throws {
    if let exactRequest { return try exactRequest.start(c) }
    for i in 0 ..< count { buffer[i] = 0 }
    for j in 0 ..< k { for i in 0 ..< count { buffer[i] += c[j * count + i] } }
    request = try comm.iallreduce(inPlace: buffer, op: .sum)
  }

  func progress() {
    if let exactRequest { return exactRequest.progress() }
    guard failure == nil else { return }
    do { _ = try request.test() } catch { failure = error }
  }

  func finish(into r: UnsafeMutableBufferPointer<Float>) throws {
    if let exactRequest { return try exactRequest.finish(into: r) }
    if let failure { throw failure }
    try request.wait()
    for i in 0 ..< count { r[i] = buffer[i] }
  }
}

/// Aggregated figures of one step, for the log.
public struct StepFigures: Sendable {
  public var values: [String: Double] = [:]
}
