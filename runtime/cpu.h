/* cpu.h - inside the cpu backend: the plan open() builds, the helpers op
 * preparers use, and the op table. Not a public contract: the backend's
 * interface is cpu_backend in backend.h.
 *
 * open() turns a MIL function into a plan: one slot per value (inputs, op
 * outputs, constants), one step per op that runs at eval(). Every tensor is
 * held as fp32; a slot whose MIL dtype is fp16 only ever holds values
 * representable in fp16, ints hold integers. Constants and constexpr ops
 * are computed once at open(). */
#ifndef ANET_CPU_H
#define ANET_CPU_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"

enum {
  CPU_MAX_IN = 8,           /* operand slots of one step */
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
  int last;                 /* index of the last step reading it, or -1 */
} CpuSlot;

typedef struct CpuPlan CpuPlan;
typedef struct CpuStep CpuStep;

struct CpuStep {
  const MilOp *op;
  void (*run)(const CpuPlan *p, const CpuStep *s);
  int mode;                 /* which variant of the op (unary function, ...) */
  int in[CPU_MAX_IN];       /* operand slots; their meaning is the op's */
  int nlist, *list;         /* concat's values */
  int nout, *out;           /* one slot per op output */
  int64_t k[CPU_NK];        /* integer parameters: shapes, strides, ... */
  float f[4];               /* float parameters */
  int64_t *tab[2];          /* offset tables (reductions, batches) */
  int64_t ntab[2];
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
  int ninputs, *inputs;     /* slot of each function input */
  int noutputs, *outputs;   /* slot of each function output */
  const OpTimer *timer;     /* anerun --profile, or NULL */
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
} CpuOpDef;

/* cpu_ops.c */
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
/* The dtype's integer range, for saturating conversions. */
void cpu_int_range(MilDtype dt, double *lo, double *hi);
/* "tensor<fp16, [1, 2]>" into buf. */
const char *cpu_type_str(char *buf, size_t n, MilDtype dt, int rank, const int64_t *dim);

#endif
