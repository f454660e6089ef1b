// The report's section on RUN/samples.h5 (`polar-train sample --target critical`): candidate
// critical points x ~ M^-1(grad u*(0)) (docs/design.md §1 item 4), before and after refinement.
//   2-D toy fields: the samples over f's level sets with the critical points known in closed
//   form or by grid search, and how many of them the samples reach;
//   classifier-loss: the loss, accuracy and |grad f| of the samples beside gradient descent
//   from random starts x ~ rho (the usual way to find critical points of a network's loss).
import Foundation
import ParallelHDF5
import PolarCore

extension ReportFigures {
  static func samples(
    _ ctx: ReportContext, path: String
  ) throws
    -> (figures: [(Figure, String?)], stats: [String: Double], text: String)
  {
    let d = ctx.config.problem.dim
    let file = try File.open(path)
    defer { try? file.close() }
    guard (try? file.stringAttribute("target")) == "critical" else {
      return ([], [:], "\(path) holds samples of M^-1(y) for a target file; only samples of the critical target are drawn here.")
    }
    func read(_ name: String) throws -> [Double]? {
      file.exists(name) ? try file.dataset(name).read(as: Double.self) : nil
    }
    guard let x = try read("x") else { return ([], [:], "\(path) has no dataset x.") }
    let raw = try read("grad_f_norm"), refinedX = try read("x_refined"), refined = try read("grad_f_norm_refined")
    try file.close()
    let count = x.count / d
    var stats: [String: Double] = ["samples_count": Double(count)]
    var figures = [(Figure, String?)]()
    if let raw { stats["samples_grad_f_norm_median"] = Sampling.quantiles(raw, [0.5])[0] }
    if let refined { stats["samples_grad_f_norm_refined_median"] = Sampling.quantiles(refined, [0.5])[0] }
    var text =
      "\(count) samples of M^-1(grad u*(0)) from \(path)"
      + (refined != nil ? ", refined by Levenberg–Marquardt on |F|^2." : " (run `sample --refine STEPS` to polish them).")
    // |grad f| before and after refinement.
    if let raw {
      var fig = Figure(title: "|grad f| at the samples", xLabel: "log10 |grad f(x)|", yLabel: "samples")
      // One range for both series, so their bars share a bin width (the bridge samples sit in
      // a narrow band that own-range bins would draw as slivers).
      let logRaw = raw.map { Foundation.log10(max($0, 1e-17)) }
      let logRefined = refined?.map { Foundation.log10(max($0, 1e-17)) } ?? []
      let all = (logRaw + logRefined).filter(\.isFinite)
      let range = all.isEmpty ? nil : all.min()! ... max(all.max()!, all.min()! + 1)
      fig.histogram(logRaw, bins: 60, range: range, label: "bridge samples")
      if refined != nil { fig.histogram(logRefined, bins: 60, range: range, label: "refined") }
      figures.append((fig, "Critical points have grad f = 0; values below 1e-17 are shown at -17."))
    }
    if d == 2, let field = ctx.problem.field {
      let w = ctx.window
      var fig = Figure(title: "Samples over the level sets of f", xLabel: "x1", yLabel: "x2", equalAspect: true)
      fig.xRange = w
      fig.yRange = w
      if field.potential(at: [0, 0]) != nil {
        fig.contour(ScalarGrid(x: w, y: w, nx: 61, ny: 61) { field.potential(at: [$0, $1]) ?? .nan }, count: 12, colorbar: false)
      }
      let show = min(count, 2000)
      fig.scatter((0 ..< show).map { x[$0 * 2] }, (0 ..< show).map { x[$0 * 2 + 1] }, label: "bridge samples", radius: 1.4, opacity: 0.4)
      if let refinedX {
        fig.scatter(
          (0 ..< show).map { refinedX[$0 * 2] }, (0 ..< show).map { refinedX[$0 * 2 + 1] }, label: "refined",
          radius: 1.8, opacity: 0.6)
      }
      if case .uniform(let lo, let hi) = ctx.problem.reference, let known = field.criticalPoints(lo: lo, hi: hi), !known.isEmpty {
        fig.scatter(known.map { $0[0] }, known.map { $0[1] }, label: "known critical points", color: "#000000", radius: 4, opacity: 1)
        let hits = Sampling.recovery(known: known, samples: refinedX ?? x, dim: 2, tolerance: 1e-3)
        stats["critical_points_known"] = Double(known.count)
        stats["critical_points_recovered"] = Double(hits.filter { $0 > 0 }.count)
        text +=
          " \(hits.filter { $0 > 0 }.count) of the \(known.count) critical points inside the box are reached within 1e-3"
          + "\(refinedX != nil ? " after refinement" : ""); samples per point: \(hits)."
      }
      figures.append((fig, nil))
    }
    if let field = ctx.problem.field, case .classifier(let loss) = field.kind {
      let (figs, s, t) = classifierComparison(ctx, loss: loss, samples: x, refined: refinedX)
      figures += figs
      for (k, v) in s { stats[k] = v }
      text += " " + t
    }
    return (figures, stats, text)
  }
}
