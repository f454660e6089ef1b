// Adam with bias correction (Kingma & Ba 2015), learning-rate schedules and gradient-norm
// clipping, on a flat parameter arena:
//   g <- g * min(1, clip / |g|);  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
//   theta <- theta - lr_t * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
import RealModule

public enum LearningRateSchedule: Sendable, Equatable, Codable {
  case constant
  /// lr_t = final + (lr - final) (1 + cos(pi t / total)) / 2, after `warmup` linear steps.
  case cosine(total: Int, final: Double, warmup: Int)

  public func rate(base: Double, step t: Int) -> Double {
    switch self {
    case .constant: return base
    case .cosine(let total, let final, let warmup):
      if t < warmup { return base * Double(t + 1) / Double(warmup) }
      let progress = min(1, Double(t - warmup) / Double(max(1, total - warmup)))
      return final + (base - final) * (1 + Double.cos(Double.pi * progress)) / 2
    }
  }
}

public struct AdamConfig: Sendable, Equatable, Codable {
  public var learningRate: Double
  public var beta1 = 0.9
  public var beta2 = 0.999
  public var epsilon = 1e-8
  public var schedule = LearningRateSchedule.constant
  /// Clip the global gradient norm to this value (nil: no clipping).
  public var clipNorm: Double?

  public init(learningRate: Double, schedule: LearningRateSchedule = .constant, clipNorm: Double? = nil) {
    self.learningRate = learningRate
    self.schedule = schedule
    self.clipNorm = clipNorm
  }
}

/// Adam's moments and step count for one network, flat like its parameters.
public struct AdamState<T: BLASScalar>: Sendable, Equatable {
  public var m: [T]
  public var v: [T]
  public var t: Int

  public init(count: Int) {
    m = [T](repeating: 0, count: count)
    v = [T](repeating: 0, count: count)
    t = 0
  }
}

public struct AdamStepReport: Sendable {
  public let gradientNorm: Double
  public let learningRate: Double
  public let clipped: Bool
}

/// One Adam step on `params` with gradient `grad` (not modified).
@_specialize(where T == Float)
@_specialize(where T == Double)
@discardableResult
public func adamStep<T: BLASScalar>(
  _ params: inout [T], grad: [T], state: inout AdamState<T>,
  config: AdamConfig
) -> AdamStepReport {
  precondition(params.count == grad.count && grad.count == state.m.count, "adamStep: sizes differ")
  var sq = 0.0
  for g in grad { sq += Double(g) * Double(g) }
  let norm = sq.squareRoot()
  var scale = 1.0
  if let clip = config.clipNorm, norm > clip { scale = clip / norm }
  let lr = config.schedule.rate(base: config.learningRate, step: state.t)
  state.t += 1
  let b1 = T(config.beta1), b2 = T(config.beta2)
  let c1 = T(1 - Double.pow(config.beta1, Double(state.t)))
  let c2 = T(1 - Double.pow(config.beta2, Double(state.t)))
  let eps = T(config.epsilon), rate = T(lr), s = T(scale)
  for i in params.indices {
    let g = grad[i] * s
    state.m[i] = b1 * state.m[i] + (1 - b1) * g
    state.v[i] = b2 * state.v[i] + (1 - b2) * g * g
    params[i] -= rate * (state.m[i] / c1) / ((state.v[i] / c2).squareRoot() + eps)
  }
  return AdamStepReport(gradientNorm: norm, learningRate: lr, clipped: scale < 1)
}
