// Dataset: typed reads and writes of whole datasets or hyperslab selections, collective or
// independent in a parallel file.
import CHDF5
import CShims
import Foundation

/// A part of a dataset: all of it, nothing (a rank that takes no part in a collective transfer
/// still calls it with `.none`), or a hyperslab block [start, start + count) per dimension.
public enum Selection: Sendable, Equatable {
  case all
  case none
  case hyperslab(start: [Int], count: [Int])

  /// Rows [lo, hi) of a 2-D (or n-D) dataset whose other extents are `trailing`.
  public static func rows(_ r: Range<Int>, trailing: [Int] = []) -> Selection {
    r.isEmpty
      ? .none
      : .hyperslab(
        start: [r.lowerBound] + trailing.map { _ in 0 },
        count: [r.count] + trailing)
  }

  func elementCount(shape: [Int]) -> Int {
    switch self {
    case .all: shape.reduce(1, *)
    case .none: 0
    case .hyperslab(_, let count): count.reduce(1, *)
    }
  }
}

public final class Dataset {
  public let file: File
  public let path: String
  let id: hid_t

  init(file: File, path: String, id: hid_t) {
    self.file = file
    self.path = path
    self.id = id
  }

  deinit { if H5Iis_valid(id) > 0 { H5Dclose(id) } }

  var ctx: ErrorContext { ErrorContext(file: file.path, object: path) }

  /// Extent of each dimension.
  public var shape: [Int] {
    let space = H5Dget_space(id)
    defer { H5Sclose(space) }
    let rank = Int(H5Sget_simple_extent_ndims(space))
    guard rank > 0 else { return [] }
    var dims = [hsize_t](repeating: 0, count: rank)
    H5Sget_simple_extent_dims(space, &dims, nil)
    return dims.map { Int($0) }
  }

  /// The stored element type.
  public var elementType: ElementType {
    let t = H5Dget_type(id)
    defer { H5Tclose(t) }
    return ElementType(datatype: t)
  }

  // MARK: numbers

  /// Writes `data` (row-major, as many elements as the selection) into the selection.
  @discardableResult
  public func write<T: HDF5Scalar>(
    _ data: UnsafeBufferPointer<T>, selection: Selection = .all,
    transfer: TransferMode = .collective
  ) throws(HDF5Error) -> TransferReport {
    let stored = elementType
    guard compatible(stored: stored, requested: T.elementType) else {
      throw ctx.error("write", "wrong type: dataset holds \(stored), data is \(T.elementType)")
    }
    return try transferData(selection, count: data.count, transfer, "write") {
      (mem, file, dxpl) in H5Dwrite(id, T.hdf5Type, mem, file, dxpl, data.baseAddress)
    }
  }

  @discardableResult
  public func write<T: HDF5Scalar>(
    _ data: [T], selection: Selection = .all,
    transfer: TransferMode = .collective
  ) throws(HDF5Error) -> TransferReport {
    try data.withUnsafeBufferPointer { (p) throws(HDF5Error) in
      try write(p, selection: selection, transfer: transfer)
    }
  }

  /// Reads the selection as T. Float widths convert into each other, integer widths too; a
  /// string or a float/integer mismatch is refused. With `shape`, the dataset's shape must match
  /// (nil entries match any extent).
  public func read<T: HDF5Scalar>(
    as _: T.Type = T.self, selection: Selection = .all,
    shape expected: [Int?]? = nil,
    transfer: TransferMode = .collective
  ) throws(HDF5Error) -> [T] {
    let stored = elementType
    guard compatible(stored: stored, requested: T.elementType) else {
      throw ctx.error("read", "wrong type: dataset holds \(stored), asked for \(T.elementType)")
    }
    try checkShape(expected)
    var out = [T](repeating: T.zero, count: selection.elementCount(shape: shape))
    try out.withUnsafeMutableBufferPointer { (p) throws(HDF5Error) in
      _ = try transferData(selection, count: p.count, transfer, "read") {
        (mem, file, dxpl) in H5Dread(id, T.hdf5Type, mem, file, dxpl, p.baseAddress)
      }
    }
    return out
  }

  /// Throws unless the dataset's shape matches `expected` (nil entries match anything).
  public func checkShape(_ expected: [Int?]?) throws(HDF5Error) {
    guard let expected else { return }
    let s = shape
    let ok = s.count == expected.count && zip(s, expected).allSatisfy { $1 == nil || $0 == $1 }
    if !ok {
      let want = expected.map { $0.map(String.init) ?? "*" }.joined(separator: ", ")
      throw ctx.error("read", "wrong shape: dataset is \(s), expected [\(want)]")
    }
  }

  // MARK: strings

  /// Writes strings into a string dataset (fixed length: each at most that many UTF-8 bytes).
  @discardableResult
  public func writeStrings(
    _ strings: [String], selection: Selection = .all,
    transfer: TransferMode = .collective
  ) throws(HDF5Error) -> TransferReport {
    guard case .string(let length) = elementType else {
      throw ctx.error("write strings", "wrong type: dataset holds \(elementType), not strings")
    }
    if let length {
      var bytes = [UInt8](repeating: 0, count: max(1, strings.count * length))
      for (i, s) in strings.enumerated() {
        let u = Array(s.utf8)
        guard u.count <= length else {
          throw ctx.error("write strings", "string \(i) has \(u.count) bytes, the dataset holds \(length)")
        }
        bytes.replaceSubrange(i * length ..< i * length + u.count, with: u)
      }
      let t = fixedStringType(length)
      defer { H5Tclose(t) }
      return try transferData(selection, count: strings.count, transfer, "write strings") {
        (mem, file, dxpl) in H5Dwrite(id, t, mem, file, dxpl, bytes)
      }
    }
    let t = variableStringType()
    defer { H5Tclose(t) }
    let cStrings = strings.map { strdup($0) }
    defer { cStrings.forEach { free($0) } }
    let pointers: [UnsafePointer<CChar>?] = cStrings.map { $0.map { UnsafePointer($0) } }
    return try transferData(selection, count: strings.count, transfer, "write strings") {
      (mem, file, dxpl) in H5Dwrite(id, t, mem, file, dxpl, pointers)
    }
  }

  /// Reads a string dataset (fixed or variable length).
  public func readStrings(
    selection: Selection = .all,
    transfer: TransferMode = .collective
  ) throws(HDF5Error) -> [String] {
    guard case .string(let length) = elementType else {
      throw ctx.error("read strings", "wrong type: dataset holds \(elementType), not strings")
    }
    let n = selection.elementCount(shape: shape)
    if let length {
      let t = fixedStringType(length)
      defer { H5Tclose(t) }
      var bytes = [UInt8](repeating: 0, count: max(1, n * length))
      _ = try transferData(selection, count: n, transfer, "read strings") {
        (mem, file, dxpl) in H5Dread(id, t, mem, file, dxpl, &bytes)
      }
      return (0 ..< n).map { decodeFixed(bytes[$0 * length ..< ($0 + 1) * length]) }
    }
    let t = variableStringType()
    defer { H5Tclose(t) }
    var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: max(1, n))
    var result: [String] = []
    _ = try transferData(selection, count: n, transfer, "read strings") {
      (mem, file, dxpl) in
      let status = H5Dread(id, t, mem, file, dxpl, &pointers)
      if status >= 0 {
        result = pointers.prefix(n).map { $0.map { String(cString: $0) } ?? "" }
        H5Dvlen_reclaim(t, mem, pt_h5p_default(), &pointers)
      }
      return status
    }
    return result
  }

  // MARK: transfer

  /// Builds file and memory dataspaces for `selection`, checks `count`, runs `body` with them and
  /// a transfer list, and reports what the transfer did.
  func transferData(
    _ selection: Selection, count: Int, _ mode: TransferMode, _ what: String,
    _ body: (hid_t, hid_t, hid_t) -> herr_t
  ) throws(HDF5Error) -> TransferReport {
    let fileSpace = try ctx.id("get dataspace", H5Dget_space(id))
    defer { H5Sclose(fileSpace) }
    let dims = shape
    let n = selection.elementCount(shape: dims)
    guard n == count else {
      throw ctx.error(what, "selection holds \(n) elements, data has \(count)")
    }
    switch selection {
    case .all: try ctx.check("select all", H5Sselect_all(fileSpace))
    case .none: try ctx.check("select none", H5Sselect_none(fileSpace))
    case .hyperslab(let start, let cnt):
      guard start.count == dims.count, cnt.count == dims.count,
        zip(zip(start, cnt), dims).allSatisfy({ $0.0 >= 0 && $0.1 >= 0 && $0.0 + $0.1 <= $1 })
      else {
        throw ctx.error(what, "hyperslab start \(start) count \(cnt) outside shape \(dims)")
      }
      if n == 0 {
        try ctx.check("select none", H5Sselect_none(fileSpace))
      } else {
        try ctx.check(
          "select hyperslab",
          H5Sselect_hyperslab(
            fileSpace, H5S_SELECT_SET, start.map { hsize_t($0) }, nil, cnt.map { hsize_t($0) }, nil))
      }
    }
    var memDims = [hsize_t(max(n, 1))]
    let memSpace = try ctx.id("create memory dataspace", H5Screate_simple(1, &memDims, nil))
    defer { H5Sclose(memSpace) }
    if n == 0 { try ctx.check("select none", H5Sselect_none(memSpace)) }
    let dxpl = try makeTransfer(mode, parallel: file.isParallel, ctx)
    try ctx.check(what, body(memSpace, fileSpace, dxpl.id))
    return report(dxpl, mode, parallel: file.isParallel)
  }
}

/// A fixed-length string field: up to the first NUL, trailing spaces kept.
func decodeFixed(_ bytes: ArraySlice<UInt8>) -> String {
  let end = bytes.firstIndex(of: 0) ?? bytes.endIndex
  return String(decoding: bytes[bytes.startIndex ..< end], as: UTF8.self)
}
