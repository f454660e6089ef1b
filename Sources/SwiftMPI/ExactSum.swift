// Exact, reproducible sum of Float/Double vectors across ranks (DESIGN §3).
//
// Element i of every contribution is written as a fixed-point integer on a grid shared by all
// ranks: E_i = max over all contributions of the smallest e with |v| < 2^e (one all-reduce MAX),
// then V = round(v * 2^(K - E_i)) with K = 96 fraction bits, an integer of at most 96 bits held in
// three signed 32-bit limbs inside Int64 words. Integer addition is associative, so the limb sums
// (one all-reduce SUM) are the same whatever the number of ranks, the grouping of contributions
// on ranks, or their order; the result is converted back once, deterministically. The headroom of
// the Int64 limbs allows 2^31 contributions. Values more than 2^-96 below the largest contribution
// to the same element are rounded to that grid (far below Float and Double resolution of the sum).
import CMPI

public protocol ExactSummable: MPIScalar, BinaryFloatingPoint {}
extension Float: ExactSummable {}
extension Double: ExactSummable {}

/// The fixed-point codec, a pure function of (value, shared exponent); no MPI.
public enum FixedPointSum {
  public static let fractionBits = 96
  static let two32 = 4294967296.0
  static let two64 = 18446744073709551616.0
  /// Shared exponent of an element whose contributions are all zero.
  public static let zeroExponent = Int32.min

  /// Smallest e with |x| < 2^e, for finite non-zero x; `zeroExponent` for zero.
  @inline(__always)
  public static func exponent(_ x: Double) -> Int32 {
    x == 0 ? zeroExponent : Int32(x.exponent) + 1
  }

  /// 2^(K - E), the grid scale of an element with shared exponent E; 0 when that is not a finite
  /// Double (E below about -927), and then `limbs` scales x in one step instead.
  @inline(__always)
  public static func scale(exponent e: Int32) -> Double {
    let k = fractionBits - Int(e)
    return k <= Double.greatestFiniteMagnitude.exponent ? Double(sign: .plus, exponent: k, significand: 1) : 0
  }

  /// The limbs (high, middle, low) of round(x * 2^(K - E)), |x| < 2^E; `scale` is
  /// scale(exponent: E), computed once per element by callers that code many contributions.
  /// Multiplications by powers of two are exact, so only the low limb is rounded.
  @inline(__always)
  public static func limbs(_ x: Double, exponent e: Int32, scale: Double? = nil) -> (Int64, Int64, Int64) {
    if x == 0 { return (0, 0, 0) }
    let g = scale ?? self.scale(exponent: e)
    let s = g != 0 ? x.magnitude * g : Double(sign: .plus, exponent: fractionBits - Int(e), significand: x.magnitude)
    let hi = (s * (1 / two64)).rounded(.down)
    let r1 = s - hi * two64  // exact: the low bits of s
    let mid = (r1 * (1 / two32)).rounded(.down)
    let lo = (r1 - mid * two32).rounded(.toNearestOrEven)
    let l = (Int64(hi), Int64(mid), Int64(lo))
    return x < 0 ? (-l.0, -l.1, -l.2) : l
  }

  /// The value (t * 2^64 + m * 2^32 + l) * 2^(E - K) of summed limbs, carries propagated first.
  @inline(__always)
  public static func value(_ t: Int64, _ m: Int64, _ l: Int64, exponent e: Int32) -> Double {
    if e == zeroExponent { return 0 }
    var (t, m, l) = (t, m, l)
    var c = l >> 32; l -= c << 32; m += c
    c = m >> 32; m -= c << 32; t += c
    let low = (UInt64(m) << 32) | UInt64(l)  // both in [0, 2^32)
    let v = Double(t) * two64 + Double(low)
    return Double(sign: .plus, exponent: Int(e) - fractionBits, significand: v)
  }
}

// Float contributions without Double arithmetic (perf: the generic path was 30% of an inverse
// step). A normal Float is x = m 2^(b - 150) with a 24-bit integer m and biased exponent b, so
// its shared-exponent term is b - 126, and x 2^(K - E) = m 2^(b - 150 + K - E) is an integer
// shifted left whenever b - 150 + K - E >= 0: exact. Each element's contributions are added in
// one 128-bit integer (each term < 2^96) and split into the three limbs once (perf: per
// contribution and limb the earlier loop was 7% of a d = 2 step). Subnormal values and the rare
// negative shifts take the Double path's limbs, so the integer sums, hence the results, are the
// same bits as the generic path's.
extension FixedPointSum {
  /// Raises h[i] to every contribution's exponent; returns whether any value is non-finite.
  static func exponents(_ c: UnsafeBufferPointer<Float>, into h: UnsafeMutableBufferPointer<Int32>) -> Bool {
    var nonFinite = false
    for i in 0 ..< c.count {
      let b = Int32(c[i].bitPattern >> 23 & 0xFF)
      if b != 0 && b != 0xFF {
        h[i] = max(h[i], b - 126)
      } else if b == 0xFF {
        nonFinite = true
      } else if c[i] != 0 {
        h[i] = max(h[i], exponent(Double(c[i])))
      }
    }
    return nonFinite
  }

  /// limbs[3i ..< 3i + 3] += the fixed-point sum of every contribution's element i.
  static func accumulate(_ cs: [UnsafeBufferPointer<Float>], exponents h: UnsafeBufferPointer<Int32>,
                         into limbs: UnsafeMutableBufferPointer<Int64>) {
    for i in 0 ..< h.count {
      let e = h[i]
      if e == zeroExponent { continue }  // every contribution is zero (or non-finite)
      var sum: Int128 = 0
      for c in cs {
        let bits = c[i].bitPattern
        let b = Int(bits &>> 23 & 0xFF)
        let s = b - 150 + fractionBits - Int(e)
        if b != 0 && b != 0xFF && s >= 0 {
          let term = Int128(bits & 0x7F_FFFF | 0x80_0000) &<< s
          sum &+= bits &>> 31 != 0 ? 0 &- term : term
        } else if c[i].isFinite && c[i] != 0 {
          let (t, m, l) = FixedPointSum.limbs(Double(c[i]), exponent: e)
          sum &+= (Int128(t) &<< 64) &+ (Int128(m) &<< 32) &+ Int128(l)
        }
      }
      limbs[3 * i] &+= Int64(truncatingIfNeeded: sum &>> 64)
      limbs[3 * i + 1] &+= Int64(truncatingIfNeeded: (sum &>> 32) & 0xFFFF_FFFF)
      limbs[3 * i + 2] &+= Int64(truncatingIfNeeded: sum & 0xFFFF_FFFF)
    }
  }
}

extension Communicator {
  /// result[i] = exact sum over every rank's contributions c of c[i], rounded once.
  /// Each rank may pass any number of contributions (e.g. one per micro-batch), all of the
  /// result's length; the bytes of the result do not depend on how contributions are spread
  /// over ranks or ordered. NaN, or +Inf with -Inf, gives NaN; an Inf alone gives that Inf.
  // Specialised: generic Float/Double conversions cost 20% of a d = 16 step (perf).
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func exactSum<T: ExactSummable>(_ contributions: [UnsafeBufferPointer<T>],
                                         into result: UnsafeMutableBufferPointer<T>) throws(MPIError) {
    let n = result.count
    for c in contributions { precondition(c.count == n, "exactSum: contribution length differs") }
    // 1. Shared exponents, all-reduce MAX: [E_0 .. E_n-1 | any non-finite value anywhere]. Only
    //    when some rank has a non-finite value, a second all-reduce MAX of [NaN | +Inf | -Inf]
    //    flags (3n) follows: every rank sees the same header, so all take part or none.
    var header = [Int32](repeating: FixedPointSum.zeroExponent, count: n + 1)
    header[n] = 0
    var flags = [Int32]()
    func flag(_ i: Int, _ x: Double) {
      if flags.isEmpty { flags = [Int32](repeating: 0, count: 3 * n) }
      flags[(x.isNaN ? 0 : x > 0 ? 1 : 2) * n + i] = 1
    }
    // Float contributions: the same numbers from the bits, integer arithmetic only.
    let floats: [UnsafeBufferPointer<Float>]? = T.self == Float.self
      ? contributions.map { UnsafeBufferPointer(start: UnsafeRawPointer($0.baseAddress)?.assumingMemoryBound(to: Float.self), count: n) }
      : nil
    for (k, c) in contributions.enumerated() {
      if let floats {
        let nonFinite = header.withUnsafeMutableBufferPointer { FixedPointSum.exponents(floats[k], into: $0) }
        if nonFinite { for i in 0 ..< n where !floats[k][i].isFinite { flag(i, Double(floats[k][i])) } }
        continue
      }
      for i in 0 ..< n {
        let x = Double(c[i])
        if x.isFinite { header[i] = max(header[i], FixedPointSum.exponent(x)) } else { flag(i, x) }
      }
    }
    if !flags.isEmpty { header[n] = 1 }
    try allreduce(&header, op: .max)
    if header[n] != 0 {
      if flags.isEmpty { flags = [Int32](repeating: 0, count: 3 * n) }
      try allreduce(&flags, op: .max)
    }
    // 2. Limbs of every finite contribution on the shared grid, summed locally then globally.
    var limbs = [Int64](repeating: 0, count: 3 * n)
    limbs.withUnsafeMutableBufferPointer { lp in
      if let floats {
        header.withUnsafeBufferPointer { FixedPointSum.accumulate(floats, exponents: UnsafeBufferPointer(rebasing: $0[0 ..< n]), into: lp) }
        return
      }
      // The grid scale 2^(K - E_i) is computed once per element, not once per contribution.
      let scale = (0 ..< n).map { FixedPointSum.scale(exponent: header[$0]) }
      for c in contributions {
        for i in 0 ..< n where c[i].isFinite {
          let (t, m, l) = FixedPointSum.limbs(Double(c[i]), exponent: header[i], scale: scale[i])
          lp[3 * i] &+= t
          lp[3 * i + 1] &+= m
          lp[3 * i + 2] &+= l
        }
      }
    }
    try allreduce(&limbs, op: .sum)
    // 3. Back to floating point, once.
    for i in 0 ..< n {
      let nan = !flags.isEmpty && flags[i] != 0
      let pinf = !flags.isEmpty && flags[n + i] != 0, ninf = !flags.isEmpty && flags[2 * n + i] != 0
      if nan || (pinf && ninf) {
        result[i] = T.nan
      } else if pinf {
        result[i] = T.infinity
      } else if ninf {
        result[i] = -T.infinity
      } else {
        result[i] = T(FixedPointSum.value(limbs[3 * i], limbs[3 * i + 1], limbs[3 * i + 2],
                                          exponent: header[i]))
      }
    }
  }

  /// In place: buffer[i] <- exact sum over ranks of buffer[i].
  public func exactSum<T: ExactSummable>(inPlace buffer: UnsafeMutableBufferPointer<T>) throws(MPIError) {
    let copy = Array(buffer)
    try copy.withUnsafeBufferPointer { (c) throws(MPIError) in
      try exactSum([c], into: buffer)
    }
  }

  public func exactSum<T: ExactSummable>(_ buffer: inout [T]) throws(MPIError) {
    try buffer.withUnsafeMutableBufferPointer { (p) throws(MPIError) in try exactSum(inPlace: p) }
  }
}

extension Communicator {
  /// The exact sum of every rank's `contributions` (each of length `count`; a rank may pass none).
  // Specialised: generic Float/Double conversions cost 20% of a d = 16 step (perf).
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func exactSum<T: ExactSummable>(_ contributions: [[T]], count: Int) throws(MPIError) -> [T] {
    let buffers = contributions.map { c -> UnsafeMutableBufferPointer<T> in
      precondition(c.count == count, "exactSum: contribution length \(c.count), expected \(count)")
      let b = UnsafeMutableBufferPointer<T>.allocate(capacity: count)
      _ = b.initialize(from: c)
      return b
    }
    defer { buffers.forEach { $0.deallocate() } }
    var result = [T](repeating: 0, count: count)
    try result.withUnsafeMutableBufferPointer { (r) throws(MPIError) in
      try exactSum(buffers.map { UnsafeBufferPointer($0) }, into: r)
    }
    return result
  }
}
