// The exact sum's digit extraction (Rump, Ogita & Oishi, "Accurate floating-point summation
// part I", SIAM J. Sci. Comput. 31, 2008, ExtractScalar): for |x| < 2^52, q = (x + 1.5 2^52)
// - 1.5 2^52 is x rounded to an integer, ties to even, and x - q is exact. Every operation is a
// single IEEE operation (no contraction into FMA), so both bodies give the same bits.
#include "CKernels.h"
#include <cpuid.h>
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

static const double ROUND = 6755399441055744.0;  // 1.5 2^52
static const double TWO32 = 4294967296.0;

// 2^(32 - E) = 2^(158 - f) for a float's biased exponent field f (a finite factor for every f).
static double grid(short f) {
  uint64_t bits = (uint64_t)(1023 + 158 - f) << 52;
  double g;
  memcpy(&g, &bits, sizeof g);
  return g;
}

static void digits_portable(const float *c, long k, long m, long n, const short *fields, double *d) {
  for (long e = 0; e < m; e++) {
    double s0 = d[e], s1 = d[n + e], g = grid(fields[e]);
    for (long j = 0; j < k; j++) {
      double x = (double)c[j * n + e] * g;
      double q0 = (x + ROUND) - ROUND;
      double r0 = (x - q0) * TWO32;
      double q1 = (r0 + ROUND) - ROUND;
      s0 += q0;
      s1 += q1;
    }
    d[e] = s0;
    d[n + e] = s1;
  }
}

// Four elements per vector; the digit sums stay in registers while the k contributions stream past.
__attribute__((target("avx2")))
static void digits_avx2(const float *c, long k, long m, long n, const short *fields, double *d) {
  const __m256d round = _mm256_set1_pd(ROUND), two32 = _mm256_set1_pd(TWO32);
  const __m256i bias = _mm256_set1_epi64x(1023 + 158);
  long e = 0;
  for (; e + 4 <= m; e += 4) {
    __m256i f = _mm256_cvtepi16_epi64(_mm_loadl_epi64((const __m128i *)(fields + e)));
    __m256d g = _mm256_castsi256_pd(_mm256_slli_epi64(_mm256_sub_epi64(bias, f), 52));  // grid(f)
    __m256d s0 = _mm256_loadu_pd(d + e), s1 = _mm256_loadu_pd(d + n + e);
    for (long j = 0; j < k; j++) {
      __m256d x = _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(c + j * n + e)), g);
      __m256d q0 = _mm256_sub_pd(_mm256_add_pd(x, round), round);
      __m256d r0 = _mm256_mul_pd(_mm256_sub_pd(x, q0), two32);
      __m256d q1 = _mm256_sub_pd(_mm256_add_pd(r0, round), round);
      s0 = _mm256_add_pd(s0, q0);
      s1 = _mm256_add_pd(s1, q1);
    }
    _mm256_storeu_pd(d + e, s0);
    _mm256_storeu_pd(d + n + e, s1);
  }
  digits_portable(c + e, k, m - e, n, fields + e, d + e);
}

// AVX2 in CPUID leaf 7 and the YMM state enabled by the OS (XCR0 bits 1-2).
static int detect_avx2(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) return 0;
  unsigned lo, hi;
  __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & 6) != 6) return 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
  return (b & bit_AVX2) != 0;
}

void pt_exact_digits_f32_portable(const float *c, long k, long m, long n, const short *fields, double *digits) {
  digits_portable(c, k, m, n, fields, digits);
}

int pt_kernels_avx2(void) {
  static int cached = -1;
  if (cached < 0) cached = detect_avx2();
  return cached;
}

void pt_exact_digits_f32(const float *c, long k, long m, long n, const short *fields, double *digits) {
  if (pt_kernels_avx2()) digits_avx2(c, k, m, n, fields, digits);
  else digits_portable(c, k, m, n, fields, digits);
}
