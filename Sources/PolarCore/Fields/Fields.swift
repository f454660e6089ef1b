// Vector fields F: R^d -> R^d to factorize, and what is known of their factorization.
//   linear          F(x) = A x; on rho = N(0, I): grad u = P x, M = U x with A = P U (polar).
//   rotated-convex  F = grad phi o R, phi(x) = sum_i (a_i x_i^2 / 2 + c_i log cosh x_i), convex,
//                   R a rotation: on a rotation-invariant rho, u = phi and M = R.
//   toy 2-D fields, none the gradient of a convex function (ToyFields.swift)
//   file            samples (x_i, F(x_i)) only (docs/design.md §4); no closed form.
import RealModule

public enum FieldKind: Sendable, Equatable {
  case linear(Matrix<Double>)
  case rotatedConvex(rotation: Matrix<Double>, a: [Double], c: [Double])
  case toy(ToyField)
  /// F = grad h, h a smoothed elevation grid (Topography.swift).
  case topography(Topography)
  /// F = grad f, f the cross-entropy of a small classifier with parameters x (ClassifierLossField.swift).
  case classifier(ClassifierLossField)
}

public struct Field: Sendable {
  public let dim: Int
  public let kind: FieldKind

  public init(dim: Int, kind: FieldKind) {
    self.dim = dim
    self.kind = kind
  }

  public var name: String {
    switch kind {
    case .linear: "linear"
    case .rotatedConvex: "rotated-convex"
    case .toy(let t): t.rawValue
    case .topography: "topography"
    case .classifier: "classifier-loss"
    }
  }

  /// A linear field A = Q1 diag(s) Q2 with Q1, Q2 random orthogonal and singular values s
  /// log-uniform in [1, condition]: condition number at most `condition`.
  public static func seededLinear(dim: Int, seed: UInt64, condition: Double) -> Field {
    let q1 = randomOrthogonal(dim, seed: seed, stream: 1), q2 = randomOrthogonal(dim, seed: seed, stream: 2)
    let rng = CounterRNG(seed: seed, stream: CounterRNG.streamID(0xF1E1D, 3))
    var s = (0 ..< dim).map { Double.exp(rng.uniform(UInt64($0)) * Double.log(condition)) }
    if dim > 1 { s[0] = 1; s[1] = condition }  // span the whole range
    var a = Matrix<Double>(rows: dim, cols: dim)
    for i in 0 ..< dim { for j in 0 ..< dim { for k in 0 ..< dim { a[i, j] += q1[i, k] * s[k] * q2[k, j] } } }
    return Field(dim: dim, kind: .linear(a))
  }

  /// phi with a_i in [0.5, 2], c_i in [0.5, 2], and a random rotation R (det +1).
  public static func seededRotatedConvex(dim: Int, seed: UInt64) -> Field {
    var r = randomOrthogonal(dim, seed: seed, stream: 4)
    if determinant(r) < 0 { for i in 0 ..< dim { r[i, 0] = -r[i, 0] } }
    let rng = CounterRNG(seed: seed, stream: CounterRNG.streamID(0xF1E1D, 5))
    let a = (0 ..< dim).map { 0.5 + 1.5 * rng.uniform(UInt64($0)) }
    let c = (0 ..< dim).map { 0.5 + 1.5 * rng.uniform(UInt64(dim + $0)) }
    return Field(dim: dim, kind: .rotatedConvex(rotation: r, a: a, c: c))
  }

  /// F at every row of X.
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func callAsFunction<T: BLASScalar>(_ x: Matrix<T>) -> Matrix<T> {
    precondition(x.cols == dim, "field \(name): points have \(x.cols) coordinates, expected \(dim)")
    switch kind {
    case .linear(let a):
      return matmul(x, Matrix(rows: dim, cols: dim, storage: a.storage.map { T($0) }), transposeB: true)
    case .rotatedConvex(let r, let a, let c):
      var z = matmul(x, Matrix(rows: dim, cols: dim, storage: r.storage.map { T($0) }), transposeB: true)
      for i in 0 ..< z.rows { for j in 0 ..< dim { z[i, j] = T(a[j]) * z[i, j] + T(c[j]) * T.tanh(z[i, j]) } }
      return z
    case .toy(let t):
      var out = x
      for i in 0 ..< x.rows {
        let (u, v) = t.value(x[i, 0], x[i, 1])
        out[i, 0] = u
        out[i, 1] = v
      }
      return out
    case .topography(let h):
      var out = x
      for i in 0 ..< x.rows {
        let (u, v) = h.gradient(Double(x[i, 0]), Double(x[i, 1]))
        out[i, 0] = T(u)
        out[i, 1] = T(v)
      }
      return out
    case .classifier(let loss):
      return loss.gradients(x)
    }
  }

  /// The matrix a Float evaluation multiplies by (A of a linear field, R of a rotated-convex
  /// one), converted once: pass it to `apply`.
  public var floatWeights: Matrix<Float>? {
    switch kind {
    case .linear(let a): Matrix(rows: dim, cols: dim, storage: a.storage.map { Float($0) })
    case .rotatedConvex(let r, _, _): Matrix(rows: dim, cols: dim, storage: r.storage.map { Float($0) })
    default: nil
    }
  }

  /// F at the n rows of x into out [n, d], allocating nothing (the training step's batches), the
  /// same numbers as callAsFunction; `weights` from `floatWeights`. False (out untouched) for the
  /// classifier's loss, whose gradients need their own buffers.
  public func apply(_ x: UnsafePointer<Float>, rows n: Int, weights: Matrix<Float>?, into out: UnsafeMutablePointer<Float>) -> Bool {
    switch kind {
    case .linear:
      weights!.withPointer { w in mm(false, true, n, dim, dim, 1, x, dim, w, dim, 0, out, dim) }
    case .rotatedConvex(_, let a, let c):
      weights!.withPointer { w in mm(false, true, n, dim, dim, 1, x, dim, w, dim, 0, out, dim) }
      for i in 0 ..< n {
        for j in 0 ..< dim { let z = out[i * dim + j]; out[i * dim + j] = Float(a[j]) * z + Float(c[j]) * Float.tanh(z) }
      }
    case .toy(let t):
      for i in 0 ..< n { (out[2 * i], out[2 * i + 1]) = t.value(x[2 * i], x[2 * i + 1]) }
    case .topography(let h):
      for i in 0 ..< n {
        let (u, v) = h.gradient(Double(x[2 * i]), Double(x[2 * i + 1]))
        (out[2 * i], out[2 * i + 1]) = (Float(u), Float(v))
      }
    case .classifier:
      return false
    }
    return true
  }

  /// The potential f with F = grad f at the point p, where the field is a known gradient.
  public func potential(at p: [Double]) -> Double? {
    switch kind {
    case .toy(let t): t.potential(p[0], p[1])
    case .topography(let h): h.height(p[0], p[1])
    case .classifier(let loss): loss.loss(p)
    case .linear, .rotatedConvex: nil
    }
  }

  /// The true Brenier map grad u (rows of X), where known.
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func trueGradU<T: BLASScalar>(_ x: Matrix<T>) -> Matrix<T>? {
    switch kind {
    case .linear(let a):
      let p = polarDecomposition(a).p
      return matmul(x, Matrix(rows: dim, cols: dim, storage: p.storage.map { T($0) }), transposeB: true)
    case .rotatedConvex(_, let a, let c):
      var z = x
      for i in 0 ..< z.rows { for j in 0 ..< dim { z[i, j] = T(a[j]) * x[i, j] + T(c[j]) * T.tanh(x[i, j]) } }
      return z
    case .toy, .topography, .classifier: return nil
    }
  }

  /// The true measure-preserving map M (rows of X), where known.
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func trueM<T: BLASScalar>(_ x: Matrix<T>) -> Matrix<T>? {
    let m: Matrix<Double>
    switch kind {
    case .linear(let a): m = polarDecomposition(a).u
    case .rotatedConvex(let r, _, _): m = r
    case .toy, .topography, .classifier: return nil
    }
    return matmul(x, Matrix(rows: dim, cols: dim, storage: m.storage.map { T($0) }), transposeB: true)
  }
}

/// A random orthogonal matrix: Gram–Schmidt on Gaussian columns (Haar up to column signs).
public func randomOrthogonal(_ n: Int, seed: UInt64, stream: UInt64) -> Matrix<Double> {
  let rng = CounterRNG(seed: seed, stream: CounterRNG.streamID(0x0127, stream))
  var q = Matrix<Double>(rows: n, cols: n, storage: (0 ..< n * n).map { rng.normal(UInt64($0)) })
  for j in 0 ..< n {
    for k in 0 ..< j {
      var dot = 0.0
      for i in 0 ..< n { dot += q[i, j] * q[i, k] }
      for i in 0 ..< n { q[i, j] -= dot * q[i, k] }
    }
    var norm = 0.0
    for i in 0 ..< n { norm += q[i, j] * q[i, j] }
    norm = norm.squareRoot()
    for i in 0 ..< n { q[i, j] /= norm }
  }
  return q
}

/// det(A) by Gaussian elimination with partial pivoting.
public func determinant(_ a: Matrix<Double>) -> Double {
  var m = a
  let n = a.rows
  var det = 1.0
  for c in 0 ..< n {
    let p = (c ..< n).max { abs(m[$0, c]) < abs(m[$1, c]) }!
    if m[p, c] == 0 { return 0 }
    if p != c {
      for j in 0 ..< n { let t = m[c, j]; m[c, j] = m[p, j]; m[p, j] = t }
      det = -det
    }
    det *= m[c, c]
    for r in c + 1 ..< n {
      let f = m[r, c] / m[c, c]
      for j in c ..< n { m[r, j] -= f * m[c, j] }
    }
  }
  return det
}
