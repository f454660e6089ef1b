// The quality metrics of docs/design.md §1 on held-out samples x ~ rho (a stream never used in training):
// reconstruction error of grad u(M(x)) against F(x), energy distance between M#rho and fresh rho
// samples (with the distance between two fresh samples as the noise floor), conjugate residuals,
// convexity of u along random segments, and, where the truth is known, the errors of grad u, M
// and M_net against it.
import Foundation
import PolarCore

public enum Evaluation {
  public static func run(
    config: Config, problem: Problem, nets: Networks, state: TrainState,
    samples n: Int, bridgeSteps: Int = 100
  ) -> [String: Double] {
    let u = state.params(.potential)
    // M_net only once stage map has run (an earlier checkpoint holds its initial parameters).
    let mapTrained = config.map.steps > 0 && state.stage == .done
    let (x, f) = problem.batch(seed: config.seed, purpose: .evaluation, step: 0, indices: 0 ..< n)
    // Implicit M(x) = xhat(F(x)), solved harder than in training.
    let (m, residuals, iterations, converged) = implicitM(f, config: config, nets: nets, state: state)
    let (ux, gradU) = nets.potential.valueAndGradient(u, x)
    let (uM, gradUofM) = nets.potential.valueAndGradient(u, m)
    var out: [String: Double] = [
      "samples": Double(n),
      "reconstruction_error": relativeL2(gradUofM, f),
      "conjugate_converged": Double(converged) / Double(n),
      "conjugate_iterations": Double(iterations) / Double(n),
      // DualHealth: the steps at which the dual lost its meaning, and the training solver's budget.
      "dual_alerts": Double(state.dualAlerts),
      "conjugate_max_iter_training": Double(state.conjugateBudget(config)),
      // The evaluation's own solves (L-BFGS; `evaluate --conjugate-tol` may tighten them).
      "conjugate_tol": config.conjugate.tol,
    ]
    if let held = problem.heldOut, let field = problem.field {
      // Topography: the reconstruction on the held-out grid cells, which training never sampled.
      let rng = CounterRNG(seed: config.seed, stream: CounterRNG.streamID(Problem.Purpose.heldOut.rawValue, 0))
      let xh: Matrix<Float> = held.sample(dim: problem.dim, rng: rng, indices: 0 ..< n).x
      let fh = field(xh)
      let mh = implicitM(fh, config: config, nets: nets, state: state).m
      out["heldout_reconstruction_error"] = relativeL2(nets.potential.valueAndGradient(u, mh).1, fh)
      if mapTrained, let w = state.networks[.map]?.params {
        let mhNet = nets.map(w, xh)
        out["heldout_reconstruction_error_net"] = relativeL2(nets.potential.valueAndGradient(u, mhNet).1, fh)
        out["heldout_M_net_vs_implicit"] = relativeL2(mhNet, mh)
      }
    }
    let sortedRes = residuals.map(Double.init).sorted()
    out["conjugate_residual_median"] = sortedRes[n / 2]
    out["conjugate_residual_p99"] = sortedRes[min(n - 1, n * 99 / 100)]
    out["conjugate_residual_max"] = sortedRes.last!
    // Two-sample statistics on at most 2048 points (the V-statistic is quadratic).
    let k = min(n, 2048)
    let fresh1 = problem.referenceSample(seed: config.seed, purpose: .evaluationReference, count: 2 * k)
    let first = Matrix(rows: k, cols: problem.dim, storage: Array(fresh1.storage[0 ..< k * problem.dim]))
    let second = Matrix(rows: k, cols: problem.dim, storage: Array(fresh1.storage[k * problem.dim ..< 2 * k * problem.dim]))
    let mk = Matrix(rows: k, cols: problem.dim, storage: Array(m.storage[0 ..< k * problem.dim]))
    out["energy_distance"] = energyDistance(mk, first)
    out["energy_distance_floor"] = energyDistance(second, first)
    // W2^2 estimate: E|x|^2 + E|F|^2 - 2 (E u(x) + E u*(F(x))), u*(y) = <xhat, y> - u(xhat).
    var w2 = 0.0
    for r in 0 ..< n {
      var xx = 0.0, yy = 0.0, my = 0.0
      for j in 0 ..< problem.dim {
        xx += Double(x[r, j] * x[r, j]); yy += Double(f[r, j] * f[r, j]); my += Double(m[r, j] * f[r, j])
      }
      w2 += xx + yy - 2 * (Double(ux[r]) + my - Double(uM[r]))
    }
    out["w2_estimate"] = w2 / Double(n)
    // Convexity: u((a + b) / 2) <= (u(a) + u(b)) / 2 on 1,000 segments between held-out points.
    let segs = min(1000, n / 2)
    var mid = Matrix<Float>(rows: segs, cols: problem.dim), pa = mid, pb = mid
    for r in 0 ..< segs {
      for j in 0 ..< problem.dim {
        pa[r, j] = x[2 * r, j]; pb[r, j] = x[2 * r + 1, j]; mid[r, j] = (pa[r, j] + pb[r, j]) / 2
      }
    }
    let (ua, ub, um) = (nets.potential.forward(u, pa).u, nets.potential.forward(u, pb).u, nets.potential.forward(u, mid).u)
    var violations = 0
    for r in 0 ..< segs {
      let chord = (Double(ua[r]) + Double(ub[r])) / 2
      let slack = 1e-5 * max(1, abs(Double(ua[r])) + abs(Double(ub[r])))
      if Double(um[r]) > chord + slack { violations += 1 }
    }
    out["convexity_violations"] = Double(violations)
    out["convexity_segments"] = Double(segs)
    if let field = problem.field, let trueGrad = field.trueGradU(x), let trueM = field.trueM(x) {
      out["grad_u_error"] = relativeL2(gradU, trueGrad)
      out["M_error"] = relativeL2(m, trueM)
      if mapTrained, let w = state.networks[.map]?.params {
        out["M_net_error"] = relativeL2(nets.map(w, x), trueM)
      }
    }
    if mapTrained, let w = state.networks[.map]?.params {
      let mNet = nets.map(w, x)
      out["M_net_vs_implicit"] = relativeL2(mNet, m)
      // The factorization with the explicit map: grad u(M_net(x)) against F(x).
      out["reconstruction_error_net"] = relativeL2(nets.potential.valueAndGradient(u, mNet).1, f)
    }
    if config.inverse.steps > 0 && state.stage == .done, let field = problem.field {
      for (k, v) in inverseChecks(
        config: config, problem: problem, nets: nets, state: state, field: field,
        x: x, f: f, m: m, bridgeSteps: bridgeSteps)
      { out[k] = v }
    }
    return out
  }

  /// cos(F(x), F(x')) with x' ~ M^-1(M(x)) for the rows of f = F(x) and m = M(x) (docs/design.md §1
  /// item 5); rows where either field value is zero are left out.
  public static func preimageCosines(
    _ f: Matrix<Float>, _ m: Matrix<Float>, field: Field, stream: UInt64, config: Config,
    nets: Networks, state: TrainState, bridgeSteps: Int
  ) -> [Double] {
    let d = f.cols
    let xp = Sampling.draw(
      config: config, nets: nets, state: state, targets: m, perPoint: 1, rows: 0 ..< m.rows,
      steps: bridgeSteps, noiseStream: stream)
    let fxp = field(xp)
    var cosines = [Double]()
    for r in 0 ..< f.rows {
      var dot = 0.0, a = 0.0, b = 0.0
      for j in 0 ..< d {
        dot += Double(f[r, j] * fxp[r, j]); a += Double(f[r, j] * f[r, j]); b += Double(fxp[r, j] * fxp[r, j])
      }
      if a > 0 && b > 0 { cosines.append(dot / (a * b).squareRoot()) }
    }
    return cosines
  }

  /// M(x) = xhat(F(x)) for the rows of `f` = F(x), in chunks of 256, with the evaluation solver:
  /// the points, the residuals |grad u(xhat) - y|, and the total iterations and converged count.
  public static func implicitM(
    _ f: Matrix<Float>, config: Config, nets: Networks, state: TrainState
  )
    -> (m: Matrix<Float>, residuals: [Float], iterations: Int, converged: Int)
  {
    let n = f.rows, d = f.cols, chunk = 256
    let solver = config.solver(evaluation: true)
    var m = Matrix<Float>(rows: n, cols: d)
    var residuals = [Float](), iterations = 0, converged = 0
    for lo in stride(from: 0, to: n, by: chunk) {
      let hi = min(n, lo + chunk)
      let y = Matrix(rows: hi - lo, cols: d, storage: Array(f.storage[lo * d ..< hi * d]))
      let s = nets.conjugate(y, state: state, solver: solver)
      for r in 0 ..< hi - lo { for j in 0 ..< d { m[lo + r, j] = s.x[r, j] } }
      residuals += s.residual
      iterations += s.iterations.reduce(0, +)
      converged += s.converged.filter { $0 }.count
    }
    return (m, residuals, iterations, converged)
  }

  /// The inverse map's checks (docs/design.md §1 items 3 and 5) on up to 1,024 held-out points:
  /// - pre-image: x' ~ M^-1(M(x)) shares F with x, so cos(F(x), F(x')) should be near 1 (the
  ///   paper's 0.83 +- 0.18 on MNIST): its mean, standard deviation and quantiles;
  /// - consistency: for fresh y ~ rho and x' ~ M^-1(y), median |M(x') - y| / median |y|.
  static func inverseChecks(
    config: Config, problem: Problem, nets: Networks, state: TrainState, field: Field,
    x: Matrix<Float>, f: Matrix<Float>, m: Matrix<Float>, bridgeSteps: Int
  ) -> [String: Double] {
    let d = problem.dim, k = min(x.rows, 1024)
    func head(_ a: Matrix<Float>) -> Matrix<Float> { Matrix(rows: k, cols: d, storage: Array(a.storage[0 ..< k * d])) }
    func inverse(_ y: Matrix<Float>, stream: UInt64) -> Matrix<Float> {
      Sampling.draw(
        config: config, nets: nets, state: state, targets: y, perPoint: 1, rows: 0 ..< y.rows,
        steps: bridgeSteps, noiseStream: stream)
    }
    var out = [String: Double]()
    // Pre-image cosine similarity.
    let cosines = preimageCosines(
      head(f), head(m), field: field, stream: 1, config: config, nets: nets, state: state,
      bridgeSteps: bridgeSteps)
    let mean = cosines.reduce(0, +) / Double(max(1, cosines.count))
    out["preimage_cosine_mean"] = mean
    // Baseline: the same statistic for independent pairs x, x'' ~ rho (x'' from the consistency
    // sample below): how similar F is at two unrelated points.
    let y0 = problem.referenceSample(seed: config.seed, purpose: .evaluationReference, count: k)
    let fy0 = field(y0), fx = head(f)
    var unrelated = 0.0
    for r in 0 ..< k {
      var dot = 0.0, a = 0.0, b = 0.0
      for j in 0 ..< d { dot += Double(fx[r, j] * fy0[r, j]); a += Double(fx[r, j] * fx[r, j]); b += Double(fy0[r, j] * fy0[r, j]) }
      unrelated += a > 0 && b > 0 ? dot / (a * b).squareRoot() : 0
    }
    out["preimage_cosine_baseline"] = unrelated / Double(k)
    out["preimage_cosine_std"] = (cosines.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(max(1, cosines.count))).squareRoot()
    let q = Sampling.quantiles(cosines, [0.1, 0.5, 0.9])
    out["preimage_cosine_q10"] = q[0]
    out["preimage_cosine_median"] = q[1]
    out["preimage_cosine_q90"] = q[2]
    // Consistency: M(x') against y for fresh y ~ rho.
    let y = problem.referenceSample(seed: config.seed, purpose: .evaluationReference, count: 3 * k)
    let yk = Matrix(rows: k, cols: d, storage: Array(y.storage[2 * k * d ..< 3 * k * d]))
    let xs = inverse(yk, stream: 2)
    let ms = nets.conjugate(field(xs), state: state, solver: config.solver(evaluation: true)).x
    var errors = [Double](), norms = [Double]()
    for r in 0 ..< k {
      var e = 0.0, n = 0.0
      for j in 0 ..< d { e += Double((ms[r, j] - yk[r, j]) * (ms[r, j] - yk[r, j])); n += Double(yk[r, j] * yk[r, j]) }
      errors.append(e.squareRoot())
      norms.append(n.squareRoot())
    }
    out["inverse_consistency"] = Sampling.quantiles(errors, [0.5])[0] / max(Sampling.quantiles(norms, [0.5])[0], 1e-30)
    return out
  }
}
