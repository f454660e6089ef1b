// ReportPage: a self-contained HTML page (inline CSS, inline SVG figures, no external files)
// of headed sections, paragraphs, figure grids, metric tables and preformatted blocks.
import Foundation

public struct ReportPage: Sendable {
  public var title: String
  /// A line under the title (e.g. the run directory and date).
  public var subtitle: String

  enum Block: Sendable {
    case heading(String)
    case paragraph(String)
    case figures([(svg: String, caption: String?)])
    case table(caption: String?, rows: [(String, String)])
    case pre(caption: String?, text: String)
  }

  var blocks: [Block] = []
  var figureCount = 0

  public init(title: String, subtitle: String = "") {
    self.title = title
    self.subtitle = subtitle
  }

  /// Starts a section with a heading.
  public mutating func section(_ heading: String) { blocks.append(.heading(heading)) }

  /// A paragraph of plain text (escaped).
  public mutating func paragraph(_ text: String) { blocks.append(.paragraph(text)) }

  /// A figure; consecutive figures share one wrapping row.
  public mutating func figure(_ figure: Figure, caption: String? = nil) {
    figureCount += 1
    let item = (svg: figure.svg(id: "f\(figureCount)"), caption: caption)
    if case .figures(let items)? = blocks.last {
      blocks[blocks.count - 1] = .figures(items + [item])
    } else {
      blocks.append(.figures([item]))
    }
  }

  /// A two-column table of names and already formatted values, in the order given.
  public mutating func metrics(_ rows: [(String, String)], caption: String? = nil) {
    blocks.append(.table(caption: caption, rows: rows))
  }

  /// A table of numeric metrics sorted by name, values formatted by NumberFormat.metric.
  public mutating func metrics(_ values: [String: Double], caption: String? = nil) {
    metrics(values.sorted { $0.key < $1.key }.map { ($0.key, NumberFormat.metric($0.value)) }, caption: caption)
  }

  /// Preformatted text such as a configuration file (escaped, monospace).
  public mutating func preformatted(_ text: String, caption: String? = nil) {
    blocks.append(.pre(caption: caption, text: text))
  }

  static let style = """
    body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;max-width:1500px;
    padding:16px 24px 48px;color:#222;background:#fafafa;line-height:1.45}
    h1{font-size:1.6em;margin:0.4em 0 0.1em}h2{font-size:1.2em;margin:1.6em 0 0.5em;
    border-bottom:1px solid #ddd;padding-bottom:0.2em}.sub{color:#666;margin:0 0 1em}
    .figs{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
    figure{margin:0;flex:0 1 auto;background:white;border:1px solid #e2e2e2;border-radius:4px;padding:6px}
    figure svg{display:block;max-width:100%;height:auto}
    figcaption{font-size:0.85em;color:#555;padding:4px 4px 0;max-width:480px}
    table{border-collapse:collapse;background:white;font-size:0.9em;margin:0.3em 0 1em}
    caption{text-align:left;color:#555;padding:0 0 4px}
    td,th{border:1px solid #ddd;padding:3px 10px;text-align:left}td.v{font-family:ui-monospace,monospace;text-align:right}
    pre{background:white;border:1px solid #ddd;padding:8px 12px;overflow-x:auto;font-size:0.85em}
    """

  /// The complete HTML document.
  public func html() -> String {
    let e = SVG.escape
    var out = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    out += "<title>\(e(title))</title>\n<style>\n\(ReportPage.style)\n</style>\n</head>\n<body>\n"
    out += "<h1>\(e(title))</h1>\n"
    if !subtitle.isEmpty { out += "<p class=\"sub\">\(e(subtitle))</p>\n" }
    for block in blocks {
      switch block {
      case let .heading(h): out += "<h2>\(e(h))</h2>\n"
      case let .paragraph(p): out += "<p>\(e(p))</p>\n"
      case let .figures(items):
        out += "<div class=\"figs\">\n"
        for item in items {
          out += "<figure>\n" + item.svg
          if let c = item.caption { out += "<figcaption>\(e(c))</figcaption>\n" }
          out += "</figure>\n"
        }
        out += "</div>\n"
      case let .table(caption, rows):
        out += "<table>\n"
        if let caption { out += "<caption>\(e(caption))</caption>\n" }
        for (k, v) in rows { out += "<tr><th>\(e(k))</th><td class=\"v\">\(e(v))</td></tr>\n" }
        out += "</table>\n"
      case let .pre(caption, text):
        if let caption { out += "<p class=\"sub\">\(e(caption))</p>\n" }
        out += "<pre>\(e(text))</pre>\n"
      }
    }
    return out + "</body>\n</html>\n"
  }

  /// Writes the page as `index.html` in `directory` (created if needed); returns its path.
  @discardableResult
  public func write(to directory: String) throws -> String {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let path = (directory as NSString).appendingPathComponent("index.html")
    try html().write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }
}
