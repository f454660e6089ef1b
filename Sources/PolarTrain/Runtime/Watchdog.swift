// The watchdog (issue 20, docs/design.md §3): a rank whose host drops out (its link down, its
// processes stopped) leaves the others blocked in a collective, and the MPI library may wait on
// the dead TCP peer forever. So every rank runs a thread that sends a small UDP heartbeat to every
// other rank, outside MPI, and listens for theirs. A peer not heard from for `timeout` seconds has
// stopped answering: the thread prints one line naming it (rank and host) and ends this process
// with status 69 (EX_UNAVAILABLE); the launcher then ends the ranks it can still reach, and the
// run continues from its newest checkpoint with --resume auto.
//
// Heartbeats measure liveness, not progress: a slow step or a long checkpoint write never looks
// like a dead peer (the heartbeat thread keeps sending), so the timeout need not follow the step
// time and can stay short. A live rank stuck outside MPI (a hung file system) is not detected.
// A rank leaving normally says goodbye (three datagrams), so that peers still finishing do not
// take it for dead.
import Foundation
import SwiftMPI
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

public final class Watchdog: @unchecked Sendable {
  /// The exit status of a rank that lost a peer (sysexits' EX_UNAVAILABLE).
  public static let exitStatus: Int32 = 69
  static let magic: UInt32 = 0x5054_4842  // "PTHB"

  struct Peer {
    var rank: Int
    var host: String
    var addresses: [sockaddr_in]
  }

  let rank: Int
  let host: String
  let peers: [Peer]
  let nonce: UInt32
  let socket: Int32
  let timeout: Double
  /// Seconds between two heartbeats to the same peer: 1 s, longer for large worlds (a rank sends
  /// at most about 256 datagrams a second).
  let interval: Double
  /// The step the main thread reached last (for the message).
  let step = Atomic<Int>(0)
  let running = Atomic<Bool>(true)
  var thread: Thread?

  /// Starts the watchdog on every rank of `world` (collective: the ranks exchange their UDP
  /// addresses). `timeout` is the silence, in seconds, after which a peer counts as gone.
  public static func start(world: Communicator, timeout: Double) throws -> Watchdog? {
    guard world.size > 1, timeout > 0 else { return nil }
    let (fd, port) = try agreeing(world) { try openSocket() }
    // Each rank's card: host name, port, its IPv4 addresses (every interface that is up; the
    // peers send to all of them, since which one routes to them is not known here).
    let host = Communicator.processorName
    let card = ([host, String(port)] + localAddresses()).joined(separator: " ")
    let cards = try world.allgatherv(Array(card.utf8))
    let nonce = try world.broadcastArray([Int64.random(in: 1 ... Int64(UInt32.max))], root: 0)[0]
    var peers = [Peer]()
    for (r, bytes) in cards.enumerated() where r != world.rank {
      let fields = String(decoding: bytes, as: UTF8.self).split(separator: " ").map(String.init)
      guard fields.count >= 2, let port = UInt16(fields[1]) else { continue }
      // On the same host, loopback reaches it whatever the interfaces.
      let ips = fields[0] == host ? ["127.0.0.1"] : Array(fields.dropFirst(2))
      peers.append(Peer(rank: r, host: fields[0], addresses: ips.compactMap { address($0, port: port) }))
    }
    let dog = Watchdog(
      rank: world.rank, host: host, peers: peers, nonce: UInt32(nonce), socket: fd, timeout: timeout,
      interval: max(1, Double(world.size) / 256))
    let thread = Thread { dog.watch() }
    thread.name = "polar-train watchdog"
    dog.thread = thread
    thread.start()
    return dog
  }

  /// A UDP socket on an ephemeral port of every interface, and the port.
  static func openSocket() throws -> (Int32, UInt16) {
    let fd = Glibc.socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
    guard fd >= 0 else { throw OutputError(message: "watchdog: cannot open a UDP socket (errno \(errno))") }
    var any = sockaddr_in()
    any.sin_family = sa_family_t(AF_INET)
    any.sin_addr.s_addr = INADDR_ANY
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &any) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
        bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
      }
    }
    guard bound else {
      let code = errno
      close(fd)
      throw OutputError(message: "watchdog: cannot bind a UDP socket (errno \(code)); parallel.watchdog = 0 turns it off")
    }
    return (fd, UInt16(bigEndian: any.sin_port))
  }

  init(rank: Int, host: String, peers: [Peer], nonce: UInt32, socket: Int32, timeout: Double, interval: Double) {
    self.rank = rank
    self.host = host
    self.peers = peers
    self.nonce = nonce
    self.socket = socket
    self.timeout = max(timeout, 5 * interval)
    self.interval = interval
  }

  /// The main thread's progress (named in the message).
  public func mark(step: Int) { self.step.store(step, ordering: .relaxed) }

  /// Stops the thread and tells the peers this rank is leaving normally.
  public func stop() {
    guard running.exchange(false, ordering: .relaxed) else { return }
    for _ in 0 ..< 3 { send(kind: 2) }
    while thread?.isFinished == false { usleep(1_000) }
    close(socket)
  }

  /// POLAR_TRAIN_TEST_DROP_HEARTBEATS: send nothing (tests: a firewall that blocks UDP).
  static let dropHeartbeats = ProcessInfo.processInfo.environment["POLAR_TRAIN_TEST_DROP_HEARTBEATS"] != nil

  /// One datagram: magic, nonce, rank, kind (1 alive, 2 leaving), to every peer.
  func send(kind: UInt32) {
    if Self.dropHeartbeats { return }
    let words: [UInt32] = [Self.magic, nonce, UInt32(rank), kind].map { $0.bigEndian }
    for peer in peers {
      for var a in peer.addresses {
        _ = words.withUnsafeBytes { buffer in
          withUnsafePointer(to: &a) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
              sendto(socket, buffer.baseAddress, buffer.count, Int32(MSG_DONTWAIT), $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
          }
        }
      }
    }
  }

  /// The thread: heartbeats every `interval`, listening in between; a peer silent for `timeout`
  /// ends the process.
  func watch() {
    // Signals stay with the main thread (its handlers record stop requests).
    var all = sigset_t()
    sigfillset(&all)
    pthread_sigmask(SIG_BLOCK, &all, nil)
    let start = Self.now()
    // Only a peer heard at least once can be declared gone: one never heard (UDP blocked by a
    // firewall, an address that does not route) is reported once and left unwatched, so a
    // blocked heartbeat cannot end a healthy run.
    var lastHeard = [Int: Double]()
    var unwatched = Set<Int>()
    let peerRanks = Set(peers.map(\.rank))
    var nextBeat = start
    var buffer = [UInt32](repeating: 0, count: 8)
    while running.load(ordering: .relaxed) {
      let now = Self.now()
      if now >= nextBeat {
        send(kind: 1)
        nextBeat = now + interval
      }
      var poller = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
      if poll(&poller, 1, Int32(max(1, min(200, (nextBeat - now) * 1000)))) > 0 {
        while true {
          let n = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
          guard n >= 16 else { break }
          let w = buffer.prefix(4).map { UInt32(bigEndian: $0) }
          let from = Int(w[2])
          guard w[0] == Self.magic, w[1] == nonce, peerRanks.contains(from) else { continue }
          lastHeard[from] = w[3] == 2 ? .infinity : Self.now()
        }
      }
      let t = Self.now()
      let silent = peers.filter { p in lastHeard[p.rank].map { t - $0 > timeout } ?? false }
      if !silent.isEmpty, running.load(ordering: .relaxed) { leave(silent) }
      if t - start > timeout {
        let never = peers.filter { lastHeard[$0.rank] == nil && !unwatched.contains($0.rank) }
        if !never.isEmpty {
          never.forEach { unwatched.insert($0.rank) }
          MPIEnvironment.printError(
            "polar-train: rank \(rank) (\(host)): warning: never heard a heartbeat from "
              + never.map { "rank \($0.rank) (\($0.host))" }.prefix(6).joined(separator: ", ")
              + (never.count > 6 ? " and \(never.count - 6) more" : "")
              + " (UDP blocked between the hosts?): the watchdog does not watch them")
        }
      }
    }
  }

  /// Prints the one line and ends the process. Open MPI's mpirun ends the job when a rank exits
  /// non-zero, so `_exit` is enough there (and makes no MPI call while the main thread may be
  /// inside one). MPICH's hydra ends it only for a rank killed by a signal or calling MPI_Abort
  /// (a stopped peer would wait for ever), so under MPICH this thread calls MPI_Abort, outside
  /// the funneled thread level: the job is being torn down either way. It first waits a second:
  /// hydra's proxies drop what a rank wrote just before an abort (a CI run lost the line).
  func leave(_ silent: [Peer]) -> Never {
    let names = silent.map { "rank \($0.rank) (\($0.host))" }
    let shown = names.count > 6 ? names.prefix(6).joined(separator: ", ") + " and \(names.count - 6) more" : names.joined(separator: ", ")
    MPIEnvironment.printError(
      "polar-train: rank \(rank) (\(host)): \(shown) stopped answering: no heartbeat for "
        + "\(Int(timeout)) s (parallel.watchdog) at step \(step.load(ordering: .relaxed)); leaving so that the job ends "
        + "(continue from the newest checkpoint with --resume auto)")
    if MPIEnvironment.family == "MPICH" {
      usleep(1_000_000)
      MPIEnvironment.abortFromAnyThread(code: Self.exitStatus)
    }
    _exit(Self.exitStatus)
  }

  static func now() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
  }

  /// This host's IPv4 addresses on interfaces that are up, loopback excluded.
  static func localAddresses() -> [String] {
    var list: UnsafeMutablePointer<ifaddrs>? = nil
    guard getifaddrs(&list) == 0 else { return [] }
    defer { freeifaddrs(list) }
    var found = [String]()
    var p = list
    while let entry = p?.pointee {
      defer { p = entry.ifa_next }
      guard let a = entry.ifa_addr, a.pointee.sa_family == sa_family_t(AF_INET),
        entry.ifa_flags & UInt32(IFF_UP) != 0, entry.ifa_flags & UInt32(IFF_LOOPBACK) == 0
      else { continue }
      var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
      a.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { s in
        var addr = s.pointee.sin_addr
        _ = inet_ntop(AF_INET, &addr, &text, socklen_t(INET_ADDRSTRLEN))
      }
      let s = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
      if !found.contains(s) { found.append(s) }
    }
    return Array(found.prefix(8))
  }

  static func address(_ ip: String, port: UInt16) -> sockaddr_in? {
    var a = sockaddr_in()
    a.sin_family = sa_family_t(AF_INET)
    a.sin_port = port.bigEndian
    guard inet_pton(AF_INET, ip, &a.sin_addr) == 1 else { return nil }
    return a
  }
}
