// polar-quality: a benchmark tool, not part of the product. Generates high-dimensional
// W2-benchmark instances in the manner of Korotin et al. (NeurIPS 2021) and scores maps on them.
//
//   polar-quality instance --dim D [--rows N] [--test-rows K] [--seed S] --out DIR
//   polar-quality score --test DIR/test.h5 (--map FILE.h5 [--dataset grad_u] | --linear) [--json OUT]
//   polar-quality suite --out OUT --dims D,... [--linear D,...] [--ranks N] --polar-train PATH (launch/quality)
//
// An instance (Instance.swift): P a 3-Gaussian mixture (Mixture.swift), T* = grad psi the
// W2-optimal map to Q = T*#P, psi = a quadratic plus two random input-convex networks
// (RandomICNN.swift) with a knob t set per d so that the linear (Bures) map's L2-UVP is 1.05 x
// the published one; Q standardized to mean 0 and average coordinate variance 1.
// DIR/train.h5 is a polar-train field file: problem.field = "file", problem.file =
// "DIR/train.h5", problem.reference = "data", problem.dim = D. DIR/test.h5's F holds T* at the
// held-out x (named F, not T: it is also the field there, which `polar-train apply` may read).
// Score a trained run with `polar-train apply --input DIR/test.h5 --output OUT.h5`, then
// `polar-quality score --test DIR/test.h5 --map OUT.h5` (grad_u is the learnt map).
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
