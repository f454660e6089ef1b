// Hostile input (issue 16): sizes that cannot be allocated, non-finite values in input files and
// checkpoints, unusual datasets (0 rows, float16, int16), a directory as a checkpoint, a huge
// configuration value, and a field whose W2 overflows. Every refusal: the exit status, one
// `polar-train:` line naming the file and field, under 10 s, and nothing written.
import Foundation
import ParallelHDF5
import PolarTrain
import TestSupport
import Testing

/// A tiny run with every stage (inverse too), trained once for the suite (about 1 s).
final class TinyRun: @unchecked Sendable {
  static let shared = TinyRun()
  static let settings = [
    "potential.steps=4", "potential.batch=32", "parallel.micro_batch=16", "map.steps=2", "map.batch=32",
    "inverse.steps=2", "inverse.batch=32", "train.eval_samples=16", "potential.hidden=[4]",
    "amortizer.hidden=[4]", "map.hidden=[4]", "inverse.hidden=[4]", "inverse.frequencies=1",
    "train.report=false", "checkpoint.every=2", "train.log_every=1",
  ]
  private var cached: URL?
  private let lock = NSLock()

  func get() throws -> URL {
    lock.lock()
    defer { lock.unlock() }
    if let cached { return cached }
    let (r, run) = try train(ranks: 2, TinyRun.settings, tag: "tiny", timeout: 120)
    guard r.status == 0 else { throw TestFailure("tiny run failed: \(r.combined)") }
    cached = run
    return run
  }

  /// A fresh copy of the run's final checkpoint.
  func checkpointCopy(_ dir: URL, _ name: String) throws -> String {
    let to = dir.appendingPathComponent(name)
    try FileManager.default.copyItem(at: try get().appendingPathComponent("checkpoints/ckpt-done-2.h5"), to: to)
    return to.path
  }
}

/// Writes dataset `name` [rows, 2] (values i / 10, `bad` rows set to `value`), or only declares
/// it when `declareOnly` (an enormous extent costs no space until written).
func pointsFile(
  _ dir: URL, _ file: String, _ name: String, rows: Int, type: ElementType = .float32,
  bad: [Int] = [], value: Float = .nan, declareOnly: Bool = false, extra: String? = nil
) throws -> String {
  let path = dir.appendingPathComponent(file).path
  let f = try File.create(path)
  for n in [name] + (extra.map { [$0] } ?? []) {
    let ds = try f.createDataset(n, type: type, shape: [rows, 2])
    if declareOnly || rows == 0 { continue }
    var x = (0 ..< rows * 2).map { Float($0) / 10 }
    for r in bad { x[r * 2 + 1] = value }
    if type.isFloat { try ds.write(x) } else { try ds.write(x.map { Int64($0 * 10) }) }
  }
  try f.close()
  return path
}

/// Runs `args` under mpirun and checks status, one `polar-train:` line containing `message`,
/// < 10 s, no "was not closed" warning, and that none of `unwritten` exists afterwards.
func refuses(_ what: String, ranks: Int = 2, _ args: [String], status: Int32, _ message: String, unwritten: [String] = []) throws {
  let r = try Programs.mpirun(ranks, "polar-train", args, timeout: 60)
  expectRefused(r, status, message, what)
  #expect(!r.stderr.contains("was not closed"), "\(what): \(r.stderr)")
  for path in unwritten {
    for p in [path, path + ".partial"] { #expect(!FileManager.default.fileExists(atPath: p), "\(what): \(p) was written") }
  }
}

@Suite("Hostile input under mpirun", .serialized)
struct HostileInputTests {
  @Test("sizes that cannot be allocated: exit 2 (configuration, flags) or 3 (a data file), nothing written")
  func sizes() throws {
    let run = try TinyRun.shared.get()
    let dir = try Programs.temporaryDirectory("sizes")
    let ckpt = run.appendingPathComponent("checkpoints/ckpt-done-2.h5").path
    let out = dir.appendingPathComponent("out.h5").path, newRun = dir.appendingPathComponent("run").path
    let huge = "100000000000000"
    let big = try pointsFile(dir, "big.h5", "x", rows: 1_000_000_000_000, declareOnly: true, extra: "F")
    let bigY = try pointsFile(dir, "bigy.h5", "y", rows: 1_000_000_000_000, declareOnly: true)
    let y = try pointsFile(dir, "y.h5", "y", rows: 4)
    let train = ["train", "--quiet", "--output", newRun]
    for ranks in [1, 2] {
      try refuses(
        "problem.dim", ranks: ranks, train + ["--set", "problem.dim=100000"], status: 2,
        "--set: problem.dim: needs about", unwritten: [newRun])
    }
    try refuses(
      "hidden width", train + ["--set", "potential.hidden=[10000000000]"], status: 2,
      "--set: potential.hidden: needs about", unwritten: [newRun])
    try refuses(
      "overflowing widths", train + ["--set", "map.hidden=[10000000000, 10000000000]"], status: 2,
      "--set: map.hidden: needs more than 9.2 EB (the sizes overflow 64 bits) per rank", unwritten: [newRun])
    // (Integer keys stop at 2^40 = 1.1e12 anyway: 1e12 is within, and far past the memory.)
    try refuses(
      "eval samples", train + ["--set", "train.eval_samples=1000000000000"], status: 2,
      "--set: train.eval_samples: needs about", unwritten: [newRun])
    try refuses(
      "field file", train + ["--set", "problem.field=file", "--set", "problem.reference=data", "--set", "problem.file=\(big)"],
      status: 3, "big.h5: /x: [1000000000000, 2] needs about", unwritten: [newRun])
    try refuses(
      "sample --count", ["sample", "--checkpoint", ckpt, "--count", huge, "--output", out], status: 2,
      "sample: --count: needs about", unwritten: [out])
    try refuses(
      "sample --per-point", ["sample", "--checkpoint", ckpt, "--target", y, "--per-point", "4611686018427387904", "--output", out],
      status: 2, "sample: --per-point: needs more than", unwritten: [out])
    try refuses(
      "sample --target", ["sample", "--checkpoint", ckpt, "--target", bigY, "--output", out], status: 3,
      "bigy.h5: /y: [1000000000000, 2] needs about", unwritten: [out])
    // apply streams its input (memory independent of n): 1e12 rows are refused by the disk.
    try refuses(
      "apply --input", ["apply", "--checkpoint", ckpt, "--input", big, "--output", out], status: 2,
      "out.h5: cannot write the output: the disk is full", unwritten: [out])
    try refuses(
      "langevin --particles", ["langevin", "--checkpoint", ckpt, "--particles", huge, "--steps", "1", "--output", out],
      status: 2, "langevin: --particles: needs about", unwritten: [out])
    try refuses("evaluate --samples", ["evaluate", "--checkpoint", ckpt, "--samples", huge], status: 2, "evaluate: --samples: needs about")
    try refuses(
      "report --grid", ["report", run.path, "--grid", huge], status: 2, "report: --grid: needs",
      unwritten: [run.appendingPathComponent("report/index.html").path])
  }

  @Test("input values and datasets: non-finite rows, 0 rows, integer types: exit 3 naming file, dataset and row")
  func values() throws {
    let run = try TinyRun.shared.get()
    let dir = try Programs.temporaryDirectory("values")
    let ckpt = run.appendingPathComponent("checkpoints/ckpt-done-2.h5").path
    let out = dir.appendingPathComponent("out.h5").path
    func apply(_ input: String) -> [String] { ["apply", "--checkpoint", ckpt, "--input", input, "--output", out] }
    func sample(_ target: String) -> [String] { ["sample", "--checkpoint", ckpt, "--target", target, "--steps", "2", "--output", out] }
    try refuses(
      "NaN in x", apply(try pointsFile(dir, "nan.h5", "x", rows: 10, bad: [3])), status: 3,
      "nan.h5: /x: row 3 is not finite", unwritten: [out])
    // apply gives each rank blocks of 1024 rows: rank 1's rows start at 1024 of 3000.
    try refuses(
      "NaN in x, rank 1's rows", apply(try pointsFile(dir, "nan7.h5", "x", rows: 3000, bad: [2500])), status: 3,
      "rank 1: \(dir.path)/nan7.h5: /x: row 2500 is not finite", unwritten: [out])
    try refuses(
      "NaN in x, the lowest row wins", apply(try pointsFile(dir, "nan37.h5", "x", rows: 3000, bad: [2500, 3])), status: 3,
      "rank 0: \(dir.path)/nan37.h5: /x: row 3 is not finite", unwritten: [out])
    try refuses(
      "Inf in y", sample(try pointsFile(dir, "inf.h5", "y", rows: 10, bad: [3], value: .infinity)), status: 3,
      "inf.h5: /y: row 3 is not finite", unwritten: [out])
    for ranks in [1, 2] {
      try refuses(
        "0 rows", ranks: ranks, apply(try pointsFile(dir, "empty\(ranks).h5", "x", rows: 0)), status: 3,
        "empty\(ranks).h5: /x: has 0 rows", unwritten: [out])
    }
    try refuses(
      "0 rows in a field file",
      [
        "train", "--quiet", "--output", dir.appendingPathComponent("run").path,
        "--set", "problem.field=file", "--set", "problem.reference=data",
        "--set", "problem.file=\(try pointsFile(dir, "empty.h5", "x", rows: 0, extra: "F"))",
      ],
      status: 3, "empty.h5: /x: has 0 rows", unwritten: [dir.appendingPathComponent("run").path])
    try refuses(
      "int16 data", apply(try pointsFile(dir, "int16.h5", "x", rows: 10, type: .int16)), status: 3,
      "int16.h5: /x: int16 data, expected float32 or float64", unwritten: [out])
    // float16 converts exactly: accepted.
    let half = try Programs.mpirun(2, "polar-train", apply(try pointsFile(dir, "half.h5", "x", rows: 10, type: .float16)), timeout: 60)
    #expect(half.status == 0, "\(half.combined)")
    let f = try File.open(out)
    #expect(try f.dataset("x").read(as: Float.self)[3] == Float(Float16(0.3)))
    try f.close()
    try FileManager.default.removeItem(atPath: out)
    // A directory as a checkpoint; a huge configuration value quoted in part.
    try refuses("directory as checkpoint", ["evaluate", "--checkpoint", dir.path], status: 4, "\(dir.path): is a directory, not a checkpoint file")
    let long = dir.appendingPathComponent("long.toml")
    try "[problem]\nfield = \"\(String(repeating: "a", count: 5_000_000))\"\n".write(to: long, atomically: true, encoding: .utf8)
    let r = try Programs.mpirun(2, "polar-train", ["train", "--config", long.path, "--output", dir.appendingPathComponent("long").path], timeout: 60)
    #expect(r.status == 2 && r.stderr.contains("...\" (5000000 bytes)") && r.stderr.utf8.count < 2000, "\(r.stderr.prefix(3000))")
  }

  @Test("checkpoint values a valid checksum does not vouch for: inspect and every reader exit 4, one line each")
  func checkpointValues() throws {
    let dir = try Programs.temporaryDirectory("ckptvalues")
    /// Sets the checksum attribute to the one `inspect` computes (a forged, self-consistent file).
    func fixChecksum(_ path: String) throws {
      let r = try Programs.run(Programs.path("polar-train"), ["inspect", path])
      guard let line = r.stdout.split(separator: "\n").first(where: { $0.hasPrefix("checksum: MISMATCH") }),
        let computed = line.split(separator: " ").last
      else { return }
      let f = try File.open(path, mode: .readWrite)
      try f.setAttribute("checksum", String(computed))
      try f.close()
    }
    func vector(_ path: String, _ name: String, _ change: (inout [Float]) -> Void) throws {
      let f = try File.open(path, mode: .readWrite)
      let ds = try f.dataset(name)
      var v = try ds.read(as: Float.self)
      change(&v)
      try ds.write(v)
      try f.close()
      try fixChecksum(path)
    }
    func attribute<T: HDF5Scalar>(_ path: String, _ name: String, _ value: T) throws {
      let f = try File.open(path, mode: .readWrite)
      try f.setAttribute(name, value)
      try f.close()
    }
    let cases: [(String, (String) throws -> Void, String)] = [
      ("NaN params", { try vector($0, "potential/params") { $0 = $0.map { _ in .nan } } }, "dataset potential/params: value 0 is nan, not finite"),
      ("Inf adam m", { try vector($0, "map/adam/m") { $0[2] = .infinity } }, "dataset map/adam/m: value 2 is inf, not finite"),
      ("negative adam v", { try vector($0, "amortizer/adam/v") { $0[1] = -1 } }, "dataset amortizer/adam/v: value 1 is -1.0, must be at least 0"),
      ("negative step", { try attribute($0, "step", Int64(-5)) }, "attribute step: -5, must be from 0 to"),
      ("step past the stage", { try attribute($0, "step", Int64(99)) }, "attribute step: 99, must be from 0 to 4"),
      (
        "stage",
        {
          let f = try File.open($0, mode: .readWrite); try f.setAttribute("stage", "../../evil"); try f.close()
        },
        "attribute stage: \"../../evil\", expected potential, map, inverse, done"
      ),
      ("rollbacks", { try attribute($0, "rollbacks", Int64(7)) }, "attribute rollbacks: 7, must be from 0 to 3"),
      ("world size", { try attribute($0, "world_size", Int64(0)) }, "attribute world_size: 0, must be at least 1"),
      ("lr scale", { try attribute($0, "lr_scale", 2.0) }, "attribute lr_scale: 2.0, must be in (0, 1]"),
      ("NaN lr scale", { try attribute($0, "lr_scale", Double.nan) }, "attribute lr_scale: nan, must be in (0, 1]"),
    ]
    for (k, (what, damage, message)) in cases.enumerated() {
      let path = try TinyRun.shared.checkpointCopy(dir, what.replacingOccurrences(of: " ", with: "-") + ".h5")
      try damage(path)
      let inspect = try Programs.run(Programs.path("polar-train"), ["inspect", path])
      let lines = inspect.stderr.split(separator: "\n").filter { $0.hasPrefix("polar-train:") }
      #expect(inspect.status == 4 && lines.count == 1 && lines.first?.contains(message) == true, "\(what): \(inspect.combined)")
      // Every reader goes through the same inspection: two of them under mpirun suffice.
      if k < 2 { try refuses("\(what): evaluate", ["evaluate", "--checkpoint", path, "--samples", "16"], status: 4, message) }
    }
    // A resumed run from such a checkpoint: exit 4 on every rank, the run directory untouched.
    let path = try TinyRun.shared.checkpointCopy(dir, "resume.h5")
    try attribute(path, "step", Int64(-5))
    let runDir = dir.appendingPathComponent("resumed").path
    try refuses(
      "train --resume", ["train", "--quiet", "--resume", path, "--output", runDir] + TinyRun.settings.flatMap { ["--set", $0] },
      status: 4, "attribute step: -5", unwritten: [runDir])
    try refuses(
      "apply",
      [
        "apply", "--checkpoint", path, "--input", try pointsFile(dir, "x.h5", "x", rows: 4),
        "--output", dir.appendingPathComponent("o.h5").path,
      ], status: 4, "attribute step: -5")
  }

  @Test("a field near 1e30: the W2 estimate overflows and the run stops (exit 1); on_nan = rollback rolls back, then stops")
  func overflowingField() throws {
    let dir = try Programs.temporaryDirectory("overflow")
    let path = dir.appendingPathComponent("huge.h5").path
    let f = try File.create(path)
    try f.createDataset("x", type: .float32, shape: [64, 2]).write((0 ..< 128).map { Float($0 % 7) / 7 })
    try f.createDataset("F", type: .float32, shape: [64, 2]).write((0 ..< 128).map { Float($0 % 5 + 1) * 1e30 })
    try f.close()
    let settings = TinyRun.settings + ["problem.field=file", "problem.reference=data", "problem.file=\(path)"]
    let (stop, _) = try train(ranks: 2, settings, tag: "overflow-stop", timeout: 60)
    #expect(stop.status == 1 && stop.stderr.contains("potential step 1: non-finite"), "\(stop.combined)")
    let (roll, _) = try train(ranks: 2, settings + ["train.on_nan=rollback"], tag: "overflow-roll", timeout: 60)
    #expect(
      roll.status == 1 && roll.stdout.contains("(rollback 3 of 3)") && roll.stderr.contains("stopping after 3 rollbacks"),
      "\(roll.combined)")
  }
}

@Suite("Memory budget")
struct MemoryBudgetTests {
  @Test("MemAvailable, cgroup limits and the budget per rank")
  func parsing() {
    let meminfo = "MemTotal:       32768000 kB\nMemFree:         1000000 kB\nMemAvailable:   20000000 kB\nBuffers: 1 kB\n"
    #expect(MemoryBudget.memAvailable(meminfo: meminfo) == 20_000_000 * 1024)
    #expect(MemoryBudget.memAvailable(meminfo: "MemTotal: 5 kB\n") == nil)
    #expect(MemoryBudget.memAvailable(meminfo: "MemAvailable: lots kB\n") == nil)
    #expect(MemoryBudget.cgroupLimit("max\n") == nil)
    #expect(MemoryBudget.cgroupLimit("9223372036854771712\n") == nil)  // cgroup v1 "no limit"
    #expect(MemoryBudget.cgroupLimit("8589934592\n") == 8_589_934_592)
    #expect(MemoryBudget.cgroupLimit("") == nil)
    let byMemory = MemoryBudget(memAvailable: 20_000_000_000, cgroupLimit: nil, ranksOnHost: 2)
    #expect(byMemory.bytesPerRank == 8_000_000_000 && byMemory.basis == "80% of MemAvailable 20.0 GB over 2 ranks on this host")
    let byCgroup = MemoryBudget(memAvailable: 20_000_000_000, cgroupLimit: 4_000_000_000, ranksOnHost: 4)
    #expect(byCgroup.bytesPerRank == 800_000_000 && byCgroup.basis.contains("the cgroup memory limit 4.0 GB over 4 ranks"))
    let none = MemoryBudget(memAvailable: nil, cgroupLimit: nil, ranksOnHost: 1)
    #expect(none.bytesPerRank == Int.max && none.excess(1 << 62) == nil && none.excess(Int.max) != nil)
    #expect(byMemory.excess(8_000_000_000) == nil)
    #expect(
      byMemory.excess(400_000_000_000)
        == "needs about 400 GB per rank, this host allows 8.0 GB per rank (80% of MemAvailable 20.0 GB over 2 ranks on this host)")
  }

  @Test("saturating sizes and estimates")
  func sizes() {
    #expect(product(4611686018427387904, 2) == Int.max && product(3, 4, 5) == 60 && product(7, 0, Int.max) == 0)
    #expect(total([Int.max, 1]) == Int.max && total([1, 2, 3]) == 6)
    #expect(formatBytes(999) == "999 bytes" && formatBytes(15_200_000_000) == "15.2 GB" && formatBytes(800_000_000_000_000) == "800 TB")
    // The defaults are far inside any machine that runs them: below 1 GB per rank on 2 ranks.
    let defaults = total(Config().memoryTerms(ranks: 2).map(\.bytes))
    #expect(defaults > 1_000_000 && defaults < 1_000_000_000, "\(defaults)")
    var wide = Config()
    wide.potential.hidden = [10_000_000_000, 10_000_000_000]
    #expect(total(wide.memoryTerms(ranks: 2).map(\.bytes)) == Int.max)
  }
}
