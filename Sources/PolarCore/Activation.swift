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
      case .elu: for i in p.indices where !(p[i] > 0) { p[i] = T.expMinusOne(p[i]) }
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
        case .elu: for i in p.indices where !(zp[i] > 0) { p[i] *= T.exp(zp[i]) }
        }
      }
    }
    return dZ
  }
}
