import Foundation
import ParallelHDF5
import TestSupport
import Testing

/// The ways a checkpoint file gets damaged, and what `inspect` must then say.
enum Damage: String, CaseIterable, Sendable {
  case truncated, flippedParameterBytes, wrongVersion, missingDataset

  var expectedProblem: String {
    switch self {
    case .truncated: "cannot open as HDF5 (truncated or not HDF5)"
    case .flippedParameterBytes: "checksum: stored"
    case .wrongVersion: "attribute version: 99, this program reads 1"
    case .missingDataset: "amortizer/adam/v"
    }
  }

  func apply(to path: String) throws {
    switch self {
    case .truncated:
      let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
      let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
      try h.truncate(atOffset: UInt64(size * 6 / 10))
      try h.close()
    case .flippedParameterBytes:
      // Find the raw bytes of the first parameters in the file and flip one of them.
      let f = try File.open(path)
      let params = try f.dataset("potential/params").read(as: Float.self)
      try f.close()
      let needle = params.prefix(8).withUnsafeBytes { Data($0) }
      var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
      guard let at = bytes.range(of: needle) else { throw TestFailure("parameters not found in \(path)") }
      bytes[at.lowerBound + 5] ^= 0x10
      try bytes.write(to: URL(fileURLWithPath: path))
    case .wrongVersion:
      let f = try File.open(path, mode: .readWrite)
      try f.setAttribute("version", Int64(99))
      try f.close()
    case .missingDataset:
      let f = try File.open(path, mode: .readWrite)
      try f.remove("amortizer/adam/v")
      try f.close()
    }
  }
}

@Suite("Damaged checkpoints and bad input under mpirun", .serialized)
struct FaultTests {
  @Test(
    "a damaged checkpoint: inspect says what is wrong (exit 4); --resume auto falls back with a warning",
    arguments: Damage.allCases)
  func damaged(_ damage: Damage) throws {
    let reference = try Reference.shared.get()
    let run = try Programs.temporaryDirectory("damaged").appendingPathComponent("run")
    let dir = run.appendingPathComponent("checkpoints")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    for name in ["ckpt-potential-3950.h5", "ckpt-map-0.h5", "ckpt-done-40.h5", "latest"] {
      try FileManager.default.copyItem(
        at: reference.run.appendingPathComponent("checkpoints/\(name)"),
        to: dir.appendingPathComponent(name))
    }
    let newest = dir.appendingPathComponent("ckpt-done-40.h5").path
    let good = try Programs.run(Programs.path("polar-train"), ["inspect", newest])
    #expect(good.status == 0 && good.stdout.contains("checksum: ok"), "\(good.combined)")
    try damage.apply(to: newest)
    let bad = try Programs.run(Programs.path("polar-train"), ["inspect", newest])
    #expect(bad.status == 4, "\(bad.combined)")
    #expect(bad.stdout.contains("verdict: DAMAGED") && bad.stderr.contains(damage.expectedProblem), "\(bad.combined)")
    let resumed = try resumeAuto(2, run: run)
    #expect(resumed.status == 0, "\(resumed.combined)")
    #expect(resumed.stderr.contains("warning: skipping damaged checkpoint \(newest)"), "\(resumed.stderr)")
    #expect(resumed.stdout.contains("ckpt-map-0.h5 (stage map, step 0"), "\(resumed.stdout)")
    #expect(try checkpointParameters(try latestCheckpoint(run)) == reference.params)
  }

  @Test("NaN: the run stops naming the step and the network; with on_nan = rollback it recovers")
  func nonFinite() throws {
    let env = ["POLAR_TRAIN_TEST_NAN_AT_STEP": "120"]
    let dir = try Programs.temporaryDirectory("nan")
    let stop = try Programs.mpirun(
      2, "polar-train",
      ["train", "--quiet", "--output", dir.appendingPathComponent("stop").path]
        + faultRun.flatMap { ["--set", $0] }, timeout: 120, environment: env)
    #expect(stop.status == 1, "\(stop.combined)")
    #expect(
      stop.stderr.contains("polar-train: potential step 120: non-finite gradient (nan) in network potential"),
      "\(stop.stderr)")
    let roll = try Programs.mpirun(
      2, "polar-train",
      [
        "train", "--quiet", "--output", dir.appendingPathComponent("roll").path,
        "--set", "train.on_nan=rollback",
      ] + faultRun.flatMap { ["--set", $0] },
      timeout: 120, environment: env)
    #expect(roll.status == 0, "\(roll.combined)")
    #expect(
      roll.stdout.contains("rolling back to ckpt-potential-100.h5 (stage potential, step 100) with the learning rate scaled by 0.5 (rollback 1 of 3)"),
      "\(roll.stdout)")
    let f = try File.open(try latestCheckpoint(dir.appendingPathComponent("roll")))
    #expect(try f.scalarAttribute("lr_scale", as: Double.self) == 0.5)
    #expect(try f.scalarAttribute("rollbacks", as: Int64.self) == 1)
    try f.close()
    // A NaN that comes back every time: three rollbacks, then the run stops.
    let again = try Programs.mpirun(
      2, "polar-train",
      [
        "train", "--quiet", "--output", dir.appendingPathComponent("again").path,
        "--set", "train.on_nan=rollback",
      ] + faultRun.flatMap { ["--set", $0] },
      timeout: 120, environment: ["POLAR_TRAIN_TEST_NAN_AT_STEP": "120+"])
    #expect(again.status == 1, "\(again.combined)")
    #expect(again.stdout.contains("(rollback 3 of 3)") && again.stderr.contains("stopping after 3 rollbacks"), "\(again.combined)")
  }

  @Test("bad input: one line, the docs/design.md §5 exit status, every rank ends within 10 s")
  func badInput() throws {
    let dir = try Programs.temporaryDirectory("bad")
    func file(_ name: String, _ text: String) throws -> String {
      let url = dir.appendingPathComponent(name)
      try text.write(to: url, atomically: true, encoding: .utf8)
      return url.path
    }
    func fieldFile(_ name: String, rows: Int, fRows: Int? = nil, nanRow: Int? = nil, withF: Bool = true) throws -> String {
      let path = dir.appendingPathComponent(name).path
      let f = try File.create(path)
      var x = (0 ..< rows * 2).map { Double($0) / 10 }
      if let nanRow { x[nanRow * 2 + 1] = .nan }
      try f.createDataset("x", type: .float64, shape: [rows, 2]).write(x)
      if withF {
        let n = fRows ?? rows
        try f.createDataset("F", type: .float64, shape: [n, 2]).write((0 ..< n * 2).map { Double($0) })
      }
      try f.close()
      return path
    }
    func digitsFile(_ name: String, badLabel: Int64) throws -> String {
      let path = dir.appendingPathComponent(name).path
      let f = try File.create(path)
      try f.createDataset("images", type: .float32, shape: [3, 64]).write((0 ..< 192).map { Float($0 % 17) })
      try f.createDataset("labels", type: .int64, shape: [3]).write([Int64(1), badLabel, 0])
      try f.close()
      return path
    }
    let reference = try Reference.shared.get()
    let ckpt = reference.run.appendingPathComponent("checkpoints/ckpt-potential-700.h5").path
    try "not a directory".write(to: dir.appendingPathComponent("plain"), atomically: true, encoding: .utf8)
    let fileField = ["--set", "problem.field=file", "--set", "problem.reference=data"]
    let cases: [(String, Int, [String], Int32, String)] = [
      ("malformed TOML", 2, ["--config", try file("malformed.toml", "seed = = 3\n")], 2, "malformed TOML at line 1"),
      (
        "unknown key", 2, ["--config", try file("unknown.toml", "[potential]\nstepz = 3\n")], 2,
        "potential.stepz: unknown key (did you mean 'potential.steps'?)"
      ),
      (
        "wrong type", 2, ["--config", try file("type.toml", "[potential]\nsteps = \"many\"\n")], 2,
        "potential.steps: expected an integer, got the string \"many\""
      ),
      ("zero size", 2, ["--set", "potential.batch=0"], 2, "--set: potential.batch: must be at least 1, got 0"),
      ("negative size", 2, ["--set", "potential.hidden=[16, -4]"], 2, "potential.hidden: must be at least 1, got -4"),
      (
        "missing dataset", 2, fileField + ["--set", "problem.file=\(try fieldFile("noF.h5", rows: 10, withF: false))"], 3,
        "noF.h5: /F: cannot open dataset"
      ),
      (
        "mismatched shapes", 2, fileField + ["--set", "problem.file=\(try fieldFile("shapes.h5", rows: 10, fRows: 9))"], 3,
        "shapes.h5: /F: cannot read: wrong shape: dataset is [9, 2], expected [10, 2]"
      ),
      (
        "NaN rows", 2, fileField + ["--set", "problem.file=\(try fieldFile("nan.h5", rows: 10, nanRow: 3))"], 3,
        "nan.h5: row 3 of x or F is not finite"
      ),
      (
        "fewer samples than ranks", 3, fileField + ["--set", "problem.file=\(try fieldFile("two.h5", rows: 2))"], 3,
        "two.h5: /x: 2 rows for 3 rank(s): needs at least 3"
      ),
      (
        "topography without its dataset", 2,
        [
          "--set", "problem.field=topography", "--set", "problem.reference=uniform",
          "--set", "problem.file=\(try fieldFile("grid.h5", rows: 10))",
        ], 3,
        "grid.h5: /elevation: cannot open dataset"
      ),
      (
        "classifier-loss of another dimension", 2,
        [
          "--set", "problem.field=classifier-loss", "--set", "problem.reference=uniform",
          "--set", "problem.file=data/digits.h5", "--set", "problem.dim=10",
        ], 2,
        "problem.dim: classifier-loss with an MLP with 64 inputs and 3 hidden units has d = 235, got 10"
      ),
      (
        "classifier-loss label out of range", 2,
        [
          "--set", "problem.field=classifier-loss", "--set", "problem.reference=uniform",
          "--set", "problem.file=\(try digitsFile("labels.h5", badLabel: 12))",
          "--set", "problem.dim=235", "--set", "problem.images=2",
        ], 3,
        "labels.h5: /labels: row 1 is 12, expected 0-9"
      ),
      (
        "langevin start of another dimension", 2,
        [
          "--set", "inverse.steps=10", "--set", "langevin.steps=10",
          "--set", "langevin.start=[1, 2, 3]",
        ], 2,
        "langevin.start: 3 coordinates, problem.dim is 2"
      ),
      (
        "unwritable output directory", 2, ["--output", dir.appendingPathComponent("plain/run").path], 2,
        "plain/run: cannot create the run directory"
      ),
      (
        "checkpoint of another architecture", 2, ["--resume", ckpt, "--set", "potential.hidden=[32]"], 4,
        "written by another configuration; differing keys: potential.hidden (checkpoint [16, 16], now [32])"
      ),
      ("checkpoint that does not exist", 2, ["--resume", "/nonexistent/ckpt.h5"], 4, "/nonexistent/ckpt.h5: no such file"),
    ]
    for (what, ranks, args, status, message) in cases {
      var full = ["train", "--quiet"] + args
      if !args.contains("--output") { full += ["--output", dir.appendingPathComponent("run-\(what.replacingOccurrences(of: " ", with: "-"))").path] }
      let r = try Programs.mpirun(ranks, "polar-train", full, timeout: 60)
      #expect(r.status == status, "\(what): \(r.combined)")
      #expect(r.seconds < 10, "\(what): \(r.seconds) s")
      let lines = r.stderr.split(separator: "\n").filter { $0.hasPrefix("polar-train:") }
      #expect(lines.count == 1 && lines.first?.contains(message) == true, "\(what): \(r.stderr)")
    }
    // Commands reading a checkpoint: a missing one is exit 4 too.
    let e = try Programs.mpirun(2, "polar-train", ["evaluate", "--checkpoint", "/nonexistent/ckpt.h5"], timeout: 60)
    #expect(e.status == 4 && e.stderr.contains("/nonexistent/ckpt.h5: no such file") && e.seconds < 10, "\(e.combined)")
    // An existing, non-empty run directory is not overwritten.
    let existing = try Programs.temporaryDirectory("exists")
    try "keep me".write(to: existing.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
    let r = try Programs.mpirun(2, "polar-train", ["train", "--output", existing.path], timeout: 60)
    #expect(r.status == 2 && r.stderr.contains("pass --resume auto to continue it or --force"), "\(r.combined)")
    #expect(FileManager.default.fileExists(atPath: existing.appendingPathComponent("notes.txt").path))
  }
}
