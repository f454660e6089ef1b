import ArgumentParser
import Foundation
import ParallelHDF5
import PolarCore
import PolarTrain
import SwiftMPI

struct LangevinCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "langevin",
    abstract: "Sample p ~ exp(-beta f) with LMC-NPF beside plain Langevin, from a run with a trained inverse map.",
    discussion: """
      Both chains start from the same particles and use the same number of evaluations of \
      grad f per step. Plain Langevin (ULA): x <- x - h beta grad f(x) + sqrt(2 h) eps. LMC-NPF \
      (Vesseron & Cuturi 2024): the same steps, and every --every steps a jump through the polar \
      factorization: y = M(x), --inner Langevin steps on the convex u in y-space, x ~ M^-1(y) by \
      the bridge sampler. With --refresh K, every LMC-NPF step is followed by K training steps \
      of u with its amortizer, of M_net (when the run has one) and of the bridge network on \
      batches drawn from the current particles and grad f at them (the authors' online \
      refresh; the checkpoint is not changed). The particles are split over the ranks; the output file is the same \
      bytes for any number of ranks. For 2-D fields whose potential is known the run is scored \
      against a reference sample of exp(-beta f) (exact for the Gaussian mixture at beta = 1, \
      else the density on a 1000 x 1000 grid over the box): the share of particles nearest to \
      each local minimum of f against the reference's (total variation), and the energy distance, \
      every --record steps. The file holds x_npf, x_ula, x0, the reference, the modes, the shares \
      and the traces; `polar-train report RUN_DIR` draws it when it is RUN_DIR/langevin.h5.

        mpirun -n 2 polar-train langevin --checkpoint runs/mixture/checkpoints/ckpt-done-10000.h5 \\
          --start 2.5,2.5 --output runs/mixture/langevin.h5
      """)

  @Option(help: "A checkpoint whose inverse stage was trained.")
  var checkpoint: String
  @Option(help: "The output file (replaced if it exists).")
  var output: String
  @Option(help: "Particles (over all ranks).")
  var particles: Int = 1024
  @Option(help: "Steps of each chain (one evaluation of grad f each).")
  var steps: Int = 2000
  @Option(name: .customLong("step-size"), help: "Langevin step size h on f.")
  var stepSize: Double = 1e-3
  @Option(help: "Inverse temperature: p ~ exp(-beta f).")
  var beta: Double = 1
  @Option(help: "A jump through the factorization every this many steps (the first right after --warmup).")
  var every: Int = 50
  @Option(help: "Plain Langevin steps before the first jump.")
  var warmup: Int = 0
  @Option(help: "Langevin steps on u per jump.")
  var inner: Int = 50
  @Option(name: .customLong("inner-step-size"), help: "Step size of the Langevin steps on u.")
  var innerStepSize: Double = 1e-3
  @Option(name: .customLong("bridge-steps"), help: "Euler–Maruyama steps of the bridge sampler per jump.")
  var bridgeSteps: Int = 100
  @Option(help: ArgumentHelp("Start every particle at this point plus N(0, 0.01 I) (comma-separated); default x_0 ~ rho.", valueName: "x1,x2,..."))
  var start: String?
  @Option(help: "Training steps of every network on the current particles after each LMC-NPF step (0: none).")
  var refresh: Int = 0
  @Option(name: .customLong("refresh-lr"), help: "The refresh's learning rates: each stage's initial rate times this, constant.")
  var refreshLR: Double = 1
  @Option(help: "Score the particles every this many steps.")
  var record: Int = 100

  func validate() throws {
    guard particles >= 2 else { throw ValidationError("--particles must be at least 2") }
    guard steps >= 1, every >= 1, inner >= 0, warmup >= 0, bridgeSteps >= 1, record >= 1 else {
      throw ValidationError("--steps, --every, --bridge-steps and --record must be at least 1, --inner and --warmup at least 0")
    }
    guard stepSize > 0, innerStepSize > 0, beta > 0, refreshLR > 0, stepSize.isFinite, innerStepSize.isFinite, beta.isFinite, refreshLR.isFinite else {
      throw ValidationError("--step-size, --inner-step-size, --beta and --refresh-lr must be positive and finite")
    }
    guard refresh >= 0 else { throw ValidationError("--refresh must be at least 0") }
    if let start, start.split(separator: ",").contains(where: { Double($0.trimmingCharacters(in: .whitespaces))?.isFinite != true }) {
      throw ValidationError("--start: expected comma-separated finite numbers, got \(clipped(start))")
    }
  }

  func run() throws {
    let world = Communicator.world
    // Rank 0's resolution of --output, for every rank (ranks with other working directories).
    let output = try sharedOutputPath(self.output, world: world)
    try agreeing(world) { try checkOutputFile(output, inputs: [("--checkpoint", checkpoint)], runFile: "langevin.h5") }
    let contents = try agreeing(world) { try Checkpoint.load(checkpoint, world: world) }
    let config = contents.config, state = contents.state, d = config.problem.dim
    let budget = try MemoryBudget.measure(world)
    try agreeing(world) {
      try checkMemory(
        MemoryEstimate.langevin(config, particles: particles, ranks: world.size, refresh: refresh > 0), budget: budget,
        command: "langevin", flag: "--particles")
    }
    let problem = try agreeing(world) { () throws -> Problem in
      guard config.inverse.steps > 0 && state.stage == .done else {
        throw CheckpointError(message: "\(checkpoint): no trained inverse map (stage \(state.stage), inverse.steps \(config.inverse.steps))")
      }
      let p = try Problem.make(config, world: world)
      guard p.field != nil else { throw InputError(message: "\(checkpoint): the field is a file: langevin needs grad f as a function") }
      if let start, start.split(separator: ",").count != d {
        throw ConfigError(source: "--start", key: "", message: "\(start.split(separator: ",").count) coordinates, the field has d = \(d)")
      }
      return p
    }
    var settings = LangevinSettings()
    (settings.particles, settings.steps, settings.stepSize, settings.beta) = (particles, steps, stepSize, beta)
    (settings.every, settings.warmup, settings.inner, settings.innerStepSize) = (every, warmup, inner, innerStepSize)
    (settings.bridgeSteps, settings.refresh, settings.refreshLR) = (bridgeSteps, refresh, refreshLR)
    settings.start = start.map { $0.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces))! } }
    let scoring = world.rank == 0 ? LangevinScoring(config: config, problem: problem, beta: beta) : nil
    var trace = [[Double]]()  // step, tv npf, tv ula, energy npf, energy ula
    var x0 = [Float]()
    let rows = Sampling.rows(total: particles, rank: world.rank, size: world.size)
    let started = Date()
    // The networks, trainable by the refresh; its run directory writes nothing.
    let trainer = Trainer(config: config, problem: problem, world: world, run: RunDirectory(detached: world), state: state)
    trainer.verbose = false
    let (npf, ula) = try LangevinSampler.run(
      config: config, problem: problem, trainer: trainer, settings: settings,
      rows: rows, recordEvery: record
    ) { k, a, b in
      let all = try world.gatherv(a.storage + b.storage, root: 0)
      if k == 0 { x0 = (try world.gatherv(a.storage, root: 0) ?? []).flatMap { $0 } }
      guard let all, let scoring else { return }
      let pa = Matrix(rows: particles, cols: d, storage: all.flatMap { $0[0 ..< $0.count / 2] })
      let pb = Matrix(rows: particles, cols: d, storage: all.flatMap { $0[$0.count / 2 ..< $0.count] })
      let row = [Double(k)] + scoring.score(pa) + scoring.score(pb)
      trace.append([row[0], row[1], row[3], row[2], row[4]])
      print(
        String(
          format: "langevin %d/%d  LMC-NPF: TV %.3f energy %.4f   ULA: TV %.3f energy %.4f  (%.0f s)",
          k, steps, row[1], row[2], row[3], row[4], Date().timeIntervalSince(started)))
    }
    // Chains that diverged (a step size too large for f) are an error, not a file of NaNs.
    try agreeing(world) {
      for (name, chain) in [("LMC-NPF", npf.storage), ("Langevin", ula.storage)] where PointsFile.firstNonFiniteRow(chain, cols: d) != nil {
        throw TrainingError(message: "langevin: the \(name) chain diverged (non-finite particles): lower --step-size or --inner-step-size")
      }
    }
    // Written as OUTPUT.partial, renamed when every rank succeeded (CollectiveOutput.produce).
    // Every dataset is a collective step of its own: a rank that failed never leaves another
    // waiting in the next one.
    try CollectiveOutput.produce(output, bytes: 3 * particles * d * 4 + (1 << 20), world: world) { file in
      let sel = Selection.rows(rows, trailing: [d])
      try file.dataset("x_npf", .float32, [particles, d], npf.storage, sel)
      try file.dataset("x_ula", .float32, [particles, d], ula.storage, sel)
      func rank0(_ name: String, _ values: [Double], _ shape: [Int]) throws {
        try file.dataset(name, .float64, shape, values, .all, rankZero: true)
      }
      try file.dataset("x0", .float32, [particles, d], x0, .all, rankZero: true)
      // Scoring datasets: their shapes must agree on every rank (the creation is collective).
      let counts: [Int64] = [Int64(scoring?.reference.rows ?? 0), Int64(scoring?.modes.count ?? 0), Int64(trace.count)]
      let shape = try world.broadcastArray(counts)
      let energyFloor = try world.broadcastArray([scoring?.energyFloor ?? .nan])[0]
      let (nr, nm, nt) = (Int(shape[0]), Int(shape[1]), Int(shape[2]))
      if nr > 0 {
        try rank0("reference", scoring?.reference.storage ?? [], [nr, d])
        try rank0("modes", scoring?.modes.flatMap { $0 } ?? [], [nm, d])
        try rank0("shares_reference", scoring?.referenceShares ?? [], [nm])
      }
      if nt > 0 { try rank0("trace", trace.flatMap { $0 }, [nt, 5]) }
      try file.write { out in
        for (name, value) in [("step_size", stepSize), ("beta", beta), ("inner_step_size", innerStepSize), ("refresh_lr", refreshLR)] {
          try out.setAttribute(name, value)
        }
        for (name, value) in [("steps", steps), ("every", every), ("inner", inner), ("warmup", warmup), ("bridge_steps", bridgeSteps), ("refresh", refresh)] {
          try out.setAttribute(name, Int64(value))
        }
        try out.setAttribute("checkpoint", checkpoint)
        if energyFloor.isFinite { try out.setAttribute("energy_floor", energyFloor) }
        try out.setAttribute("trace_columns", "step, tv_npf, tv_ula, energy_npf, energy_ula")
      }
    }
    if world.rank == 0 {
      if let scoring {
        print(String(format: "langevin: the energy distance's floor (a second exact sample of %d) is %.4f", LangevinScoring.scored, scoring.energyFloor))
      }
      print("polar-train langevin: \(particles) particles, \(steps) steps -> \(output)")
    }
    try world.barrier()
  }
}
