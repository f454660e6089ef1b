// A multilayer perceptron y = f(x) = D_L(act(... act(D_1 x))) with dense layers D_k, used for the
// amortizer g_phi(y) ~ grad u*(y) and the explicit map M_psi (DESIGN §1). With `residual`,
// y = x + f(x) (needs input == output), so that a small last layer starts near the identity.

public struct MLP: Sendable, Equatable {
  public let input: Int
  public let output: Int
  public let hidden: [Int]
  public let activation: Activation
  public let residual: Bool
  public let layout: ArenaLayout
  let layers: [Dense]

  public init(input: Int, output: Int, hidden: [Int], activation: Activation = .elu,
              residual: Bool = false) {
    precondition(input > 0 && output > 0 && hidden.allSatisfy { $0 > 0 }, "MLP sizes must be positive")
    precondition(!residual || input == output, "a residual MLP needs input == output")
    self.input = input
    self.output = output
    self.hidden = hidden
    self.activation = activation
    self.residual = residual
    var layout = ArenaLayout()
    let widths = [input] + hidden + [output]
    layers = (1 ..< widths.count).map {
      Dense("L\($0)", input: widths[$0 - 1], output: widths[$0], layout: &layout)
    }
    self.layout = layout
  }

  public var parameterCount: Int { layout.count }

  /// LeCun-normal weights N(0, 1/fan_in), zero biases; the last layer scaled by `lastScale`
  /// (0.01 by default for residual nets, so they start near the identity).
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func initialParameters<T: BLASScalar>(seed: UInt64, stream: UInt64 = 0x3A,
                                               lastScale: Double? = nil) -> [T] {
    let rng = CounterRNG(seed: seed, stream: CounterRNG.streamID(0x4D4C50, stream))
    var p = [T](repeating: 0, count: layout.count)
    for (k, layer) in layers.enumerated() {
      var scale = 1 / Double(layer.input).squareRoot()
      if k == layers.count - 1 { scale *= lastScale ?? (residual ? 0.01 : 1) }
      for i in layer.weight.range { p[i] = T(scale * rng.normal(UInt64(i))) }
    }
    return p
  }

  public struct Tape<T: BLASScalar> {
    let inputs: [Matrix<T>]  // input of each layer
    let pre: [Matrix<T>]  // pre-activations of the hidden layers
    public let y: Matrix<T>
  }

  /// Forward on a batch X [B, input].
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func forward<T: BLASScalar>(_ params: [T], _ x: Matrix<T>) -> Tape<T> {
    precondition(params.count == layout.count, "MLP: \(params.count) parameters, expected \(layout.count)")
    return params.withUnsafeBufferPointer { buf in
      let p = buf.baseAddress!
      var inputs = [x], pre = [Matrix<T>]()
      var h = x
      for (k, layer) in layers.enumerated() {
        let z = layer.forward(p, h)
        if k == layers.count - 1 {
          var y = z
          if residual { for i in y.storage.indices { y.storage[i] += x.storage[i] } }
          return Tape(inputs: inputs, pre: pre, y: y)
        }
        pre.append(z)
        h = activation.forward(z)
        inputs.append(h)
      }
      fatalError("unreachable: an MLP has an output layer")
    }
  }

  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func callAsFunction<T: BLASScalar>(_ params: [T], _ x: Matrix<T>) -> Matrix<T> {
    forward(params, x).y
  }

  /// Backward from dL/dy: accumulates dL/dparams into `grad`, returns dL/dx when `inputGradient`.
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func backward<T: BLASScalar>(_ params: [T], _ tape: Tape<T>, dy: Matrix<T>,
                                      grad: inout [T], inputGradient: Bool = false) -> Matrix<T>? {
    precondition(grad.count == layout.count, "MLP: gradient buffer has the wrong size")
    return params.withUnsafeBufferPointer { buf in
      grad.withUnsafeMutableBufferPointer { gbuf in
        let p = buf.baseAddress!, gp = gbuf.baseAddress!
        var g = dy
        for k in stride(from: layers.count - 1, through: 0, by: -1) {
          let needInput = k > 0 || inputGradient
          let dh = layers[k].backward(p, tape.inputs[k], g, grad: gp, inputGradient: needInput)
          guard let dh else { return nil }
          if k == 0 {
            guard inputGradient else { return nil }
            var dx = dh
            if residual { for i in dx.storage.indices { dx.storage[i] += dy.storage[i] } }
            return dx
          }
          g = activation.backward(tape.pre[k - 1], dh)
        }
        return nil
      }
    }
  }
}
