import Foundation
import PolarCore
import Testing

/// A synthetic batch: n images with pixels uniform in [0, 1], labels uniform in 0..<10.
private func syntheticLoss(n: Int = 128, hidden: Int, seed: UInt64) -> ClassifierLossField {
  let rng = CounterRNG(seed: seed, stream: 501)
  let images = Matrix<Double>(rows: n, cols: 64, storage: (0 ..< n * 64).map { rng.uniform(UInt64($0)) })
  let labels = (0 ..< n).map { min(9, Int(rng.uniform(UInt64(n * 64 + $0)) * 10)) }
  return ClassifierLossField(images: images, labels: labels, hidden: hidden)
}

private func uniformVector(_ n: Int, seed: UInt64, scale: Double) -> [Double] {
  let rng = CounterRNG(seed: seed, stream: 502)
  return (0 ..< n).map { rng.uniform(UInt64($0), in: -scale, scale) }
}

/// CPU time of the calling thread (not wall time: other processes may share the cores).
private func threadCPUSeconds() -> Double {
  var t = timespec()
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
  return Double(t.tv_sec) + 1e-9 * Double(t.tv_nsec)
}

private func norm(_ v: [Double]) -> Double { v.reduce(0) { $0 + $1 * $1 }.squareRoot() }

@Suite("Classifier loss (digits MLP)")
struct ClassifierLossTests {
  @Test("gradient matches central differences of loss at random w", arguments: [3, 4])
  func finiteDifferences(hidden: Int) {
    let f = syntheticLoss(hidden: hidden, seed: 11)
    #expect(f.dim == 64 * hidden + hidden + hidden * 10 + 10)
    let points =
      (0 ..< 3).map { uniformVector(f.dim, seed: UInt64(20 + $0), scale: 1) }
      + [uniformVector(f.dim, seed: 30, scale: 3)]
    for w in points {
      let fd = finiteDifference(w, step: 1e-5) { f.loss($0) }
      let err = relativeError(f.gradient(w), fd)
      #expect(err < 1e-6, "h = \(hidden): relative error \(err)")
    }
  }

  @Test("batched gradients equal row-wise gradient in Double and Float", arguments: [3, 5])
  func batched(hidden: Int) {
    let f = syntheticLoss(n: 100, hidden: hidden, seed: 12)
    let rows = (0 ..< 5).map { uniformVector(f.dim, seed: UInt64(40 + $0), scale: $0 == 4 ? 3 : 1) }
    let wd = Matrix<Double>(rows)
    let gd = f.gradients(wd)
    let gf = f.gradients(Matrix<Float>(rows: 5, cols: f.dim, storage: wd.storage.map { Float($0) }))
    for r in 0 ..< 5 {
      let exact = f.gradient(rows[r])
      let errD = relativeError(gd.row(r), exact), errF = relativeError(gf.row(r).map { Double($0) }, exact)
      #expect(errD < 1e-12, "Double row \(r): \(errD)")
      #expect(errF < 1e-4, "Float row \(r): \(errF)")
    }
    // More rows than one block (64), so block boundaries are exercised.
    let many = Matrix<Double>((0 ..< 150).map { uniformVector(f.dim, seed: UInt64(100 + $0), scale: 1) })
    let gm = f.gradients(many)
    for r in [0, 63, 64, 127, 128, 149] {
      #expect(relativeError(gm.row(r), f.gradient(many.row(r))) < 1e-12, "row \(r) of 150")
    }
  }

  @Test("loss at w = 0 is log 10; a w favouring class k has the accuracy of label k's share")
  func closedForms() {
    let f = syntheticLoss(hidden: 3, seed: 13)
    let zero = [Double](repeating: 0, count: f.dim)
    #expect(abs(f.loss(zero) - Double.log(10)) < 1e-12)
    for k in [0, 4, 9] {
      var w = zero
      w[f.dim - 10 + k] = 1  // b2[k] = 1: logit k wins for every image
      let share = Double(f.labels.filter { $0 == k }.count) / Double(f.labels.count)
      #expect(f.accuracy(w) == share)
      #expect(share > 0)
      // The loss is then log(9 + e) - [y == k] for every image.
      let expected = Double.log(9 + Double.exp(1)) - share
      #expect(abs(f.loss(w) - expected) < 1e-12)
    }
  }

  @Test("minibatch: count distinct rows, deterministic per seed, different across seeds")
  func minibatch() {
    // Row i of a 1000-image set encodes i in its first three pixels (base 17) and has label i % 10.
    let total = 1000
    var all = [Float](repeating: 5, count: total * 64)
    for i in 0 ..< total {
      all[i * 64] = Float(i % 17); all[i * 64 + 1] = Float((i / 17) % 17); all[i * 64 + 2] = Float(i / 289)
    }
    let labels = (0 ..< total).map { Int32($0 % 10) }
    func rowsOf(_ f: ClassifierLossField) -> [Int] {
      (0 ..< f.images.rows).map { r in
        Int((f.images[r, 0] * 16).rounded()) + 17 * Int((f.images[r, 1] * 16).rounded())
          + 289 * Int((f.images[r, 2] * 16).rounded())
      }
    }
    let a = ClassifierLossField.minibatch(allImages: all, labels: labels, seed: 1, hidden: 3)
    let b = ClassifierLossField.minibatch(allImages: all, labels: labels, seed: 1, hidden: 3)
    let c = ClassifierLossField.minibatch(allImages: all, labels: labels, seed: 2, hidden: 3)
    let ra = rowsOf(a)
    #expect(a.images.rows == 128 && Set(ra).count == 128 && ra.allSatisfy { (0 ..< total).contains($0) })
    #expect(a.labels == ra.map { $0 % 10 })
    #expect(a.images[0, 5] == 5.0 / 16)
    #expect(a == b)
    #expect(Set(rowsOf(c)) != Set(ra))
    // Every row can be picked: all of them when count = total.
    let full = ClassifierLossField.minibatch(allImages: all, labels: labels, count: total, seed: 3, hidden: 3)
    #expect(Set(rowsOf(full)).count == total)
  }

  // Measured on this batch over 8 (batch, start) pairs: lr 0.5 cuts the loss by 60-75% in 2000
  // steps but oscillates (|grad f| at step 2000 is above its start in half the runs; the same
  // holds on real digits); lr 0.1 is stable: loss -45..-62%, |grad f| down 12-20x.
  @Test("gradient descent from a random start lowers the loss (lr 0.5) and |grad f| (lr 0.1)")
  func descent() {
    let f = syntheticLoss(hidden: 3, seed: 14)
    let w0 = uniformVector(f.dim, seed: 60, scale: 1)
    let (l0, g0) = (f.loss(w0), norm(f.gradient(w0)))
    let fast = f.gradientDescent(from: w0, steps: 2000, lr: 0.5)
    #expect(f.loss(fast) < 0.7 * l0, "lr 0.5: loss \(l0) -> \(f.loss(fast))")
    let slow = f.gradientDescent(from: w0, steps: 2000, lr: 0.1)
    let (l1, g1) = (f.loss(slow), norm(f.gradient(slow)))
    #expect(l1 < 0.7 * l0, "lr 0.1: loss \(l0) -> \(l1)")
    #expect(g1 < 0.25 * g0, "lr 0.1: |grad f| \(g0) -> \(g1)")
    #expect(f.accuracy(slow) > f.accuracy(w0) + 0.2)
    #expect(f.loss(f.gradientDescent(from: w0, steps: 50, lr: -0.1)) > l0, "ascent must raise the loss")
  }

  @Test("timing: gradients for m = 1024 in Float (prints the best of 5, thread CPU time)")
  func timing() {
    let f = syntheticLoss(hidden: 3, seed: 15)
    let w = Matrix<Float>(
      rows: 1024, cols: f.dim,
      storage: uniformVector(1024 * f.dim, seed: 70, scale: 1).map { Float($0) })
    var best = Double.infinity, check: Float = 0
    for _ in 0 ..< 5 {
      let t0 = threadCPUSeconds()
      let g = f.gradients(w)
      best = min(best, threadCPUSeconds() - t0)
      check += g[1023, 0]
    }
    let wd = Matrix<Double>(rows: 1024, cols: f.dim, storage: w.storage.map { Double($0) })
    var bestD = Double.infinity
    for _ in 0 ..< 3 {
      let t0 = threadCPUSeconds()
      check += Float(f.gradients(wd)[0, 0])
      bestD = min(bestD, threadCPUSeconds() - t0)
    }
    print("gradients m=1024 d=\(f.dim), thread CPU time: Float \(best * 1000) ms (best of 5), Double \(bestD * 1000) ms (best of 3)")
    #expect(check.isFinite)
    #expect(best < 0.1, "\(best) s")
  }
}
