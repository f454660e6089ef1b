import PolarCore
import Testing

/// DualHealth's rule: more iterations when too few solves converge (every 10 steps, every step
/// below half), lost at the cap below half or when the W2 estimate passes the Cauchy–Schwarz bound.
@Suite("DualHealth")
struct DualHealthTests {
  func check(step: Int = 10, share: Double, w2: Double = 1, maxIter: Int = 20) -> DualHealth.Verdict {
    DualHealth.check(step: step, share: share, w2: w2, meanX2: 4, meanY2: 9, maxIter: maxIter, configured: 20)
  }

  @Test("healthy, adapted, lost")
  func verdicts() {
    #expect(check(share: 0.95) == .healthy)
    // 0.8: once every 10 steps, x 1.5 rounded up.
    guard case .adapt(30, _) = check(step: 10, share: 0.8) else { Issue.record("no adaptation at step 10"); return }
    #expect(check(step: 11, share: 0.8) == .healthy)
    guard case .adapt(45, _) = check(step: 11, share: 0.3, maxIter: 30) else { Issue.record("no adaptation below half"); return }
    // At the cap (10 x 20): 0.8 stays, 0.3 is lost.
    #expect(check(step: 10, share: 0.8, maxIter: 200) == .healthy)
    guard case .lost = check(share: 0.3, maxIter: 200) else { Issue.record("not lost at the cap"); return }
    // The cap is never passed: 150 -> 200, not 225.
    guard case .adapt(200, _) = check(step: 20, share: 0.5, maxIter: 150) else { Issue.record("cap passed"); return }
  }

  @Test("the W2 estimate's bound (sqrt E|x|^2 + sqrt E|y|^2)^2 = 25 here")
  func w2Bound() {
    #expect(check(share: 1, w2: 24.99) == .healthy)
    guard case let .lost(reason) = check(share: 1, w2: 25.01) else { Issue.record("W2 past its bound not lost"); return }
    #expect(reason.contains("25"), "\(reason)")
    // The bound holds for every coupling of a batch: the worst pairing of x and y.
    let x: [Double] = [2, -2, 2, -2], y: [Double] = [-3, 3, -3, 3]
    let meanX2 = x.map { $0 * $0 }.reduce(0, +) / 4, meanY2 = y.map { $0 * $0 }.reduce(0, +) / 4
    let worst = zip(x, y).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / 4
    #expect(worst <= (meanX2.squareRoot() + meanY2.squareRoot()) * (meanX2.squareRoot() + meanY2.squareRoot()) + 1e-12)
  }
}
