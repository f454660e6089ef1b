// Activations, forward and derivative side by side. For the ICNN they must be convex and
// non-decreasing (Amos et al. 2017): relu, leaky-relu (slope > 0), softplus and elu all are.

public enum Activation: Sendable, Equatable, Codable {
  case relu
  case leakyRelu(slope: Double)
  case softplus
  case elu

  /// Parses "relu", "leaky-relu" (slope 0.01), "leaky-relu:0.2", "softplus", "elu".
  public init?(name: String) {
    let parts = name.split(separator: ":", maxSplits: 1).map(String.init)
    switch parts[0] {
    case "relu": self = .relu
    case "leaky-relu", "leaky_relu":
      guard let s = parts.count > 1 ? Double(parts[1]) : 0.01, s > 0, s < 1 else { return nil }
      self = .leakyRelu(slope: s)
    case "softplus": self = .softplus
    case "elu": self = .elu
    default: return nil
    }
  }

  public var name: String {
    switch self {
    case .relu: "relu"
    case .leakyRelu(let s): s == 0.01 ? "leaky-relu" : "leaky-relu:\(s)"
    case .softplus: "softplus"
    case .elu: "elu"
    }
  }

  /// a = act(z), elementwise.
  @inline(__always)
  public func apply<T: BLASScalar>(_ z: T) -> T {
    switch self {
    case .relu: z > 0 ? z : 0
    case .leakyRelu(let s): z > 0 ? z : T(s) * z
    case .softplus: PolarCore.softplus(z)
    case .elu: z > 0 ? z : T.expMinusOne(z)
    }
  }

  /// act'(z), elementwise.
  @inline(__always)
  public func derivative<T: BLASScalar>(_ z: T) -> T {
    switch self {
    case .relu: z > 0 ? 1 : 0
    case .leakyRelu(let s): z > 0 ? 1 : T(s)
    case .softplus: sigmoid(z)
    case .elu: z > 0 ? 1 : T.exp(z)
    }
  }

  /// A[i] = act(Z[i]) over a whole matrix (the switch outside the loop, so the loop vectorises).
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func forward<T: BLASScalar>(_ z: Matrix<T>) -> Matrix<T> {
    var a = z
    a.storage.withUnsafeMutableBufferPointer { p in
      switch self {
      case .relu: for i in p.indices { p[i] = p[i] > 0 ? p[i] : 0 }
      case .leakyRelu(let s): let t = T(s); for i in p.indices { p[i] = p[i] > 0 ? p[i] : t * p[i] }
      case .softplus: for i in p.indices { p[i] = PolarCore.softplus(p[i]) }
      case .elu:
        if T.self == Float.self {
          UnsafeMutableRawBufferPointer(p).withMemoryRebound(to: Float.self) { q in
            for i in q.indices { q[i] = q[i] > 0 ? q[i] : expMinusOneOfNonPositive(q[i]) }
          }
        } else {
          for i in p.indices where !(p[i] > 0) { p[i] = T.expMinusOne(p[i]) }
        }
      }
    }
    return a
  }

  /// dZ[i] = dA[i] * act'(Z[i]).
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func backward<T: BLASScalar>(_ z: Matrix<T>, _ dA: Matrix<T>) -> Matrix<T> {
    precondition(z.storage.count == dA.storage.count, "Activation.backward: shapes differ")
    var dZ = dA
    z.storage.withUnsafeBufferPointer { zp in
      dZ.storage.withUnsafeMutableBufferPointer { p in
        switch self {
        case .relu: for i in p.indices { p[i] = zp[i] > 0 ? p[i] : 0 }
        case .leakyRelu(let s): let t = T(s); for i in p.indices { p[i] = zp[i] > 0 ? p[i] : t * p[i] }
        case .softplus: for i in p.indices { p[i] *= sigmoid(zp[i]) }
        case .elu:
          if T.self == Float.self {
            let zf = UnsafeRawBufferPointer(zp).assumingMemoryBound(to: Float.self)
            UnsafeMutableRawBufferPointer(p).withMemoryRebound(to: Float.self) { q in
              for i in q.indices { q[i] = zf[i] > 0 ? q[i] : q[i] * expOfNonPositive(zf[i]) }
            }
          } else {
            for i in p.indices where !(zp[i] > 0) { p[i] *= T.exp(zp[i]) }
          }
        }
      }
    }
    return dZ
  }
}

extension Activation {
  /// value[j] = act(x[j]) and slope[j] = act'(x[j]) for j < count, in one pass (the ICNN's
  /// evaluator keeps both for its backward pass). The Float elu uses the vectorised e^x - 1
  /// below, and act' = e^x = (e^x - 1) + 1 for x <= 0.
  /// `value` may be `x` (in place).
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func valueAndSlope<T: BLASScalar>(
    _ x: UnsafePointer<T>, count: Int, value: UnsafeMutablePointer<T>,
    slope: UnsafeMutablePointer<T>
  ) {
    if case .elu = self, T.self == Float.self {
      let xf = UnsafeRawPointer(x).assumingMemoryBound(to: Float.self)
      let vf = UnsafeMutableRawPointer(value).assumingMemoryBound(to: Float.self)
      let sf = UnsafeMutableRawPointer(slope).assumingMemoryBound(to: Float.self)
      for j in 0 ..< count {
        let v = xf[j], e = expMinusOneOfNonPositive(min(v, 0))
        vf[j] = v > 0 ? v : e
        sf[j] = v > 0 ? 1 : e + 1
      }
    } else {
      for j in 0 ..< count { let v = x[j]; value[j] = apply(v); slope[j] = derivative(v) }  // value may be x
    }
  }
}

/// e^x - 1 in Float for the elu's x <= 0 (larger x give garbage; callers select them away),
/// written without calls or branches so that the activation loops vectorise (perf: glibc's
/// expm1f was 22% of an inverse-stage step). x = k ln 2 + r with k = round(x / ln 2) and
/// |r| <= ln 2 / 2 (k ln 2 subtracted in two parts, Cody & Waite 1980, so r keeps its accuracy),
/// e^r - 1 = r + r^2/2! + ... + r^7/7! (truncation below 2e-8 relative), then
/// e^x - 1 = 2^k (e^r - 1) + (2^k - 1), where 2^k - 1 is exact: no cancellation near 0 (k = 0).
/// Within 2 ulp of expm1f on [-88, 0] (tested).
@inline(__always)
public func expMinusOneOfNonPositive(_ x: Float) -> Float {
  let (twoK, p) = exponentialParts(x)
  return twoK * p + (twoK - 1)
}

/// e^x = 2^k (1 + (e^r - 1)) for x <= 0, the same reduction (for the elu's derivative).
@inline(__always)
public func expOfNonPositive(_ x: Float) -> Float {
  let (twoK, p) = exponentialParts(x)
  return twoK * (p + 1)
}

/// (2^k, e^r - 1) with x = k ln 2 + r, |r| <= ln 2 / 2.
@inline(__always)
func exponentialParts(_ x: Float) -> (Float, Float) {
  let xc = max(x, -87)  // 2^k stays a normal Float
  // Round to nearest by adding 1.5 * 2^23: k then sits in the low bits of kf's pattern, which
  // gives 2^k by integer arithmetic (no Float-to-Int conversion, whose range check would stop
  // the loop from vectorising).
  let kf = xc * 1.44269504 + 12582912
  let k = kf - 12582912
  let r = (xc - k * 0.693359375) - k * -2.12194440e-4
  let p = r * (1 + r * (0.5 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r * (1 / 720 + r * (1 / 5040)))))))
  return (Float(bitPattern: (kf.bitPattern &- 0x4B40_0000 &+ 127) << 23), p)
}
