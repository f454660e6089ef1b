// What each command needs per rank, estimated from its inputs before it allocates anything, to be
// compared with the MemoryBudget. Parameter counts come from the configuration's widths (never
// from building the networks, whose layouts would overflow first); every product saturates. The
// factors are generous on purpose (copies, Adam moments, gathered vectors, HDF5 conversion
// buffers): a refused size is far past what fits, an accepted one is well inside it.
import Foundation
import SwiftMPI
import TOMLKit

public enum MemoryEstimate {
  static let float = 4, double = 8

  /// Parameters of an MLP input -> hidden... -> output (weights and biases; the residual skip).
  static func mlpParameters(input: Int, output: Int, hidden: [Int], residual: Bool) -> Int {
    let widths = [input] + hidden + [output]
    let layers = (1 ..< widths.count).map { product(total([widths[$0 - 1], 1]), widths[$0]) }
    return total(layers + [residual ? product(input, output) : 0])
  }

  /// Parameters of the ICNN: a quadratic potential per layer (d x width*rank, 2 width x d, width),
  /// the non-negative W_k between layers and the full-rank q (d x d).
  static func icnnParameters(dim d: Int, hidden: [Int], rank: Int) -> Int {
    let widths = hidden + [1]
    let perUnit = total([product(d, rank), product(2, d), 1])
    let quads = widths.map { product($0, perUnit) }
    let links = (1 ..< widths.count).map { product(widths[$0 - 1], widths[$0]) }
    return total(quads + links + [product(d, d), product(2, d), 1])
  }

  /// Parameter counts of the four networks of a configuration, by the key of their widths.
  static func networks(_ c: Config) -> [(key: String, parameters: Int, widest: Int)] {
    let d = c.problem.dim
    return [
      ("potential.hidden", icnnParameters(dim: d, hidden: c.potential.hidden, rank: c.potential.rank), c.potential.hidden.max() ?? 1),
      (
        "amortizer.hidden", mlpParameters(input: d, output: d, hidden: c.amortizer.hidden, residual: c.amortizer.residual),
        c.amortizer.hidden.max() ?? d
      ),
      (
        "map.hidden",
        // On Fourier features the first layer reads d + 2K columns; B [K, d] is K d doubles.
        total([
          mlpParameters(input: total([d, product(2, c.map.fourier)]), output: d, hidden: c.map.hidden, residual: c.map.residual),
          product(c.map.fourier, d, 2),
        ]), c.map.hidden.max() ?? d
      ),
      (
        "inverse.hidden",
        mlpParameters(
          input: total([product(2, d), 1, product(2, c.inverse.frequencies)]), output: d,
          hidden: c.inverse.hidden, residual: false), c.inverse.hidden.max() ?? d
      ),
    ]
  }

  /// Every network's state on every rank: parameters, Adam m and v, gradient, the checkpoint's
  /// gathered copies and the packed evaluators: 12 float vectors each.
  public static func networkState(_ c: Config) -> [(key: String, bytes: Int)] {
    networks(c).map { ($0.key, product($0.parameters, 12 * float)) }
  }

  /// The field and the problem's own buffers: a d x d matrix (linear, rotated-convex, the
  /// Gaussian initialisation) in a few double copies, and the Gaussian start's samples.
  public static func problem(_ c: Config) -> Int {
    total([product(c.problem.dim, c.problem.dim, 4 * double), product(TrainState.gaussianSamples, c.problem.dim, 4 * double)])
  }

  /// Activations of `rows` samples through every network (forward and backward, the conjugate
  /// solver's L-BFGS history): per row, 8 floats per hidden unit and (2 history + 16) per coordinate.
  static func activations(_ c: Config, rows: Int) -> Int {
    let units = total([c.potential.hidden, c.amortizer.hidden, c.map.hidden, c.inverse.hidden, [product(2, c.map.fourier)]].map { total($0) })
    let perRow = total([product(units, 8), product(c.problem.dim, total([product(2, c.conjugate.history), 16]))])
    return product(rows, perRow, float)
  }

  /// `train`'s step: the contribution slots of this rank's micro-batches (gradients of the
  /// stage's networks each) and the exact sum's workspace, plus the micro-batch's activations.
  public static func trainingStep(_ c: Config, ranks: Int) -> [(key: String, bytes: Int)] {
    let p = networks(c).map(\.parameters)
    let mb = c.parallel.microBatch
    func perRank(_ batch: Int) -> Int { (batch / mb + max(1, ranks) - 1) / max(1, ranks) }
    let potential = total([product(2, p[0]), p[1], 16])
    return [
      ("potential.batch", total([product(perRank(c.potential.batch), potential, float), product(potential, 4 * double)])),
      ("map.batch", c.map.steps > 0 ? product(perRank(c.map.batch), p[2], float) : 0),
      ("inverse.batch", c.inverse.steps > 0 ? product(perRank(c.inverse.batch), p[3], float) : 0),
      ("parallel.micro_batch", activations(c, rows: mb)),
    ]
  }

  /// Evaluation on `samples` held-out points (rank 0: train's end, `evaluate`, `report`): about
  /// 24 floats per coordinate and sample (x, F, M, gradients, the inverse checks' draws), double
  /// residuals and sort copies, and the activations of a 1024-row evaluator.
  public static func evaluation(_ c: Config, samples n: Int) -> Int {
    total([product(n, c.problem.dim, 24 * float), product(n, 8 * double), activations(c, rows: min(n, 1024))])
  }

  /// `sample` of `count` draws over `ranks`: this rank's rows (x, M, F, the bridge's activations,
  /// refinement's Jacobians in doubles) and rank 0's gathered distances and positions.
  public static func sampling(_ c: Config, count: Int, ranks: Int, refine: Bool) -> Int {
    let d = c.problem.dim, rows = total([count / max(1, ranks), 1])
    let refinement = refine ? product(rows, total([product(d, d, 3 * double), product(d, 8 * double)])) : 0
    return total([
      product(rows, d, 16 * float), activations(c, rows: min(rows, 1024)), refinement,
      product(count, total([product(d, double), 6 * double])),
    ])
  }

  /// `langevin` with `particles`: this rank's two chains and their jumps, rank 0's gathered
  /// particles (both chains, x0) and scores; with the refresh, every rank's gathered particles
  /// and grad f at them (twice while they are gathered).
  public static func langevin(_ c: Config, particles: Int, ranks: Int, refresh: Bool = false) -> Int {
    let d = c.problem.dim, rows = total([particles / max(1, ranks), 1])
    return total([
      product(rows, d, 24 * float), activations(c, rows: min(rows, 1024)), product(particles, d, 8 * float),
      product(particles, 4 * double), refresh ? product(particles, d, 4 * float) : 0,
    ])
  }

  /// Stage inverse's pool (inverse.pool): x and X0 of every pooled sample on every rank, and
  /// the gathered copy while it is built.
  public static func inversePool(_ c: Config) -> Int {
    c.inverse.pool > 0 && c.inverse.steps > 0 ? product(c.inverse.pool + c.parallel.microBatch, total([c.problem.dim, 1]), 4 * float) : 0
  }

  /// `report`: a grid x grid quiver and level-set sampling (a few doubles per point and
  /// coordinate), its scatter samples, and an evaluation of `samples` points.
  public static func report(_ c: Config, grid: Int, samples: Int) -> Int {
    total([product(grid, grid, total([c.problem.dim, 2]), 8 * double), evaluation(c, samples: samples)])
  }

  /// `apply` on `rows` of this rank: x, F, M, gradients and M_net (8 float copies per coordinate)
  /// and the conjugate solve's activations; the input read itself (a conversion buffer, doubles).
  public static func apply(_ c: Config, rows: Int) -> Int {
    total([product(rows, c.problem.dim, 8 * float + 2 * double), activations(c, rows: min(rows, 1024))])
  }

  /// A dataset of `rows` x `cols` read whole by every rank as floats (with a double-width copy
  /// while HDF5 converts, and the matrix built from it).
  public static func wholeDataset(rows: Int, cols: Int) -> Int { product(rows, cols, 2 * float + double) }
}

extension Config {
  /// The terms of `train`'s estimate per rank, by the key that sets each: networks, the step's
  /// buffers, the field, the end-of-run evaluation, and the sample and langevin steps after it.
  public func memoryTerms(ranks: Int) -> [(key: String, bytes: Int)] {
    var terms = MemoryEstimate.networkState(self) + MemoryEstimate.trainingStep(self, ranks: ranks)
    terms.append(("problem.dim", MemoryEstimate.problem(self)))
    terms.append(("train.eval_samples", MemoryEstimate.evaluation(self, samples: train.evalSamples)))
    if sample.count > 0 {
      terms.append(("sample.count", MemoryEstimate.sampling(self, count: sample.count, ranks: ranks, refine: sample.refine > 0)))
    }
    if inverse.pool > 0 { terms.append(("inverse.pool", MemoryEstimate.inversePool(self))) }
    if langevin.steps > 0 {
      terms.append(("langevin.particles", MemoryEstimate.langevin(self, particles: langevin.particles, ranks: ranks, refresh: langevin.refresh > 0)))
    }
    return terms
  }

  /// Refuses (ConfigError, exit 2, on every rank) a configuration whose estimated peak memory per
  /// rank exceeds this host's budget. It names the setting to blame: of the keys changed from
  /// their defaults, the one whose default brings the estimate down most (else the largest term),
  /// with `--set` as the source when an override set it, else the configuration file.
  /// Collective: every rank calls it at the same point.
  public func checkMemory(world: Communicator, file: String?, overrides: [String]) throws {
    let budget = try MemoryBudget.measure(world)
    func estimate(_ c: Config) -> Int { total(c.memoryTerms(ranks: world.size).map(\.bytes)) }
    try agreeing(world) {
      guard let excess = budget.excess(estimate(self)) else { return }
      let defaults = Config()
      let reset = ConfigKeys.all.filter { $0.render(self) != $0.render(defaults) }.compactMap { spec -> (String, Int)? in
        var c = self
        guard let table = try? TOMLTable(string: "v = \(spec.render(defaults))"), let v = table["v"],
          (try? spec.read(&c, v, ConfigError(source: "", key: spec.path, message: ""))) != nil
        else { return nil }
        return (spec.path, estimate(c))
      }
      let largest = memoryTerms(ranks: world.size).max { $0.bytes < $1.bytes }?.key ?? "problem.dim"
      let key = reset.min { $0.1 < $1.1 }.flatMap { $0.1 < estimate(self) ? $0.0 : nil } ?? largest
      let set = overrides.contains { $0.split(separator: "=").first?.trimmingCharacters(in: .whitespaces) == key }
      throw ConfigError(source: set ? "--set" : file ?? "configuration", key: key, message: excess)
    }
  }
}

/// Refuses (ConfigError, exit 2) a command-line size whose estimate exceeds the budget:
/// "<command>: <flag>: needs about ...". Inside `agreeing`, after `MemoryBudget.measure`.
public func checkMemory(_ bytes: Int, budget: MemoryBudget, command: String, flag: String) throws {
  if let excess = budget.excess(bytes) { throw ConfigError(source: command, key: flag, message: excess) }
}
