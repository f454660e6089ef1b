// The MPI scope: initialise once with a thread level, finalise exactly once, wall clock, abort.
// docs/design.md §3: every MPI call happens on the main thread; an error escaping the program's body
// aborts all ranks (never a hang), after printing `polar-train: rank R: <message>`.
import CMPI
import CShims

#if canImport(Glibc)
  import Glibc
#endif

public enum ThreadLevel: Int32, Sendable, Comparable {
  case single, funneled, serialized, multiple

  var raw: Int32 {
    switch self {
    case .single: Int32(MPI_THREAD_SINGLE)
    case .funneled: Int32(MPI_THREAD_FUNNELED)
    case .serialized: Int32(MPI_THREAD_SERIALIZED)
    case .multiple: Int32(MPI_THREAD_MULTIPLE)
    }
  }
  init(raw: Int32) {
    switch raw {
    case Int32(MPI_THREAD_SINGLE): self = .single
    case Int32(MPI_THREAD_FUNNELED): self = .funneled
    case Int32(MPI_THREAD_SERIALIZED): self = .serialized
    default: self = .multiple
    }
  }
  public static func < (a: ThreadLevel, b: ThreadLevel) -> Bool { a.rawValue < b.rawValue }
}

public enum MPIEnvironment {
  nonisolated(unsafe) private static var finalizedByUs = false

  /// MPI_Initialized.
  public static var isInitialized: Bool {
    var flag: Int32 = 0
    _ = MPI_Initialized(&flag)
    return flag != 0
  }

  /// MPI_Finalized.
  public static var isFinalized: Bool {
    var flag: Int32 = 0
    _ = MPI_Finalized(&flag)
    return flag != 0
  }

  /// MPI_Init_thread with the requested level; returns the level provided. Sets MPI_ERRORS_RETURN
  /// on the world communicator so failures come back as `MPIError` instead of aborting.
  @discardableResult
  public static func initialize(threadLevel: ThreadLevel = .funneled) throws(MPIError) -> ThreadLevel {
    guard !isInitialized else {
      throw MPIError(function: "MPI_Init_thread", code: -1, message: "MPI is already initialized")
    }
    var provided: Int32 = 0
    try check("MPI_Init_thread", MPI_Init_thread(nil, nil, threadLevel.raw, &provided))
    try check(
      "MPI_Comm_set_errhandler",
      MPI_Comm_set_errhandler(pt_mpi_comm_world(), pt_mpi_errors_return()))
    try check(
      "MPI_Comm_set_errhandler",
      MPI_Comm_set_errhandler(pt_mpi_comm_self(), pt_mpi_errors_return()))
    return ThreadLevel(raw: provided)
  }

  /// MPI_Finalize, exactly once: a second call is a no-op.
  public static func finalize() throws(MPIError) {
    guard isInitialized, !isFinalized, !finalizedByUs else { return }
    finalizedByUs = true
    try check("MPI_Finalize", MPI_Finalize())
  }

  /// The MPI family this program was compiled against: "Open MPI", "MPICH" (MPICH and the MPIs
  /// built on it: Intel MPI, Cray MPICH, MVAPICH) or "unknown".
  public static var family: String { String(cString: pt_mpi_family()) }

  /// The number of processes the launcher says it started, from the variables Open MPI's mpirun
  /// (OMPI_COMM_WORLD_SIZE) and PMI launchers (PMI_SIZE: MPICH's hydra, srun) give each process.
  public static var launcherSize: Int? {
    for key in ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"] {
      if let v = getenv(key), let n = Int(String(cString: v)) { return n }
    }
    return nil
  }

  /// A process started by a launcher of several processes that MPI sees as a world of one: the
  /// launcher belongs to another MPI than the one this program was built with, and every process
  /// would run the job alone (and write the same files). The message says so; nil when consistent.
  public static func launcherMismatch(worldSize: Int) -> String? {
    guard worldSize == 1, let n = launcherSize, n > 1 else { return nil }
    return "the launcher started \(n) processes but MPI sees a world of 1: this binary is built "
      + "with \(family), and the mpirun that started it belongs to another MPI (use \(family)'s "
      + "mpirun; `polar-train doctor` names the MPI and HDF5 the binary runs with)"
  }

  /// MPI_Wtime: seconds since an arbitrary point, per rank.
  public static func wallTime() -> Double { MPI_Wtime() }

  /// MPI_Abort on the world communicator: ends every rank of the job with `code`.
  public static func abort(code: Int32, message: String? = nil) -> Never {
    if let message { printError(message) }
    if isInitialized && !isFinalized {
      _ = MPI_Abort(pt_mpi_comm_world(), code)
    }
    exit(code)
  }

  /// MPI_Abort on the world communicator from a thread other than the main one (the watchdog):
  /// outside the funneled thread level, for a launcher that ends a job only on an abort.
  public static func abortFromAnyThread(code: Int32) -> Never {
    _ = MPI_Abort(pt_mpi_comm_world(), code)
    _exit(code)
  }

  /// Writes one line to standard error, unbuffered: control characters inside it (a line break in
  /// a user's path or value) are escaped, so one message stays one line.
  public static func printError(_ line: String) {
    var body = line.hasSuffix("\n") ? String(line.dropLast()) : line
    if body.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\t" || $0.value == 0x7F }) {
      body = String(
        String.UnicodeScalarView(
          body.unicodeScalars.flatMap { u -> [Unicode.Scalar] in
            u.value < 0x20 && u != "\t" || u.value == 0x7F ? Array(String(format: "\\x%02X", u.value).unicodeScalars) : [u]
          }))
    }
    let text = body + "\n"
    fflush(nil)
    _ = Array(text.utf8).withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
  }

  /// Writes text of several lines (a usage message) to standard error as it is, unbuffered.
  public static func printErrorText(_ text: String) {
    fflush(nil)
    let full = text.hasSuffix("\n") ? text : text + "\n"
    _ = Array(full.utf8).withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
  }

  /// The whole MPI program: initialise, run `body` with the world communicator, finalise and exit
  /// with the status `body` returns. An error escaping `body` prints
  /// `<program>: rank R: <error>` and aborts every rank with `abortCode`.
  /// `finalize` decides, after `body`, whether MPI_Finalize may run (false: a library holds state
  /// it would crash on while finalising; the process then exits with the status without it).
  public static func run(
    program: String, threadLevel: ThreadLevel = .funneled,
    abortCode: Int32 = 1, finalize mayFinalize: () -> Bool = { true },
    _ body: (Communicator) throws -> Int32
  ) -> Never {
    do {
      try initialize(threadLevel: threadLevel)
    } catch {
      printError("\(program): \(error)")
      exit(abortCode)
    }
    let world = Communicator.world
    if let mismatch = launcherMismatch(worldSize: world.size) {
      printError("\(program): \(mismatch)")
      exit(abortCode)
    }
    let status: Int32
    do {
      status = try body(world)
    } catch {
      fflush(nil)
      abort(code: abortCode, message: "\(program): rank \(world.rank): \(error)")
    }
    fflush(nil)
    guard mayFinalize() else { _exit(status) }
    do { try finalize() } catch { printError("\(program): rank \(world.rank): \(error)") }
    exit(status)
  }
}
