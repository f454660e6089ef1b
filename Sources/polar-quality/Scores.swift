// The benchmark's metrics (Korotin et al. 2021, §3), on held-out x ~ P with the true map T*:
//   L2-UVP(T) = 100 E|T(x) - T*(x)|^2 / Var(Q),   Var(Q) = sum_j Var(Q_j)   (in %),
//   cos(T)    = E<T*(x) - x, T(x) - x> / sqrt(E|T*(x) - x|^2 E|T(x) - x|^2),
// expectations as sample means over the test points, accumulated in Double.
import PolarCore

public struct MapScore: Codable, Equatable, Sendable {
  /// L2-UVP in percent.
  public let uvp: Double
  /// nil when T or T* moves no point (E|T(x) - x|^2 E|T*(x) - x|^2 = 0): the cosine is undefined.
  public let cos: Double?
}

/// Scores map values `map` against `truth` at points `x`, all [n, d] row-major.
public func score<M: BinaryFloatingPoint>(x: [Float], truth: [Float], map: [M], dim: Int, varQ: Double) -> MapScore {
  precondition(x.count == truth.count && x.count == map.count && x.count % max(dim, 1) == 0, "score: sizes differ")
  var err = 0.0, inner = 0.0, moveTrue = 0.0, moveMap = 0.0
  for i in x.indices {
    let xi = Double(x[i]), ti = Double(truth[i]), mi = Double(map[i])
    err += (mi - ti) * (mi - ti)
    inner += (ti - xi) * (mi - xi)
    moveTrue += (ti - xi) * (ti - xi)
    moveMap += (mi - xi) * (mi - xi)
  }
  let n = Double(max(x.count / max(dim, 1), 1))
  let norms = (moveTrue * moveMap).squareRoot()
  return MapScore(uvp: 100 * err / n / varQ, cos: norms > 0 ? inner / norms : nil)
}

/// The linear map x -> A x + b at every row of X [n, d] (Float points, Double map).
public func applyLinear(_ a: Matrix<Double>, _ b: [Double], to x: [Float], dim: Int) -> [Double] {
  let n = x.count / dim
  let points = Matrix(rows: n, cols: dim, storage: x.map(Double.init))
  var y = product(points, a, transposeB: true)
  for r in 0 ..< n { for j in 0 ..< dim { y[at: r, j] += b[j] } }
  return y.storage
}

/// sum_j Var(column j) of X [n, d] (1/n normalisation), by Moments.
func totalVariance(_ m: Moments) -> Double {
  let c = m.covariance
  return (0 ..< m.dim).reduce(0) { $0 + c[at: $1, $1] }
}
