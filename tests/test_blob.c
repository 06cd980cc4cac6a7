/* test_blob.c - the PRNG, the weight initialisers and the MILBlob v2 writer.
 *
 * Expected values come from outside the code under test:
 *  - splitmix64 from seed 1234567 (the published Rosetta Code sequence) and
 *    xoshiro256** from state {1, 2, 3, 4} (the authors' reference outputs);
 *  - tests/prng_ref.py, an independent Python implementation of the same
 *    specification (PRNG, block streams, normals);
 *  - the exact normal distribution (erfc) for the quantile of each draw and
 *    a chi-square test;
 *  - byte layouts computed by hand from FORMATS.md §1 (offsets in comments). */
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "blob.h"
#include "check_main.h"
#include "fp16.h"
#include "tensor.h"
#include "wtest.h"

/* ---- the PRNG ------------------------------------------------------------ */

START_TEST(test_splitmix_seeding) {
  Prng r;
  prng_seed(&r, 1234567);
  ck_assert_uint_eq(r.s[0], 6457827717110365317u);
  ck_assert_uint_eq(r.s[1], 3203168211198807973u);
  ck_assert_uint_eq(r.s[2], 9817491932198370423u);
  ck_assert_uint_eq(r.s[3], 4593380528125082431u);
}
END_TEST

START_TEST(test_xoshiro_reference) {
  Prng r = {{1, 2, 3, 4}};
  static const uint64_t want[] = {11520u, 0u, 1509978240u, 1215971899390074240u,
                                  1216172134540287360u, 607988272756665600u};
  for (int i = 0; i < 6; i++)
    ck_assert_uint_eq(prng_next(&r), want[i]);
}
END_TEST

START_TEST(test_prng_streams) {
  Prng r;
  prng_seed(&r, 0);
  ck_assert_uint_eq(prng_next(&r), 0x99ec5f36cb75f2b4u);
  ck_assert_uint_eq(prng_next(&r), 0xbf6e1f784956452au);
  ck_assert_uint_eq(prng_next(&r), 0x1a5f849d4933e6e0u);
  prng_seed(&r, 42);
  ck_assert_uint_eq(prng_next(&r), 0x15780b2e0c2ec716u);
  ck_assert_uint_eq(prng_next(&r), 0x6104d9866d113a7eu);
  /* uniform = top 53 bits * 2^-53 of the same stream */
  prng_seed(&r, 42);
  ck_assert(prng_uniform(&r) == 0x1.5780b2e0c2ec0p-4);
  ck_assert(prng_uniform(&r) == 0x1.84136619b444ep-2);
  ck_assert(prng_uniform(&r) == 0x1.5c2ea66473c93p-1);
}
END_TEST

/* Elements [start, start + n) of s into out; the fill must succeed. */
static void fill_ok(const MilBlobSrc *s, int64_t start, int64_t n, void *out) {
  Diag d = diag_stderr();
  ck_assert_int_eq(blob_fill(s, start, n, out, &d), 0);
}

/* n standard normals (fp32) from a blob stream: element k of seed. */
static float *normals(uint64_t seed, int n) {
  MilBlobSrc s = {.dtype = MIL_FP32, .numel = n, .init = MIL_INIT_NORMAL, .a = 0, .b = 1,
                  .seed = seed};
  float *z = malloc((size_t)n * sizeof *z);
  ck_assert_ptr_nonnull(z);
  fill_ok(&s, 0, n, z);   /* little-endian host */
  return z;
}

/* Q(w): the z > 0 with P(|Z| > z) = erfc(z / sqrt 2) = w, by bisection
 * (erfc falls as z grows). */
static double quantile(double w) {
  double lo = 0, hi = 40;
  for (int i = 0; i < 200; i++) {
    double mid = (lo + hi) / 2;
    if (erfc(mid / sqrt(2)) > w)
      lo = mid;
    else
      hi = mid;
  }
  return (lo + hi) / 2;
}

/* The draw whose w = (2m + 1) 2^-31 (m < 2^30), with the sign bit. */
static uint32_t draw_of(uint32_t m, bool negative) {
  return m | (negative ? 0x80000000u : 0);
}

/* Each draw's value is the normal quantile of its w to a relative 1e-6,
 * in every segment of w: 16 points in each octave from 2^-31 to 1. */
START_TEST(test_normal_quantile) {
  double worst = 0;
  for (int e = 0; e < 30; e++)
    for (uint32_t k = 0; k <= 16; k++) {
      uint32_t m = (1u << e) + (uint32_t)(((uint64_t)k << e) / 16);
      if (k == 16)
        m = (2u << e) - 1;
      float wf = (float)(2.0 * m + 1) * 0x1p-31f;   /* as the generator rounds it */
      double want = wf == 1 ? 0 : quantile(wf);
      float got = blob_normal_draw(draw_of(m, false));
      ck_assert_msg(fabs(got - want) <= 1e-6 * want, "m %u: %.9g, want %.9g", m, got, want);
      if (want > 0)
        worst = fmax(worst, fabs(got - want) / want);
      ck_assert(blob_normal_draw(draw_of(m, true)) == -got);
      ck_assert(blob_normal_draw(draw_of(m, false) | 0x40000000u) == got);   /* bit 30 unused */
    }
  /* the ends: w = 2^-31 gives the largest value, -Phi^-1(2^-32) = 6.2302601
   * (Python's NormalDist), and w rounded to 1 gives 0 */
  ck_assert_double_eq_tol(blob_normal_draw(draw_of(0, false)), 6.2302601, 6.3e-6);
  ck_assert(blob_normal_draw(draw_of((1u << 30) - 1, false)) == 0);
  ck_assert_double_lt(worst, 1e-6);
}
END_TEST

START_TEST(test_normal_bits) {
  /* prng_ref.py: a fold of the bits of block 0 of normal(0, 1), seed 1 */
  float *z = normals(1, 4096);
  uint64_t h = 0xcbf29ce484222325u;
  for (int i = 0; i < 4096; i++) {
    uint32_t b;
    memcpy(&b, &z[i], sizeof b);
    h = (h ^ b) * 0x100000001b3u;
  }
  free(z);
  ck_assert_uint_eq(h, 0xdf9df14fb7de071bu);
}
END_TEST

/* Chi-square of 10^6 draws in 34 bins (32 of width 1/4 on [-4, 4] and the
 * two tails) against the exact normal probabilities. */
START_TEST(test_normal_histogram) {
  enum { NB = 34, N = 1000000 };
  int count[NB] = {0};
  float *z = normals(2024, N);
  for (int i = 0; i < N; i++) {
    int b = z[i] < -4 ? 0 : z[i] >= 4 ? NB - 1 : 1 + (int)floor((z[i] + 4) * 4);
    count[b]++;
  }
  free(z);
  double chi2 = 0;
  for (int b = 0; b < NB; b++) {
    double lo = b == 0 ? -INFINITY : -4 + (b - 1) * 0.25;
    double hi = b == NB - 1 ? INFINITY : -4 + b * 0.25;
    double p = 0.5 * (erfc(lo / sqrt(2)) - erfc(hi / sqrt(2)));
    double e = p * N;
    chi2 += (count[b] - e) * (count[b] - e) / e;
  }
  /* 33 degrees of freedom: P(chi2 > 70) < 2e-4 */
  ck_assert_msg(chi2 < 70, "chi2 = %g", chi2);
  /* the tails are populated at their rate: P(|z| > 4) = 6.3e-5 */
  ck_assert_int_gt(count[0] + count[NB - 1], 30);
  ck_assert_int_lt(count[0] + count[NB - 1], 100);
}
END_TEST

START_TEST(test_normal_moments) {
  enum { N = 400000 };
  float *z = normals(5, N);
  double s1 = 0, s2 = 0, s4 = 0, big = 0;
  int tail = 0;
  for (int i = 0; i < N; i++) {
    double x = z[i];
    s1 += x;
    s2 += x * x;
    s4 += x * x * x * x;
    tail += fabs(x) > 1.959964;
    big = fmax(big, fabs(x));
  }
  free(z);
  /* mean 0, variance 1, kurtosis 3, P(|z| > 1.96) = 5%; bounds ~5 sigma */
  ck_assert_double_eq_tol(s1 / N, 0, 0.008);
  ck_assert_double_eq_tol(s2 / N, 1, 0.012);
  ck_assert_double_eq_tol(s4 / N, 3, 0.08);
  ck_assert_double_eq_tol((double)tail / N, 0.05, 0.0018);
  /* the largest value any draw gives: Q(2^-31) = 6.2303 */
  ck_assert_double_le(big, 6.2303);
}
END_TEST

/* Elements are not correlated with their neighbours (the two halves of one
 * word) nor with the element 16 on (the lane's next word). |rho| < 5/sqrt(N). */
START_TEST(test_normal_independent) {
  enum { N = 1 << 18 };
  float *z = normals(77, N);
  double next = 0, lane = 0;
  for (int i = 0; i + 1 < N; i++)
    next += (double)z[i] * z[i + 1];
  for (int i = 0; i + 16 < N; i++)
    lane += (double)z[i] * z[i + 16];
  free(z);
  ck_assert_double_eq_tol(next / (N - 1), 0, 5 / sqrt(N));
  ck_assert_double_eq_tol(lane / (N - 16), 0, 5 / sqrt(N));
}
END_TEST

/* ---- blob_fill ------------------------------------------------------------ */

static MilBlobSrc src_of(MilDtype dt, int64_t numel, MilInitKind init, double a, double b,
                         uint64_t seed) {
  MilBlobSrc s = {.dtype = dt, .numel = numel, .init = init, .a = a, .b = b, .seed = seed};
  return s;
}

START_TEST(test_fill_int8_uniform) {
  /* prng_ref.py: block 0 and block 1 of seed 7 */
  MilBlobSrc s = src_of(MIL_INT8, 5000, MIL_INIT_UNIFORM, -64, 63, 7);
  int8_t out[5000];
  fill_ok(&s, 0, 5000, out);
  static const int8_t b0[8] = {47, 30, 58, -44, 39, -29, -12, 54};
  static const int8_t b1[4] = {61, 49, -57, 33};
  ck_assert_mem_eq(out, b0, 8);
  ck_assert_mem_eq(out + 4096, b1, 4);
  int lo = 0, hi = 0;
  for (int i = 0; i < 5000; i++) {
    ck_assert_int_ge(out[i], -64);
    ck_assert_int_le(out[i], 63);
    lo += out[i] == -64;
    hi += out[i] == 63;
  }
  ck_assert_int_gt(lo, 0);   /* both ends are reachable */
  ck_assert_int_gt(hi, 0);
  /* a range starting inside a block gives the same elements */
  int8_t part[6];
  fill_ok(&s, 4094, 6, part);
  ck_assert_mem_eq(part, out + 4094, 6);
}
END_TEST

START_TEST(test_fill_fp16_normal) {
  /* prng_ref.py, little-endian fp16 of normal(0.5, 2), seed 9 */
  MilBlobSrc s = src_of(MIL_FP16, 9000, MIL_INIT_NORMAL, 0.5, 2.0, 9);
  uint8_t out[18000];
  fill_ok(&s, 0, 9000, out);
  static const uint8_t e0[8] = {0xc1, 0x3d, 0x45, 0x40, 0x08, 0xb4, 0x06, 0xb7};
  static const uint8_t e2[8] = {0xfe, 0x3c, 0x65, 0xbe, 0x50, 0x36, 0x07, 0x3d};
  ck_assert_mem_eq(out, e0, 8);
  ck_assert_mem_eq(out + 2 * 8192, e2, 8);
  /* a start inside a block */
  uint8_t part[6];
  fill_ok(&s, 8193, 3, part);
  ck_assert_mem_eq(part, e2 + 2, 6);
}
END_TEST

/* fp16 normals are the fp32 ones rounded by fp16_from_float, over scales
 * that reach fp16 subnormals, zero and infinity (an infinite sd takes the
 * portable code), and ranges that start and end inside a vector. */
START_TEST(test_fill_fp16_rounding) {
  enum { N = 16 * 4096 };
  static float f[N];
  static uint8_t h[2 * N];
  static const double sd[] = {1e-9, 1e-6, 0.01, 1.0, 3e4, INFINITY};
  for (int i = 0; i < 6; i++) {
    MilBlobSrc s32 = src_of(MIL_FP32, N, MIL_INIT_NORMAL, 0.0, sd[i], 100 + (uint64_t)i);
    MilBlobSrc s16 = s32;
    s16.dtype = MIL_FP16;
    fill_ok(&s32, 0, N, f);
    fill_ok(&s16, 3, N - 8, h);
    for (int k = 0; k < N - 8; k++)
      ck_assert_msg(wt_le(h + 2 * k, 2) == fp16_from_float(f[3 + k]), "sd %g element %d: %a",
                    sd[i], 3 + k, f[3 + k]);
  }
}
END_TEST

START_TEST(test_fill_fp32_normal) {
  /* prng_ref.py: normal(0, 0.01) in single precision, seed 5 */
  MilBlobSrc s = src_of(MIL_FP32, 3, MIL_INIT_NORMAL, 0, 0.01, 5);
  uint8_t out[12];
  fill_ok(&s, 0, 3, out);
  ck_assert_uint_eq(wt_le(out, 4), 0x3bc272bbu);
  ck_assert_uint_eq(wt_le(out + 4, 4), 0x3c107052u);
  ck_assert_uint_eq(wt_le(out + 8, 4), 0xba2cf16eu);
}
END_TEST

/* Neighbouring blocks do not share their streams: no element of block 1
 * repeats one of block 0 at a shift of up to 16 (the bug of seeding each
 * block's lanes from one running splitmix64 stream). */
START_TEST(test_fill_blocks_independent) {
  MilBlobSrc s = src_of(MIL_FP32, 2 * 4096, MIL_INIT_UNIFORM, -1, 1, 11);
  static uint32_t v[2 * 4096];
  fill_ok(&s, 0, 2 * 4096, v);
  for (int shift = 0; shift <= 16; shift++) {
    int same = 0;
    for (int j = 0; j + shift < 4096; j++)
      same += v[4096 + j] == v[j + shift];
    ck_assert_int_lt(same, 4);
  }
}
END_TEST

START_TEST(test_fill_fp32_uniform) {
  MilBlobSrc s = src_of(MIL_FP32, 3, MIL_INIT_UNIFORM, -1, 1, 3);
  uint8_t out[12];
  fill_ok(&s, 0, 3, out);
  static const uint8_t e[12] = {0x7b, 0xbb, 0x63, 0x3f, 0xf7, 0x23, 0x60, 0x3f,
                                0x4b, 0x94, 0x19, 0xbf};
  ck_assert_mem_eq(out, e, 12);
}
END_TEST

START_TEST(test_fill_const_rounding) {
  static const struct { MilDtype dt; double a; int nb; uint64_t bits; } c[] = {
    {MIL_INT8, 2.5, 1, 2},       {MIL_INT8, 3.5, 1, 4},      {MIL_INT8, -2.5, 1, 0xfe},
    {MIL_INT8, -3.5, 1, 0xfc},   {MIL_INT8, 2.4999, 1, 2},   {MIL_INT8, 127.5, 1, 0x7f},
    {MIL_INT8, 300, 1, 0x7f},    {MIL_INT8, -300, 1, 0x80},  {MIL_INT8, NAN, 1, 0},
    {MIL_UINT8, -1, 1, 0},       {MIL_UINT8, 255.5, 1, 255}, {MIL_UINT8, 0.5, 1, 0},
    {MIL_INT16, 40000, 2, 0x7fff}, {MIL_INT16, -1, 2, 0xffff}, {MIL_UINT16, 65535, 2, 0xffff},
    {MIL_INT32, -2147483649.0, 4, 0x80000000u}, {MIL_UINT32, 4294967295.4, 4, 0xffffffffu},
    {MIL_UINT32, 1e12, 4, 0xffffffffu},
    /* fp16 of 1/3: 0x3555; of 65520 (halfway to the overflow): inf */
    {MIL_FP16, 1.0 / 3, 2, 0x3555}, {MIL_FP16, 65520, 2, 0x7c00}, {MIL_FP16, -0.0, 2, 0x8000},
    {MIL_FP32, 0.1, 4, 0x3dcccccdu},
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    MilBlobSrc s = src_of(c[i].dt, 3, MIL_INIT_CONST, c[i].a, 0, 0);
    uint8_t out[12];
    fill_ok(&s, 0, 3, out);
    for (int k = 0; k < 3; k++)
      ck_assert_msg(wt_le(out + k * c[i].nb, c[i].nb) == c[i].bits, "case %zu: %s %g -> %llx",
                    i, mil_dtype_name(c[i].dt), c[i].a, wt_le(out + k * c[i].nb, c[i].nb));
  }
}
END_TEST

START_TEST(test_fill_subbyte_const) {
  uint8_t out[4];
  /* int4 -3 = 0xD in each nibble; 3 elements: 0xDD, then 0x0D and 4 pad bits */
  MilBlobSrc s = src_of(MIL_INT4, 3, MIL_INIT_CONST, -3, 0, 0);
  memset(out, 0xaa, sizeof out);
  fill_ok(&s, 0, 3, out);
  ck_assert_uint_eq(out[0], 0xdd);
  ck_assert_uint_eq(out[1], 0x0d);
  /* uint1 x 10: eight ones, then two */
  s = src_of(MIL_UINT1, 10, MIL_INIT_CONST, 1, 0, 0);
  fill_ok(&s, 0, 10, out);
  ck_assert_uint_eq(out[0], 0xff);
  ck_assert_uint_eq(out[1], 0x03);
  /* uint2 saturates 9 to 3 */
  s = src_of(MIL_UINT2, 4, MIL_INIT_CONST, 9, 0, 0);
  fill_ok(&s, 0, 4, out);
  ck_assert_uint_eq(out[0], 0xff);
}
END_TEST

/* A hand-built .npy: version 1.0, header padded to 128 bytes in all
 * (10 bytes of magic, version and length, then 118 = 0x76 of dict). */
static void write_npy(const char *path, const char *descr, const char *shape,
                      const void *data, size_t nbytes) {
  char dict[118];
  int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                   descr, shape);
  ck_assert_int_lt(n, 117);
  unsigned char buf[128 + 4096];
  memcpy(buf, "\x93NUMPY\x01\x00\x76\x00", 10);
  memset(buf + 10, ' ', 118);
  memcpy(buf + 10, dict, (size_t)n);
  buf[127] = '\n';
  memcpy(buf + 128, data, nbytes);
  wt_write(path, buf, 128 + nbytes);
}

START_TEST(test_fill_subbyte_packing) {
  char *p = wt_tmpfile("v.npy");
  uint8_t out[8];
  /* int4, LSB first: (1, -1) -> 0xF1, (7, -8) -> 0x87, (0, 3) -> 0x30, (-2, 5) -> 0x5E */
  static const int8_t v4[8] = {1, -1, 7, -8, 0, 3, -2, 5};
  write_npy(p, "|i1", "(8,)", v4, 8);
  MilBlobSrc s = src_of(MIL_INT4, 8, MIL_INIT_NPY, 0, 0, 0);
  s.path = p;
  fill_ok(&s, 0, 8, out);
  static const uint8_t e4[4] = {0xf1, 0x87, 0x30, 0x5e};
  ck_assert_mem_eq(out, e4, 4);
  /* uint3: 1 + 2<<3 + 3<<6 + 4<<9 + 5<<12 + 6<<15 + 7<<18 + 0<<21 = 0x1F58D1 */
  static const uint8_t v3[8] = {1, 2, 3, 4, 5, 6, 7, 0};
  write_npy(p, "|u1", "(8,)", v3, 8);
  s.dtype = MIL_UINT3;
  fill_ok(&s, 0, 8, out);
  static const uint8_t e3[3] = {0xd1, 0x58, 0x1f};
  ck_assert_mem_eq(out, e3, 3);
  /* uint6: 63 + 1<<6 + 32<<12 + 5<<18 = 0x16007F, then 4 more */
  static const uint8_t v6[8] = {63, 1, 32, 5, 0, 0, 0, 63};
  write_npy(p, "|u1", "(2, 4)", v6, 8);
  s.dtype = MIL_UINT6;
  fill_ok(&s, 0, 8, out);
  static const uint8_t e6[6] = {0x7f, 0x00, 0x16, 0x00, 0x00, 0xfc};
  ck_assert_mem_eq(out, e6, 6);
  wt_rmtmp(p);
}
END_TEST

START_TEST(test_fill_npy_convert) {
  char *p = wt_tmpfile("w.npy");
  /* fp32 LE: 1.0, -2.5, 0.1, 65504 */
  static const uint8_t f[16] = {0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0,
                                0xcd, 0xcc, 0xcc, 0x3d, 0, 0xe0, 0x7f, 0x47};
  write_npy(p, "<f4", "(2, 2)", f, 16);
  MilBlobSrc s = src_of(MIL_FP16, 4, MIL_INIT_NPY, 0, 0, 0);
  s.path = p;
  uint8_t out[8];
  fill_ok(&s, 0, 4, out);
  /* fp16: 0x3C00, 0xC100, 0x2E66 (0.1f rounds to 0x2E66), 0x7BFF */
  static const uint8_t e[8] = {0x00, 0x3c, 0x00, 0xc1, 0x66, 0x2e, 0xff, 0x7b};
  ck_assert_mem_eq(out, e, 8);
  /* int8 from fp32: 1, -2 (half to even), 0, 127 (saturated) */
  s.dtype = MIL_INT8;
  fill_ok(&s, 0, 4, out);
  static const uint8_t e8[4] = {1, 0xfe, 0, 0x7f};
  ck_assert_mem_eq(out, e8, 4);
  /* a middle range */
  fill_ok(&s, 2, 2, out);
  ck_assert_mem_eq(out, e8 + 2, 2);
  wt_rmtmp(p);
}
END_TEST

START_TEST(test_fill_npy_errors) {
  char *p = wt_tmpfile("w.npy");
  static const uint8_t z[32] = {0};
  MilBlobSrc s = src_of(MIL_FP16, 4, MIL_INIT_NPY, 0, 0, 0);
  s.path = p;
  uint8_t out[8];
  WtDiag w;
  wt_diag_begin(&w);
  write_npy(p, "<f8", "(4,)", z, 32);
  ck_assert_int_eq(blob_fill(&s, 0, 4, out, &w.d), -1);
  wt_assert_has(&w, "unsupported dtype '<f8'");
  write_npy(p, "<f4", "(5,)", z, 20);
  ck_assert_int_eq(blob_fill(&s, 0, 4, out, &w.d), -1);
  wt_assert_has(&w, "holds 5 elements, the weight has 4");
  write_npy(p, "<f4", "(4,)", z, 12);   /* 4 bytes short */
  ck_assert_int_eq(blob_fill(&s, 0, 4, out, &w.d), -1);
  wt_assert_has(&w, "has 12 bytes of data after the header, its shape and dtype need exactly 16");
  s.path = "/nonexistent/w.npy";
  ck_assert_int_eq(blob_fill(&s, 0, 4, out, &w.d), -1);
  wt_assert_has(&w, "/nonexistent/w.npy: error: cannot open");
  wt_diag_end(&w);
  wt_rmtmp(p);
}
END_TEST

START_TEST(test_fill_chunking) {
  /* any split of the range gives the same bytes as one call */
  static const MilDtype dts[] = {MIL_FP16, MIL_FP32, MIL_INT8, MIL_UINT16, MIL_INT4, MIL_UINT3};
  static const MilInitKind inits[] = {MIL_INIT_UNIFORM, MIL_INIT_NORMAL};
  const int64_t n = 13000;
  uint8_t *one = malloc(4 * n), *parts = malloc(4 * n);
  for (size_t t = 0; t < sizeof dts / sizeof dts[0]; t++)
    for (int k = 0; k < 2; k++) {
      MilBlobSrc s = src_of(dts[t], n, inits[k], -3, 5, 11 + t);
      fill_ok(&s, 0, n, one);
      int bits = mil_dtype_bits(dts[t]);
      memset(parts, 0x5a, 4 * n);
      static const int64_t cuts[] = {0, 8, 4096, 4104, 8192, 12000, 13000};
      for (int c = 0; c + 1 < 7; c++)
        fill_ok(&s, cuts[c], cuts[c + 1] - cuts[c], parts + cuts[c] * bits / 8);
      ck_assert_mem_eq(one, parts, (size_t)mil_blob_nbytes(dts[t], n));
    }
  free(one);
  free(parts);
}
END_TEST

START_TEST(test_fill_rejects) {
  WtDiag w;
  wt_diag_begin(&w);
  uint8_t out[16];
  MilBlobSrc s = src_of(MIL_INT8, 4, MIL_INIT_UNIFORM, 200, 300, 0);
  ck_assert_int_eq(blob_fill(&s, 0, 4, out, &w.d), -1);
  wt_assert_has(&w, "uniform(200, 300) holds no int8 value");
  s = src_of(MIL_FP64, 2, MIL_INIT_CONST, 1, 0, 0);
  ck_assert_int_eq(blob_fill(&s, 0, 2, out, &w.d), -1);
  wt_assert_has(&w, "cannot store fp64 weights");
  s = src_of(MIL_INT8, 4, MIL_INIT_CONST, 1, 0, 0);
  ck_assert_int_eq(blob_fill(&s, 2, 3, out, &w.d), -1);   /* past the end */
  wt_diag_end(&w);
}
END_TEST

/* ---- the file ------------------------------------------------------------ */

static int add(MilProg *p, MilDtype dt, int64_t numel, MilInitKind init, double a, double b,
               uint64_t seed) {
  return mil_add_blob(p, src_of(dt, numel, init, a, b, seed));
}

START_TEST(test_layout_worked_examples) {
  /* FORMATS.md §1.6: coremltools fp32[500] -> 64, 2176 */
  MilProg *p = mil_new("1.3");
  add(p, MIL_FP32, 500, MIL_INIT_CONST, 0, 0, 0);
  add(p, MIL_FP32, 500, MIL_INIT_CONST, 0, 0, 0);
  mil_layout_blobs(p);
  ck_assert_uint_eq(p->blobs[0].offset, 64);
  ck_assert_uint_eq(p->blobs[1].offset, 2176);
  mil_free(p);
  /* fp16[8,1,5,5] = 400 B at 64: next at 576 */
  p = mil_new("1.3");
  add(p, MIL_FP16, 200, MIL_INIT_CONST, 0, 0, 0);
  add(p, MIL_FP16, 200, MIL_INIT_CONST, 0, 0, 0);
  ck_assert_uint_eq(mil_layout_blobs(p), 576 + 64 + 400);
  ck_assert_uint_eq(p->blobs[1].offset, 576);
  mil_free(p);
  /* FluidAudio joint_decision: fp16[640,512] at 64, then 655488, then 656832 */
  p = mil_new("1.3");
  add(p, MIL_FP16, 640 * 512, MIL_INIT_CONST, 0, 0, 0);
  add(p, MIL_FP16, 640, MIL_INIT_CONST, 0, 0, 0);
  add(p, MIL_FP16, 1, MIL_INIT_CONST, 0, 0, 0);
  mil_layout_blobs(p);
  ck_assert_uint_eq(p->blobs[1].offset, 655488);
  ck_assert_uint_eq(p->blobs[2].offset, 656832);
  mil_free(p);
}
END_TEST

START_TEST(test_write_three_blobs) {
  /* fp32[500] = 1.0: meta 64, data 128..2128, pad to 2176
   * fp16[200] = -2.0: meta 2176, data 2240..2640, pad to 2688
   * int8[512*512] uniform: meta 2688, data 2752..264896 = end of file */
  MilProg *p = mil_new("1.3");
  add(p, MIL_FP32, 500, MIL_INIT_CONST, 1.0, 0, 0);
  add(p, MIL_FP16, 200, MIL_INIT_CONST, -2.0, 0, 0);
  add(p, MIL_INT8, 512 * 512, MIL_INIT_UNIFORM, -128, 127, 77);
  char *dir = wt_tmpdir();
  char *path = wt_path(dir, "weight.bin");
  Diag d = diag_stderr();
  ck_assert_int_eq(blob_write(p, path, &d), 0);
  size_t n;
  unsigned char *b = wt_read(path, &n);
  ck_assert_uint_eq(n, 264896);
  ck_assert_int_eq(wt_count_entries(dir), 1);   /* no temporary left */
  /* storage header: count 3, version 2, reserved zero */
  static const unsigned char head[8] = {3, 0, 0, 0, 2, 0, 0, 0};
  ck_assert_mem_eq(b, head, 8);
  for (int i = 8; i < 64; i++)
    ck_assert_uint_eq(b[i], 0);
  static const struct { size_t meta; unsigned code; unsigned long long size, data; } m[3] = {
    {64, 2, 2000, 128}, {2176, 1, 400, 2240}, {2688, 4, 262144, 2752},
  };
  for (int k = 0; k < 3; k++) {
    const unsigned char *q = b + m[k].meta;
    ck_assert_uint_eq(q[0], 0xef);
    ck_assert_uint_eq(q[1], 0xbe);
    ck_assert_uint_eq(q[2], 0xad);
    ck_assert_uint_eq(q[3], 0xde);
    ck_assert_uint_eq(wt_le(q + 4, 4), m[k].code);
    ck_assert_uint_eq(wt_le(q + 8, 8), m[k].size);
    ck_assert_uint_eq(wt_le(q + 16, 8), m[k].data);
    for (int i = 24; i < 64; i++)   /* padding bits and reserved: zero */
      ck_assert_uint_eq(q[i], 0);
  }
  for (size_t i = 128; i < 2128; i += 4)   /* 1.0f = 00 00 80 3F */
    ck_assert_uint_eq(wt_le(b + i, 4), 0x3f800000u);
  for (size_t i = 2128; i < 2176; i++)
    ck_assert_uint_eq(b[i], 0);
  for (size_t i = 2240; i < 2640; i += 2)  /* -2.0 fp16 = 0xC000 */
    ck_assert_uint_eq(wt_le(b + i, 2), 0xc000);
  for (size_t i = 2640; i < 2688; i++)
    ck_assert_uint_eq(b[i], 0);
  /* the int8 data are the stream blob_fill gives */
  int8_t *v = malloc(512 * 512);
  fill_ok(&p->blobs[2], 0, 512 * 512, v);
  ck_assert_mem_eq(b + 2752, v, 512 * 512);
  free(v);
  free(b);
  free(path);
  wt_rmdir(dir);
  mil_free(p);
}
END_TEST

START_TEST(test_write_subbyte_padding) {
  /* uint3[5] = 15 bits in 2 bytes: padding_size_in_bits 1 */
  MilProg *p = mil_new("1.3");
  add(p, MIL_UINT3, 5, MIL_INIT_CONST, 5, 0, 0);
  char *path = wt_tmpfile("w.bin");
  Diag d = diag_stderr();
  ck_assert_int_eq(blob_write(p, path, &d), 0);
  size_t n;
  unsigned char *b = wt_read(path, &n);
  ck_assert_uint_eq(n, 130);
  ck_assert_uint_eq(wt_le(b + 64 + 4, 4), 12);   /* UInt3 */
  ck_assert_uint_eq(wt_le(b + 64 + 8, 8), 2);
  ck_assert_uint_eq(wt_le(b + 64 + 24, 8), 1);
  /* 5 = 101b five times: 101 101 101 101 101 -> 0x6D 0x5B, LSB first */
  ck_assert_uint_eq(b[128], 0x6d);
  ck_assert_uint_eq(b[129], 0x5b);
  free(b);
  wt_rmtmp(path);
  mil_free(p);
}
END_TEST

START_TEST(test_write_every_width_odd_counts) {
  /* Each stored dtype from an odd count of .npy values: the bytes LSB
   * first (FORMATS.md §1.5), the size ceil(n * bits / 8), and the unused
   * bits of the last byte in padding_size_in_bits. */
  static const struct {
    MilDtype dt;
    const char *descr;
    int n;
    int8_t v[9];
    int code, nbytes, pad;
    uint8_t want[3];
  } c[] = {
    /* bits 0, 2, 3, 6 of byte 0, bit 0 of byte 1 */
    {MIL_UINT1, "|i1", 9, {1, 0, 1, 1, 0, 0, 1, 0, 1}, 9, 2, 7, {0x4d, 0x01}},
    /* 3 | 0 << 2 | 1 << 4 | 2 << 6 = 0x93, then 3 */
    {MIL_UINT2, "|i1", 5, {3, 0, 1, 2, 3}, 10, 2, 6, {0x93, 0x03}},
    /* 7 | 0 << 3 | 5 << 6 = 0x147 in 9 bits */
    {MIL_UINT3, "|i1", 3, {7, 0, 5}, 12, 2, 7, {0x47, 0x01}},
    {MIL_UINT4, "|i1", 3, {15, 1, 9}, 11, 2, 4, {0x1f, 0x09}},
    /* -8 = 0x8, 7 = 0x7, -1 = 0xF */
    {MIL_INT4, "|i1", 3, {-8, 7, -1}, 8, 2, 4, {0x78, 0x0f}},
    /* 63 | 2 << 6 | 33 << 12 = 0x210BF in 18 bits */
    {MIL_UINT6, "|i1", 3, {63, 2, 33}, 13, 3, 6, {0xbf, 0x10, 0x02}},
    {MIL_INT8, "|i1", 3, {-128, 127, -1}, 4, 3, 0, {0x80, 0x7f, 0xff}},
    /* 255 and 128 as the bytes of a |u1 array */
    {MIL_UINT8, "|u1", 3, {0, -1, -128}, 3, 3, 0, {0x00, 0xff, 0x80}},
  };
  enum { N = sizeof c / sizeof c[0] };
  char *dir = wt_tmpdir(), *npy[N];
  MilProg *p = mil_new("1.3");
  for (int i = 0; i < N; i++) {
    char name[16], shape[16];
    snprintf(name, sizeof name, "v%d.npy", i);
    snprintf(shape, sizeof shape, "(%d,)", c[i].n);
    npy[i] = wt_path(dir, name);
    write_npy(npy[i], c[i].descr, shape, c[i].v, (size_t)c[i].n);
    MilBlobSrc s = src_of(c[i].dt, c[i].n, MIL_INIT_NPY, 0, 0, 0);
    s.path = npy[i];
    mil_add_blob(p, s);
  }
  char *path = wt_path(dir, "w.bin");
  Diag d = diag_stderr();
  ck_assert_int_eq(blob_write(p, path, &d), 0);
  size_t len;
  unsigned char *b = wt_read(path, &len);
  ck_assert_uint_eq(wt_le(b, 4), N);
  for (int i = 0; i < N; i++) {
    const unsigned char *m = b + 64 + 128 * i;   /* every blob fits in 64 bytes */
    ck_assert_uint_eq(wt_le(m, 4), 0xdeadbeef);
    ck_assert_uint_eq(wt_le(m + 4, 4), (unsigned)c[i].code);
    ck_assert_uint_eq(wt_le(m + 8, 8), (unsigned)c[i].nbytes);
    ck_assert_uint_eq(wt_le(m + 16, 8), 64 + 128 * (unsigned)i + 64);
    ck_assert_uint_eq(wt_le(m + 24, 8), (unsigned)c[i].pad);
    ck_assert_msg(memcmp(m + 64, c[i].want, (size_t)c[i].nbytes) == 0, "%s: %02x %02x %02x",
                  mil_dtype_name(c[i].dt), m[64], m[65], m[66]);
    remove(npy[i]);
    free(npy[i]);
  }
  ck_assert_uint_eq(len, 64 + 128 * (N - 1) + 64 + 3);   /* ends at the last data byte */
  free(b);
  remove(path);
  free(path);
  rmdir(dir);
  free(dir);
  mil_free(p);
}
END_TEST

START_TEST(test_write_reproducible_and_chunked) {
  /* 3 MB of normals spans several 1 MiB writer chunks; the file's data
   * must equal one blob_fill of the whole blob, and a second write must
   * give the same bytes */
  const int64_t n = 1500000;
  MilProg *p = mil_new("1.3");
  add(p, MIL_FP16, n, MIL_INIT_NORMAL, 0, 0.02, 123);
  add(p, MIL_INT4, 3000001, MIL_INIT_UNIFORM, -8, 7, 124);
  char *dir = wt_tmpdir();
  char *a = wt_path(dir, "a.bin"), *bpath = wt_path(dir, "b.bin");
  Diag d = diag_stderr();
  ck_assert_int_eq(blob_write(p, a, &d), 0);
  ck_assert_int_eq(blob_write(p, bpath, &d), 0);
  size_t na, nb;
  unsigned char *fa = wt_read(a, &na), *fb = wt_read(bpath, &nb);
  ck_assert_uint_eq(na, nb);
  ck_assert_mem_eq(fa, fb, na);
  unsigned char *v = malloc(2 * n);
  fill_ok(&p->blobs[0], 0, n, v);
  ck_assert_mem_eq(fa + 128, v, 2 * n);
  fill_ok(&p->blobs[1], 0, 3000001, v);
  ck_assert_mem_eq(fa + p->blobs[1].offset + 64, v, 1500001);
  ck_assert_uint_eq(na, p->blobs[1].offset + 64 + 1500001);
  free(v);
  free(fa);
  free(fb);
  free(a);
  free(bpath);
  wt_rmdir(dir);
  mil_free(p);
}
END_TEST

START_TEST(test_write_npy_multichunk) {
  /* a .npy source larger than one writer chunk (1 MiB): fp32 values
   * (i % 2001) - 1000 stored as int16 */
  const int64_t n = 700000;
  char *dir = wt_tmpdir();
  char *npy = wt_path(dir, "src.npy"), *path = wt_path(dir, "w.bin");
  Tensor t;
  ck_assert_int_eq(tensor_alloc(&t, MIL_FP32, 1, &n), 0);
  for (int64_t i = 0; i < n; i++)
    tensor_set(&t, i, (double)(i % 2001) - 1000);
  Diag d = diag_stderr();
  ck_assert_int_eq(npy_write(npy, &t, &d), 0);
  tensor_free(&t);
  MilProg *p = mil_new("1.3");
  add(p, MIL_FP16, 100, MIL_INIT_CONST, 0.5, 0, 0);
  MilBlobSrc s = src_of(MIL_INT16, n, MIL_INIT_NPY, 0, 0, 0);
  s.path = npy;
  mil_add_blob(p, s);
  ck_assert_int_eq(blob_write(p, path, &d), 0);
  size_t len;
  unsigned char *b = wt_read(path, &len);
  /* fp16[100] at 64, data 128..328; int16 metadata at 384, data at 448 */
  ck_assert_uint_eq(p->blobs[1].offset, 384);
  ck_assert_uint_eq(len, 448 + 2 * (size_t)n);
  for (int64_t i = 0; i < n; i++) {
    int16_t v = (int16_t)wt_le(b + 448 + 2 * i, 2);
    ck_assert_int_eq(v, (int)(i % 2001) - 1000);
  }
  free(b);
  free(npy);
  free(path);
  wt_rmdir(dir);
  mil_free(p);
}
END_TEST

/* path still holds the 3 bytes "old" and is all dir holds: no temporary. */
static void assert_old_file(const char *dir, const char *path) {
  size_t n;
  unsigned char *b = wt_read(path, &n);
  ck_assert_uint_eq(n, 3);
  ck_assert_mem_eq(b, "old", 3);
  ck_assert_int_eq(wt_count_entries(dir), 1);
  free(b);
}

START_TEST(test_write_failures_leave_nothing) {
  WtDiag w;
  wt_diag_begin(&w);
  MilProg *p = mil_new("1.3");
  add(p, MIL_FP16, 10, MIL_INIT_CONST, 1, 0, 0);
  ck_assert_int_eq(blob_write(p, "/nonexistent-dir/weight.bin", &w.d), -1);
  wt_assert_has(&w, "/nonexistent-dir/weight.bin: error:");
  /* fails half-way: the second blob's .npy is missing */
  MilBlobSrc s = src_of(MIL_FP16, 10, MIL_INIT_NPY, 0, 0, 0);
  s.path = "/nonexistent-dir/x.npy";
  mil_add_blob(p, s);
  char *dir = wt_tmpdir();
  char *path = wt_path(dir, "weight.bin");
  ck_assert_int_eq(blob_write(p, path, &w.d), -1);
  wt_assert_has(&w, "x.npy: error: cannot open");
  ck_assert_int_eq(wt_count_entries(dir), 0);
  /* an existing file is left as it was */
  wt_write(path, "old", 3);
  ck_assert_int_eq(blob_write(p, path, &w.d), -1);
  assert_old_file(dir, path);
  free(path);
  wt_rmdir(dir);
  mil_free(p);
  wt_diag_end(&w);
}
END_TEST

/* A write that fails in the worker threads (here the file-size limit, as a
 * full disk would) is reported, and leaves the old file and no temporary. */
START_TEST(test_write_fails_in_workers) {
  char *dir = wt_tmpdir();
  char *path = wt_path(dir, "weight.bin");
  wt_write(path, "old", 3);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    WtDiag w;
    wt_diag_begin(&w);
    MilProg *p = mil_new("1.3");
    add(p, MIL_FP16, 2 << 20, MIL_INIT_NORMAL, 0, 1, 3);   /* 4 MiB: several chunks */
    struct rlimit lim = {256 << 10, 256 << 10};
    signal(SIGXFSZ, SIG_IGN);
    setrlimit(RLIMIT_FSIZE, &lim);
    int rc = blob_write(p, path, &w.d);
    wt_assert_has(&w, "weight.bin: error: cannot write: File too large");
    _exit(rc == -1 ? 0 : 1);
  }
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  assert_old_file(dir, path);
  free(path);
  wt_rmdir(dir);
}
END_TEST

START_TEST(test_write_no_blobs) {
  MilProg *p = mil_new("1.3");
  char *path = wt_tmpfile("weight.bin");
  Diag d = diag_stderr();
  ck_assert_int_eq(blob_write(p, path, &d), 0);
  size_t n;
  unsigned char *b = wt_read(path, &n);
  ck_assert_uint_eq(n, 64);
  ck_assert_uint_eq(wt_le(b, 4), 0);
  ck_assert_uint_eq(wt_le(b + 4, 4), 2);
  free(b);
  wt_rmtmp(path);
  mil_free(p);
}
END_TEST

int main(void) {
  Suite *s = suite_create("blob");
  TCase *t = wt_tcase(s, "prng");
  tcase_add_test(t, test_splitmix_seeding);
  tcase_add_test(t, test_xoshiro_reference);
  tcase_add_test(t, test_prng_streams);
  tcase_add_test(t, test_normal_quantile);
  tcase_add_test(t, test_normal_bits);
  tcase_add_test(t, test_normal_moments);
  tcase_add_test(t, test_normal_histogram);
  tcase_add_test(t, test_normal_independent);
  t = wt_tcase(s, "fill");
  tcase_add_test(t, test_fill_int8_uniform);
  tcase_add_test(t, test_fill_fp16_normal);
  tcase_add_test(t, test_fill_fp16_rounding);
  tcase_add_test(t, test_fill_fp32_normal);
  tcase_add_test(t, test_fill_blocks_independent);
  tcase_add_test(t, test_fill_fp32_uniform);
  tcase_add_test(t, test_fill_const_rounding);
  tcase_add_test(t, test_fill_subbyte_const);
  tcase_add_test(t, test_fill_subbyte_packing);
  tcase_add_test(t, test_fill_npy_convert);
  tcase_add_test(t, test_fill_npy_errors);
  tcase_add_test(t, test_fill_chunking);
  tcase_add_test(t, test_fill_rejects);
  t = wt_tcase(s, "write");
  tcase_add_test(t, test_layout_worked_examples);
  tcase_add_test(t, test_write_three_blobs);
  tcase_add_test(t, test_write_subbyte_padding);
  tcase_add_test(t, test_write_every_width_odd_counts);
  tcase_add_test(t, test_write_reproducible_and_chunked);
  tcase_add_test(t, test_write_npy_multichunk);
  tcase_add_test(t, test_write_failures_leave_nothing);
  tcase_add_test(t, test_write_fails_in_workers);
  tcase_add_test(t, test_write_no_blobs);
  return ck_run(s);
}
