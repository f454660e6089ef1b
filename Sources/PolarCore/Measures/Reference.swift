// Reference measures rho and counter-based sampling from them: the sample with global index i of
// a given stream is a pure function of (seed, stream, i), whatever rank draws it (docs/design.md §3).

public enum Reference: Sendable, Equatable {
  /// N(0, I_d).
  case gaussian
  /// Uniform on the box [lo, hi]^d.
  case uniform(lo: Double, hi: Double)
  /// The rows of a data matrix (the x of a field file), drawn uniformly with replacement.
  case data(rows: Int)
  /// Uniform on a union of cells of a grid with `rows` x `cols` nodes spread over [lo, hi]^2
  /// (cell c = r (cols - 1) + k spans columns k..k+1 and rows r..r+1, row 0 at y = hi): the
  /// training part of a topography grid (Topography.heldOutCells).
  case cells(rows: Int, cols: Int, lo: Double, hi: Double, cells: [Int32])

  public var name: String {
    switch self {
    case .gaussian: "gaussian"
    case .uniform: "uniform"
    case .data: "data"
    case .cells: "uniform"
    }
  }

  /// Rows i in `indices` of the stream: x_i for gaussian/uniform; for data, the row numbers to
  /// take are returned in `rows` and x is left empty (the caller gathers them).
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func sample<T: BLASScalar>(dim: Int, rng: CounterRNG, indices: Range<Int>) -> (x: Matrix<T>, rows: [Int]) {
    if case .data(let n) = self {
      let rows = indices.map { min(n - 1, Int(rng.uniform(UInt64($0)) * Double(n))) }
      return (Matrix(rows: 0, cols: dim), rows)
    }
    var x = Matrix<T>(rows: indices.count, cols: dim)
    x.storage.withUnsafeMutableBufferPointer { _ = sample(dim: dim, rng: rng, indices: indices, into: $0.baseAddress!) }
    return (x, [])
  }

  /// The same rows written into x [indices.count, dim], allocating nothing; false (x untouched)
  /// for `data`, whose rows the caller gathers.
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func sample<T: BLASScalar>(dim: Int, rng: CounterRNG, indices: Range<Int>, into x: UnsafeMutablePointer<T>) -> Bool {
    switch self {
    case .gaussian:
      for (r, i) in indices.enumerated() {
        for j in 0 ..< dim { x[r * dim + j] = T(rng.normal(UInt64(i * dim + j))) }
      }
    case .uniform(let lo, let hi):
      for (r, i) in indices.enumerated() {
        for j in 0 ..< dim { x[r * dim + j] = T(rng.uniform(UInt64(i * dim + j), in: lo, hi)) }
      }
    case .cells(let rows, let cols, let lo, let hi, let cells):
      // A cell uniformly among the listed ones, then a uniform point inside it.
      precondition(dim == 2 && !cells.isEmpty, "cells reference: 2-D and at least one cell")
      for (r, i) in indices.enumerated() {
        let c = Int(cells[min(cells.count - 1, Int(rng.uniform(UInt64(3 * i)) * Double(cells.count)))])
        let (row, col) = (c / (cols - 1), c % (cols - 1))
        let u = rng.uniform(UInt64(3 * i + 1)), v = rng.uniform(UInt64(3 * i + 2))
        x[r * 2] = T(lo + (hi - lo) * (Double(col) + u) / Double(cols - 1))
        x[r * 2 + 1] = T(hi - (hi - lo) * (Double(row) + v) / Double(rows - 1))
      }
    case .data:
      return false
    }
    return true
  }
}
