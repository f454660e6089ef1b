// The memory a rank may plan to use (docs/commands.md, "Memory"): 80% of the smaller of MemAvailable
// (/proc/meminfo) and the cgroup memory limit (v2 memory.max, v1 memory.limit_in_bytes), shared by
// the ranks on this host (MPI_Comm_split_type, so it works under Open MPI and MPICH alike). A
// command compares its estimate (MemoryEstimates.swift) with it before it allocates or writes
// anything, so a size that cannot be allocated is a one-line error instead of a crash. Sizes from
// input are multiplied with saturation (`product`, `total`): an overflow is "too large", not a trap.
import Foundation
import SwiftMPI

public struct MemoryBudget: Sendable, Equatable {
  /// Bytes one rank may use; Int.max when nothing limits it (no /proc/meminfo, no cgroup limit).
  public let bytesPerRank: Int
  /// What the figure is, e.g. "80% of MemAvailable 31.2 GB over 2 ranks on this host".
  public let basis: String

  /// The share of the available memory an estimate may take.
  public static let share = 0.8

  /// The budget from MemAvailable and the cgroup limit (bytes; nil: unknown or no limit).
  public init(memAvailable: Int?, cgroupLimit: Int?, ranksOnHost: Int) {
    let ranks = max(1, ranksOnHost)
    let (limit, what): (Int?, String) =
      switch (memAvailable, cgroupLimit) {
      case let (m?, c?) where c < m: (c, "the cgroup memory limit \(formatBytes(c))")
      case let (m?, _): (m, "MemAvailable \(formatBytes(m))")
      case let (nil, c?): (c, "the cgroup memory limit \(formatBytes(c))")
      case (nil, nil): (nil, "no known limit")
      }
    guard let limit else {
      (bytesPerRank, basis) = (Int.max, "no known limit")
      return
    }
    bytesPerRank = Int(Double(limit / ranks) * MemoryBudget.share)
    basis = "\(Int(MemoryBudget.share * 100))% of \(what) over \(ranks) rank\(ranks == 1 ? "" : "s") on this host"
  }

  /// MemAvailable of a /proc/meminfo text, in bytes ("MemAvailable:   31234567 kB").
  public static func memAvailable(meminfo: String) -> Int? {
    for line in meminfo.split(separator: "\n") where line.hasPrefix("MemAvailable:") {
      let fields = line.dropFirst("MemAvailable:".count).split(separator: " ")
      guard let value = fields.first.flatMap({ Int($0) }), value >= 0 else { return nil }
      let unit = fields.count > 1 ? fields[1].lowercased() : ""
      return product(value, unit == "kb" ? 1024 : unit == "mb" ? 1 << 20 : unit == "gb" ? 1 << 30 : 1)
    }
    return nil
  }

  /// A cgroup memory limit file's value in bytes; nil for "max" (v2), an unreadable value, or a
  /// figure of 2^60 or more (v1 writes about 2^63 for "no limit").
  public static func cgroupLimit(_ text: String) -> Int? {
    let t = text.trimmingCharacters(in: .whitespacesAndNewlines)
    guard let v = Int(t), v > 0, v < 1 << 60 else { return nil }
    return v
  }

  /// This host's budget: reads /proc/meminfo and the cgroup limit, counts the ranks on this host.
  /// Collective over `world` (every rank calls it at the same point), measured once per process.
  public static func measure(_ world: Communicator) throws -> MemoryBudget {
    if let cached = MemoryBudget.cached { return cached }
    let host = try world.splitShared()
    let ranks = host.size
    try host.free()
    let budget = local(ranksOnHost: ranks)
    MemoryBudget.cached = budget
    return budget
  }

  /// The budget from this host's files for `ranksOnHost` ranks, without MPI (one process).
  public static func local(ranksOnHost: Int = 1) -> MemoryBudget {
    func read(_ path: String) -> String? { try? String(contentsOfFile: path, encoding: .utf8) }
    let available = read("/proc/meminfo").flatMap { memAvailable(meminfo: $0) }
    let limit = (read("/sys/fs/cgroup/memory.max") ?? read("/sys/fs/cgroup/memory/memory.limit_in_bytes")).flatMap { cgroupLimit($0) }
    return MemoryBudget(memAvailable: available, cgroupLimit: limit, ranksOnHost: ranksOnHost)
  }

  /// The budget measured last (by `measure`), for checks inside readers that run after it.
  nonisolated(unsafe) public static var cached: MemoryBudget?

  /// Nil when `bytes` fits, else "needs about X per rank, this host allows Y per rank (basis)".
  /// A saturated estimate (Int.max: the sizes overflow) never fits.
  public func excess(_ bytes: Int) -> String? {
    guard bytes > bytesPerRank || bytes == Int.max else { return nil }
    let need = bytes == Int.max ? "more than 9.2 EB (the sizes overflow 64 bits)" : "about \(formatBytes(bytes))"
    let allowed = bytesPerRank == Int.max ? "less" : formatBytes(bytesPerRank)
    return "needs \(need) per rank, this host allows \(allowed) per rank (\(basis))"
  }
}

/// a * b * ..., saturating at Int.max (sizes are non-negative; a negative factor counts as 0).
public func product(_ factors: Int...) -> Int { product(factors) }

public func product(_ factors: [Int]) -> Int {
  var p = 1
  for f in factors {
    guard f > 0 else { return 0 }
    let (r, overflow) = p.multipliedReportingOverflow(by: f)
    if overflow { return Int.max }
    p = r
  }
  return p
}

/// a + b + ..., saturating at Int.max.
public func total(_ terms: [Int]) -> Int {
  var s = 0
  for t in terms where t > 0 {
    let (r, overflow) = s.addingReportingOverflow(t)
    if overflow { return Int.max }
    s = r
  }
  return s
}

/// Bytes for people: "812 MB", "15.2 GB", "800 TB".
public func formatBytes(_ bytes: Int) -> String {
  let units = ["bytes", "kB", "MB", "GB", "TB", "PB", "EB"]
  var v = Double(bytes), i = 0
  while v >= 1000 && i < units.count - 1 { v /= 1000; i += 1 }
  return i == 0 ? "\(bytes) bytes" : String(format: v < 100 ? "%.1f" : "%.0f", v) + " " + units[i]
}
