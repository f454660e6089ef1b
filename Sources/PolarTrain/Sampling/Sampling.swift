// Distributed sampling of M^-1(y) with the trained bridge network (docs/design.md §1 steps 3-4). Sample
// i of `total` belongs to target i / perPoint; its noise at Euler step k is drawn from
// (seed, step k, index i), and samples are computed in fixed chunks of `chunk` rows (chunk c
// = rows [c * chunk, (c + 1) * chunk)), each rank taking a contiguous block of whole chunks, so
// every matrix shape, and so every byte of the result, is the same for any number of ranks.
import Foundation
import PolarCore

public enum Sampling {
  public static let chunk = 256

  /// y* = grad u*(0) = argmin u: the image under M of every critical point of f when F = grad f.
  public static func criticalTarget(config: Config, nets: Networks, state: TrainState) -> [Float] {
    var solver = config.solver(evaluation: true)
    solver.maxIterations = max(solver.maxIterations, 500)
    return nets.conjugate(Matrix(rows: 1, cols: config.problem.dim), state: state, solver: solver).x.row(0)
  }

  /// The rows [lo, hi) of the `total` samples that rank r of n computes (whole chunks).
  public static func rows(total: Int, rank: Int, size: Int) -> Range<Int> {
    let chunks = (total + chunk - 1) / chunk
    let mine = microBatches(count: chunks, rank: rank, size: size)
    return min(total, mine.lowerBound * chunk) ..< min(total, mine.upperBound * chunk)
  }

  /// Samples of M^-1(targets[i / perPoint - targetOffset]) for the global rows `rows` (whole
  /// chunks); `noiseStream` separates independent uses (the `sample` command uses 0).
  public static func draw(
    config: Config, nets: Networks, state: TrainState, targets: Matrix<Float>,
    perPoint: Int, rows: Range<Int>, steps: Int, noiseStream: UInt64 = 0,
    targetOffset: Int = 0
  ) -> Matrix<Float> {
    let d = config.problem.dim
    let v = state.params(.inverse)
    var out = Matrix<Float>(rows: rows.count, cols: d)
    let sampler = BridgeSampler<Float>(nets.inverse, capacity: chunk)
    var y = [Float](repeating: 0, count: chunk * d)
    for lo in stride(from: rows.lowerBound, to: rows.upperBound, by: chunk) {
      let hi = min(rows.upperBound, lo + chunk)
      for r in 0 ..< hi - lo { for j in 0 ..< d { y[r * d + j] = targets[(lo + r) / perPoint - targetOffset, j] } }
      y.withUnsafeBufferPointer { py in
        out.storage.withUnsafeMutableBufferPointer { po in
          sampler.sample(
            v, from: py.baseAddress!, rows: hi - lo, steps: steps, sigma: Float(config.inverse.sigma),
            noise: { k, eps in
              let rng = CounterRNG(
                seed: config.seed,
                stream: CounterRNG.streamID(Problem.Purpose.sampling.rawValue, noiseStream, UInt64(k)))
              for r in 0 ..< hi - lo { for j in 0 ..< d { eps[r * d + j] = Float(rng.normal(UInt64((lo + r) * d + j))) } }
            },
            into: po.baseAddress! + (lo - rows.lowerBound) * d)
        }
      }
    }
    return out
  }

  /// M at the rows of x: implicit (a conjugate solve of F(x)) when F can be evaluated, else M_net
  /// when the map stage ran, else nil.
  public static func mapAt(
    _ x: Matrix<Float>, config: Config, nets: Networks, state: TrainState,
    field: Field?
  ) -> Matrix<Float>? {
    if let field { return conjugateAt(field(x), config: config, nets: nets, state: state) }
    if config.map.steps > 0 { return nets.map(state.params(.map), x) }
    return nil
  }

  /// grad u*(y) for the rows of y (M(x) = grad u*(F(x)) when y = F(x)), solved chunk by chunk
  /// (rows [c * chunk, (c + 1) * chunk) of this rank's whole chunks), so the shapes, and so the
  /// bytes, do not depend on the number of ranks.
  public static func conjugateAt(_ y: Matrix<Float>, config: Config, nets: Networks, state: TrainState) -> Matrix<Float> {
    var m = Matrix<Float>(rows: y.rows, cols: y.cols)
    for lo in stride(from: 0, to: y.rows, by: chunk) {
      let hi = min(y.rows, lo + chunk)
      let part = Matrix(rows: hi - lo, cols: y.cols, storage: Array(y.storage[lo * y.cols ..< hi * y.cols]))
      let s = nets.conjugate(part, state: state, solver: config.solver(evaluation: true))
      for i in 0 ..< s.x.storage.count { m.storage[lo * y.cols + i] = s.x.storage[i] }
    }
    return m
  }

  /// For every known point, how many samples (rows of the flat `samples`) lie within `tolerance`.
  public static func recovery(known: [[Double]], samples: [Double], dim: Int, tolerance: Double) -> [Int] {
    known.map { k in
      var hits = 0
      for r in stride(from: 0, to: samples.count, by: dim) {
        var d2 = 0.0
        for j in 0 ..< dim {
          let e = samples[r + j] - k[j]
          d2 += e * e
        }
        if d2.squareRoot() <= tolerance { hits += 1 }
      }
      return hits
    }
  }

  /// The q-quantiles of `values` (nearest rank), for the summary.
  public static func quantiles(_ values: [Double], _ qs: [Double] = [0.1, 0.5, 0.9, 0.99]) -> [Double] {
    let sorted = values.filter { $0.isFinite }.sorted()
    guard !sorted.isEmpty else { return qs.map { _ in .nan } }
    return qs.map { sorted[min(sorted.count - 1, Int(($0 * Double(sorted.count)).rounded(.down)))] }
  }
}
