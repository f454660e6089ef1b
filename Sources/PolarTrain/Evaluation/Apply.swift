// `apply` (issue 17): the trained factorization at the n rows x of an HDF5 file, streamed.
//   u(x), grad u(x)                          always (the potential needs no F)
//   M_net(x)                                 when the map stage was trained
//   M(x) = grad u*(F(x)), grad u(M(x))       when F is known at x: dataset F [n, d] of the input,
//                                            else the run's built-in field (not a field file)
// The rows go through in chunks of `chunkRows(dim:)` (about 2^22 floats), so a rank's memory is
// bounded independently of n: the chunk's rows in 8 float copies plus the read's double copies,
// at most about 200 MB, and 1024-row evaluators. A chunk is cut into micro-batches of 1024 rows
// at fixed global offsets; each rank takes a contiguous block of them, and every value of a row
// is computed within its micro-batch only (the conjugate solve's batch included), so the output
// is the same bytes for any number of ranks.
import Foundation
import ParallelHDF5
import PolarCore
import SwiftMPI

public enum Apply {
  /// Rows of one micro-batch: the unit of computation, fixed for any number of ranks.
  public static let microBatch = 1024

  /// Rows of one chunk (a multiple of the micro-batch): about 2^22 floats of x, 64 micro-batches at most.
  public static func chunkRows(dim: Int) -> Int {
    min(64, max(1, (1 << 22) / max(dim, 1) / microBatch)) * microBatch
  }

  /// This rank's rows of `chunk`: a contiguous block of its micro-batches.
  public static func rows(of chunk: Range<Int>, rank: Int, size: Int) -> Range<Int> {
    let count = (chunk.count + microBatch - 1) / microBatch
    let mine = microBatches(count: count, rank: rank, size: size)
    let lo = min(chunk.lowerBound + mine.lowerBound * microBatch, chunk.upperBound)
    return lo ..< min(chunk.lowerBound + mine.upperBound * microBatch, chunk.upperBound)
  }

  /// The datasets written, in order, and whether each is a row of d values (u is one value).
  public static func outputs(withM: Bool, mapTrained: Bool) -> [(name: String, wide: Bool)] {
    [("x", true), ("u", false), ("grad_u", true)] + (withM ? [("M", true), ("grad_u_of_M", true)] : [])
      + (mapTrained ? [("M_net", true)] : [])
  }
}

/// The networks of one checkpoint, loaded once into 1024-row evaluators, evaluated one
/// micro-batch at a time.
public final class PointEvaluator {
  let nets: Networks
  let state: TrainState
  let solver: ConjugateSolverConfig
  let potential: ICNNEvaluator<Float>
  let mapTrained: Bool

  public init(nets: Networks, state: TrainState, solver: ConjugateSolverConfig, mapTrained: Bool) {
    self.nets = nets
    self.state = state
    self.solver = solver
    self.mapTrained = mapTrained
    potential = ICNNEvaluator<Float>(nets.potential, capacity: Apply.microBatch)
    potential.load(state.params(.potential))
  }

  /// The outputs at the rows of x (at most one micro-batch), F at them when known; by name as in
  /// Apply.outputs (x itself excluded).
  public func evaluate(_ x: Matrix<Float>, f: Matrix<Float>?) -> [String: [Float]] {
    precondition(x.rows <= Apply.microBatch, "PointEvaluator: \(x.rows) rows, at most \(Apply.microBatch)")
    let (u, gradU) = potential.evaluate(x)
    var out = ["u": u, "grad_u": gradU.storage]
    if let f {
      let m = nets.conjugate(f, state: state, solver: solver, evaluator: potential).x
      out["M"] = m.storage
      out["grad_u_of_M"] = potential.evaluate(m).grad.storage
    }
    if mapTrained { out["M_net"] = nets.map(state.params(.map), x).storage }
    return out
  }
}
