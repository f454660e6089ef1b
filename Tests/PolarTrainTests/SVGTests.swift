// The report's SVG writer and plotting layer: ticks, number formats, marching squares, and
// well-formed, escaped, NaN-free output; POLAR_TRAIN_SVG_DEMO=DIR writes a demo page to look at.
import Foundation
import PolarTrain
import Testing

#if canImport(FoundationXML)
  import FoundationXML
#endif

@Suite("SVG report plots")
struct SVGTests {
  /// Parses `text` as XML; returns the parser error, nil when well formed.
  func xmlError(_ text: String) -> Error? {
    let parser = XMLParser(data: Data(text.utf8))
    return parser.parse() ? nil : (parser.parserError ?? CocoaError(.coderInvalidValue))
  }

  @Test("nice ticks use 1-2-5 steps and exact decimal values")
  func niceTicks() {
    #expect(Ticks.nice(0, 1).values == [0, 0.2, 0.4, 0.6, 0.8, 1])
    #expect(Ticks.linear(0, 1, target: 5).labels == ["0", "0.2", "0.4", "0.6", "0.8", "1"])
    #expect(Ticks.nice(-5, 5).values == [-4, -2, 0, 2, 4])
    #expect(Ticks.nice(0.0013, 0.0071).values == [0.002, 0.003, 0.004, 0.005, 0.006, 0.007])
    #expect(Ticks.nice(0, 0.3, target: 3).values == [0, 0.1, 0.2, 0.3])
    #expect(
      Ticks.linear(0, 10000, target: 4).labels == ["0", "2.5k", "5k", "7.5k", "10k"]
        || Ticks.linear(0, 10000, target: 4).labels == ["0", "2k", "4k", "6k", "8k", "10k"])
    #expect(Ticks.linear(1.0001, 1.0009, target: 4).labels.first == "1.0002")
    // Properties over many ranges: inside the range, evenly spaced by a 1-2-5 step, enough ticks.
    var rng = SystemRandomNumberGenerator()
    for _ in 0 ..< 300 {
      let lo = Double.random(in: -1e3 ... 1e3, using: &rng) * pow(10, Double(Int.random(in: -6 ... 3, using: &rng)))
      let hi = lo + Double.random(in: 1e-3 ... 10, using: &rng) * pow(10, Double(Int.random(in: -6 ... 4, using: &rng)))
      let target = Int.random(in: 2 ... 8, using: &rng)
      let (v, step) = Ticks.nice(lo, hi, target: target)
      let tol = (hi - lo) * 1e-9
      #expect(v.count >= 2 && v.count <= 3 * target + 1, "\(lo) \(hi) \(target): \(v)")
      #expect(v.allSatisfy { $0 >= lo - tol && $0 <= hi + tol })
      let mantissa = step / pow(10, floor(log10(step)))
      #expect([1.0, 2, 5].contains { abs(mantissa - $0) < 1e-9 })
      let ulp = max(abs(lo), abs(hi)).ulp * 4  // spacing of doubles near the range
      for (a, b) in zip(v, v.dropFirst()) { #expect(abs((b - a) - step) <= step * 1e-6 + ulp) }
      let labels = Ticks.linear(lo, hi, target: target).labels
      #expect(Set(labels).count == labels.count, "labels must tell ticks apart: \(labels)")
    }
  }

  @Test("log ticks at powers of ten")
  func logTicks() {
    let t = Ticks.log(-4, 1)
    #expect(t.values == [1e-4, 1e-3, 1e-2, 0.1, 1, 10])
    #expect(t.labels == ["1e-4", "1e-3", "0.01", "0.1", "1", "10"])
    #expect(t.minor.contains(0.002) && t.minor.contains(5) && !t.minor.contains(20))
    let many = Ticks.log(-12, 3)
    #expect(many.values.count >= 2 && many.values.count <= 8)
    let narrow = Ticks.log(log10(0.15), log10(0.9))
    #expect(narrow.values == [0.2, 0.5])
  }

  @Test("compact number formatting")
  func numbers() {
    #expect(NumberFormat.compact(0.1 + 0.2) == "0.3")
    #expect(NumberFormat.compact(0.5) == "0.5")
    #expect(NumberFormat.compact(1e-3) == "1e-3")
    #expect(NumberFormat.compact(2.5e-5) == "2.5e-5")
    #expect(NumberFormat.compact(2500) == "2.5k")
    #expect(NumberFormat.compact(999.96) == "1k")
    #expect(NumberFormat.compact(1_234_567) == "1.235M")
    #expect(NumberFormat.compact(3e12) == "3e12")
    #expect(NumberFormat.compact(-0.25) == "-0.25")
    #expect(NumberFormat.compact(-0.0) == "0")
    #expect(NumberFormat.compact(12.345678) == "12.35")
    #expect(NumberFormat.compact(.nan) == "NaN")
    #expect(NumberFormat.tick(0.6000000000000001, step: 0.2) == "0.6")
    #expect(NumberFormat.tick(1e-17, step: 0.1) == "0")
    #expect(NumberFormat.metric(4096) == "4096")
    #expect(NumberFormat.metric(0.000123456) == "1.235e-4")
    #expect(SVG.num(12.34) == "12.3" && SVG.num(-0.04) == "0" && SVG.num(-2.06) == "-2.1" && SVG.num(.nan) == "0")
  }

  @Test("marching squares traces the circle x^2 + y^2 = 0.25 as one closed curve")
  func circle() {
    let g = ScalarGrid(x: -1 ... 1, y: -1 ... 1, nx: 41, ny: 41) { $0 * $0 + $1 * $1 }
    let segs = Contour.segments(g, level: 0.25)
    #expect(segs.count > 40)
    for (a, b) in segs {
      #expect(abs(hypot(a.x, a.y) - 0.5) < 0.01 && abs(hypot(b.x, b.y) - 0.5) < 0.01)
    }
    let lines = Contour.lines(g, level: 0.25)
    #expect(lines.count == 1)
    let line = lines[0]
    #expect(line.first == line.last, "closed")
    #expect(line.count == segs.count + 1)
    let length = zip(line, line.dropFirst()).map { hypot($1.x - $0.x, $1.y - $0.y) }.reduce(0, +)
    #expect(abs(length - Double.pi) < 0.02 * Double.pi)
    // A level crossing the boundary gives an open curve from edge to edge.
    let open = Contour.lines(g, level: 1.5)
    #expect(open.count == 4 && open.allSatisfy { $0.first != $0.last })
  }

  @Test("a saddle cell is resolved by its centre value")
  func saddle() {
    // Corners (0,0) and (1,1) high, (1,0) and (0,1) low.
    let high = ScalarGrid(xs: [0, 1], ys: [0, 1], values: [[1, 0], [0, 1]])
    // Centre 0.5 >= 0.4: the high corners join, so the low corners (1,0) and (0,1) are cut off.
    let cut = Contour.segments(high, level: 0.4).map { ($0.0.x + $0.1.x) / 2 - ($0.0.y + $0.1.y) / 2 }
    #expect(cut.count == 2 && cut.contains { $0 > 0.5 } && cut.contains { $0 < -0.5 })
    // Centre 0.5 < 0.6: the high corners (0,0) and (1,1) are cut off.
    let cut2 = Contour.segments(high, level: 0.6).map { ($0.0.x + $0.1.x + $0.0.y + $0.1.y) / 2 }
    #expect(cut2.count == 2 && cut2.contains { $0 < 0.5 } && cut2.contains { $0 > 1.5 })
  }

  /// A figure with every kind of layer.
  static func everything(title: String = "All layers") -> Figure {
    var f = Figure(title: title, xLabel: "x", yLabel: "y", equalAspect: true)
    let g = ScalarGrid(x: -2 ... 2, y: -2 ... 2, nx: 21, ny: 21) { x, y in x * x + 2 * y * y }
    f.heatmap(g)
    f.contour(g, count: 6)
    let t = stride(from: 0.0, through: 6.3, by: 0.1).map { $0 }
    f.line(t.map { cos($0) }, t.map { sin($0) }, label: "circle")
    f.scatter([0.1, -0.5, .nan, 1.2], [0.3, 0.8, 1, .infinity], label: "points")
    f.quiver(x: [-1, 0, 1], y: [-1, -1, -1], u: [0.5, 0, -1], v: [1, 0, 0.2], label: "field")
    f.histogram([0.1, 0.2, 0.25, 0.9, 1.4], bins: 4, label: "hist")
    f.verticalLine(0.5, label: "mean")
    f.horizontalLine(-0.5, label: "floor")
    f.text("note <&>", x: 0, y: 1.5)
    return f
  }

  @Test("an SVG with every kind of layer is well-formed XML")
  func wellFormed() {
    let svg = SVGTests.everything().svg()
    #expect(xmlError(svg) == nil, "\(String(describing: xmlError(svg)))")
    #expect(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\"") && svg.contains("viewBox=\"0 0 480 400\""))
    #expect(svg.contains("clip-path=\"url(#fig-clip)\"") && svg.contains("<clipPath id=\"fig-clip\">"))
    for label in ["circle", "points", "field", "hist", "mean", "floor"] { #expect(svg.contains(">\(label)</text>")) }
    #expect(svg.components(separatedBy: "data-level=").count - 1 >= 3, "contour levels drawn")
    var loss = Figure(title: "loss", logY: true)
    loss.line([0, 1, 2, 3], [1, 0.1, 0, 0.001], label: "train")
    let ls = loss.svg()
    #expect(xmlError(ls) == nil && ls.contains(">1e-3</text>") && ls.contains(">0.1</text>"))
    #expect(xmlError(Figure().svg()) == nil, "an empty figure still renders")
  }

  @Test("text is escaped")
  func escaping() {
    #expect(SVG.escape("a<b&c>\"d'") == "a&lt;b&amp;c&gt;&quot;d&#39;")
    var f = Figure(title: "<&>\" title", xLabel: "x<1")
    f.line([0, 1], [0, 1], label: "a&b")
    let svg = f.svg()
    #expect(svg.contains("&lt;&amp;&gt;&quot; title") && svg.contains("x&lt;1") && svg.contains("a&amp;b"))
    #expect(!svg.contains("<&>") && xmlError(svg) == nil)
  }

  @Test("non-finite data never reaches the SVG")
  func noNaN() {
    var f = Figure(title: "bad values")
    f.scatter([.nan, 1, .infinity, 2], [0, .nan, 1, -.infinity], label: "bad")
    f.scatter([Double.nan], [Double.nan])
    f.line([0, 1, 2, 3, 4], [0, 1, .nan, 3, 4], label: "gap")
    f.quiver(x: [0, .nan], y: [0, 1], u: [.nan, 1], v: [1, 1])
    f.histogram([.nan, .infinity])
    let svg = f.svg().lowercased()
    #expect(!svg.contains("nan") && !svg.contains("inf"))
    #expect(xmlError(f.svg()) == nil)
    let line = f.svg().components(separatedBy: "\n").first { $0.contains("stroke-linecap") && $0.hasPrefix("<path") } ?? ""
    #expect(line.components(separatedBy: "M").count - 1 == 2, "the NaN breaks the line: \(line)")
  }

  @Test("the HTML page holds each figure, the escaped metrics and the config")
  func page() {
    var page = ReportPage(title: "Run <1>", subtitle: "runs/a&b")
    page.section("Maps")
    page.paragraph("x < y & z")
    var a = Figure(title: "first figure"); a.line([0, 1], [1, 2])
    var b = Figure(title: "second figure"); b.scatter([0, 1], [1, 2])
    page.figure(a, caption: "caption <a>")
    page.figure(b)
    page.section("Metrics")
    page.metrics(["energy_distance": 0.00123456, "samples": 4096, "w<2>": 1.5])
    page.preformatted("[problem]\nfield = \"a<b\"\n", caption: "config.toml")
    let html = page.html()
    #expect(html.hasPrefix("<!DOCTYPE html>") && html.hasSuffix("</html>\n"))
    #expect(html.contains(">first figure</text>") && html.contains(">second figure</text>"))
    #expect(html.contains("<clipPath id=\"f1-clip\">") && html.contains("<clipPath id=\"f2-clip\">"))
    #expect(html.components(separatedBy: "<svg ").count - 1 == 2)
    #expect(html.contains("<th>energy_distance</th><td class=\"v\">1.235e-3</td>"))
    #expect(html.contains("<th>samples</th><td class=\"v\">4096</td>") && html.contains("<th>w&lt;2&gt;</th>"))
    #expect(html.contains("Run &lt;1&gt;") && html.contains("x &lt; y &amp; z") && html.contains("caption &lt;a&gt;"))
    #expect(html.contains("field = &quot;a&lt;b&quot;") && !html.contains("<link") && !html.contains("<script"))
    // Each figure's SVG part is well-formed on its own.
    for part in html.components(separatedBy: "<svg ").dropFirst() {
      let svg = "<svg " + part.components(separatedBy: "</svg>")[0] + "</svg>"
      #expect(xmlError(svg) == nil)
    }
  }

  @Test(
    "demo page of every plot kind (POLAR_TRAIN_SVG_DEMO=DIR)",
    .enabled(if: ProcessInfo.processInfo.environment["POLAR_TRAIN_SVG_DEMO"] != nil))
  func demo() throws {
    try SVGDemo.page().write(to: ProcessInfo.processInfo.environment["POLAR_TRAIN_SVG_DEMO"]!)
  }
}

/// A demo page with every plot kind, to look at in a browser.
enum SVGDemo {
  static func page() -> ReportPage {
    var rng = SplitMix(seed: 7)
    var page = ReportPage(title: "polar-train report: demo <all plot kinds>", subtitle: "runs/demo — synthetic data")
    page.section("Training")
    page.paragraph("Loss curves on a log axis, with the noise floor as a horizontal line.")
    var loss = Figure(title: "Loss", xLabel: "step", yLabel: "loss", logY: true)
    let steps = (0 ..< 3000).map(Double.init)
    loss.line(steps, steps.map { 2 * exp(-$0 / 400) + 1e-3 * (1 + 0.3 * sin($0 / 20)) }, label: "potential")
    loss.line(steps, steps.map { 0.5 * exp(-$0 / 900) + 2e-4 }, label: "map")
    loss.horizontalLine(1e-3, label: "noise floor", color: "#888888")
    page.figure(loss, caption: "Training losses per step.")
    var lr = Figure(title: "Learning rate", xLabel: "step", yLabel: "lr")
    lr.line(steps, steps.map { 1e-3 * 0.5 * (1 + cos(Double.pi * $0 / 3000)) }, label: "cosine schedule")
    lr.text("warm restart?", x: 1500, y: 6e-4)
    page.figure(lr)
    page.section("Maps of the plane")
    var sc = Figure(title: "Samples: M#rho vs rho", xLabel: "x1", yLabel: "x2", equalAspect: true)
    let a = (0 ..< 1500).map { _ in (rng.normal(), rng.normal()) }
    sc.scatter(a.map(\.0), a.map(\.1), label: "rho", radius: 1.6, opacity: 0.35)
    sc.scatter(a.map { 0.7 * $0.0 + 2.5 }, a.map { 1.4 * $0.1 + 0.3 * $0.0 }, label: "M#rho", radius: 1.6, opacity: 0.35)
    page.figure(sc)
    var q = Figure(title: "Vector field F", xLabel: "x1", yLabel: "x2", equalAspect: true)
    var qx: [Double] = [], qy: [Double] = [], qu: [Double] = [], qv: [Double] = []
    for i in -7 ... 7 {
      for j in -7 ... 7 {
        let x = Double(i) / 3.5, y = Double(j) / 3.5
        qx.append(x); qy.append(y); qu.append(x - 0.8 * y); qv.append(2 * y + 0.8 * x)
      }
    }
    q.quiver(x: qx, y: qy, u: qu, v: qv, label: "F(x)")
    page.figure(q)
    let g = ScalarGrid(x: -2 ... 2, y: -1.5 ... 1.5, nx: 61, ny: 46) { x, y in
      0.5 * x * x + y * y + 0.3 * x * y + 0.4 * sin(2 * x)
    }
    var c = Figure(title: "Potential u (contours)", xLabel: "x1", yLabel: "x2", equalAspect: true)
    c.colorbarLabel = "u(x)"
    c.contour(g, count: 10)
    page.figure(c)
    var h = Figure(title: "Potential u (heatmap + contours)", xLabel: "x1", yLabel: "x2", equalAspect: true)
    h.heatmap(g)
    h.contour(ScalarGrid(xs: g.xs, ys: g.ys, values: g.values), levels: [0.5, 1, 2], colorMap: ColorMap(hex: ["#ffffff", "#ffffff"]), colorbar: false)
    page.figure(h)
    page.section("Accuracy")
    var hist = Figure(title: "Conjugate residuals", xLabel: "residual", yLabel: "count")
    let res = (0 ..< 4000).map { _ in exp(rng.normal() * 0.5 - 7) }
    hist.histogram(res, bins: 40, label: "residual")
    let mean = res.reduce(0, +) / Double(res.count)
    hist.verticalLine(mean, label: "mean \(NumberFormat.compact(mean, significant: 3))", color: "#e15759")
    page.figure(hist)
    var two = Figure(title: "Error of grad u vs truth", xLabel: "|error|", yLabel: "density")
    two.histogram((0 ..< 2000).map { _ in abs(rng.normal()) * 0.02 }, bins: 30, density: true, label: "train split")
    two.histogram((0 ..< 2000).map { _ in abs(rng.normal()) * 0.03 }, bins: 30, density: true, label: "held-out", opacity: 0.5)
    page.figure(two)
    page.section("Layout stress")
    var big = Figure(
      title: "A long title that should shrink to fit within the narrow figure width",
      xLabel: "position along the very long axis label", yLabel: "value (units)", width: 560, height: 360)
    big.legend = .outsideRight
    big.colorbarLabel = "density"
    big.heatmap(ScalarGrid(x: 0 ... 2e5, y: 1e5 ... 9e5, nx: 30, ny: 20) { x, y in x * y / 1e9 })
    big.line([0, 1e5, 2e5], [2e5, 5e5, 8e5], label: "a series label")
    big.scatter([5e4, 1.5e5], [3e5, 7e5], label: "two points", radius: 4, opacity: 1)
    page.figure(big)
    var small = Figure(title: "Small 320x260", xLabel: "x", yLabel: "y", width: 320, height: 260)
    small.line([-0.0031, 0.0002, 0.0047], [1.00012, 1.00031, 1.00019], label: "fine differences")
    small.verticalLine(0, label: "zero")
    page.figure(small)
    page.section("Metrics")
    page.metrics([
      "reconstruction_error": 0.0123456, "energy_distance": 3.2e-5, "samples": 4096,
      "w2_estimate": 1.23456789, "conjugate_residual_p99 <max>": 2.5e-6,
    ])
    page.preformatted("seed = 3\n[problem]\ndim = 2\nfield = \"rotated-convex\"\n", caption: "config.toml")
    return page
  }
}

/// A tiny deterministic generator (SplitMix64) with Box-Muller normals.
struct SplitMix {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
  mutating func uniform() -> Double { (Double(next() >> 11) + 0.5) / 9007199254740992 }
  mutating func normal() -> Double { (-2 * log(uniform())).squareRoot() * cos(2 * Double.pi * uniform()) }
}
