// Marching squares: the level set {f = c} of a function sampled on a rectangular grid, as
// line segments per cell joined into polylines (closed where the curve closes inside the grid).
import Foundation

/// Samples values[j][i] = f(xs[i], ys[j]) on a rectangular grid (ny rows of nx values).
public struct ScalarGrid: Sendable {
  public var xs: [Double], ys: [Double], values: [[Double]]

  public init(xs: [Double], ys: [Double], values: [[Double]]) {
    precondition(
      values.count == ys.count && values.allSatisfy { $0.count == xs.count },
      "grid values must be [ys.count][xs.count]")
    self.xs = xs; self.ys = ys; self.values = values
  }

  /// Samples f on an nx x ny grid spanning [x0, x1] x [y0, y1].
  public init(x: ClosedRange<Double>, y: ClosedRange<Double>, nx: Int, ny: Int, _ f: (Double, Double) -> Double) {
    let xs = (0 ..< nx).map { x.lowerBound + (x.upperBound - x.lowerBound) * Double($0) / Double(max(nx - 1, 1)) }
    let ys = (0 ..< ny).map { y.lowerBound + (y.upperBound - y.lowerBound) * Double($0) / Double(max(ny - 1, 1)) }
    self.init(xs: xs, ys: ys, values: ys.map { yv in xs.map { f($0, yv) } })
  }

  /// The smallest and largest finite values, or nil when there are none.
  public var finiteRange: (Double, Double)? {
    let f = values.joined().filter(\.isFinite)
    guard let lo = f.min(), let hi = f.max() else { return nil }
    return (lo, hi)
  }
}

public enum Contour {
  public struct Point: Sendable, Equatable { public var x: Double, y: Double }

  /// A crossing point identified by the grid edge it lies on: from node (i, j) rightwards
  /// (horizontal) or upwards (vertical). Shared by the two cells on either side of the edge.
  struct EdgeKey: Hashable { var i: Int, j: Int, vertical: Bool }

  /// The segments of the level set {f = level}, each as a pair of edge crossings. A node is
  /// "above" when its value is >= level; a cell with two crossings gives one segment, a saddle
  /// (four crossings) gives two, paired so that the corners whose side differs from the cell
  /// centre's (the mean of the four corners) are cut off. Cells with a non-finite corner are skipped.
  static func edgeSegments(_ g: ScalarGrid, level: Double) -> [(EdgeKey, EdgeKey)] {
    let nx = g.xs.count, ny = g.ys.count
    guard nx >= 2, ny >= 2 else { return [] }
    var out: [(EdgeKey, EdgeKey)] = []
    for j in 0 ..< ny - 1 {
      for i in 0 ..< nx - 1 {
        let v00 = g.values[j][i], v10 = g.values[j][i + 1], v11 = g.values[j + 1][i + 1], v01 = g.values[j + 1][i]
        guard v00.isFinite, v10.isFinite, v11.isFinite, v01.isFinite else { continue }
        let a = [v00 >= level, v10 >= level, v11 >= level, v01 >= level]
        // Edges in order around the cell: bottom, right, top, left; corner k sits between
        // edges k-1 and k (corner 0 between left and bottom).
        let edges = [
          EdgeKey(i: i, j: j, vertical: false), EdgeKey(i: i + 1, j: j, vertical: true),
          EdgeKey(i: i, j: j + 1, vertical: false), EdgeKey(i: i, j: j, vertical: true),
        ]
        let crossed = (0 ..< 4).filter { a[$0] != a[($0 + 1) % 4] }
        if crossed.count == 2 {
          out.append((edges[crossed[0]], edges[crossed[1]]))
        } else if crossed.count == 4 {
          let centreAbove = (v00 + v10 + v11 + v01) / 4 >= level
          if a[0] != centreAbove {  // cut off corners 0 and 2
            out.append((edges[3], edges[0])); out.append((edges[1], edges[2]))
          } else {  // cut off corners 1 and 3
            out.append((edges[0], edges[1])); out.append((edges[2], edges[3]))
          }
        }
      }
    }
    return out
  }

  /// The point where the level crosses an edge, interpolated linearly between its two nodes.
  static func point(_ g: ScalarGrid, _ e: EdgeKey, level: Double) -> Point {
    let (i1, j1) = e.vertical ? (e.i, e.j + 1) : (e.i + 1, e.j)
    let a = g.values[e.j][e.i], b = g.values[j1][i1]
    let t = b == a ? 0.5 : min(max((level - a) / (b - a), 0), 1)
    return Point(x: g.xs[e.i] + t * (g.xs[i1] - g.xs[e.i]), y: g.ys[e.j] + t * (g.ys[j1] - g.ys[e.j]))
  }

  /// The level set as individual segments in data coordinates.
  public static func segments(_ g: ScalarGrid, level: Double) -> [(Point, Point)] {
    edgeSegments(g, level: level).map { (point(g, $0.0, level: level), point(g, $0.1, level: level)) }
  }

  /// The level set as polylines: segments chained through their shared edge crossings. A closed
  /// curve is returned with its first point repeated at the end.
  public static func lines(_ g: ScalarGrid, level: Double) -> [[Point]] {
    let segs = edgeSegments(g, level: level)
    var touching: [EdgeKey: [Int]] = [:]
    for (k, s) in segs.enumerated() { touching[s.0, default: []].append(k); touching[s.1, default: []].append(k) }
    var used = [Bool](repeating: false, count: segs.count)
    // Walks from `start` along unused segments, returning the edge keys visited.
    func walk(from start: EdgeKey) -> [EdgeKey] {
      var chain = [start], cur = start
      while let k = touching[cur]?.first(where: { !used[$0] }) {
        used[k] = true
        cur = segs[k].0 == cur ? segs[k].1 : segs[k].0
        chain.append(cur)
      }
      return chain
    }
    var out: [[Point]] = []
    // Open curves first, from the ends (edge crossings with a single segment), then closed loops.
    let ends = touching.filter { $0.value.count == 1 }.map(\.key)
      .sorted { ($0.j, $0.i, $0.vertical ? 1 : 0) < ($1.j, $1.i, $1.vertical ? 1 : 0) }
    for e in ends where !used[touching[e]![0]] {
      out.append(walk(from: e).map { point(g, $0, level: level) })
    }
    for k in segs.indices where !used[k] {
      used[k] = true
      let chain = [segs[k].0] + walk(from: segs[k].1)
      out.append(chain.map { point(g, $0, level: level) })
    }
    return out
  }

  /// About `count` nice levels strictly inside the range of the grid's finite values.
  public static func levels(_ g: ScalarGrid, count: Int) -> [Double] {
    guard let (lo, hi) = g.finiteRange, hi > lo else { return [] }
    return Ticks.nice(lo, hi, target: count + 1).values.filter { $0 > lo && $0 < hi }
  }
}
