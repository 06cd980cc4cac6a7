/* blob.c - the MILBlob v2 writer, the PRNG and the weight initialisers.
 *
 * The PRNG is xoshiro256** (Blackman and Vigna, 2018) whose four state words
 * are the first four outputs of splitmix64 started at the seed. Uniform
 * doubles take the top 53 bits: (x >> 11) * 2^-53.
 *
 * Blob element streams (docs/language.md, tests/prng_ref.py). Element k of
 * a blob lies in block b = k / 4096, at j = k % 4096. Block b has eight
 * xoshiro256** lanes (block_seed); word j of the block is output j / 8 of
 * lane j % 8. Element j is:
 *   float uniform(a, b)   a + (b - a) * u, u = (word j >> 11) * 2^-53, then
 *                         rounded to the stored type (nearest, ties even)
 *   int uniform(a, b)     lo + floor(x * (hi - lo + 1) / 2^64), x = word j,
 *                         lo = ceil(a), hi = floor(b) clipped to the type
 *                         (bias below (hi-lo+1) / 2^64, i.e. none in practice)
 *   normal(mean, sd)      the normal quantile of a 32-bit draw, in single
 *                         precision (see "normals" below)
 *   const(a)              a
 * Integer types round the value half to even and saturate (NaN gives 0).
 * So any element range can be produced without generating what precedes its
 * block, and the bytes never depend on how the writer chunks its work. This
 * file must be compiled without floating-point contraction
 * (-ffp-contract=off): an fma the code does not write rounds differently. */
#define _GNU_SOURCE 1        /* fallocate, MAP_ANONYMOUS, MAP_POPULATE (glibc) */
#define _DARWIN_C_SOURCE 1   /* MAP_ANONYMOUS (macOS) */
#include "blob.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fp16.h"
#include "npyhdr.h"
#include "outfile.h"

/* The bits of every result depend on plain IEEE double arithmetic. */
#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
#error "gen/blob.c needs double arithmetic without excess precision (FLT_EVAL_METHOD == 0)"
#endif

enum {
  BLOCK = 4096,            /* elements per generator block; even, multiple of 8 */
  CHUNK_BYTES = 1 << 20,   /* the writer's buffer */
};

/* ---- the PRNG ------------------------------------------------------------ */

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15u);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
  return z ^ (z >> 31);
}

void prng_seed(Prng *r, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++)
    r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

/* The generator step, inlined into the fill loops. */
static inline uint64_t next64(Prng *r) {
  uint64_t *s = r->s;
  uint64_t out = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return out;
}

uint64_t prng_next(Prng *r) { return next64(r); }

static inline double uniform53(Prng *r) { return (double)(next64(r) >> 11) * 0x1p-53; }

double prng_uniform(Prng *r) { return uniform53(r); }

/* Vectors of lanes (a GCC/clang extension, lowered to whatever the target
 * has), so the block loops below work on many elements per step. On x86-64
 * Linux the hot loops are also built for x86-64-v3 (AVX2, FMA) and
 * x86-64-v4 (AVX-512, whose 32 registers and rotates help even at this
 * width) and picked at load time. The arithmetic is IEEE single or double
 * precision with every operation written out (no contraction; fmaf where
 * the code asks for a fused multiply-add), so the bits do not depend on
 * which copy runs or on the machine. */
typedef uint64_t V4u __attribute__((vector_size(32)));
typedef uint64_t V8x __attribute__((vector_size(64)));   /* the eight lanes */
typedef int64_t V4i __attribute__((vector_size(32)));
typedef float V16f __attribute__((vector_size(64)));
typedef uint32_t V16u __attribute__((vector_size(64)));

/* BLOB_PORTABLE builds only the default copy: tests/test_blob_portable
 * checks its bits on machines whose CPU would pick another. */
#if defined(__x86_64__) && defined(__linux__) && defined(__has_attribute) && !defined(BLOB_PORTABLE)
#if __has_attribute(target_clones)
#define HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
#endif
#ifndef HOT
#define HOT
#endif

/* The vector helpers are macros or work in place (a function returning a
 * 32-byte vector has a different ABI with and without AVX), and are inlined
 * into each copy of the HOT loops. */
#define ROTL(x, k) (((x) << (k)) | ((x) >> (64 - (k))))
#define INLINE static inline __attribute__((always_inline))

/* ---- block streams ------------------------------------------------------- */

enum { LANES = 8 };   /* generators per block: word j comes from lane j % 8 */

/* The block's key is splitmix64 output b + 1 from the seed; the lanes are
 * seeded from a splitmix64 stream started at the key (not at the seed:
 * block b + 1's lanes would then repeat block b's, shifted). */
static void block_seed(Prng lane[LANES], uint64_t seed, uint64_t b) {
  uint64_t key = seed + b * 0x9e3779b97f4a7c15u;
  uint64_t x = splitmix64(&key);
  for (int l = 0; l < LANES; l++)
    prng_seed(&lane[l], splitmix64(&x));
}

/* The lanes' state as vectors: s[q][l] = lane[l].s[q]. */
INLINE void lanes_load(V8x s[4], const Prng lane[LANES]) {
  for (int q = 0; q < 4; q++)
    for (int l = 0; l < LANES; l++)
      s[q][l] = lane[l].s[q];
}

/* One xoshiro256** step of the eight lanes, the multiplications by 5 and 9
 * written as shifts and adds (AVX2 has no 64-bit multiply). */
INLINE void lanes_step(V8x s[4], V8x *out) {
  V8x o = (s[1] << 2) + s[1];
  o = ROTL(o, 7);
  *out = (o << 3) + o;
  V8x sh = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= sh;
  s[3] = ROTL(s[3], 45);
}

/* w[0..n) = the block's first n words (n a multiple of 8). */
HOT static void block_words(Prng lane[LANES], uint64_t *restrict w, int n) {
  V8x s[4];
  lanes_load(s, lane);
  for (int j = 0; j < n; j += LANES) {
    V8x o;
    lanes_step(s, &o);
    memcpy(w + j, &o, sizeof o);
  }
}

/* ---- normals ---------------------------------------------------------------
 * Inverse transform sampling: element j of a normal block is made from its
 * draw j alone (draw 2m is the low half of word m), called d below:
 *   w = (2 (d mod 2^30) + 1) 2^-31 as a float (nearest, ties even): (0, 1]
 *   s = max(127 - e, 1) - [w >= 3/4], e the biased exponent of w: [0, 32)
 *   x = norm_a[s] w + norm_b[s]                   (exact, in [0, 1])
 *   q = c6, then q = fma(q, x, c_j) for j = 5..0  (c_j = norm_c[j][s])
 *   z = q, negative when bit 31 of d is set       (bit 30 is not used)
 *   element = fma(sd, z, mean), mean and sd rounded to float
 * q is Q(w), the quantile of |Z| (P(|Z| > Q(w)) = w), to a relative 6.3e-7
 * (gen/normtab.py fits the polynomials), and |z| <= Q(2^-31) = 6.23. Each
 * step is a table lookup or one IEEE single-precision operation, fma
 * rounding once; normtab.h is shared by every copy of the code. */
#include "normtab.h"

/* The element of draw d. */
static inline float normal1(uint32_t d, float mean, float sd) {
  float w = (float)(int32_t)(((d & 0x3fffffffu) << 1) | 1) * 0x1p-31f;
  uint32_t b;
  memcpy(&b, &w, sizeof b);
  int s = 127 - (int)(b >> 23);
  s = (s < 1 ? 1 : s) - (w >= 0.75f);
  float x = norm_a[s] * w + norm_b[s];
  float q = norm_c[NORM_DEG][s];
  for (int j = NORM_DEG - 1; j >= 0; j--)
    q = fmaf(q, x, norm_c[j][s]);
  memcpy(&b, &q, sizeof b);
  b |= d & 0x80000000u;
  memcpy(&q, &b, sizeof q);
  return fmaf(sd, q, mean);
}

float blob_normal_draw(uint32_t d) { return normal1(d, 0.0f, 1.0f); }

/* v[0..BLOCK) = the normal block of the lanes. */
HOT static void block_normals(Prng lane[LANES], float mean, float sd, float *v) {
  uint64_t w[BLOCK / 2];
  block_words(lane, w, BLOCK / 2);
  for (int m = 0; m < BLOCK / 2; m++) {
    v[2 * m] = normal1((uint32_t)w[m], mean, sd);
    v[2 * m + 1] = normal1((uint32_t)(w[m] >> 32), mean, sd);
  }
}

/* The same block as fp16 bits, o[0..2 BLOCK), with x86-64 vector
 * instructions: permutes do the lookups and the conversion to fp16 (IEEE,
 * to nearest even) does what half_floats does by hand. The kernels work on
 * u = w 2^31 with norm_a scaled by 2^-31, which changes no result (the
 * products by powers of two are exact). For finite mean and sd, where no
 * element is NaN, the bytes are those of block_normals and half_floats:
 * tests/test_blob checks the code the machine picks, test_blob_avx2 the
 * AVX2 kernel and test_blob_portable the portable code. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(BLOB_PORTABLE)
#include <immintrin.h>
#define HAVE_NORMALS_X86 1

#ifndef BLOB_NO_AVX512
#define AVX512 __attribute__((target("avx512f")))

AVX512 static void block_normals_avx512(Prng lane[LANES], float mean, float sd, uint8_t *o) {
  __m512 ta[2], tb[2], tc[NORM_DEG + 1][2];
  for (int h = 0; h < 2; h++) {
    ta[h] = _mm512_mul_ps(_mm512_loadu_ps(norm_a + 16 * h), _mm512_set1_ps(0x1p-31f));
    tb[h] = _mm512_loadu_ps(norm_b + 16 * h);
    for (int j = 0; j <= NORM_DEG; j++)
      tc[j][h] = _mm512_loadu_ps(norm_c[j] + 16 * h);
  }
  const __m512i low30 = _mm512_set1_epi32(0x3fffffff), one = _mm512_set1_epi32(1);
  const __m512i sign = _mm512_set1_epi32((int)0x80000000u), top = _mm512_set1_epi32(127 + 31);
  const __m512 threeq = _mm512_set1_ps(0x1.8p30f);
  const __m512 vmean = _mm512_set1_ps(mean), vsd = _mm512_set1_ps(sd);
  V8x st[4];
  lanes_load(st, lane);
  for (int j = 0; j < BLOCK; j += 16) {
    V8x w;
    lanes_step(st, &w);
    __m512i d = (__m512i)w;   /* the sixteen draws, low halves first */
    __m512i ui = _mm512_or_si512(_mm512_slli_epi32(_mm512_and_si512(d, low30), 1), one);
    __m512 u = _mm512_cvtepi32_ps(ui);
    __m512i s = _mm512_sub_epi32(top, _mm512_srli_epi32(_mm512_castps_si512(u), 23));
    s = _mm512_max_epi32(s, one);
    s = _mm512_mask_sub_epi32(s, _mm512_cmp_ps_mask(u, threeq, _CMP_GE_OQ), s, one);
    __m512 x = _mm512_fmadd_ps(u, _mm512_permutex2var_ps(ta[0], s, ta[1]),
                               _mm512_permutex2var_ps(tb[0], s, tb[1]));
    __m512 q = _mm512_permutex2var_ps(tc[NORM_DEG][0], s, tc[NORM_DEG][1]);
#pragma GCC unroll 8
    for (int k = NORM_DEG - 1; k >= 0; k--)
      q = _mm512_fmadd_ps(q, x, _mm512_permutex2var_ps(tc[k][0], s, tc[k][1]));
    q = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(q), _mm512_and_si512(d, sign)));
    __m512 r = _mm512_fmadd_ps(vsd, q, vmean);
    _mm256_storeu_si256((__m256i *)(o + 2 * j),
                        _mm512_cvtps_ph(r, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  }
}
#endif

#define AVX2 __attribute__((target("avx2,fma,f16c")))

/* Row t[0..4) of 32 at s: four 8-entry permutes, then bits 3 and 4 of s
 * (moved to the sign bits by m3 and m4) choose among them. */
AVX2 static inline __m256 lookup32(const __m256 t[4], __m256i s, __m256 m3, __m256 m4) {
  __m256 lo = _mm256_blendv_ps(_mm256_permutevar8x32_ps(t[0], s),
                               _mm256_permutevar8x32_ps(t[1], s), m3);
  __m256 hi = _mm256_blendv_ps(_mm256_permutevar8x32_ps(t[2], s),
                               _mm256_permutevar8x32_ps(t[3], s), m3);
  return _mm256_blendv_ps(lo, hi, m4);
}

AVX2 static void block_normals_avx2(Prng lane[LANES], float mean, float sd, uint8_t *o) {
  __m256 ta[4], tb[4], tc[NORM_DEG + 1][4];
  for (int h = 0; h < 4; h++) {
    ta[h] = _mm256_mul_ps(_mm256_loadu_ps(norm_a + 8 * h), _mm256_set1_ps(0x1p-31f));
    tb[h] = _mm256_loadu_ps(norm_b + 8 * h);
    for (int j = 0; j <= NORM_DEG; j++)
      tc[j][h] = _mm256_loadu_ps(norm_c[j] + 8 * h);
  }
  const __m256i low30 = _mm256_set1_epi32(0x3fffffff), one = _mm256_set1_epi32(1);
  const __m256i sign = _mm256_set1_epi32((int)0x80000000u), top = _mm256_set1_epi32(127 + 31);
  const __m256 threeq = _mm256_set1_ps(0x1.8p30f);
  const __m256 vmean = _mm256_set1_ps(mean), vsd = _mm256_set1_ps(sd);
  V8x st[4];
  lanes_load(st, lane);
  for (int j = 0; j < BLOCK; j += 16) {
    V8x w;
    lanes_step(st, &w);
    for (int h = 0; h < 2; h++) {   /* draws j + 8h .. j + 8h + 7 */
      __m256i d;
      memcpy(&d, (const uint8_t *)&w + 32 * h, sizeof d);
      __m256i ui = _mm256_or_si256(_mm256_slli_epi32(_mm256_and_si256(d, low30), 1), one);
      __m256 u = _mm256_cvtepi32_ps(ui);
      __m256i s = _mm256_sub_epi32(top, _mm256_srli_epi32(_mm256_castps_si256(u), 23));
      s = _mm256_max_epi32(s, one);
      s = _mm256_add_epi32(s, _mm256_castps_si256(_mm256_cmp_ps(u, threeq, _CMP_GE_OQ)));
      __m256 m3 = _mm256_castsi256_ps(_mm256_slli_epi32(s, 28));
      __m256 m4 = _mm256_castsi256_ps(_mm256_slli_epi32(s, 27));
      __m256 x = _mm256_fmadd_ps(u, lookup32(ta, s, m3, m4), lookup32(tb, s, m3, m4));
      __m256 q = lookup32(tc[NORM_DEG], s, m3, m4);
#pragma GCC unroll 8
      for (int k = NORM_DEG - 1; k >= 0; k--)
        q = _mm256_fmadd_ps(q, x, lookup32(tc[k], s, m3, m4));
      q = _mm256_castsi256_ps(_mm256_or_si256(_mm256_castps_si256(q), _mm256_and_si256(d, sign)));
      __m256 r = _mm256_fmadd_ps(vsd, q, vmean);
      _mm_storeu_si128((__m128i *)(o + 2 * (j + 8 * h)),
                       _mm256_cvtps_ph(r, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
  }
}

#ifndef BLOB_NO_AVX512
static bool have_avx512(void) { return __builtin_cpu_supports("avx512f"); }
#endif
/* F16C came before AVX2: every processor with AVX2 has it. */
static bool have_avx2(void) {
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif

/* ---- element generation -------------------------------------------------- */

typedef struct Gen {
  MilDtype dtype;
  MilInitKind init;
  bool is_int;
  double a, b;
  int64_t lo, hi;        /* the integer type's range; uniform: the drawn range */
  uint64_t seed;
} Gen;

static void type_range(MilDtype dt, int64_t *lo, int64_t *hi) {
  int bits = mil_dtype_bits(dt);
  if (mil_dtype_is_signed(dt)) {
    *lo = -((int64_t)1 << (bits - 1));
    *hi = ((int64_t)1 << (bits - 1)) - 1;
  } else {
    *lo = 0;
    *hi = (int64_t)(((uint64_t)1 << bits) - 1);
  }
}

/* The stored types blob_fill can produce (integers up to 32 bits). */
static bool fillable(MilDtype dt) {
  return dt == MIL_FP16 || dt == MIL_FP32 ||
         (mil_dtype_is_int(dt) && mil_dtype_bits(dt) <= 32 && mil_dtype_blob_code(dt));
}

static int gen_init(Gen *g, const MilBlobSrc *src, Diag *d) {
  memset(g, 0, sizeof *g);
  g->dtype = src->dtype;
  g->init = src->init;
  g->is_int = mil_dtype_is_int(src->dtype);
  g->a = src->a;
  g->b = src->b;
  g->seed = src->seed;
  if (!g->is_int)
    return 0;
  type_range(src->dtype, &g->lo, &g->hi);
  if (src->init == MIL_INIT_UNIFORM) {
    double lo = ceil(src->a), hi = floor(src->b);
    if (!(lo <= hi) || hi < (double)g->lo || lo > (double)g->hi) {
      diag_file_error(d, NULL, "uniform(%g, %g) holds no %s value", src->a, src->b,
                      mil_dtype_name(src->dtype));
      return -1;
    }
    if (lo > (double)g->lo)
      g->lo = (int64_t)lo;
    if (hi < (double)g->hi)
      g->hi = (int64_t)hi;
  }
  return 0;
}

/* High 64 bits of x * r for r <= 2^32, in 64-bit arithmetic. */
static uint64_t mulhi_small(uint64_t x, uint64_t r) {
  uint64_t xh = x >> 32, xl = x & 0xffffffffu;
  return (xh * r + ((xl * r) >> 32)) >> 32;
}

/* v[0..BLOCK) = the values of block b of a uniform or constant blob,
 * before rounding to the stored type. */
static void gen_block(const Gen *g, uint64_t b, double *v) {
  if (g->init == MIL_INIT_CONST) {
    for (int i = 0; i < BLOCK; i++)
      v[i] = g->a;
    return;
  }
  Prng lane[LANES];
  uint64_t w[BLOCK];
  block_seed(lane, g->seed, b);
  block_words(lane, w, BLOCK);
  if (g->is_int) {
    uint64_t range = (uint64_t)(g->hi - g->lo) + 1;
    for (int i = 0; i < BLOCK; i++)
      v[i] = (double)(g->lo + (int64_t)mulhi_small(w[i], range));
  } else {
    double span = g->b - g->a;
    for (int i = 0; i < BLOCK; i++)
      v[i] = g->a + span * ((double)(w[i] >> 11) * 0x1p-53);
  }
}

/* v[0..BLOCK) = the values of block b of a normal blob. */
static void gen_normals(const Gen *g, uint64_t b, float *v) {
  Prng lane[LANES];
  block_seed(lane, g->seed, b);
  block_normals(lane, (float)g->a, (float)g->b, v);
}

/* ---- encoding ------------------------------------------------------------ */

/* Rounds half to even and saturates to [lo, hi] (|lo|, |hi| <= 2^32); NaN
 * gives 0. Adding and removing 1.5 * 2^52 leaves x rounded to an integer
 * in IEEE double arithmetic (round to nearest even, no excess precision). */
static inline int64_t to_int(double x, int64_t lo, int64_t hi) {
  if (x != x)
    return 0;
  if (x <= (double)lo)
    return lo;
  if (x >= (double)hi)
    return hi;
  return (int64_t)((x + 0x1.8p52) - 0x1.8p52);
}

/* fp16 bits of v[0..n), four at a time: a normal fp16 result (or an
 * overflow) by rounding to nearest even, adding just under half an fp16 ulp
 * plus the kept LSB and dropping the 42 extra mantissa bits; the rest
 * (subnormal, zero, inf, NaN) by fp16_from_double. */
HOT static void half_block(const double *restrict v, int64_t n, uint8_t *restrict o) {
  int64_t i = 0;
  for (; i + 4 <= n; i += 4, o += 8) {
    V4u b;
    memcpy(&b, v + i, sizeof b);
    V4u a = b & 0x7fffffffffffffffu;
    V4u r = a + 0x1ffffffffffu + ((a >> 42) & 1);
    V4u h = ((b >> 48) & 0x8000) | ((r >> 42) - ((uint64_t)(1023 - 15) << 10));
    V4i fast = (a >= 0x3f10000000000000u) & (a < 0x40effe0000000000u);   /* [2^-14, 65520) */
    for (int l = 0; l < 4; l++) {
      uint16_t x = fast[l] ? (uint16_t)h[l] : fp16_from_double(v[i + l]);
      o[2 * l] = (uint8_t)x;
      o[2 * l + 1] = (uint8_t)(x >> 8);
    }
  }
  for (; i < n; i++, o += 2) {
    uint16_t x = fp16_from_double(v[i]);
    o[0] = (uint8_t)x;
    o[1] = (uint8_t)(x >> 8);
  }
}

/* fp16 bits of v[0..n), rounded as fp16_from_float rounds: the normal
 * range by adding 0xfff plus the kept LSB and dropping 13 bits; below
 * 2^-14 by adding 0.5f, whose ulp is fp16's least subnormal, so the float
 * addition does the rounding; overflow to inf, NaN to 0x7e00. */
HOT static void half_floats(const float *restrict v, int64_t n, uint8_t *restrict o) {
  typedef uint16_t V16h __attribute__((vector_size(32)));
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    V16u f;
    memcpy(&f, v + i, sizeof f);
    V16u sign = f & 0x80000000u;
    f ^= sign;
    V16u big = (V16u)(f >= (143u << 23)), small = (V16u)(f < (113u << 23));
    V16u nan = (V16u)(f > (255u << 23));
    V16u sub = (V16u)((V16f)f + 0.5f) - 0x3f000000u;
    V16u nrm = (f - (112u << 23) + 0xfffu + ((f >> 13) & 1)) >> 13;
    V16u inf = (nan & 0x7e00u) | (~nan & 0x7c00u);
    V16u h = (((sub & small) | (nrm & ~small)) & ~big) | (inf & big) | (sign >> 16);
    V16h h16 = __builtin_convertvector(h, V16h);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(o + 2 * i, &h16, sizeof h16);
#else
    for (int l = 0; l < 16; l++) {
      o[2 * (i + l)] = (uint8_t)h16[l];
      o[2 * (i + l) + 1] = (uint8_t)(h16[l] >> 8);
    }
#endif
  }
  for (; i < n; i++) {
    uint16_t h = fp16_from_float(v[i]);
    o[2 * i] = (uint8_t)h;
    o[2 * i + 1] = (uint8_t)(h >> 8);
  }
}

/* o[0..2 BLOCK) = block b of a normal blob as fp16 bits. */
static void gen_normals_half(const Gen *g, uint64_t b, float *v, uint8_t *o) {
  float mean = (float)g->a, sd = (float)g->b;
  Prng lane[LANES];
  block_seed(lane, g->seed, b);
#ifdef HAVE_NORMALS_X86
  if (isfinite(mean) && isfinite(sd)) {
#ifndef BLOB_NO_AVX512
    if (have_avx512()) {
      block_normals_avx512(lane, mean, sd, o);
      return;
    }
#endif
    if (have_avx2()) {
      block_normals_avx2(lane, mean, sd, o);
      return;
    }
  }
#endif
  block_normals(lane, mean, sd, v);
  half_floats(v, BLOCK, o);
}

static void put_le(uint8_t *p, uint64_t v, int nbytes) {
  for (int i = 0; i < nbytes; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

/* Stores v[0..n) as elements j0.. of out (bit offset j0 * bits). Sub-byte
 * elements are ORed in, so out must start zeroed for them. One loop per
 * width: this is the writer's inner loop. */
static void encode(MilDtype dt, const double *v, int64_t n, uint8_t *out, int64_t j0) {
  int bits = mil_dtype_bits(dt);
  uint8_t *o = out + j0 * bits / 8;
  if (dt == MIL_FP16) {
    half_block(v, n, o);
    return;
  }
  if (dt == MIL_FP32) {
    for (int64_t i = 0; i < n; i++, o += 4) {
      float f = (float)v[i];
      uint32_t u;
      memcpy(&u, &f, sizeof u);
      o[0] = (uint8_t)u;
      o[1] = (uint8_t)(u >> 8);
      o[2] = (uint8_t)(u >> 16);
      o[3] = (uint8_t)(u >> 24);
    }
    return;
  }
  int64_t lo, hi;
  type_range(dt, &lo, &hi);
  switch (bits) {
  case 8:
    for (int64_t i = 0; i < n; i++)
      o[i] = (uint8_t)to_int(v[i], lo, hi);
    return;
  case 16:
    for (int64_t i = 0; i < n; i++, o += 2) {
      uint64_t q = (uint64_t)to_int(v[i], lo, hi);
      o[0] = (uint8_t)q;
      o[1] = (uint8_t)(q >> 8);
    }
    return;
  case 32:
    for (int64_t i = 0; i < n; i++, o += 4) {
      uint64_t q = (uint64_t)to_int(v[i], lo, hi);
      o[0] = (uint8_t)q;
      o[1] = (uint8_t)(q >> 8);
      o[2] = (uint8_t)(q >> 16);
      o[3] = (uint8_t)(q >> 24);
    }
    return;
  }
  uint64_t mask = ((uint64_t)1 << bits) - 1;
  for (int64_t i = 0; i < n; i++) {
    uint64_t q = (uint64_t)to_int(v[i], lo, hi) & mask;
    uint64_t pos = (uint64_t)(j0 + i) * (uint64_t)bits;
    unsigned sh = pos % 8;
    out[pos / 8] |= (uint8_t)(q << sh);
    if (sh + (unsigned)bits > 8)
      out[pos / 8 + 1] |= (uint8_t)(q >> (8 - sh));
  }
}

/* ---- .npy sources -------------------------------------------------------- */

static double npy_elem(MilDtype dt, const uint8_t *p) {
  switch (dt) {
  case MIL_FP16:
    return fp16_to_float((uint16_t)(p[0] | p[1] << 8));
  case MIL_FP32: {
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
  }
  case MIL_INT8:
    return (int8_t)p[0];
  case MIL_INT32:
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24);
  default:
    return p[0];
  }
}

static int npy_open(const MilBlobSrc *src, FILE **fp, NpyHeader *h, Diag *d) {
  const char *path = src->path ? src->path : "(no path)";
  FILE *f = npyhdr_open(path, h, d);
  if (!f)
    return -1;
  if (h->numel != src->numel) {
    diag_file_error(d, path, "holds %" PRId64 " elements, the weight has %" PRId64,
                    h->numel, src->numel);
    fclose(f);
    return -1;
  }
  *fp = f;
  return 0;
}

static int fill_npy(const MilBlobSrc *src, int64_t first, int64_t n, uint8_t *out, Diag *d) {
  FILE *f;
  NpyHeader h;
  if (npy_open(src, &f, &h, d) != 0)
    return -1;
  int es = npyhdr_elem_size(h.dtype);
  uint8_t raw[BLOCK * 4];
  double v[BLOCK];
  int rc = 0;
  if (fseeko(f, (off_t)(h.data_offset + (uint64_t)first * (uint64_t)es), SEEK_SET) != 0)
    rc = -1;
  for (int64_t j = 0; rc == 0 && j < n; j += BLOCK) {
    int m = n - j < BLOCK ? (int)(n - j) : BLOCK;
    if (fread(raw, (size_t)es, (size_t)m, f) != (size_t)m) {
      rc = -1;
      break;
    }
    for (int i = 0; i < m; i++)
      v[i] = npy_elem(h.dtype, raw + (size_t)i * (size_t)es);
    encode(src->dtype, v, m, out, j);
  }
  if (rc)
    diag_file_error(d, src->path, "cannot read the data: %s",
                    ferror(f) ? strerror(errno) : "unexpected end of file");
  fclose(f);
  return rc;
}

/* ---- blob_fill ----------------------------------------------------------- */

/* Elements first..first+n-1 of a generated blob; cannot fail. */
static void fill_gen(const Gen *g, MilDtype dt, int64_t first, int64_t n, uint8_t *out) {
  if (mil_dtype_bits(dt) < 8)
    memset(out, 0, mil_blob_nbytes(dt, n));
  double v[BLOCK];
  float f[BLOCK];
  for (int64_t j = 0; j < n;) {
    int64_t k = first + j;
    int from = (int)(k % BLOCK);
    int m = BLOCK - from < n - j ? BLOCK - from : (int)(n - j);
    if (g->init != MIL_INIT_NORMAL) {
      gen_block(g, (uint64_t)(k / BLOCK), v);
      encode(dt, v + from, m, out, j);
    } else if (dt == MIL_FP16 && m == BLOCK) {
      gen_normals_half(g, (uint64_t)(k / BLOCK), f, out + 2 * j);
    } else if (dt == MIL_FP16) {
      gen_normals(g, (uint64_t)(k / BLOCK), f);
      half_floats(f + from, m, out + 2 * j);
    } else {
      gen_normals(g, (uint64_t)(k / BLOCK), f);
      for (int i = 0; i < m; i++)
        v[i] = f[from + i];
      encode(dt, v, m, out, j);
    }
    j += m;
  }
}

int blob_fill(const MilBlobSrc *src, int64_t first, int64_t n, void *out, Diag *d) {
  int bits = mil_dtype_bits(src->dtype);
  if (!fillable(src->dtype)) {
    diag_file_error(d, NULL, "cannot store %s weights in a weight file",
                    mil_dtype_name(src->dtype));
    return -1;
  }
  if (first < 0 || n < 0 || first > src->numel || n > src->numel - first ||
      (bits < 8 && first % 8 != 0)) {
    diag_file_error(d, NULL, "internal error: blob elements %" PRId64 "+%" PRId64
                    " of %" PRId64, first, n, src->numel);
    return -1;
  }
  if (src->init == MIL_INIT_QUANT) {
    diag_file_error(d, NULL, "internal error: quantised weights are written whole");
    return -1;
  }
  if (src->init == MIL_INIT_NPY) {
    if (bits < 8)
      memset(out, 0, mil_blob_nbytes(src->dtype, n));
    return fill_npy(src, first, n, out, d);
  }
  Gen g;
  if (gen_init(&g, src, d) != 0)
    return -1;
  fill_gen(&g, src->dtype, first, n, out);
  return 0;
}

/* ---- quantised weights ---------------------------------------------------
 * A plan's weights are read or generated whole (fp32), quantised, measured
 * and written part by part; only one plan's arrays are held at a time. */

typedef struct Quantised {
  QuantPlan *plan;         /* whose parts `out` holds, or NULL */
  QuantOut out;
} Quantised;

/* The fp32 weights of plan q, decoded in place from their file bytes. */
static float *plan_weights(const QuantPlan *q, Diag *d) {
  int64_t n = q->src.numel;
  float *w = malloc((size_t)(n ? n : 1) * sizeof *w);
  if (!w) {
    diag_file_error(d, NULL, "out of memory quantising %s", q->name);
    return NULL;
  }
  if (blob_fill(&q->src, 0, n, w, d) != 0) {
    free(w);
    return NULL;
  }
  uint8_t *b = (uint8_t *)w;
  for (int64_t i = 0; i < n; i++, b += 4) {
    uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                 (uint32_t)b[3] << 24;
    memcpy(&w[i], &u, sizeof u);
  }
  return w;
}

/* Makes c hold plan q's parts, measuring the plan's error. */
static int quantise(Quantised *c, QuantPlan *q, Diag *d) {
  if (c->plan == q)
    return 0;
  quant_free(&c->out);
  c->plan = NULL;
  float *w = plan_weights(q, d);
  if (!w)
    return -1;
  float *y = NULL;
  if (quant_run(&q->fmt, w, q->cout, q->cin, q->k, &c->out) != 0 ||
      !(y = malloc((size_t)q->src.numel * sizeof *y + 1))) {
    diag_file_error(d, q->src.path, "cannot quantise %s: %s", q->name,
                    y ? "out of memory" : "a weight is not finite (or out of memory)");
    free(w);
    return -1;
  }
  quant_dequant(&c->out, y);
  quant_error(w, y, q->src.numel, &q->max_abs, &q->snr_db);
  q->measured = true;
  free(w);
  free(y);
  c->plan = q;
  return 0;
}

/* Elements first..first+n-1 of a quantised blob into out (zeroed first). */
static void fill_part(const Quantised *c, const MilBlobSrc *s, int64_t first, int64_t n,
                      uint8_t *out) {
  double v[BLOCK];
  memset(out, 0, mil_blob_nbytes(s->dtype, n));
  for (int64_t j = 0; j < n; j += BLOCK) {
    int m = n - j < BLOCK ? (int)(n - j) : BLOCK;
    quant_part_values(&c->out, (QuantPart)s->part, first + j, m, v);
    encode(s->dtype, v, m, out, j);
  }
}

/* Quantises s's plan (if c does not hold it) and checks the part's size. */
static int part_ready(Quantised *c, const MilBlobSrc *s, Diag *d) {
  if (quantise(c, s->quant, d) != 0)
    return -1;
  MilDtype dt;
  if (quant_part_numel(&c->out, (QuantPart)s->part, &dt) != s->numel || dt != s->dtype) {
    diag_file_error(d, NULL, "internal error: part %d of %s is not %s[%" PRId64 "]", s->part,
                    s->quant->name, mil_dtype_name(s->dtype), s->numel);
    return -1;
  }
  return 0;
}

int blob_measure(MilProg *p, Diag *d) {
  Quantised c = {0};
  int rc = 0;
  for (int i = 0; i < p->nblobs && rc == 0; i++)
    if (p->blobs[i].init == MIL_INIT_QUANT && !p->blobs[i].quant->measured)
      rc = part_ready(&c, &p->blobs[i], d);
  quant_free(&c.out);
  return rc;
}

/* ---- the file ------------------------------------------------------------
 * mil_layout_blobs() fixes every byte's place, so the file is written with
 * pwrite in any order, and the padding is left to the holes, which read as
 * zeros. The calling thread writes the header and the .npy blobs. The
 * generated blobs go in chunks of at most CHUNK_BYTES, a blob's metadata in
 * front of its first chunk: workers (the calling thread is one) take the
 * next chunk in turn, fill it and write it. Taking chunks as they come
 * keeps the workers busy to the end when a thread starts late. Bytes do
 * not depend on the number of threads. */

enum { MAX_WORKERS = 8, META = 64 };

typedef struct Worker {
  const MilProg *p;
  int fd;
  atomic_int_fast64_t *next;   /* the next chunk to take, over all generated blobs */
  int err;                     /* errno of the first failure, or 0 */
  pthread_t tid;
  bool threaded;
} Worker;

static int64_t chunk_elems(MilDtype dt) {
  return (int64_t)CHUNK_BYTES * 8 / mil_dtype_bits(dt) / BLOCK * BLOCK;
}

/* errno, or 0 once all n bytes are at off. */
static int put_at(int fd, const void *buf, size_t n, uint64_t off) {
  const uint8_t *b = buf;
  while (n > 0) {
    ssize_t k = pwrite(fd, b, n, (off_t)off);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return k < 0 ? errno : EIO;
    b += k;
    n -= (size_t)k;
    off += (uint64_t)k;
  }
  return 0;
}

/* Where element first of blob s goes in the file. */
static uint64_t data_at(const MilBlobSrc *s, int64_t first) {
  return s->offset + META + mil_blob_nbytes(s->dtype, first);
}

/* The blob's 64-byte metadata record. */
static void blob_meta(const MilBlobSrc *s, uint8_t meta[META]) {
  uint64_t nbytes = mil_blob_nbytes(s->dtype, s->numel);
  memset(meta, 0, META);
  put_le(meta, 0xdeadbeefu, 4);
  put_le(meta + 4, (uint64_t)mil_dtype_blob_code(s->dtype), 4);
  put_le(meta + 8, nbytes, 8);
  put_le(meta + 16, data_at(s, 0), 8);
  put_le(meta + 24, nbytes * 8 - (uint64_t)s->numel * (uint64_t)mil_dtype_bits(s->dtype), 8);
}

/* A worker's buffer: its pages are made at once (MAP_POPULATE), where
 * a page fault apiece costs more than generating the page (about 10 us on
 * a virtual machine). NULL when out of memory. */
static uint8_t *buffer_new(size_t n) {
#ifdef MAP_POPULATE
  void *b = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                 -1, 0);
  return b == MAP_FAILED ? NULL : b;
#else
  return malloc(n);
#endif
}

static void buffer_free(uint8_t *b, size_t n) {
#ifdef MAP_POPULATE
  if (b)
    munmap(b, n);
#else
  (void)n;
  free(b);
#endif
}

/* Whether a worker writes the blob (and its metadata with its first chunk). */
static bool generated(const MilBlobSrc *s) {
  return s->init != MIL_INIT_NPY && s->init != MIL_INIT_QUANT && s->numel > 0;
}

static void *worker_run(void *arg) {
  Worker *k = arg;
  uint8_t *buf = buffer_new(META + CHUNK_BYTES);   /* metadata, then the chunk */
  if (!buf) {
    k->err = ENOMEM;
    return NULL;
  }
  int64_t c = 0, mine = atomic_fetch_add(k->next, 1);
  for (int i = 0; i < k->p->nblobs && !k->err; i++) {
    const MilBlobSrc *s = &k->p->blobs[i];
    Gen g;
    if (!generated(s) || gen_init(&g, s, NULL) != 0)
      continue;   /* gen_init cannot fail here: check_blobs ran it */
    int64_t per = chunk_elems(s->dtype);
    for (int64_t first = 0; first < s->numel && !k->err; first += per, c++) {
      if (c != mine)
        continue;
      int64_t n = s->numel - first < per ? s->numel - first : per;
      fill_gen(&g, s->dtype, first, n, buf + META);
      size_t nbytes = mil_blob_nbytes(s->dtype, n);
      if (first == 0) {
        blob_meta(s, buf);
        k->err = put_at(k->fd, buf, META + nbytes, s->offset);
      } else {
        k->err = put_at(k->fd, buf + META, nbytes, data_at(s, first));
      }
      mine = atomic_fetch_add(k->next, 1);
    }
  }
  buffer_free(buf, META + CHUNK_BYTES);
  return NULL;
}

/* One worker per processor, up to MAX_WORKERS, and none beyond the number
 * of chunks. */
static int workers_wanted(const MilProg *p) {
  long n = 1;
#ifdef _SC_NPROCESSORS_ONLN
  n = sysconf(_SC_NPROCESSORS_ONLN);
#endif
  int64_t chunks = 0;
  for (int i = 0; i < p->nblobs; i++)
    if (generated(&p->blobs[i]))
      chunks += (p->blobs[i].numel + chunk_elems(p->blobs[i].dtype) - 1) /
                chunk_elems(p->blobs[i].dtype);
  if (n > chunks)
    n = (long)chunks;
  return n < 1 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : (int)n;
}

/* Runs the workers to the end; the first errno any of them met, or 0. */
static int write_generated(const MilProg *p, int fd) {
  atomic_int_fast64_t next = 0;
  Worker k[MAX_WORKERS];
  int n = workers_wanted(p);
  for (int i = 0; i < n; i++) {
    k[i] = (Worker){.p = p, .fd = fd, .next = &next};
    k[i].threaded = i > 0 && pthread_create(&k[i].tid, NULL, worker_run, &k[i]) == 0;
  }
  for (int i = 0; i < n; i++)   /* here: worker 0, and any without a thread */
    if (!k[i].threaded)
      worker_run(&k[i]);
  int err = 0;
  for (int i = 0; i < n; i++) {
    if (k[i].threaded)
      pthread_join(k[i].tid, NULL);
    if (!err)
      err = k[i].err;
  }
  return err;
}

/* The header, and the blobs no worker writes: metadata, .npy data and
 * quantised weights. */
static int write_frame(const MilProg *p, int fd, const char *path, Diag *d) {
  uint8_t head[64] = {0};
  put_le(head, (uint64_t)p->nblobs, 4);
  put_le(head + 4, 2, 4);
  int err = put_at(fd, head, sizeof head, 0);
  uint8_t *buf = NULL;
  Quantised q = {0};
  for (int i = 0; i < p->nblobs && !err; i++) {
    const MilBlobSrc *s = &p->blobs[i];
    if (generated(s))
      continue;
    uint8_t meta[META];
    blob_meta(s, meta);
    err = put_at(fd, meta, META, s->offset);
    if ((s->init != MIL_INIT_NPY && s->init != MIL_INIT_QUANT) || err)
      continue;
    if (!buf && !(buf = malloc(CHUNK_BYTES))) {
      err = ENOMEM;
      break;
    }
    if (s->init == MIL_INIT_QUANT && part_ready(&q, s, d) != 0)
      goto fail;
    int64_t per = chunk_elems(s->dtype);
    for (int64_t first = 0; first < s->numel && !err; first += per) {
      int64_t n = s->numel - first < per ? s->numel - first : per;
      if (s->init == MIL_INIT_QUANT)
        fill_part(&q, s, first, n, buf);
      else if (blob_fill(s, first, n, buf, d) != 0)
        goto fail;
      err = put_at(fd, buf, mil_blob_nbytes(s->dtype, n), data_at(s, first));
    }
  }
  free(buf);
  quant_free(&q.out);
  if (err)
    diag_file_error(d, path, "cannot write: %s", strerror(err));
  return err ? -1 : 0;
fail:
  free(buf);
  quant_free(&q.out);
  return -1;
}

/* Everything that could make a chunk fail, reported before the file is
 * touched. */
static int check_blobs(MilProg *p, const char *path, Diag *d) {
  for (int i = 0; i < p->nblobs; i++) {
    const MilBlobSrc *s = &p->blobs[i];
    if (!fillable(s->dtype) || s->numel < 0 || (uint64_t)s->numel > UINT64_MAX / 64) {
      diag_file_error(d, path, "weight %d: cannot store %s[%" PRId64 "] in a weight file", i,
                      mil_dtype_name(s->dtype), s->numel);
      return -1;
    }
    Gen g;
    if (s->init == MIL_INIT_QUANT ? !s->quant : s->init != MIL_INIT_NPY && gen_init(&g, s, d))
      return -1;
  }
  return 0;
}

/* Reserves the file's blocks before writing (on Linux): a full disk fails
 * here rather than after the first gigabyte, and writes into reserved
 * blocks cost the file system less. Other failures (a file system that
 * cannot, a size limit) are left to the writes to report. */
static int reserve(int fd, uint64_t size, const char *path, Diag *d) {
#ifdef __linux__
  if (size > 0 && fallocate(fd, 0, 0, (off_t)size) != 0 && errno == ENOSPC) {
    diag_file_error(d, path, "cannot write: %s", strerror(errno));
    return -1;
  }
#endif
  return 0;
}

/* Reports a write error, or a file whose size is not the layout's. */
static int check_written(int fd, int err, uint64_t size, const char *path, Diag *d) {
  struct stat st;
  if (!err && fstat(fd, &st) != 0)
    err = errno;
  if (err) {
    diag_file_error(d, path, "cannot write: %s", strerror(err));
    return -1;
  }
  if ((uint64_t)st.st_size != size) {
    diag_file_error(d, path, "internal error: wrote %jd bytes, layout says %" PRIu64,
                    (intmax_t)st.st_size, size);
    return -1;
  }
  return 0;
}

int blob_write(MilProg *p, const char *path, Diag *d) {
  if (check_blobs(p, path, d) != 0)
    return -1;
  uint64_t size = mil_layout_blobs(p);
  for (int i = 0; i < p->nblobs; i++) {
    uint64_t end = i ? data_at(&p->blobs[i - 1], p->blobs[i - 1].numel) : 64;
    if (p->blobs[i].offset < end || p->blobs[i].offset - end >= META) {
      diag_file_error(d, path, "internal error: blob %d at %" PRIu64 " after %" PRIu64, i,
                      p->blobs[i].offset, end);
      return -1;
    }
  }
  OutFile o;
  if (outfile_open(&o, path, d) != 0)
    return -1;
  int fd = fileno(o.f), rc = reserve(fd, size, path, d);
  if (rc == 0)
    rc = write_frame(p, fd, path, d);
  if (rc == 0)
    rc = check_written(fd, write_generated(p, fd), size, path, d);
  if (rc == 0)
    return outfile_commit(&o, d);
  outfile_abort(&o);
  return -1;
}
