// Refinement of candidate roots of F (critical points of f when F = grad f; DESIGN §1 item 4):
// damped Gauss–Newton (Levenberg–Marquardt) on |F|^2 / 2 from each sample,
//   (J^T J + lambda I) delta = -J^T F,   x <- x + delta if |F| decreases,
// lambda shrinking tenfold after an accepted step and growing tenfold after a rejected one.
// J is the field's exact Jacobian (Field.jacobian) for the built-in fields, or central finite
// differences of F for a field known only as a function.

import RealModule

extension Field {
  /// The Jacobian dF/dx at the point p (d x d, row i = gradient of F_i), in closed form.
  public func jacobian(at p: [Double]) -> Matrix<Double> {
    var j = Matrix<Double>(rows: dim, cols: dim)
    switch kind {
    case .linear(let a):
      return a
    case .rotatedConvex(let r, let a, let c):
      // F(x) = g(R x), g_i(z) = a_i z_i + c_i tanh z_i: J = diag(a + c sech^2(R x)) R.
      for i in 0 ..< dim {
        var z = 0.0
        for k in 0 ..< dim { z += r[i, k] * p[k] }
        let t = Double.tanh(z)
        let g = a[i] + c[i] * (1 - t * t)
        for k in 0 ..< dim { j[i, k] = g * r[i, k] }
      }
      return j
    case .toy(let t):
      let (x, y) = (p[0], p[1])
      switch t {
      case .himmelblau:
        j[0, 0] = (12 * x * x + 4 * y - 42) / 100
        j[0, 1] = (4 * x + 4 * y) / 100
        j[1, 0] = j[0, 1]
        j[1, 1] = (4 * x + 12 * y * y - 26) / 100
      case .cosineGrid:
        let w = 0.628, s = 1.57
        let (sx, cx, sy, cy) = (Double.sin(w * x - s), Double.cos(w * x - s), Double.sin(w * y - s), Double.cos(w * y - s))
        j[0, 0] = -3 * w * w * cx * cy
        j[0, 1] = 3 * w * w * sx * sy
        j[1, 0] = j[0, 1]
        j[1, 1] = -3 * w * w * cx * cy
      case .doubleWell:
        let r = x * x + y * y - 1
        j[0, 0] = r + 2 * x * x
        j[0, 1] = 2 * x * y
        j[1, 0] = j[0, 1]
        j[1, 1] = r + 2 * y * y
      case .swirl:
        // F = Rot(n) p, n = |p|: J = Rot(n) + (dRot/dn p) (p / n)^T.
        let n = (x * x + y * y).squareRoot()
        let (c, s) = (Double.cos(n), Double.sin(n))
        j[0, 0] = c; j[0, 1] = -s; j[1, 0] = s; j[1, 1] = c
        if n > 1e-12 {
          let (dx, dy) = (-s * x - c * y, c * x - s * y)
          j[0, 0] += dx * x / n; j[0, 1] += dx * y / n
          j[1, 0] += dy * x / n; j[1, 1] += dy * y / n
        }
      }
      return j
    }
  }
}

extension Field {
  /// The isolated critical points of f (the roots of F = grad f) inside the box [lo, hi]^2, for
  /// the toy fields where they are a finite list: the cosine grid in closed form (both sines or
  /// both cosines vanish: a lattice), Himmelblau by Levenberg–Marquardt from a 41 x 41 grid of
  /// starts, deduplicated. nil where the roots are not isolated (double-well: a circle) or not a
  /// gradient's (swirl), and for the other fields.
  public func criticalPoints(lo: Double, hi: Double) -> [[Double]]? {
    guard case .toy(let t) = kind else { return nil }
    switch t {
    case .cosineGrid:
      // w x - s = k pi / 2 with the same parity for both coordinates.
      let w = 0.628, s = 1.57
      func values(_ parity: Int) -> [Double] {
        let kMin = Int(((w * lo - s) / (Double.pi / 2)).rounded(.down)) - 1
        let kMax = Int(((w * hi - s) / (Double.pi / 2)).rounded(.up)) + 1
        return (kMin ... kMax).filter { (($0 % 2) + 2) % 2 == parity }
          .map { (s + Double($0) * Double.pi / 2) / w }.filter { $0 >= lo && $0 <= hi }
      }
      var out = [[Double]]()
      for parity in 0 ... 1 {
        let v = values(parity)
        for a in v { for b in v { out.append([a, b]) } }
      }
      return out
    case .himmelblau:
      let n = 41
      var starts = Matrix<Double>(rows: n * n, cols: 2)
      for i in 0 ..< n { for j in 0 ..< n {
        starts[i * n + j, 0] = lo + (hi - lo) * Double(i) / Double(n - 1)
        starts[i * n + j, 1] = lo + (hi - lo) * Double(j) / Double(n - 1)
      } }
      let refined = refineRoots(starts, steps: 100, field: { self($0) }, jacobian: { self.jacobian(at: $0) })
      var out = [[Double]]()
      for r in 0 ..< n * n where refined.after[r] < 1e-10 {
        let p = refined.x.row(r)
        guard p.allSatisfy({ $0 >= lo && $0 <= hi }) else { continue }
        if !out.contains(where: { abs($0[0] - p[0]) + abs($0[1] - p[1]) < 1e-6 }) { out.append(p) }
      }
      return out.sorted { $0[0] == $1[0] ? $0[1] < $1[1] : $0[0] < $1[0] }
    case .doubleWell, .swirl:
      return nil
    }
  }
}

/// The Jacobian of `f` at `p` by central differences (step 1e-6 max(1, |p_k|)).
public func finiteDifferenceJacobian(_ f: (Matrix<Double>) -> Matrix<Double>, at p: [Double]) -> Matrix<Double> {
  let d = p.count
  var points = Matrix<Double>(rows: 2 * d, cols: d)
  var steps = [Double](repeating: 0, count: d)
  for k in 0 ..< d {
    steps[k] = 1e-6 * max(1, abs(p[k]))
    for j in 0 ..< d { points[2 * k, j] = p[j]; points[2 * k + 1, j] = p[j] }
    points[2 * k, k] += steps[k]
    points[2 * k + 1, k] -= steps[k]
  }
  let values = f(points)
  var jac = Matrix<Double>(rows: d, cols: d)
  for k in 0 ..< d { for i in 0 ..< d { jac[i, k] = (values[2 * k, i] - values[2 * k + 1, i]) / (2 * steps[k]) } }
  return jac
}

public struct RefinedRoots: Sendable {
  public var x: Matrix<Double>
  /// |F| at every row before and after.
  public var before: [Double]
  public var after: [Double]
}

/// Up to `steps` Levenberg–Marquardt iterations on |F(x) - z|^2 from every row of `x`, with z the
/// same row of `goal` (0 when nil: the roots of F, i.e. critical points when F = grad f). With
/// z = grad u(y), the solutions are exactly the x with M(x) = grad u*(F(x)) = y.
public func refineRoots(_ x: Matrix<Double>, steps: Int, field: (Matrix<Double>) -> Matrix<Double>,
                        jacobian: (([Double]) -> Matrix<Double>)? = nil, goal: Matrix<Double>? = nil) -> RefinedRoots {
  let d = x.cols
  precondition(goal.map { $0.rows == x.rows && $0.cols == d } ?? true, "refineRoots: goal and x disagree in shape")
  var out = x
  func norm(_ v: [Double]) -> Double { v.reduce(0) { $0 + $1 * $1 }.squareRoot() }
  var before = [Double](), after = [Double]()
  for r in 0 ..< x.rows {
    let z = goal?.row(r) ?? [Double](repeating: 0, count: d)
    func f(_ points: Matrix<Double>) -> Matrix<Double> {
      var v = field(points)
      for i in 0 ..< v.rows { for j in 0 ..< d { v[i, j] -= z[j] } }
      return v
    }
    func fAt(_ p: [Double]) -> [Double] { f(Matrix(rows: 1, cols: d, storage: p)).row(0) }
    var p = x.row(r)
    var fp = fAt(p)
    before.append(norm(fp))
    var lambda = -1.0
    for _ in 0 ..< steps {
      guard norm(fp) > 0 else { break }
      let jac = jacobian?(p) ?? finiteDifferenceJacobian(f, at: p)
      // J^T J and J^T F.
      var jtj = Matrix<Double>(rows: d, cols: d)
      var jtf = [Double](repeating: 0, count: d)
      for a in 0 ..< d {
        for i in 0 ..< d { jtf[a] += jac[i, a] * fp[i] }
        for b in 0 ..< d { for i in 0 ..< d { jtj[a, b] += jac[i, a] * jac[i, b] } }
      }
      if lambda < 0 { lambda = 1e-3 * max((0 ..< d).reduce(0) { $0 + jtj[$1, $1] } / Double(d), 1e-12) }
      var accepted = false
      for _ in 0 ..< 30 where !accepted {
        var m = jtj
        for a in 0 ..< d { m[a, a] += lambda }
        guard let l = cholesky(m) else { lambda *= 10; continue }
        // Solve L L^T delta = -J^T F.
        var z = [Double](repeating: 0, count: d)
        for a in 0 ..< d {
          var s = -jtf[a]
          for b in 0 ..< a { s -= l[a, b] * z[b] }
          z[a] = s / l[a, a]
        }
        var delta = [Double](repeating: 0, count: d)
        for a in stride(from: d - 1, through: 0, by: -1) {
          var s = z[a]
          for b in a + 1 ..< d { s -= l[b, a] * delta[b] }
          delta[a] = s / l[a, a]
        }
        let q = zip(p, delta).map { $0 + $1 }
        let fq = fAt(q)
        if norm(fq) < norm(fp) {
          p = q
          fp = fq
          lambda /= 10
          accepted = true
        } else {
          lambda *= 10
        }
      }
      if !accepted { break }
    }
    for j in 0 ..< d { out[r, j] = p[j] }
    after.append(norm(fp))
  }
  return RefinedRoots(x: out, before: before, after: after)
}
