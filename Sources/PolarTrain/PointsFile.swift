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
  public static func read(_ path: String, dataset name: String, dim: Int, world: Communicator, budget: MemoryBudget,
                          rows: (Int) -> Range<Int>, estimate: (Int) -> Int) throws -> (n: Int, rows: Range<Int>, values: Matrix<Float>) {
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
