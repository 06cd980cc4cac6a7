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
static int prep_slice_update(CpuBuild *b, CpuStep *s) {
  CpuSlot x, u;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 || cpu_operand(b, s, 1, "update", true, &u) < 0)
    return -1;
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

const CpuOpDef cpu_ops_state[] = {
  {"read_state", prep_read_state, cpu_run_copy, 0, false, true},
  {"slice_update", prep_slice_update, run_slice_update, 0, false, true},
  {"write_state", prep_write_state, run_write_state, 0, false, true},
  {NULL, NULL, NULL, 0, false, false},
};
