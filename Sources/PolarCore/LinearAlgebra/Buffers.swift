// One allocation holding every work buffer of an evaluator or solver, as llm.c points its
// activations into one block (sizes first, then one malloc, then a pointer per slice): a Plan lists
// the slices (element type and count), Buffers allocates the block once and hands out each
// slice's pointer, and its deinit frees the block, so no deinit lists the buffers again. A step
// that runs on the slices allocates nothing.

public final class Buffers {
  /// A slice of the block: `count` elements of E at byte `offset`.
  public struct Slice<E>: Sendable {
    let offset: Int
    let count: Int
  }

  /// The slices, in order; each starts on a 64-byte boundary (a cache line, AVX-512's width).
  public struct Plan: Sendable {
    public private(set) var bytes = 0
    public init() {}

    /// Room for `count` elements of E.
    public mutating func add<E: BitwiseCopyable>(_: E.Type, _ count: Int) -> Slice<E> {
      precondition(count >= 0, "Buffers.Plan: negative count")
      let offset = (bytes + Buffers.alignment - 1) / Buffers.alignment * Buffers.alignment
      bytes = offset + max(count, 1) * MemoryLayout<E>.stride
      return Slice(offset: offset, count: count)
    }
  }

  static let alignment = 64
  private let base: UnsafeMutableRawPointer

  /// Allocates the plan's block, zero-filled.
  public init(_ plan: Plan) {
    base = .allocate(byteCount: max(plan.bytes, 1), alignment: Buffers.alignment)
    base.initializeMemory(as: UInt8.self, repeating: 0, count: max(plan.bytes, 1))
  }

  deinit { base.deallocate() }

  /// The slice's elements, each set to `value`; valid while this object lives.
  public func pointer<E: BitwiseCopyable>(_ s: Slice<E>, _ value: E) -> UnsafeMutablePointer<E> {
    let p = (base + s.offset).bindMemory(to: E.self, capacity: max(s.count, 1))
    p.initialize(repeating: value, count: max(s.count, 1))
    return p
  }
}
