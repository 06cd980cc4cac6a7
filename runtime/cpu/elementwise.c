/* elementwise.c - the cpu backend's elementwise ops: activations and other
 * unary functions, binary arithmetic with numpy broadcasting, cast. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

/* ---- elementwise unary ---------------------------------------------------------
 * Parameters alpha and beta (where the op has them) are f[0] and f[1]. */

enum { U_RELU, U_RELU6, U_SIGMOID, U_TANH, U_SILU, U_GELU_EXACT, U_GELU_TANH, U_GELU_SIGMOID,
       U_SQRT, U_RSQRT, U_CLIP, U_IDENTITY, U_ABS, U_CEIL, U_FLOOR, U_ROUND, U_SIGN, U_EXP,
       U_EXP2, U_LOG, U_SIN, U_COS, U_TAN, U_ASIN, U_ACOS, U_ATAN, U_SINH, U_COSH, U_ATANH,
       U_ERF, U_SQUARE, U_INVERSE, U_THRESHOLD, U_SOFTPLUS, U_SOFTSIGN, U_ELU, U_LEAKY,
       U_HARD_SIGMOID, U_SCALED_TANH, U_LINEAR, U_CLAMPED_RELU, U_NOT, U_THRESHOLDED };

/* Each parameterised op: its parameters' names and defaults (NAN: required). */
static const struct {
  int mode;
  const char *a, *b;
  double da, db;
} uparams[] = {
  {U_CLIP, "alpha", "beta", NAN, NAN},
  {U_RSQRT, "epsilon", NULL, 1e-12, 0},
  {U_LOG, "epsilon", NULL, 1e-45, 0},
  {U_INVERSE, "epsilon", NULL, 1e-4, 0},
  {U_THRESHOLD, "alpha", NULL, NAN, 0},
  {U_THRESHOLDED, "alpha", NULL, NAN, 0},
  {U_ELU, "alpha", NULL, NAN, 0},
  {U_LEAKY, "alpha", NULL, NAN, 0},
  {U_HARD_SIGMOID, "alpha", "beta", NAN, NAN},
  {U_SCALED_TANH, "alpha", "beta", NAN, NAN},
  {U_LINEAR, "alpha", "beta", NAN, NAN},
  {U_CLAMPED_RELU, "alpha", "beta", NAN, NAN},
};

static int unary_params(CpuBuild *b, CpuStep *s) {
  for (size_t i = 0; i < sizeof uparams / sizeof *uparams; i++) {
    if (uparams[i].mode != s->mode)
      continue;
    double a, v;
    if (cpu_param_float(b, uparams[i].a, isnan(uparams[i].da) ? NULL : &uparams[i].da, &a) < 0 ||
        (uparams[i].b &&
         cpu_param_float(b, uparams[i].b, isnan(uparams[i].db) ? NULL : &uparams[i].db, &v) < 0))
      return -1;
    s->f[0] = (float)a;
    s->f[1] = uparams[i].b ? (float)v : 0;
    if (s->mode == U_CLIP && a > v)
      return cpu_error(b, "alpha (%g) is greater than beta (%g)", a, v);
  }
  return 0;
}

static CpuRangeFn range_unary;

static int prep_unary(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0)
    return -1;
  if (s->mode == U_NOT) {
    if (x.dtype != MIL_BOOL)
      return cpu_error(b, "operand 'x' is %s; bool expected", mil_dtype_name(x.dtype));
  } else if (s->mode != U_IDENTITY && cpu_need_float(b, &x, "x") < 0) {
    return -1;
  }
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
  }
  cpu_range_step(s, range_unary, x.n, 1, true);
  return unary_params(b, s) < 0 ? -1 : cpu_same_out(b, &x);
}

/* Half to even, as numpy's round (coremltools' reference for round). */
static float round_even(float v) { return v - remainderf(v, 1.0f); }

static float sign(float v) { return v > 0 ? 1.0f : v < 0 ? -1.0f : v; }

#define MAP(EXPR) for (int64_t i = 0; i < n; i++) { float v = x[i]; y[i] = (EXPR); }

CPU_CLONES static void unary_row(int mode, float *restrict y, const float *restrict x, int64_t n,
                                 float a, float c) {
  const float k = 0.7978845608028654f;   /* sqrt(2/pi) */
  switch (mode) {
  case U_RELU: CPU_EACH(n, y[i] = x[i] > 0 ? x[i] : 0); break;
  case U_RELU6: CPU_EACH(n, y[i] = x[i] > 6 ? 6 : x[i] > 0 ? x[i] : 0); break;
  case U_CLIP: CPU_EACH(n, y[i] = x[i] > c ? c : x[i] < a ? a : x[i]); break;
  case U_ABS: CPU_EACH(n, y[i] = fabsf(x[i])); break;
  case U_SQUARE: CPU_EACH(n, y[i] = x[i] * x[i]); break;
  case U_THRESHOLD: CPU_EACH(n, y[i] = x[i] > a ? x[i] : a); break;
  case U_THRESHOLDED: CPU_EACH(n, y[i] = x[i] >= a ? x[i] : 0); break;
  case U_LEAKY: CPU_EACH(n, y[i] = x[i] >= 0 ? x[i] : a * x[i]); break;
  case U_LINEAR: CPU_EACH(n, y[i] = a * x[i] + c); break;
  case U_HARD_SIGMOID: MAP(fminf(fmaxf(a * v + c, 0.0f), 1.0f)); break;
  case U_CLAMPED_RELU: MAP(fminf(v >= 0 ? v : a * v, c)); break;
  /* the transcendental ones through kit.c's vector math (error bounds there) */
  case U_SIGMOID: cpu_vsigmoid(y, x, n); break;
  case U_TANH: cpu_vtanh(y, x, n); break;
  case U_SILU:
    cpu_vsigmoid(y, x, n);
    CPU_EACH(n, y[i] = x[i] * y[i]);
    break;
  case U_GELU_EXACT: MAP(0.5f * v * (1.0f + erff(v * 0.7071067811865476f))); break;
  case U_GELU_TANH:
    CPU_EACH(n, y[i] = k * (x[i] + 0.044715f * x[i] * x[i] * x[i]));
    cpu_vtanh(y, y, n);
    CPU_EACH(n, y[i] = 0.5f * x[i] * (1.0f + y[i]));
    break;
  case U_GELU_SIGMOID:
    CPU_EACH(n, y[i] = 1.702f * x[i]);
    cpu_vsigmoid(y, y, n);
    CPU_EACH(n, y[i] = x[i] * y[i]);
    break;
  case U_SQRT: MAP(sqrtf(v)); break;
  case U_RSQRT: MAP(1.0f / sqrtf(v + a)); break;
  case U_CEIL: MAP(ceilf(v)); break;
  case U_FLOOR: MAP(floorf(v)); break;
  case U_ROUND: MAP(round_even(v)); break;
  case U_SIGN: MAP(sign(v)); break;
  case U_EXP: cpu_vexp(y, x, n); break;
  case U_EXP2: MAP(exp2f(v)); break;
  case U_LOG: MAP(logf(v + a)); break;
  case U_SIN: MAP(sinf(v)); break;
  case U_COS: MAP(cosf(v)); break;
  case U_TAN: MAP(tanf(v)); break;
  case U_ASIN: MAP(asinf(v)); break;
  case U_ACOS: MAP(acosf(v)); break;
  case U_ATAN: MAP(atanf(v)); break;
  case U_SINH: MAP(sinhf(v)); break;
  case U_COSH: MAP(coshf(v)); break;
  case U_ATANH: MAP(atanhf(v)); break;
  case U_ERF: MAP(erff(v)); break;
  case U_INVERSE: MAP(1.0f / (v + a)); break;
  case U_SOFTPLUS: MAP(v > 20 ? v : log1pf(expf(v))); break;
  case U_SOFTSIGN: MAP(v / (1.0f + fabsf(v))); break;
  case U_ELU: MAP(v > 0 ? v : a * expm1f(v)); break;
  case U_SCALED_TANH:
    CPU_EACH(n, y[i] = c * x[i]);
    cpu_vtanh(y, y, n);
    CPU_EACH(n, y[i] = a * y[i]);
    break;
  default: memcpy(y, x, (size_t)n * sizeof *y); break;
  }
}

/* Pieces of EW_BLOCK elements: computed, then rounded while in cache. */
enum { EW_BLOCK = 4096 };

static void range_unary(const CpuPlan *p, const CpuStep *s, int64_t lo, int64_t hi) {
  for (int64_t b = lo; b < hi; b += EW_BLOCK) {
    int64_t n = hi - b < EW_BLOCK ? hi - b : EW_BLOCK;
    if (s->mode == U_NOT) {
      const int32_t *x = cpu_idata(p, s->in[0]) + b;
      int32_t *y = cpu_idata(p, s->out[0]) + b;
      CPU_EACH(n, y[i] = !x[i]);
      continue;
    }
    unary_row(s->mode, cpu_data(p, s->out[0]) + b, cpu_data(p, s->in[0]) + b, n, s->f[0],
              s->f[1]);
    cpu_round_out(p, s, 0, b, b + n);
  }
}

/* ---- elementwise binary (numpy broadcasting) --------------------------------------
 * The broadcast is collapsed at open(): size-1 dims dropped, neighbours
 * merged when both operands walk them contiguously. k[0] = dims,
 * k[1..8] sizes, k[9..16] x strides, k[17..24] y strides. */

enum { B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_MAX, B_MIN,   /* fast float rows */
       B_FLOORDIV, B_MOD, B_EQ, B_NE, B_LT, B_LE, B_GT, B_GE, B_AND, B_OR, B_XOR };

static bool is_compare(int mode) { return mode >= B_EQ && mode <= B_GE; }
static bool is_logical(int mode) { return mode >= B_AND; }

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

static CpuRangeFn range_binary;

static int prep_binary(CpuBuild *b, CpuStep *s) {
  CpuSlot x, y;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 || cpu_operand(b, s, 1, "y", true, &y) < 0)
    return -1;
  /* The op definitions (gen/opdef.c, checked before this) give x and y
   * one dtype their row allows; real_div and pow of int32 are refused here,
   * as this backend does not run them. */
  bool need_fl = s->mode == B_DIV || s->mode == B_POW, logic = is_logical(s->mode);
  if (need_fl && (!cpu_is_float(x.dtype) || !cpu_is_float(y.dtype)))
    return cpu_error(b, "operand '%s' is %s; fp16 or fp32 expected",
                     cpu_is_float(x.dtype) ? "y" : "x",
                     mil_dtype_name(cpu_is_float(x.dtype) ? y.dtype : x.dtype));
  s->k[25] = s->mode >= B_FLOORDIV || !cpu_is_float(x.dtype);   /* the generic rows */
  s->k[26] = cpu_is_float(x.dtype);
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
  int nd = (int)s->k[0];
  if (nd == 1)   /* one row: its elements are the units */
    cpu_range_step(s, range_binary, s->k[1], 1, true);
  else
    cpu_range_step(s, range_binary, cpu_prod(&s->k[1], 0, nd - 1), s->k[nd], true);
  MilDtype odt = is_compare(s->mode) || logic ? MIL_BOOL : promote(x.dtype, y.dtype);
  return cpu_one_out(b, odt, rank, dim);
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

CPU_CLONES static void binary_row(int mode, float *restrict o, const float *restrict x, int64_t sx,
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

/* Python's floor division and remainder (numpy floor_divide and mod, the
 * reference of coremltools); an integer division by zero gives 0. */
static int64_t floordiv_i(int64_t a, int64_t c) {
  if (c == 0)
    return 0;
  int64_t q = a / c;
  return q * c != a && (a < 0) != (c < 0) ? q - 1 : q;
}

static double generic_f(int mode, float a, float c) {
  switch (mode) {
  case B_FLOORDIV: return floorf(a / c);
  case B_MOD: { float r = fmodf(a, c); return r != 0 && (r < 0) != (c < 0) ? r + c : r; }
  case B_EQ: return a == c;
  case B_NE: return a != c;
  case B_LT: return a < c;
  case B_LE: return a <= c;
  case B_GT: return a > c;
  default: return a >= c;
  }
}

/* int32 arithmetic wraps around as two's complement. */
static int64_t generic_i(int mode, int64_t a, int64_t c) {
  switch (mode) {
  case B_ADD: return a + c;
  case B_SUB: return a - c;
  case B_MUL: return a * c;
  case B_MAX: return a > c ? a : c;
  case B_MIN: return a < c ? a : c;
  case B_FLOORDIV: return floordiv_i(a, c);
  case B_MOD: return a - floordiv_i(a, c) * c;
  case B_EQ: return a == c;
  case B_NE: return a != c;
  case B_LT: return a < c;
  case B_LE: return a <= c;
  case B_GT: return a > c;
  case B_GE: return a >= c;
  case B_AND: return a && c;
  case B_OR: return a || c;
  default: return !a != !c;
  }
}

/* A row of the ops without a fast float row: int operands, comparisons,
 * logical ops, floor_div and mod. */
static void generic_row(const CpuStep *s, void *o, const void *x, int64_t sx, const void *y,
                        int64_t sy, int64_t n) {
  int mode = s->mode;
  bool fin = s->k[26], fout = fin && !is_compare(mode);
  for (int64_t i = 0; i < n; i++) {
    double r;
    if (fin)
      r = generic_f(mode, ((const float *)x)[i * sx], ((const float *)y)[i * sy]);
    else
      r = (double)(int32_t)(uint32_t)generic_i(mode, ((const int32_t *)x)[i * sx],
                                               ((const int32_t *)y)[i * sy]);
    if (fout)
      ((float *)o)[i] = (float)r;
    else
      ((int32_t *)o)[i] = (int32_t)r;
  }
}

static void any_row(const CpuStep *s, float *o, const float *x, int64_t sx, const float *y,
                    int64_t sy, int64_t n) {
  if (s->k[25])
    generic_row(s, o, x, sx, y, sy, n);
  else
    binary_row(s->mode, o, x, sx, y, sy, n);
}

/* Units are the rows of the collapsed broadcast, or the elements when it
 * is a single row. */
static void range_binary(const CpuPlan *p, const CpuStep *s, int64_t lo, int64_t hi) {
  const float *x = cpu_data(p, s->in[0]), *y = cpu_data(p, s->in[1]);
  float *o = cpu_data(p, s->out[0]);
  int nd = (int)s->k[0];
  const int64_t *d = &s->k[1], *xs = &s->k[9], *ys = &s->k[17];
  int64_t n = d[nd - 1], sx = xs[nd - 1], sy = ys[nd - 1], idx[MIL_MAX_RANK] = {0};
  if (nd == 1) {
    for (int64_t b = lo; b < hi; b += EW_BLOCK) {
      int64_t m = hi - b < EW_BLOCK ? hi - b : EW_BLOCK;
      any_row(s, o + b, x + b * sx, sx, y + b * sy, sy, m);
      cpu_round_out(p, s, 0, b, b + m);
    }
    return;
  }
  for (int64_t t = lo, k = nd - 2; k >= 0; k--) {   /* where row lo starts */
    idx[k] = t % d[k];
    t /= d[k];
    x += idx[k] * xs[k];
    y += idx[k] * ys[k];
  }
  for (int64_t t = lo; t < hi; t++) {
    any_row(s, o + t * n, x, sx, y, sy, n);
    cpu_round_out(p, s, 0, t * n, (t + 1) * n);
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
  return cpu_one_out(b, dt, x.rank, x.dim);
}

/* Float to int truncates toward zero like coremltools' reference (numpy
 * astype) and saturates (NaN: 0); the device's behaviour is not
 * documented. Int to fp32 rounds to nearest (exact below 2^24). */
static void run_cast(const CpuPlan *p, const CpuStep *s) {
  const CpuSlot *x = &p->slots[s->in[0]];
  int64_t n = x->n;
  MilDtype dt = (MilDtype)s->mode;
  if (cpu_is_float(dt) && cpu_is_float(x->dtype)) {
    memcpy(cpu_data(p, s->out[0]), x->data, (size_t)n * sizeof(float));
  } else if (cpu_is_float(dt)) {
    const int32_t *xi = cpu_idata(p, s->in[0]);
    float *y = cpu_data(p, s->out[0]);
    CPU_EACH(n, y[i] = (float)xi[i]);
  } else {
    int32_t *y = cpu_idata(p, s->out[0]);
    double lo, hi;
    cpu_int_range(dt, &lo, &hi);
    for (int64_t i = 0; i < n; i++) {
      double v = cpu_get(x, i);
      v = dt == MIL_BOOL ? v != 0 : v != v ? 0 : trunc(v);
      y[i] = (int32_t)(v < lo ? lo : v > hi ? hi : v);
    }
  }
}

/* ---- per-channel activations ----------------------------------------------------------
 * prelu(x, alpha) and softplus_parametric(x, alpha, beta): alpha and beta
 * hold one value per channel (dim 1 of x, rank 3 or more). k: 0 N, 1 C,
 * 2 inner. in: 0 x, 1 alpha, 2 beta. */

enum { PC_PRELU, PC_SOFTPLUS };

static int prep_per_channel(CpuBuild *b, CpuStep *s) {
  CpuSlot x, a, be;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 || cpu_operand(b, s, 1, "alpha", true, &a) < 0 ||
      (s->mode == PC_SOFTPLUS && cpu_operand(b, s, 2, "beta", true, &be) < 0) ||
      cpu_need_float(b, &x, "x") < 0 || cpu_need_float(b, &a, "alpha") < 0)
    return -1;
  if (x.rank < 3)
    return cpu_error(b, "x has rank %d; at least 3 expected", x.rank);
  if (a.n != x.dim[1] || (s->mode == PC_SOFTPLUS && be.n != x.dim[1]))
    return cpu_error(b, "alpha (and beta) must hold one value per channel (%lld)",
                     (long long)x.dim[1]);
  s->k[0] = x.dim[0];
  s->k[1] = x.dim[1];
  s->k[2] = cpu_prod(x.dim, 2, x.rank);
  return cpu_same_out(b, &x);
}

static void run_per_channel(const CpuPlan *p, const CpuStep *s) {
  const float *x = cpu_data(p, s->in[0]), *a = cpu_data(p, s->in[1]);
  const float *be = s->mode == PC_SOFTPLUS ? cpu_data(p, s->in[2]) : NULL;
  float *y = cpu_data(p, s->out[0]);
  int64_t C = s->k[1], n = s->k[2];
  for (int64_t o = 0; o < s->k[0] * C; o++) {
    const float *xo = x + o * n;
    float *yo = y + o * n, al = a[o % C];
    if (s->mode == PC_PRELU) {
      CPU_EACH(n, yo[i] = xo[i] >= 0 ? xo[i] : al * xo[i]);
    } else {
      float bt = be[o % C];
      for (int64_t i = 0; i < n; i++)
        yo[i] = al * log1pf(expf(bt * xo[i]));
    }
  }
}

const CpuOpDef cpu_ops_elementwise[] = {
  {"prelu", prep_per_channel, run_per_channel, PC_PRELU, false, false},
  {"softplus_parametric", prep_per_channel, run_per_channel, PC_SOFTPLUS, false, false},
  {"abs", prep_unary, cpu_run_range, U_ABS, false, true},
  {"acos", prep_unary, cpu_run_range, U_ACOS, false, false},
  {"add", prep_binary, cpu_run_range, B_ADD, false, false},
  {"asin", prep_unary, cpu_run_range, U_ASIN, false, false},
  {"atan", prep_unary, cpu_run_range, U_ATAN, false, false},
  {"atanh", prep_unary, cpu_run_range, U_ATANH, false, false},
  {"cast", prep_cast, run_cast, 0, false, false},
  {"ceil", prep_unary, cpu_run_range, U_CEIL, false, false},
  {"clamped_relu", prep_unary, cpu_run_range, U_CLAMPED_RELU, false, false},
  {"clip", prep_unary, cpu_run_range, U_CLIP, false, false},
  {"cos", prep_unary, cpu_run_range, U_COS, false, false},
  {"cosh", prep_unary, cpu_run_range, U_COSH, false, false},
  {"elu", prep_unary, cpu_run_range, U_ELU, false, false},
  {"equal", prep_binary, cpu_run_range, B_EQ, false, false},
  {"erf", prep_unary, cpu_run_range, U_ERF, false, false},
  {"exp", prep_unary, cpu_run_range, U_EXP, false, false},
  {"exp2", prep_unary, cpu_run_range, U_EXP2, false, false},
  {"floor", prep_unary, cpu_run_range, U_FLOOR, false, false},
  {"floor_div", prep_binary, cpu_run_range, B_FLOORDIV, false, false},
  {"gelu", prep_unary, cpu_run_range, U_GELU_EXACT, false, false},
  {"greater", prep_binary, cpu_run_range, B_GT, false, false},
  {"greater_equal", prep_binary, cpu_run_range, B_GE, false, false},
  {"identity", prep_unary, cpu_run_range, U_IDENTITY, false, true},
  {"inverse", prep_unary, cpu_run_range, U_INVERSE, false, false},
  {"leaky_relu", prep_unary, cpu_run_range, U_LEAKY, false, false},
  {"less", prep_binary, cpu_run_range, B_LT, false, false},
  {"less_equal", prep_binary, cpu_run_range, B_LE, false, false},
  {"linear_activation", prep_unary, cpu_run_range, U_LINEAR, false, false},
  {"log", prep_unary, cpu_run_range, U_LOG, false, false},
  {"logical_and", prep_binary, cpu_run_range, B_AND, false, false},
  {"logical_not", prep_unary, cpu_run_range, U_NOT, false, false},
  {"logical_or", prep_binary, cpu_run_range, B_OR, false, false},
  {"logical_xor", prep_binary, cpu_run_range, B_XOR, false, false},
  {"maximum", prep_binary, cpu_run_range, B_MAX, false, true},
  {"minimum", prep_binary, cpu_run_range, B_MIN, false, true},
  {"mod", prep_binary, cpu_run_range, B_MOD, false, false},
  {"mul", prep_binary, cpu_run_range, B_MUL, false, false},
  {"not_equal", prep_binary, cpu_run_range, B_NE, false, false},
  {"pow", prep_binary, cpu_run_range, B_POW, false, false},
  {"real_div", prep_binary, cpu_run_range, B_DIV, false, false},
  {"relu", prep_unary, cpu_run_range, U_RELU, false, true},
  {"relu6", prep_unary, cpu_run_range, U_RELU6, false, true},
  {"round", prep_unary, cpu_run_range, U_ROUND, false, false},
  {"rsqrt", prep_unary, cpu_run_range, U_RSQRT, false, false},
  {"scaled_tanh", prep_unary, cpu_run_range, U_SCALED_TANH, false, false},
  {"sigmoid", prep_unary, cpu_run_range, U_SIGMOID, false, false},
  {"sigmoid_hard", prep_unary, cpu_run_range, U_HARD_SIGMOID, false, false},
  {"sign", prep_unary, cpu_run_range, U_SIGN, false, false},
  {"silu", prep_unary, cpu_run_range, U_SILU, false, false},
  {"sin", prep_unary, cpu_run_range, U_SIN, false, false},
  {"sinh", prep_unary, cpu_run_range, U_SINH, false, false},
  {"softplus", prep_unary, cpu_run_range, U_SOFTPLUS, false, false},
  {"softsign", prep_unary, cpu_run_range, U_SOFTSIGN, false, false},
  {"sqrt", prep_unary, cpu_run_range, U_SQRT, false, false},
  {"square", prep_unary, cpu_run_range, U_SQUARE, false, false},
  {"sub", prep_binary, cpu_run_range, B_SUB, false, false},
  {"tan", prep_unary, cpu_run_range, U_TAN, false, false},
  {"tanh", prep_unary, cpu_run_range, U_TANH, false, false},
  {"threshold", prep_unary, cpu_run_range, U_THRESHOLD, false, false},
  {"thresholded_relu", prep_unary, cpu_run_range, U_THRESHOLDED, false, true},
  {NULL, NULL, NULL, 0, false, false},
};
