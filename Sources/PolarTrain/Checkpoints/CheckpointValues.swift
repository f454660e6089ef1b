// The values of a checkpoint that a valid checksum does not vouch for (a file written by hand or
// by another program can carry a matching checksum): the stage, step, rollbacks, world size and
// learning-rate scale in range, and every parameter and Adam moment finite (v also >= 0, t >= 0).
// CheckpointInspection adds one problem line for each, so `inspect` and every reader refuse the
// file (exit 4) before a run or a command uses it.
import Foundation

extension Checkpoint {
  /// The stages a checkpoint may be in.
  public static let stages = Stage.allCases.map(\.rawValue)

  /// Problems with the root attributes: `stage`, `step` (0 up to the stage's configured steps),
  /// `rollbacks`, `world_size` and `lr_scale`.
  static func attributeProblems(
    _ path: String, stage: String, step: Int64?, rollbacks: Int64?, worldSize: Int64?,
    lrScale: Double?, config: Config
  ) -> [String] {
    var out = [String]()
    if let known = Stage(rawValue: stage) {
      let (limit, key) = (known.steps(config), known.stepsKey)
      if let step, step < 0 || step > Int64(limit) {
        out.append("\(path): attribute step: \(step), must be from 0 to \(limit) (\(key)) in stage \(stage)")
      }
    } else {
      out.append("\(path): attribute stage: \(quoted(stage)), expected \(stages.joined(separator: ", "))")
    }
    if let rollbacks, rollbacks < 0 || rollbacks > Int64(Trainer.maxRollbacks) {
      out.append("\(path): attribute rollbacks: \(rollbacks), must be from 0 to \(Trainer.maxRollbacks)")
    }
    if let worldSize, worldSize < 1 { out.append("\(path): attribute world_size: \(worldSize), must be at least 1") }
    if let lrScale, !(lrScale.isFinite && lrScale > 0 && lrScale <= 1) {
      out.append("\(path): attribute lr_scale: \(lrScale), must be in (0, 1]")
    }
    return out
  }

  /// Problems with one network's state: a non-finite parameter or moment, a negative second
  /// moment, a negative Adam step. One line per dataset, naming the first bad index.
  static func stateProblems(_ path: String, network name: String, _ state: NetworkState) -> [String] {
    var out = [String]()
    for (what, values) in [("params", state.params), ("adam/m", state.adam.m), ("adam/v", state.adam.v)] {
      if let i = values.firstIndex(where: { !$0.isFinite }) {
        out.append("\(path): dataset \(name)/\(what): value \(i) is \(values[i]), not finite")
      } else if what == "adam/v", let i = values.firstIndex(where: { $0 < 0 }) {
        out.append("\(path): dataset \(name)/adam/v: value \(i) is \(values[i]), must be at least 0")
      }
    }
    if state.adam.t < 0 { out.append("\(path): dataset \(name)/adam/t: \(state.adam.t), must be at least 0") }
    return out
  }
}
