// `polar-quality instance`: writes one benchmark instance (Instance.swift) to a directory:
//   train.h5       x [N, d], F [N, d] float32: x ~ P, F = T*(x) (polar-train's field-file format:
//                  problem.field = "file", problem.reference = "data")
//   test.h5        x [K, d], F [K, d] float32 held out (F = T*(x), the field there and the map to
//                  score against: `polar-train apply` may read it as the field), linear_A [d, d] and
//                  linear_b [d] float64 (the Bures map fitted on train.h5), attribute var_q = Var(Q)
//   instance.json  the parameters, Var(Q), the linear map's scores on test.h5, diagnostics.
// Every number written is a pure function of (d, seed, rows, test rows); timings go to stdout only.
import ArgumentParser
import Foundation
import ParallelHDF5
import PolarCore

struct InstanceCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "instance",
    abstract: "Generate a W2-benchmark instance: DIR/train.h5, DIR/test.h5, DIR/instance.json.")

  @Option(help: "Dimension d.")
  var dim: Int

  @Option(help: "Training rows (default: 2^18 for d <= 16, 2^19 for d <= 64, 2^20 above).")
  var rows: Int?

  @Option(name: .customLong("test-rows"), help: "Held-out rows.")
  var testRows = 1 << 14

  @Option(help: "Seed of the instance (the potential and all samples).")
  var seed: UInt64 = 1

  @Option(
    name: .customLong("target-uvp"),
    help: "Linear-map L2-UVP (%) to aim at (default: the published value for d times 1.05).")
  var targetUVP: Double?

  @Option(help: "Output directory (created; files in it replaced).")
  var out: String

  static func defaultRows(_ d: Int) -> Int { d <= 16 ? 1 << 18 : d <= 64 ? 1 << 19 : 1 << 20 }

  func validate() throws {
    guard dim >= 1 else { throw ValidationError("--dim must be at least 1") }
    guard (rows ?? 2) >= 2 && testRows >= 2 else { throw ValidationError("--rows and --test-rows must be at least 2") }
  }

  func run() throws {
    let start = Date()
    let d = dim, n = rows ?? InstanceCommand.defaultRows(dim)
    let instance = try Instance(dim: d, seed: seed, target: targetUVP)
    let built = Date().timeIntervalSince(start)
    print(
      String(
        format: "polar-quality instance: d = %d, knob t = %.6f (pilot linear UVP %.2f %%, target %.2f %%), built in %.1f s",
        d, instance.knob, instance.pilotUVP, instance.target, built))
    try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)

    // Training set, chunk by chunk; the moments of what is stored (float32) for the Bures map.
    var mx = Moments(dim: d), mf = Moments(dim: d)
    let train = try File.create(out + "/train.h5")
    try write(train, instance, rows: n, testRows: testRows)
    let xs = try train.createDataset("x", type: .float32, shape: [n, d])
    let fs = try train.createDataset("F", type: .float32, shape: [n, d])
    try Instance.forChunks(n) { rows in
      let (x, f) = rounded(instance, .train, rows)
      try xs.write(x, selection: .rows(rows, trailing: [d]))
      try fs.write(f, selection: .rows(rows, trailing: [d]))
      mx.add(Matrix(rows: rows.count, cols: d, storage: x.map(Double.init)))
      mf.add(Matrix(rows: rows.count, cols: d, storage: f.map(Double.init)))
    }
    let varQ = totalVariance(mf)
    try train.setAttribute("var_q", varQ)
    try train.close()
    let trainSeconds = Date().timeIntervalSince(start) - built

    // The Bures map between the Gaussians fitted to the training x and F.
    let a = buresMatrix(squareRoots(mx.covariance), mf.covariance)
    let (meanX, meanF) = (mx.mean, mf.mean)
    let b = (0 ..< d).map { i in meanF[i] - (0 ..< d).reduce(0) { $0 + a[at: i, $1] * meanX[$1] } }

    // Held-out set.
    var xt = [Float](), ft = [Float]()
    Instance.forChunks(testRows) { rows in
      let (x, f) = rounded(instance, .test, rows)
      xt += x
      ft += f
    }
    let test = try File.create(out + "/test.h5")
    try write(test, instance, rows: n, testRows: testRows)
    try test.setAttribute("var_q", varQ)
    try test.createDataset("x", type: .float32, shape: [testRows, d]).write(xt)
    try test.createDataset("F", type: .float32, shape: [testRows, d]).write(ft)
    try test.createDataset("linear_A", type: .float64, shape: [d, d]).write(a.storage)
    try test.createDataset("linear_b", type: .float64, shape: [d]).write(b)
    try test.close()
    let linear = score(x: xt, truth: ft, map: applyLinear(a, b, to: xt, dim: d), dim: d, varQ: varQ)

    let report = InstanceReport(
      generator: Instance.version, dim: d, seed: seed, rows: n, testRows: testRows, knob: instance.knob,
      publishedLinearUVP: Instance.published[d], targetLinearUVP: instance.target, pilotLinearUVP: instance.pilotUVP,
      varQ: varQ, linear: linear,
      trainMeanMaxAbs: meanF.map { abs($0) }.max() ?? 0, trainAverageVariance: varQ / Double(d),
      directionalDerivative: Diagnostics.directionalDerivative(instance, points: xt),
      testShape: Diagnostics.shape(ft, dim: d),
      design: DesignReport(instance))
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    try encoder.encode(report).write(to: URL(fileURLWithPath: out + "/instance.json"))
    let total = Date().timeIntervalSince(start)
    print(
      String(
        format:
          "polar-quality instance: %d train + %d test rows -> %@ in %.1f s (train %.1f s); Var(Q) = %.4f; linear map on test: L2-UVP %.2f %% (published %@), cos %.4f",
        n, testRows, out, total, trainSeconds, varQ, linear.uvp,
        Instance.published[d].map { String($0) } ?? "none", linear.cos ?? .nan))
  }

  /// x ~ P (rows `rows` of stream `s`) and F = T*(x), rounded to float32.
  private func rounded(_ instance: Instance, _ s: Instance.Stream, _ rows: Range<Int>) -> ([Float], [Float]) {
    let x = instance.sample(s, rows: rows)
    return (x.storage.map(Float.init), instance.map(x).storage.map(Float.init))
  }

  /// The instance's identity as attributes of a file.
  private func write(_ file: File, _ instance: Instance, rows: Int, testRows: Int) throws {
    try file.setAttribute("generator", Instance.version)
    try file.setAttribute("dim", Int64(instance.dim))
    try file.setAttribute("seed", Int64(bitPattern: instance.seed))
    try file.setAttribute("knob", instance.knob)
    try file.setAttribute("rows", Int64(rows))
    try file.setAttribute("test_rows", Int64(testRows))
  }
}

/// instance.json.
struct InstanceReport: Encodable {
  let generator: String
  let dim: Int
  let seed: UInt64
  let rows: Int
  let testRows: Int
  let knob: Double
  let publishedLinearUVP: Double?
  let targetLinearUVP: Double
  let pilotLinearUVP: Double
  /// Var(Q) = sum of the coordinate variances of F on train.h5 (the UVP's denominator).
  let varQ: Double
  /// The Bures map fitted on train.h5, scored on test.h5.
  let linear: MapScore
  let trainMeanMaxAbs: Double
  let trainAverageVariance: Double
  let directionalDerivative: Diagnostics.Spread
  /// The shape of Q on test.h5 (tails: a linear-map UVP this high needs sparse, strong units).
  let testShape: Diagnostics.Shape
  let design: DesignReport
}

/// The generator's fixed choices, recorded with each instance.
struct DesignReport: Encodable {
  let widths: [Int]
  let networks = 2
  let activation = "celu (alpha 1)"
  let gain = RandomICNN.gain
  let quadraticScale = RandomICNN.quadraticScale
  let logWeightSD = RandomICNN.logWeightSD
  let activeQuantiles = [RandomICNN.quantiles.0, RandomICNN.quantiles.1]
  let sigmaX: Double
  let sigmaN: Double
  let standardizationScale: Double
  let calibrationRows = Instance.calibrationRows
  let pilotRows = Instance.pilotRows
  let mixture = "3 equal Gaussians, means N(0, I), covariances R diag(lambda) R^T, R Haar, lambda log-uniform on [0.5, 2]"

  init(_ instance: Instance) {
    widths = RandomICNN.widths(instance.dim)
    sigmaX = instance.sigmaX
    sigmaN = instance.sigmaN
    standardizationScale = instance.scale
  }
}
