import PolarCore
import Testing

/// Finite-difference checks (Double, relative error < 1e-6) of every layer's input and
/// parameter gradients, for L = sum_ij W_ij out_ij with fixed random weights W.
@Suite("Layer gradients by finite differences")
struct LayerGradientTests {
  @Test("activations: derivative against finite differences", arguments: allActivations)
  func activation(act: Activation) {
    for z in [-2.3, -0.7, -0.01, 0.02, 0.9, 3.1] {
      let fd = (act.apply(z + 1e-6) - act.apply(z - 1e-6)) / 2e-6
      #expect(abs(fd - act.derivative(z)) < 1e-8, "\(act) at \(z)")
    }
  }

  @Test("Float elu: the vectorised e^x - 1 and e^x within 2 ulp of expm1f and expf on [-87, 0]; forward and backward use them")
  func floatElu() {
    var worst: Float = 0
    var x: Float = -88
    while x < 0 {
      for y in [x, -x.ulp * 3, -Float.leastNormalMagnitude, -1e-30] {
        let want = Float.expMinusOne(y), got = expMinusOneOfNonPositive(y)
        worst = max(worst, abs(got - want) / want.ulp)
        let e = Float.exp(y)
        if y >= -87 { worst = max(worst, abs(expOfNonPositive(y) - e) / e.ulp) }  // clamped below -87
      }
      x += 0.000731
    }
    #expect(worst <= 2, "worst error \(worst) ulp")
    let z = Matrix<Float>(rows: 1, cols: 5, storage: [-3, -0.25, 0, 0.5, -1e-3])
    let a = Activation.elu.forward(z), dz = Activation.elu.backward(z, Matrix(rows: 1, cols: 5, storage: [1, 1, 1, 1, 2]))
    for i in 0 ..< 5 {
      let v = z.storage[i]
      #expect(abs(a.storage[i] - (v > 0 ? v : Float.expMinusOne(v))) <= 2 * max(a.storage[i].magnitude.ulp, Float.leastNormalMagnitude))
      let d: Float = (i == 4 ? 2 : 1) * (v > 0 ? 1 : Float.exp(v))
      #expect(abs(dz.storage[i] - d) <= 2 * d.ulp, "backward at \(v)")
    }
  }

  @Test("dense and non-negative dense", arguments: [false, true])
  func dense(nonNegative: Bool) {
    var layout = ArenaLayout()
    let layer = Dense("D", input: 5, output: 3, bias: !nonNegative, nonNegative: nonNegative, layout: &layout)
    var params = randomVector(layout.count, seed: 1, stream: 1)
    if nonNegative { params = params.map(abs) }
    let x = randomBatch(4, 5, seed: 2)
    let w = randomVector(12, seed: 3, stream: 3)
    func loss(_ p: [Double], _ x: Matrix<Double>) -> Double {
      let y = p.withUnsafeBufferPointer { layer.forward($0.baseAddress!, x) }
      return zip(y.storage, w).reduce(0) { $0 + $1.0 * $1.1 }
    }
    var grad = [Double](repeating: 0, count: layout.count)
    let dX = params.withUnsafeBufferPointer { p in
      grad.withUnsafeMutableBufferPointer { g in
        layer.backward(p.baseAddress!, x, Matrix(rows: 4, cols: 3, storage: w), grad: g.baseAddress!, inputGradient: true)!
      }
    }
    #expect(relativeError(grad, finiteDifference(params) { loss($0, x) }) < 1e-6)
    let fdX = finiteDifference(x.storage) { loss(params, Matrix(rows: 4, cols: 5, storage: $0)) }
    #expect(relativeError(dX.storage, fdX) < 1e-6)
  }

  @Test("quadratic potentials, low rank + diagonal", arguments: [0, 1, 3])
  func quadratic(rank: Int) {
    var layout = ArenaLayout()
    let layer = Quadratic("Q", dim: 4, width: 3, rank: rank, layout: &layout)
    let params = randomVector(layout.count, seed: 4, stream: 4, scale: 0.7)
    let x = randomBatch(5, 4, seed: 5)
    let w = randomVector(15, seed: 6, stream: 6)
    func loss(_ p: [Double], _ x: Matrix<Double>) -> Double {
      let (q, _) = p.withUnsafeBufferPointer { layer.forward($0.baseAddress!, x) }
      return zip(q.storage, w).reduce(0) { $0 + $1.0 * $1.1 }
    }
    var grad = [Double](repeating: 0, count: layout.count)
    let dX = params.withUnsafeBufferPointer { p in
      let (_, tape) = layer.forward(p.baseAddress!, x)
      return grad.withUnsafeMutableBufferPointer { g in
        layer.backward(p.baseAddress!, tape, Matrix(rows: 5, cols: 3, storage: w), grad: g.baseAddress!, inputGradient: true)!
      }
    }
    #expect(relativeError(grad, finiteDifference(params) { loss($0, x) }) < 1e-6)
    let fdX = finiteDifference(x.storage) { loss(params, Matrix(rows: 5, cols: 4, storage: $0)) }
    #expect(relativeError(dX.storage, fdX) < 1e-6)
    // The value itself: entry 0 of row 0 by the formula.
    let (q, _) = params.withUnsafeBufferPointer { layer.forward($0.baseAddress!, x) }
    let a = layout.blocks[0], d = layout.blocks[1], b = layout.blocks[2], c = layout.blocks[3]
    var expected = params[c.offset]
    for r in 0 ..< rank {
      var s = 0.0
      for j in 0 ..< 4 { s += x[0, j] * params[a.offset + j * 3 * rank + r] }
      expected += s * s / 2
    }
    for j in 0 ..< 4 {
      expected += softplus(params[d.offset + j]) * x[0, j] * x[0, j] / 2 + params[b.offset + j] * x[0, j]
    }
    #expect(abs(q[0, 0] - expected) < 1e-12)
  }
}
