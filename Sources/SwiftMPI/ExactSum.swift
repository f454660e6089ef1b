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
// shifted left whenever b - 150 + K - E >= 0: exact, split into the 32-bit limbs directly.
// Subnormal, zero and non-finite values, and the rare negative shifts, take the Double path, so
// the sums are the same bits as the generic path's.
extension FixedPointSum {
  static func exponents(_ c: UnsafeBufferPointer<Float>, into header: inout [Int32]) {
    let n = c.count
    header.withUnsafeMutableBufferPointer { h in
      for i in 0 ..< n {
        let b = Int32(c[i].bitPattern >> 23 & 0xFF)
        if b != 0 && b != 0xFF {
          h[i] = max(h[i], b - 126)
        } else {
          let x = Double(c[i])
          if x.isFinite { h[i] = max(h[i], exponent(x)) } else if x.isNaN { h[n + i] = 1 } else { h[(x > 0 ? 2 : 3) * n + i] = 1 }
        }
      }
    }
  }

  static func accumulate(_ cs: [UnsafeBufferPointer<Float>], header: [Int32], scale: [Double],
                         into limbs: UnsafeMutableBufferPointer<Int64>) {
    let n = header.count / 4
    // The three limbs (2^64, 2^32, 1) of each element in separate arrays, so the loop vectorises.
    var l2 = [Int64](repeating: 0, count: n), l1 = l2, l0 = l2
    l2.withUnsafeMutableBufferPointer { a2 in
      l1.withUnsafeMutableBufferPointer { a1 in
        l0.withUnsafeMutableBufferPointer { a0 in
          header.withUnsafeBufferPointer { h in
            for c in cs {
              var slow = 0
              for i in 0 ..< n {
                // x 2^(K - E) = m 2^s, s = b - 150 + K - E <= 72 (as |x| < 2^E): the 24-bit m
                // shifted by s mod 32 (at most 55 bits) lands in limbs s / 32 and s / 32 + 1.
                let bits = c[i].bitPattern
                let b = Int64(bits &>> 23 & 0xFF)
                let s = b - 150 + Int64(fractionBits) - Int64(h[i])
                let fast = b != 0 && b != 0xFF && s >= 0
                let m: Int64 = fast ? Int64(bits & 0x7F_FFFF | 0x80_0000) : 0
                let x = m &<< (s & 31), q = s &>> 5
                let negative = bits &>> 31 != 0
                let low = negative ? -(x & 0xFFFF_FFFF) : x & 0xFFFF_FFFF
                let high = negative ? -(x &>> 32) : x &>> 32
                a0[i] &+= q == 0 ? low : 0
                a1[i] &+= q == 0 ? high : (q == 1 ? low : 0)
                a2[i] &+= q == 1 ? high : (q == 2 ? low : 0)  // q = 2: s <= 72, so high = 0
                slow &+= fast ? 0 : 1
              }
              // Subnormals, zeros, non-finite values and shifts below the grid: the Double path.
              guard slow > 0 else { continue }
              for i in 0 ..< n {
                let b = c[i].bitPattern &>> 23 & 0xFF
                let fast = b != 0 && b != 0xFF && Int64(b) - 150 + Int64(fractionBits) - Int64(h[i]) >= 0
                guard !fast, c[i].isFinite, c[i] != 0 else { continue }
                let (t, m, l) = FixedPointSum.limbs(Double(c[i]), exponent: h[i], scale: scale[i])
                a2[i] &+= t
                a1[i] &+= m
                a0[i] &+= l
              }
            }
          }
        }
      }
    }
    for i in 0 ..< n {
      limbs[3 * i] &+= l2[i]
      limbs[3 * i + 1] &+= l1[i]
      limbs[3 * i + 2] &+= l0[i]
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
    // 1. Shared exponents and non-finite flags: [E | NaN | +Inf | -Inf], all-reduce MAX.
    var header = [Int32](repeating: 0, count: 4 * n)
    for i in 0 ..< n { header[i] = FixedPointSum.zeroExponent }
    // Float contributions: the same numbers from the bits, integer arithmetic only (below).
    let floats: [UnsafeBufferPointer<Float>]? = T.self == Float.self
      ? contributions.map { UnsafeBufferPointer(start: UnsafeRawPointer($0.baseAddress)?.assumingMemoryBound(to: Float.self), count: n) }
      : nil
    for (k, c) in contributions.enumerated() {
      if let floats { FixedPointSum.exponents(floats[k], into: &header); continue }
      for i in 0 ..< n {
        let x = Double(c[i])
        if x.isFinite {
          header[i] = max(header[i], FixedPointSum.exponent(x))
        } else if x.isNaN {
          header[n + i] = 1
        } else {
          header[(x > 0 ? 2 : 3) * n + i] = 1
        }
      }
    }
    try allreduce(&header, op: .max)
    // 2. Limbs of every finite contribution on the shared grid, summed locally then globally.
    //    The grid scale 2^(K - E_i) is computed once per element, not once per contribution.
    var limbs = [Int64](repeating: 0, count: 3 * n)
    let scale = (0 ..< n).map { FixedPointSum.scale(exponent: header[$0]) }
    limbs.withUnsafeMutableBufferPointer { lp in
      if let floats { FixedPointSum.accumulate(floats, header: header, scale: scale, into: lp); return }
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
      let nan = header[n + i] != 0, pinf = header[2 * n + i] != 0, ninf = header[3 * n + i] != 0
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
