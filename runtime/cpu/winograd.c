/* winograd.c - 3x3 convs of stride 1 by Winograd's minimal filtering
 * F(2x2, 3x3) (Lavin and Gray, "Fast Algorithms for Convolutional Neural
 * Networks", 2016). Each 2x2 output tile is A^T [U . (B^T d B)] A, d the
 * 4x4 input patch under it and U = G g G^T the transformed 3x3 kernel, so
 * a tile costs 16 multiplies per (input, output) channel pair instead of
 * 36; the multiplies are 16 GEMMs [Cout x Cin] x [Cin x tiles], one per
 * position of the 4x4 transformed tile.
 *
 * The transforms only add, subtract and halve (B and A hold 0 and +-1, G
 * also 1/2), so the result is a sum of the same products in another
 * order, with at most a few more fp32 roundings per output than im2col's
 * dot product; U is computed in double and rounded once.
 *
 * Threads take blocks of tiles (of all images of the batch) whole: each
 * transforms its block's input, runs the 16 GEMMs on one thread and
 * transforms them back, so a block's intermediate values stay in its
 * core's cache. OpenBLAS is held at one thread meanwhile. */
#include <cblas.h>
#include <stdatomic.h>
#include <string.h>

#include "cpu.h"

/* k as conv's (conv.c): 0 N, 1 Cin, 2 H, 3 W, 4 Cout, 5 Kh, 6 Kw, 7 sh,
 * 8 sw, 9 dh, 10 dw, 11 pad top, 12 pad left, 13 Ho, 14 Wo, 15 groups;
 * 17: the threads the scratch buffer was sized for. */
enum {
  WINO_TILES = 64,   /* most tiles in one block */
  WINO_SEG = 64,      /* most tiles transformed from one stretch of input rows */
};

bool cpu_wino_fits(const int64_t *k) {
  return k[5] == 3 && k[6] == 3 && k[7] == 1 && k[8] == 1 && k[9] == 1 && k[10] == 1 &&
         k[15] == 1;
}

/* One thread's block: V [16][Cin][tiles] then M [16][Cout][tiles]. */
static int64_t block_floats(const int64_t *k) { return 16 * (k[1] + k[4]) * WINO_TILES; }

int64_t cpu_wino_scratch(int64_t *k, bool const_weight) {
  int nth = openblas_get_num_threads();
  k[17] = nth > 1 ? nth : 1;
  return k[17] * block_floats(k) + (const_weight ? 0 : 16 * k[1] * k[4]);
}

void cpu_wino_weights(float *u, const float *w, int64_t K, int64_t C) {
  for (int64_t ko = 0; ko < K; ko++)
    for (int64_t c = 0; c < C; c++) {
      const float *g = w + (ko * C + c) * 9;
      double t[4][3], v;
      for (int j = 0; j < 3; j++) {   /* G g */
        t[0][j] = g[j];
        t[1][j] = 0.5 * ((double)g[j] + g[3 + j] + g[6 + j]);
        t[2][j] = 0.5 * ((double)g[j] - g[3 + j] + g[6 + j]);
        t[3][j] = g[6 + j];
      }
      for (int i = 0; i < 4; i++)     /* (G g) G^T */
        for (int j = 0; j < 4; j++) {
          v = j == 0 ? t[i][0] : j == 3 ? t[i][2]
              : 0.5 * (t[i][0] + (j == 1 ? t[i][1] : -t[i][1]) + t[i][2]);
          u[((4 * i + j) * K + ko) * C + c] = (float)v;
        }
    }
}

/* Tiles are numbered over the batch: image n, tile row th, column tw. A
 * stretch is the run of tiles from t along one tile row, at most lim. */
typedef struct Stretch {
  int64_t n, th, tw, m;
} Stretch;

static Stretch stretch_at(const int64_t *k, int64_t t, int64_t t1, int64_t lim) {
  int64_t TW = (k[14] + 1) / 2, T = (k[13] + 1) / 2 * TW, r = t % T;
  Stretch st = {t / T, r / TW, r % TW, TW - r % TW};
  st.m = st.m < t1 - t ? st.m : t1 - t;
  st.m = st.m < lim ? st.m : lim;
  return st;
}

/* Input row ih from column iw on, 2 m + 2 values (zeros outside x), split
 * into the even columns ev and the odd od (m + 1 each), so the transforms
 * below read unit strides and vectorise. */
static void load_row(float *restrict ev, float *restrict od, const float *xc, const int64_t *k,
                     int64_t ih, int64_t iw, int64_t m) {
  int64_t H = k[2], W = k[3], len = 2 * m + 2;
  float row[2 * WINO_SEG + 2];
  if (ih < 0 || ih >= H) {
    memset(ev, 0, (size_t)(m + 1) * sizeof *ev);
    memset(od, 0, (size_t)(m + 1) * sizeof *od);
    return;
  }
  int64_t lo = iw < 0 ? -iw : 0, hi = W - iw < len ? W - iw : len;
  hi = hi < lo ? lo : hi;
  memset(row, 0, (size_t)lo * sizeof *row);
  memcpy(row + lo, xc + ih * W + iw + lo, (size_t)(hi - lo) * sizeof *row);
  memset(row + hi, 0, (size_t)(len - hi) * sizeof *row);
  CPU_EACH(m + 1, ev[i] = row[2 * i]; od[i] = row[2 * i + 1]);
}

/* One row a of B^T d B for m tiles: r = row a of B^T d, split even/odd. */
static void in_cols(float *restrict v0, float *restrict v1, float *restrict v2,
                    float *restrict v3, const float *restrict re, const float *restrict ro,
                    int64_t m) {
  CPU_EACH(m, v0[i] = re[i] - re[i + 1]; v1[i] = ro[i] + re[i + 1]; v2[i] = re[i + 1] - ro[i];
           v3[i] = ro[i] - ro[i + 1]);
}

/* Rows r0..r3 of B^T d from rows d0..d3 of d, n values each. */
static void in_rows(float *restrict r0, float *restrict r1, float *restrict r2, float *restrict r3,
                    const float *restrict d0, const float *restrict d1, const float *restrict d2,
                    const float *restrict d3, int64_t n) {
  CPU_EACH(n, r0[i] = d0[i] - d2[i]; r1[i] = d1[i] + d2[i]; r2[i] = d2[i] - d1[i];
           r3[i] = d1[i] - d3[i]);
}

/* V[e][c][t - t0] = (B^T d B)[e] for the tiles [t0, t1), ld nt. */
static void wino_in(float *v, const float *x, const int64_t *k, int64_t t0, int64_t t1,
                    int64_t nt) {
  int64_t C = k[1], HW = k[2] * k[3], CN = C * nt;
  float d[8][WINO_SEG + 1], r[8][WINO_SEG + 1];   /* rows 0..3, even then odd */
  for (int64_t t = t0; t < t1;) {
    Stretch st = stretch_at(k, t, t1, WINO_SEG);
    int64_t n1 = st.m + 1;
    for (int64_t c = 0; c < C; c++) {
      const float *xc = x + (st.n * C + c) * HW;
      for (int i = 0; i < 4; i++)
        load_row(d[i], d[4 + i], xc, k, 2 * st.th - k[11] + i, 2 * st.tw - k[12], st.m);
      for (int h = 0; h < 8; h += 4)          /* B^T d: down the columns */
        in_rows(r[h], r[h + 1], r[h + 2], r[h + 3], d[h], d[h + 1], d[h + 2], d[h + 3], n1);
      float *vc = v + c * nt + (t - t0);
      for (int a = 0; a < 4; a++) {            /* (B^T d) B: along the rows */
        float *v0 = vc + 4 * a * CN;
        in_cols(v0, v0 + CN, v0 + 2 * CN, v0 + 3 * CN, r[a], r[4 + a], st.m);
      }
    }
    t += st.m;
  }
}

/* One output channel's m tiles of A^T M A + b: rows o0 (even columns, odd
 * columns) and o1 (the same) from M's 16 rows at mm, E apart. */
static void out_tiles(float *restrict o, const float *restrict mm, int64_t E, float b,
                      int64_t m) {
  const float *restrict m0 = mm, *restrict m1 = mm + 4 * E, *restrict m2 = mm + 8 * E;
  const float *restrict m3 = mm + 12 * E;
  float *restrict o0 = o, *restrict o1 = o + WINO_SEG, *restrict o2 = o + 2 * WINO_SEG;
  float *restrict o3 = o + 3 * WINO_SEG;
  /* s = A^T M down the columns c (M's row e = 4 r + c), then s A along the rows */
#define S0(c) (m0[(c) * E + i] + m1[(c) * E + i] + m2[(c) * E + i])
#define S1(c) (m1[(c) * E + i] - m2[(c) * E + i] - m3[(c) * E + i])
  CPU_EACH(m, o0[i] = S0(0) + S0(1) + S0(2) + b; o1[i] = S0(1) - S0(2) - S0(3) + b;
           o2[i] = S1(0) + S1(1) + S1(2) + b; o3[i] = S1(1) - S1(2) - S1(3) + b);
#undef S0
#undef S1
}

/* Output row yr (nw values) from its even columns ev and odd od. */
static void out_row(float *restrict yr, const float *restrict ev, const float *restrict od,
                    int64_t nw) {
  CPU_EACH(nw / 2, yr[2 * i] = ev[i]; yr[2 * i + 1] = od[i]);
  if (nw & 1)
    yr[nw - 1] = ev[nw / 2];
}

/* y's tiles [t0, t1) = A^T M A + bias, from M[e][ko][t - t0] (ld nt);
 * rounded to fp16 with round. */
static void wino_out(float *y, const float *mo, const float *bias, const int64_t *k, int64_t t0,
                     int64_t t1, int64_t nt, bool round) {
  int64_t K = k[4], Ho = k[13], Wo = k[14], E = K * nt;
  float o[4 * WINO_SEG];
  for (int64_t t = t0; t < t1;) {
    Stretch st = stretch_at(k, t, t1, WINO_SEG);
    int64_t ow0 = 2 * st.tw, nw = Wo - ow0 < 2 * st.m ? Wo - ow0 : 2 * st.m;
    for (int64_t ko = 0; ko < K; ko++) {
      out_tiles(o, mo + ko * nt + (t - t0), E, bias ? bias[ko] : 0.0f, st.m);
      for (int a = 0; a < 2 && 2 * st.th + a < Ho; a++) {
        float *yr = y + ((st.n * K + ko) * Ho + 2 * st.th + a) * Wo + ow0;
        out_row(yr, o + 2 * a * WINO_SEG, o + (2 * a + 1) * WINO_SEG, nw);
        if (round)
          cpu_round_fp16(yr, nw);
      }
    }
    t += st.m;
  }
}

typedef struct WinoJob {
  const CpuStep *s;
  const float *x, *u, *bias;
  float *y, *buf;
  int64_t nt, ntiles, nblk;
  bool round;
  atomic_int slot;          /* the next free block buffer */
  atomic_llong next;        /* the next block to do */
} WinoJob;

/* A thread takes blocks one at a time (so one slowed by the machine's
 * other work takes fewer), into a buffer of its own. */
static void wino_piece(void *ctx, int64_t lo, int64_t hi) {
  (void)lo;
  (void)hi;
  WinoJob *j = ctx;
  const int64_t *k = j->s->k;
  int64_t C = k[1], K = k[4], nt = j->nt;
  float *v = j->buf + atomic_fetch_add(&j->slot, 1) * block_floats(k), *mo = v + 16 * C * nt;
  for (int64_t bl; (bl = atomic_fetch_add(&j->next, 1)) < j->nblk;) {
    int64_t t0 = bl * nt, t1 = t0 + nt < j->ntiles ? t0 + nt : j->ntiles;
    wino_in(v, j->x, k, t0, t1, nt);
    for (int e = 0; e < 16; e++)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)K, (int)(t1 - t0), (int)C, 1.0f,
                  j->u + e * K * C, (int)C, v + e * C * nt, (int)nt, 0.0f, mo + e * K * nt,
                  (int)nt);
    wino_out(j->y, mo, j->bias, k, t0, t1, nt, j->round);
  }
}

void cpu_wino_run(const CpuPlan *p, const CpuStep *s, const float *x, const float *u,
                  const float *bias, float *y) {
  const int64_t *k = s->k;
  int64_t ntiles = k[0] * ((k[13] + 1) / 2) * ((k[14] + 1) / 2);
  float *buf = p->scratch;
  if (ntiles == 0)
    return;
  if (!u) {   /* a weight computed at eval(): transformed after the blocks' buffers */
    float *uu = buf + k[17] * block_floats(k);
    cpu_wino_weights(uu, cpu_data(p, s->in[1]), k[4], k[1]);
    u = uu;
  }
  /* blocks of equal size, at most WINO_TILES */
  int64_t nblk = (ntiles + WINO_TILES - 1) / WINO_TILES, nt = (ntiles + nblk - 1) / nblk;
  WinoJob j = {.s = s, .x = x, .u = u, .bias = bias, .y = y, .buf = buf, .nt = nt,
               .ntiles = ntiles, .nblk = (ntiles + nt - 1) / nt, .round = s->rounds && !p->fp32};
  atomic_init(&j.slot, 0);
  atomic_init(&j.next, 0);
  int blas = openblas_get_num_threads();
  if (p->pool)
    openblas_set_num_threads(1);
  cpu_parallel(p->pool, j.nblk, 1, wino_piece, &j);
  if (p->pool)
    openblas_set_num_threads(blas);
}
