import Foundation
import ParallelHDF5
import TestSupport
import Testing

@Suite("ParallelHDF5, one process")
struct RoundTripTests {
  let dir: URL
  init() throws { dir = try Programs.temporaryDirectory("h5") }
  func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

  @Test("every numeric type round-trips, whole and by hyperslab")
  func numbers() throws {
    let f = try File.create(path("n.h5"))
    try f.createDataset("f32", type: .float32, shape: [3, 4]).write((0 ..< 12).map { Float($0) * 0.5 })
    try f.createDataset("f64", type: .float64, shape: [12]).write((0 ..< 12).map { Double($0) / 3 })
    try f.createDataset("g/i32", type: .int32, shape: [2, 6]).write((0 ..< 12).map { Int32($0) - 6 })
    try f.createDataset("g/i64", type: .int64, shape: [12]).write((0 ..< 12).map { Int64($0) << 40 })
    try f.createDataset("g/u8", type: .uint8, shape: [12], creation: DatasetCreation(chunk: [4]))
      .write((0 ..< 12).map { UInt8($0 * 20) })
    let hs = try f.createDataset("h", type: .float64, shape: [4, 3])
    try hs.write([Double](repeating: -1, count: 12))
    try hs.write([1, 2, 3, 4, 5, 6], selection: .rows(1 ..< 3, trailing: [3]))
    try f.close()

    let g = try File.open(path("n.h5"))
    #expect(try g.dataset("f32").read(as: Float.self) == (0 ..< 12).map { Float($0) * 0.5 })
    #expect(try g.dataset("f32").shape == [3, 4])
    #expect(try g.dataset("f64").read(as: Double.self) == (0 ..< 12).map { Double($0) / 3 })
    #expect(try g.dataset("g/i32").read(as: Int32.self) == (0 ..< 12).map { Int32($0) - 6 })
    #expect(try g.dataset("g/i64").read(as: Int64.self) == (0 ..< 12).map { Int64($0) << 40 })
    #expect(try g.dataset("g/u8").read(as: UInt8.self) == (0 ..< 12).map { UInt8($0 * 20) })
    #expect(try g.dataset("h").read(as: Double.self) == [-1, -1, -1, 1, 2, 3, 4, 5, 6, -1, -1, -1])
    #expect(
      try g.dataset("h").read(as: Double.self, selection: .hyperslab(start: [1, 1], count: [2, 2]))
        == [2, 3, 5, 6])
    // float widths convert into each other (field files may be float32 or float64)
    #expect(try g.dataset("f32").read(as: Double.self) == (0 ..< 12).map { Double($0) * 0.5 })
    #expect(try g.group("g").memberNames() == ["i32", "i64", "u8"])
    #expect(g.exists("g/i32") && !g.exists("g/nope") && !g.exists("nope/x"))
    try g.close()
  }

  @Test("strings: fixed and variable length datasets, string attributes")
  func strings() throws {
    let words = ["alpha", "", "ünïcødé ✓", "a longer string with spaces "]
    let f = try File.create(path("s.h5"))
    try f.createDataset("fixed", type: .string(length: 32), shape: [4]).writeStrings(words)
    try f.createDataset("vl", type: .string(length: nil), shape: [4]).writeStrings(words)
    try f.setAttribute("config", "seed = 0\n[problem]\ndim = 2\n")
    #expect(throws: HDF5Error.self) {
      try f.createDataset("short", type: .string(length: 3), shape: [1]).writeStrings(["toolong"])
    }
    try f.close()
    let g = try File.open(path("s.h5"))
    #expect(try g.dataset("fixed").readStrings() == words)
    #expect(try g.dataset("vl").readStrings() == words)
    #expect(try g.dataset("vl").readStrings(selection: .hyperslab(start: [2], count: [2])) == Array(words[2...]))
    #expect(try g.stringAttribute("config") == "seed = 0\n[problem]\ndim = 2\n")
    try g.close()
  }

  @Test("attributes: scalars, arrays, strings, replacement, listing")
  func attributes() throws {
    let f = try File.create(path("a.h5"))
    let d = try f.createDataset("p/params", type: .float32, shape: [2])
    try f.setAttribute("step", Int64(500))
    try f.setAttribute("lr", 1e-3)
    try f.setAttribute("world_size", Int32(3))
    try d.setAttribute("offsets", [Int64(0), 10, 30])
    try d.setAttribute("scale", [Float(0.5), 2])
    try d.setAttribute("name", "icnn")
    try d.setAttribute("name", "icnn-2")  // replaces
    try f.close()
    let g = try File.open(path("a.h5"))
    #expect(try g.scalarAttribute("step", as: Int64.self) == 500)
    #expect(try g.scalarAttribute("lr", as: Double.self) == 1e-3)
    #expect(try g.scalarAttribute("world_size", as: Int64.self) == 3)  // integer widths convert
    let e = try g.dataset("p/params")
    #expect(try e.attribute("offsets", as: Int64.self) == [0, 10, 30])
    #expect(try e.attribute("scale", as: Float.self) == [0.5, 2])
    #expect(try e.stringAttribute("name") == "icnn-2")
    #expect(try g.attributeNames() == ["lr", "step", "world_size"])
    #expect(e.hasAttribute("scale") && !e.hasAttribute("nope"))
    try g.close()
  }

  @Test("clear errors: missing file, dataset, attribute; wrong type, shape, selection")
  func errors() throws {
    let f = try File.create(path("e.h5"))
    try f.createDataset("x", type: .float32, shape: [10, 2]).write([Float](repeating: 1, count: 20))
    try f.createDataset("names", type: .string(length: 8), shape: [1]).writeStrings(["a"])
    try f.close()

    let missing = path("missing.h5")
    let e1 = #expect(throws: HDF5Error.self) { try File.open(missing) }
    #expect(e1?.file == missing && e1?.operation == "open file")
    #expect(e1?.description == "\(missing): cannot open file: no such file")

    let g = try File.open(path("e.h5"))
    let e2 = #expect(throws: HDF5Error.self) { try g.dataset("F") }
    #expect(e2?.description == "\(path("e.h5")): /F: cannot open dataset: no such dataset")
    let x = try g.dataset("x")
    let e3 = #expect(throws: HDF5Error.self) { try x.read(as: Int64.self) }
    #expect(e3?.message == "wrong type: dataset holds float32, asked for int64")
    let e4 = #expect(throws: HDF5Error.self) { try x.read(as: Float.self, shape: [nil, 3]) }
    #expect(e4?.message == "wrong shape: dataset is [10, 2], expected [*, 3]")
    #expect(e4?.object == "/x")
    let e5 = #expect(throws: HDF5Error.self) { try g.dataset("names").read(as: Float.self) }
    #expect(e5?.message.contains("wrong type") == true)
    let e6 = #expect(throws: HDF5Error.self) {
      try x.read(as: Float.self, selection: .hyperslab(start: [8, 0], count: [4, 2]))
    }
    #expect(e6?.message.contains("outside shape [10, 2]") == true)
    let e7 = #expect(throws: HDF5Error.self) { try g.stringAttribute("created") }
    #expect(e7?.message == "no such attribute")
    try g.close()
    let e8 = #expect(throws: HDF5Error.self) { try File.open(path("e.h5"), mode: .readWrite).createDataset("x", type: .float32, shape: [1]) }
    #expect(e8?.object == "/x" && e8?.message.isEmpty == false)
    // A file that is not HDF5.
    try "not hdf5".write(toFile: path("text.h5"), atomically: true, encoding: .utf8)
    #expect(throws: HDF5Error.self) { try File.open(path("text.h5")) }
    #expect(HDF5Info.openCounts().files == 0)
  }

  @Test("no handle leak after 10,000 open/read/close cycles")
  func noLeak() throws {
    let f = try File.create(path("leak.h5"))
    try f.createDataset("x", type: .float64, shape: [4]).write([1.0, 2, 3, 4])
    try f.setAttribute("tag", "t")
    try f.close()
    let before = HDF5Info.openCounts()
    for i in 0 ..< 10_000 {
      let g = try File.open(path("leak.h5"))
      let d = try g.dataset("x")
      let v = try d.read(as: Double.self, selection: .hyperslab(start: [i % 4], count: [1]))
      precondition(v == [Double(i % 4 + 1)])
      _ = try g.stringAttribute("tag")
      if i % 100 == 0 { _ = try? g.dataset("missing") }
      try g.close()
    }
    let after = HDF5Info.openCounts()
    #expect(after == before, "before \(before), after \(after)")
    #expect(after.files == 0 && after.objects == 0 && after.attributes == 0)
  }
}
