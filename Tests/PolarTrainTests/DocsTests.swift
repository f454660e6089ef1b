import Foundation
import PolarTrain
import TestSupport
import Testing

/// The documentation that is generated from code must match it (issue 18 item 6).
@Suite("Documentation")
struct DocsTests {
  /// docs/configuration.md holds, between its marker lines, exactly `polar-train config --keys`
  /// (Config.keyReference, made from ConfigKeys.all): a key added, removed, renamed, or given
  /// another default or text without running launch/docs-keys fails here. (That every key reads
  /// its rendered default back is ConfigTests' round trip.)
  @Test func configurationKeyTableMatchesTheKeyTable() throws {
    let path = Programs.repositoryRoot + "/docs/configuration.md"
    let lines = try String(contentsOfFile: path, encoding: .utf8).components(separatedBy: "\n")
    let begin = try #require(lines.firstIndex { $0.hasPrefix("<!-- keys: generated") }, "\(path): no start marker")
    let end = try #require(lines.firstIndex { $0 == "<!-- keys: end -->" }, "\(path): no end marker")
    #expect(begin < end)
    #expect(
      Array(lines[(begin + 1) ..< max(begin + 1, end)]) == Config.keyReference.components(separatedBy: "\n"),
      "docs/configuration.md's key table differs from ConfigKeys: run launch/docs-keys")
  }
}
