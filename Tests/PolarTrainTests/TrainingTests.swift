import Foundation
import ParallelHDF5
import PolarCore
import TestSupport
import Testing

/// A small run: 8 micro-batches of 32 per step (uneven over 3 ranks).
let smallRun = [
  "potential.steps=30", "potential.batch=256", "parallel.micro_batch=32", "map.steps=10",
  "map.batch=256", "train.eval_samples=64", "potential.hidden=[16, 16]", "amortizer.hidden=[16]",
  "map.hidden=[16]", "checkpoint.every=10", "inverse.steps=10", "inverse.batch=256",
  "inverse.hidden=[16]", "inverse.frequencies=2",
]

@Suite("Training under mpirun", .serialized)
struct TrainingTests {
  @Test("exact mode: 1, 2 and 3 ranks give bitwise identical parameters, with and without the overlapped all-reduce")
  func reproducible() throws {
    var params = [Int: [String: [UInt32]]]()
    for n in [1, 2, 3] {
      // 2 ranks overlap stage potential's all-reduce with the solves, 1 and 3 do not (the default).
      let (r, run) = try train(ranks: n, smallRun + (n == 2 ? ["parallel.overlap=true"] : []), tag: "repro\(n)")
      #expect(r.status == 0, "N=\(n): \(r.combined)")
      let ckpt = try latestCheckpoint(run)
      #expect(ckpt.hasSuffix("ckpt-done-10.h5"), "\(ckpt)")
      params[n] = try checkpointParameters(ckpt)
      #expect(params[n]?.keys.sorted() == ["amortizer", "inverse", "map", "potential"])
    }
    #expect(params[2] == params[1], "2 ranks differ from 1")
    #expect(params[3] == params[1], "3 ranks differ from 1")
    // inverse.pool: the couplings solved once (200, rounded up to 224: whole micro-batches), the same bits for any N
    var pooled = [Int: [String: [UInt32]]]()
    for n in [1, 3] {
      let (r, run) = try train(ranks: n, smallRun + ["inverse.pool=200"], tag: "pool\(n)")
      #expect(r.status == 0, "N=\(n): \(r.combined)")
      pooled[n] = try checkpointParameters(try latestCheckpoint(run))
    }
    #expect(pooled[3] == pooled[1], "inverse.pool: 3 ranks differ from 1")
    #expect(pooled[1]?["potential"] == params[1]?["potential"] && pooled[1]?["inverse"] != params[1]?["inverse"])
    // fast mode runs too (and is allowed to differ in the last bits)
    let (f, _) = try train(ranks: 2, smallRun + ["parallel.reduction=fast"], tag: "fast")
    #expect(f.status == 0, "\(f.combined)")
    // the authors' Adam conjugate solver trains too (at their tolerance, 1e-3), and its converged share is logged
    let (a, adamRun) = try train(ranks: 2, smallRun + ["conjugate.solver=adam", "conjugate.max_iter=300", "conjugate.tol=1e-3"], tag: "adam")
    #expect(a.status == 0, "\(a.combined)")
    let last = try String(contentsOf: adamRun.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
      .split(separator: "\n").last { $0.contains("\"stage\":\"potential\"") }
    let share = last.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }?["converged"] as? Double
    // (measured: 62% reach 1e-3 in 300 Adam iterations on this fast-moving problem, where L-BFGS
    // converges everywhere in 20: why L-BFGS is the default)
    #expect((share ?? 0) > 0.5, "converged share with adam: \(String(describing: share))")
  }

  @Test(
    "a warmed-up training step allocates nothing, in every stage and with either conjugate solver (malloc & co. counted on every step; 1, 2 and 3 ranks, 3 with the overlapped all-reduce)"
  )
  func noAllocationInTheStep() throws {
    // Adam with a budget at which >= 90% of its solves converge from the first step, so DualHealth
    // never raises it (a raise is an event printed from the step, which allocates its message).
    let adam = ["conjugate.solver=adam", "conjugate.max_iter=1000", "conjugate.tol=1e-3"]
    for (n, extra) in [
      (1, [String]()), (2, []), (3, ["parallel.overlap=true"]), (1, ["inverse.coupling=explicit"]), (2, adam), (2, ["inverse.pool=200"]),
    ] {
      let (r, run) = try train(ranks: n, smallRun + ["train.log_every=1"] + extra, tag: "alloc\(n)\(extra.count)")
      #expect(r.status == 0, "N=\(n): \(r.combined)")
      let records = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        .split(separator: "\n").compactMap { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
      for stage in ["potential", "map", "inverse"] {
        let steps = records.filter { $0["stage"] as? String == stage }
        #expect(steps.count >= 10, "N=\(n) \(stage): \(steps.count) logged steps \(extra)")
        // The first step of a stage makes its buffers; checkpoints are written between steps.
        let counts = steps.dropFirst().map { ($0["step"] as? Int ?? -1, $0["allocations"] as? Double ?? -1) }
        #expect(counts.allSatisfy { $0.1 == 0 }, "N=\(n) \(stage): allocations per step \(counts.filter { $0.1 != 0 })")
        // One rank: the all-reduces allocate nothing either.
        if n == 1 { #expect(steps.dropFirst().allSatisfy { $0["mpi_allocations"] as? Double == 0 }, "N=1 \(stage)") }
      }
    }
  }

  @Test("the run directory holds config.toml, metrics.jsonl, checkpoints and the report; apply and evaluate read it")
  func runDirectoryApplyEvaluate() throws {
    let (r, run) = try train(ranks: 2, smallRun, tag: "rundir")
    #expect(r.status == 0, "\(r.combined)")
    let fm = FileManager.default
    #expect(fm.fileExists(atPath: run.appendingPathComponent("config.toml").path))
    let lines = try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
    #expect(lines.count >= 2)
    #expect(lines.first?.contains("\"stage\":\"potential\"") == true)
    let ckpts = try fm.contentsOfDirectory(atPath: run.appendingPathComponent("checkpoints").path)
    #expect(ckpts.filter { $0.hasSuffix(".h5") }.count <= 3 && !ckpts.contains { $0.hasSuffix(".partial") })
    let ckpt = try latestCheckpoint(run)
    let f = try File.open(ckpt)
    #expect(try f.stringAttribute("format") == "polar-train-checkpoint")
    #expect(try f.stringAttribute("stage") == "done")
    #expect(try f.scalarAttribute("world_size", as: Int64.self) == 2)
    #expect(try f.dataset("potential/layout/names").readStrings().first == "Q0.A")
    #expect(try f.dataset("potential/adam/m").shape == f.dataset("potential/params").shape)
    try f.close()

    // apply at 100 points: grad u(M(x)) reproduces F(x) = A x (the default seeded field).
    let points = run.deletingLastPathComponent().appendingPathComponent("points.h5").path
    let x = randomPoints(100)
    let pf = try File.create(points)
    try pf.createDataset("x", type: .float64, shape: [100, 2]).write(x.storage)
    try pf.close()
    let out = run.deletingLastPathComponent().appendingPathComponent("maps.h5").path
    let a = try Programs.mpirun(2, "polar-train", ["apply", "--checkpoint", ckpt, "--input", points, "--output", out])
    #expect(a.status == 0, "\(a.combined)")
    let o = try File.open(out)
    let f32 = Field.seededLinear(dim: 2, seed: 1, condition: 8)(Matrix(rows: 100, cols: 2, storage: x.storage.map { Float($0) }))
    let guM = Matrix(rows: 100, cols: 2, storage: try o.dataset("grad_u_of_M").read(as: Float.self, shape: [100, 2]))
    #expect(relativeL2(guM, f32) < 1e-3)
    #expect(try o.dataset("u").shape == [100] && o.exists("M_net") && o.exists("M") && o.exists("grad_u"))
    try o.close()

    // The trained ICNN in Double: conjugate residuals < 1e-4 for 99% of points y = F(x).
    let params = try checkpointParameters(ckpt)["potential"]!.map { Double(Float(bitPattern: $0)) }
    let icnn = ICNN(dim: 2, hidden: [16, 16], rank: 1, activation: .elu)
    let y = Field.seededLinear(dim: 2, seed: 1, condition: 8)(randomPoints(1000))
    let solved = solveConjugate(y: y, start: y, config: ConjugateSolverConfig(maxIterations: 100, tolerance: 1e-9)) {
      icnn.valueAndGradient(params, $0)
    }
    #expect(solved.residual.filter { $0 < 1e-4 }.count >= 990, "\(solved.residual.sorted()[989])")

    let e = try Programs.mpirun(1, "polar-train", ["evaluate", "--checkpoint", ckpt, "--samples", "256", "--json"])
    #expect(e.status == 0, "\(e.combined)")
    let metrics = try JSONSerialization.jsonObject(with: Data(e.stdout.utf8)) as? [String: Double]
    #expect(metrics?["M_error"] != nil && metrics?["energy_distance"] != nil && metrics?["samples"] == 256)
    // the inverse stage ran: the pre-image cosine and the consistency of M^-1 are reported
    let cosine = metrics?["preimage_cosine_mean"] ?? -2
    #expect(cosine >= -1 && cosine <= 1 && (metrics?["inverse_consistency"] ?? -1) >= 0, "\(String(describing: metrics))")
    // Tighter solves on request: the residuals drop, the training budget is still the run's.
    let tight = try Programs.mpirun(
      1, "polar-train", ["evaluate", "--checkpoint", ckpt, "--samples", "256", "--json", "--conjugate-tol", "1e-9", "--conjugate-max-iter", "400"])
    let t = try JSONSerialization.jsonObject(with: Data(tight.stdout.utf8)) as? [String: Double]
    #expect(tight.status == 0 && t?["conjugate_tol"] == 1e-9 && metrics?["conjugate_tol"] != 1e-9, "\(tight.combined)")
    #expect(t?["conjugate_max_iter_training"] != nil && t?["conjugate_max_iter_training"] == metrics?["conjugate_max_iter_training"])
    #expect(
      (t?["conjugate_residual_p99"] ?? 1) <= (metrics?["conjugate_residual_p99"] ?? 0)
        && (t?["conjugate_iterations"] ?? 0) > (metrics?["conjugate_iterations"] ?? 1),
      "\(String(describing: t)) against \(String(describing: metrics))")
    let refused = try Programs.mpirun(1, "polar-train", ["evaluate", "--checkpoint", ckpt, "--conjugate-tol", "0"])
    #expect(refused.status != 0 && refused.combined.contains("--conjugate-tol must be a positive number"), "\(refused.combined)")
  }

  @Test("langevin: LMC-NPF (also with the online refresh) and Langevin particles identical for 1, 2 and 3 ranks; the report draws them")
  func langevinAnyN() throws {
    let (r, run) = try train(ranks: 2, smallRun, tag: "langevin")
    #expect(r.status == 0, "\(r.combined)")
    let ckpt = try latestCheckpoint(run)
    // Without and with the online refresh (every network trained on the particles after each step).
    var bits = [Int: [UInt32]](), refreshed = [Int: [UInt32]]()
    for n in [1, 2, 3] {
      for refresh in [0, 2] {
        let out = run.deletingLastPathComponent().appendingPathComponent("langevin-\(n)\(refresh > 0 ? "-refresh" : "").h5").path
        let s = try Programs.mpirun(
          n, "polar-train",
          [
            "langevin", "--checkpoint", ckpt, "--particles", "600", "--steps", "30",
            "--every", "10", "--inner", "5", "--bridge-steps", "10", "--refresh", "\(refresh)", "--output", out,
          ])
        #expect(s.status == 0 && !FileManager.default.fileExists(atPath: out + ".partial"), "N=\(n): \(s.combined)")
        let f = try File.open(out)
        #expect(try f.dataset("x_npf").shape == [600, 2])
        let b = try f.dataset("x_npf").read(as: Float.self).map(\.bitPattern) + f.dataset("x_ula").read(as: Float.self).map(\.bitPattern)
        if refresh > 0 { refreshed[n] = b } else { bits[n] = b }
        try f.close()
      }
    }
    #expect(bits[1]!.count == 2400 && bits[2] == bits[1] && bits[3] == bits[1], "particles differ between 1, 2 and 3 ranks")
    #expect(refreshed[1]!.count == 2400 && refreshed[2] == refreshed[1] && refreshed[3] == refreshed[1], "refreshed particles differ between 1, 2 and 3 ranks")
    // The two chains did move apart (the jumps happened); the refresh changed the jumps, not plain Langevin.
    #expect(Array(bits[1]![0 ..< 1200]) != Array(bits[1]![1200 ..< 2400]))
    #expect(Array(refreshed[1]![0 ..< 1200]) != Array(bits[1]![0 ..< 1200]) && Array(refreshed[1]![1200...]) == Array(bits[1]![1200...]))
    try FileManager.default.copyItem(
      atPath: run.deletingLastPathComponent().appendingPathComponent("langevin-2.h5").path,
      toPath: run.appendingPathComponent("langevin.h5").path)
    let rep = try Programs.mpirun(2, "polar-train", ["report", run.path])
    #expect(rep.status == 0, "\(rep.combined)")
    let html = try String(contentsOf: run.appendingPathComponent("report/index.html"), encoding: .utf8)
    #expect(html.contains("LMC-NPF") && html.contains("<svg"))
  }

  @Test("sample: 1, 2 and 3 ranks write the same samples file rows, byte for byte; no .partial left")
  func sampleAnyN() throws {
    let (r, run) = try train(ranks: 2, smallRun, tag: "sample")
    #expect(r.status == 0, "\(r.combined)")
    let ckpt = try latestCheckpoint(run)
    var rows = [Int: [UInt32]]()
    for n in [1, 2, 3] {
      let out = run.deletingLastPathComponent().appendingPathComponent("samples-\(n).h5").path
      let s = try Programs.mpirun(
        n, "polar-train",
        [
          "sample", "--checkpoint", ckpt, "--count", "600", "--steps", "20",
          "--output", out,
        ])
      #expect(s.status == 0, "N=\(n): \(s.combined)")
      #expect(s.stdout.contains("|M(x) - y| / |y|") && s.stdout.contains("|F(x)|"), "\(s.stdout)")
      #expect(!FileManager.default.fileExists(atPath: out + ".partial"))
      let f = try File.open(out)
      #expect(try f.dataset("x").shape == [600, 2] && f.exists("M_of_x") && f.exists("grad_f_norm"))
      rows[n] = try f.dataset("x").read(as: Float.self).map(\.bitPattern) + f.dataset("M_of_x").read(as: Float.self).map(\.bitPattern)
      try f.close()
    }
    #expect(rows[2] == rows[1] && rows[3] == rows[1], "samples differ between 1, 2 and 3 ranks")
    // Killed while writing: the previous samples file stays whole, the rerun replaces it.
    let kept = run.deletingLastPathComponent().appendingPathComponent("samples-2.h5").path
    let before = try Data(contentsOf: URL(fileURLWithPath: kept))
    let job = try Programs.startMPI(
      2, "polar-train",
      [
        "sample", "--checkpoint", ckpt, "--count", "600", "--steps", "20",
        "--output", kept,
      ], environment: ["POLAR_TRAIN_TEST_PAUSE_IN_SAMPLES": "20"])
    #expect(job.wait(for: 60) { FileManager.default.fileExists(atPath: kept + ".partial") })
    usleep(300_000)
    kill(Programs.ranks(of: job.pid).first!, SIGKILL)
    let killed = job.finish(timeout: 60)
    #expect(killed.status != 0 && killed.seconds < 30, "\(killed.combined)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: kept)) == before, "the existing samples file changed")
    let again = try Programs.mpirun(
      2, "polar-train",
      [
        "sample", "--checkpoint", ckpt, "--count", "600", "--steps", "20",
        "--output", kept,
      ])
    #expect(again.status == 0 && !FileManager.default.fileExists(atPath: kept + ".partial"), "\(again.combined)")
    let rerun = try File.open(kept)
    #expect(try rerun.dataset("x").read(as: Float.self).map(\.bitPattern) == Array(rows[1]!.prefix(1200)))
    try rerun.close()
    // --refine: Levenberg–Marquardt on |F|^2 from each sample (F linear here: one step solves it).
    let out = run.deletingLastPathComponent().appendingPathComponent("refined.h5").path
    let s = try Programs.mpirun(
      2, "polar-train",
      [
        "sample", "--checkpoint", ckpt, "--count", "300", "--steps", "20",
        "--refine", "5", "--output", out,
      ])
    #expect(s.status == 0 && s.stdout.contains("refined (5 steps): |F(x)|"), "\(s.combined)")
    let f = try File.open(out)
    let after = try f.dataset("grad_f_norm_refined").read(as: Double.self)
    #expect(after.count == 300 && after.allSatisfy { $0 < 1e-10 }, "\(after.max() ?? -1)")
    try f.close()
    // --refine with a target file: LM on |F(x) - grad u(y)|^2, whose root x = A^-1 grad u(y) has
    // M(x) = grad u*(grad u(y)) = y whatever the (barely trained) bridge network proposed.
    let targets = run.deletingLastPathComponent().appendingPathComponent("targets.h5").path
    let y = randomPoints(7, seed: 5)
    let tf = try File.create(targets)
    try tf.createDataset("y", type: .float64, shape: [7, 2]).write(y.storage)
    try tf.close()
    let fileOut = run.deletingLastPathComponent().appendingPathComponent("refined-file.h5").path
    let sf = try Programs.mpirun(
      2, "polar-train",
      [
        "sample", "--checkpoint", ckpt, "--target", targets, "--per-point", "3",
        "--steps", "20", "--refine", "10", "--output", fileOut,
      ])
    #expect(sf.status == 0 && sf.stdout.contains("refined (10 steps): |M(x) - y| / |y|"), "\(sf.combined)")
    let ff = try File.open(fileOut)
    let residual = try ff.dataset("residual_refined").read(as: Double.self)
    let m = try ff.dataset("M_of_x_refined").read(as: Float.self)
    try ff.close()
    #expect(residual.count == 21 && residual.allSatisfy { $0 < 1e-6 }, "\(residual)")
    for i in 0 ..< 21 {
      let row = i / 3
      let err = hypot(Double(m[2 * i]) - y[row, 0], Double(m[2 * i + 1]) - y[row, 1])
      #expect(err < 1e-3 * max(1, hypot(y[row, 0], y[row, 1])), "sample \(i): M(x_refined) \(m[2 * i]), \(m[2 * i + 1]) vs y \(y.row(row))")
    }
  }
}

func randomPoints(_ n: Int, seed: UInt64 = 99) -> Matrix<Double> {
  let rng = CounterRNG(seed: seed, stream: 1)
  return Matrix(rows: n, cols: 2, storage: (0 ..< 2 * n).map { rng.normal(UInt64($0)) })
}
