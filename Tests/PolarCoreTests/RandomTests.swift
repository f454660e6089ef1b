import PolarCore
import Testing

@Suite("Counter-based random numbers")
struct RandomTests {
  @Test("Philox4x32-10 matches Random123's known-answer vectors (tests/kat_vectors)")
  func knownAnswers() {
    let cases: [((UInt32, UInt32, UInt32, UInt32), (UInt32, UInt32), [UInt32])] = [
      ((0, 0, 0, 0), (0, 0), [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]),
      (
        (0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff), (0xffff_ffff, 0xffff_ffff),
        [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
      ),
      (
        (0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344), (0xa409_3822, 0x299f_31d0),
        [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
      ),
    ]
    for (ctr, key, expected) in cases {
      let out = Philox4x32.block(ctr, key: key)
      #expect([out.0, out.1, out.2, out.3] == expected)
    }
  }

  @Test("a variate is a pure function of (seed, stream, index)")
  func purity() {
    let a = CounterRNG(seed: 7, stream: 3), b = CounterRNG(seed: 7, stream: 3)
    let idx: [UInt64] = [0, 1, 999, 1 << 40]
    #expect(idx.map(a.normal) == idx.reversed().map(b.normal).reversed())
    #expect(a.uniform(5) != CounterRNG(seed: 8, stream: 3).uniform(5))
    #expect(a.uniform(5) != CounterRNG(seed: 7, stream: 4).uniform(5))
    #expect(CounterRNG.streamID(1, 2, 3) == CounterRNG.streamID(1, 2, 3))
    #expect(CounterRNG.streamID(1, 2, 3) != CounterRNG.streamID(1, 3, 2))
    var chunked = [Double](repeating: 0, count: 10)
    a.fillNormal(&chunked, from: 100)
    #expect(chunked[4] == a.normal(104))
  }

  @Test("uniform and normal moments over 200,000 draws")
  func moments() {
    let rng = CounterRNG(seed: 2024, stream: CounterRNG.streamID(9))
    let n = 200_000
    var su = 0.0, su2 = 0.0, sn = 0.0, sn2 = 0.0, sn4 = 0.0, within1 = 0
    var umin = 1.0, umax = 0.0
    for i in 0 ..< n {
      let u = rng.uniform(UInt64(i)), z = rng.normal(UInt64(i))
      su += u; su2 += u * u; sn += z; sn2 += z * z; sn4 += z * z * z * z
      umin = min(umin, u); umax = max(umax, u)
      if abs(z) < 1 { within1 += 1 }
    }
    let N = Double(n)
    #expect(umin >= 0 && umax < 1)
    #expect(abs(su / N - 0.5) < 0.005)
    #expect(abs(su2 / N - 1.0 / 3) < 0.005)
    #expect(abs(sn / N) < 0.01)
    #expect(abs(sn2 / N - 1) < 0.015)
    #expect(abs(sn4 / N - 3) < 0.1)
    #expect(abs(Double(within1) / N - 0.682_689) < 0.005)
  }
}
