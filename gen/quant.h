/* quant.h - weight quantisation: fp32 weights to the stored parts of the
 * iOS18 constexpr ops (constexpr_blockwise_shift_scale, constexpr_lut_to_dense,
 * constexpr_sparse_to_dense and their sparse forms), and the error they cost.
 *
 * A weight is seen as [cout, cin, k] (k = kh * kw, row-major as MIL stores
 * conv weights). Every result is a pure function of the input bits: plain
 * IEEE double arithmetic, fixed orders, no randomness (docs/language.md,
 * "Weight formats", states the rules). */
#ifndef ANET_QUANT_H
#define ANET_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mil.h"

typedef enum QuantKind {
  QK_FP16,     /* values kept as fp16 (only meaningful with sparse) */
  QK_AFFINE,   /* q with a scale (and a zero point for unsigned types) */
  QK_LUT,      /* indices into a palette found by k-means */
} QuantKind;

enum { QUANT_PER_TENSOR = -1, QUANT_PER_CHANNEL = 0 };

typedef struct QuantFmt {
  QuantKind kind;
  MilDtype dtype;      /* AFFINE: int8, uint8, int4, uint4; LUT: uint1..uint8 */
  int64_t block;       /* AFFINE: input channels per scale, or QUANT_PER_* */
  int64_t group;       /* LUT: output channels per palette; 0: one palette */
  int64_t vec;         /* LUT: entries are vectors of vec output channels
                          (vector_axis 0); 0 or 1: scalars */
  bool affine_op;      /* AFFINE, 8-bit, per channel: lowered to iOS16's
                          constexpr_affine_dequantize instead */
  bool sparse;         /* a uint1 mask; the kept values stored as kind says */
  double sparsity;     /* the fraction of elements made zero, in [0, 1) */
} QuantFmt;

/* The stored parts. A sparse format stores only the kept elements in
 * QP_DATA / QP_INDICES / QP_VALUES, in row-major order. */
typedef enum QuantPart {
  QP_DATA,      /* AFFINE: q, fmt.dtype */
  QP_SCALE,     /* AFFINE: fp16 scales */
  QP_OFFSET,    /* AFFINE, unsigned dtype: zero points, fmt.dtype */
  QP_INDICES,   /* LUT: indices, fmt.dtype */
  QP_LUT,       /* LUT: fp16 palettes, one after the other */
  QP_MASK,      /* sparse: uint1, 1 = kept */
  QP_VALUES,    /* sparse FP16: the kept values, fp16 */
  QP_NPARTS
} QuantPart;

typedef struct QuantOut {
  QuantFmt fmt;
  int64_t cout, cin, k, n;   /* n = cout * cin * k */
  int64_t nnz;               /* stored elements (indices of a vector LUT): n unless
                                sparse or vectors */
  uint8_t *mask;             /* sparse: n flags */
  int16_t *q;                /* AFFINE: data; LUT: indices (nnz) */
  float *vals;               /* FP16 sparse: the kept values, fp16-rounded */
  float *scale;              /* AFFINE: nscale fp16 values */
  int32_t *offset;           /* AFFINE unsigned: nscale zero points */
  int64_t nscale;
  float *lut;                /* LUT: npal palettes of 2^bits fp16 entries (each of
                                vec values, [p][entry][v]) */
  int64_t npal;
} QuantOut;

/* Checks f against the weight's shape; NULL, or a message (static storage
 * or msg) saying what is wrong: "block size 32 does not divide ...". */
const char *quant_check(const QuantFmt *f, int64_t cout, int64_t cin, int64_t k, char *msg,
                        size_t msgn);

/* Quantises w[cout * cin * k] (finite values; quant_check passed). 0, or
 * -1 with o freed: out of memory, or a value that is not finite. */
int quant_run(const QuantFmt *f, const float *w, int64_t cout, int64_t cin, int64_t k,
              QuantOut *o);
void quant_free(QuantOut *o);

/* Elements a sparse format keeps of n: n - floor(sparsity * n). */
int64_t quant_kept(const QuantFmt *f, int64_t n);

/* Elements of a part and their stored dtype (0 elements: not stored). */
int64_t quant_part_numel(const QuantOut *o, QuantPart part, MilDtype *dt);
/* Elements first..first+n-1 of a part, as numbers. */
void quant_part_values(const QuantOut *o, QuantPart part, int64_t first, int64_t n, double *v);

/* The weights the constexpr ops rebuild, as fp32 (fp16 values). */
void quant_dequant(const QuantOut *o, float *out);

/* Error of the rebuilt weights y against w: the largest |y - w| and
 * 10 log10(sum w^2 / sum (y - w)^2) dB (INFINITY when exact). */
void quant_error(const float *w, const float *y, int64_t n, double *max_abs, double *snr_db);

/* Bits of the palette indices for a LUT dtype (uint1 -> 1 ... uint8 -> 8). */
int quant_bits(MilDtype dt);

#endif
