// The buffers of the training steps (docs/design.md §1), made at a stage's first step and kept: once
// warmed up a step allocates nothing of its own (metrics.jsonl "allocations"; the TrainingTests
// check it). One micro-batch at a time runs through them: the batch (x, y), the amortizer g(y),
// the conjugate solve from g(y) with the ICNN evaluator as its potential; then stage potential's
// dual envelope gradients and amortizer regression, stage map's M_psi regression, or stage
// inverse's bridge matching, written into the micro-batch's slot of the reduction buffer; then
// the step's mean gradients.
import PolarCore

final class StepWorkspace {
  let evaluator: ICNNEvaluator<Float>
  let amortizer: MLPEvaluator<Float>
  let solver: any ConjugateSolver<Float>
  var x = Matrix<Float>(rows: 0, cols: 0), y = Matrix<Float>(rows: 0, cols: 0)
  var dy: [Float]  // [mb, d]: d|g(y) - xhat|^2 / dg
  var gradU: [Float], gradA: [Float]  // the step's mean gradients
  var gradient: [Float] = []  // a regression stage's mean gradient
  var figures: [String: Double] = [:]  // the step's figures, capacity kept
  // Stages map and inverse (made at their first step): M_psi, the bridge network v, its input
  // rows z = [x_t | X0 | time features], endpoints X1 and times t of the rows used.
  var map: MLPEvaluator<Float>?
  var bridge: MLPEvaluator<Float>?
  var z: [Float] = [], x1: [Float] = [], t: [Float] = []
  // Stage potential with overlap: the rank's micro-batches (x, y) and sum u(x), kept from the
  // gradients at x (first pass) to the solves (second pass); made at the first step.
  var xs: [Matrix<Float>] = [], ys: [Matrix<Float>] = []
  var sumU: [Double] = []
  /// Called after every evaluation of the solver: lets MPI move an overlapped all-reduce on.
  var poll: (() -> Void)?

  init(nets: Networks, microBatch mb: Int, dim d: Int, solver config: ConjugateSolverConfig) {
    evaluator = ICNNEvaluator(nets.potential, capacity: mb)
    amortizer = MLPEvaluator(nets.amortizer, capacity: mb)
    solver = makeConjugateSolver(capacity: mb, dim: d, config: config)
    dy = [Float](repeating: 0, count: mb * d)
    gradU = [Float](repeating: 0, count: nets.potential.parameterCount)
    gradA = [Float](repeating: 0, count: nets.amortizer.parameterCount)
    figures.reserveCapacity(16)
  }

  /// Room for k micro-batches of mb rows (allocates at a stage's first step only).
  func reserveBatches(_ k: Int, rows mb: Int, dim d: Int) {
    while xs.count < k {
      xs.append(Matrix(rows: mb, cols: d))
      ys.append(Matrix(rows: mb, cols: d))
    }
    if sumU.count < k { sumU = [Double](repeating: 0, count: k) }
  }

  /// The networks' current parameters, for this step's micro-batches.
  func load(potential: [Float], amortizer a: [Float]) {
    evaluator.load(potential)
    amortizer.load(a)
  }

  /// Drops the references to the parameter arrays, so the optimizer updates them in place.
  func release() {
    evaluator.release()
    amortizer.release()
    map?.release()
    bridge?.release()
  }

  /// M_psi's evaluator with these parameters.
  func map(_ nets: Networks, _ params: [Float]) -> MLPEvaluator<Float> {
    let m = map ?? MLPEvaluator(nets.map, capacity: solver.capacity)
    map = m
    m.load(params)
    return m
  }

  /// The bridge network's evaluator with these parameters, and its buffers.
  func bridge(_ nets: Networks, _ params: [Float]) -> MLPEvaluator<Float> {
    let b = bridge ?? MLPEvaluator(nets.inverse.mlp, capacity: solver.capacity)
    if bridge == nil {
      bridge = b
      z = [Float](repeating: 0, count: solver.capacity * nets.inverse.mlp.input)
      x1 = [Float](repeating: 0, count: solver.capacity * solver.dim)
      t = [Float](repeating: 0, count: solver.capacity)
    }
    b.load(params)
    return b
  }

  /// xhat(y) for the n rows of y from the amortizer's prediction, by the configured solver on
  /// the evaluator (allocation-free for every solver).
  func solve(_ y: UnsafePointer<Float>, rows n: Int) {
    solver.solve(y: y, start: amortizer.y, rows: n) { x, rows, u, grad in
      evaluator.evaluate(x, rows: rows, u: u, grad: grad)
      poll?()
    }
  }
}
