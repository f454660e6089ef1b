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
