// Quality metrics of docs/design.md §1: relative L2 errors and the energy distance between samples.

/// ||A - B||_F / ||B||_F over all rows (relative L2 error of a map against a reference).
@_specialize(where T == Float)
@_specialize(where T == Double)
public func relativeL2<T: BLASScalar>(_ a: Matrix<T>, _ b: Matrix<T>) -> Double {
  precondition(a.rows == b.rows && a.cols == b.cols, "relativeL2: shapes differ")
  var num = 0.0, den = 0.0
  for i in a.storage.indices {
    let d = Double(a.storage[i]) - Double(b.storage[i])
    num += d * d
    den += Double(b.storage[i]) * Double(b.storage[i])
  }
  return (num / max(den, 1e-300)).squareRoot()
}

/// Energy distance (Székely & Rizzo) between the rows of X and Y:
///   2 E|X - Y| - E|X - X'| - E|Y - Y'|   (V-statistic, all pairs; zero iff the laws agree).
@_specialize(where T == Float)
@_specialize(where T == Double)
public func energyDistance<T: BLASScalar>(_ x: Matrix<T>, _ y: Matrix<T>) -> Double {
  func meanDistance(_ a: Matrix<T>, _ b: Matrix<T>) -> Double {
    var s = 0.0
    for i in 0 ..< a.rows {
      for j in 0 ..< b.rows {
        var d = 0.0
        for k in 0 ..< a.cols { let e = Double(a[i, k]) - Double(b[j, k]); d += e * e }
        s += d.squareRoot()
      }
    }
    return s / Double(a.rows * b.rows)
  }
  return 2 * meanDistance(x, y) - meanDistance(x, x) - meanDistance(y, y)
}
