// How well particles sample p ~ exp(-beta f) on a 2-D field with a known potential (the
// `langevin` command and its report): a reference sample (exact for the Gaussian mixture at
// beta = 1; else the density on a 1000 x 1000 grid over the box, Langevin.gridReference), the
// local minima of f inside the box (its critical points where the Hessian is positive
// definite), and for particles: the total variation between their shares of the modes (nearest
// mode) and the reference's, and the energy distance to the reference, beside its floor (that
// of a second sample of p of the size scored).
import Foundation
import PolarCore

public struct LangevinScoring: Sendable {
  public let reference: Matrix<Double>
  public let modes: [[Double]]
  public let referenceShares: [Double]
  /// The energy distance between an independent sample of p of `scored` points and the
  /// reference: what a perfect sampler scores, up to sampling noise.
  public let energyFloor: Double
  /// Particles scored (the first ones).
  public static let scored = 1024

  /// nil unless the field is 2-D with a known potential and rho a box.
  public init?(config: Config, problem: Problem, beta: Double, count: Int = 2048) {
    guard problem.dim == 2, let field = problem.field, field.potential(at: [0, 0]) != nil,
      case .uniform(let lo, let hi) = problem.reference
    else { return nil }
    // A sample of p: exact for the mixture at beta = 1, else from the density on the grid.
    func draw(_ count: Int, stream: UInt64) -> Matrix<Double> {
      let rng = CounterRNG(seed: config.seed, stream: CounterRNG.streamID(Problem.Purpose.langevin.rawValue, stream))
      guard case .toy(.gaussianMixture) = field.kind, beta == 1 else {
        return Langevin.gridReference(
          potential: { field.potential(at: [$0, $1])! }, beta: beta, lo: lo, hi: hi,
          count: count, rng: rng)
      }
      // Exact: a component by its weight, then mu_k + s N(0, I).
      var x = Matrix<Double>(rows: count, cols: 2)
      let cumulative = ToyField.mixtureWeights.reduce(into: [Double]()) { $0.append(($0.last ?? 0) + $1) }
      for r in 0 ..< count {
        let k = cumulative.firstIndex { rng.uniform(UInt64(3 * r)) < $0 } ?? cumulative.count - 1
        let m = ToyField.mixtureMeans[k]
        x[r, 0] = m.0 + ToyField.mixtureSigma * rng.normal(UInt64(3 * r + 1))
        x[r, 1] = m.1 + ToyField.mixtureSigma * rng.normal(UInt64(3 * r + 2))
      }
      return x
    }
    reference = draw(count, stream: 5)
    // The floor: the energy distance of a second sample of p, of the size scored, to the reference.
    energyFloor = energyDistance(draw(LangevinScoring.scored, stream: 6), reference)
    // Local minima: critical points with a positive definite Hessian (Jacobian of F = grad f).
    let critical = field.criticalPoints(lo: lo, hi: hi) ?? []
    modes = critical.filter { p in
      let h = field.jacobian(at: p)
      return h[0, 0] > 0 && h[0, 0] * h[1, 1] - h[0, 1] * h[1, 0] > 0
    }
    referenceShares = modes.isEmpty ? [] : Langevin.shares(reference, modes: modes)
  }

  /// [total variation of the mode shares against the reference's (nan without modes), energy distance].
  public func score(_ x: Matrix<Float>) -> [Double] {
    let tv = modes.isEmpty ? Double.nan : Langevin.totalVariation(Langevin.shares(x, modes: modes), referenceShares)
    let k = min(x.rows, LangevinScoring.scored)
    let head = Matrix(rows: k, cols: 2, storage: x.storage[0 ..< 2 * k].map(Double.init))
    return [tv, energyDistance(head, reference)]
  }
}
