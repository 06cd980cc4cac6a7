/* gather.c - the cpu backend's data-dependent movement: select, the gather
 * and scatter family, one_hot, topk, argsort, cumsum, fill, shape,
 * range_1d.
 *
 * Index operands are int32 tensors read at eval(). Negative indices count
 * from the end (coremltools allows them); an index still out of range after
 * that is clamped to the nearest valid one, since a kernel cannot fail at
 * eval() (documented in docs/ops.md). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

static int64_t fix_index(int64_t i, int64_t d) {
  if (i < 0)
    i += d;
  return i < 0 ? 0 : i >= d ? d - 1 : i;
}

static int need_int32(CpuBuild *b, const CpuSlot *s, const char *what) {
  if (s->dtype != MIL_INT32)
    return cpu_error(b, "'%s' is %s; int32 expected", what, mil_dtype_name(s->dtype));
  return 0;
}

/* ---- select ----------------------------------------------------------------------
 * k: 0 rank, 1..8 dims, 9..16 cond strides, 17..24 a strides, 25..32 b
 * strides (0 along broadcast dims). */

static int prep_select(CpuBuild *b, CpuStep *s) {
  CpuSlot c, x, y;
  if (cpu_operand(b, s, 0, "cond", true, &c) < 0 || cpu_operand(b, s, 1, "a", true, &x) < 0 ||
      cpu_operand(b, s, 2, "b", true, &y) < 0)
    return -1;
  /* cond's dtype (bool) and a's and b's (one) are the op definition's to
   * check (gen/opdef.c), from the same declared types */
  const CpuSlot *ops[3] = {&c, &x, &y};
  int rank = 0;
  for (int i = 0; i < 3; i++)
    rank = ops[i]->rank > rank ? ops[i]->rank : rank;
  int64_t dim[MIL_MAX_RANK];
  for (int d = 0; d < rank; d++) {
    dim[d] = 1;
    for (int i = 0; i < 3; i++) {
      int j = d - (rank - ops[i]->rank);
      int64_t v = j >= 0 ? ops[i]->dim[j] : 1;
      if (v != 1 && dim[d] != 1 && v != dim[d])
        return cpu_error(b, "cond, a and b do not broadcast together (dim %d: %lld and %lld)", d,
                         (long long)dim[d], (long long)v);
      if (v != 1)
        dim[d] = v;
    }
  }
  s->k[0] = rank;
  for (int i = 0; i < 3; i++) {
    int64_t st[MIL_MAX_RANK];
    cpu_strides(ops[i]->rank, ops[i]->dim, st);
    for (int d = 0; d < rank; d++) {
      int j = d - (rank - ops[i]->rank);
      s->k[9 + 8 * i + d] = j >= 0 && ops[i]->dim[j] != 1 ? st[j] : 0;
    }
  }
  for (int d = 0; d < rank; d++)
    s->k[1 + d] = dim[d];
  return cpu_one_out(b, x.dtype, rank, dim);
}

static void run_select(const CpuPlan *p, const CpuStep *s) {
  const int32_t *c = cpu_idata(p, s->in[0]);
  const uint32_t *x = (const uint32_t *)cpu_data(p, s->in[1]),
                 *y = (const uint32_t *)cpu_data(p, s->in[2]);
  uint32_t *o = (uint32_t *)cpu_data(p, s->out[0]);
  int r = (int)s->k[0];
  int64_t n = cpu_out0(p, s)->n, idx[MIL_MAX_RANK] = {0}, oc = 0, ox = 0, oy = 0;
  const int64_t *d = &s->k[1], *sc = &s->k[9], *sx = &s->k[17], *sy = &s->k[25];
  for (int64_t i = 0; i < n; i++) {
    o[i] = c[oc] ? x[ox] : y[oy];
    for (int k = r - 1; k >= 0; k--) {
      oc += sc[k];
      ox += sx[k];
      oy += sy[k];
      if (++idx[k] < d[k])
        break;
      oc -= idx[k] * sc[k];
      ox -= idx[k] * sx[k];
      oy -= idx[k] * sy[k];
      idx[k] = 0;
    }
  }
}

/* ---- gather ----------------------------------------------------------------------
 * x viewed as [B, outer, D, inner], indices as [B, N]: out[B, outer, N, inner]
 * = x[B, outer, idx[B, N], inner]. k: 0 B, 1 outer, 2 D, 3 inner, 4 N. */

static int prep_gather(CpuBuild *b, CpuStep *s) {
  CpuSlot x, ix;
  int64_t axis, bd, zero = 0;
  int ax;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 || cpu_operand(b, s, 1, "indices", true, &ix) < 0 ||
      need_int32(b, &ix, "indices") < 0 || cpu_param_int(b, "axis", &zero, &axis) < 0 ||
      cpu_param_int(b, "batch_dims", &zero, &bd) < 0 || cpu_axis(b, "axis", axis, x.rank, &ax) < 0)
    return -1;
  if (bd < 0)
    bd += ix.rank;
  if (bd < 0 || bd > ax || bd > ix.rank)
    return cpu_error(b, "batch_dims %lld must be in [0, min(axis, rank(indices))]", (long long)bd);
  for (int i = 0; i < bd; i++)
    if (x.dim[i] != ix.dim[i])
      return cpu_error(b, "batch dim %d: x has %lld, indices %lld", i, (long long)x.dim[i],
                       (long long)ix.dim[i]);
  int64_t dim[MIL_MAX_RANK];
  int r = 0;
  for (int i = 0; i < ax; i++)
    dim[r++] = x.dim[i];
  for (int i = (int)bd; i < ix.rank; i++)
    dim[r < MIL_MAX_RANK ? r++ : r] = ix.dim[i];
  if (r + x.rank - ax - 1 > MIL_MAX_RANK)
    return cpu_error(b, "the result would have rank %d", r + x.rank - ax - 1);
  for (int i = ax + 1; i < x.rank; i++)
    dim[r++] = x.dim[i];
  s->k[0] = cpu_prod(x.dim, 0, (int)bd);
  s->k[1] = cpu_prod(x.dim, (int)bd, ax);
  s->k[2] = x.dim[ax];
  s->k[3] = cpu_prod(x.dim, ax + 1, x.rank);
  s->k[4] = cpu_prod(ix.dim, (int)bd, ix.rank);
  return cpu_one_out(b, x.dtype, r, dim);
}

static void run_gather(const CpuPlan *p, const CpuStep *s) {
  const uint32_t *x = (const uint32_t *)cpu_data(p, s->in[0]);
  const int32_t *ix = cpu_idata(p, s->in[1]);
  uint32_t *y = (uint32_t *)cpu_data(p, s->out[0]);
  int64_t B = s->k[0], outer = s->k[1], D = s->k[2], inner = s->k[3], N = s->k[4];
  for (int64_t bb = 0; bb < B; bb++)
    for (int64_t o = 0; o < outer; o++)
      for (int64_t n = 0; n < N; n++) {
        int64_t i = fix_index(ix[bb * N + n], D);
        memcpy(y + ((bb * outer + o) * N + n) * inner, x + ((bb * outer + o) * D + i) * inner,
               (size_t)inner * sizeof *y);
      }
}

/* gather_along_axis / scatter_along_axis: indices of x's rank, equal to x
 * but along axis. k: 0 outer, 1 D (x's axis), 2 N (indices' axis), 3 inner. */
static int along_axis(CpuBuild *b, int64_t *k, const CpuSlot *x, const CpuSlot *ix) {
  int64_t axis, zero = 0;
  int ax;
  if (need_int32(b, ix, "indices") < 0 || cpu_param_int(b, "axis", &zero, &axis) < 0 ||
      cpu_axis(b, "axis", axis, x->rank, &ax) < 0)
    return -1;
  bool ok = ix->rank == x->rank;
  for (int i = 0; ok && i < x->rank; i++)
    ok = i == ax || ix->dim[i] == x->dim[i];
  if (!ok) {
    char a[128], c[128];
    return cpu_error(b, "indices is %s; x is %s: they may differ only along axis %d",
                     cpu_shape_str(a, sizeof a, ix), cpu_shape_str(c, sizeof c, x), ax);
  }
  k[0] = cpu_prod(x->dim, 0, ax);
  k[1] = x->dim[ax];
  k[2] = ix->dim[ax];
  k[3] = cpu_prod(x->dim, ax + 1, x->rank);
  return 0;
}

static int prep_gather_along(CpuBuild *b, CpuStep *s) {
  CpuSlot x, ix;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 || cpu_operand(b, s, 1, "indices", true, &ix) < 0 ||
      along_axis(b, s->k, &x, &ix) < 0)
    return -1;
  return cpu_one_out(b, x.dtype, ix.rank, ix.dim);
}

static void run_gather_along(const CpuPlan *p, const CpuStep *s) {
  const uint32_t *x = (const uint32_t *)cpu_data(p, s->in[0]);
  const int32_t *ix = cpu_idata(p, s->in[1]);
  uint32_t *y = (uint32_t *)cpu_data(p, s->out[0]);
  int64_t outer = s->k[0], D = s->k[1], N = s->k[2], inner = s->k[3];
  for (int64_t o = 0; o < outer; o++)
    for (int64_t n = 0; n < N; n++)
      for (int64_t i = 0; i < inner; i++) {
        int64_t at = (o * N + n) * inner + i;
        y[at] = x[(o * D + fix_index(ix[at], D)) * inner + i];
      }
}

/* gather_nd: indices [..., K] pick slices x[i0, ..., iK-1, :] (batch_dims
 * leading dims shared). k: 0 B, 1 N (index tuples per batch), 2 K, 3 slice
 * size, 4 x elements per batch; k[8..15] the indexed dims, k[16..23] their
 * strides within a batch. */
static int prep_gather_nd(CpuBuild *b, CpuStep *s) {
  CpuSlot x, ix;
  int64_t bd, zero = 0;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 || cpu_operand(b, s, 1, "indices", true, &ix) < 0 ||
      need_int32(b, &ix, "indices") < 0 || cpu_param_int(b, "batch_dims", &zero, &bd) < 0)
    return -1;
  int64_t K = ix.rank ? ix.dim[ix.rank - 1] : 0;
  if (ix.rank < 1 || bd < 0 || bd >= ix.rank || K < 1 || bd + K > x.rank)
    return cpu_error(b, "indices [..., K] with K = %lld and batch_dims %lld do not fit x of "
                     "rank %d", (long long)K, (long long)bd, x.rank);
  int64_t dim[MIL_MAX_RANK], st[MIL_MAX_RANK];
  int r = 0;
  for (int i = 0; i < ix.rank - 1; i++)
    dim[r++] = ix.dim[i];
  if (r + x.rank - bd - K > MIL_MAX_RANK)
    return cpu_error(b, "the result would be too deep");
  for (int i = (int)(bd + K); i < x.rank; i++)
    dim[r++] = x.dim[i];
  cpu_strides(x.rank, x.dim, st);
  s->k[0] = cpu_prod(x.dim, 0, (int)bd);
  s->k[1] = cpu_prod(ix.dim, (int)bd, ix.rank - 1);
  s->k[2] = K;
  s->k[3] = cpu_prod(x.dim, (int)(bd + K), x.rank);
  s->k[4] = cpu_prod(x.dim, (int)bd, x.rank);
  for (int i = 0; i < K; i++) {
    s->k[8 + i] = x.dim[bd + i];
    s->k[16 + i] = st[bd + i];
  }
  return cpu_one_out(b, x.dtype, r, dim);
}

static void run_gather_nd(const CpuPlan *p, const CpuStep *s) {
  const uint32_t *x = (const uint32_t *)cpu_data(p, s->in[0]);
  const int32_t *ix = cpu_idata(p, s->in[1]);
  uint32_t *y = (uint32_t *)cpu_data(p, s->out[0]);
  int64_t B = s->k[0], N = s->k[1], K = s->k[2], sl = s->k[3], per = s->k[4];
  for (int64_t bb = 0; bb < B; bb++)
    for (int64_t n = 0; n < N; n++) {
      const int32_t *t = ix + (bb * N + n) * K;
      int64_t off = bb * per;
      for (int64_t k = 0; k < K; k++)
        off += fix_index(t[k], s->k[8 + k]) * s->k[16 + k];
      memcpy(y + (bb * N + n) * sl, x + off, (size_t)sl * sizeof *y);
    }
}

/* ---- scatter -------------------------------------------------------------------------
 * The result starts as data; each update is combined into its place with
 * the mode, in index order. in: 0 data, 1 indices, 2 updates. */

enum { SC_UPDATE, SC_ADD, SC_SUB, SC_MUL, SC_DIV, SC_MAX, SC_MIN };
enum { SCATTER, SCATTER_ALONG, SCATTER_ND };

static int scatter_mode(CpuBuild *b, const CpuSlot *data, int64_t *mode) {
  static const char *const names[] = {"update", "add", "sub", "mul", "div", "max", "min"};
  const char *m;
  if (cpu_param_str(b, "mode", "add", &m) < 0)
    return -1;
  for (int i = 0; i < 7; i++)
    if (strcmp(m, names[i]) == 0) {
      if (i == SC_DIV && !cpu_is_float(data->dtype))
        return cpu_error(b, "mode \"div\" needs fp16 or fp32 data");
      *mode = i;
      return 0;
    }
  /* the op definition refused any other constant mode, in these words */
  return cpu_error(b, "unknown scatter mode \"%s\" (update, add, sub, mul, div, max, min)", m);
}

static int same_shape(CpuBuild *b, const CpuSlot *u, int rank, const int64_t *dim) {
  bool ok = u->rank == rank;
  for (int i = 0; ok && i < rank; i++)
    ok = u->dim[i] == dim[i];
  if (!ok) {
    char a[128], c[128];
    return cpu_error(b, "updates is %s; %s expected", cpu_shape_str(a, sizeof a, u),
                     cpu_type_str(c, sizeof c, u->dtype, rank, dim));
  }
  return 0;
}

/* k: 0 mode, 1 which op, then as gather (2 outer, 3 D, 4 N, 5 inner) or
 * gather_nd (k[8..] dims, k[16..] strides, 6 N, 7 K, 24 slice). */
static int prep_scatter(CpuBuild *b, CpuStep *s) {
  CpuSlot d, ix, u;
  if (cpu_operand(b, s, 0, "data", true, &d) < 0 || cpu_operand(b, s, 1, "indices", true, &ix) < 0 ||
      cpu_operand(b, s, 2, "updates", true, &u) < 0 || need_int32(b, &ix, "indices") < 0 ||
      scatter_mode(b, &d, &s->k[0]) < 0)
    return -1;
  if (u.dtype != d.dtype)
    return cpu_error(b, "updates is %s; data is %s", mil_dtype_name(u.dtype),
                     mil_dtype_name(d.dtype));
  s->k[1] = s->mode;
  int64_t dim[MIL_MAX_RANK];
  if (s->mode == SCATTER_ALONG) {
    if (along_axis(b, &s->k[2], &d, &ix) < 0 || same_shape(b, &u, ix.rank, ix.dim) < 0)
      return -1;
  } else if (s->mode == SCATTER) {
    int64_t axis, zero = 0;
    int ax;
    if (cpu_param_int(b, "axis", &zero, &axis) < 0 || cpu_axis(b, "axis", axis, d.rank, &ax) < 0)
      return -1;
    if (ix.rank != 1)
      return cpu_error(b, "indices has rank %d; 1 expected", ix.rank);
    memcpy(dim, d.dim, sizeof dim);
    dim[ax] = ix.dim[0];
    if (same_shape(b, &u, d.rank, dim) < 0)
      return -1;
    s->k[2] = cpu_prod(d.dim, 0, ax);
    s->k[3] = d.dim[ax];
    s->k[4] = ix.dim[0];
    s->k[5] = cpu_prod(d.dim, ax + 1, d.rank);
  } else {
    int64_t K = ix.rank ? ix.dim[ix.rank - 1] : 0, st[MIL_MAX_RANK];
    if (ix.rank < 1 || K < 1 || K > d.rank)
      return cpu_error(b, "indices [..., K] with K = %lld do not fit data of rank %d",
                       (long long)K, d.rank);
    int r = 0;
    for (int i = 0; i < ix.rank - 1; i++)
      dim[r++] = ix.dim[i];
    for (int i = (int)K; i < d.rank && r < MIL_MAX_RANK; i++)
      dim[r++] = d.dim[i];
    if (same_shape(b, &u, r, dim) < 0)
      return -1;
    cpu_strides(d.rank, d.dim, st);
    s->k[6] = cpu_prod(ix.dim, 0, ix.rank - 1);
    s->k[7] = K;
    s->k[24] = cpu_prod(d.dim, (int)K, d.rank);
    for (int i = 0; i < K; i++) {
      s->k[8 + i] = d.dim[i];
      s->k[16 + i] = st[i];
    }
  }
  return cpu_one_out(b, d.dtype, d.rank, d.dim);
}

static void combine(const CpuStep *s, bool fl, uint32_t *y, uint32_t u) {
  int mode = (int)s->k[0];
  if (mode == SC_UPDATE) {
    *y = u;
  } else if (fl) {
    float a, c;
    memcpy(&a, y, 4);
    memcpy(&c, &u, 4);
    a = mode == SC_ADD ? a + c : mode == SC_SUB ? a - c : mode == SC_MUL ? a * c
        : mode == SC_DIV ? a / c : mode == SC_MAX ? fmaxf(a, c) : fminf(a, c);
    memcpy(y, &a, 4);
  } else {
    int32_t a = (int32_t)*y, c = (int32_t)u;
    uint32_t r = mode == SC_ADD   ? (uint32_t)a + (uint32_t)c
                 : mode == SC_SUB ? (uint32_t)a - (uint32_t)c
                 : mode == SC_MUL ? (uint32_t)a * (uint32_t)c
                 : mode == SC_MAX ? (uint32_t)(a > c ? a : c)
                                  : (uint32_t)(a < c ? a : c);
    *y = r;
  }
}

static void run_scatter(const CpuPlan *p, const CpuStep *s) {
  const CpuSlot *d = &p->slots[s->in[0]];
  const int32_t *ix = cpu_idata(p, s->in[1]);
  const uint32_t *u = (const uint32_t *)cpu_data(p, s->in[2]);
  uint32_t *y = (uint32_t *)cpu_data(p, s->out[0]);
  bool fl = cpu_is_float(d->dtype);
  memcpy(y, d->data, (size_t)d->n * sizeof *y);
  if (s->k[1] == SCATTER_ND) {
    int64_t N = s->k[6], K = s->k[7], sl = s->k[24];
    for (int64_t n = 0; n < N; n++) {
      int64_t off = 0;
      for (int64_t k = 0; k < K; k++)
        off += fix_index(ix[n * K + k], s->k[8 + k]) * s->k[16 + k];
      for (int64_t i = 0; i < sl; i++)
        combine(s, fl, y + off + i, u[n * sl + i]);
    }
    return;
  }
  int64_t outer = s->k[2], D = s->k[3], N = s->k[4], inner = s->k[5];
  bool along = s->k[1] == SCATTER_ALONG;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t n = 0; n < N; n++)
      for (int64_t i = 0; i < inner; i++) {
        int64_t at = (o * N + n) * inner + i;
        int64_t j = fix_index(along ? ix[at] : ix[n], D);
        combine(s, fl, y + (o * D + j) * inner + i, u[at]);
      }
}

/* ---- one_hot, topk, argsort, cumsum ---------------------------------------------------- */

/* one_hot(indices, one_hot_vector_size, axis = -1, on_value = 1, off_value = 0):
 * a new axis of the given size; the output dtype is on_value's.
 * k: 0 outer, 1 size, 2 inner; f: on, off. */
static int prep_one_hot(CpuBuild *b, CpuStep *s) {
  CpuSlot ix;
  int64_t size, axis, m1 = -1;
  double on, off, one = 1, zero = 0;
  if (cpu_operand(b, s, 0, "indices", true, &ix) < 0 || need_int32(b, &ix, "indices") < 0 ||
      cpu_param_int(b, "one_hot_vector_size", NULL, &size) < 0 ||
      cpu_param_int(b, "axis", &m1, &axis) < 0 || cpu_param_float(b, "on_value", &one, &on) < 0 ||
      cpu_param_float(b, "off_value", &zero, &off) < 0)
    return -1;
  int ax;
  if (size < 0 || ix.rank + 1 > MIL_MAX_RANK || cpu_axis(b, "axis", axis, ix.rank + 1, &ax) < 0)
    return size < 0 ? cpu_error(b, "one_hot_vector_size is negative") : -1;
  int vi = cpu_input(b, "on_value", false);
  MilDtype dt = vi >= 0 ? b->plan->slots[vi].dtype : MIL_FP32;
  int64_t dim[MIL_MAX_RANK];
  for (int d = 0, j = 0; d <= ix.rank; d++)
    dim[d] = d == ax ? size : ix.dim[j++];
  s->k[0] = cpu_prod(ix.dim, 0, ax);
  s->k[1] = size;
  s->k[2] = cpu_prod(ix.dim, ax, ix.rank);
  s->k[3] = cpu_is_float(dt);
  s->f[0] = (float)on;
  s->f[1] = (float)off;
  return cpu_one_out(b, dt, ix.rank + 1, dim);
}

static void run_one_hot(const CpuPlan *p, const CpuStep *s) {
  const int32_t *ix = cpu_idata(p, s->in[0]);
  float *yf = cpu_data(p, s->out[0]);
  int32_t *yi = cpu_idata(p, s->out[0]);
  int64_t outer = s->k[0], size = s->k[1], inner = s->k[2];
  for (int64_t o = 0; o < outer; o++)
    for (int64_t c = 0; c < size; c++)
      for (int64_t i = 0; i < inner; i++) {
        int64_t v = ix[o * inner + i];
        bool hit = v == c || (v < 0 && v + size == c);
        float r = hit ? s->f[0] : s->f[1];
        int64_t at = (o * size + c) * inner + i;
        if (s->k[3])
          yf[at] = r;
        else
          yi[at] = (int32_t)r;
      }
}

/* Sorting along an axis: x viewed as [outer, D, inner]. k: 0 outer, 1 D,
 * 2 inner, 3 ascending, 4 k (topk), 5 float x. */
static int along(CpuBuild *b, CpuStep *s, CpuSlot *x, int64_t def_axis) {
  int64_t axis;
  int ax;
  bool asc;
  if (cpu_operand(b, s, 0, "x", true, x) < 0 || cpu_param_int(b, "axis", &def_axis, &axis) < 0 ||
      cpu_axis(b, "axis", axis, x->rank, &ax) < 0 || cpu_param_bools(b, "ascending", &asc, 1) < 0)
    return -1;
  if (!cpu_is_float(x->dtype) && x->dtype != MIL_INT32)
    return cpu_error(b, "x is %s; fp16, fp32 or int32 expected", mil_dtype_name(x->dtype));
  s->k[0] = cpu_prod(x->dim, 0, ax);
  s->k[1] = x->dim[ax];
  s->k[2] = cpu_prod(x->dim, ax + 1, x->rank);
  s->k[3] = asc;
  s->k[5] = cpu_is_float(x->dtype);
  return ax;
}

static int prep_topk(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  int64_t k, one = 1;
  int ax = along(b, s, &x, -1);
  if (ax < 0 || cpu_param_int(b, "k", &one, &k) < 0)
    return -1;
  if (k < 1 || k > x.dim[ax])
    return cpu_error(b, "k = %lld; 1 to %lld (x's dim %d) expected", (long long)k,
                     (long long)x.dim[ax], ax);
  int64_t dim[MIL_MAX_RANK];
  memcpy(dim, x.dim, sizeof dim);
  dim[ax] = k;
  s->k[4] = k;
  if (cpu_output(b, 0, 2, x.dtype, x.rank, dim) < 0 ||
      cpu_output(b, 1, 2, MIL_INT32, x.rank, dim) < 0)
    return -1;
  return 0;
}

static int prep_argsort(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  int ax = along(b, s, &x, -1);
  if (ax < 0)
    return -1;
  s->k[4] = x.dim[ax];
  return cpu_one_out(b, MIL_INT32, x.rank, x.dim);
}

typedef struct SortKey {
  double v;
  int64_t i;
} SortKey;

/* Descending by value, ties by index: a stable order as numpy's argsort
 * of -x would give. NaN sorts as the largest. */
static int cmp_desc(const void *a, const void *b) {
  const SortKey *x = a, *y = b;
  bool xn = x->v != x->v, yn = y->v != y->v;
  if (xn != yn)
    return xn ? -1 : 1;
  if (!xn && x->v != y->v)
    return x->v > y->v ? -1 : 1;
  return x->i < y->i ? -1 : x->i > y->i;
}

static int cmp_asc(const void *a, const void *b) {
  const SortKey *x = a, *y = b;
  bool xn = x->v != x->v, yn = y->v != y->v;
  if (xn != yn)
    return xn ? 1 : -1;
  if (!xn && x->v != y->v)
    return x->v < y->v ? -1 : 1;
  return x->i < y->i ? -1 : x->i > y->i;
}

/* Sorts each row; writes the first k values (when vals) and indices. */
static void sort_rows(const CpuPlan *p, const CpuStep *s, int vout, int iout) {
  const CpuSlot *x = &p->slots[s->in[0]];
  int64_t outer = s->k[0], D = s->k[1], inner = s->k[2], k = s->k[4];
  SortKey *key = malloc((size_t)D * sizeof *key);
  if (!key)
    abort();   /* a few bytes per element of one row; plans are sized at open() */
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      for (int64_t d = 0; d < D; d++)
        key[d] = (SortKey){cpu_get(x, (o * D + d) * inner + i), d};
      qsort(key, (size_t)D, sizeof *key, s->k[3] ? cmp_asc : cmp_desc);
      for (int64_t j = 0; j < k; j++) {
        int64_t at = (o * k + j) * inner + i;
        if (vout >= 0) {
          if (s->k[5])
            cpu_data(p, vout)[at] = (float)key[j].v;
          else
            cpu_idata(p, vout)[at] = (int32_t)key[j].v;
        }
        cpu_idata(p, iout)[at] = (int32_t)key[j].i;
      }
    }
  free(key);
}

static void run_topk(const CpuPlan *p, const CpuStep *s) { sort_rows(p, s, s->out[0], s->out[1]); }
static void run_argsort(const CpuPlan *p, const CpuStep *s) { sort_rows(p, s, -1, s->out[0]); }

/* cumsum(x, axis = 0, exclusive = false, reverse = false). */
static int prep_cumsum(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  int64_t axis, zero = 0;
  int ax;
  bool ex, rev;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 || cpu_param_int(b, "axis", &zero, &axis) < 0 ||
      cpu_axis(b, "axis", axis, x.rank, &ax) < 0 || cpu_param_bools(b, "exclusive", &ex, 1) < 0 ||
      cpu_param_bools(b, "reverse", &rev, 1) < 0)
    return -1;
  if (!cpu_is_float(x.dtype) && x.dtype != MIL_INT32)
    return cpu_error(b, "x is %s; fp16, fp32 or int32 expected", mil_dtype_name(x.dtype));
  s->k[0] = cpu_prod(x.dim, 0, ax);
  s->k[1] = x.dim[ax];
  s->k[2] = cpu_prod(x.dim, ax + 1, x.rank);
  s->k[3] = ex;
  s->k[4] = rev;
  s->k[5] = cpu_is_float(x.dtype);
  return cpu_same_out(b, &x);
}

static void run_cumsum(const CpuPlan *p, const CpuStep *s) {
  const CpuSlot *x = &p->slots[s->in[0]];
  int64_t outer = s->k[0], D = s->k[1], inner = s->k[2];
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      double acc = 0;
      uint32_t iacc = 0;
      for (int64_t t = 0; t < D; t++) {
        int64_t d = s->k[4] ? D - 1 - t : t, at = (o * D + d) * inner + i;
        double v = cpu_get(x, at);
        if (!s->k[3]) {
          acc += v;
          iacc += (uint32_t)(int32_t)v;
        }
        if (s->k[5])
          cpu_data(p, s->out[0])[at] = (float)acc;
        else
          cpu_idata(p, s->out[0])[at] = (int32_t)iacc;
        if (s->k[3]) {
          acc += v;
          iacc += (uint32_t)(int32_t)v;
        }
      }
    }
}

/* ---- fill, shape, range_1d ----------------------------------------------------------- */

static int prep_fill(CpuBuild *b, CpuStep *s) {
  int64_t sh[MIL_MAX_RANK];
  CpuSlot v;
  int r = cpu_param_ints(b, "shape", sh, MIL_MAX_RANK, NULL, 0);
  if (r < 0 || cpu_operand(b, s, 0, "value", false, &v) < 0)
    return -1;
  if (s->in[0] >= 0 && v.n != 1)
    return cpu_error(b, "value must be a scalar");
  for (int i = 0; i < r; i++)
    if (sh[i] < 0)
      return cpu_error(b, "shape has a negative dim");
  MilDtype dt = s->in[0] >= 0 ? v.dtype : MIL_FP32;
  return cpu_one_out(b, dt, r, sh);
}

/* fill_like(ref_tensor, value): fill with ref_tensor's shape. */
static int prep_fill_like(CpuBuild *b, CpuStep *s) {
  CpuSlot ref, v;
  if (cpu_operand(b, s, 1, "ref_tensor", true, &ref) < 0 ||
      cpu_operand(b, s, 0, "value", false, &v) < 0)
    return -1;
  if (s->in[0] >= 0 && v.n != 1)
    return cpu_error(b, "value must be a scalar");
  return cpu_one_out(b, s->in[0] >= 0 ? v.dtype : MIL_FP32, ref.rank, ref.dim);
}

static void run_fill(const CpuPlan *p, const CpuStep *s) {
  uint32_t *y = (uint32_t *)cpu_data(p, s->out[0]), v = 0;
  if (s->in[0] >= 0)
    memcpy(&v, cpu_data(p, s->in[0]), sizeof v);
  int64_t n = cpu_out0(p, s)->n;
  CPU_EACH(n, y[i] = v);
}

static int prep_shape(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0)
    return -1;
  for (int i = 0; i < x.rank; i++)
    s->k[i] = x.dim[i];
  int64_t r = x.rank;
  return cpu_one_out(b, MIL_INT32, 1, &r);
}

static void run_shape(const CpuPlan *p, const CpuStep *s) {
  const CpuSlot *o = cpu_out0(p, s);
  for (int64_t i = 0; i < o->n; i++)
    cpu_idata(p, s->out[0])[i] = (int32_t)s->k[i];
}

/* range_1d(end, start, step): its length depends on the values, so they
 * must be constants (evaluated once at open()). */
static int prep_range(CpuBuild *b, CpuStep *s) {
  CpuSlot e, st, sp;
  if (cpu_operand(b, s, 0, "start", true, &st) < 0 || cpu_operand(b, s, 1, "end", true, &e) < 0 ||
      cpu_operand(b, s, 2, "step", true, &sp) < 0)
    return -1;
  for (int i = 0; i < 3; i++)
    if (cpu_need_const(b, s->in[i], i == 0 ? "start" : i == 1 ? "end" : "step") < 0)
      return -1;
  double a = cpu_get(&st, 0), z = cpu_get(&e, 0), d = cpu_get(&sp, 0);
  if (d == 0 || st.n != 1 || e.n != 1 || sp.n != 1)
    return cpu_error(b, "start, end and step must be scalars and step non-zero");
  int64_t n = (int64_t)ceil((z - a) / d);
  n = n < 0 ? 0 : n;
  s->f[0] = (float)a;
  s->f[1] = (float)d;
  return cpu_one_out(b, st.dtype, 1, &n);
}

static void run_range(const CpuPlan *p, const CpuStep *s) {
  const CpuSlot *o = cpu_out0(p, s), *st = &p->slots[s->in[0]], *sp = &p->slots[s->in[2]];
  for (int64_t i = 0; i < o->n; i++) {
    if (cpu_is_float(o->dtype))
      o->data[i] = (float)(cpu_get(st, 0) + (double)i * cpu_get(sp, 0));
    else
      ((int32_t *)o->data)[i] = (int32_t)(cpu_get(st, 0) + (double)i * cpu_get(sp, 0));
  }
}

const CpuOpDef cpu_ops_gather[] = {
  {"argsort", prep_argsort, run_argsort, 0, false, false},
  {"cumsum", prep_cumsum, run_cumsum, 0, false, false},
  {"fill", prep_fill, run_fill, 0, false, true},
  {"fill_like", prep_fill_like, run_fill, 0, false, true},
  {"gather", prep_gather, run_gather, 0, false, true},
  {"gather_along_axis", prep_gather_along, run_gather_along, 0, false, true},
  {"gather_nd", prep_gather_nd, run_gather_nd, 0, false, true},
  {"one_hot", prep_one_hot, run_one_hot, 0, false, false},
  {"range_1d", prep_range, run_range, 0, true, false},
  {"scatter", prep_scatter, run_scatter, SCATTER, false, false},
  {"scatter_along_axis", prep_scatter, run_scatter, SCATTER_ALONG, false, false},
  {"scatter_nd", prep_scatter, run_scatter, SCATTER_ND, false, false},
  {"select", prep_select, run_select, 0, false, true},
  {"shape", prep_shape, run_shape, 0, false, false},
  {"topk", prep_topk, run_topk, 0, false, true},
  {NULL, NULL, NULL, 0, false, false},
};
