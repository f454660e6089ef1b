import PolarCore
import Testing

@Suite("Langevin and its scoring")
struct LangevinTests {
  @Test("grid reference of exp(-|x|^2 / 2) on [-6, 6]^2: mean 0, variance 1 per coordinate")
  func gridReference() {
    let x = Langevin.gridReference(
      potential: { ($0 * $0 + $1 * $1) / 2 }, beta: 1, lo: -6, hi: 6, cells: 400, count: 20000,
      rng: CounterRNG(seed: 1, stream: 2))
    for j in 0 ..< 2 {
      let v = (0 ..< x.rows).map { x[$0, j] }
      let mean = v.reduce(0, +) / Double(v.count)
      let variance = v.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(v.count)
      #expect(abs(mean) < 0.03 && abs(variance - 1) < 0.04, "coordinate \(j): mean \(mean), variance \(variance)")
    }
    // beta = 4 narrows it to variance 1/4.
    let y = Langevin.gridReference(
      potential: { ($0 * $0 + $1 * $1) / 2 }, beta: 4, lo: -6, hi: 6, cells: 400, count: 20000,
      rng: CounterRNG(seed: 1, stream: 3))
    let v = (0 ..< y.rows).map { y[$0, 0] * y[$0, 0] }.reduce(0, +) / Double(y.rows)
    #expect(abs(v - 0.25) < 0.01, "\(v)")
  }

  @Test("ULA on a Gaussian: after many small steps the particles have its variance")
  func ula() {
    // f = |x|^2 / 2, beta = 2: stationary law N(0, 1/2) (up to O(h) bias).
    var x = Matrix<Double>(rows: 4000, cols: 1)
    for k in 0 ..< 2000 {
      let rng = CounterRNG(seed: 3, stream: UInt64(k))
      let eps = Matrix<Double>(rows: 4000, cols: 1, storage: (0 ..< 4000).map { rng.normal(UInt64($0)) })
      Langevin.step(&x, gradient: x, noise: eps, stepSize: 0.01, beta: 2)
    }
    let v = x.storage.reduce(0) { $0 + $1 * $1 } / 4000
    #expect(abs(v - 0.5) < 0.04, "\(v)")
  }

  @Test("mode shares by nearest mode, total variation")
  func shares() {
    let x = Matrix<Double>([[0.9, 1.1], [1.2, 0.8], [-1, -1.3], [5, 5]])
    let s = Langevin.shares(x, modes: [[1, 1], [-1, -1]])
    #expect(s == [0.75, 0.25])
    #expect(abs(Langevin.totalVariation(s, [0.5, 0.5]) - 0.25) < 1e-15)
  }
}
