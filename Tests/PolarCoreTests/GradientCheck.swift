import PolarCore

/// Central finite differences of a scalar function of a vector, in Double.
func finiteDifference(_ v: [Double], step h: Double = 1e-6, _ f: ([Double]) -> Double) -> [Double] {
  (0 ..< v.count).map { i in
    var a = v, b = v
    a[i] += h
    b[i] -= h
    return (f(a) - f(b)) / (2 * h)
  }
}

/// |a - b| / max(|a|, |b|) over whole vectors (Euclidean norms).
func relativeError(_ a: [Double], _ b: [Double]) -> Double {
  var diff = 0.0, na = 0.0, nb = 0.0
  for i in a.indices {
    diff += (a[i] - b[i]) * (a[i] - b[i])
    na += a[i] * a[i]
    nb += b[i] * b[i]
  }
  return diff.squareRoot() / max(na.squareRoot(), nb.squareRoot(), 1e-300)
}

func randomVector(_ n: Int, seed: UInt64, stream: UInt64, scale: Double = 1) -> [Double] {
  let rng = CounterRNG(seed: seed, stream: stream)
  return (0 ..< n).map { scale * rng.normal(UInt64($0)) }
}

func randomBatch(_ rows: Int, _ cols: Int, seed: UInt64, scale: Double = 1) -> Matrix<Double> {
  Matrix(rows: rows, cols: cols, storage: randomVector(rows * cols, seed: seed, stream: 77, scale: scale))
}

let allActivations: [Activation] = [.relu, .leakyRelu(slope: 0.2), .softplus, .elu]
