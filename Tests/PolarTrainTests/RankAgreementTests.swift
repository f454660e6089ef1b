// Ranks that see different things must leave together, within seconds, with one line: an input
// file that exists on one node only (simulated with Open MPI's MPMD syntax and a working
// directory per rank, the same relative path present in one of them), different arguments or
// configuration files per rank; and a stop signal sent to the launcher before the ranks exist
// must still stop the run with a checkpoint.
import Foundation
import ParallelHDF5
import TestSupport
import Testing

/// `mpirun -n 1 -wdir DIR polar-train ARGS : -n 1 -wdir DIR' polar-train ARGS' ...`: one rank per
/// part, each in its own working directory with its own arguments.
func mpmd(_ parts: [(dir: URL, args: [String])], timeout: Double = 60) throws -> RunResult {
  // Hydra (MPICH) spells the working directory -wdir too.
  var line = Programs.launcher()
  for (i, part) in parts.enumerated() {
    if i > 0 { line.append(":") }
    line += ["-n", "1", "-wdir", part.dir.path, Programs.path("polar-train")] + part.args
  }
  return try Programs.run("/usr/bin/env", line, timeout: timeout, environment: Programs.mpiEnvironment)
}

/// Expects exit `status` within 10 s and exactly one `polar-train:` line, containing `message`.
func expectOneLine(_ r: RunResult, _ what: String, status: Int32, _ message: String) {
  expectRefused(r, status, message, what)
}

@Suite("Ranks that disagree leave together", .serialized)
struct RankAgreementTests {
  @Test("an input one rank cannot open, or sees with another size: exit 3 or 4 on every rank within 10 s, one line")
  func nodeLocalInputs() throws {
    let base = try Programs.temporaryDirectory("nodelocal")
    let a = base.appendingPathComponent("A"), b = base.appendingPathComponent("B")
    for dir in [a, b] { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) }
    func write(_ dir: URL, _ name: String, rows: Int, datasets: [String], shift: Int = 0) throws {
      let f = try File.create(dir.appendingPathComponent(name).path)
      for d in datasets {
        try f.createDataset(d, type: .float32, shape: [rows, 2]).write((0 ..< rows * 2).map { Float(($0 + shift) % 7) / 7 })
      }
      try f.close()
    }
    try write(a, "field.h5", rows: 16, datasets: ["x", "F"])
    try write(a, "sized.h5", rows: 16, datasets: ["x", "F"])
    try write(b, "sized.h5", rows: 64, datasets: ["x", "F"])
    try write(a, "points.h5", rows: 8, datasets: ["x", "y"])
    try write(a, "same.h5", rows: 16, datasets: ["x", "F"])
    try write(b, "same.h5", rows: 16, datasets: ["x", "F"], shift: 3)
    // A small trained run (with an inverse stage, for sample) on shared storage; a copy of its
    // checkpoint in A only.
    let trained = base.appendingPathComponent("trained")
    let t = try Programs.mpirun(
      2, "polar-train",
      ["train", "--quiet", "--output", trained.path]
        + [
          "potential.steps=20", "map.steps=0", "inverse.steps=10", "potential.hidden=[8]", "amortizer.hidden=[8]",
          "inverse.hidden=[8]", "train.eval_samples=64", "train.report=false",
        ].flatMap { ["--set", $0] }, timeout: 120)
    try #require(t.status == 0, "\(t.combined)")
    let ckpt = try latestCheckpoint(trained)
    try FileManager.default.copyItem(atPath: ckpt, toPath: a.appendingPathComponent("ck.h5").path)
    let fileField = ["--set", "problem.field=file", "--set", "problem.reference=data"]
    let cases: [(String, [String], Int32, String)] = [
      (
        "train field file", ["train", "--quiet"] + fileField + ["--set", "problem.file=field.h5"], 3,
        "field.h5: rank 1 cannot open it: No such file or directory (problem.file)"
      ),
      (
        "train field file of another size", ["train", "--quiet"] + fileField + ["--set", "problem.file=sized.h5"], 3,
        "sized.h5: differs between ranks (rank 1 sees "
      ),
      (
        "train field file of the same size, other contents", ["train", "--quiet"] + fileField + ["--set", "problem.file=same.h5"], 3,
        "same.h5: differs between ranks (rank 1 sees other contents than rank 0, of the same size)"
      ),
      (
        "train --resume PATH", ["train", "--quiet", "--resume", "ck.h5"], 4,
        "ck.h5: rank 1 cannot open it: No such file or directory (--resume)"
      ),
      (
        "apply --input", ["apply", "--checkpoint", ckpt, "--input", "points.h5"], 3,
        "points.h5: rank 1 cannot open it: No such file or directory (--input)"
      ),
      (
        "sample --target", ["sample", "--checkpoint", ckpt, "--target", "points.h5"], 3,
        "points.h5: rank 1 cannot open it: No such file or directory (--target)"
      ),
      (
        "evaluate --checkpoint", ["evaluate", "--checkpoint", "ck.h5"], 4,
        "ck.h5: rank 1 cannot open it: No such file or directory"
      ),
    ]
    for (what, args, status, message) in cases {
      let output = args[0] == "evaluate" ? [] : ["--output", base.appendingPathComponent("out-\(what.filter { $0.isLetter })").path]
      let r = try mpmd([(a, args + output), (b, args + output)])
      expectOneLine(r, what, status: status, message)
    }
    // The rank that cannot read it may be rank 0 (which inspects checkpoints alone).
    let args = ["langevin", "--checkpoint", "ck.h5", "--output", base.appendingPathComponent("l.h5").path]
    expectOneLine(
      try mpmd([(b, args), (a, args)]), "langevin, rank 0 without the file", status: 4,
      "ck.h5: rank 0 cannot open it: No such file or directory")
  }

  @Test("ranks started with different arguments or configuration files: exit 2 within 10 s, one line")
  func differentArguments() throws {
    let base = try Programs.temporaryDirectory("args")
    let a = base.appendingPathComponent("A"), b = base.appendingPathComponent("B")
    for dir in [a, b] { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) }
    let run = base.appendingPathComponent("run").path
    let r = try mpmd([(a, ["train", "--output", run, "--set", "seed=1"]), (b, ["train", "--output", run, "--set", "seed=2"])])
    expectOneLine(r, "--set per rank", status: 2, "polar-train: the ranks were started with different arguments (rank 1 differs from rank 0)")
    #expect(!FileManager.default.fileExists(atPath: run), "a run directory was made")
    try "seed = 1\n[potential]\nsteps = 20\n".write(to: a.appendingPathComponent("c.toml"), atomically: true, encoding: .utf8)
    try "seed = 2\n[potential]\nsteps = 20\n".write(to: b.appendingPathComponent("c.toml"), atomically: true, encoding: .utf8)
    for command in ["train", "config"] {
      let args = [command, "--config", "c.toml"] + (command == "train" ? ["--output", run] : [])
      expectOneLine(
        try mpmd([(a, args), (b, args)]), "\(command) --config per node", status: 2,
        "rank 1: c.toml: the configuration differs between ranks: seed = 2 here, 1 on rank 0")
    }
  }

  @Test(
    "a stop signal to launch/train right after its start: checkpoint, exit 75, resume finishes",
    arguments: [SIGUSR1, SIGTERM])
  func earlySignal(signal: Int32) throws {
    let base = try Programs.temporaryDirectory("early\(signal)")
    let config = base.appendingPathComponent("early.toml"), run = base.appendingPathComponent("run")
    try """
    [potential]
    steps = 2000
    batch = 192
    hidden = [16, 16]
    [parallel]
    micro_batch = 32
    [amortizer]
    hidden = [16]
    [map]
    steps = 0
    [train]
    eval_samples = 64
    report = false
    [checkpoint]
    every = 100000

    """.write(to: config, atomically: true, encoding: .utf8)
    let job = try Programs.start(
      Programs.repositoryRoot + "/launch/train", [config.path, "2", "--quiet", "--output", run.path],
      environment: Programs.mpiEnvironment.merging(["POLAR_TRAIN": Programs.path("polar-train")]) { $1 })
    usleep(30_000)
    job.signal(signal)
    let r = job.finish(timeout: 60)
    #expect(r.status == 75, "\(r.combined)")
    #expect(r.stderr.contains("polar-train: stopped by SIGUSR1 after writing"), "\(r.combined)")
    let latest = try latestCheckpoint(run)
    #expect(!latest.hasSuffix("ckpt-done-2000.h5"), "the run was not stopped: \(latest)")
    let resumed = try Programs.mpirun(2, "polar-train", ["train", "--quiet", "--output", run.path, "--resume", "auto"], timeout: 120)
    #expect(resumed.status == 0, "\(resumed.combined)")
    #expect(resumed.stdout.contains("resuming from \(latest)"), "\(resumed.stdout)")
  }
}
