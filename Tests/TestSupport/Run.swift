// Running the project's programs from tests: under mpirun with N ranks, with a deadline, so a
// hanging MPI job fails the test instead of hanging the suite.
import Foundation

public struct RunResult: Sendable {
  public let status: Int32
  public let stdout: String
  public let stderr: String
  public let seconds: Double
  public let timedOut: Bool
  public var combined: String { stdout + stderr }
}

public enum Programs {
  /// The MPI the programs are built with, and so the launcher the tests use: POLAR_TEST_MPI,
  /// openmpi (default) or mpich (launch/test --mpi mpich sets it with POLAR_TEST_PROGRAMS).
  public static var mpiFamily: String { ProcessInfo.processInfo.environment["POLAR_TEST_MPI"] ?? "openmpi" }

  /// The launcher's command for `ranks` processes, before the program: Open MPI's mpirun with
  /// --oversubscribe, or MPICH's hydra (mpiexec.mpich, Debian's name; it oversubscribes by itself).
  public static func launcher(_ ranks: Int, family: String = mpiFamily) -> [String] {
    launcher(family: family) + ["-n", String(ranks)]
  }

  /// The launcher and its options before any `-n` (MPMD lines put several after it).
  public static func launcher(family: String = mpiFamily) -> [String] {
    family == "mpich" ? [mpichLauncher] : ["mpirun", "--oversubscribe"]
  }

  /// MPICH's launcher: POLAR_TEST_MPIRUN, else Debian's mpiexec.mpich.
  static var mpichLauncher: String {
    ProcessInfo.processInfo.environment["POLAR_TEST_MPIRUN"] ?? "mpiexec.mpich"
  }

  /// The build products directory (where the executables live): POLAR_TEST_PROGRAMS when set
  /// (another build configuration's products, e.g. .build-mpich/release), else the test bundle's.
  public static var buildDirectory: URL {
    if let dir = ProcessInfo.processInfo.environment["POLAR_TEST_PROGRAMS"] {
      return URL(fileURLWithPath: dir, isDirectory: true)
    }
    return bundleDirectory
  }

  /// The test bundle's own build products directory (built with Open MPI by launch/test).
  public static var bundleDirectory: URL {
    let exe =
      (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
      ?? CommandLine.arguments[0]
    var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
    // On Linux the test binary is <build>/<package>PackageTests.xctest.
    if dir.lastPathComponent.hasSuffix(".xctest") { dir = dir.deletingLastPathComponent() }
    return dir
  }

  /// The repository's root directory (this file is Tests/TestSupport/Run.swift).
  public static var repositoryRoot: String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().path
  }

  public static func path(_ product: String) -> String {
    buildDirectory.appendingPathComponent(product).path
  }

  /// The environment every MPI run in the tests gets (DEVELOPERS: root, one BLAS thread).
  public static var mpiEnvironment: [String: String] {
    var env = ProcessInfo.processInfo.environment
    env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    env["OPENBLAS_NUM_THREADS"] = "1"
    env["OMPI_MCA_rmaps_base_oversubscribe"] = "1"
    // Quiet a container without a fast network: use loopback TCP and shared memory only.
    env["OMPI_MCA_btl"] = env["OMPI_MCA_btl"] ?? "self,vader,tcp"
    env["OMPI_MCA_btl_vader_single_copy_mechanism"] = "none"
    // The launchers (launch/train, launch/env.sh) pick the MPI family's mpirun from POLAR_MPI.
    env["POLAR_MPI"] = mpiFamily
    return env
  }

  /// Runs `program args` under `mpirun -n ranks` with a deadline; `build` names another build
  /// configuration's products and launcher (the cross-MPI tests).
  public static func mpirun(
    _ ranks: Int, _ program: String, _ args: [String],
    timeout: Double = 120, environment: [String: String] = [:],
    directory: URL? = nil, build: MPIBuild? = nil
  ) throws -> RunResult {
    let build = build ?? .current
    return try run(
      "/usr/bin/env",
      launcher(ranks, family: build.family) + [build.directory.appendingPathComponent(program).path] + args,
      timeout: timeout, environment: mpiEnvironment.merging(environment) { $1 },
      directory: directory)
  }

  /// Runs a command, capturing output, killing it (and its process group) after `timeout`.
  public static func run(
    _ executable: String, _ args: [String], timeout: Double = 120,
    environment: [String: String]? = nil,
    directory: URL? = nil
  ) throws -> RunResult {
    try start(executable, args, environment: environment, directory: directory).finish(timeout: timeout)
  }

  /// Starts `program args` under `mpirun -n ranks` in the background (fault tests signal it).
  public static func startMPI(
    _ ranks: Int, _ program: String, _ args: [String],
    environment: [String: String] = [:]
  ) throws -> Launched {
    try start(
      "/usr/bin/env", launcher(ranks) + [path(program)] + args,
      environment: mpiEnvironment.merging(environment) { $1 })
  }

  /// Starts a command in the background, its output captured to temporary files.
  public static func start(
    _ executable: String, _ args: [String], environment: [String: String]? = nil,
    directory: URL? = nil
  ) throws -> Launched {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = args
    if let environment { process.environment = environment }
    if let directory { process.currentDirectoryURL = directory }
    let base = FileManager.default.temporaryDirectory.appendingPathComponent("pt-run-\(UUID().uuidString)").path
    _ = FileManager.default.createFile(atPath: base + ".out", contents: nil)
    _ = FileManager.default.createFile(atPath: base + ".err", contents: nil)
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".out"))
    let err = try FileHandle(forWritingTo: URL(fileURLWithPath: base + ".err"))
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    let launched = Launched(process: process, base: base, out: out, err: err)
    // The child inherits this thread's signal mask, and the test runner's worker threads block
    // signals: unblock them around the spawn, so that mpirun can receive the USR1/TERM it forwards.
    var all = sigset_t(), previous = sigset_t()
    sigfillset(&all)
    pthread_sigmask(SIG_UNBLOCK, &all, &previous)
    defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }
    try process.run()
    return launched
  }

  /// PIDs of the ranks a launcher `pid` started on this host, in PID order: its descendants that
  /// are not launcher daemons (Open MPI's mpirun forks the ranks; MPICH's hydra forks a
  /// hydra_pmi_proxy that forks them).
  public static func ranks(of pid: Int32) -> [Int32] {
    let daemons: Set<String> = ["hydra_pmi_proxy", "orted", "prted", "mpiexec", "mpiexec.hydra", "mpirun"]
    var found = [Int32](), frontier = [pid]
    while let next = frontier.popLast() {
      for child in children(of: next) {
        let comm =
          (try? String(contentsOfFile: "/proc/\(child)/comm", encoding: .utf8))?
          .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        if daemons.contains(comm) { frontier.append(child) } else { found.append(child) }
      }
    }
    return found.sorted()
  }

  /// PIDs of the direct children of `pid`, from /proc.
  public static func children(of pid: Int32) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { Int32($0) }.filter { child in
      guard let stat = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8),
        let close = stat.lastIndex(of: ")")
      else { return false }
      // Fields after "(comm)": state, ppid, ...
      let fields = stat[stat.index(after: close)...].split(separator: " ")
      return fields.count > 1 && Int32(fields[1]) == pid
    }.sorted()
  }

  /// A fresh temporary directory for one test, inside this test process's own directory
  /// (polar-train-tests-<pid> under the system's temporary directory), which is removed when the
  /// process exits unless POLAR_TRAIN_KEEP_TEST_DIRS is set (to look at a failed run).
  public static func temporaryDirectory(_ tag: String) throws -> URL {
    let dir = testRoot.appendingPathComponent("\(tag)-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
  }

  public static let testRoot: URL = {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("polar-train-tests-\(getpid())")
    if ProcessInfo.processInfo.environment["POLAR_TRAIN_KEEP_TEST_DIRS"] == nil {
      atexit { try? FileManager.default.removeItem(at: Programs.testRoot) }
    }
    return root
  }()
}

/// A build configuration's products and the MPI family whose launcher runs them.
public struct MPIBuild: Sendable {
  public let family: String
  public let directory: URL

  /// The programs the tests run (POLAR_TEST_MPI, POLAR_TEST_PROGRAMS).
  public static var current: MPIBuild { MPIBuild(family: Programs.mpiFamily, directory: Programs.buildDirectory) }
  /// The Open MPI build of the test bundle itself.
  public static var openMPI: MPIBuild { MPIBuild(family: "openmpi", directory: Programs.bundleDirectory) }
  /// Whether the tests run another configuration's programs than the bundle's (launch/test --mpi).
  public static var isOther: Bool { ProcessInfo.processInfo.environment["POLAR_TEST_PROGRAMS"] != nil }
}

/// A program running in the background.
public final class Launched: @unchecked Sendable {
  public let process: Process
  let base: String
  let out: FileHandle
  let err: FileHandle
  let started = Date()

  init(process: Process, base: String, out: FileHandle, err: FileHandle) {
    self.process = process
    self.base = base
    self.out = out
    self.err = err
  }

  public var pid: Int32 { process.processIdentifier }
  public var isRunning: Bool { process.isRunning }
  public var stdoutSoFar: String { (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? "" }

  /// Sends `signal` to the program.
  public func signal(_ sig: Int32) { kill(pid, sig) }

  /// Polls `condition` every 20 ms until it holds (true) or `timeout` passes or the program ends (false).
  public func wait(for timeout: Double, until condition: () -> Bool) -> Bool {
    let start = Date()
    while Date().timeIntervalSince(start) < timeout {
      if condition() { return true }
      if !process.isRunning { return condition() }
      usleep(20_000)
    }
    return false
  }

  /// Waits for the end (killing the program after `timeout`) and returns its result.
  public func finish(timeout: Double) -> RunResult {
    var timedOut = false
    while process.isRunning {
      if Date().timeIntervalSince(started) > timeout {
        timedOut = true
        kill(-process.processIdentifier, SIGKILL)
        process.terminate()
        kill(process.processIdentifier, SIGKILL)
        break
      }
      usleep(20_000)
    }
    process.waitUntilExit()
    try? out.close()
    try? err.close()
    let stdout = (try? String(contentsOfFile: base + ".out", encoding: .utf8)) ?? ""
    let stderr = (try? String(contentsOfFile: base + ".err", encoding: .utf8)) ?? ""
    try? FileManager.default.removeItem(atPath: base + ".out")
    try? FileManager.default.removeItem(atPath: base + ".err")
    return RunResult(
      status: process.terminationStatus, stdout: stdout, stderr: stderr,
      seconds: Date().timeIntervalSince(started), timedOut: timedOut)
  }
}
