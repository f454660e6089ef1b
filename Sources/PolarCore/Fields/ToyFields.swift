// The 2-D toy fields F = grad f (Vesseron & Cuturi 2024, §6 and their objectives 1, 10 and 11),
// with their potentials f, exact Jacobians (the Hessians of f) and critical points:
//   himmelblau        f = ((x^2 + y - 11)^2 + (x + y^2 - 7)^2) / 100 (scaled so |F| is O(1) on
//                     [-5, 5]^2; p ~ exp(-100 f) is the authors' Langevin target)
//   cosine-grid       f = 3 cos(0.628 x - 1.57) cos(0.628 y - 1.57)
//   cosine-stripes    f = 3 cos(0.628 x - 1.57) cos(0.314 y)
//   gaussian-mixture  f = -log p, p = sum_k w_k N(mu_k, s^2 I): 4 components at (+-2.5, +-2.5),
//                     s = 0.5, weights 0.1, 0.2, 0.3, 0.4 (counter-clockwise from (2.5, 2.5))
//   double-well       f = (|x|^2 - 1)^2 / 4
//   swirl             F(x) = Rot(|x|) x, a rotation by the angle |x| (not a gradient at all)
import RealModule

public enum ToyField: String, Sendable, CaseIterable, Codable {
  case himmelblau, cosineGrid = "cosine-grid", cosineStripes = "cosine-stripes",
    gaussianMixture = "gaussian-mixture", doubleWell = "double-well", swirl

  /// The mixture's components: means, common standard deviation, weights.
  public static let mixtureMeans: [(Double, Double)] = [(2.5, 2.5), (-2.5, 2.5), (-2.5, -2.5), (2.5, -2.5)]
  public static let mixtureWeights: [Double] = [0.1, 0.2, 0.3, 0.4]
  public static let mixtureSigma = 0.5

  /// Responsibilities r_k(x) of the mixture's components (a stable softmax of log w_k N_k).
  static func responsibilities(_ x: Double, _ y: Double) -> (r: [Double], logSum: Double) {
    let s2 = mixtureSigma * mixtureSigma
    let logs = zip(mixtureMeans, mixtureWeights).map { m, w in
      Double.log(w) - ((x - m.0) * (x - m.0) + (y - m.1) * (y - m.1)) / (2 * s2) - Double.log(2 * Double.pi * s2)
    }
    let top = logs.max()!
    let e = logs.map { Double.exp($0 - top) }
    let sum = e.reduce(0, +)
    return (e.map { $0 / sum }, top + Double.log(sum))
  }

  /// F(x, y) = grad f.
  func value<T: BLASScalar>(_ x: T, _ y: T) -> (T, T) {
    switch self {
    case .himmelblau:
      let a = x * x + y - 11, b = x + y * y - 7
      return ((4 * a * x + 2 * b) / 100, (2 * a + 4 * b * y) / 100)
    case .cosineGrid:
      let w = T(0.628), s = T(1.57)
      return (-3 * w * T.sin(w * x - s) * T.cos(w * y - s), -3 * w * T.cos(w * x - s) * T.sin(w * y - s))
    case .cosineStripes:
      let w = T(0.628), v = T(0.314), s = T(1.57)
      return (-3 * w * T.sin(w * x - s) * T.cos(v * y), -3 * v * T.cos(w * x - s) * T.sin(v * y))
    case .gaussianMixture:
      // grad(-log p) = sum_k r_k (x - mu_k) / s^2.
      let (r, _) = ToyField.responsibilities(Double(x), Double(y))
      var gx = 0.0, gy = 0.0
      for (k, m) in ToyField.mixtureMeans.enumerated() { gx += r[k] * (Double(x) - m.0); gy += r[k] * (Double(y) - m.1) }
      let s2 = ToyField.mixtureSigma * ToyField.mixtureSigma
      return (T(gx / s2), T(gy / s2))
    case .doubleWell:
      let r = x * x + y * y - 1
      return (r * x, r * y)
    case .swirl:
      let n = (x * x + y * y).squareRoot()
      return (T.cos(n) * x - T.sin(n) * y, T.sin(n) * x + T.cos(n) * y)
    }
  }

  /// The potential f with F = grad f, nil for swirl.
  public func potential(_ x: Double, _ y: Double) -> Double? {
    switch self {
    case .himmelblau: return ((x * x + y - 11) * (x * x + y - 11) + (x + y * y - 7) * (x + y * y - 7)) / 100
    case .cosineGrid: return 3 * Double.cos(0.628 * x - 1.57) * Double.cos(0.628 * y - 1.57)
    case .cosineStripes: return 3 * Double.cos(0.628 * x - 1.57) * Double.cos(0.314 * y)
    case .gaussianMixture: return -ToyField.responsibilities(x, y).logSum
    case .doubleWell: return (x * x + y * y - 1) * (x * x + y * y - 1) / 4
    case .swirl: return nil
    }
  }

  /// dF/d(x, y) as [[dFx/dx, dFx/dy], [dFy/dx, dFy/dy]].
  func jacobian(_ x: Double, _ y: Double) -> [[Double]] {
    switch self {
    case .himmelblau:
      let c = (4 * x + 4 * y) / 100
      return [[(12 * x * x + 4 * y - 42) / 100, c], [c, (4 * x + 12 * y * y - 26) / 100]]
    case .cosineGrid:
      let w = 0.628, s = 1.57
      let (sx, cx, sy, cy) = (Double.sin(w * x - s), Double.cos(w * x - s), Double.sin(w * y - s), Double.cos(w * y - s))
      return [[-3 * w * w * cx * cy, 3 * w * w * sx * sy], [3 * w * w * sx * sy, -3 * w * w * cx * cy]]
    case .cosineStripes:
      let w = 0.628, v = 0.314, s = 1.57
      let (sx, cx, sy, cy) = (Double.sin(w * x - s), Double.cos(w * x - s), Double.sin(v * y), Double.cos(v * y))
      return [[-3 * w * w * cx * cy, 3 * w * v * sx * sy], [3 * w * v * sx * sy, -3 * v * v * cx * cy]]
    case .gaussianMixture:
      // Hessian of -log p: I / s^2 - (E_r[d d^T] - E_r[d] E_r[d]^T) / s^4, d = x - mu_k.
      let (r, _) = ToyField.responsibilities(x, y)
      let s2 = ToyField.mixtureSigma * ToyField.mixtureSigma
      var ex = 0.0, ey = 0.0, exx = 0.0, exy = 0.0, eyy = 0.0
      for (k, m) in ToyField.mixtureMeans.enumerated() {
        let (dx, dy) = (x - m.0, y - m.1)
        ex += r[k] * dx; ey += r[k] * dy
        exx += r[k] * dx * dx; exy += r[k] * dx * dy; eyy += r[k] * dy * dy
      }
      let c = (exy - ex * ey) / (s2 * s2)
      return [[1 / s2 - (exx - ex * ex) / (s2 * s2), -c], [-c, 1 / s2 - (eyy - ey * ey) / (s2 * s2)]]
    case .doubleWell:
      let r = x * x + y * y - 1
      return [[r + 2 * x * x, 2 * x * y], [2 * x * y, r + 2 * y * y]]
    case .swirl:
      // F = Rot(n) p, n = |p|: J = Rot(n) + (dRot/dn p) (p / n)^T.
      let n = (x * x + y * y).squareRoot()
      let (c, s) = (Double.cos(n), Double.sin(n))
      var j = [[c, -s], [s, c]]
      if n > 1e-12 {
        let (dx, dy) = (-s * x - c * y, c * x - s * y)
        j[0][0] += dx * x / n; j[0][1] += dx * y / n
        j[1][0] += dy * x / n; j[1][1] += dy * y / n
      }
      return j
    }
  }
}

extension Field {
  /// The isolated critical points of f (the roots of F = grad f) inside the box [lo, hi]^2, for
  /// the toy fields where they are a finite list: the cosine grid and stripes in closed form (a
  /// lattice), Himmelblau and the Gaussian mixture by Levenberg–Marquardt from a 41 x 41 grid of
  /// starts, deduplicated. nil where the roots are not isolated (double-well: a circle) or not a
  /// gradient's (swirl), and for the other fields.
  public func criticalPoints(lo: Double, hi: Double) -> [[Double]]? {
    guard case .toy(let t) = kind else { return nil }
    let s = 1.57, halfPi = Double.pi / 2
    // Solutions of w z - shift = k pi / 2 with k of the given parity, inside [lo, hi] (up to
    // 1e-9 relative: 1.57 / 0.314 is exactly 5).
    func lattice(_ w: Double, _ shift: Double, parity: Int) -> [Double] {
      let kMin = Int(((w * lo - shift) / halfPi).rounded(.down)) - 1
      let kMax = Int(((w * hi - shift) / halfPi).rounded(.up)) + 1
      let slack = 1e-9 * max(1, hi - lo)
      return (kMin ... kMax).filter { (($0 % 2) + 2) % 2 == parity }
        .map { (shift + Double($0) * halfPi) / w }.filter { $0 >= lo - slack && $0 <= hi + slack }
    }
    switch t {
    case .cosineGrid, .cosineStripes:
      // f = 3 cos(a) cos(b): grad f = 0 where sin a = sin b = 0 (even k) or cos a = cos b = 0 (odd k).
      let (wy, sy) = t == .cosineGrid ? (0.628, s) : (0.314, 0.0)
      var out = [[Double]]()
      for parity in 0 ... 1 {
        for a in lattice(0.628, s, parity: parity) { for b in lattice(wy, sy, parity: parity) { out.append([a, b]) } }
      }
      return out
    case .himmelblau, .gaussianMixture:
      let n = 41
      var starts = Matrix<Double>(rows: n * n, cols: 2)
      for i in 0 ..< n {
        for j in 0 ..< n {
          starts[i * n + j, 0] = lo + (hi - lo) * Double(i) / Double(n - 1)
          starts[i * n + j, 1] = lo + (hi - lo) * Double(j) / Double(n - 1)
        }
      }
      let refined = refineRoots(starts, steps: 100, field: { self($0) }, jacobian: { self.jacobian(at: $0) })
      var out = [[Double]]()
      for r in 0 ..< n * n where refined.after[r] < 1e-10 {
        let p = refined.x.row(r)
        guard p.allSatisfy({ $0 >= lo && $0 <= hi }) else { continue }
        if !out.contains(where: { abs($0[0] - p[0]) + abs($0[1] - p[1]) < 1e-6 }) { out.append(p) }
      }
      return out.sorted { $0[0] == $1[0] ? $0[1] < $1[1] : $0[0] < $1[0] }
    case .doubleWell, .swirl:
      return nil
    }
  }
}
