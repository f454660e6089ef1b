// The exact sum of ExactSum.swift without waiting (docs/design.md §3, "Overlap"): its
// all-reduces, the header's MAX, the non-finite flags' MAX when some rank has one, then the
// digits' SUM, run as nonblocking collectives while the caller works, advanced by `progress()`
// between pieces of that work; none blocks, so a rank never waits inside `progress()` for one
// that is busy elsewhere. The arithmetic is the blocking sum's, so the result has the same bits.
import CMPI

public final class ExactSumRequest<T: ExactSummable> {
  enum Phase { case idle, header, flags, digits }  // idle: nothing in flight
  let comm: Communicator
  let workspace: ExactSumWorkspace<T>
  var contributions = UnsafeBufferPointer<T>(start: nil, count: 0)
  var k = 0
  var phase = Phase.idle
  var request = Request()
  var failure: MPIError?

  /// `comm` should carry no other collective while a sum is in flight (a dup of the world):
  /// every rank then starts the same nonblocking collectives on it in the same order.
  public init(comm: Communicator, count: Int) {
    self.comm = comm
    workspace = ExactSumWorkspace<T>(count: count)
  }

  public var inFlight: Bool { phase != .idle }

  /// Starts the sum of this rank's contributions (k * count values, k may be 0). They must stay
  /// valid and unchanged until `finish`.
  public func start(_ contributions: UnsafeBufferPointer<T>) throws(MPIError) {
    precondition(!inFlight, "ExactSumRequest: a sum is already in flight")
    failure = nil
    guard let k = workspace.header(contributions, size: comm.size) else { return }  // count 0
    self.contributions = contributions
    self.k = k
    request = try comm.iallreduce(inPlace: workspace.fields, op: .max)
    phase = .header
  }

  /// Lets MPI move the sum on, without blocking: once the header is shared, the digits are cut
  /// and their all-reduce starts. An MPI error is kept and thrown by `finish`.
  public func progress() {
    guard inFlight, failure == nil else { return }
    do throws(MPIError) { try advance(blocking: false) } catch { failure = error }
  }

  /// Waits for the sum and writes it into `result` (count values).
  public func finish(into result: UnsafeMutableBufferPointer<T>) throws(MPIError) {
    if let failure { throw failure }
    while inFlight { try advance(blocking: true) }
    if workspace.count > 0 { workspace.values(into: result) }
  }

  func advance(blocking: Bool) throws(MPIError) {
    if blocking { try request.wait() } else if try !request.test() { return }
    switch phase {
    case .header where workspace.markNonFinite(contributions, k):
      // Nonblocking too: a rank blocked here could wait for one blocked in another collective.
      request = try comm.iallreduce(inPlace: workspace.flags, op: .max)
      phase = .flags
    case .header, .flags:
      workspace.cutDigits(contributions, k)
      request = try comm.iallreduce(inPlace: workspace.digits, op: .sum)
      phase = .digits
    case .digits: phase = .idle
    case .idle: break
    }
  }
}
