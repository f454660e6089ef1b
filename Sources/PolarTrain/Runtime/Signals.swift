import SwiftMPI
import Synchronization

// Stop requests from signals (docs/design.md §3). USR1, USR2, SIGTERM and a first SIGINT only record
// the signal number in an atomic; at the next step boundary the ranks agree on it (all-reduce
// MAX), write a checkpoint together and exit 75. A second SIGINT ends the process at once.
// Nothing else happens inside the handler: no collective, no I/O, no allocation.
// A launcher cannot pass on a signal before the ranks exist (Open MPI's mpirun drops a USR1 it
// gets before it started them), so once every rank has its handlers rank 0 creates the file
// POLAR_TRAIN_READY_FILE names, and launch/train and cluster/slurm/polar-train.sbatch hold a stop
// signal back until it appears.
#if canImport(Glibc)
  import Glibc
#endif

public enum StopSignals {
  /// The first stop signal received (0: none).
  static let received = Atomic<Int32>(0)
  static let interrupts = Atomic<Int32>(0)

  /// The signals that request a checkpoint and exit 75.
  public static let stopping: [Int32] = [SIGUSR1, SIGUSR2, SIGTERM, SIGINT]

  /// Installs the handlers (SA_RESTART, so that system calls inside MPI and HDF5 resume).
  public static func install() {
    // Touch the atomics before any handler can run: a global's lazy initialisation is not
    // async-signal-safe.
    _ = received.load(ordering: .relaxed)
    _ = interrupts.load(ordering: .relaxed)
    // A launcher may have started us with these signals blocked (a blocked signal would stay
    // pending forever): unblock them.
    var set = sigset_t()
    sigemptyset(&set)
    for sig in stopping { sigaddset(&set, sig) }
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
    for sig in stopping {
      var action = sigaction()
      action.__sigaction_handler.sa_handler = { sig in
        if sig == SIGINT && StopSignals.interrupts.add(1, ordering: .relaxed).newValue >= 2 { _exit(130) }
        _ = StopSignals.received.compareExchange(expected: 0, desired: sig, ordering: .relaxed)
      }
      action.sa_flags = SA_RESTART
      sigemptyset(&action.sa_mask)
      sigaction(sig, &action, nil)
    }
  }

  /// The signal this process has received, 0 when none.
  public static var pending: Int32 { received.load(ordering: .relaxed) }

  /// Forgets a received signal (tests, and a run that continues after handling it).
  public static func reset() {
    received.store(0, ordering: .relaxed)
    interrupts.store(0, ordering: .relaxed)
  }

  /// After `install` on every rank: waits for all of them (a barrier), then rank 0 creates the
  /// file named by POLAR_TRAIN_READY_FILE, when set, to tell the launcher that a stop signal
  /// forwarded from now on reaches a handler. Collective.
  public static func announceReady(world: Communicator) throws {
    try world.barrier()
    guard world.rank == 0, let name = getenv("POLAR_TRAIN_READY_FILE"), name.pointee != 0 else { return }
    let fd = open(name, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
    if fd >= 0 { close(fd) }
  }

  /// Rank 0 writes the failure status every rank is about to exit with (75 after a stop) to
  /// $POLAR_TRAIN_STATUS_FILE, when set: launch/train reads it when its launcher says 0, because MPICH 4.0's hydra exits 0 now and then after forwarding
  /// a USR1 whose ranks exited 75 (measured: 2 runs in 6, any version of polar-train).
  public static func recordStatus(_ status: Int32, world: Communicator) {
    guard world.rank == 0, let name = getenv("POLAR_TRAIN_STATUS_FILE"), name.pointee != 0 else { return }
    let fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { return }
    let text = Array("\(status)\n".utf8)
    _ = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
  }

  public static func name(_ sig: Int32) -> String {
    switch sig {
    case SIGUSR1: "SIGUSR1"
    case SIGUSR2: "SIGUSR2"
    case SIGTERM: "SIGTERM"
    case SIGINT: "SIGINT"
    default: "signal \(sig)"
    }
  }
}
