// Whether the W2 dual being minimised still means something (issue 17, item 4). The dual
//   L(u) = E_rho[u(x)] + E_{F#rho}[u*(y)],  u*(y) = <xhat, y> - u(xhat),  xhat = argmin_x u(x) - <x, y>,
// is estimated from the conjugate solves that converged (DualObjective.swift): a solve stopped
// early gives a point below the maximum, so u*(y), the loss and the u* term's gradient are wrong,
// and with few converged solves the loss loses its u* term altogether and falls without bound.
// Two signs, both computed from quantities all-reduced over the ranks (every rank decides alike):
//  - the share of converged solves. Below `adaptBelow` the solver's budget (conjugate.max_iter)
//    grows by `growth`, once every `interval` steps (at every step below `lostBelow`), up to
//    `capFactor` times the configured one; below `lostBelow` with the budget at its cap, the
//    dual is lost.
//  - the W2 estimate W = E|x|^2 + E|y|^2 - 2 L. With exact conjugates u(x) + u*(y) >= <x, y> for
//    every pair (Fenchel–Young), so W is at most the batch's W2^2, which is at most
//    B = (sqrt E|x|^2 + sqrt E|y|^2)^2 (Cauchy–Schwarz, any coupling). W > B can only come from
//    underestimated conjugates: the dual is lost.
import RealModule

public enum DualHealth {
  public static let adaptBelow = 0.9, lostBelow = 0.5, growth = 1.5
  public static let capFactor = 10, interval = 10

  public enum Verdict: Equatable, Sendable {
    case healthy
    /// Raise the conjugate solver's budget to `maxIter`; `reason` says why.
    case adapt(maxIter: Int, reason: String)
    /// The dual has lost its meaning; `reason` says how.
    case lost(reason: String)
  }

  /// The verdict after step `step` (1-based count of steps done) of stage potential, from the
  /// step's converged share, W2 estimate and mean |x|^2, |y|^2, with the solver's current budget
  /// `maxIter` and the configured one.
  public static func check(
    step: Int, share: Double, w2: Double, meanX2: Double, meanY2: Double,
    maxIter: Int, configured: Int
  ) -> Verdict {
    let bound = (meanX2.squareRoot() + meanY2.squareRoot()) * (meanX2.squareRoot() + meanY2.squareRoot())
    // One decimal: 89.6% must not read as the 90% it fell short of.
    let percent = (1000 * share).rounded(.down) / 10
    if w2 > bound {
      return .lost(
        reason: "the W2 estimate \(format(w2)) exceeds \(format(bound)), the largest any coupling of the batch allows "
          + "(\(percent)% of the conjugate solves converged): the conjugates are underestimated")
    }
    let cap = cappedBudget(configured)
    // Below lostBelow at every step (the u* term is mostly missing), else once every `interval`.
    if share < adaptBelow && maxIter < cap && (step % interval == 0 || share < lostBelow) {
      let next = min(cap, Int((Double(maxIter) * growth).rounded(.up)))
      return .adapt(maxIter: next, reason: "\(percent)% of the conjugate solves converged (< \(Int(100 * adaptBelow))%)")
    }
    if share < lostBelow && maxIter >= cap {
      return .lost(
        reason: "only \(percent)% of the conjugate solves converged with conjugate.max_iter = \(maxIter) "
          + "(its cap, \(capFactor) x the configured \(configured)): the dual has lost most of its u* term")
    }
    return .healthy
  }

  /// The largest budget adaptation may reach.
  public static func cappedBudget(_ configured: Int) -> Int {
    configured > Int.max / capFactor ? Int.max : configured * capFactor
  }

  /// Four significant digits, without Foundation.
  static func format(_ v: Double) -> String {
    guard v.isFinite, v != 0 else { return "\(v)" }
    let scale = Double.pow(10, 3 - Double.log10(abs(v)).rounded(.down))
    return "\((v * scale).rounded() / scale)"
  }
}
