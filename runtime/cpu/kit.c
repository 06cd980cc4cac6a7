/* kit.c - helpers the cpu backend's op preparers and kernels share:
 * operands, outputs, axes, offset tables, strided copies; the thread pool
 * eval() splits work across; vector math. */
#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"


int cpu_need_float(CpuBuild *b, const CpuSlot *s, const char *what) {
  if (!cpu_is_float(s->dtype))
    return cpu_error(b, "operand '%s' is %s; fp16 or fp32 expected", what,
                     mil_dtype_name(s->dtype));
  return 0;
}

int cpu_readers(const CpuPlan *p, int i) {
  int n = 0;
  for (int j = 0; j < p->nsteps; j++) {
    const CpuStep *s = &p->steps[j];
    for (int k = 0; k < CPU_MAX_IN; k++)
      n += s->in[k] == i;
    for (int k = 0; k < s->nlist; k++)
      n += s->list[k] == i;
  }
  return n;
}

void cpu_run_nothing(const CpuPlan *p, const CpuStep *s) {
  (void)p;
  (void)s;
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

/* ---- threads ----------------------------------------------------------------------
 * A pool of nthreads - 1 workers that sleep on a condition variable
 * between jobs; the caller runs the first piece of each job itself. */

struct CpuPool {
  pthread_mutex_t mu;
  pthread_cond_t go, done;
  int nthreads, pending;
  uint64_t gen;             /* bumped for every job */
  bool quit;
  pthread_t *th;
  void (*fn)(void *ctx, int64_t lo, int64_t hi);
  void *ctx;
  int64_t n;
  int parts;
};

typedef struct Worker {
  CpuPool *pool;
  int id;
} Worker;

static void piece(CpuPool *pl, int i) {
  if (i < pl->parts)
    pl->fn(pl->ctx, pl->n * i / pl->parts, pl->n * (i + 1) / pl->parts);
}

static void *worker_main(void *arg) {
  Worker w = *(Worker *)arg;
  free(arg);
  CpuPool *pl = w.pool;
  uint64_t seen = 0;
  pthread_mutex_lock(&pl->mu);
  for (;;) {
    while (pl->gen == seen && !pl->quit)
      pthread_cond_wait(&pl->go, &pl->mu);
    if (pl->quit)
      break;
    seen = pl->gen;
    pthread_mutex_unlock(&pl->mu);
    piece(pl, w.id);
    pthread_mutex_lock(&pl->mu);
    if (--pl->pending == 0)
      pthread_cond_signal(&pl->done);
  }
  pthread_mutex_unlock(&pl->mu);
  return NULL;
}

CpuPool *cpu_pool_new(int nthreads) {
  if (nthreads < 2)
    return NULL;
  CpuPool *pl = calloc(1, sizeof *pl);
  if (!pl || !(pl->th = calloc((size_t)nthreads, sizeof *pl->th))) {
    free(pl);
    return NULL;
  }
  pthread_mutex_init(&pl->mu, NULL);
  pthread_cond_init(&pl->go, NULL);
  pthread_cond_init(&pl->done, NULL);
  pl->nthreads = 1;
  for (int i = 1; i < nthreads; i++) {   /* fewer threads if some cannot start */
    Worker *w = malloc(sizeof *w);
    if (!w)
      break;
    *w = (Worker){pl, i};
    if (pthread_create(&pl->th[i], NULL, worker_main, w) != 0) {
      free(w);
      break;
    }
    pl->nthreads++;
  }
  return pl;
}

void cpu_pool_free(CpuPool *pl) {
  if (!pl)
    return;
  pthread_mutex_lock(&pl->mu);
  pl->quit = true;
  pthread_cond_broadcast(&pl->go);
  pthread_mutex_unlock(&pl->mu);
  for (int i = 1; i < pl->nthreads; i++)
    pthread_join(pl->th[i], NULL);
  pthread_cond_destroy(&pl->go);
  pthread_cond_destroy(&pl->done);
  pthread_mutex_destroy(&pl->mu);
  free(pl->th);
  free(pl);
}

void cpu_parallel(CpuPool *pl, int64_t n, int64_t grain,
                  void (*fn)(void *ctx, int64_t lo, int64_t hi), void *ctx) {
  int64_t parts = grain > 0 ? n / grain : n;
  if (!pl || parts < 2) {
    if (n > 0)
      fn(ctx, 0, n);
    return;
  }
  pthread_mutex_lock(&pl->mu);
  pl->fn = fn;
  pl->ctx = ctx;
  pl->n = n;
  pl->parts = parts < pl->nthreads ? (int)parts : pl->nthreads;
  pl->pending = pl->nthreads - 1;
  pl->gen++;
  pthread_cond_broadcast(&pl->go);
  pthread_mutex_unlock(&pl->mu);
  piece(pl, 0);
  pthread_mutex_lock(&pl->mu);
  while (pl->pending > 0)
    pthread_cond_wait(&pl->done, &pl->mu);
  pthread_mutex_unlock(&pl->mu);
}

typedef struct RangeJob {
  const CpuPlan *p;
  const CpuStep *s;
} RangeJob;

static void range_piece(void *ctx, int64_t lo, int64_t hi) {
  const RangeJob *j = ctx;
  j->s->range(j->p, j->s, lo, hi);
}

void cpu_run_range(const CpuPlan *p, const CpuStep *s) {
  RangeJob j = {p, s};
  cpu_parallel(p->pool, s->nunits, s->grain, range_piece, &j);
}

void cpu_range_step(CpuStep *s, CpuRangeFn *fn, int64_t units, int64_t per_unit, bool rounds) {
  s->run = cpu_run_range;
  s->range = fn;
  s->rounds = rounds;
  s->nunits = units;
  s->grain = per_unit >= CPU_GRAIN ? 1 : CPU_GRAIN / (per_unit > 0 ? per_unit : 1);
}

void cpu_round_out(const CpuPlan *p, const CpuStep *s, int k, int64_t lo, int64_t hi) {
  const CpuSlot *o = &p->slots[s->out[k]];
  if (o->dtype == MIL_FP16 && !p->fp32 && !s->exact && hi > lo)
    cpu_round_fp16(o->data + lo, hi - lo);
}

/* ---- GEMM ---------------------------------------------------------------------------
 * The threads take C's tiles one at a time (an atomic counter, so a thread
 * slowed by the machine's other work takes fewer), each a single-threaded
 * sgemm, then the bias and fp16 rounding over the tile while it is still in
 * cache instead of over all of C from memory. On the idle 2-core VM the
 * seed's 64x64 chain ran as fast as with OpenBLAS's own two threads on the
 * whole GEMM; batched GEMMs (attention) get both threads on their small
 * products, and a busy neighbour slows the chain far less than OpenBLAS's
 * fixed split. OpenBLAS is set to one thread for the call, and back after,
 * so the ops that call it directly keep its threads. */

enum {
  GEMM_ROWS = 512,          /* largest tile: 512 x 256 floats, half of L2 */
  GEMM_COLS = 256,
  GEMM_ALONE = 1 << 21,     /* fewer multiply-adds than this: one thread */
};

typedef struct GemmJob {
  const CpuGemm *g;
  int64_t nm, nn, ntiles;
  atomic_llong next;
} GemmJob;

/* The start of piece j of nn along n, at a multiple of 16 when it can be. */
static int64_t gemm_cut(int64_t n, int64_t j, int64_t nn) {
  int64_t c = n * j / nn;
  return j == nn || n < 16 * nn ? c : c & ~(int64_t)15;
}

static void gemm_tile(const CpuGemm *g, int64_t t, int64_t nm, int64_t nn) {
  int64_t bi = t / (nm * nn), i = t % (nm * nn) / nn, j = t % nn;
  int64_t m0 = g->M * i / nm, m1 = g->M * (i + 1) / nm;
  int64_t n0 = gemm_cut(g->N, j, nn), n1 = gemm_cut(g->N, j + 1, nn);
  if (m1 <= m0 || n1 <= n0)
    return;
  const float *a = g->a + (g->aoff ? g->aoff[bi] : 0) + (g->ta ? m0 : m0 * g->lda);
  const float *b = g->b + (g->boff ? g->boff[bi] : 0) + (g->tb ? n0 * g->ldb : n0);
  float *c = g->c + bi * g->cstride + m0 * g->ldc + n0;
  if (g->K > 0)
    cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans,
                (int)(m1 - m0), (int)(n1 - n0), (int)g->K, 1.0f, a, (int)g->lda, b, (int)g->ldb,
                0.0f, c, (int)g->ldc);
  for (int64_t m = m0; m < m1; m++) {
    float *row = c + (m - m0) * g->ldc;
    if (g->K <= 0)
      memset(row, 0, (size_t)(n1 - n0) * sizeof *row);
    cpu_bias_round(row, n1 - n0, g->rowbias ? g->rowbias[m] : 0.0f,
                   g->colbias ? g->colbias + n0 : NULL, g->round);
  }
}

static void gemm_piece(void *ctx, int64_t lo, int64_t hi) {
  (void)lo;
  (void)hi;
  GemmJob *j = ctx;
  for (int64_t t; (t = atomic_fetch_add(&j->next, 1)) < j->ntiles;)
    gemm_tile(j->g, t, j->nm, j->nn);
}

void cpu_gemm(const CpuPlan *p, const CpuGemm *g) {
  if (g->M <= 0 || g->N <= 0 || g->batches <= 0)
    return;
  GemmJob j = {g, (g->M + GEMM_ROWS - 1) / GEMM_ROWS, (g->N + GEMM_COLS - 1) / GEMM_COLS, 0, 0};
  j.ntiles = g->batches * j.nm * j.nn;
  atomic_init(&j.next, 0);
  double work = (double)g->batches * g->M * g->N * (g->K > 0 ? g->K : 1);
  int nt = openblas_get_num_threads();
  if (nt > 1)
    openblas_set_num_threads(1);
  cpu_parallel(p->pool, j.ntiles, work < GEMM_ALONE ? j.ntiles : 1, gemm_piece, &j);
  if (nt > 1)
    openblas_set_num_threads(nt);
}

/* ---- vector math ------------------------------------------------------------------
 * Written with the vector extensions gcc and clang share, since -O2 does
 * not vectorise loops with a select around a division. Branches become
 * selects on lane masks. The approximations are the textbook
 * constructions; tests/test_cpu.c bounds their relative error against
 * libm by 2^-22, two fp32 ulps (measured: exp 2^-23.6, tanh 2^-22.8,
 * sigmoid 2^-23.0), so an fp16 result is at most one fp16 ulp from what
 * libm's would round to, and nearly always equal. */

/* With CPU_CLONES, 8 lanes: two SSE2 registers on the baseline, one in the
 * AVX2 and AVX-512 clones; else 4. The reductions keep 4, so their order
 * of additions, and so their results, stay as they were. */
#ifdef CPU_CLONES_ON
typedef float VF __attribute__((vector_size(32)));
typedef int32_t VI __attribute__((vector_size(32)));
/* the 32-byte vectors only pass between inlined functions: no ABI to keep
 * (configure adds -Wno-psabi for gcc's note saying it changed) */
#else
typedef float VF __attribute__((vector_size(16)));
typedef int32_t VI __attribute__((vector_size(16)));
#endif
typedef float VF4 __attribute__((vector_size(16)));
typedef int32_t VI4 __attribute__((vector_size(16)));
enum { VL = sizeof(VF) / sizeof(float) };
#define VINLINE static inline __attribute__((always_inline))

VINLINE VF vsel(VI m, VF a, VF b) { return (VF)(((VI)a & m) | ((VI)b & ~m)); }

VINLINE VF vabs(VF x) { return (VF)((VI)x & 0x7fffffff); }

/* e^x = 2^n e^r, n = round(x log2 e), r = x - n ln 2 in [-ln2/2, ln2/2]
 * (ln 2 split in two so n ln2_hi is exact), e^r by a degree-6 polynomial
 * (Cephes expf's coefficients); 2^n applied as two factors so results
 * from the overflow to inf down to the denormals come out right. x is
 * clamped first: outside [-104, 88.8] e^x is 0 or inf in fp32 either way. */
VINLINE VF vexp(VF x) {
  VF c = vsel(x < -104.0f, (VF){0} - 104.0f, x);
  c = vsel(c > 88.8f, (VF){0} + 88.8f, c);
  VF fn = (c * 1.44269504088896341f + 12582912.0f) - 12582912.0f;   /* rounded to an integer */
  VF r = c - fn * 0.693359375f - fn * -2.12194440e-4f;
  VF p = r * 1.9875691500e-4f + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  VI n = __builtin_convertvector(fn, VI), n1 = n / 2, n2 = n - n1;
  VF e = p * (VF)((n1 + 127) << 23) * (VF)((n2 + 127) << 23);
  return vsel(x != x, x, e);
}

/* tanh: an odd polynomial below 0.625 (Cephes tanhf's coefficients), else
 * 1 - 2 / (e^2|x| + 1), without cancellation there since tanh >= 0.55. */
VINLINE VF vtanh(VF x) {
  VF a = vabs(x), z = x * x;
  VF p = z * -5.70498872745e-3f + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  VF small = p * z * x + x;
  VF big = 1.0f - 2.0f / (vexp(a * 2.0f) + 1.0f);
  big = (VF)((VI)big | ((VI)x & (int32_t)0x80000000));   /* x's sign */
  return vsel(a < 0.625f, small, big);
}

VINLINE VF vsigmoid(VF x) { return 1.0f / (1.0f + vexp(-x)); }

#define VMAP(F)                                                \
  do {                                                         \
    int64_t i_ = 0;                                            \
    VF v_;                                                     \
    for (; i_ + VL <= n; i_ += VL) {                           \
      memcpy(&v_, x + i_, sizeof v_);                          \
      v_ = F(v_);                                              \
      memcpy(y + i_, &v_, sizeof v_);                          \
    }                                                          \
    if (i_ < n) {                                              \
      v_ = (VF){0};                                            \
      memcpy(&v_, x + i_, (size_t)(n - i_) * sizeof *x);       \
      v_ = F(v_);                                              \
      memcpy(y + i_, &v_, (size_t)(n - i_) * sizeof *y);       \
    }                                                          \
  } while (0)

CPU_CLONES void cpu_vexp(float *y, const float *x, int64_t n) { VMAP(vexp); }

CPU_CLONES void cpu_vtanh(float *y, const float *x, int64_t n) { VMAP(vtanh); }

CPU_CLONES void cpu_vsigmoid(float *y, const float *x, int64_t n) { VMAP(vsigmoid); }

/* The largest of x[0..n), NaNs skipped as fmaxf skips them (-inf when
 * there is no number). */
float cpu_vmax(const float *x, int64_t n) {
  VF4 m = (VF4){0} - INFINITY, v;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    memcpy(&v, x + i, sizeof v);
    m = (VF4)(((VI4)v & (v > m)) | ((VI4)m & ~(v > m)));
  }
  float r = -INFINITY;
  for (int j = 0; j < 4; j++)
    r = m[j] > r ? m[j] : r;
  for (; i < n; i++)
    r = x[i] > r ? x[i] : r;
  return r;
}

/* The sum of x[0..n) in four interleaved partial sums. */
float cpu_vsum(const float *x, int64_t n) {
  VF4 a = {0}, v;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    memcpy(&v, x + i, sizeof v);
    a += v;
  }
  float r = (a[0] + a[1]) + (a[2] + a[3]);
  for (; i < n; i++)
    r += x[i];
  return r;
}
