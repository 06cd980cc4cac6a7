/* movement.c - the cpu backend's tensor movement ops: reshape, transpose,
 * slices, concat, split. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

/* ---- shape ops ------------------------------------------------------------------------ */

static int prep_reshape(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  int64_t sh[MIL_MAX_RANK];
  int k = cpu_x_and_ints(b, s, &x, "shape", sh);
  if (k < 0)
    return -1;
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < k; i++) {
    if (sh[i] == 0) {
      /* iOS 15/16: 0 copies x's dim at the same index and needs len(shape)
       * == rank(x); from iOS 17 the 0s match x's dims from the right, and
       * a 0 with no dim to match becomes 1. */
      if (b->opset < 17 && k != x.rank)
        return cpu_error(b, "shape has a 0 but %d entries for x of rank %d (before iOS 17, "
                         "0 needs the same rank)", k, x.rank);
      int j = b->opset < 17 ? i : x.rank - (k - i);
      sh[i] = j >= 0 ? x.dim[j] : 1;
    }
    if (sh[i] == -1) {
      if (infer >= 0)
        return cpu_error(b, "shape has more than one -1");
      infer = i;
    } else if (sh[i] < 0) {
      return cpu_error(b, "shape has a negative dim %lld", (long long)sh[i]);
    } else {
      known *= sh[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || x.n % known)
      return cpu_error(b, "cannot infer the -1 in shape: %lld elements do not divide by %lld",
                       (long long)x.n, (long long)known);
    sh[infer] = x.n / known;
    known *= sh[infer];
  }
  if (known != x.n)
    return cpu_error(b, "shape has %lld elements; x has %lld", (long long)known, (long long)x.n);
  return cpu_one_out(b, x.dtype, k, sh);
}

static int prep_transpose(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  int64_t perm[MIL_MAX_RANK], st[MIL_MAX_RANK], dim[MIL_MAX_RANK];
  int n = cpu_x_and_ints(b, s, &x, "perm", perm), ax[MIL_MAX_RANK];
  if (n < 0)
    return -1;
  if (n != x.rank)
    return cpu_error(b, "perm has %d entries; x has rank %d", n, x.rank);
  int dup = cpu_norm_axes(b, "perm entry", perm, n, n, ax);
  if (dup < 0)
    return -1;
  if (dup < n)
    return cpu_error(b, "perm is not a permutation: %d appears twice", ax[dup]);
  cpu_strides(x.rank, x.dim, st);
  s->k[0] = n;
  for (int i = 0; i < n; i++) {
    dim[i] = s->k[1 + i] = x.dim[ax[i]];
    s->k[9 + i] = st[ax[i]];
  }
  s->k[17] = 0;
  return cpu_one_out(b, x.dtype, n, dim);
}

static int prep_slice(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0)
    return -1;
  int r = x.rank;
  int64_t beg[MIL_MAX_RANK], end[MIL_MAX_RANK], str[MIL_MAX_RANK], ones[MIL_MAX_RANK], st[MIL_MAX_RANK];
  bool bm[MIL_MAX_RANK], em[MIL_MAX_RANK], sm[MIL_MAX_RANK];
  for (int i = 0; i < MIL_MAX_RANK; i++)
    ones[i] = 1;
  if (cpu_ints_exact(b, "begin", beg, r, NULL) < 0 || cpu_ints_exact(b, "end", end, r, NULL) < 0 ||
      cpu_ints_exact(b, "stride", str, r, ones) < 0 || cpu_param_bools(b, "begin_mask", bm, r) < 0 ||
      cpu_param_bools(b, "end_mask", em, r) < 0 || cpu_param_bools(b, "squeeze_mask", sm, r) < 0)
    return -1;
  cpu_strides(r, x.dim, st);
  int64_t base = 0, dim[MIL_MAX_RANK];
  int n = 0;
  /* python slicing: negative indices count from the end, then clamp */
  for (int i = 0; i < r; i++) {
    int64_t d = x.dim[i], b0 = beg[i] < 0 ? beg[i] + d : beg[i], e0 = end[i] < 0 ? end[i] + d : end[i];
    if (sm[i]) {
      if (bm[i])
        b0 = 0;
      if (b0 < 0 || b0 >= d)
        return cpu_error(b, "squeezed index %lld is out of range for dim %d of size %lld",
                         (long long)beg[i], i, (long long)d);
      base += b0 * st[i];
      continue;
    }
    int64_t k = str[i], len;
    if (k == 0)
      return cpu_error(b, "stride %d is 0", i);
    if (k > 0) {
      b0 = bm[i] ? 0 : b0 < 0 ? 0 : b0 > d ? d : b0;
      e0 = em[i] ? d : e0 < 0 ? 0 : e0 > d ? d : e0;
      len = e0 > b0 ? (e0 - b0 + k - 1) / k : 0;
    } else {
      b0 = bm[i] ? d - 1 : b0 < -1 ? -1 : b0 > d - 1 ? d - 1 : b0;
      e0 = em[i] ? -1 : e0 < -1 ? -1 : e0 > d - 1 ? d - 1 : e0;
      len = b0 > e0 ? (b0 - e0 - k - 1) / -k : 0;
    }
    if (len > 0)
      base += b0 * st[i];
    s->k[1 + n] = dim[n] = len;
    s->k[9 + n] = k * st[i];
    n++;
  }
  s->k[0] = n;
  s->k[17] = base;
  return cpu_one_out(b, x.dtype, n, dim);
}

static int prep_expand_dims(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  int64_t axes[MIL_MAX_RANK];
  int k = cpu_x_and_ints(b, s, &x, "axes", axes), ax[MIL_MAX_RANK];
  if (k < 0)
    return -1;
  int r = x.rank + k;
  if (r > MIL_MAX_RANK)
    return cpu_error(b, "the result would have rank %d (at most %d)", r, MIL_MAX_RANK);
  int dup = cpu_norm_axes(b, "axis", axes, k, r, ax);
  if (dup < 0)
    return -1;
  if (dup < k)
    return cpu_error(b, "axis %d appears twice in 'axes'", ax[dup]);
  bool ins[MIL_MAX_RANK] = {0};
  for (int i = 0; i < k; i++)
    ins[ax[i]] = true;
  int64_t dim[MIL_MAX_RANK];
  for (int i = 0, j = 0; i < r; i++)
    dim[i] = ins[i] ? 1 : x.dim[j++];
  return cpu_one_out(b, x.dtype, r, dim);
}

static int prep_squeeze(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  int ax[MIL_MAX_RANK];
  bool sq[MIL_MAX_RANK] = {0};
  int k = cpu_operand(b, s, 0, "x", true, &x) < 0 ? CPU_ERR : cpu_get_axes(b, "axes", x.rank, ax, false);
  if (k == CPU_ERR)
    return -1;
  if (k == CPU_ABSENT) {   /* no axes: every size-1 dim */
    for (int i = 0; i < x.rank; i++)
      sq[i] = x.dim[i] == 1;
  } else {
    /* a listed dim that is not 1 stays, as coremltools documents */
    for (int i = 0; i < k; i++)
      sq[ax[i]] = x.dim[ax[i]] == 1;
  }
  int64_t dim[MIL_MAX_RANK];
  int r = 0;
  for (int i = 0; i < x.rank; i++)
    if (!sq[i])
      dim[r++] = x.dim[i];
  return cpu_one_out(b, x.dtype, r, dim);
}

/* k: 0 outer, 1 inner, 2 interleave, 3 sum of the axis sizes; tab[0]: the
 * axis size of each piece. Shared by concat (pieces in) and split (out). */
static int pieces(CpuBuild *b, CpuStep *s, const CpuSlot *ref, int ax, int n) {
  s->k[0] = cpu_prod(ref->dim, 0, ax);
  s->k[1] = cpu_prod(ref->dim, ax + 1, ref->rank);
  s->ntab[0] = n;
  return (s->tab[0] = cpu_step_alloc(b, n, sizeof(int64_t))) ? 0 : -1;
}

static int prep_concat(CpuBuild *b, CpuStep *s) {
  int n = cpu_input_list(b, "values", &s->list);
  if (n < 0)
    return -1;
  s->nlist = n;
  CpuSlot x0 = cpu_slot(b, s->list[0]);
  int64_t axis;
  int ax;
  bool inter;
  if (cpu_param_int(b, "axis", NULL, &axis) < 0 || cpu_axis(b, "axis", axis, x0.rank, &ax) < 0 ||
      cpu_param_bools(b, "interleave", &inter, 1) < 0 || pieces(b, s, &x0, ax, n) < 0)
    return -1;
  int64_t dim[MIL_MAX_RANK], sum = 0;
  memcpy(dim, x0.dim, sizeof dim);
  for (int i = 0; i < n; i++) {
    CpuSlot xi = cpu_slot(b, s->list[i]);
    bool ok = xi.rank == x0.rank && xi.dtype == x0.dtype;
    for (int d = 0; ok && d < x0.rank; d++)
      ok = xi.dim[d] == x0.dim[d] || (d == ax && !inter);
    if (!ok) {
      char a[128], c[128];
      return cpu_error(b, "value %d is %s; value 0 is %s (%s)", i, cpu_shape_str(a, sizeof a, &xi),
                       cpu_shape_str(c, sizeof c, &x0),
                       inter ? "interleave needs equal shapes" : "only the axis may differ");
    }
    s->tab[0][i] = xi.dim[ax];
    sum += xi.dim[ax];
  }
  dim[ax] = sum;
  s->k[2] = inter;
  s->k[3] = sum;
  return cpu_one_out(b, x0.dtype, x0.rank, dim);
}

static void run_concat(const CpuPlan *p, const CpuStep *s) {
  float *y = cpu_data(p, s->out[0]);
  int64_t outer = s->k[0], inner = s->k[1], total = s->k[3], n = s->nlist;
  for (int64_t o = 0; o < outer; o++) {
    int64_t off = 0;
    for (int64_t j = 0; j < n; j++) {
      int64_t a = s->tab[0][j];
      const float *x = cpu_data(p, s->list[j]) + o * a * inner;
      float *yo = y + o * total * inner;
      if (!s->k[2]) {
        memcpy(yo + off * inner, x, (size_t)(a * inner) * sizeof *y);
        off += a;
      } else {
        for (int64_t i = 0; i < a; i++)
          memcpy(yo + (i * n + j) * inner, x + i * inner, (size_t)inner * sizeof *y);
      }
    }
  }
}

static int prep_split(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  int64_t axis, num = 0, sizes[256];
  int ax;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 || cpu_param_int(b, "axis", NULL, &axis) < 0 ||
      cpu_axis(b, "axis", axis, x.rank, &ax) < 0)
    return -1;
  int ns = cpu_param_ints(b, "split_sizes", sizes, 256, sizes, 0);
  int64_t zero = 0;
  if (ns < 0 || cpu_param_int(b, "num_splits", &zero, &num) < 0)
    return -1;
  int64_t d = x.dim[ax];
  if (ns == 0) {
    if (num < 1 || num > 256 || d % num)
      return cpu_error(b, "num_splits %lld does not divide dim %d of size %lld (or neither "
                       "num_splits nor split_sizes is given)", (long long)num, ax, (long long)d);
    ns = (int)num;
    for (int i = 0; i < ns; i++)
      sizes[i] = d / num;
  }
  int64_t sum = 0;
  for (int i = 0; i < ns; i++) {
    if (sizes[i] < 0)
      return cpu_error(b, "split_sizes has a negative size");
    sum += sizes[i];
  }
  if (sum != d)
    return cpu_error(b, "split_sizes add up to %lld; dim %d has size %lld", (long long)sum, ax,
                     (long long)d);
  if (pieces(b, s, &x, ax, ns) < 0)
    return -1;
  s->k[3] = d;
  for (int i = 0; i < ns; i++) {
    int64_t dim[MIL_MAX_RANK];
    memcpy(dim, x.dim, sizeof dim);
    dim[ax] = s->tab[0][i] = sizes[i];
    if (cpu_output(b, i, ns, x.dtype, x.rank, dim) < 0)
      return -1;
  }
  return 0;
}

static void run_split(const CpuPlan *p, const CpuStep *s) {
  const float *x = cpu_data(p, s->in[0]);
  int64_t outer = s->k[0], inner = s->k[1], total = s->k[3];
  for (int64_t o = 0; o < outer; o++) {
    int64_t off = 0;
    for (int j = 0; j < s->nout; j++) {
      int64_t a = s->tab[0][j];
      memcpy(cpu_data(p, s->out[j]) + o * a * inner, x + (o * total + off) * inner,
             (size_t)(a * inner) * sizeof *x);
      off += a;
    }
  }
}

const CpuOpDef cpu_ops_movement[] = {
  {"concat", prep_concat, run_concat, 0, false},
  {"expand_dims", prep_expand_dims, cpu_run_copy, 0, false},
  {"reshape", prep_reshape, cpu_run_copy, 0, false},
  {"slice_by_index", prep_slice, cpu_run_strided, 0, false},
  {"split", prep_split, run_split, 0, false},
  {"squeeze", prep_squeeze, cpu_run_copy, 0, false},
  {"transpose", prep_transpose, cpu_run_strided, 0, false},
  {NULL, NULL, NULL, 0, false},
};
