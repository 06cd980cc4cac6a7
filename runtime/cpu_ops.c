/* cpu_ops.c - the cpu backend's ops: for each, a preparer that checks the
 * operands and computes the output type at open(), and a kernel.
 *
 * Kernels compute in fp32; the executor rounds every fp16 output to the
 * nearest fp16 afterwards. GEMM-shaped work (conv through im2col, linear,
 * matmul) goes to cblas_sgemm; the rest are plain loops. Semantics follow
 * FORMATS.md §3 and the quantisation formulas of §3.1. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

/* i over [0, n) in blocks of 16: gcc -O2 vectorises the constant-length
 * inner loop (its cost model refuses loops that need a scalar epilogue). */
#define EACH(n, BODY)                                        \
  do {                                                       \
    int64_t b_ = 0;                                          \
    for (; b_ + 16 <= (n); b_ += 16)                         \
      for (int j_ = 0; j_ < 16; j_++) {                      \
        int64_t i = b_ + j_;                                 \
        BODY;                                                \
      }                                                      \
    for (int64_t i = b_; i < (n); i++) {                     \
      BODY;                                                  \
    }                                                        \
  } while (0)

/* Operand slots are copied out, because creating an inline constant's
 * slot may move the slot array. */
static CpuSlot slot_of(const CpuBuild *b, int i) { return b->plan->slots[i]; }
static float *dat(const CpuPlan *p, int i) { return p->slots[i].data; }
static const CpuSlot *out0(const CpuPlan *p, const CpuStep *s) { return &p->slots[s->out[0]]; }

static bool is_float(MilDtype t) { return t == MIL_FP16 || t == MIL_FP32; }

static int need_float(CpuBuild *b, const CpuSlot *s, const char *what) {
  if (!is_float(s->dtype))
    return cpu_error(b, "operand '%s' is %s; fp16 or fp32 expected", what,
                     mil_dtype_name(s->dtype));
  return 0;
}

static int64_t prod(const int64_t *d, int from, int to) {
  int64_t n = 1;
  for (int i = from; i < to; i++)
    n *= d[i];
  return n;
}

static void c_strides(int rank, const int64_t *dim, int64_t *st) {
  int64_t n = 1;
  for (int i = rank - 1; i >= 0; i--) {
    st[i] = n;
    n *= dim[i];
  }
}

static const char *shape_str(char *buf, size_t n, const CpuSlot *s) {
  return cpu_type_str(buf, n, s->dtype, s->rank, s->dim);
}

/* Binds operand `name` to s->in[k] and copies its slot to *x (zeroed when
 * an optional one is absent); -1 after reporting. Preparers bind all their
 * operands before checking any, and stop at the first that fails. */
static int operand(CpuBuild *b, CpuStep *s, int k, const char *name, bool required, CpuSlot *x) {
  int i = cpu_input(b, name, required);
  if (i == CPU_ERR)
    return -1;
  s->in[k] = i;
  *x = i >= 0 ? slot_of(b, i) : (CpuSlot){0};
  return 0;
}

/* The op's single output. */
static int one_out(CpuBuild *b, MilDtype dt, int rank, const int64_t *dim) {
  return cpu_output(b, 0, 1, dt, rank, dim) < 0 ? -1 : 0;
}

/* The op's single output, of x's shape and dtype. */
static int same_out(CpuBuild *b, const CpuSlot *x) { return one_out(b, x->dtype, x->rank, x->dim); }

/* Binds x and reads the int vector parameter `name` (required, up to
 * MIL_MAX_RANK values): their count, or -1 after reporting. */
static int x_and_ints(CpuBuild *b, CpuStep *s, CpuSlot *x, const char *name, int64_t *v) {
  if (operand(b, s, 0, "x", true, x) < 0)
    return -1;
  return cpu_param_ints(b, name, v, MIL_MAX_RANK, NULL, 0);
}

/* Normalises the axes raw[0..n) into ax; -1 after reporting one out of
 * range, else the index of the first that repeats an earlier one (n when
 * none does), whose message is the caller's. */
static int norm_axes(CpuBuild *b, const char *what, const int64_t *raw, int n, int rank, int *ax) {
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
static int get_axes(CpuBuild *b, const char *name, int rank, int *ax, bool all_default) {
  int64_t raw[MIL_MAX_RANK], all[MIL_MAX_RANK];
  for (int i = 0; i < rank; i++)
    all[i] = i;
  if (!all_default) {
    int si = cpu_input(b, name, false);
    if (si < 0)
      return si;
  }
  int n = cpu_param_ints(b, name, raw, MIL_MAX_RANK, all, rank);
  int dup = n < 0 ? -1 : norm_axes(b, name, raw, n, rank, ax);
  if (dup < 0)
    return CPU_ERR;
  if (dup < n)
    return cpu_error(b, "axis %d appears twice in '%s'", ax[dup], name), CPU_ERR;
  return n;
}

/* An int vector parameter of exactly n values. */
static int ints_exact(CpuBuild *b, const char *name, int64_t *out, int n, const int64_t *def) {
  int got = cpu_param_ints(b, name, out, n, def, n);
  if (got < 0)
    return -1;
  if (got != n)
    return cpu_error(b, "parameter '%s' has %d values; %d expected", name, got, n);
  return 0;
}

/* Offsets of every position of the dims ds[0..nd) (odometer order, the
 * last one fastest) in a C-order tensor with the given strides. */
static void fill_offsets(int64_t *o, const int *ds, int nd, const int64_t *dim,
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
static int split_offsets(CpuBuild *b, CpuStep *s, const CpuSlot *x, const int *ax, int nax) {
  int64_t st[MIL_MAX_RANK];
  c_strides(x->rank, x->dim, st);
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
  fill_offsets(s->tab[0], rest, nrest, x->dim, st);
  fill_offsets(s->tab[1], ax, nax, x->dim, st);
  return 0;
}

/* Copies a strided view of src (dims and element strides) in C order. */
static void copy_strided(float *dst, const float *src, int rank, const int64_t *dim,
                         const int64_t *st) {
  if (rank == 0) {
    dst[0] = src[0];
    return;
  }
  int64_t outer = prod(dim, 0, rank - 1), last = dim[rank - 1], ls = st[rank - 1];
  if (outer == 0 || last == 0)
    return;
  int64_t idx[MIL_MAX_RANK] = {0};
  const float *p = src;
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
static void run_strided(const CpuPlan *p, const CpuStep *s) {
  copy_strided(dat(p, s->out[0]), dat(p, s->in[0]) + s->k[17], (int)s->k[0], &s->k[1], &s->k[9]);
}

static void run_copy(const CpuPlan *p, const CpuStep *s) {
  memcpy(dat(p, s->out[0]), dat(p, s->in[0]), (size_t)out0(p, s)->n * sizeof(float));
}

/* ---- elementwise unary --------------------------------------------------------- */

enum { U_RELU, U_RELU6, U_SIGMOID, U_TANH, U_SILU, U_GELU_EXACT, U_GELU_TANH, U_GELU_SIGMOID,
       U_SQRT, U_RSQRT, U_CLIP, U_IDENTITY };

static int prep_unary(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  if (operand(b, s, 0, "x", true, &x) < 0 || (s->mode != U_IDENTITY && need_float(b, &x, "x") < 0))
    return -1;
  if (s->mode == U_GELU_EXACT) {
    const char *mode;
    if (cpu_param_str(b, "mode", "EXACT", &mode) < 0)
      return -1;
    if (strcmp(mode, "TANH_APPROXIMATION") == 0)
      s->mode = U_GELU_TANH;
    else if (strcmp(mode, "SIGMOID_APPROXIMATION") == 0)
      s->mode = U_GELU_SIGMOID;
    else if (strcmp(mode, "EXACT") != 0)
      return cpu_error(b, "unknown gelu mode \"%s\" (EXACT, TANH_APPROXIMATION or "
                       "SIGMOID_APPROXIMATION)", mode);
  } else if (s->mode == U_CLIP) {
    double lo, hi;
    if (cpu_param_float(b, "alpha", NULL, &lo) < 0 || cpu_param_float(b, "beta", NULL, &hi) < 0)
      return -1;
    if (lo > hi)
      return cpu_error(b, "alpha (%g) is greater than beta (%g)", lo, hi);
    s->f[0] = (float)lo;
    s->f[1] = (float)hi;
  } else if (s->mode == U_RSQRT) {
    double eps, def = 1e-12;
    if (cpu_param_float(b, "epsilon", &def, &eps) < 0)
      return -1;
    s->f[0] = (float)eps;
  }
  return same_out(b, &x);
}

static float sigm(float v) { return 1.0f / (1.0f + expf(-v)); }

static void unary_row(int mode, float *restrict y, const float *restrict x, int64_t n, float lo,
                      float hi) {
  const float k = 0.7978845608028654f;   /* sqrt(2/pi) */
  switch (mode) {
  case U_RELU: EACH(n, y[i] = x[i] > 0 ? x[i] : 0); break;
  case U_RELU6: EACH(n, y[i] = x[i] > 6 ? 6 : x[i] > 0 ? x[i] : 0); break;
  case U_CLIP: EACH(n, y[i] = x[i] > hi ? hi : x[i] < lo ? lo : x[i]); break;
  case U_SIGMOID: for (int64_t i = 0; i < n; i++) y[i] = sigm(x[i]); break;
  case U_TANH: for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]); break;
  case U_SILU: for (int64_t i = 0; i < n; i++) y[i] = x[i] * sigm(x[i]); break;
  case U_GELU_EXACT:
    for (int64_t i = 0; i < n; i++)
      y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.7071067811865476f));
    break;
  case U_GELU_TANH:
    for (int64_t i = 0; i < n; i++)
      y[i] = 0.5f * x[i] * (1.0f + tanhf(k * (x[i] + 0.044715f * x[i] * x[i] * x[i])));
    break;
  case U_GELU_SIGMOID: for (int64_t i = 0; i < n; i++) y[i] = x[i] * sigm(1.702f * x[i]); break;
  case U_SQRT: for (int64_t i = 0; i < n; i++) y[i] = sqrtf(x[i]); break;
  case U_RSQRT: for (int64_t i = 0; i < n; i++) y[i] = 1.0f / sqrtf(x[i] + lo); break;
  default: memcpy(y, x, (size_t)n * sizeof *y); break;
  }
}

static void run_unary(const CpuPlan *p, const CpuStep *s) {
  unary_row(s->mode, dat(p, s->out[0]), dat(p, s->in[0]), out0(p, s)->n, s->f[0], s->f[1]);
}

/* ---- elementwise binary (numpy broadcasting) --------------------------------------
 * The broadcast is collapsed at open(): size-1 dims dropped, neighbours
 * merged when both operands walk them contiguously. k[0] = dims,
 * k[1..8] sizes, k[9..16] x strides, k[17..24] y strides. */

enum { B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_MAX, B_MIN };

static MilDtype promote(MilDtype a, MilDtype b) {
  if (a == b)
    return a;
  if (is_float(a) || is_float(b))
    return a == MIL_FP32 || b == MIL_FP32 ? MIL_FP32 : MIL_FP16;
  return MIL_INT32;
}

static void collapse(CpuStep *s, int rank, const int64_t *dim, const int64_t *xs,
                     const int64_t *ys) {
  int nd = 0;
  int64_t *d = &s->k[1], *a = &s->k[9], *c = &s->k[17];
  for (int i = 0; i < rank; i++) {
    if (dim[i] == 1)
      continue;
    if (nd > 0 && a[nd - 1] == xs[i] * dim[i] && c[nd - 1] == ys[i] * dim[i]) {
      d[nd - 1] *= dim[i];
      a[nd - 1] = xs[i];
      c[nd - 1] = ys[i];
      continue;
    }
    d[nd] = dim[i];
    a[nd] = xs[i];
    c[nd] = ys[i];
    nd++;
  }
  if (nd == 0) {   /* a single element */
    d[0] = 1;
    a[0] = c[0] = 0;
    nd = 1;
  }
  s->k[0] = nd;
}

static int prep_binary(CpuBuild *b, CpuStep *s) {
  CpuSlot x, y;
  if (operand(b, s, 0, "x", true, &x) < 0 || operand(b, s, 1, "y", true, &y) < 0)
    return -1;
  bool need_fl = s->mode == B_DIV || s->mode == B_POW;
  const CpuSlot *ops[2] = {&x, &y};
  for (int i = 0; i < 2; i++) {
    MilDtype t = ops[i]->dtype;
    if (!(is_float(t) || (t == MIL_INT32 && !need_fl)))
      return cpu_error(b, "operand '%s' is %s; %s expected", i ? "y" : "x", mil_dtype_name(t),
                       need_fl ? "fp16 or fp32" : "fp16, fp32 or int32");
  }
  int rank = x.rank > y.rank ? x.rank : y.rank;
  int64_t dim[MIL_MAX_RANK], xs[MIL_MAX_RANK], ys[MIL_MAX_RANK], xst[MIL_MAX_RANK],
      yst[MIL_MAX_RANK];
  c_strides(x.rank, x.dim, xst);
  c_strides(y.rank, y.dim, yst);
  for (int i = 0; i < rank; i++) {
    int ix = i - (rank - x.rank), iy = i - (rank - y.rank);
    int64_t dx = ix >= 0 ? x.dim[ix] : 1, dy = iy >= 0 ? y.dim[iy] : 1;
    if (dx != dy && dx != 1 && dy != 1) {
      char a[128], c[128];
      return cpu_error(b, "cannot broadcast x %s with y %s", shape_str(a, sizeof a, &x),
                       shape_str(c, sizeof c, &y));
    }
    dim[i] = dx == 1 ? dy : dx;
    xs[i] = dx == 1 ? 0 : xst[ix];
    ys[i] = dy == 1 ? 0 : yst[iy];
  }
  collapse(s, rank, dim, xs, ys);
  return one_out(b, promote(x.dtype, y.dtype), rank, dim);
}

/* One row of a (contiguous, contiguous), (contiguous, scalar),
 * (scalar, contiguous) or general strided pair. */
#define ROW(EXPR)                                             \
  do {                                                        \
    if (sx == 1 && sy == 1) {                                 \
      EACH(n, float a = x[i]; float c = y[i]; o[i] = (EXPR)); \
    } else if (sx == 1 && sy == 0) {                          \
      const float c = y[0];                                   \
      EACH(n, float a = x[i]; o[i] = (EXPR));                 \
    } else if (sx == 0 && sy == 1) {                          \
      const float a = x[0];                                   \
      EACH(n, float c = y[i]; o[i] = (EXPR));                 \
    } else {                                                  \
      for (int64_t i = 0; i < n; i++) {                       \
        float a = x[i * sx], c = y[i * sy];                   \
        o[i] = (EXPR);                                        \
      }                                                       \
    }                                                         \
  } while (0)

static void binary_row(int mode, float *restrict o, const float *restrict x, int64_t sx,
                       const float *restrict y, int64_t sy, int64_t n) {
  switch (mode) {
  case B_ADD: ROW(a + c); break;
  case B_SUB: ROW(a - c); break;
  case B_MUL: ROW(a * c); break;
  case B_DIV: ROW(a / c); break;
  case B_POW: ROW(powf(a, c)); break;
  case B_MAX: ROW(a > c || isnan(a) ? a : c); break;
  default: ROW(a < c || isnan(a) ? a : c); break;
  }
}

static void run_binary(const CpuPlan *p, const CpuStep *s) {
  const float *x = dat(p, s->in[0]), *y = dat(p, s->in[1]);
  float *o = dat(p, s->out[0]);
  int nd = (int)s->k[0];
  const int64_t *d = &s->k[1], *xs = &s->k[9], *ys = &s->k[17];
  int64_t n = d[nd - 1], outer = prod(d, 0, nd - 1), idx[MIL_MAX_RANK] = {0};
  for (int64_t t = 0; t < outer; t++, o += n) {
    binary_row(s->mode, o, x, xs[nd - 1], y, ys[nd - 1], n);
    for (int k = nd - 2; k >= 0; k--) {
      x += xs[k];
      y += ys[k];
      if (++idx[k] < d[k])
        break;
      x -= idx[k] * xs[k];
      y -= idx[k] * ys[k];
      idx[k] = 0;
    }
  }
}

/* ---- softmax, layer_norm, reductions ------------------------------------------------ */

static int prep_softmax(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  int64_t axis, def = -1;
  int ax;
  if (operand(b, s, 0, "x", true, &x) < 0 || need_float(b, &x, "x") < 0 ||
      cpu_param_int(b, "axis", &def, &axis) < 0 || cpu_axis(b, "axis", axis, x.rank, &ax) < 0)
    return -1;
  s->k[0] = prod(x.dim, 0, ax);
  s->k[1] = x.dim[ax];
  s->k[2] = prod(x.dim, ax + 1, x.rank);
  return same_out(b, &x);
}

static void run_softmax(const CpuPlan *p, const CpuStep *s) {
  const float *x = dat(p, s->in[0]);
  float *y = dat(p, s->out[0]);
  int64_t outer = s->k[0], n = s->k[1], inner = s->k[2];
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < inner; j++) {
      const float *xr = x + o * n * inner + j;
      float *yr = y + o * n * inner + j;
      float mx = -INFINITY, sum = 0;
      for (int64_t i = 0; i < n; i++)
        mx = fmaxf(mx, xr[i * inner]);
      for (int64_t i = 0; i < n; i++)
        sum += yr[i * inner] = expf(xr[i * inner] - mx);
      float r = 1.0f / sum;
      for (int64_t i = 0; i < n; i++)
        yr[i * inner] *= r;
    }
}

/* gamma and beta have the shape x.shape[axes]. */
static int affine_param(CpuBuild *b, const char *name, const CpuSlot *x, const int *ax, int nax) {
  int si = cpu_input(b, name, false);
  if (si < 0)
    return si == CPU_ABSENT ? CPU_ABSENT : CPU_ERR;
  CpuSlot g = slot_of(b, si);
  bool ok = g.rank == nax;
  for (int i = 0; ok && i < nax; i++)
    ok = g.dim[i] == x->dim[ax[i]];
  if (need_float(b, &g, name) < 0)
    return CPU_ERR;
  if (!ok) {
    char a[128];
    return cpu_error(b, "'%s' is %s; it must have the shape of x along axes", name,
                     shape_str(a, sizeof a, &g)), CPU_ERR;
  }
  return si;
}

static int prep_layer_norm(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  int ax[MIL_MAX_RANK];
  if (operand(b, s, 0, "x", true, &x) < 0)
    return -1;
  int nax = need_float(b, &x, "x") < 0 ? -1 : get_axes(b, "axes", x.rank, ax, true);
  double eps, def = 1e-5;
  if (nax < 0 || cpu_param_float(b, "epsilon", &def, &eps) < 0)
    return -1;
  if ((s->in[1] = affine_param(b, "gamma", &x, ax, nax)) == CPU_ERR ||
      (s->in[2] = affine_param(b, "beta", &x, ax, nax)) == CPU_ERR)
    return -1;
  s->f[0] = (float)eps;
  return split_offsets(b, s, &x, ax, nax) < 0 ? -1 : same_out(b, &x);
}

static void run_layer_norm(const CpuPlan *p, const CpuStep *s) {
  const float *x = dat(p, s->in[0]);
  const float *g = s->in[1] >= 0 ? dat(p, s->in[1]) : NULL;
  const float *be = s->in[2] >= 0 ? dat(p, s->in[2]) : NULL;
  float *y = dat(p, s->out[0]);
  const int64_t *outer = s->tab[0], *in = s->tab[1], n = s->ntab[1];
  for (int64_t o = 0; o < s->ntab[0]; o++) {
    const float *xo = x + outer[o];
    float *yo = y + outer[o];
    float sum = 0, var = 0;
    for (int64_t j = 0; j < n; j++)
      sum += xo[in[j]];
    float mean = sum / (float)n;
    for (int64_t j = 0; j < n; j++) {
      float c = xo[in[j]] - mean;
      var += c * c;
    }
    float rstd = 1.0f / sqrtf(var / (float)n + s->f[0]);
    for (int64_t j = 0; j < n; j++) {
      float v = (xo[in[j]] - mean) * rstd;
      yo[in[j]] = v * (g ? g[j] : 1.0f) + (be ? be[j] : 0.0f);
    }
  }
}

enum { R_SUM, R_MEAN, R_MAX };

static int prep_reduce(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  if (operand(b, s, 0, "x", true, &x) < 0)
    return -1;
  if (!is_float(x.dtype) && !(x.dtype == MIL_INT32 && s->mode != R_MEAN))
    return cpu_error(b, "operand 'x' is %s; fp16 or fp32%s expected", mil_dtype_name(x.dtype),
                     s->mode != R_MEAN ? " or int32" : "");
  int ax[MIL_MAX_RANK];
  bool keep;
  int nax = get_axes(b, "axes", x.rank, ax, true);
  if (nax < 0 || cpu_param_bools(b, "keep_dims", &keep, 1) < 0)
    return -1;
  bool red[MIL_MAX_RANK] = {0};
  for (int i = 0; i < nax; i++)
    red[ax[i]] = true;
  int64_t dim[MIL_MAX_RANK];
  int rank = 0;
  for (int d = 0; d < x.rank; d++)
    if (!red[d] || keep)
      dim[rank++] = red[d] ? 1 : x.dim[d];
  return split_offsets(b, s, &x, ax, nax) < 0 ? -1 : one_out(b, x.dtype, rank, dim);
}

static void run_reduce(const CpuPlan *p, const CpuStep *s) {
  const float *x = dat(p, s->in[0]);
  float *y = dat(p, s->out[0]);
  const int64_t *in = s->tab[1], n = s->ntab[1];
  for (int64_t o = 0; o < s->ntab[0]; o++) {
    const float *xo = x + s->tab[0][o];
    float acc = s->mode == R_MAX ? -INFINITY : 0;
    if (s->mode == R_MAX)
      for (int64_t j = 0; j < n; j++)
        acc = fmaxf(acc, xo[in[j]]);
    else
      for (int64_t j = 0; j < n; j++)
        acc += xo[in[j]];
    y[o] = s->mode == R_MEAN ? acc / (float)n : acc;
  }
}

/* ---- conv ---------------------------------------------------------------------------
 * k: 0 N, 1 Cin, 2 H, 3 W, 4 Cout, 5 Kh, 6 Kw, 7 sh, 8 sw, 9 dh, 10 dw,
 * 11 pad top, 12 pad left, 13 Ho, 14 Wo, 15 groups, 16 how: CONV_*. */

enum {
  CONV_IM2COL,     /* columns in the scratch buffer, then a GEMM per group */
  CONV_DIRECT,     /* 1x1, stride 1, no padding: x is the GEMM's operand */
  CONV_DEPTHWISE,  /* one input channel per group: taps added row by row */
};

/* x, weight and an optional bias (s->in[0..2]); x and weight fp16 or fp32. */
static int weighted(CpuBuild *b, CpuStep *s, CpuSlot *x, CpuSlot *w, CpuSlot *bias) {
  if (operand(b, s, 0, "x", true, x) < 0 || operand(b, s, 1, "weight", true, w) < 0 ||
      operand(b, s, 2, "bias", false, bias) < 0)
    return -1;
  return need_float(b, x, "x") < 0 || need_float(b, w, "weight") < 0 ? -1 : 0;
}

/* The bias, when there is one: fp16 or fp32 of shape [n]. */
static int check_bias(CpuBuild *b, const CpuStep *s, const CpuSlot *bias, int64_t n) {
  if (s->in[2] < 0)
    return 0;
  if (need_float(b, bias, "bias") < 0)
    return -1;
  if (bias->rank != 1 || bias->n != n)
    return cpu_error(b, "bias must have shape [%lld]", (long long)n);
  return 0;
}

static int conv_pads(CpuBuild *b, const char *type, int nsp, const int64_t *in,
                     const int64_t *keff, const int64_t *st, const int64_t *custom,
                     int64_t *pad) {
  for (int i = 0; i < nsp; i++) {
    int64_t *pb = &pad[2 * i], *pa = &pad[2 * i + 1];
    if (strcmp(type, "valid") == 0) {
      *pb = *pa = 0;
    } else if (strcmp(type, "custom") == 0) {
      *pb = custom[2 * i];
      *pa = custom[2 * i + 1];
      if (*pb < 0 || *pa < 0)
        return cpu_error(b, "negative padding %lld, %lld", (long long)*pb, (long long)*pa);
    } else if (strcmp(type, "same") == 0 || strcmp(type, "same_lower") == 0) {
      int64_t out = (in[i] + st[i] - 1) / st[i];
      int64_t total = (out - 1) * st[i] + keff[i] - in[i];
      total = total > 0 ? total : 0;
      bool lower = strcmp(type, "same_lower") == 0;
      *pb = lower ? total - total / 2 : total / 2;
      *pa = total - *pb;
    } else {
      return cpu_error(b, "unknown pad_type \"%s\" (valid, same, same_lower or custom)", type);
    }
  }
  return 0;
}

static int prep_conv(CpuBuild *b, CpuStep *s) {
  CpuSlot x, w, bs;
  if (weighted(b, s, &x, &w, &bs) < 0)
    return -1;
  if (x.rank != 3 && x.rank != 4)
    return cpu_error(b, "x has rank %d; the cpu backend runs 1-d and 2-d convs (rank 3 or 4)",
                     x.rank);
  int nsp = x.rank - 2;
  if (w.rank != x.rank)
    return cpu_error(b, "weight has rank %d; x has rank %d", w.rank, x.rank);
  int64_t ones[2] = {1, 1}, zeros[4] = {0}, strides[2], dil[2], custom[4], groups, one = 1;
  const char *pad_type;
  if (ints_exact(b, "strides", strides, nsp, ones) < 0 ||
      ints_exact(b, "dilations", dil, nsp, ones) < 0 ||
      ints_exact(b, "pad", custom, 2 * nsp, zeros) < 0 ||
      cpu_param_str(b, "pad_type", "valid", &pad_type) < 0 ||
      cpu_param_int(b, "groups", &one, &groups) < 0)
    return -1;
  for (int i = 0; i < nsp; i++)
    if (strides[i] < 1 || dil[i] < 1)
      return cpu_error(b, "strides and dilations must be at least 1");
  int64_t cin = x.dim[1], cout = w.dim[0];
  if (groups < 1 || cin % groups || cout % groups || w.dim[1] != cin / groups)
    return cpu_error(b, "weight [%lld, %lld, ...] does not fit x with %lld channels in %lld "
                     "groups", (long long)w.dim[0], (long long)w.dim[1], (long long)cin,
                     (long long)groups);
  if (check_bias(b, s, &bs, cout) < 0)
    return -1;
  int64_t in[2], k[2], keff[2], pad[4], out[2];
  for (int i = 0; i < nsp; i++) {
    in[i] = x.dim[2 + i];
    k[i] = w.dim[2 + i];
    keff[i] = (k[i] - 1) * dil[i] + 1;
    if (k[i] < 1)
      return cpu_error(b, "weight has an empty kernel dimension");
  }
  if (conv_pads(b, pad_type, nsp, in, keff, strides, custom, pad) < 0)
    return -1;
  for (int i = 0; i < nsp; i++) {
    int64_t span = in[i] + pad[2 * i] + pad[2 * i + 1] - keff[i];
    if (span < 0)
      return cpu_error(b, "the kernel (%lld with dilation %lld) is larger than the padded "
                       "input (%lld)", (long long)k[i], (long long)dil[i],
                       (long long)(in[i] + pad[2 * i] + pad[2 * i + 1]));
    out[i] = span / strides[i] + 1;
  }
  int64_t odim[4] = {x.dim[0], cout, out[0], nsp == 2 ? out[1] : 0};
  bool two = nsp == 2;
  int64_t kv[17] = {x.dim[0], cin, two ? in[0] : 1, two ? in[1] : in[0], cout,
                    two ? k[0] : 1, two ? k[1] : k[0], two ? strides[0] : 1,
                    two ? strides[1] : strides[0], two ? dil[0] : 1, two ? dil[1] : dil[0],
                    two ? pad[0] : 0, two ? pad[2] : pad[0], two ? out[0] : 1,
                    two ? out[1] : out[0], groups, 0};
  memcpy(s->k, kv, sizeof kv);
  bool direct = kv[5] == 1 && kv[6] == 1 && kv[7] == 1 && kv[8] == 1 && kv[11] == 0 &&
                kv[12] == 0 && kv[13] == kv[2] && kv[14] == kv[3];
  s->k[16] = direct ? CONV_DIRECT : cin == groups ? CONV_DEPTHWISE : CONV_IM2COL;
  if (s->k[16] == CONV_IM2COL)
    cpu_scratch(b, cin / groups * kv[5] * kv[6] * kv[13] * kv[14]);
  return one_out(b, x.dtype, x.rank, odim);
}

/* Columns for one group: row (c, kh, kw), column (oh, ow); zeros where
 * the window reads padding. */
static void im2col(float *col, const float *x, const int64_t *k, int64_t cg) {
  int64_t H = k[2], W = k[3], Kh = k[5], Kw = k[6], sh = k[7], sw = k[8], dh = k[9], dw = k[10];
  int64_t pt = k[11], pl = k[12], Ho = k[13], Wo = k[14];
  for (int64_t c = 0; c < cg; c++)
    for (int64_t kh = 0; kh < Kh; kh++)
      for (int64_t kw = 0; kw < Kw; kw++) {
        float *dst = col + ((c * Kh + kh) * Kw + kw) * Ho * Wo;
        const float *xc = x + c * H * W;
        for (int64_t oh = 0; oh < Ho; oh++, dst += Wo) {
          int64_t ih = oh * sh - pt + kh * dh;
          if (ih < 0 || ih >= H) {
            memset(dst, 0, (size_t)Wo * sizeof *dst);
            continue;
          }
          for (int64_t ow = 0; ow < Wo; ow++) {
            int64_t iw = ow * sw - pl + kw * dw;
            dst[ow] = iw >= 0 && iw < W ? xc[ih * W + iw] : 0.0f;
          }
        }
      }
}

static void tap_row(float *restrict y, const float *restrict x, int64_t n, float w) {
  EACH(n, y[i] += w * x[i]);
}

/* One output channel from one input channel: y = b + sum over taps of
 * w[tap] * (x shifted), a row at a time over the outputs whose window
 * reads inside x (the rest read padding, zero). */
static void depthwise(float *y, const float *x, const float *w, float b, const int64_t *k) {
  int64_t H = k[2], W = k[3], Kh = k[5], Kw = k[6], sh = k[7], sw = k[8], dh = k[9], dw = k[10];
  int64_t pt = k[11], pl = k[12], Ho = k[13], Wo = k[14];
  for (int64_t oh = 0; oh < Ho; oh++) {
    float *yr = y + oh * Wo;
    for (int64_t i = 0; i < Wo; i++)
      yr[i] = b;
    for (int64_t kh = 0; kh < Kh; kh++) {
      int64_t ih = oh * sh - pt + kh * dh;
      if (ih < 0 || ih >= H)
        continue;
      const float *xr = x + ih * W;
      for (int64_t kw = 0; kw < Kw; kw++) {
        /* ow reads iw = ow * sw + off, inside [0, W) for ow in [lo, hi] */
        int64_t off = kw * dw - pl, lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
        int64_t hi = W - 1 - off < 0 ? -1 : (W - 1 - off) / sw;
        hi = hi < Wo - 1 ? hi : Wo - 1;
        float wv = w[kh * Kw + kw];
        if (sw == 1 && hi >= lo)
          tap_row(yr + lo, xr + lo + off, hi - lo + 1, wv);
        else
          for (int64_t ow = lo; ow <= hi; ow++)
            yr[ow] += wv * xr[ow * sw + off];
      }
    }
  }
}

static void run_conv(const CpuPlan *p, const CpuStep *s) {
  const int64_t *k = s->k;
  const float *x = dat(p, s->in[0]), *w = dat(p, s->in[1]);
  const float *bias = s->in[2] >= 0 ? dat(p, s->in[2]) : NULL;
  float *y = dat(p, s->out[0]);
  int64_t N = k[0], cin = k[1], HW = k[2] * k[3], cout = k[4], KK = k[5] * k[6];
  int64_t OHW = k[13] * k[14], G = k[15], cg = cin / G, mg = cout / G;
  for (int64_t n = 0; n < N; n++)
    for (int64_t g = 0; g < G; g++) {
      const float *xg = x + (n * cin + g * cg) * HW;
      float *yg = y + (n * cout + g * mg) * OHW;
      if (k[16] == CONV_DEPTHWISE) {
        for (int64_t m = 0; m < mg; m++)
          depthwise(yg + m * OHW, xg, w + (g * mg + m) * KK, bias ? bias[g * mg + m] : 0.0f, k);
        continue;
      }
      const float *col = xg;
      if (k[16] == CONV_IM2COL) {
        im2col(p->scratch, xg, k, cg);
        col = p->scratch;
      }
      for (int64_t m = 0; bias && m < mg; m++) {
        float *restrict row = yg + m * OHW;
        const float v = bias[g * mg + m];
        EACH(OHW, row[i] = v);
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)mg, (int)OHW, (int)(cg * KK),
                  1.0f, w + g * mg * cg * KK, (int)(cg * KK), col, (int)OHW, bias ? 1.0f : 0.0f,
                  yg, (int)OHW);
    }
}

/* ---- linear, matmul --------------------------------------------------------------- */

/* k: 0 rows, 1 Din, 2 Dout */
static int prep_linear(CpuBuild *b, CpuStep *s) {
  CpuSlot x, w, bs;
  if (weighted(b, s, &x, &w, &bs) < 0)
    return -1;
  if (x.rank < 1 || x.rank > 3 || w.rank != 2 || w.dim[1] != x.dim[x.rank - 1]) {
    char a[128], c[128];
    return cpu_error(b, "x %s and weight %s do not fit (x: [*D, Din] of rank 1 to 3, weight: "
                     "[Dout, Din])", shape_str(a, sizeof a, &x), shape_str(c, sizeof c, &w));
  }
  if (check_bias(b, s, &bs, w.dim[0]) < 0)
    return -1;
  s->k[0] = x.n / (x.dim[x.rank - 1] ? x.dim[x.rank - 1] : 1);
  s->k[1] = w.dim[1];
  s->k[2] = w.dim[0];
  int64_t dim[MIL_MAX_RANK];
  memcpy(dim, x.dim, sizeof dim);
  dim[x.rank - 1] = w.dim[0];
  return one_out(b, x.dtype, x.rank, dim);
}

static void run_linear(const CpuPlan *p, const CpuStep *s) {
  const float *x = dat(p, s->in[0]), *w = dat(p, s->in[1]);
  const float *bias = s->in[2] >= 0 ? dat(p, s->in[2]) : NULL;
  float *y = dat(p, s->out[0]);
  int64_t rows = s->k[0], din = s->k[1], dout = s->k[2];
  if (bias)
    for (int64_t r = 0; r < rows; r++)
      memcpy(y + r * dout, bias, (size_t)dout * sizeof *y);
  if (rows && dout)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)dout, (int)din, 1.0f, x,
                (int)din, w, (int)din, bias ? 1.0f : 0.0f, y, (int)dout);
}

/* k: 0 M, 1 N, 2 K, 3 batches, 4 transpose_x, 5 transpose_y, 6 one GEMM for
 * all batches; tab[0], tab[1]: x and y offsets of each batch. */
static int prep_matmul(CpuBuild *b, CpuStep *s) {
  CpuSlot x, y;
  bool tx, ty;
  if (operand(b, s, 0, "x", true, &x) < 0 || operand(b, s, 1, "y", true, &y) < 0 ||
      need_float(b, &x, "x") < 0 || need_float(b, &y, "y") < 0 ||
      cpu_param_bools(b, "transpose_x", &tx, 1) < 0 ||
      cpu_param_bools(b, "transpose_y", &ty, 1) < 0)
    return -1;
  if (x.rank < 1 || y.rank < 1)
    return cpu_error(b, "x and y must have rank 1 or more");
  /* a vector is its own transpose: [K] acts as [1, K] (x) or [K, 1] (y) */
  int64_t xd[MIL_MAX_RANK + 1], yd[MIL_MAX_RANK + 1];
  int xr = x.rank, yr = y.rank;
  memcpy(xd, x.dim, sizeof x.dim);
  memcpy(yd, y.dim, sizeof y.dim);
  if (xr == 1) {
    xd[1] = xd[0];
    xd[0] = 1;
    xr = 2;
    tx = false;
  }
  if (yr == 1) {
    yd[1] = 1;
    yr = 2;
    ty = false;
  }
  int64_t M = tx ? xd[xr - 1] : xd[xr - 2], K = tx ? xd[xr - 2] : xd[xr - 1];
  int64_t K2 = ty ? yd[yr - 1] : yd[yr - 2], N = ty ? yd[yr - 2] : yd[yr - 1];
  if (K != K2) {
    char a[128], c[128];
    return cpu_error(b, "x %s and y %s do not fit: inner dims %lld and %lld",
                     shape_str(a, sizeof a, &x), shape_str(c, sizeof c, &y), (long long)K,
                     (long long)K2);
  }
  int nb = (xr > yr ? xr : yr) - 2;
  int64_t bd[MIL_MAX_RANK], xs[MIL_MAX_RANK], ys[MIL_MAX_RANK];
  for (int i = 0; i < nb; i++) {
    int ix = i - (nb - (xr - 2)), iy = i - (nb - (yr - 2));
    int64_t dx = ix >= 0 ? xd[ix] : 1, dy = iy >= 0 ? yd[iy] : 1;
    if (dx != dy && dx != 1 && dy != 1)
      return cpu_error(b, "batch dims %lld and %lld of x and y do not broadcast",
                       (long long)dx, (long long)dy);
    bd[i] = dx == 1 ? dy : dx;
    xs[i] = dx == 1 ? 0 : prod(xd, ix + 1, xr);
    ys[i] = dy == 1 ? 0 : prod(yd, iy + 1, yr);
  }
  int64_t B = prod(bd, 0, nb);
  if (!(s->tab[0] = cpu_step_alloc(b, B, sizeof(int64_t))) ||
      !(s->tab[1] = cpu_step_alloc(b, B, sizeof(int64_t))))
    return -1;
  int ax[MIL_MAX_RANK];
  for (int i = 0; i < nb; i++)
    ax[i] = i;
  fill_offsets(s->tab[0], ax, nb, bd, xs);
  fill_offsets(s->tab[1], ax, nb, bd, ys);
  s->ntab[0] = s->ntab[1] = B;
  bool merged = !tx && B > 1;
  for (int64_t i = 0; merged && i < B; i++)
    merged = s->tab[1][i] == 0 && s->tab[0][i] == i * M * K;
  int64_t kv[7] = {M, N, K, B, tx, ty, merged};
  memcpy(s->k, kv, sizeof kv);
  int64_t od[MIL_MAX_RANK + 2];
  int r = 0;
  for (int i = 0; i < nb; i++)
    od[r++] = bd[i];
  if (x.rank > 1)
    od[r++] = M;
  if (y.rank > 1)
    od[r++] = N;
  if (r > MIL_MAX_RANK)
    return cpu_error(b, "the result would have rank %d", r);
  /* iOS17: with one operand constant, the other decides the dtype */
  MilDtype dt = x.dtype != y.dtype && x.isconst ? y.dtype : x.dtype;
  return one_out(b, dt, r, od);
}

static void run_matmul(const CpuPlan *p, const CpuStep *s) {
  const float *x = dat(p, s->in[0]), *y = dat(p, s->in[1]);
  float *o = dat(p, s->out[0]);
  int64_t M = s->k[0], N = s->k[1], K = s->k[2], B = s->k[3];
  enum CBLAS_TRANSPOSE ta = s->k[4] ? CblasTrans : CblasNoTrans;
  enum CBLAS_TRANSPOSE tb = s->k[5] ? CblasTrans : CblasNoTrans;
  int lda = (int)(s->k[4] ? M : K), ldb = (int)(s->k[5] ? K : N);
  if (M == 0 || N == 0)
    return;
  if (K == 0) {
    memset(o, 0, (size_t)(B * M * N) * sizeof *o);
    return;
  }
  if (s->k[6]) {   /* y shared by every batch, x batches contiguous: one GEMM */
    cblas_sgemm(CblasRowMajor, ta, tb, (int)(B * M), (int)N, (int)K, 1.0f, x, lda, y, ldb, 0.0f,
                o, (int)N);
    return;
  }
  for (int64_t i = 0; i < B; i++)
    cblas_sgemm(CblasRowMajor, ta, tb, (int)M, (int)N, (int)K, 1.0f, x + s->tab[0][i], lda,
                y + s->tab[1][i], ldb, 0.0f, o + i * M * N, (int)N);
}

/* ---- shape ops ------------------------------------------------------------------------ */

static int prep_reshape(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  int64_t sh[MIL_MAX_RANK];
  int k = x_and_ints(b, s, &x, "shape", sh);
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
  return one_out(b, x.dtype, k, sh);
}

static int prep_transpose(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  int64_t perm[MIL_MAX_RANK], st[MIL_MAX_RANK], dim[MIL_MAX_RANK];
  int n = x_and_ints(b, s, &x, "perm", perm), ax[MIL_MAX_RANK];
  if (n < 0)
    return -1;
  if (n != x.rank)
    return cpu_error(b, "perm has %d entries; x has rank %d", n, x.rank);
  int dup = norm_axes(b, "perm entry", perm, n, n, ax);
  if (dup < 0)
    return -1;
  if (dup < n)
    return cpu_error(b, "perm is not a permutation: %d appears twice", ax[dup]);
  c_strides(x.rank, x.dim, st);
  s->k[0] = n;
  for (int i = 0; i < n; i++) {
    dim[i] = s->k[1 + i] = x.dim[ax[i]];
    s->k[9 + i] = st[ax[i]];
  }
  s->k[17] = 0;
  return one_out(b, x.dtype, n, dim);
}

static int prep_slice(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  if (operand(b, s, 0, "x", true, &x) < 0)
    return -1;
  int r = x.rank;
  int64_t beg[MIL_MAX_RANK], end[MIL_MAX_RANK], str[MIL_MAX_RANK], ones[MIL_MAX_RANK], st[MIL_MAX_RANK];
  bool bm[MIL_MAX_RANK], em[MIL_MAX_RANK], sm[MIL_MAX_RANK];
  for (int i = 0; i < MIL_MAX_RANK; i++)
    ones[i] = 1;
  if (ints_exact(b, "begin", beg, r, NULL) < 0 || ints_exact(b, "end", end, r, NULL) < 0 ||
      ints_exact(b, "stride", str, r, ones) < 0 || cpu_param_bools(b, "begin_mask", bm, r) < 0 ||
      cpu_param_bools(b, "end_mask", em, r) < 0 || cpu_param_bools(b, "squeeze_mask", sm, r) < 0)
    return -1;
  c_strides(r, x.dim, st);
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
  return one_out(b, x.dtype, n, dim);
}

static int prep_expand_dims(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  int64_t axes[MIL_MAX_RANK];
  int k = x_and_ints(b, s, &x, "axes", axes), ax[MIL_MAX_RANK];
  if (k < 0)
    return -1;
  int r = x.rank + k;
  if (r > MIL_MAX_RANK)
    return cpu_error(b, "the result would have rank %d (at most %d)", r, MIL_MAX_RANK);
  int dup = norm_axes(b, "axis", axes, k, r, ax);
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
  return one_out(b, x.dtype, r, dim);
}

static int prep_squeeze(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  int ax[MIL_MAX_RANK];
  bool sq[MIL_MAX_RANK] = {0};
  int k = operand(b, s, 0, "x", true, &x) < 0 ? CPU_ERR : get_axes(b, "axes", x.rank, ax, false);
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
  return one_out(b, x.dtype, r, dim);
}

/* k: 0 outer, 1 inner, 2 interleave, 3 sum of the axis sizes; tab[0]: the
 * axis size of each piece. Shared by concat (pieces in) and split (out). */
static int pieces(CpuBuild *b, CpuStep *s, const CpuSlot *ref, int ax, int n) {
  s->k[0] = prod(ref->dim, 0, ax);
  s->k[1] = prod(ref->dim, ax + 1, ref->rank);
  s->ntab[0] = n;
  return (s->tab[0] = cpu_step_alloc(b, n, sizeof(int64_t))) ? 0 : -1;
}

static int prep_concat(CpuBuild *b, CpuStep *s) {
  int n = cpu_input_list(b, "values", &s->list);
  if (n < 0)
    return -1;
  s->nlist = n;
  CpuSlot x0 = slot_of(b, s->list[0]);
  int64_t axis;
  int ax;
  bool inter;
  if (cpu_param_int(b, "axis", NULL, &axis) < 0 || cpu_axis(b, "axis", axis, x0.rank, &ax) < 0 ||
      cpu_param_bools(b, "interleave", &inter, 1) < 0 || pieces(b, s, &x0, ax, n) < 0)
    return -1;
  int64_t dim[MIL_MAX_RANK], sum = 0;
  memcpy(dim, x0.dim, sizeof dim);
  for (int i = 0; i < n; i++) {
    CpuSlot xi = slot_of(b, s->list[i]);
    bool ok = xi.rank == x0.rank && xi.dtype == x0.dtype;
    for (int d = 0; ok && d < x0.rank; d++)
      ok = xi.dim[d] == x0.dim[d] || (d == ax && !inter);
    if (!ok) {
      char a[128], c[128];
      return cpu_error(b, "value %d is %s; value 0 is %s (%s)", i, shape_str(a, sizeof a, &xi),
                       shape_str(c, sizeof c, &x0),
                       inter ? "interleave needs equal shapes" : "only the axis may differ");
    }
    s->tab[0][i] = xi.dim[ax];
    sum += xi.dim[ax];
  }
  dim[ax] = sum;
  s->k[2] = inter;
  s->k[3] = sum;
  return one_out(b, x0.dtype, x0.rank, dim);
}

static void run_concat(const CpuPlan *p, const CpuStep *s) {
  float *y = dat(p, s->out[0]);
  int64_t outer = s->k[0], inner = s->k[1], total = s->k[3], n = s->nlist;
  for (int64_t o = 0; o < outer; o++) {
    int64_t off = 0;
    for (int64_t j = 0; j < n; j++) {
      int64_t a = s->tab[0][j];
      const float *x = dat(p, s->list[j]) + o * a * inner;
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
  if (operand(b, s, 0, "x", true, &x) < 0 || cpu_param_int(b, "axis", NULL, &axis) < 0 ||
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
  const float *x = dat(p, s->in[0]);
  int64_t outer = s->k[0], inner = s->k[1], total = s->k[3];
  for (int64_t o = 0; o < outer; o++) {
    int64_t off = 0;
    for (int j = 0; j < s->nout; j++) {
      int64_t a = s->tab[0][j];
      memcpy(dat(p, s->out[j]) + o * a * inner, x + (o * total + off) * inner,
             (size_t)(a * inner) * sizeof *x);
      off += a;
    }
  }
}

/* ---- quantisation (FORMATS.md §3.1) --------------------------------------------------
 * k: 0 outer, 1 channels (1: per tensor), 2 inner, 3 lo, 4 hi;
 * in: 0 data, 1 scale, 2 zero point (or absent). */

/* scale (and zero_point, same shape) are one value, or one per x.shape[axis]. */
static int per_axis(CpuBuild *b, CpuStep *s, const CpuSlot *x, const CpuSlot *sc,
                    const CpuSlot *z, bool axis_required) {
  int64_t axis, none = INT64_MIN;
  if (cpu_need_const(b, s->in[1], "scale") < 0 || need_float(b, sc, "scale") < 0 ||
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
  s->k[0] = prod(x->dim, 0, ax);
  s->k[1] = x->dim[ax];
  s->k[2] = prod(x->dim, ax + 1, x->rank);
  return 0;
}

static int prep_quantize(CpuBuild *b, CpuStep *s) {
  CpuSlot x, sc, z;
  const char *odt;
  if (operand(b, s, 0, "input", true, &x) < 0 || operand(b, s, 1, "scale", true, &sc) < 0 ||
      operand(b, s, 2, "zero_point", false, &z) < 0 || need_float(b, &x, "input") < 0 ||
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
  return one_out(b, dt, x.rank, x.dim);
}

/* q = clip(round_half_even(x / scale) + zero_point, lo, hi), the quotient
 * in fp32. Quotients beyond the range are first clamped to just outside
 * it (the final clip gives the same), so adding and removing 1.5 * 2^23
 * rounds them to an integer, half to even, in one IEEE addition; this
 * vectorises where rintf needs SSE4.1. NaN gives 0. */
static void quant_row(float *restrict y, const float *restrict x, int64_t n, float d, float z,
                      float lo, float hi) {
  const float lo2 = lo - z - 1, hi2 = hi - z + 1, magic = 0x1.8p23f;
  EACH(n, float t = x[i] / d; t = t < lo2 ? lo2 : t > hi2 ? hi2 : t;
       t = (t + magic) - magic + z; t = t < lo ? lo : t > hi ? hi : t; y[i] = t == t ? t : 0);
}

static int prep_dequantize(CpuBuild *b, CpuStep *s) {
  bool cx = s->mode == 1;   /* constexpr_affine_dequantize */
  const char *dname = cx ? "quantized_data" : "input";
  CpuSlot x, sc, z;
  if (operand(b, s, 0, dname, true, &x) < 0 || operand(b, s, 1, "scale", true, &sc) < 0 ||
      operand(b, s, 2, "zero_point", cx, &z) < 0)
    return -1;
  if (x.dtype != MIL_INT8 && x.dtype != MIL_UINT8)
    return cpu_error(b, "'%s' is %s; int8 or uint8 expected", dname, mil_dtype_name(x.dtype));
  if (s->in[2] >= 0 && z.dtype != x.dtype && !(cx && z.dtype == MIL_FP32))
    return cpu_error(b, "zero_point is %s; %s is %s", mil_dtype_name(z.dtype), dname,
                     mil_dtype_name(x.dtype));
  if (per_axis(b, s, &x, &sc, &z, cx) < 0)
    return -1;
  return one_out(b, sc.dtype, x.rank, x.dim);
}

/* y = scale * (q - zero_point), in fp32; rounded to scale's dtype after. */
static void dequant_row(float *restrict y, const float *restrict x, int64_t n, float d, float z) {
  EACH(n, y[i] = d * (x[i] - z));
}

/* Each (outer, channel) row with its channel's scale and zero point. */
static void run_affine(const CpuPlan *p, const CpuStep *s, bool quant) {
  const float *x = dat(p, s->in[0]), *sc = dat(p, s->in[1]);
  const float *zp = s->in[2] >= 0 ? dat(p, s->in[2]) : NULL;
  float *y = dat(p, s->out[0]);
  int64_t outer = s->k[0], C = s->k[1], inner = s->k[2];
  for (int64_t o = 0; o < outer; o++)
    for (int64_t c = 0; c < C; c++) {
      int64_t at = (o * C + c) * inner;
      float z = zp ? zp[c] : 0.0f;
      if (quant)
        quant_row(y + at, x + at, inner, sc[c], z, (float)s->k[3], (float)s->k[4]);
      else
        dequant_row(y + at, x + at, inner, sc[c], z);
    }
}

static void run_quantize(const CpuPlan *p, const CpuStep *s) { run_affine(p, s, true); }
static void run_dequantize(const CpuPlan *p, const CpuStep *s) { run_affine(p, s, false); }

static int prep_cast(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  const char *name;
  if (operand(b, s, 0, "x", true, &x) < 0 || cpu_param_str(b, "dtype", NULL, &name) < 0)
    return -1;
  static const char *const ok[] = {"fp16", "fp32", "int32", "int16", "uint16", "int8", "uint8",
                                   "bool"};
  MilDtype dt = MIL_NDTYPES;
  for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
    if (strcmp(name, ok[i]) == 0)
      mil_dtype_lookup(name, strlen(name), &dt);
  if (dt == MIL_NDTYPES)
    return cpu_error(b, "cannot cast to \"%s\" (fp16, fp32, int32, int16, uint16, int8, uint8 "
                     "or bool)", name);
  s->mode = dt;
  double lo = 0, hi = 0;
  if (!is_float(dt))
    cpu_int_range(dt, &lo, &hi);
  s->f[0] = (float)lo;
  s->f[1] = (float)hi;
  return one_out(b, dt, x.rank, x.dim);
}

/* Float to int truncates toward zero like coremltools' reference (numpy
 * astype) and saturates; the device's behaviour is not documented. */
static void run_cast(const CpuPlan *p, const CpuStep *s) {
  const float *x = dat(p, s->in[0]);
  float *y = dat(p, s->out[0]);
  int64_t n = out0(p, s)->n;
  MilDtype dt = (MilDtype)s->mode;
  if (is_float(dt))
    memcpy(y, x, (size_t)n * sizeof *y);
  else if (dt == MIL_BOOL)
    for (int64_t i = 0; i < n; i++)
      y[i] = x[i] != 0;
  else
    for (int64_t i = 0; i < n; i++)
      y[i] = isnan(x[i]) ? 0 : fminf(fmaxf(truncf(x[i]), s->f[0]), s->f[1]);
}

/* ---- constexpr ops ------------------------------------------------------------------ */

/* out[i] = scale[i / block] * (data[i] - offset[i / block]) per dim. */
static int prep_blockwise(CpuBuild *b, CpuStep *s) {
  CpuSlot d, sc, o;
  if (operand(b, s, 0, "data", true, &d) < 0 || operand(b, s, 1, "scale", true, &sc) < 0 ||
      operand(b, s, 2, "offset", false, &o) < 0 || need_float(b, &sc, "scale") < 0)
    return -1;
  if (d.rank < 1 || sc.rank != d.rank)
    return cpu_error(b, "scale has rank %d; data has rank %d (at least 1)", sc.rank, d.rank);
  for (int i = 0; i < d.rank; i++)
    if (sc.dim[i] < 1 || d.dim[i] % sc.dim[i])
      return cpu_error(b, "scale's dim %d (%lld) does not divide data's (%lld)", i,
                       (long long)sc.dim[i], (long long)d.dim[i]);
  if (s->in[2] >= 0) {
    bool ok = o.rank == sc.rank;
    for (int i = 0; ok && i < o.rank; i++)
      ok = o.dim[i] == sc.dim[i];
    if (!ok)
      return cpu_error(b, "offset must have the shape of scale");
  }
  return one_out(b, sc.dtype, d.rank, d.dim);
}

static void run_blockwise(const CpuPlan *p, const CpuStep *s) {
  const CpuSlot *d = &p->slots[s->in[0]], *sc = &p->slots[s->in[1]];
  const float *off = s->in[2] >= 0 ? dat(p, s->in[2]) : NULL;
  float *y = dat(p, s->out[0]);
  int r = d->rank;
  int64_t blk[MIL_MAX_RANK], sst[MIL_MAX_RANK], idx[MIL_MAX_RANK] = {0};
  c_strides(r, sc->dim, sst);
  for (int i = 0; i < r; i++)
    blk[i] = d->dim[i] / sc->dim[i];
  for (int64_t i = 0; i < d->n; i++) {
    int64_t j = 0;
    for (int k = 0; k < r; k++)
      j += idx[k] / blk[k] * sst[k];
    /* the reference works in scale's dtype: the difference is rounded too */
    float t = d->data[i] - (off ? off[j] : 0.0f);
    if (sc->dtype == MIL_FP16)
      cpu_round_fp16(&t, 1);
    y[i] = sc->data[j] * t;
    for (int k = r - 1; k >= 0 && ++idx[k] == d->dim[k]; k--)
      idx[k] = 0;
  }
}

/* iOS16 form (indices: packed bytes, shape given) when 'shape' is there;
 * iOS18 form (indices with the output's shape, per-block LUTs, vectors)
 * otherwise. k: 0 form, 1 bits, 2 vector axis, 3 vector size. */
static int prep_lut(CpuBuild *b, CpuStep *s) {
  CpuSlot ind, lut;
  if (operand(b, s, 0, "indices", true, &ind) < 0 || operand(b, s, 1, "lut", true, &lut) < 0)
    return -1;
  int shi = cpu_input(b, "shape", false);
  if (shi == CPU_ERR)
    return -1;
  MilDtype dt = lut.dtype;
  if (!is_float(dt) && dt != MIL_INT8 && dt != MIL_UINT8)
    return cpu_error(b, "lut is %s; fp16, fp32, int8 or uint8 expected", mil_dtype_name(dt));
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
    int64_t n = prod(shape, 0, r);
    if (n < 0 || n > CPU_MAX_ELEMS || ind.n != (n * bits + 7) / 8)
      return cpu_error(b, "indices has %lld bytes; %lld %d-bit indices need %lld",
                       (long long)ind.n, (long long)n, bits, (long long)((n * bits + 7) / 8));
    s->k[0] = 16;
    s->k[1] = bits;
    return one_out(b, dt, r, shape);
  }
  int r = ind.rank, bits = mil_dtype_bits(ind.dtype);
  if (mil_dtype_is_signed(ind.dtype) || !mil_dtype_is_int(ind.dtype) || bits > 8 || r < 1 ||
      lut.rank != r + 2 || lut.dim[r] != (1 << bits))
    return cpu_error(b, "expected indices of uint1..uint8 and a lut [groups..., 2^bits, "
                     "vector size] of rank rank(indices) + 2");
  for (int i = 0; i < r; i++)
    if (lut.dim[i] < 1 || ind.dim[i] % lut.dim[i])
      return cpu_error(b, "lut's dim %d (%lld) does not divide indices' (%lld)", i,
                       (long long)lut.dim[i], (long long)ind.dim[i]);
  int64_t vs = lut.dim[r + 1], va = 0, none = INT64_MIN;
  int ax = 0;
  if (cpu_param_int(b, "vector_axis", &none, &va) < 0)
    return -1;
  if (vs > 1 && va == INT64_MIN)
    return cpu_error(b, "the lut holds vectors of %lld; 'vector_axis' is required",
                     (long long)vs);
  if (va != INT64_MIN && cpu_axis(b, "vector_axis", va, r, &ax) < 0)
    return -1;
  int64_t dim[MIL_MAX_RANK];
  memcpy(dim, ind.dim, sizeof dim);
  dim[ax] *= vs;
  s->k[0] = 18;
  s->k[1] = bits;
  s->k[2] = ax;
  s->k[3] = vs;
  return one_out(b, dt, r, dim);
}

static void run_lut(const CpuPlan *p, const CpuStep *s) {
  const CpuSlot *ind = &p->slots[s->in[0]], *lut = &p->slots[s->in[1]], *o = out0(p, s);
  float *y = o->data;
  int bits = (int)s->k[1];
  if (s->k[0] == 16) {
    for (int64_t i = 0; i < o->n; i++) {
      int64_t bit = i * bits;
      unsigned w = (unsigned)ind->data[bit / 8];
      if (bit % 8 + bits > 8)
        w |= (unsigned)ind->data[bit / 8 + 1] << 8;
      y[i] = lut->data[(w >> (bit % 8)) & ((1u << bits) - 1)];
    }
    return;
  }
  int r = ind->rank, ax = (int)s->k[2];
  int64_t vs = s->k[3], np = (int64_t)1 << bits, idx[MIL_MAX_RANK] = {0};
  int64_t ist[MIL_MAX_RANK], gst[MIL_MAX_RANK];
  c_strides(r, ind->dim, ist);
  c_strides(r, lut->dim, gst);   /* over lut's first r dims: the table's index */
  for (int64_t i = 0; i < o->n; i++) {
    int64_t at = 0, g = 0;
    for (int k = 0; k < r; k++) {
      int64_t q = k == ax ? idx[k] / vs : idx[k];
      at += q * ist[k];
      g += q / (ind->dim[k] / lut->dim[k]) * gst[k];
    }
    int64_t v = (int64_t)ind->data[at];
    y[i] = lut->data[(g * np + v) * vs + idx[ax] % vs];
    for (int k = r - 1; k >= 0 && ++idx[k] == o->dim[k]; k--)
      idx[k] = 0;
  }
}

/* ---- the table ------------------------------------------------------------------------ */

static const CpuOpDef ops[] = {
  {"add", prep_binary, run_binary, B_ADD, false},
  {"cast", prep_cast, run_cast, 0, false},
  {"clip", prep_unary, run_unary, U_CLIP, false},
  {"concat", prep_concat, run_concat, 0, false},
  {"constexpr_affine_dequantize", prep_dequantize, run_dequantize, 1, true},
  {"constexpr_blockwise_shift_scale", prep_blockwise, run_blockwise, 0, true},
  {"constexpr_lut_to_dense", prep_lut, run_lut, 0, true},
  {"conv", prep_conv, run_conv, 0, false},
  {"dequantize", prep_dequantize, run_dequantize, 0, false},
  {"expand_dims", prep_expand_dims, run_copy, 0, false},
  {"gelu", prep_unary, run_unary, U_GELU_EXACT, false},
  {"identity", prep_unary, run_unary, U_IDENTITY, false},
  {"layer_norm", prep_layer_norm, run_layer_norm, 0, false},
  {"linear", prep_linear, run_linear, 0, false},
  {"matmul", prep_matmul, run_matmul, 0, false},
  {"maximum", prep_binary, run_binary, B_MAX, false},
  {"minimum", prep_binary, run_binary, B_MIN, false},
  {"mul", prep_binary, run_binary, B_MUL, false},
  {"pow", prep_binary, run_binary, B_POW, false},
  {"quantize", prep_quantize, run_quantize, 0, false},
  {"real_div", prep_binary, run_binary, B_DIV, false},
  {"reduce_max", prep_reduce, run_reduce, R_MAX, false},
  {"reduce_mean", prep_reduce, run_reduce, R_MEAN, false},
  {"reduce_sum", prep_reduce, run_reduce, R_SUM, false},
  {"relu", prep_unary, run_unary, U_RELU, false},
  {"relu6", prep_unary, run_unary, U_RELU6, false},
  {"reshape", prep_reshape, run_copy, 0, false},
  {"rsqrt", prep_unary, run_unary, U_RSQRT, false},
  {"sigmoid", prep_unary, run_unary, U_SIGMOID, false},
  {"silu", prep_unary, run_unary, U_SILU, false},
  {"slice_by_index", prep_slice, run_strided, 0, false},
  {"softmax", prep_softmax, run_softmax, 0, false},
  {"split", prep_split, run_split, 0, false},
  {"sqrt", prep_unary, run_unary, U_SQRT, false},
  {"squeeze", prep_squeeze, run_copy, 0, false},
  {"sub", prep_binary, run_binary, B_SUB, false},
  {"tanh", prep_unary, run_unary, U_TANH, false},
  {"transpose", prep_transpose, run_strided, 0, false},
};

static int cmp_op(const void *key, const void *elem) {
  return strcmp(key, ((const CpuOpDef *)elem)->name);
}

const CpuOpDef *cpu_op_find(const char *name) {
  return bsearch(name, ops, sizeof ops / sizeof *ops, sizeof *ops, cmp_op);
}
