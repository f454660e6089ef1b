// `polar-train doctor`: what each rank sees of its environment, gathered to rank 0 and printed
// in rank order: rank/size, host, the MPI family the binary was built with and the MPI library it
// runs with, HDF5 version and parallel support (and whether a serial libhdf5 got linked by
// mistake, docs/design.md §3), OpenBLAS build, kernel and threads.
import Foundation
import ParallelHDF5
import PolarCore
import SwiftMPI

public struct DoctorReport: Codable, Sendable {
  public var rank: Int
  public var size: Int
  public var host: String
  public var pid: Int32
  public var mpiFamily: String
  public var mpiLibrary: String
  public var mpiStandard: String
  public var hdf5Version: String
  public var hdf5Parallel: Bool
  public var hdf5MPIIO: Bool
  public var hdf5Libraries: [String]
  public var serialHDF5Linked: Bool
  public var openblasConfig: String
  public var openblasCore: String
  public var openblasThreads: Int
  public var environment: [String: String]

  /// This rank's report.
  public static func collect(_ comm: Communicator) -> DoctorReport {
    let libs = loadedLibraries().filter { $0.contains("libhdf5") }
    let env = ProcessInfo.processInfo.environment
    let knobs = [
      "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "OMP_NUM_THREADS",
      "HDF5_USE_FILE_LOCKING", "OMPI_MCA_io",
    ]
    let std = Communicator.standardVersion
    return DoctorReport(
      rank: comm.rank, size: comm.size, host: Communicator.processorName,
      pid: ProcessInfo.processInfo.processIdentifier,
      mpiFamily: MPIEnvironment.family,
      mpiLibrary: Communicator.libraryVersion.split(separator: "\n").first.map(String.init) ?? "",
      mpiStandard: "\(std.major).\(std.minor)",
      hdf5Version: HDF5Info.version, hdf5Parallel: HDF5Info.isParallel,
      hdf5MPIIO: HDF5Info.mpioAccessWorks(Communicator.selfOnly),
      hdf5Libraries: libs,
      serialHDF5Linked: serialHDF5(libs),
      openblasConfig: BLASInfo.config.trimmingCharacters(in: .whitespaces),
      openblasCore: BLASInfo.coreName, openblasThreads: BLASInfo.threads,
      environment: env.filter { knobs.contains($0.key) })
  }

  /// Whether this rank can run polar-train as designed.
  public var problems: [String] {
    var p = [String]()
    if !hdf5Parallel { p.append("HDF5 was built without parallel support") }
    if !hdf5MPIIO { p.append("HDF5 cannot open files through MPI-IO") }
    if serialHDF5Linked { p.append("a serial libhdf5 is linked: \(hdf5Libraries.joined(separator: ", "))") }
    if openblasThreads != 1 { p.append("OpenBLAS uses \(openblasThreads) threads; set OPENBLAS_NUM_THREADS=1 per rank") }
    return p
  }

  public var text: String {
    var lines = [
      "rank \(rank)/\(size) on \(host) (pid \(pid))",
      "  MPI      built with \(mpiFamily); runs \(mpiLibrary) (standard \(mpiStandard))",
      "  HDF5     \(hdf5Version), parallel: \(hdf5Parallel ? "yes" : "no"), MPI-IO: \(hdf5MPIIO ? "works" : "FAILS")",
      "           \(hdf5Libraries.joined(separator: ", "))",
      "  OpenBLAS \(openblasConfig)",
      "           kernel \(openblasCore), threads \(openblasThreads)",
    ]
    if !environment.isEmpty {
      lines.append(
        "  env      "
          + environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
          .joined(separator: " "))
    }
    lines += problems.map { "  PROBLEM  \($0)" }
    return lines.joined(separator: "\n")
  }

  /// Every rank's report, on rank 0 (nil elsewhere). Collective.
  public static func gather(_ comm: Communicator) throws -> [DoctorReport]? {
    let mine = try JSONEncoder().encode(collect(comm))
    guard let all = try comm.gatherv(Array(mine), root: 0) else { return nil }
    return try all.map { try JSONDecoder().decode(DoctorReport.self, from: Data($0)) }
  }

  /// Whether the mapped HDF5 libraries show a serial build: Debian's serial flavour
  /// (libhdf5_serial), or two different core libraries at once (a serial one beside the parallel
  /// one). A site's parallel build is often plain libhdf5.so, so the name alone proves nothing.
  static func serialHDF5(_ libraries: [String]) -> Bool {
    let cores = Set(
      libraries.map { ($0 as NSString).lastPathComponent }.map { $0.prefix { $0 != "." } }
        .filter { !$0.contains("_hl") && !$0.contains("hl_") && !$0.contains("fortran") })
    return cores.contains { $0.contains("serial") } || cores.count > 1
  }

  /// Paths of the shared libraries mapped into this process (/proc/self/maps).
  static func loadedLibraries() -> [String] {
    // /proc files report size 0, so read them as a stream rather than by size.
    guard let handle = FileHandle(forReadingAtPath: "/proc/self/maps"),
      let data = try? handle.readToEnd()
    else { return [] }
    let maps = String(decoding: data, as: UTF8.self)
    var seen = [String]()
    for line in maps.split(separator: "\n") {
      guard let slash = line.firstIndex(of: "/") else { continue }
      let path = String(line[slash...])
      if path.contains(".so") && !seen.contains(path) { seen.append(path) }
    }
    return seen
  }
}
