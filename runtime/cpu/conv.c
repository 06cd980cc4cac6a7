/* conv.c - the cpu backend's conv and GEMM ops (conv, linear, matmul):
 * GEMM-shaped work goes to cblas_sgemm. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

/* ---- conv ---------------------------------------------------------------------------
 * k: 0 N, 1 Cin, 2 H, 3 W, 4 Cout, 5 Kh, 6 Kw, 7 sh, 8 sw, 9 dh, 10 dw,
 * 11 pad top, 12 pad left, 13 Ho, 14 Wo, 15 groups, 16 how: CONV_*. */

enum {
  CONV_IM2COL,     /* columns in the scratch buffer, then a GEMM per group */
  CONV_DIRECT,     /* 1x1, stride 1, no padding: x is the GEMM's operand */
  CONV_DEPTHWISE,  /* one input channel per group: taps added row by row */
  CONV_WINOGRAD,   /* 3x3, stride 1, no dilation, one group: winograd.c */
  CONV_INT8,       /* 1x1 of int8 activations and weights: igemm.c */
  CONV_SGEMM,      /* 1x1 on sgemm.c's kernel */
  /* im2col's GEMMs take this many output columns at a time, so the
   * scratch buffer holds one block's columns, not the whole matrix (3x3,
   * 128 channels, 56x56: 4.7 MB, not 14.4). Blocks small enough to stay
   * in cache (about 100 columns) made OpenBLAS slower on the bench than
   * the copy they save; 1024 measured the same as one block, within the
   * shared machine's noise. */
  CONV_COLS = 2048,
};

/* x, weight and an optional bias (s->in[0..2]); x and weight fp16 or fp32. */
static int weighted(CpuBuild *b, CpuStep *s, CpuSlot *x, CpuSlot *w, CpuSlot *bias) {
  if (cpu_operand(b, s, 0, "x", true, x) < 0 || cpu_operand(b, s, 1, "weight", true, w) < 0 ||
      cpu_operand(b, s, 2, "bias", false, bias) < 0)
    return -1;
  return cpu_need_float(b, x, "x") < 0 || cpu_need_float(b, w, "weight") < 0 ? -1 : 0;
}

int cpu_conv_bias(CpuBuild *b, const CpuStep *s, int64_t n) {
  if (s->in[2] < 0)
    return 0;
  CpuSlot bias = cpu_slot(b, s->in[2]);
  if (cpu_need_float(b, &bias, "bias") < 0)
    return -1;
  if (bias.rank != 1 || bias.n != n)
    return cpu_error(b, "bias must have shape [%lld]", (long long)n);
  return 0;
}

int cpu_conv_window(CpuBuild *b, int nsp, int64_t *st, int64_t *dil, int64_t *custom,
                    const char **pad_type, int64_t *groups) {
  int64_t ones[3] = {1, 1, 1}, zeros[6] = {0}, one = 1;
  if (cpu_ints_exact(b, "strides", st, nsp, ones) < 0 ||
      cpu_ints_exact(b, "dilations", dil, nsp, ones) < 0 ||
      cpu_ints_exact(b, "pad", custom, 2 * nsp, zeros) < 0 ||
      cpu_param_str(b, "pad_type", "valid", pad_type) < 0 ||
      cpu_param_int(b, "groups", &one, groups) < 0)
    return -1;
  for (int i = 0; i < nsp; i++)
    if (st[i] < 1 || dil[i] < 1)
      return cpu_error(b, "strides and dilations must be at least 1");
  return 0;
}

int cpu_conv_geom(CpuBuild *b, const CpuStep *s, const CpuSlot *x, const int64_t *wd, int nsp,
                  CpuConvGeom *g) {
  int64_t custom[6], in[3] = {0}, keff[3] = {0};
  const char *pt;
  if (cpu_conv_window(b, nsp, g->st, g->dil, custom, &pt, &g->groups) < 0)
    return -1;
  int64_t cin = x->dim[1], cout = wd[0], groups = g->groups;
  if (groups < 1 || cin % groups || cout % groups || wd[1] != cin / groups)
    return cpu_error(b, "weight [%lld, %lld, ...] does not fit x with %lld channels in %lld "
                     "groups", (long long)wd[0], (long long)wd[1], (long long)cin,
                     (long long)groups);
  if (cpu_conv_bias(b, s, cout) < 0)
    return -1;
  for (int i = 0; i < nsp; i++) {
    in[i] = x->dim[2 + i];
    if (wd[2 + i] < 1)
      return cpu_error(b, "weight has an empty kernel dimension");
    keff[i] = (wd[2 + i] - 1) * g->dil[i] + 1;
  }
  if (cpu_conv_pads(b, pt, nsp, in, keff, g->st, custom, g->pad) < 0)
    return -1;
  for (int i = 0; i < nsp; i++) {
    int64_t padded = in[i] + g->pad[2 * i] + g->pad[2 * i + 1];
    if (padded < keff[i])
      return cpu_error(b, "the kernel (%lld with dilation %lld) is larger than the padded "
                       "input (%lld)", (long long)wd[2 + i], (long long)g->dil[i],
                       (long long)padded);
    g->out[i] = (padded - keff[i]) / g->st[i] + 1;
  }
  return 0;
}

int cpu_conv_pads(CpuBuild *b, const char *type, int nsp, const int64_t *in,
                     const int64_t *keff, const int64_t *st, const int64_t *custom,
                     int64_t *pad) {
  for (int i = 0; i < nsp; i++) {
    int64_t *pb = &pad[2 * i], *pa = &pad[2 * i + 1];
    if (strcmp(type, "valid") == 0) {
      *pb = *pa = 0;
    } else if (strcmp(type, "custom") == 0) {
      *pb = custom[2 * i];
      *pa = custom[2 * i + 1];
      if (*pb < 0 || *pa < 0)
        return cpu_error(b, "negative padding %lld, %lld", (long long)*pb, (long long)*pa);
    } else if (strcmp(type, "same") == 0 || strcmp(type, "same_lower") == 0) {
      int64_t out = (in[i] + st[i] - 1) / st[i];
      int64_t total = (out - 1) * st[i] + keff[i] - in[i];
      total = total > 0 ? total : 0;
      bool lower = strcmp(type, "same_lower") == 0;
      *pb = lower ? total - total / 2 : total / 2;
      *pa = total - *pb;
    } else {
      return cpu_error(b, "unknown pad_type \"%s\" (valid, same, same_lower or custom)", type);
    }
  }
  return 0;
}

int cpu_convt_pads(CpuBuild *b, const char *type, int64_t same_out, int64_t full,
                   const int64_t *custom, int64_t *lo, int64_t *hi) {
  if (strcmp(type, "valid") == 0) {
    *lo = *hi = 0;
  } else if (strcmp(type, "custom") == 0) {
    *lo = custom[0];
    *hi = custom[1];
  } else if (strcmp(type, "same") == 0) {
    int64_t total = full - same_out;
    total = total > 0 ? total : 0;
    *lo = total / 2;
    *hi = total - total / 2;
  } else {
    return cpu_error(b, "pad_type \"%s\" is not supported by conv_transpose (valid, same or "
                     "custom)", type);
  }
  return 0;
}

static int prep_conv(CpuBuild *b, CpuStep *s) {
  CpuSlot x, w, bs;
  if (weighted(b, s, &x, &w, &bs) < 0)
    return -1;
  if (x.rank == 5)
    return cpu_conv3d(b, s, &x, &w);
  if (x.rank != 3 && x.rank != 4)
    return cpu_error(b, "x has rank %d; the cpu backend runs 1-d, 2-d and 3-d convs (rank 3, 4 or 5)",
                     x.rank);
  int nsp = x.rank - 2;
  if (w.rank != x.rank)
    return cpu_error(b, "weight has rank %d; x has rank %d", w.rank, x.rank);
  CpuConvGeom g;
  if (cpu_conv_geom(b, s, &x, w.dim, nsp, &g) < 0)
    return -1;
  int64_t cin = x.dim[1], cout = w.dim[0], groups = g.groups;
  bool two = nsp == 2;
  int64_t odim[4] = {x.dim[0], cout, g.out[0], two ? g.out[1] : 0};
  /* a 1-d conv as a 2-d one of height 1: its one dim is W */
  int64_t kv[17] = {x.dim[0], cin, two ? x.dim[2] : 1, x.dim[1 + nsp], cout,
                    two ? w.dim[2] : 1, w.dim[1 + nsp], two ? g.st[0] : 1, g.st[nsp - 1],
                    two ? g.dil[0] : 1, g.dil[nsp - 1], two ? g.pad[0] : 0, g.pad[2 * nsp - 2],
                    two ? g.out[0] : 1, g.out[nsp - 1], groups, 0};
  memcpy(s->k, kv, sizeof kv);
  bool direct = kv[5] == 1 && kv[6] == 1 && kv[7] == 1 && kv[8] == 1 && kv[11] == 0 &&
                kv[12] == 0 && kv[13] == kv[2] && kv[14] == kv[3];
  s->k[16] = direct ? CONV_DIRECT : cin == groups ? CONV_DEPTHWISE : CONV_IM2COL;
  int wg = two && !direct ? cpu_wino_prep(b, s, &x, &w) : 0;
  int i8 = direct ? cpu_igemm_prep(b, s, &w) : 0;
  if (wg < 0 || i8 < 0)
    return -1;
  if (wg)
    s->k[16] = CONV_WINOGRAD;
  int sg = direct && !i8 ? cpu_sgemm_prep(b, s, &w) : 0;
  if (sg < 0)
    return -1;
  if (i8)
    s->k[16] = CONV_INT8;
  if (sg)
    s->k[16] = CONV_SGEMM;
  if (s->k[16] == CONV_IM2COL)
    cpu_scratch(b, cin / groups * kv[5] * kv[6] * (kv[13] * kv[14] < CONV_COLS ? kv[13] * kv[14] : CONV_COLS));
  /* the GEMM kernels round each block of columns as it is done */
  s->rounds = s->k[16] != CONV_DEPTHWISE && x.dtype == MIL_FP16;   /* and Winograd's */
  return cpu_one_out(b, x.dtype, x.rank, odim);
}

/* Columns [c0, c0 + nc) of the im2col matrix of one group: row (c, kh,
 * kw), column (oh, ow) flattened; zeros where the window reads padding.
 * Rows [r0, r1) only, so threads can share the work. */
static void im2col_rows(float *col, const float *x, const int64_t *k, int64_t c0, int64_t nc,
                        int64_t r0, int64_t r1) {
  int64_t H = k[2], W = k[3], Kh = k[5], Kw = k[6], sh = k[7], sw = k[8], dh = k[9], dw = k[10];
  int64_t pt = k[11], pl = k[12], Wo = k[14];
  for (int64_t r = r0; r < r1; r++) {
    int64_t c = r / (Kh * Kw), kh = r / Kw % Kh, kw = r % Kw;
    float *dst = col + r * nc;
    const float *xc = x + c * H * W;
    for (int64_t q = c0; q < c0 + nc;) {   /* one output row's stretch at a time */
      int64_t oh = q / Wo, ow0 = q % Wo, ow1 = Wo < ow0 + (c0 + nc - q) ? Wo : ow0 + (c0 + nc - q);
      int64_t ih = oh * sh - pt + kh * dh;
      float *d = dst + (q - c0);
      if (ih < 0 || ih >= H) {
        memset(d, 0, (size_t)(ow1 - ow0) * sizeof *d);
      } else {
        /* ow reads iw = ow * sw + off, inside [0, W) for ow in [lo, hi) */
        const float *xr = xc + ih * W;
        int64_t off = kw * dw - pl, lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
        int64_t hi = W - 1 - off < 0 ? 0 : (W - 1 - off) / sw + 1;
        lo = lo < ow0 ? ow0 : lo > ow1 ? ow1 : lo;
        hi = hi > ow1 ? ow1 : hi < lo ? lo : hi;
        memset(d, 0, (size_t)(lo - ow0) * sizeof *d);
        if (sw == 1)
          memcpy(d + (lo - ow0), xr + lo + off, (size_t)(hi - lo) * sizeof *d);
        else
          for (int64_t ow = lo; ow < hi; ow++)
            d[ow - ow0] = xr[ow * sw + off];
        memset(d + (hi - ow0), 0, (size_t)(ow1 - hi) * sizeof *d);
      }
      q += ow1 - ow0;
    }
  }
}

static void tap_row(float *restrict y, const float *restrict x, int64_t n, float w) {
  CPU_EACH(n, y[i] += w * x[i]);
}

/* One output channel from one input channel: y = b + sum over taps of
 * w[tap] * (x shifted), a row at a time over the outputs whose window
 * reads inside x (the rest read padding, zero). */
static void depthwise(float *y, const float *x, const float *w, float b, const int64_t *k) {
  int64_t H = k[2], W = k[3], Kh = k[5], Kw = k[6], sh = k[7], sw = k[8], dh = k[9], dw = k[10];
  int64_t pt = k[11], pl = k[12], Ho = k[13], Wo = k[14];
  for (int64_t oh = 0; oh < Ho; oh++) {
    float *yr = y + oh * Wo;
    for (int64_t i = 0; i < Wo; i++)
      yr[i] = b;
    for (int64_t kh = 0; kh < Kh; kh++) {
      int64_t ih = oh * sh - pt + kh * dh;
      if (ih < 0 || ih >= H)
        continue;
      const float *xr = x + ih * W;
      for (int64_t kw = 0; kw < Kw; kw++) {
        /* ow reads iw = ow * sw + off, inside [0, W) for ow in [lo, hi] */
        int64_t off = kw * dw - pl, lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
        int64_t hi = W - 1 - off < 0 ? -1 : (W - 1 - off) / sw;
        hi = hi < Wo - 1 ? hi : Wo - 1;
        float wv = w[kh * Kw + kw];
        if (sw == 1 && hi >= lo)
          tap_row(yr + lo, xr + lo + off, hi - lo + 1, wv);
        else
          for (int64_t ow = lo; ow <= hi; ow++)
            yr[ow] += wv * xr[ow * sw + off];
      }
    }
  }
}

typedef struct ConvJob {
  const CpuPlan *p;
  const CpuStep *s;
  float *y;                 /* im2col: the columns; rounding: the block's first row */
  const float *x;
  int64_t c0, nc, ld;
} ConvJob;

static void im2col_piece(void *ctx, int64_t lo, int64_t hi) {
  const ConvJob *j = ctx;
  im2col_rows(j->y, j->x, j->s->k, j->c0, j->nc, lo, hi);
}

static void round_piece(void *ctx, int64_t lo, int64_t hi) {
  const ConvJob *j = ctx;
  for (int64_t m = lo; m < hi; m++)
    cpu_round_fp16(j->y + m * j->ld, j->nc);
}

/* One group: mg output channels from cg input channels. */
static void conv_group(const CpuPlan *p, const CpuStep *s, const float *w, const float *bias,
                       const float *xg, float *yg, int64_t mg, int64_t cg) {
  const int64_t *k = s->k;
  int64_t KK = cg * k[5] * k[6], OHW = k[13] * k[14];
  bool cols = k[16] == CONV_IM2COL, round = s->rounds && !p->fp32;
  int64_t nb = cols ? CONV_COLS : OHW;
  for (int64_t c0 = 0; c0 < OHW; c0 += nb) {
    int64_t nc = OHW - c0 < nb ? OHW - c0 : nb;
    const float *B = xg + c0;
    int ldb = (int)OHW;
    if (cols) {
      ConvJob j = {p, s, p->scratch, xg, c0, nc, 0};
      cpu_parallel(p->pool, KK, 64, im2col_piece, &j);
      B = p->scratch;
      ldb = (int)nc;
    }
    for (int64_t m = 0; bias && m < mg; m++) {
      float *restrict row = yg + m * OHW + c0;
      const float v = bias[m];
      CPU_EACH(nc, row[i] = v);
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)mg, (int)nc, (int)KK, 1.0f, w,
                (int)KK, B, ldb, bias ? 1.0f : 0.0f, yg + c0, (int)OHW);
    if (round) {
      ConvJob j = {p, s, yg + c0, NULL, c0, nc, OHW};
      cpu_parallel(p->pool, mg, 16, round_piece, &j);
    }
  }
}

/* A 1x1 conv: per image and group, weights [mg, cg] times x's [cg, HW]. */
static void conv_direct(const CpuPlan *p, const CpuStep *s) {
  const int64_t *k = s->k;
  const float *x = cpu_data(p, s->in[0]), *w = cpu_data(p, s->in[1]);
  const float *bias = s->in[2] >= 0 ? cpu_data(p, s->in[2]) : NULL;
  int64_t cin = k[1], HW = k[2] * k[3], cout = k[4], G = k[15], cg = cin / G, mg = cout / G;
  for (int64_t n = 0; n < k[0]; n++)
    for (int64_t g = 0; g < G; g++) {
      CpuGemm gm = {.M = mg, .N = HW, .K = cg, .lda = cg, .ldb = HW, .ldc = HW,
                    .a = w + g * mg * cg, .b = x + (n * cin + g * cg) * HW,
                    .c = cpu_data(p, s->out[0]) + (n * cout + g * mg) * HW, .batches = 1,
                    .rowbias = bias ? bias + g * mg : NULL, .round = s->rounds && !p->fp32};
      cpu_gemm(p, &gm);
    }
}

static void run_conv(const CpuPlan *p, const CpuStep *s) {
  const int64_t *k = s->k;
  if (k[16] == CONV_DIRECT || k[16] == CONV_INT8 || k[16] == CONV_SGEMM) {
    (k[16] == CONV_INT8 ? cpu_igemm_run : k[16] == CONV_SGEMM ? cpu_sgemm_run : conv_direct)(p, s);
    return;
  }
  const float *x = cpu_data(p, s->in[0]), *w = cpu_data(p, s->in[1]);
  const float *bias = s->in[2] >= 0 ? cpu_data(p, s->in[2]) : NULL;
  float *y = cpu_data(p, s->out[0]);
  int64_t N = k[0], cin = k[1], HW = k[2] * k[3], cout = k[4], KK = k[5] * k[6];
  int64_t OHW = k[13] * k[14], G = k[15], cg = cin / G, mg = cout / G;
  if (k[16] == CONV_WINOGRAD) {
    cpu_wino_run(p, s, x, s->pre, bias, y);
    return;
  }
  for (int64_t n = 0; n < N; n++)
    for (int64_t g = 0; g < G; g++) {
      const float *xg = x + (n * cin + g * cg) * HW;
      float *yg = y + (n * cout + g * mg) * OHW;
      if (k[16] == CONV_DEPTHWISE) {
        for (int64_t m = 0; m < mg; m++)
          depthwise(yg + m * OHW, xg, w + (g * mg + m) * KK, bias ? bias[g * mg + m] : 0.0f, k);
        continue;
      }
      conv_group(p, s, w + g * mg * cg * KK, bias ? bias + g * mg : NULL, xg, yg, mg, cg);
    }
}

/* ---- linear, matmul --------------------------------------------------------------- */

/* k: 0 rows, 1 Din, 2 Dout */
static int prep_linear(CpuBuild *b, CpuStep *s) {
  CpuSlot x, w, bs;
  if (weighted(b, s, &x, &w, &bs) < 0)
    return -1;
  if (x.rank < 1 || x.rank > 3 || w.rank != 2 || w.dim[1] != x.dim[x.rank - 1]) {
    char a[128], c[128];
    return cpu_error(b, "x %s and weight %s do not fit (x: [*D, Din] of rank 1 to 3, weight: "
                     "[Dout, Din])", cpu_shape_str(a, sizeof a, &x), cpu_shape_str(c, sizeof c, &w));
  }
  if (cpu_conv_bias(b, s, w.dim[0]) < 0)
    return -1;
  s->k[0] = x.n / (x.dim[x.rank - 1] ? x.dim[x.rank - 1] : 1);
  s->k[1] = w.dim[1];
  s->k[2] = w.dim[0];
  int64_t dim[MIL_MAX_RANK];
  memcpy(dim, x.dim, sizeof dim);
  dim[x.rank - 1] = w.dim[0];
  s->rounds = x.dtype == MIL_FP16;   /* by cpu_gemm, tile by tile */
  return cpu_one_out(b, x.dtype, x.rank, dim);
}

static void run_linear(const CpuPlan *p, const CpuStep *s) {
  int64_t rows = s->k[0], din = s->k[1], dout = s->k[2];
  CpuGemm g = {.tb = true, .M = rows, .N = dout, .K = din, .lda = din, .ldb = din, .ldc = dout,
               .a = cpu_data(p, s->in[0]), .b = cpu_data(p, s->in[1]),
               .c = cpu_data(p, s->out[0]), .batches = 1,
               .colbias = s->in[2] >= 0 ? cpu_data(p, s->in[2]) : NULL,
               .round = s->rounds && !p->fp32};
  cpu_gemm(p, &g);
}

/* k: 0 M, 1 N, 2 K, 3 batches, 4 transpose_x, 5 transpose_y, 6 one GEMM for
 * all batches; tab[0], tab[1]: x and y offsets of each batch. */
static int prep_matmul(CpuBuild *b, CpuStep *s) {
  CpuSlot x, y;
  bool tx, ty;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 || cpu_operand(b, s, 1, "y", true, &y) < 0 ||
      cpu_need_float(b, &x, "x") < 0 || cpu_need_float(b, &y, "y") < 0 ||
      cpu_param_bools(b, "transpose_x", &tx, 1) < 0 ||
      cpu_param_bools(b, "transpose_y", &ty, 1) < 0)
    return -1;
  if (x.rank < 1 || y.rank < 1)
    return cpu_error(b, "x and y must have rank 1 or more");
  /* a vector is its own transpose: [K] acts as [1, K] (x) or [K, 1] (y) */
  int64_t xd[MIL_MAX_RANK + 1], yd[MIL_MAX_RANK + 1];
  int xr = x.rank, yr = y.rank;
  memcpy(xd, x.dim, sizeof x.dim);
  memcpy(yd, y.dim, sizeof y.dim);
  if (xr == 1) {
    xd[1] = xd[0];
    xd[0] = 1;
    xr = 2;
    tx = false;
  }
  if (yr == 1) {
    yd[1] = 1;
    yr = 2;
    ty = false;
  }
  int64_t M = tx ? xd[xr - 1] : xd[xr - 2], K = tx ? xd[xr - 2] : xd[xr - 1];
  int64_t K2 = ty ? yd[yr - 1] : yd[yr - 2], N = ty ? yd[yr - 2] : yd[yr - 1];
  if (K != K2) {
    char a[128], c[128];
    return cpu_error(b, "x %s and y %s do not fit: inner dims %lld and %lld",
                     cpu_shape_str(a, sizeof a, &x), cpu_shape_str(c, sizeof c, &y), (long long)K,
                     (long long)K2);
  }
  int nb = (xr > yr ? xr : yr) - 2;
  int64_t bd[MIL_MAX_RANK], xs[MIL_MAX_RANK], ys[MIL_MAX_RANK];
  for (int i = 0; i < nb; i++) {
    int ix = i - (nb - (xr - 2)), iy = i - (nb - (yr - 2));
    int64_t dx = ix >= 0 ? xd[ix] : 1, dy = iy >= 0 ? yd[iy] : 1;
    if (dx != dy && dx != 1 && dy != 1)
      return cpu_error(b, "batch dims %lld and %lld of x and y do not broadcast",
                       (long long)dx, (long long)dy);
    bd[i] = dx == 1 ? dy : dx;
    xs[i] = dx == 1 ? 0 : cpu_prod(xd, ix + 1, xr);
    ys[i] = dy == 1 ? 0 : cpu_prod(yd, iy + 1, yr);
  }
  int64_t B = cpu_prod(bd, 0, nb);
  if (!(s->tab[0] = cpu_step_alloc(b, B, sizeof(int64_t))) ||
      !(s->tab[1] = cpu_step_alloc(b, B, sizeof(int64_t))))
    return -1;
  int ax[MIL_MAX_RANK];
  for (int i = 0; i < nb; i++)
    ax[i] = i;
  cpu_fill_offsets(s->tab[0], ax, nb, bd, xs);
  cpu_fill_offsets(s->tab[1], ax, nb, bd, ys);
  s->ntab[0] = s->ntab[1] = B;
  bool merged = !tx && B > 1;
  for (int64_t i = 0; merged && i < B; i++)
    merged = s->tab[1][i] == 0 && s->tab[0][i] == i * M * K;
  int64_t kv[7] = {M, N, K, B, tx, ty, merged};
  memcpy(s->k, kv, sizeof kv);
  int64_t od[MIL_MAX_RANK + 2];
  int r = 0;
  for (int i = 0; i < nb; i++)
    od[r++] = bd[i];
  if (x.rank > 1)
    od[r++] = M;
  if (y.rank > 1)
    od[r++] = N;
  if (r > MIL_MAX_RANK)
    return cpu_error(b, "the result would have rank %d", r);
  /* iOS17: with one operand constant, the other decides the dtype */
  MilDtype dt = x.dtype != y.dtype && x.isconst ? y.dtype : x.dtype;
  s->rounds = dt == MIL_FP16;
  return cpu_one_out(b, dt, r, od);
}

static void run_matmul(const CpuPlan *p, const CpuStep *s) {
  int64_t M = s->k[0], N = s->k[1], K = s->k[2], B = s->k[3];
  bool one = s->k[6];   /* y shared by every batch, x batches contiguous: one GEMM */
  CpuGemm g = {.ta = s->k[4], .tb = s->k[5], .M = one ? B * M : M, .N = N, .K = K,
               .lda = s->k[4] ? M : K, .ldb = s->k[5] ? K : N, .ldc = N,
               .a = cpu_data(p, s->in[0]), .b = cpu_data(p, s->in[1]),
               .c = cpu_data(p, s->out[0]), .batches = one ? 1 : B, .cstride = M * N,
               .aoff = one ? NULL : s->tab[0], .boff = one ? NULL : s->tab[1],
               .round = s->rounds && !p->fp32};
  cpu_gemm(p, &g);
}

/* ---- conv_transpose: conv3d.c's, at every rank --------------------------------------- */

static int prep_conv_transpose(CpuBuild *b, CpuStep *s) {
  CpuSlot x, w, bs;
  if (weighted(b, s, &x, &w, &bs) < 0)
    return -1;
  return cpu_conv_transpose(b, s, &x, &w);
}

/* ---- scaled_dot_product_attention (iOS18) ------------------------------------------
 * softmax(Q K^T / sqrt(E) + mask) V over the last two dims, with the
 * leading (batch) dims equal in query, key and value. A bool mask keeps
 * the positions where it is true (the others get -inf); a float mask is
 * added. The mask broadcasts to [batch..., L, S]. k: 0 batch, 1 L, 2 S,
 * 3 E, 4 Ev, 5 rank, 6 bool mask, 8..15 mask strides over [batch..., L, S]
 * (flattened to rank dims), 16..23 those dims. */

static int prep_sdpa(CpuBuild *b, CpuStep *s) {
  CpuSlot q, kk, v, m;
  if (cpu_operand(b, s, 0, "query", true, &q) < 0 || cpu_operand(b, s, 1, "key", true, &kk) < 0 ||
      cpu_operand(b, s, 2, "value", true, &v) < 0 ||
      cpu_operand(b, s, 3, "attn_mask", false, &m) < 0 || cpu_need_float(b, &q, "query") < 0 ||
      cpu_need_float(b, &kk, "key") < 0 || cpu_need_float(b, &v, "value") < 0)
    return -1;
  int r = q.rank;
  bool ok = r >= 2 && kk.rank == r && v.rank == r && kk.dim[r - 1] == q.dim[r - 1] &&
            v.dim[r - 2] == kk.dim[r - 2];
  for (int i = 0; ok && i < r - 2; i++)
    ok = kk.dim[i] == q.dim[i] && v.dim[i] == q.dim[i];
  if (!ok)
    return cpu_error(b, "query [..., L, E], key [..., S, E] and value [..., S, Ev] must agree");
  int64_t L = q.dim[r - 2], S = kk.dim[r - 2], dim[MIL_MAX_RANK];
  memcpy(dim, q.dim, sizeof dim);
  dim[r - 1] = v.dim[r - 1];
  s->k[0] = cpu_prod(q.dim, 0, r - 2);
  s->k[1] = L;
  s->k[2] = S;
  s->k[3] = q.dim[r - 1];
  s->k[4] = v.dim[r - 1];
  s->k[5] = r;
  if (s->in[3] >= 0) {
    if (!cpu_is_float(m.dtype) && m.dtype != MIL_BOOL)
      return cpu_error(b, "attn_mask is %s; bool, fp16 or fp32 expected", mil_dtype_name(m.dtype));
    if (m.rank > r)
      return cpu_error(b, "attn_mask has rank %d, more than query's %d", m.rank, r);
    int64_t full[MIL_MAX_RANK], mst[MIL_MAX_RANK];
    memcpy(full, q.dim, sizeof full);
    full[r - 1] = S;
    cpu_strides(m.rank, m.dim, mst);
    for (int d = 0; d < r; d++) {
      int j = d - (r - m.rank);
      int64_t md = j >= 0 ? m.dim[j] : 1;
      if (md != 1 && md != full[d])
        return cpu_error(b, "attn_mask does not broadcast to [..., %lld, %lld]", (long long)L,
                         (long long)S);
      s->k[8 + d] = md == 1 ? 0 : mst[j];
      s->k[16 + d] = full[d];
    }
    s->k[6] = m.dtype == MIL_BOOL;
  }
  cpu_scratch(b, S);
  return cpu_one_out(b, q.dtype, r, dim);
}

static void run_sdpa(const CpuPlan *p, const CpuStep *s) {
  const float *q = cpu_data(p, s->in[0]), *kk = cpu_data(p, s->in[1]), *v = cpu_data(p, s->in[2]);
  const CpuSlot *m = s->in[3] >= 0 ? &p->slots[s->in[3]] : NULL;
  float *y = cpu_data(p, s->out[0]), *row = p->scratch;
  int64_t B = s->k[0], L = s->k[1], S = s->k[2], E = s->k[3], Ev = s->k[4];
  int r = (int)s->k[5];
  float scale = 1.0f / sqrtf((float)E);
  for (int64_t bb = 0; bb < B; bb++)
    for (int64_t l = 0; l < L; l++) {
      const float *ql = q + (bb * L + l) * E;
      /* the mask's offset of (bb, l, 0): bb unflattened over the batch dims */
      int64_t moff = 0, rest = bb;
      for (int d = r - 3; m && d >= 0; d--) {
        moff += rest % s->k[16 + d] * s->k[8 + d];
        rest /= s->k[16 + d];
      }
      moff += m ? l * s->k[8 + r - 2] : 0;
      float mx = -INFINITY;
      for (int64_t j = 0; j < S; j++) {
        const float *kj = kk + (bb * S + j) * E;
        float acc = 0;
        for (int64_t e = 0; e < E; e++)
          acc += ql[e] * kj[e];
        acc *= scale;
        if (m) {
          double mv = cpu_get(m, moff + j * s->k[8 + r - 1]);
          acc = s->k[6] ? (mv != 0 ? acc : -INFINITY) : acc + (float)mv;
        }
        row[j] = acc;
        mx = fmaxf(mx, acc);
      }
      double sum = 0;
      for (int64_t j = 0; j < S; j++)
        sum += row[j] = mx == -INFINITY ? 0 : expf(row[j] - mx);
      float *yl = y + (bb * L + l) * Ev;
      for (int64_t e = 0; e < Ev; e++)
        yl[e] = 0;
      for (int64_t j = 0; j < S; j++) {
        float pj = sum > 0 ? (float)(row[j] / sum) : 0;
        const float *vj = v + (bb * S + j) * Ev;
        for (int64_t e = 0; e < Ev; e++)
          yl[e] += pj * vj[e];
      }
    }
}

const CpuOpDef cpu_ops_conv[] = {
  {"conv_transpose", prep_conv_transpose, NULL, 0, false, false},   /* conv3d.c sets the run */
  {"scaled_dot_product_attention", prep_sdpa, run_sdpa, 0, false, false},
  {"conv", prep_conv, run_conv, 0, false, false},
  {"linear", prep_linear, run_linear, 0, false, false},
  {"matmul", prep_matmul, run_matmul, 0, false, false},
  {NULL, NULL, NULL, 0, false, false},
};
