// The report's classifier-loss section: the loss, accuracy and |grad f| of the sampled candidate
// critical points (before and after refinement) beside gradient descent from random starts
// x ~ rho (the usual way to find critical points of a network's loss), and the Hessian's index
// (number of negative eigenvalues) at some of them, so that minima and saddles are told apart:
//   H = (J + J^T) / 2,  J the central-difference Jacobian of the exact gradient F = grad f
//   index = #{lambda < -tau},  flat = #{|lambda| <= tau},  tau = 1e-6 max |lambda|
// (relu networks have exactly flat directions: a dead unit's weights do not change f).
// It also probes what the exact method would sample: M(x) = grad u*(F(x)) and grad u is
// injective, so M^-1(grad u*(0)) is rho restricted to {x : grad f(x) = 0}; its finite-resolution
// version is rho conditioned on |grad f(x)| <= eps, read off the 1% of a large sample x ~ rho
// with the smallest |grad f|. Where rho's mass near grad f = 0 lies at low accuracy, no
// sampler of M^-1(grad u*(0)), however well trained, returns low-loss critical points.
import Foundation
import PolarCore

extension ReportFigures {
  /// |grad f| at or below which a point counts as a critical point (issue 19's goal).
  static let criticalGradient = 1e-4
  /// Accuracy on the minibatch from which a critical point counts as a low-loss one.
  static let goodAccuracy = 0.8
  /// Hessians computed per group (each costs 2 d gradients and an eigendecomposition).
  static let hessiansPerGroup = 8

  /// Loss, accuracy and |grad f| of (at most 256) samples, refined samples, and of gradient
  /// descent from random starts x ~ rho, run as one batch of parameter vectors; the Hessian's
  /// index at up to 8 refined critical points and 8 descent end points.
  static func classifierComparison(
    _ ctx: ReportContext, loss: ClassifierLossField, samples: [Double], refined: [Double]?
  )
    -> ([(Figure, String?)], [String: Double], String)
  {
    let d = loss.dim, o = ctx.options
    func rows(_ v: [Double]) -> [[Double]] { (0 ..< min(256, v.count / d)).map { Array(v[$0 * d ..< ($0 + 1) * d]) } }
    let starts = ctx.problem.referenceSample(seed: ctx.config.seed, purpose: .evaluationReference, count: o.descentStarts)
    // In Float, as training evaluates F (LeNet's descent costs a minute at full size in Float); the
    // end points are then measured in Double like the samples.
    var wf = starts
    let rate = Float(o.descentRate)
    for _ in 0 ..< o.descentSteps {
      let g = loss.gradients(wf)
      for i in 0 ..< wf.storage.count { wf.storage[i] -= rate * g.storage[i] }
    }
    let w = Matrix<Double>(rows: wf.rows, cols: d, storage: wf.storage.map(Double.init))
    var groups: [(String, String, [[Double]])] = [("bridge samples", "raw", rows(samples))]
    if let refined { groups.append(("refined samples", "refined", rows(refined))) }
    groups.append(("gradient descent", "descent", (0 ..< w.rows).map { w.row($0) }))
    let probe = nearCriticalProbe(ctx, loss: loss)
    groups.append(("x ~ rho nearest grad f = 0", "rho_near_critical", probe.rows))
    var scatter = Figure(title: "Loss against |grad f|", xLabel: "log10 |grad f(w)|", yLabel: "cross-entropy f(w)")
    var accuracy = Figure(title: "Accuracy on the fixed minibatch", xLabel: "accuracy", yLabel: "parameter vectors")
    var indexFigure = Figure(title: "Hessian index at critical points", xLabel: "negative eigenvalues of the Hessian", yLabel: "points")
    var stats = [String: Double](), parts = [String](), indexParts = [String]()
    stats["classifier_rho_near_critical_eps"] = probe.eps
    stats["classifier_rho_grad_norm_median"] = probe.median
    for (name, key, ws) in groups {
      guard !ws.isEmpty else { continue }
      let batch = Matrix(ws), gradients = loss.gradients(batch)
      let (losses, accs) = loss.lossesAndAccuracies(batch)
      let norms = (0 ..< ws.count).map { r in gradients.row(r).reduce(0) { $0 + $1 * $1 }.squareRoot() }
      scatter.scatter(norms.map { Foundation.log10(max($0, 1e-17)) }, losses, label: name, radius: 2.2, opacity: 0.6)
      accuracy.histogram(accs, bins: 20, range: 0 ... 1, label: name, opacity: 0.5)
      let (ml, ma, mn) = (Sampling.quantiles(losses, [0.5])[0], Sampling.quantiles(accs, [0.5])[0], Sampling.quantiles(norms, [0.5])[0])
      stats["classifier_\(key)_loss_median"] = ml
      stats["classifier_\(key)_accuracy_median"] = ma
      stats["classifier_\(key)_grad_norm_median"] = mn
      let critical = ws.indices.filter { norms[$0] <= criticalGradient }
      let good = critical.filter { accs[$0] >= goodAccuracy }
      stats["classifier_\(key)_critical_share"] = Double(critical.count) / Double(max(ws.count, 1))
      stats["classifier_\(key)_good_critical_share"] = Double(good.count) / Double(max(ws.count, 1))
      let goodShare = Double(accs.filter { $0 >= goodAccuracy }.count) / Double(max(ws.count, 1))
      stats["classifier_\(key)_good_share"] = goodShare
      parts.append(
        String(format: "%@: median loss %.3f, accuracy %.2f, |grad f| %.2e", name, ml, ma, mn)
          + String(
            format: ", %.0f%% with accuracy >= 0.8, %.0f%% critical (|grad f| <= 1e-4), %.0f%% critical with accuracy >= 0.8", 100 * goodShare,
            100 * Double(critical.count) / Double(max(ws.count, 1)), 100 * Double(good.count) / Double(max(ws.count, 1)))
          + (key == "descent" ? String(format: " (%d starts x ~ rho, %d steps, lr %g)", o.descentStarts, o.descentSteps, o.descentRate) : "")
          + (key == "rho_near_critical"
            ? String(
              format: " (the 1%% of %d points x ~ rho with the smallest |grad f|, at most %.2g; the median is %.3g)", o.criticalProbe, probe.eps, probe.median)
            : ""))
      // The index where it means something: at critical points (refined samples), and at the end
      // points of gradient descent (near minima when it has converged).
      guard key == "refined" || key == "descent" else { continue }
      let chosen = Array((key == "refined" ? critical : Array(ws.indices)).prefix(hessiansPerGroup))
      guard !chosen.isEmpty else { continue }
      let inertia = chosen.map { hessianInertia(loss, at: ws[$0]) }
      let negatives = inertia.map { Double($0.negative) }
      indexFigure.histogram(negatives, bins: 20, range: 0 ... max(20, negatives.max()! + 1), label: name, opacity: 0.5)
      let minima = inertia.filter { $0.negative == 0 }.count
      stats["classifier_\(key)_hessians"] = Double(chosen.count)
      stats["classifier_\(key)_minima"] = Double(minima)
      stats["classifier_\(key)_index_median"] = Sampling.quantiles(negatives, [0.5])[0]
      stats["classifier_\(key)_flat_median"] = Sampling.quantiles(inertia.map { Double($0.flat) }, [0.5])[0]
      indexParts.append(
        "\(name): \(minima) of \(chosen.count) with no negative eigenvalue (index "
          + inertia.map { "\($0.negative)" }.joined(separator: ", ") + "; flat directions, median "
          + String(format: "%.0f", stats["classifier_\(key)_flat_median"]!) + ")")
    }
    var text = "Classifier (d = \(d)) on its fixed minibatch of \(loss.images.rows) images: " + parts.joined(separator: "; ") + "."
    var figures: [(Figure, String?)] = [(scatter, "Each point is one parameter vector w in R^\(d)."), (accuracy, nil)]
    if !indexParts.isEmpty {
      text += " Hessian index (negative eigenvalues beyond 1e-6 of the largest |eigenvalue|): " + indexParts.joined(separator: "; ") + "."
      figures.append(
        (
          indexFigure,
          "Index 0: a local minimum (or a degenerate point); index k > 0: a saddle with k descent directions. Refined samples: those with |grad f| <= 1e-4."
        ))
    }
    return (figures, stats, text)
  }

  /// The 1% (at least 16) of `options.criticalProbe` points x ~ rho with the smallest |grad f(x)|
  /// (gradients in Float, in chunks of 256 rows), their largest |grad f| (eps) and the sample's
  /// median |grad f|.
  static func nearCriticalProbe(_ ctx: ReportContext, loss: ClassifierLossField) -> (rows: [[Double]], eps: Double, median: Double) {
    let d = loss.dim, count = max(16, ctx.options.criticalProbe)
    let x = ctx.problem.referenceSample(seed: ctx.config.seed, purpose: .criticalProbe, count: count)
    var norms = [Double]()
    norms.reserveCapacity(count)
    for start in stride(from: 0, to: count, by: 256) {
      let rows = min(256, count - start)
      let chunk = Matrix<Float>(rows: rows, cols: d, storage: Array(x.storage[start * d ..< (start + rows) * d]))
      let g = loss.gradients(chunk)
      for r in 0 ..< rows { norms.append(Double(g.row(r).reduce(0) { $0 + $1 * $1 }).squareRoot()) }
    }
    let nearest = norms.indices.sorted { norms[$0] < norms[$1] }.prefix(max(16, count / 100))
    let rows = nearest.map { i in (0 ..< d).map { Double(x[i, $0]) } }
    return (rows, norms[nearest.last!], Sampling.quantiles(norms, [0.5])[0])
  }

  /// The Hessian's inertia at w: eigenvalues below -tau (negative) and within tau of 0 (flat),
  /// tau = 1e-6 max |lambda|, from the central-difference Jacobian of the exact gradient.
  static func hessianInertia(_ loss: ClassifierLossField, at w: [Double]) -> (negative: Int, flat: Int) {
    let j = finiteDifferenceJacobian({ loss.gradients($0) }, at: w)
    var h = j
    for a in 0 ..< h.rows { for b in 0 ..< a { let m = (j[a, b] + j[b, a]) / 2; h[a, b] = m; h[b, a] = m } }
    let values = symmetricEigen(h).values
    let tau = 1e-6 * (values.map { abs($0) }.max() ?? 0)
    return (values.filter { $0 < -tau }.count, values.filter { abs($0) <= tau }.count)
  }
}
