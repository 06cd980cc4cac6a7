/* fp16.c - binary16 by bit manipulation, so results do not depend on the
 * compiler's or the CPU's support for _Float16. */
#include "fp16.h"

#include <math.h>
#include <string.h>

uint16_t fp16_from_double(double d) {
  uint64_t b;
  memcpy(&b, &d, sizeof b);
  uint16_t sign = (uint16_t)((b >> 48) & 0x8000);
  int exp = (int)((b >> 52) & 0x7ff);
  uint64_t man = b & 0xfffffffffffffull;
  if (exp == 0x7ff)
    return sign | 0x7c00 | (man ? 0x200 : 0);
  int e = exp - 1023;            /* unbiased exponent */
  if (exp == 0 || e < -26)       /* zero, double subnormal, or below half the least fp16 */
    return sign;
  if (e > 15)
    return sign | 0x7c00;
  /* 53-bit significand with the hidden bit */
  uint64_t sig = man | (1ull << 52);
  int shift;                     /* bits to drop to land on fp16's precision */
  uint16_t hexp;
  if (e >= -14) {                /* normal */
    shift = 42;
    hexp = (uint16_t)(e + 15);
  } else {                       /* subnormal: scale so the LSB is 2^-24 */
    shift = 42 + (-14 - e);
    hexp = 0;
  }
  uint64_t keep = sig >> shift;
  uint64_t rem = sig & ((1ull << shift) - 1);
  uint64_t half = 1ull << (shift - 1);
  if (rem > half || (rem == half && (keep & 1)))
    keep++;
  if (hexp == 0)                 /* subnormal: keep is the whole encoding */
    return sign | (uint16_t)keep;
  /* keep holds 1.xxxxxxxxxx; a carry out bumps the exponent */
  if (keep >> 11) {
    keep >>= 1;
    hexp++;
  }
  if (hexp >= 31)
    return sign | 0x7c00;
  return sign | (uint16_t)(hexp << 10) | (uint16_t)(keep & 0x3ff);
}

uint16_t fp16_from_float(float f) { return fp16_from_double((double)f); }

float fp16_to_float(uint16_t h) {
  int exp = (h >> 10) & 0x1f;
  int man = h & 0x3ff;
  float v;
  if (exp == 0)
    v = ldexpf((float)man, -24);
  else if (exp == 31)
    v = man ? NAN : INFINITY;
  else
    v = ldexpf((float)(man | 0x400), exp - 25);
  return (h & 0x8000) ? -v : v;
}

double fp16_round(double d) { return fp16_to_float(fp16_from_double(d)); }
