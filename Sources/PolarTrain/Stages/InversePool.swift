// Stage inverse with `inverse.pool` = N: the implicit coupling (M(x), x), M(x) = grad u*(F(x)),
// solved once for N samples x ~ rho instead of for every batch. In high dimension the conjugate
// solves are nearly all of a bridge step's cost (LeNet, d = 222: about 50 L-BFGS iterations of
// the [128]^4 ICNN per sample, against one forward and backward pass of the bridge), and u does
// not change during the stage, so the pool holds the same pairs fresh batches would draw from
// the same law. The pool is a pure function of (seed, u, the amortizer): its micro-batches are
// solved on the ranks that own them and gathered whole on every rank, in global order, so it is
// the same bits for any N and is recomputed, not checkpointed, on resume. A batch row takes
// pool row floor(U * N), U counter-based on (seed, step, global sample index).
import PolarCore
import SwiftMPI

/// The solved couplings: x (rows of d), X0 = M(x), and whether each solve converged.
struct InversePool {
  var x: [Float]
  var x0: [Float]
  var converged: [Bool]
  var count: Int { converged.count }
}

extension Trainer {
  /// The pool of config.inverse.pool samples (rounded up to whole micro-batches). Collective.
  func makeInversePool() throws -> InversePool {
    let mb = config.parallel.microBatch, d = problem.dim
    let count = (config.inverse.pool + mb - 1) / mb
    let w = stepWorkspace
    useConjugateBudget()  // DualHealth may have raised it in stage potential
    w.load(potential: state.params(.potential), amortizer: state.params(.amortizer))
    var mine = [Float]()
    for m in microBatches(count: count, rank: world.rank, size: world.size) {
      problem.batch(seed: config.seed, purpose: .inversePool, step: 0, indices: m * mb ..< (m + 1) * mb, into: &w.x, &w.y)
      w.y.storage.withUnsafeBufferPointer { py in
        w.amortizer.forward(py.baseAddress!, rows: mb)
        w.solve(py.baseAddress!, rows: mb)
      }
      let s = w.solver
      mine += w.x.storage
      mine += UnsafeBufferPointer(start: s.x, count: mb * d)
      for r in 0 ..< mb { mine.append(s.converged[r] ? 1 : 0) }
    }
    w.release()
    // Gathered in rank order, which is micro-batch order: [x | X0 | converged] per micro-batch.
    var pool = InversePool(x: [], x0: [], converged: [])
    let block = mb * (2 * d + 1)
    for part in try world.allgatherv(mine) {
      for b in stride(from: 0, to: part.count, by: block) {
        pool.x += part[b ..< b + mb * d]
        pool.x0 += part[b + mb * d ..< b + 2 * mb * d]
        pool.converged += part[b + 2 * mb * d ..< b + block].map { $0 != 0 }
      }
    }
    return pool
  }

  /// Rows of micro-batch `m` of `step` from the pool: x into w.x, X0 into w.y; the pool rows taken.
  func poolBatch(_ pool: InversePool, step: Int, microBatch m: Int, _ w: StepWorkspace, rows: inout [Int]) {
    let mb = config.parallel.microBatch, d = problem.dim
    if w.x.rows != mb || w.x.cols != d { w.x = Matrix(rows: mb, cols: d) }
    if w.y.rows != mb || w.y.cols != d { w.y = Matrix(rows: mb, cols: d) }
    let rng = CounterRNG(seed: config.seed, stream: CounterRNG.streamID(Problem.Purpose.inversePool.rawValue, UInt64(step) + 1))
    for r in 0 ..< mb {
      let i = min(pool.count - 1, Int(rng.uniform(UInt64(m * mb + r)) * Double(pool.count)))
      rows[r] = i
      for j in 0 ..< d {
        w.x.storage[r * d + j] = pool.x[i * d + j]
        w.y.storage[r * d + j] = pool.x0[i * d + j]
      }
    }
  }
}
