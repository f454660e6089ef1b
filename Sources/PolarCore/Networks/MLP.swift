// A multilayer perceptron y = f(x) = D_L(act(... act(D_1 x))) with dense layers D_k, used for the
// amortizer g_phi(y) ~ grad u*(y) and the explicit map M_psi (docs/design.md §1). With `residual`,
// y = S x + f(x) (needs input == output) with a learnt linear skip S, initialised to the identity
// and the last layer of f small, so the network starts near the identity and the linear part of
// the map (all of it for a linear field) is learnt directly rather than through the nonlinear path.
// With `fourier`, f reads the random Fourier features phi(x) (FourierFeatures.swift) instead of x;
// the skip still reads x.

public struct MLP: Sendable, Equatable {
  public let input: Int
  public let output: Int
  public let hidden: [Int]
  public let activation: Activation
  public let residual: Bool
  public let fourier: FourierFeatures?
  public let layout: ArenaLayout
  /// D_1 ... D_L, then the skip S (no bias) when `residual`.
  let layers: [Dense]
  /// The number of layers of f (without the skip).
  var depth: Int { residual ? layers.count - 1 : layers.count }

  public init(
    input: Int, output: Int, hidden: [Int], activation: Activation = .elu,
    residual: Bool = false, fourier: FourierFeatures? = nil
  ) {
    precondition(input > 0 && output > 0 && hidden.allSatisfy { $0 > 0 }, "MLP sizes must be positive")
    precondition(!residual || input == output, "a residual MLP needs input == output")
    precondition(fourier.map { $0.input == input } ?? true, "MLP: Fourier features of another input width")
    self.input = input
    self.output = output
    self.hidden = hidden
    self.activation = activation
    self.residual = residual
    self.fourier = fourier
    var layout = ArenaLayout()
    let widths = [fourier?.width ?? input] + hidden + [output]
    var layers = (1 ..< widths.count).map {
      Dense("L\($0)", input: widths[$0 - 1], output: widths[$0], layout: &layout)
    }
    if residual { layers.append(Dense("skip", input: input, output: output, bias: false, layout: &layout)) }
    self.layers = layers
    self.layout = layout
  }

  public var parameterCount: Int { layout.count }

  /// LeCun-normal weights N(0, 1/fan_in), zero biases; the last layer scaled by `lastScale`
  /// (0.01 by default for residual nets, so they start near the identity); the skip S = I.
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func initialParameters<T: BLASScalar>(
    seed: UInt64, stream: UInt64 = 0x3A,
    lastScale: Double? = nil
  ) -> [T] {
    let rng = CounterRNG(seed: seed, stream: CounterRNG.streamID(0x4D4C50, stream))
    var p = [T](repeating: 0, count: layout.count)
    for (k, layer) in layers.prefix(depth).enumerated() {
      var scale = 1 / Double(layer.input).squareRoot()
      if k == depth - 1 { scale *= lastScale ?? (residual ? 0.01 : 1) }
      for i in layer.weight.range { p[i] = T(scale * rng.normal(UInt64(i))) }
    }
    if residual {
      let skip = layers[depth].weight
      for j in 0 ..< input { p[skip.offset + j * input + j] = 1 }
    }
    return p
  }

  public struct Tape<T: BLASScalar> {
    let x: Matrix<T>  // the network's input
    let inputs: [Matrix<T>]  // input of each layer (phi(x) for the first one with Fourier features)
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
      var h = x
      if let fourier {
        h = Matrix<T>(rows: x.rows, cols: fourier.width)
        x.withPointer { px in h.withMutablePointer { fourier.forward(px, rows: x.rows, into: $0) } }
      }
      var inputs = [h], pre = [Matrix<T>]()
      for (k, layer) in layers.prefix(depth).enumerated() {
        let z = layer.forward(p, h)
        if k == depth - 1 {
          var y = z
          if residual {
            let sx = layers[depth].forward(p, x)
            for i in y.storage.indices { y.storage[i] += sx.storage[i] }
          }
          return Tape(x: x, inputs: inputs, pre: pre, y: y)
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
  public func backward<T: BLASScalar>(
    _ params: [T], _ tape: Tape<T>, dy: Matrix<T>,
    grad: inout [T], inputGradient: Bool = false
  ) -> Matrix<T>? {
    precondition(grad.count == layout.count, "MLP: gradient buffer has the wrong size")
    return params.withUnsafeBufferPointer { buf in
      grad.withUnsafeMutableBufferPointer { gbuf in
        let p = buf.baseAddress!, gp = gbuf.baseAddress!
        var g = dy
        // The skip: dS += dy^T x, and dx gets dy S.
        let skipDX = residual ? layers[depth].backward(p, tape.x, dy, grad: gp, inputGradient: inputGradient) : nil
        for k in stride(from: depth - 1, through: 0, by: -1) {
          let needInput = k > 0 || inputGradient
          let dh = layers[k].backward(p, tape.inputs[k], g, grad: gp, inputGradient: needInput)
          guard let dh else { return nil }
          if k == 0 {
            guard inputGradient else { return nil }
            var dx = dh
            if let fourier {  // through phi(x)
              dx = Matrix<T>(rows: dh.rows, cols: input)
              tape.inputs[0].withPointer { pp in
                dh.withPointer { pd in dx.withMutablePointer { fourier.inputGradient(phi: pp, dphi: pd, rows: dh.rows, into: $0) } }
              }
            }
            if let skipDX { for i in dx.storage.indices { dx.storage[i] += skipDX.storage[i] } }
            return dx
          }
          g = activation.backward(tape.pre[k - 1], dh)
        }
        return nil
      }
    }
  }
}
