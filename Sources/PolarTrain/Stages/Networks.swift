// The networks of a run and their training state, built from the configuration: u_theta (ICNN),
// the amortizer g_phi, and the explicit map M_psi. Each has one flat Float32 arena and Adam state.
import Foundation
import PolarCore
import SwiftMPI

public struct Networks: Sendable {
  public let potential: ICNN
  public let amortizer: MLP
  public let map: MLP
  public let inverse: BridgeNetwork

  public init(_ config: Config) {
    let d = config.problem.dim
    potential = ICNN(
      dim: d, hidden: config.potential.hidden, rank: config.potential.rank,
      activation: config.potential.activation)
    amortizer = MLP(
      input: d, output: d, hidden: config.amortizer.hidden,
      activation: config.amortizer.activation,
      residual: config.amortizer.residual)
    map = MLP(
      input: d, output: d, hidden: config.map.hidden,
      activation: config.map.activation, residual: config.map.residual,
      fourier: config.map.fourier > 0 ? FourierFeatures(input: d, count: config.map.fourier, scale: config.map.fourierScale) : nil)
    inverse = BridgeNetwork(
      dim: d, hidden: config.inverse.hidden, frequencies: config.inverse.frequencies,
      activation: config.inverse.activation)
  }

  /// Checkpoint group names, in checksum order.
  public static let names = NetworkName.allCases

  /// xhat(y) = grad u*(y) for every row of y: the conjugate solve of the potential held in
  /// `state`, warm-started at `start` (by default the amortizer's g(y)). u's parameters are
  /// packed once per solve (ICNNEvaluator: all quadratic potentials in one product, buffers
  /// allocated once), not once per evaluation of u.
  /// `evaluator`: one already loaded with the state's potential (made here when nil).
  public func conjugate(
    _ y: Matrix<Float>, state: TrainState, solver: ConjugateSolverConfig,
    start: Matrix<Float>? = nil, evaluator: ICNNEvaluator<Float>? = nil
  ) -> ConjugateResult<Float> {
    let evaluator =
      evaluator
      ?? {
        let e = ICNNEvaluator<Float>(potential, capacity: min(max(y.rows, 1), 1024))
        e.load(state.params(.potential))
        return e
      }()
    let x0 = start ?? amortizer(state.params(.amortizer), y)
    return solveConjugate(y: y, start: x0, config: solver) { evaluator.evaluate($0) }
  }

  public func layout(_ name: NetworkName) -> ArenaLayout {
    switch name {
    case .potential: potential.layout
    case .amortizer: amortizer.layout
    case .map: map.layout
    case .inverse: inverse.layout
    }
  }

  /// A network's parameters at the start of a run, from the seed (identical on every rank);
  /// `gaussian`: the potential's start at the Bures map (potential.init = "gaussian").
  func initialParameters(_ name: NetworkName, seed: UInt64, gaussian: (s: Matrix<Double>, t: [Double])?) -> [Float] {
    switch name {
    case .potential: potential.initialParameters(seed: seed, gaussianMap: gaussian)
    case .amortizer: amortizer.initialParameters(seed: seed, stream: 1)
    case .map: map.initialParameters(seed: seed, stream: 2)
    case .inverse: inverse.initialParameters(seed: seed)
    }
  }
}

/// Parameters and optimizer state of one network.
public struct NetworkState: Sendable, Equatable {
  public var params: [Float]
  public var adam: AdamState<Float>

  public init(params: [Float]) {
    self.params = params
    adam = AdamState(count: params.count)
  }

  /// One Adam step on these parameters, in place (no copy of params or moments).
  mutating func adamStep(grad: [Float], config: AdamConfig) -> AdamStepReport {
    PolarCore.adamStep(&params, grad: grad, state: &adam, config: config)
  }
}

/// Everything a run needs to continue: stage, step, and every network's state.
public struct TrainState: Sendable, Equatable {
  public var stage: Stage
  /// Steps completed in `stage`.
  public var step: Int
  public var networks: [NetworkName: NetworkState]
  /// Learning-rate multiplier: 1, halved by each NaN rollback (`[train] on_nan = "rollback"`).
  public var lrScale: Double = 1
  /// NaN rollbacks so far (at most 3).
  public var rollbacks = 0
  /// The training conjugate solver's budget: conjugate.max_iter, raised by DualHealth when too
  /// few solves converge (0: not yet set, the configuration's).
  public var conjugateMaxIter = 0
  /// Steps at which DualHealth found the dual lost, and what it found the first time ("").
  public var dualAlerts = 0
  public var dualNote = ""
  /// problem.validation: the lowest validation dual so far and the checkpoint that had it.
  public var bestValidation = Double.infinity
  public var bestCheckpoint = ""

  /// A network's parameters (every state holds all networks, but one being inspected).
  public func params(_ name: NetworkName) -> [Float] { networks[name]!.params }

  /// The solver budget in effect: the adapted one, never below the configuration's.
  public func conjugateBudget(_ config: Config) -> Int { max(conjugateMaxIter, config.conjugate.maxIter) }

  /// Samples of (x, F(x)) the Gaussian start is fitted to: the fitted map's error is about
  /// sqrt(d / n) (4,096 left 3.6% at d = 16; 16,384 gives half that).
  public static let gaussianSamples = 16_384

  /// Fresh state: networks initialised from the seed (identical on every rank).
  public static func initial(_ config: Config, _ nets: Networks, problem: Problem) -> TrainState {
    var gaussian: (s: Matrix<Double>, t: [Double])? = nil
    if config.potential.initialization == .gaussian {
      // The Bures map between Gaussians fitted to rho and F#rho (docs/design.md §1).
      let (x, y) = problem.batch(seed: config.seed, purpose: .evaluation, step: -1, indices: 0 ..< TrainState.gaussianSamples)
      let (m0, c0) = meanAndCovariance(x), (m1, c1) = meanAndCovariance(y)
      gaussian = gaussianMap(mean0: m0, cov0: regularised(c0), mean1: m1, cov1: regularised(c1))
    }
    var networks: [NetworkName: NetworkState] = [:]
    for name in NetworkName.allCases {
      networks[name] = NetworkState(params: nets.initialParameters(name, seed: config.seed, gaussian: gaussian))
    }
    return TrainState(stage: .potential, step: 0, networks: networks)
  }

  /// FNV-1a 64 over the bytes of everything a checkpoint stores of the networks, in
  /// `Networks.names` order: parameters, then Adam's m, v and t (so a flipped byte in the
  /// optimizer state is caught too, not only in the parameters).
  public var checksum: UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    func mix(_ word: UInt64, bytes: Int) {
      var w = word
      for _ in 0 ..< bytes {
        h = (h ^ (w & 0xFF)) &* 0x0000_0100_0000_01B3
        w >>= 8
      }
    }
    for name in Networks.names {
      guard let net = networks[name] else { continue }
      for vector in [net.params, net.adam.m, net.adam.v] {
        for v in vector { mix(UInt64(v.bitPattern), bytes: 4) }
      }
      mix(UInt64(bitPattern: Int64(net.adam.t)), bytes: 8)
    }
    return h
  }

  /// Confirms that every rank holds the same parameters (docs/design.md §3), collectively.
  public func confirmIdentical(_ world: Communicator) throws {
    let c = Int64(bitPattern: checksum)
    let lo = try world.allreduce(c, op: .min), hi = try world.allreduce(c, op: .max)
    guard lo == hi else {
      throw TrainingError(message: "ranks disagree on the parameters (checksums differ)")
    }
  }
}

/// Covariance with a small ridge, so that degenerate samples still give a positive definite map.
func regularised(_ c: Matrix<Double>) -> Matrix<Double> {
  var r = c
  let scale = (0 ..< c.rows).map { c[$0, $0] }.max() ?? 1
  for i in 0 ..< c.rows { r[i, i] += 1e-6 * max(scale, 1e-12) }
  return r
}
