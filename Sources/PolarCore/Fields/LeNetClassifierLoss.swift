// LeNetClassifierLoss: the `lenet` architecture of ClassifierLossField, the network of the
// paper's MNIST experiment (Vesseron & Cuturi 2024, §6; the authors' src/utils/objectives.py,
// Flax): for a grey image X [s x s] with pixels in [0, 1] (s = 28),
//   Z1 = K1 * X + b1        5x5 'valid' cross-correlation, 1 channel in and out: [c1 x c1], c1 = s - 4
//   P1 = maxpool(relu(Z1))  2x2 windows, stride 2: [q1 x q1], q1 = c1 / 2
//   Z2 = K2 * P1 + b2       [c2 x c2], c2 = q1 - 4
//   P2 = maxpool(relu(Z2))  [q2 x q2], q2 = c2 / 2, flattened row-major into e = q2^2 features
//   l  = Wd^T P2 + bd       C logits
// Parameter layout: Flax's parameter tree flattened by jax.flatten_util.ravel_pytree (keys sorted,
// so Conv_0 < Conv_1 < Dense_0 and bias before kernel):
//   w[0] b1 | w[1 ..< 26] K1 row-major | w[26] b2 | w[27 ..< 52] K2 | w[52 ..< 52 + C] bd |
//   w[52 + C ..< d] Wd [e x C] row-major;   d = 52 + C + e C = 222 for s = 28, C = 10.
// Backward, per image (g = (softmax(l) - onehot(y)) / n):
//   dWd = P2 g^T, dbd = g, dP2 = Wd g
//   dZ2 = dP2 sent to each window's argmax of Z2 where that maximum is > 0 (relu then max pool;
//         ties go to the first maximum in the window, as XLA's select-and-scatter with >=)
//   dK2[a, b] = sum_ij dZ2[i, j] P1[i + a, j + b],  db2 = sum dZ2,  dP1[i + a, j + b] += dZ2[i, j] K2[a, b]
//   dZ1 from dP1 as dZ2 from dP2;  dK1[a, b] = sum_ij dZ1[i, j] X[i + a, j + b],  db1 = sum dZ1
// Batched over parameter rows: with Xcol [(n c1^2) x 26] the 5x5 patches of every image and a
// ones column, Z1 of a block of rows is one gemm [K1 b1] Xcol^T, and [dK1 db1] = dZ1 Xcol another;
// the rest runs per row on buffers reused across rows (blocks of 32 rows: OpenBLAS packs Xcol
// once per gemm, so fewer, larger blocks pack it less often).
import RealModule

/// The layer sizes of LeNet on square images of `side` pixels.
public struct LeNetShape: Sendable, Equatable {
  public let side: Int, classes: Int
  public var c1: Int { side - 4 }
  public var q1: Int { c1 / 2 }
  public var c2: Int { q1 - 4 }
  public var q2: Int { c2 / 2 }
  public var features: Int { q2 * q2 }
  public static let oB1 = 0, oK1 = 1, oB2 = 26, oK2 = 27, oBd = 52
  public var oWd: Int { Self.oBd + classes }
  public var dim: Int { oWd + features * classes }

  /// Nil unless `pixels` is a square whose side s leaves even sizes for both poolings (s = 16, 20, 24, 28, ...).
  public init?(pixels: Int, classes: Int = 10) {
    let s = Int(Double(pixels).squareRoot().rounded())
    guard s * s == pixels, s >= 16, (s - 4) % 2 == 0, ((s - 4) / 2 - 4) % 2 == 0 else { return nil }
    (side, self.classes) = (s, classes)
  }

  public static func requirement(pixels: Int) -> String {
    "LeNet needs square images of side 16, 20, 24, 28, ... (two 5x5 convolutions, each followed by 2x2 pooling); got \(pixels) pixels"
  }
}

extension ClassifierLossField {
  /// Per row of `w`: f(w), the number of images classified right (first maximal logit), and
  /// grad f(w) when `gradient` (otherwise a 0 x d matrix).
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  func lenetEvaluate<T: BLASScalar>(_ w: Matrix<T>, gradient: Bool) -> (loss: [Double], correct: [Int], gradient: Matrix<T>) {
    let sh = lenet, n = images.rows, s = sh.side, c1 = sh.c1, q1 = sh.q1, c2 = sh.c2
    let e = sh.features, nc = classes, d = dim, oWd = sh.oWd, oBd = LeNetShape.oBd
    let area1 = c1 * c1, rows1 = n * area1, pool1 = q1 * q1, area2 = c2 * c2
    var losses = [Double](repeating: 0, count: w.rows), correct = [Int](repeating: 0, count: w.rows)
    var out = Matrix<T>(rows: gradient ? w.rows : 0, cols: d)
    guard w.rows > 0 else { return (losses, correct, out) }
    let block = min(w.rows, 32), invN = T(1) / T(n)
    var plan = Buffers.Plan()
    let xcol = plan.add(T.self, rows1 * 26), kt = plan.add(T.self, block * 26), z1 = plan.add(T.self, block * rows1)
    let p1 = plan.add(T.self, n * pool1), dp1 = plan.add(T.self, n * pool1), z2 = plan.add(T.self, n * area2)
    let p2 = plan.add(T.self, n * e), logits = plan.add(T.self, n * nc)
    let a1 = plan.add(Int32.self, n * pool1), a2 = plan.add(Int32.self, n * e)
    let buffers = Buffers(plan)
    let X = buffers.pointer(xcol, 0), Kt = buffers.pointer(kt, 0), Z1 = buffers.pointer(z1, 0)
    let P1 = buffers.pointer(p1, 0), dP1 = buffers.pointer(dp1, 0), Z2 = buffers.pointer(z2, 0)
    let P2 = buffers.pointer(p2, 0), L = buffers.pointer(logits, 0)
    let arg1 = buffers.pointer(a1, 0), arg2 = buffers.pointer(a2, 0)
    images.storage.withUnsafeBufferPointer { pixels in
      for img in 0 ..< n {  // Xcol[(img, i, j), 5a + b] = X_img[i + a, j + b]; Xcol[., 25] = 1
        let x = pixels.baseAddress! + img * s * s
        for i in 0 ..< c1 {
          for j in 0 ..< c1 {
            let row = X + ((img * c1 + i) * c1 + j) * 26
            for a in 0 ..< 5 { for b in 0 ..< 5 { row[5 * a + b] = T(x[(i + a) * s + j + b]) } }
            row[25] = 1
          }
        }
      }
    }
    /// The 2x2 max pool of a [side x side] map into [side / 2]^2 values relu(max) and the argmax of each window.
    func maxPool(_ z: UnsafeMutablePointer<T>, side: Int, _ p: UnsafeMutablePointer<T>, _ arg: UnsafeMutablePointer<Int32>) {
      let half = side / 2
      for i in 0 ..< half {
        for j in 0 ..< half {
          let first = 2 * i * side + 2 * j  // the window (0, 0), (0, 1), (1, 0), (1, 1)
          let (a, b, c, e) = (z[first], z[first + 1], z[first + side], z[first + side + 1])
          // The first maximum, by selects rather than branches (the maxima fall anywhere).
          let (upper, lower) = (Swift.max(a, b), Swift.max(c, e))
          let upperAt = b > a ? 1 : 0, lowerAt = e > c ? side + 1 : side
          let top = Swift.max(upper, lower), at = first + (lower > upper ? lowerAt : upperAt)
          p[i * half + j] = Swift.max(top, 0)
          arg[i * half + j] = Int32(truncatingIfNeeded: at)
        }
      }
    }
    w.storage.withUnsafeBufferPointer { pw in
      out.storage.withUnsafeMutableBufferPointer { po in
        for start in stride(from: 0, to: w.rows, by: block) {
          let mb = min(block, w.rows - start)
          for r in 0 ..< mb {  // Kt row r = [K1 (25), b1] of parameter row start + r
            let b = pw.baseAddress! + (start + r) * d
            for t in 0 ..< 25 { Kt[r * 26 + t] = b[LeNetShape.oK1 + t] }
            Kt[r * 26 + 25] = b[LeNetShape.oB1]
          }
          T.gemm(
            transA: false, transB: true, m: mb, n: rows1, k: 26, alpha: 1, a: Kt, lda: 26,
            b: X, ldb: 26, beta: 0, c: Z1, ldc: rows1)  // Z1 = [K1 b1] Xcol^T
          for r in 0 ..< mb {
            let b = pw.baseAddress! + (start + r) * d, z = Z1 + r * rows1
            let k2 = b + LeNetShape.oK2, b2 = b[LeNetShape.oB2]
            for img in 0 ..< n {  // P1 = maxpool(relu(Z1)); Z2 = K2 * P1 + b2; P2 = maxpool(relu(Z2))
              maxPool(z + img * area1, side: c1, P1 + img * pool1, arg1 + img * pool1)
              let p = P1 + img * pool1, z2 = Z2 + img * area2
              for i in 0 ..< c2 {  // row i of Z2, tap by tap (the loop over j vectorizes)
                let row = z2 + i * c2
                for j in 0 ..< c2 { row[j] = b2 }
                for a in 0 ..< 5 {
                  for bb in 0 ..< 5 {
                    let k = k2[5 * a + bb], src = p + (i + a) * q1 + bb
                    for j in 0 ..< c2 { row[j] += k * src[j] }
                  }
                }
              }
              maxPool(z2, side: c2, P2 + img * e, arg2 + img * e)
            }
            var total = 0.0, right = 0
            for img in 0 ..< n {  // l = Wd^T P2 + bd; the loss; then g = (softmax - e_y) / n in place
              let l = L + img * nc, f = P2 + img * e
              for c in 0 ..< nc { l[c] = b[oBd + c] }
              for k in 0 ..< e where f[k] != 0 { for c in 0 ..< nc { l[c] += f[k] * b[oWd + k * nc + c] } }
              var top = 0
              for c in 1 ..< nc where l[c] > l[top] { top = c }
              let y = labels[img], m = l[top]
              var sum = T(0)
              for c in 0 ..< nc { sum += T.exp(l[c] - m) }
              total += Double(m) + Double.log(Double(sum)) - Double(l[y])
              if top == y { right += 1 }
              if gradient {
                for c in 0 ..< nc { l[c] = T.exp(l[c] - m) / sum * invN }
                l[y] -= invN
              }
            }
            losses[start + r] = total / Double(n)
            correct[start + r] = right
            guard gradient else { continue }
            let o = po.baseAddress! + (start + r) * d  // zero-filled: the sums below start there
            for q in 0 ..< n * pool1 { dP1[q] = 0 }
            for img in 0 ..< n {
              let g = L + img * nc, f = P2 + img * e, p = P1 + img * pool1, dp = dP1 + img * pool1
              for c in 0 ..< nc { o[oBd + c] += g[c] }  // dbd += g
              for k in 0 ..< e where f[k] > 0 {  // dWd += P2 g^T; dZ2 at the window's argmax = (Wd g)_k
                var dk = T(0)
                for c in 0 ..< nc {
                  o[oWd + k * nc + c] += f[k] * g[c]
                  dk += b[oWd + k * nc + c] * g[c]
                }
                let at = Int(arg2[img * e + k]), i = at / c2, j = at % c2
                o[LeNetShape.oB2] += dk  // db2 += dZ2
                for a in 0 ..< 5 {
                  for bb in 0 ..< 5 {
                    o[LeNetShape.oK2 + 5 * a + bb] += dk * p[(i + a) * q1 + j + bb]  // dK2 += dZ2 P1
                    dp[(i + a) * q1 + j + bb] += dk * k2[5 * a + bb]  // dP1 += dZ2 K2
                  }
                }
              }
            }
            for q in 0 ..< rows1 { z[q] = 0 }  // Z1's row becomes dZ1: dP1 at each window's argmax where P1 > 0
            for img in 0 ..< n {
              for q in 0 ..< pool1 where P1[img * pool1 + q] > 0 { z[img * area1 + Int(arg1[img * pool1 + q])] = dP1[img * pool1 + q] }
            }
          }
          guard gradient else { continue }
          T.gemm(
            transA: false, transB: false, m: mb, n: 26, k: rows1, alpha: 1, a: Z1, lda: rows1,
            b: X, ldb: 26, beta: 0, c: Kt, ldc: 26)  // [dK1 db1] = dZ1 Xcol
          for r in 0 ..< mb {
            let o = po.baseAddress! + (start + r) * d
            for t in 0 ..< 25 { o[LeNetShape.oK1 + t] = Kt[r * 26 + t] }
            o[LeNetShape.oB1] = Kt[r * 26 + 25]
          }
        }
      }
    }
    return (losses, correct, out)
  }
}
