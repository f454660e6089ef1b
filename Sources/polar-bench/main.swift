// polar-bench: the kernel half of launch/bench, in one process on one core (OPENBLAS_NUM_THREADS=1).
//
//   polar-bench [--quick]   -> one JSON object on stdout
//
// 1. sgemm's rate on this core: square products (the machine's ceiling) and the shapes of the
//    ICNN's inner loop (batch x width times width x width).
// 2. The conjugate solve's inner loop: u(x) and grad u(x) of the ICNN on a batch, what every
//    L-BFGS iteration evaluates: through ICNNEvaluator (what the solver runs; "evaluator") and
//    the layer-by-layer ICNN.valueAndGradient, for widths 64..256, d = 2 and 16, rank 1, 4
//    hidden layers, batches 64 (one exact-mode micro-batch) and 1024; and the defaults of high d
//    (issue 17): d = 64, 128 and 256, [128]^4, rank 4, batch 512 (a rank's half of a batch of
//    1024 on 2 ranks).
//
// FLOP model (multiply-adds count 2; only the matrix products, no elementwise work), for batch B,
// input d, hidden widths h_1..h_L, h_{L+1} = 1, rank r:
//   forward:  W_k z_k              2 B h_k h_{k+1}                 (k = 1..L)
//             Q_k(x), width w      2 B d w (r + 2)                 (x A, x^2 diag, x b; k = 0..L)
//             q(x), rank d         2 B d (d + 2)
//   backward to x: the same products transposed, the same count.
// So valueAndGradient costs 2 x [2B sum_k h_k h_{k+1} + 2B d (r + 2) sum_k w_k + 2B d (d + 2)].
import Foundation
import PolarCore

let quick = CommandLine.arguments.contains("--quick")

/// One configuration of the inner loop: the ICNN [width]^4 of the given rank, elu, on d inputs, and
/// a batch of points; u and grad u either layer by layer or through ICNNEvaluator.
final class InnerLoop {
  let net: ICNN, params: [Float], diag: [Matrix<Float>], x: Matrix<Float>, evaluator: ICNNEvaluator<Float>
  var u: [Float], g: [Float]

  init(dim d: Int, width: Int, batch: Int, rank: Int = 1) {
    net = ICNN(dim: d, hidden: [Int](repeating: width, count: 4), rank: rank, activation: .elu)
    params = net.initialParameters(seed: 1)
    diag = net.diagonals(params)
    var x = Matrix<Float>(rows: batch, cols: d)
    for i in x.storage.indices { x.storage[i] = Float(sin(Double(i) * 0.7)) }
    self.x = x
    evaluator = ICNNEvaluator<Float>(net, capacity: batch)
    evaluator.load(params)
    u = [Float](repeating: 0, count: batch)
    g = [Float](repeating: 0, count: batch * d)
  }

  /// ICNN.valueAndGradient (new matrices per call); returns a value to keep the work alive.
  func layers() -> Float {
    let (u, g) = net.valueAndGradient(params, x, diagonals: diag)
    return u[0] + g.storage[0]
  }

  /// ICNNEvaluator (packed quadratics, preallocated buffers), what the conjugate solver runs.
  func packed() -> Float {
    x.storage.withUnsafeBufferPointer { evaluator.evaluate($0.baseAddress!, rows: x.rows, u: &u, grad: &g) }
    return u[0] + g[0]
  }
}

// --profile D WIDTH BATCH CALLS [--layers]: only CALLS evaluations of one configuration through
// ICNNEvaluator (--layers: the layer-by-layer ICNN.valueAndGradient), for a profiler
// (valgrind --tool=callgrind .build/release/polar-bench --profile 2 64 1024 50).
if let i = CommandLine.arguments.firstIndex(of: "--profile") {
  let v = CommandLine.arguments.dropFirst(i + 1).compactMap { Int($0) }
  guard v.count == 4 else { fatalError("usage: polar-bench --profile D WIDTH BATCH CALLS") }
  let loop = InnerLoop(dim: v[0], width: v[1], batch: v[2])
  let layers = CommandLine.arguments.contains("--layers")
  var sink: Float = 0
  for _ in 0 ..< v[3] { sink += layers ? loop.layers() : loop.packed() }
  print(sink)
  exit(0)
}

func now() -> Double {
  var t = timespec()
  clock_gettime(CLOCK_MONOTONIC, &t)
  return Double(t.tv_sec) + Double(t.tv_nsec) * 1e-9
}

/// Seconds per call of `body`: `repeats` timings of as many calls as fill about `target` seconds
/// (measured after one warm-up call); median, min and max.
func time(repeats: Int = quick ? 3 : 7, target: Double = quick ? 0.05 : 0.2, _ body: () -> Void) -> (median: Double, min: Double, max: Double) {
  body()
  let t0 = now()
  body()
  let once = max(now() - t0, 1e-7)
  let calls = max(1, Int(target / once))
  var samples = [Double]()
  for _ in 0 ..< repeats {
    let start = now()
    for _ in 0 ..< calls { body() }
    samples.append((now() - start) / Double(calls))
  }
  samples.sort()
  return (samples[samples.count / 2], samples.first!, samples.last!)
}

func summary(_ t: (median: Double, min: Double, max: Double), flops: Double) -> [String: Any] {
  [
    "seconds_median": t.median, "seconds_min": t.min, "seconds_max": t.max,
    "gflops_median": flops / t.median / 1e9, "gflops_best": flops / t.min / 1e9, "flops": flops,
  ]
}

// --- sgemm ---------------------------------------------------------------------------------------
func sgemm(m: Int, n: Int, k: Int) -> [String: Any] {
  let a = [Float](repeating: 0.5, count: m * k), b = [Float](repeating: 0.25, count: k * n)
  var c = [Float](repeating: 0, count: m * n)
  let t = time {
    a.withUnsafeBufferPointer { pa in
      b.withUnsafeBufferPointer { pb in
        c.withUnsafeMutableBufferPointer { pc in
          Float.gemm(
            transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: pa.baseAddress!, lda: k,
            b: pb.baseAddress!, ldb: n, beta: 0, c: pc.baseAddress!, ldc: n)
        }
      }
    }
  }
  var s = summary(t, flops: 2 * Double(m) * Double(n) * Double(k))
  s["m"] = m; s["n"] = n; s["k"] = k
  return s
}

var gemms = [[String: Any]]()
for size in quick ? [512] : [512, 1024] { gemms.append(sgemm(m: size, n: size, k: size)) }
for (b, w) in [(64, 64), (1024, 64), (1024, 128), (1024, 256)] { gemms.append(sgemm(m: b, n: w, k: w)) }
let peak = gemms.filter { ($0["m"] as! Int) == ($0["k"] as! Int) }.map { $0["gflops_best"] as! Double }.max()!

// --- the ICNN's value and input gradient ----------------------------------------------------------
func icnnFlops(batch b: Int, dim d: Int, hidden: [Int], rank r: Int) -> Double {
  let widths = hidden + [1]
  var products = 0.0
  for k in 0 ..< hidden.count { products += Double(widths[k] * widths[k + 1]) }
  let quadWidths = widths.reduce(0, +)
  let forward = 2 * Double(b) * (products + Double(d * (r + 2) * quadWidths) + Double(d * (d + 2)))
  return 2 * forward
}

var icnns = [[String: Any]]()
var shapes: [(d: Int, width: Int, batch: Int, rank: Int)] = []
for d in [2, 16] {
  for width in quick ? [64] : [64, 128, 256] {
    for batch in [64, 1024] { shapes.append((d, width, batch, 1)) }
  }
}
for d in quick ? [64] : [64, 128, 256] { shapes.append((d, 128, 512, 4)) }
for (d, width, batch, rank) in shapes {
  let hidden = [Int](repeating: width, count: 4)
  let loop = InnerLoop(dim: d, width: width, batch: batch, rank: rank)
  var sink: Float = 0
  let t = time { sink += loop.layers() }
  let te = time { sink += loop.packed() }
  precondition(sink.isFinite)
  let flops = icnnFlops(batch: batch, dim: d, hidden: hidden, rank: rank)
  var s = summary(t, flops: flops)
  s["dim"] = d; s["width"] = width; s["depth"] = 4; s["rank"] = rank; s["batch"] = batch
  s["fraction_of_sgemm_peak"] = flops / t.median / 1e9 / peak
  s["evaluator"] = summary(te, flops: flops)
  s["evaluator_fraction_of_sgemm_peak"] = flops / te.median / 1e9 / peak
  icnns.append(s)
}

let result: [String: Any] = [
  "blas": ["config": BLASInfo.config, "core": BLASInfo.coreName, "threads": BLASInfo.threads],
  "sgemm": gemms,
  "sgemm_peak_gflops": peak,
  "icnn_value_and_gradient": icnns,
  "flop_model": "matrix products only, multiply-add = 2 FLOP: valueAndGradient = 2 x forward, "
    + "forward = 2B (sum_k h_k h_k+1 + d (r + 2) sum_k w_k + d (d + 2))",
]
let data = try! JSONSerialization.data(withJSONObject: result, options: [.prettyPrinted, .sortedKeys])
print(String(decoding: data, as: UTF8.self))
