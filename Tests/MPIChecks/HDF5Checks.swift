// Collective HDF5 writes in uneven row blocks with N ranks, read back with any N.
import ParallelHDF5
import SwiftMPI

/// x[i][j] of the test dataset.
func cell(_ i: Int, _ j: Int) -> Double { Double(i) * 1000 + Double(j) + 0.25 }

/// Uneven contiguous row blocks: rank r gets a share proportional to r + 1.
func rowBlock(_ rows: Int, rank: Int, size: Int) -> Range<Int> {
  let weight = size * (size + 1) / 2
  let lo = rows * (rank * (rank + 1) / 2) / weight
  let hi = rows * ((rank + 1) * (rank + 2) / 2) / weight
  return lo ..< hi
}

func hdf5Write(_ world: Communicator, _ args: [String]) throws {
  let path = args[0], rows = Int(args[1])!, cols = Int(args[2])!
  let file = try File.create(path, access: .mpio(world))
  let ds = try file.createDataset("data/x", type: .float64, shape: [rows, cols])
  let block = rowBlock(rows, rank: world.rank, size: world.size)
  let mine = block.flatMap { i in (0 ..< cols).map { cell(i, $0) } }
  let report = try ds.write(mine, selection: .rows(block, trailing: [cols]), transfer: .collective)
  try expect(report.stayedCollective, "write did not stay collective: \(report)")
  // Float32 copy with a rank that writes nothing (the last rank), still collective.
  let f32 = try file.createDataset("data/x32", type: .float32, shape: [rows, cols])
  let part = world.rank == world.size - 1 && world.size > 1 ? 0 ..< 0 : block
  let extra = world.size > 1 && world.rank == world.size - 2 ? block.upperBound ..< rowBlock(rows, rank: world.size - 1, size: world.size).upperBound : 0 ..< 0
  let mineF = (part.lowerBound ..< max(part.upperBound, extra.upperBound)).flatMap { i in (0 ..< cols).map { Float(cell(i, $0)) } }
  let rowsF = part.lowerBound ..< max(part.upperBound, extra.upperBound)
  let r32 = try f32.write(mineF, selection: .rows(rowsF, trailing: [cols]))
  try expect(r32.stayedCollective, "float32 write did not stay collective: \(r32)")
  // The check can fail: an independent transfer, and a conversion (Float data into a float64
  // dataset), are reported as not collective.
  let ind = try file.createDataset("data/ind", type: .float64, shape: [rows, cols])
  let ri = try ind.write(mine, selection: .rows(block, trailing: [cols]), transfer: .independent)
  try expect(!ri.stayedCollective, "independent write reported collective: \(ri)")
  let rc = try ind.write(mine.map { Float($0) }, selection: .rows(block, trailing: [cols]))
  try expect(
    !rc.stayedCollective && rc.globalNoCollectiveCause != 0,
    "converting write reported collective: \(rc)")
  try file.setAttribute("writers", Int64(world.size))
  try ds.setAttribute("description", "uneven row blocks, x[i][j] = 1000 i + j + 1/4")
  try file.close()
}

func hdf5Read(_ world: Communicator, _ args: [String]) throws {
  let path = args[0], rows = Int(args[1])!, cols = Int(args[2])!, writers = Int64(args[3])!
  let file = try File.open(path, access: .mpio(world))
  let ds = try file.dataset("data/x")
  try expect(ds.shape == [rows, cols], "shape \(ds.shape)")
  // Our own uneven block, collectively.
  let block = rowBlock(rows, rank: world.rank, size: world.size)
  let mine = try ds.read(as: Double.self, selection: .rows(block, trailing: [cols]), shape: [nil, cols])
  try expect(mine == block.flatMap { i in (0 ..< cols).map { cell(i, $0) } }, "block values")
  // Everything, independently, as float32 from the float32 copy.
  let x32 = try file.dataset("data/x32").read(as: Float.self, transfer: .independent)
  try expect(x32 == (0 ..< rows).flatMap { i in (0 ..< cols).map { Float(cell(i, $0)) } }, "float32 values")
  try expect(try file.scalarAttribute("writers", as: Int64.self) == writers, "writers attribute")
  try expect(try ds.stringAttribute("description").hasPrefix("uneven row blocks"), "string attribute")
  try file.close()
}
