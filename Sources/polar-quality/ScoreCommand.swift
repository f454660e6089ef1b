// `polar-quality score`: the L2-UVP and cos (Scores.swift) of a map at the held-out points of
// an instance. The map's values come from an HDF5 file (dataset grad_u [K, d] as written by
// `polar-train apply`, which also copies x: it must match test.h5's x row for row), or, with
// --linear, from the Bures map stored in test.h5 (the linear baseline of instance.json).
import ArgumentParser
import Foundation
import ParallelHDF5
import PolarCore

struct ScoreCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "score",
    abstract: "Score a map at an instance's held-out points: L2-UVP (%) and cos.")

  @Option(help: "The instance's test.h5.")
  var test: String

  @Option(help: "HDF5 file with the map's values at test.h5's x (and a copy of x), e.g. from polar-train apply.")
  var map: String?

  @Option(help: "The dataset of --map holding the values [K, d].")
  var dataset = "grad_u"

  @Flag(help: "Score the linear (Bures) map stored in test.h5 instead of --map.")
  var linear = false

  @Option(help: "Also write the scores as JSON to this file.")
  var json: String?

  func validate() throws {
    guard (map != nil) != linear else { throw ValidationError("give exactly one of --map FILE and --linear") }
  }

  func run() throws {
    let (x, truth, varQ, d) = try readTest()
    let values: [Double]
    if linear {
      let f = try open(test)
      defer { try? f.close() }
      let a = try f.dataset("linear_A").read(as: Double.self, shape: [d, d])
      let b = try f.dataset("linear_b").read(as: Double.self, shape: [d])
      values = applyLinear(Matrix(rows: d, cols: d, storage: a), b, to: x, dim: d)
    } else {
      values = try readMap(map!, x: x, dim: d)
    }
    let s = score(x: x, truth: truth, map: values, dim: d, varQ: varQ)
    let what = linear ? "linear map" : "\(map!):/\(dataset)"
    let cos = s.cos.map { String(format: "%.6f", $0) } ?? "undefined (the map moves no point)"
    print(String(format: "%@: L2-UVP %.4f %%, cos %@ (%d test points, d = %d)", what, s.uvp, cos, x.count / d, d))
    if let json {
      let out: [String: Any] = [
        "test": test, "map": linear ? "linear" : map!, "dataset": linear ? "linear_A, linear_b" : dataset,
        "l2_uvp": s.uvp, "cos": s.cos ?? NSNull(), "points": x.count / d, "dim": d, "var_q": varQ,
      ]
      try JSONSerialization.data(withJSONObject: out, options: [.prettyPrinted, .sortedKeys])
        .write(to: URL(fileURLWithPath: json))
    }
  }

  private func open(_ path: String) throws -> File {
    do { return try File.open(path) } catch { throw QualityError("\(error)") }
  }

  /// test.h5's x and F (float32 [K, d]) and its attribute var_q.
  private func readTest() throws -> (x: [Float], truth: [Float], varQ: Double, dim: Int) {
    let f = try open(test)
    defer { try? f.close() }
    do {
      let xs = try f.dataset("x")
      guard xs.shape.count == 2, xs.shape[0] > 0 else { throw QualityError("\(test): /x: shape \(xs.shape), expected [K, d]") }
      let d = xs.shape[1]
      let x = try xs.read(as: Float.self)
      let truth = try f.dataset("F").read(as: Float.self, shape: [xs.shape[0], d])
      return (x, truth, try f.scalarAttribute("var_q", as: Double.self), d)
    } catch let e as HDF5Error {
      throw QualityError("\(e)")
    }
  }

  /// The map's values [K, d] from `path`, after checking that its x is test.h5's x.
  private func readMap(_ path: String, x: [Float], dim d: Int) throws -> [Double] {
    let f = try open(path)
    defer { try? f.close() }
    let k = x.count / d
    do {
      guard f.exists("x") else { throw QualityError("\(path): no dataset x: cannot check that the map was evaluated at \(test)'s points") }
      let mx = try f.dataset("x").read(as: Float.self, shape: [k, d])
      if let bad = (0 ..< x.count).first(where: { abs(mx[$0] - x[$0]) > 1e-6 * max(1, abs(x[$0])) }) {
        throw QualityError("\(path): /x differs from \(test):/x at row \(bad / d) (\(mx[bad]) vs \(x[bad])): the map was not evaluated at the test points")
      }
      return try f.dataset(dataset).read(as: Double.self, shape: [k, d])
    } catch let e as HDF5Error {
      throw QualityError("\(e)")
    }
  }
}
