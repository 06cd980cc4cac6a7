/* pool.c - the cpu backend's pooling and resizing: max_pool, avg_pool,
 * l2_pool (1-d to 3-d windows), upsample_bilinear, resize_bilinear and
 * iOS 17's resize. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

/* ---- pooling --------------------------------------------------------------------------
 * 1-d to 3-d windows, the 1-d and 2-d ones as 3-d windows with unit
 * leading dims. k as conv3d.c's: 0 N, 1 C, 2..4 D H W, 6..8 kernel, 9..11
 * strides, 15..17 pad before, 18..20 output D H W, 22..24 padded D H W
 * (the average's divisor never counts positions past the padded input, as
 * ceil_mode windows can reach), 25 exclude padding from the average. */

enum { POOL_MAX, POOL_AVG, POOL_L2 };

static double pool_add(int mode, double acc, double v) {
  if (mode == POOL_MAX)
    return v > acc || v != v ? v : acc;   /* NaN wins */
  return acc + (mode == POOL_L2 ? v * v : v);
}

static double pool_result(int mode, double acc, int64_t cnt, int64_t padded, bool excl) {
  if (mode == POOL_AVG)
    return acc / (double)(excl ? (cnt ? cnt : 1) : padded);
  return mode == POOL_L2 ? sqrt(acc) : acc;
}

/* The output size along each of nsp dims (pads before, after per dim). */
static int pool_out(CpuBuild *b, int nsp, const int64_t *in, const int64_t *ks, const int64_t *st,
                    const int64_t *pad, bool ceil_mode, int64_t *out) {
  for (int i = 0; i < nsp; i++) {
    int64_t span = in[i] + pad[2 * i] + pad[2 * i + 1] - ks[i];
    if (span < 0)
      return cpu_error(b, "the window (%lld) is larger than the padded input (%lld)",
                       (long long)ks[i], (long long)(in[i] + pad[2 * i] + pad[2 * i + 1]));
    out[i] = (ceil_mode ? (span + st[i] - 1) / st[i] : span / st[i]) + 1;
    /* as PyTorch: the last window must start inside the input or its left padding */
    if (ceil_mode && (out[i] - 1) * st[i] >= in[i] + pad[2 * i])
      out[i]--;
  }
  return 0;
}

static int prep_pool(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 || cpu_need_float(b, &x, "x") < 0)
    return -1;
  if (x.rank < 3 || x.rank > 5)
    return cpu_error(b, "x has rank %d; the cpu backend pools 1-d, 2-d and 3-d windows (rank 3, "
                     "4 or 5)", x.rank);
  int nsp = x.rank - 2;
  int64_t ks[3], st[3], ones[3] = {1, 1, 1}, zeros[6] = {0}, custom[6], pad[6], in[3], out[3];
  int64_t lo[3], padded[3];
  const char *pt;
  bool ceil_mode = false, excl = false;
  if (cpu_ints_exact(b, "kernel_sizes", ks, nsp, NULL) < 0 ||
      cpu_ints_exact(b, "strides", st, nsp, ones) < 0 ||
      cpu_ints_exact(b, "pad", custom, 2 * nsp, zeros) < 0 ||
      cpu_param_str(b, "pad_type", "valid", &pt) < 0 ||
      cpu_param_bools(b, "ceil_mode", &ceil_mode, 1) < 0 ||
      (s->mode == POOL_AVG && cpu_param_bools(b, "exclude_padding_from_average", &excl, 1) < 0))
    return -1;
  for (int i = 0; i < nsp; i++) {
    if (ks[i] < 1 || st[i] < 1)
      return cpu_error(b, "kernel_sizes and strides must be at least 1");
    in[i] = x.dim[2 + i];
  }
  if (cpu_conv_pads(b, pt, nsp, in, ks, st, custom, pad) < 0 ||
      pool_out(b, nsp, in, ks, st, pad, ceil_mode, out) < 0)
    return -1;
  int64_t odim[5] = {x.dim[0], x.dim[1]};
  for (int i = 0; i < nsp; i++) {
    lo[i] = pad[2 * i];
    padded[i] = in[i] + pad[2 * i] + pad[2 * i + 1];
    odim[2 + i] = out[i];
  }
  s->k[0] = x.dim[0];
  s->k[1] = x.dim[1];
  cpu_put3(s->k, 2, in, nsp, 1);
  cpu_put3(s->k, 6, ks, nsp, 1);
  cpu_put3(s->k, 9, st, nsp, 1);
  cpu_put3(s->k, 15, lo, nsp, 0);
  cpu_put3(s->k, 18, out, nsp, 1);
  cpu_put3(s->k, 22, padded, nsp, 1);
  s->k[25] = excl;
  return cpu_one_out(b, x.dtype, x.rank, odim);
}

/* How many of the positions o .. o + k - 1 lie in [0, n). */
static int64_t inside(int64_t o, int64_t k, int64_t n) {
  int64_t lo = o > 0 ? o : 0, hi = o + k < n ? o + k : n;
  return hi > lo ? hi - lo : 0;
}

/* Each window as its in-x box [lo, hi) per dim, so the loops test no tap;
 * its count of positions in the padded input, the average's divisor, as a
 * product over the dims. */
static void run_pool(const CpuPlan *p, const CpuStep *s) {
  const float *x = cpu_data(p, s->in[0]);
  float *y = cpu_data(p, s->out[0]);
  const int64_t *k = s->k;
  int64_t H = k[3], W = k[4], Od = k[18], Oh = k[19], Ow = k[20];
  for (int64_t c = 0; c < k[0] * k[1]; c++)
    for (int64_t od = 0; od < Od; od++)
      for (int64_t oh = 0; oh < Oh; oh++)
        for (int64_t ow = 0; ow < Ow; ow++) {
          int64_t at[3] = {od, oh, ow}, lo[3], hi[3], cnt = 1, padded = 1;
          for (int i = 0; i < 3; i++) {
            int64_t o = at[i] * k[9 + i] - k[15 + i];
            lo[i] = o > 0 ? o : 0;
            hi[i] = lo[i] + inside(o, k[6 + i], k[2 + i]);
            cnt *= hi[i] - lo[i];
            padded *= inside(o + k[15 + i], k[6 + i], k[22 + i]);
          }
          double acc = s->mode == POOL_MAX ? -INFINITY : 0;
          const float *xc = x + c * k[2] * H * W;
          for (int64_t d = lo[0]; d < hi[0]; d++)
            for (int64_t h = lo[1]; h < hi[1]; h++)
              for (int64_t w = lo[2]; w < hi[2]; w++)
                acc = pool_add(s->mode, acc, xc[(d * H + h) * W + w]);
          y[((c * Od + od) * Oh + oh) * Ow + ow] = (float)pool_result(s->mode, acc, cnt, padded, k[25]);
        }
}

/* ---- bilinear resizing ------------------------------------------------------------------
 * The source coordinate of each output pixel follows the op's sampling mode
 * (coremltools' image_resizing definitions); the value interpolates the two
 * neighbours along each of the last two dims. k: 0 outer, 1 H, 2 W, 3 Ho,
 * 4 Wo, 5 mode, 6 nearest (iOS 17 resize: the pixel at floor of the mode's
 * coordinate, which for DEFAULT is resize_nearest_neighbor's floor(o * in / out)). */

double cpu_grid(int mode, int64_t i, double xin, int64_t out) {
  double g, xo = (double)out;
  switch (mode) {
  case CPU_G_STRICT:
  case CPU_G_ALIGN:
    g = out > 1 ? (double)i * (xin - 1) / (xo - 1) : mode == CPU_G_ALIGN ? (xin - 1) / 2 : 0;
    break;
  case CPU_G_DEFAULT:
    g = out > 1 ? (double)i * (xin - xin / xo) / (xo - 1) : 0;
    break;
  case CPU_G_OFFSET: {
    double delta = (xin - 1 > 1 ? xin - 1 : 1) / xo;
    g = 0.5 * delta + (double)i * delta;
    break;
  }
  default:
    g = ((double)i + 0.5) * xin / xo - 0.5;
    break;
  }
  return g < 0 ? 0 : g > xin - 1 ? xin - 1 : g;
}

static int resize_out(CpuBuild *b, CpuStep *s, const CpuSlot *x, int64_t ho, int64_t wo, int mode) {
  if (ho < 1 || wo < 1)
    return cpu_error(b, "the result would be empty (%lld x %lld)", (long long)ho, (long long)wo);
  int r = x->rank;
  int64_t dim[MIL_MAX_RANK];
  memcpy(dim, x->dim, sizeof dim);
  dim[r - 2] = ho;
  dim[r - 1] = wo;
  s->k[0] = cpu_prod(x->dim, 0, r - 2);
  s->k[1] = x->dim[r - 2];
  s->k[2] = x->dim[r - 1];
  s->k[3] = ho;
  s->k[4] = wo;
  s->k[5] = mode;
  s->k[6] = 0;
  return cpu_one_out(b, x->dtype, r, dim);
}

static int prep_upsample_bilinear(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  double sh, sw, one = 1;
  bool ac = true;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 || cpu_need_float(b, &x, "x") < 0 ||
      cpu_param_float(b, "scale_factor_height", &one, &sh) < 0 ||
      cpu_param_float(b, "scale_factor_width", &one, &sw) < 0)
    return -1;
  if (cpu_input(b, "align_corners", false) >= 0 && cpu_param_bools(b, "align_corners", &ac, 1) < 0)
    return -1;
  if (x.rank < 3)
    return cpu_error(b, "x has rank %d; at least 3 expected", x.rank);
  return resize_out(b, s, &x, (int64_t)floor(x.dim[x.rank - 2] * sh),
                    (int64_t)floor(x.dim[x.rank - 1] * sw), ac ? CPU_G_STRICT : CPU_G_UNALIGN);
}

/* The sampling_mode parameter as G_*, or -1 after reporting. */
static int sampling_mode(CpuBuild *b) {
  static const char *const names[] = {"STRICT_ALIGN_CORNERS", "ALIGN_CORNERS", "DEFAULT",
                                      "OFFSET_CORNERS", "UNALIGN_CORNERS"};
  const char *mode;
  if (cpu_param_str(b, "sampling_mode", "DEFAULT", &mode) < 0)
    return -1;
  for (int i = 0; i < 5; i++)
    if (strcmp(mode, names[i]) == 0)
      return i;
  return cpu_error(b, "unknown sampling_mode \"%s\"", mode);
}

static int prep_resize_bilinear(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  int64_t th, tw, one = 1;
  int m;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 || cpu_need_float(b, &x, "x") < 0 ||
      cpu_param_int(b, "target_size_height", &one, &th) < 0 ||
      cpu_param_int(b, "target_size_width", &one, &tw) < 0 || (m = sampling_mode(b)) < 0)
    return -1;
  if (x.rank < 3)
    return cpu_error(b, "x has rank %d; at least 3 expected", x.rank);
  return resize_out(b, s, &x, th, tw, m);
}

/* iOS 17 resize: the last resized_dims (at most 2 here) dims from `shape`
 * (a constant: it fixes the output shape), 0 keeping x's dim. */
static int prep_resize(CpuBuild *b, CpuStep *s) {
  CpuSlot x, sh;
  int64_t rd, dim[MIL_MAX_RANK];
  const char *im;
  int m;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 || cpu_operand(b, s, 1, "shape", true, &sh) < 0 ||
      cpu_need_float(b, &x, "x") < 0 || cpu_need_const(b, s->in[1], "shape") < 0 ||
      cpu_param_int(b, "resized_dims", NULL, &rd) < 0 ||
      cpu_param_str(b, "interpolation_mode", "LINEAR", &im) < 0 || (m = sampling_mode(b)) < 0)
    return -1;
  bool nearest = strcmp(im, "NEAREST_NEIGHBOR") == 0;
  if (!nearest && strcmp(im, "LINEAR") != 0)
    return cpu_error(b, "unknown interpolation_mode \"%s\" (LINEAR or NEAREST_NEIGHBOR)", im);
  if (sh.rank != 1 || sh.n > x.rank)
    return cpu_error(b, "shape must be a vector of at most rank(x) = %d values", x.rank);
  if (rd < 0 || rd > sh.n)
    return cpu_error(b, "resized_dims (%lld) must be in [0, size(shape) = %lld]", (long long)rd,
                     (long long)sh.n);
  if (rd > 2)
    return cpu_error(b, "resized_dims is %lld; the cpu backend resizes at most the last 2 dims",
                     (long long)rd);
  int r = x.rank;
  memcpy(dim, x.dim, sizeof dim);
  for (int i = 0; i < rd; i++) {
    int64_t t = (int64_t)cpu_get(&sh, sh.n - rd + i);
    if (t < 0)
      return cpu_error(b, "shape has a negative size %lld", (long long)t);
    if (t > 0)
      dim[r - rd + i] = t;
  }
  /* as [outer, H, W] with H = 1 (and W = 1) when fewer dims are resized */
  int64_t H = rd == 2 ? x.dim[r - 2] : 1, W = rd >= 1 ? x.dim[r - 1] : 1;
  int64_t Ho = rd == 2 ? dim[r - 2] : 1, Wo = rd >= 1 ? dim[r - 1] : 1;
  if (Ho < 1 || Wo < 1 || H < 1 || W < 1)
    return cpu_error(b, "cannot resize an empty dim or to an empty one");
  int64_t kv[7] = {cpu_prod(x.dim, 0, r - (int)rd), H, W, Ho, Wo, m, nearest};
  memcpy(s->k, kv, sizeof kv);
  return cpu_one_out(b, x.dtype, r, dim);
}

static void run_bilinear(const CpuPlan *p, const CpuStep *s) {
  const float *x = cpu_data(p, s->in[0]);
  float *y = cpu_data(p, s->out[0]);
  int64_t H = s->k[1], W = s->k[2], Ho = s->k[3], Wo = s->k[4];
  int mode = (int)s->k[5];
  for (int64_t oh = 0; oh < Ho; oh++) {
    double gh = cpu_grid(mode, oh, (double)H, Ho);
    int64_t h0 = (int64_t)floor(gh), h1 = h0 + 1 < H ? h0 + 1 : h0;
    double fh = s->k[6] ? 0 : gh - (double)h0;
    for (int64_t ow = 0; ow < Wo; ow++) {
      double gw = cpu_grid(mode, ow, (double)W, Wo);
      int64_t w0 = (int64_t)floor(gw), w1 = w0 + 1 < W ? w0 + 1 : w0;
      double fw = s->k[6] ? 0 : gw - (double)w0;
      for (int64_t c = 0; c < s->k[0]; c++) {
        const float *xc = x + c * H * W;
        double top = xc[h0 * W + w0] * (1 - fw) + xc[h0 * W + w1] * fw;
        double bot = xc[h1 * W + w0] * (1 - fw) + xc[h1 * W + w1] * fw;
        y[(c * Ho + oh) * Wo + ow] = (float)(top * (1 - fh) + bot * fh);
      }
    }
  }
}

const CpuOpDef cpu_ops_pool[] = {
  {"avg_pool", prep_pool, run_pool, POOL_AVG, false, false},
  {"l2_pool", prep_pool, run_pool, POOL_L2, false, false},
  {"max_pool", prep_pool, run_pool, POOL_MAX, false, true},
  {"resize", prep_resize, run_bilinear, 0, false, false},
  {"resize_bilinear", prep_resize_bilinear, run_bilinear, 0, false, false},
  {"upsample_bilinear", prep_upsample_bilinear, run_bilinear, 0, false, false},
  {NULL, NULL, NULL, 0, false, false},
};
