/* blob.c - the MILBlob v2 writer, the PRNG and the weight initialisers.
 *
 * The PRNG is xoshiro256** (Blackman and Vigna, 2018) whose four state words
 * are the first four outputs of splitmix64 started at the seed. Uniform
 * doubles take the top 53 bits: (x >> 11) * 2^-53. Normals use the
 * ziggurat method with constant tables; the logarithm it needs is computed
 * here from +, -, * and / only (all correctly rounded in IEEE 754), so
 * every machine gets the same bits. This file must be compiled without
 * floating-point contraction (-ffp-contract=off): an fma rounds differently.
 *
 * Blob element streams. Element k of a blob lies in block k / 4096; each
 * block has its own generator, prng_seed(splitmix64 output number b+1 of a
 * stream started at the blob's seed) for block b, and element k is draw
 * k % 4096 of that block. A draw is:
 *   float uniform(a, b)   a + (b - a) * u, u = prng_uniform(), then rounded
 *                         to the stored type (fp16/fp32: nearest, ties even)
 *   int uniform(a, b)     lo + floor(x * (hi - lo + 1) / 2^64), x = prng_next(),
 *                         lo = ceil(a), hi = floor(b) clipped to the type
 *                         (bias below (hi-lo+1) / 2^64, i.e. none in practice)
 *   normal(mean, sd)      mean + sd * prng_normal()
 *   const(a)              a
 * Integer types round the value half to even and saturate (NaN gives 0).
 * So any element range can be produced without generating what precedes its
 * block, and the bytes never depend on how the writer chunks its work. */
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

/* Natural log of a positive normal double, from the exact split
 * x = m * 2^e with m in [sqrt(1/2), sqrt(2)) and
 * log(m) = 2 atanh(t) = 2 (t + t^3/3 + ... + t^21/21), t = (m-1)/(m+1).
 * |t| <= 0.1716, so the terms left out are below 2^-55 relative. ln 2 is
 * split so that e * LN2_HI is exact. Accurate to about one ulp; what matters
 * more is that the steps are fixed, so the bits are the same everywhere. */
static double ln_pos(double x) {
  static const double LN2_HI = 0x1.62e42fee00000p-1;
  static const double LN2_LO = 0x1.a39ef35793c76p-33;
  uint64_t b;
  memcpy(&b, &x, sizeof b);
  int e = (int)((b >> 52) & 0x7ff) - 1023;
  b = (b & 0xfffffffffffffu) | 0x3ff0000000000000u;
  double m;
  memcpy(&m, &b, sizeof m);
  if (m > 0x1.6a09e667f3bcdp+0) {   /* sqrt(2) */
    m *= 0.5;
    e++;
  }
  double f = m - 1.0;               /* exact (Sterbenz) */
  double t = f / (2.0 + f);
  double w = t * t;
  double p = 1.0 / 21;
  p = p * w + 1.0 / 19;
  p = p * w + 1.0 / 17;
  p = p * w + 1.0 / 15;
  p = p * w + 1.0 / 13;
  p = p * w + 1.0 / 11;
  p = p * w + 1.0 / 9;
  p = p * w + 1.0 / 7;
  p = p * w + 1.0 / 5;
  p = p * w + 1.0 / 3;
  double lm = 2.0 * t + 2.0 * t * (w * p);
  return (double)e * LN2_HI + (lm + (double)e * LN2_LO);
}

/* Normals: the ziggurat of Marsaglia and Tsang (2000) with 128 layers for
 * f(x) = exp(-x^2/2). ZX[0] = v/f(r) is the width of the base strip (which
 * carries the tail beyond r = ZX[1]); layer i >= 1 spans [0, ZX[i]] in x and
 * [f(ZX[i]), f(ZX[i+1])] in height; ZX[128] = 0. ZF[i] = f(ZX[i]). Printed
 * by tests/prng_ref.py --table from 60-digit arithmetic. The layer index
 * and the uniform come from disjoint bits of one draw (low 7, top 53). The
 * rare wedge test y < f(x) is done as log(y) < -x^2/2, so only ln_pos is
 * needed; the tail uses Marsaglia's 1964 method. */
static const double ZX[129] = {
  0x1.db4668fe7d167p+1, 0x1.b8a7c476d1741p+1, 0x1.9c8e0c7c7f35ep+1,
  0x1.8aa73e440e862p+1, 0x1.7d45eb36e9ff4p+1, 0x1.7279dd4ac2679p+1,
  0x1.695c2be68d3e4p+1, 0x1.616dff7c8dab3p+1, 0x1.5a61edf7e73f4p+1,
  0x1.540520129e8c8p+1, 0x1.4e3456b0e1da8p+1, 0x1.48d61806d430cp+1,
  0x1.43d75b60bac8dp+1, 0x1.3f29848d395fep+1, 0x1.3ac11b8e1e839p+1,
  0x1.3694f3a3721bap+1, 0x1.329d9725e1358p+1, 0x1.2ed4df8097554p+1,
  0x1.2b35aa5ebcda5p+1, 0x1.27bba2b5d9b7dp+1, 0x1.246317a6b3231p+1,
  0x1.2128dd36bbd01p+1, 0x1.1e0a342cee675p+1, 0x1.1b04b731f48d4p+1,
  0x1.18164be0bf8c9p+1, 0x1.153d16d455057p+1, 0x1.1277720181096p+1,
  0x1.0fc3e4d95cda5p+1, 0x1.0d211dd288ac4p+1, 0x1.0a8ded0ec1159p+1,
  0x1.08093fe3e1aa9p+1, 0x1.05921d1c4b0b9p+1, 0x1.0327a1cc4a836p+1,
  0x1.00c8fea16f933p+1, 0x1.fceaeb2ca0ee2p+0, 0x1.f858aff317ac8p+0,
  0x1.f3da09745b605p+0, 0x1.ef6dcddc7807dp+0, 0x1.eb12e914817afp+0,
  0x1.e6c85a8495b0dp+0, 0x1.e28d331c61c36p+0, 0x1.de609397db2b3p+0,
  0x1.da41aaf794b3cp+0, 0x1.d62fb5257b279p+0, 0x1.d229f9bfe95c7p+0,
  0x1.ce2fcb05f3115p+0, 0x1.ca4084e08c207p+0, 0x1.c65b8c04d5d84p+0,
  0x1.c2804d2c6531dp+0, 0x1.beae3c60c7179p+0, 0x1.bae4d457e8092p+0,
  0x1.b72395df55593p+0, 0x1.b36a075492a98p+0, 0x1.afb7b428f83acp+0,
  0x1.ac0c2c6fbfe60p+0, 0x1.a8670475107fbp+0, 0x1.a4c7d45cfb2a5p+0,
  0x1.a12e37c97caa0p+0, 0x1.9d99cd86aeea8p+0, 0x1.9a0a373c6d3ccp+0,
  0x1.967f1924c0e62p+0, 0x1.92f819c67bdfdp+0, 0x1.8f74e1b375764p+0,
  0x1.8bf51b49e8281p+0, 0x1.8878727879e86p+0, 0x1.84fe948480027p+0,
  0x1.81872fd216669p+0, 0x1.7e11f3ada7506p+0, 0x1.7a9e9016840d7p+0,
  0x1.772cb58a3242ap+0, 0x1.73bc14d01277fp+0, 0x1.704c5ec504e8fp+0,
  0x1.6cdd4426b0a02p+0, 0x1.696e755e0eb23p+0, 0x1.65ffa248d7f43p+0,
  0x1.62907a016eac0p+0, 0x1.5f20aaa4d7638p+0, 0x1.5bafe1164c044p+0,
  0x1.583dc8bfea848p+0, 0x1.54ca0b4ff476ap+0, 0x1.5154507206658p+0,
  0x1.4ddc3d839cb58p+0, 0x1.4a6175432745fp+0, 0x1.46e39778d4ba1p+0,
  0x1.4362409821672p+0, 0x1.3fdd0959138fbp+0, 0x1.3c538647e5b53p+0,
  0x1.38c54749af146p+0, 0x1.3531d71460289p+0, 0x1.3198ba9823477p+0,
  0x1.2df97057dd75fp+0, 0x1.2a536fae26375p+0, 0x1.26a627fb9231dp+0,
  0x1.22f0ffba96ce9p+0, 0x1.1f33537495bfap+0, 0x1.1b6c7492bde7ap+0,
  0x1.179ba80458345p+0, 0x1.13c024b2bbdffp+0, 0x1.0fd911b972d18p+0,
  0x1.0be58456f2afcp+0, 0x1.07e47d879726ep+0, 0x1.03d4e7390f210p+0,
  0x1.ff6b21ffe30ecp-1, 0x1.f70a5866ad189p-1, 0x1.ee848e954b85cp-1,
  0x1.e5d6909f34423p-1, 0x1.dcfccc51a7480p-1, 0x1.d3f340dd86c6bp-1,
  0x1.cab56ac6833a5p-1, 0x1.c13e2b012d149p-1, 0x1.b787a7c4f44a4p-1,
  0x1.ad8b25067d385p-1, 0x1.a340d1bad0391p-1, 0x1.989f85c72c985p-1,
  0x1.8d9c6a9d0cf67p-1, 0x1.822a858ac5ecap-1, 0x1.763a1600c1764p-1,
  0x1.69b7b213c3f64p-1, 0x1.5c8afdbecef6ep-1, 0x1.4e94c08bd4d78p-1,
  0x1.3fabee18d682fp-1, 0x1.2f98d6bb0e73ap-1, 0x1.1e0ce6b54ec53p-1,
  0x1.0a936da5942d2p-1, 0x1.e8e576e3830fap-2, 0x1.b4c8fecd63b02p-2,
  0x1.73949183add9dp-2, 0x1.16db47dfb32bdp-2, 0x0.0p+0,
};
static const double ZF[129] = {
  0x1.09e80c5bb1fc2p-10, 0x1.5de9e33733182p-9, 0x1.6ba8b0ffc2db8p-8,
  0x1.1a9b6b3fcb829p-7, 0x1.83f4bed1a0f0bp-7, 0x1.f100847656bf0p-7,
  0x1.309cee4e1477cp-6, 0x1.6a23fa9d6c22fp-6, 0x1.a4f57a25e8f32p-6,
  0x1.e0f951d58f849p-6, 0x1.0f0e539c938c0p-5, 0x1.2e282b7255da2p-5,
  0x1.4dc3fcbda5a08p-5, 0x1.6ddc9dd20b8c5p-5, 0x1.8e6db483cac0fp-5,
  0x1.af738c17b4ea1p-5, 0x1.d0eaf633a6b8ap-5, 0x1.f2d13368cf93fp-5,
  0x1.0a91f0918dae5p-4, 0x1.1bf075c21538ap-4, 0x1.2d834113457cbp-4,
  0x1.3f49878976d30p-4, 0x1.514297b246583p-4, 0x1.636dd69e998c6p-4,
  0x1.75cabd60f402ap-4, 0x1.8858d6f55ed84p-4, 0x1.9b17be7e73957p-4,
  0x1.ae071dc7bf93dp-4, 0x1.c126ac0128a82p-4, 0x1.d4762ca995a18p-4,
  0x1.e7f56ea118c48p-4, 0x1.fba44b5c61816p-4, 0x1.07c1531a357f8p-3,
  0x1.11c835e726135p-3, 0x1.1be6c8cbe5a43p-3, 0x1.261d0aaaf7624p-3,
  0x1.306afe619efedp-3, 0x1.3ad0aa9de455dp-3, 0x1.454e19baadb54p-3,
  0x1.4fe359a145658p-3, 0x1.5a907bafba9e3p-3, 0x1.655594a3a5050p-3,
  0x1.7032bc88e51fap-3, 0x1.7b280eac0c6f7p-3, 0x1.8635a99025d7bp-3,
  0x1.915baee7a2dddp-3, 0x1.9c9a43903cae2p-3, 0x1.a7f18f91a0d6ap-3,
  0x1.b361be1ec9a67p-3, 0x1.beeafd99e93b6p-3, 0x1.ca8d7f9ad4b43p-3,
  0x1.d64978f7e2d92p-3, 0x1.e21f21d136fa3p-3, 0x1.ee0eb59e75db3p-3,
  0x1.fa18733ee75d5p-3, 0x1.031e4e8606256p-2, 0x1.093dbc775a1f7p-2,
  0x1.0f6aa83b52201p-2, 0x1.15a5387a71a06p-2, 0x1.1bed95cc633cbp-2,
  0x1.2243eac7ee400p-2, 0x1.28a864146d917p-2, 0x1.2f1b307cdcc47p-2,
  0x1.359c810492f8ep-2, 0x1.3c2c88fdc65e7p-2, 0x1.42cb7e21f69bfp-2,
  0x1.497998ac6017ap-2, 0x1.503713769e39cp-2, 0x1.57042c17a74d2p-2,
  0x1.5de1230551a9bp-2, 0x1.64ce3bb89770ep-2, 0x1.6bcbbcd4d4694p-2,
  0x1.72d9f052408ddp-2, 0x1.79f923abf1d11p-2, 0x1.8129a811b882ep-2,
  0x1.886bd29e33e65p-2, 0x1.8fbffc918800bp-2, 0x1.972683912ac18p-2,
  0x1.9e9fc9ed4d931p-2, 0x1.a62c36ec797eap-2, 0x1.adcc371e07b84p-2,
  0x1.b5803cb437071p-2, 0x1.bd48bfe6b8a90p-2, 0x1.c5263f5ead9fcp-2,
  0x1.cd1940ad30932p-2, 0x1.d52250cdb191ep-2, 0x1.dd4204b59916bp-2,
  0x1.e578f9f2e03a3p-2, 0x1.edc7d75b8e9bep-2, 0x1.f62f4dd05d60fp-2,
  0x1.feb019151c56ep-2, 0x1.03a58060f304ap-1, 0x1.08006ca85ac6ap-1,
  0x1.0c6942a5c900fp-1, 0x1.10e07b50236c1p-1, 0x1.1566980fc6949p-1,
  0x1.19fc2397562a2p-1, 0x1.1ea1b2d9fe534p-1, 0x1.2357e62437dc2p-1,
  0x1.281f6a5d33891p-1, 0x1.2cf8fa7868c02p-1, 0x1.31e5612075dadp-1,
  0x1.36e57aa6a89b9p-1, 0x1.3bfa3745495cdp-1, 0x1.41249dc6579c8p-1,
  0x1.4665cea512cc7p-1, 0x1.4bbf07c6d4684p-1, 0x1.5131a8eff8ed9p-1,
  0x1.56bf3924ad864p-1, 0x1.5c696d34a27fdp-1, 0x1.62322fc5a83b3p-1,
  0x1.681bab4ed2ff3p-1, 0x1.6e2856a01cb2ap-1, 0x1.745b04d03ea40p-1,
  0x1.7ab6f9c66e43bp-1, 0x1.81400521b52b5p-1, 0x1.87faa61a8cfa0p-1,
  0x1.8eec3c5bda1f6p-1, 0x1.961b4c1b19f30p-1, 0x1.9d8fdfaee4af6p-1,
  0x1.a55418112ba08p-1, 0x1.ad750b7275dd0p-1, 0x1.b6042cf926211p-1,
  0x1.bf19b6813348bp-1, 0x1.c8d923fa0897bp-1, 0x1.d37a74ffe486ap-1,
  0x1.df6071937f4c9p-1, 0x1.ed5cf061144dep-1, 0x1.0000000000000p+0,
};

static double normal_tail(Prng *r, bool neg) {
  double a, b;
  do {   /* 1 - u lies in (0, 1], exactly */
    a = -ln_pos(1.0 - uniform53(r)) / ZX[1];
    b = -ln_pos(1.0 - uniform53(r));
  } while (b + b < a * a);
  return neg ? -(ZX[1] + a) : ZX[1] + a;
}

/* Whether the point at x in layer i, at a fresh uniform height, lies under
 * the curve. */
static bool normal_wedge(Prng *r, int i, double x) {
  double y = ZF[i] + uniform53(r) * (ZF[i + 1] - ZF[i]);
  return ln_pos(y) < -0.5 * x * x;
}

static inline double normal_draw(Prng *r) {
  for (;;) {
    uint64_t bits = next64(r);
    int i = (int)(bits & 127);
    double u = 2.0 * ((double)(bits >> 11) * 0x1p-53) - 1.0;   /* exact */
    double x = u * ZX[i];
    if (fabs(x) < ZX[i + 1])
      return x;
    if (i == 0)
      return normal_tail(r, u < 0);
    if (normal_wedge(r, i, x))
      return x;
  }
}

double prng_normal(Prng *r) { return normal_draw(r); }

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

/* The block generator positioned at element `from` of block b. */
static void block_start(const Gen *g, uint64_t b, int from, Prng *r) {
  uint64_t x = g->seed + b * 0x9e3779b97f4a7c15u;
  prng_seed(r, splitmix64(&x));
  for (int i = 0; i < from; i++) {
    if (g->init == MIL_INIT_NORMAL)
      normal_draw(r);
    else if (g->init == MIL_INIT_UNIFORM)
      next64(r);
  }
}

/* v[0..n) = elements from..from+n-1 of block b (from + n <= BLOCK). */
static void gen_block(const Gen *g, uint64_t b, int from, int n, double *v) {
  Prng r;
  block_start(g, b, from, &r);
  int i = 0;
  switch (g->init) {
  case MIL_INIT_CONST:
    for (; i < n; i++)
      v[i] = g->a;
    break;
  case MIL_INIT_UNIFORM:
    if (g->is_int) {
      uint64_t range = (uint64_t)(g->hi - g->lo) + 1;
      for (; i < n; i++)
        v[i] = (double)(g->lo + (int64_t)mulhi_small(next64(&r), range));
    } else {
      double w = g->b - g->a;
      for (; i < n; i++)
        v[i] = g->a + w * uniform53(&r);
    }
    break;
  case MIL_INIT_NORMAL:
    for (; i < n; i++)
      v[i] = g->a + g->b * normal_draw(&r);
    break;
  case MIL_INIT_NPY:
    break;
  }
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

/* fp16_from_double, with the common case (a normal fp16 result or an
 * overflow) inlined: rounding to nearest even by adding just under half an
 * fp16 ulp plus the kept LSB, then dropping the 42 extra mantissa bits. */
static uint16_t half_bits(double v) {
  uint64_t b;
  memcpy(&b, &v, sizeof b);
  uint64_t a = b & 0x7fffffffffffffffu;
  uint16_t sign = (uint16_t)((b >> 48) & 0x8000);
  if (a >= 0x3f10000000000000u && a < 0x40effe0000000000u) {   /* [2^-14, 65520) */
    uint64_t r = a + 0x1ffffffffffu + ((a >> 42) & 1);
    return sign | (uint16_t)((r >> 42) - ((uint64_t)(1023 - 15) << 10));
  }
  return fp16_from_double(v);
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
    for (int64_t i = 0; i < n; i++, o += 2) {
      uint16_t h = half_bits(v[i]);
      o[0] = (uint8_t)h;
      o[1] = (uint8_t)(h >> 8);
    }
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
  FILE *f = fopen(path, "rb");
  if (!f) {
    diag_file_error(d, path, "cannot open: %s", strerror(errno));
    return -1;
  }
  struct stat st;
  uint8_t *hb = NULL;
  uint8_t pre[NPYHDR_PREFIX];
  size_t n = fread(pre, 1, sizeof pre, f);
  uint64_t total = npyhdr_size(pre, n);
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    diag_file_error(d, path, "not a regular file");
    goto fail;
  }
  if (!total || total > (uint64_t)st.st_size) {
    npyhdr_parse(path, pre, n, h, d);   /* says what is wrong */
    if (total)
      diag_file_error(d, path, "the .npy header is truncated");
    goto fail;
  }
  hb = malloc(total);
  if (!hb || fseeko(f, 0, SEEK_SET) != 0 || fread(hb, 1, total, f) != total) {
    diag_file_error(d, path, "cannot read the .npy header");
    goto fail;
  }
  if (npyhdr_parse(path, hb, total, h, d) != 0)
    goto fail;
  if (h->numel != src->numel) {
    diag_file_error(d, path, "holds %" PRId64 " elements, the weight has %" PRId64,
                    h->numel, src->numel);
    goto fail;
  }
  if ((uint64_t)st.st_size - h->data_offset != h->data_bytes) {
    diag_file_error(d, path, "has %" PRIu64 " bytes of data, its shape needs %" PRIu64,
                    (uint64_t)st.st_size - h->data_offset, h->data_bytes);
    goto fail;
  }
  free(hb);
  *fp = f;
  return 0;
fail:
  free(hb);
  fclose(f);
  return -1;
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
  for (int64_t j = 0; j < n;) {
    int64_t k = first + j;
    int from = (int)(k % BLOCK);
    int m = BLOCK - from;
    if (m > n - j)
      m = (int)(n - j);
    gen_block(g, (uint64_t)(k / BLOCK), from, m, v);
    encode(dt, v, m, out, j);
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
 * The file is produced in chunks of at most CHUNK_BYTES. Generated chunks
 * are filled in parallel, a batch of one chunk per worker thread, while the
 * previous batch is written; chunks read from .npy files are filled by the
 * writing thread. Bytes do not depend on the number of threads. */

enum { MAX_WORKERS = 8 };

typedef struct Job {
  int blob;               /* index in p->blobs */
  int64_t first, n;       /* elements */
  bool starts_blob;       /* write padding and metadata first */
  Gen g;
  uint8_t *buf;
  pthread_t tid;
  bool threaded;
} Job;

typedef struct Writer {
  MilProg *p;
  OutFile o;
  Diag *d;
  int nworkers;
  int blob;               /* the next chunk to hand out */
  int64_t next;
  uint64_t pos;           /* bytes written */
  Job jobs[2][MAX_WORKERS];
  uint8_t *bufs;
} Writer;

static int workers_wanted(void) {
  long n = 1;
#ifdef _SC_NPROCESSORS_ONLN
  n = sysconf(_SC_NPROCESSORS_ONLN);
#endif
  return n < 1 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : (int)n;
}

static int64_t chunk_elems(MilDtype dt) {
  return (int64_t)CHUNK_BYTES * 8 / mil_dtype_bits(dt) / BLOCK * BLOCK;
}

static void *job_run(void *arg) {
  Job *j = arg;
  fill_gen(&j->g, j->g.dtype, j->first, j->n, j->buf);
  return NULL;
}

/* Hands out the next batch into jobs[]; returns its size (0 at the end).
 * Generated jobs start on their own thread (or run here if none can be
 * had). Blobs with no elements get one empty job for their metadata. */
static int batch_start(Writer *w, Job *jobs, uint8_t *bufs) {
  int n = 0;
  while (n < w->nworkers && w->blob < w->p->nblobs) {
    const MilBlobSrc *s = &w->p->blobs[w->blob];
    int64_t c = chunk_elems(s->dtype);
    Job *j = &jobs[n];
    j->blob = w->blob;
    j->first = w->next;
    j->n = s->numel - w->next < c ? s->numel - w->next : c;
    j->starts_blob = w->next == 0;
    j->buf = bufs + (size_t)n * CHUNK_BYTES;
    j->threaded = false;
    w->next += j->n;
    if (w->next >= s->numel) {
      w->blob++;
      w->next = 0;
    }
    n++;
    if (s->init == MIL_INIT_NPY || j->n == 0)
      continue;
    gen_init(&j->g, s, w->d);   /* cannot fail: checked before writing */
    /* small chunks (small blobs) are not worth a thread */
    j->threaded = w->nworkers > 1 && mil_blob_nbytes(s->dtype, j->n) >= CHUNK_BYTES / 4 &&
                  pthread_create(&j->tid, NULL, job_run, j) == 0;
    if (!j->threaded)
      job_run(j);
  }
  return n;
}

static int write_bytes(Writer *w, const void *p, size_t n) {
  if (n && fwrite(p, 1, n, w->o.f) != n) {
    diag_file_error(w->d, w->o.path, "cannot write: %s", strerror(errno));
    return -1;
  }
  w->pos += n;
  return 0;
}

static int write_meta(Writer *w, const MilBlobSrc *s) {
  static const uint8_t zero[64];
  uint64_t nbytes = mil_blob_nbytes(s->dtype, s->numel);
  uint8_t meta[64] = {0};
  put_le(meta, 0xdeadbeefu, 4);
  put_le(meta + 4, (uint64_t)mil_dtype_blob_code(s->dtype), 4);
  put_le(meta + 8, nbytes, 8);
  put_le(meta + 16, s->offset + 64, 8);
  put_le(meta + 24, nbytes * 8 - (uint64_t)s->numel * (uint64_t)mil_dtype_bits(s->dtype), 8);
  /* zero padding (under 64 bytes) up to the aligned metadata offset */
  if (s->offset < w->pos || s->offset - w->pos >= 64) {
    diag_file_error(w->d, w->o.path, "internal error: blob at %" PRIu64 " after %" PRIu64,
                    s->offset, w->pos);
    return -1;
  }
  return write_bytes(w, zero, (size_t)(s->offset - w->pos)) || write_bytes(w, meta, 64) ? -1 : 0;
}

/* Waits for a batch and writes it; rc says whether to write (the batch is
 * always joined). */
static int batch_finish(Writer *w, Job *jobs, int n, int rc) {
  for (int i = 0; i < n; i++)
    if (jobs[i].threaded)
      pthread_join(jobs[i].tid, NULL);
  for (int i = 0; rc == 0 && i < n; i++) {
    Job *j = &jobs[i];
    const MilBlobSrc *s = &w->p->blobs[j->blob];
    if (j->starts_blob && write_meta(w, s) != 0)
      return -1;
    if (s->init == MIL_INIT_NPY && j->n && blob_fill(s, j->first, j->n, j->buf, w->d) != 0)
      return -1;
    rc = write_bytes(w, j->buf, (size_t)mil_blob_nbytes(s->dtype, j->n));
  }
  return rc;
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

int blob_write(MilProg *p, const char *path, Diag *d) {
  if (check_blobs(p, path, d) != 0)
    return -1;
  uint64_t size = mil_layout_blobs(p);
  Writer *w = calloc(1, sizeof *w);
  if (w) {
    w->nworkers = workers_wanted();
    w->bufs = malloc((size_t)2 * (size_t)w->nworkers * CHUNK_BYTES);
  }
  if (!w || !w->bufs) {
    diag_file_error(d, path, "out of memory");
    free(w);
    return -1;
  }
  w->p = p;
  w->d = d;
  int rc = outfile_open(&w->o, path, d);
  if (rc == 0) {
    uint8_t head[64] = {0};
    put_le(head, (uint64_t)p->nblobs, 4);
    put_le(head + 4, 2, 4);
    rc = write_bytes(w, head, sizeof head);
    /* double buffering: batch k+1 is generated while batch k is written */
    uint8_t *bufs[2] = {w->bufs, w->bufs + (size_t)w->nworkers * CHUNK_BYTES};
    int k = 0, n = batch_start(w, w->jobs[0], bufs[0]);
    while (n > 0) {
      int m = rc == 0 ? batch_start(w, w->jobs[!k], bufs[!k]) : 0;
      rc = batch_finish(w, w->jobs[k], n, rc);
      k = !k;
      n = m;
    }
    if (rc == 0 && w->pos != size) {
      diag_file_error(d, path, "internal error: wrote %" PRIu64 " bytes, layout says %" PRIu64,
                      w->pos, size);
      rc = -1;
    }
    if (rc == 0)
      rc = outfile_commit(&w->o, d);
    else
      outfile_abort(&w->o);
  }
  free(w->bufs);
  free(w);
  return rc;
}
