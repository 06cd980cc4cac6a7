/* movement.c - the cpu backend's tensor movement ops whose data movement is
 * known at open(): reshape, transpose, slices, concat, split, stack, pad,
 * tile, reverse, depth/space rearrangements, band_part, nearest upsampling.
 * Elements are copied as 4-byte bits, so every dtype moves alike. */
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

int cpu_slice_view(CpuBuild *b, CpuStep *s, const CpuSlot *xp, int64_t *dim) {
  const CpuSlot x = *xp;
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
  int64_t base = 0;
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
  return n;
}

static int prep_slice(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  int64_t dim[MIL_MAX_RANK];
  int n = cpu_operand(b, s, 0, "x", true, &x) < 0 ? -1 : cpu_slice_view(b, s, &x, dim);
  return n < 0 ? -1 : cpu_one_out(b, x.dtype, n, dim);
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

/* ---- ops as a table of source offsets -------------------------------------------------
 * pad, tile, reverse, slice_by_size, space/depth rearrangements, band_part,
 * nearest-neighbour upsampling: each output element copies one element of x
 * (or, at -1, the constant k[0], stored as its bits), so open() works out
 * the whole map once into tab[0] from the op's index rule. */

typedef struct Map {
  int op;                     /* MAP_* */
  int rank;
  const int64_t *xdim;
  int64_t a[MIL_MAX_RANK];    /* per-op: pads before, reps, flags, ... */
  int64_t c[MIL_MAX_RANK];    /* per-op: second parameter */
  int64_t bs;                 /* block size */
  double scale[2];            /* upsampling factors of the last two dims */
  int mode;                   /* pad mode */
} Map;

enum { MAP_PAD, MAP_TILE, MAP_REVERSE, MAP_SLICE, MAP_D2S, MAP_S2D, MAP_SHUF, MAP_UNSHUF,
       MAP_BAND, MAP_UPNN, MAP_RESIZE_NN, MAP_S2B, MAP_B2S };
enum { PAD_CONST, PAD_REFLECT, PAD_EDGE };

/* One source index from an output index along a padded dim of size d. */
static int64_t pad_src(int mode, int64_t i, int64_t d) {
  if (i >= 0 && i < d)
    return i;
  if (mode == PAD_CONST)
    return -1;
  if (mode == PAD_EDGE)
    return i < 0 ? 0 : d - 1;
  int64_t period = 2 * (d - 1);   /* reflect without repeating the edge */
  i = i < 0 ? -i : i;
  i %= period;
  return i < d ? i : period - i;
}

/* The source multi-index src of output index o; false for the constant. */
static bool map_src(const Map *m, const int64_t *o, int64_t *src) {
  const int64_t *xd = m->xdim;
  int r = m->rank;
  for (int i = 0; i < r; i++)
    src[i] = o[i];
  switch (m->op) {
  case MAP_PAD:
    for (int i = 0; i < r; i++)
      if ((src[i] = pad_src(m->mode, o[i] - m->a[i], xd[i])) < 0)
        return false;
    return true;
  case MAP_TILE:
    for (int i = 0; i < r; i++)
      src[i] = o[i] % xd[i];
    return true;
  case MAP_REVERSE:
    for (int i = 0; i < r; i++)
      if (m->a[i])
        src[i] = xd[i] - 1 - o[i];
    return true;
  case MAP_SLICE:
    for (int i = 0; i < r; i++)
      src[i] = o[i] + m->a[i];
    return true;
  case MAP_UPNN:   /* the source pixel floor(o / scale), inside x */
    for (int i = r - 2; i < r; i++) {
      src[i] = (int64_t)floor((double)o[i] / m->scale[i - (r - 2)]);
      src[i] = src[i] < xd[i] ? src[i] : xd[i] - 1;
    }
    return true;
  case MAP_RESIZE_NN:   /* a: the output's last two dims; floor(o * in / out) */
    for (int i = r - 2; i < r; i++)
      src[i] = o[i] * xd[i] / m->a[i];
    return true;
  case MAP_S2B: {   /* a: bh, bw, pad top, pad left, N; batch (i * bw + j) * N + n */
    int64_t nb = o[0] % m->a[4], blk = o[0] / m->a[4];
    src[0] = nb;
    src[2] = o[2] * m->a[0] + blk / m->a[1] - m->a[2];
    src[3] = o[3] * m->a[1] + blk % m->a[1] - m->a[3];
    return src[2] >= 0 && src[2] < xd[2] && src[3] >= 0 && src[3] < xd[3];
  }
  case MAP_B2S: {   /* a: bh, bw, crop top, crop left, N (the output's batch) */
    int64_t yy = o[2] + m->a[2], xx = o[3] + m->a[3];
    src[0] = ((yy % m->a[0]) * m->a[1] + xx % m->a[1]) * m->a[4] + o[0];
    src[2] = yy / m->a[0];
    src[3] = xx / m->a[1];
    return true;
  }
  case MAP_BAND: { /* keep (row, col) with -lower <= col - row <= upper (negative: all) */
    int64_t d = o[r - 1] - o[r - 2];
    return (m->a[0] < 0 || -d <= m->a[0]) && (m->c[0] < 0 || d <= m->c[0]);
  }
  default: break;
  }
  /* rank 4 rearrangements between depth and space, block b:
   * depth_to_space (DCR): out[c, h*b+i, w*b+j] = in[(i*b+j)*C' + c, h, w]
   * pixel_shuffle (CRD):  out[c, h*b+i, w*b+j] = in[c*b*b + i*b + j, h, w]
   * space_to_depth and pixel_unshuffle are their inverses. */
  int64_t b = m->bs, n = o[0];
  if (m->op == MAP_D2S || m->op == MAP_SHUF) {
    int64_t cc = o[1], h = o[2] / b, i = o[2] % b, w = o[3] / b, j = o[3] % b;
    int64_t co = xd[1] / (b * b);
    src[1] = m->op == MAP_D2S ? (i * b + j) * co + cc : cc * b * b + i * b + j;
    src[2] = h;
    src[3] = w;
  } else {
    int64_t co = xd[1], q = o[1];
    int64_t cc = m->op == MAP_S2D ? q % co : q / (b * b);
    int64_t ij = m->op == MAP_S2D ? q / co : q % (b * b);
    src[1] = cc;
    src[2] = o[2] * b + ij / b;
    src[3] = o[3] * b + ij % b;
  }
  src[0] = n;
  return true;
}

/* Fills tab[0] for an output of odim, then declares the output. */
static int map_table(CpuBuild *b, CpuStep *s, const CpuSlot *x, const Map *m,
                     const int64_t *odim) {
  int r = x->rank;
  int64_t n = cpu_prod(odim, 0, r), st[MIL_MAX_RANK], o[MIL_MAX_RANK] = {0}, src[MIL_MAX_RANK];
  if (n > CPU_MAX_ELEMS)
    return cpu_error(b, "the result would have %lld elements", (long long)n);
  if (!(s->tab[0] = cpu_step_alloc(b, n, sizeof(int64_t))))
    return -1;
  s->ntab[0] = n;
  cpu_strides(r, x->dim, st);
  for (int64_t t = 0; t < n; t++) {
    int64_t off = 0;
    if (map_src(m, o, src))
      for (int i = 0; i < r; i++)
        off += src[i] * st[i];
    else
      off = -1;
    s->tab[0][t] = off;
    for (int i = r - 1; i >= 0 && ++o[i] == odim[i]; i--)
      o[i] = 0;
  }
  return cpu_one_out(b, x->dtype, r, odim);
}

static void run_map(const CpuPlan *p, const CpuStep *s) {
  const uint32_t *x = (const uint32_t *)cpu_data(p, s->in[0]);
  uint32_t *y = (uint32_t *)cpu_data(p, s->out[0]), fill = (uint32_t)s->k[0];
  const int64_t *t = s->tab[0];
  for (int64_t i = 0; i < s->ntab[0]; i++)
    y[i] = t[i] < 0 ? fill : x[t[i]];
}

/* The pad constant as the bits x's dtype holds it. */
static void set_fill(CpuStep *s, MilDtype dt, double v) {
  uint32_t u;
  if (cpu_is_float(dt)) {
    float f = (float)v;
    if (dt == MIL_FP16)   /* run_map's output is not rounded after it */
      cpu_round_fp16(&f, 1);
    memcpy(&u, &f, sizeof u);
  } else {
    u = (uint32_t)(int32_t)v;
  }
  s->k[0] = u;
}

static int prep_pad(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  int64_t pad[2 * MIL_MAX_RANK], odim[MIL_MAX_RANK];
  const char *mode;
  double cv, zero = 0;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0)
    return -1;
  int np = cpu_param_ints(b, "pad", pad, 2 * MIL_MAX_RANK, NULL, 0);
  if (np < 0 || cpu_param_str(b, "mode", "constant", &mode) < 0 ||
      cpu_param_float(b, "constant_val", &zero, &cv) < 0)
    return -1;
  Map m = {.op = MAP_PAD, .rank = x.rank, .xdim = x.dim};
  m.mode = strcmp(mode, "constant") == 0 ? PAD_CONST
           : strcmp(mode, "reflect") == 0 ? PAD_REFLECT
           : strcmp(mode, "replicate") == 0 ? PAD_EDGE : -1;
  if (m.mode < 0)   /* the op definition refused any other constant mode, in these words */
    return cpu_error(b, "unknown pad mode \"%s\" (constant, reflect or replicate)", mode);
  if (np % 2 || np / 2 > x.rank)
    return cpu_error(b, "pad has %d values; an even count up to 2 * rank (%d) expected", np,
                     2 * x.rank);
  for (int i = 0; i < x.rank; i++) {
    int j = i - (x.rank - np / 2);
    int64_t lo = j >= 0 ? pad[2 * j] : 0, hi = j >= 0 ? pad[2 * j + 1] : 0;
    if (lo < 0 || hi < 0)
      return cpu_error(b, "pad has a negative amount for dim %d", i);
    if (m.mode == PAD_REFLECT && (lo >= x.dim[i] || hi >= x.dim[i]))
      return cpu_error(b, "reflect padding of dim %d (size %lld) by %lld, %lld: at most size - 1",
                       i, (long long)x.dim[i], (long long)lo, (long long)hi);
    if (m.mode != PAD_CONST && x.dim[i] == 0 && lo + hi > 0)
      return cpu_error(b, "cannot %s-pad the empty dim %d", mode, i);
    m.a[i] = lo;
    odim[i] = x.dim[i] + lo + hi;
  }
  set_fill(s, x.dtype, cv);
  return map_table(b, s, &x, &m, odim);
}

static int prep_tile(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  int64_t reps[MIL_MAX_RANK], odim[MIL_MAX_RANK];
  int n = cpu_x_and_ints(b, s, &x, "reps", reps);
  if (n < 0)
    return -1;
  if (n != x.rank)
    return cpu_error(b, "reps has %d values; x has rank %d", n, x.rank);
  for (int i = 0; i < n; i++) {
    if (reps[i] < 1)
      return cpu_error(b, "reps[%d] is %lld; at least 1 expected", i, (long long)reps[i]);
    odim[i] = x.dim[i] * reps[i];
  }
  Map m = {.op = MAP_TILE, .rank = x.rank, .xdim = x.dim};
  return map_table(b, s, &x, &m, odim);
}

static int prep_reverse(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  int ax[MIL_MAX_RANK];
  if (cpu_operand(b, s, 0, "x", true, &x) < 0)
    return -1;
  int n = cpu_get_axes(b, "axes", x.rank, ax, true);
  if (n < 0)
    return -1;
  Map m = {.op = MAP_REVERSE, .rank = x.rank, .xdim = x.dim};
  for (int i = 0; i < n; i++)
    m.a[ax[i]] = 1;
  return map_table(b, s, &x, &m, x.dim);
}

static int prep_slice_by_size(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  int64_t beg[MIL_MAX_RANK], size[MIL_MAX_RANK], odim[MIL_MAX_RANK];
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 || cpu_ints_exact(b, "begin", beg, x.rank, NULL) < 0 ||
      cpu_ints_exact(b, "size", size, x.rank, NULL) < 0)
    return -1;
  Map m = {.op = MAP_SLICE, .rank = x.rank, .xdim = x.dim};
  for (int i = 0; i < x.rank; i++) {
    int64_t d = x.dim[i], b0 = beg[i] < 0 ? beg[i] + d : beg[i];
    int64_t len = size[i] == -1 ? d - b0 : size[i];
    if (b0 < 0 || len < 0 || b0 + len > d)
      return cpu_error(b, "begin %lld, size %lld is outside dim %d of size %lld",
                       (long long)beg[i], (long long)size[i], i, (long long)d);
    m.a[i] = b0;
    odim[i] = len;
  }
  return map_table(b, s, &x, &m, odim);
}

/* depth_to_space, space_to_depth, pixel_shuffle, pixel_unshuffle. */
static int prep_blocks(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  int64_t bs;
  bool pix = s->mode == MAP_SHUF || s->mode == MAP_UNSHUF;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 ||
      cpu_param_int(b, pix ? (s->mode == MAP_SHUF ? "upscale_factor" : "downscale_factor")
                           : "block_size", NULL, &bs) < 0)
    return -1;
  if (x.rank != 4)
    return cpu_error(b, "x has rank %d; 4 ([n, C, H, W]) expected", x.rank);
  if (bs < 1)
    return cpu_error(b, "the block size is %lld; at least 1 expected", (long long)bs);
  int64_t odim[4] = {x.dim[0], x.dim[1], x.dim[2], x.dim[3]};
  if (s->mode == MAP_D2S || s->mode == MAP_SHUF) {
    if (x.dim[1] % (bs * bs))
      return cpu_error(b, "C (%lld) is not a multiple of the block size squared (%lld)",
                       (long long)x.dim[1], (long long)(bs * bs));
    odim[1] /= bs * bs;
    odim[2] *= bs;
    odim[3] *= bs;
  } else {
    if (x.dim[2] % bs || x.dim[3] % bs)
      return cpu_error(b, "H and W (%lld, %lld) are not multiples of the block size %lld",
                       (long long)x.dim[2], (long long)x.dim[3], (long long)bs);
    odim[1] *= bs * bs;
    odim[2] /= bs;
    odim[3] /= bs;
  }
  Map m = {.op = s->mode, .rank = 4, .xdim = x.dim, .bs = bs};
  return map_table(b, s, &x, &m, odim);
}

static int prep_band_part(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  int64_t lo, hi, none = -1;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 || cpu_param_int(b, "lower", &none, &lo) < 0 ||
      cpu_param_int(b, "upper", &none, &hi) < 0)
    return -1;
  if (x.rank < 2)
    return cpu_error(b, "x has rank %d; at least 2 expected", x.rank);
  Map m = {.op = MAP_BAND, .rank = x.rank, .xdim = x.dim};
  m.a[0] = lo;
  m.c[0] = hi;
  set_fill(s, x.dtype, 0);
  return map_table(b, s, &x, &m, x.dim);
}

/* upsample_nearest_neighbor: the last two dims scaled by integer or
 * (iOS16) fractional factors, the result floor(in * factor) long. */
static int prep_upsample_nn(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  double sh, sw, one = 1;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 ||
      cpu_param_float(b, "scale_factor_height", &one, &sh) < 0 ||
      cpu_param_float(b, "scale_factor_width", &one, &sw) < 0)
    return -1;
  if (x.rank < 3)
    return cpu_error(b, "x has rank %d; at least 3 expected", x.rank);
  int64_t odim[MIL_MAX_RANK];
  memcpy(odim, x.dim, sizeof odim);
  odim[x.rank - 2] = (int64_t)floor(x.dim[x.rank - 2] * sh);
  odim[x.rank - 1] = (int64_t)floor(x.dim[x.rank - 1] * sw);
  if (!(sh > 0 && sw > 0) || odim[x.rank - 2] < 1 || odim[x.rank - 1] < 1)
    return cpu_error(b, "scale factors %g, %g give an empty result", sh, sw);
  Map m = {.op = MAP_UPNN, .rank = x.rank, .xdim = x.dim};
  m.scale[0] = sh;
  m.scale[1] = sw;
  return map_table(b, s, &x, &m, odim);
}

/* resize_nearest_neighbor: the last two dims resized to the target sizes;
 * the definition names no sampling rule, so the source pixel is
 * floor(o * in / out), the rule of TensorFlow's nearest resize without
 * half-pixel centres (which coremltools converts to this op). */
static int prep_resize_nn(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  int64_t th, tw;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 ||
      cpu_param_int(b, "target_size_height", NULL, &th) < 0 ||
      cpu_param_int(b, "target_size_width", NULL, &tw) < 0)
    return -1;
  if (x.rank < 3)
    return cpu_error(b, "x has rank %d; at least 3 expected", x.rank);
  if (th < 1 || tw < 1)
    return cpu_error(b, "the target size %lld x %lld is empty", (long long)th, (long long)tw);
  int64_t odim[MIL_MAX_RANK];
  memcpy(odim, x.dim, sizeof odim);
  odim[x.rank - 2] = th;
  odim[x.rank - 1] = tw;
  Map m = {.op = MAP_RESIZE_NN, .rank = x.rank, .xdim = x.dim};
  m.a[x.rank - 2] = th;
  m.a[x.rank - 1] = tw;
  return map_table(b, s, &x, &m, odim);
}

/* space_to_batch(x, block_shape, paddings) and batch_to_space(x,
 * block_shape, crops) on [n, C, H, W], as TensorFlow orders the blocks:
 * batch (i * bw + j) * n + b holds the pixels at offset (i, j) of each
 * block of the padded image. */
static int prep_space_batch(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  int64_t bl[2], pc[4];
  bool s2b = s->mode == MAP_S2B;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 || cpu_ints_exact(b, "block_shape", bl, 2, NULL) < 0 ||
      cpu_ints_exact(b, s2b ? "paddings" : "crops", pc, 4, NULL) < 0)
    return -1;
  if (x.rank != 4)
    return cpu_error(b, "x has rank %d; 4 ([n, C, H, W]) expected", x.rank);
  if (bl[0] < 1 || bl[1] < 1 || pc[0] < 0 || pc[1] < 0 || pc[2] < 0 || pc[3] < 0)
    return cpu_error(b, "block_shape must be positive and %s non-negative",
                     s2b ? "paddings" : "crops");
  int64_t blk = bl[0] * bl[1], odim[4];
  Map m = {.op = s->mode, .rank = 4, .xdim = x.dim};
  int64_t a[5] = {bl[0], bl[1], pc[0], pc[2], s2b ? x.dim[0] : x.dim[0] / blk};
  memcpy(m.a, a, sizeof a);
  if (s2b) {
    int64_t ph = x.dim[2] + pc[0] + pc[1], pw = x.dim[3] + pc[2] + pc[3];
    if (ph % bl[0] || pw % bl[1])
      return cpu_error(b, "the padded H and W (%lld, %lld) are not multiples of block_shape",
                       (long long)ph, (long long)pw);
    int64_t d[4] = {x.dim[0] * blk, x.dim[1], ph / bl[0], pw / bl[1]};
    memcpy(odim, d, sizeof d);
  } else {
    int64_t oh = x.dim[2] * bl[0] - pc[0] - pc[1], ow = x.dim[3] * bl[1] - pc[2] - pc[3];
    if (x.dim[0] % blk || oh < 0 || ow < 0)
      return cpu_error(b, "the batch (%lld) is not a multiple of the block size %lld, or the "
                       "crops exceed the image", (long long)x.dim[0], (long long)blk);
    int64_t d[4] = {x.dim[0] / blk, x.dim[1], oh, ow};
    memcpy(odim, d, sizeof d);
  }
  set_fill(s, x.dtype, 0);
  return map_table(b, s, &x, &m, odim);
}

/* stack: concat along a new axis (run_concat with pieces of size 1). */
static int prep_stack(CpuBuild *b, CpuStep *s) {
  int n = cpu_input_list(b, "values", &s->list);
  if (n < 0)
    return -1;
  s->nlist = n;
  CpuSlot x0 = cpu_slot(b, s->list[0]);
  int64_t axis;
  int ax;
  if (cpu_param_int(b, "axis", NULL, &axis) < 0 || cpu_axis(b, "axis", axis, x0.rank + 1, &ax) < 0)
    return -1;
  if (x0.rank + 1 > MIL_MAX_RANK)
    return cpu_error(b, "the result would have rank %d", x0.rank + 1);
  for (int i = 1; i < n; i++) {
    CpuSlot xi = cpu_slot(b, s->list[i]);
    bool ok = xi.rank == x0.rank && xi.dtype == x0.dtype;
    for (int d = 0; ok && d < x0.rank; d++)
      ok = xi.dim[d] == x0.dim[d];
    if (!ok) {
      char a[128], c[128];
      return cpu_error(b, "value %d is %s; value 0 is %s (stack needs equal shapes)", i,
                       cpu_shape_str(a, sizeof a, &xi), cpu_shape_str(c, sizeof c, &x0));
    }
  }
  int64_t dim[MIL_MAX_RANK];
  for (int d = 0, j = 0; d <= x0.rank; d++)
    dim[d] = d == ax ? n : x0.dim[j++];
  s->k[0] = cpu_prod(x0.dim, 0, ax);
  s->k[1] = cpu_prod(x0.dim, ax, x0.rank);
  s->k[2] = 0;
  s->k[3] = n;
  s->ntab[0] = n;
  if (!(s->tab[0] = cpu_step_alloc(b, n, sizeof(int64_t))))
    return -1;
  for (int i = 0; i < n; i++)
    s->tab[0][i] = 1;
  return cpu_one_out(b, x0.dtype, x0.rank + 1, dim);
}

/* flatten2d: [prod(dims before axis), prod(dims from axis)]. */
static int prep_flatten2d(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  int64_t axis, one = 1;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 || cpu_param_int(b, "axis", &one, &axis) < 0)
    return -1;
  if (axis < -x.rank || axis > x.rank)
    return cpu_error(b, "axis %lld is out of range for rank %d", (long long)axis, x.rank);
  int ax = (int)(axis < 0 ? axis + x.rank : axis);
  int64_t dim[2] = {cpu_prod(x.dim, 0, ax), cpu_prod(x.dim, ax, x.rank)};
  return cpu_one_out(b, x.dtype, 2, dim);
}

/* crop(x, crop_height = [top, bottom], crop_width = [left, right]): the last
 * two dims cut. */
static int prep_crop(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  int64_t ch[2], cw[2], zeros[2] = {0, 0}, odim[MIL_MAX_RANK];
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 || cpu_ints_exact(b, "crop_height", ch, 2, zeros) < 0 ||
      cpu_ints_exact(b, "crop_width", cw, 2, zeros) < 0)
    return -1;
  int r = x.rank;
  if (r < 2)
    return cpu_error(b, "x has rank %d; at least 2 expected", r);
  Map m = {.op = MAP_SLICE, .rank = r, .xdim = x.dim};
  memcpy(odim, x.dim, sizeof odim);
  odim[r - 2] -= ch[0] + ch[1];
  odim[r - 1] -= cw[0] + cw[1];
  if (ch[0] < 0 || ch[1] < 0 || cw[0] < 0 || cw[1] < 0 || odim[r - 2] < 0 || odim[r - 1] < 0)
    return cpu_error(b, "the crop amounts must be non-negative and fit x");
  m.a[r - 2] = ch[0];
  m.a[r - 1] = cw[0];
  return map_table(b, s, &x, &m, odim);
}

const CpuOpDef cpu_ops_movement[] = {
  {"crop", prep_crop, run_map, 0, false, true},
  {"band_part", prep_band_part, run_map, 0, false, true},
  {"batch_to_space", prep_space_batch, run_map, MAP_B2S, false, true},
  {"concat", prep_concat, run_concat, 0, false, true},
  {"depth_to_space", prep_blocks, run_map, MAP_D2S, false, true},
  {"expand_dims", prep_expand_dims, cpu_run_copy, 0, false, true},
  {"flatten2d", prep_flatten2d, cpu_run_copy, 0, false, true},
  {"pad", prep_pad, run_map, 0, false, true},
  {"pixel_shuffle", prep_blocks, run_map, MAP_SHUF, false, true},
  {"pixel_unshuffle", prep_blocks, run_map, MAP_UNSHUF, false, true},
  {"reshape", prep_reshape, cpu_run_copy, 0, false, true},
  {"resize_nearest_neighbor", prep_resize_nn, run_map, 0, false, true},
  {"reverse", prep_reverse, run_map, 0, false, true},
  {"slice_by_index", prep_slice, cpu_run_strided, 0, false, true},
  {"slice_by_size", prep_slice_by_size, run_map, 0, false, true},
  {"space_to_batch", prep_space_batch, run_map, MAP_S2B, false, true},
  {"space_to_depth", prep_blocks, run_map, MAP_S2D, false, true},
  {"split", prep_split, run_split, 0, false, true},
  {"squeeze", prep_squeeze, cpu_run_copy, 0, false, true},
  {"stack", prep_stack, run_concat, 0, false, true},
  {"tile", prep_tile, run_map, 0, false, true},
  {"transpose", prep_transpose, cpu_run_strided, 0, false, true},
  {"upsample_nearest_neighbor", prep_upsample_nn, run_map, 0, false, true},
  {NULL, NULL, NULL, 0, false, false},
};
