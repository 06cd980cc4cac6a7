/* winograd.c - 3x3 convs of stride 1 by Winograd's minimal filtering
 * F(m x m, 3x3) (Lavin and Gray, "Fast Algorithms for Convolutional Neural
 * Networks", 2016). Each m x m output tile is A^T [U . (B^T d B)] A, d the
 * (m + 2) x (m + 2) input patch under it and U = G g G^T the transformed
 * 3x3 kernel, so a tile costs (m + 2)^2 multiplies per (input, output)
 * channel pair instead of 9 m^2; the multiplies are (m + 2)^2 GEMMs
 * [Cout x Cin] x [Cin x tiles], one per position of the transformed tile.
 *
 * m = 2: B and A hold 0 and +-1, G also 1/2, so the result is a sum of the
 * same products in another order, with a few more fp32 roundings per
 * output than im2col's dot product. m = 4 (points 0, +-1, +-2) has
 * coefficients up to 8 and 1/24 and about 20 times that error, so
 * cpu_wino_prep takes it only where the output is rounded to fp16. U is
 * computed in double and rounded once.
 *
 * Threads take blocks of tiles (of all images of the batch) whole: each
 * transforms its block's input, runs the GEMMs on one thread and
 * transforms them back, so a block's intermediate values stay in its
 * core's cache. OpenBLAS is held at one thread meanwhile. */
#include <cblas.h>
#include <stdatomic.h>
#include <string.h>

#include "cpu.h"

/* k as conv's (conv.c): 0 N, 1 Cin, 2 H, 3 W, 4 Cout, 5 Kh, 6 Kw, 7 sh,
 * 8 sw, 9 dh, 10 dw, 11 pad top, 12 pad left, 13 Ho, 14 Wo, 15 groups;
 * 17: the threads the scratch buffer was sized for; 18: the output tile's
 * side m (2 or 4), the input tile's being m + 2. */
enum {
  WINO_SEG = 64,      /* most tiles transformed from one stretch of input rows */
  /* The transforms run over a stretch's tiles rounded up to a multiple of
   * 16, so gcc's vectorised loops have no scalar tail (a 56-wide output
   * is 14 or 28 tiles). The extra lanes are computed from zeros or from
   * M's padding and land in V's padding, in the next stretch's place
   * (written after) or in a local row; V and M have rows of nt + WINO_PAD. */
  WINO_PAD = 16,
  WINO_P = WINO_SEG + WINO_PAD + 1,   /* a phase's or column's room */
};

static int64_t pad16(int64_t n) { return (n + WINO_PAD - 1) / WINO_PAD * WINO_PAD; }

/* Most tiles in one block, for a thread's V and M to stay near its core:
 * block_floats, 0.9 MB at m = 4 for 64 channels in and out. */
static int64_t block_tiles(int m) { return m == 2 ? 64 : 32; }

/* (no channels: left to im2col, as BLAS refuses a leading dimension of 0) */
bool cpu_wino_fits(const int64_t *k) {
  return k[1] > 0 && k[4] > 0 && k[5] == 3 && k[6] == 3 && k[7] == 1 && k[8] == 1 &&
         k[9] == 1 && k[10] == 1 && k[15] == 1;
}

/* One thread's block: V [a^2][Cin][tiles] then M [a^2][Cout][tiles]. */
static int64_t block_floats(const int64_t *k) {
  int64_t a = k[18] + 2;
  return a * a * (k[1] + k[4]) * (block_tiles((int)k[18]) + WINO_PAD);
}

/* G of F(2x2, 3x3) and of F(4x4, 3x3) (interpolation points 0, +-1 and
 * 0, +-1, +-2, with infinity), a x 3. */
static const double G2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
static const double G4[6][3] = {{1.0 / 4, 0, 0},
                                {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                                {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                                {1.0 / 24, 1.0 / 12, 1.0 / 6},
                                {1.0 / 24, -1.0 / 12, 1.0 / 6},
                                {0, 0, 1}};

void cpu_wino_weights(float *u, const float *w, int64_t K, int64_t C, int m) {
  int a = m + 2;
  const double(*G)[3] = m == 2 ? G2 : G4;
  for (int64_t ko = 0; ko < K; ko++)
    for (int64_t c = 0; c < C; c++) {
      const float *g = w + (ko * C + c) * 9;
      double t[6][3];
      for (int i = 0; i < a; i++)     /* G g */
        for (int j = 0; j < 3; j++)
          t[i][j] = G[i][0] * g[j] + G[i][1] * g[3 + j] + G[i][2] * g[6 + j];
      for (int i = 0; i < a; i++)     /* (G g) G^T */
        for (int j = 0; j < a; j++)
          u[((a * i + j) * K + ko) * C + c] =
              (float)(t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2]);
    }
}

/* The tiles of side m over the batch. */
static int64_t count_tiles(const int64_t *k, int64_t m) {
  return k[0] * ((k[13] + m - 1) / m) * ((k[14] + m - 1) / m);
}

int cpu_wino_prep(CpuBuild *b, CpuStep *s, const CpuSlot *x, const CpuSlot *w) {
  int64_t *k = s->k;
  /* Fewer input channels or tiles than these ran slower than im2col
   * (measured, one thread): the GEMMs are too thin, or every block reads
   * all of U, (m + 2)^2 / 9 times the weights (512 channels at 7x7: 38
   * MB at m = 4), for a few tiles. */
  enum { MIN_CIN = 8, MIN_TILES = 20 };
  if (!cpu_wino_fits(k) || k[1] < MIN_CIN)
    return 0;
  /* F(4x4, 3x3) where the output is rounded to fp16: its fp32 error
   * (about 1e-5 of the largest output, 20 times F(2x2, 3x3)'s) is small
   * next to fp16's half ulp (docs/cpu-speed.md) */
  int m = x->dtype == MIL_FP16 && !b->plan->fp32 && count_tiles(k, 4) >= MIN_TILES ? 4 : 2;
  if (count_tiles(k, m) < MIN_TILES)
    return 0;
  int nth = openblas_get_num_threads();
  bool cw = w->isconst && w->data;
  k[17] = nth > 1 ? nth : 1;
  k[18] = m;
  cpu_scratch(b, k[17] * block_floats(k) + (cw ? 0 : (m + 2) * (m + 2) * k[1] * k[4]));
  if (cw) {
    if (!(s->pre = cpu_step_alloc(b, (m + 2) * (m + 2) * k[1] * k[4], sizeof *s->pre)))
      return -1;
    cpu_wino_weights(s->pre, w->data, k[4], k[1], m);
  }
  return 1;
}

/* Tiles are numbered over the batch: image n, tile row th, column tw. A
 * stretch is the run of cnt tiles from t along one tile row, at most lim. */
typedef struct Stretch {
  int64_t n, th, tw, cnt;
} Stretch;

static Stretch stretch_at(const int64_t *k, int64_t t, int64_t t1, int64_t lim) {
  int64_t m = k[18], TW = (k[14] + m - 1) / m, T = (k[13] + m - 1) / m * TW, r = t % T;
  Stretch st = {t / T, r / TW, r % TW, TW - r % TW};
  st.cnt = st.cnt < t1 - t ? st.cnt : t1 - t;
  st.cnt = st.cnt < lim ? st.cnt : lim;
  return st;
}

/* Input row ih from column iw on, m n1 values (zeros outside x), split
 * into m phases ph[r][j] = column m j + r (n1 each, WINO_P apart), so the
 * transforms below read unit strides and vectorise. */
static void load_row(float *ph, const float *xc, const int64_t *k, int64_t ih, int64_t iw,
                     int64_t n1) {
  int64_t H = k[2], W = k[3], m = k[18], len = m * n1;
  enum { P = WINO_P };
  float row[4 * WINO_P];
  if (ih < 0 || ih >= H) {
    for (int r = 0; r < m; r++)
      memset(ph + r * P, 0, (size_t)n1 * sizeof *ph);
    return;
  }
  int64_t lo = iw < 0 ? -iw : 0, hi = W - iw < len ? W - iw : len;
  hi = hi < lo ? lo : hi;
  memset(row, 0, (size_t)lo * sizeof *row);
  memcpy(row + lo, xc + ih * W + iw + lo, (size_t)(hi - lo) * sizeof *row);
  memset(row + hi, 0, (size_t)(len - hi) * sizeof *row);
  float *restrict p0 = ph, *restrict p1 = ph + P, *restrict p2 = ph + 2 * P;
  float *restrict p3 = ph + 3 * P;
  if (m == 2)
    CPU_EACH(n1, p0[i] = row[2 * i]; p1[i] = row[2 * i + 1]);
  else
    CPU_EACH(n1, p0[i] = row[4 * i]; p1[i] = row[4 * i + 1]; p2[i] = row[4 * i + 2];
             p3[i] = row[4 * i + 3]);
}

/* B^T of F(2x2, 3x3) on n columns: o = B^T (c0, c1, c2, c3). */
static void bt4(float *restrict o0, float *restrict o1, float *restrict o2, float *restrict o3,
                const float *restrict c0, const float *restrict c1, const float *restrict c2,
                const float *restrict c3, int64_t n) {
  CPU_EACH(n, o0[i] = c0[i] - c2[i]; o1[i] = c1[i] + c2[i]; o2[i] = c2[i] - c1[i];
           o3[i] = c1[i] - c3[i]);
}

/* B^T of F(4x4, 3x3): rows 4 0 -5 0 1 0 / 0 -4 -4 1 1 0 / 0 4 -4 -1 1 0 /
 * 0 -2 -1 2 1 0 / 0 2 -1 -2 1 0 / 0 4 0 -5 0 1. */
static void bt6(float *restrict *o, const float *restrict c0, const float *restrict c1,
                const float *restrict c2, const float *restrict c3, const float *restrict c4,
                const float *restrict c5, int64_t n) {
  float *restrict o0 = o[0], *restrict o1 = o[1], *restrict o2 = o[2], *restrict o3 = o[3];
  float *restrict o4 = o[4], *restrict o5 = o[5];
  CPU_EACH(n, o0[i] = 4 * c0[i] - 5 * c2[i] + c4[i];
           o1[i] = c3[i] + c4[i] - 4 * (c1[i] + c2[i]);
           o2[i] = 4 * (c1[i] - c2[i]) - c3[i] + c4[i];
           o3[i] = 2 * (c3[i] - c1[i]) - c2[i] + c4[i];
           o4[i] = 2 * (c1[i] - c3[i]) - c2[i] + c4[i];
           o5[i] = 4 * c1[i] - 5 * c3[i] + c5[i]);
}

/* V[e][c][t - t0] = (B^T d B)[e] for the tiles [t0, t1), rows of nt +
 * WINO_PAD. */
static void wino_in(float *v, const float *x, const int64_t *k, int64_t t0, int64_t t1,
                    int64_t nt) {
  int64_t ld = nt + WINO_PAD, C = k[1], HW = k[2] * k[3], CN = C * ld, m = k[18], a = m + 2;
  float d[6][4][WINO_P], r[6][4][WINO_P];   /* input rows, phases; rows of B^T d, phases */
  for (int64_t t = t0; t < t1;) {
    Stretch st = stretch_at(k, t, t1, WINO_SEG);
    int64_t np = pad16(st.cnt), n1 = np + 1;
    for (int64_t c = 0; c < C; c++) {
      const float *xc = x + (st.n * C + c) * HW;
      for (int i = 0; i < a; i++)
        load_row(d[i][0], xc, k, m * st.th - k[11] + i, m * st.tw - k[12], n1);
      float *vc = v + c * ld + (t - t0);
      if (m == 2) {
        for (int h = 0; h < 2; h++)            /* B^T d: down the columns */
          bt4(r[0][h], r[1][h], r[2][h], r[3][h], d[0][h], d[1][h], d[2][h], d[3][h], n1);
        for (int i = 0; i < 4; i++) {          /* (B^T d) B: along the rows */
          float *v0 = vc + 4 * i * CN;
          bt4(v0, v0 + CN, v0 + 2 * CN, v0 + 3 * CN, r[i][0], r[i][1], r[i][0] + 1, r[i][1] + 1,
              np);
        }
        continue;
      }
      for (int h = 0; h < 4; h++) {
        float *o[6] = {r[0][h], r[1][h], r[2][h], r[3][h], r[4][h], r[5][h]};
        bt6(o, d[0][h], d[1][h], d[2][h], d[3][h], d[4][h], d[5][h], n1);
      }
      for (int i = 0; i < 6; i++) {
        float *v0 = vc + 6 * i * CN;
        float *o[6] = {v0, v0 + CN, v0 + 2 * CN, v0 + 3 * CN, v0 + 4 * CN, v0 + 5 * CN};
        bt6(o, r[i][0], r[i][1], r[i][2], r[i][3], r[i][0] + 1, r[i][1] + 1, np);
      }
    }
    t += st.cnt;
  }
}

/* A^T of F(2x2, 3x3) on n columns c[0..3] (E apart): rows 1 1 1 0 / 0 1 -1 -1. */
static void at4(float *restrict o0, float *restrict o1, const float *restrict c, int64_t E,
                int64_t n) {
  const float *restrict c0 = c, *restrict c1 = c + E, *restrict c2 = c + 2 * E;
  const float *restrict c3 = c + 3 * E;
  CPU_EACH(n, o0[i] = c0[i] + c1[i] + c2[i]; o1[i] = c1[i] - c2[i] - c3[i]);
}

/* A^T of F(4x4, 3x3): rows 1 1 1 1 1 0 / 0 1 -1 2 -2 0 / 0 1 1 4 4 0 /
 * 0 1 -1 8 -8 1. */
static void at6(float *restrict o0, float *restrict o1, float *restrict o2, float *restrict o3,
                const float *restrict c, int64_t E, int64_t n) {
  const float *restrict c0 = c, *restrict c1 = c + E, *restrict c2 = c + 2 * E;
  const float *restrict c3 = c + 3 * E, *restrict c4 = c + 4 * E, *restrict c5 = c + 5 * E;
  CPU_EACH(n, o0[i] = c0[i] + c1[i] + c2[i] + c3[i] + c4[i];
           o1[i] = c1[i] - c2[i] + 2 * (c3[i] - c4[i]);
           o2[i] = c1[i] + c2[i] + 4 * (c3[i] + c4[i]);
           o3[i] = c1[i] - c2[i] + 8 * (c3[i] - c4[i]) + c5[i]);
}

/* An output row of m np values + b from its m phases o[r][j] (P apart). */
static void out_row(float *restrict yr, const float *restrict o, int64_t P, int64_t m, int64_t np,
                    float b) {
  if (m == 2)
    CPU_EACH(np, yr[2 * i] = o[i] + b; yr[2 * i + 1] = o[P + i] + b);
  else
    CPU_EACH(np, yr[4 * i] = o[i] + b; yr[4 * i + 1] = o[P + i] + b;
             yr[4 * i + 2] = o[2 * P + i] + b; yr[4 * i + 3] = o[3 * P + i] + b);
}

/* y's tiles [t0, t1) = A^T M A + bias, from M[e][ko][t - t0] (rows of
 * nt + WINO_PAD); rounded to fp16 with round. */
static void wino_out(float *y, const float *mo, const float *bias, const int64_t *k, int64_t t0,
                     int64_t t1, int64_t nt, bool round) {
  enum { P = WINO_P };
  int64_t ld = nt + WINO_PAD, K = k[4], Ho = k[13], Wo = k[14], E = K * ld, m = k[18], a = m + 2;
  float s[4][6][P], o[4][4][P], row[4 * P];   /* rows of A^T M, columns; A^T M A, phases */
  for (int64_t t = t0; t < t1;) {
    Stretch st = stretch_at(k, t, t1, WINO_SEG);
    int64_t np = pad16(st.cnt), ow0 = m * st.tw;
    int64_t nw = Wo - ow0 < m * st.cnt ? Wo - ow0 : m * st.cnt;
    for (int64_t ko = 0; ko < K; ko++) {
      const float *mk = mo + ko * ld + (t - t0);
      for (int c = 0; c < a; c++)             /* A^T M: down the columns */
        if (m == 2)
          at4(s[0][c], s[1][c], mk + c * E, a * E, np);
        else
          at6(s[0][c], s[1][c], s[2][c], s[3][c], mk + c * E, a * E, np);
      for (int i = 0; i < m; i++)             /* (A^T M) A: along the rows */
        if (m == 2)
          at4(o[i][0], o[i][1], s[i][0], P, np);
        else
          at6(o[i][0], o[i][1], o[i][2], o[i][3], s[i][0], P, np);
      for (int i = 0; i < m && m * st.th + i < Ho; i++) {
        out_row(row, o[i][0], P, m, np, bias ? bias[ko] : 0.0f);
        if (round)
          cpu_round_fp16(row, m * np);
        float *yr = y + ((st.n * K + ko) * Ho + m * st.th + i) * Wo + ow0;
        memcpy(yr, row, (size_t)nw * sizeof *row);
      }
    }
    t += st.cnt;
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
  int64_t C = k[1], K = k[4], nt = j->nt, ld = nt + WINO_PAD, a = k[18] + 2;
  float *v = j->buf + atomic_fetch_add(&j->slot, 1) * block_floats(k), *mo = v + a * a * C * ld;
  for (int64_t bl; (bl = atomic_fetch_add(&j->next, 1)) < j->nblk;) {
    int64_t t0 = bl * nt, t1 = t0 + nt < j->ntiles ? t0 + nt : j->ntiles;
    wino_in(v, j->x, k, t0, t1, nt);
    for (int e = 0; e < a * a; e++)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)K, (int)(t1 - t0), (int)C, 1.0f,
                  j->u + e * K * C, (int)C, v + e * C * ld, (int)ld, 0.0f, mo + e * K * ld,
                  (int)ld);
    wino_out(j->y, mo, j->bias, k, t0, t1, nt, j->round);
  }
}

void cpu_wino_run(const CpuPlan *p, const CpuStep *s, const float *x, const float *u,
                  const float *bias, float *y) {
  const int64_t *k = s->k;
  int64_t m = k[18], ntiles = count_tiles(k, m);
  float *buf = p->scratch;
  if (ntiles == 0)
    return;
  if (!u) {   /* a weight computed at eval(): transformed after the blocks' buffers */
    float *uu = buf + k[17] * block_floats(k);
    cpu_wino_weights(uu, cpu_data(p, s->in[1]), k[4], k[1], (int)m);
    u = uu;
  }
  /* blocks of equal size, at most block_tiles */
  int64_t bt = block_tiles((int)m), nblk = (ntiles + bt - 1) / bt, nt = (ntiles + nblk - 1) / nblk;
  WinoJob j = {.s = s, .x = x, .u = u, .bias = bias, .y = y, .buf = buf, .nt = nt,
               .ntiles = ntiles, .nblk = (ntiles + nt - 1) / nt, .round = s->rounds && !p->fp32};
  atomic_init(&j.slot, 0);
  atomic_init(&j.next, 0);
  int blas = openblas_get_num_threads();
  if (p->pool)
    openblas_set_num_threads(1);
  /* no more pieces than block buffers, whatever the pool has */
  cpu_parallel(p->pool, j.nblk < k[17] ? j.nblk : k[17], 1, wino_piece, &j);
  if (p->pool)
    openblas_set_num_threads(blas);
}
