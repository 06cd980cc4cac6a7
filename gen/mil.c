/* mil.c - the MIL IR's arena, dtype table, constructors and blob layout. */
#include "mil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena ---------------------------------------------------------------
 * Chunks of at least 64 KiB; a request larger than that gets its own chunk.
 * Objects are 8-aligned (nothing in the IR needs more); strings are packed
 * between them unaligned, which matters when a parsed program holds a
 * name for every value. */

typedef struct Chunk {
  struct Chunk *next;
  size_t used, cap;
  max_align_t data[];
} Chunk;

typedef struct MilArena {
  Chunk *head;
  size_t total;                   /* bytes in all chunks */
  MilType *scalar[MIL_NDTYPES];   /* one scalar type per dtype, shared */
} MilArena;

enum {
  ARENA_ALIGN = 8,
  ARENA_CHUNK = 65536,
  ARENA_BIG = 4 << 20,     /* chunk size once the arena has grown large */
};

static void oom(void) {
  fputs("anet: out of memory\n", stderr);
  abort();
}

/* A large arena (a parsed program of megabytes) grows in 4 MiB chunks at
 * 2 MiB boundaries (from malloc they parsed 15% slower). They asked for
 * transparent huge pages once (MADV_HUGEPAGE), but with the kernel's
 * default defrag=madvise a fault then waits for memory to be compacted:
 * right after make bench-torch a parse took up to 1.8x as long, and idle
 * it was no faster than this. */
static Chunk *new_chunk(size_t bytes) {
  void *m = NULL;
  if (bytes >= ARENA_BIG && posix_memalign(&m, 2 << 20, bytes) == 0)
    return m;
  m = malloc(bytes);
  if (!m)
    oom();
  return m;
}

/* size bytes, not zeroed, at a multiple of align (a power of two). */
static void *arena_take(MilProg *p, size_t size, size_t align) {
  Chunk *c = p->arena->head;
  size_t at = c ? (c->used + align - 1) & ~(align - 1) : 0;
  if (!c || at > c->cap || c->cap - at < size) {
    if (size > SIZE_MAX - sizeof(Chunk))
      oom();
    size_t cap = p->arena->total >= ARENA_BIG ? ARENA_BIG - sizeof(Chunk) : ARENA_CHUNK;
    if (cap < size)
      cap = size;
    c = new_chunk(sizeof(Chunk) + cap);
    c->cap = cap;
    p->arena->total += cap;
    c->next = p->arena->head;
    p->arena->head = c;
    at = 0;
  }
  c->used = at + size;
  return (char *)c->data + at;
}

void *mil_alloc(MilProg *p, size_t size) {
  void *m = arena_take(p, size, ARENA_ALIGN);
  memset(m, 0, size);
  return m;
}

char *mil_strndup(MilProg *p, const char *s, size_t n) {
  char *d = arena_take(p, n + 1, 1);
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

char *mil_strdup(MilProg *p, const char *s) { return mil_strndup(p, s, strlen(s)); }

char *mil_printf(MilProg *p, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *d = mil_alloc(p, (size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(d, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return d;
}

/* Growable arrays of the program live outside the arena (they move).
 * Room beyond the length is left untouched, so a large array's spare pages
 * are never made resident; the caller zeroes each element it adds. */
static void *grow(void *a, int *cap, int need, size_t elem) {
  if (need <= *cap)
    return a;
  int n = *cap ? *cap * 2 : 8;
  while (n < need)
    n *= 2;
  void *b = realloc(a, (size_t)n * elem);
  if (!b)
    oom();
  *cap = n;
  return b;
}

/* ---- programs ------------------------------------------------------------ */

MilProg *mil_new(const char *version) {
  MilProg *p = calloc(1, sizeof *p);
  if (!p)
    oom();
  p->arena = calloc(1, sizeof *p->arena);
  if (!p->arena)
    oom();
  p->version = mil_strdup(p, version);
  return p;
}

void mil_free(MilProg *p) {
  if (!p)
    return;
  for (int i = 0; i < p->nfuncs; i++)
    free(p->funcs[i].ops);
  free(p->funcs);
  free(p->blobs);
  for (Chunk *c = p->arena->head, *n; c; c = n) {
    n = c->next;
    free(c);
  }
  free(p->arena);
  free(p);
}

bool mil_compact(const MilProg *p) {
  int major = 0, minor = 0;
  sscanf(p->version, "%d.%d", &major, &minor);
  return major > 1 || (major == 1 && minor >= 3);
}

/* ---- dtypes -------------------------------------------------------------- */

static const struct {
  const char *name;
  int bits;
  char cls;      /* f float, s signed int, u unsigned int, b bool, t string */
  int blob;      /* BlobDataType (FORMATS.md §1.4) */
} dtypes[MIL_NDTYPES] = {
  [MIL_BOOL] = {"bool", 8, 'b', 0},     [MIL_STRING] = {"string", 0, 't', 0},
  [MIL_FP16] = {"fp16", 16, 'f', 1},    [MIL_FP32] = {"fp32", 32, 'f', 2},
  [MIL_FP64] = {"fp64", 64, 'f', 0},    [MIL_BF16] = {"bf16", 16, 'f', 5},
  [MIL_INT4] = {"int4", 4, 's', 8},     [MIL_INT8] = {"int8", 8, 's', 4},
  [MIL_INT16] = {"int16", 16, 's', 6},  [MIL_INT32] = {"int32", 32, 's', 14},
  [MIL_INT64] = {"int64", 64, 's', 0},
  [MIL_UINT1] = {"uint1", 1, 'u', 9},   [MIL_UINT2] = {"uint2", 2, 'u', 10},
  [MIL_UINT3] = {"uint3", 3, 'u', 12},  [MIL_UINT4] = {"uint4", 4, 'u', 11},
  [MIL_UINT6] = {"uint6", 6, 'u', 13},  [MIL_UINT8] = {"uint8", 8, 'u', 3},
  [MIL_UINT16] = {"uint16", 16, 'u', 7}, [MIL_UINT32] = {"uint32", 32, 'u', 15},
  [MIL_UINT64] = {"uint64", 64, 'u', 0},
};

const char *mil_dtype_name(MilDtype t) {
  return (unsigned)t < MIL_NDTYPES ? dtypes[t].name : "?";
}

bool mil_dtype_lookup(const char *s, size_t n, MilDtype *out) {
  for (int i = 0; i < MIL_NDTYPES; i++)   /* strncmp stops at the name's end */
    if (n && dtypes[i].name[0] == s[0] && strncmp(dtypes[i].name, s, n) == 0 &&
        dtypes[i].name[n] == '\0') {
      *out = (MilDtype)i;
      return true;
    }
  return false;
}

int mil_dtype_bits(MilDtype t) { return dtypes[t].bits; }
bool mil_dtype_is_float(MilDtype t) { return dtypes[t].cls == 'f'; }
bool mil_dtype_is_int(MilDtype t) { return dtypes[t].cls == 's' || dtypes[t].cls == 'u'; }
bool mil_dtype_is_signed(MilDtype t) { return dtypes[t].cls == 's'; }
int mil_dtype_blob_code(MilDtype t) { return dtypes[t].blob; }

/* ---- types --------------------------------------------------------------- */

int64_t mil_type_numel(const MilType *t) {
  if (t->kind != MIL_TENSOR)
    return -1;
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) {
    if (t->dim[i] < 0)
      return -1;
    if (t->dim[i] && n > INT64_MAX / t->dim[i])
      return -1;
    n *= t->dim[i];
  }
  return n;
}

bool mil_type_eq(const MilType *a, const MilType *b) {
  if (a->kind != b->kind || a->nsub != b->nsub)
    return false;
  if (a->kind == MIL_TENSOR) {
    if (a->dtype != b->dtype || a->rank != b->rank)
      return false;
    for (int i = 0; i < a->rank; i++)
      if (a->dim[i] != b->dim[i])
        return false;
  }
  if (a->kind == MIL_LIST && a->len != b->len)
    return false;
  for (int i = 0; i < a->nsub; i++)
    if (!mil_type_eq(a->sub[i], b->sub[i]))
      return false;
  return true;
}

MilType *mil_tensor_type(MilProg *p, MilDtype dt, int rank, const int64_t *dims) {
  MilType *t = mil_alloc(p, sizeof *t);
  t->kind = MIL_TENSOR;
  t->dtype = dt;
  t->rank = rank;
  for (int i = 0; i < rank && i < MIL_MAX_RANK; i++)
    t->dim[i] = dims[i];
  return t;
}

MilType *mil_scalar_type(MilProg *p, MilDtype dt) {
  MilType **t = &p->arena->scalar[dt];
  if (!*t)
    *t = mil_tensor_type(p, dt, 0, NULL);
  return *t;
}

/* ---- values -------------------------------------------------------------- */

static MilValue *new_data(MilProg *p, const MilType *t, int64_t n) {
  MilValue *v = mil_alloc(p, sizeof *v);
  v->type = t;
  v->kind = MIL_VDATA;
  v->n = n;
  v->blob_src = -1;
  if (t->dtype == MIL_STRING)
    v->s = mil_alloc(p, (size_t)n * sizeof *v->s);
  else if (mil_dtype_is_float(t->dtype))
    v->f = mil_alloc(p, (size_t)n * sizeof *v->f);
  else
    v->i = mil_alloc(p, (size_t)n * sizeof *v->i);
  return v;
}

MilValue *mil_scalar_f(MilProg *p, MilDtype dt, double x) {
  MilValue *v = new_data(p, mil_scalar_type(p, dt), 1);
  v->f[0] = x;
  return v;
}

MilValue *mil_scalar_i(MilProg *p, MilDtype dt, int64_t x) {
  MilValue *v = new_data(p, mil_scalar_type(p, dt), 1);
  v->i[0] = x;
  return v;
}

MilValue *mil_scalar_s(MilProg *p, const char *s) {
  MilValue *v = new_data(p, mil_scalar_type(p, MIL_STRING), 1);
  v->s[0] = mil_strdup(p, s);
  return v;
}

MilValue *mil_agg(MilProg *p, const MilType *t, int n) {
  MilValue *v = mil_alloc(p, sizeof *v);
  v->type = t;
  v->kind = MIL_VAGG;
  v->blob_src = -1;
  v->nitems = n;
  v->items = mil_alloc(p, (size_t)n * sizeof *v->items);
  return v;
}

MilValue *mil_string_dict(MilProg *p, int n, const char *const *kv) {
  MilType *t = mil_alloc(p, sizeof *t);
  t->kind = MIL_DICT;
  t->nsub = 2;
  t->sub = mil_alloc(p, 2 * sizeof *t->sub);
  t->sub[0] = t->sub[1] = mil_scalar_type(p, MIL_STRING);
  MilValue *v = mil_agg(p, t, n);
  for (int i = 0; i < n; i++)
    v->items[i] = mil_scalar_s(p, kv[i]);
  return v;
}

MilValue *mil_tensor_i(MilProg *p, MilDtype dt, int rank, const int64_t *dims,
                       const int64_t *data) {
  MilType *t = mil_tensor_type(p, dt, rank, dims);
  MilValue *v = new_data(p, t, mil_type_numel(t));
  memcpy(v->i, data, (size_t)v->n * sizeof *v->i);
  return v;
}

MilValue *mil_tensor_f(MilProg *p, MilDtype dt, int rank, const int64_t *dims,
                       const double *data) {
  MilType *t = mil_tensor_type(p, dt, rank, dims);
  MilValue *v = new_data(p, t, mil_type_numel(t));
  memcpy(v->f, data, (size_t)v->n * sizeof *v->f);
  return v;
}

MilValue *mil_blob_value(MilProg *p, const MilType *t, const char *path, uint64_t offset,
                         int blob_src) {
  MilValue *v = mil_alloc(p, sizeof *v);
  v->type = t;
  v->kind = MIL_VBLOB;
  v->n = mil_type_numel(t);
  v->blob_path = mil_strdup(p, path);
  v->blob_offset = offset;
  v->blob_src = blob_src;
  return v;
}

int mil_add_blob(MilProg *p, MilBlobSrc src) {
  p->blobs = grow(p->blobs, &p->blobcap, p->nblobs + 1, sizeof *p->blobs);
  p->blobs[p->nblobs] = src;
  return p->nblobs++;
}

uint64_t mil_blob_nbytes(MilDtype dt, int64_t numel) {
  return ((uint64_t)numel * (uint64_t)mil_dtype_bits(dt) + 7) / 8;
}

static void relink_blobs(MilProg *p, MilValue *v) {
  if (v->kind == MIL_VBLOB && v->blob_src >= 0)
    v->blob_offset = p->blobs[v->blob_src].offset;
  for (int i = 0; v->kind == MIL_VAGG && i < v->nitems; i++)
    relink_blobs(p, v->items[i]);
}

static void relink_bind(MilProg *p, MilBind *b) {
  if (b->kind == MIL_BVAL)
    relink_blobs(p, b->val);
  for (int i = 0; b->kind == MIL_BLIST && i < b->nitems; i++)
    relink_bind(p, &b->items[i]);
}

uint64_t mil_layout_blobs(MilProg *p) {
  uint64_t pos = 64;
  for (int i = 0; i < p->nblobs; i++) {
    pos = (pos + 63) / 64 * 64;
    p->blobs[i].offset = pos;
    pos += 64 + mil_blob_nbytes(p->blobs[i].dtype, p->blobs[i].numel);
  }
  for (int f = 0; f < p->nfuncs; f++)
    for (int o = 0; o < p->funcs[f].nops; o++) {
      MilOp *op = &p->funcs[f].ops[o];
      for (int a = 0; a < op->nargs; a++)
        relink_bind(p, &op->args[a].bind);
      for (int a = 0; a < op->nattrs; a++)
        relink_blobs(p, op->attrs[a].val);
    }
  return p->nblobs ? pos : 64;
}

/* ---- functions and ops --------------------------------------------------- */

/* Small append-only arrays inside the arena. Their room is their length
 * rounded up to a power of two, so a length of 0 or a power of two means
 * full: the array moves to a block twice as large. (Arrays the MIL parser
 * sizes exactly are never appended to.) */
#define ARENA_PUSH(p, arr, n, item)                                        \
  do {                                                                     \
    if (((n) & ((n) - 1)) == 0) {                                          \
      __typeof__(arr) na_ = mil_alloc((p), sizeof *(arr) * ((n) ? 2 * (n) : 1)); \
      if ((n))                                                             \
        memcpy(na_, (arr), sizeof *(arr) * (n));                           \
      (arr) = na_;                                                         \
    }                                                                      \
    (arr)[(n)++] = (item);                                                 \
  } while (0)

MilFunc *mil_add_func(MilProg *p, const char *name, const char *opset) {
  p->funcs = grow(p->funcs, &p->funccap, p->nfuncs + 1, sizeof *p->funcs);
  MilFunc *f = &p->funcs[p->nfuncs++];
  *f = (MilFunc){0};
  f->name = mil_strdup(p, name);
  f->opset = mil_strdup(p, opset);
  return f;
}

void mil_add_input(MilProg *p, MilFunc *f, const MilType *t, const char *name) {
  MilVar v = {t, mil_strdup(p, name)};
  ARENA_PUSH(p, f->inputs, f->ninputs, v);
}

void mil_add_output(MilProg *p, MilFunc *f, const char *name) {
  const char *s = mil_strdup(p, name);
  ARENA_PUSH(p, f->outputs, f->noutputs, s);
}

MilOp *mil_add_op(MilProg *p, MilFunc *f, const char *op) {
  return mil_add_op_named(p, f, mil_strdup(p, op));
}

MilOp *mil_add_op_named(MilProg *p, MilFunc *f, const char *op) {
  (void)p;
  f->ops = grow(f->ops, &f->opcap, f->nops + 1, sizeof *f->ops);
  MilOp *o = &f->ops[f->nops++];
  *o = (MilOp){.op = op};
  return o;
}

void mil_op_out(MilProg *p, MilOp *op, const MilType *t, const char *name) {
  MilVar v = {t, mil_strdup(p, name)};
  ARENA_PUSH(p, op->outs, op->nouts, v);
}

void mil_op_ref(MilProg *p, MilOp *op, const char *arg, const char *ref) {
  MilArg a = {mil_strdup(p, arg), {.kind = MIL_BREF, .ref = mil_strdup(p, ref)}};
  ARENA_PUSH(p, op->args, op->nargs, a);
}

void mil_op_val(MilProg *p, MilOp *op, const char *arg, MilValue *v) {
  MilArg a = {mil_strdup(p, arg), {.kind = MIL_BVAL, .val = v}};
  ARENA_PUSH(p, op->args, op->nargs, a);
}

void mil_op_attr(MilProg *p, MilOp *op, const char *name, MilValue *v) {
  MilAttr a = {mil_strdup(p, name), v};
  ARENA_PUSH(p, op->attrs, op->nattrs, a);
}

void mil_prog_attr(MilProg *p, const char *name, MilValue *v) {
  MilAttr a = {mil_strdup(p, name), v};
  ARENA_PUSH(p, p->attrs, p->nattrs, a);
}

/* ---- lookups ------------------------------------------------------------- */

MilFunc *mil_find_func(const MilProg *p, const char *name) {
  for (int i = 0; i < p->nfuncs; i++)
    if (strcmp(p->funcs[i].name, name) == 0)
      return &p->funcs[i];
  return NULL;
}

const MilArg *mil_op_arg(const MilOp *op, const char *name) {
  for (int i = 0; i < op->nargs; i++)
    if (mil_name_eq(op->args[i].name, name))
      return &op->args[i];
  return NULL;
}

const MilAttr *mil_op_attr_get(const MilOp *op, const char *name) {
  for (int i = 0; i < op->nattrs; i++)
    if (mil_name_eq(op->attrs[i].name, name))
      return &op->attrs[i];
  return NULL;
}

const char *mil_op_name(const MilOp *op) {
  const MilAttr *a = mil_op_attr_get(op, "name");
  if (a && a->val->kind == MIL_VDATA && a->val->type->kind == MIL_TENSOR &&
      a->val->type->dtype == MIL_STRING && a->val->n == 1)
    return a->val->s[0];
  return op->nouts ? op->outs[0].name : "";
}

static bool same_name(const char *a, const char *b) { return a == b || strcmp(a, b) == 0; }

/* A resolved reference is trusted only if it still names ref: a pass that
 * moved ops leaves it stale, and then the scan answers. */
const MilVar *mil_ref_var(const MilFunc *f, const MilBind *b, int before, int *opi) {
  int d = b->def;
  if (d < 0 && -d - 1 < f->ninputs && same_name(f->inputs[-d - 1].name, b->ref)) {
    *opi = -1;
    return &f->inputs[-d - 1];
  }
  if (d > 0 && d - 1 < before && d - 1 < f->nops && b->out < f->ops[d - 1].nouts &&
      same_name(f->ops[d - 1].outs[b->out].name, b->ref)) {
    *opi = d - 1;
    return &f->ops[d - 1].outs[b->out];
  }
  for (int i = 0; i < f->ninputs; i++)
    if (strcmp(f->inputs[i].name, b->ref) == 0) {
      *opi = -1;
      return &f->inputs[i];
    }
  for (int o = 0; o < before && o < f->nops; o++)
    for (int k = 0; k < f->ops[o].nouts; k++)
      if (strcmp(f->ops[o].outs[k].name, b->ref) == 0) {
        *opi = o;
        return &f->ops[o].outs[k];
      }
  return NULL;
}

/* ---- resolving references of a program built in memory ---------------------- */

typedef struct RefSlot {
  const char *name;        /* NULL: empty */
  int def, out;
} RefSlot;

static size_t ref_hash(const char *s) {
  size_t h = 2166136261u;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

static RefSlot *ref_slot(RefSlot *t, size_t mask, const char *name) {
  size_t i = ref_hash(name) & mask;
  while (t[i].name && strcmp(t[i].name, name) != 0)
    i = (i + 1) & mask;
  return &t[i];
}

static void ref_define(RefSlot *t, size_t mask, const char *name, int def, int out) {
  RefSlot *e = ref_slot(t, mask, name);
  if (!e->name)             /* the first definition, as a scan finds it */
    *e = (RefSlot){name, def, out};
}

static void ref_bind(RefSlot *t, size_t mask, MilBind *b) {
  if (b->kind == MIL_BREF) {
    const RefSlot *e = ref_slot(t, mask, b->ref);
    b->def = e->name ? e->def : 0;
    b->out = e->name ? e->out : 0;
  }
  for (int i = 0; b->kind == MIL_BLIST && i < b->nitems; i++)
    ref_bind(t, mask, &b->items[i]);
}

void mil_resolve_refs(MilProg *p) {
  for (int fi = 0; fi < p->nfuncs; fi++) {
    MilFunc *f = &p->funcs[fi];
    size_t n = (size_t)f->ninputs, cap = 16;
    for (int o = 0; o < f->nops; o++)
      n += (size_t)f->ops[o].nouts;
    while (cap < 2 * n)
      cap *= 2;
    RefSlot *t = calloc(cap, sizeof *t);
    if (!t)
      oom();
    for (int i = 0; i < f->ninputs; i++)
      ref_define(t, cap - 1, f->inputs[i].name, -(i + 1), 0);
    for (int o = 0; o < f->nops; o++) {   /* an op reads only what is defined before it */
      MilOp *op = &f->ops[o];
      for (int a = 0; a < op->nargs; a++)
        ref_bind(t, cap - 1, &op->args[a].bind);
      for (int k = 0; k < op->nouts; k++)
        ref_define(t, cap - 1, op->outs[k].name, o + 1, k);
    }
    free(t);
  }
}

const MilType *mil_value_type(const MilFunc *f, const char *name, int before) {
  MilBind b = {.kind = MIL_BREF, .ref = name};
  int opi;
  const MilVar *v = mil_ref_var(f, &b, before, &opi);
  return v ? v->type : NULL;
}

MilOp *mil_add_op_noout(MilProg *p, MilFunc *f, const char *op, const char *name) {
  MilOp *o = mil_add_op(p, f, op);
  mil_op_attr(p, o, "name", mil_scalar_s(p, name));
  return o;
}
