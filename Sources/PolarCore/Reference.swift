// Reference measures rho and counter-based sampling from them: the sample with global index i of
// a given stream is a pure function of (seed, stream, i), whatever rank draws it (DESIGN §3).

public enum Reference: Sendable, Equatable {
  /// N(0, I_d).
  case gaussian
  /// Uniform on the box [lo, hi]^d.
  case uniform(lo: Double, hi: Double)
  /// The rows of a data matrix (the x of a field file), drawn uniformly with replacement.
  case data(rows: Int)

  public var name: String {
    switch self {
    case .gaussian: "gaussian"
    case .uniform: "uniform"
    case .data: "data"
    }
  }

  /// Rows i in `indices` of the stream: x_i for gaussian/uniform; for data, the row numbers to
  /// take are returned in `rows` and x is left empty (the caller gathers them).
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func sample<T: BLASScalar>(dim: Int, rng: CounterRNG, indices: Range<Int>) -> (x: Matrix<T>, rows: [Int]) {
    switch self {
    case .gaussian:
      var x = Matrix<T>(rows: indices.count, cols: dim)
      for (r, i) in indices.enumerated() {
        for j in 0 ..< dim { x[r, j] = T(rng.normal(UInt64(i * dim + j))) }
      }
      return (x, [])
    case .uniform(let lo, let hi):
      var x = Matrix<T>(rows: indices.count, cols: dim)
      for (r, i) in indices.enumerated() {
        for j in 0 ..< dim { x[r, j] = T(rng.uniform(UInt64(i * dim + j), in: lo, hi)) }
      }
      return (x, [])
    case .data(let n):
      let rows = indices.map { min(n - 1, Int(rng.uniform(UInt64($0)) * Double(n))) }
      return (Matrix(rows: 0, cols: dim), rows)
    }
  }
}
