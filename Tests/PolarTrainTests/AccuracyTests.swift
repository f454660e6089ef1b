import Foundation
import TestSupport
import Testing

/// The closed-form checks of the factorization issue, default configuration, 2 ranks:
/// linear fields (grad u = P x, M = U x for A = P U) in d = 2, rotated-convex fields
/// (u = phi, M = R) in d = 2 and 8. The linear field in d = 16 with the defaults of d = 16
/// ([128]^4, rank 4, 4,000 steps: 6 minutes on a 2-core AVX-512 machine, 25 to 30 on the
/// AVX2 machines CI also runs on) is a benchmark: `launch/quality --dims "" --linear 16`
/// checks the same bounds (docs/quality.md); CI keeps d = 16 through the Gaussian start below
/// and the d = 32 guard of QualityTests.
@Suite("Accuracy against closed forms (default configuration, 2 ranks)", .serialized)
struct AccuracyTests {
  @Test("factorization errors within bounds", arguments: [("linear", 2), ("rotated-convex", 2), ("rotated-convex", 8)])
  func closedForm(field: String, dim: Int) throws {
    // The timeout only guards against a hang (d = 8 took 6.5 minutes on the slower machines).
    let (r, run) = try train(ranks: 2, ["problem.field=\(field)", "problem.dim=\(dim)"], tag: "acc-\(field)-\(dim)", timeout: 1200)
    #expect(r.status == 0, "\(r.combined)")
    let m = try reportMetrics(run)
    print("accuracy \(field) d=\(dim): \(r.seconds) s, \(m)")
    // The wall time (the issue's "under 5 minutes on 2 ranks") is printed, not asserted: speed
    // is measured by launch/bench, not by timed tests on a noisy machine.
    #expect(m["grad_u_error", default: .nan] < 0.03, "grad u vs truth: \(m["grad_u_error", default: .nan])")
    #expect(m["M_error", default: .nan] < 0.05, "M (implicit) vs truth: \(m["M_error", default: .nan])")
    #expect(m["reconstruction_error", default: .nan] < 0.02, "grad u(M(x)) vs F(x): \(m["reconstruction_error", default: .nan])")
    #expect(m["M_net_error", default: .nan] < 0.06, "M_net vs truth: \(m["M_net_error", default: .nan])")
    #expect(
      m["energy_distance", default: .nan] < 3 * m["energy_distance_floor", default: .nan],
      "energy distance \(m["energy_distance", default: .nan]) vs floor \(m["energy_distance_floor", default: .nan])")
    #expect(m["convexity_violations", default: .nan] == 0)
    #expect(m["conjugate_residual_p99", default: .nan] < 1e-4)
  }

  /// potential.init = "gaussian" starts grad u at the Bures map between Gaussians fitted to rho and
  /// F#rho, which for a linear field on N(0, I) is the answer P x: one step at a tiny learning rate
  /// must already be within the fit's sampling error (4,096 samples), and so must M.
  @Test("the Gaussian (Bures) start is the closed form of a linear field", arguments: [4, 16])
  func gaussianStart(dim: Int) throws {
    let (r, run) = try train(
      ranks: 2,
      [
        "problem.dim=\(dim)", "potential.init=gaussian", "potential.steps=1", "potential.lr=1e-7",
        "map.steps=0",
      ], tag: "gaussian-start-\(dim)", timeout: 300)
    #expect(r.status == 0, "\(r.combined)")
    let m = try reportMetrics(run)
    #expect(m["grad_u_error", default: .nan] < 0.03, "grad u at the Gaussian start: \(m["grad_u_error", default: .nan])")
    #expect(m["M_error", default: .nan] < 0.05, "M at the Gaussian start: \(m["M_error", default: .nan])")
  }
}
