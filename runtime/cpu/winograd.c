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
  WINO_TILES = 128,   /* most tiles in one block */
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

/* len values of input row ih from column iw on; zeros outside x. */
static void load_row(float *d, const float *xc, const int64_t *k, int64_t ih, int64_t iw,
                     int64_t len) {
  int64_t H = k[2], W = k[3];
  if (ih < 0 || ih >= H) {
    memset(d, 0, (size_t)len * sizeof *d);
    return;
  }
  int64_t lo = iw < 0 ? -iw : 0, hi = W - iw < len ? W - iw : len;
  hi = hi < lo ? lo : hi;
  memset(d, 0, (size_t)lo * sizeof *d);
  memcpy(d + lo, xc + ih * W + iw + lo, (size_t)(hi - lo) * sizeof *d);
  memset(d + hi, 0, (size_t)(len - hi) * sizeof *d);
}

/* V[e][c][t - t0] = (B^T d B)[e] for the tiles [t0, t1), ld nt. */
static void wino_in(float *v, const float *x, const int64_t *k, int64_t t0, int64_t t1,
                    int64_t nt) {
  int64_t C = k[1], HW = k[2] * k[3], CN = C * nt;
  float d[4][2 * WINO_SEG + 2], r[4][2 * WINO_SEG + 2];
  for (int64_t t = t0; t < t1;) {
    Stretch st = stretch_at(k, t, t1, WINO_SEG);
    int64_t len = 2 * st.m + 2;
    for (int64_t c = 0; c < C; c++) {
      const float *xc = x + (st.n * C + c) * HW;
      for (int i = 0; i < 4; i++)
        load_row(d[i], xc, k, 2 * st.th - k[11] + i, 2 * st.tw - k[12], len);
      for (int64_t q = 0; q < len; q++) {   /* B^T d: down the columns */
        r[0][q] = d[0][q] - d[2][q];
        r[1][q] = d[1][q] + d[2][q];
        r[2][q] = d[2][q] - d[1][q];
        r[3][q] = d[1][q] - d[3][q];
      }
      float *vc = v + c * nt + (t - t0);
      for (int a = 0; a < 4; a++) {         /* (B^T d) B: along the rows */
        const float *ra = r[a];
        float *v0 = vc + 4 * a * CN, *v1 = v0 + CN, *v2 = v1 + CN, *v3 = v2 + CN;
        for (int64_t j = 0; j < st.m; j++) {
          v0[j] = ra[2 * j] - ra[2 * j + 2];
          v1[j] = ra[2 * j + 1] + ra[2 * j + 2];
          v2[j] = ra[2 * j + 2] - ra[2 * j + 1];
          v3[j] = ra[2 * j + 1] - ra[2 * j + 3];
        }
      }
    }
    t += st.m;
  }
}

/* y's tiles [t0, t1) = A^T M A + bias, from M[e][ko][t - t0] (ld nt);
 * rounded to fp16 with round. */
static void wino_out(float *y, const float *mo, const float *bias, const int64_t *k, int64_t t0,
                     int64_t t1, int64_t nt, bool round) {
  int64_t K = k[4], Ho = k[13], Wo = k[14], E = K * nt;
  float o[4][WINO_SEG];
  for (int64_t t = t0; t < t1;) {
    Stretch st = stretch_at(k, t, t1, WINO_SEG);
    int64_t ow0 = 2 * st.tw, nw = Wo - ow0 < 2 * st.m ? Wo - ow0 : 2 * st.m;
    for (int64_t ko = 0; ko < K; ko++) {
      const float *m = mo + ko * nt + (t - t0);
      float b = bias ? bias[ko] : 0.0f;
      for (int64_t j = 0; j < st.m; j++) {
        float s[2][4];
        for (int c = 0; c < 4; c++) {       /* A^T M: down the columns */
          float m0 = m[c * E + j], m1 = m[(4 + c) * E + j], m2 = m[(8 + c) * E + j];
          float m3 = m[(12 + c) * E + j];
          s[0][c] = m0 + m1 + m2;
          s[1][c] = m1 - m2 - m3;
        }
        for (int a = 0; a < 2; a++) {       /* (A^T M) A: along the rows */
          o[2 * a][j] = s[a][0] + s[a][1] + s[a][2] + b;
          o[2 * a + 1][j] = s[a][1] - s[a][2] - s[a][3] + b;
        }
      }
      for (int a = 0; a < 2 && 2 * st.th + a < Ho; a++) {
        float *yr = y + ((st.n * K + ko) * Ho + 2 * st.th + a) * Wo + ow0;
        for (int64_t q = 0; q < nw; q++)
          yr[q] = o[2 * a + (q & 1)][q >> 1];
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
  int64_t nt, ntiles;
  bool round;
  atomic_int next;          /* the next free block buffer */
} WinoJob;

static void wino_piece(void *ctx, int64_t lo, int64_t hi) {
  WinoJob *j = ctx;
  const int64_t *k = j->s->k;
  int64_t C = k[1], K = k[4], nt = j->nt;
  int slot = atomic_fetch_add(&j->next, 1);
  float *v = j->buf + slot * block_floats(k), *mo = v + 16 * C * nt;
  for (int64_t bl = lo; bl < hi; bl++) {
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
  int64_t ntiles = k[0] * ((k[13] + 1) / 2) * ((k[14] + 1) / 2), nth = p->pool ? k[17] : 1;
  float *buf = p->scratch;
  if (!u) {   /* a weight computed at eval(): transformed after the blocks' buffers */
    float *uu = buf + k[17] * block_floats(k);
    cpu_wino_weights(uu, cpu_data(p, s->in[1]), k[4], k[1]);
    u = uu;
  }
  /* as many blocks as fit WINO_TILES, a multiple of the threads */
  int64_t nblk = (ntiles + WINO_TILES - 1) / WINO_TILES;
  nblk = (nblk + nth - 1) / nth * nth;
  WinoJob j = {s, x, u, bias, y, buf, (ntiles + nblk - 1) / nblk, ntiles,
               s->rounds && !p->fp32, 0};
  nblk = (ntiles + j.nt - 1) / j.nt;
  int blas = openblas_get_num_threads();
  if (p->pool)
    openblas_set_num_threads(1);
  cpu_parallel(p->pool, nblk, 1, wino_piece, &j);
  if (p->pool)
    openblas_set_num_threads(blas);
}
