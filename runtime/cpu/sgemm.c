/* sgemm.c - the 1x1 conv's fp32 GEMM, C[M x N] = W[M x K] X[K x N] (row
 * major), on an AVX2/FMA kernel of our own, BLIS's way: the weight packed
 * once, at open() when constant, in panels of 6 rows; x packed per block
 * of 512 rows by 128 columns in panels of 16 columns, by the kernel as it
 * first reads them; a kernel holding a 6 x 16 tile of C in 12 ymm
 * registers, which adds the bias and rounds to fp16 on its way out. A
 * thread takes a block of columns at a time and finishes it.
 *
 * A chain of 1x1 convs (each output read only by the next) runs as one
 * step: a block of columns goes through every conv of the chain before
 * the next block, its values kept in the packed form the next conv reads,
 * in L2, never written out between convs. Each value is computed as the
 * lone conv computes it, so the results are the same bits.
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
#include <cpuid.h>
#include <immintrin.h>
#endif

enum {
  SG_MR = 6,      /* the kernel's tile of C: 6 rows, */
  SG_NR = 16,     /* 16 columns */
  SG_KC = 512,    /* rows of K a pass: a 6-row tile of W is 12 KB, in L1 */
  SG_BLOCK = 128, /* columns a thread takes at a time: a 256 KB block of x */
  SG_MIN_N = 64,  /* fewer columns than this: cpu_gemm */
  SG_PANELS = SG_KC * SG_BLOCK,   /* the packed panels of one block */
  SG_CHAIN = 16,  /* convs in one chain at most */
};

bool cpu_sgemm_available(void) {
#ifdef SG_X86
  unsigned a, b, c, d;   /* F16C from cpuid: clang's __builtin_cpu_supports has no name for it */
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
#else
  return false;
#endif
}

int64_t cpu_sgemm_packed(int64_t M, int64_t K) {
  return (M + SG_MR - 1) / SG_MR * SG_MR * K;
}

/* A chain needs a second set of panels for the values between its convs;
 * 16 floats more, to start the panels at a cache line: loads that cross
 * lines made the kernel 8% slower. */
int64_t cpu_sgemm_scratch(int n) { return (n > 1 ? 2 : 1) * SG_PANELS + 16; }

/* Panel i holds rows 6i .. 6i + 5 (zeros past M), column k's 6 together. */
void cpu_sgemm_pack(float *d, const float *w, int64_t M, int64_t K) {
  for (int64_t i0 = 0; i0 < M; i0 += SG_MR)
    for (int64_t k = 0; k < K; k++)
      for (int64_t r = 0; r < SG_MR; r++)
        *d++ = i0 + r < M ? w[(i0 + r) * K + k] : 0.0f;
}

/* Rows [0, kc) of columns [0, w) of x, w <= 16, as a kc x 16 panel (zeros
 * past w): the panels the kernel does not pack as it reads them. */
static void pack_panel(float *d, const float *x, int64_t ldx, int64_t kc, int64_t w) {
  for (int64_t k = 0; k < kc; k++, d += SG_NR) {
    memcpy(d, x + k * ldx, (size_t)w * sizeof *d);
    memset(d + w, 0, (size_t)(SG_NR - w) * sizeof *d);
  }
}

/* What the last pass over K does to a tile on its way out: each row's bias
 * added (not when 0, so -0 stays -0, as cpu_bias_round), then rounded to
 * fp16. */
typedef struct SgEnd {
  const float *bias;   /* the tile's 6 rows' (0 past M), or NULL */
  bool round;
} SgEnd;

#ifdef SG_X86
#define SG_TARGET __attribute__((target("avx2,fma,f16c")))

/* fp16 rounding as cpu_bias_round's, by the conversion instructions: both
 * round to nearest even, overflow to inf and keep subnormals; a NaN is kept
 * as it was, which the conversion would quieten. */
SG_TARGET static inline __m256 round16(__m256 v) {
  __m256 r = _mm256_cvtph_ps(_mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
  return _mm256_blendv_ps(r, v, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}

/* The kernel's loop, made twice: with pack, row k of b is first loaded
 * from src (row stride lds) and stored into b, so a panel's first tile
 * packs it with no pass of its own; the row SG_PF ahead is asked for, since
 * rows of x are a page or more apart and no prefetcher follows that. */
enum { SG_PF = 8 };
#define SG_FMA_ROW(i, ci0, ci1)                  \
  t = _mm256_broadcast_ss(a + (i));              \
  ci0 = _mm256_fmadd_ps(t, b0, ci0);             \
  ci1 = _mm256_fmadd_ps(t, b1, ci1)

/* c (6 x 16, row stride ldc) = a panel times b panel over kc, plus c when
 * acc; finished by e unless NULL. */
SG_TARGET __attribute__((always_inline)) static inline void
kernel_body(int64_t kc, const float *a, float *b, const float *src, int64_t lds, float *c,
            int64_t ldc, bool acc, const SgEnd *e, const bool pack) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int64_t k = 0; k < kc; k++, a += SG_MR, b += SG_NR) {
    __m256 b0, b1, t;
    if (pack) {
      const float *r = src + k * lds;
      if (k + SG_PF < kc)
        __builtin_prefetch(r + SG_PF * lds);
      b0 = _mm256_loadu_ps(r);
      b1 = _mm256_loadu_ps(r + 8);
      _mm256_store_ps(b, b0);
      _mm256_store_ps(b + 8, b1);
    } else {
      b0 = _mm256_load_ps(b);
      b1 = _mm256_load_ps(b + 8);
    }
    SG_FMA_ROW(0, c00, c01);
    SG_FMA_ROW(1, c10, c11);
    SG_FMA_ROW(2, c20, c21);
    SG_FMA_ROW(3, c30, c31);
    SG_FMA_ROW(4, c40, c41);
    SG_FMA_ROW(5, c50, c51);
  }
  __m256 r[12] = {c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51};
  for (int i = 0; i < SG_MR; i++) {
    float *p = c + i * ldc;
    __m256 v0 = r[2 * i], v1 = r[2 * i + 1];
    if (acc) {
      v0 = _mm256_add_ps(v0, _mm256_loadu_ps(p));
      v1 = _mm256_add_ps(v1, _mm256_loadu_ps(p + 8));
    }
    if (e && e->bias && e->bias[i] != 0.0f) {
      __m256 bi = _mm256_set1_ps(e->bias[i]);
      v0 = _mm256_add_ps(v0, bi);
      v1 = _mm256_add_ps(v1, bi);
    }
    if (e && e->round) {
      v0 = round16(v0);
      v1 = round16(v1);
    }
    _mm256_storeu_ps(p, v0);
    _mm256_storeu_ps(p + 8, v1);
  }
}
#undef SG_FMA_ROW

/* b: a 64-byte aligned panel; packed from src first when src. */
SG_TARGET static void kernel(int64_t kc, const float *a, float *b, const float *src, int64_t lds,
                             float *c, int64_t ldc, bool acc, const SgEnd *e) {
  if (src)
    kernel_body(kc, a, b, src, lds, c, ldc, acc, e, true);
  else
    kernel_body(kc, a, b, NULL, 0, c, ldc, acc, e, false);
}
#else
static void kernel(int64_t kc, const float *a, float *b, const float *src, int64_t lds, float *c,
                   int64_t ldc, bool acc, const SgEnd *e) {
  (void)kc, (void)a, (void)b, (void)src, (void)lds, (void)c, (void)ldc, (void)acc, (void)e;
}   /* never called: cpu_sgemm_available() is false */
#endif

/* One tile: rows [0, mr) and columns [0, nr) of it go to c (row stride
 * ldc); the kernel writes a whole 6 x 16 tile, so a cut one goes through
 * t. e->bias, when set, has rows [0, mr); src only for a whole panel. */
static void tile(int64_t kc, const float *a, float *b, const float *src, int64_t lds, float *c,
                 int64_t ldc, int64_t mr, int64_t nr, bool acc, const SgEnd *e) {
  if (mr == SG_MR && nr == SG_NR) {
    kernel(kc, a, b, src, lds, c, ldc, acc, e);
    return;
  }
  float t[SG_MR * SG_NR], bias[SG_MR] = {0};
  SgEnd cut;
  if (e && e->bias) {
    memcpy(bias, e->bias, (size_t)mr * sizeof *bias);
    cut = (SgEnd){bias, e->round};
    e = &cut;
  }
  for (int64_t i = 0; acc && i < mr; i++)
    memcpy(t + i * SG_NR, c + i * ldc, (size_t)nr * sizeof *t);
  kernel(kc, a, b, src, lds, t, SG_NR, acc, e);
  for (int64_t i = 0; i < mr; i++)
    memcpy(c + i * ldc, t + i * SG_NR, (size_t)nr * sizeof *t);
}

/* Columns [n0, n0 + nc) of the chain g[0 .. n), nc <= SG_BLOCK; buf:
 * cpu_sgemm_scratch(n) floats at a cache line. in holds the panels the
 * conv reads, out those it writes for the next one (rows of C, each row of
 * a panel 16 floats, as pack_panel lays x out). Each 6-row tile of W, in
 * L1, meets every panel of the block in turn (L2); the first row of tiles
 * packs x's panels as it goes, but for a cut last one, packed here. The
 * next conv's last panel reads all 16 columns: past nc they hold what the
 * zeros there gave, values no output depends on. */
static void block(const CpuSgemm *g, int n, int64_t n0, int64_t nc, float *buf) {
  int64_t N = g[0].N, full = nc / SG_NR * SG_NR;
  float *in = buf, *out = buf + SG_PANELS, *t;
  for (int l = 0; l < n; l++, t = in, in = out, out = t) {
    const CpuSgemm *m = &g[l];
    bool last = l == n - 1;
    for (int64_t pc = 0; pc < m->K; pc += SG_KC) {
      int64_t kc = m->K - pc < SG_KC ? m->K - pc : SG_KC;
      const float *x = l == 0 ? m->x + pc * N + n0 : NULL;
      if (x && full < nc)
        pack_panel(in + full * kc, x + full, N, kc, nc - full);
      for (int64_t ir = 0; ir < m->M; ir += SG_MR) {
        int64_t mr = m->M - ir < SG_MR ? m->M - ir : SG_MR;
        SgEnd end = {m->bias ? m->bias + ir : NULL, m->round};
        for (int64_t jr = 0; jr < nc; jr += SG_NR) {
          const float *src = x && ir == 0 && jr < full ? x + jr : NULL;
          float *dst = last ? m->c + ir * N + n0 + jr : out + jr * m->M + ir * SG_NR;
          tile(kc, m->w + ir * m->K + pc * SG_MR, in + jr * kc, src, N, dst, last ? N : SG_NR, mr,
               last && nc - jr < SG_NR ? nc - jr : SG_NR, pc > 0, pc + kc == m->K ? &end : NULL);
        }
      }
    }
  }
}

typedef struct SgJob {
  const CpuSgemm *g;
  int n;
  float *buf;
  int64_t nblk, cols;
  atomic_llong next, slot;
} SgJob;

static void piece(void *ctx, int64_t lo, int64_t hi) {
  (void)lo;
  (void)hi;
  SgJob *j = ctx;
  float *buf = j->buf + atomic_fetch_add(&j->slot, 1) * cpu_sgemm_scratch(j->n);
  buf += (64 - (uintptr_t)buf % 64) % 64 / sizeof *buf;
  for (int64_t b; (b = atomic_fetch_add(&j->next, 1)) < j->nblk;) {
    int64_t n0 = b * j->cols, N = j->g[0].N;
    block(j->g, j->n, n0, N - n0 < j->cols ? N - n0 : j->cols, buf);
  }
}

bool cpu_sgemm_chains(const CpuSgemm *a, const CpuSgemm *b) {
  return a->M == b->K && a->M <= SG_KC && a->N == b->N;
}

void cpu_sgemm(CpuPool *pool, const CpuSgemm *g, int n, float *buf, int nbuf) {
  for (int l = 0; l < n; l++)
    if (g[l].M <= 0 || g[l].N <= 0 || g[l].K <= 0)
      return;
  /* Half-width blocks when there would be fewer than 4 a thread: a late
   * thread then holds the others up less (bench-cpu's 256 x 256 x 256
   * chain: 0.82x OpenBLAS's speed instead of 0.72x), while wide products
   * keep the full width, which streams the weight half as often. */
  int64_t N = g[0].N, cols = (N + SG_BLOCK - 1) / SG_BLOCK < 4 * nbuf ? SG_BLOCK / 2 : SG_BLOCK;
  SgJob j = {.g = g, .n = n, .buf = buf, .nblk = (N + cols - 1) / cols, .cols = cols};
  atomic_init(&j.next, 0);
  atomic_init(&j.slot, 0);
  /* no more pieces than buffers, whatever the pool has */
  cpu_parallel(pool, j.nblk < nbuf ? j.nblk : nbuf, 1, piece, &j);
}

/* ---- the conv step ------------------------------------------------------------------
 * k as conv.c's; 17: the threads the scratch was sized for; 19: the convs
 * the step runs: 1 alone, n > 1 at the head of a chain of n consecutive
 * steps (cpu_sgemm_fuse), 0 in a chain after its head (it runs nothing). s->pre: the packed
 * weight of each group when constant, else packed at run time into the
 * scratch after the threads' blocks. */

int cpu_sgemm_prep(CpuBuild *b, CpuStep *s, const CpuSlot *w) {
  int64_t *k = s->k, G = k[15], cg = k[1] / G, mg = k[4] / G, HW = k[2] * k[3];
  if (!cpu_sgemm_available() || HW < SG_MIN_N || cg < 1 || mg < 1)
    return 0;
  int nth = openblas_get_num_threads();
  bool cw = w->isconst && w->data;
  int64_t pw = cpu_sgemm_packed(mg, cg);
  k[17] = nth > 1 ? nth : 1;
  k[19] = 1;
  cpu_scratch(b, k[17] * cpu_sgemm_scratch(1) + (cw ? 0 : pw));
  if (cw) {
    if (!(s->pre = cpu_step_alloc(b, G * pw, sizeof *s->pre)))
      return -1;
    for (int64_t g = 0; g < G; g++)
      cpu_sgemm_pack(s->pre + g * pw, w->data + g * mg * cg, mg, cg);
  }
  return 1;
}

/* The GEMM of step s for image i and group g; x and c only where given. */
static CpuSgemm step_gemm(const CpuPlan *p, const CpuStep *s, int64_t i, int64_t g,
                          const float *w, bool x, bool c) {
  const int64_t *k = s->k;
  int64_t cin = k[1], HW = k[2] * k[3], cout = k[4], G = k[15], cg = cin / G, mg = cout / G;
  return (CpuSgemm){.M = mg, .N = HW, .K = cg, .w = w,
                    .x = x ? cpu_data(p, s->in[0]) + (i * cin + g * cg) * HW : NULL,
                    .c = c ? cpu_data(p, s->out[0]) + (i * cout + g * mg) * HW : NULL,
                    .bias = s->in[2] >= 0 ? cpu_data(p, s->in[2]) + g * mg : NULL,
                    .round = s->rounds && !p->fp32};
}

void cpu_sgemm_run(const CpuPlan *p, const CpuStep *s) {
  const int64_t *k = s->k;
  int n = (int)k[19];
  CpuSgemm g[SG_CHAIN];
  if (n > 1) {   /* a chain: one group, constant weights */
    for (int64_t i = 0; i < k[0]; i++) {
      for (int l = 0; l < n; l++)
        g[l] = step_gemm(p, &s[l], i, 0, s[l].pre, l == 0, l == n - 1);
      cpu_sgemm(p->pool, g, n, p->scratch, (int)k[17]);
    }
    return;
  }
  int64_t G = k[15], pw = cpu_sgemm_packed(k[4] / G, k[1] / G);
  float *wp = p->scratch + k[17] * cpu_sgemm_scratch(1);
  for (int64_t gi = 0; gi < G; gi++)
    for (int64_t i = 0; i < k[0]; i++) {
      if (!s->pre && i == 0)
        cpu_sgemm_pack(wp, cpu_data(p, s->in[1]) + gi * (k[4] / G) * (k[1] / G), k[4] / G,
                       k[1] / G);
      g[0] = step_gemm(p, s, i, gi, s->pre ? s->pre + gi * pw : wp, true, true);
      cpu_sgemm(p->pool, g, 1, p->scratch, (int)k[17]);
    }
}

/* A lone sgemm conv of one group with a constant weight. */
static bool chain_link(const CpuStep *s) {
  return strcmp(s->op->op, "conv") == 0 && s->k[19] == 1 && s->k[15] == 1 && s->pre;
}

/* Step b can run in a chain after step a: it reads a's output, which
 * nothing else reads and the function does not return. */
static bool chains(const CpuPlan *p, const CpuStep *a, const CpuStep *b) {
  if (!chain_link(b) || b->in[0] != a->out[0] || a->nout != 1 || b->k[0] != a->k[0] ||
      p->slots[a->out[0]].keep || cpu_readers(p, a->out[0]) != 1)
    return false;
  CpuSgemm ga = step_gemm(p, a, 0, 0, NULL, false, false);
  CpuSgemm gb = step_gemm(p, b, 0, 0, NULL, false, false);
  return cpu_sgemm_chains(&ga, &gb);
}

void cpu_sgemm_fuse(CpuPlan *p) {
  if (p->timer)   /* anerun --profile times every op on its own */
    return;
  for (int j = 0; j < p->nsteps; j++) {
    CpuStep *s = &p->steps[j];
    if (!chain_link(s))
      continue;
    int n = 1;
    while (n < SG_CHAIN && j + n < p->nsteps && chains(p, &s[n - 1], &s[n]))
      n++;
    if (n == 1)
      continue;
    s->k[19] = n;
    for (int l = 1; l < n; l++) {
      s[l].k[19] = 0;
      s[l].run = cpu_run_nothing;
    }
    int64_t need = s->k[17] * cpu_sgemm_scratch(n);
    if (p->nscratch < need)
      p->nscratch = need;
    j += n - 1;
  }
}
