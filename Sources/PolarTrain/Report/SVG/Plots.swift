// Figure: a 2-D plot built from layers (lines, scatter, quiver, contours, heatmap, histogram,
// reference lines, text) and rendered to a standalone SVG by Render.swift.
import Foundation

public struct Figure: Sendable {
  public var width: Double, height: Double
  public var title: String, xLabel: String, yLabel: String
  /// Fixed axis ranges; when nil, the range of the data with a small margin.
  public var xRange: ClosedRange<Double>? = nil, yRange: ClosedRange<Double>? = nil
  /// Same pixels per unit on both axes (maps of the plane).
  public var equalAspect: Bool
  /// Logarithmic y axis with ticks at powers of ten (non-positive values are not drawn).
  public var logY: Bool
  public var grid = true
  public var legend: LegendPlacement = .auto
  public var colorbarLabel = ""

  struct Style: Sendable {
    var color: String, label: String?, width = 1.8, opacity = 1.0, dashed = false
  }

  enum Layer: Sendable {
    case line(xs: [Double], ys: [Double], Style)
    case scatter(xs: [Double], ys: [Double], Style, radius: Double)
    case quiver(x: [Double], y: [Double], u: [Double], v: [Double], Style)
    case contour(ScalarGrid, levels: [Double], ColorMap, label: String?, colorbar: Bool)
    case heatmap(ScalarGrid, ColorMap, colorbar: Bool)
    case bars(edges: [Double], heights: [Double], Style)
    case vline(Double, Style)
    case hline(Double, Style)
    case text(x: Double, y: Double, String, anchor: String, size: Double, color: String)
  }

  var layers: [Layer] = []
  var nextColor = 0

  public init(
    title: String = "", xLabel: String = "", yLabel: String = "", width: Double = 480,
    height: Double = 400, equalAspect: Bool = false, logY: Bool = false
  ) {
    self.title = title; self.xLabel = xLabel; self.yLabel = yLabel
    self.width = width; self.height = height; self.equalAspect = equalAspect; self.logY = logY
  }

  /// The given colour, or the next palette colour.
  mutating func pick(_ color: String?) -> String {
    if let color { return color }
    defer { nextColor += 1 }
    return Palette.color(nextColor)
  }

  /// A polyline through (xs[i], ys[i]); non-finite points break the line.
  public mutating func line(
    _ xs: [Double], _ ys: [Double], label: String? = nil, color: String? = nil,
    width: Double = 1.8, dashed: Bool = false
  ) {
    layers.append(.line(xs: xs, ys: ys, Style(color: pick(color), label: label, width: width, dashed: dashed)))
  }

  /// Points as small filled circles; non-finite points are skipped.
  public mutating func scatter(
    _ xs: [Double], _ ys: [Double], label: String? = nil, color: String? = nil,
    radius: Double = 2, opacity: Double = 0.6
  ) {
    layers.append(.scatter(xs: xs, ys: ys, Style(color: pick(color), label: label, opacity: opacity), radius: radius))
  }

  /// Arrows from (x, y) along (u, v), scaled so the longest is about one grid spacing
  /// (sqrt of the bounding-box area per arrow); zero or non-finite arrows are skipped.
  public mutating func quiver(
    x: [Double], y: [Double], u: [Double], v: [Double], label: String? = nil,
    color: String? = nil
  ) {
    layers.append(.quiver(x: x, y: y, u: u, v: v, Style(color: pick(color), label: label, width: 1.2)))
  }

  /// Contour lines of a grid at the given levels, coloured by `colorMap` over the grid's range.
  public mutating func contour(
    _ grid: ScalarGrid, levels: [Double], colorMap: ColorMap = .viridis,
    label: String? = nil, colorbar: Bool = true
  ) {
    layers.append(.contour(grid, levels: levels.sorted(), colorMap, label: label, colorbar: colorbar))
  }

  /// Contour lines at about `count` nice levels inside the grid's range.
  public mutating func contour(
    _ grid: ScalarGrid, count: Int = 8, colorMap: ColorMap = .viridis,
    label: String? = nil, colorbar: Bool = true
  ) {
    contour(grid, levels: Contour.levels(grid, count: count), colorMap: colorMap, label: label, colorbar: colorbar)
  }

  /// Grid cells filled by value (cell edges halfway between grid points).
  public mutating func heatmap(_ grid: ScalarGrid, colorMap: ColorMap = .viridis, colorbar: Bool = true) {
    layers.append(.heatmap(grid, colorMap, colorbar: colorbar))
  }

  /// A histogram of the finite values in `bins` equal bins over `range` (default: their range);
  /// heights are counts, or a probability density when `density`.
  public mutating func histogram(
    _ values: [Double], bins: Int = 30, range: ClosedRange<Double>? = nil,
    density: Bool = false, label: String? = nil, color: String? = nil,
    opacity: Double = 0.7
  ) {
    let finite = values.filter(\.isFinite)
    guard bins > 0, let lo0 = range?.lowerBound ?? finite.min(), let hi0 = range?.upperBound ?? finite.max() else { return }
    let (lo, hi) = hi0 > lo0 ? (lo0, hi0) : (lo0 - 0.5, lo0 + 0.5)
    var counts = [Double](repeating: 0, count: bins)
    for v in finite where v >= lo && v <= hi { counts[min(bins - 1, Int((v - lo) / (hi - lo) * Double(bins)))] += 1 }
    let w = (hi - lo) / Double(bins), total = counts.reduce(0, +)
    if density && total > 0 { counts = counts.map { $0 / (total * w) } }
    let edges = (0 ... bins).map { lo + Double($0) * w }
    layers.append(.bars(edges: edges, heights: counts, Style(color: pick(color), label: label, opacity: opacity)))
  }

  /// A dashed vertical line at x across the plot (e.g. a mean).
  public mutating func verticalLine(_ x: Double, label: String? = nil, color: String? = nil) {
    layers.append(.vline(x, Style(color: pick(color), label: label, width: 1.5, dashed: true)))
  }

  /// A dashed horizontal line at y across the plot (e.g. a noise floor).
  public mutating func horizontalLine(_ y: Double, label: String? = nil, color: String? = nil) {
    layers.append(.hline(y, Style(color: pick(color), label: label, width: 1.5, dashed: true)))
  }

  /// Text at data point (x, y); anchor is "start", "middle" or "end".
  public mutating func text(
    _ s: String, x: Double, y: Double, anchor: String = "start", size: Double = 11,
    color: String = "#333"
  ) {
    layers.append(.text(x: x, y: y, s, anchor: anchor, size: size, color: color))
  }

  /// The quiver scale: data units per unit of (u, v), making the longest arrow one spacing.
  static func quiverScale(x: [Double], y: [Double], u: [Double], v: [Double]) -> Double {
    let n = min(x.count, y.count, u.count, v.count)
    let idx = (0 ..< n).filter { x[$0].isFinite && y[$0].isFinite && u[$0].isFinite && v[$0].isFinite }
    let maxLen = idx.map { hypot(u[$0], v[$0]) }.max() ?? 0
    guard maxLen > 0, let x0 = idx.map({ x[$0] }).min(), let x1 = idx.map({ x[$0] }).max(),
      let y0 = idx.map({ y[$0] }).min(), let y1 = idx.map({ y[$0] }).max()
    else { return 0 }
    let count = Double(idx.count)
    let area = (x1 - x0) * (y1 - y0)
    let spacing = area > 0 ? (area / count).squareRoot() : max(x1 - x0, y1 - y0, 1) / max(count - 1, 1)
    return spacing / maxLen
  }

  /// The data bounds of one layer in plot units (y as log10 on a log axis); `tight` for grid
  /// layers, whose extent is used without a margin.
  func bounds(_ layer: Layer) -> (xs: [Double], ys: [Double], tight: Bool) {
    let ty: (Double) -> Double = logY ? { $0 > 0 ? log10($0) : .nan } : { $0 }
    switch layer {
    case let .line(xs, ys, _), let .scatter(xs, ys, _, _):
      let n = min(xs.count, ys.count)
      let pts = (0 ..< n).map { (xs[$0], ty(ys[$0])) }.filter { $0.0.isFinite && $0.1.isFinite }
      return (pts.map(\.0), pts.map(\.1), false)
    case let .quiver(x, y, u, v, _):
      let s = Figure.quiverScale(x: x, y: y, u: u, v: v)
      let n = min(x.count, y.count, u.count, v.count)
      let px = (0 ..< n).flatMap { [x[$0], x[$0] + s * u[$0]] }, py = (0 ..< n).flatMap { [ty(y[$0]), ty(y[$0] + s * v[$0])] }
      return (px.filter(\.isFinite), py.filter(\.isFinite), false)
    case let .contour(g, _, _, _, _), let .heatmap(g, _, _):
      guard !g.xs.isEmpty, !g.ys.isEmpty else { return ([], [], true) }
      let hx = Figure.cellEdges(g.xs), hy = Figure.cellEdges(g.ys)
      if case .heatmap = layer { return ([hx.first!, hx.last!], [ty(hy.first!), ty(hy.last!)], true) }
      return ([g.xs.min()!, g.xs.max()!], [ty(g.ys.min()!), ty(g.ys.max()!)], true)
    case let .bars(edges, heights, _):
      return ([edges.first!, edges.last!], (heights + (logY ? [] : [0])).map(ty).filter(\.isFinite), false)
    case let .vline(x, _): return ([x], [], false)
    case let .hline(y, _): return ([], [ty(y)].filter(\.isFinite), false)
    case let .text(x, y, _, _, _, _): return ([x], [ty(y)].filter(\.isFinite), false)
    }
  }

  /// Cell boundaries for grid points: midpoints between neighbours, extended half a step at the ends.
  static func cellEdges(_ c: [Double]) -> [Double] {
    guard c.count >= 2 else { return c.isEmpty ? [0, 1] : [c[0] - 0.5, c[0] + 0.5] }
    let mids = (0 ..< c.count - 1).map { (c[$0] + c[$0 + 1]) / 2 }
    return [c[0] - (c[1] - c[0]) / 2] + mids + [c[c.count - 1] + (c[c.count - 1] - c[c.count - 2]) / 2]
  }
}
