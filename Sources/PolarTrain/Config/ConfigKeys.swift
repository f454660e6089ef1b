// Every configuration key: path, documentation, how to read and check it, how to render it.
import Foundation
import PolarCore
import TOMLKit

/// What a changed value means for `train --resume` (Resume.swift derives its lists from these).
enum ResumeClass: Sendable {
  /// Fixes what a checkpoint's numbers mean (architecture, field, data, batch layout): a
  /// checkpoint written with another value cannot be continued.
  case structural
  /// Changes the trajectory but not the meaning of the saved numbers: the resume goes ahead with
  /// a warning that the run will not match an uninterrupted one.
  case trajectory
  /// Changes no result (logging, checkpoint cadence, steps after training).
  case free
}

struct ConfigKey: Sendable {
  let path: String
  let resume: ResumeClass
  let doc: String
  let read: @Sendable (inout Config, TOMLValueConvertible, ConfigError) throws -> Void
  let render: @Sendable (Config) -> String
}

func bad(_ ctx: ConfigError, _ message: String) -> ConfigError {
  ConfigError(source: ctx.source, key: ctx.key, message: message)
}

/// An integer key's value in [min, max]. The default bound, 2^40, keeps every size, step count
/// and product of a few of them far from 64-bit overflow (seeds pass .max).
func integer(_ v: TOMLValueConvertible, _ ctx: ConfigError, min: Int, max: Int = 1 << 40) throws -> Int {
  guard v.type == .int, let i = v.int else { throw bad(ctx, "expected an integer, got \(describe(v))") }
  guard i >= min else { throw bad(ctx, "must be at least \(min), got \(i)") }
  guard i <= max else { throw bad(ctx, "must be at most \(max), got \(i)") }
  return i
}

/// A share: a number from 0 to `atMost`.
func share(_ v: TOMLValueConvertible, _ ctx: ConfigError, atMost: Double) throws -> Double {
  let h = try number(v, ctx, atLeast: 0)
  guard h <= atMost else { throw bad(ctx, "must be at most \(atMost), got \(h)") }
  return h
}

func number(_ v: TOMLValueConvertible, _ ctx: ConfigError, above: Double? = nil, atLeast: Double? = nil) throws -> Double {
  let d: Double
  if v.type == .double, let x = v.double {
    d = x
  } else if v.type == .int, let i = v.int {
    d = Double(i)
  } else {
    throw bad(ctx, "expected a number, got \(describe(v))")
  }
  guard d.isFinite else { throw bad(ctx, "must be finite, got \(d)") }
  if let above, !(d > above) { throw bad(ctx, "must be greater than \(above), got \(d)") }
  if let atLeast, !(d >= atLeast) { throw bad(ctx, "must be at least \(atLeast), got \(d)") }
  return d
}

func text(_ v: TOMLValueConvertible, _ ctx: ConfigError, oneOf: [String]? = nil) throws -> String {
  guard v.type == .string, let s = v.string else { throw bad(ctx, "expected a string, got \(describe(v))") }
  if let oneOf, !oneOf.contains(s) {
    throw bad(ctx, "must be one of \(oneOf.map { "\"\($0)\"" }.joined(separator: ", ")), got \(quoted(s))")
  }
  return s
}

func flag(_ v: TOMLValueConvertible, _ ctx: ConfigError) throws -> Bool {
  guard v.type == .bool, let b = v.bool else { throw bad(ctx, "expected true or false, got \(describe(v))") }
  return b
}

func integers(_ v: TOMLValueConvertible, _ ctx: ConfigError, min: Int, allowEmpty: Bool = false) throws -> [Int] {
  guard let a = v.array else { throw bad(ctx, "expected an array of integers, got \(describe(v))") }
  let out = try (0 ..< a.count).map { try integer(a[$0], ctx, min: min) }
  if out.isEmpty && !allowEmpty { throw bad(ctx, "must not be empty") }
  return out
}

func numbers(_ v: TOMLValueConvertible, _ ctx: ConfigError) throws -> [Double] {
  guard let a = v.array else { throw bad(ctx, "expected an array of numbers, got \(describe(v))") }
  return try (0 ..< a.count).map { try number(a[$0], ctx) }
}

func describe(_ v: TOMLValueConvertible) -> String {
  switch v.type {
  case .string: "the string \(quoted(v.string ?? ""))"
  case .int: "the integer \(v.int ?? 0)"
  case .double: "the number \(v.double ?? 0)"
  case .bool: "\(v.bool ?? false)"
  case .array: "an array"
  case .table: "a table"
  default: "a \(v.type)"
  }
}

/// A TOML basic string: quotes, backslashes and control characters escaped (TOML 1.0 "Basic
/// strings"), so that any value survives config.toml and the checkpoint's config attribute.
func tomlString(_ s: String) -> String {
  var out = "\""
  for u in s.unicodeScalars {
    switch u {
    case "\"": out += "\\\""
    case "\\": out += "\\\\"
    case "\n": out += "\\n"
    case "\t": out += "\\t"
    case "\r": out += "\\r"
    case _ where u.value < 0x20 || u.value == 0x7F: out += String(format: "\\u%04X", u.value)
    default: out.unicodeScalars.append(u)
    }
  }
  return out + "\""
}

/// A value as messages quote it: in double quotes, at most 80 characters, then "... (N bytes)"
/// (a 50 MB value is not echoed whole).
func quoted(_ s: String) -> String {
  guard s.utf8.count > 80 else { return "\"\(s)\"" }
  return "\"\(s.prefix(80))...\" (\(s.utf8.count) bytes)"
}

func renderList<T>(_ a: [T]) -> String { "[" + a.map { "\($0)" }.joined(separator: ", ") + "]" }
func renderNumber(_ d: Double) -> String { d == d.rounded() && abs(d) < 1e15 ? String(format: "%.1f", d) : "\(d)" }

/// A choice key's value: one of `T.choices` by name.
func choice<T: ConfigChoice>(_ v: TOMLValueConvertible, _ ctx: ConfigError, _: T.Type = T.self) throws -> T {
  let name = try text(v, ctx, oneOf: T.choices.map(\.name))
  return T.choices.first { $0.name == name }!
}

enum ConfigKeys {
  static let sections = [
    "problem", "potential", "amortizer", "conjugate", "map", "inverse", "checkpoint",
    "parallel", "train", "sample", "langevin",
  ]

  static func key(
    _ path: String, _ resume: ResumeClass, _ doc: String,
    _ read: @escaping @Sendable (inout Config, TOMLValueConvertible, ConfigError) throws -> Void,
    _ render: @escaping @Sendable (Config) -> String
  ) -> ConfigKey {
    ConfigKey(path: path, resume: resume, doc: doc, read: read, render: render)
  }

  static let all: [ConfigKey] = [
    key(
      "seed", .structural, "seed of every random draw (initialisation, samples)",
      { c, v, x in c.seed = UInt64(try integer(v, x, min: 0, max: .max)) }, { "\($0.seed)" }),
    // [problem]
    key(
      "problem.dim", .structural, "dimension d of x and F(x)",
      { c, v, x in c.problem.dim = try integer(v, x, min: 1) }, { "\($0.problem.dim)" }),
    key(
      "problem.field", .structural, "the field F: \(Config.Field.alternatives)",
      { c, v, x in c.problem.field = try choice(v, x) }, { tomlString($0.problem.field.name) }),
    key(
      "problem.reference", .structural, "rho: gaussian (N(0, I)) | uniform (on the box) | data (the x of the field file)",
      { c, v, x in c.problem.reference = try choice(v, x) },
      { tomlString($0.problem.reference.name) }),
    key(
      "problem.box", .structural, "[lo, hi]: the box [lo, hi]^d of reference = \"uniform\"",
      { c, v, x in
        let b = try numbers(v, x)
        guard b.count == 2 else { throw bad(x, "expected [lo, hi], got \(b.count) numbers") }
        c.problem.box = b
      }, { renderList($0.problem.box.map(renderNumber)) }),
    key(
      "problem.file", .structural,
      "field = \"file\": HDF5 file with datasets x [n, d] and F [n, d]; topography: HDF5 elevation grid; "
        + "classifier-loss: HDF5 with images [n, P] and labels [n], or an MNIST IDX images file (relative to the working directory)",
      { c, v, x in c.problem.file = try text(v, x) }, { tomlString($0.problem.file) }),
    key(
      "problem.matrix", .structural, "field = \"linear\": the matrix A as rows; [] draws A from field_seed",
      { c, v, x in
        guard let rows = v.array else { throw bad(x, "expected an array of rows, got \(describe(v))") }
        c.problem.matrix = try (0 ..< rows.count).map { try numbers(rows[$0], x) }
      }, { "[" + $0.problem.matrix.map { renderList($0.map(renderNumber)) }.joined(separator: ", ") + "]" }),
    key(
      "problem.condition", .structural, "field = \"linear\" drawn from field_seed: largest condition number of A",
      { c, v, x in c.problem.condition = try number(v, x, atLeast: 1) }, { renderNumber($0.problem.condition) }),
    key(
      "problem.dataset", .structural, "topography: the elevation grid's dataset [rows, cols] in problem.file",
      { c, v, x in c.problem.dataset = try text(v, x) }, { tomlString($0.problem.dataset) }),
    key(
      "problem.smoothing", .structural, "topography: Gaussian smoothing of the grid, sigma in grid cells (0: none)",
      { c, v, x in
        c.problem.smoothing = try number(v, x, atLeast: 0)
        guard c.problem.smoothing <= 1e4 else { throw bad(x, "must be at most 10000 grid cells, got \(c.problem.smoothing)") }
      }, { renderNumber($0.problem.smoothing) }),
    key(
      "problem.holdout", .structural, "topography: share of grid cells held out of training for evaluation (0 to 0.9)",
      { c, v, x in c.problem.holdout = try share(v, x, atMost: 0.9) }, { renderNumber($0.problem.holdout) }),
    key(
      "problem.validation", .structural,
      "field = file: share of the file's rows held out of training (0 to 0.5; 0: none), chosen row by row from field_seed; at every checkpoint written while u changes, the dual objective on (up to 16,384 of) them is logged to metrics.jsonl (`validation_loss`, `validation_converged`) and plotted beside the training loss; the checkpoint where it was lowest is kept whatever checkpoint.keep says and named by `checkpoints/best`",
      { c, v, x in c.problem.validation = try share(v, x, atMost: 0.5) }, { renderNumber($0.problem.validation) }),
    key(
      "problem.holdout_block", .structural, "topography: cells are held out in blocks of k x k grid cells",
      { c, v, x in c.problem.holdoutBlock = try integer(v, x, min: 1, max: 1 << 20) }, { "\($0.problem.holdoutBlock)" }),
    key(
      "problem.first_row", .structural, "topography: where the grid's row 0 lies: top (north, as in images) | bottom",
      { c, v, x in c.problem.firstRow = try choice(v, x) }, { tomlString($0.problem.firstRow.name) }),
    key(
      "problem.classifier", .structural,
      "classifier-loss: the network: \(Config.Classifier.alternatives) (mlp: one hidden tanh layer; lenet: the paper's LeNet, two 5x5 convolutions with relu and 2x2 max pooling, then a dense layer, on square images of side 16, 20, 24, 28, ...: d = 222 on MNIST)",
      { c, v, x in c.problem.classifier = try choice(v, x) }, { tomlString($0.problem.classifier.name) }),
    key(
      "problem.classifier_hidden", .structural, "classifier-loss with classifier = mlp: hidden width h (d = P h + h + 10 h + 10)",
      { c, v, x in c.problem.classifierHidden = try integer(v, x, min: 1, max: 1 << 20) }, { "\($0.problem.classifierHidden)" }),
    key(
      "problem.images", .structural, "classifier-loss: images in the fixed minibatch that defines f",
      { c, v, x in c.problem.images = try integer(v, x, min: 1) }, { "\($0.problem.images)" }),
    key(
      "problem.labels", .structural, "classifier-loss with an IDX images file: the IDX labels file",
      { c, v, x in c.problem.labels = try text(v, x) }, { tomlString($0.problem.labels) }),
    key(
      "problem.pool", .structural, "classifier-loss: average-pool the images k x k (4 turns MNIST's 28 x 28 into 7 x 7)",
      { c, v, x in c.problem.pool = try integer(v, x, min: 1) }, { "\($0.problem.pool)" }),
    key(
      "problem.field_seed", .structural, "seed of the drawn linear matrix or rotated-convex field",
      { c, v, x in c.problem.fieldSeed = UInt64(try integer(v, x, min: 0, max: .max)) }, { "\($0.problem.fieldSeed)" }),
    // [potential]
    key(
      "potential.hidden", .structural, "ICNN hidden widths (default by problem.dim: [64]^4 below 16, [128]^4 from 16)",
      { c, v, x in c.potential.hidden = try integers(v, x, min: 1) }, { renderList($0.potential.hidden) }),
    key(
      "potential.rank", .structural, "rank of the low-rank part of each quadratic potential (default by problem.dim: 1 below 16, 4 from 16)",
      { c, v, x in c.potential.rank = try integer(v, x, min: 0) }, { "\($0.potential.rank)" }),
    key(
      "potential.activation", .structural, "ICNN activation: relu | leaky-relu | softplus | elu",
      { c, v, x in c.potential.activation = try choice(v, x) }, { tomlString($0.potential.activation.name) }),
    key(
      "potential.init", .structural, "identity (grad u = x at start) | gaussian (the Bures map between rho and F#rho)",
      { c, v, x in c.potential.initialization = try choice(v, x) },
      { tomlString($0.potential.initialization.name) }),
    key(
      "potential.steps", .trajectory, "optimizer steps of stage potential (default by problem.dim: 4000 below 32, 6000 from 32)",
      { c, v, x in c.potential.steps = try integer(v, x, min: 0) }, { "\($0.potential.steps)" }),
    key(
      "potential.batch", .structural, "global batch size (samples per step, over all ranks)",
      { c, v, x in c.potential.batch = try integer(v, x, min: 1) }, { "\($0.potential.batch)" }),
    key(
      "potential.lr", .trajectory, "Adam learning rate of u (start of the schedule)",
      { c, v, x in c.potential.lr = try number(v, x, above: 0) }, { "\($0.potential.lr)" }),
    key(
      "potential.schedule", .trajectory, "learning-rate schedule: constant | cosine (to lr_final)",
      { c, v, x in c.potential.schedule = try choice(v, x) }, { tomlString($0.potential.schedule.name) }),
    key(
      "potential.lr_final", .trajectory, "cosine schedule: final learning rate",
      { c, v, x in c.potential.lrFinal = try number(v, x, atLeast: 0) }, { "\($0.potential.lrFinal)" }),
    key(
      "potential.warmup", .trajectory, "linear warm-up steps of the schedule",
      { c, v, x in c.potential.warmup = try integer(v, x, min: 0) }, { "\($0.potential.warmup)" }),
    key(
      "potential.clip", .trajectory, "clip the gradient norm to this value (0: no clipping)",
      { c, v, x in c.potential.clip = try number(v, x, atLeast: 0) }, { renderNumber($0.potential.clip) }),
    // [amortizer]
    key(
      "amortizer.hidden", .structural, "amortizer MLP hidden widths (g(y) ~ grad u*(y), the solver's warm start)",
      { c, v, x in c.amortizer.hidden = try integers(v, x, min: 1, allowEmpty: true) }, { renderList($0.amortizer.hidden) }),
    key(
      "amortizer.activation", .structural, "amortizer activation: relu | leaky-relu | softplus | elu",
      { c, v, x in c.amortizer.activation = try choice(v, x) }, { tomlString($0.amortizer.activation.name) }),
    key(
      "amortizer.residual", .structural, "g(y) = S y + MLP(y) when true (S a learnt d x d skip, initialised to I), MLP(y) otherwise",
      { c, v, x in c.amortizer.residual = try flag(v, x) }, { "\($0.amortizer.residual)" }),
    key(
      "amortizer.lr", .trajectory, "Adam learning rate of the amortizer (same schedule shape as u)",
      { c, v, x in c.amortizer.lr = try number(v, x, above: 0) }, { "\($0.amortizer.lr)" }),
    // [conjugate]
    key(
      "conjugate.solver", .trajectory,
      "training's conjugate solver: lbfgs (batched L-BFGS, Armijo backtracking) | adam (the authors' choice; cosine-decayed steps from conjugate.lr; needs max_iter in the hundreds). evaluate, apply and the end-of-run report always use L-BFGS",
      { c, v, x in c.conjugate.solver = try choice(v, x) }, { tomlString($0.conjugate.solver.name) }),
    key(
      "conjugate.max_iter", .trajectory, "iterations per conjugate solve at most",
      { c, v, x in c.conjugate.maxIter = try integer(v, x, min: 1) }, { "\($0.conjugate.maxIter)" }),
    key(
      "conjugate.tol", .trajectory, "stop when |grad u(x) - y| <= tol (default by problem.dim: 1e-5 below 32, 1e-3 from 32)",
      { c, v, x in c.conjugate.tol = try number(v, x, above: 0) }, { "\($0.conjugate.tol)" }),
    key(
      "conjugate.history", .trajectory, "L-BFGS history length",
      { c, v, x in c.conjugate.history = try integer(v, x, min: 1) }, { "\($0.conjugate.history)" }),
    key(
      "conjugate.lr", .trajectory, "initial step of the adam solver (cosine decay to 1e-4 of it over max_iter)",
      { c, v, x in c.conjugate.lr = try number(v, x, above: 0) }, { "\($0.conjugate.lr)" }),
    // [map]
    key(
      "map.steps", .trajectory, "optimizer steps of stage map (explicit M network); 0 skips the stage",
      { c, v, x in c.map.steps = try integer(v, x, min: 0) }, { "\($0.map.steps)" }),
    key(
      "map.hidden", .structural, "M network hidden widths",
      { c, v, x in c.map.hidden = try integers(v, x, min: 1, allowEmpty: true) }, { renderList($0.map.hidden) }),
    key(
      "map.activation", .structural, "M network activation",
      { c, v, x in c.map.activation = try choice(v, x) }, { tomlString($0.map.activation.name) }),
    key(
      "map.residual", .structural, "M(x) = S x + MLP(x) when true (S learnt, initialised to I)",
      { c, v, x in c.map.residual = try flag(v, x) }, { "\($0.map.residual)" }),
    key(
      "map.fourier", .structural,
      "M network input: K random Fourier features [x, sin 2 pi B x, cos 2 pi B x], B [K, d] ~ N(0, fourier_scale^2) fixed (0: x)",
      { c, v, x in c.map.fourier = try integer(v, x, min: 0, max: 1 << 16) }, { "\($0.map.fourier)" }),
    key(
      "map.fourier_scale", .structural, "standard deviation of the Fourier features' frequencies, in cycles per unit of x",
      { c, v, x in c.map.fourierScale = try number(v, x, above: 0) }, { "\($0.map.fourierScale)" }),
    key(
      "map.batch", .structural, "global batch of stage map",
      { c, v, x in c.map.batch = try integer(v, x, min: 1) }, { "\($0.map.batch)" }),
    key(
      "map.lr", .trajectory, "Adam learning rate of stage map (cosine schedule to lr / 100)",
      { c, v, x in c.map.lr = try number(v, x, above: 0) }, { "\($0.map.lr)" }),
    // [inverse]
    key(
      "inverse.steps", .trajectory, "steps of stage inverse (bridge matching); 0 skips it",
      { c, v, x in c.inverse.steps = try integer(v, x, min: 0) }, { "\($0.inverse.steps)" }),
    key(
      "inverse.pool", .trajectory,
      "0: solve M(x) = grad u*(F(x)) afresh for every batch; N: solve it once for N samples x ~ rho and draw the batches from them (high d, where the solves dominate)",
      { c, v, x in c.inverse.pool = try integer(v, x, min: 0) }, { "\($0.inverse.pool)" }),
    key(
      "inverse.sigma", .trajectory, "bridge noise level sigma",
      { c, v, x in c.inverse.sigma = try number(v, x, atLeast: 0) }, { "\($0.inverse.sigma)" }),
    key(
      "inverse.hidden", .structural, "bridge network hidden widths (an MLP on [x_t, X0, t, time features])",
      { c, v, x in c.inverse.hidden = try integers(v, x, min: 1, allowEmpty: true) }, { renderList($0.inverse.hidden) }),
    key(
      "inverse.activation", .structural, "bridge network activation",
      { c, v, x in c.inverse.activation = try choice(v, x) }, { tomlString($0.inverse.activation.name) }),
    key(
      "inverse.frequencies", .structural, "time features cos/sin(2 pi k t), k = 1 ... frequencies",
      { c, v, x in c.inverse.frequencies = try integer(v, x, min: 0) }, { "\($0.inverse.frequencies)" }),
    key(
      "inverse.time_power", .trajectory, "training times t = 1 - (1 - u)^p, u uniform: 1 is uniform, p > 1 favours t near 1",
      { c, v, x in c.inverse.timePower = try number(v, x, atLeast: 1) }, { "\($0.inverse.timePower)" }),
    key(
      "inverse.batch", .structural, "global batch of stage inverse",
      { c, v, x in c.inverse.batch = try integer(v, x, min: 1) }, { "\($0.inverse.batch)" }),
    key(
      "inverse.lr", .trajectory, "Adam learning rate of stage inverse (cosine schedule to lr / 100)",
      { c, v, x in c.inverse.lr = try number(v, x, above: 0) }, { "\($0.inverse.lr)" }),
    key(
      "inverse.coupling", .structural, "X0 = M(x) from: implicit (a conjugate solve per sample) | explicit (M_net)",
      { c, v, x in c.inverse.coupling = try choice(v, x) }, { tomlString($0.inverse.coupling.name) }),
    // [checkpoint]
    key(
      "checkpoint.every", .free, "write a checkpoint every this many steps (the end of a stage always writes one)",
      { c, v, x in c.checkpoint.every = try integer(v, x, min: 1) }, { "\($0.checkpoint.every)" }),
    key(
      "checkpoint.keep", .free, "keep the newest K checkpoints",
      { c, v, x in c.checkpoint.keep = try integer(v, x, min: 1) }, { "\($0.checkpoint.keep)" }),
    key(
      "checkpoint.dir", .free, "checkpoint directory, relative to the run directory unless absolute",
      { c, v, x in c.checkpoint.dir = try text(v, x) }, { tomlString($0.checkpoint.dir) }),
    // [parallel]
    key(
      "parallel.reduction", .trajectory, "exact (bitwise reproducible for any N) | fast (float all-reduce)",
      { c, v, x in c.parallel.reduction = try choice(v, x) }, { tomlString($0.parallel.reduction.name) }),
    key(
      "parallel.micro_batch", .structural, "samples per micro-batch; must divide the batch; N ranks split the micro-batches",
      { c, v, x in c.parallel.microBatch = try integer(v, x, min: 1) }, { "\($0.parallel.microBatch)" }),
    key(
      "parallel.overlap", .free,
      "stage potential: reduce the gradients at x (about a third of the all-reduce) while the conjugate solves run, for networks slow next to the step (docs/benchmark.md: Across hosts); the same bits either way",
      { c, v, x in c.parallel.overlap = try flag(v, x) }, { "\($0.parallel.overlap)" }),
    key(
      "parallel.watchdog", .free,
      "seconds (at least 5) without a heartbeat from a rank (UDP, outside MPI) after which training ends on every rank that can still run, naming it, exit 69 (docs/commands.md: Several hosts); 0: off",
      { c, v, x in c.parallel.watchdog = try number(v, x, atLeast: 0) }, { "\($0.parallel.watchdog)" }),
    // [train]
    key(
      "train.log_every", .free, "print progress and append to metrics.jsonl every this many steps",
      { c, v, x in c.train.logEvery = try integer(v, x, min: 1) }, { "\($0.train.logEvery)" }),
    key(
      "train.on_nan", .free,
      "on a NaN or Inf, or a dual that lost its meaning (docs/commands.md: Training health): stop (name the step and network) | rollback (to the last checkpoint, half lr)",
      { c, v, x in c.train.onNaN = try choice(v, x) }, { tomlString($0.train.onNaN.name) }),
    key(
      "train.eval_samples", .free, "held-out samples for the metrics at the end of training",
      { c, v, x in c.train.evalSamples = try integer(v, x, min: 16) }, { "\($0.train.evalSamples)" }),
    key(
      "train.report", .free, "write report/index.html (polar-train report) at the end of training",
      { c, v, x in c.train.report = try flag(v, x) }, { "\($0.train.report)" }),
    // [sample] and [langevin]: steps after training that need the inverse map.
    key(
      "sample.count", .free, "after training: samples of M^-1(grad u*(0)) written to RUN/samples.h5 (0: none)",
      { c, v, x in c.sample.count = try integer(v, x, min: 0) }, { "\($0.sample.count)" }),
    key(
      "sample.refine", .free, "Levenberg–Marquardt steps from every sample (sample --refine)",
      { c, v, x in c.sample.refine = try integer(v, x, min: 0) }, { "\($0.sample.refine)" }),
    key(
      "langevin.steps", .free, "after training: steps of LMC-NPF and plain Langevin into RUN/langevin.h5 (0: none)",
      { c, v, x in c.langevin.steps = try integer(v, x, min: 0) }, { "\($0.langevin.steps)" }),
    key(
      "langevin.particles", .free, "particles of each chain",
      { c, v, x in c.langevin.particles = try integer(v, x, min: 2) }, { "\($0.langevin.particles)" }),
    key(
      "langevin.step_size", .free, "Langevin step size h on f",
      { c, v, x in c.langevin.stepSize = try number(v, x, above: 0) }, { "\($0.langevin.stepSize)" }),
    key(
      "langevin.beta", .free, "inverse temperature: p ~ exp(-beta f)",
      { c, v, x in c.langevin.beta = try number(v, x, above: 0) }, { renderNumber($0.langevin.beta) }),
    key(
      "langevin.every", .free, "LMC-NPF: a jump through the factorization every this many steps",
      { c, v, x in c.langevin.every = try integer(v, x, min: 1) }, { "\($0.langevin.every)" }),
    key(
      "langevin.inner", .free, "LMC-NPF: Langevin steps on u per jump",
      { c, v, x in c.langevin.inner = try integer(v, x, min: 0) }, { "\($0.langevin.inner)" }),
    key(
      "langevin.inner_step_size", .free, "LMC-NPF: step size of the Langevin steps on u",
      { c, v, x in c.langevin.innerStepSize = try number(v, x, above: 0) }, { "\($0.langevin.innerStepSize)" }),
    key(
      "langevin.start", .free, "start every particle here (plus N(0, 0.01 I)); [] draws x_0 ~ rho",
      { c, v, x in c.langevin.start = try numbers(v, x) }, { renderList($0.langevin.start.map(renderNumber)) }),
    key(
      "langevin.warmup", .free, "LMC-NPF: plain Langevin steps before the first jump",
      { c, v, x in c.langevin.warmup = try integer(v, x, min: 0) }, { "\($0.langevin.warmup)" }),
    key(
      "langevin.refresh", .free,
      "LMC-NPF: training steps of u, the amortizer, M_net and the bridge on the current particles after every step (0: none)",
      { c, v, x in c.langevin.refresh = try integer(v, x, min: 0) }, { "\($0.langevin.refresh)" }),
    key(
      "langevin.refresh_lr", .free, "the refresh's learning rates: each stage's initial rate times this, constant",
      { c, v, x in c.langevin.refreshLR = try number(v, x, above: 0) }, { renderNumber($0.langevin.refreshLR) }),
  ]

  /// The paths of the keys of one resume class, in table order.
  static func paths(_ resume: ResumeClass) -> [String] { all.filter { $0.resume == resume }.map(\.path) }

  /// " (did you mean 'x'?)" for a near miss.
  static func suggestion(_ key: String) -> String {
    let best = all.map { ($0.path, editDistance($0.path, key)) }.min { $0.1 < $1.1 }
    guard let best, best.1 <= 3 else { return "" }
    return " (did you mean '\(best.0)'?)"
  }
}

func editDistance(_ a: String, _ b: String) -> Int {
  let a = Array(a), b = Array(b)
  var row = Array(0 ... b.count)
  for i in 1 ... max(a.count, 1) where !a.isEmpty {
    var next = [i] + [Int](repeating: 0, count: b.count)
    for j in 1 ... max(b.count, 1) where !b.isEmpty {
      next[j] = min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
    }
    row = next
  }
  return row[b.count]
}
