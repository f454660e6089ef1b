// `train --resume PATH --retrain STAGE`: the networks of the stages before STAGE come from the
// checkpoint, STAGE's network and every later stage's start afresh from the seed, and training
// resumes at STAGE's step 0. The stages before STAGE never read STAGE's keys (map.*, inverse.*),
// so those may differ from the checkpoint's, structural ones included (a wider bridge), and the
// result is bitwise that of a run trained from scratch with the new settings: u is trained once,
// the map or the bridge as often as one likes.
import Foundation

extension NetworkName {
  /// The stage that trains this network (the amortizer trains with u).
  var stage: Stage {
    switch self {
    case .potential, .amortizer: .potential
    case .map: .map
    case .inverse: .inverse
    }
  }
}

extension Stage {
  /// The stages `--retrain` accepts: those that train after u.
  public static let retrainable: [Stage] = [.map, .inverse]

  /// The networks trained at this stage or after it (reinitialised by --retrain); each one's
  /// keys are the configuration section of its name (`inverse.*`, ...).
  var networksFromHere: [NetworkName] { NetworkName.allCases.filter { $0.stage >= self } }
}

extension Checkpoint.Contents {
  /// The state and metrics a run retraining `stage` starts from: the checkpoint must have
  /// finished the stages before `stage`; the networks of `stage` and later are `config`'s
  /// initial ones with fresh Adam state; metrics.jsonl keeps the earlier stages' lines.
  public func retraining(_ stage: Stage, config: Config, path: String) throws -> Checkpoint.Contents {
    guard state.stage >= stage else {
      throw CheckpointError(
        message: "\(path): stage \(state.stage), step \(state.step): --retrain \(stage) needs a checkpoint whose stages before \(stage) are done "
          + "(one of stage \(stage) or later, e.g. ckpt-done-*.h5)")
    }
    let nets = Networks(config)
    var out = self
    out.state.stage = stage
    out.state.step = 0
    for name in stage.networksFromHere {
      out.state.networks[name] = NetworkState(params: nets.initialParameters(name, seed: config.seed, gaussian: nil))
    }
    let kept = Set(Stage.training.filter { $0 < stage }.map(\.rawValue))
    out.metrics = metrics.split(separator: "\n").filter { line in
      guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let s = object["stage"] as? String else {
        return false
      }
      return kept.contains(s)
    }.map { $0 + "\n" }.joined()
    return out
  }
}
