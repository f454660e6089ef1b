// The configuration keys whose value is one of a fixed set of names, as types: a choice is a
// case, read by one helper of the key table (`choice` in ConfigKeys.swift) that refuses any other
// name with the list of allowed ones, and used in exhaustive switches. A new field, reference,
// solver, ... is a case here (or in PolarCore's enum), and the compiler names every switch that
// must handle it.
import PolarCore

/// A configuration value chosen by name from a fixed list.
public protocol ConfigChoice: Sendable, Equatable, CustomStringConvertible {
  /// Every allowed value, in the order messages and docs list them.
  static var choices: [Self] { get }
  /// The value's name in TOML.
  var name: String { get }
}

extension ConfigChoice {
  public var description: String { name }
  /// "a | b | c", for the key table's documentation.
  static var alternatives: String { choices.map(\.name).joined(separator: " | ") }
}

/// A choice whose names are its raw values.
public protocol RawConfigChoice: ConfigChoice, RawRepresentable, CaseIterable where RawValue == String {}
extension RawConfigChoice {
  public static var choices: [Self] { Array(allCases) }
  public var name: String { rawValue }
}

extension Config {
  /// problem.field: the field F, a built-in kind or a 2-D toy field; every case of both is a
  /// choice (`choices` is built from their `allCases`).
  public enum Field: ConfigChoice, Hashable {
    case builtIn(BuiltInField)
    /// A 2-D toy field F = grad f (PolarCore Fields/ToyFields.swift).
    case toy(ToyField)

    public static let linear = Field.builtIn(.linear), rotatedConvex = Field.builtIn(.rotatedConvex)
    public static let file = Field.builtIn(.file), topography = Field.builtIn(.topography)
    public static let classifierLoss = Field.builtIn(.classifierLoss)

    public static let choices: [Field] = BuiltInField.allCases.map(Field.builtIn) + ToyField.allCases.map(Field.toy)

    public var name: String {
      switch self {
      case .builtIn(let b): b.rawValue
      case .toy(let t): t.rawValue
      }
    }
  }

  /// The fields that are not toy fields.
  public enum BuiltInField: String, CaseIterable, Sendable, Hashable {
    /// F(x) = A x.
    case linear
    /// F = grad of a convex function composed with a rotation (PolarCore Fields/Fields.swift).
    case rotatedConvex = "rotated-convex"
    /// (x, F(x)) rows of an HDF5 file: F known only at samples.
    case file
    /// F = grad h of a smoothed elevation grid.
    case topography
    /// F = grad of a classifier's loss in its parameters.
    case classifierLoss = "classifier-loss"
  }

  /// problem.classifier: the network whose loss a classifier-loss field is.
  public enum Classifier: String, RawConfigChoice {
    /// One hidden tanh layer of problem.classifier_hidden units (PolarCore MLPClassifierLoss.swift).
    case mlp
    /// The authors' LeNet: two 1-channel 5x5 convolutions and a dense layer (LeNetClassifierLoss.swift).
    case lenet
  }

  /// problem.reference: the reference measure rho.
  public enum Reference: String, RawConfigChoice {
    case gaussian, uniform, data
  }

  /// problem.first_row: where a topography grid's row 0 lies.
  public enum FirstRow: String, RawConfigChoice {
    case top, bottom
  }

  /// potential.init: u at the start of training.
  public enum Initialization: String, RawConfigChoice {
    /// grad u = x.
    case identity
    /// grad u = the Bures map between Gaussians fitted to rho and F#rho.
    case gaussian
  }

  /// potential.schedule: the learning-rate schedule of u and the amortizer.
  public enum Schedule: String, RawConfigChoice {
    case constant, cosine
  }

  /// parallel.reduction: how the contributions are summed over ranks.
  public enum Reduction: String, RawConfigChoice {
    /// Bitwise the same for any number of ranks (SwiftMPI's exactSum).
    case exact
    /// A float all-reduce.
    case fast
  }

  /// inverse.coupling: where the bridge's start X0 = M(x) comes from.
  public enum Coupling: String, RawConfigChoice {
    /// A conjugate solve per sample, xhat(F(x)).
    case implicit
    /// The map network M_psi.
    case explicit
  }

  /// train.on_nan: what a NaN, an Inf or a lost dual does to the run.
  public enum OnNaN: String, RawConfigChoice {
    case stop, rollback
  }
}

/// model activations: relu | leaky-relu (slope 0.01) | softplus | elu.
extension Activation: ConfigChoice {
  public static let choices: [Activation] = [.relu, .leakyRelu(slope: 0.01), .softplus, .elu]
  public var description: String { name }
}

/// conjugate.solver: the training's conjugate solver (Solvers/ in PolarCore).
extension ConjugateSolverConfig.Method: RawConfigChoice {}
