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
} Const;

typedef struct Name {
  const char *name;
  int value;
} Name;

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
  double qscale;
  long steps;
} Check;

static int fail(Check *c, Loc loc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(Check *c, Loc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  diag_verror(c->d, c->src, loc, fmt, ap);
  va_end(ap);
  return -1;
}

static const Const *find_const(const Check *c, const char *name) {
  for (int i = c->nconsts - 1; i >= 0; i--)
    if (strcmp(c->consts[i].name, name) == 0)
      return &c->consts[i];
  return NULL;
}

/* ---- numbers ------------------------------------------------------------ */

static AnetNum num_int(int64_t i) { return (AnetNum){true, i, (double)i}; }
static AnetNum num_float(double f) { return (AnetNum){false, 0, f}; }

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
    if (!k)
      return fail(c, n->loc, "'%s' is not defined: expected a number or a constant defined above",
                  n->name);
    *out = k->val;
    return 0;
  }
  case N_NEG:
    if (eval(c, n->a, out))
      return -1;
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

static const char *shape_str(char *buf, size_t size, int rank, const int64_t *dim) {
  size_t n = (size_t)snprintf(buf, size, "fp16[");
  for (int i = 0; i < rank && n < size; i++)
    n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)dim[i]);
  if (n < size)
    snprintf(buf + n, size - n, "]");
  return buf;
}

#define SHAPE(v) shape_str((char[160]){0}, 160, (v)->rank, (v)->dim)

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

static int new_value(Check *c, Loc loc, int rank, const int64_t *dim) {
  AnetNet *net = c->net;
  if (elems(rank, dim) < 0)
    return fail(c, loc, "the result %s has more than 2^40 elements",
                shape_str((char[160]){0}, 160, rank, dim));
  if (net->nvalues == net->valcap) {
    net->valcap = net->valcap ? 2 * net->valcap : 16;
    net->values = xrealloc(net->values, (size_t)net->valcap * sizeof *net->values);
  }
  AnetValue *v = &net->values[net->nvalues];
  memset(v, 0, sizeof *v);
  v->rank = rank;
  memcpy(v->dim, dim, (size_t)rank * sizeof *dim);
  return net->nvalues++;
}

/* ---- value names -------------------------------------------------------- */

static int find_name(const Check *c, const char *name) {
  for (int i = 0; i < c->nnames; i++)
    if (strcmp(c->names[i].name, name) == 0)
      return c->names[i].value;
  return -1;
}

static void set_name(Check *c, const char *name, int value) {
  for (int i = 0; i < c->nnames; i++)
    if (strcmp(c->names[i].name, name) == 0) {
      c->names[i].value = value;
      return;
    }
  if (c->nnames == c->namecap) {
    c->namecap = c->namecap ? 2 * c->namecap : 16;
    c->names = xrealloc(c->names, (size_t)c->namecap * sizeof *c->names);
  }
  c->names[c->nnames++] = (Name){name, value};
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
  const char *pos;               /* what the one positional argument is, or NULL */
  const char *const *params;     /* NULL-terminated */
  int (*check)(Check *c, const Args *a, AnetLayer *l);
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

static int collect_args(Check *c, const Node *stmt, const char *what, const char *pos,
                        const char *const *params, Args *a) {
  memset(a, 0, sizeof *a);
  for (const Node *k = stmt->kids; k; k = k->next) {
    if (!k->name) {
      if (!pos)
        return fail(c, k->loc, "%s takes no positional arguments; expected name=value here",
                    what);
      if (a->npos == 1)
        return fail(c, k->loc, "%s takes one positional argument (%s); expected name=value "
                    "here", what, pos);
      a->pos[a->npos++] = k->a;
      continue;
    }
    int known = 0;
    while (params[known] && strcmp(params[known], k->name) != 0)
      known++;
    if (!params[known]) {
      char list[400];
      list_params(list, sizeof list, params);
      if (!params[0])
        return fail(c, k->name_loc, "unknown parameter '%s': %s takes no parameters", k->name,
                    what);
      return fail(c, k->name_loc, "unknown parameter '%s' for %s; expected one of: %s", k->name,
                  what, list);
    }
    if (arg(a, k->name))
      return fail(c, k->name_loc, "parameter '%s' is given twice", k->name);
    if (a->nnamed == MAX_NAMED)
      return fail(c, k->loc, "too many parameters");
    a->named[a->nnamed++] = k;
  }
  if (pos && a->npos == 0)
    return fail(c, stmt->loc, "%s needs %s before its parameters", what, pos);
  return 0;
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
  if (n->kind == N_IDENT && strcmp(n->name, "true") == 0)
    *out = true;
  else if (n->kind == N_IDENT && strcmp(n->name, "false") == 0)
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
  if (n->kind != N_IDENT)
    return fail(c, n->loc, "%s must be a dtype (%s)", what, want);
  if (!mil_dtype_lookup(n->name, strlen(n->name), &t))
    return fail(c, n->loc, "unknown dtype '%s'; expected %s", n->name, want);
  if (t != a && t != b)
    return fail(c, n->loc, "%s must be %s, not %s", what, want, n->name);
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
  int rc = n && n->kind == N_IDENT ? wfmt_parse(n->name, &w->fmt, msg, sizeof msg) : 1;
  if (rc < 0)
    return fail(c, n->loc, "weight format '%s': %s", n->name, msg);
  if (rc == 1 && n && n->kind == N_IDENT && !mil_dtype_lookup(n->name, strlen(n->name), &w->dtype))
    return fail(c, n->loc, "unknown weight format '%s'; expected fp16, int8, %s",
                n->name, wfmt_words);
  if (sp && (rc != 0 || !w->fmt.sparse))
    return fail(c, sp->loc, "sparsity applies to sparse_* weight formats only");
  if (rc != 0)
    return 1;
  w->quantised = true;
  w->fmt_word = n->name;
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
  memset(l->pad, 0, sizeof l->pad);
  if (!n || (n->kind == N_IDENT && strcmp(n->name, "valid") == 0))
    return 0;
  if (n->kind == N_IDENT && strcmp(n->name, "same") == 0) {
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
  if (n->kind == N_IDENT && !find_const(c, n->name))
    return fail(c, n->loc, "padding must be valid, same, an integer or a list of 2 or 4 "
                "integers, got '%s'", n->name);
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
  if (check_weight_count(c, l->loc, l->cout, cin / l->groups, l->kernel[0], l->kernel[1]) ||
      arg_weights(c, a, fan_in, &l->w) || arg_bias(c, a, &l->has_bias, &l->bias) ||
      check_wformat(c, a, &l->w, l->cout, cin / l->groups, l->kernel[0] * l->kernel[1]))
    return -1;
  return l->out = new_value(c, l->loc, 4, out);
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
  if (n->kind == N_IDENT && find_name(c, n->name) >= 0) {
    l->in2 = find_name(c, n->name);
    return 0;
  }
  if (n->kind == N_IDENT && !find_const(c, n->name))
    return fail(c, n->loc, "'%s' is not defined: expected a named value%s", n->name,
                number_ok ? " or a number" : "");
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
  return l->out = new_value(c, l->loc, l->nshape, l->shape);
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
  return l->out = new_value(c, l->loc, x.rank, out);
}

#define PARAMS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NOPARAMS ((const char *const[]){NULL})
#define WEIGHT_PARAMS "weights", "scale", "zero_point", "init", "bias", "bias_init", "sparsity"

static const LayerDef layer_defs[L_NKINDS] = {
  {"conv", L_CONV, "the number of output channels",
   PARAMS("kernel", "stride", "padding", "dilation", "groups", WEIGHT_PARAMS), chk_conv},
  {"linear", L_LINEAR, "the number of output features", PARAMS(WEIGHT_PARAMS), chk_linear},
  {"matmul", L_MATMUL, "the value to multiply by", PARAMS("transpose_x", "transpose_y"),
   chk_matmul},
  {"add", L_ADD, "the value or number to add", NOPARAMS, chk_binary},
  {"mul", L_MUL, "the value or number to multiply by", NOPARAMS, chk_binary},
  {"relu", L_RELU, NULL, NOPARAMS, chk_unary},
  {"sigmoid", L_SIGMOID, NULL, NOPARAMS, chk_unary},
  {"tanh", L_TANH, NULL, NOPARAMS, chk_unary},
  {"silu", L_SILU, NULL, NOPARAMS, chk_unary},
  {"gelu", L_GELU, NULL, NOPARAMS, chk_unary},
  {"softmax", L_SOFTMAX, NULL, PARAMS("axis"), chk_softmax},
  {"layer_norm", L_LAYER_NORM, NULL, PARAMS("axis", "eps", "affine"), chk_norm},
  {"rms_norm", L_RMS_NORM, NULL, PARAMS("axis", "eps", "affine"), chk_norm},
  {"reshape", L_RESHAPE, NULL, PARAMS("shape"), chk_reshape},
  {"transpose", L_TRANSPOSE, NULL, PARAMS("perm"), chk_transpose},
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

static int layer_stmt(Check *c, const Node *n) {
  const LayerDef *def = find_layer(n->name);
  if (!def) {
    char list[300];
    size_t len = 0;
    for (int i = 0; i < L_NKINDS; i++)
      len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "",
                              layer_defs[i].name);
    return fail(c, n->name_loc,
                "unknown layer '%s'; expected one of: %s", n->name, list);
  }
  Args a;
  if (collect_args(c, n, def->name, def->pos, def->params, &a))
    return -1;
  if (c->cur < 0)
    return fail(c, n->loc, "%s has no input: declare one first (input x: fp16[...])", def->name);
  AnetNet *net = c->net;
  if (net->nlayers == ANET_MAX_LAYERS)
    return fail(c, n->loc, "the network unrolls to more than %d layers", ANET_MAX_LAYERS);
  if (net->nlayers == net->laycap) {
    net->laycap = net->laycap ? 2 * net->laycap : 16;
    net->layers = xrealloc(net->layers, (size_t)net->laycap * sizeof *net->layers);
  }
  AnetLayer l = {.kind = def->kind, .loc = n->loc, .in = c->cur, .in2 = -1, .out = -1};
  if (def->check(c, &a, &l) < 0) {
    free(l.w.path);
    free(l.bias.path);
    return -1;
  }
  l.quant = c->quant;
  l.qscale = c->qscale;
  net->layers[net->nlayers++] = l;
  c->cur = l.out;
  if (n->bind)
    set_name(c, n->bind, l.out);
  return 0;
}

/* ---- statements --------------------------------------------------------- */

static int input_stmt(Check *c, const Node *n) {
  MilDtype dt;
  if (arg_dtype(c, n->a, "an input", MIL_FP16, MIL_FP16, &dt))
    return -1;
  for (int i = 0; i < c->net->ninputs; i++)
    if (strcmp(c->net->inputs[i].name, n->name) == 0)
      return fail(c, n->name_loc, "input '%s' is declared twice", n->name);
  int rank = ast_count(n->kids), i = 0;
  if (rank < 1 || rank > MIL_MAX_RANK)
    return fail(c, n->loc, "an input has 1 to %d dimensions, got %d", MIL_MAX_RANK, rank);
  int64_t dim[MIL_MAX_RANK];
  for (const Node *k = n->kids; k; k = k->next, i++)
    if (eval_int(c, k, "a dimension", 1, ANET_MAX_ELEMS, &dim[i]))
      return -1;
  int v = new_value(c, n->loc, rank, dim);
  if (v < 0)
    return -1;
  AnetNet *net = c->net;
  net->inputs = xrealloc(net->inputs, (size_t)(net->ninputs + 1) * sizeof *net->inputs);
  net->inputs[net->ninputs++] = (AnetInput){n->name, n->name_loc, v};
  net->values[v].mil_name = n->name;
  set_name(c, n->name, v);
  if (c->cur < 0)
    c->cur = v;
  return 0;
}

/* activations int8 scale=S | activations fp16 */
static int act_stmt(Check *c, const Node *n) {
  static const char *const params[] = {"scale", NULL};
  Args a;
  MilDtype dt;
  if (arg_dtype(c, n->a, "activations", MIL_FP16, MIL_INT8, &dt) ||
      collect_args(c, n, "activations", NULL, params, &a))
    return -1;
  c->quant = dt == MIL_INT8;
  if (!c->quant)
    return arg(&a, "scale") ? fail(c, arg(&a, "scale")->loc, "fp16 activations take no scale")
                            : 0;
  const Node *s = arg(&a, "scale");
  if (!s)
    return fail(c, n->loc, "int8 activations need a scale (scale=...)");
  if (eval_num(c, s, "scale", &c->qscale))
    return -1;
  if (c->qscale <= 0)
    return fail(c, s->loc, "scale must be positive, got %g", c->qscale);
  return check_fp16(c, s, "scale", c->qscale, true);
}

static int body(Check *c, const Node *list);

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
        return -1;
    return 0;
  }
  case N_LET:
    if (c->cur < 0)
      return fail(c, n->loc, "nothing to name yet: declare an input first");
    set_name(c, n->name, c->cur);
    return 0;
  case N_FROM: {
    int v = find_name(c, n->name);
    if (v < 0)
      return fail(c, n->name_loc, "'%s' is not a named value", n->name);
    c->cur = v;
    return 0;
  }
  case N_LAYER:
    return layer_stmt(c, n);
  default:
    return fail(c, n->loc, "this statement belongs at the top of the file");
  }
}

static int body(Check *c, const Node *list) {
  for (const Node *n = list; n; n = n->next)
    if (stmt(c, n))
      return -1;
  return 0;
}

static int network(Check *c, const Node *n) {
  c->net->name = n->name;
  c->cur = -1;
  if (body(c, n->kids))
    return -1;
  AnetNet *net = c->net;
  if (net->nlayers == 0)
    return fail(c, n->name_loc, "network '%s' has no layers", n->name);
  net->output = c->cur;
  for (int i = 0; i < net->ninputs; i++)
    if (net->inputs[i].value == net->output)
      return fail(c, n->name_loc, "network '%s' returns its input '%s' unchanged", n->name,
                  net->inputs[i].name);
  /* the seed's policy: int8 between layers, the result stays fp16 */
  for (int i = 0; i < net->nlayers; i++)
    if (net->layers[i].out == net->output)
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

static int const_stmt(Check *c, const Node *n) {
  AnetNum v;
  if (eval(c, n->a, &v))
    return -1;
  int s = c->point ? swept(c->f, n->name) : -1;
  if (s >= 0)
    v = c->point[s];
  if (c->nconsts == c->constcap) {
    c->constcap = c->constcap ? 2 * c->constcap : 16;
    c->consts = xrealloc(c->consts, (size_t)c->constcap * sizeof *c->consts);
  }
  c->consts[c->nconsts++] = (Const){n->name, n, v};
  return 0;
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
  free(n->values);
  free(n->layers);
  free(n);
}

static void point_note(const AnetFile *f, int point, Diag *d) {
  if (f->sweep)
    diag_note(d, f->src, f->sweep->loc, "in sweep point %s", f->point_names[point]);
}

AnetNet *anetc_check(const AnetFile *f, int point, Diag *d) {
  Check c = {.f = f, .src = f->src, .d = d, .cur = -1};
  c.point = f->nvars ? &f->values[(size_t)point * (size_t)f->nvars] : NULL;
  c.net = xrealloc(NULL, sizeof *c.net);
  memset(c.net, 0, sizeof *c.net);
  int rc = 0;
  for (const Node *n = f->root; n && rc == 0; n = n->next) {
    if (n->kind == N_CONST)
      rc = const_stmt(&c, n);
    else if (n == f->network)
      break;
  }
  if (rc == 0)
    rc = network(&c, f->network);
  check_done(&c);
  if (rc) {
    point_note(f, point, d);
    anetc_free(c.net);
    return NULL;
  }
  return c.net;
}

/* ---- sweeps ------------------------------------------------------------- */

static void fmt_num(char *buf, size_t size, AnetNum v) {
  if (v.is_int)
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
static int structure(Check *c, AnetFile *f) {
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
        return -1;
    }
  }
  if (!f->network)
    return fail(c, (Loc){c->src->len, c->src->len}, "expected a network (network NAME { ... })");
  if (!f->sweep)
    f->npoints = 1;
  return point_names(c, f);
}

AnetFile *anet_parse(const Src *src, Diag *d) {
  Node *root = anetp_parse(src, d);
  if (!root)
    return NULL;
  AnetFile *f = xrealloc(NULL, sizeof *f);
  memset(f, 0, sizeof *f);
  f->src = src;
  f->root = root;
  Check c = {.f = f, .src = src, .d = d};
  int rc = structure(&c, f);
  check_done(&c);
  for (int p = 0; rc == 0 && p < f->npoints; p++) {
    AnetNet *net = anetc_check(f, p, d);
    rc = net ? 0 : -1;
    anetc_free(net);
  }
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
