// polar-quality instance and score, run as a user would: the files' contents, standardization,
// scores of known maps, determinism.
import Foundation
import ParallelHDF5
import PolarCore
import TestSupport
import Testing
import polar_quality

/// Runs polar-quality with `args`; returns the result.
func quality(_ args: [String]) throws -> RunResult {
  try Programs.run(Programs.path("polar-quality"), args, timeout: 60, environment: Programs.mpiEnvironment)
}

/// A generated instance directory (d = 4, 32768 rows, 4096 test rows, seed 3), made once.
let generated: URL = {
  let dir = try! Programs.temporaryDirectory("quality")
  let r = try! quality(["instance", "--dim", "4", "--rows", "32768", "--test-rows", "4096", "--seed", "3", "--out", dir.path])
  precondition(r.status == 0, r.combined)
  return dir
}()

func read(_ path: String, _ name: String) throws -> [Float] {
  let f = try File.open(path)
  defer { try? f.close() }
  return try f.dataset(name).read(as: Float.self)
}

func instanceJSON(_ dir: URL) throws -> [String: Any] {
  try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("instance.json"))) as! [String: Any]
}

/// Writes a map file as polar-train apply would: x and grad_u [K, d].
func writeMap(_ path: String, x: [Float], values: [Float], dim d: Int) throws {
  let f = try File.create(path)
  try f.createDataset("x", type: .float32, shape: [x.count / d, d]).write(x)
  try f.createDataset("grad_u", type: .float32, shape: [x.count / d, d]).write(values)
  try f.close()
}

@Suite("polar-quality: instance and score")
struct CommandTests {
  var train: String { generated.appendingPathComponent("train.h5").path }
  var test: String { generated.appendingPathComponent("test.h5").path }

  @Test("train.h5 is standardized: mean ~0, average coordinate variance ~1; Var(Q) stored")
  func standardized() throws {
    let f = try read(train, "F"), d = 4, n = f.count / d
    #expect(n == 32768)
    var mean = [Double](repeating: 0, count: d), sq = [Double](repeating: 0, count: d)
    for r in 0 ..< n { for j in 0 ..< d { mean[j] += Double(f[r * d + j]); sq[j] += Double(f[r * d + j]) * Double(f[r * d + j]) } }
    let variance = (0 ..< d).reduce(0) { $0 + sq[$1] / Double(n) - (mean[$1] / Double(n)) * (mean[$1] / Double(n)) }
    #expect(mean.allSatisfy { abs($0 / Double(n)) < 0.05 }, "means \(mean.map { $0 / Double(n) })")
    #expect(abs(variance / Double(d) - 1) < 0.05, "average variance \(variance / Double(d))")
    let json = try instanceJSON(generated)
    #expect(abs((json["var_q"] as! Double) - variance) < 1e-6 * variance)
  }

  @Test("score: the true map gives UVP 0 and cos 1; the identity map its hand-computed UVP")
  func knownMaps() throws {
    let x = try read(test, "x"), t = try read(test, "F"), d = 4
    let truePath = generated.appendingPathComponent("true-map.h5").path
    try writeMap(truePath, x: x, values: t, dim: d)
    let json = generated.appendingPathComponent("true-score.json")
    let r = try quality(["score", "--test", test, "--map", truePath, "--json", json.path])
    #expect(r.status == 0, "\(r.combined)")
    let s = try JSONSerialization.jsonObject(with: Data(contentsOf: json)) as! [String: Any]
    #expect(s["l2_uvp"] as! Double == 0)
    #expect(abs((s["cos"] as! Double) - 1) < 1e-12)

    // Identity: UVP = 100 mean_r |x_r - T*(x_r)|^2 / Var(Q).
    let varQ = try instanceJSON(generated)["var_q"] as! Double
    var err = 0.0
    for i in x.indices { err += (Double(x[i]) - Double(t[i])) * (Double(x[i]) - Double(t[i])) }
    let expected = 100 * err / Double(x.count / d) / varQ
    let idPath = generated.appendingPathComponent("identity-map.h5").path
    try writeMap(idPath, x: x, values: x, dim: d)
    let idJSON = generated.appendingPathComponent("identity-score.json")
    #expect(try quality(["score", "--test", test, "--map", idPath, "--json", idJSON.path]).status == 0)
    let si = try JSONSerialization.jsonObject(with: Data(contentsOf: idJSON)) as! [String: Any]
    #expect(abs((si["l2_uvp"] as! Double) - expected) < 1e-9 * expected)
    #expect(si["cos"] is NSNull, "the identity moves no point: cos undefined")
  }

  @Test("score --linear reproduces instance.json's linear-map UVP and cos")
  func linear() throws {
    let out = generated.appendingPathComponent("linear-score.json")
    let r = try quality(["score", "--test", test, "--linear", "--json", out.path])
    #expect(r.status == 0, "\(r.combined)")
    let s = try JSONSerialization.jsonObject(with: Data(contentsOf: out)) as! [String: Any]
    let stored = try instanceJSON(generated)["linear"] as! [String: Double]
    print("d = 4 test instance: linear map L2-UVP \(stored["uvp"]!) %, cos \(stored["cos"]!)")
    #expect(s["l2_uvp"] as! Double == stored["uvp"]!)
    #expect(s["cos"] as! Double == stored["cos"]!)
    #expect(stored["uvp"]! > 14.9 && stored["uvp"]! < 14.9 * 1.1)
  }

  @Test("score refuses a map evaluated at other points, naming the row")
  func otherPoints() throws {
    var x = try read(test, "x")
    let t = try read(test, "F")
    x[4 * 7 + 2] += 0.5
    let path = generated.appendingPathComponent("moved-map.h5").path
    try writeMap(path, x: x, values: t, dim: 4)
    let r = try quality(["score", "--test", test, "--map", path])
    #expect(r.status == 3)
    #expect(r.stderr.contains("row 7"), "\(r.stderr)")
  }

  @Test("the metrics on a tiny case by hand: d = 1, x = 0, 1, 2, T* = 1, 3, 5")
  func byHand() {
    // Var(Q) = var(1, 3, 5) = 8/3. Identity: E|x - T*|^2 = (1 + 4 + 9) / 3, UVP = 175 %.
    let x: [Float] = [0, 1, 2], t: [Float] = [1, 3, 5]
    #expect(abs(score(x: x, truth: t, map: x, dim: 1, varQ: 8.0 / 3).uvp - 175) < 1e-12)
    #expect(score(x: x, truth: t, map: x, dim: 1, varQ: 8.0 / 3).cos == nil)
    // T = 2x: E|T - T*|^2 = 1, UVP = 37.5 %; cos = (8/3) / sqrt(14/3 * 5/3) = 8 / sqrt(70).
    let s = score(x: x, truth: t, map: [0, 2, 4] as [Double], dim: 1, varQ: 8.0 / 3)
    #expect(abs(s.uvp - 37.5) < 1e-12)
    #expect(abs(s.cos! - 8 / 70.0.squareRoot()) < 1e-12)
  }

  @Test("two generations write identical data, attributes and instance.json")
  func deterministic() throws {
    let again = try Programs.temporaryDirectory("quality-again")
    let r = try quality(["instance", "--dim", "4", "--rows", "32768", "--test-rows", "4096", "--seed", "3", "--out", again.path])
    #expect(r.status == 0, "\(r.combined)")
    for (file, names) in [("train.h5", ["x", "F"]), ("test.h5", ["x", "F", "linear_A", "linear_b"])] {
      let a = try File.open(generated.appendingPathComponent(file).path), b = try File.open(again.appendingPathComponent(file).path)
      for name in names {
        let u = try a.dataset(name).read(as: Double.self), v = try b.dataset(name).read(as: Double.self)
        #expect(u.map(\.bitPattern) == v.map(\.bitPattern), "\(file):/\(name)")
      }
      #expect(try a.attributeNames() == b.attributeNames())
      #expect(try a.scalarAttribute("knob", as: Double.self).bitPattern == b.scalarAttribute("knob", as: Double.self).bitPattern)
      #expect(try a.scalarAttribute("var_q", as: Double.self).bitPattern == b.scalarAttribute("var_q", as: Double.self).bitPattern)
      try a.close()
      try b.close()
    }
    #expect(try Data(contentsOf: generated.appendingPathComponent("instance.json")) == Data(contentsOf: again.appendingPathComponent("instance.json")))
  }
}
