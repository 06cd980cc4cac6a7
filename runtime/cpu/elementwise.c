/* elementwise.c - the cpu backend's elementwise ops: activations and other
 * unary functions, binary arithmetic with numpy broadcasting, cast. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

/* ---- elementwise unary --------------------------------------------------------- */

enum { U_RELU, U_RELU6, U_SIGMOID, U_TANH, U_SILU, U_GELU_EXACT, U_GELU_TANH, U_GELU_SIGMOID,
       U_SQRT, U_RSQRT, U_CLIP, U_IDENTITY };

static int prep_unary(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 || (s->mode != U_IDENTITY && cpu_need_float(b, &x, "x") < 0))
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
  return cpu_same_out(b, &x);
}

static float sigm(float v) { return 1.0f / (1.0f + expf(-v)); }

static void unary_row(int mode, float *restrict y, const float *restrict x, int64_t n, float lo,
                      float hi) {
  const float k = 0.7978845608028654f;   /* sqrt(2/pi) */
  switch (mode) {
  case U_RELU: CPU_EACH(n, y[i] = x[i] > 0 ? x[i] : 0); break;
  case U_RELU6: CPU_EACH(n, y[i] = x[i] > 6 ? 6 : x[i] > 0 ? x[i] : 0); break;
  case U_CLIP: CPU_EACH(n, y[i] = x[i] > hi ? hi : x[i] < lo ? lo : x[i]); break;
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
  unary_row(s->mode, cpu_data(p, s->out[0]), cpu_data(p, s->in[0]), cpu_out0(p, s)->n, s->f[0], s->f[1]);
}

/* ---- elementwise binary (numpy broadcasting) --------------------------------------
 * The broadcast is collapsed at open(): size-1 dims dropped, neighbours
 * merged when both operands walk them contiguously. k[0] = dims,
 * k[1..8] sizes, k[9..16] x strides, k[17..24] y strides. */

enum { B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_MAX, B_MIN };

static MilDtype promote(MilDtype a, MilDtype b) {
  if (a == b)
    return a;
  if (cpu_is_float(a) || cpu_is_float(b))
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
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 || cpu_operand(b, s, 1, "y", true, &y) < 0)
    return -1;
  bool need_fl = s->mode == B_DIV || s->mode == B_POW;
  const CpuSlot *ops[2] = {&x, &y};
  for (int i = 0; i < 2; i++) {
    MilDtype t = ops[i]->dtype;
    if (!(cpu_is_float(t) || (t == MIL_INT32 && !need_fl)))
      return cpu_error(b, "operand '%s' is %s; %s expected", i ? "y" : "x", mil_dtype_name(t),
                       need_fl ? "fp16 or fp32" : "fp16, fp32 or int32");
  }
  int rank = x.rank > y.rank ? x.rank : y.rank;
  int64_t dim[MIL_MAX_RANK], xs[MIL_MAX_RANK], ys[MIL_MAX_RANK], xst[MIL_MAX_RANK],
      yst[MIL_MAX_RANK];
  cpu_strides(x.rank, x.dim, xst);
  cpu_strides(y.rank, y.dim, yst);
  for (int i = 0; i < rank; i++) {
    int ix = i - (rank - x.rank), iy = i - (rank - y.rank);
    int64_t dx = ix >= 0 ? x.dim[ix] : 1, dy = iy >= 0 ? y.dim[iy] : 1;
    if (dx != dy && dx != 1 && dy != 1) {
      char a[128], c[128];
      return cpu_error(b, "cannot broadcast x %s with y %s", cpu_shape_str(a, sizeof a, &x),
                       cpu_shape_str(c, sizeof c, &y));
    }
    dim[i] = dx == 1 ? dy : dx;
    xs[i] = dx == 1 ? 0 : xst[ix];
    ys[i] = dy == 1 ? 0 : yst[iy];
  }
  collapse(s, rank, dim, xs, ys);
  return cpu_one_out(b, promote(x.dtype, y.dtype), rank, dim);
}

/* One row of a (contiguous, contiguous), (contiguous, scalar),
 * (scalar, contiguous) or general strided pair. */
#define ROW(EXPR)                                             \
  do {                                                        \
    if (sx == 1 && sy == 1) {                                 \
      CPU_EACH(n, float a = x[i]; float c = y[i]; o[i] = (EXPR)); \
    } else if (sx == 1 && sy == 0) {                          \
      const float c = y[0];                                   \
      CPU_EACH(n, float a = x[i]; o[i] = (EXPR));                 \
    } else if (sx == 0 && sy == 1) {                          \
      const float a = x[0];                                   \
      CPU_EACH(n, float c = y[i]; o[i] = (EXPR));                 \
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
  const float *x = cpu_data(p, s->in[0]), *y = cpu_data(p, s->in[1]);
  float *o = cpu_data(p, s->out[0]);
  int nd = (int)s->k[0];
  const int64_t *d = &s->k[1], *xs = &s->k[9], *ys = &s->k[17];
  int64_t n = d[nd - 1], outer = cpu_prod(d, 0, nd - 1), idx[MIL_MAX_RANK] = {0};
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

static int prep_cast(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  const char *name;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 || cpu_param_str(b, "dtype", NULL, &name) < 0)
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
  if (!cpu_is_float(dt))
    cpu_int_range(dt, &lo, &hi);
  s->f[0] = (float)lo;
  s->f[1] = (float)hi;
  return cpu_one_out(b, dt, x.rank, x.dim);
}

/* Float to int truncates toward zero like coremltools' reference (numpy
 * astype) and saturates; the device's behaviour is not documented. */
static void run_cast(const CpuPlan *p, const CpuStep *s) {
  const float *x = cpu_data(p, s->in[0]);
  float *y = cpu_data(p, s->out[0]);
  int64_t n = cpu_out0(p, s)->n;
  MilDtype dt = (MilDtype)s->mode;
  if (cpu_is_float(dt))
    memcpy(y, x, (size_t)n * sizeof *y);
  else if (dt == MIL_BOOL)
    for (int64_t i = 0; i < n; i++)
      y[i] = x[i] != 0;
  else
    for (int64_t i = 0; i < n; i++)
      y[i] = isnan(x[i]) ? 0 : fminf(fmaxf(truncf(x[i]), s->f[0]), s->f[1]);
}

const CpuOpDef cpu_ops_elementwise[] = {
  {"add", prep_binary, run_binary, B_ADD, false},
  {"cast", prep_cast, run_cast, 0, false},
  {"clip", prep_unary, run_unary, U_CLIP, false},
  {"gelu", prep_unary, run_unary, U_GELU_EXACT, false},
  {"identity", prep_unary, run_unary, U_IDENTITY, false},
  {"maximum", prep_binary, run_binary, B_MAX, false},
  {"minimum", prep_binary, run_binary, B_MIN, false},
  {"mul", prep_binary, run_binary, B_MUL, false},
  {"pow", prep_binary, run_binary, B_POW, false},
  {"real_div", prep_binary, run_binary, B_DIV, false},
  {"relu", prep_unary, run_unary, U_RELU, false},
  {"relu6", prep_unary, run_unary, U_RELU6, false},
  {"rsqrt", prep_unary, run_unary, U_RSQRT, false},
  {"sigmoid", prep_unary, run_unary, U_SIGMOID, false},
  {"silu", prep_unary, run_unary, U_SILU, false},
  {"sqrt", prep_unary, run_unary, U_SQRT, false},
  {"sub", prep_binary, run_binary, B_SUB, false},
  {"tanh", prep_unary, run_unary, U_TANH, false},
  {NULL, NULL, NULL, 0, false},
};
