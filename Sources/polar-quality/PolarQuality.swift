// polar-quality: a benchmark tool, not part of the product. Generates high-dimensional
// W2-benchmark instances in the manner of Korotin et al. (NeurIPS 2021) and scores maps on them.
//
//   polar-quality instance --dim D [--rows N] [--test-rows K] [--seed S] --out DIR
//   polar-quality score --test DIR/test.h5 (--map FILE.h5 [--dataset grad_u] | --linear) [--json OUT]
//   polar-quality suite --out OUT --dims D,... [--linear D,...] [--ranks N] --polar-train PATH (launch/quality)
//
// Exit status: 0 ok, 1 an instance that cannot be built, 2 usage error, 3 input error (score).
// The few public declarations (Instance, score, applyLinear) are for Tests/QualityTests, which
// imports this module: release builds are not compiled for @testable import.
import ArgumentParser
import Foundation

@main
struct PolarQuality: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "polar-quality",
    abstract: "Generate W2-benchmark instances (Korotin et al. 2021) and score maps on them.",
    subcommands: [InstanceCommand.self, ScoreCommand.self, SuiteCommand.self])

  static func main() {
    do {
      var command = try parseAsRoot()
      try command.run()
    } catch let e as QualityError {
      FileHandle.standardError.write(Data("polar-quality: \(e.description)\n".utf8))
      Foundation.exit(3)
    } catch let e as Instance.Unreachable {
      FileHandle.standardError.write(Data("polar-quality: \(e.description)\n".utf8))
      Foundation.exit(1)
    } catch {
      exit(withError: error)
    }
  }
}

/// An input problem, one line naming the file (exit 3).
struct QualityError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}
