// The classifier-loss field's data (Vesseron & Cuturi 2024, §6: critical points of a small
// network's loss; they used a 222-parameter LeNet on MNIST): images and labels from an HDF5 file
// (datasets `images` [n, P], any numeric type, and `labels` [n], integers 0-9: data/digits.h5 is
// scikit-learn's 8x8 digits) or from MNIST IDX files (problem.file, problem.labels). Images are
// optionally average-pooled k x k, scaled by the largest pixel value in the file into [0, 1],
// and `problem.images` of them are drawn once, by a counter-based partial Fisher–Yates shuffle
// of problem.field_seed: that fixed minibatch defines f (docs/design.md §3: never dependent on N).
import Foundation
import ParallelHDF5
import PolarCore
import SwiftMPI

enum ClassifierData {
  static func load(_ p: Config.Problem, path: String, labelsPath: String, world: Communicator) throws -> ClassifierLossField {
    var (pixels, labels, side) = try read(path: path, labelsPath: labelsPath, world: world)
    let n = labels.count
    var inputs = pixels.count / max(1, n)
    if p.pool > 1 {
      guard let s = side, s % p.pool == 0 else {
        throw ConfigError(
          source: "configuration", key: "problem.pool",
          message: "\(path): images of \(inputs) pixels are not square with a side divisible by \(p.pool)")
      }
      (pixels, inputs) = (averagePool(pixels, count: n, side: s, k: p.pool), (s / p.pool) * (s / p.pool))
    }
    guard p.images <= n else {
      throw ConfigError(source: "configuration", key: "problem.images", message: "\(path) holds \(n) images, asked for \(p.images)")
    }
    let top = pixels.max() ?? 0
    guard top > 0 else { throw InputError(message: "\(path): every pixel is 0") }
    // Partial Fisher–Yates: order[i] <- a uniform pick among order[i ..< n].
    let rng = CounterRNG(seed: p.fieldSeed, stream: CounterRNG.streamID(0xC1A5, 1))
    var order = Array(0 ..< n)
    for i in 0 ..< p.images {
      order.swapAt(i, i + min(n - i - 1, Int(rng.uniform(UInt64(i)) * Double(n - i))))
    }
    var batch = Matrix<Double>(rows: p.images, cols: inputs)
    for r in 0 ..< p.images { for j in 0 ..< inputs { batch[r, j] = Double(pixels[order[r] * inputs + j] / top) } }
    let architecture: ClassifierArchitecture
    switch p.classifier {
    case .mlp: architecture = .mlp(hidden: p.classifierHidden)
    case .lenet:
      guard LeNetShape(pixels: inputs) != nil else {
        throw ConfigError(source: "configuration", key: "problem.classifier", message: "\(path): " + LeNetShape.requirement(pixels: inputs))
      }
      architecture = .lenet
    }
    let loss = ClassifierLossField(images: batch, labels: order[0 ..< p.images].map { Int(labels[$0]) }, architecture: architecture)
    guard loss.dim == p.dim else {
      let network =
        switch p.classifier {
        case .mlp: "an MLP with \(inputs) inputs and \(p.classifierHidden) hidden units"
        case .lenet: "LeNet on \(inputs)-pixel images"
        }
      throw ConfigError(source: "configuration", key: "problem.dim", message: "classifier-loss with \(network) has d = \(loss.dim), got \(p.dim)")
    }
    return loss
  }

  /// Pixels (row-major n x P) and labels; the image side when P is a square.
  static func read(path: String, labelsPath: String, world: Communicator) throws -> ([Float], [Int32], Int?) {
    // Every rank reads the files: all must see the same ones (before the collective open below).
    try agreeReadable(path, .data, what: "problem.file", world: world)
    if !(path.hasSuffix(".h5") || path.hasSuffix(".hdf5")) {
      guard !labelsPath.isEmpty else {
        throw ConfigError(source: "configuration", key: "problem.labels", message: "\(path) is not HDF5: give the IDX labels file")
      }
      try agreeReadable(labelsPath, .data, what: "problem.labels", world: world)
      let m = try readMNIST(images: path, labels: labelsPath)
      return (m.images, m.labels, m.rows == m.cols ? m.rows : nil)
    }
    do {
      let file = try File.open(path, access: .mpio(world))
      defer { try? file.close() }
      let images = try file.dataset("images"), labelSet = try file.dataset("labels")
      try images.checkShape([nil, nil])
      try labelSet.checkShape([images.shape[0]])
      let p = images.shape[1]  // read before the file closes
      let pixels: [Float] =
        images.elementType.isFloat
        ? try images.read(as: Float.self) : try images.read(as: Int64.self).map(Float.init)
      let labels = try labelSet.read(as: Int64.self)
      try file.close()
      if let bad = labels.firstIndex(where: { !(0 ... 9).contains($0) }) {
        throw InputError(message: "\(path): /labels: row \(bad) is \(labels[bad]), expected 0-9")
      }
      if let bad = pixels.firstIndex(where: { !$0.isFinite || $0 < 0 }) {
        throw InputError(message: "\(path): /images: value \(bad) is \(pixels[bad]), expected finite and >= 0")
      }
      let side = Int(Double(p).squareRoot().rounded())
      return (pixels, labels.map { Int32($0) }, side * side == p ? side : nil)
    } catch let e as HDF5Error {
      throw InputError(message: e.description)
    }
  }

  /// k x k average pooling of n square images of side s (row-major).
  static func averagePool(_ pixels: [Float], count n: Int, side s: Int, k: Int) -> [Float] {
    let t = s / k
    var out = [Float](repeating: 0, count: n * t * t)
    for i in 0 ..< n {
      for r in 0 ..< s {
        for c in 0 ..< s {
          out[i * t * t + (r / k) * t + c / k] += pixels[i * s * s + r * s + c] / Float(k * k)
        }
      }
    }
    return out
  }
}
