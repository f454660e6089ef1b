// The run configuration (docs/design.md §5): TOML with fixed sections and keys, defaults for everything,
// `--set section.key=value` overrides. Unknown keys and bad values are refused with the file and
// the key in the message. Every key is declared once in ConfigKeys.swift, with its
// documentation, validation and rendering; docs/configuration.md's table lists the same keys.
import Foundation
import PolarCore
import SwiftMPI
import TOMLKit

public struct Config: Sendable, Equatable {
  public var seed: UInt64 = 0

  public struct Problem: Sendable, Equatable {
    public var dim = 2
    public var field = Field.linear
    public var reference = Reference.gaussian
    public var box: [Double] = [-1, 1]
    public var file = "field.h5"
    /// linear: the matrix A (rows); empty: drawn from field_seed with condition number <= condition.
    public var matrix: [[Double]] = []
    public var condition = 8.0
    public var fieldSeed: UInt64 = 1
    /// topography: the elevation grid's dataset in `file`, Gaussian smoothing (grid cells) and
    /// the share of grid cells held out for evaluation.
    public var dataset = "elevation"
    public var smoothing = 2.0
    public var holdout = 0.1
    public var firstRow = FirstRow.top
    public var holdoutBlock = 8
    /// field = "file": the share of the file's rows held out of training as a validation set
    /// (0: none; Validation.swift).
    public var validation = 0.0
    /// classifier-loss: the network (mlp or lenet), the MLP's hidden width h, images in the fixed
    /// minibatch, the IDX labels file when `file` is an IDX images file, and k x k average pooling
    /// of the images.
    public var classifier = Classifier.mlp
    public var classifierHidden = 3
    public var images = 128
    public var labels = ""
    public var pool = 1
  }

  public struct Potential: Sendable, Equatable {
    public var hidden = [64, 64, 64, 64]
    public var rank = 1
    /// elu, not relu: with relu, grad u is discontinuous and conjugate solves stall (measured:
    /// 14% unconverged, residual p99 0.44); the authors' configuration uses elu too.
    public var activation = Activation.elu
    public var initialization = Initialization.identity
    /// 4000, not the original design's 2000: at 2000 the rotated-convex field in d = 8 stays
    /// 3.5% off (bias from too few steps: a larger final learning rate, parameter averaging and
    /// other peak rates did not help; 4000 steps give 2.7%), and 4000 steps of d = 16 take 3m46s
    /// on 2 ranks.
    public var steps = 4000
    public var batch = 1024
    public var lr = 1e-2
    public var schedule = Schedule.cosine
    public var lrFinal = 1e-4
    public var warmup = 0
    public var clip = 0.0
  }

  public struct Amortizer: Sendable, Equatable {
    public var hidden = [64, 64, 64, 64]
    public var activation = Activation.elu
    public var residual = true
    public var lr = 1e-3
  }

  public struct Conjugate: Sendable, Equatable {
    public var solver = ConjugateSolverConfig.Method.lbfgs
    public var maxIter = 20
    public var tol = 1e-5
    public var history = 8
    public var lr = 0.1
  }

  public struct MapStage: Sendable, Equatable {
    public var steps = 1000
    public var hidden = [64, 64, 64, 64]
    public var activation = Activation.elu
    public var residual = false
    /// Random Fourier features of x as M_psi's input (FourierFeatures): their count K (0: x
    /// itself) and the frequencies' standard deviation sigma, in cycles per unit of x.
    public var fourier = 0
    public var fourierScale = 4.0
    public var batch = 1024
    public var lr = 5e-3
  }

  public struct Inverse: Sendable, Equatable {
    public var steps = 0
    // sigma 1 (the original design: 0.1, docs/design.md §1), width 256, lr 1e-2 (cosine to
    // 1e-4), time_power 2: see docs/configuration.md "Inverse map and critical points".
    public var sigma = 1.0
    public var hidden = [256, 256, 256]
    public var activation = Activation.elu
    public var frequencies = 16
    /// Time sampling t = 1 - (1 - u)^p, u ~ U(0.001, 0.999): p = 1 is uniform (the authors').
    public var timePower = 2.0
    public var batch = 1024
    public var lr = 1e-2
    /// Where X0 = M(x) comes from: "implicit" (a conjugate solve) or "explicit" (M_net).
    public var coupling = Coupling.implicit
    /// Implicit coupling: 0 solves M(x) afresh for every batch (the authors'); N > 0 solves it
    /// once for a pool of N samples at the start of the stage and draws the batches from it.
    public var pool = 0
  }

  public struct Checkpoint: Sendable, Equatable {
    public var every = 500
    public var keep = 3
    public var dir = "checkpoints"
  }

  public struct Parallel: Sendable, Equatable {
    public var reduction = Reduction.exact
    public var microBatch = 64
    /// Stage potential reduces the gradients at x behind the conjugate solves (Reducer). Off by
    /// default: on 2 cores it hid a third of the reduction's wait but cost as much in the step
    /// (docs/benchmark.md, "Across hosts").
    public var overlap = false
    /// Seconds without a heartbeat after which a peer rank counts as gone (Watchdog); 0: off.
    public var watchdog = 30.0
  }

  public struct Train: Sendable, Equatable {
    public var logEvery = 50
    public var onNaN = OnNaN.stop
    public var evalSamples = 4096
    /// Write report/index.html at the end of `train` (after sample and langevin, when asked).
    public var report = true
  }

  /// After training (needs the inverse map): samples of M^-1(grad u*(0)) into RUN/samples.h5.
  public struct SampleStep: Sendable, Equatable {
    public var count = 0
    public var refine = 20
  }

  /// After training (needs the inverse map): `polar-train langevin` into RUN/langevin.h5.
  public struct LangevinStep: Sendable, Equatable {
    public var steps = 0
    public var particles = 1024
    public var stepSize = 1e-3
    public var beta = 1.0
    public var every = 50
    public var inner = 50
    public var innerStepSize = 1e-3
    public var start: [Double] = []
    public var warmup = 0
    public var refresh = 0
    public var refreshLR = 1.0
  }

  public var problem = Problem()
  public var potential = Potential()
  public var amortizer = Amortizer()
  public var conjugate = Conjugate()
  public var map = MapStage()
  public var inverse = Inverse()
  public var checkpoint = Checkpoint()
  public var parallel = Parallel()
  public var train = Train()
  public var sample = SampleStep()
  public var langevin = LangevinStep()

  public init() {}
}
extension Config {
  /// Defaults (or `base`, e.g. a checkpoint's configuration), then the TOML file (when given),
  /// then the `--set key=value` overrides in order, then the cross-key checks.
  /// A fresh configuration (base = the defaults) gets the defaults that scale with problem.dim
  /// (scaledDefaults) for every such key neither the file nor an override gives.
  public static func load(file: String?, overrides: [String], base: Config = Config()) throws -> Config {
    var config = base
    var given = Set<String>()
    if let file {
      let text: String
      do {
        text = try String(contentsOfFile: file, encoding: .utf8)
      } catch {
        throw ConfigError(source: file, key: "", message: "cannot read the configuration file")
      }
      try config.apply(toml: text, source: file)
      given = Set(ConfigKeys.all.map(\.path).filter { keyPresent($0, in: text) })
    }
    given.formUnion(overrides.compactMap { $0.split(separator: "=", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces) } })
    for item in overrides {
      guard let eq = item.firstIndex(of: "=") else {
        throw ConfigError(source: "--set", key: clipped(item), message: "expected key=value")
      }
      let key = String(item[..<eq]).trimmingCharacters(in: .whitespaces)
      let raw = String(item[item.index(after: eq)...]).trimmingCharacters(in: .whitespaces)
      guard let spec = ConfigKeys.all.first(where: { $0.path == key }) else {
        throw ConfigError(source: "--set", key: clipped(key), message: "unknown key\(ConfigKeys.suggestion(key))")
      }
      // One value per --set: a line break would hide a second key=value that TOML parses and we
      // would drop (issue 16).
      if raw.contains(where: { $0.isNewline }) {
        throw ConfigError(source: "--set", key: key, message: "the value spans several lines: give one key=value per --set")
      }
      // The value is TOML (numbers, arrays, quoted strings); a bare word is taken as a string.
      let value: TOMLValueConvertible
      if let table = try? TOMLTable(string: "v = \(raw)"), let v = table["v"] {
        value = v
      } else {
        value = raw
      }
      try spec.read(&config, value, ConfigError(source: "--set", key: key, message: ""))
    }
    if base == Config() { config.scaleDefaults(except: given) }
    try config.validate(source: file ?? "configuration")
    return config
  }

  /// Whether a TOML document sets `key` ("section.name").
  static func keyPresent(_ key: String, in text: String) -> Bool {
    let parts = key.split(separator: ".").map(String.init)
    guard parts.count == 2, let table = try? TOMLTable(string: text) else { return false }
    return table[parts[0]]?.table?[parts[1]] != nil
  }

  /// The defaults that depend on the dimension d, measured on launch/quality's instances (docs/quality.md;
  /// 2 ranks):
  /// - from d = 16 the potential is an ICNN [128]^4 with rank-4 quadratic terms (at d = 16:
  ///   0.76% L2-UVP against 4.3% with [64]^4 rank 1, 4,000 steps);
  /// - from d = 32 the conjugate solves stop at |grad u(x) - y| <= 1e-3 (Amos's gtol, w2ot's
  ///   lbfgs_high_precision) instead of 1e-5, which in float32 is near the rounding of a d-term
  ///   gradient (d = 64, 800 steps: 12.3% L2-UVP in 155 s against 13.2% in 258 s; 1e-4: 12.6%,
  ///   193 s; 1e-2: 12.9%, 146 s), and train 6,000 steps instead of 4,000.
  struct ScaledDefaults: Equatable {
    var hidden: [Int], rank: Int, tol: Double, steps: Int
  }

  static func scaledDefaults(dim d: Int) -> ScaledDefaults {
    let base = Config()
    var s = ScaledDefaults(
      hidden: base.potential.hidden, rank: base.potential.rank, tol: base.conjugate.tol,
      steps: base.potential.steps)
    if d >= 16 { (s.hidden, s.rank) = ([128, 128, 128, 128], 4) }
    if d >= 32 { (s.tol, s.steps) = (1e-3, 6000) }
    return s
  }

  mutating func scaleDefaults(except given: Set<String>) {
    let scaled = Config.scaledDefaults(dim: problem.dim)
    if !given.contains("potential.hidden") { potential.hidden = scaled.hidden }
    if !given.contains("potential.rank") { potential.rank = scaled.rank }
    if !given.contains("potential.steps") { potential.steps = scaled.steps }
    if !given.contains("conjugate.tol") { conjugate.tol = scaled.tol }
  }

  /// Applies every key of a TOML document; unknown keys and sections are errors.
  mutating func apply(toml text: String, source: String) throws {
    // What the TOML library would mishandle: a NUL (raw, or escaped, which would silently cut a
    // string) and array-of-tables headers (an assertion aborts the process on malformed ones;
    // the configuration has no arrays of tables anyway).
    for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      if line.contains("\u{0}") || line.contains("\\u0000") || line.contains("\\U00000000") {
        throw ConfigError(source: source, key: "", message: "line \(number + 1): a NUL character is not allowed")
      }
      if line.drop(while: { $0 == " " || $0 == "\t" }).hasPrefix("[[") {
        throw ConfigError(source: source, key: "", message: "line \(number + 1): arrays of tables ([[...]]) are not part of the configuration")
      }
    }
    let table: TOMLTable
    do {
      table = try TOMLTable(string: text)
    } catch let error as TOMLParseError {
      throw ConfigError(
        source: source, key: "",
        message: "malformed TOML at line \(error.source.begin.line), column \(error.source.begin.column): \(error.description)")
    }
    for key in table.keys.sorted() {
      guard let value = table[key] else { continue }
      if let section = value.table, ConfigKeys.sections.contains(key) {
        for sub in section.keys.sorted() {
          let path = "\(key).\(sub)"
          guard let spec = ConfigKeys.all.first(where: { $0.path == path }) else {
            throw ConfigError(source: source, key: clipped(path), message: "unknown key\(ConfigKeys.suggestion(path))")
          }
          try spec.read(&self, section[sub]!, ConfigError(source: source, key: path, message: ""))
        }
      } else if let spec = ConfigKeys.all.first(where: { $0.path == key }) {
        try spec.read(&self, value, ConfigError(source: source, key: key, message: ""))
      } else {
        throw ConfigError(source: source, key: clipped(key), message: "unknown key\(ConfigKeys.suggestion(key))")
      }
    }
  }

  /// Checks that involve several keys.
  func validate(source: String) throws {
    func fail(_ key: String, _ message: String) -> ConfigError { ConfigError(source: source, key: key, message: message) }
    if potential.batch % parallel.microBatch != 0 {
      throw fail("parallel.micro_batch", "must divide potential.batch (\(potential.batch)), got \(parallel.microBatch)")
    }
    if map.steps > 0 && map.batch % parallel.microBatch != 0 {
      throw fail("parallel.micro_batch", "must divide map.batch (\(map.batch)), got \(parallel.microBatch)")
    }
    // The exact sum's digit sums stay exact for at most 2^20 contributions (micro-batches) per step.
    let stages = [
      ("potential.batch", potential.batch, true), ("map.batch", map.batch, map.steps > 0),
      ("inverse.batch", inverse.batch, inverse.steps > 0),
    ]
    for (key, batch, used) in stages where used && batch / parallel.microBatch > FixedPointSum.maxContributions {
      throw fail(key, "at most \(FixedPointSum.maxContributions) micro-batches of parallel.micro_batch = \(parallel.microBatch) per step, got \(batch)")
    }
    if problem.box[0] >= problem.box[1] {
      throw fail("problem.box", "needs lo < hi, got \(problem.box)")
    }
    if problem.field == .linear && !problem.matrix.isEmpty {
      if problem.matrix.count != problem.dim || problem.matrix.contains(where: { $0.count != problem.dim }) {
        throw fail("problem.matrix", "must be \(problem.dim) x \(problem.dim) (problem.dim)")
      }
    }
    if case .toy = problem.field, problem.dim != 2 {
      throw fail("problem.dim", "field \(problem.field) is 2-D, got dim = \(problem.dim)")
    }
    if problem.field == .topography || problem.field == .classifierLoss, problem.reference != .uniform {
      throw fail("problem.reference", "field \(problem.field) needs reference = \"uniform\" (the box), got \"\(problem.reference)\"")
    }
    if problem.field == .topography && problem.dim != 2 {
      throw fail("problem.dim", "field topography is 2-D, got dim = \(problem.dim)")
    }
    if problem.reference == .data && problem.field != .file {
      throw fail("problem.reference", "\"data\" needs field = \"file\"")
    }
    if inverse.steps > 0 && inverse.batch % parallel.microBatch != 0 {
      throw fail("parallel.micro_batch", "must divide inverse.batch (\(inverse.batch)), got \(parallel.microBatch)")
    }
    if sample.count > 0 && inverse.steps == 0 {
      throw fail("sample.count", "samples of M^-1 need the inverse stage (inverse.steps > 0)")
    }
    if langevin.steps > 0 && inverse.steps == 0 {
      throw fail("langevin.steps", "LMC-NPF needs the inverse stage (inverse.steps > 0)")
    }
    if !langevin.start.isEmpty && langevin.start.count != problem.dim {
      throw fail("langevin.start", "\(langevin.start.count) coordinates, problem.dim is \(problem.dim)")
    }
    if inverse.pool > 0 && inverse.coupling == .explicit {
      throw fail("inverse.pool", "a pool of solved couplings is for inverse.coupling = \"implicit\" (M_net is cheap already)")
    }
    if inverse.steps > 0 && inverse.coupling == .explicit && map.steps == 0 {
      throw fail("inverse.coupling", "\"explicit\" needs the map stage (map.steps > 0)")
    }
  }

  /// The resolved configuration as TOML, every key, in declaration order (config.toml of a run).
  public var toml: String {
    var out = ""
    var section = ""
    for spec in ConfigKeys.all {
      let parts = spec.path.split(separator: ".")
      if parts.count == 2 && String(parts[0]) != section {
        section = String(parts[0])
        out += "\n[\(section)]\n"
      }
      out += "\(parts.last!) = \(spec.render(self))\n"
    }
    return out
  }

  /// Keys whose values differ between two configurations (for compatibility checks).
  public func differingKeys(from other: Config) -> [String] {
    ConfigKeys.all.filter { $0.render(self) != $0.render(other) }.map(\.path)
  }
}

extension Config {
  /// Every key with its default and meaning, as a Markdown table (docs/configuration.md's table).
  public static var keyReference: String {
    let defaults = Config()
    var lines = ["| key | default | meaning |", "|---|---|---|"]
    for spec in ConfigKeys.all {
      lines.append("| `\(spec.path)` | `\(spec.render(defaults))` | \(spec.doc.replacingOccurrences(of: "|", with: "\\|")) |")
    }
    return lines.joined(separator: "\n")
  }
}

extension Config {
  /// The conjugate solver settings of [conjugate]; evaluation (evaluate, apply, the end of train)
  /// uses L-BFGS with at least 100 iterations, since there a solve is an answer, not a training
  /// signal, and L-BFGS reaches the tolerance in far fewer evaluations than Adam.
  public func solver(evaluation: Bool) -> ConjugateSolverConfig {
    var s = ConjugateSolverConfig(
      maxIterations: evaluation ? max(100, conjugate.maxIter) : conjugate.maxIter,
      tolerance: conjugate.tol)
    s.history = conjugate.history
    if !evaluation {
      s.method = conjugate.solver
      s.adamLearningRate = conjugate.lr
    }
    return s
  }
}
