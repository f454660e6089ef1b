// problem.validation (issue 17, item 6): a field known only through samples loses accuracy to
// finite data, and a user needs to see it. A share of the field file's rows is held out of
// training; at every checkpoint written while u changes, the W2 dual objective on them,
//   L_val(u) = mean_i u(x_i) + mean_i u*(F(x_i)),  u*(y) = <xhat, y> - u(xhat),
// (the training loss's estimator on unseen rows: it rises when u overfits the training rows) is
// logged to metrics.jsonl and plotted beside the training loss; the checkpoint with the lowest
// is kept whatever checkpoint.keep says and named by checkpoints/best.
import Foundation
import PolarCore
import SwiftMPI

public enum Validation {
  /// Rows evaluated at a checkpoint: the first ones of the validation set, at most this many.
  public static let maxRows = 16_384
  /// Rows per micro-batch of the evaluation (fixed, so the exact sum is the same for any N).
  static let microBatch = 256

  /// Row i is held out when U_i < share, U_i uniform from (field_seed, i): a pure function of
  /// the row's index, the same on every rank and for any number of ranks.
  static func split(
    x: Matrix<Float>, f: Matrix<Float>, share: Double, seed: UInt64
  )
    -> (train: (x: Matrix<Float>, f: Matrix<Float>), held: (x: Matrix<Float>, f: Matrix<Float>))
  {
    let rng = CounterRNG(seed: seed, stream: CounterRNG.streamID(0x7A, 0x11))
    let d = x.cols
    var parts: [(x: [Float], f: [Float])] = [([], []), ([], [])]
    for i in 0 ..< x.rows {
      let k = rng.uniform(UInt64(i)) < share ? 1 : 0
      parts[k].x.append(contentsOf: x.storage[i * d ..< (i + 1) * d])
      parts[k].f.append(contentsOf: f.storage[i * d ..< (i + 1) * d])
    }
    func matrices(_ p: (x: [Float], f: [Float])) -> (x: Matrix<Float>, f: Matrix<Float>) {
      (Matrix(rows: p.x.count / d, cols: d, storage: p.x), Matrix(rows: p.f.count / d, cols: d, storage: p.f))
    }
    return (matrices(parts[0]), matrices(parts[1]))
  }
}

extension Trainer {
  /// L_val and the share of its conjugate solves that converged (the evaluation budget, at least
  /// 100 L-BFGS iterations; u* averaged over the converged rows as in training), over the ranks:
  /// each takes a block of 256-row micro-batches, summed exactly. nil without a validation set.
  func validationLoss() throws -> (loss: Double, converged: Double)? {
    guard let held = problem.validation else { return nil }
    let d = problem.dim, n = min(held.x.rows, Validation.maxRows), mb = Validation.microBatch
    let count = (n + mb - 1) / mb
    let mine = microBatches(count: count, rank: world.rank, size: world.size)
    let solver = config.solver(evaluation: true)
    let potential = ICNNEvaluator<Float>(nets.potential, capacity: mb)
    potential.load(state.params(.potential))
    let reducer = Reducer(world: world, exact: true)
    // Per micro-batch: [sum u(x), sum u*(y) over converged rows, converged rows, rows].
    let sum = try reducer.sum(count: 4, microBatches: mine) { m, slot in
      let rows = m * mb ..< min((m + 1) * mb, n)
      let x = held.x.rows(rows), y = held.f.rows(rows)
      let u = potential.evaluate(x).u
      let solved = nets.conjugate(y, state: state, solver: solver, evaluator: potential)
      var sumU: Float = 0, sumConjugate: Float = 0, converged: Float = 0
      for r in 0 ..< rows.count {
        sumU += u[r]
        guard solved.converged[r] else { continue }
        var dot: Float = 0
        for j in 0 ..< d { dot += solved.x[r, j] * y[r, j] }
        sumConjugate += dot - solved.u[r]
        converged += 1
      }
      (slot[0], slot[1], slot[2], slot[3]) = (sumU, sumConjugate, converged, Float(rows.count))
    }
    let rows = Double(sum[3]), converged = Double(sum[2])
    return (Double(sum[0]) / rows + Double(sum[1]) / max(converged, 1), converged / rows)
  }
}
