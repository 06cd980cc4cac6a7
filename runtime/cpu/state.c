/* state.c - the cpu backend's state ops (iOS18): read_state copies a state
 * input's tensor, write_state (a statement with no outputs) stores into it,
 * and slice_update, the op that writes a window of a cache. A state
 * input's slot is its storage: set_input fills it, and it keeps what
 * write_state stored from one eval() to the next. */
#include <string.h>

#include "cpu.h"

/* A state operand: the slot of a function input declared state<tensor<...>>. */
static int state_operand(CpuBuild *b, CpuStep *s, int k, CpuSlot *st) {
  if (cpu_operand(b, s, k, "input", true, st) < 0)
    return -1;
  if (!st->state)
    return cpu_error(b, "operand 'input' is not a state (a function input of type state<...>)");
  return 0;
}

static int prep_read_state(CpuBuild *b, CpuStep *s) {
  CpuSlot st;
  if (state_operand(b, s, 0, &st) < 0)
    return -1;
  return cpu_same_out(b, &st);
}

static int prep_write_state(CpuBuild *b, CpuStep *s) {
  CpuSlot st, d;
  if (state_operand(b, s, 0, &st) < 0 || cpu_operand(b, s, 1, "data", true, &d) < 0)
    return -1;
  bool ok = d.dtype == st.dtype && d.rank == st.rank;
  for (int i = 0; ok && i < d.rank; i++)
    ok = d.dim[i] == st.dim[i];
  if (!ok) {
    char a[128], c[128];
    return cpu_error(b, "data is %s; the state holds %s", cpu_shape_str(a, sizeof a, &d),
                     cpu_shape_str(c, sizeof c, &st));
  }
  if (b->op->nouts != 0)
    return cpu_error(b, "declares %d outputs; write_state has none", b->op->nouts);
  return 0;
}

static void run_write_state(const CpuPlan *p, const CpuStep *s) {
  const CpuSlot *st = &p->slots[s->in[0]];
  memcpy(st->data, cpu_data(p, s->in[1]), (size_t)st->n * sizeof(float));
}

/* slice_update(x, update, begin, end, stride, masks): x with the slice
 * slice_by_index would read replaced by update. k as cpu_run_strided's
 * (the slice's dims, strides and offset). */
static int prep_slice_update_at(CpuBuild *b, CpuStep *s, const CpuSlot *x, const CpuSlot *u,
                                const CpuSlot *bg);

static int prep_slice_update(CpuBuild *b, CpuStep *s) {
  CpuSlot x, u, bg;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 || cpu_operand(b, s, 1, "update", true, &u) < 0 ||
      cpu_operand(b, s, 2, "begin", true, &bg) < 0)
    return -1;
  if (!bg.isconst)
    return prep_slice_update_at(b, s, &x, &u, &bg);
  int64_t dim[MIL_MAX_RANK];
  int n = cpu_slice_view(b, s, &x, dim);
  if (n < 0)
    return -1;
  bool ok = u.dtype == x.dtype && u.n == cpu_prod(dim, 0, n);
  if (!ok) {
    char a[128], c[128];
    return cpu_error(b, "update is %s; the slice is %s", cpu_shape_str(a, sizeof a, &u),
                     cpu_type_str(c, sizeof c, x.dtype, n, dim));
  }
  return cpu_same_out(b, &x);
}

/* Writes src (C order) into the strided view of dst. */
static void scatter_strided(uint32_t *dst, const uint32_t *src, int rank, const int64_t *dim,
                            const int64_t *st) {
  int64_t n = cpu_prod(dim, 0, rank), idx[MIL_MAX_RANK] = {0}, off = 0;
  for (int64_t i = 0; i < n; i++) {
    dst[off] = src[i];
    for (int k = rank - 1; k >= 0; k--) {
      off += st[k];
      if (++idx[k] < dim[k])
        break;
      off -= idx[k] * st[k];
      idx[k] = 0;
    }
  }
}

static void run_slice_update(const CpuPlan *p, const CpuStep *s) {
  const CpuSlot *x = &p->slots[s->in[0]];
  uint32_t *y = (uint32_t *)cpu_data(p, s->out[0]);
  memcpy(y, x->data, (size_t)x->n * sizeof *y);
  scatter_strided(y + s->k[17], (const uint32_t *)cpu_data(p, s->in[1]), (int)s->k[0], &s->k[1],
                  &s->k[9]);
}

/* slice_update with begin known only at run time (a decode step's cache
 * position). The window's extent is the update's shape, so end is not
 * read; stride and the masks are constants. k: [0] the view's rank, [1..]
 * its dims, [9..] its strides, [18] x's rank, [19..] each axis' window
 * length, [27..] its step, [35..] 1 when begin_mask takes it whole. */
enum { SU_RANK = 18, SU_LEN = 19, SU_STEP = 27, SU_MASK = 35 };

/* Where the window starts: begin read now, counted from the end when
 * negative, then moved so the whole window lies inside x (a kernel cannot
 * fail, so an out-of-range position is clamped, as gather's indices are). */
static void run_slice_update_at_impl(const CpuPlan *p, const CpuStep *s) {
  const CpuSlot *x = &p->slots[s->in[0]];
  const int32_t *beg = cpu_idata(p, s->in[2]);
  int64_t st[MIL_MAX_RANK], base = 0;
  cpu_strides(x->rank, x->dim, st);
  for (int i = 0; i < (int)s->k[SU_RANK]; i++) {
    int64_t d = x->dim[i], len = s->k[SU_LEN + i], k = s->k[SU_STEP + i];
    int64_t b0 = s->k[SU_MASK + i] ? (k > 0 ? 0 : d - 1) : beg[i] < 0 ? beg[i] + d : beg[i];
    int64_t lo = k > 0 ? 0 : (len - 1) * -k, hi = k > 0 ? d - 1 - (len - 1) * k : d - 1;
    base += (b0 < lo ? lo : b0 > hi ? hi : b0) * st[i];
  }
  uint32_t *y = (uint32_t *)cpu_data(p, s->out[0]);
  memcpy(y, x->data, (size_t)x->n * sizeof *y);
  scatter_strided(y + base, (const uint32_t *)cpu_data(p, s->in[1]), (int)s->k[0], &s->k[1],
                  &s->k[9]);
}

static int prep_slice_update_at(CpuBuild *b, CpuStep *s, const CpuSlot *x, const CpuSlot *u,
                                const CpuSlot *bg) {
  int r = x->rank;
  int64_t str[MIL_MAX_RANK], ones[MIL_MAX_RANK], st[MIL_MAX_RANK];
  bool bm[MIL_MAX_RANK], sm[MIL_MAX_RANK];
  for (int i = 0; i < MIL_MAX_RANK; i++)
    ones[i] = 1;
  if (bg->dtype != MIL_INT32 || bg->rank != 1 || bg->n != r)
    return cpu_error(b, "begin must be an int32 tensor of %d entries (x's rank)", r);
  if (cpu_ints_exact(b, "stride", str, r, ones) < 0 ||
      cpu_param_bools(b, "begin_mask", bm, r) < 0 || cpu_param_bools(b, "squeeze_mask", sm, r) < 0)
    return -1;
  cpu_strides(r, x->dim, st);
  int n = 0;
  for (int i = 0; i < r; i++) {
    if (str[i] == 0)
      return cpu_error(b, "stride %d is 0", i);
    int64_t len = sm[i] ? 1 : n < u->rank ? u->dim[n] : -1;
    if (len < 1 || (len - 1) * (str[i] < 0 ? -str[i] : str[i]) >= x->dim[i])
      return cpu_error(b, "update does not fit axis %d of x (size %lld) at stride %lld", i,
                       (long long)x->dim[i], (long long)str[i]);
    s->k[SU_LEN + i] = len;
    s->k[SU_STEP + i] = str[i];
    s->k[SU_MASK + i] = bm[i];
    if (!sm[i]) {
      s->k[1 + n] = len;
      s->k[9 + n] = str[i] * st[i];
      n++;
    }
  }
  if (n != u->rank || u->dtype != x->dtype)
    return cpu_error(b, "update (rank %d) does not match the slice of x (rank %d)", u->rank, n);
  s->k[0] = n;
  s->k[SU_RANK] = r;
  s->run = run_slice_update_at_impl;
  return cpu_same_out(b, x);
}

const CpuOpDef cpu_ops_state[] = {
  {"read_state", prep_read_state, cpu_run_copy, 0, false, true},
  {"slice_update", prep_slice_update, run_slice_update, 0, false, true},
  {"write_state", prep_write_state, run_write_state, 0, false, true},
  {NULL, NULL, NULL, 0, false, false},
};
