// Counter-based random numbers: every variate is a pure function of (seed, stream, index), so a
// sample never depends on how work is split over ranks (docs/design.md §3).
//
// Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3",
// SC 2011): 10 rounds of (hi, lo) = mulhilo(M, c) on a 4x32-bit counter with a 2x32-bit key
// bumped by the Weyl constants between rounds. Checked against Random123's known-answer vectors.
#if canImport(Glibc)
  import Glibc
#endif

public enum Philox4x32 {
  static let m0: UInt32 = 0xD251_1F53, m1: UInt32 = 0xCD9E_8D57
  static let w0: UInt32 = 0x9E37_79B9, w1: UInt32 = 0xBB67_AE85

  /// The 10-round Philox4x32 bijection of `counter` under `key`.
  @inline(__always)
  public static func block(
    _ counter: (UInt32, UInt32, UInt32, UInt32),
    key: (UInt32, UInt32)
  ) -> (UInt32, UInt32, UInt32, UInt32) {
    var (c0, c1, c2, c3) = counter
    var (k0, k1) = key
    for round in 0 ..< 10 {
      if round > 0 { k0 &+= w0; k1 &+= w1 }
      let p0 = UInt64(m0) * UInt64(c0), p1 = UInt64(m1) * UInt64(c2)
      let (hi0, lo0) = (UInt32(truncatingIfNeeded: p0 >> 32), UInt32(truncatingIfNeeded: p0))
      let (hi1, lo1) = (UInt32(truncatingIfNeeded: p1 >> 32), UInt32(truncatingIfNeeded: p1))
      (c0, c1, c2, c3) = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
    }
    return (c0, c1, c2, c3)
  }
}

/// A stream of variates indexed by a 64-bit counter: variate `index` of stream `stream` under
/// `seed` is Philox4x32-10 of counter (index, stream) with key seed.
public struct CounterRNG: Sendable, Equatable {
  public let seed: UInt64
  public let stream: UInt64

  public init(seed: UInt64, stream: UInt64 = 0) {
    self.seed = seed
    self.stream = stream
  }

  /// A stream id derived from several parts (e.g. stage, step, purpose) by SplitMix64 mixing;
  /// distinct part lists give unrelated streams.
  public static func streamID(_ parts: UInt64...) -> UInt64 { streamID(parts) }

  public static func streamID(_ parts: [UInt64]) -> UInt64 {
    var h: UInt64 = 0x6A09_E667_F3BC_C909
    for p in parts { h = mix(h ^ mix(p &+ 0x9E37_79B9_7F4A_7C15)) }
    return h
  }

  /// SplitMix64's finalizer (Steele, Lea, Flood 2014).
  @inline(__always)
  static func mix(_ x: UInt64) -> UInt64 {
    var z = x
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// Four independent 32-bit words for `index`.
  @inline(__always)
  public func bits(_ index: UInt64) -> (UInt32, UInt32, UInt32, UInt32) {
    Philox4x32.block(
      (
        UInt32(truncatingIfNeeded: index), UInt32(truncatingIfNeeded: index >> 32),
        UInt32(truncatingIfNeeded: stream), UInt32(truncatingIfNeeded: stream >> 32)
      ),
      key: (UInt32(truncatingIfNeeded: seed), UInt32(truncatingIfNeeded: seed >> 32)))
  }

  /// 53 random bits from two words, as k * 2^-53 in [0, 1).
  @inline(__always)
  static func unit(_ a: UInt32, _ b: UInt32) -> Double {
    Double((UInt64(a) << 21) ^ UInt64(b >> 11)) * 0x1p-53
  }

  /// Uniform on [0, 1).
  @inline(__always)
  public func uniform(_ index: UInt64) -> Double {
    let w = bits(index)
    return CounterRNG.unit(w.0, w.1)
  }

  /// Uniform on [lo, hi).
  @inline(__always)
  public func uniform(_ index: UInt64, in lo: Double, _ hi: Double) -> Double {
    lo + (hi - lo) * uniform(index)
  }

  /// Standard normal by Box–Muller: sqrt(-2 ln u1) cos(2 pi u2), u1 in (0, 1], u2 in [0, 1).
  @inline(__always)
  public func normal(_ index: UInt64) -> Double {
    let w = bits(index)
    let u1 = 1 - CounterRNG.unit(w.0, w.1)
    let u2 = CounterRNG.unit(w.2, w.3)
    return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
  }

  /// buffer[i] = normal(start + i).
  public func fillNormal<T: BinaryFloatingPoint>(_ buffer: inout [T], from start: UInt64 = 0) {
    for i in buffer.indices { buffer[i] = T(normal(start &+ UInt64(i))) }
  }

  /// buffer[i] = uniform(start + i) on [lo, hi).
  public func fillUniform<T: BinaryFloatingPoint>(
    _ buffer: inout [T], from start: UInt64 = 0,
    in lo: Double = 0, _ hi: Double = 1
  ) {
    for i in buffer.indices { buffer[i] = T(uniform(start &+ UInt64(i), in: lo, hi)) }
  }
}
