// launch/setup without root (issue 20): when pkg-config finds the libraries it installs nothing
// and needs no root; when it cannot find them and cannot install, it names what is missing and
// what to load or install, and exits 1. Run as the unprivileged user nobody (setpriv; the tests
// run as root in CI), on a copy of the script in a directory nobody can read.
import Foundation
import TestSupport
import Testing

@Suite(
  "launch/setup without root", .serialized,
  .enabled(if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"), "needs root and setpriv"))
struct SetupTests {
  /// Runs a copy of launch/setup as nobody, without building, with `environment` added.
  func setupAsNobody(_ environment: [String: String], arguments: [String] = []) throws -> RunResult {
    let dir = try Programs.temporaryDirectory("setup")
    let launch = dir.appendingPathComponent("launch")
    try FileManager.default.createDirectory(at: launch, withIntermediateDirectories: true)
    let script = launch.appendingPathComponent("setup").path
    try FileManager.default.copyItem(atPath: Programs.repositoryRoot + "/launch/setup", toPath: script)
    for path in [Programs.testRoot.path, dir.path, launch.path] {
      chmod(path, 0o755)
    }
    var env = ProcessInfo.processInfo.environment
    env["POLAR_SETUP_NO_BUILD"] = "1"
    for key in ["POLAR_MPI", "POLAR_MPI_PC", "POLAR_HDF5_PC", "POLAR_BLAS_PC"] { env[key] = nil }
    env.merge(environment) { $1 }
    return try Programs.run(
      "/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", script] + arguments,
      timeout: 30, environment: env)
  }

  @Test("the libraries on pkg-config's path: exit 0, nothing installed (Open MPI, and MPICH when installed)")
  func librariesPresent() throws {
    // launch/test installs MPICH's packages before the suite when it will run the MPICH configuration.
    let mpich = try Programs.run("/usr/bin/env", ["pkg-config", "--exists", "mpich", "hdf5-mpich"]).status == 0
    for family in ["openmpi"] + (mpich ? ["mpich"] : []) {
      let r = try setupAsNobody([:], arguments: ["--mpi", family])
      #expect(r.status == 0 && !r.combined.contains("installing"), "\(family): \(r.combined)")
    }
  }

  @Test("a library pkg-config cannot find: exit 1 within 10 s, naming it, what to load and what to install")
  func libraryMissing() throws {
    let r = try setupAsNobody(["POLAR_HDF5_PC": "hdf5-site-parallel"])
    #expect(r.status == 1 && r.seconds < 10, "\(r.combined)")
    #expect(r.stderr.contains("pkg-config cannot find hdf5-site-parallel (its parallel HDF5)"), "\(r.stderr)")
    #expect(r.stderr.contains("module load") && r.stderr.contains("apt-get install libopenmpi-dev"), "\(r.stderr)")
    #expect(!r.stderr.contains("ompi-c ("), "only the missing one is named: \(r.stderr)")
  }
}
