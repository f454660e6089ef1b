import Foundation
import PolarCore
import Testing

/// n synthetic square images of `side` pixels (uniform in [0, 1]) with labels uniform in 0..<10.
private func syntheticLeNet(n: Int, side: Int, seed: UInt64) -> ClassifierLossField {
  let rng = CounterRNG(seed: seed, stream: 601)
  let p = side * side
  let images = Matrix<Double>(rows: n, cols: p, storage: (0 ..< n * p).map { rng.uniform(UInt64($0)) })
  let labels = (0 ..< n).map { min(9, Int(rng.uniform(UInt64(n * p + $0)) * 10)) }
  return ClassifierLossField(images: images, labels: labels, architecture: .lenet)
}

/// The LeNet of LeNetClassifierLoss.swift's header written out naively, one image at a time:
/// the test's own forward pass, to check the field's loss and accuracy against.
private func naiveLeNet(_ f: ClassifierLossField, _ w: [Double]) -> (loss: Double, accuracy: Double) {
  let s = Int(Double(f.inputs).squareRoot()), nc = f.classes
  func conv(_ x: [[Double]], _ k: ArraySlice<Double>, _ bias: Double) -> [[Double]] {
    let o = x.count - 4
    return (0 ..< o).map { i in
      (0 ..< o).map { j in
        var acc = bias
        for a in 0 ..< 5 { for b in 0 ..< 5 { acc += k[k.startIndex + 5 * a + b] * x[i + a][j + b] } }
        return acc
      }
    }
  }
  func reluPool(_ z: [[Double]]) -> [[Double]] {
    (0 ..< z.count / 2).map { i in
      (0 ..< z.count / 2).map { j -> Double in
        let top: Double = max(z[2 * i][2 * j], z[2 * i][2 * j + 1])
        let bottom: Double = max(z[2 * i + 1][2 * j], z[2 * i + 1][2 * j + 1])
        return max(0, top, bottom)
      }
    }
  }
  var total = 0.0, right = 0
  for img in 0 ..< f.images.rows {
    let x = (0 ..< s).map { i in (0 ..< s).map { j in f.images[img, i * s + j] } }
    let p1 = reluPool(conv(x, w[1 ..< 26], w[0]))
    let feats = reluPool(conv(p1, w[27 ..< 52], w[26])).flatMap { $0 }
    let l = (0 ..< nc).map { c in
      w[52 + c] + feats.indices.reduce(0.0) { $0 + feats[$1] * w[52 + nc + $1 * nc + c] }
    }
    let m = l.max()!
    total += m + Foundation.log(l.reduce(0) { $0 + Foundation.exp($1 - m) }) - l[f.labels[img]]
    if l.firstIndex(of: m) == f.labels[img] { right += 1 }
  }
  return (total / Double(f.images.rows), Double(right) / Double(f.images.rows))
}

@Suite("Classifier loss (LeNet)")
struct LeNetLossTests {
  @Test("d = 222 on 28 x 28 images (the paper's LeNet), 72 on 16 x 16; other sizes refused")
  func dimensions() {
    #expect(LeNetShape(pixels: 784)?.dim == 222)
    #expect(LeNetShape(pixels: 256)?.dim == 72)
    #expect(LeNetShape(pixels: 400)?.dim == 52 + 10 + 4 * 10)
    for bad in [64, 18 * 18, 22 * 22, 100, 785] { #expect(LeNetShape(pixels: bad) == nil, "\(bad) pixels") }
  }

  @Test("loss and accuracy equal a naive forward pass", arguments: [16, 28])
  func forward(side: Int) {
    let f = syntheticLeNet(n: 12, side: side, seed: 21)
    for seed in 0 ..< 4 {
      let w = randomVector(f.dim, seed: 30 + UInt64(seed), stream: 1, scale: seed == 3 ? 3 : 1)
      let naive = naiveLeNet(f, w)
      #expect(abs(f.loss(w) - naive.loss) < 1e-12 * max(1, naive.loss), "loss \(f.loss(w)) vs \(naive.loss)")
      #expect(f.accuracy(w) == naive.accuracy)
    }
    let zero = [Double](repeating: 0, count: f.dim)
    #expect(abs(f.loss(zero) - Foundation.log(10)) < 1e-12)
  }

  // Central differences cross a kink of relu or of a max pool when a perturbation of 1e-7 moves
  // some Z across 0 or past its window's maximum: with few images that is rare, and the seeds
  // are fixed.
  @Test("gradient matches central differences of the loss (Double)", arguments: [(16, 8), (28, 3)])
  func finiteDifferences(side: Int, n: Int) {
    let f = syntheticLeNet(n: n, side: side, seed: 22)
    for seed in 0 ..< 3 {
      let w = randomVector(f.dim, seed: 40 + UInt64(seed), stream: 2)
      let fd = finiteDifference(w, step: 1e-7) { f.loss($0) }
      let err = relativeError(f.gradient(w), fd)
      #expect(err < 1e-6, "side \(side), point \(seed): relative error \(err)")
    }
  }

  @Test("batched gradients equal the row-wise gradient in Double and Float, across blocks of 32 rows")
  func batched() {
    let f = syntheticLeNet(n: 20, side: 28, seed: 23)
    let w = randomBatch(70, f.dim, seed: 50)
    let gd = f.gradients(w)
    let gf = f.gradients(Matrix<Float>(rows: w.rows, cols: f.dim, storage: w.storage.map { Float($0) }))
    for r in [0, 31, 32, 63, 64, 69] {
      let exact = f.gradient(w.row(r))
      let errD = relativeError(gd.row(r), exact), errF = relativeError(gf.row(r).map { Double($0) }, exact)
      #expect(errD < 1e-12, "Double row \(r): \(errD)")
      #expect(errF < 1e-4, "Float row \(r): \(errF)")
    }
  }

  @Test("gradient descent from a random start lowers the loss and raises the accuracy")
  func descent() {
    let f = syntheticLeNet(n: 32, side: 16, seed: 24)
    let w0 = randomVector(f.dim, seed: 60, stream: 3)
    let w = f.gradientDescent(from: w0, steps: 300, lr: 0.5)
    #expect(f.loss(w) < 0.8 * f.loss(w0), "loss \(f.loss(w0)) -> \(f.loss(w))")
    #expect(f.accuracy(w) > f.accuracy(w0))
  }

  @Test("timing: gradients of 64 parameter rows on 128 MNIST-sized images in Float (prints the best of 3, thread CPU time)")
  func timing() {
    let f = syntheticLeNet(n: 128, side: 28, seed: 25)
    let w = Matrix<Float>(rows: 64, cols: f.dim, storage: randomVector(64 * f.dim, seed: 70, stream: 4).map { Float($0) })
    var best = Double.infinity, check: Float = 0
    for _ in 0 ..< 3 {
      var t = timespec()
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
      let t0 = Double(t.tv_sec) + 1e-9 * Double(t.tv_nsec)
      check += f.gradients(w)[63, 0]
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
      best = min(best, Double(t.tv_sec) + 1e-9 * Double(t.tv_nsec) - t0)
    }
    print("LeNet gradients, 64 rows x 128 images of 28 x 28, thread CPU time: \(best * 1000) ms (best of 3)")
    #expect(check.isFinite)
  }
}
