// The instance's map is the gradient of a convex potential: central differences of psi against
// T* in Double, monotonicity and the strong-convexity bound on random pairs.
import PolarCore
import Testing
import polar_quality

/// One small instance, built once for the suites of this target (d = 4: published 14.9 %).
let smallInstance: Instance = try! Instance(dim: 4, seed: 3)

@Suite("polar-quality: the potential")
struct PotentialTests {
  @Test("T* = grad psi: central differences of psi at a few points")
  func gradientMatchesPotential() {
    let inst = smallInstance, d = inst.dim, h = 1e-5
    let x = inst.sample(.test, rows: 0 ..< 6)
    let t = inst.map(x)
    for r in 0 ..< x.rows {
      var worst = 0.0, norm = 0.0
      for j in 0 ..< d {
        var plus = Matrix<Double>(rows: 2, cols: d, storage: x.row(r) + x.row(r))
        plus.storage[j] += h
        plus.storage[d + j] -= h
        let psi = inst.potential(plus)
        let fd = (psi[0] - psi[1]) / (2 * h)
        worst = max(worst, abs(fd - t.storage[r * d + j]))
        norm += t.storage[r * d + j] * t.storage[r * d + j]
      }
      #expect(worst <= 1e-6 * max(1, norm.squareRoot()), "row \(r): |FD - T*| = \(worst)")
    }
  }

  @Test("<T*(x) - T*(y), x - y> >= m |x - y|^2 with m = (1 - t) / (sigma_x s) on random pairs")
  func monotone() {
    let inst = smallInstance, d = inst.dim, n = 2048
    let x = inst.sample(.test, rows: 0 ..< n), y = inst.sample(.train, rows: 0 ..< n)
    let tx = inst.map(x), ty = inst.map(y)
    let m = (1 - inst.knob) / (inst.sigmaX * inst.scale)
    var worst = Double.infinity
    for r in 0 ..< n {
      var inner = 0.0, dist = 0.0
      for j in 0 ..< d {
        let dx = x.storage[r * d + j] - y.storage[r * d + j]
        inner += (tx.storage[r * d + j] - ty.storage[r * d + j]) * dx
        dist += dx * dx
      }
      worst = min(worst, inner / dist)
    }
    #expect(worst >= m * (1 - 1e-9), "min <dT, dx> / |dx|^2 = \(worst), bound \(m)")
  }

  @Test("the knob puts the pilot's linear-map L2-UVP on the target, 1.05 x the published 14.9 %")
  func knob() {
    #expect(abs(smallInstance.target - 14.9 * 1.05) < 1e-9)
    #expect(abs(smallInstance.pilotUVP - smallInstance.target) < 0.05)
    #expect(smallInstance.knob > 0 && smallInstance.knob < 0.95)
  }
}
