/* image.c - the cpu backend's image sampling ops: resample, affine and
 * crop_resize. Each output pixel reads x at a point computed at eval()
 * (from coordinates, a transform or boxes that may be run-time values),
 * with bilinear or nearest interpolation; pixels outside the image come
 * from the op's padding rule. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cpu.h"

enum { SAMP_BILINEAR, SAMP_NEAREST };
enum { SPAD_CONST, SPAD_BORDER, SPAD_REFLECT, SPAD_SYMMETRIC };
enum { COORD_PIXELS, COORD_MINUS1, COORD_ZERO1 };

/* How one op samples: k[] of its step holds these (see sampler_k). */
typedef struct Sampler {
  int interp, pad, coords;
  bool align;
  float padval;
} Sampler;

/* The index along a dim of size d that padded position i reads, or -1 for
 * the constant: the definition pads pixels ("|1, 2, 3| -> ..."), so the
 * rule applies to integer positions before interpolation. */
static int64_t spad_index(int mode, int64_t i, int64_t d) {
  if (i >= 0 && i < d)
    return i;
  switch (mode) {
  case SPAD_BORDER:
    return i < 0 ? 0 : d - 1;
  case SPAD_REFLECT: {   /* |1 2 3| -> 2 3 2 1 2 3 2 1 2: the edge is not repeated */
    if (d == 1)
      return 0;
    int64_t period = 2 * (d - 1);
    i = i < 0 ? -i : i;
    i %= period;
    return i < d ? i : period - i;
  }
  case SPAD_SYMMETRIC: { /* |1 2 3| -> 3 2 1 1 2 3 3 2 1: the edge is repeated */
    int64_t period = 2 * d;
    i %= period;
    if (i < 0)
      i += period;
    return i < d ? i : period - 1 - i;
  }
  default:
    return -1;
  }
}

static double pixel(const float *x, int64_t H, int64_t W, int64_t h, int64_t w, const Sampler *sm) {
  h = spad_index(sm->pad, h, H);
  w = spad_index(sm->pad, w, W);
  return h < 0 || w < 0 ? (double)sm->padval : (double)x[h * W + w];
}

/* x (one H x W plane) at pixel coordinates (py, px). */
static double sample(const float *x, int64_t H, int64_t W, double py, double px, const Sampler *sm) {
  if (!isfinite(py) || !isfinite(px))
    return sm->pad == SPAD_CONST ? (double)sm->padval : NAN;
  if (py < -1e9 || py > 1e9 || px < -1e9 || px > 1e9)   /* keeps the int64 conversions defined */
    return sm->pad == SPAD_CONST ? (double)sm->padval : pixel(x, H, W, py < 0 ? -1 : H, px < 0 ? -1 : W, sm);
  if (sm->interp == SAMP_NEAREST)   /* nearbyint: ties to even, as PyTorch's grid_sample */
    return pixel(x, H, W, (int64_t)nearbyint(py), (int64_t)nearbyint(px), sm);
  int64_t h0 = (int64_t)floor(py), w0 = (int64_t)floor(px);
  double fh = py - (double)h0, fw = px - (double)w0;
  double top = pixel(x, H, W, h0, w0, sm) * (1 - fw) + pixel(x, H, W, h0, w0 + 1, sm) * fw;
  double bot = pixel(x, H, W, h0 + 1, w0, sm) * (1 - fw) + pixel(x, H, W, h0 + 1, w0 + 1, sm) * fw;
  return top * (1 - fh) + bot * fh;
}

/* Output pixel q (of hw) of image n, every channel, from x at (py, px). */
static void sample_channels(const CpuSlot *xs, float *y, int64_t n, int64_t q, int64_t hw,
                            double py, double px, const Sampler *sm) {
  int64_t C = xs->dim[1], H = xs->dim[2], W = xs->dim[3];
  for (int64_t c = 0; c < C; c++)
    y[(n * C + c) * hw + q] = (float)sample(xs->data + (n * C + c) * H * W, H, W, py, px, sm);
}

/* A coordinate of coordinates_mode into pixels along a dim of size d. */
static double unnormalize(const Sampler *sm, double c, int64_t d) {
  if (sm->coords == COORD_PIXELS)
    return c;
  if (sm->coords == COORD_ZERO1)
    c = 2 * c - 1;
  return sm->align ? (c + 1) / 2 * (double)(d - 1) : ((c + 1) * (double)d - 1) / 2;
}

/* v's index in names[0..n), else -1 after an error listing them. */
static int pick(CpuBuild *b, const char *what, const char *v, const char *const *names, int n) {
  for (int i = 0; i < n; i++)
    if (strcmp(v, names[i]) == 0)
      return i;
  char list[256] = "";
  size_t o = 0;
  for (int i = 0; i < n && o < sizeof list; i++)
    o += (size_t)snprintf(list + o, sizeof list - o, "%s%s",
                          i == 0 ? "" : i == n - 1 ? " or " : ", ", names[i]);
  return cpu_error(b, "unknown %s \"%s\" (%s)", what, v, list);
}

/* The sampling parameters resample and affine share. */
static int sampler_params(CpuBuild *b, CpuStep *s, Sampler *sm) {
  static const char *const interp[] = {"bilinear", "nearest"};
  static const char *const pads[] = {"constant", "border", "reflection", "symmetric"};
  static const char *const coords[] = {"unnormalized", "normalized_minus_one_to_one",
                                       "normalized_zero_to_one"};
  const char *is, *ps, *cs;
  double pv;
  if (cpu_param_str(b, "sampling_mode", NULL, &is) < 0 ||
      cpu_param_str(b, "padding_mode", NULL, &ps) < 0 ||
      cpu_param_float(b, "padding_value", NULL, &pv) < 0 ||
      cpu_param_str(b, "coordinates_mode", NULL, &cs) < 0 ||
      cpu_param_bools(b, "align_corners", &sm->align, 1) < 0)
    return -1;
  if ((sm->interp = pick(b, "sampling_mode", is, interp, 2)) < 0 ||
      (sm->pad = pick(b, "padding_mode", ps, pads, 4)) < 0 ||
      (sm->coords = pick(b, "coordinates_mode", cs, coords, 3)) < 0)
    return -1;
  sm->padval = (float)pv;
  s->f[0] = sm->padval;
  s->k[0] = sm->interp;
  s->k[1] = sm->pad;
  s->k[2] = sm->coords;
  s->k[3] = sm->align;
  return 0;
}

static Sampler sampler_k(const CpuStep *s) {
  Sampler sm = {(int)s->k[0], (int)s->k[1], (int)s->k[2], s->k[3] != 0, s->f[0]};
  return sm;
}

static int need_image(CpuBuild *b, const CpuSlot *x) {
  if (cpu_need_float(b, x, "x") < 0)
    return -1;
  if (x->rank != 4)
    return cpu_error(b, "x has rank %d; 4 ([B, C, H, W]) expected", x->rank);
  return 0;
}

/* ---- resample: coordinates [B, Ho, Wo, 2] as (x, y) -------------------------------------- */

static int prep_resample(CpuBuild *b, CpuStep *s) {
  CpuSlot x, c;
  Sampler sm;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 || cpu_operand(b, s, 1, "coordinates", true, &c) < 0 ||
      need_image(b, &x) < 0 || sampler_params(b, s, &sm) < 0)
    return -1;
  if (c.dtype != MIL_FP32 && c.dtype != MIL_FP16 && c.dtype != MIL_INT32)
    return cpu_error(b, "coordinates are %s; fp16, fp32 or int32 expected",
                     mil_dtype_name(c.dtype));
  if (c.rank != 4 || c.dim[0] != x.dim[0] || c.dim[3] != 2)
    return cpu_error(b, "coordinates must be [B, H2, W2, 2] with x's batch (%lld)",
                     (long long)x.dim[0]);
  int64_t odim[4] = {x.dim[0], x.dim[1], c.dim[1], c.dim[2]};
  return cpu_one_out(b, x.dtype, 4, odim);
}

static void run_resample(const CpuPlan *p, const CpuStep *s) {
  const CpuSlot *xs = &p->slots[s->in[0]], *cs = &p->slots[s->in[1]];
  const CpuSlot *ys = cpu_out0(p, s);
  Sampler sm = sampler_k(s);
  int64_t B = xs->dim[0], H = xs->dim[2], W = xs->dim[3];
  int64_t hw = ys->dim[2] * ys->dim[3];
  for (int64_t n = 0; n < B; n++)
    for (int64_t q = 0; q < hw; q++) {
      int64_t ci = (n * hw + q) * 2;
      double px = unnormalize(&sm, cpu_get(cs, ci), W), py = unnormalize(&sm, cpu_get(cs, ci + 1), H);
      sample_channels(xs, ys->data, n, q, hw, py, px, &sm);
    }
}

/* ---- affine: transform_matrix [D, 6] over normalized output coordinates ---------------- */

static int prep_affine(CpuBuild *b, CpuStep *s) {
  CpuSlot x, t;
  Sampler sm;
  int64_t ho, wo;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 ||
      cpu_operand(b, s, 1, "transform_matrix", true, &t) < 0 || need_image(b, &x) < 0 ||
      cpu_need_float(b, &t, "transform_matrix") < 0 ||
      cpu_param_int(b, "output_height", NULL, &ho) < 0 ||
      cpu_param_int(b, "output_width", NULL, &wo) < 0 || sampler_params(b, s, &sm) < 0)
    return -1;
  /* the definition's own restrictions (its type_inference raises on the rest) */
  if (sm.interp != SAMP_BILINEAR)
    return cpu_error(b, "sampling_mode must be \"bilinear\"");
  if (sm.coords != COORD_MINUS1)
    return cpu_error(b, "coordinates_mode must be \"normalized_minus_one_to_one\"");
  if (sm.pad != SPAD_CONST || sm.padval != 0)
    return cpu_error(b, "padding_mode must be \"constant\" with padding_value 0");
  if (t.rank != 2 || t.dim[1] != 6 || (t.dim[0] != 1 && t.dim[0] != x.dim[0]))
    return cpu_error(b, "transform_matrix must be [1, 6] or [B, 6] (B = %lld)", (long long)x.dim[0]);
  if (ho < 1 || wo < 1)
    return cpu_error(b, "output_height and output_width must be at least 1");
  int64_t odim[4] = {x.dim[0], x.dim[1], ho, wo};
  return cpu_one_out(b, x.dtype, 4, odim);
}

/* Output position i of n in [-1, 1]: PyTorch's affine_grid, whose pair with
 * grid_sample coremltools' converter turns into this op. */
static double affine_base(bool align, int64_t i, int64_t n) {
  if (align)
    return n > 1 ? -1 + 2.0 * (double)i / (double)(n - 1) : -1;
  return (2.0 * (double)i + 1) / (double)n - 1;
}

static void run_affine(const CpuPlan *p, const CpuStep *s) {
  const CpuSlot *xs = &p->slots[s->in[0]], *ts = &p->slots[s->in[1]];
  const CpuSlot *ys = cpu_out0(p, s);
  Sampler sm = sampler_k(s);
  int64_t B = xs->dim[0], H = xs->dim[2], W = xs->dim[3];
  int64_t Ho = ys->dim[2], Wo = ys->dim[3];
  for (int64_t n = 0; n < B; n++) {
    const float *m = ts->data + (ts->dim[0] == 1 ? 0 : n * 6);
    for (int64_t oh = 0; oh < Ho; oh++)
      for (int64_t ow = 0; ow < Wo; ow++) {
        double u = affine_base(sm.align, ow, Wo), v = affine_base(sm.align, oh, Ho);
        double px = unnormalize(&sm, m[0] * u + m[1] * v + m[2], W);
        double py = unnormalize(&sm, m[3] * u + m[4] * v + m[5], H);
        sample_channels(xs, ys->data, n, oh * Wo + ow, Ho * Wo, py, px, &sm);
      }
  }
}

/* ---- crop_resize: boxes roi [N, 1, 4 or 5, 1, 1] ----------------------------------------
 * k: 0 box mode, 1 sampling mode, 2 normalized, 3 th, 4 tw, 5 pad (border
 * before iOS 17, constant pad_value from it); f: 0 spatial_scale, 1 pad_value. */

enum { BOX_HW, BOX_WH, BOX_CHW, BOX_CWH };

static int prep_crop_resize(CpuBuild *b, CpuStep *s) {
  static const char *const boxes[] = {"CORNERS_HEIGHT_FIRST", "CORNERS_WIDTH_FIRST",
                                      "CENTER_SIZE_HEIGHT_FIRST", "CENTER_SIZE_WIDTH_FIRST"};
  static const char *const modes[] = {"STRICT_ALIGN_CORNERS", "ALIGN_CORNERS", "DEFAULT",
                                      "OFFSET_CORNERS", "UNALIGN_CORNERS"};
  CpuSlot x, r;
  int64_t th, tw, one = 1;
  double scale, pv, unit = 1, zero = 0;
  bool norm = false;
  const char *bs, *ms;
  if (mil_op_arg(b->op, "boxes") && !mil_op_arg(b->op, "roi"))
    return cpu_error(b, "boxes and box_indices (iOS17's form) are not supported by the cpu "
                        "backend; roi expected");
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 || cpu_operand(b, s, 1, "roi", true, &r) < 0 ||
      need_image(b, &x) < 0 || cpu_need_float(b, &r, "roi") < 0 ||
      cpu_param_int(b, "target_height", &one, &th) < 0 ||
      cpu_param_int(b, "target_width", &one, &tw) < 0 ||
      cpu_param_bools(b, "normalized_coordinates", &norm, 1) < 0 ||
      cpu_param_float(b, "spatial_scale", &unit, &scale) < 0 ||
      cpu_param_str(b, "box_coordinate_mode", "CORNERS_HEIGHT_FIRST", &bs) < 0 ||
      cpu_param_str(b, "sampling_mode", "DEFAULT", &ms) < 0 ||
      (b->opset >= 17 && cpu_param_float(b, "pad_value", &zero, &pv) < 0))
    return -1;
  int bm = pick(b, "box_coordinate_mode", bs, boxes, 4), sm = bm < 0 ? -1 : pick(b, "sampling_mode", ms, modes, 5);
  if (sm < 0)
    return -1;
  if (r.rank != 5 || r.dim[1] != 1 || (r.dim[2] != 4 && r.dim[2] != 5) || r.dim[3] != 1 ||
      r.dim[4] != 1)
    return cpu_error(b, "roi must be [N, 1, 4, 1, 1] or [N, 1, 5, 1, 1]");
  /* The definition's text gives [N, 1, C, h, w] for boxes with a batch index,
   * its type inference [N, B, C, h, w]: they agree only for B = 1. */
  if (r.dim[2] == 5 && x.dim[0] != 1)
    return cpu_error(b, "roi with a batch index needs x's batch to be 1 (the definition's "
                        "output shapes for it disagree otherwise)");
  if (th < 1 || tw < 1)
    return cpu_error(b, "target_height and target_width must be at least 1");
  int64_t kv[6] = {bm, sm, norm, th, tw, b->opset >= 17 ? SPAD_CONST : SPAD_BORDER};
  memcpy(s->k, kv, sizeof kv);
  s->f[0] = (float)scale;
  s->f[1] = b->opset >= 17 ? (float)pv : 0;
  int64_t odim[5] = {r.dim[0], x.dim[0], x.dim[1], th, tw};
  return cpu_one_out(b, x.dtype, 5, odim);
}

/* Point i of n across the box [lo, hi]: resize_bilinear's sampling mode
 * with the box as the image (X = hi - lo + 1 pixels from lo), so the box
 * [0, H - 1] gives resize_bilinear's grid; a flipped box is walked back. */
static double box_grid(int mode, int64_t i, double lo, double hi, int64_t n) {
  return hi >= lo ? lo + cpu_grid(mode, i, hi - lo + 1, n) : lo - cpu_grid(mode, i, lo - hi + 1, n);
}

static void run_crop_resize(const CpuPlan *p, const CpuStep *s) {
  const CpuSlot *xs = &p->slots[s->in[0]], *rs = &p->slots[s->in[1]];
  float *y = cpu_data(p, s->out[0]);
  int64_t B = xs->dim[0], C = xs->dim[1], H = xs->dim[2], W = xs->dim[3];
  int64_t N = rs->dim[0], nc = rs->dim[2], th = s->k[3], tw = s->k[4];
  Sampler sm = {SAMP_BILINEAR, (int)s->k[5], COORD_PIXELS, false, s->f[1]};
  for (int64_t n = 0; n < N; n++) {
    const float *r = rs->data + n * nc + (nc == 5);
    double v[4], scale = s->f[0];
    for (int i = 0; i < 4; i++)
      v[i] = r[i] * scale;
    double h1, w1, h2, w2;
    switch (s->k[0]) {
    case BOX_HW: h1 = v[0]; w1 = v[1]; h2 = v[2]; w2 = v[3]; break;
    case BOX_WH: w1 = v[0]; h1 = v[1]; w2 = v[2]; h2 = v[3]; break;
    case BOX_CHW: h1 = v[0] - v[2] / 2; h2 = v[0] + v[2] / 2; w1 = v[1] - v[3] / 2; w2 = v[1] + v[3] / 2; break;
    default: w1 = v[0] - v[2] / 2; w2 = v[0] + v[2] / 2; h1 = v[1] - v[3] / 2; h2 = v[1] + v[3] / 2; break;
    }
    if (s->k[2]) {
      h1 *= (double)(H - 1); h2 *= (double)(H - 1);
      w1 *= (double)(W - 1); w2 *= (double)(W - 1);
    }
    for (int64_t bi = 0; bi < B; bi++)
      for (int64_t c = 0; c < C; c++) {
        const float *plane = xs->data + (bi * C + c) * H * W;
        float *out = y + ((n * B + bi) * C + c) * th * tw;
        for (int64_t i = 0; i < th; i++) {
          double py = box_grid((int)s->k[1], i, h1, h2, th);
          for (int64_t j = 0; j < tw; j++)
            out[i * tw + j] = (float)sample(plane, H, W, py, box_grid((int)s->k[1], j, w1, w2, tw), &sm);
        }
      }
  }
}

const CpuOpDef cpu_ops_image[] = {
  {"affine", prep_affine, run_affine, 0, false, false},
  {"crop_resize", prep_crop_resize, run_crop_resize, 0, false, false},
  {"resample", prep_resample, run_resample, 0, false, false},
  {NULL, NULL, NULL, 0, false, false},
};
