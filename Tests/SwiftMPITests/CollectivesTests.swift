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
      let (t, l) = FixedPointSum.limbs(v, exponent: e)
      #expect(FixedPointSum.value(Double(t), Double(l), exponent: e) == v, "\(v)")
    }
  }

  @Test("summing limbs is exact and order-free where Double addition is not")
  func exactWhereDoubleIsNot() {
    let terms: [Double] = [1e16, 1, -1e16, 1, 0.5]  // exact sum 2.5; Double left to right: 1.5
    let e = terms.map(FixedPointSum.exponent).max()!
    var acc = (0.0, 0.0)
    for x in terms.reversed() {
      let (t, l) = FixedPointSum.limbs(x, exponent: e)
      acc = (acc.0 + Double(t), acc.1 + Double(l))
    }
    #expect(FixedPointSum.value(acc.0, acc.1, exponent: e) == 2.5)
    #expect(terms.reduce(0, +) != 2.5)  // what a float all-reduce could give
  }
}

@Suite("The exact sum's C kernels")
struct ExactKernelTests {
  /// Contributions with exponents spread over the whole shared grid (and beyond, where they round).
  func data(k: Int, n: Int) -> ([Float], [Int16]) {
    var state: UInt64 = 99
    func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 11 }
    var c = [Float](repeating: 0, count: k * n)
    for i in c.indices {
      let mantissa = Float(next() % (1 << 24)) / Float(1 << 23) - 1  // (-1, 1)
      c[i] = mantissa * Float(sign: .plus, exponent: -Int(next() % 90), significand: 1) * (i % 7 == 0 ? 0 : 1)
    }
    var fields = [Int16](repeating: 0, count: n)
    for j in 0 ..< k { for e in 0 ..< n { fields[e] = max(fields[e], Float.exponentField(c[j * n + e])) } }
    return (c, fields)
  }

  @Test("AVX2 and portable digit bodies give the same bits, the digits of round(x 2^(64 - E))")
  func digitBodies() {
    let k = 7, n = 203  // not multiples of the vector width
    let (c, fields) = data(k: k, n: n)
    var a = [Double](repeating: 0, count: 2 * n), b = a
    pt_exact_digits_f32(c, k, n, n, fields, &a)
    pt_exact_digits_f32_portable(c, k, n, n, fields, &b)
    #expect(a.map(\.bitPattern) == b.map(\.bitPattern))
    // Against the integer codec: the same integer sum per element.
    for e in 0 ..< n {
      let exponent = Int32(Int(fields[e]) - Float.exponentOffset)
      var expected: Int128 = 0
      for j in 0 ..< k {
        let (t, l) = FixedPointSum.limbs(Double(c[j * n + e]), exponent: exponent)
        expected += Int128(t) << 32 + Int128(l)
      }
      let got = Int128(Int64(a[e])) << 32 + Int128(Int64(a[n + e]))
      #expect(got == expected, "element \(e)")
    }
  }

  @Test("the C conversion back is FixedPointSum.value rounded to Float")
  func conversion() {
    let k = 5, n = 300
    let (c, fields) = data(k: k, n: n)
    var d = [Double](repeating: 0, count: 2 * n)
    pt_exact_digits_f32(c, k, n, n, fields, &d)
    var result = [Float](repeating: 0, count: n)
    pt_exact_value_f32(fields, d, n, &result)
    for e in 0 ..< n {
      let v = FixedPointSum.value(d[e], d[n + e], exponent: Int32(Int(fields[e]) - Float.exponentOffset))
      #expect(result[e].bitPattern == Float(v).bitPattern, "element \(e)")
    }
  }
}
