/* igemm.c - the W8A8 1x1 conv as an int8 GEMM: int8 weights times int8
 * activations summed exactly in int32 (AVX512-VNNI's vpdpbusd, 64
 * multiply-adds an instruction against fp32's 16), then scaled once.
 *
 * It applies when the conv's x is dequantize(q, 2^f) of int8 q and every
 * weight row m is an int8 multiple of a power of two 2^e_m (what
 * constexpr_affine_dequantize gives for power-of-two scales): the conv's
 * sum is then exactly 2^(e_m + f) times an integer below 2^24 in
 * magnitude (K <= 1024), so one fp32 product gives the exact sum, which is
 * what fp32 accumulation approximates. Elsewhere (other CPUs, other
 * scales), the conv stays on the fp32 GEMM of the dequantized values. */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define IGEMM_X86 1
#include <immintrin.h>
#endif

enum {
  IG_ROWS = 8,              /* one kernel call: 8 rows by 32 columns of C */
  IG_COLS = 32,
  IG_TILE = 256,            /* columns a thread takes at a time */
  IG_MAX_K = 1024,          /* |sum| <= 1024 * 128 * 128 = 2^24: exact as a float */
};

/* s->tab[0] holds, from its start: scale[M] (float: 2^(e_m + f)),
 * wsum[M] (int32: the row sums of the weights), then w[Mp][Kp] (int8,
 * zero beyond M and K). k[20] Kp, k[21] Mp. */

bool cpu_igemm_available(void) {
#ifdef IGEMM_X86
  /* gcc's libgcc fills the CPU model in a constructor: no __builtin_cpu_init here */
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vnni");
#else
  return false;
#endif
}

/* The exponent of w's lowest set bit: w = odd * 2^result (w != 0, finite). */
static int low_exp(float w) {
  int e;
  double f = frexp(fabs((double)w), &e);   /* f in [0.5, 1), 24 bits */
  int64_t m = (int64_t)ldexp(f, 24);
  int tz = 0;
  while (!(m & 1)) {
    m >>= 1;
    tz++;
  }
  return e - 24 + tz;
}

/* Row m of w as int8 q times 2^e; false when it is not one. */
static bool row_int8(const float *w, int64_t K, int8_t *q, int *e) {
  int lo = INT32_MAX;
  for (int64_t k = 0; k < K; k++) {
    if (!isfinite(w[k]))
      return false;
    if (w[k] != 0) {
      int t = low_exp(w[k]);
      lo = t < lo ? t : lo;
    }
  }
  *e = lo == INT32_MAX ? 0 : lo;
  for (int64_t k = 0; k < K; k++) {
    double v = ldexp((double)w[k], -*e);
    if (v < -128 || v > 127)
      return false;
    q[k] = (int8_t)v;
  }
  return true;
}

/* The scale of q, a quantize or dequantize, when it is per tensor with
 * zero point 0 and a power of two 2^e (e into *e); else 0. */
static float pow2_scale(const CpuPlan *p, const CpuStep *q, int *e) {
  if (q->k[0] * q->k[1] != 1 || (q->in[2] >= 0 && cpu_get(&p->slots[q->in[2]], 0) != 0))
    return 0;
  float d = p->slots[q->in[1]].data[0];
  if (!(d > 0) || frexpf(d, e) != 0.5f)
    return 0;
  --*e;
  return d;
}

/* The step before this one that writes slot i: a dequantize of int8 data
 * per tensor, zero point 0, scale 2^f; its input slot, or -1. */
static int dequant_source(const CpuPlan *p, int i, int *f) {
  for (int j = p->nsteps - 1; j >= 0; j--) {
    const CpuStep *d = &p->steps[j];
    if (d->nout < 1 || d->out[0] != i)
      continue;
    /* exact: fp16(q 2^f) = q 2^f (an fp32 output holds it anyway) */
    if (strcmp(d->op->op, "dequantize") != 0 || d->in[0] < 0 ||
        p->slots[d->in[0]].dtype != MIL_INT8 || !(d->exact || p->slots[i].dtype == MIL_FP32) ||
        pow2_scale(p, d, f) == 0)
      return -1;
    return d->in[0];
  }
  return -1;
}

int cpu_igemm_prep(CpuBuild *b, CpuStep *s, const CpuSlot *w) {
  const CpuPlan *p = b->plan;
  int64_t M = s->k[4], K = s->k[1];
  int f;
  if (!cpu_igemm_available() || s->k[15] != 1 || K > IG_MAX_K || K < 1 || !w->isconst)
    return 0;
  int q = dequant_source(p, s->in[0], &f);
  if (q < 0)
    return 0;
  int64_t Kp = (K + 3) / 4 * 4, Mp = (M + IG_ROWS - 1) / IG_ROWS * IG_ROWS;
  int64_t bytes = M * 8 + Mp * Kp;
  uint8_t *blob = cpu_step_alloc(b, bytes / 8 + 1, 8);
  if (!blob)
    return -1;
  float *scale = (float *)blob;
  int32_t *wsum = (int32_t *)(blob + M * 4);
  int8_t *wq = (int8_t *)(blob + M * 8);
  for (int64_t m = 0; m < M; m++) {
    int e;
    if (!row_int8(w->data + m * K, K, wq + m * Kp, &e) || e + f < -126 || e + f > 127) {
      free(blob);
      return 0;
    }
    scale[m] = ldexpf(1.0f, e + f);
    wsum[m] = 0;
    for (int64_t k = 0; k < K; k++)
      wsum[m] += wq[m * Kp + k];
  }
  s->tab[0] = (int64_t *)blob;
  s->in[3] = q;   /* read in x's place; so its buffer lives until this step */
  s->k[20] = Kp;
  s->k[21] = Mp;
  return 1;
}

#ifdef IGEMM_X86

#define IG_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni")))

/* Columns [n0, n0 + nv) of x (int8 values held as int32, rows of ldx) as
 * vpdpbusd's unsigned operand: [Kp / 4][32][4] bytes of q + 128. */
IG_TARGET static void pack_strip(uint8_t *bp, const int32_t *x, int64_t ldx, int64_t K,
                                 int64_t Kp, int64_t nv) {
  int64_t g = 0;
  if (nv == IG_COLS)
    for (; 4 * g + 3 < K; g++) {
      const int32_t *r = x + 4 * g * ldx;
      for (int h = 0; h < 2; h++) {
        __m128i a = _mm512_cvtepi32_epi8(_mm512_loadu_si512(r + 16 * h));
        __m128i bb = _mm512_cvtepi32_epi8(_mm512_loadu_si512(r + ldx + 16 * h));
        __m128i c = _mm512_cvtepi32_epi8(_mm512_loadu_si512(r + 2 * ldx + 16 * h));
        __m128i d = _mm512_cvtepi32_epi8(_mm512_loadu_si512(r + 3 * ldx + 16 * h));
        __m128i ablo = _mm_unpacklo_epi8(a, bb), abhi = _mm_unpackhi_epi8(a, bb);
        __m128i cdlo = _mm_unpacklo_epi8(c, d), cdhi = _mm_unpackhi_epi8(c, d);
        __m128i flip = _mm_set1_epi8((char)0x80);
        uint8_t *o = bp + g * 128 + h * 64;
        _mm_storeu_si128((__m128i *)o, _mm_xor_si128(_mm_unpacklo_epi16(ablo, cdlo), flip));
        _mm_storeu_si128((__m128i *)(o + 16), _mm_xor_si128(_mm_unpackhi_epi16(ablo, cdlo), flip));
        _mm_storeu_si128((__m128i *)(o + 32), _mm_xor_si128(_mm_unpacklo_epi16(abhi, cdhi), flip));
        _mm_storeu_si128((__m128i *)(o + 48), _mm_xor_si128(_mm_unpackhi_epi16(abhi, cdhi), flip));
      }
    }
  for (; 4 * g < Kp; g++)   /* the last rows of K, or a short strip */
    for (int n = 0; n < IG_COLS; n++)
      for (int t = 0; t < 4; t++) {
        int64_t k = 4 * g + t;
        bp[g * 128 + n * 4 + t] = (uint8_t)(k < K && n < nv ? x[k * ldx + n] + 128 : 128);
      }
}

#define IG_ROW(r)                                                            \
  {                                                                          \
    int32_t a_;                                                              \
    memcpy(&a_, w + (r) * Kp + 4 * g, 4);                                    \
    __m512i av = _mm512_set1_epi32(a_);                                      \
    c##r##0 = _mm512_dpbusd_epi32(c##r##0, b0, av);                          \
    c##r##1 = _mm512_dpbusd_epi32(c##r##1, b1, av);                          \
  }

#define IG_OUT(r)                                                            \
  if (r < mv) {                                                              \
    __m512i s_ = _mm512_set1_epi32(128 * wsum[r]);                           \
    __m512 f_ = _mm512_set1_ps(scale[r]);                                    \
    float *o_ = c + (r) * ldc;                                               \
    _mm512_mask_storeu_ps(o_, m0, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(c##r##0, s_)), f_)); \
    _mm512_mask_storeu_ps(o_ + 16, m1, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(c##r##1, s_)), f_)); \
  }

/* C rows [0, mv) (mv <= 8) by columns [0, nv) (nv <= 32): the sums over
 * Kp of w's 8 rows times the packed strip, less 128 * wsum (the +128 of
 * the unsigned operand), times the row's scale. */
IG_TARGET static void kernel(float *c, int64_t ldc, const int8_t *w, int64_t Kp,
                             const uint8_t *bp, const int32_t *wsum, const float *scale, int mv,
                             int nv) {
  __m512i c00 = _mm512_setzero_si512(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
          c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00,
          c61 = c00, c70 = c00, c71 = c00;
  for (int64_t g = 0; g < Kp / 4; g++) {
    __m512i b0 = _mm512_loadu_si512(bp + g * 128), b1 = _mm512_loadu_si512(bp + g * 128 + 64);
    IG_ROW(0) IG_ROW(1) IG_ROW(2) IG_ROW(3) IG_ROW(4) IG_ROW(5) IG_ROW(6) IG_ROW(7)
  }
  __mmask16 m0 = nv >= 16 ? 0xffff : (__mmask16)((1u << nv) - 1);
  __mmask16 m1 = nv >= 32 ? 0xffff : nv <= 16 ? 0 : (__mmask16)((1u << (nv - 16)) - 1);
  IG_OUT(0) IG_OUT(1) IG_OUT(2) IG_OUT(3) IG_OUT(4) IG_OUT(5) IG_OUT(6) IG_OUT(7)
}

typedef struct IgJob {
  const CpuPlan *p;
  const CpuStep *s;
  const int32_t *x;
  float *y;
  int32_t *q;               /* the fused quantize's output, or NULL */
  atomic_llong next;
  int64_t ntiles;
} IgJob;

IG_TARGET static void ig_tile(const IgJob *j, int64_t t) {
  const CpuStep *s = j->s;
  int64_t M = s->k[4], K = s->k[1], N = s->k[2] * s->k[3], Kp = s->k[20];
  const uint8_t *blob = (const uint8_t *)s->tab[0];
  const float *scale = (const float *)blob;
  const int32_t *wsum = (const int32_t *)(blob + M * 4);
  const int8_t *wq = (const int8_t *)(blob + M * 8);
  const float *bias = s->in[2] >= 0 ? cpu_data(j->p, s->in[2]) : NULL;
  int64_t n0 = t * IG_TILE, n1 = n0 + IG_TILE < N ? n0 + IG_TILE : N;
  uint8_t bp[IG_MAX_K * IG_COLS] __attribute__((aligned(64)));
  for (int64_t c0 = n0; c0 < n1; c0 += IG_COLS) {
    int nv = (int)(n1 - c0 < IG_COLS ? n1 - c0 : IG_COLS);
    pack_strip(bp, j->x + c0, N, K, Kp, nv);
    for (int64_t m = 0; m < M; m += IG_ROWS)
      kernel(j->y + m * N + c0, N, wq + m * Kp, Kp, bp, wsum + m, scale + m,
             (int)(M - m < IG_ROWS ? M - m : IG_ROWS), nv);
  }
  bool round = j->s->rounds && !j->p->fp32;
  for (int64_t m = 0; m < M; m++) {
    cpu_bias_round(j->y + m * N + n0, n1 - n0, bias ? bias[m] : 0.0f, NULL, round);
    if (j->q)
      cpu_quant_row(j->q + m * N + n0, j->y + m * N + n0, n1 - n0, s->f[0], 0.0f, -128.0f, 127.0f);
  }
}

static void ig_piece(void *ctx, int64_t lo, int64_t hi) {
  (void)lo;
  (void)hi;
  IgJob *j = ctx;
  for (int64_t t; (t = atomic_fetch_add(&j->next, 1)) < j->ntiles;)
    ig_tile(j, t);
}

void cpu_igemm_run(const CpuPlan *p, const CpuStep *s) {
  int64_t N = s->k[2] * s->k[3], cin = s->k[1], cout = s->k[4];
  for (int64_t n = 0; n < s->k[0]; n++) {
    IgJob j = {p, s, cpu_idata(p, s->in[3]) + n * cin * N, cpu_data(p, s->out[0]) + n * cout * N,
               s->nout > 1 ? cpu_idata(p, s->out[1]) + n * cout * N : NULL, 0,
               (N + IG_TILE - 1) / IG_TILE};
    atomic_init(&j.next, 0);
    cpu_parallel(p->pool, j.ntiles, 1, ig_piece, &j);
  }
}

#endif

/* (conv uses in[3] for nothing else) */
static bool is_int8_conv(const CpuStep *s) {
  return strcmp(s->op->op, "conv") == 0 && s->in[3] >= 0;
}

/* Steps reading slot i, int8 convs' x not counted (they read in[3]). */
static int readers(const CpuPlan *p, int i) {
  int n = cpu_readers(p, i);
  for (int j = 0; j < p->nsteps; j++)
    n -= p->steps[j].in[0] == i && is_int8_conv(&p->steps[j]);
  return n;
}

/* Step j + 1 quantizes step j's output as cpu_igemm_fuse takes it over:
 * its scale (2^e, 2^-e a normal fp32), else 0. */
static float fusable_quantize(const CpuPlan *p, int j) {
  const CpuStep *c = &p->steps[j], *q = &p->steps[j + 1];
  if (strcmp(q->op->op, "quantize") != 0 || q->in[0] != c->out[0] || q->nout != 1 ||
      p->slots[q->out[0]].dtype != MIL_INT8 || c->nout != 1)
    return 0;
  int e;
  float d = pow2_scale(p, q, &e);
  return d != 0 && isnormal(1.0f / d) ? d : 0;
}

void cpu_igemm_fuse(CpuPlan *p) {
  for (int j = 0; j < p->nsteps; j++) {
    CpuStep *c = &p->steps[j];
    if (!is_int8_conv(c))
      continue;
    /* the dequantize that made x, when nothing else reads x */
    for (int i = 0; i < j; i++) {
      CpuStep *d = &p->steps[i];
      if (d->nout == 1 && d->out[0] == c->in[0] && strcmp(d->op->op, "dequantize") == 0 &&
          !p->slots[c->in[0]].keep && readers(p, c->in[0]) == 0)
        d->run = cpu_run_nothing;
    }
    float d = j + 1 < p->nsteps ? fusable_quantize(p, j) : 0;
    int *out = d != 0 ? realloc(c->out, 2 * sizeof *c->out) : NULL;
    if (!out)
      continue;
    CpuStep *q = &p->steps[j + 1];
    c->out = out;
    c->out[1] = q->out[0];
    c->nout = 2;
    c->f[0] = d;
    q->nout = 0;
    q->run = cpu_run_nothing;
  }
}

#ifndef IGEMM_X86

void cpu_igemm_run(const CpuPlan *p, const CpuStep *s) {
  (void)p;
  (void)s;   /* never chosen: cpu_igemm_available() is false */
}

#endif
