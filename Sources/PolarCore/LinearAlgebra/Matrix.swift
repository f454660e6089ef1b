// Matrix: row-major, contiguous storage, generic over Float and Double; element (i, j) sits at
// storage[i * cols + j]. The BLAS conveniences below take whole matrices; the models (later) use
// the pointer-level BLASScalar functions on views into flat parameter arenas.
public struct Matrix<T: BLASScalar>: Equatable, Sendable {
  public let rows: Int
  public let cols: Int
  public var storage: [T]

  public init(rows: Int, cols: Int, repeating value: T = 0) {
    precondition(rows >= 0 && cols >= 0, "negative matrix shape")
    self.rows = rows
    self.cols = cols
    storage = [T](repeating: value, count: rows * cols)
  }

  public init(rows: Int, cols: Int, storage: [T]) {
    precondition(storage.count == rows * cols, "storage has \(storage.count) values, need \(rows * cols)")
    self.rows = rows
    self.cols = cols
    self.storage = storage
  }

  /// From nested rows: Matrix([[1, 2], [3, 4]]).
  public init(_ nested: [[T]]) {
    let r = nested.count, c = nested.first?.count ?? 0
    precondition(nested.allSatisfy { $0.count == c }, "ragged rows")
    self.init(rows: r, cols: c, storage: nested.flatMap { $0 })
  }

  /// The n x n identity.
  public static func identity(_ n: Int) -> Matrix {
    var m = Matrix(rows: n, cols: n)
    for i in 0 ..< n { m[i, i] = 1 }
    return m
  }

  public var shape: (rows: Int, cols: Int) { (rows, cols) }

  @inline(__always)
  public subscript(i: Int, j: Int) -> T {
    get { storage[i * cols + j] }
    set { storage[i * cols + j] = newValue }
  }

  /// Row i as an array.
  public func row(_ i: Int) -> [T] { Array(storage[i * cols ..< (i + 1) * cols]) }
  /// Rows `r` as a matrix of their own (a copy).
  public func rows(_ r: Range<Int>) -> Matrix { Matrix(rows: r.count, cols: cols, storage: Array(storage[r.lowerBound * cols ..< r.upperBound * cols])) }

  public var transposed: Matrix {
    var out = Matrix(rows: cols, cols: rows)
    for i in 0 ..< rows { for j in 0 ..< cols { out[j, i] = self[i, j] } }
    return out
  }

  /// Frobenius norm sqrt(sum a_ij^2).
  public var frobeniusNorm: T { storage.reduce(T(0)) { $0 + $1 * $1 }.squareRoot() }

  /// max_ij |a_ij - b_ij|.
  public func maxAbsDifference(_ other: Matrix) -> T {
    precondition(rows == other.rows && cols == other.cols, "shape mismatch")
    var m: T = 0
    for (a, b) in zip(storage, other.storage) { m = Swift.max(m, (a - b).magnitude) }
    return m
  }
}

// MARK: BLAS on matrices

/// C <- alpha * op(A) op(B) + beta * C (gemm), op = transpose when the flag is set.
public func gemm<T>(
  _ a: Matrix<T>, transposeA: Bool = false, _ b: Matrix<T>, transposeB: Bool = false,
  alpha: T = 1, beta: T = 0, into c: inout Matrix<T>
) {
  let (m, k) = transposeA ? (a.cols, a.rows) : (a.rows, a.cols)
  let (kb, n) = transposeB ? (b.cols, b.rows) : (b.rows, b.cols)
  precondition(k == kb, "gemm: inner dimensions \(k) and \(kb) differ")
  precondition(c.rows == m && c.cols == n, "gemm: C is \(c.rows)x\(c.cols), expected \(m)x\(n)")
  guard m > 0 && n > 0 else { return }
  if k == 0 {  // BLAS would leave C unscaled in some builds: do it explicitly
    for i in c.storage.indices { c.storage[i] = beta == 0 ? 0 : beta * c.storage[i] }
    return
  }
  a.storage.withUnsafeBufferPointer { pa in
    b.storage.withUnsafeBufferPointer { pb in
      c.storage.withUnsafeMutableBufferPointer { pc in
        T.gemm(
          transA: transposeA, transB: transposeB, m: m, n: n, k: k, alpha: alpha,
          a: pa.baseAddress!, lda: max(1, a.cols), b: pb.baseAddress!, ldb: max(1, b.cols),
          beta: beta, c: pc.baseAddress!, ldc: max(1, c.cols))
      }
    }
  }
}

/// op(A) op(B) as a new matrix.
public func matmul<T>(
  _ a: Matrix<T>, transposeA: Bool = false, _ b: Matrix<T>,
  transposeB: Bool = false
) -> Matrix<T> {
  var c = Matrix<T>(rows: transposeA ? a.cols : a.rows, cols: transposeB ? b.rows : b.cols)
  gemm(a, transposeA: transposeA, b, transposeB: transposeB, into: &c)
  return c
}

/// y <- alpha * op(A) x + beta * y (gemv).
public func gemv<T>(
  _ a: Matrix<T>, transpose: Bool = false, _ x: [T], alpha: T = 1, beta: T = 0,
  into y: inout [T]
) {
  let (m, n) = transpose ? (a.cols, a.rows) : (a.rows, a.cols)
  precondition(x.count == n && y.count == m, "gemv: shapes \(a.rows)x\(a.cols), x \(x.count), y \(y.count)")
  guard m > 0 else { return }
  if n == 0 {
    for i in y.indices { y[i] = beta == 0 ? 0 : beta * y[i] }
    return
  }
  a.storage.withUnsafeBufferPointer { pa in
    x.withUnsafeBufferPointer { px in
      y.withUnsafeMutableBufferPointer { py in
        T.gemv(
          trans: transpose, m: a.rows, n: a.cols, alpha: alpha, a: pa.baseAddress!,
          lda: max(1, a.cols), x: px.baseAddress!, incx: 1, beta: beta, y: py.baseAddress!, incy: 1)
      }
    }
  }
}

/// y <- alpha * x + y (axpy).
public func axpy<T: BLASScalar>(_ alpha: T, _ x: [T], _ y: inout [T]) {
  precondition(x.count == y.count, "axpy: lengths differ")
  guard !x.isEmpty else { return }
  x.withUnsafeBufferPointer { px in
    y.withUnsafeMutableBufferPointer { py in
      T.axpy(n: x.count, alpha: alpha, x: px.baseAddress!, incx: 1, y: py.baseAddress!, incy: 1)
    }
  }
}

/// x . y (dot).
public func dot<T: BLASScalar>(_ x: [T], _ y: [T]) -> T {
  precondition(x.count == y.count, "dot: lengths differ")
  guard !x.isEmpty else { return 0 }
  return x.withUnsafeBufferPointer { px in
    y.withUnsafeBufferPointer { py in
      T.dot(n: x.count, x: px.baseAddress!, incx: 1, y: py.baseAddress!, incy: 1)
    }
  }
}

/// x <- alpha * x (scal).
public func scal<T: BLASScalar>(_ alpha: T, _ x: inout [T]) {
  guard !x.isEmpty else { return }
  x.withUnsafeMutableBufferPointer { px in
    T.scal(n: px.count, alpha: alpha, x: px.baseAddress!, incx: 1)
  }
}
