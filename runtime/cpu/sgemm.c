/* sgemm.c - the 1x1 conv's fp32 GEMM, C[M x N] = W[M x K] X[K x N] (row
 * major), on an AVX2/FMA kernel of our own, BLIS's way: the weight packed
 * once, at open() when constant, in panels of 6 rows; x packed per block
 * of 512 rows by 128 columns in panels of 16 columns; a kernel holding a
 * 6 x 16 tile of C in 12 ymm registers. A thread takes a block of columns
 * at a time and finishes it (bias, fp16 rounding) while it is in cache.
 *
 * Why not OpenBLAS: on the seed chain's 512 x 512 x 4096 products
 * (Zen 4, one thread) its sgemm ran at 99 to 105 GFLOP/s, this at 102 to
 * 107, of a 116 peak, and the packed weight is reused by every run
 * (docs/cpu-speed.md). ymm, not zmm: Zen 4 runs both at the same FMA
 * throughput. Other CPUs (and non-x86) stay on cpu_gemm. */
#include <cblas.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SG_X86 1
#include <immintrin.h>
#endif

enum {
  SG_MR = 6,      /* the kernel's tile of C: 6 rows, */
  SG_NR = 16,     /* 16 columns */
  SG_KC = 512,    /* x rows per packed block: a kernel's 32 KB x panel in L1 */
  SG_MC = 96,     /* weight rows per pass over a block: 192 KB in L2 */
  SG_BLOCK = 128, /* columns a thread takes at a time: a 256 KB block of x */
  SG_MIN_N = 64,  /* fewer columns than this: cpu_gemm */
};

bool cpu_sgemm_available(void) {
#ifdef SG_X86
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

int64_t cpu_sgemm_packed(int64_t M, int64_t K) {
  return (M + SG_MR - 1) / SG_MR * SG_MR * K;
}

/* 16 floats more, to start the packed block at a cache line: loads that
 * cross lines made the kernel 8% slower */
int64_t cpu_sgemm_scratch(void) { return (int64_t)SG_KC * SG_BLOCK + 16; }

/* Panel i holds rows 6i .. 6i + 5 (zeros past M), column k's 6 together. */
void cpu_sgemm_pack(float *d, const float *w, int64_t M, int64_t K) {
  for (int64_t i0 = 0; i0 < M; i0 += SG_MR)
    for (int64_t k = 0; k < K; k++)
      for (int64_t r = 0; r < SG_MR; r++)
        *d++ = i0 + r < M ? w[(i0 + r) * K + k] : 0.0f;
}

/* Rows [0, kc) by columns [0, nc) of x in panels of 16 columns, kc x 16
 * each (zeros past nc). */
static void pack_x(float *d, const float *x, int64_t ldx, int64_t kc, int64_t nc) {
  for (int64_t j0 = 0; j0 < nc; j0 += SG_NR) {
    int64_t w = nc - j0 < SG_NR ? nc - j0 : SG_NR;
    for (int64_t k = 0; k < kc; k++, d += SG_NR) {
      if (w == SG_NR) {   /* a constant size: inlined, not a call */
        memcpy(d, x + k * ldx + j0, SG_NR * sizeof *d);
        continue;
      }
      memcpy(d, x + k * ldx + j0, (size_t)w * sizeof *d);
      memset(d + w, 0, (size_t)(SG_NR - w) * sizeof *d);
    }
  }
}

#ifdef SG_X86
/* c (6 x 16, row stride ldc) = a panel times b panel over kc, plus c when acc. */
__attribute__((target("avx2,fma"))) static void kernel(int64_t kc, const float *a,
                                                        const float *b, float *c, int64_t ldc,
                                                        bool acc) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int64_t k = 0; k < kc; k++, a += SG_MR, b += SG_NR) {
    __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8), t;
    t = _mm256_broadcast_ss(a);
    c00 = _mm256_fmadd_ps(t, b0, c00);
    c01 = _mm256_fmadd_ps(t, b1, c01);
    t = _mm256_broadcast_ss(a + 1);
    c10 = _mm256_fmadd_ps(t, b0, c10);
    c11 = _mm256_fmadd_ps(t, b1, c11);
    t = _mm256_broadcast_ss(a + 2);
    c20 = _mm256_fmadd_ps(t, b0, c20);
    c21 = _mm256_fmadd_ps(t, b1, c21);
    t = _mm256_broadcast_ss(a + 3);
    c30 = _mm256_fmadd_ps(t, b0, c30);
    c31 = _mm256_fmadd_ps(t, b1, c31);
    t = _mm256_broadcast_ss(a + 4);
    c40 = _mm256_fmadd_ps(t, b0, c40);
    c41 = _mm256_fmadd_ps(t, b1, c41);
    t = _mm256_broadcast_ss(a + 5);
    c50 = _mm256_fmadd_ps(t, b0, c50);
    c51 = _mm256_fmadd_ps(t, b1, c51);
  }
  __m256 r[12] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
  for (int i = 0; i < SG_MR; i++) {
    float *p = c + i * ldc;
    __m256 v0 = r[2 * i], v1 = r[2 * i + 1];
    if (acc) {
      v0 = _mm256_add_ps(v0, _mm256_loadu_ps(p));
      v1 = _mm256_add_ps(v1, _mm256_loadu_ps(p + 8));
    }
    _mm256_storeu_ps(p, v0);
    _mm256_storeu_ps(p + 8, v1);
  }
}
#else
static void kernel(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, bool acc) {
  (void)kc, (void)a, (void)b, (void)c, (void)ldc, (void)acc;   /* never called */
}
#endif

/* The tile at (i, j), mr x nr of it inside C: the kernel writes a whole
 * 6 x 16 tile, so a cut one goes through t. */
static void tile(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, bool acc,
                 int64_t mr, int64_t nr) {
  if (mr == SG_MR && nr == SG_NR) {
    kernel(kc, a, b, c, ldc, acc);
    return;
  }
  float t[SG_MR * SG_NR];
  for (int64_t i = 0; acc && i < mr; i++)
    memcpy(t + i * SG_NR, c + i * ldc, (size_t)nr * sizeof *t);
  kernel(kc, a, b, t, SG_NR, acc);
  for (int64_t i = 0; i < mr; i++)
    memcpy(c + i * ldc, t + i * SG_NR, (size_t)nr * sizeof *t);
}

/* Columns [n0, n0 + nc) of C, nc <= SG_BLOCK, buf: cpu_sgemm_scratch() floats. */
static void block(const CpuSgemm *g, int64_t n0, int64_t nc, float *buf) {
  int64_t M = g->M, K = g->K, N = g->N;
  float *c = g->c + n0;
  for (int64_t pc = 0; pc < K; pc += SG_KC) {
    int64_t kc = K - pc < SG_KC ? K - pc : SG_KC;
    pack_x(buf, g->x + pc * N + n0, N, kc, nc);
    for (int64_t ic = 0; ic < M; ic += SG_MC) {
      int64_t ie = ic + SG_MC < M ? ic + SG_MC : M;
      for (int64_t jr = 0; jr < nc; jr += SG_NR)
        for (int64_t ir = ic; ir < ie; ir += SG_MR)
          tile(kc, g->w + ir * K + pc * SG_MR, buf + jr * kc, c + ir * N + jr, N, pc > 0,
               M - ir < SG_MR ? M - ir : SG_MR, nc - jr < SG_NR ? nc - jr : SG_NR);
      if (pc + kc < K)
        continue;
      for (int64_t m = ic; m < ie; m++)   /* finished while in cache */
        cpu_bias_round(c + m * N, nc, g->bias ? g->bias[m] : 0.0f, NULL, g->round);
    }
  }
}

typedef struct SgJob {
  const CpuSgemm *g;
  float *buf;
  int64_t nblk, cols;
  atomic_llong next, slot;
} SgJob;

static void piece(void *ctx, int64_t lo, int64_t hi) {
  (void)lo;
  (void)hi;
  SgJob *j = ctx;
  float *buf = j->buf + atomic_fetch_add(&j->slot, 1) * cpu_sgemm_scratch();
  buf += (64 - (uintptr_t)buf % 64) % 64 / sizeof *buf;
  for (int64_t b; (b = atomic_fetch_add(&j->next, 1)) < j->nblk;) {
    int64_t n0 = b * j->cols;
    block(j->g, n0, j->g->N - n0 < j->cols ? j->g->N - n0 : j->cols, buf);
  }
}

void cpu_sgemm(CpuPool *pool, const CpuSgemm *g, float *buf, int nbuf) {
  if (g->M <= 0 || g->N <= 0 || g->K <= 0)
    return;
  /* Half-width blocks when there would be fewer than 4 a thread: a late
   * thread then holds the others up less (bench-cpu's 256 x 256 x 256
   * chain: 0.82x OpenBLAS's speed instead of 0.72x), while wide products
   * keep the full width, which streams the weight half as often. */
  int64_t cols = (g->N + SG_BLOCK - 1) / SG_BLOCK < 4 * nbuf ? SG_BLOCK / 2 : SG_BLOCK;
  SgJob j = {.g = g, .buf = buf, .nblk = (g->N + cols - 1) / cols, .cols = cols};
  atomic_init(&j.next, 0);
  atomic_init(&j.slot, 0);
  /* no more pieces than buffers, whatever the pool has */
  cpu_parallel(pool, j.nblk < nbuf ? j.nblk : nbuf, 1, piece, &j);
}

/* ---- the conv step ------------------------------------------------------------------
 * k as conv.c's; 17: the threads the scratch was sized for. s->pre: the
 * packed weight of each group when constant, else packed at run time
 * into the scratch after the threads' blocks. */

int cpu_sgemm_prep(CpuBuild *b, CpuStep *s, const CpuSlot *w) {
  int64_t *k = s->k, G = k[15], cg = k[1] / G, mg = k[4] / G, HW = k[2] * k[3];
  if (!cpu_sgemm_available() || HW < SG_MIN_N || cg < 1 || mg < 1)
    return 0;
  int nth = openblas_get_num_threads();
  bool cw = w->isconst && w->data;
  int64_t pw = cpu_sgemm_packed(mg, cg);
  k[17] = nth > 1 ? nth : 1;
  cpu_scratch(b, k[17] * cpu_sgemm_scratch() + (cw ? 0 : pw));
  if (cw) {
    if (!(s->pre = cpu_step_alloc(b, G * pw, sizeof *s->pre)))
      return -1;
    for (int64_t g = 0; g < G; g++)
      cpu_sgemm_pack(s->pre + g * pw, w->data + g * mg * cg, mg, cg);
  }
  return 1;
}

void cpu_sgemm_run(const CpuPlan *p, const CpuStep *s) {
  const int64_t *k = s->k;
  int64_t cin = k[1], HW = k[2] * k[3], cout = k[4], G = k[15], cg = cin / G, mg = cout / G;
  int64_t pw = cpu_sgemm_packed(mg, cg);
  const float *x = cpu_data(p, s->in[0]), *w = cpu_data(p, s->in[1]);
  const float *bias = s->in[2] >= 0 ? cpu_data(p, s->in[2]) : NULL;
  float *y = cpu_data(p, s->out[0]), *wp = p->scratch + k[17] * cpu_sgemm_scratch();
  for (int64_t g = 0; g < G; g++)
    for (int64_t n = 0; n < k[0]; n++) {
      if (!s->pre && n == 0)
        cpu_sgemm_pack(wp, w + g * mg * cg, mg, cg);
      CpuSgemm gm = {.M = mg, .N = HW, .K = cg, .w = s->pre ? s->pre + g * pw : wp,
                     .x = x + (n * cin + g * cg) * HW, .c = y + (n * cout + g * mg) * HW,
                     .bias = bias ? bias + g * mg : NULL, .round = s->rounds && !p->fp32};
      cpu_sgemm(p->pool, &gm, p->scratch, (int)k[17]);
    }
}
