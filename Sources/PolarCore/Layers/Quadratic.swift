// A vector of quadratic potentials of the input (docs/design.md §1), entry i of Q(x):
//   Q_i(x) = 1/2 x^T (A_i A_i^T + diag(softplus(d_i))) x + b_i^T x + c_i,   A_i: d x rank.
// Stored as A = [A_1 | ... | A_W] (d x W*rank), D (W x d, raw: softplus is applied), b (W x d),
// c (W). On a batch X [B, d], with P = X A ([B, W*rank]) and S = softplus(D):
//   Q = 1/2 sum_r P[:, i*rank + r]^2 + 1/2 (X∘X) S^T + X b^T + c
// Backward, given G = dL/dQ [B, W] and H[:, i*rank + r] = G[:, i] P[:, i*rank + r]:
//   dA = X^T H,  dD = 1/2 (G^T (X∘X)) ∘ sigmoid(D),  db = G^T X,  dc = sum_rows G,
//   dX = H A^T + X ∘ (G S) + G b.
// Each Q_i is convex in x (A A^T + diag(softplus) is positive definite).

public struct Quadratic: Sendable, Equatable {
  public let dim: Int
  public let width: Int
  public let rank: Int
  public let a: ParameterBlock  // [d, width * rank]
  public let d: ParameterBlock  // [width, d] (raw)
  public let b: ParameterBlock  // [width, d]
  public let c: ParameterBlock  // [width]

  public init(_ name: String, dim: Int, width: Int, rank: Int, layout: inout ArenaLayout) {
    self.dim = dim
    self.width = width
    self.rank = rank
    a = layout.add("\(name).A", [dim, width * rank])
    d = layout.add("\(name).d", [width, dim])
    b = layout.add("\(name).b", [width, dim])
    c = layout.add("\(name).c", [width])
  }

  /// What backward needs from forward.
  public struct Tape<T: BLASScalar> {
    public let x: Matrix<T>
    let p: Matrix<T>  // X A
    let s: Matrix<T>  // softplus(D)
  }

  /// softplus(D), [width, d]: a function of the parameters only, so callers that evaluate the
  /// same parameters many times (the conjugate solver) compute it once and pass it to `forward`.
  public func diagonal<T: BLASScalar>(_ prm: UnsafePointer<T>) -> Matrix<T> {
    Matrix(rows: width, cols: dim, storage: (0 ..< width * dim).map { softplus(prm[d.offset + $0]) })
  }

  /// Forward: Q [B, width].
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func forward<T: BLASScalar>(
    _ prm: UnsafePointer<T>, _ x: Matrix<T>,
    diagonal given: Matrix<T>? = nil
  ) -> (Matrix<T>, Tape<T>) {
    precondition(x.cols == dim, "Quadratic \(a.name): input has \(x.cols) columns, expected \(dim)")
    let n = x.rows, wr = width * rank
    var p = Matrix<T>(rows: n, cols: wr)
    var q = Matrix<T>(rows: n, cols: width)
    var x2 = x
    for i in x2.storage.indices { x2.storage[i] *= x2.storage[i] }
    let s = given ?? diagonal(prm)
    x.withPointer { px in
      p.withMutablePointer { pp in mm(false, false, n, wr, dim, 1, px, dim, prm + a.offset, wr, 0, pp, wr) }
      q.withMutablePointer { pq in
        x2.withPointer { px2 in s.withPointer { ps in mm(false, true, n, width, dim, 0.5, px2, dim, ps, dim, 0, pq, width) } }
        mm(false, true, n, width, dim, 1, px, dim, prm + b.offset, dim, 1, pq, width)
      }
    }
    p.storage.withUnsafeBufferPointer { pp in
      q.storage.withUnsafeMutableBufferPointer { qp in
        for r in 0 ..< n {
          for i in 0 ..< width {
            var sq: T = 0
            for k in 0 ..< rank { let v = pp[r * wr + i * rank + k]; sq += v * v }
            qp[r * width + i] += prm[c.offset + i] + sq / 2
          }
        }
      }
    }
    return (q, Tape(x: x, p: p, s: s))
  }

  /// Backward: accumulates parameter gradients into `grad` (when given) and returns dX (when
  /// `inputGradient`).
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func backward<T: BLASScalar>(
    _ prm: UnsafePointer<T>, _ tape: Tape<T>, _ g: Matrix<T>,
    grad: UnsafeMutablePointer<T>?, inputGradient: Bool
  ) -> Matrix<T>? {
    let x = tape.x, n = x.rows, wr = width * rank
    var h = tape.p
    h.storage.withUnsafeMutableBufferPointer { hp in
      g.storage.withUnsafeBufferPointer { gp in
        for r in 0 ..< n { for i in 0 ..< width { for k in 0 ..< rank { hp[r * wr + i * rank + k] *= gp[r * width + i] } } }
      }
    }
    if let grad {
      var x2 = x
      for i in x2.storage.indices { x2.storage[i] *= x2.storage[i] }
      var gx2 = Matrix<T>(rows: width, cols: dim)
      g.withPointer { pg in
        x.withPointer { px in
          h.withPointer { ph in mm(true, false, dim, wr, n, 1, px, dim, ph, wr, 1, grad + a.offset, wr) }
          mm(true, false, width, dim, n, 1, pg, width, px, dim, 1, grad + b.offset, dim)
        }
        x2.withPointer { px2 in gx2.withMutablePointer { po in mm(true, false, width, dim, n, 1, pg, width, px2, dim, 0, po, dim) } }
      }
      gx2.storage.withUnsafeBufferPointer { gp in
        for j in 0 ..< width * dim { grad[d.offset + j] += gp[j] / 2 * sigmoid(prm[d.offset + j]) }
      }
      g.storage.withUnsafeBufferPointer { gp in
        for r in 0 ..< n { for i in 0 ..< width { grad[c.offset + i] += gp[r * width + i] } }
      }
    }
    guard inputGradient else { return nil }
    var dx = Matrix<T>(rows: n, cols: dim)
    var gs = Matrix<T>(rows: n, cols: dim)
    let s = tape.s
    g.withPointer { pg in
      s.withPointer { ps in gs.withMutablePointer { po in mm(false, false, n, dim, width, 1, pg, width, ps, dim, 0, po, dim) } }
      dx.withMutablePointer { pdx in
        h.withPointer { ph in mm(false, true, n, dim, wr, 1, ph, wr, prm + a.offset, wr, 0, pdx, dim) }
        mm(false, false, n, dim, width, 1, pg, width, prm + b.offset, dim, 1, pdx, dim)
      }
    }
    dx.storage.withUnsafeMutableBufferPointer { dp in
      x.storage.withUnsafeBufferPointer { xp in
        gs.storage.withUnsafeBufferPointer { sp in for i in dp.indices { dp[i] += xp[i] * sp[i] } }
      }
    }
    return dx
  }
}
