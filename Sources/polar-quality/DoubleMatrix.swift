// Matrix<Double> helpers for this module's loops. PolarCore's Matrix is generic and its
// subscript and initialisers are not inlinable, so from here they run unspecialised (a metadata
// look-up per entry): these go through `storage` directly.
import PolarCore

extension Matrix where T == Double {
  /// Entry (i, j) = storage[i * cols + j].
  @inline(__always)
  subscript(at i: Int, _ j: Int) -> Double {
    get { storage[i * cols + j] }
    set { storage[i * cols + j] = newValue }
  }

  /// The rows x cols zero matrix.
  static func zeros(_ rows: Int, _ cols: Int) -> Matrix {
    Matrix(rows: rows, cols: cols, storage: [Double](repeating: 0, count: rows * cols))
  }

  /// f applied to every entry.
  func mapped(_ f: (Double) -> Double) -> Matrix {
    Matrix(rows: rows, cols: cols, storage: storage.map(f))
  }
}

/// op(A) op(B) as a new matrix (PolarCore's gemm into a zero matrix made here).
func product(_ a: Matrix<Double>, transposeA: Bool = false, _ b: Matrix<Double>, transposeB: Bool = false) -> Matrix<Double> {
  var c = Matrix<Double>.zeros(transposeA ? a.cols : a.rows, transposeB ? b.rows : b.cols)
  gemm(a, transposeA: transposeA, b, transposeB: transposeB, into: &c)
  return c
}
