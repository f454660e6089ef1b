// The problem a run solves, built from the configuration identically on every rank: the field F,
// the reference rho, and a counter-based sampler of (x, F(x)) batches (docs/design.md §3: a sample is a
// pure function of (seed, stage, step, global index, purpose), never of the number of ranks).
import Foundation
import ParallelHDF5
import PolarCore
import SwiftMPI

public struct Problem: Sendable {
  public let dim: Int
  public let reference: Reference
  /// The field as a function, or nil for a field file.
  public let field: Field?
  /// Field file samples (x, F(x)), when field = "file".
  public let data: (x: Matrix<Float>, f: Matrix<Float>)?
  /// Topography with held-out cells: uniform on those cells (evaluation only).
  public var heldOut: Reference? = nil
  /// Field file rows held out of training (problem.validation > 0): x and F at them.
  public var validation: (x: Matrix<Float>, f: Matrix<Float>)? = nil

  /// `field.floatWeights`, converted once.
  let fieldWeights: Matrix<Float>?

  init(dim: Int, reference: Reference, field: Field?, data: (x: Matrix<Float>, f: Matrix<Float>)?, heldOut: Reference? = nil) {
    (self.dim, self.reference, self.field, self.data, self.heldOut) = (dim, reference, field, data, heldOut)
    fieldWeights = field?.floatWeights
  }

  /// Builds the problem; a field file is read whole by every rank in one collective read, after
  /// the ranks agreed that each of them can read it (agreeReadable). Collective.
  public static func make(_ config: Config, world: Communicator, baseDirectory: String = ".") throws -> Problem {
    let p = config.problem
    if p.validation > 0 && p.field != .file {
      throw ConfigError(
        source: "configuration", key: "problem.validation",
        message: "holds out rows of a field file: needs problem.field = \"file\", not \"\(p.field)\"")
    }
    let reference: Reference
    switch p.reference {
    case .uniform: reference = .uniform(lo: p.box[0], hi: p.box[1])
    case .gaussian: reference = .gaussian
    case .data: reference = .data(rows: 0)
    }
    switch p.field {
    case .builtIn(.linear):
      if p.matrix.isEmpty {
        return Problem(
          dim: p.dim, reference: reference,
          field: .seededLinear(dim: p.dim, seed: p.fieldSeed, condition: p.condition), data: nil)
      }
      let a = Matrix(p.matrix)
      guard abs(determinant(a)) > 1e-12 else {
        throw ConfigError(source: "configuration", key: "problem.matrix", message: "A must be invertible")
      }
      return Problem(dim: p.dim, reference: reference, field: Field(dim: p.dim, kind: .linear(a)), data: nil)
    case .builtIn(.rotatedConvex):
      return Problem(
        dim: p.dim, reference: reference,
        field: .seededRotatedConvex(dim: p.dim, seed: p.fieldSeed), data: nil)
    case .builtIn(.file):
      let path = p.file.hasPrefix("/") ? p.file : baseDirectory + "/" + p.file
      try agreeReadable(path, .data, what: "problem.file", world: world)
      let (x, f) = try readFieldFile(path, dim: p.dim, world: world)
      guard p.validation > 0 else {
        return Problem(dim: p.dim, reference: p.reference == .data ? .data(rows: x.rows) : reference, field: nil, data: (x, f))
      }
      let (train, held) = Validation.split(x: x, f: f, share: p.validation, seed: p.fieldSeed)
      guard train.x.rows >= max(2, world.size), held.x.rows >= 1 else {
        throw ConfigError(
          source: "configuration", key: "problem.validation",
          message: "\(p.validation) of \(x.rows) rows leaves \(train.x.rows) for training and \(held.x.rows) for validation")
      }
      var problem = Problem(dim: p.dim, reference: p.reference == .data ? .data(rows: train.x.rows) : reference, field: nil, data: train)
      problem.validation = held
      return problem
    case .builtIn(.topography):
      let path = p.file.hasPrefix("/") ? p.file : baseDirectory + "/" + p.file
      try agreeReadable(path, .data, what: "problem.file", world: world)
      let (z, rows, cols) = try readGrid(path, dataset: p.dataset, world: world)
      let t = Topography(
        elevation: z, rows: rows, cols: cols, smoothing: p.smoothing, lo: p.box[0], hi: p.box[1],
        firstRowTop: p.firstRow == .top)
      guard p.holdout > 0 else { return Problem(dim: 2, reference: reference, field: Field(dim: 2, kind: .topography(t)), data: nil) }
      let (train, held) = t.heldOutCells(share: p.holdout, seed: p.fieldSeed, block: p.holdoutBlock)
      guard !train.isEmpty && !held.isEmpty else {
        throw ConfigError(source: "configuration", key: "problem.holdout", message: "\(p.holdout) leaves no cell on one side of a \(rows) x \(cols) grid")
      }
      return Problem(
        dim: 2, reference: .cells(rows: rows, cols: cols, lo: p.box[0], hi: p.box[1], cells: train),
        field: Field(dim: 2, kind: .topography(t)), data: nil,
        heldOut: .cells(rows: rows, cols: cols, lo: p.box[0], hi: p.box[1], cells: held))
    case .builtIn(.classifierLoss):
      func resolve(_ f: String) -> String { f.isEmpty || f.hasPrefix("/") ? f : baseDirectory + "/" + f }
      let loss = try ClassifierData.load(p, path: resolve(p.file), labelsPath: resolve(p.labels), world: world)
      return Problem(dim: loss.dim, reference: reference, field: Field(dim: loss.dim, kind: .classifier(loss)), data: nil)
    case .toy(let toy):
      return Problem(dim: 2, reference: reference, field: Field(dim: 2, kind: .toy(toy)), data: nil)
    }
  }

  /// Reads datasets x [n, d] and F [n, d] (float32 or float64) and checks them.
  static func readFieldFile(_ path: String, dim: Int, world: Communicator) throws -> (Matrix<Float>, Matrix<Float>) {
    do {
      let file = try File.open(path, access: .mpio(world))
      defer { try? file.close() }
      let xs = try file.dataset("x"), fs = try file.dataset("F")
      try xs.checkShape([nil, dim])
      try fs.checkShape([xs.shape[0], dim])
      let n = xs.shape[0]
      for ds in [xs, fs] { try PointsFile.checkRowsAndType(ds, path: path) }
      try PointsFile.checkSize(
        xs, path: path, bytes: product(2, MemoryEstimate.wholeDataset(rows: n, cols: dim)),
        budget: try MemoryBudget.measure(world))
      let x = try xs.read(as: Float.self), f = try fs.read(as: Float.self)
      try file.close()
      if let bad = (0 ..< n).first(where: { r in (0 ..< dim).contains { !x[r * dim + $0].isFinite || !f[r * dim + $0].isFinite } }) {
        throw InputError(message: "\(path): row \(bad) of x or F is not finite")
      }
      guard n >= max(2, world.size) else {
        throw InputError(message: "\(path): /x: \(n) rows for \(world.size) rank(s): needs at least \(max(2, world.size))")
      }
      return (Matrix(rows: n, cols: dim, storage: x), Matrix(rows: n, cols: dim, storage: f))
    } catch let e as HDF5Error {
      throw InputError(message: e.description)
    }
  }

  /// An elevation grid [rows, cols] (any float or integer type), read collectively, all finite.
  static func readGrid(_ path: String, dataset: String, world: Communicator) throws -> ([Double], Int, Int) {
    do {
      let file = try File.open(path, access: .mpio(world))
      defer { try? file.close() }
      let set = try file.dataset(dataset)
      try set.checkShape([nil, nil])
      let (rows, cols) = (set.shape[0], set.shape[1])
      // The grid in doubles, its smoothed copy and the cell lists: 6 doubles a cell.
      try PointsFile.checkSize(set, path: path, bytes: product(rows, cols, 48), budget: try MemoryBudget.measure(world))
      let z: [Double] = set.elementType.isFloat ? try set.read(as: Double.self) : try set.read(as: Int64.self).map(Double.init)
      try file.close()
      guard rows >= 4 && cols >= 4 else { throw InputError(message: "\(path): /\(dataset): \(rows) x \(cols) grid, needs at least 4 x 4") }
      if let bad = z.firstIndex(where: { !$0.isFinite }) {
        throw InputError(message: "\(path): /\(dataset): value at row \(bad / cols), column \(bad % cols) is not finite")
      }
      return (z, rows, cols)
    } catch let e as HDF5Error {
      throw InputError(message: e.description)
    }
  }

  /// Purposes of the random streams.
  public enum Purpose: UInt64 {
    case potential = 1, map = 2, evaluation = 3, evaluationReference = 4
    /// Stage inverse: the samples x, and the bridge's times and noise.
    case inverse = 5, inverseBridge = 6
    /// Sampling M^-1 (the `sample` command, evaluate's inverse checks): the bridge SDE's noise.
    case sampling = 7
    /// Held-out evaluation points (topography's held-out cells).
    case heldOut = 8
    /// `langevin`: initial particles, chain noise, the reference sample.
    case langevin = 9
    /// Stage inverse with inverse.pool: the pool's samples (step 0) and the rows each batch takes.
    case inversePool = 10
    /// The classifier report's probe of rho near grad f = 0.
    case criticalProbe = 11
  }

  /// Samples with global indices `indices` of (purpose, step): x ~ rho and y = F(x).
  public func batch(seed: UInt64, purpose: Purpose, step: Int, indices: Range<Int>) -> (x: Matrix<Float>, y: Matrix<Float>) {
    let rng = CounterRNG(seed: seed, stream: CounterRNG.streamID(purpose.rawValue, UInt64(bitPattern: Int64(step))))
    if let data {
      let (_, rows) = Reference.data(rows: data.x.rows).sample(dim: dim, rng: rng, indices: indices) as (Matrix<Float>, [Int])
      var x = Matrix<Float>(rows: rows.count, cols: dim), y = x
      for (r, i) in rows.enumerated() {
        for j in 0 ..< dim { x[r, j] = data.x[i, j]; y[r, j] = data.f[i, j] }
      }
      return (x, y)
    }
    let (x, _): (Matrix<Float>, [Int]) = reference.sample(dim: dim, rng: rng, indices: indices)
    return (x, field!(x))
  }

  /// The same batch written into x and y (their storage reused: allocation-free when they
  /// already have indices.count rows, except for field files and the classifier's loss, which
  /// take the allocating path above).
  public func batch(
    seed: UInt64, purpose: Purpose, step: Int, indices: Range<Int>,
    into x: inout Matrix<Float>, _ y: inout Matrix<Float>
  ) {
    let rng = CounterRNG(seed: seed, stream: CounterRNG.streamID(purpose.rawValue, UInt64(bitPattern: Int64(step))))
    if x.rows != indices.count || x.cols != dim { x = Matrix(rows: indices.count, cols: dim) }
    if y.rows != indices.count || y.cols != dim { y = Matrix(rows: indices.count, cols: dim) }
    if let field, data == nil {
      let drawn = x.storage.withUnsafeMutableBufferPointer { reference.sample(dim: dim, rng: rng, indices: indices, into: $0.baseAddress!) }
      let done =
        drawn
        && x.storage.withUnsafeBufferPointer { px in
          y.storage.withUnsafeMutableBufferPointer { field.apply(px.baseAddress!, rows: indices.count, weights: fieldWeights, into: $0.baseAddress!) }
        }
      if done { return }
    }
    (x, y) = batch(seed: seed, purpose: purpose, step: step, indices: indices)
  }

  /// Fresh samples of rho alone (for two-sample statistics).
  public func referenceSample(seed: UInt64, purpose: Purpose, count: Int) -> Matrix<Float> {
    if data != nil { return batch(seed: seed, purpose: purpose, step: 0, indices: 0 ..< count).x }
    let rng = CounterRNG(seed: seed, stream: CounterRNG.streamID(purpose.rawValue, 0))
    return reference.sample(dim: dim, rng: rng, indices: 0 ..< count).x
  }
}
