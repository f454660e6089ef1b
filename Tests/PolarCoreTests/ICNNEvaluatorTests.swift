import PolarCore
import Testing

@Suite("ICNNEvaluator")
struct ICNNEvaluatorTests {
  /// Random parameters (every block, W >= 0), so that no term is hidden by a zero initialisation.
  func randomParameters(_ net: ICNN, seed: UInt64) -> [Double] {
    let rng = CounterRNG(seed: seed, stream: 7)
    var p = (0 ..< net.parameterCount).map { 0.5 * rng.normal(UInt64($0)) }
    net.project(&p)
    return p
  }

  @Test(
    "u and grad u equal ICNN.valueAndGradient in Double (ranks 0-2, every activation, uneven widths)",
    arguments: [Activation.elu, .relu, .softplus, .leakyRelu(slope: 0.01)])
  func matchesLayerByLayer(activation: Activation) {
    for (dim, hidden, rank) in [(2, [5, 7, 3], 1), (3, [4], 0), (4, [6, 6], 2), (1, [3, 2, 4, 5], 1)] {
      let net = ICNN(dim: dim, hidden: hidden, rank: rank, activation: activation)
      let params = randomParameters(net, seed: UInt64(dim * 10 + rank))
      let n = 13
      let x = randomMatrix(n, dim, stream: UInt64(dim))
      let (u0, g0) = net.valueAndGradient(params, x)
      let ev = ICNNEvaluator<Double>(net, capacity: 20)
      ev.load(params)
      // Twice, and with fewer rows than the capacity: buffers are reused, never stale.
      for rows in [n, n, 5] {
        var u = [Double](repeating: .nan, count: rows), g = [Double](repeating: .nan, count: rows * dim)
        x.storage.withUnsafeBufferPointer { ev.evaluate($0.baseAddress!, rows: rows, u: &u, grad: &g) }
        for i in 0 ..< rows {
          #expect(abs(u[i] - u0[i]) <= 1e-12 * max(1, abs(u0[i])), "u row \(i): \(u[i]) vs \(u0[i])")
          for j in 0 ..< dim {
            #expect(abs(g[i * dim + j] - g0[i, j]) <= 1e-12 * max(1, abs(g0[i, j])), "grad row \(i) col \(j)")
          }
        }
      }
    }
  }

  @Test(
    "sum_rows d_theta u equals ICNN.backward with du = 1 in Double, accumulated onto grad",
    arguments: [Activation.elu, .relu, .softplus, .leakyRelu(slope: 0.01)])
  func parameterGradient(activation: Activation) {
    for (dim, hidden, rank) in [(2, [5, 7, 3], 1), (3, [4], 0), (4, [6, 6], 2), (1, [3, 2, 4, 5], 1)] {
      let net = ICNN(dim: dim, hidden: hidden, rank: rank, activation: activation)
      let params = randomParameters(net, seed: UInt64(dim * 10 + rank + 3))
      let x = randomMatrix(13, dim, stream: UInt64(dim + 40))
      let start = (0 ..< net.parameterCount).map { Double($0 % 5) - 2 }  // accumulates onto this
      let ev = ICNNEvaluator<Double>(net, capacity: 20)
      ev.load(params)
      for rows in [13, 13, 4] {  // buffers reused; fewer rows than the capacity
        var sub = Matrix<Double>(rows: rows, cols: dim)
        for i in 0 ..< rows * dim { sub.storage[i] = x.storage[i] }
        var expected = start
        let tape = net.forward(params, sub)
        _ = net.backward(params, tape, du: [Double](repeating: 1, count: rows), grad: &expected, inputGradient: false)
        var got = start, u = [Double](repeating: .nan, count: rows)
        sub.storage.withUnsafeBufferPointer { px in
          got.withUnsafeMutableBufferPointer { ev.accumulateParameterGradient(px.baseAddress!, rows: rows, u: &u, into: $0.baseAddress!) }
        }
        for i in 0 ..< rows { #expect(abs(u[i] - tape.u[i]) <= 1e-12 * max(1, abs(u[i])), "u row \(i)") }
        for i in 0 ..< net.parameterCount {
          #expect(
            abs(got[i] - expected[i]) <= 1e-11 * max(1, abs(expected[i])),
            "dim \(dim) rank \(rank) parameter \(i) (\(net.layout.blocks.first { $0.range.contains(i) }?.name ?? "?")): \(got[i]) vs \(expected[i])")
        }
      }
    }
  }

  @Test("More rows than the capacity: evaluated in chunks, the same numbers")
  func chunks() {
    let net = ICNN(dim: 3, hidden: [8, 8], rank: 1, activation: .elu)
    let params = randomParameters(net, seed: 5)
    let x = randomMatrix(23, 3, stream: 4)
    let (u0, g0) = net.valueAndGradient(params, x)
    let ev = ICNNEvaluator<Double>(net, capacity: 5)
    ev.load(params)
    let (u, g) = ev.evaluate(x)
    for i in 0 ..< 23 {
      #expect(abs(u[i] - u0[i]) <= 1e-12 * max(1, abs(u0[i])))
      for j in 0 ..< 3 { #expect(abs(g[i, j] - g0[i, j]) <= 1e-12 * max(1, abs(g0[i, j]))) }
    }
  }

  @Test("Float: within Float rounding of the Double evaluation")
  func floatPath() {
    let net = ICNN(dim: 16, hidden: [64, 64, 64, 64], rank: 1, activation: .elu)
    let pd = net.initialParameters(seed: 3) as [Double]
    let x = randomMatrix(64, 16, stream: 9)
    let (u0, g0) = net.valueAndGradient(pd, x)
    let ev = ICNNEvaluator<Float>(net, capacity: 64)
    ev.load(pd.map { Float($0) })
    var u = [Float](repeating: 0, count: 64), g = [Float](repeating: 0, count: 64 * 16)
    let xf = x.storage.map { Float($0) }
    xf.withUnsafeBufferPointer { ev.evaluate($0.baseAddress!, rows: 64, u: &u, grad: &g) }
    let gScale = g0.storage.map { abs($0) }.max()!
    for i in 0 ..< 64 {
      #expect(abs(Double(u[i]) - u0[i]) <= 1e-5 * max(1, abs(u0[i])))
      for j in 0 ..< 16 { #expect(abs(Double(g[i * 16 + j]) - g0[i, j]) <= 1e-5 * gScale) }
    }
  }
}
