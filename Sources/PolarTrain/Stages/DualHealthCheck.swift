// The training side of DualHealth (PolarCore): after every step of stage potential, from the
// step's all-reduced figures, either nothing, a larger conjugate solver budget for the following
// steps (said on rank 0, kept in the state and so in checkpoints: a resumed run adapts exactly
// as an uninterrupted one), or a dual that lost its meaning: counted in the state, then the run
// stops with advice, or with [train] on_nan = "rollback" goes back to the newest checkpoint at
// half the learning rate (Trainer.rollBack). evaluate and report show the count and the finding.
import Foundation
import PolarCore

extension Trainer {
  /// DualHealth's verdict on step `step` (1-based), acted on before any parameter changes.
  func checkDualHealth(step: Int, share: Double, w2: Double, meanX2: Double, meanY2: Double) throws {
    let budget = state.conjugateBudget(config)
    switch DualHealth.check(
      step: step, share: share, w2: w2, meanX2: meanX2, meanY2: meanY2,
      maxIter: budget, configured: config.conjugate.maxIter)
    {
    case .healthy:
      return
    case let .adapt(next, reason):
      state.conjugateMaxIter = next
      if world.rank == 0 {
        print("polar-train: potential step \(step): \(reason): conjugate.max_iter \(budget) -> \(next) from the next step")
        fflush(nil)
      }
    case let .lost(reason):
      state.dualAlerts += 1
      let finding = "potential step \(step): \(reason)"
      if state.dualNote.isEmpty { state.dualNote = finding }
      var error = TrainingError(
        message: "\(finding). The dual objective has lost its meaning and this step was not taken; "
          + "the checkpoints before it are intact. Resume from one with a smaller potential.lr, a larger "
          + "conjugate.max_iter or conjugate.tol, or set train.on_nan = \"rollback\" to retry from the newest "
          + "at half the learning rate", nonFinite: true)
      error.dualLost = finding
      throw error
    }
  }
}

extension TrainState {
  /// A warning for evaluate and report when the dual lost its meaning in this run: the state's
  /// count and first finding, and the `dual_lost` events of the run's metrics.jsonl (which
  /// record a stop after the last checkpoint too). nil for a healthy run.
  public func dualWarning(metricsJSONL: String = "") -> String? {
    let events = metricsJSONL.split(separator: "\n").compactMap { line -> String? in
      guard line.contains("\"event\":\"dual_lost\""),
        let record = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
      else { return nil }
      return record["message"] as? String
    }
    let count = max(dualAlerts, events.count)
    guard count > 0 else { return nil }
    let first = dualNote.isEmpty ? events.first ?? "" : dualNote
    return "the dual objective lost its meaning \(count) time(s) in this run (first: \(first)); "
      + "its figures may not describe a trained factorization (docs/commands.md: Training health)"
  }
}
