// IDX files, the format of the MNIST database. Source: Y. LeCun, C. Cortes, C. J. C. Burges,
// "THE MNIST DATABASE of handwritten digits", section "FILE FORMATS FOR THE MNIST DATABASE":
//
//   bytes 0-1  0x00 0x00
//   byte  2    type of the data: 0x08 unsigned byte, 0x09 signed byte, 0x0B short (2 bytes),
//              0x0C int (4 bytes), 0x0D float (4 bytes), 0x0E double (8 bytes)
//   byte  3    number of dimensions
//   then       one 32-bit big-endian integer per dimension: its size
//   then       the data, big-endian (MSB first, as on non-Intel processors), the last index
//              changing fastest (row-major, as in C)
//
// MNIST images are [count, rows, cols] unsigned bytes (0 = background), labels [count] unsigned
// bytes 0..9. The files are distributed gzip-compressed; Foundation on Linux has no inflate and
// this package links no zlib, so compressed files are refused with a message to gunzip them.
// Every error is one line "<path>: what is wrong" (InputError).
import Foundation

/// The contents of an IDX file: its shape and its values (exact as Double for every IDX type).
public struct IDXArray: Sendable, Equatable {
  /// The IDX type byte (third byte of the magic number).
  public enum ElementType: UInt8, Sendable {
    case uint8 = 0x08, int8 = 0x09, int16 = 0x0B, int32 = 0x0C, float32 = 0x0D, float64 = 0x0E

    public var byteCount: Int {
      switch self {
      case .uint8, .int8: 1
      case .int16: 2
      case .int32, .float32: 4
      case .float64: 8
      }
    }

    public var name: String {
      switch self {
      case .uint8: "unsigned byte"
      case .int8: "signed byte"
      case .int16: "int16"
      case .int32: "int32"
      case .float32: "float32"
      case .float64: "float64"
      }
    }
  }

  public let type: ElementType
  public let shape: [Int]
  public let values: [Double]

  public init(type: ElementType, shape: [Int], values: [Double]) {
    self.type = type
    self.shape = shape
    self.values = values
  }

  /// Reads an uncompressed IDX file of any type and shape.
  public static func read(path: String) throws -> IDXArray {
    try parse(IDXFile.contents(path), path: path)
  }

  /// Parses the bytes of an IDX file; `path` only names the file in errors.
  public static func parse(_ bytes: [UInt8], path: String) throws -> IDXArray {
    let h = try IDXFile.Header(bytes, path: path)
    try h.checkLength(bytes.count, path: path, what: "shape \(h.shape) of \(h.type.name)")
    let n = h.count, w = h.type.byteCount
    var values = [Double](repeating: 0, count: n)
    bytes.withUnsafeBufferPointer { b in
      func word(_ i: Int) -> UInt64 {
        var v: UInt64 = 0
        for k in 0 ..< w { v = v << 8 | UInt64(b[h.offset + i * w + k]) }
        return v
      }
      for i in 0 ..< n {
        let v = word(i)
        switch h.type {
        case .uint8: values[i] = Double(UInt8(v))
        case .int8: values[i] = Double(Int8(bitPattern: UInt8(v)))
        case .int16: values[i] = Double(Int16(bitPattern: UInt16(v)))
        case .int32: values[i] = Double(Int32(bitPattern: UInt32(v)))
        case .float32: values[i] = Double(Float(bitPattern: UInt32(v)))
        case .float64: values[i] = Double(bitPattern: v)
        }
      }
    }
    return IDXArray(type: h.type, shape: h.shape, values: values)
  }
}

/// Reads an MNIST image file ([n, rows, cols] unsigned bytes) and its label file ([n] unsigned
/// bytes 0...9). `images` is n x (rows * cols), row-major, pixel values 0...255 as stored.
public func readMNIST(
  images: String, labels: String
) throws
  -> (images: [Float], labels: [Int32], rows: Int, cols: Int)
{
  let ib = try IDXFile.contents(images)
  let ih = try IDXFile.Header(ib, path: images)
  try ih.require(.uint8, dimensions: 3, path: images, what: "images", layout: "(count, rows, cols)")
  let (n, rows, cols) = (ih.shape[0], ih.shape[1], ih.shape[2])
  try ih.checkLength(ib.count, path: images, what: "\(n) images of \(rows)x\(cols)")

  let lb = try IDXFile.contents(labels)
  let lh = try IDXFile.Header(lb, path: labels)
  try lh.require(.uint8, dimensions: 1, path: labels, what: "labels", layout: "(count)")
  try lh.checkLength(lb.count, path: labels, what: "\(lh.shape[0]) labels")
  guard lh.shape[0] == n else {
    throw InputError(message: "\(labels): \(lh.shape[0]) labels, but \(images) has \(n) images")
  }

  let labelValues = lb[lh.offset...].map { Int32($0) }
  if let bad = labelValues.firstIndex(where: { $0 > 9 }) {
    throw InputError(message: "\(labels): label \(labelValues[bad]) at index \(bad) is out of range 0-9")
  }
  let pixels = ib[ih.offset...].map { Float($0) }
  return (pixels, labelValues, rows, cols)
}

/// Reading and header checks shared by IDXArray and readMNIST.
enum IDXFile {
  static func contents(_ path: String) throws -> [UInt8] {
    guard FileManager.default.fileExists(atPath: path) else {
      throw InputError(message: "\(path): no such file")
    }
    let data: Data
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
      throw InputError(message: "\(path): cannot read: \(error.localizedDescription)")
    }
    return [UInt8](data)
  }

  struct Header {
    let type: IDXArray.ElementType
    let shape: [Int]
    /// Where the data start: 4 + 4 * dimensions.
    let offset: Int
    /// Number of elements (the product of shape).
    let count: Int

    init(_ b: [UInt8], path: String) throws {
      if b.count >= 2 && b[0] == 0x1F && b[1] == 0x8B {
        throw InputError(message: "\(path): gzip-compressed (magic 0x1f8b): IDX files are read uncompressed, run gunzip on it first")
      }
      guard b.count >= 4 else {
        throw InputError(message: "\(path): not an IDX file (\(b.count) bytes, shorter than the 4-byte magic number)")
      }
      let magic = b[0 ..< 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
      let hex = "0x" + String(format: "%08x", magic)
      guard b[0] == 0, b[1] == 0 else {
        throw InputError(message: "\(path): not an IDX file (magic \(hex), expected 0x0000 then type and dimensions)")
      }
      guard let type = IDXArray.ElementType(rawValue: b[2]) else {
        throw InputError(message: "\(path): not an IDX file (magic \(hex): unknown type byte 0x\(String(format: "%02x", b[2])))")
      }
      let dims = Int(b[3])
      guard dims > 0 else { throw InputError(message: "\(path): IDX header declares 0 dimensions") }
      offset = 4 + 4 * dims
      guard b.count >= offset else {
        throw InputError(message: "\(path): truncated: header declares \(dims) dimensions (\(offset) header bytes), file has \(b.count) bytes")
      }
      shape = (0 ..< dims).map { d in b[4 + 4 * d ..< 8 + 4 * d].reduce(0) { $0 << 8 | Int($1) } }
      var total = type.byteCount
      for s in shape {
        let (p, overflow) = total.multipliedReportingOverflow(by: s)
        guard !overflow else { throw InputError(message: "\(path): IDX shape \(shape) is too large") }
        total = p
      }
      self.type = type
      count = total / type.byteCount
    }

    var dataBytes: Int { count * type.byteCount }

    /// Throws unless the file holds exactly the data the header describes.
    func checkLength(_ fileBytes: Int, path: String, what: String) throws {
      let found = fileBytes - offset
      if found < dataBytes {
        throw InputError(message: "\(path): truncated: header says \(what) = \(dataBytes) bytes, found \(found)")
      }
      if found > dataBytes {
        throw InputError(message: "\(path): \(found - dataBytes) bytes after the data: header says \(what) = \(dataBytes) bytes, found \(found)")
      }
    }

    func require(_ t: IDXArray.ElementType, dimensions: Int, path: String, what: String, layout: String) throws {
      guard type == t else {
        throw InputError(
          message:
            "\(path): \(what) must be \(t.name)s (IDX type 0x\(String(format: "%02x", t.rawValue))), found \(type.name) (0x\(String(format: "%02x", type.rawValue)))"
        )
      }
      guard shape.count == dimensions else {
        throw InputError(message: "\(path): \(what) must have \(dimensions) dimension(s) \(layout), found \(shape.count): \(shape)")
      }
    }
  }
}
