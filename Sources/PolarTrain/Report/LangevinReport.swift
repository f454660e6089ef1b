// The report's section on RUN/langevin.h5 (`polar-train langevin`): the particles of LMC-NPF and
// of plain Langevin against the reference sample over f's level sets, their shares of f's local
// minima against the reference's, and the traces of total variation and energy distance.
import Foundation
import ParallelHDF5
import PolarCore

enum LangevinReport {
  static func figures(_ ctx: ReportContext, path: String) throws -> (figures: [(Figure, String?)], stats: [String: Double], text: String) {
    let d = ctx.config.problem.dim
    let file = try File.open(path)
    defer { try? file.close() }
    func read(_ name: String) throws -> [Double] { file.exists(name) ? try file.dataset(name).read(as: Double.self) : [] }
    let npf = try read("x_npf"), ula = try read("x_ula"), x0 = try read("x0"), reference = try read("reference")
    let modes = try read("modes"), trace = try read("trace")
    let beta = (try? file.attribute("beta", as: Double.self).first) ?? 1
    let steps = (try? file.attribute("steps", as: Int64.self).first).map { Int($0) } ?? 0
    let every = (try? file.attribute("every", as: Int64.self).first).map { Int($0) } ?? 0
    let refresh = (try? file.attribute("refresh", as: Int64.self).first).map { Int($0) } ?? 0
    let refreshLR = (try? file.attribute("refresh_lr", as: Double.self).first) ?? 1
    try file.close()
    var figures = [(Figure, String?)]()
    var stats = [String: Double]()
    var text =
      "\(npf.count / d) particles, \(steps) steps of each chain, beta = \(beta)"
      + (every > 0 ? ", a jump through the factorization every \(every) steps" : "")
      + (refresh > 0 ? "; online refresh: \(refresh) training step(s) of every network per step, learning rates x \(refreshLR)" : "; no online refresh")
      + "."
    if d == 2 {
      let w = ctx.window
      func cloud(_ title: String, _ v: [Double], _ color: String) -> Figure {
        var fig = Figure(title: title, xLabel: "x1", yLabel: "x2", equalAspect: true)
        fig.xRange = w
        fig.yRange = w
        if let field = ctx.problem.field, field.potential(at: [0, 0]) != nil {
          fig.contour(ScalarGrid(x: w, y: w, nx: 61, ny: 61) { field.potential(at: [$0, $1]) ?? .nan }, count: 12, colorbar: false)
        }
        let n = min(v.count / 2, 2000)
        fig.scatter((0 ..< n).map { v[2 * $0] }, (0 ..< n).map { v[2 * $0 + 1] }, color: color, radius: 1.3, opacity: 0.5)
        if !modes.isEmpty {
          fig.scatter(
            stride(from: 0, to: modes.count, by: 2).map { modes[$0] }, stride(from: 1, to: modes.count, by: 2).map { modes[$0] },
            label: "local minima of f", color: "#000000", radius: 3.5, opacity: 1)
        }
        return fig
      }
      figures.append((cloud("Start x_0", x0, "#7f7f7f"), nil))
      figures.append((cloud("Plain Langevin (ULA), final", ula, "#ff7f0e"), nil))
      figures.append((cloud("LMC-NPF, final", npf, "#1f77b4"), nil))
      if !reference.isEmpty { figures.append((cloud("Reference sample of exp(-beta f)", reference, "#2ca02c"), nil)) }
    }
    if !modes.isEmpty && d == 2 {
      let m = (0 ..< modes.count / 2).map { [modes[2 * $0], modes[2 * $0 + 1]] }
      func shares(_ v: [Double]) -> [Double] { Langevin.shares(Matrix(rows: v.count / 2, cols: 2, storage: v), modes: m) }
      let (sn, su, sr) = (shares(npf), shares(ula), shares(reference))
      var fig = Figure(title: "Share of particles nearest to each local minimum", xLabel: "mode", yLabel: "share")
      fig.yRange = 0 ... 1
      let idx = (0 ..< m.count).map(Double.init)
      fig.line(idx, sr, label: "reference", color: "#2ca02c", dashed: true)
      fig.scatter(idx, sr, color: "#2ca02c", radius: 4, opacity: 1)
      fig.line(idx, sn, label: "LMC-NPF", color: "#1f77b4")
      fig.scatter(idx, sn, color: "#1f77b4", radius: 4, opacity: 1)
      fig.line(idx, su, label: "ULA", color: "#ff7f0e")
      fig.scatter(idx, su, color: "#ff7f0e", radius: 4, opacity: 1)
      let labels = m.enumerated().map { String(format: "%d: (%.2f, %.2f)", $0.offset, $0.element[0], $0.element[1]) }
      figures.append((fig, "Modes " + labels.joined(separator: ", ") + "."))
      stats["langevin_tv_npf"] = Langevin.totalVariation(sn, sr)
      stats["langevin_tv_ula"] = Langevin.totalVariation(su, sr)
      stats["langevin_modes_covered_npf"] = Double(sn.filter { $0 > 0.02 }.count)
      stats["langevin_modes_covered_ula"] = Double(su.filter { $0 > 0.02 }.count)
      text += String(
        format:
          " Mode shares against the reference: total variation %.3f (LMC-NPF) and %.3f (ULA); modes holding at least 2%% of the particles: %d and %d of %d.",
        stats["langevin_tv_npf"]!, stats["langevin_tv_ula"]!, Int(stats["langevin_modes_covered_npf"]!),
        Int(stats["langevin_modes_covered_ula"]!), m.count)
    }
    if trace.count >= 10 {
      let rows = trace.count / 5
      let col = { (j: Int) in (0 ..< rows).map { trace[$0 * 5 + j] } }
      var tv = Figure(title: "Mode shares: total variation to the reference", xLabel: "step (grad f evaluations)", yLabel: "TV")
      tv.line(col(0), col(1), label: "LMC-NPF")
      tv.line(col(0), col(2), label: "ULA")
      var energy = Figure(title: "Energy distance to the reference", xLabel: "step (grad f evaluations)", yLabel: "energy distance", logY: true)
      energy.line(col(0), col(3), label: "LMC-NPF")
      energy.line(col(0), col(4), label: "ULA")
      if col(1).allSatisfy(\.isFinite) { figures.append((tv, nil)) }
      figures.append((energy, nil))
      stats["langevin_energy_npf"] = col(3).last!
      stats["langevin_energy_ula"] = col(4).last!
      text += String(format: " Final energy distance to the reference: %.4f (LMC-NPF), %.4f (ULA).", col(3).last!, col(4).last!)
    }
    return (figures, stats, text)
  }
}
