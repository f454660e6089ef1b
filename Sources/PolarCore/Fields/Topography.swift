// Topography: F = grad h with h a smoothed elevation grid (Vesseron & Cuturi 2024, §6, who use
// elevation maps of Chamonix and London; we ship the USGS grids inside matplotlib's wheel, see
// data/README.md). The grid's nodes sit evenly on the box [lo, hi]^2, column 0 at x = lo, row 0 at
// y = hi (rows run north to south, as images do).
//   1. Gaussian smoothing, sigma in grid cells, separable, the kernel truncated at 4 sigma and
//      renormalised at the edges;
//   2. h = a (z_smooth - mean), with a chosen so that the RMS of |grad h| over the nodes is 1 (so
//      settings carry over between grids of any relief and units);
//   3. h between nodes: bicubic convolution (Keys 1981, a = -1/2, "Catmull–Rom"), which is C^1,
//      so F = grad h is continuous; F is the exact gradient of this interpolant. Outside the box
//      the coordinates are clamped to it.
// A share of the grid's cells may be held out: training draws x uniformly from the other cells
// (Reference.cells), evaluation reports the reconstruction error on the held-out ones.
import RealModule

public struct Topography: Sendable, Equatable {
  public let rows: Int, cols: Int
  public let lo: Double, hi: Double
  /// h at the nodes, row-major.
  public let heights: [Double]
  /// h = scale * (z_smooth - offset) (z in the grid's units, e.g. metres).
  public let scale: Double, offset: Double

  /// `firstRowTop`: row 0 of `z` is the northern edge (y = hi), as in images; false flips the rows.
  public init(
    elevation raw: [Double], rows: Int, cols: Int, smoothing sigma: Double, lo: Double = -1, hi: Double = 1,
    firstRowTop: Bool = true
  ) {
    precondition(rows >= 4 && cols >= 4 && raw.count == rows * cols, "topography: needs a grid of at least 4 x 4")
    let z = firstRowTop ? raw : (0 ..< rows).reversed().flatMap { raw[$0 * cols ..< ($0 + 1) * cols] }
    self.rows = rows
    self.cols = cols
    self.lo = lo
    self.hi = hi
    let smooth = sigma > 0 ? Topography.gaussianSmooth(z, rows: rows, cols: cols, sigma: sigma) : z
    let mean = smooth.reduce(0, +) / Double(smooth.count)
    offset = mean
    let centred = smooth.map { $0 - mean }
    // RMS of the gradient at the nodes before scaling.
    let unscaled = Topography(rows: rows, cols: cols, lo: lo, hi: hi, heights: centred, scale: 1, offset: mean)
    var sum = 0.0
    for i in 0 ..< rows {
      for j in 0 ..< cols {
        let (gx, gy) = unscaled.gradient(unscaled.xOf(column: Double(j)), unscaled.yOf(row: Double(i)))
        sum += gx * gx + gy * gy
      }
    }
    let rms = (sum / Double(rows * cols)).squareRoot()
    let a = rms > 0 ? 1 / rms : 1
    scale = a
    heights = centred.map { $0 * a }
  }

  init(rows: Int, cols: Int, lo: Double, hi: Double, heights: [Double], scale: Double, offset: Double) {
    (self.rows, self.cols, self.lo, self.hi, self.heights, self.scale, self.offset) = (rows, cols, lo, hi, heights, scale, offset)
  }

  /// Separable Gaussian blur, weights renormalised where the kernel leaves the grid.
  static func gaussianSmooth(_ z: [Double], rows: Int, cols: Int, sigma: Double) -> [Double] {
    let r = Int((4 * sigma).rounded(.up))
    let kernel = (-r ... r).map { Double.exp(-Double($0 * $0) / (2 * sigma * sigma)) }
    func pass(_ v: [Double], along n: Int, stride: Int, count m: Int, step: Int) -> [Double] {
      var out = v
      for line in 0 ..< m {
        for i in 0 ..< n {
          var s = 0.0, w = 0.0
          for k in max(-r, -i) ... min(r, n - 1 - i) {
            s += kernel[k + r] * v[line * step + (i + k) * stride]
            w += kernel[k + r]
          }
          out[line * step + i * stride] = s / w
        }
      }
      return out
    }
    let byRows = pass(z, along: cols, stride: 1, count: rows, step: cols)
    return pass(byRows, along: rows, stride: cols, count: cols, step: 1)
  }

  /// Grid coordinates of the point (x, y): fractional column and row, clamped to the grid.
  @inline(__always)
  func gridIndex(_ x: Double, _ y: Double) -> (col: Double, row: Double) {
    let c = (x - lo) / (hi - lo) * Double(cols - 1), r = (hi - y) / (hi - lo) * Double(rows - 1)
    return (min(max(c, 0), Double(cols - 1)), min(max(r, 0), Double(rows - 1)))
  }

  public func xOf(column c: Double) -> Double { lo + (hi - lo) * c / Double(cols - 1) }
  public func yOf(row r: Double) -> Double { hi - (hi - lo) * r / Double(rows - 1) }

  /// Keys' cubic convolution weights (a = -1/2) of the nodes -1, 0, 1, 2 at offset t in [0, 1],
  /// and their derivatives in t.
  @inline(__always)
  static func weights(_ t: Double) -> (SIMD4<Double>, SIMD4<Double>) {
    let t2 = t * t, t3 = t2 * t
    return (
      SIMD4(-t3 + 2 * t2 - t, 3 * t3 - 5 * t2 + 2, -3 * t3 + 4 * t2 + t, t3 - t2) / 2,
      SIMD4(-3 * t2 + 4 * t - 1, 9 * t2 - 10 * t, -9 * t2 + 8 * t + 1, 3 * t2 - 2 * t) / 2
    )
  }

  /// h and dh/d(col), dh/d(row) at fractional grid coordinates (nodes outside repeat the edge).
  func interpolate(col: Double, row: Double) -> (h: Double, dc: Double, dr: Double) {
    let c0 = min(Int(col), cols - 2), r0 = min(Int(row), rows - 2)
    let (wc, dwc) = Topography.weights(col - Double(c0)), (wr, dwr) = Topography.weights(row - Double(r0))
    var line = SIMD4<Double>(), dline = SIMD4<Double>()
    heights.withUnsafeBufferPointer { z in
      for a in 0 ..< 4 {
        let base = min(max(r0 + a - 1, 0), rows - 1) * cols
        let v = SIMD4(z[base + max(c0 - 1, 0)], z[base + c0], z[base + c0 + 1], z[base + min(c0 + 2, cols - 1)])
        line[a] = (wc * v).sum()
        dline[a] = (dwc * v).sum()
      }
    }
    return ((wr * line).sum(), (wr * dline).sum(), (dwr * line).sum())
  }

  public func height(_ x: Double, _ y: Double) -> Double {
    let g = gridIndex(x, y)
    return interpolate(col: g.col, row: g.row).h
  }

  /// F = grad h at (x, y): d/dx = d/dcol (cols - 1) / (hi - lo), d/dy = -d/drow (rows - 1) / (hi - lo).
  public func gradient(_ x: Double, _ y: Double) -> (Double, Double) {
    let g = gridIndex(x, y)
    let v = interpolate(col: g.col, row: g.row)
    return (v.dc * Double(cols - 1) / (hi - lo), -v.dr * Double(rows - 1) / (hi - lo))
  }

  /// The cells (row-major index over (rows - 1) x (cols - 1)) held out: the grid's cells are
  /// tiled in blocks of block x block cells, each block held out with probability `share`
  /// (counter-based, from `seed`). Whole blocks, not single cells, so that the held-out points
  /// are up to block / 2 cells away from anything training sampled.
  public func heldOutCells(share: Double, seed: UInt64, block: Int = 1) -> (train: [Int32], heldOut: [Int32]) {
    let rng = CounterRNG(seed: seed, stream: CounterRNG.streamID(0x70F0, 1))
    let b = max(1, block), blockCols = (cols - 1 + b - 1) / b
    var train = [Int32](), held = [Int32]()
    for r in 0 ..< rows - 1 {
      for c in 0 ..< cols - 1 {
        let cell = Int32(r * (cols - 1) + c)
        if rng.uniform(UInt64((r / b) * blockCols + c / b)) < share { held.append(cell) } else { train.append(cell) }
      }
    }
    return (train, held)
  }
}
