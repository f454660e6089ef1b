// LMC-NPF and plain Langevin side by side (docs/design.md §1 item 6; Langevin.swift states the math), on
// this rank's block of particles. Every draw is counter-based on (seed, chain, step, global
// particle index) and the bridge and conjugate solves run on whole chunks (Sampling.swift), so
// the particles are the same bytes for any number of ranks. The networks are the trained ones
// of the checkpoint; with `refresh` = K > 0 (the authors' online refresh, Refresh.swift) every
// LMC-NPF step is followed by K training steps of each network on the current particles, as
// the authors' PF_sampling.sample_and_learn does. The chain evaluates grad f once per step
// either way: F at the particles serves the next Langevin step, the next jump's y = M(x) and
// the refresh's batches alike.
import Foundation
import PolarCore

public struct LangevinSettings: Sendable {
  public var particles = 1024
  public var steps = 2000
  /// ULA step h on f, the inverse temperature beta (p ~ exp(-beta f)).
  public var stepSize = 1e-3
  public var beta = 1.0
  /// A jump every `every` steps after `warmup` plain steps (the first at step warmup + 1); `inner` ULA steps of size
  /// `innerStepSize` on u in y-space per jump; the bridge sampler's Euler steps.
  public var every = 50
  public var warmup = 0
  public var inner = 50
  public var innerStepSize = 1e-3
  public var bridgeSteps = 100
  /// Every particle starts at this point plus N(0, 0.1^2 I); nil: x_0 ~ rho.
  public var start: [Double]? = nil
  /// Training steps of every network on the particles after each LMC-NPF step (0: none), at
  /// each stage's initial learning rate times `refreshLR`.
  public var refresh = 0
  public var refreshLR = 1.0
  public init() {}
}

public enum LangevinSampler {
  /// Runs both chains on the global particle rows `rows` (whole sampling chunks); `record` is
  /// called after step k (and after step 0, the start) with the NPF and ULA particles, on every
  /// rank at the same steps, `recordEvery` apart. The networks are the `trainer`'s, which the
  /// refresh trains (its state changes; the checkpoint it came from does not). Collective.
  public static func run(
    config: Config, problem: Problem, trainer: Trainer, settings s: LangevinSettings,
    rows: Range<Int>, recordEvery: Int,
    record: (Int, Matrix<Float>, Matrix<Float>) throws -> Void
  ) throws -> (npf: Matrix<Float>, ula: Matrix<Float>) {
    let d = problem.dim, field = problem.field!, n = rows.count, nets = trainer.nets
    func noise(_ parts: UInt64...) -> Matrix<Float> {
      let rng = CounterRNG(seed: config.seed, stream: CounterRNG.streamID([Problem.Purpose.langevin.rawValue] + parts))
      var eps = Matrix<Float>(rows: n, cols: d)
      for r in 0 ..< n { for j in 0 ..< d { eps[r, j] = Float(rng.normal(UInt64((rows.lowerBound + r) * d + j))) } }
      return eps
    }
    var x0: Matrix<Float>
    if let start = s.start {
      x0 = noise(0)
      for r in 0 ..< n { for j in 0 ..< d { x0[r, j] = Float(start[j]) + 0.1 * x0[r, j] } }
    } else {
      let rng = CounterRNG(seed: config.seed, stream: CounterRNG.streamID(Problem.Purpose.langevin.rawValue, 1))
      x0 = problem.reference.sample(dim: d, rng: rng, indices: rows).x
    }
    // grad u chunk by chunk (whole sampling chunks): the same matrix shapes, so the same bytes, for any N.
    func gradU(_ y: Matrix<Float>) -> Matrix<Float> {
      var g = Matrix<Float>(rows: y.rows, cols: d)
      for lo in stride(from: 0, to: y.rows, by: Sampling.chunk) {
        let hi = min(y.rows, lo + Sampling.chunk)
        let part = nets.potential.valueAndGradient(
          trainer.state.params(.potential), Matrix(rows: hi - lo, cols: d, storage: Array(y.storage[lo * d ..< hi * d]))
        ).grad
        for i in 0 ..< part.storage.count { g.storage[lo * d + i] = part.storage[i] }
      }
      return g
    }
    var ula = x0, npf = x0
    // F at the NPF particles: one evaluation per step, used by the step that follows.
    var fx = field(npf)
    try record(0, npf, ula)
    for k in 1 ... max(1, s.steps) where s.steps > 0 {
      Langevin.step(&ula, gradient: field(ula), noise: noise(2, UInt64(k)), stepSize: s.stepSize, beta: s.beta)
      // Jumps at steps warmup + 1, warmup + 1 + every, ...: every scored step (a multiple of
      // the record interval) then comes after Langevin steps that relaxed the jumped particles.
      if k > s.warmup && (k - s.warmup - 1) % s.every == 0 {
        // Jump: y = M(x) = grad u*(F(x)), ULA on u, x ~ M^-1(y).
        var y = Sampling.conjugateAt(fx, config: config, nets: nets, state: trainer.state)
        for i in 0 ..< s.inner {
          Langevin.step(&y, gradient: gradU(y), noise: noise(4, UInt64(k), UInt64(i)), stepSize: s.innerStepSize, beta: s.beta)
        }
        npf = Sampling.draw(
          config: config, nets: nets, state: trainer.state, targets: y, perPoint: 1, rows: rows,
          steps: s.bridgeSteps, noiseStream: 1_000_000 + UInt64(k), targetOffset: rows.lowerBound)
      } else {
        Langevin.step(&npf, gradient: fx, noise: noise(3, UInt64(k)), stepSize: s.stepSize, beta: s.beta)
      }
      if k < s.steps {
        fx = field(npf)
        if s.refresh > 0 {
          // Every rank trains on all the particles, in global row order.
          let all = try trainer.world.allgatherv(npf.storage + fx.storage)
          let px = all.flatMap { $0[0 ..< $0.count / 2] }, pf = all.flatMap { $0[$0.count / 2 ..< $0.count] }
          let p = px.count / d
          try trainer.refresh(
            x: Matrix(rows: p, cols: d, storage: px), f: Matrix(rows: p, cols: d, storage: pf),
            round: k - 1, steps: s.refresh, lrScale: s.refreshLR)
        }
      }
      if k % recordEvery == 0 || k == s.steps { try record(k, npf, ula) }
    }
    return (npf, ula)
  }
}
