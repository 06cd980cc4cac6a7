/* cpu.c - the cpu reference backend: builds a plan from a MIL function at
 * open() and runs its steps at eval(). The ops are in one file per family
 * (elementwise.c, reduce.c, conv.c, movement.c, quant.c, ...), their shared
 * helpers in kit.c.
 *
 * open() does everything that can fail: names resolve to slots through a
 * hash table, every op is checked (operands, parameters, the output types
 * it declares), constants are decoded and constexpr ops evaluated once, and
 * activation buffers are assigned, reusing a buffer once its last reader
 * has run. eval() then only calls kernels. */
#include "cpu.h"

#include <cblas.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fp16.h"
#include "opdef.h"

enum { CPU_MAX_ERRORS = 20 };

/* ---- fp16 rounding ---------------------------------------------------------
 * Bit arithmetic on the fp32 pattern, branch-free so the loop vectorises:
 * normal fp16 magnitudes keep 10 fraction bits (round half to even by
 * adding 0xfff plus the lowest kept bit); below 2^-14 the fp16 step is
 * 2^-24, which adding and removing 0.5 (whose fp32 step is 2^-24) rounds to
 * in one IEEE addition; magnitudes that round to 2^16 or more overflow. */

static inline uint32_t f2u(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

static inline float u2f(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static inline uint32_t pick(uint32_t cond, uint32_t a, uint32_t b) {
  uint32_t m = 0u - cond;   /* all ones when cond is 1 */
  return (a & m) | (b & ~m);
}

static inline float round16(float f) {
  uint32_t u = f2u(f);
  uint32_t a = u & 0x7fffffffu, sign = u ^ a;
  uint32_t nrm = (a + 0xfffu + ((a >> 13) & 1u)) & ~0x1fffu;
  uint32_t sub = f2u((u2f(a) + 0.5f) - 0.5f);
  uint32_t r = pick(a < 0x38800000u, sub, nrm);
  r = pick(r >= 0x47800000u, 0x7f800000u, r);
  r = pick(a > 0x7f800000u, a, r);
  return u2f(r | sign);
}

/* Blocks of 16 let gcc -O2 (whose cost model refuses loops that need a
 * scalar epilogue) vectorise the inner loop. */
CPU_CLONES void cpu_round_fp16(float *x, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; j++)
      x[i + j] = round16(x[i + j]);
  for (; i < n; i++)
    x[i] = round16(x[i]);
}

/* x[i] + v[i], or x[i] + b when v is NULL, rounded to fp16 when round: a
 * GEMM tile's bias and rounding in one pass. */
CPU_CLONES void cpu_bias_round(float *restrict x, int64_t n, float b, const float *restrict v,
                               bool round) {
  if (v && round)
    CPU_EACH(n, x[i] = round16(x[i] + v[i]));
  else if (v)
    CPU_EACH(n, x[i] = x[i] + v[i]);
  else if (b != 0.0f && round)   /* no bias adds nothing: -0 stays -0 */
    CPU_EACH(n, x[i] = round16(x[i] + b));
  else if (b != 0.0f)
    CPU_EACH(n, x[i] = x[i] + b);
  else if (round)
    cpu_round_fp16(x, n);
}

void cpu_int_range(MilDtype dt, double *lo, double *hi) {
  int bits = mil_dtype_bits(dt);
  if (dt == MIL_BOOL) {
    *lo = 0;
    *hi = 1;
  } else if (mil_dtype_is_signed(dt)) {
    *lo = -ldexp(1, bits - 1);
    *hi = ldexp(1, bits - 1) - 1;
  } else {
    *lo = 0;
    *hi = ldexp(1, bits) - 1;
  }
}

const char *cpu_type_str(char *buf, size_t n, MilDtype dt, int rank, const int64_t *dim) {
  size_t o = (size_t)snprintf(buf, n, "tensor<%s, [", mil_dtype_name(dt));
  for (int i = 0; i < rank && o < n; i++)
    o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? ", " : "", (long long)dim[i]);
  if (o < n)
    snprintf(buf + o, n - o, "]>");
  return buf;
}

/* ---- errors ---------------------------------------------------------------- */

static const char *where(const CpuBuild *b) { return b->plan->name; }

static void verr_at(CpuBuild *b, const MilOp *op, const char *fmt, va_list ap) {
  char msg[640];
  vsnprintf(msg, sizeof msg, fmt, ap);
  const MilProg *p = b->m->prog;
  if (p->src && op)
    diag_error(b->d, p->src, op->loc, "%s: %s", op->op, msg);
  else if (op)   /* no text to point at: name the op by its statement */
    diag_file_error(b->d, where(b), "%s = %s(...): %s", op->nouts ? op->outs[0].name : "?",
                    op->op, msg);
  else if (p->src)
    diag_error(b->d, p->src, b->m->fn->loc, "%s", msg);
  else
    diag_file_error(b->d, where(b), "function %s: %s", b->m->fn->name, msg);
}

int cpu_error(CpuBuild *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  verr_at(b, b->op, fmt, ap);
  va_end(ap);
  return -1;
}

static int fn_error(CpuBuild *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fn_error(CpuBuild *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  verr_at(b, NULL, fmt, ap);
  va_end(ap);
  return -1;
}

/* ---- memory ---------------------------------------------------------------- */

static void *xcalloc(CpuBuild *b, int64_t n, size_t size) {
  void *m = n >= 0 && (uint64_t)n < SIZE_MAX / size ? calloc(n ? (size_t)n : 1, size) : NULL;
  if (!m)
    fn_error(b, "out of memory (%lld elements of %zu bytes)", (long long)n, size);
  return m;
}

static void *grow(CpuBuild *b, void *a, int *cap, int need, size_t size) {
  if (need <= *cap)
    return a;
  int n = *cap ? *cap * 2 : 16;
  while (n < need)
    n *= 2;
  void *r = realloc(a, (size_t)n * size);
  if (!r) {
    fn_error(b, "out of memory");
    return NULL;
  }
  memset((char *)r + (size_t)*cap * size, 0, (size_t)(n - *cap) * size);
  *cap = n;
  return r;
}

/* A float buffer the plan owns. */
static float *new_buf(CpuBuild *b, int64_t n) {
  CpuPlan *p = b->plan;
  float **bufs = grow(b, p->bufs, &p->bufcap, p->nbufs + 1, sizeof *bufs);
  if (!bufs)
    return NULL;
  p->bufs = bufs;
  /* at a cache line (calloc's large blocks start 16 bytes past a page):
   * sgemm.c's loads and stores across lines cost it 3% on the seed chain */
  float *f = NULL;
  if (n >= 0 && (uint64_t)n < SIZE_MAX / sizeof *f - 16) {
    size_t bytes = ((size_t)(n ? n : 1) * sizeof *f + 63) & ~(size_t)63;
    if ((f = aligned_alloc(64, bytes)))
      memset(f, 0, bytes);
  }
  if (!f)
    fn_error(b, "out of memory (%lld elements of %zu bytes)", (long long)n, sizeof *f);
  if (f)
    p->bufs[p->nbufs++] = f;
  return f;
}

/* Frees a buffer new_buf gave out (searching from the newest). */
static void drop_buf(CpuPlan *p, float *f) {
  for (int i = p->nbufs - 1; i >= 0; i--)
    if (p->bufs[i] == f) {
      free(f);
      p->bufs[i] = p->bufs[--p->nbufs];
      return;
    }
}

void *cpu_step_alloc(CpuBuild *b, int64_t n, size_t size) { return xcalloc(b, n, size); }

void cpu_scratch(CpuBuild *b, int64_t n) {
  if (n > b->plan->nscratch)
    b->plan->nscratch = n;
}

/* ---- slots and names --------------------------------------------------------- */

static int new_slot(CpuBuild *b) {
  CpuPlan *p = b->plan;
  CpuSlot *s = grow(b, p->slots, &p->slotcap, p->nslots + 1, sizeof *s);
  if (!s)
    return CPU_ERR;
  p->slots = s;
  s[p->nslots].last = -1;
  return p->nslots++;
}

static uint32_t hash_str(const char *s) {
  uint32_t h = 2166136261u;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

static int lookup(const CpuBuild *b, const char *name) {
  for (uint32_t i = hash_str(name) & (b->hashcap - 1);; i = (i + 1) & (b->hashcap - 1)) {
    int s = b->hash[i];
    if (s < 0 || strcmp(b->plan->slots[s].name, name) == 0)
      return s;
  }
}

/* Names a slot; a name defined twice is an error (SSA). */
static int define(CpuBuild *b, int slot, const char *name) {
  uint32_t i = hash_str(name) & (b->hashcap - 1);
  for (; b->hash[i] >= 0; i = (i + 1) & (b->hashcap - 1))
    if (strcmp(b->plan->slots[b->hash[i]].name, name) == 0)
      return cpu_error(b, "'%s' is defined twice", name);
  b->hash[i] = slot;
  b->plan->slots[slot].name = name;
  return 0;
}

static bool runtime_dtype(MilDtype dt) {
  switch (dt) {
  case MIL_FP16: case MIL_FP32: case MIL_BOOL: case MIL_INT8: case MIL_UINT8:
  case MIL_INT16: case MIL_UINT16: case MIL_INT32:
    return true;
  default:
    return false;
  }
}

/* Gives a slot the shape of a declared tensor type. */
static int set_shape(CpuBuild *b, int slot, const MilType *t, const char *name) {
  if (t->kind != MIL_TENSOR)
    return cpu_error(b, "'%s' is not a tensor; the cpu backend runs tensors only", name);
  int64_t n = mil_type_numel(t);
  if (n < 0)
    return cpu_error(b, "'%s' has an unknown ('?') dimension; the cpu backend needs static shapes",
                     name);
  if (n > CPU_MAX_ELEMS)
    return cpu_error(b, "'%s' has %lld elements, more than the cpu backend's limit %lld", name,
                     (long long)n, (long long)CPU_MAX_ELEMS);
  CpuSlot *s = &b->plan->slots[slot];
  s->dtype = t->dtype;
  s->rank = t->rank;
  memcpy(s->dim, t->dim, sizeof s->dim);
  s->n = n;
  return 0;
}

/* ---- constants ---------------------------------------------------------------- */

static uint64_t le_bits(const uint8_t *p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

/* Element i of a blob's data, as stored (FORMATS.md §1.5: little-endian,
 * sub-byte values packed from the least significant bit). */
static double blob_elem(const uint8_t *p, MilDtype dt, int64_t i) {
  int bits = mil_dtype_bits(dt);
  if (bits < 8) {
    uint64_t bit = (uint64_t)i * (uint64_t)bits;
    uint32_t w = (uint32_t)le_bits(p + bit / 8, bit % 8 + (uint64_t)bits > 8 ? 2 : 1);
    uint32_t v = (w >> (bit % 8)) & ((1u << bits) - 1);
    return dt == MIL_INT4 && v >= 8 ? (double)v - 16 : (double)v;
  }
  uint64_t v = le_bits(p + i * (bits / 8), bits / 8);
  switch (dt) {
  case MIL_FP16: return fp16_to_float((uint16_t)v);
  case MIL_BF16: return u2f((uint32_t)v << 16);
  case MIL_FP32: return u2f((uint32_t)v);
  case MIL_INT8: return (int8_t)v;
  case MIL_INT16: return (int16_t)v;
  case MIL_INT32: return (int32_t)v;
  default: return (double)v;   /* unsigned */
  }
}

static bool blob_dtype_ok(MilDtype dt) {
  return dt != MIL_BOOL && dt != MIL_STRING && dt != MIL_FP64 && dt != MIL_INT64 &&
         dt != MIL_UINT64;
}

/* Stores v as the dtype dt holds it: fp16 rounds, ints round half to even
 * and saturate (NaN gives 0), bool is v != 0. */
static void store(float *buf, int64_t i, MilDtype dt, double v) {
  if (mil_dtype_is_float(dt)) {
    buf[i] = dt == MIL_FP16 ? (float)fp16_round(v) : (float)v;
    return;
  }
  double lo, hi;
  cpu_int_range(dt, &lo, &hi);
  if (dt == MIL_BOOL)
    v = v != 0;
  v = v != v ? 0 : nearbyint(v);
  ((int32_t *)buf)[i] = (int32_t)(v < lo ? lo : v > hi ? hi : v);
}

/* A slot holding a compile-time value: inline data or a weight blob. */
static int value_slot(CpuBuild *b, const MilValue *v, const char *what) {
  if (v->kind == MIL_VAGG || v->type->kind != MIL_TENSOR)
    return cpu_error(b, "%s is a list, tuple or dict value; a tensor was expected", what), CPU_ERR;
  int slot = new_slot(b);
  if (slot < 0 || set_shape(b, slot, v->type, what) < 0)
    return CPU_ERR;
  CpuSlot *s = &b->plan->slots[slot];
  s->isconst = true;
  MilDtype dt = s->dtype;
  if (dt == MIL_STRING) {
    if (v->kind != MIL_VDATA || s->n != 1 || v->n != 1)
      return cpu_error(b, "%s: only scalar strings are supported", what), CPU_ERR;
    s->str = v->s[0];
    return slot;
  }
  int64_t n = s->n;
  float *f = new_buf(b, n);
  if (!f)
    return CPU_ERR;
  s = &b->plan->slots[slot];
  s->data = f;
  if (v->kind == MIL_VDATA) {
    if (v->n != n)
      return cpu_error(b, "%s holds %lld elements, its type %lld", what, (long long)v->n,
                       (long long)n), CPU_ERR;
    for (int64_t i = 0; i < n; i++)
      store(f, i, dt, v->f ? v->f[i] : (double)v->i[i]);
    return slot;
  }
  if (!blob_dtype_ok(dt))
    return cpu_error(b, "%s: weight blobs of dtype %s are not supported", what,
                     mil_dtype_name(dt)), CPU_ERR;
  if (!b->m->weights)
    return cpu_error(b, "%s is stored in a weight file, but the model has no weights", what),
           CPU_ERR;
  const uint8_t *raw = wstore_blob(b->m->weights, v, b->d);
  if (!raw)
    return CPU_ERR;
  for (int64_t i = 0; i < n; i++)
    store(f, i, dt, blob_elem(raw, dt, i));
  return slot;
}

/* ---- operands ------------------------------------------------------------------ */

static int bind_slot(CpuBuild *b, const MilBind *bd, const char *name) {
  if (bd->kind == MIL_BVAL)
    return value_slot(b, bd->val, name);
  if (bd->kind == MIL_BLIST)
    return cpu_error(b, "operand '%s' is a list; a single value was expected", name), CPU_ERR;
  int s = lookup(b, bd->ref);
  if (s < 0)
    return cpu_error(b, "'%s' (operand '%s') is not defined before this op", bd->ref, name),
           CPU_ERR;
  return b->plan->slots[s].bad ? CPU_ERR : s;
}

int cpu_input(CpuBuild *b, const char *name, bool required) {
  const MilArg *a = mil_op_arg(b->op, name);
  if (a)
    return bind_slot(b, &a->bind, name);
  const MilAttr *at = mil_op_attr_get(b->op, name);
  if (at)
    return value_slot(b, at->val, name);
  if (required)
    return cpu_error(b, "missing operand '%s'", name), CPU_ERR;
  return CPU_ABSENT;
}

int cpu_input_list(CpuBuild *b, const char *name, int **slots) {
  const MilArg *a = mil_op_arg(b->op, name);
  if (!a)
    return cpu_error(b, "missing operand '%s'", name);
  const MilBind *items = a->bind.kind == MIL_BLIST ? a->bind.items : &a->bind;
  int n = a->bind.kind == MIL_BLIST ? a->bind.nitems : 1;
  if (n < 1)
    return cpu_error(b, "operand '%s' is an empty list", name);
  int *s = xcalloc(b, n, sizeof *s);
  if (!s)
    return -1;
  for (int i = 0; i < n; i++)
    if ((s[i] = bind_slot(b, &items[i], name)) < 0) {
      free(s);
      return -1;
    }
  *slots = s;
  return n;
}

int cpu_need_const(CpuBuild *b, int slot, const char *what) {
  if (!b->plan->slots[slot].isconst)
    return cpu_error(b, "'%s' must be a constant (const or constexpr value)", what);
  return 0;
}

/* A constant parameter slot of the given class ('i' int, 'f' number,
 * 's' string, 'b' bool), or CPU_ABSENT / CPU_ERR. */
static int param(CpuBuild *b, const char *name, char cls, bool required) {
  int slot = cpu_input(b, name, required);
  if (slot < 0)
    return slot;
  if (cpu_need_const(b, slot, name) < 0)
    return CPU_ERR;
  const CpuSlot *s = &b->plan->slots[slot];
  bool ok = cls == 'i'   ? mil_dtype_is_int(s->dtype)
            : cls == 'f' ? mil_dtype_is_float(s->dtype) || mil_dtype_is_int(s->dtype)
            : cls == 's' ? s->dtype == MIL_STRING
                         : s->dtype == MIL_BOOL;
  /* int parameters may be [2, 2] matrices (paddings, crops), read in C order */
  if (!ok || s->rank > (cls == 'i' ? 2 : 1)) {
    char t[96];
    return cpu_error(b, "parameter '%s' is %s; %s expected", name,
                     cpu_type_str(t, sizeof t, s->dtype, s->rank, s->dim),
                     cls == 'i'   ? "an int scalar, vector or matrix"
                     : cls == 'f' ? "a number"
                     : cls == 's' ? "a string"
                                  : "a bool scalar or vector"), CPU_ERR;
  }
  return slot;
}

int cpu_param_ints(CpuBuild *b, const char *name, int64_t *out, int max, const int64_t *def,
                   int ndef) {
  int slot = param(b, name, 'i', !def);
  if (slot == CPU_ERR)
    return -1;
  if (slot == CPU_ABSENT) {
    for (int i = 0; i < ndef; i++)
      out[i] = def[i];
    return ndef;
  }
  const CpuSlot *s = &b->plan->slots[slot];
  if (s->n > max)
    return cpu_error(b, "parameter '%s' has %lld values; at most %d expected", name,
                     (long long)s->n, max);
  for (int64_t i = 0; i < s->n; i++)
    out[i] = (int64_t)cpu_get(s, i);
  return (int)s->n;
}

static int scalar_param(CpuBuild *b, const char *name, char cls, bool required) {
  int slot = param(b, name, cls, required);
  if (slot >= 0 && b->plan->slots[slot].n != 1)
    return cpu_error(b, "parameter '%s' must be a single value, it has %lld", name,
                     (long long)b->plan->slots[slot].n), CPU_ERR;
  return slot;
}

int cpu_param_int(CpuBuild *b, const char *name, const int64_t *def, int64_t *out) {
  int slot = scalar_param(b, name, 'i', !def);
  if (slot == CPU_ERR)
    return -1;
  *out = slot == CPU_ABSENT ? *def : (int64_t)cpu_get(&b->plan->slots[slot], 0);
  return 0;
}

int cpu_param_float(CpuBuild *b, const char *name, const double *def, double *out) {
  int slot = scalar_param(b, name, 'f', !def);
  if (slot == CPU_ERR)
    return -1;
  *out = slot == CPU_ABSENT ? *def : cpu_get(&b->plan->slots[slot], 0);
  return 0;
}

int cpu_param_str(CpuBuild *b, const char *name, const char *def, const char **out) {
  int slot = scalar_param(b, name, 's', !def);
  if (slot == CPU_ERR)
    return -1;
  *out = slot == CPU_ABSENT ? def : b->plan->slots[slot].str;
  return 0;
}

int cpu_param_bools(CpuBuild *b, const char *name, bool *out, int n) {
  int slot = param(b, name, 'b', false);
  if (slot == CPU_ERR)
    return -1;
  if (slot == CPU_ABSENT) {
    for (int i = 0; i < n; i++)
      out[i] = false;
    return 0;
  }
  const CpuSlot *s = &b->plan->slots[slot];
  if (s->n != n)
    return cpu_error(b, "parameter '%s' has %lld values; %d expected", name, (long long)s->n, n);
  for (int i = 0; i < n; i++)
    out[i] = cpu_get(s, i) != 0;
  return 0;
}

int cpu_axis(CpuBuild *b, const char *what, int64_t axis, int rank, int *out) {
  if (axis < -rank || axis >= rank || rank == 0)
    return cpu_error(b, "%s %lld is out of range for rank %d", what, (long long)axis, rank);
  *out = (int)(axis < 0 ? axis + rank : axis);
  return 0;
}

int cpu_output(CpuBuild *b, int k, int nout, MilDtype dt, int rank, const int64_t *dim) {
  const MilOp *op = b->op;
  if (op->nouts != nout)
    return cpu_error(b, "declares %d output%s; this op has %d", op->nouts,
                     op->nouts == 1 ? "" : "s", nout);
  int slot = b->step->out[k];
  CpuSlot *s = &b->plan->slots[slot];
  bool same = s->dtype == dt && s->rank == rank;
  for (int i = 0; same && i < rank; i++)
    same = s->dim[i] == dim[i] || s->dim[i] == MIL_DIM_ANY;
  if (!same) {
    char want[256], got[256];
    return cpu_error(b, "output '%s' is declared %s, but the op computes %s", op->outs[k].name,
                     cpu_type_str(want, sizeof want, s->dtype, s->rank, s->dim),
                     cpu_type_str(got, sizeof got, dt, rank, dim));
  }
  /* a constexpr op's uint1 mask is known at open(), never a runtime tensor */
  bool mask = dt == MIL_UINT1 && strncmp(op->op, "constexpr_", 10) == 0;
  if (!runtime_dtype(dt) && !mask)
    return cpu_error(b, "output '%s': dtype %s is not supported by the cpu backend",
                     op->outs[k].name, mil_dtype_name(dt));
  if (s->n < 0) {   /* declared with '?': takes the inferred shape */
    int64_t n = 1;
    for (int i = 0; i < rank; i++)
      n = n > CPU_MAX_ELEMS ? n : n * dim[i];
    if (n > CPU_MAX_ELEMS)
      return cpu_error(b, "output '%s' would have more than %lld elements", op->outs[k].name,
                       (long long)CPU_MAX_ELEMS);
    memcpy(s->dim, dim, (size_t)rank * sizeof *dim);
    s->n = n;
  }
  return slot;
}

/* ---- the op families ------------------------------------------------------------ */

static const CpuOpDef *const families[] = {
  cpu_ops_elementwise, cpu_ops_reduce, cpu_ops_conv, cpu_ops_pool, cpu_ops_movement,
  cpu_ops_gather, cpu_ops_quant, cpu_ops_recurrent, cpu_ops_state, cpu_ops_image, cpu_ops_reorder,
  cpu_ops_einsum, cpu_ops_conv3d,
};

const CpuOpDef *cpu_op_find(const char *name) {
  for (size_t f = 0; f < sizeof families / sizeof *families; f++)
    for (const CpuOpDef *d = families[f]; d->name; d++)
      if (strcmp(d->name, name) == 0)
        return d;
  return NULL;
}

/* ---- building the plan --------------------------------------------------------- */

/* iOS version of an opset name: "ios18" and "CoreML8" are both 18. */
static int opset_version(const char *s) {
  int v = 0;
  if (s && sscanf(s, "ios%d", &v) == 1)
    return v;
  if (s && sscanf(s, "CoreML%d", &v) == 1)
    return v + 10;
  return 18;
}

static int add_inputs(CpuBuild *b) {
  const MilFunc *f = b->m->fn;
  CpuPlan *p = b->plan;
  p->ninputs = f->ninputs;
  if (!(p->inputs = xcalloc(b, f->ninputs, sizeof *p->inputs)))
    return -1;
  for (int i = 0; i < f->ninputs; i++) {
    const MilVar *v = &f->inputs[i];
    int slot = new_slot(b);
    if (slot < 0)
      return -1;
    /* a state input holds a tensor: state<tensor<fp16, [1, 4]>> */
    bool state = v->type->kind == MIL_STATE && v->type->nsub == 1;
    const MilType *t = state ? v->type->sub[0] : v->type;
    if (t->kind != MIL_TENSOR || mil_type_numel(t) < 0)
      return fn_error(b, "input '%s' must be a tensor (or state) with a static shape; give a "
                      "'?' dimension's size with --input", v->name);
    if (set_shape(b, slot, t, v->name) < 0 || define(b, slot, v->name) < 0)
      return -1;
    if (!runtime_dtype(t->dtype))
      return fn_error(b, "input '%s': dtype %s is not supported by the cpu backend", v->name,
                      mil_dtype_name(t->dtype));
    CpuSlot *s = &p->slots[slot];
    s->keep = true;
    s->state = state;
    if (!(s->data = new_buf(b, s->n)))
      return -1;
    p->inputs[i] = slot;
  }
  return 0;
}

/* `const`: its value becomes the named slot. */
static int add_const(CpuBuild *b) {
  const MilOp *op = b->op;
  const MilAttr *val = mil_op_attr_get(op, "val");
  if (op->nouts != 1)
    return cpu_error(b, "declares %d outputs; const has 1", op->nouts);
  int slot = CPU_ERR, rc = 0;
  if (!val)
    rc = cpu_error(b, "missing attribute 'val'");
  else if ((slot = value_slot(b, val->val, "val")) >= 0 &&
           !mil_type_eq(op->outs[0].type, val->val->type))
    rc = cpu_error(b, "output '%s' is declared with another type than its value",
                   op->outs[0].name);
  if (slot < 0 && (slot = new_slot(b)) < 0)   /* a typeless stand-in, marked bad */
    return -1;
  const CpuSlot *s = &b->plan->slots[slot];
  if (rc < 0 || (!s->data && !s->str)) {
    b->plan->slots[slot].bad = true;
    rc = -1;
  }
  return define(b, slot, op->outs[0].name) < 0 ? -1 : rc;
}

static void round_slot(CpuSlot *s) {
  if (s->dtype == MIL_FP16)
    cpu_round_fp16(s->data, s->n);
}

/* Output slots come from the declared types, so a failed op still leaves
 * typed values behind and the ops after it are checked too. */
static int add_outputs(CpuBuild *b, CpuStep *st) {
  const MilOp *op = b->op;
  if (!(st->out = xcalloc(b, op->nouts, sizeof *st->out)))
    return -1;
  st->nout = op->nouts;
  int rc = 0;
  for (int k = 0; k < op->nouts; k++) {
    int slot = new_slot(b);
    if (slot < 0)
      return -1;
    st->out[k] = slot;
    const MilType *t = op->outs[k].type;
    if (t->kind == MIL_TENSOR && mil_type_numel(t) < 0 && t->rank <= MIL_MAX_RANK) {
      /* a '?' dimension: the op's inferred shape fills it (cpu_output) */
      CpuSlot *s = &b->plan->slots[slot];
      s->dtype = t->dtype;
      s->rank = t->rank;
      memcpy(s->dim, t->dim, sizeof s->dim);
      s->n = -1;
    } else if (set_shape(b, slot, t, op->outs[k].name) < 0) {
      rc = -1;
    }
  }
  return rc;
}

static void mark_bad(CpuBuild *b, const CpuStep *st) {
  for (int k = 0; k < st->nout; k++)
    b->plan->slots[st->out[k]].bad = true;
}

static int name_outputs(CpuBuild *b, const CpuStep *st) {
  for (int k = 0; k < st->nout; k++)
    if (define(b, st->out[k], b->op->outs[k].name) < 0)
      return -1;
  return 0;
}

static void step_free(CpuStep *s) {
  free(s->list);
  free(s->out);
  free(s->tab[0]);
  free(s->tab[1]);
  free(s->pre);
}

/* A constexpr op runs now, on constant operands, into buffers of its own. */
static int run_constexpr(CpuBuild *b, CpuStep *st) {
  CpuPlan *p = b->plan;
  for (int i = 0; i < CPU_MAX_IN; i++)
    if (st->in[i] >= 0 && cpu_need_const(b, st->in[i], "every operand of a constexpr op") < 0)
      return -1;
  for (int k = 0; k < st->nout; k++) {
    float *f = new_buf(b, p->slots[st->out[k]].n);
    if (!f)
      return -1;
    p->slots[st->out[k]].data = f;
  }
  st->run(p, st);
  for (int k = 0; k < st->nout; k++) {
    p->slots[st->out[k]].isconst = true;
    round_slot(&p->slots[st->out[k]]);
  }
  /* operands written inline (the weight blobs of the attribute form) have
   * no other reader: keep only the decompressed result */
  for (int i = 0; i < CPU_MAX_IN; i++) {
    CpuSlot *in = st->in[i] >= 0 ? &p->slots[st->in[i]] : NULL;
    if (in && !in->name && in->data) {
      drop_buf(p, in->data);
      in->data = NULL;
    }
  }
  return 0;
}

static int add_op(CpuBuild *b, const MilOp *op) {
  CpuPlan *p = b->plan;
  b->op = op;
  if (strcmp(op->op, "const") == 0)
    return add_const(b);
  const CpuOpDef *def = cpu_op_find(op->op);
  CpuStep st = {.op = op};
  for (int i = 0; i < CPU_MAX_IN; i++)
    st.in[i] = CPU_ABSENT;
  b->step = &st;
  int rc = add_outputs(b, &st);
  char msg[640];
  if (rc == 0 && opdef_check(b->m->fn, (int)(op - b->m->fn->ops), msg, sizeof msg) < 0)
    rc = cpu_error(b, "%s", msg);   /* the definition's check, as the MIL checker words it */
  if (rc == 0 && !def)
    rc = cpu_error(b, "op not supported by the cpu backend");
  if (rc == 0) {
    st.run = def->run;
    st.mode = def->mode;
    st.exact = def->exact;
    rc = def->prep(b, &st);
  }
  if (rc == 0 && def->constexpr_op)
    rc = run_constexpr(b, &st);
  if (rc < 0)
    mark_bad(b, &st);
  if (name_outputs(b, &st) < 0)
    rc = -1;
  if (rc < 0 || def->constexpr_op) {
    step_free(&st);
    return rc;
  }
  CpuStep *steps = grow(b, p->steps, &p->stepcap, p->nsteps + 1, sizeof *steps);
  if (!steps) {
    step_free(&st);
    return -1;
  }
  p->steps = steps;
  p->steps[p->nsteps++] = st;
  return 0;
}

static int add_outputs_of_fn(CpuBuild *b) {
  const MilFunc *f = b->m->fn;
  CpuPlan *p = b->plan;
  p->noutputs = f->noutputs;
  if (!(p->outputs = xcalloc(b, f->noutputs, sizeof *p->outputs)))
    return -1;
  b->op = NULL;
  for (int i = 0; i < f->noutputs; i++) {
    int s = lookup(b, f->outputs[i]);
    if (s < 0)
      return fn_error(b, "output '%s' names no value of function %s", f->outputs[i], f->name);
    p->outputs[i] = s;
    p->slots[s].keep = true;
    if (!runtime_dtype(p->slots[s].dtype))
      return fn_error(b, "output '%s': dtype %s is not supported by the cpu backend",
                      f->outputs[i], mil_dtype_name(p->slots[s].dtype));
  }
  return 0;
}

/* ---- buffers ---------------------------------------------------------------------
 * Each step's outputs take the smallest free buffer that fits (or a new
 * one); the buffers of operands read for the last time go back to the pool
 * after the step's outputs are assigned, so no kernel writes over its own
 * operands. */

typedef struct Pool {
  float **buf;
  int64_t *cap;
  int n;
} Pool;

static float *pool_take(CpuBuild *b, Pool *pl, int64_t n) {
  int best = -1;
  for (int i = 0; i < pl->n; i++)
    if (pl->cap[i] >= n && (best < 0 || pl->cap[i] < pl->cap[best]))
      best = i;
  if (best < 0)
    return new_buf(b, n);
  float *f = pl->buf[best];
  pl->n--;
  pl->buf[best] = pl->buf[pl->n];
  pl->cap[best] = pl->cap[pl->n];
  return f;
}

static void pool_give(Pool *pl, CpuSlot *s) {
  if (!s->data || s->keep || s->isconst)
    return;
  pl->buf[pl->n] = s->data;
  pl->cap[pl->n++] = s->n;
}

static void note_reads(CpuPlan *p) {
  for (int i = 0; i < p->nsteps; i++) {
    const CpuStep *s = &p->steps[i];
    for (int k = 0; k < CPU_MAX_IN; k++)
      if (s->in[k] >= 0)
        p->slots[s->in[k]].last = i;
    for (int k = 0; k < s->nlist; k++)
      p->slots[s->list[k]].last = i;
  }
}

static int assign_buffers(CpuBuild *b) {
  CpuPlan *p = b->plan;
  note_reads(p);
  Pool pl = {0};
  int nslots = p->nslots;
  pl.buf = xcalloc(b, nslots, sizeof *pl.buf);
  pl.cap = xcalloc(b, nslots, sizeof *pl.cap);
  bool *reused = xcalloc(b, nslots, sizeof *reused);
  int rc = pl.buf && pl.cap && reused ? 0 : -1;
  for (int i = 0; rc == 0 && i < p->nsteps; i++) {
    const CpuStep *s = &p->steps[i];
    for (int k = 0; rc == 0 && k < s->nout; k++)
      if (!(p->slots[s->out[k]].data = pool_take(b, &pl, p->slots[s->out[k]].n)))
        rc = -1;
    for (int k = 0; k < s->nout; k++)
      if (p->slots[s->out[k]].last < 0 && !reused[s->out[k]]) {
        reused[s->out[k]] = true;
        pool_give(&pl, &p->slots[s->out[k]]);
      }
    for (int k = 0; k < CPU_MAX_IN + s->nlist; k++) {
      int in = k < CPU_MAX_IN ? s->in[k] : s->list[k - CPU_MAX_IN];
      if (in >= 0 && p->slots[in].last == i && !reused[in]) {
        reused[in] = true;
        pool_give(&pl, &p->slots[in]);
      }
    }
  }
  free(pl.buf);
  free(pl.cap);
  free(reused);
  if (rc == 0 && p->nscratch && !(p->scratch = new_buf(b, p->nscratch)))
    rc = -1;
  return rc;
}

static int build(CpuBuild *b) {
  const MilFunc *f = b->m->fn;
  int64_t nnames = f->ninputs;
  for (int i = 0; i < f->nops; i++)
    nnames += f->ops[i].nouts;
  b->hashcap = 16;
  while (b->hashcap < 2 * nnames + 1)
    b->hashcap *= 2;
  if (!(b->hash = xcalloc(b, b->hashcap, sizeof *b->hash)))
    return -1;
  memset(b->hash, 0xff, b->hashcap * sizeof *b->hash);
  b->opset = opset_version(f->opset);
  if (add_inputs(b) < 0)
    return -1;
  /* ops after a failed one are still checked; those that fail only
   * because an operand failed stay quiet and do not count to the limit */
  int failed = 0, errors0 = b->d->nerrors;
  for (int i = 0; i < f->nops && b->d->nerrors - errors0 < CPU_MAX_ERRORS; i++)
    if (add_op(b, &f->ops[i]) < 0)
      failed++;
  if (failed)
    return -1;
  if (add_outputs_of_fn(b) < 0)
    return -1;
  cpu_igemm_fuse(b->plan);
  cpu_sgemm_fuse(b->plan);
  return assign_buffers(b);
}

/* ---- the backend ------------------------------------------------------------------ */

static void plan_free(CpuPlan *p) {
  if (!p)
    return;
  cpu_pool_free(p->pool);
  for (int i = 0; i < p->nsteps; i++)
    step_free(&p->steps[i]);
  for (int i = 0; i < p->nbufs; i++)
    free(p->bufs[i]);
  free(p->bufs);
  free(p->steps);
  free(p->slots);
  free(p->inputs);
  free(p->outputs);
  free(p);
}

static int cpu_open(const Model *m, const BackendOpts *o, void **state, Diag *d) {
  CpuPlan *p = calloc(1, sizeof *p);
  if (!p) {
    diag_file_error(d, m->name, "out of memory");
    return -1;
  }
  p->fp32 = o && o->fp32;
  p->name = m->name ? m->name : "cpu";
  p->timer = o ? o->timer : NULL;
  CpuBuild b = {.plan = p, .m = m, .d = d};
  int rc = build(&b);
  free(b.hash);
  if (rc < 0) {
    plan_free(p);
    return -1;
  }
  /* as many threads as the GEMMs get; without a pool, eval() runs on one */
  p->pool = cpu_pool_new(openblas_get_num_threads());
  *state = p;
  return 0;
}

static int cpu_set_input(void *state, int i, const Tensor *t, Diag *d) {
  CpuPlan *p = state;
  if (i < 0 || i >= p->ninputs) {
    diag_file_error(d, p->name, "input index %d out of range (the function has %d)", i,
                    p->ninputs);
    return -1;
  }
  CpuSlot *s = &p->slots[p->inputs[i]];
  bool same = t->rank == s->rank;
  for (int k = 0; same && k < s->rank; k++)
    same = t->dim[k] == s->dim[k];
  if (!same) {
    char want[256], got[256];
    diag_file_error(d, p->name, "input '%s' is %s; the tensor given is %s", s->name,
                    cpu_type_str(want, sizeof want, s->dtype, s->rank, s->dim),
                    cpu_type_str(got, sizeof got, t->dtype, t->rank, t->dim));
    return -1;
  }
  if (t->dtype == MIL_FP32 && s->dtype == MIL_FP32) {
    memcpy(s->data, t->data, (size_t)s->n * sizeof(float));
  } else if (t->dtype == MIL_INT32 && s->dtype == MIL_INT32) {
    memcpy(s->data, t->data, (size_t)s->n * sizeof(int32_t));
  } else if (t->dtype == MIL_FP32 && s->dtype == MIL_FP16) {
    memcpy(s->data, t->data, (size_t)s->n * sizeof(float));
    cpu_round_fp16(s->data, s->n);
  } else {
    for (int64_t k = 0; k < s->n; k++)
      store(s->data, k, s->dtype, tensor_get(t, k));
  }
  return 0;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void round_piece(void *ctx, int64_t lo, int64_t hi) {
  cpu_round_fp16((float *)ctx + lo, hi - lo);
}

/* A step's fp16 outputs rounded on all threads, unless its kernel rounds
 * them as it writes them. */
static void round_outputs(const CpuPlan *p, const CpuStep *s) {
  for (int k = 0; k < s->nout && !p->fp32 && !s->exact && !s->rounds; k++) {
    const CpuSlot *o = &p->slots[s->out[k]];
    if (o->dtype == MIL_FP16)
      cpu_parallel(p->pool, o->n, CPU_GRAIN, round_piece, o->data);
  }
}

static int cpu_eval(void *state, double *ms, Diag *d) {
  (void)ms;
  (void)d;
  const CpuPlan *p = state;
  for (int i = 0; i < p->nsteps; i++) {
    const CpuStep *s = &p->steps[i];
    double t0 = p->timer ? now_ms() : 0;
    s->run(p, s);
    round_outputs(p, s);
    if (p->timer)
      p->timer->done(p->timer->ctx, s->op, now_ms() - t0);
  }
  return 0;
}

static int cpu_get_output(void *state, int i, Tensor *t, Diag *d) {
  const CpuPlan *p = state;
  if (i < 0 || i >= p->noutputs) {
    diag_file_error(d, p->name, "output index %d out of range (the function has %d)", i,
                    p->noutputs);
    return -1;
  }
  const CpuSlot *s = &p->slots[p->outputs[i]];
  if (tensor_alloc(t, s->dtype, s->rank, s->dim) < 0) {
    diag_file_error(d, p->name, "cannot allocate output '%s' (%lld %s elements)", s->name,
                    (long long)s->n, mil_dtype_name(s->dtype));
    return -1;
  }
  if (s->dtype == MIL_FP32) {
    memcpy(t->data, s->data, (size_t)s->n * sizeof(float));
  } else if (s->dtype == MIL_FP16) {
    uint16_t *h = t->data;
    for (int64_t k = 0; k < s->n; k++)
      h[k] = fp16_from_float(s->data[k]);
  } else {
    for (int64_t k = 0; k < s->n; k++)
      tensor_set(t, k, cpu_get(s, k));
  }
  return 0;
}

static void cpu_close(void *state) { plan_free(state); }

const Backend cpu_backend = {
  .name = "cpu",
  .estimated = false,
  .open = cpu_open,
  .set_input = cpu_set_input,
  .eval = cpu_eval,
  .get_output = cpu_get_output,
  .close = cpu_close,
};
