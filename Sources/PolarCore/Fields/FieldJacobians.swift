// The Jacobian dF/dx of every built-in field (closed form where the field has one, central
// differences of the exact F for topography and classifier-loss), and central differences for
// a field known only as a function: what Levenberg–Marquardt refinement (Sampling/Refine.swift)
// and the tests of the fields use.

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
      let jt = t.jacobian(p[0], p[1])
      for i in 0 ..< 2 { for k in 0 ..< 2 { j[i, k] = jt[i][k] } }
      return j
    case .topography, .classifier:
      return finiteDifferenceJacobian({ self($0) }, at: p)
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
