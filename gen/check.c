/* check.c - from syntax tree to layer IR: constants and sweep points,
 * value names, argument types and shapes, one function per layer kind.
 *
 * anet_parse() checks every sweep point up front, so a file that parses
 * lowers; anetc_check() redoes the (cheap) work for the point asked for. */
#include "ast.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "fp16.h"
#include "wformat.h"

enum {
  MAX_STEPS = 1 << 22,     /* statements executed while unrolling repeats */
  MAX_SIZE = 1 << 24,      /* kernel, stride, dilation, padding */
  MAX_NAMED = 16,          /* distinct parameters of one layer */
};

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) {
    fputs("anetc: out of memory\n", stderr);
    abort();
  }
  return q;
}

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  return memcpy(xrealloc(NULL, n), s, n);
}

/* ---- the checker's state ------------------------------------------------ */

typedef struct Const {
  const char *name;
  const Node *def;
  AnetNum val;
  bool bad;                  /* its definition failed: uses stay silent */
} Const;

enum { POISON = -2 };        /* the value of a layer that failed */

typedef struct Name {
  const char *name;
  int value;                 /* a value index, POISON, or -1 for a state */
  int state;                 /* index in net->states, or -1 */
} Name;

enum { MAX_REPORTED = 256 };

/* Errors already reported, by offset, shared by the sweep points: an
 * error in a block used twice, or in every point, is reported once. */
typedef struct Seen {
  size_t at[MAX_REPORTED];
  int n;
  int errors0;               /* d->nerrors before the file's first error */
  bool stopped;              /* the error limit has been announced */
} Seen;

typedef struct Check {
  const AnetFile *f;
  const Src *src;
  Diag *d;
  const AnetNum *point;      /* the swept constants' values, or NULL */
  Const *consts;
  int nconsts, constcap;
  AnetNet *net;
  Name *names;
  int nnames, namecap;
  int cur;                   /* the value the next layer reads, -1 before any */
  bool quant;                /* activations int8 */
  double qscale;             /* 0: scale=auto */
  Loc qloc;                  /* the scale=auto, for the lowering's errors */
  long steps;
  /* scopes: consts [0, nglobal) are the file's, [scope, nconsts) the
   * current block's (or the network's) */
  int nglobal, scope;
  const Node *use[ANET_MAX_NEST];   /* the block uses being expanded */
  const Node *used[ANET_MAX_NEST];  /* and their definitions */
  int depth;
  Seen *seen;
  /* while a layer reads a value an earlier error left unknown (a stand-in
   * for it), only errors of its own, undefined names, are reported */
  bool in_layer, mute;
  int standin;               /* the stand-in's value index, or -1 */
} Check;

/* Errors beyond ANET_MAX_ERRORS are dropped and checking stops early. */
static bool too_many(const Check *c) {
  return c->d->nerrors - c->seen->errors0 >= ANET_MAX_ERRORS;
}

static bool seen_before(Check *c, Loc loc) {
  Seen *s = c->seen;
  for (int i = 0; i < s->n; i++)
    if (s->at[i] == loc.start)
      return true;
  if (s->n < MAX_REPORTED)
    s->at[s->n++] = loc.start;
  return false;
}

/* Reports an error (name: one that a stand-in value cannot cause); inside
 * a block expansion, a note at every use that led there, innermost first. */
static int vfail(Check *c, bool name, Loc loc, const char *fmt, va_list ap) {
  if ((c->mute && !name) || too_many(c) ||
      ((c->depth > 0 || c->f->npoints > 1) && seen_before(c, loc)))
    return -1;
  diag_verror(c->d, c->src, loc, fmt, ap);
  for (int i = c->depth - 1; i >= 0; i--)
    diag_note(c->d, c->src, c->use[i]->loc, "in block '%s' used here", c->use[i]->name);
  if (too_many(c) && !c->seen->stopped)   /* checking ends here */
    fprintf(c->d->out ? c->d->out : stderr, "%s: note: stopping after %d errors\n",
            c->src->name, ANET_MAX_ERRORS);
  c->seen->stopped |= too_many(c);
  return -1;
}

static int fail(Check *c, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(Check *c, Loc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(c, false, loc, fmt, ap);
  va_end(ap);
  return -1;
}

static int fail_name(Check *c, Loc loc, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));
static int fail_name(Check *c, Loc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(c, true, loc, fmt, ap);
  va_end(ap);
  return -1;
}

static const Const *find_const(const Check *c, const char *name) {
  for (int i = c->nconsts - 1; i >= c->scope; i--)
    if (strcmp(c->consts[i].name, name) == 0)
      return &c->consts[i];
  for (int i = c->nglobal - 1; i >= 0; i--)
    if (strcmp(c->consts[i].name, name) == 0)
      return &c->consts[i];
  return NULL;
}

/* Words a constant, a sweep or a parameter may take as a value. Formats
 * that later code recognises go here too. */
static const char *const words[] = {
  "true", "false", "valid", "same", "constant", "reflect", "replicate", "nearest", "bilinear",
  "tanh", "erf", NULL,
};

static bool is_word(const char *name) {
  MilDtype t;
  QuantFmt f;
  char msg[200];
  for (int i = 0; words[i]; i++)
    if (strcmp(words[i], name) == 0)
      return true;
  return mil_dtype_lookup(name, strlen(name), &t) || wfmt_parse(name, &f, msg, sizeof msg) == 0;
}

/* The word n stands for: a word written there, or a constant holding one;
 * NULL for anything else. */
static const char *word_of(const Check *c, const Node *n) {
  if (n->kind != N_IDENT)
    return NULL;
  const Const *k = find_const(c, n->name);
  if (k)
    return k->val.sym;
  return is_word(n->name) ? n->name : NULL;
}

/* "; did you mean 'x'?" or "", for a name among the constants in scope
 * and the extra candidates. */
static const char *did_you_mean(const Check *c, const char *name, const char *const *extra) {
  static char buf[160];
  const char *best = extra ? diag_suggest(name, extra) : NULL;
  const char *dtypes[MIL_NDTYPES + 1] = {0};
  for (int i = 0; extra && i < MIL_NDTYPES; i++)
    dtypes[i] = mil_dtype_name((MilDtype)i);
  if (!best && extra)
    best = diag_suggest(name, dtypes);
  if (!best && c->consts)   /* none yet: no pointer to offset */
    best = diag_suggest_in(name, c->consts + c->scope, (size_t)(c->nconsts - c->scope),
                           sizeof *c->consts);
  if (!best && c->consts)
    best = diag_suggest_in(name, c->consts, (size_t)c->nglobal, sizeof *c->consts);
  if (!best)
    return "";
  snprintf(buf, sizeof buf, "; did you mean '%s'?", best);
  return buf;
}

/* ---- numbers ------------------------------------------------------------ */

static AnetNum num_int(int64_t i) { return (AnetNum){true, i, (double)i, NULL}; }
static AnetNum num_float(double f) { return (AnetNum){false, 0, f, NULL}; }

static const char *describe(const Node *n) {
  switch (n->kind) {
  case N_LIST: return "a list";
  case N_STR:  return "a string";
  case N_CALL: return "a call";
  default:     return "a name";
  }
}

static int eval(Check *c, const Node *n, AnetNum *out);

static int eval_bin(Check *c, const Node *n, AnetNum *out) {
  AnetNum x, y;
  if (eval(c, n->kids, &x) || eval(c, n->kids->next, &y))
    return -1;
  if (x.sym || y.sym)
    return fail(c, (x.sym ? n->kids : n->kids->next)->loc, "'%s' is a word, not a number",
                x.sym ? x.sym : y.sym);
  int op = (int)n->ival;
  if (x.is_int && y.is_int) {
    int64_t r = 0;
    bool over = false;
    switch (op) {
    case '+': over = __builtin_add_overflow(x.i, y.i, &r); break;
    case '-': over = __builtin_sub_overflow(x.i, y.i, &r); break;
    case '*': over = __builtin_mul_overflow(x.i, y.i, &r); break;
    default:
      if (y.i == 0)
        return fail(c, n->loc, "division by zero");
      over = x.i == INT64_MIN && y.i == -1;
      r = over ? 0 : x.i / y.i;
    }
    if (over)
      return fail(c, n->loc, "integer overflow: the result does not fit in 64 bits");
    *out = num_int(r);
    return 0;
  }
  double r = op == '+' ? x.f + y.f : op == '-' ? x.f - y.f : op == '*' ? x.f * y.f : x.f / y.f;
  if (op == '/' && y.f == 0)
    return fail(c, n->loc, "division by zero");
  if (!isfinite(r))
    return fail(c, n->loc, "the result is not a finite number");
  *out = num_float(r);
  return 0;
}

static int eval(Check *c, const Node *n, AnetNum *out) {
  switch (n->kind) {
  case N_INT:
    *out = num_int(n->ival);
    return 0;
  case N_FLOAT:
    *out = num_float(n->fval);
    return 0;
  case N_IDENT: {
    const Const *k = find_const(c, n->name);
    if (k && k->bad)
      return -1;
    if (k) {
      *out = k->val;
      return 0;
    }
    if (is_word(n->name)) {
      *out = (AnetNum){false, 0, 0, n->name};
      return 0;
    }
    return fail_name(c, n->loc, "'%s' is not defined: expected a number, a word or a constant "
                "defined above%s", n->name, did_you_mean(c, n->name, words));
  }
  case N_NEG:
    if (eval(c, n->a, out))
      return -1;
    if (out->sym)
      return fail(c, n->loc, "'%s' is a word, not a number", out->sym);
    if (out->is_int && out->i == INT64_MIN)
      return fail(c, n->loc, "integer overflow: the result does not fit in 64 bits");
    *out = out->is_int ? num_int(-out->i) : num_float(-out->f);
    return 0;
  case N_BIN:
    return eval_bin(c, n, out);
  default:
    return fail(c, n->loc, "expected a number, got %s", describe(n));
  }
}

static int eval_int(Check *c, const Node *n, const char *what, int64_t min, int64_t max,
                    int64_t *out) {
  AnetNum v;
  if (eval(c, n, &v))
    return -1;
  if (v.sym)
    return fail(c, n->loc, "%s must be an integer, got the word '%s'", what, v.sym);
  if (!v.is_int) {
    char shown[48];   /* 4.0 is not 4: show that it is a float */
    int len = snprintf(shown, sizeof shown, "%g", v.f);
    if (!strpbrk(shown, ".eni"))
      snprintf(shown + len, sizeof shown - (size_t)len, ".0");
    return fail(c, n->loc, "%s must be an integer, got %s", what, shown);
  }
  if (v.i < min)
    return fail(c, n->loc, "%s must be at least %lld, got %lld", what, (long long)min,
                (long long)v.i);
  if (v.i > max)
    return fail(c, n->loc, "%s must be at most %lld, got %lld", what, (long long)max,
                (long long)v.i);
  *out = v.i;
  return 0;
}

static int eval_num(Check *c, const Node *n, const char *what, double *out) {
  AnetNum v;
  if (n->kind == N_LIST || n->kind == N_STR || n->kind == N_CALL)
    return fail(c, n->loc, "%s must be a number, got %s", what, describe(n));
  if (eval(c, n, &v))
    return -1;
  if (v.sym)
    return fail(c, n->loc, "%s must be a number, got the word '%s'", what, v.sym);
  *out = v.f;
  return 0;
}

/* A value that fp16 can hold and that does not round to zero. */
static int check_fp16(Check *c, const Node *n, const char *what, double v, bool nonzero) {
  double r = fp16_round(v);
  if (!isfinite(r))
    return fail(c, n->loc, "%s %g is out of the fp16 range (at most 65504)", what, v);
  if (nonzero && r == 0)
    return fail(c, n->loc, "%s %g rounds to zero in fp16", what, v);
  return 0;
}

/* ---- shapes ------------------------------------------------------------- */

const char *anetc_shape_str(char *buf, size_t size, MilDtype dt, int rank, const int64_t *dim) {
  size_t n = (size_t)snprintf(buf, size, "%s[", mil_dtype_name(dt));
  for (int i = 0; i < rank && n < size; i++)
    n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)dim[i]);
  if (n < size)
    snprintf(buf + n, size - n, "]");
  return buf;
}

#define SHAPE(v) anetc_shape_str((char[160]){0}, 160, (v)->dtype, (v)->rank, (v)->dim)

/* Elements of a shape, or -1 beyond ANET_MAX_ELEMS. */
static int64_t elems(int rank, const int64_t *dim) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++) {
    if (dim[i] <= 0 || n > ANET_MAX_ELEMS / dim[i])
      return -1;
    n *= dim[i];
  }
  return n;
}

static int new_value_t(Check *c, Loc loc, MilDtype dt, int rank, const int64_t *dim) {
  AnetNet *net = c->net;
  if (elems(rank, dim) < 0)
    return fail(c, loc, "the result %s has more than 2^40 elements",
                anetc_shape_str((char[160]){0}, 160, dt, rank, dim));
  if (net->nvalues == net->valcap) {
    net->valcap = net->valcap ? 2 * net->valcap : 16;
    net->values = xrealloc(net->values, (size_t)net->valcap * sizeof *net->values);
  }
  AnetValue *v = &net->values[net->nvalues];
  memset(v, 0, sizeof *v);
  v->dtype = dt;
  v->rank = rank;
  memcpy(v->dim, dim, (size_t)rank * sizeof *dim);
  return net->nvalues++;
}

static int new_value(Check *c, Loc loc, int rank, const int64_t *dim) {
  return new_value_t(c, loc, MIL_FP16, rank, dim);
}

/* ---- value names -------------------------------------------------------- */

static const Name *lookup(const Check *c, const char *name) {
  for (int i = 0; i < c->nnames; i++)
    if (strcmp(c->names[i].name, name) == 0)
      return &c->names[i];
  return NULL;
}

/* A value's index, POISON, or -1 when name is no value. */
static int find_name(const Check *c, const char *name) {
  const Name *n = lookup(c, name);
  return n && n->state < 0 ? n->value : -1;
}

static void bind_name(Check *c, const char *name, int value, int state) {
  for (int i = 0; i < c->nnames; i++)
    if (strcmp(c->names[i].name, name) == 0) {
      c->names[i].value = value;
      c->names[i].state = state;
      return;
    }
  if (c->nnames == c->namecap) {
    c->namecap = c->namecap ? 2 * c->namecap : 16;
    c->names = xrealloc(c->names, (size_t)c->namecap * sizeof *c->names);
  }
  c->names[c->nnames++] = (Name){name, value, state};
}

static void set_name(Check *c, const char *name, int value) { bind_name(c, name, value, -1); }

/* A value an earlier error left unknown, met while checking a layer: a
 * stand-in that the layer reads, so that its own errors (an undefined name
 * further on) are still found, while errors about the stand-in's shape are
 * muted: they may only follow from the first. The layer's result is then
 * unknown too. */
static int standin(Check *c) {
  if (c->standin < 0) {
    const int64_t dim[4] = {1, 64, 64, 64};
    c->standin = new_value(c, (Loc){0, 0}, 4, dim);
  }
  c->mute = true;
  return c->standin;
}

/* The value a name stands for: its index; POISON (silently) after an
 * earlier error, or a stand-in inside a layer; or -1 after reporting. */
static int value_of(Check *c, const Node *n, const char *what) {
  if (n->kind != N_IDENT)
    return fail(c, n->loc, "%s must be a named value, got %s", what,
                n->kind == N_INT || n->kind == N_FLOAT ? "a number" : describe(n));
  const Name *k = lookup(c, n->name);
  if (k && k->state >= 0)
    return fail_name(c, n->loc, "'%s' is a state: read it first (read_state %s)", n->name,
                     n->name);
  if (k)
    return k->value == POISON && c->in_layer ? standin(c) : k->value;
  const char *best = diag_suggest_in(n->name, c->names, (size_t)c->nnames, sizeof *c->names);
  if (best)
    return fail_name(c, n->loc, "'%s' is not a named value; did you mean '%s'?", n->name, best);
  return fail_name(c, n->loc, "'%s' is not a named value%s", n->name,
              c->depth > 0 ? " (a block sees only its parameters and its own names)" : "");
}

/* ---- layer arguments ---------------------------------------------------- */

typedef struct Args {
  const Node *pos[2];
  int npos;
  const Node *named[MAX_NAMED];   /* N_ARG nodes */
  int nnamed;
} Args;

typedef struct LayerDef LayerDef;
struct LayerDef {
  const char *name;
  LayerKind kind;
  const char *pos;               /* what the first positional argument is, or NULL */
  const char *const *params;     /* NULL-terminated */
  int (*check)(Check *c, const Args *a, AnetLayer *l);
  const char *pos2;              /* the second one, for the few layers that take two */
  unsigned flags;
};

enum {
  F_ANY_DTYPE = 1,               /* the input may be other than fp16 */
  F_NO_INPUT = 2,                /* reads no current value (read_state) */
  F_OPTIONAL_POS = 4,            /* the positional argument may be left out */
};

static const Node *arg(const Args *a, const char *name) {
  for (int i = 0; i < a->nnamed; i++)
    if (strcmp(a->named[i]->name, name) == 0)
      return a->named[i]->a;
  return NULL;
}

static void list_params(char *buf, size_t size, const char *const *params) {
  size_t n = 0;
  buf[0] = '\0';
  for (int i = 0; params[i] && n < size; i++)
    n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? ", " : "", params[i]);
}

/* Parameters that can change a layer's output shape. */
static const char *const shape_params[] = {
  "kernel", "stride", "padding", "dilation", "shape", "perm", "axis", "axes", "keep_dims",
  "begin", "end", "transpose_x", "transpose_y", NULL,
};

static bool in_list(const char *const *list, const char *name) {
  for (int i = 0; name && list[i]; i++)
    if (strcmp(list[i], name) == 0)
      return true;
  return false;
}

/* One argument that does not fit, reported; 1 when dropping it leaves the
 * layer's output shape what the writer meant, -1 when it may not: it was
 * perhaps a misspelt kernel=. */
static int bad_arg(Check *c, const Node *k, const char *what, const char *pos,
                   const char *pos2, const char *const *params) {
  bool shaped = false;
  for (int i = 0; params[i]; i++)
    shaped |= in_list(shape_params, params[i]);
  if (!k->name && !pos)
    fail(c, k->loc, "%s takes no positional arguments; expected name=value here", what);
  else if (!k->name)
    fail(c, k->loc, "%s takes %s positional argument%s (%s%s%s); expected name=value here", what,
         pos2 ? "two" : "one", pos2 ? "s" : "", pos, pos2 ? ", then " : "", pos2 ? pos2 : "");
  if (!k->name)
    return shaped ? -1 : 1;
  if (in_list(params, k->name)) {
    fail(c, k->name_loc, "parameter '%s' is given twice", k->name);
    return in_list(shape_params, k->name) ? -1 : 1;
  }
  char list[400];
  list_params(list, sizeof list, params);
  const char *best = params[0] ? diag_suggest(k->name, params) : NULL;
  if (!params[0])
    fail(c, k->name_loc, "unknown parameter '%s': %s takes no parameters", k->name, what);
  else if (best)
    fail(c, k->name_loc, "unknown parameter '%s' for %s; did you mean '%s'?", k->name, what,
         best);
  else
    fail(c, k->name_loc, "unknown parameter '%s' for %s; expected one of: %s", k->name, what,
         list);
  return shaped && (!best || in_list(shape_params, best)) ? -1 : 1;
}

/* The arguments of a statement: 0; or 1 after reporting arguments that
 * do not fit but leave the rest usable (every such one is reported); or -1. */
static int collect_args2(Check *c, const Node *stmt, const char *what, const char *pos,
                         const char *pos2, bool optional, const char *const *params, Args *a) {
  memset(a, 0, sizeof *a);
  int rc = 0;
  for (const Node *k = stmt->kids; k; k = k->next) {
    bool fits = k->name ? in_list(params, k->name) && !arg(a, k->name)
                        : pos && a->npos < (pos2 ? 2 : 1);
    if (!fits) {
      int r = bad_arg(c, k, what, pos, pos2, params);
      rc = rc < 0 || r < 0 ? -1 : 1;
      continue;
    }
    if (!k->name) {
      a->pos[a->npos++] = k->a;
      continue;
    }
    if (a->nnamed == MAX_NAMED)
      return fail(c, k->loc, "too many parameters");
    a->named[a->nnamed++] = k;
  }
  if (pos && a->npos == 0 && !optional)
    return fail(c, stmt->loc, "%s needs %s before its parameters", what, pos);
  if (pos2 && a->npos == 1)
    return fail(c, stmt->loc, "%s needs %s after %s", what, pos2, pos);
  return rc;
}

static int collect_args(Check *c, const Node *stmt, const char *what, const char *pos,
                        const char *const *params, Args *a) {
  return collect_args2(c, stmt, what, pos, NULL, false, params, a);
}

static int arg_int(Check *c, const Args *a, const char *name, int64_t def, int64_t min,
                   int64_t max, int64_t *out) {
  const Node *n = arg(a, name);
  *out = def;
  if (!n)
    return 0;
  if (n->kind == N_LIST || n->kind == N_STR || n->kind == N_CALL)
    return fail(c, n->loc, "%s must be an integer, got %s", name, describe(n));
  return eval_int(c, n, name, min, max, out);
}

static int arg_num(Check *c, const Args *a, const char *name, double def, double *out) {
  const Node *n = arg(a, name);
  *out = def;
  return n ? eval_num(c, n, name, out) : 0;
}

static int arg_bool(Check *c, const Args *a, const char *name, bool def, bool *out) {
  const Node *n = arg(a, name);
  *out = def;
  if (!n)
    return 0;
  const char *w = word_of(c, n);
  if (w && strcmp(w, "true") == 0)
    *out = true;
  else if (w && strcmp(w, "false") == 0)
    *out = false;
  else
    return fail(c, n->loc, "%s must be true or false", name);
  return 0;
}

/* An integer or a list of up to `max` integers, each in [min, MAX_SIZE];
 * returns the count, or -1. */
static int arg_ints(Check *c, const Node *n, const char *name, int max, int64_t min,
                    int64_t *out) {
  if (n->kind != N_LIST)
    return eval_int(c, n, name, min, MAX_SIZE, out) ? -1 : 1;
  int count = ast_count(n->kids);
  if (count == 0 || count > max)
    return fail(c, n->loc, "%s takes an integer or a list of at most %d integers, got %d values",
                name, max, count);
  int i = 0;
  for (const Node *k = n->kids; k; k = k->next)
    if (eval_int(c, k, name, min, MAX_SIZE, &out[i++]))
      return -1;
  return count;
}

/* kernel=3 or kernel=[3, 1]: a height and a width. */
static int arg_pair(Check *c, const Args *a, const char *name, int64_t out[2]) {
  const Node *n = arg(a, name);
  out[0] = out[1] = 1;
  if (!n)
    return 0;
  int count = arg_ints(c, n, name, 2, 1, out);
  if (count < 0)
    return -1;
  if (count == 1)
    out[1] = out[0];
  return 0;
}

/* A dtype name that must be a (or b, when b differs). */
static int arg_dtype(Check *c, const Node *n, const char *what, MilDtype a, MilDtype b,
                     MilDtype *out) {
  char want[40];
  snprintf(want, sizeof want, a == b ? "%s" : "%s or %s", mil_dtype_name(a), mil_dtype_name(b));
  MilDtype t;
  const char *w = word_of(c, n);
  if (n->kind != N_IDENT)
    return fail(c, n->loc, "%s must be a dtype (%s)", what, want);
  if (!w || !mil_dtype_lookup(w, strlen(w), &t))
    return fail(c, n->loc, "unknown dtype '%s'; expected %s", w ? w : n->name, want);
  if (t != a && t != b)
    return fail(c, n->loc, "%s must be %s, not %s", what, want, w);
  *out = t;
  return 0;
}

/* Joins a relative .npy path to the directory of the .anet file. */
static char *resolve_path(const Src *src, const char *path) {
  const char *slash = strrchr(src->name, '/');
  if (path[0] == '/' || !slash)
    return xstrdup(path);
  size_t dir = (size_t)(slash - src->name) + 1;
  char *s = xrealloc(NULL, dir + strlen(path) + 1);
  memcpy(s, src->name, dir);
  strcpy(s + dir, path);
  return s;
}

static int check_int8_value(Check *c, const Node *n, const char *what, double v) {
  if (v != floor(v) || v < -128 || v > 127)
    return fail(c, n->loc, "%s must be an integer in [-128, 127] for int8 weights, got %g", what,
                v);
  return 0;
}

/* init=uniform(a, b) | normal(mean, std) | constant(v) | npy("file.npy") */
static int arg_init(Check *c, const Args *a, const char *name, AnetWeight *w) {
  const Node *n = arg(a, name);
  if (!n)
    return 0;
  static const struct { const char *name; MilInitKind kind; int nargs; } inits[] = {
    {"uniform", MIL_INIT_UNIFORM, 2}, {"normal", MIL_INIT_NORMAL, 2},
    {"constant", MIL_INIT_CONST, 1},  {"npy", MIL_INIT_NPY, 1},
  };
  int k = 0;
  while (n->kind == N_CALL && k < 4 && strcmp(inits[k].name, n->name) != 0)
    k++;
  if (n->kind == N_CALL && k == 4)
    return fail(c, n->name_loc, "unknown initialiser '%s'; expected uniform, normal, constant "
                "or npy", n->name);
  if (n->kind != N_CALL)
    return fail(c, n->loc, "%s must be uniform(lo, hi), normal(mean, std), constant(v) or "
                "npy(\"file.npy\")", name);
  int nargs = ast_count(n->kids);
  if (nargs != inits[k].nargs)
    return fail(c, n->loc, "%s() takes %d argument%s, got %d", n->name, inits[k].nargs,
                inits[k].nargs == 1 ? "" : "s", nargs);
  free(w->path);
  w->path = NULL;
  w->init = inits[k].kind;
  w->a = w->b = 0;
  if (w->init == MIL_INIT_NPY) {
    if (n->kids->kind != N_STR)
      return fail(c, n->kids->loc, "npy() takes a file name in double quotes");
    w->path = resolve_path(c->src, n->kids->name);
    return 0;
  }
  if (eval_num(c, n->kids, n->name, &w->a) ||
      (nargs == 2 && eval_num(c, n->kids->next, n->name, &w->b)))
    return -1;
  const Node *second = nargs == 2 ? n->kids->next : n->kids;
  if (w->init == MIL_INIT_UNIFORM && !(w->a < w->b || (w->dtype == MIL_INT8 && w->a == w->b)))
    return fail(c, n->loc, "uniform(lo, hi) needs lo < hi, got %g and %g", w->a, w->b);
  if (w->init == MIL_INIT_NORMAL && w->b < 0)
    return fail(c, second->loc, "normal(mean, std) needs std >= 0, got %g", w->b);
  if (w->dtype == MIL_INT8) {
    if (w->init == MIL_INIT_NORMAL)
      return fail(c, n->loc, "int8 weights take uniform(lo, hi) or constant(v), not normal()");
    return check_int8_value(c, n->kids, n->name, w->a) ||
           (nargs == 2 && check_int8_value(c, second, n->name, w->b)) ? -1 : 0;
  }
  return check_fp16(c, n->kids, n->name, w->a, false) ||
         (nargs == 2 && check_fp16(c, second, n->name, w->b, false)) ? -1 : 0;
}

/* weights=FORMAT (gen/wformat.h) and sparsity=: 0 when n names a format
 * (w set to quantise), 1 when it does not, -1 after reporting. */
static int arg_wformat(Check *c, const Args *a, const Node *n, AnetWeight *w) {
  char msg[200];
  const Node *sp = arg(a, "sparsity");
  /* the word written there, or the one a constant (a sweep's) holds */
  const char *word = n && n->kind == N_IDENT ? word_of(c, n) : NULL;
  if (n && n->kind == N_IDENT && !word)
    word = n->name;
  int rc = word ? wfmt_parse(word, &w->fmt, msg, sizeof msg) : 1;
  if (rc < 0)
    return fail(c, n->loc, "weight format '%s': %s", word, msg);
  if (rc == 1 && word && !mil_dtype_lookup(word, strlen(word), &w->dtype))
    return fail(c, n->loc, "unknown weight format '%s'; expected fp16, int8, %s", word,
                wfmt_words);
  if (sp && (rc != 0 || !w->fmt.sparse))
    return fail(c, sp->loc, "sparsity applies to sparse_* weight formats only");
  if (rc != 0)
    return 1;
  w->quantised = true;
  w->fmt_word = word;
  if (sp && eval_num(c, sp, "sparsity", &w->fmt.sparsity))
    return -1;
  if (sp && !(w->fmt.sparsity >= 0 && w->fmt.sparsity < 1))
    return fail(c, sp->loc, "sparsity must be in [0, 1), got %g", w->fmt.sparsity);
  return 0;
}

/* The shape checks of a weight format: the block size divides the input
 * channels, the palette groups the output channels. */
static int check_wformat(Check *c, const Args *a, const AnetWeight *w, int64_t cout, int64_t cin,
                         int64_t k) {
  char msg[200];
  const char *why = w->quantised ? quant_check(&w->fmt, cout, cin, k, msg, sizeof msg) : NULL;
  return why ? fail(c, arg(a, "weights")->loc, "weight format '%s': %s", w->fmt_word, why) : 0;
}

/* weights=fp16|int8, scale=, zero_point=, init=: the weight tensor of a
 * conv or linear layer; by default fp16 with std 1/sqrt(fan_in). */
static int arg_weights(Check *c, const Args *a, int64_t fan_in, AnetWeight *w) {
  const Node *n = arg(a, "weights");
  w->dtype = MIL_FP16;
  int fmt = arg_wformat(c, a, n, w);
  if (fmt < 0 || (fmt == 1 && n && arg_dtype(c, n, "weights", MIL_FP16, MIL_INT8, &w->dtype)))
    return -1;
  const Node *scale = arg(a, "scale"), *zp = arg(a, "zero_point");
  if (w->dtype == MIL_FP16) {
    if (scale || zp)
      return fail(c, (scale ? scale : zp)->loc,
                  "%s applies to int8 weights only (add weights=int8)",
                  scale ? "scale" : "zero_point");
    w->init = MIL_INIT_NORMAL;
    w->a = 0;
    w->b = 1 / sqrt((double)fan_in);
  } else {
    if (!scale)
      return fail(c, n->loc, "int8 weights need a scale (scale=...)");
    if (eval_num(c, scale, "scale", &w->scale))
      return -1;
    if (w->scale <= 0)
      return fail(c, scale->loc, "scale must be positive, got %g", w->scale);
    if (check_fp16(c, scale, "scale", w->scale, true) ||
        arg_int(c, a, "zero_point", 0, -128, 127, &w->zero_point))
      return -1;
    w->init = MIL_INIT_UNIFORM;
    w->a = -64;
    w->b = 63;
  }
  return arg_init(c, a, "init", w);
}

static int arg_bias(Check *c, const Args *a, bool *has, AnetWeight *w) {
  if (arg_bool(c, a, "bias", false, has))
    return -1;
  w->dtype = MIL_FP16;
  w->init = MIL_INIT_CONST;
  w->a = 0;
  if (arg(a, "bias_init") && !*has)
    return fail(c, arg(a, "bias_init")->loc, "bias_init needs bias=true");
  return arg_init(c, a, "bias_init", w);
}

/* ---- layers ------------------------------------------------------------- */

static const AnetValue *val(const Check *c, int i) { return &c->net->values[i]; }

static int check_weight_count(Check *c, Loc loc, int64_t cout, int64_t cin, int64_t kh,
                              int64_t kw) {
  int64_t dims[4] = {cout, cin, kh, kw};
  if (elems(4, dims) < 0)
    return fail(c, loc, "the weight tensor [%lld, %lld, %lld, %lld] has more than 2^40 elements",
                (long long)cout, (long long)cin, (long long)kh, (long long)kw);
  return 0;
}

/* padding=valid | same | p | [ph, pw] | [top, bottom, left, right] */
static int conv_padding(Check *c, const Args *a, AnetLayer *l, const int64_t in[2],
                        const int64_t keff[2]) {
  const Node *n = arg(a, "padding");
  const char *w = n ? word_of(c, n) : NULL;
  memset(l->pad, 0, sizeof l->pad);
  if (!n || (w && strcmp(w, "valid") == 0))
    return 0;
  if (w && strcmp(w, "same") == 0) {
    for (int i = 0; i < 2; i++) {
      int64_t s = l->stride[i], out = (in[i] + s - 1) / s;
      int64_t total = (out - 1) * s + keff[i] - in[i];
      if (total < 0)
        total = 0;
      l->pad[2 * i] = total / 2;               /* an odd pixel goes after */
      l->pad[2 * i + 1] = total - total / 2;
    }
    return 0;
  }
  if (w || (n->kind == N_IDENT && !find_const(c, n->name)))
    return fail(c, n->loc, "padding must be valid, same, an integer or a list of 2 or 4 "
                "integers, got '%s'", w ? w : n->name);
  int64_t p[4];
  int count = arg_ints(c, n, "padding", 4, 0, p);
  if (count < 0)
    return -1;
  if (count == 3)
    return fail(c, n->loc, "padding takes 1, 2 or 4 values ([top, bottom, left, right]), got 3");
  for (int i = 0; i < 4; i++)
    l->pad[i] = count == 4 ? p[i] : count == 2 ? p[i / 2] : p[0];
  return 0;
}

static int chk_conv_like(Check *c, const Args *a, AnetLayer *l, const char *what) {
  AnetValue x = *val(c, l->in);
  if (eval_int(c, a->pos[0], "the number of output channels", 1, ANET_MAX_ELEMS, &l->cout))
    return -1;
  if (x.rank != 4)
    return fail(c, l->loc, "%s expects a 4-d input [N, C, H, W], got %s", what, SHAPE(&x));
  int64_t cin = x.dim[1], in[2] = {x.dim[2], x.dim[3]}, keff[2];
  if (l->kind == L_CONV) {
    if (arg_pair(c, a, "kernel", l->kernel) || arg_pair(c, a, "stride", l->stride) ||
        arg_pair(c, a, "dilation", l->dilation) ||
        arg_int(c, a, "groups", 1, 1, ANET_MAX_ELEMS, &l->groups))
      return -1;
  } else {
    l->kernel[0] = l->kernel[1] = l->stride[0] = l->stride[1] = 1;
    l->dilation[0] = l->dilation[1] = l->groups = 1;
  }
  const Node *g = arg(a, "groups");
  Loc gloc = g ? g->loc : l->loc;
  if (cin % l->groups)
    return fail(c, gloc, "input channels (%lld) are not divisible by groups (%lld)",
                (long long)cin, (long long)l->groups);
  if (l->cout % l->groups)
    return fail(c, gloc, "output channels (%lld) are not divisible by groups (%lld)",
                (long long)l->cout, (long long)l->groups);
  for (int i = 0; i < 2; i++)
    keff[i] = (l->kernel[i] - 1) * l->dilation[i] + 1;
  if (conv_padding(c, a, l, in, keff))
    return -1;
  int64_t out[4] = {x.dim[0], l->cout, 0, 0};
  static const char *const axis[2] = {"height", "width"};
  for (int i = 0; i < 2; i++) {
    int64_t span = in[i] + l->pad[2 * i] + l->pad[2 * i + 1] - keff[i];
    if (span < 0)
      return fail(c, l->loc, "%s output would be empty: the padded input %s (%lld) is smaller "
                  "than the dilated kernel (%lld)", what, axis[i],
                  (long long)(in[i] + l->pad[2 * i] + l->pad[2 * i + 1]), (long long)keff[i]);
    out[2 + i] = span / l->stride[i] + 1;
  }
  int64_t fan_in = cin / l->groups * l->kernel[0] * l->kernel[1];
  /* the result is known before the weights: a mistake in those leaves it */
  if ((l->out = new_value(c, l->loc, 4, out)) < 0 ||
      check_weight_count(c, l->loc, l->cout, cin / l->groups, l->kernel[0], l->kernel[1]) ||
      arg_weights(c, a, fan_in, &l->w) || arg_bias(c, a, &l->has_bias, &l->bias) ||
      check_wformat(c, a, &l->w, l->cout, cin / l->groups, l->kernel[0] * l->kernel[1]))
    return -1;
  return l->out;
}

static int chk_conv(Check *c, const Args *a, AnetLayer *l) { return chk_conv_like(c, a, l, "conv"); }

static int chk_linear(Check *c, const Args *a, AnetLayer *l) {
  if (val(c, l->in)->rank != 4)
    return fail(c, l->loc, "linear expects the ANE layout [B, C, 1, S], got %s",
                SHAPE(val(c, l->in)));
  return chk_conv_like(c, a, l, "linear");
}

/* The second operand of add, mul, matmul: a named value, or (add and mul)
 * a number. */
static int operand(Check *c, const Args *a, AnetLayer *l, bool number_ok) {
  const Node *n = a->pos[0];
  if (n->kind == N_IDENT && find_name(c, n->name) == POISON) {
    l->in2 = standin(c);
    return 0;
  }
  if (n->kind == N_IDENT && find_name(c, n->name) >= 0) {
    l->in2 = find_name(c, n->name);
    if (c->net->values[l->in2].dtype != MIL_FP16)
      return fail(c, n->loc, "'%s' is %s: %s needs fp16 (cast it first)", n->name,
                  SHAPE(&c->net->values[l->in2]), anetc_layer_name(l->kind));
    return 0;
  }
  if (n->kind == N_IDENT && !find_const(c, n->name) && !lookup(c, n->name) && c->depth > 0)
    return value_of(c, n, "the operand");
  if (n->kind == N_IDENT && !find_const(c, n->name) && !lookup(c, n->name))
    return fail_name(c, n->loc, "'%s' is not defined: expected a named value%s%s", n->name,
                number_ok ? " or a number" : "", did_you_mean(c, n->name, NULL));
  if (n->kind == N_IDENT && lookup(c, n->name))
    return value_of(c, n, "the operand");
  if (!number_ok)
    return fail(c, n->loc, "matmul needs a named value to multiply by");
  if (eval_num(c, n, anetc_layer_name(l->kind), &l->scalar) ||
      check_fp16(c, n, "the operand", l->scalar, false))
    return -1;
  l->has_scalar = true;
  l->scalar = fp16_round(l->scalar);
  return 0;
}

/* Numpy broadcasting, aligned at the last dimension. */
static int broadcast(Check *c, AnetLayer *l, const AnetValue *x, const AnetValue *y, int64_t *out,
                     int *rank) {
  *rank = x->rank > y->rank ? x->rank : y->rank;
  for (int i = 0; i < *rank; i++) {
    int xi = i - (*rank - x->rank), yi = i - (*rank - y->rank);
    int64_t dx = xi >= 0 ? x->dim[xi] : 1, dy = yi >= 0 ? y->dim[yi] : 1;
    if (dx != dy && dx != 1 && dy != 1)
      return fail(c, l->loc, "shape mismatch: cannot %s %s and %s (dimension %d: %lld vs %lld)",
                  anetc_layer_name(l->kind), SHAPE(x), SHAPE(y), i, (long long)dx,
                  (long long)dy);
    out[i] = dx == 1 ? dy : dx;
  }
  return 0;
}

static int chk_binary(Check *c, const Args *a, AnetLayer *l) {
  if (operand(c, a, l, true))
    return -1;
  AnetValue x = *val(c, l->in);
  if (l->has_scalar)
    return l->out = new_value(c, l->loc, x.rank, x.dim);
  int64_t out[MIL_MAX_RANK];
  int rank;
  if (broadcast(c, l, &x, val(c, l->in2), out, &rank))
    return -1;
  return l->out = new_value(c, l->loc, rank, out);
}

static int chk_matmul(Check *c, const Args *a, AnetLayer *l) {
  if (operand(c, a, l, false) || arg_bool(c, a, "transpose_x", false, &l->transpose_x) ||
      arg_bool(c, a, "transpose_y", false, &l->transpose_y))
    return -1;
  AnetValue x = *val(c, l->in), y = *val(c, l->in2);
  if (x.rank < 2 || y.rank < 2)
    return fail(c, l->loc, "matmul needs operands of rank 2 or more, got %s and %s", SHAPE(&x),
                SHAPE(&y));
  int64_t m = x.dim[x.rank - 2], kx = x.dim[x.rank - 1];
  int64_t ky = y.dim[y.rank - 2], n = y.dim[y.rank - 1];
  if (l->transpose_x) {
    int64_t t = m; m = kx; kx = t;
  }
  if (l->transpose_y) {
    int64_t t = ky; ky = n; n = t;
  }
  if (kx != ky)
    return fail(c, l->loc, "shape mismatch: matmul of %s and %s: inner dimensions differ "
                "(%lld vs %lld)", SHAPE(&x), SHAPE(&y), (long long)kx, (long long)ky);
  AnetValue bx = x, by = y;   /* batch dimensions broadcast */
  bx.rank -= 2;
  by.rank -= 2;
  int64_t out[MIL_MAX_RANK];
  int rank;
  if (broadcast(c, l, &bx, &by, out, &rank))
    return -1;
  out[rank] = m;
  out[rank + 1] = n;
  return l->out = new_value(c, l->loc, rank + 2, out);
}

static int chk_unary(Check *c, const Args *a, AnetLayer *l) {
  const AnetValue *x = val(c, l->in);
  int64_t dim[MIL_MAX_RANK];
  memcpy(dim, x->dim, sizeof dim);
  return l->out = new_value(c, l->loc, x->rank, dim);
}

static int arg_axis(Check *c, const Args *a, int def, AnetLayer *l) {
  int rank = val(c, l->in)->rank;
  int64_t axis;
  if (arg_int(c, a, "axis", def, -rank, rank - 1, &axis))
    return -1;
  l->axis = (int)(axis < 0 ? axis + rank : axis);
  return 0;
}

static int chk_softmax(Check *c, const Args *a, AnetLayer *l) {
  return arg_axis(c, a, -1, l) ? -1 : chk_unary(c, a, l);
}

static int chk_norm(Check *c, const Args *a, AnetLayer *l) {
  if (val(c, l->in)->rank < 2 && !arg(a, "axis"))
    return fail(c, l->loc, "%s of a 1-d value needs axis=0", anetc_layer_name(l->kind));
  if (arg_axis(c, a, 1, l) || arg_num(c, a, "eps", 1e-5, &l->eps) ||
      arg_bool(c, a, "affine", true, &l->affine))
    return -1;
  const Node *eps = arg(a, "eps");
  if (eps && l->eps <= 0)
    return fail(c, eps->loc, "eps must be positive, got %g", l->eps);
  if (eps && check_fp16(c, eps, "eps", l->eps, true))
    return -1;
  l->gamma = (AnetWeight){.dtype = MIL_FP16, .init = MIL_INIT_CONST, .a = 1};
  l->beta = (AnetWeight){.dtype = MIL_FP16, .init = MIL_INIT_CONST, .a = 0};
  return chk_unary(c, a, l);
}

static int chk_reshape(Check *c, const Args *a, AnetLayer *l) {
  const Node *n = arg(a, "shape");
  const AnetValue *x = val(c, l->in);
  if (!n)
    return fail(c, l->loc, "reshape needs shape=[...]");
  if (n->kind != N_LIST)
    return fail(c, n->loc, "shape must be a list of dimensions, got %s", describe(n));
  l->nshape = ast_count(n->kids);
  if (l->nshape < 1 || l->nshape > MIL_MAX_RANK)
    return fail(c, n->loc, "shape must have 1 to %d dimensions, got %d", MIL_MAX_RANK, l->nshape);
  int infer = -1, i = 0;
  int64_t known = 1;
  for (const Node *k = n->kids; k; k = k->next, i++) {
    if (eval_int(c, k, "a dimension", -1, ANET_MAX_ELEMS, &l->shape[i]))
      return -1;
    if (l->shape[i] == 0)
      return fail(c, k->loc, "a dimension must be at least 1 (or -1 to infer it), got 0");
    if (l->shape[i] == -1 && infer >= 0)
      return fail(c, k->loc, "only one dimension may be -1");
    if (l->shape[i] == -1)
      infer = i;
    else if (known > ANET_MAX_ELEMS / l->shape[i])
      return fail(c, n->loc, "shape has more than 2^40 elements");
    else
      known *= l->shape[i];
  }
  int64_t total = elems(x->rank, x->dim);
  if (infer >= 0 && total % known == 0)
    l->shape[infer] = total / known;
  if ((infer >= 0 && total % known) || (infer < 0 && known != total))
    return fail(c, n->loc, "shape mismatch: cannot reshape %s (%lld elements) to %d dimensions "
                "of %lld%s elements", SHAPE(x), (long long)total, l->nshape, (long long)known,
                infer >= 0 ? " x N" : "");
  return l->out = new_value_t(c, l->loc, x->dtype, l->nshape, l->shape);
}

static int chk_transpose(Check *c, const Args *a, AnetLayer *l) {
  const Node *n = arg(a, "perm");
  AnetValue x = *val(c, l->in);
  if (!n)
    return fail(c, l->loc, "transpose needs perm=[...]");
  if (n->kind != N_LIST || ast_count(n->kids) != x.rank)
    return fail(c, n->loc, "perm must list the %d axes of %s in their new order", x.rank,
                SHAPE(&x));
  int i = 0;
  bool seen[MIL_MAX_RANK] = {0};
  int64_t out[MIL_MAX_RANK];
  for (const Node *k = n->kids; k; k = k->next, i++) {
    if (eval_int(c, k, "an axis", 0, x.rank - 1, &l->shape[i]))
      return -1;
    if (seen[l->shape[i]])
      return fail(c, k->loc, "axis %lld appears twice in perm", (long long)l->shape[i]);
    seen[l->shape[i]] = true;
    out[i] = x.dim[l->shape[i]];
  }
  l->nshape = x.rank;
  return l->out = new_value_t(c, l->loc, x.dtype, x.rank, out);
}


/* ---- joining, cutting, pooling ------------------------------------------ */

static int norm_axis(Check *c, const Node *n, int rank, int64_t *axis) {
  if (eval_int(c, n, "axis", -rank, rank - 1, axis))
    return -1;
  if (*axis < 0)
    *axis += rank;
  return 0;
}

static int arg_axis_def(Check *c, const Args *a, int rank, int64_t def, int64_t *axis) {
  const Node *n = arg(a, "axis");
  *axis = def < 0 ? def + rank : def;
  if (!n) {
    if (*axis < 0 || *axis >= rank)
      return fail(c, a->pos[0] ? a->pos[0]->loc : (Loc){0, 0}, "the default axis %lld does "
                  "not exist in a value of rank %d: give axis=", (long long)def, rank);
    return 0;
  }
  return norm_axis(c, n, rank, axis);
}

/* concat h axis=1 | concat [h1, h2] axis=1: the current value, then these */
static int chk_concat(Check *c, const Args *a, AnetLayer *l) {
  const Node *p = a->pos[0];
  const Node *list = p->kind == N_LIST ? p->kids : p;
  l->nins = 1;
  l->ins[0] = l->in;
  for (const Node *k = list; k; k = p->kind == N_LIST ? k->next : NULL) {
    if (l->nins == ANET_MAX_INS)
      return fail(c, k->loc, "concat joins at most %d values", ANET_MAX_INS);
    int v = value_of(c, k, "what concat joins");
    if (v < 0)
      return -1;
    l->ins[l->nins++] = v;
  }
  AnetValue x = *val(c, l->in);
  int64_t axis;
  if (arg_axis_def(c, a, x.rank, 1, &axis))
    return -1;
  l->axis = (int)axis;
  for (int i = 1; i < l->nins; i++) {
    const AnetValue *y = val(c, l->ins[i]);
    bool same = y->rank == x.rank && y->dtype == x.dtype;
    for (int d = 0; same && d < x.rank; d++)
      same = d == l->axis || y->dim[d] == x.dim[d];
    if (!same)
      return fail(c, l->loc, "shape mismatch: cannot concat %s and %s along axis %d", SHAPE(&x),
                  SHAPE(y), l->axis);
    x.dim[l->axis] += y->dim[l->axis];
  }
  return l->out = new_value_t(c, l->loc, x.dtype, x.rank, x.dim);
}

/* split N axis=1 | split [s1, s2, ...] axis=1 */
static int chk_split(Check *c, const Args *a, AnetLayer *l) {
  AnetValue x = *val(c, l->in);
  int64_t axis;
  if (arg_axis_def(c, a, x.rank, 1, &axis))
    return -1;
  l->axis = (int)axis;
  const Node *p = a->pos[0];
  int64_t dim = x.dim[axis], sizes[ANET_MAX_INS], total = 0;
  if (p->kind == N_LIST) {
    l->nouts = ast_count(p->kids);
    if (l->nouts < 2 || l->nouts > ANET_MAX_INS)
      return fail(c, p->loc, "split makes 2 to %d pieces, got %d sizes", ANET_MAX_INS, l->nouts);
    int i = 0;
    for (const Node *k = p->kids; k; k = k->next, i++) {
      if (eval_int(c, k, "a piece's size", 1, dim, &sizes[i]))
        return -1;
      total += sizes[i];
    }
    if (total != dim)
      return fail(c, p->loc, "the sizes add up to %lld, but axis %d of %s has %lld",
                  (long long)total, l->axis, SHAPE(&x), (long long)dim);
  } else {
    int64_t n;
    if (eval_int(c, p, "the number of pieces", 2, ANET_MAX_INS, &n))
      return -1;
    if (dim % n)
      return fail(c, p->loc, "axis %d of %s (%lld) does not split into %lld equal pieces",
                  l->axis, SHAPE(&x), (long long)dim, (long long)n);
    l->nouts = (int)n;
    for (int i = 0; i < l->nouts; i++)
      sizes[i] = dim / n;
  }
  l->nshape = l->nouts;
  for (int i = 0; i < l->nouts; i++) {
    l->shape[i % MIL_MAX_RANK] = sizes[i];
    x.dim[axis] = sizes[i];
    l->outs[i] = new_value_t(c, l->loc, x.dtype, x.rank, x.dim);
    if (l->outs[i] < 0)
      return -1;
  }
  memcpy(l->end, sizes, sizeof l->end < sizeof sizes ? sizeof l->end : sizeof sizes);
  return l->out = l->outs[0];
}

/* A list with one integer per axis of x (or a shorter list for the last
 * axes when `last` is set); negative indices count from the end. */
static int axis_list(Check *c, const Node *n, const char *what, int rank, int64_t *out) {
  if (n->kind != N_LIST || ast_count(n->kids) != rank)
    return fail(c, n->loc, "%s must list one integer per axis (%d)", what, rank);
  int i = 0;
  for (const Node *k = n->kids; k; k = k->next, i++)
    if (eval_int(c, k, what, -ANET_MAX_ELEMS, ANET_MAX_ELEMS, &out[i]))
      return -1;
  return 0;
}

/* slice begin=[...] end=[...] stride=[...]: x[b0:e0:s0, ...] */
static int chk_slice(Check *c, const Args *a, AnetLayer *l) {
  AnetValue x = *val(c, l->in);
  for (int i = 0; i < x.rank; i++) {
    l->begin[i] = 0;
    l->end[i] = x.dim[i];
    l->step[i] = 1;
  }
  const Node *b = arg(a, "begin"), *e = arg(a, "end"), *st = arg(a, "stride");
  if (!b && !e)
    return fail(c, l->loc, "slice needs begin=[...] or end=[...]");
  if ((b && axis_list(c, b, "begin", x.rank, l->begin)) ||
      (e && axis_list(c, e, "end", x.rank, l->end)) ||
      (st && axis_list(c, st, "stride", x.rank, l->step)))
    return -1;
  int64_t out[MIL_MAX_RANK];
  for (int i = 0; i < x.rank; i++) {
    int64_t d = x.dim[i];
    if (l->begin[i] < 0)
      l->begin[i] += d;
    if (l->end[i] < 0)
      l->end[i] += d;
    if (l->step[i] < 1)
      return fail(c, st->loc, "stride must be at least 1, got %lld", (long long)l->step[i]);
    if (l->begin[i] < 0 || l->end[i] > d || l->begin[i] >= l->end[i])
      return fail(c, (b ? b : e)->loc, "axis %d of %s: [%lld, %lld) is not a non-empty range "
                  "inside [0, %lld)", i, SHAPE(&x), (long long)l->begin[i], (long long)l->end[i],
                  (long long)d);
    out[i] = (l->end[i] - l->begin[i] + l->step[i] - 1) / l->step[i];
  }
  l->nshape = x.rank;
  return l->out = new_value_t(c, l->loc, x.dtype, x.rank, out);
}

static const char *arg_word(Check *c, const Args *a, const char *name, const char *def,
                            const char *const *allowed) {
  const Node *n = arg(a, name);
  if (!n)
    return def;
  const char *w = word_of(c, n);
  for (int i = 0; w && allowed[i]; i++)
    if (strcmp(allowed[i], w) == 0)
      return allowed[i];
  char list[200];
  list_params(list, sizeof list, allowed);
  fail(c, n->loc, "%s must be one of: %s", name, list);
  return NULL;
}

/* pad [before, after, ...] for the last axes; mode=constant|reflect|replicate */
static int chk_pad(Check *c, const Args *a, AnetLayer *l) {
  static const char *const modes[] = {"constant", "reflect", "replicate", NULL};
  AnetValue x = *val(c, l->in);
  const Node *p = a->pos[0];
  int n = p->kind == N_LIST ? ast_count(p->kids) : 0;
  if (n == 0 || n % 2 || n / 2 > x.rank)
    return fail(c, p->loc, "pad takes a list [before, after, ...] of 2 values per padded axis "
                "(the last ones), at most %d values for %s", 2 * x.rank, SHAPE(&x));
  l->mode = arg_word(c, a, "mode", "constant", modes);
  if (!l->mode || arg_num(c, a, "value", 0, &l->alpha) ||
      check_fp16(c, p, "value", l->alpha, false))
    return -1;
  if (arg(a, "value") && strcmp(l->mode, "constant") != 0)
    return fail(c, arg(a, "value")->loc, "value applies to mode=constant only");
  l->nshape = n;
  int i = 0, first = x.rank - n / 2;
  for (const Node *k = p->kids; k; k = k->next, i++) {
    int64_t d = x.dim[first + i / 2];
    int64_t max = strcmp(l->mode, "reflect") == 0 ? d - 1 : strcmp(l->mode, "replicate") == 0
                  ? d : MAX_SIZE;
    if (eval_int(c, k, "a padding", 0, max, &l->shape[i]))
      return -1;
    x.dim[first + i / 2] += l->shape[i];
  }
  return l->out = new_value(c, l->loc, x.rank, x.dim);
}

/* avg_pool / max_pool kernel= stride= padding=; global_*_pool: the whole map */
static int chk_pool(Check *c, const Args *a, AnetLayer *l) {
  AnetValue x = *val(c, l->in);
  if (x.rank != 4)
    return fail(c, l->loc, "%s expects a 4-d input [N, C, H, W], got %s",
                anetc_layer_name(l->kind), SHAPE(&x));
  bool global = l->kind == L_GLOBAL_AVG_POOL || l->kind == L_GLOBAL_MAX_POOL;
  int64_t in[2] = {x.dim[2], x.dim[3]};
  if (global) {
    memcpy(l->kernel, in, sizeof l->kernel);
    memcpy(l->stride, in, sizeof l->stride);
    memset(l->pad, 0, sizeof l->pad);
  } else {
    if (!arg(a, "kernel"))
      return fail(c, l->loc, "%s needs kernel=", anetc_layer_name(l->kind));
    if (arg_pair(c, a, "kernel", l->kernel))
      return -1;
    memcpy(l->stride, l->kernel, sizeof l->stride);   /* stride defaults to the kernel */
    if (arg(a, "stride") && arg_pair(c, a, "stride", l->stride))
      return -1;
    if (conv_padding(c, a, l, in, l->kernel))
      return -1;
  }
  int64_t out[4] = {x.dim[0], x.dim[1], 0, 0};
  for (int i = 0; i < 2; i++) {
    int64_t span = in[i] + l->pad[2 * i] + l->pad[2 * i + 1] - l->kernel[i];
    if (span < 0)
      return fail(c, l->loc, "the kernel (%lld) is larger than the padded input (%lld)",
                  (long long)l->kernel[i], (long long)(in[i] + l->pad[2 * i] + l->pad[2 * i + 1]));
    out[2 + i] = span / l->stride[i] + 1;
  }
  return l->out = new_value(c, l->loc, 4, out);
}

/* upsample 2 | upsample [2, 3]; mode=nearest|bilinear */
static int chk_upsample(Check *c, const Args *a, AnetLayer *l) {
  static const char *const modes[] = {"nearest", "bilinear", NULL};
  AnetValue x = *val(c, l->in);
  if (x.rank != 4)
    return fail(c, l->loc, "upsample expects a 4-d input [N, C, H, W], got %s", SHAPE(&x));
  int64_t f[2];
  int n = arg_ints(c, a->pos[0], "the scale factor", 2, 1, f);
  if (n < 0)
    return -1;
  if (n == 1)
    f[1] = f[0];
  l->mode = arg_word(c, a, "mode", "nearest", modes);
  if (!l->mode)
    return -1;
  memcpy(l->stride, f, sizeof f);
  x.dim[2] *= f[0];
  x.dim[3] *= f[1];
  return l->out = new_value(c, l->loc, 4, x.dim);
}

/* embedding ROWS DIM: rows of a weight table gathered by int32 indices */
static int chk_embedding(Check *c, const Args *a, AnetLayer *l) {
  AnetValue x = *val(c, l->in);
  if (x.dtype != MIL_INT32)
    return fail(c, l->loc, "embedding takes int32 indices, got %s", SHAPE(&x));
  if (x.rank == MIL_MAX_RANK)
    return fail(c, l->loc, "embedding adds an axis: %s has rank %d already", SHAPE(&x), x.rank);
  if (eval_int(c, a->pos[0], "the number of rows", 1, ANET_MAX_ELEMS, &l->cout) ||
      eval_int(c, a->pos[1], "the row size", 1, ANET_MAX_ELEMS, &l->groups) ||
      check_weight_count(c, l->loc, l->cout, l->groups, 1, 1) ||
      arg_weights(c, a, 1, &l->w))
    return -1;
  x.dim[x.rank++] = l->groups;
  return l->out = new_value(c, l->loc, x.rank, x.dim);
}

/* ---- activations and elementwise math ----------------------------------- */

static int chk_act(Check *c, const Args *a, AnetLayer *l) {
  switch (l->kind) {
  case L_CLIP:
    if (!arg(a, "min") || !arg(a, "max"))
      return fail(c, l->loc, "clip needs min= and max=");
    if (arg_num(c, a, "min", 0, &l->alpha) || arg_num(c, a, "max", 0, &l->alpha2))
      return -1;
    if (l->alpha >= l->alpha2)
      return fail(c, arg(a, "max")->loc, "clip needs min < max, got %g and %g", l->alpha,
                  l->alpha2);
    break;
  case L_HARD_SIGMOID:
    if (arg_num(c, a, "alpha", 0.2, &l->alpha) || arg_num(c, a, "beta", 0.5, &l->alpha2))
      return -1;
    break;
  case L_LEAKY_RELU:
    if (arg_num(c, a, "alpha", 0.01, &l->alpha))
      return -1;
    break;
  case L_ELU:
    if (arg_num(c, a, "alpha", 1.0, &l->alpha))
      return -1;
    break;
  case L_LOG: case L_RSQRT:
    if (arg_num(c, a, "eps", 0, &l->alpha))
      return -1;
    break;
  case L_GELU: {
    static const char *const modes[] = {"tanh", "erf", NULL};
    l->mode = arg_word(c, a, "mode", "tanh", modes);
    if (!l->mode)
      return -1;
    break;
  }
  default:
    break;
  }
  Loc at = arg(a, "alpha") ? arg(a, "alpha")->loc : l->loc;
  if (check_fp16(c, (Node[]){{.loc = at}}, "a parameter", l->alpha, false) ||
      check_fp16(c, (Node[]){{.loc = at}}, "a parameter", l->alpha2, false))
    return -1;
  return chk_unary(c, a, l);
}

/* reduce_sum / reduce_mean / reduce_max axes=[...] keep_dims=true */
static int chk_reduce(Check *c, const Args *a, AnetLayer *l) {
  AnetValue x = *val(c, l->in);
  const Node *n = arg(a, "axes");
  if (!n)
    return fail(c, l->loc, "%s needs axes=[...]", anetc_layer_name(l->kind));
  int64_t ax[MIL_MAX_RANK];
  int count = n->kind == N_LIST ? ast_count(n->kids) : 1;
  if (count < 1 || count > x.rank)
    return fail(c, n->loc, "axes must list 1 to %d axes of %s", x.rank, SHAPE(&x));
  const Node *k = n->kind == N_LIST ? n->kids : n;
  bool seen[MIL_MAX_RANK] = {0};
  for (int i = 0; i < count; i++, k = k->next) {
    if (norm_axis(c, k, x.rank, &ax[i]))
      return -1;
    if (seen[ax[i]])
      return fail(c, k->loc, "axis %lld appears twice", (long long)ax[i]);
    seen[ax[i]] = true;
  }
  if (arg_bool(c, a, "keep_dims", true, &l->keep_dims))
    return -1;
  l->nshape = count;
  memcpy(l->shape, ax, (size_t)count * sizeof *ax);
  int64_t out[MIL_MAX_RANK];
  int rank = 0;
  for (int i = 0; i < x.rank; i++)
    if (!seen[i])
      out[rank++] = x.dim[i];
    else if (l->keep_dims)
      out[rank++] = 1;
  if (rank == 0)
    out[rank++] = 1;   /* a full reduction without keep_dims: one element, rank 1 */
  return l->out = new_value(c, l->loc, rank, out);
}

/* cast fp16|fp32|int32 */
static int chk_cast(Check *c, const Args *a, AnetLayer *l) {
  AnetValue x = *val(c, l->in);
  const char *w = word_of(c, a->pos[0]);
  MilDtype t;
  if (!w || !mil_dtype_lookup(w, strlen(w), &t) ||
      (t != MIL_FP16 && t != MIL_FP32 && t != MIL_INT32))
    return fail(c, a->pos[0]->loc, "cast takes fp16, fp32 or int32");
  if (t == x.dtype)
    return fail(c, a->pos[0]->loc, "the value is %s already", SHAPE(&x));
  l->mode = mil_dtype_name(t);
  return l->out = new_value_t(c, l->loc, t, x.rank, x.dim);
}

/* scaled_dot_product_attention KEY VALUE mask=M: the current value is the
 * query; [B.., L, E] x [B.., S, E] x [B.., S, EV] -> [B.., L, EV] */
static int chk_sdpa(Check *c, const Args *a, AnetLayer *l) {
  l->in2 = value_of(c, a->pos[0], "the key");
  l->in3 = l->in2 < 0 ? -1 : value_of(c, a->pos[1], "the value");
  l->mask = -1;
  if (l->in2 < 0 || l->in3 < 0)
    return -1;
  if (arg(a, "mask") && (l->mask = value_of(c, arg(a, "mask"), "the mask")) < 0)
    return -1;
  AnetValue q = *val(c, l->in), k = *val(c, l->in2), v = *val(c, l->in3);
  if (q.rank < 3 || k.rank != q.rank || v.rank != q.rank)
    return fail(c, l->loc, "query, key and value need one rank of at least 3, got %s, %s, %s",
                SHAPE(&q), SHAPE(&k), SHAPE(&v));
  int r = q.rank;
  bool ok = k.dtype == MIL_FP16 && v.dtype == MIL_FP16 && q.dim[r - 1] == k.dim[r - 1] &&
            k.dim[r - 2] == v.dim[r - 2];
  for (int i = 0; ok && i < r - 2; i++)
    ok = q.dim[i] == k.dim[i] && q.dim[i] == v.dim[i];
  if (!ok)
    return fail(c, l->loc, "shape mismatch: attention of query %s, key %s, value %s", SHAPE(&q),
                SHAPE(&k), SHAPE(&v));
  if (l->mask >= 0) {
    const AnetValue *m = val(c, l->mask);
    AnetValue want = q;
    want.dim[r - 1] = k.dim[r - 2];
    int64_t out[MIL_MAX_RANK];
    int rank;
    if (m->dtype != MIL_FP16 || broadcast(c, l, &want, m, out, &rank) || rank != r)
      return fail(c, arg(a, "mask")->loc, "the mask %s must be fp16 and broadcast to %s",
                  SHAPE(m), SHAPE(&want));
  }
  q.dim[r - 1] = v.dim[r - 1];
  return l->out = new_value(c, l->loc, r, q.dim);
}

/* ---- state -------------------------------------------------------------- */

static int state_of(Check *c, const Node *n) {
  if (n->kind != N_IDENT)
    return fail(c, n->loc, "expected the name of a state");
  const Name *k = lookup(c, n->name);
  if (k && k->state < 0 && k->value == POISON)
    return -1;   /* a declaration that failed, or a value an error left unknown */
  if (!k || k->state < 0)
    return fail_name(c, n->loc, "'%s' is not a state (declare it: state %s: fp16[...])", n->name,
                n->name);
  return k->state;
}

static int chk_read_state(Check *c, const Args *a, AnetLayer *l) {
  if ((l->state = state_of(c, a->pos[0])) < 0)
    return -1;
  const AnetState *st = &c->net->states[l->state];
  l->in = -1;
  return l->out = new_value_t(c, l->loc, st->dtype, st->rank, st->dim);
}

static int chk_write_state(Check *c, const Args *a, AnetLayer *l) {
  if ((l->state = state_of(c, a->pos[0])) < 0)
    return -1;
  const AnetState *st = &c->net->states[l->state];
  const AnetValue *x = val(c, l->in);
  AnetValue want = {.dtype = st->dtype, .rank = st->rank};
  memcpy(want.dim, st->dim, sizeof want.dim);
  bool same = x->dtype == st->dtype && x->rank == st->rank;
  for (int i = 0; same && i < x->rank; i++)
    same = x->dim[i] == st->dim[i];
  if (!same)
    return fail(c, l->loc, "cannot write %s to state '%s' of %s", SHAPE(x), st->name,
                SHAPE(&want));
  l->out = -1;
  return 0;
}

/* slice_update UPDATE begin=[...]: the current value with UPDATE written at
 * begin; a begin element may name an int32 value of one element (a decode
 * position), which is then checked at run time only. */
static int chk_slice_update(Check *c, const Args *a, AnetLayer *l) {
  AnetValue x = *val(c, l->in);
  if ((l->in2 = value_of(c, a->pos[0], "the update")) < 0)
    return -1;
  const AnetValue *u = val(c, l->in2);
  const Node *b = arg(a, "begin");
  if (!b)
    return fail(c, l->loc, "slice_update needs begin=[...]");
  if (u->rank != x.rank || u->dtype != x.dtype || b->kind != N_LIST ||
      ast_count(b->kids) != x.rank)
    return fail(c, b->kind == N_LIST && u->rank == x.rank ? b->loc : l->loc,
                "slice_update writes %s into %s: begin must list %d positions", SHAPE(u),
                SHAPE(&x), x.rank);
  int i = 0;
  for (const Node *k = b->kids; k; k = k->next, i++) {
    l->begin_val[i] = -1;
    l->begin[i] = 0;
    if (u->dim[i] > x.dim[i])
      return fail(c, l->loc, "the update %s is larger than %s along axis %d", SHAPE(u),
                  SHAPE(&x), i);
    if (k->kind == N_IDENT && lookup(c, k->name)) {
      int v = value_of(c, k, "a position");
      if (v < 0)
        return -1;
      const AnetValue *p = val(c, v);
      if (p->dtype != MIL_INT32 || elems(p->rank, p->dim) != 1)
        return fail(c, k->loc, "a position must be an int32 value of one element, got %s",
                    SHAPE(p));
      l->begin_val[i] = v;
    } else if (eval_int(c, k, "a position", 0, x.dim[i] - u->dim[i], &l->begin[i])) {
      return -1;
    }
    l->end[i] = l->begin[i] + u->dim[i];
  }
  l->nshape = x.rank;
  return l->out = new_value_t(c, l->loc, x.dtype, x.rank, x.dim);
}

#define PARAMS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NOPARAMS ((const char *const[]){NULL})
#define WEIGHT_PARAMS "weights", "scale", "zero_point", "init", "bias", "bias_init", "sparsity"

static const LayerDef layer_defs[L_NKINDS] = {
  {"conv", L_CONV, "the number of output channels",
   PARAMS("kernel", "stride", "padding", "dilation", "groups", WEIGHT_PARAMS), chk_conv, NULL, 0},
  {"linear", L_LINEAR, "the number of output features", PARAMS(WEIGHT_PARAMS), chk_linear, NULL, 0},
  {"matmul", L_MATMUL, "the value to multiply by", PARAMS("transpose_x", "transpose_y"),
   chk_matmul, NULL, 0},
  {"add", L_ADD, "the value or number to add", NOPARAMS, chk_binary, NULL, 0},
  {"mul", L_MUL, "the value or number to multiply by", NOPARAMS, chk_binary, NULL, 0},
  {"relu", L_RELU, NULL, NOPARAMS, chk_unary, NULL, 0},
  {"sigmoid", L_SIGMOID, NULL, NOPARAMS, chk_unary, NULL, 0},
  {"tanh", L_TANH, NULL, NOPARAMS, chk_unary, NULL, 0},
  {"silu", L_SILU, NULL, NOPARAMS, chk_unary, NULL, 0},
  {"gelu", L_GELU, NULL, PARAMS("mode"), chk_act, NULL, 0},
  {"softmax", L_SOFTMAX, NULL, PARAMS("axis"), chk_softmax, NULL, 0},
  {"layer_norm", L_LAYER_NORM, NULL, PARAMS("axis", "eps", "affine"), chk_norm, NULL, 0},
  {"rms_norm", L_RMS_NORM, NULL, PARAMS("axis", "eps", "affine"), chk_norm, NULL, 0},
  {"reshape", L_RESHAPE, NULL, PARAMS("shape"), chk_reshape, NULL, F_ANY_DTYPE},
  {"transpose", L_TRANSPOSE, NULL, PARAMS("perm"), chk_transpose, NULL, F_ANY_DTYPE},
  {"concat", L_CONCAT, "the value or [values] to join", PARAMS("axis"), chk_concat, NULL,
   F_ANY_DTYPE},
  {"split", L_SPLIT, "the number of pieces or [sizes]", PARAMS("axis"), chk_split, NULL,
   F_ANY_DTYPE},
  {"slice", L_SLICE, NULL, PARAMS("begin", "end", "stride"), chk_slice, NULL, F_ANY_DTYPE},
  {"pad", L_PAD, "the paddings [before, after, ...]", PARAMS("mode", "value"), chk_pad, NULL, 0},
  {"avg_pool", L_AVG_POOL, NULL, PARAMS("kernel", "stride", "padding"), chk_pool, NULL, 0},
  {"max_pool", L_MAX_POOL, NULL, PARAMS("kernel", "stride", "padding"), chk_pool, NULL, 0},
  {"global_avg_pool", L_GLOBAL_AVG_POOL, NULL, NOPARAMS, chk_pool, NULL, 0},
  {"global_max_pool", L_GLOBAL_MAX_POOL, NULL, NOPARAMS, chk_pool, NULL, 0},
  {"upsample", L_UPSAMPLE, "the scale factor", PARAMS("mode"), chk_upsample, NULL, 0},
  {"embedding", L_EMBEDDING, "the number of rows", PARAMS("weights", "scale", "zero_point",
   "init"), chk_embedding, "the row size", F_ANY_DTYPE},
  {"clip", L_CLIP, NULL, PARAMS("min", "max"), chk_act, NULL, 0},
  {"relu6", L_RELU6, NULL, NOPARAMS, chk_act, NULL, 0},
  {"hard_sigmoid", L_HARD_SIGMOID, NULL, PARAMS("alpha", "beta"), chk_act, NULL, 0},
  {"hard_swish", L_HARD_SWISH, NULL, NOPARAMS, chk_act, NULL, 0},
  {"leaky_relu", L_LEAKY_RELU, NULL, PARAMS("alpha"), chk_act, NULL, 0},
  {"elu", L_ELU, NULL, PARAMS("alpha"), chk_act, NULL, 0},
  {"exp", L_EXP, NULL, NOPARAMS, chk_act, NULL, 0},
  {"log", L_LOG, NULL, PARAMS("eps"), chk_act, NULL, 0},
  {"sqrt", L_SQRT, NULL, NOPARAMS, chk_act, NULL, 0},
  {"rsqrt", L_RSQRT, NULL, PARAMS("eps"), chk_act, NULL, 0},
  {"abs", L_ABS, NULL, NOPARAMS, chk_act, NULL, 0},
  {"neg", L_NEG, NULL, NOPARAMS, chk_act, NULL, 0},
  {"reduce_sum", L_REDUCE_SUM, NULL, PARAMS("axes", "keep_dims"), chk_reduce, NULL, 0},
  {"reduce_mean", L_REDUCE_MEAN, NULL, PARAMS("axes", "keep_dims"), chk_reduce, NULL, 0},
  {"reduce_max", L_REDUCE_MAX, NULL, PARAMS("axes", "keep_dims"), chk_reduce, NULL, 0},
  {"cast", L_CAST, "the dtype", NOPARAMS, chk_cast, NULL, F_ANY_DTYPE},
  {"scaled_dot_product_attention", L_SDPA, "the key", PARAMS("mask"), chk_sdpa, "the value", 0},
  {"read_state", L_READ_STATE, "the state", NOPARAMS, chk_read_state, NULL,
   F_NO_INPUT | F_ANY_DTYPE},
  {"write_state", L_WRITE_STATE, "the state", NOPARAMS, chk_write_state, NULL, F_ANY_DTYPE},
  {"slice_update", L_SLICE_UPDATE, "the update", PARAMS("begin"), chk_slice_update, NULL, 0},
  {"weight", L_WEIGHT, NULL, PARAMS("weights", "scale", "zero_point", "init", "sparsity"), NULL,
   NULL, F_NO_INPUT},
};

const char *anetc_layer_name(LayerKind k) {
  return (unsigned)k < L_NKINDS ? layer_defs[k].name : "?";
}

static const LayerDef *find_layer(const char *name) {
  for (int i = 0; i < L_NKINDS; i++)
    if (strcmp(layer_defs[i].name, name) == 0)
      return &layer_defs[i];
  return NULL;
}

/* Unknown layer: the nearest layer or block name, else the list. */
static int unknown_layer(Check *c, const Node *n) {
  const char *names[L_NKINDS + 1];
  for (int i = 0; i < L_NKINDS; i++)
    names[i] = layer_defs[i].name;
  names[L_NKINDS] = NULL;
  const char *best = diag_suggest(n->name, names);
  for (const Node *b = c->f->root; !best && b; b = b->next)
    if (b->kind == N_BLOCK && diag_suggest(n->name, (const char *const[]){b->name, NULL}))
      best = b->name;
  if (best)
    return fail(c, n->name_loc, "unknown layer '%s'; did you mean '%s'?", n->name, best);
  for (const Node *b = c->f->root; b; b = b->next)
    if (b->kind == N_BLOCK && strcmp(b->name, n->name) == 0)
      return fail(c, n->name_loc, "'%s' is a block: use it with parentheses, %s(...)", n->name,
                  n->name);
  char list[800];
  size_t len = 0;
  for (int i = 0; i < L_NKINDS && len < sizeof list; i++)
    len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "",
                            layer_defs[i].name);
  return fail(c, n->name_loc, "unknown layer '%s'; expected one of: %s", n->name, list);
}

static void add_layer(AnetNet *net, const AnetLayer *l) {
  if (net->nlayers == net->laycap) {
    net->laycap = net->laycap ? 2 * net->laycap : 16;
    net->layers = xrealloc(net->layers, (size_t)net->laycap * sizeof *net->layers);
  }
  net->layers[net->nlayers++] = *l;
}

/* Names the results of a layer: "h = ..." or "a, b = split ...". */
static int bind_results(Check *c, const Node *n, const AnetLayer *l) {
  int nres = l->kind == L_SPLIT ? l->nouts : 1;
  if (n->binds && ast_count(n->binds) != nres)
    return fail(c, n->loc, "%d names for %d result%s", ast_count(n->binds), nres,
                nres == 1 ? "" : "s");
  if (l->out < 0 && (n->bind || n->binds))
    return fail(c, n->loc, "%s has no result to name", anetc_layer_name(l->kind));
  int i = 0;
  for (const Node *k = n->binds; k; k = k->next, i++)
    set_name(c, k->name, l->kind == L_SPLIT ? l->outs[i] : l->out);
  if (n->bind)
    set_name(c, n->bind, l->out);
  return 0;
}

static void poison(Check *c, const Node *n) {
  c->cur = POISON;
  if (n->bind)
    set_name(c, n->bind, POISON);
  for (const Node *k = n->binds; k; k = k->next)
    set_name(c, k->name, POISON);
}

/* Poisons after rc's argument (the error message) has been evaluated. */
static int poisoned(Check *c, const Node *n, int rc) {
  poison(c, n);
  return rc;
}

/* Layers whose result has the shape of their input, whatever their
 * parameters: it stays known when a parameter is wrong. */
static bool keeps_shape(const LayerDef *def) {
  return def->check == chk_unary || def->check == chk_act || def->check == chk_softmax ||
         def->check == chk_norm;
}

/* After a layer's error: its result when that is still known (the layer
 * is not kept), else poison, so that only what follows from it is silent. */
static int failed_layer(Check *c, const Node *n, const LayerDef *def, AnetLayer *l, int rc,
                        int nvalues) {
  free(l->w.path);
  free(l->bias.path);
  if (!c->mute && rc >= 0 && l->out < 0)
    return -1;   /* write_state: no result, the current value stays */
  if (!c->mute && l->out < 0 && keeps_shape(def) && l->in >= 0) {
    AnetValue x = *val(c, l->in);
    l->out = new_value_t(c, l->loc, x.dtype, x.rank, x.dim);
  }
  if (c->mute || l->out < 0 || l->kind == L_SPLIT) {
    c->net->nvalues = nvalues;   /* the stand-in and what was made from it */
    c->mute = false;
    c->standin = -1;
    return poisoned(c, n, -1);
  }
  c->cur = l->out;
  bind_results(c, n, l);
  return -1;
}

static int layer_stmt(Check *c, const Node *n) {
  const LayerDef *def = find_layer(n->name);
  if (!def)
    return poisoned(c, n, unknown_layer(c, n));
  Args a;
  int args = collect_args2(c, n, def->name, def->pos, def->pos2, def->flags & F_OPTIONAL_POS,
                           def->params, &a);
  if (args < 0)
    return poisoned(c, n, -1);
  if (c->cur < 0 && c->cur != POISON && !(def->flags & F_NO_INPUT))
    return poisoned(c, n, fail(c, n->loc, "%s has no input: declare one first (input x: fp16[...])",
                             def->name));
  AnetNet *net = c->net;
  if (net->nlayers == ANET_MAX_LAYERS)
    return poisoned(c, n, fail(c, n->loc, "the network unrolls to more than %d layers",
                             ANET_MAX_LAYERS));
  if (c->cur >= 0 && !(def->flags & F_ANY_DTYPE) && net->values[c->cur].dtype != MIL_FP16)
    return poisoned(c, n, fail(c, n->name_loc, "%s needs an fp16 input, got %s (cast it first)",
                             def->name, SHAPE(&net->values[c->cur])));
  int nvalues = net->nvalues;
  AnetLayer l = {.kind = def->kind, .loc = n->loc, .in = c->cur, .in2 = -1, .in3 = -1,
                 .mask = -1, .out = -1};
  if (c->cur == POISON && !(def->flags & F_NO_INPUT))
    l.in = standin(c);
  c->in_layer = true;
  int rc = def->check(c, &a, &l);
  c->in_layer = false;
  if (rc < 0 || args || c->mute)
    return failed_layer(c, n, def, &l, rc, nvalues);
  l.quant = c->quant && l.out >= 0 && net->values[l.out].dtype == MIL_FP16 &&
            l.kind != L_SPLIT;
  l.qscale = c->qscale;
  l.qloc = c->qloc;
  add_layer(net, &l);
  if (l.out >= 0)
    c->cur = l.out;
  return bind_results(c, n, &l);
}

/* ---- statements --------------------------------------------------------- */

static int stmt(Check *c, const Node *n);
static int body(Check *c, const Node *list);

/* The dtype and dimensions of an input or state declaration. */
static int decl_type(Check *c, const Node *n, bool input, MilDtype *dt, int *rank,
                     int64_t *dim) {
  const char *what = input ? "an input" : "a state";
  const char *want = input ? "fp16, fp32 or int32" : "fp16";
  const char *w = word_of(c, n->a);
  if (!w || !mil_dtype_lookup(w, strlen(w), dt))
    return fail(c, n->a->loc, "unknown dtype '%s'; expected %s", n->a->name ? n->a->name : "?",
                want);
  if (!(*dt == MIL_FP16 || (input && (*dt == MIL_FP32 || *dt == MIL_INT32))))
    return fail(c, n->a->loc, "%s must be %s, not %s", what, want, w);
  *rank = ast_count(n->kids);
  if (*rank < 1 || *rank > MIL_MAX_RANK)
    return fail(c, n->loc, "%s has 1 to %d dimensions, got %d", what, MIL_MAX_RANK, *rank);
  int i = 0;
  for (const Node *k = n->kids; k; k = k->next, i++)
    if (eval_int(c, k, "a dimension", 1, ANET_MAX_ELEMS, &dim[i]))
      return -1;
  if (elems(*rank, dim) < 0)
    return fail(c, n->loc, "the result %s has more than 2^40 elements",
                anetc_shape_str((char[160]){0}, 160, *dt, *rank, dim));
  return 0;
}

static int input_stmt(Check *c, const Node *n) {
  MilDtype dt;
  for (int i = 0; i < c->net->ninputs; i++)
    if (strcmp(c->net->inputs[i].name, n->name) == 0)
      return fail(c, n->name_loc, "input '%s' is declared twice", n->name);
  int rank;
  int64_t dim[MIL_MAX_RANK];
  int v = decl_type(c, n, true, &dt, &rank, dim) ? -1 : new_value_t(c, n->loc, dt, rank, dim);
  if (v < 0) {   /* known by name, of unknown shape: its uses stay silent */
    set_name(c, n->name, POISON);
    if (c->cur == -1)
      c->cur = POISON;
    return -1;
  }
  AnetNet *net = c->net;
  net->inputs = xrealloc(net->inputs, (size_t)(net->ninputs + 1) * sizeof *net->inputs);
  net->inputs[net->ninputs++] = (AnetInput){n->name, n->name_loc, v};
  net->values[v].mil_name = n->name;
  set_name(c, n->name, v);
  if (c->cur == -1)
    c->cur = v;
  return 0;
}

static int state_stmt(Check *c, const Node *n) {
  AnetNet *net = c->net;
  if (c->depth > 0)
    return fail(c, n->loc, "a state is declared in the network, not in a block (pass it to "
                "the block as an argument)");
  for (int i = 0; i < net->nstates; i++)
    if (strcmp(net->states[i].name, n->name) == 0)
      return fail(c, n->name_loc, "state '%s' is declared twice", n->name);
  AnetState st = {.name = n->name, .loc = n->name_loc};
  if (decl_type(c, n, false, &st.dtype, &st.rank, st.dim))
    return set_name(c, n->name, POISON), -1;   /* its uses stay silent (state_of) */
  net->states = xrealloc(net->states, (size_t)(net->nstates + 1) * sizeof *net->states);
  net->states[net->nstates] = st;
  bind_name(c, n->name, -1, net->nstates++);
  return 0;
}

/* weight k: fp16[dims] init=... weights=FORMAT: a constant tensor as a
 * value (a layer without input that leaves the current value alone). The
 * quantised formats see it as conv's [cout, cin, kh, kw] (rank 1 to 4): the
 * channels along axis 0, the blocks along axis 1, as for linear; a matmul
 * multiplies by it as [N, K] with transpose_y=true. */
static int weight_stmt(Check *c, const Node *n) {
  const LayerDef *def = &layer_defs[L_WEIGHT];
  Args a;
  AnetLayer l = {.kind = L_WEIGHT, .loc = n->loc, .in = -1, .in2 = -1, .in3 = -1, .mask = -1,
                 .out = -1, .wname = n->name};
  Node decl = {.kind = N_STATE, .loc = n->loc, .a = n->a->a, .kids = n->a->kids};
  MilDtype dt;
  int rank;
  int64_t dim[MIL_MAX_RANK];
  const char *word = word_of(c, decl.a);
  int nd = ast_count(decl.kids);
  if (collect_args(c, n, "weight", NULL, def->params, &a))
    goto bad;
  if (!word || strcmp(word, "fp16") != 0) {
    fail(c, decl.a->loc, "a weight is fp16 (weights= says how it is stored), not %s",
         word ? word : decl.a->name ? decl.a->name : "?");
    goto bad;
  }
  if (nd < 1 || nd > MIL_MAX_RANK) {
    fail(c, n->loc, "a weight has 1 to %d dimensions, got %d", MIL_MAX_RANK, nd);
    goto bad;
  }
  if (decl_type(c, &decl, false, &dt, &rank, dim))
    goto bad;
  if (!arg(&a, "init")) {
    fail(c, n->name_loc, "weight '%s' needs an initialiser (init=normal(mean, std), "
         "uniform(lo, hi), constant(v) or npy(\"file.npy\"))", n->name);
    goto bad;
  }
  if (arg_weights(c, &a, 1, &l.w) < 0)
    goto bad;
  if (l.w.quantised && rank > 4) {
    fail(c, arg(&a, "weights")->loc, "weight format '%s' needs a weight of rank 1 to 4 "
         "(channels along axis 0, blocks along axis 1), got %s", l.w.fmt_word,
         anetc_shape_str((char[160]){0}, 160, dt, rank, dim));
    goto bad;
  }
  if (l.w.quantised && check_wformat(c, &a, &l.w, dim[0], rank > 1 ? dim[1] : 1,
                                     elems(rank, dim) / dim[0] / (rank > 1 ? dim[1] : 1)))
    goto bad;
  if (c->net->nlayers == ANET_MAX_LAYERS) {
    fail(c, n->loc, "the network unrolls to more than %d layers", ANET_MAX_LAYERS);
    goto bad;
  }
  l.out = new_value(c, n->loc, rank, dim);
  if (l.out < 0)
    goto bad;
  add_layer(c->net, &l);
  set_name(c, n->name, l.out);
  return 0;
bad:
  free(l.w.path);
  set_name(c, n->name, POISON);
  return -1;
}

/* output y | output y = LAYER ...: the function's results, in order */
static int output_stmt(Check *c, const Node *n) {
  AnetNet *net = c->net;
  if (c->depth > 0)
    return fail(c, n->loc, "outputs are declared in the network, not in a block");
  for (int i = 0; i < net->noutputs; i++)
    if (strcmp(net->outputs[i].name, n->name) == 0)
      return fail(c, n->name_loc, "output '%s' is declared twice", n->name);
  int v;
  if (n->a) {
    if (stmt(c, n->a))
      return set_name(c, n->name, POISON), -1;
    v = c->cur;
    set_name(c, n->name, v);
  } else {
    v = value_of(c, (Node[]){{.kind = N_IDENT, .name = n->name, .loc = n->name_loc}},
                 "an output");
  }
  if (v < 0)
    return -1;
  for (int i = 0; i < net->noutputs; i++)
    if (net->outputs[i].value == v)
      return fail(c, n->name_loc, "this value is output '%s' already", net->outputs[i].name);
  net->outputs = xrealloc(net->outputs, (size_t)(net->noutputs + 1) * sizeof *net->outputs);
  net->outputs[net->noutputs++] = (AnetOutput){n->name, n->name_loc, v};
  return 0;
}

static const Node *find_block(const Check *c, const char *name) {
  for (const Node *b = c->f->root; b; b = b->next)
    if (b->kind == N_BLOCK && strcmp(b->name, name) == 0)
      return b;
  return NULL;
}

static void add_const(Check *c, const char *name, const Node *def, AnetNum v, bool bad) {
  if (c->nconsts == c->constcap) {
    c->constcap = c->constcap ? 2 * c->constcap : 16;
    c->consts = xrealloc(c->consts, (size_t)c->constcap * sizeof *c->consts);
  }
  c->consts[c->nconsts++] = (Const){name, def, v, bad};
}

/* The arguments of a block use, evaluated in the caller's scope: a value
 * or state name binds that value, anything else is a constant. */
static int bind_args(Check *c, const Node *use, const Node *b, Name *vals, AnetNum *nums,
                     bool *is_val) {
  int i = 0;
  const Node *p = b->a->kids;
  for (const Node *k = use->kids; k; k = k->next, p = p->next, i++) {
    const Name *nm = k->kind == N_IDENT ? lookup(c, k->name) : NULL;
    is_val[i] = nm != NULL;
    if (nm) {
      vals[i] = (Name){p->name, nm->value, nm->state};
      if (nm->value == POISON)
        return -1;
    } else if (eval(c, k, &nums[i])) {
      return -1;
    }
  }
  return 0;
}

/* NAME(args): the block's body in a scope of its own that sees the file's
 * constants and its parameters; the current value flows in and out. */
static int use_stmt(Check *c, const Node *n) {
  const Node *b = find_block(c, n->name);
  if (!b) {
    if (find_layer(n->name))
      return poisoned(c, n, fail(c, n->name_loc, "'%s' is a layer: write its arguments without "
                                "parentheses ('%s ...')", n->name, n->name));
    const char *best = NULL;
    for (const Node *k = c->f->root; !best && k; k = k->next)
      if (k->kind == N_BLOCK && diag_suggest(n->name, (const char *const[]){k->name, NULL}))
        best = k->name;
    return poisoned(c, n, fail(c, n->name_loc, "unknown block '%s'%s%s%s", n->name,
                             best ? "; did you mean '" : "", best ? best : "", best ? "'?" : ""));
  }
  int nparams = ast_count(b->a->kids), nargs = ast_count(n->kids);
  if (nparams != nargs) {
    fail(c, n->loc, "block '%s' takes %d argument%s, got %d", n->name, nparams,
         nparams == 1 ? "" : "s", nargs);
    diag_note(c->d, c->src, b->name_loc, "'%s' is defined here", b->name);
    return poisoned(c, n, -1);
  }
  for (int i = 0; i < c->depth; i++)
    if (c->used[i] == b)
      return poisoned(c, n, fail(c, n->loc, "block '%s' uses itself", n->name));
  if (c->depth == ANET_MAX_NEST)
    return poisoned(c, n, fail(c, n->loc, "blocks nest deeper than %d levels", ANET_MAX_NEST));
  Name *vals = xrealloc(NULL, (size_t)(nargs + 1) * sizeof *vals);
  AnetNum *nums = xrealloc(NULL, (size_t)(nargs + 1) * sizeof *nums);
  bool *is_val = xrealloc(NULL, (size_t)(nargs + 1));
  /* with a poisoned current value the body is still expanded: its
   * layers' own mistakes (a misspelt parameter) are independent errors */
  int rc = bind_args(c, n, b, vals, nums, is_val);
  Name *names = c->names;
  int nnames = c->nnames, namecap = c->namecap, scope = c->scope;
  if (rc == 0) {
    c->names = NULL;
    c->nnames = c->namecap = 0;
    c->scope = c->nconsts;
    const Node *p = b->a->kids;
    for (int i = 0; i < nargs; i++, p = p->next)
      if (is_val[i])
        bind_name(c, p->name, vals[i].value, vals[i].state);
      else
        add_const(c, p->name, p, nums[i], false);
    c->use[c->depth] = n;
    c->used[c->depth++] = b;
    rc = body(c, b->kids);
    c->depth--;
    free(c->names);
    c->names = names;
    c->nnames = nnames;
    c->namecap = namecap;
    c->nconsts = c->scope;
    c->scope = scope;
  }
  free(vals);
  free(nums);
  free(is_val);
  if (rc)
    return poisoned(c, n, -1);
  if (n->binds)
    return fail(c, n->loc, "a block has one result: name it with h = %s(...)", n->name);
  if (n->bind)
    set_name(c, n->bind, c->cur);
  return 0;
}

/* const NAME = expr inside a network or block: local to it */
static int local_const(Check *c, const Node *n) {
  AnetNum v;
  for (int i = c->scope; i < c->nconsts; i++)
    if (strcmp(c->consts[i].name, n->name) == 0) {
      if (c->consts[i].def != n) {
        fail(c, n->name_loc, "constant '%s' is defined twice", n->name);
        diag_note(c->d, c->src, c->consts[i].def->name_loc, "first defined here");
        return -1;
      }
      int rc = eval(c, n->a, &v);   /* a repeat passing again */
      c->consts[i].val = v;
      c->consts[i].bad = rc != 0;
      return rc;
    }
  int rc = eval(c, n->a, &v);
  add_const(c, n->name, n, v, rc != 0);
  return rc;
}

/* activations int8 scale=S|auto | activations fp16. A dtype that a
 * constant holds may come with a scale that only int8 uses, so that one
 * sweep can range over fp16 and int8 activations. */
static int act_stmt(Check *c, const Node *n) {
  static const char *const params[] = {"scale", NULL};
  Args a;
  MilDtype dt;
  if (arg_dtype(c, n->a, "activations", MIL_FP16, MIL_INT8, &dt) ||
      collect_args(c, n, "activations", NULL, params, &a))
    return -1;
  const Node *s = arg(&a, "scale");
  bool swept_word = find_const(c, n->a->name) != NULL;
  c->quant = dt == MIL_INT8;
  if (!c->quant)
    return s && !swept_word ? fail(c, s->loc, "fp16 activations take no scale") : 0;
  if (!s)
    return fail(c, n->loc, "int8 activations need a scale (scale=S or scale=auto)");
  if (s->kind == N_IDENT && strcmp(s->name, "auto") == 0 && !find_const(c, "auto")) {
    c->qscale = 0;
    c->qloc = s->loc;
    return 0;
  }
  if (eval_num(c, s, "scale", &c->qscale))
    return -1;
  if (c->qscale <= 0)
    return fail(c, s->loc, "scale must be positive, got %g", c->qscale);
  return check_fp16(c, s, "scale", c->qscale, true);
}

static int stmt(Check *c, const Node *n) {
  if (++c->steps > MAX_STEPS)
    return fail(c, n->loc, "the network unrolls to more than %d statements", MAX_STEPS);
  switch (n->kind) {
  case N_INPUT:
    return input_stmt(c, n);
  case N_ACT:
    return act_stmt(c, n);
  case N_SEED: {
    int64_t s;
    if (eval_int(c, n->a, "the seed", 0, INT64_MAX, &s))
      return -1;
    c->net->seed = (uint64_t)s;
    return 0;
  }
  case N_REPEAT: {
    int64_t count;
    if (eval_int(c, n->a, "the repeat count", 1, ANET_MAX_LAYERS, &count))
      return -1;
    for (int64_t i = 0; i < count; i++)
      if (body(c, n->kids))
        return -1;   /* once: the next pass would report the same errors */
    return 0;
  }
  case N_LET:
    if (c->cur == -1)
      return fail(c, n->loc, "nothing to name yet: declare an input first");
    set_name(c, n->name, c->cur);
    return 0;
  case N_FROM: {
    int v = value_of(c, (Node[]){{.kind = N_IDENT, .name = n->name, .loc = n->name_loc}},
                     "from");
    c->cur = v < 0 ? POISON : v;
    return v < 0 ? -1 : 0;
  }
  case N_LAYER:
    return layer_stmt(c, n);
  case N_USE:
    return use_stmt(c, n);
  case N_STATE:
    return state_stmt(c, n);
  case N_OUTPUT:
    return output_stmt(c, n);
  case N_CONST:
    return local_const(c, n);
  case N_WEIGHT:
    return weight_stmt(c, n);
  default:
    return fail(c, n->loc, "this statement belongs at the top of the file");
  }
}

/* Every statement, past errors too (up to the limit): a failed layer
 * poisons its result, so what depends on it stays silent while independent
 * errors further down are still reported. */
static int body(Check *c, const Node *list) {
  int rc = 0;
  for (const Node *n = list; n && !(rc && too_many(c)); n = n->next)
    if (stmt(c, n))
      rc = -1;
  return rc;
}

static int network(Check *c, const Node *n) {
  c->net->name = n->name;
  c->cur = -1;
  c->nglobal = c->scope = c->nconsts;
  if (body(c, n->kids))
    return -1;
  AnetNet *net = c->net;
  if (net->nlayers == 0)
    return fail(c, n->name_loc, "network '%s' has no layers", n->name);
  if (net->noutputs == 0) {   /* no output statement: the current value */
    if (c->cur < 0)
      return fail(c, n->name_loc, "network '%s' has no result: name one with output", n->name);
    net->outputs = xrealloc(NULL, sizeof *net->outputs);
    net->outputs[net->noutputs++] = (AnetOutput){NULL, n->name_loc, c->cur};
  }
  net->output = net->outputs[0].value;
  for (int o = 0; o < net->noutputs; o++)
    for (int i = 0; i < net->ninputs; i++)
      if (net->inputs[i].value == net->outputs[o].value)
        return fail(c, net->outputs[o].loc, "network '%s' returns its input '%s' unchanged",
                    n->name, net->inputs[i].name);
  /* the seed's policy: int8 between layers, the results stay fp16 */
  for (int i = 0; i < net->nlayers; i++)
    for (int o = 0; o < net->noutputs; o++)
      if (net->layers[i].out == net->outputs[o].value)
        net->layers[i].quant = false;
  return 0;
}

/* ---- constants and the file --------------------------------------------- */

/* Index of a swept constant in f->vars, or -1. */
static int swept(const AnetFile *f, const char *name) {
  for (int i = 0; i < f->nvars; i++)
    if (strcmp(f->vars[i]->name, name) == 0)
      return i;
  return -1;
}

/* A constant that fails to evaluate is kept as bad, so that its uses
 * stay silent while the rest of the file is checked. */
static int const_stmt(Check *c, const Node *n) {
  AnetNum v = {0};
  int rc = eval(c, n->a, &v);
  int s = c->point ? swept(c->f, n->name) : -1;
  if (s >= 0) {
    v = c->point[s];
    rc = 0;
  }
  add_const(c, n->name, n, v, rc != 0);
  return rc;
}

static void check_done(Check *c) {
  free(c->consts);
  free(c->names);
}

void anetc_free(AnetNet *n) {
  if (!n)
    return;
  for (int i = 0; i < n->nlayers; i++) {
    AnetLayer *l = &n->layers[i];
    free(l->w.path);
    free(l->bias.path);
  }
  free(n->inputs);
  free(n->states);
  free(n->outputs);
  free(n->values);
  free(n->layers);
  free(n);
}

static void point_note(const AnetFile *f, int point, Diag *d) {
  if (f->sweep)
    diag_note(d, f->src, f->sweep->loc, "in sweep point %s", f->point_names[point]);
}

/* quiet_consts: the file's constants were checked (and their errors
 * reported) already; only the network's errors are new. */
static AnetNet *check_point(const AnetFile *f, int point, Diag *d, bool quiet_consts,
                            Seen *seen) {
  Check c = {.f = f, .src = f->src, .d = d, .cur = -1, .seen = seen, .standin = -1};
  int errors0 = d->nerrors;
  c.point = f->nvars ? &f->values[(size_t)point * (size_t)f->nvars] : NULL;
  c.net = xrealloc(NULL, sizeof *c.net);
  memset(c.net, 0, sizeof *c.net);
  int rc = 0;
  Diag quiet = {.out = quiet_consts ? fopen("/dev/null", "w") : NULL}, *loud = c.d;
  if (quiet.out)
    c.d = &quiet;
  for (const Node *n = f->root; n; n = n->next) {
    if (n->kind == N_CONST && const_stmt(&c, n))
      rc = -1;
    else if (n == f->network)
      break;
  }
  c.d = loud;
  if (quiet.out)
    fclose(quiet.out);
  if (network(&c, f->network))
    rc = -1;
  check_done(&c);
  if (rc) {
    if (d->nerrors > errors0)   /* not when each of its errors was another point's */
      point_note(f, point, d);
    anetc_free(c.net);
    return NULL;
  }
  return c.net;
}

AnetNet *anetc_check(const AnetFile *f, int point, Diag *d) {
  Seen seen = {.errors0 = d->nerrors};
  return check_point(f, point, d, false, &seen);
}

/* ---- sweeps ------------------------------------------------------------- */

static void fmt_num(char *buf, size_t size, AnetNum v) {
  if (v.sym)
    snprintf(buf, size, "%s", v.sym);
  else if (v.is_int)
    snprintf(buf, size, "%lld", (long long)v.i);
  else
    snprintf(buf, size, "%g", v.f);
}

/* The vars and the value lists of every factor; points are the cartesian
 * product, the first factor varying slowest. */
static int sweep_points(Check *c, AnetFile *f) {
  const Node *sw = f->sweep;
  int nvars = 0;
  int64_t npoints = 1;
  for (const Node *fa = sw->kids; fa; fa = fa->next) {
    int width = ast_count(fa->kids);
    for (const Node *v = fa->kids; v; v = v->next) {
      if (!find_const(c, v->name))
        return fail(c, v->loc, "the sweep names an undefined constant '%s'; define it above "
                    "the sweep (const %s = ...)", v->name, v->name);
      for (int i = 0; i < nvars; i++)
        if (strcmp(f->vars[i]->name, v->name) == 0)
          return fail(c, v->loc, "'%s' is swept twice", v->name);
      f->vars = xrealloc(f->vars, (size_t)(nvars + 1) * sizeof *f->vars);
      f->vars[nvars++] = v;
      f->nvars = nvars;
    }
    for (const Node *t = fa->a->kids; t; t = t->next)
      if (t->kind == N_LIST && ast_count(t->kids) != width)
        return fail(c, t->loc, "expected %d values in each point, got %d", width,
                    ast_count(t->kids));
    int64_t len = ast_count(fa->a->kids);
    if (len == 0)
      return fail(c, fa->a->loc, "a sweep needs at least one value");
    if (npoints * len > ANET_MAX_POINTS)
      return fail(c, sw->loc, "the sweep has more than %d points", ANET_MAX_POINTS);
    npoints *= len;
  }
  f->npoints = (int)npoints;
  f->values = xrealloc(NULL, (size_t)npoints * (size_t)nvars * sizeof *f->values);
  int stride = (int)npoints, first = 0;
  for (const Node *fa = sw->kids; fa; fa = fa->next) {
    int width = ast_count(fa->kids), len = ast_count(fa->a->kids), j = 0;
    bool tuple = fa->a->kids->kind == N_LIST;
    stride /= len;
    for (const Node *t = fa->a->kids; t; t = t->next, j++) {
      const Node *e = tuple ? t->kids : t;
      for (int w = 0; w < width; w++, e = e->next) {
        AnetNum v;
        if (eval(c, e, &v))
          return -1;
        for (int p = 0; p < f->npoints; p++)
          if ((p / stride) % len == j)
            f->values[(size_t)p * (size_t)nvars + (size_t)(first + w)] = v;
      }
    }
    first += width;
  }
  return 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted, so that a sweep of many points is checked in n log n, not n^2. */
static int unique_names(Check *c, AnetFile *f) {
  size_t n = (size_t)f->npoints;
  char **sorted = xrealloc(NULL, n * sizeof *sorted);
  memcpy(sorted, f->point_names, n * sizeof *sorted);
  qsort(sorted, n, sizeof *sorted, cmp_str);
  int rc = 0;
  for (size_t i = 1; i < n && !rc; i++)
    if (strcmp(sorted[i - 1], sorted[i]) == 0)
      rc = fail(c, f->sweep->loc, "sweep point %s appears twice", sorted[i]);
  free(sorted);
  return rc;
}

static int point_names(Check *c, AnetFile *f) {
  f->point_names = xrealloc(NULL, (size_t)f->npoints * sizeof *f->point_names);
  memset(f->point_names, 0, (size_t)f->npoints * sizeof *f->point_names);
  for (int p = 0; p < f->npoints; p++) {
    char buf[1024];
    size_t n = 0;
    if (f->sweep)
      n = (size_t)snprintf(buf, sizeof buf, "%s", f->network->name);
    else
      buf[0] = '\0';
    for (int i = 0; i < f->nvars && n < sizeof buf; i++) {
      char num[64];
      fmt_num(num, sizeof num, f->values[(size_t)p * (size_t)f->nvars + (size_t)i]);
      n += (size_t)snprintf(buf + n, sizeof buf - n, "_%s%s", f->vars[i]->name, num);
    }
    if (n >= sizeof buf)
      return fail(c, f->sweep->loc, "a sweep point's name is longer than %zu bytes", sizeof buf);
    f->point_names[p] = xstrdup(buf);
  }
  return unique_names(c, f);
}

/* One network, at most one sweep, constants defined once. */
/* Blocks defined once each, with distinct parameter names. */
static int check_blocks(Check *c, const AnetFile *f) {
  int rc = 0;
  for (const Node *n = f->root; n; n = n->next) {
    if (n->kind != N_BLOCK)
      continue;
    for (const Node *m = f->root; m != n; m = m->next)
      if (m->kind == N_BLOCK && strcmp(m->name, n->name) == 0) {
        rc = fail(c, n->name_loc, "block '%s' is defined twice", n->name);
        diag_note(c->d, c->src, m->name_loc, "first defined here");
      }
    for (const Node *p = n->a->kids; p; p = p->next)
      for (const Node *q = n->a->kids; q != p; q = q->next)
        if (strcmp(p->name, q->name) == 0)
          rc = fail(c, p->loc, "parameter '%s' appears twice", p->name);
  }
  return rc;
}

/* Returns -1 on errors; *consts_only tells whether only constants failed,
 * so that the network can still be checked for errors of its own. */
static int structure(Check *c, AnetFile *f, bool *consts_only) {
  int bad_consts = 0;
  *consts_only = false;
  if (check_blocks(c, f))
    return -1;
  for (const Node *n = f->root; n; n = n->next) {
    if (n->kind == N_NETWORK) {
      if (f->network) {
        fail(c, n->loc, "a file holds one network; '%s' is a second one", n->name);
        diag_note(c->d, c->src, f->network->name_loc, "the first is '%s'", f->network->name);
        return -1;
      }
      f->network = n;
    } else if (n->kind == N_SWEEP) {
      if (f->sweep)
        return fail(c, n->loc, "a file holds at most one sweep");
      f->sweep = n;
      if (sweep_points(c, f))
        return -1;
    } else if (n->kind == N_CONST) {
      const Const *k = find_const(c, n->name);
      if (k) {
        fail(c, n->name_loc, "constant '%s' is defined twice", n->name);
        diag_note(c->d, c->src, k->def->name_loc, "first defined here");
        return -1;
      }
      if (const_stmt(c, n))
        bad_consts++;
    }
  }
  if (!f->network)
    return fail(c, (Loc){c->src->len, c->src->len}, "expected a network (network NAME { ... })");
  if (!f->sweep)
    f->npoints = 1;
  if (point_names(c, f))
    return -1;
  *consts_only = bad_consts > 0;
  return bad_consts ? -1 : 0;
}

/* Every point is checked, past errors too, up to the error limit; an
 * error at the same place in several points is reported at the first. */
AnetFile *anet_parse(const Src *src, Diag *d) {
  Seen *seen = xrealloc(NULL, sizeof *seen);
  memset(seen, 0, sizeof *seen);
  seen->errors0 = d->nerrors;
  Node *root = anetp_parse(src, d);   /* a reserved word as a name leaves a tree */
  if (!root) {
    free(seen);
    return NULL;
  }
  AnetFile *f = xrealloc(NULL, sizeof *f);
  memset(f, 0, sizeof *f);
  f->src = src;
  f->root = root;
  Check c = {.f = f, .src = src, .d = d, .seen = seen, .standin = -1};
  bool consts_only;
  int rc = structure(&c, f, &consts_only);
  check_done(&c);
  if (rc && consts_only && !too_many(&c))
    anetc_free(check_point(f, 0, d, true, seen));
  for (int p = 0; rc == 0 && p < f->npoints; p++) {
    AnetNet *net = too_many(&c) ? NULL : check_point(f, p, d, false, seen);
    anetc_free(net);
  }
  if (d->nerrors > seen->errors0)
    rc = -1;
  free(seen);
  if (rc) {
    anet_free(f);
    return NULL;
  }
  return f;
}

void anet_free(AnetFile *f) {
  if (!f)
    return;
  for (int i = 0; f->point_names && i < f->npoints; i++)
    free(f->point_names[i]);
  free(f->point_names);
  free(f->vars);
  free(f->values);
  ast_free(f->root);
  free(f);
}

int anet_npoints(const AnetFile *f) { return f->npoints; }

const char *anet_point_name(const AnetFile *f, int i) {
  return i >= 0 && i < f->npoints ? f->point_names[i] : NULL;
}

const char *anet_network_name(const AnetFile *f) { return f->network->name; }
