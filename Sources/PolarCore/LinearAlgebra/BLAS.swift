// The BLAS operations the models need, generic over Float and Double (sgemm/dgemm, ...), on
// row-major storage. Each wrapper states the operation it computes.
import CBLAS
import RealModule

/// Float or Double: a BLAS type with elementary functions (RealModule's Real: exp, log, ...).
public protocol BLASScalar: BinaryFloatingPoint, Real, Sendable, BitwiseCopyable
where Self.RawSignificand: FixedWidthInteger {
  /// C <- alpha * op(A) * op(B) + beta * C; op(A) is m x k, op(B) is k x n, C is m x n.
  static func gemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Self,
    a: UnsafePointer<Self>, lda: Int, b: UnsafePointer<Self>, ldb: Int,
    beta: Self, c: UnsafeMutablePointer<Self>, ldc: Int)
  /// y <- alpha * op(A) * x + beta * y; A is m x n (row-major).
  static func gemv(
    trans: Bool, m: Int, n: Int, alpha: Self, a: UnsafePointer<Self>, lda: Int,
    x: UnsafePointer<Self>, incx: Int, beta: Self,
    y: UnsafeMutablePointer<Self>, incy: Int)
  /// y <- alpha * x + y.
  static func axpy(
    n: Int, alpha: Self, x: UnsafePointer<Self>, incx: Int,
    y: UnsafeMutablePointer<Self>, incy: Int)
  /// x . y
  static func dot(n: Int, x: UnsafePointer<Self>, incx: Int, y: UnsafePointer<Self>, incy: Int) -> Self
  /// x <- alpha * x.
  static func scal(n: Int, alpha: Self, x: UnsafeMutablePointer<Self>, incx: Int)
}

@inline(__always) private func t(_ transposed: Bool) -> CBLAS_TRANSPOSE {
  transposed ? CblasTrans : CblasNoTrans
}
@inline(__always) private func i32(_ n: Int) -> blasint {
  precondition(n >= 0 && n <= Int(blasint.max), "BLAS dimension \(n) out of range")
  return blasint(n)
}

extension Float: BLASScalar {
  public static func gemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    cblas_sgemm(
      CblasRowMajor, t(transA), t(transB), i32(m), i32(n), i32(k), alpha, a, i32(lda),
      b, i32(ldb), beta, c, i32(ldc))
  }
  public static func gemv(
    trans: Bool, m: Int, n: Int, alpha: Float, a: UnsafePointer<Float>,
    lda: Int, x: UnsafePointer<Float>, incx: Int, beta: Float,
    y: UnsafeMutablePointer<Float>, incy: Int
  ) {
    cblas_sgemv(
      CblasRowMajor, t(trans), i32(m), i32(n), alpha, a, i32(lda), x, i32(incx), beta,
      y, i32(incy))
  }
  public static func axpy(
    n: Int, alpha: Float, x: UnsafePointer<Float>, incx: Int,
    y: UnsafeMutablePointer<Float>, incy: Int
  ) {
    cblas_saxpy(i32(n), alpha, x, i32(incx), y, i32(incy))
  }
  public static func dot(
    n: Int, x: UnsafePointer<Float>, incx: Int, y: UnsafePointer<Float>,
    incy: Int
  ) -> Float {
    cblas_sdot(i32(n), x, i32(incx), y, i32(incy))
  }
  public static func scal(n: Int, alpha: Float, x: UnsafeMutablePointer<Float>, incx: Int) {
    cblas_sscal(i32(n), alpha, x, i32(incx))
  }
}

extension Double: BLASScalar {
  public static func gemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double,
    a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
    beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int
  ) {
    cblas_dgemm(
      CblasRowMajor, t(transA), t(transB), i32(m), i32(n), i32(k), alpha, a, i32(lda),
      b, i32(ldb), beta, c, i32(ldc))
  }
  public static func gemv(
    trans: Bool, m: Int, n: Int, alpha: Double, a: UnsafePointer<Double>,
    lda: Int, x: UnsafePointer<Double>, incx: Int, beta: Double,
    y: UnsafeMutablePointer<Double>, incy: Int
  ) {
    cblas_dgemv(
      CblasRowMajor, t(trans), i32(m), i32(n), alpha, a, i32(lda), x, i32(incx), beta,
      y, i32(incy))
  }
  public static func axpy(
    n: Int, alpha: Double, x: UnsafePointer<Double>, incx: Int,
    y: UnsafeMutablePointer<Double>, incy: Int
  ) {
    cblas_daxpy(i32(n), alpha, x, i32(incx), y, i32(incy))
  }
  public static func dot(
    n: Int, x: UnsafePointer<Double>, incx: Int, y: UnsafePointer<Double>,
    incy: Int
  ) -> Double {
    cblas_ddot(i32(n), x, i32(incx), y, i32(incy))
  }
  public static func scal(n: Int, alpha: Double, x: UnsafeMutablePointer<Double>, incx: Int) {
    cblas_dscal(i32(n), alpha, x, i32(incx))
  }
}

/// OpenBLAS build facts, for `doctor` and benchmarks.
public enum BLASInfo {
  /// openblas_get_config(), e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64".
  public static var config: String { String(cString: openblas_get_config()) }
  /// The kernel in use (openblas_get_corename), e.g. "Haswell".
  public static var coreName: String { String(cString: openblas_get_corename()) }
  /// Threads OpenBLAS will use (set OPENBLAS_NUM_THREADS=1 per rank).
  public static var threads: Int { Int(openblas_get_num_threads()) }
  /// 0 sequential, 1 pthreads, 2 OpenMP.
  public static var parallelism: Int { Int(openblas_get_parallel()) }
  public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }
}
