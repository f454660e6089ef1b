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
/// workspace and the result), so a step's reduction allocates nothing once warmed up.
/// `lastSeconds`: the wall time of the latest sum (local summation, the all-reduces and the wait
/// for the slowest rank; not the contributions' work), for the log.
final class Reducer {
  let world: Communicator
  let exact: Bool
  private(set) var lastSeconds = 0.0
  /// Heap allocations made inside the sums so far (Open MPI's all-reduce takes temporary
  /// buffers on 2 or more ranks; the sum's own code allocates nothing once warmed up).
  private(set) var allocations: UInt = 0
  private var slots: [Float] = []  // this rank's contributions, one after another
  private var total: [Float] = []
  private var workspace: ExactSumWorkspace<Float>?

  init(world: Communicator, exact: Bool) {
    self.world = world
    self.exact = exact
  }

  /// The sum over all ranks of the contributions `fill(m, slot)` writes (every value of its
  /// slot, `count` long) for the micro-batches m of this rank. The result is valid until the
  /// next call.
  func sum(
    count: Int, microBatches mine: Range<Int>,
    _ fill: (_ microBatch: Int, _ slot: UnsafeMutableBufferPointer<Float>) -> Void
  ) throws -> [Float] {
    if slots.count != mine.count * count { slots = [Float](repeating: 0, count: mine.count * count) }
    if total.count != count { total = [Float](repeating: 0, count: count) }
    slots.withUnsafeMutableBufferPointer { s in
      for (k, m) in mine.enumerated() { fill(m, UnsafeMutableBufferPointer(rebasing: s[k * count ..< (k + 1) * count])) }
    }
    if exact && workspace?.count != count { workspace = ExactSumWorkspace<Float>(count: count) }
    let t0 = MPIEnvironment.wallTime(), a0 = pt_thread_allocations()
    defer {
      lastSeconds = MPIEnvironment.wallTime() - t0
      allocations += pt_thread_allocations() - a0
    }
    if exact {
      try slots.withUnsafeBufferPointer { (s) throws(MPIError) in
        try total.withUnsafeMutableBufferPointer { (r) throws(MPIError) in try world.exactSum(s, into: r, workspace: workspace!) }
      }
      return total
    }
    slots.withUnsafeBufferPointer { s in
      total.withUnsafeMutableBufferPointer { r in
        for i in 0 ..< count { r[i] = 0 }
        for k in 0 ..< mine.count { for i in 0 ..< count { r[i] += s[k * count + i] } }
      }
    }
    try world.allreduce(&total, op: .sum)
    return total
  }
}

/// Aggregated figures of one step, for the log.
public struct StepFigures: Sendable {
  public var values: [String: Double] = [:]
}
