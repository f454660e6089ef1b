// Augmented bridge matching for the inverse map M^-1 (docs/design.md §1 step 3; Liu et al. 2023,
// "augmented" = conditioned on the start point). On the coupling (X0, X1) = (M(x), x), x ~ rho:
//   x_t = (1 - t) X0 + t X1 + sigma sqrt(t (1 - t)) eps,   eps ~ N(0, I),  t in (0, 1),
// the Brownian bridge from X0 to X1, whose drift towards X1 is (X1 - x_t) / (1 - t). The network
// predicts the endpoint, v(x_t, t, X0) ~ E[X1 | x_t, X0] (the authors' parameterisation, which
// keeps the regression target bounded as t -> 1), trained by the mean of |v - X1|^2; the drift
// is then (v - x_t) / (1 - t), and dX = drift dt + sigma dW from X_0 = y samples M^-1(y).
// v is an MLP on [x_t, X0, t, cos(2 pi k t), sin(2 pi k t) for k = 1..K].
import RealModule

public struct BridgeNetwork: Sendable, Equatable {
  public let dim: Int
  /// K: the time features are t, cos(2 pi k t), sin(2 pi k t) for k = 1 ... K.
  public let frequencies: Int
  public let mlp: MLP

  public init(dim: Int, hidden: [Int], frequencies: Int = 16, activation: Activation = .elu) {
    precondition(dim > 0 && frequencies >= 0, "BridgeNetwork: dim > 0, frequencies >= 0")
    self.dim = dim
    self.frequencies = frequencies
    mlp = MLP(input: 2 * dim + 1 + 2 * frequencies, output: dim, hidden: hidden, activation: activation)
  }

  public var layout: ArenaLayout { mlp.layout }
  public var parameterCount: Int { mlp.parameterCount }

  public func initialParameters<T: BLASScalar>(seed: UInt64) -> [T] {
    mlp.initialParameters(seed: seed, stream: 0xB1)
  }

  /// The network's input rows [x_t | X0 | t | cos(2 pi k t) | sin(2 pi k t)].
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func inputs<T: BLASScalar>(xt: Matrix<T>, t: [T], x0: Matrix<T>) -> Matrix<T> {
    precondition(
      xt.cols == dim && x0.cols == dim && xt.rows == x0.rows && t.count == xt.rows,
      "BridgeNetwork: x_t, t and X0 disagree in shape")
    var z = Matrix<T>(rows: xt.rows, cols: mlp.input)
    for r in 0 ..< xt.rows {
      for j in 0 ..< dim { z[r, j] = xt[r, j]; z[r, dim + j] = x0[r, j] }
    }
    z.storage.withUnsafeMutableBufferPointer { p in
      t.withUnsafeBufferPointer { timeFeatures($0.baseAddress!, rows: xt.rows, into: p.baseAddress!) }
    }
    return z
  }

  /// Columns 2d ..< input of the input rows z [n, input]: t, cos(2 pi k t), sin(2 pi k t).
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func timeFeatures<T: BLASScalar>(_ t: UnsafePointer<T>, rows n: Int, into z: UnsafeMutablePointer<T>) {
    let width = mlp.input
    for r in 0 ..< n {
      z[r * width + 2 * dim] = t[r]
      for k in 0 ..< frequencies {
        let a = 2 * T.pi * T(k + 1) * t[r]
        z[r * width + 2 * dim + 1 + k] = T.cos(a)
        z[r * width + 2 * dim + 1 + frequencies + k] = T.sin(a)
      }
    }
  }

  /// v(x_t, t, X0): the predicted endpoints X1, with the tape for `backward`.
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func forward<T: BLASScalar>(_ params: [T], xt: Matrix<T>, t: [T], x0: Matrix<T>) -> MLP.Tape<T> {
    mlp.forward(params, inputs(xt: xt, t: t, x0: x0))
  }

  /// Backward from dL/dv: accumulates the parameter gradient; returns dL/dx_t when asked.
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func backward<T: BLASScalar>(
    _ params: [T], _ tape: MLP.Tape<T>, dv: Matrix<T>, grad: inout [T],
    inputGradient: Bool = false
  ) -> Matrix<T>? {
    guard let dz = mlp.backward(params, tape, dy: dv, grad: &grad, inputGradient: inputGradient) else { return nil }
    var dxt = Matrix<T>(rows: dz.rows, cols: dim)
    for r in 0 ..< dz.rows { for j in 0 ..< dim { dxt[r, j] = dz[r, j] } }
    return dxt
  }

  /// The bridge point x_t = (1 - t) X0 + t X1 + sigma sqrt(t (1 - t)) eps, row by row.
  public static func interpolate<T: BLASScalar>(x0: Matrix<T>, x1: Matrix<T>, t: [T], eps: Matrix<T>, sigma: T) -> Matrix<T> {
    var xt = x0
    for r in 0 ..< x0.rows {
      let s = noiseScale(t: t[r], sigma: sigma)
      for j in 0 ..< x0.cols { xt[r, j] = point(x0: x0[r, j], x1: x1[r, j], t: t[r], noiseScale: s, eps: eps[r, j]) }
    }
    return xt
  }

  /// sigma sqrt(t (1 - t)), the bridge's noise level at time t.
  @inlinable
  public static func noiseScale<T: BLASScalar>(t: T, sigma: T) -> T { sigma * (t * (1 - t)).squareRoot() }

  /// One coordinate of x_t = (1 - t) X0 + t X1 + noiseScale eps.
  @inlinable
  public static func point<T: BLASScalar>(x0: T, x1: T, t: T, noiseScale s: T, eps: T) -> T { (1 - t) * x0 + t * x1 + s * eps }

  /// The regression loss sum_rows |v(x_t, t, X0) - X1|^2 (a sum, so micro-batches add up) and
  /// its parameter gradient, accumulated into `grad` (the training stage's `regression` on
  /// matrices).
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func loss<T: BLASScalar>(
    _ params: [T], x0: Matrix<T>, x1: Matrix<T>, t: [T], eps: Matrix<T>, sigma: T,
    grad: inout [T]
  ) -> T {
    let xt = BridgeNetwork.interpolate(x0: x0, x1: x1, t: t, eps: eps, sigma: sigma)
    let z = inputs(xt: xt, t: t, x0: x0), n = x0.rows
    guard n > 0 else { return 0 }
    let v = MLPEvaluator<T>(mlp, capacity: n)
    v.load(params)
    var dv = [T](repeating: 0, count: n * dim)
    return z.storage.withUnsafeBufferPointer { pz in
      x1.storage.withUnsafeBufferPointer { p1 in
        dv.withUnsafeMutableBufferPointer { pd in
          grad.withUnsafeMutableBufferPointer { pg in
            regression(v, inputs: pz.baseAddress!, x1: p1.baseAddress!, rows: n, dv: pd.baseAddress!, grad: pg.baseAddress!)
          }
        }
      }
    }
  }

  /// One training row of the bridge regression: the input row z = [x_t | X0 | ...] (columns
  /// 0 ..< 2d; the time features are `timeFeatures`' to write) and its target X1, for the
  /// coupling (X0, X1) at time t with noise eps(j) in coordinate j. (Inlinable: specialized
  /// where it is called, no closure thunk is allocated per row.)
  @inlinable
  public func trainingRow<T: BLASScalar>(
    x0: UnsafePointer<T>, x1: UnsafePointer<T>, t: T, sigma: T, eps: (Int) -> T,
    input z: UnsafeMutablePointer<T>, target: UnsafeMutablePointer<T>
  ) {
    let scale = BridgeNetwork.noiseScale(t: t, sigma: sigma)
    for j in 0 ..< dim {
      let a = x0[j], b = x1[j]
      z[j] = BridgeNetwork.point(x0: a, x1: b, t: t, noiseScale: scale, eps: eps(j))
      z[dim + j] = a
      target[j] = b
    }
  }

  /// The bridge regression on buffers: v = the network at the input rows z [rows, input] (the
  /// evaluator `v` of this network's MLP, parameters loaded), L = sum_rows |v - X1|^2
  /// (maskedSquaredError), grad += dL/dparams; dv [rows, d] is work space. Returns L.
  /// (Inlinable: the training stage's call is specialized in place and allocates nothing.)
  @inlinable
  public func regression<T: BLASScalar>(
    _ v: MLPEvaluator<T>, inputs z: UnsafePointer<T>, x1: UnsafePointer<T>, rows: Int,
    dv: UnsafeMutablePointer<T>, grad: UnsafeMutablePointer<T>
  ) -> T {
    v.forward(z, rows: rows)
    let loss = maskedSquaredError(prediction: v.y, target: x1, mask: nil, rows: rows, dim: dim, gradient: dv)
    v.backward(dy: dv, rows: rows, grad: grad)
    return loss
  }

  /// Euler–Maruyama for dX = (v(X, t, X0) - X) / (1 - t) dt + sigma dW on the uniform grid
  /// t_k = k / steps from X_0 = y (X0 = y throughout), the last step without noise, so the
  /// result is the predicted endpoint reached along the sampled path. `noise(k)` gives the
  /// standard normal increments of step k ([rows, d]); with counter-based noise a sample does not
  /// depend on how the rows are batched.
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func sample<T: BLASScalar>(
    _ params: [T], from y: Matrix<T>, steps: Int, sigma: T,
    noise: (Int) -> Matrix<T>
  ) -> Matrix<T> {
    let sampler = BridgeSampler<T>(self, capacity: max(y.rows, 1))
    var x = Matrix<T>(rows: y.rows, cols: dim)
    y.storage.withUnsafeBufferPointer { py in
      x.storage.withUnsafeMutableBufferPointer { px in
        sampler.sample(
          params, from: py.baseAddress!, rows: y.rows, steps: steps, sigma: sigma,
          noise: { k, eps in
            let e = noise(k); for i in 0 ..< e.storage.count { eps[i] = e.storage[i] }
          },
          into: px.baseAddress!)
      }
    }
    return x
  }
}

/// BridgeNetwork.sample on buffers allocated once for up to `capacity` rows (the `sample`
/// command's chunks): nothing is allocated per Euler step, and the network's activations stay in
/// cache from step to step (perf: with fresh matrices per step two ranks ran 40% slower each).
public final class BridgeSampler<T: BLASScalar> {
  public let net: BridgeNetwork
  public let capacity: Int
  let evaluator: MLPEvaluator<T>
  var z: [T], eps: [T], t: [T]

  public init(_ net: BridgeNetwork, capacity: Int) {
    self.net = net
    self.capacity = capacity
    evaluator = MLPEvaluator(net.mlp, capacity: capacity)
    z = [T](repeating: 0, count: capacity * net.mlp.input)
    eps = [T](repeating: 0, count: capacity * net.dim)
    t = [T](repeating: 0, count: capacity)
  }

  /// The samples from y [n, d] into x [n, d] (n <= capacity); `noise(k, eps)` writes step k's
  /// standard normal increments [n, d] into eps.
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func sample(
    _ params: [T], from y: UnsafePointer<T>, rows n: Int, steps: Int, sigma: T,
    noise: (Int, UnsafeMutablePointer<T>) -> Void, into x: UnsafeMutablePointer<T>
  ) {
    precondition(steps >= 1, "BridgeNetwork.sample: at least one step")
    precondition(n <= capacity, "BridgeSampler: \(n) rows, capacity \(capacity)")
    if n == 0 { return }
    let d = net.dim, width = net.mlp.input
    evaluator.load(params)
    defer { evaluator.release() }
    for i in 0 ..< n * d { x[i] = y[i] }
    let dt = 1 / T(steps)
    z.withUnsafeMutableBufferPointer { zb in
      eps.withUnsafeMutableBufferPointer { eb in
        t.withUnsafeMutableBufferPointer { tb in
          let z = zb.baseAddress!, e = eb.baseAddress!, tp = tb.baseAddress!
          for r in 0 ..< n { for j in 0 ..< d { z[r * width + d + j] = y[r * d + j] } }  // X0 = y throughout
          for k in 0 ..< steps {
            let time = T(k) * dt
            for r in 0 ..< n {
              tp[r] = time
              for j in 0 ..< d { z[r * width + j] = x[r * d + j] }
            }
            net.timeFeatures(tp, rows: n, into: z)
            evaluator.forward(z, rows: n)
            let v = evaluator.y
            let last = k == steps - 1
            if !last { noise(k, e) }
            let scale = sigma * dt.squareRoot()
            for i in 0 ..< n * d {
              // drift * dt = (v - x) / (1 - t) * dt; at the last step (1 - t) = dt, so x becomes v.
              x[i] += (v[i] - x[i]) / (1 - time) * dt + (last ? 0 : scale * e[i])
            }
          }
        }
      }
    }
  }
}
