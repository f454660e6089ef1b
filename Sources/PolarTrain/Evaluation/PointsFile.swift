// Point sets from HDF5 files (apply --input x, sample --target y, a field file's x and F): a
// dataset [n, d] of floats, checked before it is read (at least one row, a float type, the
// memory it needs on this host) and after (every value finite), each problem one InputError
// line (exit 3) naming the file, the dataset and, for values, the first bad row. The file is
// closed on every path, so no "was not closed" warning precedes the error.
import Foundation
import ParallelHDF5
import PolarCore
import SwiftMPI

public enum PointsFile {
  /// Throws unless `ds` has at least one row and floating-point elements (float16 is read
  /// converted, exactly; integers and anything else are named).
  public static func checkRowsAndType(_ ds: Dataset, path: String) throws {
    if ds.shape.first == 0 { throw InputError(message: "\(path): \(ds.path): has 0 rows") }
    guard ds.elementType.isFloat else {
      throw InputError(message: "\(path): \(ds.path): \(ds.elementType) data, expected float32 or float64")
    }
  }

  /// Throws when reading `ds` needs more than the budget (`bytes`, from MemoryEstimate).
  public static func checkSize(_ ds: Dataset, path: String, bytes: Int, budget: MemoryBudget) throws {
    if let excess = budget.excess(bytes) {
      throw InputError(message: "\(path): \(ds.path): \(ds.shape) \(excess)")
    }
  }

  /// The first row of `values` (rows of `cols`) holding a NaN or an infinity.
  public static func firstNonFiniteRow(_ values: [Float], cols: Int) -> Int? {
    values.firstIndex { !$0.isFinite }.map { $0 / max(cols, 1) }
  }

  /// Reads rows `rows(n)` of dataset `name` [n, dim] collectively (every rank calls it, inside
  /// `agreeing`): checks rows, type, shape and `estimate(n)` bytes against the budget before
  /// reading, and finiteness of the rows read (rank r's rows: the lowest failing rank names the
  /// lowest bad row when rows are split in blocks).
  public static func read(
    _ path: String, dataset name: String, dim: Int, world: Communicator, budget: MemoryBudget,
    rows: (Int) -> Range<Int>, estimate: (Int) -> Int
  ) throws -> (n: Int, rows: Range<Int>, values: Matrix<Float>) {
    let n: Int, mine: Range<Int>, values: [Float]
    do {
      let file = try File.open(path, access: .mpio(world))
      defer { try? file.close() }
      let ds = try file.dataset(name)
      try ds.checkShape([nil, dim])
      try checkRowsAndType(ds, path: path)
      n = ds.shape[0]
      try checkSize(ds, path: path, bytes: estimate(n), budget: budget)
      mine = rows(n)
      values = try ds.read(as: Float.self, selection: .rows(mine, trailing: [dim]))
      try file.close()
    } catch let e as HDF5Error {
      throw InputError(message: e.description)
    }
    if let bad = firstNonFiniteRow(values, cols: dim) {
      throw InputError(message: "\(path): /\(name): row \(mine.lowerBound + bad) is not finite")
    }
    return (n, mine, Matrix(rows: mine.count, cols: dim, storage: values))
  }
}

/// An input of `apply` kept open for streaming: x [n, d] and, when the file has it, F [n, d],
/// read a block of rows at a time (collective: every rank calls `read`, ranks without rows too).
public final class PointsInput {
  public let path: String
  public let n: Int, dim: Int
  public let hasF: Bool
  let file: File
  let x: Dataset, f: Dataset?

  /// Opens and checks the datasets (rows, float type, F's shape equal to x's) and `bytes`, the
  /// memory a chunk needs, against the budget. Collective; call inside `agreeing`.
  public init(_ path: String, dim: Int, world: Communicator, budget: MemoryBudget, bytes: Int) throws {
    self.path = path
    self.dim = dim
    do {
      file = try File.open(path, access: .mpio(world))
    } catch {
      throw InputError(message: error.description)
    }
    do {
      x = try file.dataset("x")
      try x.checkShape([nil, dim])
      try PointsFile.checkRowsAndType(x, path: path)
      n = x.shape[0]
      if file.exists("F") {
        let f = try file.dataset("F")
        try f.checkShape([n, dim])
        try PointsFile.checkRowsAndType(f, path: path)
        self.f = f
      } else {
        f = nil
      }
      hasF = f != nil
      try PointsFile.checkSize(x, path: path, bytes: bytes, budget: budget)
    } catch {
      try? file.close()
      if let e = error as? HDF5Error { throw InputError(message: e.description) }
      throw error
    }
  }

  /// Rows `rows` of x and F, every value finite (else the first bad row, by its global index).
  public func read(_ rows: Range<Int>) throws -> (x: Matrix<Float>, f: Matrix<Float>?) {
    let selection = Selection.rows(rows, trailing: [dim])
    var sets = [("x", x)]
    if let f { sets.append(("F", f)) }
    var read = [Matrix<Float>](), failure: Error? = nil
    // Both collective reads always happen (a rank that stopped after the first would leave the
    // others waiting in the second); the first problem is thrown after them.
    for (name, ds) in sets {
      var values = [Float]()
      do { values = try ds.read(as: Float.self, selection: selection) } catch {
        failure = failure ?? InputError(message: error.description)
      }
      if let bad = PointsFile.firstNonFiniteRow(values, cols: dim) {
        failure = failure ?? InputError(message: "\(path): /\(name): row \(rows.lowerBound + bad) is not finite")
      }
      read.append(Matrix(rows: values.count / max(dim, 1), cols: dim, storage: values))
    }
    if let failure { throw failure }
    return (read[0], read.count > 1 ? read[1] : nil)
  }

  /// Closes the file (collective); closing twice is a no-op.
  public func close() throws {
    do { try file.close() } catch { throw InputError(message: error.description) }
  }
}
