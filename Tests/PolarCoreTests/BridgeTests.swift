import PolarCore
import Testing

@Suite("Bridge matching network and sampler")
struct BridgeTests {
  @Test("bridge network: parameter and x_t gradients by finite differences (Double)")
  func gradients() {
    let net = BridgeNetwork(dim: 2, hidden: [7, 5], frequencies: 3, activation: .elu)
    let params = randomVector(net.parameterCount, seed: 81, stream: 81, scale: 0.5)
    let xt = randomBatch(5, 2, seed: 82), x0 = randomBatch(5, 2, seed: 83)
    let t = [0.1, 0.3, 0.5, 0.7, 0.9]
    let w = randomVector(10, seed: 84, stream: 84)
    func loss(_ p: [Double], _ xt: Matrix<Double>) -> Double {
      zip(net.forward(p, xt: xt, t: t, x0: x0).y.storage, w).reduce(0) { $0 + $1.0 * $1.1 }
    }
    var grad = [Double](repeating: 0, count: net.parameterCount)
    let dxt = net.backward(
      params, net.forward(params, xt: xt, t: t, x0: x0), dv: Matrix(rows: 5, cols: 2, storage: w),
      grad: &grad, inputGradient: true)!
    #expect(relativeError(grad, finiteDifference(params) { loss($0, xt) }) < 1e-6)
    let fd = finiteDifference(xt.storage) { loss(params, Matrix(rows: 5, cols: 2, storage: $0)) }
    #expect(relativeError(dxt.storage, fd) < 1e-6)
  }

  @Test("bridge loss: its gradient matches finite differences of the loss itself")
  func lossGradient() {
    let net = BridgeNetwork(dim: 2, hidden: [6], frequencies: 2)
    let params = randomVector(net.parameterCount, seed: 85, stream: 85, scale: 0.5)
    let x0 = randomBatch(4, 2, seed: 86), x1 = randomBatch(4, 2, seed: 87), eps = randomBatch(4, 2, seed: 88)
    let t = [0.2, 0.4, 0.6, 0.8]
    var grad = [Double](repeating: 0, count: net.parameterCount)
    _ = net.loss(params, x0: x0, x1: x1, t: t, eps: eps, sigma: 0.3, grad: &grad)
    let fd = finiteDifference(params) { p in
      var g = [Double](repeating: 0, count: net.parameterCount)
      return net.loss(p, x0: x0, x1: x1, t: t, eps: eps, sigma: 0.3, grad: &g)
    }
    #expect(relativeError(grad, fd) < 1e-6)
  }

  @Test("the sampler ends at the network's endpoint: a constant v = c gives X_1 = c for any noise")
  func samplerEndpoint() {
    let net = BridgeNetwork(dim: 2, hidden: [4], frequencies: 1)
    var params = [Double](repeating: 0, count: net.parameterCount)
    let lastBias = net.layout.blocks.last { $0.name.hasSuffix(".b") }!
    params[lastBias.offset] = 1.5
    params[lastBias.offset + 1] = -0.5
    let y = randomBatch(8, 2, seed: 89)
    for sigma in [0.0, 0.3] {
      let x = net.sample(params, from: y, steps: 10, sigma: sigma) { randomBatch(8, 2, seed: 90 + UInt64($0)) }
      for r in 0 ..< 8 {
        #expect(abs(x[r, 0] - 1.5) < 1e-12 && abs(x[r, 1] + 0.5) < 1e-12)
      }
    }
  }

  @Test("trained on the coupling (|x|, x), x ~ N(0, 1): samples of M^-1(y) split between y and -y")
  func twoBranches() {
    // M(x) = |x| in 1-D is two-to-one: M^-1(y) = {y, -y}, each with probability 1/2. sigma = 0.5:
    // with 0.1 the two bridges from X0 = 1 separate within t ~ 0.05 and the branch is decided by
    // a sharp function of (x_t - 1) / t that 3,000 steps of this small net do not learn (measured:
    // most samples on one branch).
    let net = BridgeNetwork(dim: 1, hidden: [64, 64], frequencies: 8)
    var params: [Float] = net.initialParameters(seed: 3)
    var adam = AdamState<Float>(count: params.count)
    let config = AdamConfig(learningRate: 3e-3, schedule: .cosine(total: 3000, final: 1e-4, warmup: 0))
    let rng = CounterRNG(seed: 5, stream: 1)
    let batch = 256
    for step in 0 ..< 3000 {
      let base = UInt64(step * batch * 4)
      var x1 = Matrix<Float>(rows: batch, cols: 1), eps = x1
      var t = [Float](repeating: 0, count: batch)
      for r in 0 ..< batch {
        x1[r, 0] = Float(rng.normal(base + UInt64(4 * r)))
        eps[r, 0] = Float(rng.normal(base + UInt64(4 * r + 1)))
        t[r] = Float(0.001 + 0.998 * rng.uniform(base + UInt64(4 * r + 2)))
      }
      var x0 = x1
      for r in 0 ..< batch { x0[r, 0] = abs(x1[r, 0]) }
      var grad = [Float](repeating: 0, count: params.count)
      _ = net.loss(params, x0: x0, x1: x1, t: t, eps: eps, sigma: 0.5, grad: &grad)
      _ = adamStep(&params, grad: grad.map { $0 / Float(batch) }, state: &adam, config: config)
    }
    let n = 400
    let y = Matrix<Float>(rows: n, cols: 1, repeating: 1)
    let noise = CounterRNG(seed: 6, stream: 2)
    let x = net.sample(params, from: y, steps: 100, sigma: 0.5) { k in
      Matrix(rows: n, cols: 1, storage: (0 ..< n).map { Float(noise.normal(UInt64(k * n + $0))) })
    }
    let near = x.storage.map { abs(abs($0) - 1) < 0.15 }.filter { $0 }.count
    let positive = x.storage.filter { $0 > 0 }.count
    #expect(near >= 360, "\(near) of \(n) samples within 0.15 of +-1: \(x.storage.prefix(12))")
    #expect(positive > 120 && positive < 280, "\(positive) of \(n) on the + branch")
  }
}
