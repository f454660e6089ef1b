// Exact, reproducible sum of Float/Double vectors across ranks (docs/design.md §3).
//
// Element i of every contribution is written as a fixed-point integer on a grid shared by all
// ranks: E_i = max over all contributions of the smallest e with |v| < 2^e (one all-reduce MAX of
// the biased exponent fields), then V = round(v * 2^(K - E_i)) with K = 64 fraction bits (ties to
// even), an integer below 2^64 in magnitude. It is kept as two 32-bit digits V = q0 2^32 + q1 held
// in Doubles: every digit is an integer of magnitude <= 2^32, so the sums of up to 2^20
// contributions stay below 2^53 and Double addition of them is exact, hence associative: the
// digit sums (one all-reduce SUM of Doubles) are the same whatever the number of ranks, the
// grouping of contributions on ranks, or their order. Back: S 2^(E - K) with S = D0 2^32 + D1,
// which is one IEEE addition of two exact Doubles, so the integer sum is rounded to Double once
// (then to Float). A Float contribution is exact on the grid unless it is more than 2^40 below the
// element's largest contribution; smaller ones are rounded to the grid (2^-64 of the largest):
// far below the Float resolution of the sum (perf: the 96-bit grid of the first version needed a
// third digit and a 128-bit conversion, 6% of a d = 2 step; see docs/benchmark.md).
//
// Float digits are cut with the error-free extraction of Rump, Ogita & Oishi ("Accurate floating-
// point summation part I", SIAM J. Sci. Comput. 31, 2008, ExtractScalar): for |x| < 2^52,
// q = (x + 1.5 2^52) - 1.5 2^52 is x rounded to an integer (ties to even) and x - q is exact.
// Branch-free Double arithmetic in C (CKernels: AVX2 when the processor has it, the same bits
// either way), over chunks of elements while every contribution streams past once, and the
// conversion back in C too. Double contributions (tests, rare callers) take the scalar codec
// `FixedPointSum.limbs`: other digits, the same integer S.
import CKernels
import CMPI

public protocol ExactSummable: MPIScalar, BinaryFloatingPoint {
  /// The biased exponent field of x's encoding: 0 for zero and subnormals, `nonFiniteExponent`
  /// for Inf and NaN; otherwise |x| < 2^(field - exponentOffset).
  static func exponentField(_ x: Self) -> Int16
  static var nonFiniteExponent: Int16 { get }
  static var exponentOffset: Int { get }
  /// digits[e], digits[n + e] += the fixed-point digits of c[j n + e] summed over contributions
  /// j in 0 ..< k, for e in 0 ..< m, on the grid of the element's shared exponent field.
  static func accumulateDigits(
    _ c: UnsafePointer<Self>, contributions k: Int, _ m: Int, fields: UnsafePointer<Int16>,
    digits: UnsafeMutablePointer<Double>, stride n: Int)
  /// result[e] = the summed digits' value (FixedPointSum.value) for every element e < n whose
  /// field is finite; the others are left to the non-finite flags.
  static func values(
    fields: UnsafePointer<Int16>, digits: UnsafePointer<Double>, count n: Int,
    into result: UnsafeMutablePointer<Self>)
}

extension Float: ExactSummable {
  @inline(__always)
  public static func exponentField(_ x: Float) -> Int16 { Int16(truncatingIfNeeded: x.bitPattern &>> 23 & 0xFF) }
  public static var nonFiniteExponent: Int16 { 0xFF }
  public static var exponentOffset: Int { 126 }
  /// The digit kernel in C (CKernels: AVX2 when the processor has it; twice the vectorised
  /// Swift loop, which the baseline x86-64 target limits to SSE2). x 2^(32 - E) is exact for a
  /// Float x (E in [-126, 128]) and below 2^32; q0 = round(x), q1 = round((x - q0) 2^32).
  public static func accumulateDigits(
    _ c: UnsafePointer<Float>, contributions k: Int, _ m: Int, fields: UnsafePointer<Int16>,
    digits: UnsafeMutablePointer<Double>, stride n: Int
  ) {
    pt_exact_digits_f32(c, k, m, n, fields, digits)
  }

  /// The same rounding as FixedPointSum.value, in C (vectorised).
  public static func values(
    fields: UnsafePointer<Int16>, digits: UnsafePointer<Double>, count n: Int,
    into result: UnsafeMutablePointer<Float>
  ) {
    pt_exact_value_f32(fields, digits, n, result)
  }
}

extension Double: ExactSummable {
  @inline(__always)
  public static func exponentField(_ x: Double) -> Int16 { Int16(truncatingIfNeeded: x.bitPattern &>> 52 & 0x7FF) }
  public static var nonFiniteExponent: Int16 { 0x7FF }
  public static var exponentOffset: Int { 1022 }
  /// Double contributions (rare: tests, metrics) take the scalar codec: up to 53 significant bits
  /// need the floor-based split of `FixedPointSum.limbs`, the same integer V.
  public static func accumulateDigits(
    _ c: UnsafePointer<Double>, contributions k: Int, _ m: Int, fields: UnsafePointer<Int16>,
    digits: UnsafeMutablePointer<Double>, stride n: Int
  ) {
    for e in 0 ..< m {
      let exponent = Int32(Int(fields[e]) - exponentOffset), scale = FixedPointSum.scale(exponent: exponent)
      for j in 0 ..< k where c[j * n + e].isFinite && c[j * n + e] != 0 {
        let (t, l) = FixedPointSum.limbs(c[j * n + e], exponent: exponent, scale: scale)
        digits[e] += Double(t)
        digits[n + e] += Double(l)
      }
    }
  }

  public static func values(
    fields: UnsafePointer<Int16>, digits: UnsafePointer<Double>, count n: Int,
    into result: UnsafeMutablePointer<Double>
  ) {
    for e in 0 ..< n where fields[e] != nonFiniteExponent {
      result[e] = FixedPointSum.value(digits[e], digits[n + e], exponent: Int32(Int(fields[e]) - exponentOffset))
    }
  }
}

/// The fixed-point codec, a pure function of (value, shared exponent); no MPI.
public enum FixedPointSum {
  public static let fractionBits = 64
  static let two32 = 4294967296.0
  /// Shared exponent of an element whose contributions are all zero.
  public static let zeroExponent = Int32.min
  /// Contributions over all ranks that keep every digit sum below 2^53.
  public static let maxContributions = 1 << 20

  /// Smallest e with |x| < 2^e, for finite non-zero x; `zeroExponent` for zero.
  @inline(__always)
  public static func exponent(_ x: Double) -> Int32 {
    x == 0 ? zeroExponent : Int32(x.exponent) + 1
  }

  /// 2^(K - E), the grid scale of an element with shared exponent E; 0 when that is not a finite
  /// Double (E below about -959), and then `limbs` scales x in one step instead.
  @inline(__always)
  public static func scale(exponent e: Int32) -> Double {
    let k = fractionBits - Int(e)
    return k <= Double.greatestFiniteMagnitude.exponent ? Double(sign: .plus, exponent: k, significand: 1) : 0
  }

  /// The limbs (high, low) of round(x * 2^(K - E)) = high 2^32 + low, |x| < 2^E; `scale` is
  /// scale(exponent: E), computed once per element by callers that code many contributions.
  /// Multiplications by powers of two are exact, so only the low limb is rounded.
  @inline(__always)
  public static func limbs(_ x: Double, exponent e: Int32, scale: Double? = nil) -> (Int64, Int64) {
    if x == 0 { return (0, 0) }
    let g = scale ?? self.scale(exponent: e)  // 0: not a finite Double, scale x in one step
    let s = g != 0 ? x.magnitude * g : Double(sign: .plus, exponent: fractionBits - Int(e), significand: x.magnitude)
    let hi = (s * (1 / two32)).rounded(.down)
    let lo = (s - hi * two32).rounded(.toNearestOrEven)  // s - hi 2^32 is exact
    return x < 0 ? (-Int64(hi), -Int64(lo)) : (Int64(hi), Int64(lo))
  }

  /// The value S 2^(E - K) of summed limbs, S = t 2^32 + l (|t|, |l| < 2^53), rounded to nearest
  /// once: t 2^32 and l are exact Doubles, and one IEEE addition rounds their exact sum.
  @inline(__always)
  public static func value(_ t: Double, _ l: Double, exponent e: Int32) -> Double {
    if e == zeroExponent { return 0 }
    let r = t * two32 + l
    let k = Int(e) - fractionBits
    // Times 2^k: exact, or one rounding to a subnormal or infinity as in Double(sign:exponent:significand:).
    if k >= -1022 && k <= 1023 { return r * Double(bitPattern: UInt64(1023 + k) << 52) }
    return Double(sign: .plus, exponent: k, significand: r)
  }
}

/// Buffers of exact sums of one length, allocated once: summing through a workspace allocates
/// nothing (the training step's reduction, docs/design.md §3).
public final class ExactSumWorkspace<T: ExactSummable> {
  public let count: Int
  // Allocated once, never moved: a nonblocking all-reduce (ExactSumRequest) holds their addresses.
  let fields: UnsafeMutableBufferPointer<Int16>  // shared biased exponents, the header all-reduce
  let digits: UnsafeMutableBufferPointer<Double>  // [q0 | q1], 2n, the digit all-reduce
  // [NaN | +Inf | -Inf], 3n, allocated once some rank had a non-finite value.
  var flags = UnsafeMutableBufferPointer<Int32>(start: nil, count: 0)

  var nonFinite = false

  public init(count: Int) {
    self.count = count
    fields = .allocate(capacity: count)
    fields.initialize(repeating: 0)
    digits = .allocate(capacity: 2 * count)
    digits.initialize(repeating: 0)
  }

  deinit {
    fields.deallocate()
    digits.deallocate()
    flags.deallocate()
  }

  /// 1. This rank's header: the largest biased exponent field of each element over its k
  /// contributions (Inf/NaN have the largest, so a non-finite value anywhere shows once the
  /// header is all-reduced with MAX). Returns k, or nil when there is nothing to sum (n = 0, the
  /// same on every rank).
  func header(_ contributions: UnsafeBufferPointer<T>, size: Int) -> Int? {
    let n = count
    precondition(n == 0 || contributions.count % n == 0, "exactSum: lengths differ")
    if n == 0 { return nil }
    let k = contributions.count / n
    // A guard only (each rank sees its own k): callers keep the total within the limit
    // (polar-train's configuration check on batch / micro_batch).
    precondition(k <= (FixedPointSum.maxContributions + size - 1) / size, "exactSum: more than 2^20 contributions")
    let h = fields
    if k == 0 { for i in 0 ..< n { h[i] = 0 } }
    for j in 0 ..< k {
      let cj = contributions.baseAddress! + j * n
      if j == 0 { for i in 0 ..< n { h[i] = T.exponentField(cj[i]) } } else { for i in 0 ..< n { h[i] = max(h[i], T.exponentField(cj[i])) } }
    }
    return k
  }

  /// 2a. Once the header is shared: true when some rank had a non-finite value, and then this
  /// rank's flags are set, to be all-reduced with MAX (every rank saw the same header, so all
  /// make that all-reduce or none).
  func markNonFinite(_ contributions: UnsafeBufferPointer<T>, _ k: Int) -> Bool {
    let n = count, c = contributions.baseAddress  // nil when this rank has none
    nonFinite = fields.contains(T.nonFiniteExponent)
    guard nonFinite else { return false }
    if flags.count != 3 * n {
      flags.deallocate()
      flags = .allocate(capacity: 3 * n)
    }
    flags.initialize(repeating: 0)
    for j in 0 ..< k {
      for i in 0 ..< n where !c![j * n + i].isFinite {
        let x = c![j * n + i]
        flags[(x.isNaN ? 0 : x > 0 ? 1 : 2) * n + i] = 1
      }
    }
    return true
  }

  /// 2b. The digits of every contribution on the shared grid, summed locally, ready for the
  /// digits' all-reduce SUM.
  func cutDigits(_ contributions: UnsafeBufferPointer<T>, _ k: Int) {
    let n = count, chunk = 512, c = contributions.baseAddress
    let d = digits, h = fields
    var lo = 0
    while lo < n {
      let m = min(chunk, n - lo)
      for i in lo ..< lo + m { d[i] = 0; d[n + i] = 0 }  // in L1, just before use
      if k > 0 {
        T.accumulateDigits(c! + lo, contributions: k, m, fields: h.baseAddress! + lo, digits: d.baseAddress! + lo, stride: n)
      }
      lo += m
    }
  }

  /// 3. Once the digits are summed over all ranks: back to floating point, once.
  func values(into result: UnsafeMutableBufferPointer<T>) {
    let n = count
    precondition(result.count == n, "exactSum: lengths differ")
    T.values(fields: fields.baseAddress!, digits: digits.baseAddress!, count: n, into: result.baseAddress!)
    if nonFinite {
      for i in 0 ..< n where fields[i] == T.nonFiniteExponent {
        let nan = flags[i] != 0, pinf = flags[n + i] != 0, ninf = flags[2 * n + i] != 0
        result[i] = nan || (pinf && ninf) ? T.nan : pinf ? T.infinity : ninf ? -T.infinity : 0
      }
    }
  }
}

extension Communicator {
  /// result[i] = exact sum over every rank's contributions of contribution[i], rounded once.
  /// `contributions` holds this rank's k contributions one after another (k * n values, k may be
  /// 0); the bytes of the result do not depend on how contributions are spread over ranks or
  /// ordered. NaN, or +Inf with -Inf, gives NaN; an Inf alone gives that Inf.
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func exactSum<T: ExactSummable>(
    _ contributions: UnsafeBufferPointer<T>, into result: UnsafeMutableBufferPointer<T>,
    workspace w: ExactSumWorkspace<T>
  ) throws(MPIError) {
    precondition(w.count == result.count, "exactSum: lengths differ")
    guard let k = w.header(contributions, size: size) else { return }
    try allreduce(inPlace: w.fields, op: .max)
    if w.markNonFinite(contributions, k) { try allreduce(inPlace: w.flags, op: .max) }
    w.cutDigits(contributions, k)
    try allreduce(inPlace: w.digits, op: .sum)
    w.values(into: result)
  }

  /// In place: buffer[i] <- exact sum over ranks of buffer[i].
  public func exactSum<T: ExactSummable>(inPlace buffer: UnsafeMutableBufferPointer<T>) throws(MPIError) {
    let copy = Array(buffer)
    try copy.withUnsafeBufferPointer { (c) throws(MPIError) in
      try exactSum(c, into: buffer, workspace: ExactSumWorkspace<T>(count: buffer.count))
    }
  }

  public func exactSum<T: ExactSummable>(_ buffer: inout [T]) throws(MPIError) {
    try buffer.withUnsafeMutableBufferPointer { (p) throws(MPIError) in try exactSum(inPlace: p) }
  }

  /// The exact sum of every rank's `contributions` (each of length `count`; a rank may pass none).
  public func exactSum<T: ExactSummable>(_ contributions: [[T]], count: Int) throws(MPIError) -> [T] {
    for c in contributions { precondition(c.count == count, "exactSum: contribution length \(c.count), expected \(count)") }
    let flat = Array(contributions.joined())
    var result = [T](repeating: 0, count: count)
    try flat.withUnsafeBufferPointer { (f) throws(MPIError) in
      try result.withUnsafeMutableBufferPointer { (r) throws(MPIError) in
        try exactSum(f, into: r, workspace: ExactSumWorkspace<T>(count: count))
      }
    }
    return result
  }
}
