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
  /// The build products directory (where the test bundle and the executables live).
  public static var buildDirectory: URL {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
      ?? CommandLine.arguments[0]
    var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
    // On Linux the test binary is <build>/<package>PackageTests.xctest.
    if dir.lastPathComponent.hasSuffix(".xctest") { dir = dir.deletingLastPathComponent() }
    return dir
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
    return env
  }

  /// Runs `program args` under `mpirun -n ranks` with a deadline.
  public static func mpirun(_ ranks: Int, _ program: String, _ args: [String],
                            timeout: Double = 120, environment: [String: String] = [:],
                            directory: URL? = nil) throws -> RunResult {
    try run("/usr/bin/env",
            ["mpirun", "-n", String(ranks), "--oversubscribe", path(program)] + args,
            timeout: timeout, environment: mpiEnvironment.merging(environment) { $1 },
            directory: directory)
  }

  /// Runs a command, capturing output, killing it (and its process group) after `timeout`.
  public static func run(_ executable: String, _ args: [String], timeout: Double = 120,
                         environment: [String: String]? = nil,
                         directory: URL? = nil) throws -> RunResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = args
    if let environment { process.environment = environment }
    if let directory { process.currentDirectoryURL = directory }
    let outFile = FileManager.default.temporaryDirectory
      .appendingPathComponent("pt-run-\(UUID().uuidString)")
    _ = FileManager.default.createFile(atPath: outFile.path + ".out", contents: nil)
    _ = FileManager.default.createFile(atPath: outFile.path + ".err", contents: nil)
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outFile.path + ".out"))
    let err = try FileHandle(forWritingTo: URL(fileURLWithPath: outFile.path + ".err"))
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    let start = Date()
    try process.run()
    var timedOut = false
    while process.isRunning {
      if Date().timeIntervalSince(start) > timeout {
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
    let stdout = (try? String(contentsOfFile: outFile.path + ".out", encoding: .utf8)) ?? ""
    let stderr = (try? String(contentsOfFile: outFile.path + ".err", encoding: .utf8)) ?? ""
    try? FileManager.default.removeItem(atPath: outFile.path + ".out")
    try? FileManager.default.removeItem(atPath: outFile.path + ".err")
    return RunResult(status: process.terminationStatus, stdout: stdout, stderr: stderr,
                     seconds: Date().timeIntervalSince(start), timedOut: timedOut)
  }

  /// A fresh temporary directory for one test.
  public static func temporaryDirectory(_ tag: String) throws -> URL {
    let dir = FileManager.default.temporaryDirectory
      .appendingPathComponent("polar-train-tests-\(tag)-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir
  }
}
