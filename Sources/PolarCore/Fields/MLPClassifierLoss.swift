// MLPClassifierLoss: the `mlp` architecture of ClassifierLossField, a one-hidden-layer tanh MLP
// (used on scikit-learn's 8x8 digits): its loss, accuracy and exact gradient.
//
// Model, for an image p in R^P (P = 64 pixels, scaled by 1/16 into [0, 1]), hidden width h,
// C classes (10):
//   z = W1^T p + b1 (h),   a = tanh(z),   l = W2^T a + b2 (C logits)
//   f(w) = (1/n) sum_s [ logsumexp(l_s) - l_s[y_s] ],  logsumexp(l) = m + log sum_c exp(l_c - m),
//   m = max_c l_c (stable).
// Parameter layout in w, d = P h + h + h C + C (235 for P = 64, h = 3, C = 10):
//   w[0 ..< P h]                  W1 [P x h] row-major: W1[i, j] = w[i h + j]
//   w[P h ..< P h + h]            b1 [h]
//   w[(P+1) h ..< (P+1) h + h C]  W2 [h x C] row-major: W2[j, c] = w[(P+1) h + j C + c]
//   w[(P+1) h + h C ..< d]        b2 [C]
// Backward pass (per image s; g_s = d f / d l_s):
//   g_s = (softmax(l_s) - onehot(y_s)) / n
//   dW2 = sum_s a_s g_s^T,  db2 = sum_s g_s
//   da_s = W2 g_s,  dz_s = da_s * (1 - a_s^2)        (tanh' = 1 - tanh^2)
//   dW1 = sum_s p_s dz_s^T, db1 = sum_s dz_s
import RealModule

extension ClassifierLossField {
  var offB1: Int { inputs * hidden }
  var offW2: Int { offB1 + hidden }
  var offB2: Int { offW2 + hidden * classes }
  /// d = P h + h + h C + C.
  var mlpDim: Int { inputs * hidden + hidden + hidden * classes + classes }

  /// Forward pass for image s: a = tanh(W1^T p_s + b1), l = W2^T a + b2.
  private func forward(_ w: [Double], _ s: Int, _ a: inout [Double], _ l: inout [Double]) {
    let h = hidden, pIn = inputs
    for j in 0 ..< h { a[j] = w[offB1 + j] }
    for i in 0 ..< pIn {
      let pi = images[s, i]
      for j in 0 ..< h { a[j] += pi * w[i * h + j] }
    }
    for j in 0 ..< h { a[j] = Double.tanh(a[j]) }
    for c in 0 ..< classes { l[c] = w[offB2 + c] }
    for j in 0 ..< h { for c in 0 ..< classes { l[c] += a[j] * w[offW2 + j * classes + c] } }
  }

  /// f(w): mean softmax cross-entropy over the batch.
  func mlpLoss(_ w: [Double]) -> Double {
    var a = [Double](repeating: 0, count: hidden), l = [Double](repeating: 0, count: classes)
    var total = 0.0
    for s in 0 ..< images.rows {
      forward(w, s, &a, &l)
      let m = l.max()!
      total += m + Double.log(l.reduce(0) { $0 + Double.exp($1 - m) }) - l[labels[s]]
    }
    return total / Double(images.rows)
  }

  /// Share of the batch whose argmax logit (first one on ties) is the label.
  func mlpAccuracy(_ w: [Double]) -> Double {
    var a = [Double](repeating: 0, count: hidden), l = [Double](repeating: 0, count: classes)
    var right = 0
    for s in 0 ..< images.rows {
      forward(w, s, &a, &l)
      if l.indices.max(by: { l[$0] < l[$1] || (l[$0] == l[$1] && $0 > $1) }) == labels[s] { right += 1 }
    }
    return Double(right) / Double(images.rows)
  }

  /// grad f(w), by the backward pass in the header, one image at a time, in Double.
  func mlpGradient(_ w: [Double]) -> [Double] {
    let h = hidden, nc = classes, invN = 1 / Double(images.rows)
    var g = [Double](repeating: 0, count: dim)
    var a = [Double](repeating: 0, count: h), l = [Double](repeating: 0, count: nc)
    var dz = [Double](repeating: 0, count: h)
    for s in 0 ..< images.rows {
      forward(w, s, &a, &l)  // a = tanh(z), l = W2^T a + b2
      let m = l.max()!
      var sum = 0.0
      for c in 0 ..< nc { l[c] = Double.exp(l[c] - m); sum += l[c] }
      for c in 0 ..< nc { l[c] = (l[c] / sum - (c == labels[s] ? 1 : 0)) * invN }  // g = (softmax - e_y) / n
      for c in 0 ..< nc { g[offB2 + c] += l[c] }  // db2 += g
      for j in 0 ..< h {
        var da = 0.0
        for c in 0 ..< nc {
          g[offW2 + j * nc + c] += a[j] * l[c]  // dW2 += a g^T
          da += w[offW2 + j * nc + c] * l[c]  // da = W2 g
        }
        dz[j] = da * (1 - a[j] * a[j])  // dz = da * (1 - a^2)
        g[offB1 + j] += dz[j]  // db1 += dz
      }
      for i in 0 ..< inputs {
        let pi = images[s, i]
        for j in 0 ..< h { g[i * h + j] += pi * dz[j] }  // dW1 += p dz^T
      }
    }
    return g
  }

  /// grad f at every row of `w` [m, d], as [m, d]. Same math as `gradient`, batched over blocks
  /// of B rows. With X1 = [X, 1] (n x (P+1); the ones column carries b1 forward and db1 back):
  ///   Z^T [(B h) x n] = Wt X1^T,  Wt [(B h) x (P+1)] the stacked [W1; b1^T]^T of the block's rows
  ///   [dW1; db1^T]^T [(B h) x (P+1)] = dZ^T X1
  /// are one gemm each per block; per row, the layer-2 work runs on [k x n] slabs, contiguous
  /// over images (so the loops vectorize), and [dW2; db2^T] = [A^T; 1] G is a small gemm.
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  func mlpGradients<T: BLASScalar>(_ w: Matrix<T>) -> Matrix<T> {
    let n = images.rows, pIn = inputs, k1 = inputs + 1, h = hidden, nc = classes, d = dim
    let (oB1, oW2, oB2) = (offB1, offW2, offB2)
    var out = Matrix<T>(rows: w.rows, cols: d)
    guard w.rows > 0 else { return out }
    let block = min(w.rows, 64), invN = 1 / T(n)
    // One workspace: X1 [n x k1] | Wt [(B h) x k1] | Z^T [(B h) x n] | A^T;1 [(h+1) x n] | L [nc x n] | m [n] | sum [n]
    let size = n * k1 + block * h * k1 + block * h * n + (h + 1) * n + nc * n + 2 * n
    let x1 = UnsafeMutablePointer<T>.allocate(capacity: size)
    defer { x1.deallocate() }
    let wt = x1 + n * k1, zt = wt + block * h * k1, at = zt + block * h * n
    let lt = at + (h + 1) * n, mx = lt + nc * n, sm = mx + n
    for s in 0 ..< n {
      for i in 0 ..< pIn { x1[s * k1 + i] = T(images[s, i]) }
      x1[s * k1 + pIn] = 1
      at[h * n + s] = 1
    }
    w.storage.withUnsafeBufferPointer { pw in
      out.storage.withUnsafeMutableBufferPointer { po in
        for start in stride(from: 0, to: w.rows, by: block) {
          let mb = min(block, w.rows - start)
          for r in 0 ..< mb {  // Wt[r h + j, i] = W1_r[i, j], Wt[r h + j, P] = b1_r[j]
            let b = pw.baseAddress! + (start + r) * d, row = wt + r * h * k1
            for j in 0 ..< h {
              for i in 0 ..< pIn { row[j * k1 + i] = b[i * h + j] }
              row[j * k1 + pIn] = b[oB1 + j]
            }
          }
          T.gemm(
            transA: false, transB: true, m: mb * h, n: n, k: k1, alpha: 1, a: wt, lda: k1,
            b: x1, ldb: k1, beta: 0, c: zt, ldc: n)  // Z^T = Wt X1^T
          for r in 0 ..< mb {
            let b = pw.baseAddress! + (start + r) * d, o = po.baseAddress! + (start + r) * d
            let z = zt + r * h * n
            for q in 0 ..< h * n { at[q] = 1 - 2 / (T.exp(2 * z[q]) + 1) }  // a = tanh(z)
            for c in 0 ..< nc {  // l = W2^T a + b2
              let l = lt + c * n, bc = b[oB2 + c]
              for s in 0 ..< n { l[s] = bc }
              for j in 0 ..< h {
                let wjc = b[oW2 + j * nc + c], a = at + j * n
                for s in 0 ..< n { l[s] += wjc * a[s] }
              }
            }
            for s in 0 ..< n { mx[s] = lt[s]; sm[s] = 0 }  // m = max_c l_c
            for c in 1 ..< nc { for s in 0 ..< n { mx[s] = Swift.max(mx[s], lt[c * n + s]) } }
            for c in 0 ..< nc {  // e_c = exp(l_c - m)
              let l = lt + c * n
              for s in 0 ..< n { l[s] = T.exp(l[s] - mx[s]) }
              for s in 0 ..< n { sm[s] += l[s] }
            }
            for s in 0 ..< n { sm[s] = invN / sm[s] }
            for c in 0 ..< nc { for s in 0 ..< n { lt[c * n + s] *= sm[s] } }  // g = (softmax - e_y) / n
            for s in 0 ..< n { lt[labels[s] * n + s] -= invN }
            T.gemm(
              transA: false, transB: true, m: h + 1, n: nc, k: n, alpha: 1, a: at, lda: n,
              b: lt, ldb: n, beta: 0, c: o + oW2, ldc: nc)  // [dW2; db2^T] = [A^T; 1] G
            for j in 0 ..< h {  // da = W2 g
              let dz = z + j * n, a = at + j * n
              for s in 0 ..< n { dz[s] = 0 }
              for c in 0 ..< nc {
                let wjc = b[oW2 + j * nc + c], g = lt + c * n
                for s in 0 ..< n { dz[s] += wjc * g[s] }
              }
              for s in 0 ..< n { dz[s] *= 1 - a[s] * a[s] }  // dz = da (1 - a^2)
            }
          }
          T.gemm(
            transA: false, transB: false, m: mb * h, n: k1, k: n, alpha: 1, a: zt, lda: n,
            b: x1, ldb: k1, beta: 0, c: wt, ldc: k1)  // [dW1; db1^T]^T = dZ^T X1
          for r in 0 ..< mb {
            let o = po.baseAddress! + (start + r) * d, row = wt + r * h * k1
            for j in 0 ..< h {
              for i in 0 ..< pIn { o[i * h + j] = row[j * k1 + i] }
              o[oB1 + j] = row[j * k1 + pIn]
            }
          }
        }
      }
    }
    return out
  }
}
