import Foundation
import ParallelHDF5
import TestSupport
import Testing

/// The inverse-map issue's accuracy checks on the cosine grid, rho uniform on [-5, 5]^2, 2 ranks,
/// the default inverse settings and `inverseSteps` steps (Himmelblau's pre-image and consistency
/// bounds are checked by ExperimentTests at 2,500 steps, where they already hold: this suite's
/// second run cost 15 to 25 minutes of CI on the slower machines):
/// - pre-image check: mean cos(F(x), F(x')) >= 0.9 for x' ~ M^-1(M(x));
/// - consistency: median |M(x') - y| < 0.1 median |y| for y ~ rho, x' ~ M^-1(y) (raw bridge
///   samples, no refinement);
/// - critical points of f = 3 cos(0.628 x - 1.57) cos(0.628 y - 1.57): 4,096 samples of
///   M^-1(grad u*(0)), refined, have median |grad f| < 1e-4 and recover >= 90% of the points.
@Suite("Inverse map and critical points on 2-D fields (2 ranks)", .serialized)
struct InverseAccuracyTests {
  static func settings(_ field: String) -> [String] {
    [
      "problem.field=\(field)", "problem.reference=uniform", "problem.box=[-5, 5]", "map.steps=0",
      "inverse.steps=\(inverseSteps)",
    ]
  }
  // 5,000 (was 10,000 until 2026-12-05, 15 minutes of CI on the slower machines): measured
  // pre-image 0.990, consistency 0.092, 5 of 5 critical points (620 to 650 samples each), 381 s on
  // 2 AVX2 cores. The 10,000-step run is launch/configs/cosine-grid.toml (consistency 0.062).
  static let inverseSteps = 5000

  /// The critical points of 3 cos(w x - s) cos(w y - s), w = 0.628, s = 1.57, inside [-5, 5]^2:
  /// sin(w x - s) = sin(w y - s) = 0 gives the two maxima and two minima at x, y in
  /// {s / w, (s - pi) / w}; cos(w x - s) = cos(w y - s) = 0 gives the saddle at
  /// x = y = (s - pi / 2) / w (the other solutions lie outside the box).
  static let cosineGridCriticalPoints: [(Double, Double)] = {
    let w = 0.628, s = 1.57
    let a = s / w, b = (s - Double.pi) / w, c = (s - Double.pi / 2) / w
    return [(a, a), (b, b), (a, b), (b, a), (c, c)]
  }()

  /// Trains `field` with the settings above and checks the pre-image and consistency bounds on
  /// the run's final evaluation; returns the run directory.
  static func trainAndCheckInverse(_ field: String) throws -> URL {
    let (r, run) = try train(ranks: 2, settings(field), tag: "inv-\(field)", timeout: 1500)
    #expect(r.status == 0, "\(r.combined)")
    let m = try reportMetrics(run)
    print("inverse \(field): \(r.seconds) s, \(m.filter { $0.key.hasPrefix("preimage") || $0.key.hasPrefix("inverse") })")
    #expect(m["preimage_cosine_mean", default: .nan] >= 0.9, "\(field): pre-image cosine mean \(m["preimage_cosine_mean", default: .nan])")
    #expect(m["inverse_consistency", default: .nan] < 0.1, "\(field): median |M(x') - y| / median |y| = \(m["inverse_consistency", default: .nan])")
    return run
  }

  @Test("cosine grid: pre-image, consistency, critical points from 4,096 refined samples")
  func cosineGrid() throws {
    let run = try Self.trainAndCheckInverse("cosine-grid")

    let output = run.deletingLastPathComponent().appendingPathComponent("critical.h5").path
    let s = try Programs.mpirun(
      2, "polar-train",
      [
        "sample", "--checkpoint", try latestCheckpoint(run), "--count", "4096",
        "--refine", "20", "--output", output,
      ])
    #expect(s.status == 0, "\(s.combined)")
    print(s.stdout)
    let file = try File.open(output)
    defer { try? file.close() }
    let refinedNorm = try file.dataset("grad_f_norm_refined").read(as: Double.self)
    let x = try file.dataset("x_refined").read(as: Double.self)
    #expect(refinedNorm.count == 4096 && x.count == 2 * 4096)
    let median = refinedNorm.sorted()[refinedNorm.count / 2]
    #expect(median < 1e-4, "median |grad f| after refinement: \(median)")
    // Recovered: at least one refined sample within 1e-3 of the point.
    let hits = Self.cosineGridCriticalPoints.map { p in
      (0 ..< 4096).filter { i in ((x[2 * i] - p.0) * (x[2 * i] - p.0) + (x[2 * i + 1] - p.1) * (x[2 * i + 1] - p.1)).squareRoot() < 1e-3 }.count
    }
    print("samples per critical point \(Self.cosineGridCriticalPoints): \(hits)")
    let recovered = Double(hits.filter { $0 > 0 }.count) / Double(hits.count)
    #expect(recovered >= 0.9, "recovered \(hits.filter { $0 > 0 }.count) of \(hits.count): \(hits)")
  }
}
