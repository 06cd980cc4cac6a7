/* mil.h - the MIL IR: one structure for the programs anetc builds and the
 * programs the MIL parser reads; every backend consumes it.
 *
 * A MilProg owns all its memory in one arena: types, values, names, ops are
 * allocated there and freed together by mil_free(). Nothing inside is ever
 * freed on its own, so error paths need no cleanup. Functions and ops live
 * in plain arrays that grow with mil_add_*().
 *
 * Weights that go to weight.bin are never held here: a blob value records
 * its path and offset, and (for programs anetc builds) an index into
 * prog->blobs, the list of weight sources that blob.c streams to disk. */
#ifndef ANET_MIL_H
#define ANET_MIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diag.h"

enum {
  MIL_MAX_RANK = 8,          /* deeper tensors are rejected with an error */
  MIL_DIM_ANY = -1,          /* a '?' dimension or list length */
  MIL_MAX_ELEMS = 1 << 30,   /* inline literal elements; blobs may be larger */
};

typedef enum MilDtype {
  MIL_BOOL, MIL_STRING,
  MIL_FP16, MIL_FP32, MIL_FP64, MIL_BF16,
  MIL_INT4, MIL_INT8, MIL_INT16, MIL_INT32, MIL_INT64,
  MIL_UINT1, MIL_UINT2, MIL_UINT3, MIL_UINT4, MIL_UINT6,
  MIL_UINT8, MIL_UINT16, MIL_UINT32, MIL_UINT64,
  MIL_NDTYPES
} MilDtype;

const char *mil_dtype_name(MilDtype t);            /* "fp16" */
bool mil_dtype_lookup(const char *s, size_t n, MilDtype *out);
int mil_dtype_bits(MilDtype t);                    /* 16 for fp16, 4 for int4; 0 for string */
bool mil_dtype_is_float(MilDtype t);
bool mil_dtype_is_int(MilDtype t);                 /* signed or unsigned integer */
bool mil_dtype_is_signed(MilDtype t);
int mil_dtype_blob_code(MilDtype t);               /* MILBlob BlobDataType, 0 if none */

typedef enum MilKind { MIL_TENSOR, MIL_LIST, MIL_TUPLE, MIL_DICT, MIL_STATE } MilKind;

/* A value's type. Tensors of rank 0 are scalars: "fp16" in program(1.3),
 * "tensor<fp16, []>" in program(1.0). */
typedef struct MilType MilType;
struct MilType {
  MilKind kind;
  MilDtype dtype;                 /* MIL_TENSOR */
  int rank;                       /* MIL_TENSOR */
  int64_t dim[MIL_MAX_RANK];      /* MIL_TENSOR; MIL_DIM_ANY for '?' */
  int64_t len;                    /* MIL_LIST; MIL_DIM_ANY for '?' */
  int nsub;                       /* list: 1, tuple: n, dict: 2 (key, value), state: 1 */
  MilType **sub;
};

/* Elements of a tensor type; -1 when a dimension is '?' or the count
 * exceeds INT64_MAX. */
int64_t mil_type_numel(const MilType *t);
bool mil_type_eq(const MilType *a, const MilType *b);

typedef enum MilValKind {
  MIL_VDATA,   /* tensor elements inline, flattened in C order */
  MIL_VBLOB,   /* tensor stored in a weight file: BLOBFILE(path, offset) */
  MIL_VAGG,    /* list, tuple or dict literal: items (dict: key, value, key, ...) */
} MilValKind;

/* A compile-time value: type(literal) or type(BLOBFILE(...)). */
typedef struct MilValue MilValue;
struct MilValue {
  const MilType *type;
  MilValKind kind;
  int64_t n;             /* MIL_VDATA: number of elements (numel of type) */
  double *f;             /* float dtypes */
  int64_t *i;            /* integer and bool dtypes; uint64 kept as its bits */
  char **s;              /* string dtype */
  const char *blob_path; /* MIL_VBLOB: "@model_path/weights/weight.bin" */
  uint64_t blob_offset;  /* MIL_VBLOB: file offset of the blob's metadata */
  int blob_src;          /* MIL_VBLOB: index in prog->blobs, or -1 if read from text */
  int nitems;            /* MIL_VAGG */
  MilValue **items;
};

/* An op input: a reference to an earlier value, an inline value, or a
 * parenthesised list of those ("values = (a, b)"). */
typedef enum MilBindKind { MIL_BREF, MIL_BVAL, MIL_BLIST } MilBindKind;
typedef struct MilBind MilBind;
struct MilBind {
  MilBindKind kind;
  int nitems;           /* MIL_BLIST */
  const char *ref;      /* MIL_BREF */
  MilValue *val;        /* MIL_BVAL */
  union {
    MilBind *items;     /* MIL_BLIST */
    struct {            /* MIL_BREF, where the parser found ref defined: def is
                           1 + the op's index in the function and out the
                           output's, or def = -(1 + the input's index); 0 when
                           not resolved (programs built in memory) */
      int def, out;
    };
  };
};

typedef struct MilArg {   /* "key = binding" inside (...) */
  const char *name;
  MilBind bind;
} MilArg;

typedef struct MilAttr {  /* "key = value" inside [...] */
  const char *name;
  MilValue *val;
} MilAttr;

typedef struct MilVar {   /* "type name": op outputs, function inputs */
  const MilType *type;
  const char *name;
} MilVar;

typedef struct MilOp {      /* the counts together: 64 bytes, not 72 */
  const char *op;          /* "conv", "const", "constexpr_affine_dequantize" */
  MilArg *args;            /* sorted by name when printed */
  MilAttr *attrs;          /* includes name = string("..."), const's val */
  MilVar *outs;
  int nargs, nattrs, nouts;
  Loc loc;                 /* where the statement is in prog->src (parsed programs), or
                              the .anet layer it was lowered from (anetc) */
} MilOp;

typedef struct MilFunc {
  const char *name;        /* "main" */
  const char *opset;       /* "ios18" */
  int ninputs;  MilVar *inputs;
  int nattrs;   MilAttr *attrs;
  int nops, opcap;  MilOp *ops;
  int noutputs; const char **outputs;
  Loc loc;
} MilFunc;

/* Where the bytes of a weight blob come from when anetc writes weight.bin.
 * Values are generated (or read) only while the file is written. */
typedef enum MilInitKind {
  MIL_INIT_UNIFORM,    /* a, b: floats uniform in [a, b); ints uniform in [a, b] */
  MIL_INIT_NORMAL,     /* a = mean, b = standard deviation */
  MIL_INIT_CONST,      /* a */
  MIL_INIT_NPY,        /* path: a .npy file of the blob's shape */
  MIL_INIT_QUANT,      /* part `part` of a quantised weight (gen/blob.h) */
} MilInitKind;

typedef struct MilBlobSrc {
  MilDtype dtype;          /* as stored: fp16, fp32, int8, uint8, ... */
  int64_t numel;
  MilInitKind init;
  double a, b;
  uint64_t seed;           /* the PRNG stream for this blob */
  const char *path;        /* MIL_INIT_NPY */
  uint64_t offset;         /* metadata offset, set by mil_layout_blobs() */
  struct QuantPlan *quant; /* MIL_INIT_QUANT */
  int part;                /* MIL_INIT_QUANT: a QuantPart */
} MilBlobSrc;

typedef struct MilProg {
  const char *version;     /* "1.3" or "1.0" */
  int nattrs;  MilAttr *attrs;   /* buildInfo, ... */
  int nfuncs, funccap;  MilFunc *funcs;
  int nblobs, blobcap;  MilBlobSrc *blobs;
  const Src *src;          /* the text a parsed program came from, else NULL */
  struct MilArena *arena;
} MilProg;

/* Programs. */
MilProg *mil_new(const char *version);
void mil_free(MilProg *p);
/* Compact scalars ("fp16", "string(...)") are the 1.x dialect with x >= 3;
 * program(1.0) spells every scalar as tensor<T, []>. */
bool mil_compact(const MilProg *p);

/* Arena allocation: zeroed memory that lives as long as the program,
 * aligned for pointers, int64 and double (strings are packed unaligned). */
void *mil_alloc(MilProg *p, size_t size);
char *mil_strdup(MilProg *p, const char *s);
char *mil_strndup(MilProg *p, const char *s, size_t n);
char *mil_printf(MilProg *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Types. dims may be NULL when rank is 0. A scalar type is one per dtype,
 * shared: not to be changed. The parser shares every tensor type among the
 * values and variables that spell it, so no type is ever changed. */
MilType *mil_tensor_type(MilProg *p, MilDtype dt, int rank, const int64_t *dims);
MilType *mil_scalar_type(MilProg *p, MilDtype dt);

/* Values: inline scalars and tensors (data copied), blobs. */
MilValue *mil_scalar_f(MilProg *p, MilDtype dt, double v);
MilValue *mil_scalar_i(MilProg *p, MilDtype dt, int64_t v);   /* ints and bool */
MilValue *mil_scalar_s(MilProg *p, const char *s);
/* A list, tuple or dict literal of type t with n items for the caller to
 * fill (a dict's: key, value, key, ...). */
MilValue *mil_agg(MilProg *p, const MilType *t, int n);
/* A dict<string, string> of n/2 pairs: kv holds key, value, key, ... */
MilValue *mil_string_dict(MilProg *p, int n, const char *const *kv);
MilValue *mil_tensor_i(MilProg *p, MilDtype dt, int rank, const int64_t *dims,
                       const int64_t *data);
MilValue *mil_tensor_f(MilProg *p, MilDtype dt, int rank, const int64_t *dims,
                       const double *data);
MilValue *mil_blob_value(MilProg *p, const MilType *t, const char *path, uint64_t offset,
                         int blob_src);
/* Registers a weight source; returns its index in p->blobs. */
int mil_add_blob(MilProg *p, MilBlobSrc src);
/* Assigns every p->blobs[i].offset as MILBlob v2 lays the file out
 * (header 64 B; each blob: 64-aligned metadata, then data) and updates the
 * blob values that refer to them. Returns the file size in bytes. */
uint64_t mil_layout_blobs(MilProg *p);
/* Bytes of a blob's data: ceil(numel * bits / 8). */
uint64_t mil_blob_nbytes(MilDtype dt, int64_t numel);

/* Functions and ops. Pointers returned stay valid until the next
 * mil_add_func() / mil_add_op() on the same program / function. */
MilFunc *mil_add_func(MilProg *p, const char *name, const char *opset);
void mil_add_input(MilProg *p, MilFunc *f, const MilType *t, const char *name);
void mil_add_output(MilProg *p, MilFunc *f, const char *name);
MilOp *mil_add_op(MilProg *p, MilFunc *f, const char *op);
/* The same, keeping op itself: it must live as long as p (the parser's
 * interned names do). */
MilOp *mil_add_op_named(MilProg *p, MilFunc *f, const char *op);
void mil_op_out(MilProg *p, MilOp *op, const MilType *t, const char *name);
void mil_op_ref(MilProg *p, MilOp *op, const char *arg, const char *ref);
void mil_op_val(MilProg *p, MilOp *op, const char *arg, MilValue *v);
void mil_op_attr(MilProg *p, MilOp *op, const char *name, MilValue *v);
void mil_prog_attr(MilProg *p, const char *name, MilValue *v);

/* Lookups. NULL when absent. */
MilFunc *mil_find_func(const MilProg *p, const char *name);
/* strcmp(a, b) == 0 for the short names (arguments, attributes, op types)
 * the checks compare by the million: inline, a byte at a time, which
 * beats a call to strcmp. */
static inline bool mil_name_eq(const char *a, const char *b) {
  while (*a && *a == *b)
    a++, b++;
  return *a == *b;
}
const MilArg *mil_op_arg(const MilOp *op, const char *name);
const MilAttr *mil_op_attr_get(const MilOp *op, const char *name);
/* The op's name: its name attribute, else its first output's ("" for
 * neither). */
const char *mil_op_name(const MilOp *op);
/* The type of a named value in f: an input or the output of an op before
 * op index `before` (use f->nops for "anywhere"). */
const MilType *mil_value_type(const MilFunc *f, const char *name, int before);
/* The variable a MIL_BREF binding of op `before` reads: an input or an
 * output of an earlier op; *opi is that op's index, or -1 for an input.
 * O(1) when the parser resolved it, else a scan as mil_value_type's. */
const MilVar *mil_ref_var(const MilFunc *f, const MilBind *b, int before, int *opi);
/* Records in every MIL_BREF where its name is defined, as the parser does
 * (one pass): for a program built in memory, once its ops are in order. */
void mil_resolve_refs(MilProg *p);

/* The MIL text printer (milprint.c): canonical text, keys sorted, floats
 * as %a, one statement per line, in the dialect of p->version. */
int mil_print(const MilProg *p, FILE *out);
char *mil_print_string(const MilProg *p);  /* malloc'd */

/* The MIL text parser (grammar/milparse.y): NULL after reporting errors on d. */
MilProg *mil_parse(const Src *src, Diag *d);

/* An op without outputs (write_state): only its name attribute. */
MilOp *mil_add_op_noout(MilProg *p, MilFunc *f, const char *op, const char *name);

#endif
