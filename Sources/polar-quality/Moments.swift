// Means and covariances of large samples, accumulated chunk by chunk in Double with BLAS:
//   mean = o + (1/n) sum_r (x_r - o),   Cov = (1/n) sum_r (x_r - o)(x_r - o)^T - (mean - o)(mean - o)^T,
// with the offset o the first chunk's mean (so the subtraction does not cancel digits), and
// 1/n normalisation throughout. Also the Gaussian (Bures) map between two fitted Gaussians.
import PolarCore

struct Moments {
  let dim: Int
  private(set) var count = 0
  private var offset: [Double]? = nil
  private var sum: [Double]
  private var cross: Matrix<Double>

  init(dim: Int) {
    self.dim = dim
    sum = [Double](repeating: 0, count: dim)
    cross = Matrix(rows: dim, cols: dim)
  }

  /// Adds the rows of X [n, dim].
  mutating func add(_ x: Matrix<Double>) {
    precondition(x.cols == dim, "Moments: \(x.cols) columns, expected \(dim)")
    guard x.rows > 0 else { return }
    let o = offset ?? columnMeans(x)
    offset = o
    var c = x
    for r in 0 ..< x.rows { for j in 0 ..< dim { c[at: r, j] -= o[j] } }
    for r in 0 ..< x.rows { for j in 0 ..< dim { sum[j] += c[at: r, j] } }
    gemm(c, transposeA: true, c, beta: 1, into: &cross)
    count += x.rows
  }

  var mean: [Double] { (0 ..< dim).map { (offset?[$0] ?? 0) + sum[$0] / Double(max(count, 1)) } }

  var covariance: Matrix<Double> {
    let n = Double(max(count, 1))
    var s = cross
    for i in 0 ..< dim { for j in 0 ..< dim { s[at: i, j] = s[at: i, j] / n - (sum[i] / n) * (sum[j] / n) } }
    return s
  }
}

func columnMeans(_ x: Matrix<Double>) -> [Double] {
  var m = [Double](repeating: 0, count: x.cols)
  for r in 0 ..< x.rows { for j in 0 ..< x.cols { m[j] += x[at: r, j] } }
  return m.map { $0 / Double(max(x.rows, 1)) }
}

/// The block [r0, r0 + n) x [c0, c0 + n) of a square matrix.
func block(_ s: Matrix<Double>, _ r0: Int, _ c0: Int, _ n: Int) -> Matrix<Double> {
  var out = Matrix<Double>.zeros(n, n)
  for i in 0 ..< n { for j in 0 ..< n { out[at: i, j] = s[at: r0 + i, c0 + j] } }
  return out
}

/// [A | B]: the columns of A then those of B (same rows).
func concatenate(_ a: Matrix<Double>, _ b: Matrix<Double>) -> Matrix<Double> {
  precondition(a.rows == b.rows, "concatenate: row counts differ")
  var out = Matrix<Double>.zeros(a.rows, a.cols + b.cols)
  for r in 0 ..< a.rows {
    for j in 0 ..< a.cols { out[at: r, j] = a[at: r, j] }
    for j in 0 ..< b.cols { out[at: r, a.cols + j] = b[at: r, j] }
  }
  return out
}

/// S^{1/2} and S^{-1/2} of a symmetric positive definite S, from one eigendecomposition.
func squareRoots(_ s: Matrix<Double>) -> (root: Matrix<Double>, inverse: Matrix<Double>) {
  let (values, v) = symmetricEigen(s)
  func apply(_ f: (Double) -> Double) -> Matrix<Double> {
    var vf = v
    for i in 0 ..< v.rows { for k in 0 ..< v.cols { vf[at: i, k] *= f(values[k]) } }
    return product(vf, v, transposeB: true)
  }
  return (apply { max($0, 0).squareRoot() }, apply { 1 / $0.squareRoot() })
}

/// The Bures map's matrix A = R^{-1} (R S1 R)^{1/2} R^{-1} with R = S0^{1/2} given as
/// (root, inverse): A S0 A = S1, A symmetric positive semidefinite (the W2-optimal linear map
/// between centred Gaussians of covariances S0 and S1).
func buresMatrix(_ r: (root: Matrix<Double>, inverse: Matrix<Double>), _ s1: Matrix<Double>) -> Matrix<Double> {
  let middle = squareRoots(product(product(r.root, s1), r.root)).root
  var a = product(product(r.inverse, middle), r.inverse)
  for i in 0 ..< a.rows { for j in 0 ..< i { let m = (a[at: i, j] + a[at: j, i]) / 2; a[at: i, j] = m; a[at: j, i] = m } }
  return a
}

/// tr(A B) for square A, B.
func traceOfProduct(_ a: Matrix<Double>, _ b: Matrix<Double>) -> Double {
  var t = 0.0
  for i in 0 ..< a.rows { for k in 0 ..< a.cols { t += a[at: i, k] * b[at: k, i] } }
  return t
}
