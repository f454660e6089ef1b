import PolarCore
import Testing

@Suite("MLPEvaluator")
struct MLPEvaluatorTests {
  @Test(
    "Y and the parameter gradient equal MLP.forward/backward in Double (residual or not, Fourier features or not, every activation)",
    arguments: [Activation.elu, .relu, .softplus, .leakyRelu(slope: 0.01)])
  func matchesMLP(activation: Activation) {
    for (input, output, hidden, residual, fourier) in [
      (3, 3, [5, 4], true, 0), (2, 4, [6], false, 0), (4, 4, [3, 7, 5], false, 0), (2, 2, [6, 5], true, 3), (2, 3, [4], false, 2),
    ] {
      let net = MLP(
        input: input, output: output, hidden: hidden, activation: activation, residual: residual,
        fourier: fourier > 0 ? FourierFeatures(input: input, count: fourier, scale: 2) : nil)
      let rng = CounterRNG(seed: 5, stream: 9)
      let params = (0 ..< net.parameterCount).map { 0.7 * rng.normal(UInt64($0)) }
      let x = randomMatrix(11, input, stream: 21), dy = randomMatrix(11, output, stream: 22)
      let ev = MLPEvaluator<Double>(net, capacity: 16)
      ev.load(params)
      let start = (0 ..< net.parameterCount).map { Double($0 % 3) - 1 }
      for rows in [11, 11, 6] {  // buffers reused; fewer rows than the capacity
        var xs = Matrix<Double>(rows: rows, cols: input), dys = Matrix<Double>(rows: rows, cols: output)
        for i in 0 ..< rows * input { xs.storage[i] = x.storage[i] }
        for i in 0 ..< rows * output { dys.storage[i] = dy.storage[i] }
        let tape = net.forward(params, xs)
        var expected = start
        _ = net.backward(params, tape, dy: dys, grad: &expected)
        xs.storage.withUnsafeBufferPointer { ev.forward($0.baseAddress!, rows: rows) }
        for i in 0 ..< rows * output {
          #expect(abs(ev.y[i] - tape.y.storage[i]) <= 1e-12 * max(1, abs(tape.y.storage[i])), "y \(i)")
        }
        var got = start
        dys.storage.withUnsafeBufferPointer { d in
          got.withUnsafeMutableBufferPointer { ev.backward(dy: d.baseAddress!, rows: rows, grad: $0.baseAddress!) }
        }
        for i in 0 ..< net.parameterCount {
          #expect(abs(got[i] - expected[i]) <= 1e-11 * max(1, abs(expected[i])), "parameter \(i): \(got[i]) vs \(expected[i])")
        }
      }
    }
  }
}
