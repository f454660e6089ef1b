// CKernels: the few loops Swift cannot vectorise past SSE2 without unsafe flags (the package
// builds for baseline x86-64). Each has an AVX2 body chosen at run time and a portable body with
// the same arithmetic in the same order, so results do not depend on which ran.
#pragma once

/// The exact sum's digit kernel (SwiftMPI/ExactSum.swift): for e in [0, m), with the element's
/// shared biased exponent field f = fields[e] (E = f - 126) and grid factor g = 2^(32 - E), and
/// each contribution j in [0, k), x = (double)c[j n + e] * g (|x| < 2^32),
/// x = q0 + q1 2^-32 + (rounding below 2^-32) with integer digits (round to nearest, ties to
/// even), digits[e] += q0, digits[n + e] += q1.
void pt_exact_digits_f32(const float *c, long k, long m, long n, const short *fields, double *digits);

/// The same without AVX2, whatever the processor (for tests comparing the two bodies).
void pt_exact_digits_f32_portable(const float *c, long k, long m, long n, const short *fields, double *digits);

/// 1 when the AVX2 body runs on this processor (for benchmarks to state), else 0.
int pt_kernels_avx2(void);

/// The exact sum's conversion back (SwiftMPI/ExactSum.swift, FixedPointSum.value): for each
/// element e with a finite shared exponent field f = fields[e] (f != 255), the integer
/// S = digits[e] 2^32 + digits[n + e] (exact integers below 2^53) times 2^(f - 126 - 64), rounded
/// to the nearest double once, then to float. Elements with f == 255 are left alone.
void pt_exact_value_f32(const short *fields, const double *digits, long n, float *result);
