/* cpu_bench.c - the cpu backend's eval() throughput on the seed's fp16
 * conv chains against cblas_sgemm called directly on the same GEMMs.
 *
 * Each chain is 8 1x1 convs (C -> C channels over H x W positions), a GEMM
 * of C x C by C x HW per conv, at a spatial size reduced from the seed's
 * 64x64 so a run takes seconds. The last config is a chain of 8 3x3 convs
 * (padding same), against the GEMM of their im2col form alone (C x 9C by
 * 9C x HW, without building the columns); the backend runs those by
 * Winograd's F(4x4, 3x3), so it can beat that GEMM. GFLOP counts a direct
 * conv's multiply-adds (2 C^2 k^2 HW per conv). Each side runs for about a
 * second (the argument changes that), in alternating rounds; the ratio is
 * backend throughput over direct (goal: >= 0.8). */
#include <cblas.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "backend.h"
#include "cpu.h"
#include "fp16.h"

enum { NCONV = 8, ROUNDS = 4 };
/* the backend's throughput over direct sgemm that counts as met */
#define GOAL 0.8

typedef struct Config {
  int ch, h, w, k;   /* k: the kernel's side, 1 or 3 */
} Config;

static const Config configs[] = {
  {512, 16, 16, 1}, {256, 16, 16, 1}, {512, 32, 32, 1}, {256, 32, 32, 1}, {128, 56, 56, 3},
};

/* wall time; the calling thread's CPU time while cpu_clock is set */
static clockid_t cpu_clock_id = CLOCK_MONOTONIC;

static double now(void) {
  struct timespec ts;
  clock_gettime(cpu_clock_id, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Deterministic weights in [-1/sqrt(C), 1/sqrt(C)), so activations keep
 * their size along the chain (no fp16 overflow). */
static double next_weight(uint64_t *s, int ch) {
  *s = *s * 6364136223846793005u + 1442695040888963407u;
  double u = (double)(*s >> 11) * 0x1p-53;
  return (2 * u - 1) / sqrt(ch);
}

/* x -> conv_0 -> ... -> conv_7, each weight an inline fp16 const. */
static MilProg *build_chain(const Config *c, float **wcopy) {
  MilProg *p = mil_new("1.3");
  MilFunc *f = mil_add_func(p, "main", "ios18");
  int64_t xd[] = {1, c->ch, c->h, c->w}, wd[] = {c->ch, c->ch, c->k, c->k};
  int64_t nw = (int64_t)c->ch * c->ch * c->k * c->k;
  MilType *xt = mil_tensor_type(p, MIL_FP16, 4, xd);
  mil_add_input(p, f, xt, "x");
  double *w = malloc((size_t)nw * sizeof *w);
  uint64_t seed = 42;
  const char *prev = "x";
  for (int i = 0; i < NCONV; i++) {
    for (int64_t k = 0; k < nw; k++) {
      w[k] = fp16_round(next_weight(&seed, c->ch * c->k * c->k));
      wcopy[i][k] = (float)w[k];
    }
    char wn[32], yn[32];
    snprintf(wn, sizeof wn, "W%d", i);
    snprintf(yn, sizeof yn, "c%d", i);
    MilOp *k = mil_add_op(p, f, "const");
    mil_op_attr(p, k, "name", mil_scalar_s(p, wn));
    mil_op_attr(p, k, "val", mil_tensor_f(p, MIL_FP16, 4, wd, w));
    mil_op_out(p, k, mil_tensor_type(p, MIL_FP16, 4, wd), wn);
    MilOp *op = mil_add_op(p, f, "conv");
    int64_t two[] = {2}, four[] = {4}, ones[] = {1, 1}, zeros[] = {0, 0, 0, 0};
    mil_op_val(p, op, "dilations", mil_tensor_i(p, MIL_INT32, 1, two, ones));
    mil_op_val(p, op, "groups", mil_scalar_i(p, MIL_INT32, 1));
    mil_op_val(p, op, "pad", mil_tensor_i(p, MIL_INT32, 1, four, zeros));
    mil_op_val(p, op, "pad_type", mil_scalar_s(p, c->k == 1 ? "valid" : "same"));
    mil_op_val(p, op, "strides", mil_tensor_i(p, MIL_INT32, 1, two, ones));
    mil_op_ref(p, op, "weight", wn);
    mil_op_ref(p, op, "x", prev);
    mil_op_attr(p, op, "name", mil_scalar_s(p, yn));
    mil_op_out(p, op, xt, yn);
    prev = mil_strdup(p, yn);
  }
  mil_add_output(p, f, prev);
  free(w);
  return p;
}

/* Runs fn until about `budget` seconds have passed; seconds per call. */
typedef int (*BenchFn)(void *ctx);

static double time_it(BenchFn fn, void *ctx, double budget) {
  if (fn(ctx) < 0)   /* warm-up: threads started, pages touched */
    return -1;
  int n = 0;
  double t0 = now(), t;
  do {
    if (fn(ctx) < 0)
      return -1;
    n++;
    t = now() - t0;
  } while (t < budget);
  return t / n;
}

typedef struct Direct {
  const Config *c;
  float **w, *a, *b;
} Direct;

/* 1x1: the chain; 3x3: each conv's im2col GEMM on one (constant) column
 * matrix a of 9C x HW. */
static int run_direct(void *ctx) {
  Direct *d = ctx;
  int ch = d->c->ch, hw = d->c->h * d->c->w, kk = ch * d->c->k * d->c->k;
  float *in = d->a, *out = d->b;
  for (int i = 0; i < NCONV; i++) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ch, hw, kk, 1.0f, d->w[i], kk, in, hw,
                0.0f, out, hw);
    if (d->c->k == 1) {
      float *t = in;
      in = out;
      out = t;
    }
  }
  return 0;
}

typedef struct Backed {
  void *st;
  Diag *d;
} Backed;

static int run_backend(void *ctx) {
  Backed *b = ctx;
  double ms = 0;
  return cpu_backend.eval(b->st, &ms, b->d);
}

static int bench(const Config *c, double budget) {
  int64_t nw = (int64_t)c->ch * c->ch * c->k * c->k, nx = (int64_t)c->ch * c->h * c->w;
  int64_t na = nx * c->k * c->k;   /* 3x3: the column matrix */
  float *w[NCONV];
  for (int i = 0; i < NCONV; i++)
    w[i] = malloc((size_t)nw * sizeof(float));
  MilProg *p = build_chain(c, w);
  Diag d = diag_stderr();
  Model m = {"cpu_bench", NULL, p, &p->funcs[0], NULL};
  BackendOpts o = {0};
  Backed be = {NULL, &d};
  Direct di = {c, w, calloc((size_t)na, sizeof(float)), malloc((size_t)nx * sizeof(float))};
  Tensor x;
  int64_t xd[] = {1, c->ch, c->h, c->w};
  int rc = -1;
  if (cpu_backend.open(&m, &o, &be.st, &d) < 0 || tensor_alloc(&x, MIL_FP16, 4, xd) < 0)
    goto out;
  uint64_t s = 7;
  for (int64_t k = 0; k < nx; k++) {
    float v = (float)next_weight(&s, 1);
    ((uint16_t *)x.data)[k] = fp16_from_float(v);
    di.a[k] = fp16_to_float(fp16_from_float(v));
  }
  rc = cpu_backend.set_input(be.st, 0, &x, &d);
  tensor_free(&x);
  /* alternate the two in rounds and keep each one's best, so a burst of
   * load on the machine does not land on one side only */
  double t_be = INFINITY, t_di = INFINITY;
  for (int r = 0; rc == 0 && r < ROUNDS; r++) {
    double a = time_it(run_backend, &be, budget / ROUNDS);
    double b = time_it(run_direct, &di, budget / ROUNDS);
    if (a < 0 || b < 0)
      rc = -1;
    t_be = fmin(t_be, a);
    t_di = fmin(t_di, b);
  }
  if (rc < 0)
    goto out;
  double gflop = 2.0 * NCONV * (double)c->ch * c->ch * c->k * c->k * c->h * c->w / 1e9;
  double ratio = t_di / t_be;
  bool met = ratio >= GOAL;
  printf("%4d ch %2dx%-2d %dx%d  %6.3f  %7.1f  %9.1f  %10.1f  %5.2fx  %s\n", c->ch, c->h, c->w,
         c->k, c->k, gflop, t_be * 1e3, gflop / t_be, gflop / t_di, ratio, met ? "met" : "MISSED");
  rc = met ? 0 : 1;
out:
  if (be.st)
    cpu_backend.close(be.st);
  mil_free(p);
  for (int i = 0; i < NCONV; i++)
    free(w[i]);
  free(di.a);
  free(di.b);
  return rc;
}

/* sgemm.c's GEMM against cblas_sgemm on the seed chain's 512 x 512 x 4096
 * product, both on 1 thread and on 2 (ours on a pool, OpenBLAS its own),
 * best of alternating rounds. Goal: ours at least as fast on each. One
 * thread is timed in its CPU time, which a busy neighbour on the shared
 * machine disturbs less than wall time; two threads in wall time. */
typedef struct Kern {
  bool ours;
  CpuPool *pool;
  int nbuf;
  const float *w, *wp, *x;
  float *c, *buf;
} Kern;

enum { KM = 512, KK = 512, KN = 4096 };

static int run_kern(void *ctx) {
  Kern *k = ctx;
  CpuSgemm g = {.M = KM, .N = KN, .K = KK, .w = k->wp, .x = k->x, .c = k->c};
  if (k->ours)
    cpu_sgemm(k->pool, &g, 1, k->buf, k->nbuf);
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, KM, KN, KK, 1.0f, k->w, KK, k->x, KN,
                0.0f, k->c, KN);
  return 0;
}

static int bench_kernel(double budget) {
  if (!cpu_sgemm_available()) {
    printf("sgemm.c kernel: not on this CPU (no AVX2/FMA)\n");
    return 0;
  }
  /* at cache lines, as the plan's buffers are */
  float *w = aligned_alloc(64, sizeof(float) * KM * KK);
  float *x = aligned_alloc(64, sizeof(float) * KK * KN), *c = aligned_alloc(64, sizeof(float) * KM * KN);
  float *wp = malloc(sizeof(float) * (size_t)cpu_sgemm_packed(KM, KK));
  float *buf = malloc(sizeof(float) * 2 * (size_t)cpu_sgemm_scratch(1));
  uint64_t s = 11;
  for (int64_t i = 0; i < (int64_t)KM * KK; i++)
    w[i] = (float)next_weight(&s, KK);
  for (int64_t i = 0; i < (int64_t)KK * KN; i++)
    x[i] = (float)next_weight(&s, 1);
  cpu_sgemm_pack(wp, w, KM, KK);
  int blas = openblas_get_num_threads(), missed = 0;
  double gflop = 2.0 * KM * KN * KK / 1e9;
  for (int nt = 1; nt <= 2; nt++) {
    CpuPool *pool = nt > 1 ? cpu_pool_new(nt) : NULL;
    Kern ours = {true, pool, nt, w, wp, x, c, buf}, theirs = {false, NULL, 0, w, wp, x, c, buf};
    double a = INFINITY, b = INFINITY;
    cpu_clock_id = nt > 1 ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID;
    for (int r = 0; r < ROUNDS; r++) {
      a = fmin(a, time_it(run_kern, &ours, budget / ROUNDS));
      openblas_set_num_threads(nt);
      b = fmin(b, time_it(run_kern, &theirs, budget / ROUNDS));
      openblas_set_num_threads(blas);
    }
    cpu_clock_id = CLOCK_MONOTONIC;
    cpu_pool_free(pool);
    bool met = b / a >= 1.0;
    missed += !met;
    printf("sgemm %dx%dx%d, %d thread%s (%s): sgemm.c %6.1f GF/s, cblas_sgemm %6.1f GF/s  %5.2fx  "
           "goal >= 1.0 %s\n", KM, KK, KN, nt, nt > 1 ? "s" : "", nt > 1 ? "wall" : "cpu time", gflop / a, gflop / b, b / a,
           met ? "met" : "MISSED");
  }
  free(w), free(x), free(c), free(wp), free(buf);
  return missed;
}

int main(int argc, char **argv) {
  double budget = argc > 1 ? atof(argv[1]) : 1.0;
  if (!(budget > 0)) {
    fprintf(stderr, "usage: cpu_bench [SECONDS per measurement]\n");
    return 2;
  }
  printf("cpu backend eval() vs cblas_sgemm on the same GEMMs: chains of %d convs, fp16\n",
         NCONV);
  /* first: OpenBLAS's threads, once started by the chains' direct runs,
   * spin for a while after each call */
  int rc = 0, missed = bench_kernel(budget);
  printf("config                GFLOP  cpu ms  cpu GF/s  sgemm GF/s  ratio  goal >= %.1f\n", GOAL);
  for (size_t i = 0; i < sizeof configs / sizeof *configs; i++) {
    int r = bench(&configs[i], budget);
    if (r < 0)
      rc = 1;
    missed += r > 0;
  }
  if (missed)
    printf("goal missed on %d of %zu configs\n", missed, sizeof configs / sizeof *configs + 2);
  return rc || missed ? 1 : 0;
}
