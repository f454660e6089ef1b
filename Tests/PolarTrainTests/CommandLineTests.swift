import Foundation
import TestSupport
import Testing

@Suite("polar-train command line", .serialized)
struct CommandLineTests {
  @Test("--version and --help, as a single process")
  func versionAndHelp() throws {
    let v = try Programs.run(Programs.path("polar-train"), ["--version"], environment: Programs.mpiEnvironment)
    #expect(v.status == 0 && v.stdout.hasPrefix("polar-train 0."), "\(v.combined)")
    let h = try Programs.run(Programs.path("polar-train"), ["--help"], environment: Programs.mpiEnvironment)
    #expect(h.status == 0 && h.stdout.contains("doctor"), "\(h.combined)")
  }

  @Test("doctor under mpirun -n 2 reports both ranks, parallel HDF5 and one BLAS thread")
  func doctorTwoRanks() throws {
    let r = try Programs.mpirun(2, "polar-train", ["doctor"])
    #expect(r.status == 0, "\(r.combined)")
    #expect(r.stdout.contains("rank 0/2") && r.stdout.contains("rank 1/2"), "\(r.stdout)")
    #expect(r.stdout.contains("parallel: yes, MPI-IO: works"))
    // Debian's parallel HDF5 of the family the binary is built with (launch/test --mpi mpich).
    let family = Programs.mpiFamily
    #expect(r.stdout.contains("libhdf5_\(family)"), "\(r.stdout)")
    #expect(r.stdout.contains("built with \(family == "mpich" ? "MPICH" : "Open MPI")"), "\(r.stdout)")
    #expect(!r.stdout.contains("PROBLEM"), "\(r.stdout)")
    let j = try Programs.mpirun(2, "polar-train", ["doctor", "--json"])
    let reports = try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [[String: Any]]
    #expect(reports?.count == 2)
    #expect(reports?.map { $0["rank"] as? Int } == [0, 1])
    #expect(reports?.allSatisfy { $0["openblasThreads"] as? Int == 1 } == true)
  }

  @Test("a usage error exits 2 on every rank, with one message")
  func usageError() throws {
    let r = try Programs.mpirun(2, "polar-train", ["--no-such-flag"])
    #expect(r.status == 2, "\(r.combined)")
    #expect(r.stderr.components(separatedBy: "Unknown option '--no-such-flag'").count == 2, "\(r.stderr)")
  }
}
