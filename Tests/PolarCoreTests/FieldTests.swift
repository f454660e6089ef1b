import PolarCore
import Testing

@Suite("Fields and metrics")
struct FieldTests {
  @Test("linear field: F = grad u o M with grad u = P x, M = U x, condition number bounded", arguments: [2, 16])
  func linear(d: Int) {
    let field = Field.seededLinear(dim: d, seed: 5, condition: 8)
    guard case .linear(let a) = field.kind else { Issue.record("not linear"); return }
    let s = symmetricEigen(matmul(a, transposeA: true, a)).values.map { $0.squareRoot() }
    #expect(s.max()! / s.min()! <= 8 * (1 + 1e-9))
    let x = randomBatch(50, d, seed: 6)
    let composed = field.trueGradU(field.trueM(x)!)!
    #expect(relativeL2(composed, field(x)) < 1e-10)
  }

  @Test("rotated-convex: F(x) = grad phi(R x), R a rotation", arguments: [2, 8])
  func rotatedConvex(d: Int) {
    let field = Field.seededRotatedConvex(dim: d, seed: 3)
    guard case .rotatedConvex(let r, _, _) = field.kind else { Issue.record("wrong kind"); return }
    #expect(abs(determinant(r) - 1) < 1e-10)
    #expect(matmul(r, r, transposeB: true).maxAbsDifference(.identity(d)) < 1e-10)
    let x = randomBatch(50, d, seed: 7)
    #expect(relativeL2(field.trueGradU(field.trueM(x)!)!, field(x)) < 1e-12)
  }

  @Test("toy fields: gradients by finite differences of their potentials, swirl is not a gradient")
  func toys() {
    func curl(_ t: ToyField, _ x: Double, _ y: Double) -> Double {
      let f = Field(dim: 2, kind: .toy(t)), h = 1e-5
      let p = Matrix<Double>([[x + h, y], [x - h, y], [x, y + h], [x, y - h]])
      let v = f(p)
      return (v[0, 1] - v[1, 1]) / (2 * h) - (v[2, 0] - v[3, 0]) / (2 * h)  // dFy/dx - dFx/dy
    }
    for t in [ToyField.himmelblau, .cosineGrid, .cosineStripes, .gaussianMixture, .doubleWell] {
      #expect(abs(curl(t, 0.7, -1.3)) < 1e-6, "\(t) is a gradient field")
      // F = grad f by central differences of the potential.
      let field = Field(dim: 2, kind: .toy(t))
      for p in [[0.7, -1.3], [2.2, 2.9], [-3.1, 0.4]] {
        let h = 1e-6
        let fd = [
          (field.potential(at: [p[0] + h, p[1]])! - field.potential(at: [p[0] - h, p[1]])!) / (2 * h),
          (field.potential(at: [p[0], p[1] + h])! - field.potential(at: [p[0], p[1] - h])!) / (2 * h),
        ]
        #expect(relativeError(field(Matrix([p])).row(0), fd) < 1e-7, "\(t) at \(p)")
      }
    }
    #expect(Field(dim: 2, kind: .toy(.swirl)).potential(at: [1, 1]) == nil)
    #expect(abs(curl(.swirl, 0.7, -1.3)) > 0.1)
    // Himmelblau's minimum at (3, 2): F = 0.
    let f = Field(dim: 2, kind: .toy(.himmelblau))(Matrix<Double>([[3, 2]]))
    #expect(abs(f[0, 0]) < 1e-12 && abs(f[0, 1]) < 1e-12)
  }

  @Test("energy distance: near 0 for one law, clearly positive for a shift")
  func energy() {
    let a = randomBatch(500, 2, seed: 8), b = randomBatch(500, 2, seed: 9)
    var shifted = b
    for r in 0 ..< 500 { shifted[r, 0] += 1 }
    let same = energyDistance(a, b), moved = energyDistance(a, shifted)
    #expect(abs(same) < 0.02 && moved > 0.1 && moved > 5 * abs(same), "\(same) \(moved)")
  }
}

@Suite("Refinement of roots of F")
struct RefineTests {
  static var fields: [Field] {
    [Field.seededLinear(dim: 3, seed: 1, condition: 8), Field.seededRotatedConvex(dim: 4, seed: 2)]
      + ToyField.allCases.map { Field(dim: 2, kind: .toy($0)) }
  }

  @Test("the closed-form Jacobian of every built-in field matches central differences")
  func jacobians() {
    for field in RefineTests.fields {
      let points = randomBatch(5, field.dim, seed: 91, scale: 1.5)
      for r in 0 ..< 5 {
        let p = points.row(r)
        let exact = field.jacobian(at: p)
        let fd = finiteDifferenceJacobian({ field($0) }, at: p)
        #expect(relativeError(exact.storage, fd.storage) < 1e-6, "\(field.name) at \(p)")
      }
    }
  }

  @Test("Levenberg–Marquardt from near the cosine grid's critical points converges to them; finite differences work too")
  func cosineGrid() {
    let field = Field(dim: 2, kind: .toy(.cosineGrid))
    // grad f = 0 where sin(w x - s) = 0 = sin(w y - s) or cos(w x - s) = 0 = cos(w y - s), w = 0.628, s = 1.57.
    let w = 0.628, s = 1.57
    let roots = [(s / w, s / w), ((s + .pi / 2) / w, (s + .pi / 2) / w), ((s - .pi) / w, s / w)]
    var x = Matrix<Double>(rows: roots.count, cols: 2)
    for (r, root) in roots.enumerated() { x[r, 0] = root.0 + 0.3; x[r, 1] = root.1 - 0.25 }
    for useExact in [true, false] {
      let refined = refineRoots(x, steps: 30, field: { field($0) }, jacobian: useExact ? { field.jacobian(at: $0) } : nil)
      for (r, root) in roots.enumerated() {
        #expect(refined.before[r] > 0.1)
        #expect(refined.after[r] < 1e-10, "\(useExact) root \(r): |F| \(refined.after[r])")
        #expect(abs(refined.x[r, 0] - root.0) < 1e-8 && abs(refined.x[r, 1] - root.1) < 1e-8)
      }
    }
  }
}

@Suite("Known critical points")
struct CriticalPointTests {
  @Test("cosine grid on [-5, 5]^2: the closed-form lattice are roots of F, and a dense grid search finds no others")
  func cosineGrid() {
    let field = Field(dim: 2, kind: .toy(.cosineGrid))
    let points = field.criticalPoints(lo: -5, hi: 5)!
    // w x - s runs over [-4.710, 1.570] on [-5, 5], so k pi / 2 for k in {-2, -1, 0} (k = -3 and
    // 1 fall 0.002 and 0.0008 outside, i.e. x = -5.0035 and 5.0013): both sines zero for k even,
    // x, y in {-2.5032, 2.5} (4 points), both cosines zero for k = -1, x = y = -0.0013 (1 point).
    #expect(points.count == 5, "\(points)")
    #expect(points.contains { abs($0[0] - 2.5) + abs($0[1] - 2.5) < 1e-12 })
    #expect(points.contains { abs($0[0] + 0.00127) + abs($0[1] + 0.00127) < 1e-4 })
    let f = field(Matrix(points))
    #expect(f.storage.allSatisfy { abs($0) < 1e-12 })
    // Grid search: every start that converges lands on a listed point.
    let n = 31
    var starts = Matrix<Double>(rows: n * n, cols: 2)
    for i in 0 ..< n {
      for j in 0 ..< n { starts[i * n + j, 0] = -5 + 10 * Double(i) / Double(n - 1); starts[i * n + j, 1] = -5 + 10 * Double(j) / Double(n - 1) }
    }
    let refined = refineRoots(starts, steps: 60, field: { field($0) }, jacobian: { field.jacobian(at: $0) })
    for r in 0 ..< n * n where refined.after[r] < 1e-10 {
      let p = refined.x.row(r)
      guard p.allSatisfy({ abs($0) <= 5 }) else { continue }
      #expect(points.contains { abs($0[0] - p[0]) + abs($0[1] - p[1]) < 1e-6 }, "unlisted root \(p)")
    }
  }

  @Test("cosine stripes on [-5, 5]^2: the maximum (2.5, 0) and the minimum (-2.5025, 0), roots of F")
  func cosineStripes() {
    let field = Field(dim: 2, kind: .toy(.cosineStripes))
    let points = field.criticalPoints(lo: -5, hi: 5)!
    // f = 3 cos a cos b, a = 0.628 x - 1.57 in [-4.71, 1.57], b = 0.314 y in [-1.57, 1.57]:
    // grad f = 0 where sin a = sin b = 0 (x in {-2.5025, 2.5}, y = 0) or cos a = cos b = 0, which
    // needs |b| = pi / 2, i.e. y = +-5.0025, just outside the box.
    #expect(points.count == 2, "\(points)")
    #expect(points.contains { abs($0[0] - 2.5) + abs($0[1]) < 1e-12 })
    #expect(points.contains { abs($0[0] + 2.50253) < 1e-4 && abs($0[1]) < 1e-12 })
    #expect(field(Matrix(points)).storage.allSatisfy { abs($0) < 1e-12 })
  }

  @Test("Gaussian mixture: a minimum within 0.01 of each mean, 4 saddles and a maximum")
  func mixture() {
    let field = Field(dim: 2, kind: .toy(.gaussianMixture))
    let points = field.criticalPoints(lo: -5, hi: 5)!
    for m in ToyField.mixtureMeans {
      #expect(points.contains { abs($0[0] - m.0) + abs($0[1] - m.1) < 0.01 }, "\(m)")
    }
    #expect(points.count == 9, "\(points)")
  }

  @Test("Himmelblau: 4 minima, 4 saddles and 1 maximum inside [-5, 5]^2")
  func himmelblau() {
    let field = Field(dim: 2, kind: .toy(.himmelblau))
    let points = field.criticalPoints(lo: -5, hi: 5)!
    #expect(points.count == 9, "\(points)")
    // The minimum at (3, 2) and the maximum near (-0.270845, -0.923039) are among them.
    #expect(points.contains { abs($0[0] - 3) + abs($0[1] - 2) < 1e-8 })
    #expect(points.contains { abs($0[0] + 0.270845) + abs($0[1] + 0.923039) < 1e-5 })
  }
}
