// The exact sum's one rounding back to floating point: S = t 2^32 + l held in two exact integer
// doubles (|t|, |l| < 2^53), so t 2^32 and l are exact and one IEEE addition rounds S to the
// nearest double (ties to even); the scaling by 2^(E - 64) is exact in the normal range a float
// sum lives in; then to float. No branches but the non-finite elements'.
#include "CKernels.h"
#include <stdint.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

static double pow2(int k) {  // 2^k, -1022 <= k <= 1023
  uint64_t bits = (uint64_t)(1023 + k) << 52;
  double v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

void pt_exact_value_f32(const short *fields, const double *digits, long n, float *result) {
  const double *d0 = digits, *d1 = digits + n;
  for (long e = 0; e < n; e++) {
    if (fields[e] == 255) continue;
    double s = d0[e] * 4294967296.0 + d1[e];
    result[e] = (float)(s * pow2(fields[e] - 126 - 64));
  }
}
