// `polar-train report RUN_DIR`: report/index.html (SVG figures from Report/, our own writer) and
// report/metrics.json for a run directory (docs/design.md §4). What it shows depends on the run:
//   every run    loss curves from metrics.jsonl, the evaluation metrics, the configuration;
//   d = 2        quiver plots of F, grad u and grad u(M(x)) (implicit, and M_net when trained),
//                level sets of u (and of f where F = grad f is known), M#rho against rho;
//                topography: the smoothed elevation, the held-out cells and the reconstruction
//                error over the map;
//   inverse      the pre-image check cos(F(x), F(x')), x' ~ M^-1(M(x)), as a histogram;
//   samples.h5   (written by `sample` into the run directory) the samples of M^-1(grad u*(0))
//                against f's level sets and its known critical points, |grad f| before and after
//                refinement; classifier-loss: loss, accuracy and |grad f| of the samples beside
//                gradient descent from random starts;
//   langevin.h5  (written by `langevin`) LMC-NPF against plain Langevin (LangevinReport.swift).
// Everything is computed on the calling rank alone (no collectives).
import Foundation
import ParallelHDF5
import PolarCore

public struct ReportOptions: Sendable {
  public var samples = 2000
  public var grid = 21
  public var bridgeSteps = 100
  /// Gradient descent baseline for classifier-loss: starts, steps, learning rate.
  public var descentStarts = 64, descentSteps = 2000
  public var descentRate = 0.1
  /// Classifier-loss: points x ~ rho probed for the law of x given |grad f(x)| small.
  public var criticalProbe = 16384
  public init() {}
}

/// What the figures are drawn from: a finished (or partial) run.
struct ReportContext {
  let run: String
  let config: Config
  let problem: Problem
  let nets: Networks
  let state: TrainState
  let options: ReportOptions
  var u: [Float] { state.params(.potential) }
  var mapTrained: Bool { config.map.steps > 0 && state.stage == .done }
  var inverseTrained: Bool { config.inverse.steps > 0 && state.stage == .done }

  /// The plotting window of a 2-D run: the box, [-3, 3] for a Gaussian, the data's range.
  var window: ClosedRange<Double> {
    switch problem.reference {
    case .uniform(let lo, let hi), .cells(_, _, let lo, let hi, _): return lo ... hi
    case .gaussian: return -3 ... 3
    case .data:
      let v = problem.data!.x.storage.map(Double.init)
      return (v.min() ?? -1) ... (v.max() ?? 1)
    }
  }

  func gradU(_ x: Matrix<Float>) -> Matrix<Float> { nets.potential.valueAndGradient(u, x).grad }
  func implicitM(_ f: Matrix<Float>) -> Matrix<Float> { Evaluation.implicitM(f, config: config, nets: nets, state: state).m }
  /// F at x: the field, or (field file) nil.
  func field(_ x: Matrix<Float>) -> Matrix<Float>? { problem.field.map { $0(x) } }
}

public enum RunReport {
  /// Builds the page and the metrics of a run from its checkpoint `contents`.
  public static func build(
    run: String, contents: Checkpoint.Contents, problem: Problem,
    options: ReportOptions = ReportOptions()
  ) throws -> (page: ReportPage, metrics: [String: Double]) {
    let config = contents.config
    let ctx = ReportContext(
      run: run, config: config, problem: problem, nets: Networks(config), state: contents.state,
      options: options)
    var page = ReportPage(
      title: "polar-train report: \(config.problem.field), d = \(config.problem.dim)",
      subtitle: "\(run) — checkpoint at stage \(contents.state.stage), step \(contents.state.step)")
    // Evaluation metrics: report/metrics.json of `train`, or evaluated now.
    var metrics =
      readEvaluation(run)
      ?? Evaluation.run(
        config: config, problem: problem, nets: ctx.nets,
        state: contents.state, samples: 4096)
    page.section("Summary")
    let jsonl = (try? String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8)) ?? contents.metrics
    if let warning = contents.state.dualWarning(metricsJSONL: jsonl) {
      page.paragraph("Warning: " + warning + ".")
      metrics["dual_alerts"] = Double(max(contents.state.dualAlerts, jsonl.components(separatedBy: "\"event\":\"dual_lost\"").count - 1))
    }
    page.paragraph(summaryText(ctx, metrics))
    page.metrics(metrics, caption: "Evaluation on held-out samples (docs/commands.md: Evaluation metrics)")

    page.section("Training")
    for figure in lossFigures(contents.metrics.isEmpty ? (try? String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8)) ?? "" : contents.metrics) {
      page.figure(figure)
    }

    if config.problem.dim == 2 {
      page.section("Factorization F = grad u o M")
      page.paragraph(
        "Arrows on a \(options.grid) x \(options.grid) grid over the window; the implicit M(x) = grad u*(F(x)) is a conjugate solve per point, so grad u(M(x)) reproduces F up to the solver's tolerance wherever the solve converges; grad u(M_net(x)) shows the learned explicit map."
      )
      for (figure, caption) in ReportFigures.planeMaps(ctx) { page.figure(figure, caption: caption) }
    }
    if ctx.inverseTrained, let field = problem.field {
      page.section("Inverse map: the pre-image check")
      let (figure, stats) = ReportFigures.preimage(ctx, field: field)
      page.paragraph(
        "For held-out x ~ rho, x' ~ M^-1(M(x)) by the bridge sampler (\(options.bridgeSteps) steps); x and x' share a pre-image, so F(x) and F(x') should point the same way (the paper reports 0.83 +/- 0.18 on its MNIST experiment)."
      )
      page.figure(figure)
      for (k, v) in stats { metrics[k] = v }
    }
    // Files written into the run directory by `sample` and `langevin`, each with its section.
    typealias Section = (ReportContext, String) throws -> (figures: [(Figure, String?)], stats: [String: Double], text: String)
    let files: [(String, String, Section)] = [
      ("samples.h5", "Samples of M^-1(grad u*(0)): candidate critical points", ReportFigures.samples),
      ("langevin.h5", "Sampling exp(-beta f): LMC-NPF against plain Langevin", LangevinReport.figures),
    ]
    for (name, heading, section) in files where FileManager.default.fileExists(atPath: run + "/" + name) {
      page.section(heading)
      // A damaged or foreign file is an input error naming it (exit 3).
      let path = run + "/" + name
      var isDir: ObjCBool = false
      if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
        throw InputError(message: "\(path): is a directory, not an HDF5 file")
      }
      let (figures, stats, text): ([(Figure, String?)], [String: Double], String)
      do { (figures, stats, text) = try section(ctx, path) } catch let e as HDF5Error { throw InputError(message: e.description) }
      page.paragraph(text)
      for (figure, caption) in figures { page.figure(figure, caption: caption) }
      for (k, v) in stats { metrics[k] = v }
    }
    page.section("Configuration")
    page.preformatted(config.toml, caption: "config.toml (resolved)")
    return (page, metrics)
  }

  /// Writes RUN/report/index.html and RUN/report/metrics.json (each to a .partial, then renamed).
  public static func write(run: String, page: ReportPage, metrics: [String: Double]) throws -> String {
    let dir = run + "/report"
    try createDirectory(dir, what: "report directory")
    func replace(_ name: String, _ data: Data) throws {
      let path = dir + "/" + name
      try data.write(to: URL(fileURLWithPath: path + ".partial"))
      try publishPartial(path)
    }
    try replace("index.html", Data(page.html().utf8))
    var clean = [String: Any]()
    for (k, v) in metrics where v.isFinite { clean[k] = v }
    try replace("metrics.json", try JSONSerialization.data(withJSONObject: clean, options: [.prettyPrinted, .sortedKeys]))
    return dir + "/index.html"
  }

  /// report/metrics.json as `train` wrote it (the evaluation), if present and numeric.
  static func readEvaluation(_ run: String) -> [String: Double]? {
    guard let data = FileManager.default.contents(atPath: run + "/report/metrics.json"),
      let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    else { return nil }
    var out = [String: Double]()
    for (k, v) in object { if let d = (v as? NSNumber)?.doubleValue { out[k] = d } }
    return out.isEmpty ? nil : out
  }

  static func summaryText(_ ctx: ReportContext, _ m: [String: Double]) -> String {
    func f(_ k: String) -> String { m[k].map { NumberFormat.metric($0) } ?? "n/a" }
    var text =
      "Field \(ctx.config.problem.field) in d = \(ctx.config.problem.dim), rho \(ctx.config.problem.reference). "
      + "Reconstruction |grad u(M(x)) - F(x)| / |F| = \(f("reconstruction_error")); energy distance M#rho vs rho "
      + "\(f("energy_distance")) (two fresh rho samples: \(f("energy_distance_floor"))); conjugate solves converged "
      + "\(f("conjugate_converged"))."
    if m["heldout_reconstruction_error"] != nil {
      text +=
        " Held-out grid cells: reconstruction \(f("heldout_reconstruction_error")) (implicit M), "
        + "\(f("heldout_reconstruction_error_net")) (M_net); |M_net - M| / |M| = \(f("heldout_M_net_vs_implicit"))."
    }
    if m["preimage_cosine_mean"] != nil {
      text += " Pre-image cosine \(f("preimage_cosine_mean")) +/- \(f("preimage_cosine_std")); inverse consistency \(f("inverse_consistency"))."
    }
    return text
  }

  /// Loss curves per stage from metrics.jsonl (one JSON object per logged step).
  static func lossFigures(_ jsonl: String) -> [Figure] {
    var series = [String: [(Double, Double)]]()
    for line in jsonl.split(separator: "\n") {
      guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
        let stage = o["stage"] as? String, let step = (o["step"] as? NSNumber)?.doubleValue
      else { continue }
      for key in ["loss", "w2", "amortizer_loss", "map_loss", "inverse_loss", "validation_loss"] {
        if let v = (o[key] as? NSNumber)?.doubleValue, v.isFinite { series["\(stage)/\(key)", default: []].append((step, v)) }
      }
    }
    func figure(_ title: String, _ y: String, log: Bool, _ keys: [(String, String)]) -> Figure? {
      var fig = Figure(title: title, xLabel: "step", yLabel: y, logY: log)
      var any = false
      for (key, label) in keys {
        guard let points = series[key], points.count > 1 else { continue }
        fig.line(points.map(\.0), points.map(\.1), label: label)
        any = true
      }
      return any ? fig : nil
    }
    return [
      figure(
        "Stage potential: W2 dual loss and W2^2 estimate", "value", log: false,
        [
          ("potential/loss", "dual loss E u + E u*"), ("potential/validation_loss", "on the validation rows"),
          ("potential/w2", "W2^2 estimate"),
        ]),
      figure("Amortizer regression loss", "mean |g(y) - xhat(y)|^2", log: true, [("potential/amortizer_loss", "amortizer")]),
      figure("Stage map: |M_net(x) - M(x)|^2", "loss", log: true, [("map/map_loss", "map loss")]),
      figure("Stage inverse: bridge matching loss", "loss", log: true, [("inverse/inverse_loss", "bridge loss")]),
    ].compactMap { $0 }
  }
}
