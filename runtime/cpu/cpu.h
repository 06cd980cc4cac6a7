/* cpu.h - inside the cpu backend: the plan open() builds, the helpers op
 * preparers use, and the op table. Not a public contract: the backend's
 * interface is cpu_backend in backend.h.
 *
 * open() turns a MIL function into a plan: one slot per value (inputs, op
 * outputs, constants), one step per op that runs at eval(). fp16 and fp32
 * tensors are held as float (an fp16 slot only ever holds values
 * representable in fp16); bool and integer tensors as int32_t in the same
 * 4-byte buffers, exactly (libcpu is built with -fno-strict-aliasing for
 * that). Constants and constexpr ops are computed once at open(). */
#ifndef ANET_CPU_H
#define ANET_CPU_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"

enum {
  CPU_MAX_IN = 12,          /* operand slots of one step (bidirectional lstm: 11) */
  CPU_NK = 48,              /* integer parameters of one step */
  CPU_ABSENT = -1,          /* an optional operand that is not there */
  CPU_ERR = -2,             /* an operand that could not be resolved */
};
/* Largest tensor the backend handles, so every count fits an int (BLAS). */
#define CPU_MAX_ELEMS ((int64_t)INT32_MAX)

typedef struct CpuSlot {
  const char *name;         /* NULL for inline values */
  MilDtype dtype;
  int rank;
  int64_t dim[MIL_MAX_RANK];
  int64_t n;                /* elements */
  float *data;
  const char *str;          /* string constants */
  bool isconst;             /* known at open(): const, constexpr, inline */
  bool keep;                /* function input or output: never reused */
  bool bad;                 /* its op failed to prepare: users stay quiet */
  bool state;               /* a state input: its storage lasts across evals */
  int last;                 /* index of the last step reading it, or -1 */
} CpuSlot;

typedef struct CpuPlan CpuPlan;
typedef struct CpuStep CpuStep;
typedef struct CpuPool CpuPool;

/* A kernel's share of its step: units [lo, hi) of s->nunits (elements,
 * rows, ...). With s->rounds it rounds the fp16 output it writes itself
 * (cpu_round_out), while the values are still in cache. */
typedef void CpuRangeFn(const CpuPlan *p, const CpuStep *s, int64_t lo, int64_t hi);

struct CpuStep {
  const MilOp *op;
  void (*run)(const CpuPlan *p, const CpuStep *s);
  int mode;                 /* which variant of the op (unary function, ...) */
  bool exact;               /* its CpuOpDef's: no fp16 rounding after it */
  int in[CPU_MAX_IN];       /* operand slots; their meaning is the op's */
  int nlist, *list;         /* concat's values */
  int nout, *out;           /* one slot per op output */
  int64_t k[CPU_NK];        /* integer parameters: shapes, strides, ... */
  float f[4];               /* float parameters */
  int64_t *tab[2];          /* offset tables (reductions, batches) */
  int64_t ntab[2];
  CpuRangeFn *range;        /* when set (and run is cpu_run_range), nunits are */
  int64_t nunits;           /* split across the threads, at least grain each; */
  int64_t grain;            /* cpu_range_step sets all three */
  bool rounds;              /* run rounds its fp16 outputs itself, else eval() does */
  float *pre;               /* what the preparer derived from constant operands
                               (conv's Winograd weights), from cpu_step_alloc */
};

struct CpuPlan {
  const char *name;         /* the model, for errors after open() */
  CpuSlot *slots;
  int nslots, slotcap;
  CpuStep *steps;
  int nsteps, stepcap;
  float *scratch;           /* im2col columns, shared by all steps */
  int64_t nscratch;
  float **bufs;             /* every float buffer, freed by close */
  int nbufs, bufcap;
  bool fp32;                /* --precision fp32: fp16 values are not rounded */
  int ninputs, *inputs;     /* slot of each function input */
  int noutputs, *outputs;   /* slot of each function output */
  const OpTimer *timer;     /* anerun --profile, or NULL */
  CpuPool *pool;            /* eval()'s threads (NULL: one), as many as OpenBLAS's */
};

/* What an op preparer sees while open() builds the plan. */
typedef struct CpuBuild {
  CpuPlan *plan;
  const Model *m;
  Diag *d;
  int opset;                /* iOS version of the function's opset: 15..18 */
  const MilOp *op;          /* the op being prepared */
  CpuStep *step;            /* ... and its step */
  int *hash;                /* name -> slot, open addressing, -1 empty */
  uint32_t hashcap;
} CpuBuild;

/* An op: prep checks operands and parameters, computes and checks the
 * output types and fills the step; run is the kernel. */
typedef struct CpuOpDef {
  const char *name;
  int (*prep)(CpuBuild *b, CpuStep *s);
  void (*run)(const CpuPlan *p, const CpuStep *s);
  int mode;
  bool constexpr_op;        /* evaluated once at open() */
  bool exact;               /* every output value is one of the inputs' (copies, max,
                               relu...): an fp16 output needs no rounding pass */
} CpuOpDef;

/* The op families, each a table ending with a NULL name. */
extern const CpuOpDef cpu_ops_elementwise[], cpu_ops_reduce[], cpu_ops_conv[],
    cpu_ops_movement[], cpu_ops_gather[], cpu_ops_quant[], cpu_ops_pool[], cpu_ops_recurrent[],
    cpu_ops_state[], cpu_ops_image[], cpu_ops_reorder[], cpu_ops_einsum[],
    cpu_ops_conv3d[];
const CpuOpDef *cpu_op_find(const char *name);

/* cpu.c: helpers for preparers. Each returns -1 (or CPU_ERR) after
 * reporting an error at the op. */
int cpu_error(CpuBuild *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The slot bound to operand `name` (an input, or an attribute for the
 * constexpr ops' attribute form); CPU_ABSENT when optional and missing. */
int cpu_input(CpuBuild *b, const char *name, bool required);
/* The slots of a parenthesised list operand ("values = (a, b)"). */
int cpu_input_list(CpuBuild *b, const char *name, int **slots);
/* Compile-time parameters. def == NULL makes the parameter required. */
int cpu_param_ints(CpuBuild *b, const char *name, int64_t *out, int max, const int64_t *def,
                   int ndef);
int cpu_param_int(CpuBuild *b, const char *name, const int64_t *def, int64_t *out);
int cpu_param_float(CpuBuild *b, const char *name, const double *def, double *out);
int cpu_param_str(CpuBuild *b, const char *name, const char *def, const char **out);
int cpu_param_bools(CpuBuild *b, const char *name, bool *out, int n);
/* Requires the slot to be known at open() (a const or constexpr value). */
int cpu_need_const(CpuBuild *b, int slot, const char *what);
/* Declares output k of the op: checks the op declares exactly nout outputs
 * and that output k's declared type is dt[dim]; returns its slot. */
int cpu_output(CpuBuild *b, int k, int nout, MilDtype dt, int rank, const int64_t *dim);
/* Reserves n floats of the shared scratch buffer for this step. */
void cpu_scratch(CpuBuild *b, int64_t n);
/* Normalises an axis in [-rank, rank); -1 after reporting. */
int cpu_axis(CpuBuild *b, const char *what, int64_t axis, int rank, int *out);
/* A malloc'd array owned by the step (freed at close); NULL after reporting. */
void *cpu_step_alloc(CpuBuild *b, int64_t n, size_t size);

/* Rounds every element to the nearest fp16, ties to even (overflow: inf). */
void cpu_round_fp16(float *x, int64_t n);
/* x[i] + v[i], or x[i] + b when v is NULL (b = 0: nothing added, -0
 * stays -0), then rounded to fp16 when round. */
void cpu_bias_round(float *x, int64_t n, float b, const float *v, bool round);
/* The dtype's integer range, for saturating conversions. */
void cpu_int_range(MilDtype dt, double *lo, double *hi);
/* "tensor<fp16, [1, 2]>" into buf. */
const char *cpu_type_str(char *buf, size_t n, MilDtype dt, int rank, const int64_t *dim);

/* kit.c: what op preparers and kernels share. Operand slots are copied
 * out (cpu_slot), because creating an inline constant's slot may move
 * the slot array. */
static inline CpuSlot cpu_slot(const CpuBuild *b, int i) { return b->plan->slots[i]; }
static inline float *cpu_data(const CpuPlan *p, int i) { return p->slots[i].data; }
static inline const CpuSlot *cpu_out0(const CpuPlan *p, const CpuStep *s) { return &p->slots[s->out[0]]; }
static inline bool cpu_is_float(MilDtype t) { return t == MIL_FP16 || t == MIL_FP32; }
static inline int32_t *cpu_idata(const CpuPlan *p, int i) { return (int32_t *)p->slots[i].data; }
/* Element i of a slot of any dtype, as a double. */
static inline double cpu_get(const CpuSlot *s, int64_t i) {
  return cpu_is_float(s->dtype) ? (double)s->data[i] : (double)((const int32_t *)s->data)[i];
}

/* The loops that stream whole tensors (fp16 rounding, binary ops, vector
 * math) are compiled three times by gcc, for AVX-512, AVX2 and the x86-64
 * baseline, the loader picking one for the CPU (an ifunc, glibc only):
 * 16 lanes instead of 4. gcc -std=c11 contracts no a * b + c into an FMA,
 * so every clone computes the same values. (clang wants the attribute on
 * every declaration, and its clones on the baseline refuse kit.c's vectors:
 * not for clang.) */
#if defined(__x86_64__) && defined(__linux__) && defined(__GLIBC__) && defined(__GNUC__) && \
    !defined(__clang__) && __GNUC__ >= 8
#define CPU_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#define CPU_CLONES_ON 1
#else
#define CPU_CLONES
#endif

/* i over [0, n) in blocks of 16: gcc -O2 vectorises the constant-length
 * inner loop (its cost model refuses loops that need a scalar epilogue). */
#define CPU_EACH(n, BODY)                                    \
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

int cpu_need_float(CpuBuild *b, const CpuSlot *s, const char *what);

int64_t cpu_prod(const int64_t *d, int from, int to);

void cpu_strides(int rank, const int64_t *dim, int64_t *st);

const char *cpu_shape_str(char *buf, size_t n, const CpuSlot *s);

/* For the passes that fuse steps once the plan is built: the steps reading
 * slot i, and the run of a step whose work another step does. */
int cpu_readers(const CpuPlan *p, int i);
void cpu_run_nothing(const CpuPlan *p, const CpuStep *s);

/* Binds operand `name` to s->in[k] and copies its slot to *x (zeroed when
 * an optional one is absent); -1 after reporting. Preparers bind all their
 * operands before checking any, and stop at the first that fails. */
int cpu_operand(CpuBuild *b, CpuStep *s, int k, const char *name, bool required, CpuSlot *x);

/* The op's single output. */
int cpu_one_out(CpuBuild *b, MilDtype dt, int rank, const int64_t *dim);

/* The op's single output, of x's shape and dtype. */
int cpu_same_out(CpuBuild *b, const CpuSlot *x);

/* Binds x and reads the int vector parameter `name` (required, up to
 * MIL_MAX_RANK values): their count, or -1 after reporting. */
int cpu_x_and_ints(CpuBuild *b, CpuStep *s, CpuSlot *x, const char *name, int64_t *v);

/* Normalises the axes raw[0..n) into ax; -1 after reporting one out of
 * range, else the index of the first that repeats an earlier one (n when
 * none does), whose message is the caller's. */
int cpu_norm_axes(CpuBuild *b, const char *what, const int64_t *raw, int n, int rank, int *ax);

/* The axes operand, normalised and distinct: the count, or CPU_ERR. When
 * it is absent: all axes with all_default, else CPU_ABSENT. */
int cpu_get_axes(CpuBuild *b, const char *name, int rank, int *ax, bool all_default);

/* An int vector parameter of exactly n values. */
int cpu_ints_exact(CpuBuild *b, const char *name, int64_t *out, int n, const int64_t *def);

/* Offsets of every position of the dims ds[0..nd) (odometer order, the
 * last one fastest) in a C-order tensor with the given strides. */
void cpu_fill_offsets(int64_t *o, const int *ds, int nd, const int64_t *dim,
                         const int64_t *st);

/* tab[0]: offsets of the positions outside the axes (C order);
 * tab[1]: offsets within the axes, in the order the axes are given. */
int cpu_split_offsets(CpuBuild *b, CpuStep *s, const CpuSlot *x, const int *ax, int nax);

/* Copies a strided view of src (dims and element strides) in C order; 4-byte
 * elements copied as bits, so floats and ints alike. */
void cpu_copy_strided(uint32_t *dst, const uint32_t *src, int rank, const int64_t *dim,
                      const int64_t *st);

/* k[0] rank, k[1..8] dims, k[9..16] source strides, k[17] source offset */
void cpu_run_strided(const CpuPlan *p, const CpuStep *s);

void cpu_run_copy(const CpuPlan *p, const CpuStep *s);

/* Threads. cpu_parallel runs fn(ctx, lo, hi) on contiguous pieces of
 * [0, n), at least grain units each, one piece per thread of the pool (the
 * caller takes the first); it returns when all are done. A NULL pool runs
 * fn(ctx, 0, n). Kernels run under it must not call it again. */
CpuPool *cpu_pool_new(int nthreads);
void cpu_pool_free(CpuPool *pool);
void cpu_parallel(CpuPool *pool, int64_t n, int64_t grain,
                  void (*fn)(void *ctx, int64_t lo, int64_t hi), void *ctx);
/* The run of a step with a range function: all of its units, on the
 * plan's threads. */
void cpu_run_range(const CpuPlan *p, const CpuStep *s);
/* The least elements a thread's piece holds: below that, waking a thread
 * costs more than it saves. */
enum { CPU_GRAIN = 16384 };
/* Makes s run fn on the plan's threads (run, range, nunits, grain):
 * units of per_unit elements each, at least CPU_GRAIN elements a piece;
 * rounds: fn rounds the fp16 outputs it writes (cpu_round_out). */
void cpu_range_step(CpuStep *s, CpuRangeFn *fn, int64_t units, int64_t per_unit, bool rounds);
/* Rounds elements [lo, hi) of the step's output k to fp16 where eval()
 * would have: an fp16 output, not --precision fp32, not an exact op. */
void cpu_round_out(const CpuPlan *p, const CpuStep *s, int k, int64_t lo, int64_t hi);

/* GEMMs on the plan's threads: C = op(A) op(B) for each batch (A, B at
 * their offsets, C batch i at c + i * cstride), with a bias added per row
 * or per column of C and the result rounded to fp16 when round. C is cut
 * in tiles that the threads take one at a time; each tile is one
 * single-threaded cblas_sgemm followed by the bias and rounding pass over
 * it while it is still in cache. */
typedef struct CpuGemm {
  bool ta, tb;
  int64_t M, N, K, lda, ldb, ldc;
  const float *a, *b;
  float *c;
  int64_t batches, cstride;
  const int64_t *aoff, *boff;   /* NULL: every batch at offset 0 */
  const float *rowbias, *colbias;
  bool round;
} CpuGemm;
void cpu_gemm(const CpuPlan *p, const CpuGemm *g);

/* sgemm.c: C = W X + bias per row (rounded to fp16 when round), all row
 * major: W [M, K] packed by cpu_sgemm_pack (cpu_sgemm_packed(M, K)
 * floats), X [K, N], C [M, N]; on an AVX2/FMA kernel, so only where
 * cpu_sgemm_available(). cpu_sgemm runs a chain of n such GEMMs, each one's
 * C the next one's X (g[0].x and g[n - 1].c only), where cpu_sgemm_chains
 * holds for every pair, with the values of lone GEMMs. buf: nbuf blocks of
 * cpu_sgemm_scratch(n) floats, one per thread at most. */
typedef struct CpuSgemm {
  int64_t M, N, K;
  const float *w, *x, *bias;
  float *c;
  bool round;
} CpuSgemm;
bool cpu_sgemm_available(void);
int64_t cpu_sgemm_packed(int64_t M, int64_t K);
void cpu_sgemm_pack(float *d, const float *w, int64_t M, int64_t K);
int64_t cpu_sgemm_scratch(int n);
bool cpu_sgemm_chains(const CpuSgemm *a, const CpuSgemm *b);
void cpu_sgemm(CpuPool *pool, const CpuSgemm *g, int n, float *buf, int nbuf);
/* The 1x1 conv (k as conv.c's) on it: 1 when chosen (k[17], k[19], s->pre
 * and the scratch then hold its data), 0 when it stays on cpu_gemm, -1
 * after reporting. */
int cpu_sgemm_prep(CpuBuild *b, CpuStep *s, const CpuSlot *w);
void cpu_sgemm_run(const CpuPlan *p, const CpuStep *s);
/* After every op is prepared, before buffers are assigned: consecutive
 * sgemm convs of one group and constant weights, each reading only the
 * one before, run as one chain from the first step (not under --profile);
 * the others' steps do nothing. */
void cpu_sgemm_fuse(CpuPlan *p);

/* Vector math over arrays (y may be x), branch-free so the loops
 * vectorise; kit.c gives each one's error bound against libm, which
 * tests/test_cpu.c asserts over a sweep of inputs. */
void cpu_vexp(float *y, const float *x, int64_t n);
void cpu_vtanh(float *y, const float *x, int64_t n);
void cpu_vsigmoid(float *y, const float *x, int64_t n);
/* The largest element (NaNs skipped, as by fmaxf; -inf for none), the sum
 * (in four interleaved partial sums). */
float cpu_vmax(const float *x, int64_t n);
float cpu_vsum(const float *x, int64_t n);

/* movement.c: the view slice_by_index's parameters select in x: the step's
 * k as cpu_run_strided reads it, the view's dims; its rank, or -1. */
int cpu_slice_view(CpuBuild *b, CpuStep *s, const CpuSlot *x, int64_t *dim);

/* conv.c: the window parameters of conv, conv_transpose and conv_quantized
 * over nsp (1..3) spatial dims, strides and dilations checked; the bias
 * (s->in[2]), when there is one: fp16 or fp32 of shape [n]. -1 after
 * reporting. */
int cpu_conv_window(CpuBuild *b, int nsp, int64_t *st, int64_t *dil, int64_t *custom,
                    const char **pad_type, int64_t *groups);
int cpu_conv_bias(CpuBuild *b, const CpuStep *s, int64_t n);
/* conv.c: conv's window over nsp (1..3) spatial dims of x and a weight of
 * dims wd (rank nsp + 2), checked (groups, bias, the kernel in the padded
 * input); -1 after reporting. */
typedef struct CpuConvGeom {
  int64_t st[3], dil[3], pad[6], out[3], groups;   /* pad: before, after per dim */
} CpuConvGeom;
int cpu_conv_geom(CpuBuild *b, const CpuStep *s, const CpuSlot *x, const int64_t *wd, int nsp,
                  CpuConvGeom *g);

/* conv.c: the pads (before, after per spatial dim) of a pad_type for
 * inputs in[], effective kernels keff[] and strides st[]. */
int cpu_conv_pads(CpuBuild *b, const char *type, int nsp, const int64_t *in,
                  const int64_t *keff, const int64_t *st, const int64_t *custom, int64_t *pad);

/* conv.c: conv_transpose's crop of the full output (full) along one dim
 * for a pad_type; same keeps same_out (in * stride). custom: before, after. */
int cpu_convt_pads(CpuBuild *b, const char *type, int64_t same_out, int64_t full,
                   const int64_t *custom, int64_t *lo, int64_t *hi);

/* pool.c: the source coordinate of output point i of out across xin
 * points under a resize_bilinear sampling mode, within [0, xin - 1]. */
enum { CPU_G_STRICT, CPU_G_ALIGN, CPU_G_DEFAULT, CPU_G_OFFSET, CPU_G_UNALIGN };
double cpu_grid(int mode, int64_t i, double xin, int64_t out);

/* igemm.c: a 1x1 conv (k as conv.c's) of int8 activations and int8-valued
 * weights as an exact int8 GEMM, where the CPU has one: 1 when chosen (the
 * step's tab[0], k[20..21] and in[3] then hold its data), 0 when the conv
 * stays on sgemm, -1 after reporting. */
int cpu_igemm_prep(CpuBuild *b, CpuStep *s, const CpuSlot *w);
/* Whether this CPU runs it (x86-64 with AVX512-VNNI). */
bool cpu_igemm_available(void);
/* After every op is prepared, before buffers are assigned: an int8 conv
 * whose next step quantizes its output per tensor (int8, zero point 0,
 * scale 2^e) writes that step's output itself, as a second output, from
 * its tiles while in cache; a dequantize read only by int8 convs (which
 * read its input) no longer runs. Both leave a step that does nothing. */
void cpu_igemm_fuse(CpuPlan *p);
void cpu_igemm_run(const CpuPlan *p, const CpuStep *s);

/* quant.c: y = clip(round_half_even(x / d) + z, lo, hi) (NaN: 0). */
void cpu_quant_row(int32_t *y, const float *x, int64_t n, float d, float z, float lo, float hi);

/* conv3d.c: the rank-5 case of conv, conv_transpose at every rank (x,
 * weight, bias bound to s->in[0..2]); each sets s->run. */
int cpu_conv3d(CpuBuild *b, CpuStep *s, const CpuSlot *x, const CpuSlot *w);
int cpu_conv_transpose(CpuBuild *b, CpuStep *s, const CpuSlot *x, const CpuSlot *w);
/* Dims v[0..nsp) of an op with nsp (1..3) spatial dims as the last nsp of
 * a 3-d window's k[at..at+3), fill before them (the unit leading dims). */
void cpu_put3(int64_t *k, int at, const int64_t *v, int nsp, int64_t fill);

/* winograd.c: 2-d convs of 3x3 kernels, stride and dilation 1, one group,
 * by Winograd's F(m x m, 3x3), m = 2 or 4; k as conv.c's. fits: such a
 * conv. prep: for a conv whose s->k conv.c has filled, 1 when it fits (the
 * scratch reserved, k[17..18] set, a constant weight transformed into
 * s->pre), 0 when not, -1 after reporting. weights: the transformed
 * weights U [(m + 2)^2][K][C] of w [K][C][3][3]. run: the conv of every
 * image, u as weights made, or NULL to make them from s->in[1]. */
bool cpu_wino_fits(const int64_t *k);
int cpu_wino_prep(CpuBuild *b, CpuStep *s, const CpuSlot *x, const CpuSlot *w);
void cpu_wino_weights(float *u, const float *w, int64_t K, int64_t C, int m);
void cpu_wino_run(const CpuPlan *p, const CpuStep *s, const float *x, const float *u,
                  const float *bias, float *y);

#endif
