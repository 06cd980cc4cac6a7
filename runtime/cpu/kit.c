/* kit.c - helpers the cpu backend's op preparers and kernels share:
 * operands, outputs, axes, offset tables, strided copies. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"


int cpu_need_float(CpuBuild *b, const CpuSlot *s, const char *what) {
  if (!cpu_is_float(s->dtype))
    return cpu_error(b, "operand '%s' is %s; fp16 or fp32 expected", what,
                     mil_dtype_name(s->dtype));
  return 0;
}

int64_t cpu_prod(const int64_t *d, int from, int to) {
  int64_t n = 1;
  for (int i = from; i < to; i++)
    n *= d[i];
  return n;
}

void cpu_strides(int rank, const int64_t *dim, int64_t *st) {
  int64_t n = 1;
  for (int i = rank - 1; i >= 0; i--) {
    st[i] = n;
    n *= dim[i];
  }
}

const char *cpu_shape_str(char *buf, size_t n, const CpuSlot *s) {
  return cpu_type_str(buf, n, s->dtype, s->rank, s->dim);
}

/* Binds operand `name` to s->in[k] and copies its slot to *x (zeroed when
 * an optional one is absent); -1 after reporting. Preparers bind all their
 * operands before checking any, and stop at the first that fails. */
int cpu_operand(CpuBuild *b, CpuStep *s, int k, const char *name, bool required, CpuSlot *x) {
  int i = cpu_input(b, name, required);
  if (i == CPU_ERR)
    return -1;
  s->in[k] = i;
  *x = i >= 0 ? cpu_slot(b, i) : (CpuSlot){0};
  return 0;
}

/* The op's single output. */
int cpu_one_out(CpuBuild *b, MilDtype dt, int rank, const int64_t *dim) {
  return cpu_output(b, 0, 1, dt, rank, dim) < 0 ? -1 : 0;
}

/* The op's single output, of x's shape and dtype. */
int cpu_same_out(CpuBuild *b, const CpuSlot *x) { return cpu_one_out(b, x->dtype, x->rank, x->dim); }

/* Binds x and reads the int vector parameter `name` (required, up to
 * MIL_MAX_RANK values): their count, or -1 after reporting. */
int cpu_x_and_ints(CpuBuild *b, CpuStep *s, CpuSlot *x, const char *name, int64_t *v) {
  if (cpu_operand(b, s, 0, "x", true, x) < 0)
    return -1;
  return cpu_param_ints(b, name, v, MIL_MAX_RANK, NULL, 0);
}

/* Normalises the axes raw[0..n) into ax; -1 after reporting one out of
 * range, else the index of the first that repeats an earlier one (n when
 * none does), whose message is the caller's. */
int cpu_norm_axes(CpuBuild *b, const char *what, const int64_t *raw, int n, int rank, int *ax) {
  bool seen[MIL_MAX_RANK] = {0};
  for (int i = 0; i < n; i++) {
    if (cpu_axis(b, what, raw[i], rank, &ax[i]) < 0)
      return -1;
    if (seen[ax[i]])
      return i;
    seen[ax[i]] = true;
  }
  return n;
}

/* The axes operand, normalised and distinct: the count, or CPU_ERR. When
 * it is absent: all axes with all_default, else CPU_ABSENT. */
int cpu_get_axes(CpuBuild *b, const char *name, int rank, int *ax, bool all_default) {
  int64_t raw[MIL_MAX_RANK], all[MIL_MAX_RANK];
  for (int i = 0; i < rank; i++)
    all[i] = i;
  if (!all_default) {
    int si = cpu_input(b, name, false);
    if (si < 0)
      return si;
  }
  int n = cpu_param_ints(b, name, raw, MIL_MAX_RANK, all, rank);
  int dup = n < 0 ? -1 : cpu_norm_axes(b, name, raw, n, rank, ax);
  if (dup < 0)
    return CPU_ERR;
  if (dup < n)
    return cpu_error(b, "axis %d appears twice in '%s'", ax[dup], name), CPU_ERR;
  return n;
}

/* An int vector parameter of exactly n values. */
int cpu_ints_exact(CpuBuild *b, const char *name, int64_t *out, int n, const int64_t *def) {
  int got = cpu_param_ints(b, name, out, n, def, n);
  if (got < 0)
    return -1;
  if (got != n)
    return cpu_error(b, "parameter '%s' has %d values; %d expected", name, got, n);
  return 0;
}

/* Offsets of every position of the dims ds[0..nd) (odometer order, the
 * last one fastest) in a C-order tensor with the given strides. */
void cpu_fill_offsets(int64_t *o, const int *ds, int nd, const int64_t *dim,
                         const int64_t *st) {
  int64_t idx[MIL_MAX_RANK] = {0}, off = 0, total = 1;
  for (int k = 0; k < nd; k++)
    total *= dim[ds[k]];
  for (int64_t t = 0; t < total; t++) {
    o[t] = off;
    for (int k = nd - 1; k >= 0; k--) {
      int d = ds[k];
      off += st[d];
      if (++idx[k] < dim[d])
        break;
      off -= idx[k] * st[d];
      idx[k] = 0;
    }
  }
}

/* tab[0]: offsets of the positions outside the axes (C order);
 * tab[1]: offsets within the axes, in the order the axes are given. */
int cpu_split_offsets(CpuBuild *b, CpuStep *s, const CpuSlot *x, const int *ax, int nax) {
  int64_t st[MIL_MAX_RANK];
  cpu_strides(x->rank, x->dim, st);
  bool in[MIL_MAX_RANK] = {0};
  int rest[MIL_MAX_RANK], nrest = 0;
  int64_t m = 1, n = 1;
  for (int i = 0; i < nax; i++) {
    in[ax[i]] = true;
    n *= x->dim[ax[i]];
  }
  for (int d = 0; d < x->rank; d++)
    if (!in[d]) {
      rest[nrest++] = d;
      m *= x->dim[d];
    }
  if (!(s->tab[0] = cpu_step_alloc(b, m, sizeof(int64_t))) ||
      !(s->tab[1] = cpu_step_alloc(b, n, sizeof(int64_t))))
    return -1;
  s->ntab[0] = m;
  s->ntab[1] = n;
  cpu_fill_offsets(s->tab[0], rest, nrest, x->dim, st);
  cpu_fill_offsets(s->tab[1], ax, nax, x->dim, st);
  return 0;
}

/* Copies a strided view of src (dims and element strides) in C order. */
void cpu_copy_strided(uint32_t *dst, const uint32_t *src, int rank, const int64_t *dim,
                         const int64_t *st) {
  if (rank == 0) {
    dst[0] = src[0];
    return;
  }
  int64_t outer = cpu_prod(dim, 0, rank - 1), last = dim[rank - 1], ls = st[rank - 1];
  if (outer == 0 || last == 0)
    return;
  int64_t idx[MIL_MAX_RANK] = {0};
  const uint32_t *p = src;
  for (int64_t o = 0; o < outer; o++) {
    if (ls == 1)
      memcpy(dst, p, (size_t)last * sizeof *dst);
    else
      for (int64_t i = 0; i < last; i++)
        dst[i] = p[i * ls];
    dst += last;
    for (int k = rank - 2; k >= 0; k--) {
      p += st[k];
      if (++idx[k] < dim[k])
        break;
      p -= idx[k] * st[k];
      idx[k] = 0;
    }
  }
}

/* k[0] rank, k[1..8] dims, k[9..16] source strides, k[17] source offset */
void cpu_run_strided(const CpuPlan *p, const CpuStep *s) {
  cpu_copy_strided((uint32_t *)cpu_data(p, s->out[0]), (const uint32_t *)cpu_data(p, s->in[0]) + s->k[17],
                   (int)s->k[0], &s->k[1], &s->k[9]);
}

void cpu_run_copy(const CpuPlan *p, const CpuStep *s) {
  memcpy(cpu_data(p, s->out[0]), cpu_data(p, s->in[0]), (size_t)cpu_out0(p, s)->n * sizeof(float));
}
