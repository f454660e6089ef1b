import Foundation
import PolarCore
import Testing

@Suite("Network gradients by finite differences")
struct NetworkGradientTests {
  /// Random ICNN parameters larger than the initial ones, so every path matters.
  func icnnParameters(_ net: ICNN, seed: UInt64) -> [Double] {
    var p = randomVector(net.parameterCount, seed: seed, stream: 9, scale: 0.5)
    net.project(&p)
    return p
  }

  @Test("ICNN: input and parameter gradients", arguments: allActivations)
  func icnn(act: Activation) {
    let net = ICNN(dim: 3, hidden: [5, 4, 3], rank: 2, activation: act)
    let params = icnnParameters(net, seed: 11)
    let x = randomBatch(6, 3, seed: 12)
    let w = randomVector(6, seed: 13, stream: 13)
    func loss(_ p: [Double], _ x: Matrix<Double>) -> Double {
      zip(net.forward(p, x).u, w).reduce(0) { $0 + $1.0 * $1.1 }
    }
    var grad = [Double](repeating: 0, count: net.parameterCount)
    let dX = net.backward(params, net.forward(params, x), du: w, grad: &grad, inputGradient: true)!
    #expect(relativeError(grad, finiteDifference(params) { loss($0, x) }) < 1e-6, "\(act) parameters")
    let fdX = finiteDifference(x.storage) { loss(params, Matrix(rows: 6, cols: 3, storage: $0)) }
    #expect(relativeError(dX.storage, fdX) < 1e-6, "\(act) input")
  }

  /// An MLP's parameter and input gradients (of sum(w . MLP(x)) on a 4 x 3 batch) against central differences.
  func expectMLPGradients(_ net: MLP, _ what: String) {
    let params = randomVector(net.parameterCount, seed: 21, stream: 21, scale: 0.6)
    let x = randomBatch(4, 3, seed: 22)
    let w = randomVector(12, seed: 23, stream: 23)
    func loss(_ p: [Double], _ x: Matrix<Double>) -> Double {
      zip(net(p, x).storage, w).reduce(0) { $0 + $1.0 * $1.1 }
    }
    var grad = [Double](repeating: 0, count: net.parameterCount)
    let dX = net.backward(
      params, net.forward(params, x), dy: Matrix(rows: 4, cols: 3, storage: w),
      grad: &grad, inputGradient: true)!
    #expect(relativeError(grad, finiteDifference(params) { loss($0, x) }) < 1e-6, "\(what) parameters")
    let fdX = finiteDifference(x.storage) { loss(params, Matrix(rows: 4, cols: 3, storage: $0)) }
    #expect(relativeError(dX.storage, fdX) < 1e-6, "\(what) input")
  }

  @Test("MLP, plain and residual: input and parameter gradients", arguments: [false, true])
  func mlp(residual: Bool) {
    for act in allActivations {
      expectMLPGradients(MLP(input: 3, output: 3, hidden: [6, 5], activation: act, residual: residual), "\(act)")
    }
  }

  @Test("MLP on Fourier features (plain and residual): input and parameter gradients", arguments: [false, true])
  func fourierMLP(residual: Bool) {
    let net = MLP(
      input: 3, output: 3, hidden: [6, 5], activation: .elu, residual: residual,
      fourier: FourierFeatures(input: 3, count: 4, scale: 1.5))
    let plain = MLP(input: 3, output: 3, hidden: [6, 5], activation: .elu, residual: residual)
    #expect(net.parameterCount == plain.parameterCount + 6 * 2 * 4)  // the first layer reads 3 + 2 K columns
    expectMLPGradients(net, "Fourier features")
  }

  @Test("Fourier features: phi(x) = [x, sin 2 pi B x, cos 2 pi B x], B fixed by (d, K, sigma) with std sigma")
  func fourierFeatures() {
    let a = FourierFeatures(input: 2, count: 2000, scale: 3), b = FourierFeatures(input: 2, count: 2000, scale: 3)
    #expect(a.frequencies == b.frequencies)
    let n = Double(a.frequencies.count)
    let mean = a.frequencies.reduce(0, +) / n
    let sd = (a.frequencies.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / n).squareRoot()
    #expect(abs(mean) < 0.15 && abs(sd - 3) < 0.1, "mean \(mean), sd \(sd)")
    let x: [Double] = [0.3, -0.7]
    var phi = [Double](repeating: 0, count: a.width)
    phi.withUnsafeMutableBufferPointer { p in x.withUnsafeBufferPointer { a.forward($0.baseAddress!, rows: 1, into: p.baseAddress!) } }
    #expect(phi[0] == 0.3 && phi[1] == -0.7)
    for k in [0, 17, 1999] {
      let t = 2 * Double.pi * (a.frequencies[2 * k] * 0.3 - a.frequencies[2 * k + 1] * 0.7)
      #expect(abs(phi[2 + k] - sin(t)) < 1e-12 && abs(phi[2 + 2000 + k] - cos(t)) < 1e-12)
    }
  }

  @Test("identity initialisation: grad u(x) ~ x; Gaussian: grad u(x) ~ S x + t")
  func initialisation() {
    let net = ICNN(dim: 4, hidden: [64, 64, 64, 64], rank: 1)
    let x = randomBatch(200, 4, seed: 31, scale: 2)
    let p: [Double] = net.initialParameters(seed: 0)
    let g = net.valueAndGradient(p, x).grad
    #expect(relativeError(g.storage, x.storage) < 0.02, "identity: \(relativeError(g.storage, x.storage))")

    let a = Matrix<Double>([[2, 0.5, 0, 0], [0.5, 1, 0.2, 0], [0, 0.2, 0.7, 0.1], [0, 0, 0.1, 1.5]])
    let t = [0.3, -1, 0.5, 2]
    let pg: [Double] = net.initialParameters(seed: 0, gaussianMap: (a, t))
    let gg = net.valueAndGradient(pg, x).grad
    var expected = matmul(x, a, transposeB: true)
    for r in 0 ..< 200 { for j in 0 ..< 4 { expected[r, j] += t[j] } }
    #expect(relativeError(gg.storage, expected.storage) < 0.02)
  }

  @Test("a random ICNN is convex: midpoint inequality on 1,000 random segments")
  func convexity() {
    for act in allActivations {
      let net = ICNN(dim: 3, hidden: [16, 16], rank: 2, activation: act)
      let p = icnnParameters(net, seed: 41)
      let a = randomBatch(1000, 3, seed: 42, scale: 2), b = randomBatch(1000, 3, seed: 43, scale: 2)
      var mid = a
      for i in mid.storage.indices { mid.storage[i] = (a.storage[i] + b.storage[i]) / 2 }
      let (ua, ub, um) = (net.forward(p, a).u, net.forward(p, b).u, net.forward(p, mid).u)
      let violations = (0 ..< 1000).filter { um[$0] > (ua[$0] + ub[$0]) / 2 + 1e-12 }
      #expect(violations.isEmpty, "\(act): \(violations.count) violations")
    }
  }
}
