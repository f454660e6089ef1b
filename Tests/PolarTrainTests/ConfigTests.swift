import Foundation
import PolarTrain
import TestSupport
import Testing

@Suite("Configuration")
struct ConfigTests {
  func write(_ text: String) throws -> String {
    let dir = try Programs.temporaryDirectory("cfg")
    let path = dir.appendingPathComponent("c.toml").path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  func failure(_ text: String, _ overrides: [String] = []) throws -> ConfigError? {
    let path = try write(text)
    do {
      _ = try Config.load(file: path, overrides: overrides)
      return nil
    } catch let e as ConfigError {
      return e
    }
  }

  @Test(
    "defaults that scale with d: [128]^4 rank 4 from d = 16, tol 1e-3 and 6,000 steps from d = 32, unless the file or --set gives them; not on a checkpoint's configuration"
  )
  func scaledDefaults() throws {
    let small = try Config.load(file: nil, overrides: ["problem.dim=8"])
    #expect(small.potential.hidden == [64, 64, 64, 64] && small.potential.rank == 1)
    let large = try Config.load(file: nil, overrides: ["problem.dim=16"])
    #expect(large.potential.hidden == [128, 128, 128, 128] && large.potential.rank == 4)
    #expect(large.conjugate.tol == 1e-5 && large.potential.steps == 4000)
    let rank = try Config.load(file: nil, overrides: ["problem.dim=64", "potential.rank=2"])
    #expect(rank.potential.hidden == [128, 128, 128, 128] && rank.potential.rank == 2)
    #expect(rank.conjugate.tol == 1e-3 && rank.potential.steps == 6000)
    let tol = try Config.load(file: nil, overrides: ["problem.dim=32", "conjugate.tol=1e-6"])
    #expect(tol.conjugate.tol == 1e-6 && tol.potential.steps == 6000)
    let file = try Config.load(file: try write("[problem]\ndim = 64\n[potential]\nhidden = [32, 32]\n"), overrides: [])
    #expect(file.potential.hidden == [32, 32] && file.potential.rank == 4)
    // A run's configuration (config.toml, a checkpoint's) has every key: nothing is rescaled.
    let resumed = try Config.load(file: nil, overrides: ["problem.dim=64"], base: small)
    #expect(resumed.potential.hidden == [64, 64, 64, 64] && resumed.potential.rank == 1)
  }

  @Test("defaults, a file, and --set overrides in order")
  func layering() throws {
    let d = try Config.load(file: nil, overrides: [])
    #expect(d == Config() && d.potential.hidden == [64, 64, 64, 64] && d.parallel.reduction == .exact)
    let path = try write(
      """
      seed = 3
      [problem]
      dim = 4
      field = "rotated-convex"
      [potential]
      hidden = [8, 8]
      lr = 0.005
      """)
    let c = try Config.load(
      file: path,
      overrides: [
        "potential.lr=2e-3", "problem.field=linear",
        "problem.box=[-5, 5]", "parallel.reduction=\"fast\"",
      ])
    #expect(c.seed == 3 && c.problem.dim == 4 && c.potential.hidden == [8, 8])
    #expect(c.potential.lr == 2e-3 && c.problem.field == .linear && c.problem.box == [-5, 5])
    #expect(c.parallel.reduction == .fast)
  }

  @Test("the resolved TOML reads back to the same configuration")
  func roundTrip() throws {
    var c = try Config.load(file: nil, overrides: ["problem.matrix=[[1, 2], [0, 3.5]]", "seed=9", "map.residual=true"])
    c.problem.box = [-2.5, 4]
    let back = try Config.load(file: try write(c.toml), overrides: [])
    #expect(back == c)
    #expect(back.differingKeys(from: Config()).contains("seed"))
  }

  @Test("unknown keys, wrong types, bad values: file, key and problem in one line")
  func errors() throws {
    let e1 = try failure("[potential]\nhiden = [3]\n")
    #expect(e1?.key == "potential.hiden" && e1?.message == "unknown key (did you mean 'potential.hidden'?)")
    #expect(e1?.description.hasSuffix("c.toml: potential.hiden: unknown key (did you mean 'potential.hidden'?)") == true)
    #expect(try failure("[nonsense]\nx = 1\n")?.key == "nonsense")
    let e2 = try failure("[potential]\nsteps = \"many\"\n")
    #expect(e2?.message == "expected an integer, got the string \"many\"")
    let e3 = try failure("[potential]\nbatch = 0\n")
    #expect(e3?.key == "potential.batch" && e3?.message == "must be at least 1, got 0")
    let e4 = try failure("[potential]\nhidden = [64, -1]\n")
    #expect(e4?.message == "must be at least 1, got -1")
    let e5 = try failure("[problem]\nfield = \"spiral\"\n")
    #expect(e5?.message.hasPrefix("must be one of \"linear\", \"rotated-convex\", \"file\"") == true)
    let e6 = try failure("[potential\nsteps = 1\n")
    #expect(e6?.message.hasPrefix("malformed TOML at line 1") == true)
    let e7 = try failure("[parallel]\nmicro_batch = 100\n")
    #expect(e7?.key == "parallel.micro_batch" && e7?.message.contains("must divide potential.batch (1024)") == true)
    let e7b = try failure("[potential]\nbatch = 2097152\n[parallel]\nmicro_batch = 1\n")
    #expect(e7b?.key == "potential.batch" && e7b?.message.hasPrefix("at most 1048576 micro-batches") == true, "\(String(describing: e7b))")
    let e8 = try failure("", ["potential.lr=-1"])
    #expect(e8?.source == "--set" && e8?.key == "potential.lr" && e8?.message == "must be greater than 0.0, got -1.0")
    let e9 = try failure("", ["potential.nope=1"])
    #expect(e9?.message.hasPrefix("unknown key") == true)
    let e10 = try failure("[problem]\ndim = 3\nfield = \"swirl\"\n")
    #expect(e10?.key == "problem.dim")
    #expect(try failure("[conjugate]\ntol = nan\n")?.message == "must be finite, got nan")
    #expect(throws: ConfigError.self) { try Config.load(file: "/nonexistent/c.toml", overrides: []) }
  }

  @Test("every key whose change alters a network's parameter layout is structural: resume refuses a checkpoint that differs in it")
  func layoutKeysAreStructural() throws {
    // The keys and their defaults, from the key table (docs/configuration.md's table).
    let rows = Config.keyReference.split(separator: "\n").dropFirst(2).map { $0.split(separator: "`") }
    let base = Config(), nets = Networks(base)
    var changed = [String]()
    for row in rows {
      let key = String(row[1]), value = String(row[3])
      // Another valid value of the same kind, where one can be written without knowing the key.
      let candidates: [String]
      if value.hasPrefix("[") && !value.contains(".") && value != "[]" {
        candidates = ["[3]", "[3, 5]"]
      } else if let i = Int(value) {
        candidates = ["\(i + 1)", "\(i + 2)"]
      } else if let d = Double(value) {
        candidates = ["\(d * 2 + 0.5)"]
      } else if value == "true" || value == "false" {
        candidates = [value == "true" ? "false" : "true"]
      } else if value.hasPrefix("\"") {
        candidates = ["\"relu\"", "\"softplus\""]
      } else {
        continue
      }
      guard let other = candidates.lazy.compactMap({ try? Config.load(file: nil, overrides: ["\(key)=\($0)"]) }).first else { continue }
      let differs = NetworkName.allCases.contains { Networks(other).layout($0) != nets.layout($0) }
      guard differs else { continue }
      changed.append(key)
      #expect(Checkpoint.structuralKeys.contains(key), "\(key) changes a network's layout but is not structural")
    }
    // The hidden widths, ranks, frequencies and the dimension at least: the check is not vacuous.
    #expect(changed.count >= 8, "layout-changing keys found: \(changed)")
  }
}
