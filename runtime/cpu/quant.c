/* quant.c - the cpu backend's quantisation ops and the constexpr
 * decompression ops (FORMATS.md §3.1), the latter evaluated once at open(). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

/* ---- quantisation (FORMATS.md §3.1) --------------------------------------------------
 * k: 0 outer, 1 channels (1: per tensor), 2 inner, 3 lo, 4 hi;
 * in: 0 data, 1 scale, 2 zero point (or absent). */

/* scale (and zero_point, same shape) are one value, or one per x.shape[axis]. */
static int per_axis(CpuBuild *b, CpuStep *s, const CpuSlot *x, const CpuSlot *sc,
                    const CpuSlot *z, bool axis_required) {
  int64_t axis, none = INT64_MIN;
  if (cpu_need_const(b, s->in[1], "scale") < 0 || cpu_need_float(b, sc, "scale") < 0 ||
      cpu_param_int(b, "axis", axis_required ? NULL : &none, &axis) < 0)
    return -1;
  if (s->in[2] >= 0) {
    if (cpu_need_const(b, s->in[2], "zero_point") < 0)
      return -1;
    if (z->n != sc->n)
      return cpu_error(b, "zero_point has %lld values; scale has %lld", (long long)z->n,
                       (long long)sc->n);
  }
  s->k[0] = 1;
  s->k[1] = 1;
  s->k[2] = x->n;
  if (sc->n == 1)
    return 0;
  int ax;
  if (axis == INT64_MIN)
    return cpu_error(b, "scale has %lld values, so 'axis' is required", (long long)sc->n);
  if (cpu_axis(b, "axis", axis, x->rank, &ax) < 0)
    return -1;
  int big = 0;
  for (int i = 0; i < sc->rank; i++)
    big += sc->dim[i] != 1;
  if (sc->n != x->dim[ax] || big > 1)
    return cpu_error(b, "scale has %lld values; one or %lld (x's dim %d) expected",
                     (long long)sc->n, (long long)x->dim[ax], ax);
  s->k[0] = cpu_prod(x->dim, 0, ax);
  s->k[1] = x->dim[ax];
  s->k[2] = cpu_prod(x->dim, ax + 1, x->rank);
  return 0;
}

/* q = clip(round_half_even(x / scale) + zero_point, lo, hi), the quotient
 * in fp32. Quotients beyond the range are first clamped to just outside
 * it (the final clip gives the same), so adding and removing 1.5 * 2^23
 * rounds them to an integer, half to even, in one IEEE addition; this
 * vectorises where rintf needs SSE4.1. NaN gives 0. */
#define QUANT_ROW(DIV)                                                                    \
  CPU_EACH(n, float t = DIV; t = t < lo2 ? lo2 : t > hi2 ? hi2 : t;                       \
           t = (t + magic) - magic + z; t = t < lo ? lo : t > hi ? hi : t;                \
           y[i] = (int32_t)(t == t ? t : 0))

/* A scale of 2^e (with 2^-e a normal fp32) divides exactly as a product
 * with 2^-e, which costs a fraction of a division's time. */
void cpu_quant_row(int32_t *restrict y, const float *restrict x, int64_t n, float d, float z,
                   float lo, float hi) {
  const float lo2 = lo - z - 1, hi2 = hi - z + 1, magic = 0x1.8p23f;
  int e;
  float inv = 1.0f / d;
  if (frexpf(d, &e) == 0.5f && isnormal(inv))
    QUANT_ROW(x[i] * inv);
  else
    QUANT_ROW(x[i] / d);
}

/* y = scale * (q - zero_point), in fp32; rounded to scale's dtype after. */
static void dequant_row(float *restrict y, const int32_t *restrict x, int64_t n, float d,
                        float z) {
  CPU_EACH(n, y[i] = d * ((float)x[i] - z));
}

/* Units [lo, hi) of (outer, channel) rows, each with its channel's scale
 * and zero point; of elements when there is one row (per tensor). */
static void affine_range(const CpuPlan *p, const CpuStep *s, int64_t lo, int64_t hi, bool quant) {
  const float *sc = cpu_data(p, s->in[1]);
  const CpuSlot *zp = s->in[2] >= 0 ? &p->slots[s->in[2]] : NULL;
  int64_t C = s->k[1], inner = s->k[2];
  bool one = s->k[0] * C == 1;   /* per tensor: the units are elements */
  int64_t r0 = one ? 0 : lo, r1 = one ? 1 : hi;
  for (int64_t r = r0; r < r1; r++) {
    int64_t c = r % C, at = one ? lo : r * inner, n = one ? hi - lo : inner;
    float z = zp ? (float)cpu_get(zp, c) : 0.0f;
    if (quant) {
      cpu_quant_row(cpu_idata(p, s->out[0]) + at, cpu_data(p, s->in[0]) + at, n, sc[c], z,
                (float)s->k[3], (float)s->k[4]);
    } else {
      dequant_row(cpu_data(p, s->out[0]) + at, cpu_idata(p, s->in[0]) + at, n, sc[c], z);
      cpu_round_out(p, s, 0, at, at + n);
    }
  }
}

static void range_quantize(const CpuPlan *p, const CpuStep *s, int64_t lo, int64_t hi) {
  affine_range(p, s, lo, hi, true);
}

static void range_dequantize(const CpuPlan *p, const CpuStep *s, int64_t lo, int64_t hi) {
  affine_range(p, s, lo, hi, false);
}

/* Splits the rows (or the elements of a single row) across the threads. */
static void affine_units(CpuStep *s, CpuRangeFn *fn) {
  int64_t rows = s->k[0] * s->k[1];
  s->run = cpu_run_range;
  s->range = fn;
  s->rounds = true;
  s->nunits = rows == 1 ? s->k[2] : rows;
  s->grain = rows == 1 ? 16384 : 16384 / (s->k[2] + 1) + 1;
}

/* Whether every fp16 value dequantize can produce is exact: with each
 * scale a power of two 2^e, -24 <= e, and the widest |q - zero_point| times
 * it at most 65504, scale * (q - zero_point) is an integer of at most 9
 * bits times 2^e, held exactly by fp32's product and by fp16; so rounding
 * it to fp16 would change nothing. */
static bool dequant_exact(const CpuSlot *x, const CpuSlot *sc, const CpuSlot *zp) {
  double lo, hi;
  cpu_int_range(x->dtype, &lo, &hi);
  for (int64_t c = 0; c < sc->n; c++) {
    double z = zp ? cpu_get(zp, c) : 0, d = fabs(sc->data[c]);
    int e;
    if (frexp(d, &e) != 0.5 || e - 1 < -24 || z != floor(z) || fmax(hi - z, z - lo) * d > 65504)
      return false;
  }
  return true;
}

static int prep_quantize(CpuBuild *b, CpuStep *s) {
  CpuSlot x, sc, z;
  const char *odt;
  if (cpu_operand(b, s, 0, "input", true, &x) < 0 || cpu_operand(b, s, 1, "scale", true, &sc) < 0 ||
      cpu_operand(b, s, 2, "zero_point", false, &z) < 0 || cpu_need_float(b, &x, "input") < 0 ||
      cpu_param_str(b, "output_dtype", NULL, &odt) < 0)
    return -1;
  MilDtype dt;
  if (strcmp(odt, "int8") == 0)
    dt = MIL_INT8;
  else if (strcmp(odt, "uint8") == 0)
    dt = MIL_UINT8;
  else
    return cpu_error(b, "output_dtype \"%s\" is not int8 or uint8", odt);
  if (s->in[2] >= 0 && z.dtype != dt)
    return cpu_error(b, "zero_point is %s; output_dtype is %s", mil_dtype_name(z.dtype), odt);
  if (per_axis(b, s, &x, &sc, &z, false) < 0)
    return -1;
  double lo, hi;
  cpu_int_range(dt, &lo, &hi);
  s->k[3] = (int64_t)lo;
  s->k[4] = (int64_t)hi;
  affine_units(s, range_quantize);
  return cpu_one_out(b, dt, x.rank, x.dim);
}

static int prep_dequantize(CpuBuild *b, CpuStep *s) {
  bool cx = s->mode == 1;   /* constexpr_affine_dequantize */
  const char *dname = cx ? "quantized_data" : "input";
  CpuSlot x, sc, z;
  if (cpu_operand(b, s, 0, dname, true, &x) < 0 || cpu_operand(b, s, 1, "scale", true, &sc) < 0 ||
      cpu_operand(b, s, 2, "zero_point", cx, &z) < 0)
    return -1;
  if (x.dtype != MIL_INT8 && x.dtype != MIL_UINT8)
    return cpu_error(b, "'%s' is %s; int8 or uint8 expected", dname, mil_dtype_name(x.dtype));
  if (s->in[2] >= 0 && z.dtype != x.dtype && !(cx && z.dtype == MIL_FP32))
    return cpu_error(b, "zero_point is %s; %s is %s", mil_dtype_name(z.dtype), dname,
                     mil_dtype_name(x.dtype));
  if (per_axis(b, s, &x, &sc, &z, cx) < 0)
    return -1;
  if (sc.dtype == MIL_FP16 && dequant_exact(&x, &sc, s->in[2] >= 0 ? &z : NULL))
    s->exact = true;
  affine_units(s, range_dequantize);
  return cpu_one_out(b, sc.dtype, x.rank, x.dim);
}

/* ---- constexpr ops ------------------------------------------------------------------ */

/* The shift-scale checks of data (dtype ddt, rank r, dims dim) against
 * scale and offset, as iOS18's reference makes them. */
static int check_shift_scale(CpuBuild *b, MilDtype ddt, int r, const int64_t *dim,
                             const CpuSlot *sc, const CpuSlot *o, bool has_off) {
  if (cpu_need_float(b, sc, "scale") < 0)
    return -1;
  if (r < 1 || sc->rank != r)
    return cpu_error(b, "scale has rank %d; data has rank %d (at least 1)", sc->rank, r);
  for (int i = 0; i < r; i++)
    if (sc->dim[i] < 1 || dim[i] % sc->dim[i])
      return cpu_error(b, "scale's dim %d (%lld) does not divide data's (%lld)", i,
                       (long long)sc->dim[i], (long long)dim[i]);
  if (!has_off)
    return 0;
  bool ok = o->rank == sc->rank;
  for (int i = 0; ok && i < o->rank; i++)
    ok = o->dim[i] == sc->dim[i];
  if (!ok)
    return cpu_error(b, "offset must have the shape of scale");
  if (!cpu_is_float(o->dtype) && o->dtype != ddt)
    return cpu_error(b, "offset is %s; a float or data's dtype (%s) expected",
                     mil_dtype_name(o->dtype), mil_dtype_name(ddt));
  return 0;
}

/* out[i] = scale[i / block] * (data[i] - offset[i / block]) per dim. */
static int prep_blockwise(CpuBuild *b, CpuStep *s) {
  CpuSlot d, sc, o;
  if (cpu_operand(b, s, 0, "data", true, &d) < 0 || cpu_operand(b, s, 1, "scale", true, &sc) < 0 ||
      cpu_operand(b, s, 2, "offset", false, &o) < 0 ||
      check_shift_scale(b, d.dtype, d.rank, d.dim, &sc, &o, s->in[2] >= 0) < 0)
    return -1;
  return cpu_one_out(b, sc.dtype, d.rank, d.dim);
}

/* scale * (v - offset) at block j, the difference rounded to fp16 when
 * scale is fp16: the reference works in scale's dtype. */
static float shift_scale(const CpuSlot *sc, const CpuSlot *off, int64_t j, double v) {
  float t = (float)(v - (off ? cpu_get(off, j) : 0.0));
  if (sc->dtype == MIL_FP16)
    cpu_round_fp16(&t, 1);
  return sc->data[j] * t;
}

/* The block (row-major index into a grid of dims dim[k] / blk[k]) holding
 * flat element i of a tensor of rank r and dims dim. */
static int64_t block_of(int64_t i, int r, const int64_t *dim, const int64_t *grid) {
  int64_t g = 0, st = 1;
  for (int k = r - 1; k >= 0; k--) {
    g += i % dim[k] / (dim[k] / grid[k]) * st;
    i /= dim[k];
    st *= grid[k];
  }
  return g;
}

static void run_blockwise(const CpuPlan *p, const CpuStep *s) {
  const CpuSlot *d = &p->slots[s->in[0]], *sc = &p->slots[s->in[1]];
  const CpuSlot *off = s->in[2] >= 0 ? &p->slots[s->in[2]] : NULL;
  float *y = cpu_data(p, s->out[0]);
  for (int64_t i = 0; i < d->n; i++)
    y[i] = shift_scale(sc, off, block_of(i, d->rank, d->dim, sc->dim), cpu_get(d, i));
}

static int check_lut_dtype(CpuBuild *b, MilDtype dt) {
  if (!cpu_is_float(dt) && dt != MIL_INT8 && dt != MIL_UINT8)
    return cpu_error(b, "lut is %s; fp16, fp32, int8 or uint8 expected", mil_dtype_name(dt));
  return 0;
}

/* iOS18 LUT checks for indices of dtype idt, rank r, dims idim; the
 * output's dims (idim with the vector axis times the vector size) into
 * odim. k: 1 bits, 2 vector axis, 3 vector size. */
static int check_lut18(CpuBuild *b, CpuStep *s, MilDtype idt, int r, const int64_t *idim,
                       const CpuSlot *lut, int64_t *odim) {
  int bits = mil_dtype_bits(idt);
  if (mil_dtype_is_signed(idt) || !mil_dtype_is_int(idt) || bits > 8 || r < 1 ||
      lut->rank != r + 2 || lut->dim[r] != (1 << bits))
    return cpu_error(b, "expected indices of uint1..uint8 and a lut [groups..., 2^bits, "
                     "vector size] of rank rank(indices) + 2");
  for (int i = 0; i < r; i++)
    if (lut->dim[i] < 1 || idim[i] % lut->dim[i])
      return cpu_error(b, "lut's dim %d (%lld) does not divide indices' (%lld)", i,
                       (long long)lut->dim[i], (long long)idim[i]);
  int64_t vs = lut->dim[r + 1], va = 0, none = INT64_MIN;
  int ax = 0;
  if (cpu_param_int(b, "vector_axis", &none, &va) < 0)
    return -1;
  if (vs > 1 && va == INT64_MIN)
    return cpu_error(b, "the lut holds vectors of %lld; 'vector_axis' is required",
                     (long long)vs);
  if (va != INT64_MIN && cpu_axis(b, "vector_axis", va, r, &ax) < 0)
    return -1;
  memcpy(odim, idim, sizeof(int64_t) * (size_t)r);
  odim[ax] *= vs;
  s->k[1] = bits;
  s->k[2] = ax;
  s->k[3] = vs;
  return 0;
}

/* iOS16 form (indices: packed bytes, shape given) when 'shape' is there;
 * iOS18 form (indices with the output's shape, per-block LUTs, vectors)
 * otherwise. k: 0 form, 1 bits, 2 vector axis, 3 vector size. */
static int prep_lut(CpuBuild *b, CpuStep *s) {
  CpuSlot ind, lut;
  if (cpu_operand(b, s, 0, "indices", true, &ind) < 0 || cpu_operand(b, s, 1, "lut", true, &lut) < 0)
    return -1;
  int shi = cpu_input(b, "shape", false);
  if (shi == CPU_ERR)
    return -1;
  MilDtype dt = lut.dtype;
  if (check_lut_dtype(b, dt) < 0)
    return -1;
  if (shi >= 0) {
    int64_t shape[MIL_MAX_RANK];
    int r = cpu_param_ints(b, "shape", shape, MIL_MAX_RANK, NULL, 0);
    if (r < 0)
      return -1;
    int bits = 0;
    while (bits < 9 && ((int64_t)1 << bits) < lut.n)
      bits++;
    if (ind.dtype != MIL_UINT8 || ind.rank != 1 || lut.rank != 1 || lut.n != (1 << bits) ||
        (bits != 1 && bits != 2 && bits != 4 && bits != 6 && bits != 8))
      return cpu_error(b, "expected indices uint8[M] and a lut of 2, 4, 16, 64 or 256 entries");
    int64_t n = cpu_prod(shape, 0, r);
    if (n < 0 || n > CPU_MAX_ELEMS || ind.n != (n * bits + 7) / 8)
      return cpu_error(b, "indices has %lld bytes; %lld %d-bit indices need %lld",
                       (long long)ind.n, (long long)n, bits, (long long)((n * bits + 7) / 8));
    s->k[0] = 16;
    s->k[1] = bits;
    return cpu_one_out(b, dt, r, shape);
  }
  int64_t dim[MIL_MAX_RANK];
  if (check_lut18(b, s, ind.dtype, ind.rank, ind.dim, &lut, dim) < 0)
    return -1;
  s->k[0] = 18;
  return cpu_one_out(b, dt, ind.rank, dim);
}

static void run_lut(const CpuPlan *p, const CpuStep *s) {
  const CpuSlot *ind = &p->slots[s->in[0]], *lut = &p->slots[s->in[1]], *o = cpu_out0(p, s);
  /* entries are copied as bits: float or int32 alike */
  const uint32_t *tab = (const uint32_t *)lut->data;
  const int32_t *ix = (const int32_t *)ind->data;
  uint32_t *y = (uint32_t *)o->data;
  int bits = (int)s->k[1];
  if (s->k[0] == 16) {
    for (int64_t i = 0; i < o->n; i++) {
      int64_t bit = i * bits;
      unsigned w = (unsigned)ix[bit / 8];
      if (bit % 8 + bits > 8)
        w |= (unsigned)ix[bit / 8 + 1] << 8;
      y[i] = tab[(w >> (bit % 8)) & ((1u << bits) - 1)];
    }
    return;
  }
  int r = ind->rank, ax = (int)s->k[2];
  int64_t vs = s->k[3], np = (int64_t)1 << bits, idx[MIL_MAX_RANK] = {0};
  int64_t ist[MIL_MAX_RANK], gst[MIL_MAX_RANK];
  cpu_strides(r, ind->dim, ist);
  cpu_strides(r, lut->dim, gst);   /* over lut's first r dims: the table's index */
  for (int64_t i = 0; i < o->n; i++) {
    int64_t at = 0, g = 0;
    for (int k = 0; k < r; k++) {
      int64_t q = k == ax ? idx[k] / vs : idx[k];
      at += q * ist[k];
      g += q / (ind->dim[k] / lut->dim[k]) * gst[k];
    }
    y[i] = tab[(g * np + ix[at]) * vs + idx[ax] % vs];
    for (int k = r - 1; k >= 0 && ++idx[k] == o->dim[k]; k--)
      idx[k] = 0;
  }
}

/* nonzero_data is a vector with one value per set bit of the n-element
 * mask (packed: iOS16's bytes, LSB first; else one int per element). */
static int check_sparse(CpuBuild *b, const char *mname, const CpuSlot *mask, const char *dname,
                        const CpuSlot *nz, bool packed, int64_t n) {
  if (nz->rank != 1)
    return cpu_error(b, "%s must be a vector; it has rank %d", dname, nz->rank);
  int64_t set = 0;
  const int32_t *m = (const int32_t *)mask->data;
  for (int64_t i = 0; i < n; i++)
    set += packed ? (m[i / 8] >> (i % 8)) & 1 : m[i] != 0;
  if (set != nz->n)
    return cpu_error(b, "%s has %lld set bits; %s has %lld values", mname, (long long)set, dname,
                     (long long)nz->n);
  return 0;
}

static int need_uint1(CpuBuild *b, const CpuSlot *mask, const char *what) {
  if (mask->dtype != MIL_UINT1)
    return cpu_error(b, "%s is %s; uint1 expected", what, mil_dtype_name(mask->dtype));
  return 0;
}

/* constexpr_sparse_to_dense: the elements whose mask bit is set take the
 * next value of nonzero_data in row-major order, the others are 0. iOS16
 * form: mask uint8[ceil(n / 8)] (bit i of the stream from the least
 * significant bit of each byte) and 'shape'; iOS18 form: mask uint1 of the
 * output's shape. k: 0 iOS16 form. */
static int prep_sparse(CpuBuild *b, CpuStep *s) {
  CpuSlot nz, mask;
  if (cpu_operand(b, s, 0, "nonzero_data", true, &nz) < 0 ||
      cpu_operand(b, s, 1, "mask", true, &mask) < 0)
    return -1;
  int shi = cpu_input(b, "shape", false);
  if (shi == CPU_ERR)
    return -1;
  int64_t dim[MIL_MAX_RANK];
  int r;
  if (shi >= 0) {
    if ((r = cpu_param_ints(b, "shape", dim, MIL_MAX_RANK, NULL, 0)) < 0)
      return -1;
    int64_t n = cpu_prod(dim, 0, r);
    if (mask.dtype != MIL_UINT8 || mask.rank != 1 || n < 0 || mask.n != (n + 7) / 8)
      return cpu_error(b, "mask must be uint8[%lld] for %lld elements", (long long)((n + 7) / 8),
                       (long long)n);
    s->k[0] = 1;
  } else {
    if (mask.dtype != MIL_UINT1)
      return cpu_error(b, "mask is %s; uint1 (with the output's shape) or uint8 with 'shape' "
                       "expected", mil_dtype_name(mask.dtype));
    r = mask.rank;
    memcpy(dim, mask.dim, sizeof dim);
  }
  if (check_sparse(b, "mask", &mask, "nonzero_data", &nz, s->k[0], cpu_prod(dim, 0, r)) < 0)
    return -1;
  return cpu_one_out(b, nz.dtype, r, dim);
}

static void run_sparse(const CpuPlan *p, const CpuStep *s) {
  const CpuSlot *o = cpu_out0(p, s);
  const int32_t *m = cpu_idata(p, s->in[1]);
  const uint32_t *nz = (const uint32_t *)cpu_data(p, s->in[0]);
  uint32_t *y = (uint32_t *)o->data;
  int64_t j = 0;
  for (int64_t i = 0; i < o->n; i++) {
    bool on = s->k[0] ? (m[i / 8] >> (i % 8)) & 1 : m[i] != 0;
    y[i] = on ? nz[j++] : 0;   /* 0 bits are 0 as float and as int */
  }
}

/* The iOS18 sparse-to-sparse ops: outputs 0, the mask, and 1, the kept
 * values (row-major order of the mask's set bits), decompressed with the
 * block or LUT of their dense position; constexpr_sparse_to_dense takes
 * both.
 * constexpr_sparse_blockwise_shift_scale(data_mask, nonzero_data, scale,
 * offset): value j = scale[blk] * (nonzero_data[j] - offset[blk]), blk the
 * block of the j-th set bit as in constexpr_blockwise_shift_scale. */
static int prep_sparse_shift(CpuBuild *b, CpuStep *s) {
  CpuSlot m, nz, sc, o;
  if (cpu_operand(b, s, 0, "data_mask", true, &m) < 0 ||
      cpu_operand(b, s, 1, "nonzero_data", true, &nz) < 0 ||
      cpu_operand(b, s, 2, "scale", true, &sc) < 0 ||
      cpu_operand(b, s, 3, "offset", false, &o) < 0 || need_uint1(b, &m, "data_mask") < 0 ||
      check_sparse(b, "data_mask", &m, "nonzero_data", &nz, false, m.n) < 0 ||
      check_shift_scale(b, nz.dtype, m.rank, m.dim, &sc, &o, s->in[3] >= 0) < 0)
    return -1;
  if (cpu_output(b, 0, 2, MIL_UINT1, m.rank, m.dim) < 0 ||
      cpu_output(b, 1, 2, sc.dtype, 1, &nz.n) < 0)
    return -1;
  return 0;
}

static void run_sparse_shift(const CpuPlan *p, const CpuStep *s) {
  const CpuSlot *m = &p->slots[s->in[0]], *nz = &p->slots[s->in[1]], *sc = &p->slots[s->in[2]];
  const CpuSlot *off = s->in[3] >= 0 ? &p->slots[s->in[3]] : NULL;
  const int32_t *mi = (const int32_t *)m->data;
  float *y = cpu_data(p, s->out[1]);
  memcpy(cpu_data(p, s->out[0]), m->data, sizeof(int32_t) * (size_t)m->n);
  for (int64_t i = 0, j = 0; i < m->n; i++)
    if (mi[i]) {
      y[j] = shift_scale(sc, off, block_of(i, m->rank, m->dim, sc->dim), cpu_get(nz, j));
      j++;
    }
}

/* constexpr_lut_to_sparse(indices_mask, indices_nonzero_data, lut,
 * vector_axis): value j = lut[group][indices_nonzero_data[j]] with the
 * group of the j-th set bit as in iOS18 constexpr_lut_to_dense. With
 * vectors of V, the mask is repeated V times along vector_axis and each
 * set bit of that expanded mask takes its element of the vector. */
static int prep_lut_sparse(CpuBuild *b, CpuStep *s) {
  CpuSlot m, ind, lut;
  int64_t dim[MIL_MAX_RANK];
  if (cpu_operand(b, s, 0, "indices_mask", true, &m) < 0 ||
      cpu_operand(b, s, 1, "indices_nonzero_data", true, &ind) < 0 ||
      cpu_operand(b, s, 2, "lut", true, &lut) < 0 || need_uint1(b, &m, "indices_mask") < 0 ||
      check_lut_dtype(b, lut.dtype) < 0 ||
      check_sparse(b, "indices_mask", &m, "indices_nonzero_data", &ind, false, m.n) < 0 ||
      check_lut18(b, s, ind.dtype, m.rank, m.dim, &lut, dim) < 0)
    return -1;
  int64_t nv = ind.n * s->k[3];
  if (cpu_output(b, 0, 2, MIL_UINT1, m.rank, dim) < 0 ||
      cpu_output(b, 1, 2, lut.dtype, 1, &nv) < 0)
    return -1;
  return 0;
}

/* Row-major over the expanded mask: for each position before the vector
 * axis (outer) and along it (a), the slab after it (inner) is walked once
 * per vector element v, its set bits taking kept indices from the same
 * running count. */
static void run_lut_sparse(const CpuPlan *p, const CpuStep *s) {
  const CpuSlot *m = &p->slots[s->in[0]], *lut = &p->slots[s->in[2]];
  const int32_t *mi = (const int32_t *)m->data, *ix = cpu_idata(p, s->in[1]);
  const uint32_t *tab = (const uint32_t *)lut->data;   /* copied as bits */
  int32_t *om = cpu_idata(p, s->out[0]);
  uint32_t *y = (uint32_t *)cpu_data(p, s->out[1]);
  int r = m->rank, ax = (int)s->k[2];
  int64_t vs = s->k[3], np = (int64_t)1 << s->k[1];
  int64_t outer = cpu_prod(m->dim, 0, ax), inner = cpu_prod(m->dim, ax + 1, r);
  int64_t at = 0, j = 0, o = 0, q0 = 0;
  for (int64_t i = 0; i < outer * m->dim[ax]; i++, q0 += inner) {
    int64_t j0 = j;
    for (int64_t v = 0; v < vs; v++) {
      j = j0;
      for (int64_t q = q0; q < q0 + inner; q++) {
        om[o++] = mi[q];
        if (mi[q])
          y[at++] = tab[(block_of(q, r, m->dim, lut->dim) * np + ix[j++]) * vs + v];
      }
    }
  }
}

/* constexpr_cast(source_val, output_dtype): fp16 to fp32 (and back). */
static int prep_constexpr_cast(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  const char *name;
  MilDtype dt;
  if (cpu_operand(b, s, 0, "source_val", true, &x) < 0 ||
      cpu_param_str(b, "output_dtype", NULL, &name) < 0)
    return -1;
  if (!mil_dtype_lookup(name, strlen(name), &dt) || !cpu_is_float(dt) || !cpu_is_float(x.dtype))
    return cpu_error(b, "constexpr_cast converts between fp16 and fp32, not %s to \"%s\"",
                     mil_dtype_name(x.dtype), name);
  return cpu_one_out(b, dt, x.rank, x.dim);
}

const CpuOpDef cpu_ops_quant[] = {
  {"constexpr_cast", prep_constexpr_cast, cpu_run_copy, 0, true, false},
  {"constexpr_sparse_to_dense", prep_sparse, run_sparse, 0, true, false},
  {"constexpr_affine_dequantize", prep_dequantize, cpu_run_range, 1, true, false},
  {"constexpr_blockwise_shift_scale", prep_blockwise, run_blockwise, 0, true, false},
  {"constexpr_lut_to_dense", prep_lut, run_lut, 0, true, false},
  {"constexpr_lut_to_sparse", prep_lut_sparse, run_lut_sparse, 0, true, false},
  {"constexpr_sparse_blockwise_shift_scale", prep_sparse_shift, run_sparse_shift, 0, true, false},
  {"dequantize", prep_dequantize, cpu_run_range, 0, false, false},
  {"quantize", prep_quantize, cpu_run_range, 0, false, false},
  {NULL, NULL, NULL, 0, false, false},
};
