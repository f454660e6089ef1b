// LMC-NPF's online refresh (Vesseron & Cuturi 2024, §5; the authors' PF_sampling.py and
// PF_learning.train_step_pf): as the particles move, the factorization is retrained on them.
// After a Langevin step with particles x_1..x_P, the steps of every stage run on batches drawn
// with replacement from the pairs (x_i, F(x_i)): u and the amortizer on the dual
// E_mu[u(x)] + E_{F#mu}[u*(y)] with mu the particles' empirical measure in place of rho, M_net
// (when the run has one) and the bridge on (M(x_i), x_i). Each stage's steps are its own
// (PotentialStage, MapStage, InverseStage), so the refresh is data-parallel and, like them, the
// same bits for any number of ranks: the particles are gathered whole on every rank and the
// rows a batch takes are counter-based functions of (seed, stage, step, global sample index).
// Learning rates: each stage's initial rate times `lrScale`, constant (the authors' sampling
// configurations use constant schedules). The optimizer moments continue from the checkpoint.
import PolarCore

extension Trainer {
  /// `steps` optimizer steps of u with the amortizer, of M_net (when map.steps > 0) and of the
  /// bridge on the particles `x` with F(x) = `f` (every rank passes all P rows, in global order).
  /// `round` numbers the refresh (0, 1, ...): the steps' counter streams continue after the
  /// training stages' (stage step count + round * steps + i), so no batch repeats one of
  /// training. Collective.
  public func refresh(x: Matrix<Float>, f: Matrix<Float>, round: Int, steps: Int, lrScale: Double) throws {
    precondition(x.rows == f.rows && x.cols == problem.dim && f.cols == problem.dim)
    let (kept, adams) = (problem, (potentialAdam, amortizerAdam, mapAdam, inverseAdam))
    refreshing = true
    defer {
      problem = kept
      (potentialAdam, amortizerAdam, mapAdam, inverseAdam) = adams
      refreshing = false
    }
    problem = Problem(dim: problem.dim, reference: .data(rows: x.rows), field: problem.field, data: (x, f))
    func constant(_ a: AdamConfig) -> AdamConfig {
      var c = a
      (c.learningRate, c.schedule) = (a.learningRate * lrScale, .constant)
      return c
    }
    (potentialAdam, amortizerAdam, mapAdam, inverseAdam) = (constant(potentialAdam), constant(amortizerAdam), constant(mapAdam), constant(inverseAdam))
    useConjugateBudget()
    let first = round * steps
    for i in 0 ..< steps { _ = try potentialStep(config.potential.steps + first + i) }
    if config.map.steps > 0 { for i in 0 ..< steps { _ = try mapStep(config.map.steps + first + i) } }
    for i in 0 ..< steps { _ = try inverseStep(config.inverse.steps + first + i) }
  }
}
