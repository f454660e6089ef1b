// How well behaved T* is, recorded in instance.json:
//   |J(x) v| = |T*(x + h v) - T*(x - h v)| / (2h) + O(h^2)   (central difference, h = 1e-5)
// for random unit directions v at held-out points: the local stretch of the map along a random
// direction (1 for the identity); its mean, 99th percentile and maximum over the points.
// And the shape of Q on the test set: how far from a Gaussian its tails are.
import PolarCore

enum Diagnostics {
  struct Spread: Encodable, Equatable {
    let mean: Double
    let p99: Double
    let max: Double
  }

  static let points = 4096
  static let step = 1e-5

  /// The spread of |J(x) v| over the first `points` rows of `points` (row-major, d columns).
  static func directionalDerivative(_ instance: Instance, points x: [Float]) -> Spread {
    let d = instance.dim, n = min(x.count / d, Diagnostics.points)
    let rng = CounterRNG(seed: instance.seed, stream: Instance.stream(.directions))
    var plus = Matrix<Double>.zeros(n, d), minus = plus
    for r in 0 ..< n {
      var v = (0 ..< d).map { rng.normal(UInt64(r * d + $0)) }
      let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
      v = v.map { $0 / norm }
      for j in 0 ..< d {
        plus[at: r, j] = Double(x[r * d + j]) + step * v[j]
        minus[at: r, j] = Double(x[r * d + j]) - step * v[j]
      }
    }
    let tp = instance.map(plus), tm = instance.map(minus)
    var stretch = (0 ..< n).map { r in
      (0 ..< d).reduce(0) { $0 + (tp[at: r, $1] - tm[at: r, $1]) * (tp[at: r, $1] - tm[at: r, $1]) }.squareRoot() / (2 * step)
    }
    stretch.sort()
    return Spread(
      mean: stretch.reduce(0, +) / Double(max(n, 1)), p99: stretch[min(n - 1, Int(0.99 * Double(n)))],
      max: stretch.last ?? 0)
  }

  /// The shape of a sample y [n, d] of Q (for a standard Gaussian: 0, ~1, ~1 + O(sqrt(log n / d))).
  struct Shape: Encodable, Equatable {
    /// Mean over coordinates j of E z_j^4 - 3, z_j = (y_j - mean_j) / sd_j.
    let coordinateExcessKurtosis: Double
    /// median_r |y_r|^2 / d and max_r |y_r| / sqrt(d).
    let medianSquaredNormOverD: Double
    let maxNormOverSqrtD: Double
  }

  static func shape(_ y: [Float], dim d: Int) -> Shape {
    let n = y.count / d
    var kurtosis = 0.0
    for j in 0 ..< d {
      let v = (0 ..< n).map { Double(y[$0 * d + j]) }
      let m = v.reduce(0, +) / Double(n)
      let m2 = v.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(n)
      let m4 = v.reduce(0) { $0 + ($1 - m) * ($1 - m) * ($1 - m) * ($1 - m) } / Double(n)
      kurtosis += (m4 / (m2 * m2) - 3) / Double(d)
    }
    var norms = (0 ..< n).map { r in (0 ..< d).reduce(0.0) { $0 + Double(y[r * d + $1]) * Double(y[r * d + $1]) } / Double(d) }
    norms.sort()
    return Shape(
      coordinateExcessKurtosis: kurtosis, medianSquaredNormOverD: norms[n / 2],
      maxNormOverSqrtD: norms[n - 1].squareRoot())
  }
}
