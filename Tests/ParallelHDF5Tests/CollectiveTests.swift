import Foundation
import TestSupport
import Testing

@Suite("ParallelHDF5 under mpirun", .serialized)
struct CollectiveTests {
  @Test("3-rank collective write in uneven row blocks, read back by 1 and by 2 ranks")
  func writeThreeReadOneAndTwo() throws {
    let dir = try Programs.temporaryDirectory("h5mpi")
    let file = dir.appendingPathComponent("blocks.h5").path
    let w = try Programs.mpirun(3, "mpi-checks", ["hdf5-write", file, "1001", "7"])
    #expect(w.status == 0, "\(w.combined)")
    #expect(w.stdout.contains("OK hdf5-write on 3 rank(s)"))
    for n in [1, 2] {
      let r = try Programs.mpirun(n, "mpi-checks", ["hdf5-read", file, "1001", "7", "3"])
      #expect(r.status == 0, "read with \(n): \(r.combined)")
      #expect(r.stdout.contains("OK hdf5-read on \(n) rank(s)"))
    }
    // h5dump (hdf5-tools) agrees on the shape: the file is ordinary HDF5.
    let dump = try Programs.run("/usr/bin/env", ["h5dump", "-H", "-d", "/data/x", file])
    #expect(dump.stdout.contains("( 1001, 7 )"), "\(dump.combined)")
  }
}
