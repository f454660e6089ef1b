// Sampling p ~ exp(-beta f) (docs/design.md §1 item 6) and the measures of how well it went.
//   unadjusted Langevin (ULA):  x <- x - h beta grad f(x) + sqrt(2 h) eps,  eps ~ N(0, I)
//   LMC-NPF (Vesseron & Cuturi 2024, their run_LMC_NPF.py): ULA steps on f, and every k-th step
//   a jump through the polar factorization: y = M(x), a few ULA steps on the convex u in y-space
//   (fast mixing), then x ~ M^-1(y) by the bridge sampler. The jump needs one evaluation of
//   grad f (for M(x) = grad u*(F(x))), like a ULA step, so both chains use the same number of
//   gradient evaluations per step. The networks orchestrate in PolarTrain/Sampling/LangevinSampler.swift.
// The reference for 2-D densities: exp(-beta f) on a fine grid over the window, sampled exactly
// cell by cell (inverse CDF) with a uniform position inside the cell: exact up to the grid's
// resolution and the window's truncation, better than a long reference chain.
import RealModule

public enum Langevin {
  /// One ULA step in place: x <- x - h beta g + sqrt(2 h) eps (rows of x, g, eps).
  public static func step<T: BLASScalar>(
    _ x: inout Matrix<T>, gradient g: Matrix<T>, noise eps: Matrix<T>,
    stepSize h: Double, beta: Double
  ) {
    let a = T(h * beta), b = T((2 * h).squareRoot())
    for i in 0 ..< x.storage.count { x.storage[i] += -a * g.storage[i] + b * eps.storage[i] }
  }

  /// `count` samples of exp(-beta f) restricted to the square window [lo, hi]^2, from a
  /// cells x cells grid (f at cell centres); counter-based, row i from (rng, i).
  public static func gridReference(
    potential f: (Double, Double) -> Double, beta: Double, lo: Double, hi: Double,
    cells n: Int = 1000, count: Int, rng: CounterRNG
  ) -> Matrix<Double> {
    let h = (hi - lo) / Double(n)
    var logp = [Double](repeating: 0, count: n * n)
    for i in 0 ..< n {
      for j in 0 ..< n {
        logp[i * n + j] = -beta * f(lo + (Double(j) + 0.5) * h, lo + (Double(i) + 0.5) * h)
      }
    }
    let top = logp.filter(\.isFinite).max() ?? 0
    var cdf = [Double](repeating: 0, count: n * n), total = 0.0
    for k in 0 ..< n * n {
      total += logp[k].isFinite ? Double.exp(logp[k] - top) : 0
      cdf[k] = total
    }
    var out = Matrix<Double>(rows: count, cols: 2)
    for r in 0 ..< count {
      let u = rng.uniform(UInt64(3 * r)) * total
      var a = 0, b = n * n - 1
      while a < b { let m = (a + b) / 2; if cdf[m] < u { a = m + 1 } else { b = m } }  // first cdf >= u
      out[r, 0] = lo + (Double(a % n) + rng.uniform(UInt64(3 * r + 1))) * h
      out[r, 1] = lo + (Double(a / n) + rng.uniform(UInt64(3 * r + 2))) * h
    }
    return out
  }

  /// Index of the nearest mode for every row of x.
  public static func assign<T: BLASScalar>(_ x: Matrix<T>, modes: [[Double]]) -> [Int] {
    (0 ..< x.rows).map { r in
      var best = 0, bestD = Double.infinity
      for (k, m) in modes.enumerated() {
        var d = 0.0
        for j in 0 ..< x.cols { let e = Double(x[r, j]) - m[j]; d += e * e }
        if d < bestD { (best, bestD) = (k, d) }
      }
      return best
    }
  }

  /// Share of the rows nearest to each mode.
  public static func shares<T: BLASScalar>(_ x: Matrix<T>, modes: [[Double]]) -> [Double] {
    var counts = [Double](repeating: 0, count: modes.count)
    for k in assign(x, modes: modes) { counts[k] += 1 }
    return counts.map { $0 / Double(max(1, x.rows)) }
  }

  /// Total variation distance between two discrete distributions: sum |p - q| / 2.
  public static func totalVariation(_ p: [Double], _ q: [Double]) -> Double {
    zip(p, q).reduce(0) { $0 + abs($1.0 - $1.1) } / 2
  }
}
