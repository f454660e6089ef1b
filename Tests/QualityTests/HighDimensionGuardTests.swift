// CI's reduced high-dimensional check (issue 17, item 7): d = 32 of launch/quality's suite at a
// reduced size, trained as launch/quality trains it (the defaults for d, a field file, 2 ranks),
// scored at the held-out points. It fails when a change makes high-dimensional training worse.
import Foundation
import TestSupport
import Testing
import polar_quality

@Suite("High-dimensional guard (d = 32, reduced)", .serialized)
struct HighDimensionGuardTests {
  static let dim = 32, steps = GuardSize.steps
  static let bound = GuardSize.bound

  @Test("L2-UVP of grad u on the d = 32 instance after the guard's steps stays under its bound")
  func guardRun() throws {
    let dir = try Programs.temporaryDirectory("guard32")
    let data = dir.appendingPathComponent("data").path
    let made = try quality(["instance", "--dim", "\(Self.dim)", "--rows", "\(GuardSize.rows)", "--test-rows", "4096", "--out", data])
    #expect(made.status == 0, "\(made.combined)")
    let run = dir.appendingPathComponent("run").path
    let settings = [
      "problem.dim=\(Self.dim)", "problem.field=file", "problem.file=\(data)/train.h5", "problem.reference=data",
      "potential.steps=\(Self.steps)", "map.steps=0", "train.report=false",
    ]
    let t = try Programs.mpirun(2, "polar-train", ["train", "--quiet", "--output", run] + settings.flatMap { ["--set", $0] }, timeout: 600)
    #expect(t.status == 0, "\(t.combined)")
    let name = try String(contentsOfFile: run + "/checkpoints/latest", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    let applied = dir.appendingPathComponent("applied.h5").path
    let a = try Programs.mpirun(
      2, "polar-train",
      [
        "apply", "--checkpoint", run + "/checkpoints/" + name, "--input", data + "/test.h5",
        "--output", applied,
      ], timeout: 300)
    #expect(a.status == 0, "\(a.combined)")
    let s = try quality(["score", "--test", data + "/test.h5", "--map", applied, "--json", dir.appendingPathComponent("score.json").path])
    let o = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("score.json"))) as? [String: Any]
    let uvp = o?["l2_uvp"] as? Double ?? .nan
    print("guard d = \(Self.dim): L2-UVP \(uvp) % after \(Self.steps) steps (train \(t.seconds) s); \(s.stdout)")
    #expect(uvp < Self.bound, "L2-UVP \(uvp) % at d = \(Self.dim) after \(Self.steps) steps, bound \(Self.bound) %")
  }
}

/// The guard's size: its rows, steps and bound. Measured 2026-12-04: 7.96% after 1,000 steps
/// with ICNN [64]^4 rank 1 (115 s in all, the machine shared), 7.92% with the defaults from
/// d = 16, [128]^4 rank 4 (154 s, in the full suite). The bound, 12%, leaves room for noise and
/// catches a 1.5x regression (the linear map: 58.9%).
enum GuardSize {
  static let rows = 1 << 16, steps = 1000, bound = 12.0
}
