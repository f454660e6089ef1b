import CKernels
import Foundation
import SwiftMPI
import TestSupport
import Testing

@Suite("SwiftMPI under mpirun", .serialized)
struct CollectivesTests {
  @Test("every collective, every type, checked against local values", arguments: [1, 2, 3, 4])
  func collectives(ranks: Int) throws {
    let r = try Programs.mpirun(ranks, "mpi-checks", ["collectives"])
    #expect(r.status == 0, "\(r.combined)")
    #expect(r.stdout.contains("OK collectives on \(ranks) rank(s)"), "\(r.combined)")
  }

  @Test("exact sum: identical bytes for N = 1, 2, 3, 4 on adversarial data")
  func exactSumBytes() throws {
    var outputs = [Int: [String]]()
    for n in 1 ... 4 {
      let r = try Programs.mpirun(n, "mpi-checks", ["exact-sum", "7"])
      #expect(r.status == 0, "N=\(n): \(r.combined)")
      outputs[n] = r.stdout.split(separator: "\n").map(String.init)
        .filter { $0.hasPrefix("float ") || $0.hasPrefix("double ") }
    }
    #expect(outputs[1]?.count == 2)
    for n in 2 ... 4 {
      #expect(outputs[n] == outputs[1], "N=\(n) gave other bytes than N=1")
    }
  }

  @Test("a rank that throws before a collective ends the job within 10 s")
  func failingRankDoesNotHang() throws {
    let r = try Programs.mpirun(2, "mpi-checks", ["fail-rank"], timeout: 60)
    #expect(!r.timedOut)
    #expect(r.status != 0)
    #expect(r.seconds < 10, "took \(r.seconds) s")
    #expect(r.stderr.contains("mpi-checks: rank 1: deliberate failure before the barrier"), "\(r.combined)")
  }
}

@Suite("Fixed-point codec of the exact sum")
struct FixedPointTests {
  @Test("limbs represent a value exactly when it sits on the grid")
  func roundTrip() {
    let values: [Double] = [1, -1, 0.5, 3.25, -1234.5678, 1e-20, 6.02e23, -0x1.fffffffffffffp1023 / 4]
    for v in values {
      let e = FixedPointSum.exponent(v)
      let (t, m, l) = FixedPointSum.limbs(v, exponent: e)
      #expect(FixedPointSum.value(t, m, l, exponent: e) == v, "\(v)")
    }
  }

  @Test("summing limbs is exact and order-free where Double addition is not")
  func exactWhereDoubleIsNot() {
    let terms: [Double] = [1e16, 1, -1e16, 1, 0.5]  // exact sum 2.5; Double left to right: 1.5
    let e = terms.map(FixedPointSum.exponent).max()!
    var acc = (Int64(0), Int64(0), Int64(0))
    for x in terms.reversed() {
      let (t, m, l) = FixedPointSum.limbs(x, exponent: e)
      acc = (acc.0 + t, acc.1 + m, acc.2 + l)
    }
    #expect(FixedPointSum.value(acc.0, acc.1, acc.2, exponent: e) == 2.5)
    #expect(terms.reduce(0, +) != 2.5)  // what a float all-reduce could give
  }
}

@Suite("Rounding of the exact sum's integer")
struct RoundingTests {
  @Test("a 128-bit integer to Double rounds to nearest, ties to even, like the generic conversion")
  func int128ToDouble() {
    var cases: [Int128] = [0, 1, -1, Int128(Int64.max), Int128(Int64.min), Int128(Int64.max) + 1, Int128(Int64.min) - 1]
    for k in [54, 63, 64, 65, 90, 116] {
      let p = Int128(1) << k
      // A tie (half an ulp above a power of two), just under and just over it, and the extremes.
      let half = Int128(1) << (k - 53)
      cases += [p, p + half, p + half - 1, p + half + 1, p + 3 * half, p - 1, p + 1, -(p + half), -(p + 3 * half)]
    }
    var state: UInt64 = 12345
    for _ in 0 ..< 2000 {
      state = state &* 6364136223846793005 &+ 1442695040888963407
      let hi = Int64(bitPattern: state) >> Int(state % 60)
      state = state &* 6364136223846793005 &+ 1442695040888963407
      cases.append(Int128(hi) << 52 + Int128(state >> 12))
    }
    for s in cases {
      let r = FixedPointSum.rounded(high: Int64(truncatingIfNeeded: s >> 64), low: UInt64(truncatingIfNeeded: s))
      #expect(r == Double(s), "\(s)")
    }
  }
}

@Suite("The exact sum's C kernels")
struct ExactKernelTests {
  /// Contributions with exponents spread over the whole shared grid (and beyond, where they round).
  func data(k: Int, n: Int) -> ([Float], [Int16], [Double]) {
    var state: UInt64 = 99
    func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 11 }
    var c = [Float](repeating: 0, count: k * n)
    for i in c.indices {
      let mantissa = Float(next() % (1 << 24)) / Float(1 << 23) - 1  // (-1, 1)
      c[i] = mantissa * Float(sign: .plus, exponent: -Int(next() % 90), significand: 1) * (i % 7 == 0 ? 0 : 1)
    }
    var fields = [Int16](repeating: 0, count: n)
    for j in 0 ..< k { for e in 0 ..< n { fields[e] = max(fields[e], Float.exponentField(c[j * n + e])) } }
    return (c, fields, fields.map { Float.digitScale(field: $0) })
  }

  @Test("AVX2 and portable digit bodies give the same bits, the digits of round(x 2^(96 - E))")
  func digitBodies() {
    let k = 7, n = 203  // not multiples of the vector width
    let (c, fields, scale) = data(k: k, n: n)
    var a = [Double](repeating: 0, count: 3 * n), b = a
    pt_exact_digits_f32(c, k, n, n, scale, &a)
    pt_exact_digits_f32_portable(c, k, n, n, scale, &b)
    #expect(a.map(\.bitPattern) == b.map(\.bitPattern))
    // Against the integer codec: the same integer sum per element.
    for e in 0 ..< n {
      let exponent = Int32(Int(fields[e]) - Float.exponentOffset)
      var expected: Int128 = 0
      for j in 0 ..< k {
        let (t, m, l) = FixedPointSum.limbs(Double(c[j * n + e]), exponent: exponent)
        expected += Int128(t) << 64 + Int128(m) << 32 + Int128(l)
      }
      let got = Int128(Int64(a[e])) << 64 + Int128(Int64(a[n + e])) << 32 + Int128(Int64(a[2 * n + e]))
      #expect(got == expected, "element \(e)")
    }
  }

  @Test("the C conversion back is FixedPointSum.value rounded to Float")
  func conversion() {
    let k = 5, n = 300
    let (c, fields, scale) = data(k: k, n: n)
    var d = [Double](repeating: 0, count: 3 * n)
    pt_exact_digits_f32(c, k, n, n, scale, &d)
    var result = [Float](repeating: 0, count: n)
    pt_exact_value_f32(fields, d, n, &result)
    for e in 0 ..< n {
      let v = FixedPointSum.value(Int64(d[e]), Int64(d[n + e]), Int64(d[2 * n + e]),
                                  exponent: Int32(Int(fields[e]) - Float.exponentOffset))
      #expect(result[e].bitPattern == Float(v).bitPattern, "element \(e)")
    }
  }
}
