// The exact sum's one rounding back to floating point: S = t 2^64 + m 2^32 + l held in three
// exact integer doubles, rounded to the nearest double (ties to even) by converting the
// magnitude's top 63 bits with a sticky bit for the rest (far below the 53-bit rounding
// position, so the hardware's one rounding is the rounding of S), then scaled by a power of two
// (exact in the normal range a float sum lives in) and rounded to float.
#include "CKernels.h"
#include <stdint.h>
#include <string.h>

static double pow2(int k) {  // 2^k, -1022 <= k <= 1023
  uint64_t bits = (uint64_t)(1023 + k) << 52;
  double v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

static double rounded(__int128 s) {
  int negative = s < 0;
  unsigned __int128 mag = negative ? -(unsigned __int128)s : (unsigned __int128)s;
  uint64_t hi = (uint64_t)(mag >> 64), lo = (uint64_t)mag;
  double v;
  if (hi == 0) {
    v = (lo >> 63) == 0 ? (double)(int64_t)lo : (double)lo;
  } else {
    int lz = __builtin_clzll(hi);  // |S| < 2^117: lz >= 11
    uint64_t top = hi << (lz - 1) | lo >> (65 - lz);
    uint64_t sticky = (lo << (lz - 1)) != 0;
    v = (double)(int64_t)(top | sticky) * pow2(65 - lz);
  }
  return negative ? -v : v;
}

void pt_exact_value_f32(const short *fields, const double *digits, long n, float *result) {
  const double *d0 = digits, *d1 = digits + n, *d2 = digits + 2 * n;
  for (long e = 0; e < n; e++) {
    if (fields[e] == 255) continue;
    __int128 s = ((__int128)(int64_t)d0[e] << 64) + ((__int128)(int64_t)d1[e] << 32) + (int64_t)d2[e];
    result[e] = (float)(rounded(s) * pow2(fields[e] - 126 - 96));
  }
}
