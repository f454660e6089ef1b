// The source measure P of the benchmark (Korotin et al., NeurIPS 2021, "Do Neural Optimal
// Transport Solvers Work? A Continuous Wasserstein-2 Benchmark": a three-component Gaussian
// mixture in R^d), our own draw of it:
//   P = 1/3 sum_k N(m_k, S_k),  m_k ~ N(0, I_d),  S_k = R_k diag(lambda_k) R_k^T,
// R_k a Haar-random orthogonal matrix (Gram-Schmidt of a Gaussian matrix: Q of G = QR with
// diag(R) > 0, Mezzadri 2007), lambda_kj log-uniform on [0.5, 2]. So the means spread about as
// far as one component's standard deviation.
// Sampling: x = m_k + L_k e with L_k = R_k diag(sqrt lambda_k), k uniform on {0, 1, 2},
// e ~ N(0, I_d). Row r of a sample uses counter r of the component stream and counters
// r d ..< (r + 1) d of the noise stream: any block of rows is the same whatever the chunking.
import Foundation
import PolarCore

struct Mixture: Sendable {
  static let components = 3
  let dim: Int
  let means: [[Double]]
  let factors: [Matrix<Double>]  // L_k, d x d

  init(dim: Int, seed: UInt64) {
    self.dim = dim
    var means = [[Double]](), factors = [Matrix<Double>]()
    for k in 0 ..< Mixture.components {
      let part = UInt64(k)
      let mean = CounterRNG(seed: seed, stream: CounterRNG.streamID(0x3D, 1, part))
      means.append((0 ..< dim).map { mean.normal(UInt64($0)) })
      let q = randomOrthogonal(dim, CounterRNG(seed: seed, stream: CounterRNG.streamID(0x3D, 2, part)))
      let eig = CounterRNG(seed: seed, stream: CounterRNG.streamID(0x3D, 3, part))
      var l = q
      for j in 0 ..< dim {
        let root = (0.5 * pow(4, eig.uniform(UInt64(j)))).squareRoot()  // lambda in [0.5, 2)
        for i in 0 ..< dim { l[at: i, j] *= root }
      }
      factors.append(l)
    }
    self.means = means
    self.factors = factors
  }

  /// Mean and covariance of P: m = avg_k m_k, S = avg_k (L_k L_k^T + m_k m_k^T) - m m^T.
  var moments: (mean: [Double], cov: Matrix<Double>) {
    let w = 1 / Double(Mixture.components)
    var m = [Double](repeating: 0, count: dim)
    var s = Matrix<Double>.zeros(dim, dim)
    for k in 0 ..< Mixture.components {
      for i in 0 ..< dim { m[i] += w * means[k][i] }
      gemm(factors[k], factors[k], transposeB: true, alpha: w, beta: 1, into: &s)
      for i in 0 ..< dim { for j in 0 ..< dim { s[at: i, j] += w * means[k][i] * means[k][j] } }
    }
    for i in 0 ..< dim { for j in 0 ..< dim { s[at: i, j] -= m[i] * m[j] } }
    return (m, s)
  }

  /// Rows `rows` of the sample drawn from stream `stream` (its two sub-streams: component, noise).
  func sample(rows: Range<Int>, seed: UInt64, stream: UInt64) -> Matrix<Double> {
    let pick = CounterRNG(seed: seed, stream: CounterRNG.streamID(stream, 1))
    let noise = CounterRNG(seed: seed, stream: CounterRNG.streamID(stream, 2))
    let n = rows.count
    let component = rows.map { min(Int(Double(Mixture.components) * pick.uniform(UInt64($0))), Mixture.components - 1) }
    var x = Matrix<Double>.zeros(n, dim)
    // Rows grouped by component: E_k [n_k, d] of noise, X_k = E_k L_k^T + m_k, scattered back.
    for k in 0 ..< Mixture.components {
      let mine = (0 ..< n).filter { component[$0] == k }
      guard !mine.isEmpty else { continue }
      var e = Matrix<Double>.zeros(mine.count, dim)
      for (i, r) in mine.enumerated() {
        let start = UInt64(rows.lowerBound + r) * UInt64(dim)
        for j in 0 ..< dim { e[at: i, j] = noise.normal(start + UInt64(j)) }
      }
      let y = product(e, factors[k], transposeB: true)
      for (i, r) in mine.enumerated() {
        for j in 0 ..< dim { x[at: r, j] = y[at: i, j] + means[k][j] }
      }
    }
    return x
  }
}

/// A Haar-random n x n orthogonal matrix: modified Gram-Schmidt (twice, for orthogonality to
/// rounding) on the columns of a Gaussian matrix drawn from `rng`.
func randomOrthogonal(_ n: Int, _ rng: CounterRNG) -> Matrix<Double> {
  var cols = (0 ..< n).map { j in (0 ..< n).map { rng.normal(UInt64(j * n + $0)) } }
  for j in 0 ..< n {
    for _ in 0 ..< 2 {
      for i in 0 ..< j {
        var p = 0.0
        for r in 0 ..< n { p += cols[i][r] * cols[j][r] }
        for r in 0 ..< n { cols[j][r] -= p * cols[i][r] }
      }
    }
    var norm = 0.0
    for r in 0 ..< n { norm += cols[j][r] * cols[j][r] }
    let inv = 1 / norm.squareRoot()
    for r in 0 ..< n { cols[j][r] *= inv }
  }
  var q = Matrix<Double>.zeros(n, n)
  for j in 0 ..< n { for r in 0 ..< n { q[at: r, j] = cols[j][r] } }
  return q
}
