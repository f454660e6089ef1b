// Refinement of candidate roots of F (critical points of f when F = grad f; docs/design.md §1 item 4):
// damped Gauss–Newton (Levenberg–Marquardt) on |F|^2 / 2 from each sample,
//   (J^T J + lambda I) delta = -J^T F,   x <- x + delta if |F| decreases,
// lambda shrinking tenfold after an accepted step and growing tenfold after a rejected one.
// J is the field's exact Jacobian (Field.jacobian, Fields/FieldJacobians.swift) for the built-in
// fields (central differences of the exact gradient for topography and classifier-loss), or
// central finite differences of F for a field known only as a function.

import RealModule

public struct RefinedRoots: Sendable {
  public var x: Matrix<Double>
  /// |F| at every row before and after.
  public var before: [Double]
  public var after: [Double]
}

/// Up to `steps` Levenberg–Marquardt iterations on |F(x) - z|^2 from every row of `x`, with z the
/// same row of `goal` (0 when nil: the roots of F, i.e. critical points when F = grad f). With
/// z = grad u(y), the solutions are exactly the x with M(x) = grad u*(F(x)) = y.
public func refineRoots(
  _ x: Matrix<Double>, steps: Int, field: (Matrix<Double>) -> Matrix<Double>,
  jacobian: (([Double]) -> Matrix<Double>)? = nil, goal: Matrix<Double>? = nil
) -> RefinedRoots {
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
