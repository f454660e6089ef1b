import Foundation
import PolarTrain
import TestSupport
import Testing

/// The documentation that is generated from code must match it (issue 18 item 6).
@Suite("Documentation")
struct DocsTests {
  /// docs/configuration.md holds, between its marker lines, exactly `polar-train config --keys`
  /// (Config.keyReference, made from ConfigKeys.all): a key added, removed, renamed, or given
  /// another default or text without running launch/docs-keys fails here.
  @Test func configurationKeyTableMatchesTheKeyTable() throws {
    let path = Programs.repositoryRoot + "/docs/configuration.md"
    let lines = try String(contentsOfFile: path, encoding: .utf8).components(separatedBy: "\n")
    let begin = try #require(lines.firstIndex { $0.hasPrefix("<!-- keys: generated") }, "\(path): no start marker")
    let end = try #require(lines.firstIndex { $0 == "<!-- keys: end -->" }, "\(path): no end marker")
    #expect(begin < end)
    let documented = lines[(begin + 1)..<end].joined(separator: "\n")
    let generated = Config.keyReference
    let differing = zip(documented.components(separatedBy: "\n"), generated.components(separatedBy: "\n"))
      .first { $0.0 != $0.1 }
    #expect(documented == generated,
            "docs/configuration.md's key table differs from ConfigKeys (run launch/docs-keys); first differing line: \(String(describing: differing))")
    // Every row names a key once, and `--set key=default` with the table's default is accepted.
    let rows = generated.components(separatedBy: "\n").dropFirst(2).map { $0.split(separator: "`").map(String.init) }
    #expect(rows.count > 60 && Set(rows.map { $0[1] }).count == rows.count)
    for row in rows {
      #expect(throws: Never.self, "\(row[1]) = \(row[3])") { _ = try Config.load(file: nil, overrides: ["\(row[1])=\(row[3])"]) }
    }
  }
}
