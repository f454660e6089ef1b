// Scales, "nice" ticks (1-2-5 steps, or powers of ten on a log axis), and the drawing of the
// axes frame, tick labels, title, axis labels, legend and colorbar of a Figure.
import Foundation

/// Maps the data interval [d0, d1] linearly onto the pixel interval [r0, r1].
public struct LinearScale: Sendable {
  public var d0: Double, d1: Double, r0: Double, r1: Double

  public init(domain: (Double, Double), range: (Double, Double)) {
    (d0, d1, r0, r1) = (domain.0, domain.1, range.0, range.1)
  }

  /// The pixel position of data value v.
  public func callAsFunction(_ v: Double) -> Double {
    r0 + (v - d0) / (d1 - d0) * (r1 - r0)
  }
}

/// Tick positions and their labels on one axis.
public struct Ticks: Sendable {
  public var values: [Double]
  public var labels: [String]
  public var minor: [Double] = []

  /// Nice tick values in [lo, hi]: multiples of a step 1, 2 or 5 times a power of ten, chosen so
  /// that about `target` intervals cover the range; values are computed as integer multiples
  /// divided by a power of ten, so 3 * 0.1 gives 0.3, not 0.30000000000000004.
  public static func nice(_ lo: Double, _ hi: Double, target: Int = 5) -> (values: [Double], step: Double) {
    guard lo.isFinite, hi.isFinite, hi > lo else { return (lo.isFinite ? [lo] : [], 1) }
    let raw = (hi - lo) / Double(max(1, target))
    var e = Int(floor(log10(raw)))
    let norm = raw / pow(10, Double(e))
    var m = norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10
    if m == 10 { m = 1; e += 1 }
    while true {
      let values = multiples(lo, hi, m: m, e: e)
      if values.count >= 2 || e < -300 { return (values, Double(m) * pow(10, Double(e))) }
      (m, e) = m == 1 ? (5, e - 1) : m == 2 ? (1, e) : (2, e)  // too few: next smaller step
    }
  }

  /// The multiples k * m * 10^e lying in [lo, hi] (with a tolerance of 1e-9 of the range).
  static func multiples(_ lo: Double, _ hi: Double, m: Int, e: Int) -> [Double] {
    let p = pow(10, Double(abs(e)))
    func value(_ k: Double) -> Double { e >= 0 ? k * Double(m) * p : k * Double(m) / p }
    let step = value(1), tol = (hi - lo) * 1e-9
    let k0 = ceil((lo - tol) / step), k1 = floor((hi + tol) / step)
    guard k1 >= k0, k1 - k0 < 1000 else { return [] }
    return stride(from: k0, through: k1, by: 1).map { $0 == 0 ? 0 : value($0) }
  }

  /// Linear ticks with labels formatted to the step.
  public static func linear(_ lo: Double, _ hi: Double, target: Int) -> Ticks {
    let (values, step) = nice(lo, hi, target: target)
    return Ticks(values: values, labels: values.map { NumberFormat.tick($0, step: step) })
  }

  /// Ticks for a log axis whose domain is [a, b] in log10 units: powers of ten (every k-th
  /// decade when there are many), with minor ticks at 2..9 times a power; over less than two
  /// decades also 2 and 5 times powers; failing that, nice linear values. Values are data
  /// values (not logarithms).
  public static func log(_ a: Double, _ b: Double, target: Int = 6) -> Ticks {
    guard a.isFinite, b.isFinite, b > a else { return Ticks(values: [], labels: []) }
    let k0 = Int(ceil(a - 1e-9)), k1 = Int(floor(b + 1e-9))
    let count = k1 - k0 + 1
    func inside(_ v: Double) -> Bool { let l = log10(v); return l >= a - 1e-9 && l <= b + 1e-9 }
    // m * 10^k, correctly rounded (10^|k| is exact for the decades that occur).
    func decade(_ m: Double, _ k: Int) -> Double { k >= 0 ? m * pow(10, Double(k)) : m / pow(10, Double(-k)) }
    if count >= 2 {
      let every = max(1, Int(ceil(Double(count) / Double(max(target, 2)))))
      let ks = stride(from: k0, through: k1, by: every).filter { ($0 - k0) % every == 0 }
      let values = ks.map { decade(1, $0) }
      var minor: [Double] = []
      if every == 1 {
        for k in (k0 - 1) ... k1 { for j in 2 ... 9 { let v = decade(Double(j), k); if inside(v) { minor.append(v) } } }
      }
      return Ticks(values: values, labels: values.map { NumberFormat.compact($0, significant: 1) }, minor: minor)
    }
    var values: [Double] = []
    for k in (k0 - 1) ... (k1 + 1) {
      for j in [1.0, 2, 5] { let v = decade(j, k); if inside(v) { values.append(v) } }
    }
    if values.count >= 2 {
      return Ticks(values: values, labels: values.map { NumberFormat.compact($0, significant: 1) })
    }
    let (lin, step) = nice(pow(10, a), pow(10, b), target: 4)
    let pos = lin.filter { $0 > 0 }
    return Ticks(values: pos, labels: pos.map { NumberFormat.tick($0, step: step) })
  }
}

/// Where the legend goes: a corner inside the plot (`auto` picks the emptiest), or outside right.
public enum LegendPlacement: Sendable {
  case auto, topRight, topLeft, bottomRight, bottomLeft, outsideRight, hidden
}

/// One legend row: a label and the swatch that identifies its series.
struct LegendEntry: Sendable {
  enum Swatch: Sendable { case line, dashed, dot, box, arrow }
  var label: String
  var color: String
  var swatch: Swatch
}

/// The plot rectangle in pixels and the data-to-pixel scales (y in log10 units on a log axis).
struct PlotFrame {
  var left: Double, top: Double, width: Double, height: Double
  var x: LinearScale, y: LinearScale
  var right: Double { left + width }
  var bottom: Double { top + height }

  /// Grid lines, frame, outward ticks and tick labels on the left and bottom edges.
  func axes(xTicks: Ticks, yTicks: Ticks, logY: Bool, grid: Bool) -> [SVGElement] {
    var gridPath = "", tickPath = "", labels: [SVGElement] = []
    func ty(_ v: Double) -> Double { y(logY ? log10(v) : v) }
    for (v, label) in zip(xTicks.values, xTicks.labels) {
      let px = SVG.num(x(v))
      gridPath += "M\(px) \(SVG.num(top))V\(SVG.num(bottom))"
      tickPath += "M\(px) \(SVG.num(bottom))v5"
      labels.append(SVG.text(label, x: x(v), y: bottom + 17, size: 11))
    }
    for (v, label) in zip(yTicks.values, yTicks.labels) {
      let py = SVG.num(ty(v))
      gridPath += "M\(SVG.num(left)) \(py)H\(SVG.num(right))"
      tickPath += "M\(SVG.num(left)) \(py)h-5"
      labels.append(SVG.text(label, x: left - 8, y: ty(v) + 3.8, size: 11, anchor: "end"))
    }
    for v in yTicks.minor { tickPath += "M\(SVG.num(left)) \(SVG.num(ty(v)))h-3" }
    var out: [SVGElement] = []
    if grid && !gridPath.isEmpty {
      out.append(SVGElement("path", [("d", gridPath), ("stroke", "#e6e6e6"), ("stroke-width", "1"), ("fill", "none")]))
    }
    out.append(
      SVGElement(
        "rect",
        [
          ("x", SVG.num(left)), ("y", SVG.num(top)), ("width", SVG.num(width)),
          ("height", SVG.num(height)), ("fill", "none"), ("stroke", "#444"),
        ]))
    if !tickPath.isEmpty { out.append(SVGElement("path", [("d", tickPath), ("stroke", "#444"), ("fill", "none")])) }
    out.append(SVGElement("g", [("fill", "#333")], children: labels))
    return out
  }

  /// The size in px of a legend box for `entries`.
  static func legendSize(_ entries: [LegendEntry]) -> (Double, Double) {
    let w = entries.map { SVG.textWidth($0.label, size: 11) }.max() ?? 0
    return (w + 40, Double(entries.count) * 17 + 8)
  }

  /// A legend box with its top-left corner at (x0, y0): swatch then label per row.
  static func legend(_ entries: [LegendEntry], x0: Double, y0: Double) -> SVGElement {
    let (w, h) = legendSize(entries)
    var items = [
      SVGElement(
        "rect",
        [
          ("x", SVG.num(x0)), ("y", SVG.num(y0)), ("width", SVG.num(w)),
          ("height", SVG.num(h)), ("rx", "3"), ("fill", "white"),
          ("fill-opacity", "0.85"), ("stroke", "#bbb"),
        ])
    ]
    for (i, e) in entries.enumerated() {
      let cy = y0 + 12.5 + Double(i) * 17, sx = x0 + 7
      switch e.swatch {
      case .line, .dashed, .arrow:
        var attrs = [("d", "M\(SVG.num(sx)) \(SVG.num(cy))h20"), ("stroke", e.color), ("stroke-width", "2")]
        if e.swatch == .dashed { attrs.append(("stroke-dasharray", "5 3")) }
        items.append(SVGElement("path", attrs))
        if e.swatch == .arrow {
          items.append(SVGElement("path", [("d", "M\(SVG.num(sx + 21)) \(SVG.num(cy))l-6 -3.5v7z"), ("fill", e.color)]))
        }
      case .dot:
        items.append(SVGElement("circle", [("cx", SVG.num(sx + 10)), ("cy", SVG.num(cy)), ("r", "3.5"), ("fill", e.color)]))
      case .box:
        items.append(
          SVGElement(
            "rect",
            [
              ("x", SVG.num(sx + 3)), ("y", SVG.num(cy - 5.5)), ("width", "14"),
              ("height", "11"), ("fill", e.color), ("fill-opacity", "0.75"),
            ]))
      }
      items.append(SVG.text(e.label, x: sx + 26, y: cy + 4, size: 11, anchor: "start"))
    }
    return SVGElement("g", [], children: items)
  }

  /// Horizontal room a colorbar needs right of the plot (bar, tick labels, optional label).
  static func colorbarWidth(ticks: Ticks, label: String) -> Double {
    let w = ticks.labels.map { SVG.textWidth($0, size: 11) }.max() ?? 0
    return 14 + 12 + 6 + w + (label.isEmpty ? 4 : 26)
  }

  /// A vertical colorbar right of the plot: a viridis gradient over [z0, z1], nice ticks,
  /// dark marks at the contour levels and an optional rotated label.
  func colorbar(
    map: ColorMap, z0: Double, z1: Double, ticks: Ticks, levels: [Double],
    label: String, id: String
  ) -> [SVGElement] {
    let x0 = right + 14, w = 12.0
    let stops = map.anchors.indices.map { i -> SVGElement in
      let t = Double(i) / Double(map.anchors.count - 1)
      return SVGElement("stop", [("offset", String(format: "%.3f", t)), ("stop-color", map.color(t))])
    }
    let grad = SVGElement(
      "linearGradient", [("id", id), ("x1", "0"), ("y1", "1"), ("x2", "0"), ("y2", "0")],
      children: stops)
    var out = [
      SVGElement("defs", [], children: [grad]),
      SVGElement(
        "rect",
        [
          ("x", SVG.num(x0)), ("y", SVG.num(top)), ("width", SVG.num(w)),
          ("height", SVG.num(height)), ("fill", "url(#\(id))"), ("stroke", "#444"),
        ]),
    ]
    let zs = LinearScale(domain: (z0, z1), range: (bottom, top))
    var marks = "", ticksPath = ""
    var labels: [SVGElement] = []
    for l in levels where l >= min(z0, z1) && l <= max(z0, z1) { marks += "M\(SVG.num(x0)) \(SVG.num(zs(l)))h\(SVG.num(w))" }
    for (v, s) in zip(ticks.values, ticks.labels) {
      ticksPath += "M\(SVG.num(x0 + w)) \(SVG.num(zs(v)))h4"
      labels.append(SVG.text(s, x: x0 + w + 6, y: zs(v) + 3.8, size: 11, anchor: "start"))
    }
    if !marks.isEmpty { out.append(SVGElement("path", [("d", marks), ("stroke", "#222"), ("stroke-opacity", "0.7")])) }
    out.append(SVGElement("path", [("d", ticksPath), ("stroke", "#444")]))
    out.append(SVGElement("g", [("fill", "#333")], children: labels))
    if !label.isEmpty {
      let lw = ticks.labels.map { SVG.textWidth($0, size: 11) }.max() ?? 0
      let lx = x0 + w + 10 + lw + 16, ly = top + height / 2
      out.append(SVG.text(label, x: lx, y: ly, size: 12, extra: [("transform", "rotate(-90 \(SVG.num(lx)) \(SVG.num(ly)))")]))
    }
    return out
  }
}
