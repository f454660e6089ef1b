import PolarCore
import RealModule
import Testing

@Suite("Topography field")
struct TopographyTests {
  /// z = sin(2 x) cos(3 y) + x y sampled on a rows x cols grid over [-1, 1]^2 (row 0 at y = 1).
  static func grid(rows: Int, cols: Int) -> [Double] {
    var z = [Double]()
    for i in 0 ..< rows {
      for j in 0 ..< cols {
        let x = -1 + 2 * Double(j) / Double(cols - 1), y = 1 - 2 * Double(i) / Double(rows - 1)
        z.append(100 * (Double.sin(2 * x) * Double.cos(3 * y) + x * y) + 250)
      }
    }
    return z
  }

  @Test("bicubic interpolant: passes through the nodes, F is its exact gradient, close to the smooth truth")
  func interpolation() {
    let (rows, cols) = (41, 57)
    let z = TopographyTests.grid(rows: rows, cols: cols)
    let t = Topography(elevation: z, rows: rows, cols: cols, smoothing: 0)
    // Nodes: h = scale (z - offset).
    for (i, j) in [(0, 0), (7, 13), (40, 56), (20, 0)] {
      let h = t.height(t.xOf(column: Double(j)), t.yOf(row: Double(i)))
      #expect(abs(h - t.scale * (z[i * cols + j] - t.offset)) < 1e-9)
    }
    // F against central differences of h, and against the smooth function's true gradient.
    var worstFD = 0.0, worstTrue = 0.0
    for k in 0 ..< 50 {
      let x = -0.85 + 1.7 * Double((k * 37) % 50) / 50, y = -0.85 + 1.7 * Double((k * 11) % 50) / 50
      let (gx, gy) = t.gradient(x, y), e = 1e-6
      let fx = (t.height(x + e, y) - t.height(x - e, y)) / (2 * e), fy = (t.height(x, y + e) - t.height(x, y - e)) / (2 * e)
      worstFD = max(worstFD, abs(gx - fx), abs(gy - fy))
      let tx = t.scale * 100 * (2 * Double.cos(2 * x) * Double.cos(3 * y) + y)
      let ty = t.scale * 100 * (-3 * Double.sin(2 * x) * Double.sin(3 * y) + x)
      worstTrue = max(worstTrue, abs(gx - tx), abs(gy - ty))
    }
    #expect(worstFD < 1e-5, "\(worstFD)")
    // Cubic convolution's derivative is second-order accurate: |F| here is up to about 3.
    #expect(worstTrue < 0.05, "\(worstTrue)")
    // The field agrees with gradient() and the potential with height().
    let field = Field(dim: 2, kind: .topography(t))
    let f = field(Matrix<Double>([[0.3, -0.2]]))
    #expect(abs(f[0, 0] - t.gradient(0.3, -0.2).0) < 1e-15 && field.potential(at: [0.3, -0.2]) == t.height(0.3, -0.2))
  }

  @Test("h is rescaled so the RMS of |grad h| over the nodes is 1; smoothing lowers the relief")
  func scaling() {
    let (rows, cols) = (30, 30)
    var z = TopographyTests.grid(rows: rows, cols: cols)
    z[15 * cols + 15] += 500  // a spike that smoothing should flatten
    for sigma in [0.0, 2.0] {
      let t = Topography(elevation: z, rows: rows, cols: cols, smoothing: sigma)
      var s = 0.0
      for i in 0 ..< rows {
        for j in 0 ..< cols {
          let g = t.gradient(t.xOf(column: Double(j)), t.yOf(row: Double(i)))
          s += g.0 * g.0 + g.1 * g.1
        }
      }
      #expect(abs((s / Double(rows * cols)).squareRoot() - 1) < 1e-9)
    }
    let raw = Topography(elevation: z, rows: rows, cols: cols, smoothing: 0)
    let smooth = Topography(elevation: z, rows: rows, cols: cols, smoothing: 2)
    let spike = { (t: Topography) in (t.heights[15 * cols + 15] - t.heights[15 * cols + 14]) / t.scale }
    #expect(spike(smooth) < 0.3 * spike(raw), "\(spike(smooth)) vs \(spike(raw))")
  }

  @Test("held-out cells: about the asked share, and the cells reference draws only from the training cells")
  func heldOut() {
    let (rows, cols) = (21, 31)
    let t = Topography(elevation: TopographyTests.grid(rows: rows, cols: cols), rows: rows, cols: cols, smoothing: 1)
    let (train, held) = t.heldOutCells(share: 0.2, seed: 3)
    let total = (rows - 1) * (cols - 1)
    #expect(train.count + held.count == total)
    #expect(abs(Double(held.count) / Double(total) - 0.2) < 0.05)
    #expect(t.heldOutCells(share: 0.2, seed: 3).heldOut == held)
    // Blocks of 5 x 5 cells: a held-out cell's whole block is held out.
    let blocks = Set(t.heldOutCells(share: 0.3, seed: 4, block: 5).heldOut)
    #expect(!blocks.isEmpty)
    for c in blocks {
      let (r, k) = (Int(c) / (cols - 1), Int(c) % (cols - 1))
      let corner = (r / 5 * 5) * (cols - 1) + k / 5 * 5
      #expect(blocks.contains(Int32(corner)))
    }
    let ref = Reference.cells(rows: rows, cols: cols, lo: -1, hi: 1, cells: train)
    let rng = CounterRNG(seed: 1, stream: 2)
    let x: Matrix<Double> = ref.sample(dim: 2, rng: rng, indices: 0 ..< 2000).x
    let heldSet = Set(held)
    for r in 0 ..< x.rows {
      #expect(abs(x[r, 0]) <= 1 && abs(x[r, 1]) <= 1)
      let col = Int((x[r, 0] + 1) / 2 * Double(cols - 1)), row = Int((1 - x[r, 1]) / 2 * Double(rows - 1))
      #expect(!heldSet.contains(Int32(row * (cols - 1) + col)))
    }
  }
}
