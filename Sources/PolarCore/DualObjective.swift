// The W2 dual objective of DESIGN §1 (Amos 2023, amortized conjugates):
//   L(theta) = E_{x~rho}[u(x)] + E_{y~F#rho}[<xhat(y), y> - u(xhat(y))],  xhat(y) = grad u*(y).
// By the envelope theorem (xhat maximises <x, y> - u(x)), dL/dtheta needs no derivative of xhat:
//   dL/dtheta = E[d_theta u(x)] - E[d_theta u(xhat(y))].
// Samples whose conjugate did not converge are masked out of the second term.

public struct DualTerms: Sendable {
  /// sum_i u(x_i) over the rows of x.
  public var sumU: Double = 0
  /// sum_j <xhat_j, y_j> - u(xhat_j) = sum u*(y_j) over unmasked rows.
  public var sumConjugate: Double = 0
  /// Number of unmasked y rows.
  public var conjugateCount = 0
  public init() {}
}

extension ICNN {
  /// Accumulates into `grad` the weighted envelope gradient
  ///   weightX * sum_i d_theta u(x_i) - weightY * sum_{j unmasked} d_theta u(xhat_j)
  /// with one forward and one backward over the stacked rows [x; xhat], and returns the sums
  /// that make up the objective.
  public func dualGradient<T: BLASScalar>(_ params: [T], x: Matrix<T>, y: Matrix<T>,
                                          xhat: Matrix<T>, mask: [Bool],
                                          weightX: T, weightY: T, grad: inout [T]) -> DualTerms {
    precondition(x.cols == dim && y.cols == dim && xhat.rows == y.rows && mask.count == y.rows,
                 "dualGradient: shapes differ")
    let kept = (0 ..< y.rows).filter { mask[$0] }
    var stacked = Matrix<T>(rows: x.rows + kept.count, cols: dim)
    for i in 0 ..< x.storage.count { stacked.storage[i] = x.storage[i] }
    for (r, j) in kept.enumerated() {
      for k in 0 ..< dim { stacked[x.rows + r, k] = xhat[j, k] }
    }
    let tape = forward(params, stacked)
    var du = [T](repeating: weightX, count: x.rows)
    du += [T](repeating: -weightY, count: kept.count)
    _ = backward(params, tape, du: du, grad: &grad, inputGradient: false)
    var terms = DualTerms()
    for i in 0 ..< x.rows { terms.sumU += Double(tape.u[i]) }
    for (r, j) in kept.enumerated() {
      var xy = 0.0
      for k in 0 ..< dim { xy += Double(xhat[j, k]) * Double(y[j, k]) }
      terms.sumConjugate += xy - Double(tape.u[x.rows + r])
    }
    terms.conjugateCount = kept.count
    return terms
  }
}
