import Foundation
import ParallelHDF5
import PolarCore
import TestSupport
import Testing

/// `apply` on a run whose field is a file (known only at its samples): u and grad u always, M
/// where the input gives F; streamed in chunks (70,000 rows at d = 3 are two chunks of 65,536),
/// the same bytes on 1, 2 and 3 ranks; a bad row in the second chunk stops every rank.
@Suite("apply for every run, streamed", .serialized)
struct ApplyTests {
  static let d = 3
  /// F(x) = A x with A symmetric positive definite: the field of the run and of the points.
  static func field(_ x: [Double]) -> [Double] {
    let a: [[Double]] = [[2, 0.5, 0], [0.5, 1, 0.2], [0, 0.2, 0.7]]
    return (0 ..< x.count).map { k in
      let (r, c) = (k / d, k % d)
      return (0 ..< d).reduce(0) { $0 + a[c][$1] * x[r * d + $1] }
    }
  }

  static func points(_ n: Int, seed: UInt64) -> [Double] {
    let rng = CounterRNG(seed: seed, stream: 3)
    return (0 ..< n * d).map { rng.normal(UInt64($0)) }
  }

  /// A field file of 4,096 rows (x, F(x)) in a fresh directory, and the settings of a run on it.
  static func fieldFile(_ tag: String, seed: UInt64) throws -> (URL, [String]) {
    let dir = try Programs.temporaryDirectory(tag), path = dir.appendingPathComponent("field.h5").path
    let xs = points(4096, seed: seed)
    try write(path, [("x", xs, [4096, d]), ("F", field(xs), [4096, d])])
    return (dir, ["problem.field=file", "problem.file=\(path)", "problem.reference=data", "problem.dim=\(d)"])
  }

  static func write(_ path: String, _ sets: [(String, [Double], [Int])]) throws {
    let f = try File.create(path)
    for (name, values, shape) in sets { try f.createDataset(name, type: .float64, shape: shape).write(values) }
    try f.close()
  }

  @Test("a file-field run: with F in the input u, grad u, M, grad u(M), M_net; without F no M; same bytes for 1, 2, 3 ranks; bad rows refused")
  func fileFieldRun() throws {
    let (dir, file) = try Self.fieldFile("apply", seed: 5)
    let d = Self.d
    let (r, run) = try train(ranks: 2, smallRun + ["inverse.steps=0"] + file, tag: "apply-run")
    #expect(r.status == 0, "\(r.combined)")
    let ckpt = try latestCheckpoint(run)

    let n = 70_000, x = Self.points(n, seed: 6), f = Self.field(x)
    let withF = dir.appendingPathComponent("withF.h5").path, withoutF = dir.appendingPathComponent("x.h5").path
    try Self.write(withF, [("x", x, [n, d]), ("F", f, [n, d])])
    try Self.write(withoutF, [("x", x, [n, d])])
    func apply(_ ranks: Int, _ input: String, _ output: String) throws -> RunResult {
      try Programs.mpirun(
        ranks, "polar-train",
        [
          "apply", "--checkpoint", ckpt, "--input", input,
          "--output", dir.appendingPathComponent(output).path,
        ], timeout: 300)
    }
    var bytes = [Int: Data]()
    for ranks in [1, 2, 3] {
      let a = try apply(ranks, withF, "out\(ranks).h5")
      #expect(a.status == 0, "\(ranks) ranks: \(a.combined)")
      bytes[ranks] = try Data(contentsOf: dir.appendingPathComponent("out\(ranks).h5"))
    }
    #expect(bytes[2] == bytes[1] && bytes[3] == bytes[1], "apply's output differs between 1, 2 and 3 ranks")
    let a = try apply(2, withoutF, "noF.h5")
    #expect(a.status == 0 && a.stdout.contains("no M: F is not known"), "\(a.combined)")

    let full = try File.open(dir.appendingPathComponent("out1.h5").path)
    let partial = try File.open(dir.appendingPathComponent("noF.h5").path)
    defer { try? full.close(); try? partial.close() }
    #expect(["x", "u", "grad_u", "M", "grad_u_of_M", "M_net"].allSatisfy { full.exists($0) })
    #expect(["x", "u", "grad_u", "M_net"].allSatisfy { partial.exists($0) } && !partial.exists("M") && !partial.exists("grad_u_of_M"))
    // Without F the potential's values are the same bits as with it.
    for name in ["u", "grad_u", "M_net"] {
      #expect(try full.dataset(name).read(as: Float.self) == partial.dataset(name).read(as: Float.self), "\(name)")
    }
    // M = grad u*(F(x)) solves the conjugate problem: grad u(M) reproduces F at every row.
    let guM = Matrix(rows: n, cols: d, storage: try full.dataset("grad_u_of_M").read(as: Float.self, shape: [n, d]))
    #expect(relativeL2(guM, Matrix(rows: n, cols: d, storage: f.map { Float($0) })) < 1e-3)

    // A non-finite F in the second chunk, a wrong F shape: one line, exit 3, nothing written.
    var bad = f
    bad[68_000 * d + 1] = .nan
    let badPath = dir.appendingPathComponent("bad.h5").path, shapePath = dir.appendingPathComponent("shape.h5").path
    try Self.write(badPath, [("x", x, [n, d]), ("F", bad, [n, d])])
    try Self.write(shapePath, [("x", x, [n, d]), ("F", Array(f.prefix(n * 2)), [n, 2])])
    expectRefused(try apply(2, badPath, "bad-out.h5"), 3, "/F: row 68000 is not finite", "NaN in F")
    expectRefused(try apply(2, shapePath, "shape-out.h5"), 3, "/F", "F of another shape")
    let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("bad-out") || $0.hasPrefix("shape-out") }
    #expect(left.isEmpty, "left behind: \(left)")
  }

  @Test("problem.validation: the held-out rows' dual at every checkpoint, the best kept past checkpoint.keep and named by checkpoints/best")
  func validationRows() throws {
    let (_, file) = try Self.fieldFile("validation", seed: 7)
    let (r, run) = try train(
      ranks: 2,
      smallRun + file + [
        "inverse.steps=0", "map.steps=0", "potential.steps=40", "checkpoint.every=10",
        "checkpoint.keep=1", "problem.validation=0.25",
      ], tag: "validation-run")
    #expect(r.status == 0, "\(r.combined)")
    let records = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
      .compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
      .filter { $0["validation_loss"] != nil }
    #expect(records.map { $0["step"] as? Int ?? -1 } == [10, 20, 30, 40], "\(records)")
    let losses = records.map { $0["validation_loss"] as? Double ?? .nan }
    #expect(losses.allSatisfy(\.isFinite) && records.allSatisfy { $0["validation_converged"] as? Double == 1 }, "\(records)")
    let best = try String(contentsOf: run.appendingPathComponent("checkpoints/best"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    let bestStep = records[losses.firstIndex(of: losses.min()!)!]["step"] as? Int ?? -1
    #expect(best == (bestStep == 40 ? "ckpt-done-40.h5" : "ckpt-potential-\(bestStep).h5"), "best \(best), losses \(losses)")
    #expect(FileManager.default.fileExists(atPath: run.appendingPathComponent("checkpoints/\(best)").path), "\(best) was pruned")
    let f = try File.open(try latestCheckpoint(run))
    #expect(abs(try f.scalarAttribute("best_validation", as: Double.self) - losses.min()!) <= 1e-9 * abs(losses.min()!))
    try f.close()
    // Only for field files.
    let (bad, _) = try train(ranks: 2, smallRun + ["problem.validation=0.25"], tag: "validation-linear")
    expectRefused(bad, 2, "problem.validation", "validation on a built-in field")
  }

  @Test("a built-in field gives M at any points: the same bytes on 1 and 3 ranks (F computed per micro-batch)")
  func builtInField() throws {
    let run = try TinyRun.shared.get()
    let dir = try Programs.temporaryDirectory("apply-builtin")
    let input = dir.appendingPathComponent("x.h5").path
    let x = (0 ..< 3000 * 2).map { CounterRNG(seed: 8, stream: 1).normal(UInt64($0)) }
    try Self.write(input, [("x", x, [3000, 2])])
    var bytes = [Data]()
    for ranks in [1, 3] {
      let out = dir.appendingPathComponent("out\(ranks).h5").path
      let r = try Programs.mpirun(
        ranks, "polar-train",
        [
          "apply", "--checkpoint", run.appendingPathComponent("checkpoints/ckpt-done-2.h5").path,
          "--input", input, "--output", out,
        ], timeout: 120)
      #expect(r.status == 0 && r.stdout.contains("grad_u_of_M"), "\(r.combined)")
      bytes.append(try Data(contentsOf: URL(fileURLWithPath: out)))
    }
    #expect(bytes.count == 2 && bytes[0] == bytes[1], "1 and 3 ranks differ")
  }
}
