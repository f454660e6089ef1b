// The figures of `polar-train report` (RunReport.swift): maps of the plane for 2-D runs, the
// pre-image histogram, and the samples of M^-1(grad u*(0)) with their refinement.
import Foundation
import ParallelHDF5
import PolarCore

enum ReportFigures {
  /// Points of an n x n grid over the window, row by row.
  static func gridPoints(_ w: ClosedRange<Double>, _ n: Int) -> Matrix<Float> {
    var x = Matrix<Float>(rows: n * n, cols: 2)
    for i in 0 ..< n {
      for j in 0 ..< n {
        x[i * n + j, 0] = Float(w.lowerBound + (w.upperBound - w.lowerBound) * Double(j) / Double(n - 1))
        x[i * n + j, 1] = Float(w.lowerBound + (w.upperBound - w.lowerBound) * Double(i) / Double(n - 1))
      }
    }
    return x
  }

  static func column(_ m: Matrix<Float>, _ j: Int) -> [Double] { (0 ..< m.rows).map { Double(m[$0, j]) } }

  static func quiver(_ title: String, _ x: Matrix<Float>, _ v: Matrix<Float>, _ w: ClosedRange<Double>) -> Figure {
    var fig = Figure(title: title, xLabel: "x1", yLabel: "x2", equalAspect: true)
    fig.xRange = w
    fig.yRange = w
    fig.quiver(x: column(x, 0), y: column(x, 1), u: column(v, 0), v: column(v, 1))
    return fig
  }

  /// Quivers of F, grad u, grad u o M (and o M_net), level sets of u (and f), M#rho vs rho, and
  /// for topography the elevation with its held-out cells and the reconstruction error map.
  static func planeMaps(_ ctx: ReportContext) -> [(Figure, String?)] {
    var out = [(Figure, String?)]()
    let w = ctx.window, n = ctx.options.grid
    let x = gridPoints(w, n)
    let gu = ctx.gradU(x)
    if let f = ctx.field(x) {
      out.append((quiver("F(x)", x, f, w), "The field to factorize."))
      out.append((quiver("grad u(x): the Brenier map", x, gu, w), "The convex factor: the optimal transport map from rho to F#rho."))
      out.append((quiver("grad u(M(x)), implicit M", x, ctx.gradU(ctx.implicitM(f)), w), "Should reproduce F(x)."))
      if ctx.mapTrained, let mw = ctx.state.networks[.map]?.params {
        out.append((quiver("grad u(M_net(x)), explicit M", x, ctx.gradU(ctx.nets.map(mw, x)), w), "With the learned map M_net."))
      }
    } else {
      out.append((quiver("grad u(x): the Brenier map", x, gu, w), nil))
    }
    // Level sets of u, and of f where F = grad f is known.
    let fine = 61
    let xf = gridPoints(w, fine)
    let uv = ctx.nets.potential.forward(ctx.u, xf).u
    let uGrid = ScalarGrid(
      xs: (0 ..< fine).map { Double(xf[$0, 0]) }, ys: (0 ..< fine).map { Double(xf[$0 * fine, 1]) },
      values: (0 ..< fine).map { i in (0 ..< fine).map { Double(uv[i * fine + $0]) } })
    var levels = Figure(title: "Level sets of u (convex)", xLabel: "x1", yLabel: "x2", equalAspect: true)
    levels.colorbarLabel = "u"
    levels.contour(uGrid, count: 12)
    out.append((levels, nil))
    if let field = ctx.problem.field, field.potential(at: [0, 0]) != nil {
      let fGrid = ScalarGrid(x: w, y: w, nx: fine, ny: fine) { field.potential(at: [$0, $1]) ?? .nan }
      var fig = Figure(
        title: field.name == "topography" ? "Smoothed elevation h (F = grad h)" : "Level sets of f (F = grad f)",
        xLabel: "x1", yLabel: "x2", equalAspect: true)
      fig.colorbarLabel = field.name == "topography" ? "h" : "f"
      if field.name == "topography" { fig.heatmap(fGrid) } else { fig.contour(fGrid, count: 12) }
      if let held = ctx.problem.heldOut {
        let rng = CounterRNG(seed: ctx.config.seed, stream: CounterRNG.streamID(Problem.Purpose.heldOut.rawValue, 1))
        let h: Matrix<Float> = held.sample(dim: 2, rng: rng, indices: 0 ..< 1500).x
        fig.scatter(column(h, 0), column(h, 1), label: "held-out cells", color: "#d62728", radius: 1.2, opacity: 0.7)
      }
      out.append((fig, nil))
    }
    // M#rho against rho.
    let k = ctx.options.samples
    let (_, fs) = ctx.problem.batch(seed: ctx.config.seed, purpose: .evaluation, step: 0, indices: 0 ..< k)
    let m = ctx.implicitM(fs)
    let fresh = ctx.problem.referenceSample(seed: ctx.config.seed, purpose: .evaluationReference, count: k)
    var push = Figure(title: "M#rho against rho", xLabel: "x1", yLabel: "x2", equalAspect: true)
    push.scatter(column(fresh, 0), column(fresh, 1), label: "rho", radius: 1.3, opacity: 0.45)
    push.scatter(column(m, 0), column(m, 1), label: "M(x), x ~ rho", radius: 1.3, opacity: 0.45)
    out.append((push, "A measure-preserving M leaves rho unchanged: the two clouds should be indistinguishable."))
    // Topography: pointwise reconstruction error of the explicit map.
    if ctx.problem.heldOut != nil || ctx.config.problem.field == .topography, ctx.mapTrained,
      let mw = ctx.state.networks[.map]?.params, let field = ctx.problem.field
    {
      let xg = gridPoints(w, fine), fg = field(xg), rg = ctx.gradU(ctx.nets.map(mw, xg))
      let scale = (fg.storage.reduce(0) { $0 + Double($1 * $1) } / Double(fine * fine)).squareRoot()
      let err = ScalarGrid(
        xs: (0 ..< fine).map { Double(xg[$0, 0]) }, ys: (0 ..< fine).map { Double(xg[$0 * fine, 1]) },
        values: (0 ..< fine).map { i in
          (0 ..< fine).map { j in
            let r = i * fine + j
            return Double(hypot(rg[r, 0] - fg[r, 0], rg[r, 1] - fg[r, 1])) / scale
          }
        })
      var fig = Figure(title: "|grad u(M_net(x)) - F(x)| / RMS |F|", xLabel: "x1", yLabel: "x2", equalAspect: true)
      fig.colorbarLabel = "relative error"
      fig.heatmap(err)
      out.append((fig, nil))
    }
    return out
  }

  /// The histogram of cos(F(x), F(x')), x' ~ M^-1(M(x)), with its mean and standard deviation.
  static func preimage(_ ctx: ReportContext, field: Field) -> (Figure, [String: Double]) {
    let k = min(1024, ctx.options.samples)
    let (_, f) = ctx.problem.batch(seed: ctx.config.seed, purpose: .evaluation, step: 0, indices: 0 ..< k)
    let cosines = Evaluation.preimageCosines(
      f, ctx.implicitM(f), field: field, stream: 1, config: ctx.config,
      nets: ctx.nets, state: ctx.state, bridgeSteps: ctx.options.bridgeSteps)
    let mean = cosines.reduce(0, +) / Double(max(1, cosines.count))
    let std = (cosines.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(max(1, cosines.count))).squareRoot()
    var fig = Figure(title: "Pre-image check: cos(F(x), F(x'))", xLabel: "cosine similarity", yLabel: "samples")
    fig.histogram(cosines, bins: 40, range: -1 ... 1, label: "\(cosines.count) pairs")
    fig.verticalLine(mean, label: String(format: "mean %.3f +/- %.3f", mean, std), color: "#d62728")
    return (fig, ["report_preimage_cosine_mean": mean, "report_preimage_cosine_std": std])
  }
}
