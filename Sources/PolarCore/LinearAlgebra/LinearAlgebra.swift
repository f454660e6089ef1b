// Small dense linear algebra in Double for initialisation and closed-form checks: symmetric
// eigendecomposition (cyclic Jacobi), functions of SPD matrices, Cholesky, and the matrix polar
// decomposition A = P U (P = (A A^T)^{1/2} SPD, U = P^{-1} A orthogonal).
import RealModule

/// A = V diag(values) V^T for symmetric A (cyclic Jacobi rotations; columns of V are vectors).
public func symmetricEigen(_ a: Matrix<Double>) -> (values: [Double], vectors: Matrix<Double>) {
  let n = a.rows
  precondition(a.cols == n, "symmetricEigen: matrix must be square")
  var m = a
  var v = Matrix<Double>.identity(n)
  for _ in 0 ..< 100 {
    var off = 0.0
    for i in 0 ..< n { for j in 0 ..< n where i != j { off += m[i, j] * m[i, j] } }
    if off <= 1e-30 * max(1, m.frobeniusNorm * m.frobeniusNorm) { break }
    for p in 0 ..< n {
      for q in p + 1 ..< n where m[p, q] != 0 {
        // Rotation zeroing m[p, q] (Golub & Van Loan, Algorithm 8.4.2).
        let theta = (m[q, q] - m[p, p]) / (2 * m[p, q])
        let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
        let c = 1 / (t * t + 1).squareRoot(), s = t * c
        for k in 0 ..< n {
          let mkp = m[k, p], mkq = m[k, q]
          m[k, p] = c * mkp - s * mkq
          m[k, q] = s * mkp + c * mkq
        }
        for k in 0 ..< n {
          let mpk = m[p, k], mqk = m[q, k]
          m[p, k] = c * mpk - s * mqk
          m[q, k] = s * mpk + c * mqk
        }
        for k in 0 ..< n {
          let vkp = v[k, p], vkq = v[k, q]
          v[k, p] = c * vkp - s * vkq
          v[k, q] = s * vkp + c * vkq
        }
      }
    }
  }
  return ((0 ..< n).map { m[$0, $0] }, v)
}

/// f(A) = V diag(f(lambda)) V^T for symmetric A.
public func symmetricFunction(_ a: Matrix<Double>, _ f: (Double) -> Double) -> Matrix<Double> {
  let (values, v) = symmetricEigen(a)
  let n = a.rows
  var out = Matrix<Double>(rows: n, cols: n)
  for i in 0 ..< n {
    for j in 0 ..< n {
      var s = 0.0
      for k in 0 ..< n { s += v[i, k] * f(values[k]) * v[j, k] }
      out[i, j] = s
    }
  }
  return out
}

/// Lower-triangular L with L L^T = A, or nil when A is not positive definite.
public func cholesky(_ a: Matrix<Double>) -> Matrix<Double>? {
  let n = a.rows
  var l = Matrix<Double>(rows: n, cols: n)
  for j in 0 ..< n {
    var d = a[j, j]
    for k in 0 ..< j { d -= l[j, k] * l[j, k] }
    guard d > 0 else { return nil }
    l[j, j] = d.squareRoot()
    for i in j + 1 ..< n {
      var s = a[i, j]
      for k in 0 ..< j { s -= l[i, k] * l[j, k] }
      l[i, j] = s / l[j, j]
    }
  }
  return l
}

/// A = P U with P symmetric positive definite and U orthogonal (A invertible).
public func polarDecomposition(_ a: Matrix<Double>) -> (p: Matrix<Double>, u: Matrix<Double>) {
  let aat = matmul(a, a, transposeB: true)
  let p = symmetricFunction(aat) { $0.squareRoot() }
  let pInv = symmetricFunction(aat) { 1 / $0.squareRoot() }
  return (p, matmul(pInv, a))
}

/// The Brenier (Bures) map between N(m0, S0) and N(m1, S1): x -> m1 + T (x - m0) with
/// T = S0^{-1/2} (S0^{1/2} S1 S0^{1/2})^{1/2} S0^{-1/2}, symmetric positive definite.
/// Returns (T, m1 - T m0), the gradient of 1/2 x^T T x + (m1 - T m0)^T x.
public func gaussianMap(
  mean0: [Double], cov0: Matrix<Double>, mean1: [Double],
  cov1: Matrix<Double>
) -> (s: Matrix<Double>, t: [Double]) {
  let r = symmetricFunction(cov0) { $0.squareRoot() }
  let rInv = symmetricFunction(cov0) { 1 / $0.squareRoot() }
  let middle = symmetricFunction(matmul(matmul(r, cov1), r)) { max($0, 0).squareRoot() }
  var t = matmul(matmul(rInv, middle), rInv)
  t = Matrix(
    rows: t.rows, cols: t.cols,
    storage: (0 ..< t.storage.count).map { (t.storage[$0] + t.transposed.storage[$0]) / 2 })
  var shift = mean1
  for i in 0 ..< mean0.count { for j in 0 ..< mean0.count { shift[i] -= t[i, j] * mean0[j] } }
  return (t, shift)
}

/// Sample mean and covariance of the rows of X.
public func meanAndCovariance<T: BLASScalar>(_ x: Matrix<T>) -> (mean: [Double], cov: Matrix<Double>) {
  let n = x.rows, d = x.cols
  var mean = [Double](repeating: 0, count: d)
  for r in 0 ..< n { for j in 0 ..< d { mean[j] += Double(x[r, j]) } }
  for j in 0 ..< d { mean[j] /= Double(max(n, 1)) }
  var cov = Matrix<Double>(rows: d, cols: d)
  for r in 0 ..< n {
    for i in 0 ..< d {
      let xi = Double(x[r, i]) - mean[i]
      for j in 0 ..< d { cov[i, j] += xi * (Double(x[r, j]) - mean[j]) }
    }
  }
  for i in cov.storage.indices { cov.storage[i] /= Double(max(n - 1, 1)) }
  return (mean, cov)
}
