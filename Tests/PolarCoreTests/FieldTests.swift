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
    for t in [ToyField.himmelblau, .cosineGrid, .doubleWell] {
      #expect(abs(curl(t, 0.7, -1.3)) < 1e-6, "\(t) is a gradient field")
    }
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
