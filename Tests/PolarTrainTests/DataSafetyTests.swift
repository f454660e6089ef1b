// Data safety (issue 16): a run owns what it writes. Runs sharing a checkpoint directory keep each
// other's checkpoints; --force and --resume only ever touch a run directory and its own files;
// an output that is an input, an empty or root output, a checkpoint.dir leaving the run are
// refused; any string survives config.toml; a full disk is named and leaves the newest intact
// checkpoint as it was. Tiny runs of about a second each.
import Foundation
import PolarTrain
import TestSupport
import Testing

/// A run of 40 + 10 steps on tiny networks, a checkpoint every 10 steps.
let safetyRun = [
  "potential.steps=40", "potential.batch=32", "parallel.micro_batch=16", "map.steps=10", "map.batch=32",
  "potential.hidden=[4]", "amortizer.hidden=[4]", "map.hidden=[4]", "train.eval_samples=16",
  "train.report=false", "checkpoint.every=10", "train.log_every=5",
]

/// `polar-train train --output run` with the tiny settings plus `extra` (more --set or flags).
func safetyTrain(
  _ ranks: Int, _ run: URL, _ extra: [String] = [], directory: URL? = nil,
  environment: [String: String] = [:]
) throws -> RunResult {
  try Programs.mpirun(
    ranks, "polar-train", ["train", "--quiet", "--output", run.path] + safetyRun.flatMap { ["--set", $0] } + extra,
    timeout: 120, environment: environment, directory: directory)
}

/// Every regular file below `dir` with its bytes, to show that nothing changed.
func snapshot(_ dir: URL) throws -> [String: Data] {
  var out: [String: Data] = [:]
  guard let walk = FileManager.default.enumerator(atPath: dir.path) else { return out }
  for case let name as String in walk {
    let path = dir.appendingPathComponent(name).path
    var isDir: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue {
      out[name] = FileManager.default.contents(atPath: path)
    }
  }
  return out
}

@Suite("Data safety: what a run owns, under mpirun", .serialized)
struct DataSafetyTests {
  @Test("two runs sharing checkpoint.dir keep their own checkpoints; --resume of another run's checkpoint into a run is refused")
  func sharedCheckpointDirectory() throws {
    let base = try Programs.temporaryDirectory("shared")
    let shared = base.appendingPathComponent("scratch")
    let a = base.appendingPathComponent("a"), b = base.appendingPathComponent("b")
    let dir = ["--set", "checkpoint.dir=\"\(shared.path)\"", "--set", "checkpoint.keep=1"]
    for run in [a, b] { #expect(try safetyTrain(2, run, dir).status == 0) }
    let ownA = shared.appendingPathComponent(try runID(a)), ownB = shared.appendingPathComponent(try runID(b))
    #expect(ownA != ownB)
    for own in [ownA, ownB] {
      let names = try FileManager.default.contentsOfDirectory(atPath: own.path).sorted()
      #expect(names == ["ckpt-done-10.h5", "latest"], "\(own.path): \(names)")
    }
    // The outputs line names the real checkpoint directory.
    let again = try Programs.mpirun(2, "polar-train", ["train", "--output", a.path, "--resume", "auto"], timeout: 60)
    #expect(again.status == 0 && again.stdout.contains("resuming from \(ownA.path)/ckpt-done-10.h5"), "\(again.combined)")
    #expect(again.stdout.contains("already finished"), "\(again.stdout)")
    // Run b resumed from run a's checkpoint: refused, b unchanged.
    let before = try snapshot(b), beforeShared = try snapshot(shared)
    let mixed = try Programs.mpirun(
      2, "polar-train", ["train", "--output", b.path, "--resume", ownA.appendingPathComponent("ckpt-done-10.h5").path],
      timeout: 60)
    expectRefused(mixed, 2, "not a checkpoint of the run in", "resume another run's checkpoint")
    #expect(try snapshot(b) == before && snapshot(shared) == beforeShared)
    // A finished run asked for more steps: refused with what to do.
    let more = try Programs.mpirun(
      2, "polar-train", ["train", "--output", a.path, "--resume", "auto", "--set", "potential.steps=80"],
      timeout: 60)
    expectRefused(more, 2, "the run finished (stage done) with other settings than now asked for (potential.steps)", "more steps")
  }

  @Test("--force replaces only a run directory and only its files; empty, root and escaping outputs are refused")
  func outputs() throws {
    let base = try Programs.temporaryDirectory("force")
    let notes = base.appendingPathComponent("notes")
    try FileManager.default.createDirectory(at: notes, withIntermediateDirectories: true)
    try "keep me".write(to: notes.appendingPathComponent("notes.txt"), atomically: true, encoding: .utf8)
    expectRefused(try safetyTrain(2, notes, ["--force"]), 2, "not a polar-train run directory (it holds notes.txt)", "--force")
    #expect(FileManager.default.fileExists(atPath: notes.appendingPathComponent("notes.txt").path))
    // A run with a user's file beside it and checkpoints outside: --force removes the run's own files only.
    let run = base.appendingPathComponent("run"), scratch = base.appendingPathComponent("scratch")
    let outside = ["--set", "checkpoint.dir=\"\(scratch.path)\""]
    #expect(try safetyTrain(2, run, outside).status == 0)
    let oldID = try runID(run)
    try "mine".write(to: run.appendingPathComponent("mine.txt"), atomically: true, encoding: .utf8)
    let stranger = scratch.appendingPathComponent("keep.h5")
    try "other data".write(to: stranger, atomically: true, encoding: .utf8)
    let forced = try safetyTrain(2, run, outside + ["--force"])
    #expect(forced.status == 0, "\(forced.combined)")
    #expect(try runID(run) != oldID)
    #expect(!FileManager.default.fileExists(atPath: scratch.appendingPathComponent(oldID).path))
    #expect(FileManager.default.fileExists(atPath: run.appendingPathComponent("mine.txt").path))
    #expect(FileManager.default.fileExists(atPath: stranger.path))
    // Empty and root outputs, a relative checkpoint.dir that leaves the run directory: refused,
    // nothing written (the working directory stays empty).
    let cwd = base.appendingPathComponent("cwd")
    try FileManager.default.createDirectory(at: cwd, withIntermediateDirectories: true)
    expectRefused(try safetyTrain(2, URL(fileURLWithPath: "/"), [], directory: cwd), 2, "the file system root cannot be a run directory", "/")
    let empty = try Programs.mpirun(2, "polar-train", ["train", "--output", ""], timeout: 60, directory: cwd)
    #expect(empty.status == 2 && empty.stderr.contains("--output: empty path"), "\(empty.combined)")
    let escaping = try safetyTrain(2, cwd.appendingPathComponent("r"), ["--set", "checkpoint.dir=../../x"], directory: cwd)
    expectRefused(escaping, 2, "checkpoint.dir: \"../../x\" leaves the run directory", "escaping checkpoint.dir")
    let ckpt = try latestCheckpoint(run, directory: scratch.appendingPathComponent(try runID(run)))
    let applied = try Programs.mpirun(
      2, "polar-train", ["apply", "--checkpoint", ckpt, "--input", ckpt, "--output", ""], timeout: 60,
      directory: cwd)
    expectRefused(applied, 2, "--output: empty path", "apply --output \"\"")
    #expect(try FileManager.default.contentsOfDirectory(atPath: cwd.path).isEmpty)
  }

  @Test("apply, sample: an output that is an input is refused and the input kept byte for byte")
  func outputIsInput() throws {
    let dir = try Programs.temporaryDirectory("inout")
    let points = try pointsFile(dir, "pts.h5", "x", rows: 8, extra: "other")
    let run = dir.appendingPathComponent("run")
    #expect(try safetyTrain(1, run).status == 0)
    let ckpt = try latestCheckpoint(run)
    let link = dir.appendingPathComponent("link.h5").path
    try FileManager.default.linkItem(atPath: points, toPath: link)
    let before = try Data(contentsOf: URL(fileURLWithPath: points)), ckptBefore = try Data(contentsOf: URL(fileURLWithPath: ckpt))
    for output in [points, dir.appendingPathComponent("./pts.h5").path, link] {
      let r = try Programs.mpirun(2, "polar-train", ["apply", "--checkpoint", ckpt, "--input", points, "--output", output], timeout: 60)
      expectRefused(r, 2, "is the --input file; writing it would destroy that input", "apply \(output)")
    }
    let r = try Programs.mpirun(2, "polar-train", ["apply", "--checkpoint", ckpt, "--input", points, "--output", ckpt], timeout: 60)
    expectRefused(r, 2, "is a checkpoint or another file of a training run (ckpt-done-10.h5)", "apply onto its checkpoint")
    #expect(try Data(contentsOf: URL(fileURLWithPath: points)) == before)
    #expect(try Data(contentsOf: URL(fileURLWithPath: ckpt)) == ckptBefore)
    // Never a device or a run's own file.
    let node = dir.appendingPathComponent("null").path
    #expect(mknod(node, S_IFCHR | 0o666, dev_t((1 << 8) | 3)) == 0)  // makedev(1, 3): /dev/null
    for (output, message) in [
      (node, "exists and is not a regular file"),
      (run.appendingPathComponent("config.toml").path, "is a checkpoint or another file of a training run (config.toml)"),
      (run.appendingPathComponent("checkpoints/latest").path, "(latest)"),
    ] {
      let r = try Programs.mpirun(2, "polar-train", ["apply", "--checkpoint", ckpt, "--input", points, "--output", output], timeout: 60)
      expectRefused(r, 2, message, "apply onto \(output)")
    }
    var st = stat()
    #expect(stat(node, &st) == 0 && st.st_mode & S_IFMT == S_IFCHR)
    // sample: --per-point only with a target file, --count only with critical.
    let s = try Programs.mpirun(
      2, "polar-train", ["sample", "--checkpoint", ckpt, "--per-point", "4", "--output", dir.appendingPathComponent("s.h5").path],
      timeout: 60)
    // A usage error: argument parser's "Error: ..." line and the usage, exit 2.
    #expect(s.status == 2 && s.stderr.contains("Error: --per-point goes with a target file"), "\(s.combined)")
  }

  @Test("strings with tabs, quotes and backslashes survive config.toml: the run resumes; --set over several lines is refused")
  func escaping() throws {
    let base = try Programs.temporaryDirectory("escape")
    let run = base.appendingPathComponent("run")
    let r = try safetyTrain(2, run, ["--set", "problem.file=\"a\\tb\\\"c\\\\d\"", "--set", "checkpoint.dir=\"ck\\\"x\\ty\""])
    #expect(r.status == 0, "\(r.combined)")
    #expect(FileManager.default.fileExists(atPath: run.appendingPathComponent("ck\"x\ty/ckpt-done-10.h5").path))
    let resumed = try Programs.mpirun(2, "polar-train", ["train", "--quiet", "--output", run.path, "--resume", "auto"], timeout: 60)
    #expect(resumed.status == 0 && resumed.stdout.contains("already finished"), "\(resumed.combined)")
    let shown = try Programs.run(Programs.path("polar-train"), ["config", "--config", run.appendingPathComponent("config.toml").path])
    #expect(shown.status == 0 && shown.stdout.contains(#"file = "a\tb\"c\\d""#), "\(shown.combined)")
    let lines = try safetyTrain(2, base.appendingPathComponent("lines"), ["--set", "potential.steps=1\nmap.steps=2"])
    expectRefused(lines, 2, "--set: potential.steps: the value spans several lines", "--set with a line break")
  }

  @Test("a new run from a finished run's checkpoint, and a missing, directory or foreign `latest`: clear outcomes")
  func latestFile() throws {
    let base = try Programs.temporaryDirectory("latest")
    let run = base.appendingPathComponent("run")
    #expect(try safetyTrain(2, run).status == 0)
    let done = run.appendingPathComponent("checkpoints/ckpt-done-10.h5").path
    let branch = try Programs.mpirun(
      2, "polar-train",
      [
        "train", "--quiet", "--output", base.appendingPathComponent("new").path,
        "--resume", done,
      ], timeout: 60)
    #expect(branch.status == 0 && !branch.stderr.contains("NSCocoaErrorDomain"), "\(branch.combined)")
    let latest = run.appendingPathComponent("checkpoints/latest")
    try FileManager.default.removeItem(at: latest)
    expectRefused(
      try Programs.mpirun(2, "polar-train", ["report", run.path], timeout: 60), 4,
      "latest: missing: the run has no checkpoint yet", "latest missing")
    try FileManager.default.createDirectory(at: latest, withIntermediateDirectories: false)
    expectRefused(try Programs.mpirun(2, "polar-train", ["report", run.path], timeout: 60), 4, "latest: is a directory", "latest a directory")
    try FileManager.default.removeItem(at: latest)
    try Data([0xFF, 0xFE, 0x00]).write(to: latest)
    expectRefused(try Programs.mpirun(2, "polar-train", ["report", run.path], timeout: 60), 4, "latest: damaged: not UTF-8", "latest not UTF-8")
    try "../../etc/passwd\n".write(to: latest, atomically: true, encoding: .utf8)
    expectRefused(
      try Programs.mpirun(2, "polar-train", ["report", run.path], timeout: 60), 4,
      "latest: damaged: expected one file name ckpt-<stage>-<step>.h5, got \"../../etc/passwd\"", "latest foreign")
    // --resume auto falls back to the checkpoints themselves.
    let resumed = try Programs.mpirun(2, "polar-train", ["train", "--output", run.path, "--resume", "auto"], timeout: 60)
    #expect(resumed.status == 0 && resumed.stdout.contains("resuming from \(done)"), "\(resumed.combined)")
    // report: a damaged samples.h5 is an input error (exit 3); a report/ that is a file, exit 2.
    try "junk".write(to: run.appendingPathComponent("samples.h5"), atomically: true, encoding: .utf8)
    // (`latest` still names a foreign path: report takes the checkpoint by name.)
    let report = ["report", run.path, "--checkpoint", done]
    expectRefused(try Programs.mpirun(2, "polar-train", report, timeout: 60), 3, "samples.h5: cannot open file", "damaged samples.h5")
    try FileManager.default.removeItem(at: run.appendingPathComponent("samples.h5"))
    try FileManager.default.removeItem(at: run.appendingPathComponent("report"))
    try "not a directory".write(to: run.appendingPathComponent("report"), atomically: true, encoding: .utf8)
    expectRefused(
      try Programs.mpirun(2, "polar-train", report, timeout: 60), 2, "cannot create the report directory",
      "report/ a file")
  }

  @Test("configuration text the TOML library mishandles, and flags and keys past their ranges: one line, exit 2")
  func hostileValues() throws {
    let dir = try Programs.temporaryDirectory("values2")
    func toml(_ name: String, _ bytes: [UInt8]) throws -> String {
      let path = dir.appendingPathComponent(name).path
      try Data(bytes).write(to: URL(fileURLWithPath: path))
      return path
    }
    let cases: [([String], String)] = [
      (["config", "--config", try toml("tables.toml", Array("[[[\n".utf8))], "arrays of tables ([[...]]) are not part of the configuration"),
      (["config", "--config", try toml("nul.toml", Array("seed = 3".utf8) + [0] + Array("\nbogus = 1\n".utf8))], "a NUL character is not allowed"),
      (["config", "--config", try toml("nul2.toml", Array(#"checkpoint.dir = "ck\u0000/../x""#.utf8) + [10])], "a NUL character is not allowed"),
      (["config", "--set", "problem.holdout_block=9223372036854775807"], "problem.holdout_block: must be at most 1048576"),
      (["config", "--set", "problem.smoothing=1e308"], "problem.smoothing: must be at most 10000 grid cells"),
      (["config", "--set", "potential.steps\n=5"], "--set: potential.steps\\x0A: unknown key"),
      (["train", "--output", dir.appendingPathComponent("r1").path, "--set", "checkpoint.dir=\"/\""], "the file system root cannot hold checkpoints"),
      (["train", "--output", dir.appendingPathComponent("r2").path, "--set", "checkpoint.dir=\"\""], "checkpoint.dir: empty"),
    ]
    // The configuration checks are the same on every rank: `config` as a single process; train on 2 ranks.
    for (args, message) in cases {
      let r =
        args[0] == "config"
        ? try Programs.run(Programs.path("polar-train"), args, timeout: 60)
        : try Programs.mpirun(2, "polar-train", args, timeout: 60)
      expectRefused(r, 2, message, "\(args)")
    }
    #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("r1").path))
  }

  @Test("a running run's directory is locked: a second train with --resume or --force is refused and changes nothing")
  func runningRunIsLocked() throws {
    let run = try Programs.temporaryDirectory("lock").appendingPathComponent("run")
    let job = try Programs.startMPI(
      2, "polar-train",
      ["train", "--quiet", "--output", run.path]
        + (safetyRun + ["potential.steps=1000000"]).flatMap { ["--set", $0] })
    #expect(job.wait(for: 60) { loggedStep(run) >= 20 }, "the run never started")
    let id = try runID(run)
    for extra in [["--resume", "auto"], ["--force"]] {
      let second = try Programs.mpirun(2, "polar-train", ["train", "--quiet", "--output", run.path] + extra, timeout: 60)
      expectRefused(second, 2, "in use by another running polar-train train", "a second train \(extra)")
    }
    #expect(try runID(run) == id && FileManager.default.fileExists(atPath: run.appendingPathComponent("checkpoints/latest").path))
    kill(job.pid, SIGUSR1)
    let r = job.finish(timeout: 60)
    #expect(r.status == 75, "\(r.combined)")
  }

  @Test("a run made before run markers (flat checkpoints outside the run) resumes and prunes only its own files")
  func legacyRun() throws {
    let base = try Programs.temporaryDirectory("legacy")
    let run = base.appendingPathComponent("run"), scratch = base.appendingPathComponent("scratch")
    #expect(
      try safetyTrain(
        2, run,
        [
          "--set", "checkpoint.dir=\"\(scratch.path)\"", "--set", "potential.steps=20",
          "--set", "checkpoint.keep=100",
        ]
      ).status == 0)
    // Make it look like an old run: checkpoints flat in scratch, no marker; and another old run's file there.
    let own = scratch.appendingPathComponent(try runID(run))
    for name in try FileManager.default.contentsOfDirectory(atPath: own.path) {
      try FileManager.default.moveItem(at: own.appendingPathComponent(name), to: scratch.appendingPathComponent(name))
    }
    try FileManager.default.removeItem(at: own)
    try FileManager.default.removeItem(at: run.appendingPathComponent(".polar-train-run"))
    try FileManager.default.copyItem(at: scratch.appendingPathComponent("ckpt-map-0.h5"), to: scratch.appendingPathComponent("ckpt-potential-999.h5"))
    // It died before its last stage: continue from ckpt-map-0.
    try FileManager.default.removeItem(at: scratch.appendingPathComponent("ckpt-done-10.h5"))
    try "ckpt-map-0.h5\n".write(to: scratch.appendingPathComponent("latest"), atomically: true, encoding: .utf8)
    let r = try Programs.mpirun(
      2, "polar-train",
      [
        "train", "--quiet", "--output", run.path, "--resume", "auto",
        "--set", "checkpoint.keep=1",
      ], timeout: 60)
    #expect(r.status == 0 && r.stdout.contains("resuming from \(scratch.path)/ckpt-map-0.h5"), "\(r.combined)")
    #expect(try latestCheckpoint(run, directory: scratch) == scratch.appendingPathComponent("ckpt-done-10.h5").path)
    // keep = 1 pruned nothing it did not write itself.
    for name in ["ckpt-potential-10.h5", "ckpt-map-0.h5", "ckpt-potential-999.h5"] {
      #expect(FileManager.default.fileExists(atPath: scratch.appendingPathComponent(name).path), "\(name) was pruned")
    }
  }

  @Test("a full disk (a small tmpfs): ENOSPC named, exit 2, no .partial, the previous checkpoint still latest and intact")
  func fullDisk() throws {
    let base = try Programs.temporaryDirectory("full")
    let mount = base.appendingPathComponent("tmpfs")
    try FileManager.default.createDirectory(at: mount, withIntermediateDirectories: true)
    guard try Programs.run("/bin/mount", ["-t", "tmpfs", "-o", "size=6m", "tmpfs", mount.path], timeout: 10).status == 0 else {
      print("DataSafetyTests.fullDisk: skipped: cannot mount a tmpfs here (needs root)")
      return
    }
    defer { _ = try? Programs.run("/bin/umount", [mount.path], timeout: 10) }
    // Checkpoints of about 2 MB (a wide inverse network) on 6 MB: the third one does not fit.
    let run = mount.appendingPathComponent("run")
    let r = try safetyTrain(2, run, ["--set", "inverse.hidden=[256, 256, 256]", "--set", "potential.steps=100", "--set", "checkpoint.keep=100"])
    expectRefused(r, 2, "cannot write the checkpoint: the disk is full (ENOSPC", "checkpoint on a full disk")
    let names = try FileManager.default.contentsOfDirectory(atPath: run.appendingPathComponent("checkpoints").path)
    #expect(!names.contains { $0.hasSuffix(".partial") }, "\(names)")
    let latest = try latestCheckpoint(run)
    #expect(names.count >= 2, "\(names)")
    let inspected = try Programs.run(Programs.path("polar-train"), ["inspect", latest])
    #expect(inspected.status == 0, "\(inspected.combined)")
    // The disk filling up during the write (the space check skipped, as when another program
    // fills it meanwhile): the same, and HDF5's unclosable file does not crash the exit.
    _ = try Programs.run("/bin/umount", [mount.path], timeout: 10)
    #expect(try Programs.run("/bin/mount", ["-t", "tmpfs", "-o", "size=3m", "tmpfs", mount.path], timeout: 10).status == 0)
    let race = try safetyTrain(
      2, run, ["--set", "inverse.hidden=[256, 256, 256]", "--set", "potential.steps=100"],
      environment: ["POLAR_TRAIN_TEST_SKIP_SPACE_CHECK": "1"])
    expectRefused(race, 2, "cannot write the checkpoint: the disk is full (ENOSPC", "a disk filling up during the write")
    let left = try FileManager.default.contentsOfDirectory(atPath: run.appendingPathComponent("checkpoints").path)
    #expect(!left.contains { $0.hasSuffix(".partial") } && left.contains("latest"), "\(left)")
    #expect(try Programs.run(Programs.path("polar-train"), ["inspect", try latestCheckpoint(run)]).status == 0)
    // metrics.jsonl filling a 64 KiB file system, checkpoints elsewhere.
    _ = try Programs.run("/bin/umount", [mount.path], timeout: 10)
    #expect(try Programs.run("/bin/mount", ["-t", "tmpfs", "-o", "size=64k", "tmpfs", mount.path], timeout: 10).status == 0)
    let log = try safetyTrain(
      2, mount.appendingPathComponent("run"),
      [
        "--set", "potential.steps=2000", "--set", "train.log_every=1",
        "--set", "checkpoint.dir=\"\(base.appendingPathComponent("ck").path)\"",
      ])
    expectRefused(log, 2, "metrics.jsonl: cannot write: the disk is full (ENOSPC", "metrics.jsonl on a full disk")
    // A read-only checkpoint directory is named as such.
    _ = try Programs.run("/bin/umount", [mount.path], timeout: 10)
    #expect(try Programs.run("/bin/mount", ["-t", "tmpfs", "-o", "size=64k,ro", "tmpfs", mount.path], timeout: 10).status == 0)
    let ro = try safetyTrain(2, base.appendingPathComponent("ro"), ["--set", "checkpoint.dir=\"\(mount.path)\""])
    expectRefused(ro, 2, "cannot create the checkpoint directory", "read-only checkpoint.dir")
    #expect(ro.stderr.contains("Read-only file system"), "\(ro.stderr)")
    #expect(!FileManager.default.fileExists(atPath: base.appendingPathComponent("ro").path))
  }
}
