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
 *   normal(mean, sd)      Box-Muller in single precision on 32-bit draws
 *                         (see "normals" below)
 *   const(a)              a
 * Integer types round the value half to even and saturate (NaN gives 0).
 * So any element range can be produced without generating what precedes its
 * block, and the bytes never depend on how the writer chunks its work. This
 * file must be compiled without floating-point contraction
 * (-ffp-contract=off): an fma rounds differently. */
#include "blob.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
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
 * Linux the hot loops are also built for AVX2 and for x86-64-v4 (AVX-512,
 * whose 32 registers and rotates help even at this width) and picked at load
 * time. The arithmetic is IEEE single or double precision with every
 * operation written out (no contraction, no library calls), so the bits do
 * not depend on which copy runs or on the machine. */
typedef uint64_t V4u __attribute__((vector_size(32)));
typedef uint64_t V8x __attribute__((vector_size(64)));   /* the eight lanes */
typedef int64_t V4i __attribute__((vector_size(32)));
typedef uint32_t V8u __attribute__((vector_size(32)));
typedef int32_t V8i __attribute__((vector_size(32)));
typedef float V8f __attribute__((vector_size(32)));

/* BLOB_PORTABLE builds only the default copy: tests/test_blob_portable
 * checks its bits on machines whose CPU would pick another. */
#if defined(__x86_64__) && defined(__linux__) && defined(__has_attribute) && !defined(BLOB_PORTABLE)
#if __has_attribute(target_clones)
#define HOT __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#endif
#endif
#ifndef HOT
#define HOT
#endif

/* A macro: a function returning a 32-byte vector has a different ABI with
 * and without AVX. */
#define ROTL(x, k) (((x) << (k)) | ((x) >> (64 - (k))))

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

/* w[0..n) = the block's first n words (n a multiple of 8): xoshiro256** on
 * eight lanes at once, the multiplications by 5 and 9 written as shifts
 * and adds (AVX2 has no 64-bit multiply). */
HOT static void block_words(Prng lane[LANES], uint64_t *restrict w, int n) {
  V8x s[4];
  for (int q = 0; q < 4; q++)
    for (int l = 0; l < LANES; l++)
      s[q][l] = lane[l].s[q];
  for (int j = 0; j < n; j += LANES) {
    V8x o = (s[1] << 2) + s[1];
    o = ROTL(o, 7);
    o = (o << 3) + o;
    memcpy(w + j, &o, sizeof o);
    V8x sh = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= sh;
    s[3] = ROTL(s[3], 45);
  }
}

/* ---- normals ---------------------------------------------------------------
 * Box-Muller in single precision, sixteen elements from sixteen 32-bit
 * draws: draw 2m is the low half of word m, draw 2m + 1 the high half. In
 * group g (elements 16g .. 16g+15), lane l pairs a = draw 16g + l with
 * c = draw 16g + 8 + l:
 *   u = (2 (a >> 9) + 1) 2^-24            in (0, 1), exact
 *   r = sqrt(-2 ln u)                     (ln8, sqrt8 below)
 *   q = c >> 30, k = (c >> 6) & (2^24 - 1), phi = k * (pi/2 2^-24)
 *   element 16g + l     = mean + sd * (r cos(q pi/2 + phi))
 *   element 16g + 8 + l = mean + sd * (r sin(q pi/2 + phi))
 * with mean and sd rounded to float. |x| stays below sqrt(2 ln 2^24) = 5.8. */

/* The vector helpers work in place (a function returning a 32-byte vector
 * has a different ABI with and without AVX) and are inlined into each
 * copy of the HOT loops. */
#define INLINE static inline __attribute__((always_inline))

/* Natural log of x in (0, 1): x = m 2^e with m in [sqrt(1/2), sqrt(2)),
 * ln m = 2 atanh(t), t = (m - 1) / (m + 1), |t| <= 0.1716, by its series to
 * t^9 (the rest is below 2^-26 relative). */
INLINE void ln8(V8f *x) {
  V8u b = (V8u)*x;
  V8i e = (V8i)(b >> 23) - 127;
  V8u mb = (b & 0x7fffffu) | 0x3f800000u;
  V8i big = (V8f)mb > 0x1.6a09e6p+0f;            /* -1 where m > sqrt(2) */
  V8u half = (V8u)((V8f)mb * 0.5f);
  V8f m = (V8f)((half & (V8u)big) | (mb & ~(V8u)big));
  e -= big;
  V8f f = m - 1.0f;
  V8f t = f / (2.0f + f);
  V8f w = t * t;
  V8f p = w * (1.0f / 9) + 1.0f / 7;
  p = p * w + 1.0f / 5;
  p = p * w + 1.0f / 3;
  V8f lm = 2.0f * t + 2.0f * t * (w * p);
  V8f ef = __builtin_convertvector(e, V8f);
  *x = ef * 0x1.62e4p-1f + (lm + ef * 0x1.7f7d1cp-20f);
}

/* Square roots lane by lane: sqrtf is correctly rounded, and without errno
 * (-fno-math-errno) the loop becomes one vector instruction. */
INLINE void sqrt8(V8f *y) {
  for (int l = 0; l < 8; l++)
    (*y)[l] = __builtin_sqrtf((*y)[l]);
}

/* v[0..16) = group g of a normal block, from its 16 draws d[0..16). */
INLINE void normal_group(const uint32_t *d, float mean, float sd, float *v) {
  V8u a, c;
  memcpy(&a, d, sizeof a);
  memcpy(&c, d + 8, sizeof c);
  V8f u = __builtin_convertvector((a >> 9) * 2 + 1, V8f) * 0x1p-24f;
  ln8(&u);
  V8f r = -2.0f * u;
  sqrt8(&r);
  V8f phi = __builtin_convertvector((c >> 6) & 0xffffffu, V8f) * 0x1.921fb6p-24f;
  V8f z = phi * phi;
  V8f sn = phi + phi * z * (-1.0f / 6 + z * (1.0f / 120 + z * (-1.0f / 5040 +
           z * (1.0f / 362880 + z * (-1.0f / 39916800)))));
  V8f cs = 1.0f + z * (-0.5f + z * (1.0f / 24 + z * (-1.0f / 720 + z * (1.0f / 40320 +
           z * (-1.0f / 3628800 + z * (1.0f / 479001600))))));
  V8u q = c >> 30;
  V8u swap = (V8u){0} - (q & 1);                 /* odd quadrants swap sin and cos */
  V8u cb = (((V8u)sn & swap) | ((V8u)cs & ~swap)) ^ (((q + 1) & 2) << 30);
  V8u sb = (((V8u)cs & swap) | ((V8u)sn & ~swap)) ^ ((q & 2) << 30);
  V8f x0 = mean + sd * (r * (V8f)cb), x1 = mean + sd * (r * (V8f)sb);
  memcpy(v, &x0, sizeof x0);
  memcpy(v + 8, &x1, sizeof x1);
}

/* v[0..BLOCK) = the normal block whose words are w[0..BLOCK/2). */
HOT static void block_normals(const uint64_t *w, float mean, float sd, float *v) {
  uint32_t d[BLOCK];
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  memcpy(d, w, sizeof d);   /* the low half of each word comes first */
#else
  for (int m = 0; m < BLOCK / 2; m++) {
    d[2 * m] = (uint32_t)w[m];
    d[2 * m + 1] = (uint32_t)(w[m] >> 32);
  }
#endif
  for (int g = 0; g < BLOCK; g += 16)
    normal_group(d + g, mean, sd, v + g);
}

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
  uint64_t w[BLOCK / 2];
  block_seed(lane, g->seed, b);
  block_words(lane, w, BLOCK / 2);
  block_normals(w, (float)g->a, (float)g->b, v);
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

/* fp16 bits of v[0..n), eight at a time, rounded as fp16_from_double
 * rounds: the normal range by adding 0xfff plus the kept LSB and dropping
 * 13 bits; below 2^-14 by adding 0.5f, whose ulp is fp16's least subnormal,
 * so the float addition does the rounding; overflow to inf, NaN to 0x7e00. */
HOT static void half_floats(const float *restrict v, int64_t n, uint8_t *restrict o) {
  typedef uint16_t V8h __attribute__((vector_size(16)));
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    V8u f;
    memcpy(&f, v + i, sizeof f);
    V8u sign = f & 0x80000000u;
    f ^= sign;
    V8u big = (V8u)(f >= (143u << 23)), small = (V8u)(f < (113u << 23));
    V8u nan = (V8u)(f > (255u << 23));
    V8u sub = (V8u)((V8f)f + 0.5f) - 0x3f000000u;
    V8u nrm = (f - (112u << 23) + 0xfffu + ((f >> 13) & 1)) >> 13;
    V8u inf = (nan & 0x7e00u) | (~nan & 0x7c00u);
    V8u h = (((sub & small) | (nrm & ~small)) & ~big) | (inf & big) | (sign >> 16);
    V8h h16 = __builtin_convertvector(h, V8h);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(o + 2 * i, &h16, sizeof h16);
#else
    for (int l = 0; l < 8; l++) {
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

/* ---- the file ------------------------------------------------------------
 * mil_layout_blobs() fixes every byte's place, so the file is written with
 * pwrite in any order. Generated data go in chunks of at most CHUNK_BYTES:
 * each of the workers (the calling thread is worker 0) fills and writes
 * every nworkers-th chunk, with no hand-over between threads. The calling
 * thread then writes the header, the padding and metadata, and the data
 * read from .npy files. Bytes do not depend on the number of threads. */

enum { MAX_WORKERS = 8 };

typedef struct Worker {
  const MilProg *p;
  int fd, index, nworkers;
  int err;                /* errno of the first failure, or 0 */
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

static void *worker_run(void *arg) {
  Worker *k = arg;
  uint8_t *buf = malloc(CHUNK_BYTES);
  if (!buf) {
    k->err = ENOMEM;
    return NULL;
  }
  int64_t c = 0;   /* chunk number, over all generated blobs */
  for (int i = 0; i < k->p->nblobs && !k->err; i++) {
    const MilBlobSrc *s = &k->p->blobs[i];
    Gen g;
    if (s->init == MIL_INIT_NPY || gen_init(&g, s, NULL) != 0)
      continue;   /* gen_init cannot fail here: check_blobs ran it */
    int64_t per = chunk_elems(s->dtype);
    for (int64_t first = 0; first < s->numel && !k->err; first += per, c++) {
      if (c % k->nworkers != k->index)
        continue;
      int64_t n = s->numel - first < per ? s->numel - first : per;
      fill_gen(&g, s->dtype, first, n, buf);
      k->err = put_at(k->fd, buf, mil_blob_nbytes(s->dtype, n),
                      s->offset + 64 + mil_blob_nbytes(s->dtype, first));
    }
  }
  free(buf);
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
    if (p->blobs[i].init != MIL_INIT_NPY)
      chunks += (p->blobs[i].numel + chunk_elems(p->blobs[i].dtype) - 1) /
                chunk_elems(p->blobs[i].dtype);
  if (n > chunks)
    n = (long)chunks;
  return n < 1 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : (int)n;
}

/* Runs the workers to the end; the first errno any of them met, or 0. */
static int write_generated(const MilProg *p, int fd) {
  Worker k[MAX_WORKERS];
  int n = workers_wanted(p);
  for (int i = 0; i < n; i++) {
    k[i] = (Worker){.p = p, .fd = fd, .index = i, .nworkers = n};
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

/* The header, each blob's padding and metadata, and the .npy data. */
static int write_frame(const MilProg *p, int fd, const char *path, Diag *d) {
  uint8_t head[64] = {0};
  put_le(head, (uint64_t)p->nblobs, 4);
  put_le(head + 4, 2, 4);
  int err = put_at(fd, head, sizeof head, 0);
  uint64_t end = sizeof head;
  uint8_t *buf = NULL;
  for (int i = 0; i < p->nblobs && !err; i++) {
    const MilBlobSrc *s = &p->blobs[i];
    uint8_t meta[128] = {0};   /* zero padding (under 64 bytes), then the metadata */
    uint64_t pad = s->offset - end, nbytes = mil_blob_nbytes(s->dtype, s->numel);
    put_le(meta + pad, 0xdeadbeefu, 4);
    put_le(meta + pad + 4, (uint64_t)mil_dtype_blob_code(s->dtype), 4);
    put_le(meta + pad + 8, nbytes, 8);
    put_le(meta + pad + 16, s->offset + 64, 8);
    put_le(meta + pad + 24, nbytes * 8 - (uint64_t)s->numel * (uint64_t)mil_dtype_bits(s->dtype), 8);
    err = put_at(fd, meta, (size_t)pad + 64, end);
    end = s->offset + 64 + nbytes;
    if (s->init != MIL_INIT_NPY || err)
      continue;
    if (!buf && !(buf = malloc(CHUNK_BYTES))) {
      err = ENOMEM;
      break;
    }
    int64_t per = chunk_elems(s->dtype);
    for (int64_t first = 0; first < s->numel && !err; first += per) {
      int64_t n = s->numel - first < per ? s->numel - first : per;
      if (blob_fill(s, first, n, buf, d) != 0) {
        free(buf);
        return -1;
      }
      err = put_at(fd, buf, mil_blob_nbytes(s->dtype, n),
                   s->offset + 64 + mil_blob_nbytes(s->dtype, first));
    }
  }
  free(buf);
  if (err)
    diag_file_error(d, path, "cannot write: %s", strerror(err));
  return err ? -1 : 0;
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
    if (s->init != MIL_INIT_NPY && gen_init(&g, s, d) != 0)
      return -1;
  }
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
    uint64_t end = i ? p->blobs[i - 1].offset + 64 +
                       mil_blob_nbytes(p->blobs[i - 1].dtype, p->blobs[i - 1].numel) : 64;
    if (p->blobs[i].offset < end || p->blobs[i].offset - end >= 64) {
      diag_file_error(d, path, "internal error: blob %d at %" PRIu64 " after %" PRIu64, i,
                      p->blobs[i].offset, end);
      return -1;
    }
  }
  OutFile o;
  if (outfile_open(&o, path, d) != 0)
    return -1;
  int fd = fileno(o.f), rc = write_frame(p, fd, path, d);
  if (rc == 0)
    rc = check_written(fd, write_generated(p, fd), size, path, d);
  if (rc == 0)
    return outfile_commit(&o, d);
  outfile_abort(&o);
  return -1;
}
