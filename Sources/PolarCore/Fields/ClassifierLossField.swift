// ClassifierLossField: the softmax cross-entropy of a small classifier on a fixed minibatch of
// images, as a function f(w) of the classifier's parameters w in R^d. F = grad f is a field to
// factorize: its zeros are the critical points of a neural-network loss (Vesseron & Cuturi 2024,
// §6). Two architectures, each in its own file with its exact hand-written gradient:
//   mlp    one hidden tanh layer (MLPClassifierLoss.swift): scikit-learn's 8x8 digits, d = 235
//   lenet  the authors' LeNet: two 1-channel 5x5 convolutions, each relu and 2x2 max-pooled,
//          then a dense layer (LeNetClassifierLoss.swift): MNIST 28x28, d = 222
//   f(w) = (1/n) sum_s [ logsumexp(l_s(w)) - l_s(w)[y_s] ],  l_s the logits of image s.
import RealModule

/// Which network's loss the field is.
public enum ClassifierArchitecture: Sendable, Equatable {
  /// One hidden layer of width `hidden`, tanh.
  case mlp(hidden: Int)
  /// LeNet on square images (LeNetShape).
  case lenet
}

public struct ClassifierLossField: Sendable, Equatable {
  /// The batch, [n, P], already scaled (pixels in [0, 1]).
  public let images: Matrix<Double>
  public let labels: [Int]
  public let classes: Int
  public let architecture: ClassifierArchitecture

  /// Pixels per 8x8 digit image.
  public static let digitPixels = 64

  public init(images: Matrix<Double>, labels: [Int], architecture: ClassifierArchitecture, classes: Int = 10) {
    precondition(images.rows == labels.count && images.rows > 0, "need one label per image, at least one image")
    precondition(classes > 1, "need at least two classes")
    precondition(labels.allSatisfy { (0 ..< classes).contains($0) }, "label out of range 0..<\(classes)")
    switch architecture {
    case .mlp(let hidden): precondition(hidden > 0, "the hidden width must be positive")
    case .lenet: precondition(LeNetShape(pixels: images.cols, classes: classes) != nil, LeNetShape.requirement(pixels: images.cols))
    }
    self.images = images
    self.labels = labels
    self.classes = classes
    self.architecture = architecture
  }

  /// The one-hidden-layer MLP of width `hidden`.
  public init(images: Matrix<Double>, labels: [Int], hidden: Int, classes: Int = 10) {
    self.init(images: images, labels: labels, architecture: .mlp(hidden: hidden), classes: classes)
  }

  public var inputs: Int { images.cols }
  /// The MLP's hidden width (0 for LeNet).
  public var hidden: Int {
    if case .mlp(let h) = architecture { return h }
    return 0
  }
  var lenet: LeNetShape { LeNetShape(pixels: inputs, classes: classes)! }

  public var dim: Int {
    switch architecture {
    case .mlp: mlpDim
    case .lenet: lenet.dim
    }
  }

  /// f(w): mean softmax cross-entropy over the batch.
  public func loss(_ w: [Double]) -> Double {
    precondition(w.count == dim, "w has \(w.count) entries, expected \(dim)")
    switch architecture {
    case .mlp: return mlpLoss(w)
    case .lenet: return lenetEvaluate(Matrix(rows: 1, cols: dim, storage: w), gradient: false).loss[0]
    }
  }

  /// Share of the batch whose argmax logit (first one on ties) is the label.
  public func accuracy(_ w: [Double]) -> Double {
    precondition(w.count == dim, "w has \(w.count) entries, expected \(dim)")
    switch architecture {
    case .mlp: return mlpAccuracy(w)
    case .lenet:
      return Double(lenetEvaluate(Matrix(rows: 1, cols: dim, storage: w), gradient: false).correct[0]) / Double(images.rows)
    }
  }

  /// f and the accuracy at every row of `w` [m, d] (LeNet: one batched forward pass).
  public func lossesAndAccuracies(_ w: Matrix<Double>) -> (loss: [Double], accuracy: [Double]) {
    precondition(w.cols == dim, "parameter rows have \(w.cols) entries, expected \(dim)")
    switch architecture {
    case .mlp: return ((0 ..< w.rows).map { mlpLoss(w.row($0)) }, (0 ..< w.rows).map { mlpAccuracy(w.row($0)) })
    case .lenet:
      let r = lenetEvaluate(w, gradient: false)
      return (r.loss, r.correct.map { Double($0) / Double(images.rows) })
    }
  }

  /// grad f(w) in Double.
  public func gradient(_ w: [Double]) -> [Double] {
    precondition(w.count == dim, "w has \(w.count) entries, expected \(dim)")
    switch architecture {
    case .mlp: return mlpGradient(w)
    case .lenet: return lenetEvaluate(Matrix(rows: 1, cols: dim, storage: w), gradient: true).gradient.storage
    }
  }

  /// grad f at every row of `w` [m, d], as [m, d] (the training step's batches, in Float).
  @_specialize(where T == Float)
  @_specialize(where T == Double)
  public func gradients<T: BLASScalar>(_ w: Matrix<T>) -> Matrix<T> {
    precondition(w.cols == dim, "parameter rows have \(w.cols) entries, expected \(dim)")
    switch architecture {
    case .mlp: return mlpGradients(w)
    case .lenet: return lenetEvaluate(w, gradient: true).gradient
    }
  }

  /// `count` distinct rows of `allImages` (row-major N x 64, raw pixels 0...16) picked by a
  /// partial Fisher–Yates shuffle driven by CounterRNG(seed), scaled by 1/16.
  public static func minibatch(
    allImages: [Float], labels: [Int32], count: Int = 128, seed: UInt64,
    hidden: Int
  ) -> ClassifierLossField {
    let p = digitPixels, total = labels.count
    precondition(allImages.count == total * p, "allImages has \(allImages.count) values, need \(total) x \(p)")
    precondition(count >= 1 && count <= total, "cannot pick \(count) of \(total) images")
    let rng = CounterRNG(seed: seed, stream: CounterRNG.streamID(0xD161_7B47, 1))
    var order = Array(0 ..< total)
    for i in 0 ..< count {  // order[i] <- a uniform pick among order[i ..< total]
      let j = i + min(total - i - 1, Int(rng.uniform(UInt64(i)) * Double(total - i)))
      order.swapAt(i, j)
    }
    var images = Matrix<Double>(rows: count, cols: p)
    for r in 0 ..< count { for k in 0 ..< p { images[r, k] = Double(allImages[order[r] * p + k]) / 16 } }
    return ClassifierLossField(images: images, labels: order[0 ..< count].map { Int(labels[$0]) }, hidden: hidden)
  }

  /// Plain gradient descent w <- w - lr grad f(w), `steps` times.
  public func gradientDescent(from w0: [Double], steps: Int, lr: Double) -> [Double] {
    var w = w0
    for _ in 0 ..< steps {
      let g = gradient(w)
      for i in w.indices { w[i] -= lr * g[i] }
    }
    return w
  }
}
