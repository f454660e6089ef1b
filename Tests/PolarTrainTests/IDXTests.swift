// The IDX reader (Sources/PolarTrain/Problems/IDX.swift) on small files written here byte by byte,
// following "FILE FORMATS FOR THE MNIST DATABASE" (LeCun, Cortes, Burges: THE MNIST DATABASE).
import Foundation
import PolarTrain
import TestSupport
import Testing

@Suite("IDX files")
struct IDXTests {
  /// Magic (0, 0, type, dims), big-endian UInt32 sizes, then `data` as given.
  static func idx(type: UInt8, shape: [Int], data: [UInt8]) -> [UInt8] {
    var b: [UInt8] = [0, 0, type, UInt8(shape.count)]
    for s in shape { b += [24, 16, 8, 0].map { UInt8((UInt32(s) >> $0) & 0xFF) } }
    return b + data
  }

  /// 3 images of 2x3 pixels and their labels.
  static let pixels: [UInt8] = [0, 1, 2, 3, 4, 5, 255, 128, 7, 0, 0, 9, 10, 20, 30, 40, 50, 60]
  static let labels: [UInt8] = [7, 0, 9]

  func write(_ files: [String: [UInt8]]) throws -> URL {
    let dir = try Programs.temporaryDirectory("idx")
    for (name, bytes) in files {
      try Data(bytes).write(to: dir.appendingPathComponent(name))
    }
    return dir
  }

  func mnistError(images: [UInt8], labels: [UInt8]) throws -> String? {
    let dir = try write(["i.idx": images, "l.idx": labels])
    do {
      _ = try readMNIST(
        images: dir.appendingPathComponent("i.idx").path,
        labels: dir.appendingPathComponent("l.idx").path)
      return nil
    } catch let e as InputError {
      #expect(!e.message.contains("\n"))
      return e.message
    }
  }

  @Test("MNIST images and labels round-trip")
  func mnistRoundTrip() throws {
    let dir = try write([
      "i.idx": Self.idx(type: 0x08, shape: [3, 2, 3], data: Self.pixels),
      "l.idx": Self.idx(type: 0x08, shape: [3], data: Self.labels),
    ])
    let m = try readMNIST(
      images: dir.appendingPathComponent("i.idx").path,
      labels: dir.appendingPathComponent("l.idx").path)
    #expect(m.rows == 2 && m.cols == 3)
    #expect(m.images == Self.pixels.map { Float($0) })
    #expect(m.labels == [7, 0, 9])
  }

  @Test("every IDX type decodes big-endian, row-major")
  func types() throws {
    func read(_ type: UInt8, _ shape: [Int], _ data: [UInt8]) throws -> IDXArray {
      let dir = try write(["a.idx": Self.idx(type: type, shape: shape, data: data)])
      return try IDXArray.read(path: dir.appendingPathComponent("a.idx").path)
    }
    let u8 = try read(0x08, [2, 2], [0, 1, 200, 255])
    #expect(u8.type == .uint8 && u8.shape == [2, 2] && u8.values == [0, 1, 200, 255])
    #expect(try read(0x09, [3], [0x7F, 0x80, 0xFF]).values == [127, -128, -1])
    #expect(try read(0x0B, [2], [0x01, 0x02, 0xFF, 0xFE]).values == [258, -2])
    #expect(try read(0x0C, [1, 2], [0, 1, 0, 0, 0xFF, 0xFF, 0xFF, 0xFD]).values == [65536, -3])
    let f32 = Float(-1.5).bitPattern, f64 = Double(0.1).bitPattern
    let f32Bytes = [24, 16, 8, 0].map { UInt8((f32 >> UInt32($0)) & 0xFF) }
    let f64Bytes = (0 ..< 8).reversed().map { UInt8((f64 >> UInt64(8 * $0)) & 0xFF) }
    #expect(try read(0x0D, [1], f32Bytes).values == [-1.5])
    #expect(try read(0x0E, [1, 1, 1], f64Bytes).values == [0.1])
  }

  @Test("a truncated image file names what the header promised")
  func truncated() throws {
    let short = Self.idx(type: 0x08, shape: [3, 2, 3], data: Array(Self.pixels.prefix(15)))
    let e = try mnistError(images: short, labels: Self.idx(type: 0x08, shape: [3], data: Self.labels))
    #expect(e?.hasSuffix("i.idx: truncated: header says 3 images of 2x3 = 18 bytes, found 15") == true)
    let header = Array(Self.idx(type: 0x08, shape: [3, 2, 3], data: []).prefix(10))
    let e2 = try mnistError(images: header, labels: Self.idx(type: 0x08, shape: [3], data: Self.labels))
    #expect(e2?.hasSuffix("i.idx: truncated: header declares 3 dimensions (16 header bytes), file has 10 bytes") == true)
    let e3 = try mnistError(
      images: Self.idx(type: 0x08, shape: [3, 2, 3], data: Self.pixels),
      labels: Self.idx(type: 0x08, shape: [3], data: [1, 2]))
    #expect(e3?.hasSuffix("l.idx: truncated: header says 3 labels = 3 bytes, found 2") == true)
  }

  @Test("bad magic, gzip, unknown type byte")
  func magic() throws {
    let labels = Self.idx(type: 0x08, shape: [3], data: Self.labels)
    let e = try mnistError(images: [0x12, 0x34, 0x08, 0x03] + Array(repeating: 0, count: 30), labels: labels)
    #expect(e?.hasSuffix("i.idx: not an IDX file (magic 0x12340803, expected 0x0000 then type and dimensions)") == true)
    let gz = try mnistError(images: [0x1F, 0x8B, 0x08, 0x00, 1, 2, 3], labels: labels)
    #expect(gz?.contains("gzip-compressed") == true && gz?.contains("gunzip") == true)
    let unknown = try mnistError(images: Self.idx(type: 0x0A, shape: [3, 2, 3], data: Self.pixels), labels: labels)
    #expect(unknown?.hasSuffix("i.idx: not an IDX file (magic 0x00000a03: unknown type byte 0x0a)") == true)
    let empty = try mnistError(images: [], labels: labels)
    #expect(empty?.hasSuffix("i.idx: not an IDX file (0 bytes, shorter than the 4-byte magic number)") == true)
    #expect(throws: InputError.self) { try IDXArray.read(path: "/nonexistent/x.idx") }
  }

  @Test("images that are not unsigned bytes, or not 3-D, are refused")
  func imageType() throws {
    let labels = Self.idx(type: 0x08, shape: [3], data: Self.labels)
    let floats = Self.idx(type: 0x0D, shape: [3, 2, 3], data: Array(repeating: 0, count: 72))
    let e = try mnistError(images: floats, labels: labels)
    #expect(e?.hasSuffix("i.idx: images must be unsigned bytes (IDX type 0x08), found float32 (0x0d)") == true)
    let flat = Self.idx(type: 0x08, shape: [3, 6], data: Self.pixels)
    #expect(
      try mnistError(images: flat, labels: labels)?
        .hasSuffix("i.idx: images must have 3 dimension(s) (count, rows, cols), found 2: [3, 6]") == true)
    let signed = Self.idx(type: 0x09, shape: [3], data: Self.labels)
    #expect(
      try mnistError(images: Self.idx(type: 0x08, shape: [3, 2, 3], data: Self.pixels), labels: signed)?
        .contains("l.idx: labels must be unsigned bytes") == true)
  }

  @Test("count mismatch, labels out of range, trailing bytes")
  func consistency() throws {
    let images = Self.idx(type: 0x08, shape: [3, 2, 3], data: Self.pixels)
    let e = try mnistError(images: images, labels: Self.idx(type: 0x08, shape: [2], data: [1, 2]))
    #expect(e?.contains("l.idx: 2 labels, but ") == true && e?.hasSuffix("i.idx has 3 images") == true)
    let e2 = try mnistError(images: images, labels: Self.idx(type: 0x08, shape: [3], data: [1, 12, 3]))
    #expect(e2?.hasSuffix("l.idx: label 12 at index 1 is out of range 0-9") == true)
    let e3 = try mnistError(images: images + [0, 0], labels: Self.idx(type: 0x08, shape: [3], data: Self.labels))
    #expect(e3?.hasSuffix("i.idx: 2 bytes after the data: header says 3 images of 2x3 = 18 bytes, found 20") == true)
  }
}
