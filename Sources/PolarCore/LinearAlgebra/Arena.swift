// All parameters of a network live in one flat arena (docs/design.md §2): a [T] vector plus a layout of
// named blocks (name, shape, offset). Layers hold their blocks and read their weights through
// pointers into the arena, so a network's gradient is one contiguous buffer that one collective
// reduces, and a checkpoint stores one vector plus the layout.

public struct ParameterBlock: Sendable, Equatable, Codable {
  public let name: String
  public let shape: [Int]
  public let offset: Int
  public var count: Int { shape.reduce(1, *) }
  public var range: Range<Int> { offset ..< offset + count }
}

public struct ArenaLayout: Sendable, Equatable, Codable {
  public private(set) var blocks: [ParameterBlock] = []
  public private(set) var count = 0

  public init() {}

  /// Appends a block of `shape` and returns it.
  public mutating func add(_ name: String, _ shape: [Int]) -> ParameterBlock {
    let b = ParameterBlock(name: name, shape: shape, offset: count)
    blocks.append(b)
    count += b.count
    return b
  }

  public func block(_ name: String) -> ParameterBlock? { blocks.first { $0.name == name } }
}

// MARK: pointer-level helpers shared by the layer kernels

/// C[m x n] <- alpha op(A) op(B) + beta C, row-major, on raw pointers (see BLASScalar.gemm).
@inline(__always)
func mm<T: BLASScalar>(
  _ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: T,
  _ a: UnsafePointer<T>, _ lda: Int, _ b: UnsafePointer<T>, _ ldb: Int,
  _ beta: T, _ c: UnsafeMutablePointer<T>, _ ldc: Int
) {
  if m == 0 || n == 0 { return }
  if k == 0 {
    for i in 0 ..< m { for j in 0 ..< n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
    return
  }
  T.gemm(
    transA: ta, transB: tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: max(1, lda), b: b,
    ldb: max(1, ldb), beta: beta, c: c, ldc: max(1, ldc))
}

extension Matrix {
  /// Read-only pointer to the storage for the duration of `body`.
  @inline(__always)
  func withPointer<R>(_ body: (UnsafePointer<T>) -> R) -> R {
    storage.withUnsafeBufferPointer { body($0.baseAddress ?? UnsafePointer(bitPattern: 8)!) }
  }
  @inline(__always)
  mutating func withMutablePointer<R>(_ body: (UnsafeMutablePointer<T>) -> R) -> R {
    storage.withUnsafeMutableBufferPointer { body($0.baseAddress ?? UnsafeMutablePointer(bitPattern: 8)!) }
  }
}

/// softplus(x) = log(1 + e^x), computed without overflow.
@inline(__always)
public func softplus<T: BLASScalar>(_ x: T) -> T {
  x > 0 ? x + T.log(onePlus: T.exp(-x)) : T.log(onePlus: T.exp(x))
}

/// sigmoid(x) = 1 / (1 + e^-x) = softplus'(x).
@inline(__always)
public func sigmoid<T: BLASScalar>(_ x: T) -> T {
  x >= 0 ? 1 / (1 + T.exp(-x)) : T.exp(x) / (1 + T.exp(x))
}

/// The inverse of softplus: log(e^y - 1), y > 0.
@inline(__always)
public func softplusInverse<T: BLASScalar>(_ y: T) -> T {
  y > 20 ? y : T.log(T.expMinusOne(y))
}
