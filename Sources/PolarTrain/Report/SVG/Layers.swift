// Drawing each kind of Figure layer in pixel coordinates; also records drawn points so the
// legend can avoid them.
import Foundation

extension Figure {
  /// The SVG elements of one layer in the frame's pixel space; appends sample pixel positions
  /// of what was drawn to `occupied` (for automatic legend placement).
  func renderLayer(_ layer: Layer, _ f: PlotFrame, occupied: inout [(Double, Double)]) -> [SVGElement] {
    let ty: (Double) -> Double = logY ? { $0 > 0 ? log10($0) : .nan } : { $0 }
    func px(_ x: Double, _ y: Double) -> (Double, Double)? {
      let p = (f.x(x), f.y(ty(y)))
      return p.0.isFinite && p.1.isFinite ? p : nil
    }
    func pt(_ p: (Double, Double)) -> String { SVG.num(p.0) + " " + SVG.num(p.1) }
    func stroke(_ s: Style) -> [(String, String)] {
      var a = [
        ("fill", "none"), ("stroke", s.color), ("stroke-width", SVG.num(s.width)),
        ("stroke-linejoin", "round"), ("stroke-linecap", "round"),
      ]
      if s.dashed { a.append(("stroke-dasharray", "6 4")) }
      return a
    }
    switch layer {
    case let .line(xs, ys, s):
      var d = "", run = 0, last = ""
      for i in 0 ..< min(xs.count, ys.count) {
        guard let p = px(xs[i], ys[i]) else { run = 0; continue }  // a gap breaks the line
        let q = pt(p)
        if run > 0 && q == last { continue }  // same pixel as the previous point
        d += (run == 0 ? "M" : run == 1 ? "L" : " ") + q
        run += 1; last = q
        occupied.append(p)
      }
      return d.isEmpty ? [] : [SVGElement("path", [("d", d)] + stroke(s))]

    case let .scatter(xs, ys, s, r):
      var dots: [SVGElement] = []
      for i in 0 ..< min(xs.count, ys.count) {
        guard let p = px(xs[i], ys[i]), p.0 > f.left - r, p.0 < f.right + r, p.1 > f.top - r, p.1 < f.bottom + r else { continue }
        dots.append(SVGElement("circle", [("cx", SVG.num(p.0)), ("cy", SVG.num(p.1)), ("r", SVG.num(r))]))
        occupied.append(p)
      }
      return [SVGElement("g", [("fill", s.color), ("fill-opacity", NumberFormat.compact(s.opacity, significant: 2))], children: dots)]

    case let .quiver(x, y, u, v, s):
      let k = Figure.quiverScale(x: x, y: y, u: u, v: v)
      var shafts = "", heads = ""
      for i in 0 ..< min(x.count, y.count, u.count, v.count) where (u[i] != 0 || v[i] != 0) {
        guard let a = px(x[i], y[i]), let b = px(x[i] + k * u[i], y[i] + k * v[i]) else { continue }
        let len = hypot(b.0 - a.0, b.1 - a.1)
        guard len >= 0.5 else { continue }
        let (dx, dy) = ((b.0 - a.0) / len, (b.1 - a.1) / len)
        let h = min(7, 0.4 * len), w = 0.45 * h
        let base = (b.0 - h * dx, b.1 - h * dy)
        shafts += "M" + pt(a) + "L" + pt(base)
        heads += "M" + pt(b) + "L" + pt((base.0 - w * dy, base.1 + w * dx)) + " " + pt((base.0 + w * dy, base.1 - w * dx)) + "Z"
        occupied.append(a); occupied.append(b)
      }
      if shafts.isEmpty { return [] }
      return [SVGElement("path", [("d", shafts)] + stroke(s)), SVGElement("path", [("d", heads), ("fill", s.color)])]

    case let .contour(g, levels, map, _, _):
      let (z0, z1) = g.finiteRange ?? (0, 1)
      var out: [SVGElement] = []
      for level in levels {
        var d = ""
        for line in Contour.lines(g, level: level) {
          let ps = line.compactMap { px($0.x, $0.y) }
          guard ps.count >= 2 else { continue }
          d += "M" + pt(ps[0]) + "L" + ps.dropFirst().map(pt).joined(separator: " ")
          occupied += ps.enumerated().filter { $0.offset % 4 == 0 }.map(\.element)
        }
        if d.isEmpty { continue }
        let color = map.color(z1 > z0 ? (level - z0) / (z1 - z0) : 0.5)
        out.append(
          SVGElement(
            "path",
            [
              ("d", d), ("fill", "none"), ("stroke", color), ("stroke-width", "1.6"),
              ("stroke-linejoin", "round"), ("data-level", NumberFormat.compact(level, significant: 6)),
            ]))
      }
      return out

    case let .heatmap(g, map, _):
      guard let (z0, z1) = g.finiteRange else { return [] }
      let ex = Figure.cellEdges(g.xs).map { f.x($0) }, ey = Figure.cellEdges(g.ys).map { f.y(ty($0)) }
      var cells: [SVGElement] = []
      for j in g.ys.indices {
        for i in g.xs.indices where g.values[j][i].isFinite {
          let xa = (ex[i] * 10).rounded() / 10, xb = (ex[i + 1] * 10).rounded() / 10
          let ya = (ey[j] * 10).rounded() / 10, yb = (ey[j + 1] * 10).rounded() / 10
          guard xa.isFinite, xb.isFinite, ya.isFinite, yb.isFinite else { continue }
          let t = z1 > z0 ? (g.values[j][i] - z0) / (z1 - z0) : 0.5
          cells.append(
            SVGElement(
              "rect",
              [
                ("x", SVG.num(min(xa, xb))), ("y", SVG.num(min(ya, yb))), ("width", SVG.num(abs(xb - xa))),
                ("height", SVG.num(abs(yb - ya))), ("fill", map.color(t)),
              ]))
        }
      }
      return [SVGElement("g", [("shape-rendering", "crispEdges")], children: cells)]

    case let .bars(edges, heights, s):
      var d = ""
      let base = logY ? f.bottom : f.y(0)
      for (i, h) in heights.enumerated() where h != 0 {
        guard let p = px(edges[i], h), let q = px(edges[i + 1], h) else { continue }
        d += "M\(SVG.num(p.0)) \(SVG.num(base))V\(SVG.num(p.1))H\(SVG.num(q.0))V\(SVG.num(base))Z"
        occupied.append(p); occupied.append(q); occupied.append(((p.0 + q.0) / 2, p.1))
      }
      return d.isEmpty
        ? []
        : [
          SVGElement(
            "path",
            [
              ("d", d), ("fill", s.color), ("fill-opacity", NumberFormat.compact(s.opacity, significant: 2)),
              ("stroke", "white"), ("stroke-width", "0.6"),
            ])
        ]

    case let .vline(x, s):
      let p = f.x(x)
      guard p.isFinite else { return [] }
      return [SVGElement("path", [("d", "M\(SVG.num(p)) \(SVG.num(f.top))V\(SVG.num(f.bottom))")] + stroke(s))]

    case let .hline(y, s):
      let p = f.y(ty(y))
      guard p.isFinite else { return [] }
      return [SVGElement("path", [("d", "M\(SVG.num(f.left)) \(SVG.num(p))H\(SVG.num(f.right))")] + stroke(s))]

    case let .text(x, y, str, anchor, size, color):
      guard let p = px(x, y) else { return [] }
      return [SVG.text(str, x: p.0, y: p.1, size: size, anchor: anchor, extra: [("fill", color)])]
    }
  }
}
