// Rendering a Figure to a standalone SVG: axis ranges, layout, then each layer clipped to the
// plot rectangle, with axes, title, labels, legend and colorbar around it.
import Foundation

extension Figure {
  /// The figure as a standalone SVG document.
  public func svg() -> String { svg(id: "fig") }

  /// The figure as SVG; `id` prefixes the ids of its clip path and gradient, so several
  /// figures can be inlined in one HTML page.
  public func svg(id: String) -> String {
    let root = SVGElement(
      "svg",
      [
        ("xmlns", "http://www.w3.org/2000/svg"), ("width", SVG.num(width)),
        ("height", SVG.num(height)), ("viewBox", "0 0 \(SVG.num(width)) \(SVG.num(height))"),
        ("font-family", "sans-serif"),
      ], children: elements(id: id))
    return root.rendered()
  }

  /// The axis range in plot units: the fixed range, else the loose data with a 4% margin
  /// (on the sides where it passes the tight data) joined with the tight (grid) data, else
  /// [0, 1]; an empty range is widened.
  func axisRange(loose: [Double], tight: [Double], fixed: ClosedRange<Double>?, log: Bool) -> (Double, Double) {
    if let f = fixed, !log || f.lowerBound > 0 {
      return log ? (log10(f.lowerBound), log10(f.upperBound)) : (f.lowerBound, f.upperBound)
    }
    var lo = Double.infinity, hi = -Double.infinity
    let t0 = tight.min() ?? .infinity, t1 = tight.max() ?? -.infinity
    if let a = loose.min(), let b = loose.max() {
      let pad = b > a ? 0.04 * (b - a) : (log ? 0.5 : max(abs(a) * 0.1, 0.5))
      // No margin on a side where the loose data lies within the tight (grid) extent.
      (lo, hi) = (a < t0 ? a - pad : t0, b > t1 ? b + pad : t1)
    }
    (lo, hi) = (min(lo, t0), max(hi, t1))
    if !(lo.isFinite && hi.isFinite) { return (0, 1) }
    if hi <= lo { return (lo - 0.5, hi + 0.5) }
    return (lo, hi)
  }

  /// The layer that owns the colorbar (first contour or heatmap asking for one): its map,
  /// value range and contour levels.
  var colorbarSource: (ColorMap, Double, Double, [Double])? {
    for layer in layers {
      switch layer {
      case let .contour(g, levels, map, _, true):
        if let (lo, hi) = g.finiteRange, hi > lo { return (map, lo, hi, levels) }
      case let .heatmap(g, map, true):
        if let (lo, hi) = g.finiteRange, hi > lo { return (map, lo, hi, []) }
      default: continue
      }
    }
    return nil
  }

  /// Legend rows for the labelled layers, in the order added.
  var legendEntries: [LegendEntry] {
    layers.compactMap { layer -> LegendEntry? in
      switch layer {
      case let .line(_, _, s): return s.label.map { LegendEntry(label: $0, color: s.color, swatch: s.dashed ? .dashed : .line) }
      case let .scatter(_, _, s, _): return s.label.map { LegendEntry(label: $0, color: s.color, swatch: .dot) }
      case let .quiver(_, _, _, _, s): return s.label.map { LegendEntry(label: $0, color: s.color, swatch: .arrow) }
      case let .bars(_, _, s): return s.label.map { LegendEntry(label: $0, color: s.color, swatch: .box) }
      case let .vline(_, s), let .hline(_, s): return s.label.map { LegendEntry(label: $0, color: s.color, swatch: .dashed) }
      case let .contour(_, _, map, label, _): return label.map { LegendEntry(label: $0, color: map.color(0.5), swatch: .line) }
      default: return nil
      }
    }
  }

  /// All elements of the figure: background, layers, axes, text, legend and colorbar.
  func elements(id: String) -> [SVGElement] {
    var loose: ([Double], [Double]) = ([], []), tight: ([Double], [Double]) = ([], [])
    for layer in layers {
      let b = bounds(layer)
      if b.tight { tight.0 += b.xs; tight.1 += b.ys } else { loose.0 += b.xs; loose.1 += b.ys }
    }
    var (x0, x1) = axisRange(loose: loose.0, tight: tight.0, fixed: xRange, log: false)
    var (y0, y1) = axisRange(loose: loose.1, tight: tight.1, fixed: yRange, log: logY)
    // Bars stand on y = 0: no margin below it when nothing else is negative.
    let hasBars = layers.contains { if case .bars = $0 { return true } else { return false } }
    if hasBars && !logY && yRange == nil && y0 < 0 && (loose.1 + tight.1).allSatisfy({ $0 >= 0 }) { y0 = 0 }
    let entries = legendEntries, cbar = colorbarSource
    let placement: LegendPlacement = entries.isEmpty ? .hidden : legend
    let top = title.isEmpty ? 14.0 : 34, bottom = 34 + (xLabel.isEmpty ? 0.0 : 18)
    var right = 16.0, cbTicks = Ticks(values: [], labels: [])
    if placement == .outsideRight { right += PlotFrame.legendSize(entries).0 + 4 }
    let plotH = height - top - bottom
    if let (_, z0, z1, _) = cbar {
      cbTicks = Ticks.linear(z0, z1, target: max(3, Int(plotH / 50)))
      right += PlotFrame.colorbarWidth(ticks: cbTicks, label: colorbarLabel)
    }
    func yTicksFor(_ a: Double, _ b: Double) -> Ticks {
      logY ? Ticks.log(a, b, target: max(3, Int(plotH / 40))) : Ticks.linear(a, b, target: max(3, Int(plotH / 55)))
    }
    var left = 0.0, plotW = 0.0, yTicks = yTicksFor(y0, y1)
    for _ in 0 ..< 2 {  // the left margin depends on the y tick labels, which depend on the range
      let labelW = yTicks.labels.map { SVG.textWidth($0, size: 11) }.max() ?? 0
      left = 8 + labelW + 9 + (yLabel.isEmpty ? 0 : 20)
      plotW = width - left - right
      if equalAspect && plotW > 0 && plotH > 0 {
        let ux = (x1 - x0) / plotW, uy = (y1 - y0) / plotH
        if ux > uy {
          let c = (y0 + y1) / 2; (y0, y1) = (c - ux * plotH / 2, c + ux * plotH / 2)
        } else {
          let c = (x0 + x1) / 2; (x0, x1) = (c - uy * plotW / 2, c + uy * plotW / 2)
        }
      }
      yTicks = yTicksFor(y0, y1)
    }
    var xTarget = max(2, Int(plotW / 70)), xTicks = Ticks.linear(x0, x1, target: xTarget)
    while xTarget > 2 {  // fewer ticks until the x tick labels do not overlap
      let widest = xTicks.labels.map { SVG.textWidth($0, size: 11) }.max() ?? 0
      let gap = xTicks.values.count > 1 ? plotW / (x1 - x0) * (xTicks.values[1] - xTicks.values[0]) : .infinity
      if widest + 8 < gap { break }
      xTarget -= 1
      xTicks = Ticks.linear(x0, x1, target: xTarget)
    }
    let frame = PlotFrame(
      left: left, top: top, width: plotW, height: plotH,
      x: LinearScale(domain: (x0, x1), range: (left, left + plotW)),
      y: LinearScale(domain: (y0, y1), range: (top + plotH, top)))

    var out = [
      SVGElement("rect", [("width", SVG.num(width)), ("height", SVG.num(height)), ("fill", "white")]),
      SVGElement(
        "defs", [],
        children: [
          SVGElement(
            "clipPath", [("id", "\(id)-clip")],
            children: [
              SVGElement("rect", [("x", SVG.num(left)), ("y", SVG.num(top)), ("width", SVG.num(plotW)), ("height", SVG.num(plotH))])
            ])
        ]),
    ]
    var occupied: [(Double, Double)] = []
    let drawn = layers.map { renderLayer($0, frame, occupied: &occupied) }
    let axes = frame.axes(xTicks: xTicks, yTicks: yTicks, logY: logY, grid: grid)
    out.append(axes[0])  // grid lines under the data
    out.append(SVGElement("g", [("clip-path", "url(#\(id)-clip)")], children: drawn.flatMap { $0 }))
    out += axes.dropFirst()
    if !title.isEmpty {
      let size = min(14, (width - 8) / (Double(title.count) * 0.6))
      let cx = min(max(left + plotW / 2, SVG.textWidth(title, size: size) / 2 + 4), width - SVG.textWidth(title, size: size) / 2 - 4)
      out.append(SVG.text(title, x: cx, y: 21, size: size, extra: [("font-weight", "600")]))
    }
    if !xLabel.isEmpty { out.append(SVG.text(xLabel, x: left + plotW / 2, y: height - 9, size: 12)) }
    if !yLabel.isEmpty {
      let cy = top + plotH / 2
      out.append(SVG.text(yLabel, x: 17, y: cy, size: 12, extra: [("transform", "rotate(-90 17 \(SVG.num(cy)))")]))
    }
    if let (map, z0, z1, levels) = cbar {
      out += frame.colorbar(map: map, z0: z0, z1: z1, ticks: cbTicks, levels: levels, label: colorbarLabel, id: "\(id)-cbar")
    }
    if placement != .hidden {
      let cbW = cbar == nil ? 0 : PlotFrame.colorbarWidth(ticks: cbTicks, label: colorbarLabel)
      out.append(legendElement(entries, placement, frame, occupied, outsideOffset: cbW))
    }
    return out
  }

  /// The legend box at its placement; `auto` takes the inside corner covering the fewest drawn points.
  func legendElement(
    _ entries: [LegendEntry], _ placement: LegendPlacement, _ f: PlotFrame,
    _ occupied: [(Double, Double)], outsideOffset: Double
  ) -> SVGElement {
    let (w, h) = PlotFrame.legendSize(entries)
    func corner(_ p: LegendPlacement) -> (Double, Double) {
      switch p {
      case .topLeft: return (f.left + 8, f.top + 8)
      case .bottomLeft: return (f.left + 8, f.bottom - 8 - h)
      case .bottomRight: return (f.right - 8 - w, f.bottom - 8 - h)
      case .outsideRight: return (f.right + outsideOffset + 10, f.top)
      default: return (f.right - 8 - w, f.top + 8)
      }
    }
    var p = placement
    if p == .auto {
      let scores = [LegendPlacement.topRight, .topLeft, .bottomRight, .bottomLeft].map { c -> (LegendPlacement, Int) in
        let (x, y) = corner(c)
        return (c, occupied.filter { $0.0 >= x - 4 && $0.0 <= x + w + 4 && $0.1 >= y - 4 && $0.1 <= y + h + 4 }.count)
      }
      p = scores.min { $0.1 < $1.1 }!.0
    }
    let (x, y) = corner(p)
    return PlotFrame.legend(entries, x0: x, y0: y)
  }
}
