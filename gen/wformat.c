/* wformat.c - the quantised weight formats of the language (see wformat.h).
 *
 * Words: TYPE_tensor and TYPE_channel (TYPE int8, uint8, int4, uint4: one
 * scale per tensor or per output channel), int8_channel_affine and
 * uint8_channel_affine (the same numbers, in the op opsets before iOS18
 * know), TYPE_blockN (one scale per N
 * input channels at each kernel position), lutB (B = 1, 2, 3, 4, 6, 8: one
 * palette of 2^B fp16 values), lutB_groupG (one palette per G output
 * channels), lutB[_groupG]_vecV (entries are vectors of V output
 * channels), and sparse_V with V one of fp16, int8, uint8 (per channel),
 * lutB or lutB_groupG: a uint1 mask, with the kept values stored as V.
 *
 * Lowering (opset iOS18, every operand an input bound to a const, as
 * coremltools writes it):
 *   linear   constexpr_blockwise_shift_scale(data, scale[, offset]);
 *            scale [1,1,1,1], [cout,1,1,1] or [cout, cin/N, kh, kw]
 *   _affine  constexpr_affine_dequantize()[axis = 0, quantized_data, scale
 *            [cout], zero_point [cout]], every parameter an attribute
 *            (iOS16's form, FORMATS.md §2.4); signed data: zero points 0
 *   palette  constexpr_lut_to_dense(indices, lut); lut [P,1,1,1,2^B,1];
 *            vectors: indices [cout/V, cin, kh, kw], lut [P,1,1,1,2^B,V],
 *            vector_axis = 0
 *   sparse   constexpr_sparse_to_dense(mask, nonzero_data), the values from
 *            constexpr_sparse_blockwise_shift_scale(data_mask, nonzero_data,
 *            scale[, offset]) or constexpr_lut_to_sparse(indices_mask,
 *            indices_nonzero_data, lut), whose first output is the mask. */
#include "wformat.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"

#define BLOB_PATH "@model_path/weights/weight.bin"

const char wfmt_words[] =
    "TYPE_tensor, TYPE_channel, TYPE_blockN (TYPE int8, uint8, int4 or uint4), "
    "int8_channel_affine, uint8_channel_affine, lutB[_groupG][_vecV] (B 1, 2, 3, 4, 6 or 8), "
    "sparse_fp16, sparse_int8, sparse_uint8, "
    "sparse_lutB[_groupG]";

/* A positive decimal number spanning all of s; -1 otherwise. */
static int64_t number(const char *s) {
  if (*s < '1' || *s > '9' || strlen(s) > 9)
    return -1;
  for (const char *c = s; *c; c++)
    if (*c < '0' || *c > '9')
      return -1;
  return atol(s);
}

static bool prefix(const char *s, const char *pre, const char **rest) {
  size_t n = strlen(pre);
  if (strncmp(s, pre, n) != 0)
    return false;
  *rest = s + n;
  return true;
}

/* lutB, lutB_groupG, lutB_vecV or lutB_groupG_vecV */
static int parse_lut(const char *s, QuantFmt *f, char *msg, size_t msgn) {
  static const MilDtype idx[9] = {MIL_NDTYPES, MIL_UINT1, MIL_UINT2, MIL_UINT3, MIL_UINT4,
                                  MIL_NDTYPES, MIL_UINT6, MIL_NDTYPES, MIL_UINT8};
  char bits[16], grp[16];
  const char *g = strchr(s, '_');
  size_t n = g ? (size_t)(g - s) : strlen(s);
  if (n >= sizeof bits)
    return 1;
  memcpy(bits, s, n);
  bits[n] = '\0';
  int64_t b = number(bits);
  if (b < 0)
    return 1;
  if (b > 8 || idx[b] == MIL_NDTYPES) {
    snprintf(msg, msgn, "palettes have 1, 2, 3, 4, 6 or 8 bits, not %lld", (long long)b);
    return -1;
  }
  f->kind = QK_LUT;
  f->dtype = idx[b];
  f->group = 0;
  const char *rest, *vec = g ? strstr(g, "_vec") : NULL;
  if (vec && ((f->vec = number(vec + 4)) < 2)) {
    snprintf(msg, msgn, "expected lut%lld_vecV with V (at least 2) the output channels per "
             "palette entry", (long long)b);
    return -1;
  }
  if (!g || g == vec)
    return 0;
  n = vec ? (size_t)(vec - g) : strlen(g);
  if (n >= sizeof grp)
    n = sizeof grp - 1;
  memcpy(grp, g, n);
  grp[n] = '\0';
  if (!prefix(grp, "_group", &rest) || (f->group = number(rest)) < 0) {
    snprintf(msg, msgn, "expected lut%lld_groupG with G the output channels per palette",
             (long long)b);
    return -1;
  }
  return 0;
}

/* TYPE_tensor, TYPE_channel, TYPE_blockN */
static int parse_linear(const char *s, QuantFmt *f, char *msg, size_t msgn) {
  static const struct { const char *name; MilDtype dt; } types[] = {
    {"int8_", MIL_INT8}, {"uint8_", MIL_UINT8}, {"int4_", MIL_INT4}, {"uint4_", MIL_UINT4},
  };
  for (size_t i = 0; i < sizeof types / sizeof *types; i++) {
    const char *rest, *n;
    if (!prefix(s, types[i].name, &rest))
      continue;
    f->kind = QK_AFFINE;
    f->dtype = types[i].dt;
    if (strcmp(rest, "tensor") == 0)
      f->block = QUANT_PER_TENSOR;
    else if (strcmp(rest, "channel") == 0)
      f->block = QUANT_PER_CHANNEL;
    else if (strcmp(rest, "channel_affine") == 0) {
      f->block = QUANT_PER_CHANNEL;
      f->affine_op = true;
      if (f->dtype == MIL_INT4 || f->dtype == MIL_UINT4) {
        snprintf(msg, msgn, "constexpr_affine_dequantize stores int8 or uint8, not %s",
                 mil_dtype_name(f->dtype));
        return -1;
      }
    }
    else if (prefix(rest, "block", &n) && (f->block = number(n)) > 0)
      return 0;
    else {
      snprintf(msg, msgn, "expected %stensor, %schannel or %sblockN", types[i].name,
               types[i].name, types[i].name);
      return -1;
    }
    return 0;
  }
  return 1;
}

int wfmt_parse(const char *word, QuantFmt *f, char *msg, size_t msgn) {
  memset(f, 0, sizeof *f);
  const char *rest;
  if (prefix(word, "sparse_", &rest)) {
    f->sparse = true;
    f->sparsity = 0.5;
    f->block = QUANT_PER_CHANNEL;
    if (strcmp(rest, "fp16") == 0)
      return f->kind = QK_FP16, 0;
    if (strcmp(rest, "int8") == 0 || strcmp(rest, "uint8") == 0) {
      f->kind = QK_AFFINE;
      f->dtype = rest[0] == 'i' ? MIL_INT8 : MIL_UINT8;
      return 0;
    }
    const char *l;
    int rc = prefix(rest, "lut", &l) ? parse_lut(l, f, msg, msgn) : 1;
    if (rc == 1)
      snprintf(msg, msgn, "sparse weights store fp16, int8, uint8 or lutB values, not '%s'",
               rest);
    return rc ? -1 : 0;
  }
  if (prefix(word, "lut", &rest))
    return parse_lut(rest, f, msg, msgn);
  return parse_linear(word, f, msg, msgn);
}

/* ---- lowering ----------------------------------------------------------- */

typedef struct Emit {
  MilProg *p;
  MilFunc *fn;
  const char *name;        /* the weight's; parts are name_PART */
  QuantPlan *plan;
  int rank;                /* of the weight; dim is padded to 4 with 1s */
} Emit;

/* Part `part` of the plan as a blob value (QP_NPARTS: zeros). */
static MilValue *part_value(Emit *e, QuantPart part, MilDtype dt, int rank, const int64_t *dim) {
  const MilType *t = mil_tensor_type(e->p, dt, rank, dim);
  MilBlobSrc src = {.dtype = dt, .numel = mil_type_numel(t), .init = MIL_INIT_QUANT,
                    .quant = e->plan, .part = part};
  if (part == QP_NPARTS)
    src = (MilBlobSrc){.dtype = dt, .numel = mil_type_numel(t), .init = MIL_INIT_CONST};
  return mil_blob_value(e->p, t, BLOB_PATH, 0, mil_add_blob(e->p, src));
}

static MilOp *op(Emit *e, const char *type, const char *name) {
  MilOp *o = mil_add_op(e->p, e->fn, type);
  mil_op_attr(e->p, o, "name", mil_scalar_s(e->p, name));
  return o;
}

/* A const named NAME_suffix holding v; its name. */
static const char *const_of(Emit *e, const char *suffix, MilValue *v) {
  const char *n = mil_printf(e->p, "%s_%s", e->name, suffix);
  MilOp *o = op(e, "const", n);
  mil_op_out(e->p, o, v->type, n);
  mil_op_attr(e->p, o, "val", v);
  return n;
}

/* A const whose value is part `part` of the plan, as a blob. */
static const char *part(Emit *e, QuantPart part, const char *suffix, MilDtype dt, int rank,
                        const int64_t *dim) {
  return const_of(e, suffix, part_value(e, part, dt, rank, dim));
}

/* The scale's shape for the format (FORMATS.md §3.1). */
static void scale_dims(const QuantFmt *f, const int64_t dim[4], int64_t s[4]) {
  s[0] = s[1] = s[2] = s[3] = 1;
  if (f->block == QUANT_PER_TENSOR)
    return;
  s[0] = dim[0];
  if (f->block > 0) {
    s[1] = dim[1] / f->block;
    s[2] = dim[2];
    s[3] = dim[3];
  }
}

/* scale, and offset for unsigned data: bound to op o as inputs. The
 * consts are emitted before o is made (o would move). */
static void scale_names(Emit *e, const QuantFmt *f, const int64_t dim[4], const char **sc,
                        const char **off) {
  int64_t s[4];
  scale_dims(f, dim, s);
  *sc = part(e, QP_SCALE, "scale", MIL_FP16, e->rank, s);
  *off = mil_dtype_is_signed(f->dtype) ? NULL : part(e, QP_OFFSET, "offset", f->dtype, e->rank, s);
}

/* The LUT's shape, rank + 2: [groups, 1, ..., 2^bits, vector size]. */
static int lut_dims(const Emit *e, const QuantFmt *f, const int64_t dim[4], int64_t l[6]) {
  l[0] = f->group ? dim[0] / f->group : 1;
  for (int i = 1; i < e->rank; i++)
    l[i] = 1;
  l[e->rank] = (int64_t)1 << quant_bits(f->dtype);
  l[e->rank + 1] = f->vec > 1 ? f->vec : 1;
  return e->rank + 2;
}

/* iOS16's op: its parameters are attributes holding the blobs. */
static const char *affine_op(Emit *e, const QuantFmt *f, const int64_t dim[4]) {
  MilProg *p = e->p;
  MilValue *data = part_value(e, QP_DATA, f->dtype, e->rank, dim);
  MilValue *sc = part_value(e, QP_SCALE, MIL_FP16, 1, dim);
  bool sgn = mil_dtype_is_signed(f->dtype);
  MilValue *zp = part_value(e, sgn ? QP_NPARTS : QP_OFFSET, f->dtype, 1, dim);
  MilOp *o = op(e, "constexpr_affine_dequantize", e->name);
  mil_op_out(p, o, mil_tensor_type(p, MIL_FP16, e->rank, dim), e->name);
  mil_op_attr(p, o, "axis", mil_scalar_i(p, MIL_INT32, 0));
  mil_op_attr(p, o, "quantized_data", data);
  mil_op_attr(p, o, "scale", sc);
  mil_op_attr(p, o, "zero_point", zp);
  return e->name;
}

static const char *dense(Emit *e, const QuantFmt *f, const int64_t dim[4]) {
  const MilType *t = mil_tensor_type(e->p, MIL_FP16, e->rank, dim);
  if (f->affine_op)
    return affine_op(e, f, dim);
  if (f->kind == QK_AFFINE) {
    const char *data = part(e, QP_DATA, "data", f->dtype, e->rank, dim), *sc, *off;
    scale_names(e, f, dim, &sc, &off);
    MilOp *o = op(e, "constexpr_blockwise_shift_scale", e->name);
    mil_op_out(e->p, o, t, e->name);
    mil_op_ref(e->p, o, "data", data);
    if (off)
      mil_op_ref(e->p, o, "offset", off);
    mil_op_ref(e->p, o, "scale", sc);
    return e->name;
  }
  int64_t l[6], idim[4] = {dim[0], dim[1], dim[2], dim[3]};
  int lrank = lut_dims(e, f, dim, l);
  idim[0] /= l[lrank - 1];
  const char *ind = part(e, QP_INDICES, "indices", f->dtype, e->rank, idim);
  const char *lut = part(e, QP_LUT, "lut", MIL_FP16, lrank, l);
  const char *ax = l[lrank - 1] == 1
                       ? NULL
                       : const_of(e, "vector_axis", mil_scalar_i(e->p, MIL_INT32, 0));
  MilOp *o = op(e, "constexpr_lut_to_dense", e->name);
  mil_op_out(e->p, o, t, e->name);
  mil_op_ref(e->p, o, "indices", ind);
  mil_op_ref(e->p, o, "lut", lut);
  if (ax)
    mil_op_ref(e->p, o, "vector_axis", ax);
  return e->name;
}

/* mask and the kept values (fp16) as two names; the values of an int or
 * palette format go through the sparse form of its op. */
static void sparse_parts(Emit *e, const QuantFmt *f, const int64_t dim[4], int64_t nnz,
                         const char **mask, const char **vals) {
  MilProg *p = e->p;
  const MilType *mt = mil_tensor_type(p, MIL_UINT1, e->rank, dim);
  const MilType *vt = mil_tensor_type(p, MIL_FP16, 1, &nnz);
  const char *m = part(e, QP_MASK, "mask", MIL_UINT1, e->rank, dim);
  if (f->kind == QK_FP16) {
    *mask = m;
    *vals = part(e, QP_VALUES, "nonzero_data", MIL_FP16, 1, &nnz);
    return;
  }
  *mask = mil_printf(p, "%s_dense_mask", e->name);
  *vals = mil_printf(p, "%s_dense_values", e->name);
  const char *opname = mil_printf(p, "%s_sparse", e->name);
  if (f->kind == QK_AFFINE) {
    const char *data = part(e, QP_DATA, "nonzero_data", f->dtype, 1, &nnz), *sc, *off;
    scale_names(e, f, dim, &sc, &off);
    MilOp *o = op(e, "constexpr_sparse_blockwise_shift_scale", opname);
    mil_op_out(p, o, mt, *mask);
    mil_op_out(p, o, vt, *vals);
    mil_op_ref(p, o, "data_mask", m);
    mil_op_ref(p, o, "nonzero_data", data);
    if (off)
      mil_op_ref(p, o, "offset", off);
    mil_op_ref(p, o, "scale", sc);
    return;
  }
  int64_t l[6];
  int lrank = lut_dims(e, f, dim, l);
  const char *ind = part(e, QP_INDICES, "nonzero_indices", f->dtype, 1, &nnz);
  const char *lut = part(e, QP_LUT, "lut", MIL_FP16, lrank, l);
  MilOp *o = op(e, "constexpr_lut_to_sparse", opname);
  mil_op_out(p, o, mt, *mask);
  mil_op_out(p, o, vt, *vals);
  mil_op_ref(p, o, "indices_mask", m);
  mil_op_ref(p, o, "indices_nonzero_data", ind);
  mil_op_ref(p, o, "lut", lut);
}

const char *wfmt_lower(MilProg *p, MilFunc *fn, const char *name, const QuantFmt *f,
                       const MilBlobSrc *src, int rank, const int64_t dim[4]) {
  QuantPlan *plan = mil_alloc(p, sizeof *plan);
  plan->fmt = *f;
  plan->cout = dim[0];
  plan->cin = dim[1];
  plan->k = dim[2] * dim[3];
  plan->src = *src;
  plan->src.dtype = MIL_FP32;
  plan->src.numel = dim[0] * dim[1] * dim[2] * dim[3];
  plan->name = mil_strdup(p, name);
  Emit e = {p, fn, plan->name, plan, rank};
  if (!f->sparse)
    return dense(&e, f, dim);
  int64_t nnz = quant_kept(f, plan->src.numel);
  const char *mask, *vals;
  sparse_parts(&e, f, dim, nnz, &mask, &vals);
  MilOp *o = op(&e, "constexpr_sparse_to_dense", e.name);
  mil_op_out(p, o, mil_tensor_type(p, MIL_FP16, e.rank, dim), e.name);
  mil_op_ref(p, o, "mask", mask);
  mil_op_ref(p, o, "nonzero_data", vals);
  return e.name;
}

/* ---- names and reports -------------------------------------------------- */

const char *wfmt_name(const QuantFmt *f, char *buf, size_t n) {
  char v[48];
  if (f->kind == QK_FP16)
    snprintf(v, sizeof v, "fp16");
  else if (f->kind == QK_LUT) {
    size_t k = (size_t)snprintf(v, sizeof v, "lut%d", quant_bits(f->dtype));
    if (f->group)
      k += (size_t)snprintf(v + k, sizeof v - k, "_group%lld", (long long)f->group);
    if (f->vec > 1)
      snprintf(v + k, sizeof v - k, "_vec%lld", (long long)f->vec);
  }
  else if (f->sparse || f->block <= 0)
    snprintf(v, sizeof v, "%s%s%s", mil_dtype_name(f->dtype),
             f->sparse ? "" : f->block == QUANT_PER_TENSOR ? "_tensor" : "_channel",
             f->affine_op ? "_affine" : "");
  else
    snprintf(v, sizeof v, "%s_block%lld", mil_dtype_name(f->dtype), (long long)f->block);
  snprintf(buf, n, "%s%s", f->sparse ? "sparse_" : "", v);
  return buf;
}

void wfmt_report(const MilProg *p, const char *point, bool json, int *rows, FILE *out) {
  const QuantPlan *last = NULL;
  for (int i = 0; i < p->nblobs; i++) {
    const QuantPlan *q = p->blobs[i].quant;
    if (p->blobs[i].init != MIL_INIT_QUANT || q == last || !q->measured)
      continue;
    last = q;
    char fmt[64], snr[32];
    wfmt_name(&q->fmt, fmt, sizeof fmt);
    if (q->fmt.sparse)
      snprintf(fmt + strlen(fmt), sizeof fmt - strlen(fmt), "(%g)", q->fmt.sparsity);
    if (isinf(q->snr_db))
      snprintf(snr, sizeof snr, json ? "null" : "inf");
    else
      snprintf(snr, sizeof snr, "%.2f", q->snr_db);
    if (json)
      fprintf(out, "%s  {\"point\": \"%s\", \"weight\": \"%s\", \"format\": \"%s\", "
              "\"elements\": %lld, \"max_abs_err\": %.6g, \"snr_db\": %s}",
              *rows ? ",\n" : "", point, q->name, fmt, (long long)q->src.numel, q->max_abs, snr);
    else
      fprintf(out, "%-16s %-24s %-22s %12lld %12.6g %9s\n", point[0] ? point : "-", q->name, fmt,
              (long long)q->src.numel, q->max_abs, snr);
    ++*rows;
  }
}
