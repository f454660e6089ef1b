// One training, two MPI families (issue 20): in exact mode a run gives bitwise the same parameters
// under MPICH as under Open MPI (the exact reduction does not depend on the library's summation
// order), and a checkpoint written under one resumes under the other. A binary started by the other
// family's launcher refuses to run as N lone copies. Runs in `launch/test --mpi mpich`, where
// POLAR_TEST_PROGRAMS holds the MPICH build and the test bundle's own directory the Open MPI one.
import Foundation
import TestSupport
import Testing

@Suite(
  "Open MPI and MPICH builds agree bit for bit", .serialized,
  .enabled(if: MPIBuild.isOther && Programs.mpiFamily == "mpich", "needs launch/test --mpi mpich"))
struct CrossMPITests {
  @Test("2 ranks under MPICH = 2 under Open MPI; each one's checkpoint resumes under the other, bitwise")
  func sameBits() throws {
    let mpich = try Reference.shared.get()
    let settings = faultRun.flatMap { ["--set", $0] }
    let dir = try Programs.temporaryDirectory("cross")
    let openmpi = dir.appendingPathComponent("openmpi")
    let o = try Programs.mpirun(
      2, "polar-train", ["train", "--quiet", "--output", openmpi.path] + settings, timeout: 300, build: .openMPI)
    #expect(o.status == 0, "\(o.combined)")
    #expect(try checkpointParameters(try latestCheckpoint(openmpi)) == mpich.params)

    // MPICH's step-700 checkpoint finished by Open MPI on 3 ranks, and Open MPI's by MPICH on 1.
    let step700 = "checkpoints/ckpt-potential-700.h5"
    let cases: [(ranks: Int, from: URL, build: MPIBuild, tag: String)] = [
      (3, mpich.run, .openMPI, "by-openmpi"), (1, openmpi, .current, "by-mpich"),
    ]
    for c in cases {
      let run = dir.appendingPathComponent(c.tag)
      let r = try Programs.mpirun(
        c.ranks, "polar-train",
        ["train", "--quiet", "--output", run.path, "--resume", c.from.appendingPathComponent(step700).path],
        timeout: 300, build: c.build)
      #expect(r.status == 0, "\(c.tag): \(r.combined)")
      #expect(try checkpointParameters(try latestCheckpoint(run)) == mpich.params, "\(c.tag)")
    }
  }

  @Test("a binary started by the other family's launcher: every process exits 1 within 10 s, saying so")
  func wrongLauncher() throws {
    let pairs: [(binary: MPIBuild, launcher: String, built: String)] = [
      (.openMPI, "mpich", "Open MPI"), (.current, "openmpi", "MPICH"),
    ]
    for p in pairs {
      let r = try Programs.run(
        "/usr/bin/env",
        Programs.launcher(2, family: p.launcher) + [p.binary.directory.appendingPathComponent("polar-train").path, "doctor"],
        timeout: 30, environment: Programs.mpiEnvironment)
      #expect(r.status != 0 && r.seconds < 10, "\(p.built): \(r.combined)")
      let line = "MPI sees a world of 1: this binary is built with \(p.built)"
      #expect(r.stderr.components(separatedBy: line).count == 3, "\(p.built): \(r.stderr)")
      #expect(!r.stdout.contains("rank 0/1"), "\(p.built): \(r.stdout)")
    }
  }
}
