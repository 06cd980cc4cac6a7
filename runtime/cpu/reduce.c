/* reduce.c - the cpu backend's reductions and normalisations: softmax,
 * layer_norm, reduce_*. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

/* ---- softmax, layer_norm, reductions ------------------------------------------------ */

/* Softmax, layer_norm and the reductions split their outer positions
 * across the threads. */
static CpuRangeFn range_softmax, range_layer_norm, range_reduce;

static int prep_softmax(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  int64_t axis, def = -1;
  int ax;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 || cpu_need_float(b, &x, "x") < 0 ||
      cpu_param_int(b, "axis", &def, &axis) < 0 || cpu_axis(b, "axis", axis, x.rank, &ax) < 0)
    return -1;
  s->k[0] = cpu_prod(x.dim, 0, ax);
  s->k[1] = x.dim[ax];
  s->k[2] = cpu_prod(x.dim, ax + 1, x.rank);
  cpu_range_step(s, range_softmax, s->k[0], s->k[1] * s->k[2], true);
  return cpu_same_out(b, &x);
}

/* Units are the outer positions; a contiguous row (inner 1) takes the
 * vector max, exp and sum. */
CPU_CLONES static void range_softmax(const CpuPlan *p, const CpuStep *s, int64_t lo, int64_t hi) {
  const float *x = cpu_data(p, s->in[0]);
  float *y = cpu_data(p, s->out[0]);
  int64_t n = s->k[1], inner = s->k[2];
  for (int64_t o = lo; o < hi; o++) {
    for (int64_t j = 0; j < inner; j++) {
      const float *xr = x + o * n * inner + j;
      float *yr = y + o * n * inner + j;
      float mx = -INFINITY, sum = 0;
      if (inner == 1) {
        mx = cpu_vmax(xr, n);
        CPU_EACH(n, yr[i] = xr[i] - mx);
        cpu_vexp(yr, yr, n);
        sum = cpu_vsum(yr, n);
      } else {
        for (int64_t i = 0; i < n; i++)
          mx = fmaxf(mx, xr[i * inner]);
        for (int64_t i = 0; i < n; i++)
          sum += yr[i * inner] = expf(xr[i * inner] - mx);
      }
      float r = 1.0f / sum;
      if (inner == 1)
        CPU_EACH(n, yr[i] *= r);
      else
        for (int64_t i = 0; i < n; i++)
          yr[i * inner] *= r;
    }
    cpu_round_out(p, s, 0, o * n * inner, (o + 1) * n * inner);
  }
}

/* gamma and beta have the shape x.shape[axes]. */
static int affine_param(CpuBuild *b, const char *name, const CpuSlot *x, const int *ax, int nax) {
  int si = cpu_input(b, name, false);
  if (si < 0)
    return si == CPU_ABSENT ? CPU_ABSENT : CPU_ERR;
  CpuSlot g = cpu_slot(b, si);
  bool ok = g.rank == nax;
  for (int i = 0; ok && i < nax; i++)
    ok = g.dim[i] == x->dim[ax[i]];
  if (cpu_need_float(b, &g, name) < 0)
    return CPU_ERR;
  if (!ok) {
    char a[128];
    return cpu_error(b, "'%s' is %s; it must have the shape of x along axes", name,
                     cpu_shape_str(a, sizeof a, &g)), CPU_ERR;
  }
  return si;
}

static int prep_layer_norm(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  int ax[MIL_MAX_RANK];
  if (cpu_operand(b, s, 0, "x", true, &x) < 0)
    return -1;
  int nax = cpu_need_float(b, &x, "x") < 0 ? -1 : cpu_get_axes(b, "axes", x.rank, ax, true);
  double eps, def = 1e-5;
  if (nax < 0 || cpu_param_float(b, "epsilon", &def, &eps) < 0)
    return -1;
  if ((s->in[1] = affine_param(b, "gamma", &x, ax, nax)) == CPU_ERR ||
      (s->in[2] = affine_param(b, "beta", &x, ax, nax)) == CPU_ERR)
    return -1;
  s->f[0] = (float)eps;
  if (cpu_split_offsets(b, s, &x, ax, nax) < 0)
    return -1;
  cpu_range_step(s, range_layer_norm, s->ntab[0], s->ntab[1], false);
  return cpu_same_out(b, &x);
}

static void range_layer_norm(const CpuPlan *p, const CpuStep *s, int64_t lo, int64_t hi) {
  const float *x = cpu_data(p, s->in[0]);
  const float *g = s->in[1] >= 0 ? cpu_data(p, s->in[1]) : NULL;
  const float *be = s->in[2] >= 0 ? cpu_data(p, s->in[2]) : NULL;
  float *y = cpu_data(p, s->out[0]);
  const int64_t *outer = s->tab[0], *in = s->tab[1], n = s->ntab[1];
  for (int64_t o = lo; o < hi; o++) {
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

enum { R_SUM, R_MEAN, R_MAX, R_MIN, R_PROD, R_L1, R_L2, R_LOGSUM, R_LOGSUMEXP, R_SUMSQ,
       R_ARGMAX, R_ARGMIN };

static bool is_arg(int mode) { return mode >= R_ARGMAX; }

/* reduce_*(x, axes, keep_dims); reduce_arg*(x, axis, keep_dims), whose
 * output is int32. int32 x: sum, max, min, prod and the arg ops only. */
static int prep_reduce(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0)
    return -1;
  bool int_ok = s->mode == R_SUM || s->mode == R_MAX || s->mode == R_MIN || s->mode == R_PROD ||
                is_arg(s->mode);
  if (!cpu_is_float(x.dtype) && !(x.dtype == MIL_INT32 && int_ok))
    return cpu_error(b, "operand 'x' is %s; fp16 or fp32%s expected", mil_dtype_name(x.dtype),
                     int_ok ? " or int32" : "");
  int ax[MIL_MAX_RANK], nax;
  bool keep;
  if (is_arg(s->mode)) {
    int64_t axis, def = -1;
    if (cpu_param_int(b, "axis", &def, &axis) < 0 || cpu_axis(b, "axis", axis, x.rank, ax) < 0)
      return -1;
    nax = 1;
  } else if ((nax = cpu_get_axes(b, "axes", x.rank, ax, true)) < 0) {
    return -1;
  }
  if (cpu_param_bools(b, "keep_dims", &keep, 1) < 0)
    return -1;
  bool red[MIL_MAX_RANK] = {0};
  for (int i = 0; i < nax; i++)
    red[ax[i]] = true;
  int64_t dim[MIL_MAX_RANK];
  int rank = 0;
  for (int d = 0; d < x.rank; d++)
    if (!red[d] || keep)
      dim[rank++] = red[d] ? 1 : x.dim[d];
  MilDtype odt = is_arg(s->mode) ? MIL_INT32 : x.dtype;
  if (cpu_split_offsets(b, s, &x, ax, nax) < 0)
    return -1;
  /* a reduction's outputs are its outer positions, in order: it rounds its own */
  cpu_range_step(s, range_reduce, s->ntab[0], s->ntab[1], true);
  return cpu_one_out(b, odt, rank, dim);
}

/* One reduction over n values at offsets in[]; float accumulation in
 * double for the sums so long reductions do not drift. */
static double reduce_f(int mode, const float *x, const int64_t *in, int64_t n) {
  double acc = mode == R_PROD ? 1 : mode == R_MAX ? -INFINITY : mode == R_MIN ? INFINITY : 0;
  double mx = -INFINITY;
  if (mode == R_LOGSUMEXP)
    for (int64_t j = 0; j < n; j++)
      mx = fmax(mx, x[in[j]]);
  for (int64_t j = 0; j < n; j++) {
    double v = x[in[j]];
    switch (mode) {
    case R_MAX: acc = v > acc || v != v ? v : acc; break;
    case R_MIN: acc = v < acc || v != v ? v : acc; break;
    case R_PROD: acc *= v; break;
    case R_L1: acc += fabs(v); break;
    case R_L2: case R_SUMSQ: acc += v * v; break;
    case R_LOGSUMEXP: acc += exp(v - mx); break;
    default: acc += v; break;
    }
  }
  switch (mode) {
  case R_MEAN: return acc / (double)n;
  case R_L2: return sqrt(acc);
  case R_LOGSUM: return log(acc);
  case R_LOGSUMEXP: return n ? mx + log(acc) : -INFINITY;
  default: return acc;
  }
}

/* int32 sums and products wrap around as two's complement. */
static int32_t reduce_i(int mode, const int32_t *x, const int64_t *in, int64_t n) {
  uint32_t acc = mode == R_PROD ? 1u : 0u;
  int32_t best = mode == R_MAX ? INT32_MIN : INT32_MAX;
  for (int64_t j = 0; j < n; j++) {
    int32_t v = x[in[j]];
    if (mode == R_SUM)
      acc += (uint32_t)v;
    else if (mode == R_PROD)
      acc *= (uint32_t)v;
    else if (mode == R_MAX ? v > best : v < best)
      best = v;
  }
  return mode == R_SUM || mode == R_PROD ? (int32_t)acc : best;
}

/* The first index of the largest (smallest) value; a NaN wins, as numpy's
 * argmax has it. */
static int32_t reduce_arg(int mode, const CpuSlot *x, int64_t base, const int64_t *in,
                          int64_t n) {
  int64_t best = 0;
  double bv = cpu_get(x, base + in[0]);
  for (int64_t j = 1; j < n && bv == bv; j++) {
    double v = cpu_get(x, base + in[j]);
    if (v != v || (mode == R_ARGMAX ? v > bv : v < bv)) {
      best = j;
      bv = v;
    }
  }
  return (int32_t)best;
}

static void range_reduce(const CpuPlan *p, const CpuStep *s, int64_t lo, int64_t hi) {
  const CpuSlot *x = &p->slots[s->in[0]];
  const int64_t *in = s->tab[1], n = s->ntab[1];
  for (int64_t o = lo; o < hi; o++) {
    int64_t base = s->tab[0][o];
    if (is_arg(s->mode))
      cpu_idata(p, s->out[0])[o] = reduce_arg(s->mode, x, base, in, n);
    else if (cpu_is_float(x->dtype))
      cpu_data(p, s->out[0])[o] = (float)reduce_f(s->mode, x->data + base, in, n);
    else
      cpu_idata(p, s->out[0])[o] = reduce_i(s->mode, (const int32_t *)x->data + base, in, n);
  }
  cpu_round_out(p, s, 0, lo, hi);
}

/* ---- batch, instance, l2 and local response norms ----------------------------------
 * x viewed as [N, C, S] (S: the product of the dims after the channels).
 * k: 0 N, 1 C, 2 S, 3 l2_norm's batch size; f: 0 epsilon, 1 alpha, 2 beta,
 * 3 k (local response). in: 0 x, then per op: batch_norm 1 mean,
 * 2 variance, 3 gamma, 4 beta; instance_norm 1 gamma, 2 beta. */

enum { N_BATCH, N_INSTANCE, N_L2, N_LRN };

/* An optional [C] vector operand (or a required one). */
static int chan_vec(CpuBuild *b, CpuStep *s, int k, const char *name, bool req, int64_t C) {
  CpuSlot v;
  if (cpu_operand(b, s, k, name, req, &v) < 0)
    return -1;
  if (s->in[k] >= 0 && (cpu_need_float(b, &v, name) < 0 || v.n != C))
    return cpu_error(b, "'%s' has %lld values; one per channel (%lld) expected", name,
                     (long long)v.n, (long long)C);
  return 0;
}

static int prep_norm(CpuBuild *b, CpuStep *s) {
  CpuSlot x;
  double eps, def = s->mode == N_L2 ? 1e-6 : 1e-5;
  if (cpu_operand(b, s, 0, "x", true, &x) < 0 || cpu_need_float(b, &x, "x") < 0)
    return -1;
  int minr = s->mode == N_L2 ? 3 : 2;
  if (x.rank < minr || (s->mode == N_INSTANCE && x.rank < 3))
    return cpu_error(b, "x has rank %d; at least %d expected", x.rank,
                     s->mode == N_INSTANCE ? 3 : minr);
  int64_t C = x.dim[1];
  s->k[0] = x.dim[0];
  s->k[1] = C;
  s->k[2] = cpu_prod(x.dim, 2, x.rank);
  s->k[3] = cpu_prod(x.dim, 0, x.rank - 3);
  if (s->mode == N_LRN) {
    int64_t size;
    double alpha, beta, kk, da = 1e-4, db = 0.75, dk = 1;
    if (cpu_param_int(b, "size", NULL, &size) < 0 || cpu_param_float(b, "alpha", &da, &alpha) < 0 ||
        cpu_param_float(b, "beta", &db, &beta) < 0 || cpu_param_float(b, "k", &dk, &kk) < 0)
      return -1;
    if (size < 1)
      return cpu_error(b, "size is %lld; at least 1 expected", (long long)size);
    s->k[4] = size;
    s->f[1] = (float)alpha;
    s->f[2] = (float)beta;
    s->f[3] = (float)kk;
    return cpu_same_out(b, &x);
  }
  if (cpu_param_float(b, "epsilon", &def, &eps) < 0)
    return -1;
  s->f[0] = (float)eps;
  if (s->mode == N_BATCH &&
      (chan_vec(b, s, 1, "mean", true, C) < 0 || chan_vec(b, s, 2, "variance", true, C) < 0 ||
       chan_vec(b, s, 3, "gamma", false, C) < 0 || chan_vec(b, s, 4, "beta", false, C) < 0))
    return -1;
  if (s->mode == N_INSTANCE &&
      (chan_vec(b, s, 1, "gamma", false, C) < 0 || chan_vec(b, s, 2, "beta", false, C) < 0))
    return -1;
  return cpu_same_out(b, &x);
}

static float opt(const CpuPlan *p, int slot, int64_t c, float def) {
  return slot >= 0 ? cpu_data(p, slot)[c] : def;
}

static void run_norm(const CpuPlan *p, const CpuStep *s) {
  const float *x = cpu_data(p, s->in[0]);
  float *y = cpu_data(p, s->out[0]);
  int64_t N = s->k[0], C = s->k[1], S = s->k[2];
  if (s->mode == N_L2) {
    int64_t B = s->k[3], n = N * C * S / B;
    for (int64_t bb = 0; bb < B; bb++) {
      double acc = 0;
      for (int64_t i = 0; i < n; i++)
        acc += (double)x[bb * n + i] * x[bb * n + i];
      double r = 1 / sqrt(acc + s->f[0]);
      for (int64_t i = 0; i < n; i++)
        y[bb * n + i] = (float)(x[bb * n + i] * r);
    }
    return;
  }
  for (int64_t n = 0; n < N; n++)
    for (int64_t c = 0; c < C; c++) {
      const float *xc = x + (n * C + c) * S;
      float *yc = y + (n * C + c) * S;
      if (s->mode == N_LRN) {
        int64_t size = s->k[4], lo = c - size / 2, hi = c + (size - 1) / 2;
        for (int64_t i = 0; i < S; i++) {
          double acc = 0;
          for (int64_t j = lo < 0 ? 0 : lo; j <= hi && j < C; j++) {
            double v = x[(n * C + j) * S + i];
            acc += v * v;
          }
          yc[i] = (float)(xc[i] / pow(s->f[3] + s->f[1] / (double)size * acc, s->f[2]));
        }
        continue;
      }
      double mean, var;
      if (s->mode == N_BATCH) {
        mean = cpu_data(p, s->in[1])[c];
        var = cpu_data(p, s->in[2])[c];
      } else {
        double sum = 0, sq = 0;
        for (int64_t i = 0; i < S; i++)
          sum += xc[i];
        mean = sum / (double)S;
        for (int64_t i = 0; i < S; i++)
          sq += (xc[i] - mean) * (xc[i] - mean);
        var = sq / (double)S;
      }
      int gi = s->mode == N_BATCH ? 3 : 1;
      double g = opt(p, s->in[gi], c, 1), be = opt(p, s->in[gi + 1], c, 0);
      double r = 1 / sqrt(var + s->f[0]);
      for (int64_t i = 0; i < S; i++)
        yc[i] = (float)((xc[i] - mean) * r * g + be);
    }
}

const CpuOpDef cpu_ops_reduce[] = {
  {"batch_norm", prep_norm, run_norm, N_BATCH, false, false},
  {"instance_norm", prep_norm, run_norm, N_INSTANCE, false, false},
  {"l2_norm", prep_norm, run_norm, N_L2, false, false},
  {"local_response_norm", prep_norm, run_norm, N_LRN, false, false},
  {"layer_norm", prep_layer_norm, cpu_run_range, 0, false, false},
  {"reduce_argmax", prep_reduce, cpu_run_range, R_ARGMAX, false, false},
  {"reduce_argmin", prep_reduce, cpu_run_range, R_ARGMIN, false, false},
  {"reduce_l1_norm", prep_reduce, cpu_run_range, R_L1, false, false},
  {"reduce_l2_norm", prep_reduce, cpu_run_range, R_L2, false, false},
  {"reduce_log_sum", prep_reduce, cpu_run_range, R_LOGSUM, false, false},
  {"reduce_log_sum_exp", prep_reduce, cpu_run_range, R_LOGSUMEXP, false, false},
  {"reduce_max", prep_reduce, cpu_run_range, R_MAX, false, true},
  {"reduce_mean", prep_reduce, cpu_run_range, R_MEAN, false, false},
  {"reduce_min", prep_reduce, cpu_run_range, R_MIN, false, true},
  {"reduce_prod", prep_reduce, cpu_run_range, R_PROD, false, false},
  {"reduce_sum", prep_reduce, cpu_run_range, R_SUM, false, false},
  {"reduce_sum_square", prep_reduce, cpu_run_range, R_SUMSQ, false, false},
  {"softmax", prep_softmax, cpu_run_range, 0, false, false},
  {NULL, NULL, NULL, 0, false, false},
};
