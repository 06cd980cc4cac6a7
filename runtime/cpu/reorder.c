/* reorder.c - the cpu backend's tensor movement ops whose shape comes from
 * other tensors or windows: reshape_like, sliding_windows, and
 * reverse_sequence (its lengths are a run-time value). */
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

/* Python's shape[begin:end] bounds for a dim list of length n. */
static void py_slice(int64_t n, int64_t *begin, int64_t *end) {
  int64_t *v[2] = {begin, end};
  for (int i = 0; i < 2; i++) {
    int64_t x = *v[i];
    x = x < 0 ? x + n : x;
    *v[i] = x < 0 ? 0 : x > n ? n : x;
  }
  if (*end < *begin)
    *end = *begin;
}

/* Value k of the const tuple operand `name` (slots sl[0..n)). */
static int tuple_int(CpuBuild *b, const int *sl, int k, const char *name, int64_t *out) {
  CpuSlot t = cpu_slot(b, sl[k]);
  if (!t.isconst || t.n != 1)
    return cpu_error(b, "%s[%d] must be a constant scalar", name, k);
  *out = (int64_t)cpu_get(&t, 0);
  return 0;
}

static int prep_reshape_like(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  int *refs = NULL, *beg = NULL, *end = NULL, *msk = NULL, rc = -1;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0)
    return -1;
  int n = cpu_input_list(b, "ref_tensors", &refs);
  int nb = n < 0 ? -1 : cpu_input_list(b, "begins", &beg);
  int ne = nb < 0 ? -1 : cpu_input_list(b, "ends", &end);
  int nm = ne < 0 ? -1 : cpu_input_list(b, "end_masks", &msk);
  int64_t odim[MIL_MAX_RANK];
  int r = 0;
  if (nm < 0)
    goto out;
  if (nb != n || ne != n || nm != n) {
    cpu_error(b, "ref_tensors, begins, ends and end_masks must have the same length "
                 "(%d, %d, %d, %d)", n, nb, ne, nm);
    goto out;
  }
  for (int i = 0; i < n; i++) {
    CpuSlot ref = cpu_slot(b, refs[i]);
    int64_t lo, hi, m;
    if (tuple_int(b, beg, i, "begins", &lo) < 0 || tuple_int(b, end, i, "ends", &hi) < 0 ||
        tuple_int(b, msk, i, "end_masks", &m) < 0)
      goto out;
    if (m)
      hi = ref.rank;
    py_slice(ref.rank, &lo, &hi);
    for (int64_t j = lo; j < hi; j++) {
      if (r == MIL_MAX_RANK) {
        cpu_error(b, "the result would have more than %d dims", MIL_MAX_RANK);
        goto out;
      }
      odim[r++] = ref.dim[j];
    }
  }
  if (cpu_prod(odim, 0, r) != x.n) {
    cpu_error(b, "the shape the references give has %lld elements; x has %lld",
              (long long)cpu_prod(odim, 0, r), (long long)x.n);
    goto out;
  }
  rc = cpu_one_out(b, x.dtype, r, odim);
out:
  free(refs), free(beg), free(end), free(msk);
  return rc;
}

/* A strided view: windows start every `stride` elements along axis, each
 * `size` consecutive elements (cpu_run_strided's k). */
static int prep_sliding_windows(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  int64_t axis, size, stride, one = 1, st[MIL_MAX_RANK], odim[MIL_MAX_RANK];
  int ax;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 || cpu_param_int(b, "axis", NULL, &axis) < 0 ||
      cpu_param_int(b, "size", NULL, &size) < 0 || cpu_param_int(b, "stride", &one, &stride) < 0 ||
      cpu_axis(b, "axis", axis, x.rank, &ax) < 0)
    return -1;
  if (x.rank + 1 > MIL_MAX_RANK)
    return cpu_error(b, "the result would have %d dims; at most %d", x.rank + 1, MIL_MAX_RANK);
  if (size < 1 || stride < 1)
    return cpu_error(b, "size and stride must be at least 1");
  if (size > x.dim[ax])
    return cpu_error(b, "size %lld is larger than dim %d (%lld)", (long long)size, ax,
                     (long long)x.dim[ax]);
  cpu_strides(x.rank, x.dim, st);
  int r = x.rank + 1;
  s->k[0] = r;
  for (int i = 0, j = 0; i < r; i++) {
    if (i == ax) {
      odim[i] = (x.dim[ax] - size) / stride + 1;
      s->k[9 + i] = st[ax] * stride;
    } else if (i == ax + 1) {
      odim[i] = size;
      s->k[9 + i] = st[ax];
      continue;
    } else {
      odim[i] = x.dim[j];
      s->k[9 + i] = st[j];
    }
    j++;
  }
  for (int i = 0; i < r; i++)
    s->k[1 + i] = odim[i];
  s->k[17] = 0;
  return cpu_one_out(b, x.dtype, r, odim);
}

/* k: 0 batch stride, 1 batch dim, 2 seq stride, 3 seq dim. */
static int prep_reverse_sequence(CpuBuild *b, CpuStep *s) {
  CpuSlot x, len;
  int64_t sa, ba, zero = 0, st[MIL_MAX_RANK];
  int sx, bx;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 || cpu_operand(b, s, 1, "lengths", true, &len) < 0 ||
      cpu_param_int(b, "seq_axis", &zero, &sa) < 0 ||
      cpu_param_int(b, "batch_axis", &zero, &ba) < 0 ||
      cpu_axis(b, "seq_axis", sa, x.rank, &sx) < 0 || cpu_axis(b, "batch_axis", ba, x.rank, &bx) < 0)
    return -1;
  if (len.dtype != MIL_INT32 || len.rank != 1 || len.dim[0] != x.dim[bx])
    return cpu_error(b, "lengths must be int32 [%lld] (x's batch_axis dim)", (long long)x.dim[bx]);
  cpu_strides(x.rank, x.dim, st);
  int64_t kv[4] = {st[bx], x.dim[bx], st[sx], x.dim[sx]};
  memcpy(s->k, kv, sizeof kv);
  return cpu_same_out(b, &x);
}

static void run_reverse_sequence(const CpuPlan *p, const CpuStep *s) {
  const uint32_t *x = (const uint32_t *)cpu_data(p, s->in[0]);
  const int32_t *len = cpu_idata(p, s->in[1]);
  uint32_t *y = (uint32_t *)cpu_data(p, s->out[0]);
  int64_t bst = s->k[0], bd = s->k[1], sst = s->k[2], sd = s->k[3];
  for (int64_t i = 0; i < cpu_out0(p, s)->n; i++) {
    int64_t bi = i / bst % bd, t = i / sst % sd;
    /* lengths outside [0, seq] (the definition's range) are clamped into it */
    int64_t l = len[bi] < 0 ? 0 : len[bi] > sd ? sd : len[bi];
    y[i] = t < l ? x[i + (l - 1 - 2 * t) * sst] : x[i];
  }
}

const CpuOpDef cpu_ops_reorder[] = {
  {"reshape_like", prep_reshape_like, cpu_run_copy, 0, false, true},
  {"reverse_sequence", prep_reverse_sequence, run_reverse_sequence, 0, false, true},
  {"sliding_windows", prep_sliding_windows, cpu_run_strided, 0, false, true},
  {NULL, NULL, NULL, 0, false, false},
};
