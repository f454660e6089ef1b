import ArgumentParser
import Foundation
import ParallelHDF5
import PolarCore
import PolarTrain
import SwiftMPI

struct SampleCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sample",
    abstract: "Sample the inverse map M^-1(y) with the trained bridge network, collectively into one HDF5 file.",
    discussion: """
      --target critical (the default) samples M^-1(y*) with y* = grad u*(0) = argmin u: when \
      F = grad f these are candidate critical points of f. --target FILE.h5 samples M^-1(y) for \
      every row of its dataset y [n, d], --per-point K times each. Every rank draws its share with \
      counter-based noise, so the file holds the same bytes for any number of ranks. The file \
      gets x [count, d], target [count] (the row of the target), M_of_x (implicit M when F can be \
      evaluated, else M_net), grad_f_norm = |F(x)| when F can be evaluated, and the settings as \
      attributes. It is written as OUTPUT.partial and renamed when complete.

      --refine STEPS polishes every sample by Levenberg–Marquardt: for --target critical on \
      |F(x)|^2 (a critical point of f), for a target file on |F(x) - grad u(y)|^2, whose roots are \
      exactly the x with M(x) = y; it adds x_refined and grad_f_norm_refined (critical) or \
      residual_refined = |F(x) - grad u(y)| and M_of_x_refined (a target file).

        mpirun -n 2 polar-train sample --count 4096 --refine 20 \\
          --checkpoint run/checkpoints/ckpt-done-5000.h5 --output run/samples.h5
      """)

  @Option(help: "A checkpoint whose inverse stage was trained.")
  var checkpoint: String

  @Option(help: "Samples for --target critical (default 4096).")
  var count: Int?

  @Option(help: ArgumentHelp("critical, or an HDF5 file with dataset y [n, d].", valueName: "critical|FILE"))
  var target: String = "critical"

  @Option(name: .customLong("per-point"), help: "Samples per row of a target file (default 1).")
  var perPoint: Int?

  @Option(help: "Euler–Maruyama steps of the bridge SDE.")
  var steps: Int = 100

  @Option(
    help: ArgumentHelp(
      "Levenberg–Marquardt steps from every sample (exact Jacobians of the built-in fields): on |F|^2 for critical, writing x_refined and grad_f_norm_refined; on |F(x) - grad u(y)|^2 for a target file, writing x_refined, residual_refined and M_of_x_refined.",
      valueName: "STEPS"))
  var refine: Int = 0

  @Option(help: "Distance within which a (refined, if --refine) sample recovers a known critical point.")
  var tolerance: Double = 1e-3

  @Option(help: "The samples file (replaced if it exists).")
  var output: String

  func validate() throws {
    guard (count ?? 1) >= 1 else { throw ValidationError("--count must be at least 1") }
    guard tolerance > 0 && tolerance.isFinite else { throw ValidationError("--tolerance must be positive and finite") }
    guard (perPoint ?? 1) >= 1 else { throw ValidationError("--per-point must be at least 1") }
    // Each option belongs to one kind of target: refused where it would be silently ignored.
    if target == "critical" && perPoint != nil {
      throw ValidationError("--per-point goes with a target file (--target FILE.h5); --target critical takes --count")
    }
    if target != "critical" && count != nil {
      throw ValidationError("--count goes with --target critical; a target file takes --per-point (samples per row)")
    }
    guard steps >= 1 else { throw ValidationError("--steps must be at least 1") }
    guard refine >= 0 else { throw ValidationError("--refine must be at least 0") }
  }

  /// What `sample` draws on this rank: the samples x at the global rows `rows`, the row of the
  /// target each one belongs to, M(x), |F(x)|, and the refinement when asked.
  struct Drawn {
    var targets: Matrix<Float>
    var perTarget: Int
    var rows: Range<Int>
    var x: Matrix<Float>
    var targetRow: [Int64]
    var field: Field?
    var m: Matrix<Float>?
    var fNorm: [Float]?
    /// The goal of the refinement (nil: F(x) = 0, critical points), its result, and M there.
    var goal: Matrix<Double>?
    var refined: RefinedRoots?
    var refinedM: Matrix<Float>?
    var total: Int { targets.rows * perTarget }
  }

  func run() throws {
    let world = Communicator.world
    // Rank 0's resolution of --output, for every rank (ranks with other working directories).
    let output = try sharedOutputPath(self.output, world: world)
    try agreeing(world) {
      try checkOutputFile(output, inputs: [("--checkpoint", checkpoint), ("--target", target == "critical" ? "" : target)], runFile: "samples.h5")
    }
    let contents = try trainedRun(world)
    let drawn = try draw(contents, world: world)
    try write(drawn, config: contents.config, to: output, world: world)
    try summarize(drawn, config: contents.config, output: output, world: world)
    try world.barrier()
  }

  /// The checkpoint, refused on every rank unless its inverse stage was trained.
  func trainedRun(_ world: Communicator) throws -> Checkpoint.Contents {
    let contents = try agreeing(world) { try Checkpoint.load(checkpoint, world: world) }
    let config = contents.config, state = contents.state
    try agreeing(world) { () throws -> Void in
      guard config.inverse.steps > 0 && state.stage == .done else {
        throw CheckpointError(message: "\(checkpoint): no trained inverse map (stage \(state.stage), inverse.steps \(config.inverse.steps))")
      }
    }
    return contents
  }

  /// The targets (checked against the memory budget), this rank's samples of M^-1 and what is
  /// measured at them.
  func draw(_ contents: Checkpoint.Contents, world: Communicator) throws -> Drawn {
    let config = contents.config, nets = Networks(config), d = config.problem.dim, state = contents.state
    let budget = try MemoryBudget.measure(world)
    func checkSamples(_ count: Int, flag: String) throws {
      try agreeing(world) {
        try checkMemory(
          MemoryEstimate.sampling(config, count: count, ranks: world.size, refine: refine > 0), budget: budget,
          command: "sample", flag: flag)
      }
    }
    let count = self.count ?? 4096, perPoint = self.perPoint ?? 1
    if target == "critical" { try checkSamples(count, flag: "--count") }
    let problem = try agreeing(world) { try Problem.make(config, world: world) }
    let targets: Matrix<Float>
    let perTarget: Int
    if target == "critical" {
      targets = Matrix(rows: 1, cols: d, storage: Sampling.criticalTarget(config: config, nets: nets, state: state))
      perTarget = count
    } else {
      try agreeReadable(target, .data, what: "--target", world: world)
      targets = try agreeing(world) {
        try PointsFile.read(
          target, dataset: "y", dim: d, world: world, budget: budget, rows: { 0 ..< $0 },
          estimate: { MemoryEstimate.wholeDataset(rows: $0, cols: d) }
        ).values
      }
      // rows x --per-point samples: checked (saturating) before the product below is formed.
      try checkSamples(product(targets.rows, perPoint), flag: "--per-point")
      perTarget = perPoint
    }
    let total = targets.rows * perTarget
    let rows = Sampling.rows(total: total, rank: world.rank, size: world.size)
    let x = Sampling.draw(
      config: config, nets: nets, state: state, targets: targets, perPoint: perTarget,
      rows: rows, steps: steps)
    var drawn = Drawn(
      targets: targets, perTarget: perTarget, rows: rows, x: x, targetRow: rows.map { Int64($0 / perTarget) },
      field: problem.field)
    drawn.m = Sampling.mapAt(x, config: config, nets: nets, state: state, field: problem.field)
    drawn.fNorm = problem.field.map { field in
      let f = field(x)
      return (0 ..< x.rows).map { r in (0 ..< d).reduce(Float(0)) { $0 + f[r, $1] * f[r, $1] }.squareRoot() }
    }
    if refine > 0 && problem.field == nil {
      throw CommandFailure(
        status: 3, message: "sample --refine: the field of this run is a file; F is known only at its samples",
        printed: false)
    }
    // The goal of the refinement: F(x) = 0 for critical points (grad u(y*) = 0 exactly), else
    // F(x) = grad u(y), i.e. M(x) = y.
    let goal: Matrix<Double>? =
      target == "critical" || refine == 0
      ? nil
      : {
        let y = Matrix<Float>(rows: rows.count, cols: d, storage: drawn.targetRow.flatMap { targets.row(Int($0)) })
        let g = nets.potential.valueAndGradient(state.params(.potential), y).grad
        return Matrix(rows: g.rows, cols: d, storage: g.storage.map(Double.init))
      }()
    drawn.goal = goal
    drawn.refined =
      refine > 0
      ? problem.field.map { field in
        refineRoots(
          Matrix(rows: x.rows, cols: d, storage: x.storage.map(Double.init)), steps: refine,
          field: { field($0) }, jacobian: { field.jacobian(at: $0) }, goal: goal)
      } : nil
    drawn.refinedM = drawn.refined.flatMap { r -> Matrix<Float>? in
      guard goal != nil else { return nil }
      return Sampling.mapAt(
        Matrix(rows: r.x.rows, cols: d, storage: r.x.storage.map(Float.init)), config: config,
        nets: nets, state: state, field: problem.field)
    }
    return drawn
  }

  /// OUTPUT, written collectively as OUTPUT.partial and renamed when every rank succeeded
  /// (CollectiveOutput.produce). Every dataset is a collective step of its own: a rank that
  /// failed never leaves another waiting in the next one.
  func write(_ s: Drawn, config: Config, to output: String, world: Communicator) throws {
    let d = config.problem.dim, total = s.total, rows = s.rows
    try CollectiveOutput.produce(output, bytes: total * (4 * d * 4 + 32) + s.targets.rows * d * 4, world: world) { file in
      let sel = Selection.rows(rows, trailing: [d])
      try file.dataset("x", .float32, [total, d], s.x.storage, sel)
      try file.dataset("target", .int64, [total], s.targetRow, .rows(rows))
      try file.dataset("targets", .float32, [s.targets.rows, d], s.targets.storage, .all, rankZero: true)
      if let m = s.m { try file.dataset("M_of_x", .float32, [total, d], m.storage, sel) }
      if let fNorm = s.fNorm { try file.dataset("grad_f_norm", .float32, [total], fNorm, .rows(rows)) }
      if let refined = s.refined {
        try file.dataset("x_refined", .float64, [total, d], refined.x.storage, sel)
        // |F| after for critical points; |F(x) - grad u(y)| after for a target file.
        try file.dataset(s.goal == nil ? "grad_f_norm_refined" : "residual_refined", .float64, [total], refined.after, .rows(rows))
        if let refinedM = s.refinedM {
          try file.dataset("M_of_x_refined", .float32, [total, d], refinedM.storage, sel)
        }
      }
      try file.write { out in
        if s.refined != nil { try out.setAttribute("refine_steps", Int64(refine)) }
        try out.setAttribute("checkpoint", checkpoint)
        try out.setAttribute("target", target)
        try out.setAttribute("per_point", Int64(s.perTarget))
        try out.setAttribute("steps", Int64(steps))
        try out.setAttribute("sigma", config.inverse.sigma)
        try out.setAttribute("seed", Int64(bitPattern: config.seed))
      }
      // Fault tests: hold the half-written file open (POLAR_TRAIN_TEST_PAUSE_IN_SAMPLES=seconds).
      if let text = ProcessInfo.processInfo.environment["POLAR_TRAIN_TEST_PAUSE_IN_SAMPLES"], let t = Double(text), t > 0 {
        usleep(UInt32(min(t, 3600) * 1e6))
      }
    }
  }

  /// The summary on rank 0: |M(x) - y| (/ |y|) and |F(x)| quantiles, gathered from every rank,
  /// and the known critical points the samples reach. (For critical points y* = grad u*(0) can
  /// be near 0, where only the absolute distance means something.)
  func summarize(_ s: Drawn, config: Config, output: String, world: Communicator) throws {
    let d = config.problem.dim, targets = s.targets
    func distance(_ m: Matrix<Float>, relative: Bool = true) -> [Double] {
      (0 ..< m.rows).map { r in
        let t = Int(s.targetRow[r])
        var num = 0.0, den = 0.0
        for j in 0 ..< d {
          num += Double((m[r, j] - targets[t, j]) * (m[r, j] - targets[t, j]))
          den += Double(targets[t, j] * targets[t, j])
        }
        return (num / (relative ? max(den, 1e-30) : 1)).squareRoot()
      }
    }
    func gathered(_ values: [Double]) throws -> [Double] { (try world.gatherv(values, root: 0) ?? []).flatMap { $0 } }
    let allRel = try gathered(s.m.map { distance($0) } ?? [])
    let allAbs = try gathered(s.m.map { distance($0, relative: false) } ?? [])
    let allRelRefined = try gathered(s.refinedM.map { distance($0) } ?? [])
    let allF = try gathered((s.fNorm ?? []).map(Double.init))
    let allRefined = try gathered(s.refined?.after ?? [])
    // Known critical points (2-D toy fields on a box): which ones the samples reach.
    let known: [[Double]]? =
      target == "critical" && config.problem.reference == .uniform
      ? s.field?.criticalPoints(lo: config.problem.box[0], hi: config.problem.box[1]) : nil
    let positions = s.refined?.x.storage ?? s.x.storage.map(Double.init)
    let allPositions = known == nil ? [] : try gathered(positions)
    guard world.rank == 0 else { return }
    func fmt(_ q: [Double]) -> String { q.map { String(format: "%.3g", $0) }.joined(separator: " / ") }
    print("polar-train sample: \(s.total) samples of M^-1(\(target == "critical" ? "grad u*(0)" : "y")) -> \(output)")
    if !allRel.isEmpty {
      print("  |M(x) - y|        q10/q50/q90/q99: \(fmt(Sampling.quantiles(allAbs)))")
      print("  |M(x) - y| / |y|  q10/q50/q90/q99: \(fmt(Sampling.quantiles(allRel)))")
    }
    if !allF.isEmpty { print("  |F(x)|            q10/q50/q90/q99: \(fmt(Sampling.quantiles(allF)))") }
    if !allRelRefined.isEmpty { print("  refined (\(refine) steps): |M(x) - y| / |y| q10/q50/q90/q99: \(fmt(Sampling.quantiles(allRelRefined)))") }
    if !allRefined.isEmpty {
      print("  refined (\(refine) steps): \(s.goal == nil ? "|F(x)|" : "|F(x) - grad u(y)|") q10/q50/q90/q99: \(fmt(Sampling.quantiles(allRefined)))")
    }
    if let known, !known.isEmpty {
      let hits = Sampling.recovery(known: known, samples: allPositions, dim: d, tolerance: tolerance)
      print(
        "  known critical points recovered within \(tolerance)\(refine > 0 ? " after refinement" : ""): "
          + "\(hits.filter { $0 > 0 }.count) of \(known.count); samples per point: \(hits)")
    }
  }
}
