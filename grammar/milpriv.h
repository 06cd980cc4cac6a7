/* milpriv.h - what the MIL scanner (millex.c), grammar (milparse.y) and
 * semantic actions (milsema.c) share. Not part of any public contract.
 *
 * Everything the parser builds lives in the program's arena, so a syntax
 * error anywhere needs no cleanup beyond mil_free(). Token text is never
 * copied by the scanner: a location is enough to find it in src->text. */
#ifndef ANET_MILPRIV_H
#define ANET_MILPRIV_H

#include <string.h>

#include "mil.h"

enum {
  MILP_MAX_DEPTH = 64,              /* brackets of any kind, nested */
  MILP_MAX_ERRORS = 20,             /* then the parse stops */
};
#define MILP_MAX_DIM ((int64_t)INT32_MAX)
#define MILP_MAX_NUMEL ((int64_t)1 << 50)   /* so numel * 8 bytes fits an int64 */

/* An interned name or string: one copy in the program's arena per
 * distinct text, so names compare by pointer. def is 1 + the index of the
 * function that defines the name as a value, or 0; var and out say where
 * it is first defined there, as MilBind's def and out do. */
typedef struct MilpSym {
  const char *str;
  uint32_t len, hash;
  int def, var, out;
} MilpSym;

/* A name of at most 8 bytes (argument and attribute names, mostly): its
 * bytes as one word, its length, its index in the table. */
typedef struct MilpSmall {
  uint64_t word;
  uint32_t len, sym;
} MilpSmall;

/* A tensor type's spelling, already read: where it is in the text. */
typedef struct MilpTypeText {
  size_t at;
  uint32_t len, hash;
  MilType *type;         /* NULL: empty slot */
} MilpTypeText;

typedef struct MilpChunk MilpChunk;
struct MilpChunk {
  MilpChunk *next;
  size_t used, cap;
  max_align_t data[];
};

typedef struct MilpState {
  MilProg *p;
  const Src *src;
  Diag *d;
  int errors0;           /* d->nerrors when the parse began */
  size_t pos;            /* scanner: byte offset of the next token */
  int depth;             /* scanner: open brackets */
  char open[MILP_MAX_DEPTH + 1];   /* scanner: open[depth] is the innermost */
  size_t after_eq;       /* scanner: where the token after the last '=' starts */
  int fn;                /* index of the function being read, or -1 */
  MilpSym *sym;          /* interned names and strings, in order made */
  size_t nsym, symcap;
  uint32_t *slot;        /* hash table: 1 + index in sym, or 0 */
  size_t slotcap;
  MilpSmall small[256];  /* recent short names, found without hashing */
  const MilType **ty;    /* interned tensor types (hash table) */
  size_t nty, tycap;
  MilpTypeText *tt;      /* TENSOR_TYPE spellings seen (hash table) */
  size_t ntt, ttcap;
  MilpChunk *tmp;        /* scratch for what one statement needs */
} MilpState;

/* A list under construction, in source order. */
typedef struct MilpNode {
  void *item;
  Loc loc;
  struct MilpNode *next;
} MilpNode;
typedef struct MilpSeq {
  MilpNode *head, *tail;
  int n;
} MilpSeq;

/* A literal before its type is known: the type decides what it means. */
typedef enum MilpLitKind {
  MILP_LINT, MILP_LFLOAT, MILP_LSTRING, MILP_LWORD,   /* tokens */
  MILP_LLIST, MILP_LTUPLE, MILP_LDICT,                /* [..] (..) {..} */
  MILP_LBLOB,                                         /* BLOBFILE(...) */
} MilpLitKind;

typedef struct MilpLit MilpLit;
struct MilpLit {
  MilpLitKind kind;
  Loc loc;
  const char *str;       /* MILP_LSTRING (decoded); MILP_LBLOB: path */
  uint64_t offset;       /* MILP_LBLOB */
  int n;                 /* bracketed: items */
  MilpLit **items;
};

/* One argument inside the <...> of a type: a type, a shape or a dim. */
typedef enum MilpTArgKind { MILP_TTYPE, MILP_TSHAPE, MILP_TDIM } MilpTArgKind;
typedef struct MilpTArg {
  MilpTArgKind kind;
  MilType *type;         /* MILP_TTYPE; NULL after an error */
  int rank;              /* MILP_TSHAPE */
  int64_t dim[MIL_MAX_RANK];
  int64_t d;             /* MILP_TDIM */
  bool bad;              /* an error was reported inside */
} MilpTArg;

/* Errors. Returns false, so helpers can `return milp_err(...)`. */
bool milp_err(MilpState *s, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool milp_too_many_errors(const MilpState *s);
char *milp_text(MilpState *s, Loc loc);
const char *milp_name(MilpState *s, Loc loc);            /* interned */
void *milp_tmp_chunk(MilpState *s, size_t size);

/* Zeroed scratch memory until the statement ends. Inline: the parser
 * takes a few million small pieces. */
static inline void *milp_tmp(MilpState *s, size_t size) {
  size = (size + 7) & ~(size_t)7;
  MilpChunk *c = s->tmp;
  if (!c || c->cap - c->used < size)
    return milp_tmp_chunk(s, size);
  void *m = (char *)c->data + c->used;
  c->used += size;
  return memset(m, 0, size);
}
MilpSeq *milp_seq(MilpState *s, MilpSeq *q, void *item, Loc loc);   /* q NULL: new */

/* Scanner helpers. */
const char *milp_string(MilpState *s, Loc loc);   /* interned; NULL after an error */

/* Types. */
MilType *milp_dtype(MilpState *s, Loc name);
MilType *milp_tensor_token(MilpState *s, Loc loc);   /* NULL: read it the long way */
MilValue *milp_string_token(MilpState *s, Loc loc);  /* the same */
MilType *milp_type(MilpState *s, Loc name, MilpSeq targs, Loc loc);
MilpTArg *milp_targ_type(MilpState *s, MilType *t);
MilpTArg *milp_targ_dim(MilpState *s, Loc loc, bool any);
MilpTArg *milp_targ_shape(MilpState *s, MilpTArg *shape, MilpTArg *dim, Loc loc);

/* Literals and values. */
MilpLit *milp_lit(MilpState *s, MilpLitKind kind, Loc loc, const char *str);
MilpLit *milp_lit_list(MilpState *s, MilpLitKind kind, MilpSeq items, Loc loc);
MilpLit *milp_lit_blob(MilpState *s, MilpSeq keyvals, Loc loc);
MilAttr *milp_attr(MilpState *s, Loc name, MilValue *v);
MilValue *milp_value(MilpState *s, const MilType *t, const MilpLit *lit);

/* Program structure. */
void milp_version(MilpState *s, Loc loc);
void milp_prog_attrs(MilpState *s, MilpSeq attrs);
void milp_func_begin(MilpState *s, Loc name, Loc opset, Loc loc);
void milp_param(MilpState *s, MilType *t, Loc name);
void milp_func_attrs(MilpState *s, MilpSeq attrs);
void milp_func_output(MilpState *s, Loc name);
void milp_func_end(MilpState *s);
MilBind *milp_bind_ref(MilpState *s, Loc name);
MilBind *milp_bind_val(MilpState *s, MilValue *v);
MilBind *milp_bind_list(MilpState *s, MilpSeq items);
MilArg *milp_arg(MilpState *s, Loc name, MilBind *b);
MilVar *milp_out(MilpState *s, MilType *t, Loc name);
void milp_stmt(MilpState *s, MilpSeq outs, Loc op, MilpSeq args, MilpSeq attrs, Loc loc);

void milp_state_free(MilpState *s);

#endif
