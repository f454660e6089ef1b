// Random Fourier features of the input (Tancik et al., NeurIPS 2020, "Fourier features let
// networks learn high frequency functions in low dimensional domains"):
//   phi(x) = [x, sin(2 pi B x), cos(2 pi B x)],   B [K, d] fixed, B_kj ~ N(0, sigma^2),
// so an MLP on phi(x) fits a function of x with features up to about sigma cycles per unit of x,
// which a plain MLP of x learns only slowly (spectral bias). B is not trained: it is a function of
// (d, K, sigma) alone, drawn from a fixed counter-RNG stream, so every rank, every run and every
// reader of a checkpoint rebuilds the same B from the configuration. Used by the explicit map
// M_psi on irregular fields (map.fourier, the topography's M = grad u* o grad h).
// Input gradient: d phi / d x_j = [e_j, 2 pi B_kj cos(2 pi B_k x), -2 pi B_kj sin(2 pi B_k x)].

public struct FourierFeatures: Sendable, Equatable {
  public let input: Int
  public let count: Int
  public let scale: Double
  /// B, row-major [count, input], in cycles per unit of x.
  public let frequencies: [Double]

  public init(input: Int, count: Int, scale: Double) {
    precondition(input > 0 && count > 0 && scale > 0 && scale.isFinite, "FourierFeatures: input, count, scale > 0")
    self.input = input
    self.count = count
    self.scale = scale
    let rng = CounterRNG(seed: 0x4646, stream: CounterRNG.streamID(0x464F55, UInt64(input)))
    frequencies = (0 ..< count * input).map { scale * rng.normal(UInt64($0)) }
  }

  /// Columns of phi(x): input + 2 count.
  public var width: Int { input + 2 * count }

  /// phi [n, width] of x [n, input].
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func forward<T: BLASScalar>(_ x: UnsafePointer<T>, rows n: Int, into phi: UnsafeMutablePointer<T>) {
    let w = width, twoPi = 2 * Double.pi
    for r in 0 ..< n {
      let xr = x + r * input, out = phi + r * w
      for j in 0 ..< input { out[j] = xr[j] }
      for k in 0 ..< count {
        var a = 0.0
        for j in 0 ..< input { a += frequencies[k * input + j] * Double(xr[j]) }
        a *= twoPi
        out[input + k] = T(Double.sin(a))
        out[input + count + k] = T(Double.cos(a))
      }
    }
  }

  /// dx [n, input] = dL/dx for dL/dphi = dphi [n, width], after phi = forward(x): phi's own
  /// sin and cos columns give cos(2 pi B x) and sin(2 pi B x).
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func inputGradient<T: BLASScalar>(
    phi: UnsafePointer<T>, dphi: UnsafePointer<T>, rows n: Int, into dx: UnsafeMutablePointer<T>
  ) {
    let w = width, twoPi = 2 * Double.pi
    for r in 0 ..< n {
      let p = phi + r * w, g = dphi + r * w, out = dx + r * input
      for j in 0 ..< input { out[j] = g[j] }
      for k in 0 ..< count {
        // d/da of (sin a, cos a) = (cos a, -sin a), a = 2 pi B_k x
        let da = twoPi * (Double(g[input + k]) * Double(p[input + count + k]) - Double(g[input + count + k]) * Double(p[input + k]))
        for j in 0 ..< input { out[j] += T(da * frequencies[k * input + j]) }
      }
    }
  }
}
