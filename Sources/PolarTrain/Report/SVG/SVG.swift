// A small dependency-free SVG/XML writer: elements with ordered attributes, escaping, compact
// coordinates; compact number formatting for tick labels and metrics; colour palettes.
import Foundation

/// One XML element: a name, attributes in the order given, child elements and/or text.
public struct SVGElement: Sendable {
  public var name: String
  public var attributes: [(String, String)]
  public var children: [SVGElement]
  public var text: String?

  public init(
    _ name: String, _ attributes: [(String, String)] = [],
    children: [SVGElement] = [], text: String? = nil
  ) {
    self.name = name
    self.attributes = attributes
    self.children = children
    self.text = text
  }

  /// Appends the element as XML, one element per line, escaping attribute values and text.
  public func render(into out: inout String) {
    out += "<" + name
    for (key, value) in attributes { out += " \(key)=\"\(SVG.escape(value))\"" }
    if children.isEmpty && text == nil { out += "/>\n"; return }
    out += ">"
    if let text { out += SVG.escape(text) }
    if !children.isEmpty {
      out += "\n"
      for child in children { child.render(into: &out) }
    }
    out += "</\(name)>\n"
  }

  /// The element as an XML string.
  public func rendered() -> String {
    var out = ""
    render(into: &out)
    return out
  }
}

public enum SVG {
  /// Escapes the five XML special characters, so any text is safe in content and attributes.
  public static func escape(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.utf8.count)
    for c in s {
      switch c {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      case "'": out += "&#39;"
      default: out.append(c)
      }
    }
    return out
  }

  /// A pixel coordinate rounded to 0.1 px without a trailing ".0" ("12", "-0.5"); non-finite
  /// values become "0" and huge ones are clamped, so no "nan"/"inf" ever reaches the SVG.
  public static func num(_ x: Double) -> String {
    guard x.isFinite else { return "0" }
    let r = Int((min(max(x, -1e7), 1e7) * 10).rounded())
    let a = abs(r)
    let body = a % 10 == 0 ? "\(a / 10)" : "\(a / 10).\(a % 10)"
    return r < 0 ? "-" + body : body
  }

  /// A `<text>` element at (x, y) with the given size, anchor and extra attributes.
  static func text(
    _ s: String, x: Double, y: Double, size: Double, anchor: String = "middle",
    extra: [(String, String)] = []
  ) -> SVGElement {
    var attrs = [("x", num(x)), ("y", num(y)), ("font-size", num(size))]
    if anchor != "start" { attrs.append(("text-anchor", anchor)) }
    return SVGElement("text", attrs + extra, text: s)
  }

  /// Width in px of `s` at `size`, estimated from an average sans-serif glyph width.
  static func textWidth(_ s: String, size: Double) -> Double {
    Double(s.count) * size * 0.58
  }
}

public enum NumberFormat {
  /// `x` with `significant` digits in a short form: plain for 0.01 <= |x| < 1000 ("0.3",
  /// "12.5"), "k"/"M" suffixes up to 1e9 ("2.5k"), otherwise scientific ("1e-3", "2.5e-5").
  public static func compact(_ x: Double, significant: Int = 4) -> String {
    if x.isNaN { return "NaN" }
    if x.isInfinite { return x > 0 ? "inf" : "-inf" }
    let sig = max(1, min(significant, 17))
    let sci = String(format: "%.*e", sig - 1, x)
    guard let ePos = sci.firstIndex(of: "e"), let exp = Int(sci[sci.index(after: ePos)...]),
      let mant = Double(sci[..<ePos])
    else { return sci }
    if mant == 0 { return "0" }
    func fixed(_ v: Double, _ decimals: Int) -> String {
      let s = trimZeros(String(format: "%.*f", max(0, decimals), v))
      return s == "-0" ? "0" : s
    }
    switch exp {
    case -2 ... 2: return fixed(x, sig - 1 - exp)
    case 3 ... 5: return fixed(x / 1e3, sig - 1 - (exp - 3)) + "k"
    case 6 ... 8: return fixed(x / 1e6, sig - 1 - (exp - 6)) + "M"
    default: return trimZeros(String(sci[..<ePos])) + "e\(exp)"
    }
  }

  /// A tick label for `x` on an axis with tick spacing `step`: just enough digits to tell
  /// neighbouring ticks apart, and exactly "0" at zero.
  public static func tick(_ x: Double, step: Double) -> String {
    guard step > 0, step.isFinite else { return compact(x) }
    if abs(x) < step * 1e-6 { return "0" }
    let sig = Int(floor(log10(abs(x)) + 1e-9)) - Int(floor(log10(step) + 1e-9)) + 1
    return compact(x, significant: max(1, sig))
  }

  /// A metric value for a table: integers in full, other values with 4 significant digits.
  public static func metric(_ x: Double) -> String {
    if x.isFinite && x == x.rounded() && abs(x) < 1e15 { return String(Int64(x)) }
    return compact(x, significant: 4)
  }

  /// Removes trailing zeros after a decimal point, and the point itself if nothing follows.
  static func trimZeros(_ s: String) -> String {
    guard s.contains(".") else { return s }
    var t = Substring(s)
    while t.hasSuffix("0") { t = t.dropLast() }
    if t.hasSuffix(".") { t = t.dropLast() }
    return String(t)
  }
}

/// Categorical colours for series without an explicit colour (Tableau 10).
public enum Palette {
  public static let tableau10 = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
  ]

  /// The i-th palette colour, cycling.
  public static func color(_ i: Int) -> String { tableau10[((i % 10) + 10) % 10] }
}

/// A sequential colour map: anchor colours evenly spaced on [0, 1], linearly interpolated.
public struct ColorMap: Sendable {
  public let anchors: [[Double]]

  /// Anchors from "#rrggbb" strings.
  public init(hex: [String]) {
    anchors = hex.map { h in
      let v = Int(h.dropFirst(), radix: 16) ?? 0
      return [Double((v >> 16) & 255), Double((v >> 8) & 255), Double(v & 255)]
    }
  }

  /// Viridis sampled at ten evenly spaced points.
  public static let viridis = ColorMap(hex: [
    "#440154", "#482878", "#3e4a89", "#31688e", "#26828e",
    "#1f9e89", "#35b779", "#6dcd59", "#b4de2c", "#fde725",
  ])

  /// The colour at t in [0, 1] (clamped; NaN maps to 0) as "#rrggbb".
  public func color(_ t: Double) -> String {
    let u = t.isNaN ? 0 : min(max(t, 0), 1) * Double(anchors.count - 1)
    let i = min(Int(u), anchors.count - 2), f = u - Double(i)
    let c = (0 ..< 3).map { k in Int((anchors[i][k] * (1 - f) + anchors[i + 1][k] * f).rounded()) }
    return String(format: "#%02x%02x%02x", c[0], c[1], c[2])
  }
}
