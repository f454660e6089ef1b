// The stages of a run and the networks they train (docs/design.md §4): potential (u and the
// amortizer g on the W2 dual), map (M_psi regressed onto M = grad u* o F), inverse (the bridge
// network v), then done. The one place that lists them: a new stage is a case here, and every
// switch over `Stage` (the trainer's dispatch, the configuration's steps and batch) fails to
// compile until it handles the case.
import PolarCore

/// A stage of training, in run order; `done` is the state after the last one.
public enum Stage: String, CaseIterable, Sendable, Comparable, CustomStringConvertible {
  case potential, map, inverse, done

  /// The stages that train, in order.
  public static let training: [Stage] = [.potential, .map, .inverse]

  public static func < (a: Stage, b: Stage) -> Bool { a.order < b.order }
  public var description: String { rawValue }

  var order: Int {
    switch self {
    case .potential: 0
    case .map: 1
    case .inverse: 2
    case .done: 3
    }
  }

  /// The configured steps of this stage (0 skips it); for done, the largest stage's.
  public func steps(_ c: Config) -> Int {
    switch self {
    case .potential: c.potential.steps
    case .map: c.map.steps
    case .inverse: c.inverse.steps
    case .done: max(c.potential.steps, c.map.steps, c.inverse.steps)
    }
  }

  /// The configuration key of `steps` (messages name it).
  public var stepsKey: String {
    switch self {
    case .potential, .map, .inverse: "\(rawValue).steps"
    case .done: "the largest stage's steps"
    }
  }

  /// The global batch of this stage (done: none).
  public func batch(_ c: Config) -> Int {
    switch self {
    case .potential: c.potential.batch
    case .map: c.map.batch
    case .inverse: c.inverse.batch
    case .done: 0
    }
  }

  /// The stage's own figures in its progress line; `f(key, format)` formats one of the step's
  /// figures ("-" when absent).
  func progress(_ f: (String, String) -> String) -> String {
    switch self {
    case .potential: "  loss \(f("loss", "%.5f"))  W2^2 \(f("w2", "%.4f"))  amortizer \(f("amortizer_loss", "%.2e"))"
    case .map: "  map loss \(f("map_loss", "%.3e"))"
    case .inverse: "  bridge loss \(f("inverse_loss", "%.3e"))"
    case .done: ""
    }
  }

  /// The stage after this one that has steps to run, or done.
  public func next(_ c: Config) -> Stage {
    Stage.training.first { $0 > self && $0.steps(c) > 0 } ?? .done
  }
}

/// The networks of a run, in checkpoint (and checksum) order; each is an HDF5 group of a checkpoint.
public enum NetworkName: String, CaseIterable, Sendable, CustomStringConvertible {
  /// u_theta, the ICNN potential.
  case potential
  /// g_phi(y) ~ grad u*(y), the conjugate solver's warm start.
  case amortizer
  /// M_psi, the explicit map.
  case map
  /// v, the bridge network of M^-1.
  case inverse

  public var description: String { rawValue }
}
