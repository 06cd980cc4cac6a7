/* conv3d.c - the cpu backend's 3-d windows: conv over rank-5 [N, C, D, H,
 * W] tensors, conv_transpose and conv_quantized at every rank (the 1-d and
 * 2-d ones as a 3-d window with unit leading dims; conv_quantized's weight
 * dequantized once). conv.c hands those cases here; the kernels loop over
 * the window directly (a reference path: these are rare in Core ML
 * programs). pool.c's pools take the same k.
 * k: 0 N, 1 C in, 2..4 D H W, 5 C out, 6..8 kernel, 9..11 strides,
 * 12..14 dilations, 15..17 pad before, 18..20 output D H W, 21 groups. */
#include <string.h>

#include "cpu.h"

void cpu_put3(int64_t *k, int at, const int64_t *v, int nsp, int64_t fill) {
  for (int i = 0; i < 3; i++)
    k[at + i] = i < 3 - nsp ? fill : v[i - (3 - nsp)];
}

static void conv3d_core(const CpuPlan *p, const CpuStep *s, const float *w) {
  const float *x = cpu_data(p, s->in[0]);
  const float *bias = s->in[2] >= 0 ? cpu_data(p, s->in[2]) : NULL;
  float *y = cpu_data(p, s->out[0]);
  const int64_t *k = s->k;
  int64_t Ci = k[1], D = k[2], H = k[3], W = k[4], Co = k[5], G = k[21];
  int64_t cig = Ci / G, cog = Co / G, Od = k[18], Oh = k[19], Ow = k[20];
  for (int64_t n = 0; n < k[0]; n++)
    for (int64_t co = 0; co < Co; co++) {
      int64_t g = co / cog;
      const float *wc = w + co * cig * k[6] * k[7] * k[8];
      for (int64_t od = 0; od < Od; od++)
        for (int64_t oh = 0; oh < Oh; oh++)
          for (int64_t ow = 0; ow < Ow; ow++) {
            double acc = bias ? bias[co] : 0;
            for (int64_t ci = 0; ci < cig; ci++) {
              const float *xc = x + (n * Ci + g * cig + ci) * D * H * W;
              const float *wk = wc + ci * k[6] * k[7] * k[8];
              for (int64_t a = 0; a < k[6]; a++) {
                int64_t d = od * k[9] + a * k[12] - k[15];
                if (d < 0 || d >= D)
                  continue;
                for (int64_t bb = 0; bb < k[7]; bb++) {
                  int64_t h = oh * k[10] + bb * k[13] - k[16];
                  if (h < 0 || h >= H)
                    continue;
                  for (int64_t c = 0; c < k[8]; c++) {
                    int64_t ww = ow * k[11] + c * k[14] - k[17];
                    if (ww >= 0 && ww < W)
                      acc += (double)xc[(d * H + h) * W + ww] * wk[(a * k[7] + bb) * k[8] + c];
                  }
                }
              }
            }
            y[(((n * Co + co) * Od + od) * Oh + oh) * Ow + ow] = (float)acc;
          }
    }
}

static void run_conv3d(const CpuPlan *p, const CpuStep *s) { conv3d_core(p, s, cpu_data(p, s->in[1])); }

/* conv_quantized keeps its dequantized weight in the step (tab[0], a float
 * buffer held in the step's owned array). */
static void run_conv_quantized(const CpuPlan *p, const CpuStep *s) {
  conv3d_core(p, s, (const float *)(const void *)s->tab[0]);
}

/* The conv window over nsp (1..3) spatial dims of x and a weight of shape
 * wd (rank nsp + 2), as the 3-d k with unit leading dims; the output dims
 * into odim. -1 after reporting. */
static int conv_setup(CpuBuild *b, CpuStep *s, const CpuSlot *x, const int64_t *wd, int nsp,
                      int64_t *odim) {
  CpuConvGeom g;
  int64_t lo[3];
  if (cpu_conv_geom(b, s, x, wd, nsp, &g) < 0)
    return -1;
  for (int i = 0; i < nsp; i++) {
    lo[i] = g.pad[2 * i];
    odim[2 + i] = g.out[i];
  }
  s->k[0] = x->dim[0];
  s->k[1] = x->dim[1];
  cpu_put3(s->k, 2, &x->dim[2], nsp, 1);
  s->k[5] = wd[0];
  cpu_put3(s->k, 6, &wd[2], nsp, 1);
  cpu_put3(s->k, 9, g.st, nsp, 1);
  cpu_put3(s->k, 12, g.dil, nsp, 1);
  cpu_put3(s->k, 15, lo, nsp, 0);
  cpu_put3(s->k, 18, g.out, nsp, 1);
  s->k[21] = g.groups;
  odim[0] = x->dim[0];
  odim[1] = wd[0];
  return 0;
}

/* conv over rank 5; x, weight and bias are bound (s->in[0..2]). */
int cpu_conv3d(CpuBuild *b, CpuStep *s, const CpuSlot *x, const CpuSlot *w) {
  int64_t odim[5];
  if (w->rank != 5)
    return cpu_error(b, "weight has rank %d; x has rank 5", w->rank);
  if (conv_setup(b, s, x, w->dim, 3, odim) < 0)
    return -1;
  s->run = run_conv3d;
  return cpu_one_out(b, x->dtype, 5, odim);
}

/* conv_quantized (iOS15, "linear"): the uint8 weight is dequantized once,
 * W = W_q * quant_scale + quant_bias, the scale and bias a scalar or one per
 * output channel; then the conv of the same parameters. */
static int prep_conv_quantized(CpuBuild *b, CpuStep *s) {
  CpuSlot x, w, bs;
  const char *qt;
  int64_t nbits, eight = 8;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 || cpu_operand(b, s, 1, "weight", true, &w) < 0 ||
      cpu_operand(b, s, 2, "bias", false, &bs) < 0 || cpu_need_float(b, &x, "x") < 0)
    return -1;
  int qs = cpu_input(b, "quant_scale", true), qb = qs < 0 ? -1 : cpu_input(b, "quant_bias", true);
  if (qb < 0 || cpu_param_str(b, "quantization_type", NULL, &qt) < 0 ||
      cpu_param_int(b, "nbits", &eight, &nbits) < 0 || cpu_need_const(b, s->in[1], "weight") < 0 ||
      cpu_need_const(b, qs, "quant_scale") < 0 || cpu_need_const(b, qb, "quant_bias") < 0)
    return -1;
  if (strcmp(qt, "linear") != 0)
    return cpu_error(b, "quantization_type \"%s\" is not supported: the definition gives the "
                        "formula of \"linear\" only", qt);
  if (nbits < 1 || nbits > 8)
    return cpu_error(b, "nbits is %lld; 1 to 8 expected", (long long)nbits);
  if (w.dtype != MIL_UINT8)
    return cpu_error(b, "weight must be uint8");
  if (x.rank < 3 || x.rank > 5 || w.rank != x.rank)
    return cpu_error(b, "x and weight must both have rank 3, 4 or 5");
  CpuSlot sc = cpu_slot(b, qs), bi = cpu_slot(b, qb);
  int64_t cout = w.dim[0], per = w.n / (cout ? cout : 1);
  if ((sc.n != 1 && sc.n != cout) || (bi.n != 1 && bi.n != cout) || !cpu_is_float(sc.dtype) ||
      !cpu_is_float(bi.dtype))
    return cpu_error(b, "quant_scale and quant_bias must be float, one value or one per output "
                        "channel (%lld)", (long long)cout);
  float *deq = cpu_step_alloc(b, w.n, sizeof(float));
  if (!deq)
    return -1;
  s->tab[0] = (int64_t *)(void *)deq;   /* freed with the step, also on an error below */
  for (int64_t i = 0; i < w.n; i++) {
    double q = cpu_get(&w, i);
    if (q >= (double)(1 << nbits))
      return cpu_error(b, "weight value %g does not fit %lld bits", q, (long long)nbits);
    int64_t c = i / per;
    deq[i] = (float)(q * cpu_get(&sc, sc.n == 1 ? 0 : c) + cpu_get(&bi, bi.n == 1 ? 0 : c));
  }
  int64_t odim[5];
  if (conv_setup(b, s, &x, w.dim, x.rank - 2, odim) < 0)
    return -1;
  return cpu_one_out(b, x.dtype, x.rank, odim);
}

/* The taps t in [0, k) whose position p + t * dil lies in [0, n): [*lo, *hi). */
static void taps(int64_t p, int64_t k, int64_t dil, int64_t n, int64_t *lo, int64_t *hi) {
  *lo = p >= 0 ? 0 : (-p + dil - 1) / dil;
  *hi = p >= n ? 0 : (n - 1 - p) / dil + 1;
  *hi = *hi < k ? *hi : k;
  *lo = *lo < *hi ? *lo : *hi;
}

/* Each input pixel adds v * weight into the output window it spreads to;
 * the taps inside the output are found once per pixel, not tested per tap. */
static void run_conv_transpose3d(const CpuPlan *p, const CpuStep *s) {
  const float *x = cpu_data(p, s->in[0]), *w = cpu_data(p, s->in[1]);
  const float *bias = s->in[2] >= 0 ? cpu_data(p, s->in[2]) : NULL;
  float *y = cpu_data(p, s->out[0]);
  const int64_t *k = s->k;
  int64_t Ci = k[1], D = k[2], H = k[3], W = k[4], Co = k[5], G = k[21];
  int64_t cig = Ci / G, cog = Co / G, Oh = k[19], Ow = k[20], osz = k[18] * Oh * Ow;
  int64_t ksz = k[6] * k[7] * k[8];
  for (int64_t n = 0; n < k[0]; n++) {
    float *yn = y + n * Co * osz;
    for (int64_t c = 0; c < Co; c++)
      for (int64_t i = 0; i < osz; i++)
        yn[c * osz + i] = bias ? bias[c] : 0.0f;
    for (int64_t ci = 0; ci < Ci; ci++) {
      int64_t g = ci / cig;
      for (int64_t d = 0; d < D; d++)
        for (int64_t h = 0; h < H; h++)
          for (int64_t ww = 0; ww < W; ww++) {
            float v = x[(((n * Ci + ci) * D + d) * H + h) * W + ww];
            int64_t at[3] = {d, h, ww}, o[3], lo[3], hi[3];
            for (int i = 0; i < 3; i++) {
              o[i] = at[i] * k[9 + i] - k[15 + i];
              taps(o[i], k[6 + i], k[12 + i], k[18 + i], &lo[i], &hi[i]);
            }
            for (int64_t co = 0; co < cog; co++) {
              const float *wk = w + (ci * cog + co) * ksz;
              float *yc = yn + (g * cog + co) * osz;
              for (int64_t a = lo[0]; a < hi[0]; a++)
                for (int64_t bb = lo[1]; bb < hi[1]; bb++) {
                  float *yr = yc + ((o[0] + a * k[12]) * Oh + o[1] + bb * k[13]) * Ow + o[2];
                  const float *wr = wk + (a * k[7] + bb) * k[8];
                  for (int64_t c = lo[2]; c < hi[2]; c++)
                    yr[c * k[14]] += v * wr[c];
                }
            }
          }
    }
  }
}

/* conv_transpose over rank 3 to 5 (weight [C in, C out / groups, k...]),
 * as the 3-d window with unit leading dims. Each input pixel adds weight *
 * x into the output window it spreads to (stride apart, dilated taps), then
 * pads are cut: out = (in - 1) * stride + dilation * (k - 1) + 1 -
 * pad_before - pad_after; pad_type valid, same (output in * stride) or
 * custom. */
int cpu_conv_transpose(CpuBuild *b, CpuStep *s, const CpuSlot *x, const CpuSlot *w) {
  int64_t st[3], dil[3], custom[6], groups, lo[3], out[3];
  const char *pt;
  if (x->rank < 3 || x->rank > 5 || w->rank != x->rank)
    return cpu_error(b, "x and weight must both have rank 3, 4 or 5 (1-d, 2-d or 3-d)");
  int nsp = x->rank - 2;
  if (cpu_conv_window(b, nsp, st, dil, custom, &pt, &groups) < 0)
    return -1;
  int64_t cin = x->dim[1];
  if (groups < 1 || cin % groups || w->dim[0] != cin)
    return cpu_error(b, "weight [%lld, %lld, ...] does not fit x with %lld channels in %lld "
                     "groups", (long long)w->dim[0], (long long)w->dim[1], (long long)cin,
                     (long long)groups);
  int64_t cout = w->dim[1] * groups;
  if (cpu_conv_bias(b, s, cout) < 0)
    return -1;
  for (int i = 0; i < nsp; i++) {
    int64_t in = x->dim[2 + i], keff = dil[i] * (w->dim[2 + i] - 1) + 1, full = (in - 1) * st[i] + keff;
    int64_t hi;
    if (cpu_convt_pads(b, pt, in * st[i], full, &custom[2 * i], &lo[i], &hi) < 0)
      return -1;
    out[i] = full - lo[i] - hi;
    if (lo[i] < 0 || hi < 0 || out[i] < 1 || w->dim[2 + i] < 1)
      return cpu_error(b, "the padding leaves no output along dim %d", 2 + i);
  }
  s->k[0] = x->dim[0];
  s->k[1] = cin;
  cpu_put3(s->k, 2, &x->dim[2], nsp, 1);
  s->k[5] = cout;
  cpu_put3(s->k, 6, &w->dim[2], nsp, 1);
  cpu_put3(s->k, 9, st, nsp, 1);
  cpu_put3(s->k, 12, dil, nsp, 1);
  cpu_put3(s->k, 15, lo, nsp, 0);
  cpu_put3(s->k, 18, out, nsp, 1);
  s->k[21] = groups;
  s->run = run_conv_transpose3d;
  int64_t odim[5] = {x->dim[0], cout};
  for (int i = 0; i < nsp; i++)
    odim[2 + i] = out[i];
  return cpu_one_out(b, x->dtype, x->rank, odim);
}

const CpuOpDef cpu_ops_conv3d[] = {
  {"conv_quantized", prep_conv_quantized, run_conv_quantized, 0, false, false},
  {NULL, NULL, NULL, 0, false, false},
};
