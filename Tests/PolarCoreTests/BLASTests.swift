import PolarCore
import Testing

/// C = alpha op(A) op(B) + beta C by a plain triple loop, in Double.
func naiveGemm(
  _ a: Matrix<Double>, _ ta: Bool, _ b: Matrix<Double>, _ tb: Bool,
  alpha: Double, beta: Double, _ c: Matrix<Double>
) -> Matrix<Double> {
  let opA = ta ? a.transposed : a, opB = tb ? b.transposed : b
  var out = c
  for i in 0 ..< opA.rows {
    for j in 0 ..< opB.cols {
      var s = 0.0
      for k in 0 ..< opA.cols { s += opA[i, k] * opB[k, j] }
      out[i, j] = alpha * s + beta * c[i, j]
    }
  }
  return out
}

func randomMatrix(_ r: Int, _ c: Int, stream: UInt64) -> Matrix<Double> {
  let rng = CounterRNG(seed: 42, stream: stream)
  return Matrix(rows: r, cols: c, storage: (0 ..< r * c).map { rng.normal(UInt64($0)) })
}

@Suite("Matrix and BLAS")
struct BLASTests {
  @Test(
    "gemm, all four transpose variants, against a naive triple loop in Double",
    arguments: [(false, false), (true, false), (false, true), (true, true)])
  func gemmVariants(ta: Bool, tb: Bool) {
    for (m, n, k) in [(1, 1, 1), (5, 3, 7), (17, 9, 4), (64, 33, 65)] {
      let a = randomMatrix(ta ? k : m, ta ? m : k, stream: 1)
      let b = randomMatrix(tb ? n : k, tb ? k : n, stream: 2)
      let c0 = randomMatrix(m, n, stream: 3)
      for (alpha, beta) in [(1.0, 0.0), (0.5, 2.0), (-1.5, 1.0)] {
        var c = c0
        gemm(a, transposeA: ta, b, transposeB: tb, alpha: alpha, beta: beta, into: &c)
        let expected = naiveGemm(a, ta, b, tb, alpha: alpha, beta: beta, c0)
        #expect(c.maxAbsDifference(expected) <= 1e-12 * Double(k + 1), "m\(m) n\(n) k\(k) \(ta) \(tb)")
      }
    }
  }

  @Test("sgemm agrees with the Double reference to Float precision")
  func floatGemm() {
    let a = randomMatrix(20, 30, stream: 4), b = randomMatrix(20, 10, stream: 5)
    let af = Matrix<Float>(rows: 20, cols: 30, storage: a.storage.map { Float($0) })
    let bf = Matrix<Float>(rows: 20, cols: 10, storage: b.storage.map { Float($0) })
    let cf = matmul(af, transposeA: true, bf)
    let c = naiveGemm(a, true, b, false, alpha: 1, beta: 0, Matrix(rows: 30, cols: 10))
    for i in 0 ..< 300 { #expect(abs(Double(cf.storage[i]) - c.storage[i]) < 1e-5 * 20) }
  }

  @Test("gemv both ways, axpy, dot, scal")
  func level1And2() {
    let a = randomMatrix(6, 4, stream: 6)
    let x4 = (0 ..< 4).map { Double($0) - 1.5 }, x6 = (0 ..< 6).map { Double($0) * 0.25 }
    var y = [Double](repeating: 1, count: 6)
    gemv(a, x4, alpha: 2, beta: 3, into: &y)
    for i in 0 ..< 6 {
      let s = (0 ..< 4).reduce(0.0) { $0 + a[i, $1] * x4[$1] }
      #expect(abs(y[i] - (2 * s + 3)) < 1e-12)
    }
    var yt = [Double](repeating: 0, count: 4)
    gemv(a, transpose: true, x6, into: &yt)
    for j in 0 ..< 4 {
      #expect(abs(yt[j] - (0 ..< 6).reduce(0.0) { $0 + a[$1, j] * x6[$1] }) < 1e-12)
    }
    var z = x4
    axpy(2.0, [1, 1, 1, 1], &z)
    #expect(z == [0.5, 1.5, 2.5, 3.5])
    #expect(dot(x4, [1, 2, 3, 4]) == -1.5 - 1 + 1.5 + 6)
    scal(-2.0, &z)
    #expect(z == [-1, -3, -5, -7])
    #expect(matmul(Matrix<Double>.identity(3), Matrix([[1, 2], [3, 4], [5, 6]])) == Matrix([[1, 2], [3, 4], [5, 6]]))
  }
}
