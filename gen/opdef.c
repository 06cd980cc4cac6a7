/* opdef.c - the shared op definitions (see opdef.h).
 *
 * Each row of defs[] names an op, the dtypes its T operands take and its
 * operands in coremltools' order, as a compact spec:
 *
 *     name[?][:class][=default] ...
 *
 * '?' (or a default) makes the operand optional; class is T (one dtype the
 * row's T list allows, the same for every T operand), f (fp16 or fp32), i
 * (an integer), b (bool), s (string) or * (anything, as when absent); a
 * default is an integer, true/false, or a word (a string); a '!' after
 * the class says the operand must be a constant, a '#' that the check
 * reads the value of a tensor operand (not only its type). The specs are
 * parsed once, on the first check. A check binds the op's arguments and
 * attributes to the row's operands in one pass (constexpr ops take their
 * operands as attributes), refuses a missing operand or a wrong dtype, then
 * runs the row's function, which reads operands by their index in the row
 * and the defaults from it. Operand types come from the function
 * (mil_ref_var, O(1) for what the parser read); parameters from inline
 * values or the const op that defines them. */
#include "opdef.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"

enum { MAXO = 20 };   /* operands of one op (lstm has 16) */

typedef struct Opnd {
  const char *name;     /* NUL-terminated, in pool */
  char cls;             /* T f i b s * */
  bool opt;
  bool cst;             /* it must be a constant (a '!' after the class) */
  bool val;             /* a tensor operand whose value the check reads ('#') */
  const char *defs;     /* a default word, or NULL */
  int64_t defi;         /* a default integer (or bool) */
  bool hasdef;
  unsigned key;         /* name[0] | name[1] << 8 */
  uint32_t dts;         /* the dtypes cls allows, a bit per MilDtype */
} Opnd;

typedef struct Opd Opd;
typedef int (*CheckFn)(Opd *c);

typedef struct Row {
  const char *op;
  CheckFn check;
  const char *tdom;     /* dtypes of T: "fp16 fp32", or "*" for any */
  const char *spec;
} Row;

/* One check: the op, its row and what its operands are bound to. */
struct Opd {
  const MilFunc *f;
  int opi;
  const MilOp *op;
  const Opnd *o;                /* the row's operands */
  int no;
  const MilBind *b[MAXO];       /* argument bindings, or NULL */
  const MilValue *a[MAXO];      /* attribute values (constexpr ops), or NULL */
  const MilType *t[MAXO];       /* tensor types, NULL when absent or not known */
  int def[MAXO];                /* the op defining a reference operand, or -1 */
  char *msg;
  size_t n;
};

static int fail(Opd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(Opd *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->msg, c->n, fmt, ap);
  va_end(ap);
  return -1;
}

/* "tensor<fp16, [1, 2]>", as the cpu backend writes types ('?' for a
 * dimension not known). */
static const char *type_str(char *buf, size_t n, const MilType *t) {
  size_t o = (size_t)snprintf(buf, n, "tensor<%s, [", mil_dtype_name(t->dtype));
  for (int i = 0; i < t->rank && o < n; i++)
    o += t->dim[i] < 0 ? (size_t)snprintf(buf + o, n - o, "%s?", i ? ", " : "")
                       : (size_t)snprintf(buf + o, n - o, "%s%lld", i ? ", " : "",
                                          (long long)t->dim[i]);
  if (o < n)
    snprintf(buf + o, n - o, "]>");
  return buf;
}

/* ---- operands ---------------------------------------------------------------- */

static bool has(const Opd *c, int k) { return c->b[k] || c->a[k]; }
static const MilType *type(const Opd *c, int k) { return c->t[k]; }

/* Whether every dim of t is known. */
static bool known(const MilType *t) {
  if (!t)
    return false;
  for (int i = 0; i < t->rank; i++)
    if (t->dim[i] < 0)
      return false;
  return true;
}

/* Runs several times for every op the parser reads: no call to strcmp. */
static bool streq(const char *a, const char *b) { return mil_name_eq(a, b); }

/* The const op defining operand k (a reference), or NULL. */
static inline const MilOp *const_op(const Opd *c, int k) {
  if (c->def[k] < 0)
    return NULL;
  const MilOp *op = &c->f->ops[c->def[k]];
  const char *s = op->op;   /* streq(s, "const"), unrolled: it runs for most parameters */
  return op->nouts == 1 && s[0] == 'c' && s[1] == 'o' && s[2] == 'n' && s[3] == 's' &&
                 s[4] == 't' && s[5] == '\0'
             ? op
             : NULL;
}
static const char *oname(const Opd *c, int k) { return c->o[k].name; }

/* The tensor type a binding reads (a ref or an inline value); *def the op
 * defining a ref (-1 for an input or an inline value). */
static inline const MilType *bind_type(const MilFunc *f, int opi, const MilBind *b,
                                        int *def) {
  const MilType *t = NULL;
  *def = -1;
  int d = b->def - 1;
  if (b->kind == MIL_BREF && d >= 0 && d < opi && b->out < f->ops[d].nouts &&
      f->ops[d].outs[b->out].name == b->ref) {   /* what the parser resolved, as mil_ref_var */
    *def = d;
    t = f->ops[d].outs[b->out].type;
  } else if (b->kind == MIL_BREF) {
    const MilVar *v = mil_ref_var(f, b, opi, def);
    t = v ? v->type : NULL;
  } else if (b->kind == MIL_BVAL && b->val) {   /* NULL after a parse error */
    t = b->val->type;
  }
  return t && t->kind == MIL_TENSOR ? t : NULL;
}

/* The constant value of operand k: inline, an attribute, or the val of the
 * const op before opi that defines it; NULL when it is not a constant. */
static const MilValue *cval(const Opd *c, int k) {
  if (c->a[k])
    return c->a[k];
  const MilBind *b = c->b[k];
  if (!b)
    return NULL;
  if (b->kind == MIL_BVAL)
    return b->val;
  const MilOp *op = b->kind == MIL_BREF ? const_op(c, k) : NULL;
  for (int i = 0; op && i < op->nattrs; i++)
    if (op->attrs[i].name[0] == 'v' && streq(op->attrs[i].name, "val"))
      return op->attrs[i].val;
  return NULL;
}

/* An integer (or bool) operand's values: their count; when absent, ndef
 * copies of the row's default (0 when it has none); -1 when not a known
 * constant or longer than max. */
static int ints(const Opd *c, int k, int64_t *out, int max, int ndef) {
  if (!has(c, k)) {
    if (!c->o[k].hasdef || c->o[k].defs)
      return 0;
    for (int i = 0; i < ndef && i < max; i++)
      out[i] = c->o[k].defi;
    return ndef < max ? ndef : max;
  }
  const MilValue *v = cval(c, k);
  if (!v || v->kind != MIL_VDATA || !v->i || v->n > max)
    return -1;
  for (int64_t i = 0; i < v->n; i++)
    out[i] = v->i[i];
  return (int)v->n;
}

/* One integer: 1 when known (or defaulted), else 0. */
static bool int1(const Opd *c, int k, int64_t *out) { return ints(c, k, out, 1, 1) == 1; }

/* A float scalar operand (or the default 0): false when not known. */
static bool float1(const Opd *c, int k, double *out) {
  if (!has(c, k)) {
    *out = (double)c->o[k].defi;
    return true;
  }
  const MilValue *v = cval(c, k);
  if (!v || v->kind != MIL_VDATA || v->n != 1)
    return false;
  *out = v->f ? v->f[0] : v->i ? (double)v->i[0] : 0;
  return v->f || v->i;
}

/* A string operand: the row's default when absent, NULL when not known. */
static const char *str(const Opd *c, int k) {
  if (!has(c, k))
    return c->o[k].defs;
  const MilValue *v = cval(c, k);
  return v && v->kind == MIL_VDATA && v->s && v->n == 1 ? v->s[0] : NULL;
}

/* The dtype a string operand names, or -1 (not known or not a dtype). */
static int str_dtype(const Opd *c, int k) {
  const char *s = str(c, k);
  MilDtype dt;
  return s && mil_dtype_lookup(s, strlen(s), &dt) ? (int)dt : -1;
}

/* axis a of rank r, normalised to [0, r), or -1 when out of range */
static int norm_axis(int64_t a, int r) {
  return a < -r || a >= r ? -1 : (int)(a < 0 ? a + r : a);
}

static int bad_axis(Opd *c, int64_t a, int r) {
  return fail(c, "axis %lld is out of range for rank %d", (long long)a, r);
}

/* Sizes and factors above 2^31 are refused before any arithmetic on
 * them: a dim is at most 2^31 - 1, and int64 products stay exact. */
enum { BIG = 2147483647 };
static int too_big(Opd *c, const char *what, int64_t v) {
  return fail(c, "%s %lld is too large", what, (long long)v);
}

/* The declared type of output k against the type the op computes; a
 * '?' on either side takes any size. */
static int check_out_k(Opd *c, int k, const MilType *want) {
  const MilType *t = k < c->op->nouts ? c->op->outs[k].type : NULL;
  if (!t || t == want || t->kind != MIL_TENSOR)   /* the parser shares equal types */
    return 0;
  bool same = t->dtype == want->dtype && t->rank == want->rank;
  for (int i = 0; same && i < t->rank; i++)
    same = t->dim[i] == want->dim[i] || t->dim[i] == MIL_DIM_ANY || want->dim[i] == MIL_DIM_ANY;
  if (same)
    return 0;
  char a[256], b[256];
  return fail(c, "output '%s' is declared %s, but the op computes %s", c->op->outs[k].name,
              type_str(a, sizeof a, t), type_str(b, sizeof b, want));
}

/* The declared type of the op's one output against the type the op
 * computes. (Another number of outputs is the backend's to report.) */
static int check_out(Opd *c, const MilType *want) {
  return c->op->nouts == 1 ? check_out_k(c, 0, want) : 0;
}

/* The number of outputs, when the op's definition fixes it. */
static int check_nouts(Opd *c, int k) {
  return c->op->nouts == k ? 0 : fail(c, "the op makes %d outputs; %d are declared", k,
                                      c->op->nouts);
}

static bool is_float(MilDtype t) { return t == MIL_FP16 || t == MIL_FP32; }

/* ---- elementwise ------------------------------------------------------------- */

/* Unary elementwise ops (and activations): the output is x's type. */
static int check_unary(Opd *c) {
  const MilType *x = type(c, 0);
  return known(x) ? check_out(c, x) : 0;
}

/* Binary elementwise ops: x and y (one dtype, checked with the operands)
 * broadcast together (numpy's rule); the output has the broadcast shape
 * and x's dtype, bool for comparisons and logical ops. */
static int broadcast(Opd *c, bool to_bool) {
  const MilType *x = type(c, 0), *y = type(c, 1);
  if (!x || !y || x->dtype != y->dtype)
    return 0;
  if (!to_bool && (x == y || y->rank == 0))   /* x's shape: most elementwise ops */
    return known(x) ? check_out(c, x) : 0;
  if (!known(x) || !known(y))
    return 0;
  MilType want = {.kind = MIL_TENSOR, .dtype = to_bool ? MIL_BOOL : x->dtype};
  want.rank = x->rank > y->rank ? x->rank : y->rank;
  for (int i = 0; i < want.rank; i++) {
    int ix = i - (want.rank - x->rank), iy = i - (want.rank - y->rank);
    int64_t dx = ix >= 0 ? x->dim[ix] : 1, dy = iy >= 0 ? y->dim[iy] : 1;
    if (dx != dy && dx != 1 && dy != 1) {
      char a[256], b[256];
      return fail(c, "cannot broadcast x %s with y %s", type_str(a, sizeof a, x),
                  type_str(b, sizeof b, y));
    }
    want.dim[i] = dx == 1 ? dy : dx;
  }
  return check_out(c, &want);
}
static int check_arith(Opd *c) { return broadcast(c, false); }
static int check_compare(Opd *c) { return broadcast(c, true); }

/* real_div and pow of int32 operands: coremltools' result dtype is not
 * x's, so only float operands have their output verified. */
static int check_fdiv(Opd *c) {
  const MilType *x = type(c, 0);
  return x && is_float(x->dtype) ? broadcast(c, false) : 0;
}

/* softmax: the axis, then the output, x's type. */
static int check_softmax(Opd *c) {
  const MilType *x = type(c, 0);
  int64_t axis;
  if (!x || !int1(c, 1, &axis))
    return 0;
  if (x->rank == 0 || norm_axis(axis, x->rank) < 0)
    return bad_axis(c, axis, x->rank);
  return check_unary(c);
}

/* clip: alpha <= beta (coremltools' condition). */
static int check_clip(Opd *c) {
  double a, b;
  if (float1(c, 1, &a) && float1(c, 2, &b) && a > b)
    return fail(c, "alpha %g is greater than beta %g", a, b);
  return check_unary(c);
}

/* ---- conv and pooling -------------------------------------------------------- */

/* The spatial window of conv and pooling: output size of one spatial
 * axis, or WIN_NOFIT when the window does not fit. */
enum { WIN_NOFIT = -2 };
static int64_t window_out(int64_t in, int64_t k, int64_t s, int64_t d, const char *pt,
                          int64_t pb, int64_t pe, bool ceil_mode) {
  if (in < 0)
    return MIL_DIM_ANY;
  if (streq(pt, "same") || streq(pt, "same_lower"))
    return (in + s - 1) / s;
  int64_t span = d * (k - 1) + 1, len = in + (streq(pt, "custom") ? pb + pe : 0) - span;
  if (len < 0)
    return WIN_NOFIT;
  if (!ceil_mode)
    return len / s + 1;
  /* coremltools (and PyTorch) drop a last window that would start in the
   * end padding; runtime/cpu/pool.c applies the same rule. */
  int64_t o = (len + s - 1) / s + 1;
  return (o - 1) * s >= in + pb ? o - 1 : o;
}

/* A window op's operands by their index in its row (-1: it has none). */
typedef struct Win { int strides, dilations, pad, pad_type; } Win;
typedef struct WinVal { int64_t s[MIL_MAX_RANK], d[MIL_MAX_RANK], pad[2 * MIL_MAX_RANK];
                        const char *pt; } WinVal;

/* strides, dilations, pad and pad_type of a window op with sp spatial
 * axes: 0, -1 with msg, or 1 when not all known. */
static int window_params(Opd *c, Win w, int sp, WinVal *v) {
  v->pt = str(c, w.pad_type);
  for (int i = 0; i < sp; i++)
    v->d[i] = 1;
  if (!v->pt || ints(c, w.strides, v->s, MIL_MAX_RANK, sp) != sp ||
      (w.dilations >= 0 && ints(c, w.dilations, v->d, MIL_MAX_RANK, sp) != sp) ||
      ints(c, w.pad, v->pad, 2 * MIL_MAX_RANK, 2 * sp) != 2 * sp)
    return 1;
  if (!streq(v->pt, "valid") && !streq(v->pt, "same") && !streq(v->pt, "same_lower") &&
      !streq(v->pt, "custom"))
    return fail(c, "pad_type '%s' is not valid, same, same_lower or custom", v->pt);
  for (int i = 0; i < sp; i++) {
    if (v->s[i] < 1)
      return fail(c, "strides[%d] is %lld; strides must be at least 1", i, (long long)v->s[i]);
    if (v->d[i] < 1)
      return fail(c, "dilations[%d] is %lld; dilations must be at least 1", i,
                  (long long)v->d[i]);
    if (v->pad[2 * i] < 0 || v->pad[2 * i + 1] < 0)
      return fail(c, "pad has a negative entry");
    if (v->s[i] > BIG || v->d[i] > BIG || v->pad[2 * i] > BIG || v->pad[2 * i + 1] > BIG)
      return fail(c, "strides, dilations or pad on spatial axis %d are too large", i);
  }
  return 0;
}

enum { CV_X, CV_W, CV_BIAS, CV_STRIDES, CV_PADT, CV_PAD, CV_DIL, CV_GROUPS };

static int check_conv(Opd *c) {
  const MilType *x = type(c, CV_X), *w = type(c, CV_W), *bias = type(c, CV_BIAS);
  int64_t g;
  if (!known(x) || !known(w) || x->rank < 3 || w->rank < 2 || !int1(c, CV_GROUPS, &g))
    return 0;
  int64_t cin = x->dim[1], cout = w->dim[0];
  if (g < 1 || cin % g || cout % g || w->dim[1] != cin / g)
    return fail(c, "weight [%lld, %lld, ...] does not fit x with %lld channels in %lld groups",
                (long long)w->dim[0], (long long)w->dim[1], (long long)cin, (long long)g);
  if (w->rank != x->rank)
    return 0;
  int sp = x->rank - 2;
  WinVal v;
  int rc = window_params(c, (Win){CV_STRIDES, CV_DIL, CV_PAD, CV_PADT}, sp, &v);
  if (rc)
    return rc < 0 ? -1 : 0;
  if (known(bias) && mil_type_numel(bias) != cout)
    return fail(c, "bias has %lld elements; weight has %lld output channels",
                (long long)mil_type_numel(bias), (long long)cout);
  MilType want = *x;
  want.dim[1] = cout;
  for (int i = 0; i < sp; i++) {
    want.dim[2 + i] = window_out(x->dim[2 + i], w->dim[2 + i], v.s[i], v.d[i], v.pt,
                                 v.pad[2 * i], v.pad[2 * i + 1], false);
    if (want.dim[2 + i] == WIN_NOFIT)
      return fail(c, "kernel size %lld (dilation %lld) is larger than the padded input "
                  "(%lld) on spatial axis %d", (long long)w->dim[2 + i], (long long)v.d[i],
                  (long long)x->dim[2 + i], i);
  }
  return check_out(c, &want);
}

enum { PL_X, PL_K, PL_STRIDES, PL_PADT, PL_PAD, PL_CEIL };

static int check_pool(Opd *c) {
  const MilType *x = type(c, PL_X);
  if (!x || x->rank < 3)
    return 0;
  int sp = x->rank - 2;
  int64_t k[MIL_MAX_RANK], cm;
  if (ints(c, PL_K, k, MIL_MAX_RANK, 0) != sp || !int1(c, PL_CEIL, &cm))
    return 0;
  WinVal v;
  int rc = window_params(c, (Win){PL_STRIDES, -1, PL_PAD, PL_PADT}, sp, &v);
  if (rc)
    return rc < 0 ? -1 : 0;
  MilType want = *x;
  for (int i = 0; i < sp; i++) {
    if (k[i] < 1)
      return fail(c, "kernel_sizes[%d] is %lld; it must be at least 1", i, (long long)k[i]);
    want.dim[2 + i] = window_out(x->dim[2 + i], k[i], v.s[i], 1, v.pt, v.pad[2 * i],
                                 v.pad[2 * i + 1], cm != 0);
    if (want.dim[2 + i] == WIN_NOFIT)
      return fail(c, "kernel size %lld is larger than the padded input (%lld) on spatial "
                  "axis %d", (long long)k[i], (long long)x->dim[2 + i], i);
  }
  return check_out(c, &want);
}

/* ---- linear algebra ---------------------------------------------------------- */

/* Broadcasts batch dims a[0..na) and b[0..nb) into out (numpy's rule);
 * the count, or -1 when two known dims differ and neither is 1. */
static int broadcast_dims(const int64_t *a, int na, const int64_t *b, int nb, int64_t *out) {
  int r = na > nb ? na : nb;
  for (int i = 0; i < r; i++) {
    int ia = i - (r - na), ib = i - (r - nb);
    int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
    if (da >= 0 && db >= 0 && da != db && da != 1 && db != 1)
      return -1;
    out[i] = da == 1 ? db : db == 1 ? da : da < 0 ? db : da;
  }
  return r;
}

static int check_matmul(Opd *c) {
  const MilType *x = type(c, 0), *y = type(c, 1);
  int64_t tx, ty;
  if (!x || !y || x->rank < 1 || y->rank < 1 || !int1(c, 2, &tx) || !int1(c, 3, &ty))
    return 0;
  /* a vector is its own transpose: [K] acts as [1, K] (x) or [K, 1] (y) */
  int xr = x->rank, yr = y->rank;
  int64_t K = x->dim[xr - 1], K2 = yr == 1 ? y->dim[0] : y->dim[yr - 2];
  if (xr > 1 && tx)
    K = x->dim[xr - 2];
  if (yr > 1 && ty)
    K2 = y->dim[yr - 1];
  if (K >= 0 && K2 >= 0 && K != K2) {
    char a[256], b[256];
    return fail(c, "x %s and y %s do not fit: inner dims %lld and %lld",
                type_str(a, sizeof a, x), type_str(b, sizeof b, y), (long long)K, (long long)K2);
  }
  if ((xr == 1 && yr == 1) || x->dtype != y->dtype)
    return 0;
  MilType want = {.kind = MIL_TENSOR, .dtype = x->dtype};
  int xb = xr > 2 ? xr - 2 : 0, yb = yr > 2 ? yr - 2 : 0;
  int r = broadcast_dims(x->dim, xb, y->dim, yb, want.dim);
  if (r < 0) {
    char a[256], b[256];
    return fail(c, "x %s and y %s do not fit: their batch dims do not broadcast",
                type_str(a, sizeof a, x), type_str(b, sizeof b, y));
  }
  if (xr > 1)
    want.dim[r++] = tx ? x->dim[xr - 1] : x->dim[xr - 2];
  if (yr > 1)
    want.dim[r++] = ty ? y->dim[yr - 2] : y->dim[yr - 1];
  want.rank = r;
  return check_out(c, &want);
}

static int check_linear(Opd *c) {
  const MilType *x = type(c, 0), *w = type(c, 1), *b = type(c, 2);
  if (!x || !known(w) || x->rank < 1 || w->rank != 2)
    return 0;
  int64_t K = x->dim[x->rank - 1];
  if (K >= 0 && K != w->dim[1]) {
    char a[256], d[256];
    return fail(c, "x %s and weight %s do not fit: inner dims %lld and %lld",
                type_str(a, sizeof a, x), type_str(d, sizeof d, w), (long long)K,
                (long long)w->dim[1]);
  }
  if (known(b) && mil_type_numel(b) != w->dim[0])
    return fail(c, "bias has %lld elements; weight has %lld output rows",
                (long long)mil_type_numel(b), (long long)w->dim[0]);
  MilType want = *x;
  want.dim[x->rank - 1] = w->dim[0];
  return check_out(c, &want);
}

/* scaled_dot_product_attention: q [..., L, E], k [..., S, E],
 * v [..., S, Ev] give [..., L, Ev]. */
static int check_sdpa(Opd *c) {
  const MilType *q = type(c, 0), *k = type(c, 1), *v = type(c, 2);
  if (!known(q) || !known(k) || !known(v) || q->rank < 3 || k->rank != q->rank ||
      v->rank != q->rank)
    return 0;
  int r = q->rank;
  if (q->dim[r - 1] != k->dim[r - 1] || k->dim[r - 2] != v->dim[r - 2]) {
    char a[256], b[256], d[256];
    return fail(c, "query %s, key %s and value %s do not fit", type_str(a, sizeof a, q),
                type_str(b, sizeof b, k), type_str(d, sizeof d, v));
  }
  MilType want = *q;
  want.dim[r - 1] = v->dim[r - 1];
  return check_out(c, &want);
}

/* ---- tensor movement ---------------------------------------------------------- */

/* Operand k (perm, reps), one integer per axis of x (operand 0): 0, -1,
 * or 1 when not known. */
static int per_axis(Opd *c, int k, int64_t *out) {
  const MilType *x = type(c, 0);
  int n = ints(c, k, out, MIL_MAX_RANK, 0);
  if (!x || n < 0)
    return 1;
  return n == x->rank ? 0 : fail(c, "%s has %d entries; x has rank %d", oname(c, k), n, x->rank);
}

static int check_transpose(Opd *c) {
  const MilType *x = type(c, 0);
  int64_t perm[MIL_MAX_RANK];
  int rc = per_axis(c, 1, perm), k = x ? x->rank : 0;
  if (rc)
    return rc < 0 ? -1 : 0;
  bool seen[MIL_MAX_RANK] = {false};
  for (int i = 0; i < k; i++) {
    if (perm[i] < -k || perm[i] >= k)
      return fail(c, "perm entry %lld is out of range for rank %d", (long long)perm[i], k);
    int a = norm_axis(perm[i], k);
    if (seen[a])
      return fail(c, "perm is not a permutation: %d appears twice", a);
    seen[a] = true;
  }
  MilType want = *x;        /* output dim i is x's dim perm[i] */
  for (int i = 0; i < k; i++)
    want.dim[i] = x->dim[norm_axis(perm[i], k)];
  return check_out(c, &want);
}

/* reshape: -1 takes what is left; a 0 copies the dim of x it matches
 * from the right (1 when there is none). */
static int check_reshape(Opd *c) {
  const MilType *x = type(c, 0);
  int64_t sh[MIL_MAX_RANK];
  int k = ints(c, 1, sh, MIL_MAX_RANK, 0);
  if (!x || k < 0)
    return 0;
  MilType want = {.kind = MIL_TENSOR, .dtype = x->dtype, .rank = k};
  int infer = -1;
  int64_t prod = 1;
  bool all = known(x);
  const char *os = c->f->opset;
  for (int i = 0; i < k; i++) {
    int64_t v = sh[i];
    if (v == 0) {   /* iOS 15/16: needs k == rank (the backend says so); then from the right */
      if (k != x->rank && !(os && strncmp(os, "ios", 3) == 0 && atoi(os + 3) >= 17))
        return 0;
      v = x->rank - k + i >= 0 ? x->dim[x->rank - k + i] : 1;
    }
    if (v == -1) {
      if (infer >= 0)
        return fail(c, "shape has more than one -1");
      infer = i;
      continue;
    }
    if (v < 0 && !(sh[i] == 0 && v == MIL_DIM_ANY))
      return fail(c, "shape entry %lld is not a size, 0 or -1", (long long)sh[i]);
    if (v < 0)
      all = false;
    if (v > BIG)
      return too_big(c, "shape entry", v);
    want.dim[i] = v;
    if (v >= 0)
      prod *= v;
  }
  if (!all)
    return 0;
  int64_t numel = mil_type_numel(x);
  if (infer >= 0) {
    if (prod == 0 || numel % prod)
      return fail(c, "x has %lld elements, which shape cannot hold", (long long)numel);
    want.dim[infer] = numel / prod;
  } else if (prod != numel) {
    return fail(c, "shape holds %lld elements; x has %lld", (long long)prod, (long long)numel);
  }
  return check_out(c, &want);
}

/* The types of a list operand's items (values = (a, b)): their count, or
 * -1 when it is not a list or an item's type is not known. */
static int list_types(const Opd *c, int k, const MilType **out, int max) {
  const MilBind *b = c->b[k];
  if (!b || b->kind != MIL_BLIST || b->nitems < 1 || b->nitems > max)
    return -1;
  for (int j = 0; j < b->nitems; j++) {
    int def;
    if (!(out[j] = bind_type(c->f, c->opi, &b->items[j], &def)))
      return -1;
  }
  return b->nitems;
}

enum { MAXLIST = 256 };

static int check_concat(Opd *c) {
  const MilType *v[MAXLIST];
  int64_t axis, il;
  int nv = list_types(c, 0, v, MAXLIST);
  if (nv < 1 || !int1(c, 1, &axis) || !int1(c, 2, &il))
    return 0;
  const MilType *t0 = v[0];
  int a = norm_axis(axis, t0->rank);
  if (a < 0)
    return bad_axis(c, axis, t0->rank);
  MilType want = *t0;
  for (int j = 1; j < nv; j++) {
    const MilType *t = v[j];
    if (t->rank != t0->rank || t->dtype != t0->dtype)
      return fail(c, "values[%d] is rank %d %s; values[0] is rank %d %s", j, t->rank,
                  mil_dtype_name(t->dtype), t0->rank, mil_dtype_name(t0->dtype));
    for (int i = 0; i < t->rank; i++) {
      if (i == a) {
        want.dim[i] = want.dim[i] < 0 || t->dim[i] < 0 ? MIL_DIM_ANY : want.dim[i] + t->dim[i];
      } else if (t->dim[i] >= 0 && t0->dim[i] >= 0 && t->dim[i] != t0->dim[i]) {
        return fail(c, "values[%d] has %lld on axis %d; values[0] has %lld", j,
                    (long long)t->dim[i], i, (long long)t0->dim[i]);
      }
    }
  }
  return check_out(c, &want);
}

enum { SP_X, SP_NUM, SP_SIZES, SP_AXIS };

static int check_split(Opd *c) {
  const MilType *x = type(c, SP_X);
  int64_t axis, sizes[64], ns;
  if (!known(x) || !int1(c, SP_AXIS, &axis))
    return 0;
  int a = norm_axis(axis, x->rank), k;
  if (a < 0)
    return bad_axis(c, axis, x->rank);
  int64_t D = x->dim[a];
  if (has(c, SP_SIZES)) {
    if ((k = ints(c, SP_SIZES, sizes, 64, 0)) < 1)
      return 0;
    int64_t sum = 0;
    for (int i = 0; i < k; i++)
      sum += sizes[i];
    if (sum != D)
      return fail(c, "split_sizes add up to %lld; axis %d has %lld", (long long)sum, a,
                  (long long)D);
  } else {
    if (!has(c, SP_NUM))
      return fail(c, "it needs num_splits or split_sizes");
    if (!int1(c, SP_NUM, &ns))
      return 0;
    if (ns < 1 || ns > 64 || D % ns)
      return fail(c, "num_splits %lld does not divide axis %d of size %lld", (long long)ns,
                  a, (long long)D);
    k = (int)ns;
    for (int i = 0; i < k; i++)
      sizes[i] = D / ns;
  }
  if (check_nouts(c, k) < 0)
    return -1;
  for (int i = 0; i < k; i++) {
    MilType want = *x;
    want.dim[a] = sizes[i];
    if (check_out_k(c, i, &want) < 0)
      return -1;
  }
  return 0;
}

static int check_slice_by_size(Opd *c) {
  const MilType *x = type(c, 0);
  int64_t b[MIL_MAX_RANK], sz[MIL_MAX_RANK];
  if (!known(x) || ints(c, 1, b, MIL_MAX_RANK, 0) != x->rank ||
      ints(c, 2, sz, MIL_MAX_RANK, 0) != x->rank)
    return 0;
  MilType want = *x;
  for (int i = 0; i < x->rank; i++) {
    int64_t D = x->dim[i], bi = b[i] < 0 ? b[i] + D : b[i];
    int64_t len = sz[i] == -1 ? D - bi : sz[i];
    if (bi < 0 || bi > D || len < 0 || bi + len > D)
      return fail(c, "begin %lld, size %lld does not fit axis %d of size %lld",
                  (long long)b[i], (long long)sz[i], i, (long long)D);
    want.dim[i] = len;
  }
  return check_out(c, &want);
}

/* slice_by_index: Python's slice rule per axis, masks as coremltools
 * defines them. The slice of x whose begin is operand k0 (end, stride
 * and the three masks follow) into want: 0, -1, or 1 when not known. */
static int slice_shape(Opd *c, const MilType *x, int k0, MilType *want) {
  int r = x->rank;
  int64_t b[MIL_MAX_RANK], e[MIL_MAX_RANK], st[MIL_MAX_RANK], bm[MIL_MAX_RANK],
      em[MIL_MAX_RANK], sm[MIL_MAX_RANK];
  if (ints(c, k0, b, MIL_MAX_RANK, 0) != r || ints(c, k0 + 1, e, MIL_MAX_RANK, 0) != r ||
      ints(c, k0 + 2, st, MIL_MAX_RANK, r) != r || ints(c, k0 + 3, bm, MIL_MAX_RANK, r) != r ||
      ints(c, k0 + 4, em, MIL_MAX_RANK, r) != r || ints(c, k0 + 5, sm, MIL_MAX_RANK, r) != r)
    return 1;
  *want = (MilType){.kind = MIL_TENSOR, .dtype = x->dtype};
  for (int i = 0; i < r; i++) {
    int64_t D = x->dim[i], s = st[i], lo, hi;
    if (s == 0)
      return fail(c, "stride[%d] is 0", i);
    if (s > 0) {
      lo = bm[i] ? 0 : b[i] < 0 ? b[i] + D : b[i];
      hi = em[i] ? D : e[i] < 0 ? e[i] + D : e[i];
      lo = lo < 0 ? 0 : lo > D ? D : lo;
      hi = hi < 0 ? 0 : hi > D ? D : hi;
    } else {
      lo = bm[i] ? D - 1 : b[i] < 0 ? b[i] + D : b[i];
      hi = em[i] ? -1 : e[i] < 0 ? e[i] + D : e[i];
      lo = lo < -1 ? -1 : lo > D - 1 ? D - 1 : lo;
      hi = hi < -1 ? -1 : hi > D - 1 ? D - 1 : hi;
    }
    int64_t len = s > 0 ? (hi > lo ? (hi - lo + s - 1) / s : 0)
                        : (lo > hi ? (lo - hi + (-s) - 1) / (-s) : 0);
    if (sm[i]) {
      if (len != 1 && !(len == 0 && !bm[i]))
        return fail(c, "squeeze_mask drops axis %d, which the slice leaves %lld long", i,
                    (long long)len);
      continue;
    }
    want->dim[want->rank++] = len;
  }
  return 0;
}

static int check_slice_by_index(Opd *c) {
  const MilType *x = type(c, 0);
  MilType want;
  int rc = known(x) ? slice_shape(c, x, 1, &want) : 1;
  return rc ? (rc < 0 ? -1 : 0) : check_out(c, &want);
}

/* reduce_*: axes (all when absent), keep_dims; arg-reductions one axis
 * and an int32 result (or iOS17's output_dtype). Both rows: x, axes or
 * axis, keep_dims (then output_dtype). */
static int reduce_common(Opd *c, bool arg) {
  const MilType *x = type(c, 0);
  int64_t ax[MIL_MAX_RANK], kd;
  if (!x || !int1(c, 2, &kd))
    return 0;
  int r = x->rank, k;
  bool red[MIL_MAX_RANK] = {false};
  if (arg) {
    if (!int1(c, 1, ax))
      return 0;
    k = 1;
  } else if (!has(c, 1)) {
    for (k = 0; k < r; k++)
      ax[k] = k;
  } else if ((k = ints(c, 1, ax, MIL_MAX_RANK, 0)) < 0) {
    return 0;
  }
  for (int i = 0; i < k; i++) {
    int a = norm_axis(ax[i], r);
    if (a < 0)
      return bad_axis(c, ax[i], r);
    red[a] = true;
  }
  MilType want = {.kind = MIL_TENSOR, .dtype = arg ? MIL_INT32 : x->dtype};
  if (arg) {   /* iOS17's output_dtype: int32 (the default) or uint16 */
    int dt = str_dtype(c, 3);
    if (dt < 0 || (dt != MIL_INT32 && dt != MIL_UINT16))
      return str(c, 3) ? fail(c, "output_dtype '%s' is not int32 or uint16", str(c, 3)) : 0;
    want.dtype = (MilDtype)dt;
  }
  for (int i = 0; i < r; i++)
    if (!red[i] || kd)
      want.dim[want.rank++] = red[i] ? 1 : x->dim[i];
  return check_out(c, &want);
}
static int check_reduce(Opd *c) { return reduce_common(c, false); }
static int check_argreduce(Opd *c) { return reduce_common(c, true); }

/* Normalisations keep x's type. */
static int check_norm(Opd *c) { return check_unary(c); }

/* The axes operand k names (none when absent) are x's: 0 or -1. */
static int axes_of_x(Opd *c, int k) {
  const MilType *x = type(c, 0);
  int64_t ax[MIL_MAX_RANK];
  int n = x ? ints(c, k, ax, MIL_MAX_RANK, 0) : 0;
  for (int i = 0; i < n; i++)
    if (norm_axis(ax[i], x->rank) < 0)
      return bad_axis(c, ax[i], x->rank);
  return 0;
}

/* layer_norm (x axes gamma beta epsilon), reverse (x axes) and cumsum
 * (x axis ...): the axes are x's, the output x's type. */
static int check_axes(Opd *c) { return axes_of_x(c, 1) < 0 ? -1 : check_unary(c); }

/* batch_norm: x mean variance gamma beta epsilon, one value per channel. */
static int check_batch_norm(Opd *c) {
  const MilType *x = type(c, 0);
  if (x && x->rank >= 2 && x->dim[1] >= 0)
    for (int i = 1; i <= 4; i++) {
      const MilType *t = type(c, i);
      if (known(t) && mil_type_numel(t) != x->dim[1])
        return fail(c, "%s has %lld elements; x has %lld channels", oname(c, i),
                    (long long)mil_type_numel(t), (long long)x->dim[1]);
    }
  return check_unary(c);
}

/* gather: x indices axis batch_dims. */
static int check_gather(Opd *c) {
  const MilType *x = type(c, 0), *ix = type(c, 1);
  int64_t axis, bd;
  if (!x || !ix || !int1(c, 2, &axis) || !int1(c, 3, &bd))
    return 0;
  int a = norm_axis(axis, x->rank);
  if (a < 0)
    return bad_axis(c, axis, x->rank);
  if (bd < 0 || bd > a || bd > ix->rank)
    return fail(c, "batch_dims %lld does not fit axis %d and indices of rank %d",
                (long long)bd, a, ix->rank);
  MilType want = {.kind = MIL_TENSOR, .dtype = x->dtype};
  want.rank = x->rank - 1 + ix->rank - (int)bd;
  if (want.rank > MIL_MAX_RANK)
    return fail(c, "the result would have rank %d", want.rank);
  int r = 0;
  for (int i = 0; i < a; i++)
    want.dim[r++] = x->dim[i];
  for (int i = (int)bd; i < ix->rank; i++)
    want.dim[r++] = ix->dim[i];
  for (int i = a + 1; i < x->rank; i++)
    want.dim[r++] = x->dim[i];
  return check_out(c, &want);
}

/* x and indices of one rank, equal but on axis a: 0 or -1. */
static int along_axis_fits(Opd *c, const MilType *x, const MilType *ix, int a) {
  if (ix->rank != x->rank)
    return fail(c, "indices has rank %d; x has rank %d", ix->rank, x->rank);
  for (int i = 0; i < x->rank; i++)
    if (i != a && x->dim[i] >= 0 && ix->dim[i] >= 0 && x->dim[i] != ix->dim[i])
      return fail(c, "indices has %lld on axis %d; x has %lld", (long long)ix->dim[i], i,
                  (long long)x->dim[i]);
  return 0;
}

/* gather_along_axis and scatter_along_axis: x (operand 0) and indices
 * (1) along the axis operand k names: 0, -1, or 1 when not known. */
static int along_axis(Opd *c, int k) {
  const MilType *x = type(c, 0), *ix = type(c, 1);
  int64_t axis;
  if (!x || !ix || !int1(c, k, &axis))
    return 1;
  int a = norm_axis(axis, x->rank);
  return a < 0 ? bad_axis(c, axis, x->rank) : along_axis_fits(c, x, ix, a);
}

static int check_gather_along_axis(Opd *c) {
  const MilType *x = type(c, 0), *ix = type(c, 1);
  int rc = along_axis(c, 2);
  if (rc)
    return rc < 0 ? -1 : 0;
  MilType want = *ix;
  want.dtype = x->dtype;
  return check_out(c, &want);
}

static int check_gather_nd(Opd *c) {
  const MilType *x = type(c, 0), *ix = type(c, 1);
  int64_t bd;
  if (!x || !ix || ix->rank < 1 || !int1(c, 2, &bd))
    return 0;
  int64_t K = ix->dim[ix->rank - 1];
  if (K < 0)
    return 0;
  if (bd < 0 || bd + K > x->rank)
    return fail(c, "indices address %lld dims after %lld batch dims; x has rank %d",
                (long long)K, (long long)bd, x->rank);
  MilType want = {.kind = MIL_TENSOR, .dtype = x->dtype};
  for (int i = 0; i < ix->rank - 1; i++)
    want.dim[want.rank++] = ix->dim[i];
  for (int i = (int)(bd + K); i < x->rank && want.rank < MIL_MAX_RANK; i++)
    want.dim[want.rank++] = x->dim[i];
  return check_out(c, &want);
}

/* pad: 2*N entries pad x's last N dims, each a (begin, end) pair. */
static int check_pad(Opd *c) {
  const MilType *x = type(c, 0);
  int64_t p[2 * MIL_MAX_RANK];
  int k = ints(c, 1, p, 2 * MIL_MAX_RANK, 0);
  const char *mode = str(c, 2);
  if (mode && strcmp(mode, "constant") && strcmp(mode, "reflect") && strcmp(mode, "replicate"))
    return fail(c, "unknown pad mode \"%s\" (constant, reflect or replicate)", mode);
  if (!x || k < 0)
    return 0;
  if (k % 2 || k / 2 > x->rank)
    return fail(c, "pad has %d entries; it needs an even number, at most %d", k, 2 * x->rank);
  MilType want = *x;
  for (int i = 0; i < k / 2; i++) {
    int a = x->rank - k / 2 + i;
    if (p[2 * i] < 0 || p[2 * i + 1] < 0)
      return fail(c, "pad has a negative entry");
    if (want.dim[a] >= 0)
      want.dim[a] += p[2 * i] + p[2 * i + 1];
  }
  return check_out(c, &want);
}

static int check_expand_dims(Opd *c) {
  const MilType *x = type(c, 0);
  int64_t ax[MIL_MAX_RANK];
  int k = ints(c, 1, ax, MIL_MAX_RANK, 0);
  if (!x || k < 1)
    return 0;
  int r = x->rank + k;
  if (r > MIL_MAX_RANK)
    return fail(c, "the result would have rank %d", r);
  bool ins[MIL_MAX_RANK] = {false};
  for (int i = 0; i < k; i++) {
    int a = norm_axis(ax[i], r);
    if (a < 0 || ins[a])
      return fail(c, "axes entry %lld is out of range or repeated for rank %d",
                  (long long)ax[i], r);
    ins[a] = true;
  }
  MilType want = {.kind = MIL_TENSOR, .dtype = x->dtype, .rank = r};
  for (int i = 0, j = 0; i < r; i++)
    want.dim[i] = ins[i] ? 1 : x->dim[j++];
  return check_out(c, &want);
}

static int check_squeeze(Opd *c) {
  const MilType *x = type(c, 0);
  int64_t ax[MIL_MAX_RANK];
  if (!x)
    return 0;
  bool drop[MIL_MAX_RANK] = {false};
  if (!has(c, 1)) {
    if (!known(x))
      return 0;
    for (int i = 0; i < x->rank; i++)
      drop[i] = x->dim[i] == 1;
  } else {
    int k = ints(c, 1, ax, MIL_MAX_RANK, 0);
    if (k < 0)
      return 0;
    for (int i = 0; i < k; i++) {
      int a = norm_axis(ax[i], x->rank);
      if (a < 0)
        return bad_axis(c, ax[i], x->rank);
      if (x->dim[a] >= 0 && x->dim[a] != 1)
        return fail(c, "axis %d has size %lld, not 1", a, (long long)x->dim[a]);
      drop[a] = true;
    }
  }
  MilType want = {.kind = MIL_TENSOR, .dtype = x->dtype};
  for (int i = 0; i < x->rank; i++)
    if (!drop[i])
      want.dim[want.rank++] = x->dim[i];
  return check_out(c, &want);
}

/* x's shape in the dtype operand k names (cast: dtype; quantize:
 * output_dtype). */
static int retyped(Opd *c, int k) {
  const MilType *x = type(c, 0);
  int dt = str_dtype(c, k);
  if (has(c, k) && str(c, k) && dt < 0)
    return fail(c, "%s '%s' is not a dtype", oname(c, k), str(c, k));
  if (!x || dt < 0)
    return 0;
  MilType want = *x;
  want.dtype = (MilDtype)dt;
  return check_out(c, &want);
}
static int check_cast(Opd *c) { return retyped(c, 1); }
static int check_quantize(Opd *c) { return retyped(c, 4); }

/* dequantize and the dequantizing constexpr ops: data's (operand 0)
 * shape in scale's (operand 1) dtype. */
static int check_dequant(Opd *c) {
  const MilType *x = type(c, 0), *s = type(c, 1);
  if (!x || !s)
    return 0;
  MilType want = *x;
  want.dtype = s->dtype;
  return check_out(c, &want);
}

/* ---- the ops defined second: movement, scatter, sorting, images, state ---------- */

/* conv_transpose: weight [Cin, Cout / groups, k...]; each spatial axis
 * grows to (in - 1) * s + d * (k - 1) + 1 less the custom pad, in * s for
 * same; output_shape, when given, is the output's spatial shape. */
enum { CT_X, CT_W, CT_BIAS, CT_PAD, CT_OSHAPE, CT_PADT, CT_STRIDES, CT_DIL, CT_GROUPS };

static int check_conv_transpose(Opd *c) {
  const MilType *x = type(c, CT_X), *w = type(c, CT_W);
  int64_t g, os[MIL_MAX_RANK];
  if (!known(x) || !known(w) || x->rank < 3 || w->rank != x->rank || !int1(c, CT_GROUPS, &g))
    return 0;
  if (g < 1 || x->dim[1] % g || w->dim[0] != x->dim[1])
    return fail(c, "weight [%lld, %lld, ...] does not fit x with %lld channels in %lld groups",
                (long long)w->dim[0], (long long)w->dim[1], (long long)x->dim[1], (long long)g);
  int sp = x->rank - 2;
  WinVal v;
  int rc = window_params(c, (Win){CT_STRIDES, CT_DIL, CT_PAD, CT_PADT}, sp, &v);
  if (rc)
    return rc < 0 ? -1 : 0;
  MilType want = *x;
  want.dim[1] = w->dim[1] * g;
  int nos = has(c, CT_OSHAPE) ? ints(c, CT_OSHAPE, os, MIL_MAX_RANK, 0) : 0;
  for (int i = 0; i < sp; i++) {
    int64_t in = x->dim[2 + i], k = w->dim[2 + i], o;
    if (streq(v.pt, "same") || streq(v.pt, "same_lower"))
      o = in * v.s[i];
    else
      o = (in - 1) * v.s[i] + v.d[i] * (k - 1) + 1 -
          (streq(v.pt, "custom") ? v.pad[2 * i] + v.pad[2 * i + 1] : 0);
    if (nos == sp || nos == x->rank)
      o = os[nos - sp + i];
    if (o < 1)
      return fail(c, "the output would have %lld on spatial axis %d", (long long)o, i);
    want.dim[2 + i] = o;
  }
  return check_out(c, &want);
}

static int check_tile(Opd *c) {
  const MilType *x = type(c, 0);
  int64_t reps[MIL_MAX_RANK];
  int rc = per_axis(c, 1, reps), k = x ? x->rank : 0;
  if (rc)
    return rc < 0 ? -1 : 0;
  MilType want = *x;
  for (int i = 0; i < k; i++) {
    if (reps[i] < 1)
      return fail(c, "reps[%d] is %lld; it must be at least 1", i, (long long)reps[i]);
    if (reps[i] > BIG)
      return too_big(c, "reps entry", reps[i]);
    if (want.dim[i] >= 0)
      want.dim[i] *= reps[i];
  }
  return check_out(c, &want);
}

/* stack: values of one shape gain a new axis of their count. */
static int check_stack(Opd *c) {
  const MilType *v[MAXLIST];
  int64_t axis;
  int nv = list_types(c, 0, v, MAXLIST);
  if (nv < 1 || !int1(c, 1, &axis))
    return 0;
  for (int j = 1; j < nv; j++)
    if (!mil_type_eq(v[j], v[0]))
      return fail(c, "values[%d] and values[0] differ in shape or dtype", j);
  int r = v[0]->rank + 1, a = norm_axis(axis, r);
  if (a < 0)
    return bad_axis(c, axis, r);
  if (r > MIL_MAX_RANK)
    return fail(c, "the result would have rank %d", r);
  MilType want = {.kind = MIL_TENSOR, .dtype = v[0]->dtype, .rank = r};
  for (int i = 0, j = 0; i < r; i++)
    want.dim[i] = i == a ? nv : v[0]->dim[j++];
  return check_out(c, &want);
}

/* The scatter ops: data's type out; mode one of coremltools' seven. */
static int scatter_mode(Opd *c, int k) {
  static const char *const modes[] = {"add", "update", "sub", "mul", "div", "max", "min"};
  const char *m = str(c, k);
  if (!m)
    return 0;
  for (size_t i = 0; i < sizeof modes / sizeof *modes; i++)
    if (streq(m, modes[i]))
      return 0;
  return fail(c, "unknown scatter mode \"%s\" (update, add, sub, mul, div, max, min)", m);
}

/* scatter: data indices updates axis mode; updates is data's shape with
 * indices' (one-dimensional) length on axis. */
static int check_scatter(Opd *c) {
  const MilType *x = type(c, 0), *ix = type(c, 1), *u = type(c, 2);
  int64_t axis;
  if (scatter_mode(c, 4) < 0)
    return -1;
  if (!x || !int1(c, 3, &axis))
    return 0;
  int a = norm_axis(axis, x->rank);
  if (a < 0)
    return bad_axis(c, axis, x->rank);
  if (ix && ix->rank != 1)
    return fail(c, "indices has rank %d; it must be 1", ix->rank);
  if (known(x) && known(ix) && known(u)) {
    bool ok = u->rank == x->rank;
    for (int i = 0; ok && i < x->rank; i++)
      ok = u->dim[i] == (i == a ? ix->dim[0] : x->dim[i]);
    if (!ok) {
      char b1[256], b2[256];
      return fail(c, "updates %s does not fit data %s with %lld indices on axis %d",
                  type_str(b1, sizeof b1, u), type_str(b2, sizeof b2, x),
                  (long long)ix->dim[0], a);
    }
  }
  return check_out(c, x);
}

static int check_scatter_along_axis(Opd *c) {
  const MilType *x = type(c, 0), *ix = type(c, 1), *u = type(c, 2);
  int rc = scatter_mode(c, 4) < 0 ? -1 : along_axis(c, 3);
  if (rc)
    return rc < 0 ? -1 : 0;
  if (known(u) && known(ix) && !(u->rank == ix->rank &&
                                 memcmp(u->dim, ix->dim, sizeof *u->dim * u->rank) == 0))
    return fail(c, "updates and indices differ in shape");
  return check_out(c, x);
}

/* scatter_nd: indices [..., K] address data's first K dims; updates is
 * indices' batch shape, then data's dims after K. */
static int check_scatter_nd(Opd *c) {
  const MilType *x = type(c, 0), *ix = type(c, 1), *u = type(c, 2);
  if (scatter_mode(c, 3) < 0)
    return -1;
  if (!x || !known(ix) || ix->rank < 1)
    return 0;
  int64_t K = ix->dim[ix->rank - 1];
  if (K > x->rank)
    return fail(c, "indices address %lld dims; data has rank %d", (long long)K, x->rank);
  if (known(x) && known(u)) {
    bool ok = u->rank == ix->rank - 1 + x->rank - (int)K;
    for (int i = 0; ok && i < u->rank; i++)
      ok = u->dim[i] == (i < ix->rank - 1 ? ix->dim[i] : x->dim[K + i - (ix->rank - 1)]);
    if (!ok)
      return fail(c, "updates does not have the shape indices and data give");
  }
  return check_out(c, x);
}

/* topk: x k axis ascending sort return_indices output_indices_dtype:
 * values of x's dtype with k on axis, then indices. */
static int check_topk(Opd *c) {
  const MilType *x = type(c, 0);
  int64_t k, axis, ri;
  if (!x || !int1(c, 1, &k) || !int1(c, 2, &axis) || !int1(c, 5, &ri))
    return 0;
  int a = norm_axis(axis, x->rank);
  if (a < 0)
    return bad_axis(c, axis, x->rank);
  if (k < 1 || (x->dim[a] >= 0 && k > x->dim[a]))
    return fail(c, "k %lld does not fit axis %d of size %lld", (long long)k, a,
                (long long)x->dim[a]);
  int idt = str_dtype(c, 6);
  if (check_nouts(c, ri ? 2 : 1) < 0)
    return -1;
  MilType want = *x;
  want.dim[a] = k;
  if (check_out_k(c, 0, &want) < 0)
    return -1;
  want.dtype = idt < 0 ? MIL_INT32 : (MilDtype)idt;
  return ri ? check_out_k(c, 1, &want) : 0;
}

/* argsort: int32 indices of x's shape. */
static int check_argsort(Opd *c) {
  const MilType *x = type(c, 0);
  int64_t axis;
  if (!x || !int1(c, 1, &axis))
    return 0;
  if (norm_axis(axis, x->rank) < 0)
    return bad_axis(c, axis, x->rank);
  MilType want = *x;
  want.dtype = MIL_INT32;
  return check_out(c, &want);
}

/* reverse_sequence: x lengths seq_axis batch_axis. */
static int check_reverse_sequence(Opd *c) {
  return axes_of_x(c, 2) < 0 || axes_of_x(c, 3) < 0 ? -1 : check_unary(c);
}

/* one_hot: indices gain an axis of one_hot_vector_size, in on_value's
 * dtype (int32 when absent: coremltools' default is the integer 1). */
static int check_one_hot(Opd *c) {
  const MilType *ix = type(c, 0), *on = type(c, 3);
  int64_t size, axis;
  if (!ix || !int1(c, 2, &axis))
    return 0;
  int r = ix->rank + 1, a = norm_axis(axis, r);
  if (a < 0)
    return bad_axis(c, axis, r);
  if (r > MIL_MAX_RANK)
    return fail(c, "the result would have rank %d", r);
  bool ks = ints(c, 1, &size, 1, 0) == 1;
  if (ks && size < 1)
    return fail(c, "one_hot_vector_size is %lld; it must be at least 1", (long long)size);
  MilType want = {.kind = MIL_TENSOR, .dtype = on ? on->dtype : MIL_INT32, .rank = r};
  for (int i = 0, j = 0; i < r; i++)
    want.dim[i] = i == a ? (ks ? size : MIL_DIM_ANY) : ix->dim[j++];
  return check_out(c, &want);
}

/* fill: shape (a constant) of value's dtype (fp32 for the default 0.0). */
static int fill_shape(Opd *c, const int64_t *sh, int k, int val) {
  const MilType *v = type(c, val);
  MilType want = {.kind = MIL_TENSOR, .dtype = v ? v->dtype : MIL_FP32, .rank = k};
  for (int i = 0; i < k; i++) {
    if (sh[i] < 0)
      return fail(c, "shape entry %lld is negative", (long long)sh[i]);
    want.dim[i] = sh[i];
  }
  return check_out(c, &want);
}

static int check_fill(Opd *c) {
  int64_t sh[MIL_MAX_RANK];
  int k = ints(c, 0, sh, MIL_MAX_RANK, 0);
  return k < 0 ? 0 : fill_shape(c, sh, k, 1);
}

static int check_fill_like(Opd *c) {
  const MilType *r = type(c, 0);
  return known(r) ? fill_shape(c, r->dim, r->rank, 1) : 0;
}

/* shape: int32 [rank]; non_zero: int32 [?, rank]. */
static int check_shape(Opd *c) {
  const MilType *x = type(c, 0);
  MilType want = {.kind = MIL_TENSOR, .dtype = MIL_INT32, .rank = 1, .dim = {x ? x->rank : 0}};
  return x ? check_out(c, &want) : 0;
}

static int check_non_zero(Opd *c) {
  const MilType *x = type(c, 0);
  MilType want = {.kind = MIL_TENSOR, .dtype = MIL_INT32, .rank = 2,
                  .dim = {MIL_DIM_ANY, x ? x->rank : 0}};
  return x ? check_out(c, &want) : 0;
}

/* range_1d: end start step; ceil((end - start) / step) values when known. */
static int check_range_1d(Opd *c) {
  const MilType *e = type(c, 0);
  double end, start, step;
  if (!e || !float1(c, 0, &end) || !float1(c, 1, &start) || !float1(c, 2, &step))
    return 0;
  if (step == 0)
    return fail(c, "step is 0");
  double n = (end - start) / step;
  if (!(n < 1e15))   /* NaN, or more values than any tensor holds */
    return n > 0 ? fail(c, "the range would have %g values", n) : 0;
  int64_t len = n <= 0 ? 0 : (int64_t)n + ((double)(int64_t)n < n);
  MilType want = {.kind = MIL_TENSOR, .dtype = e->dtype, .rank = 1, .dim = {len}};
  return check_out(c, &want);
}

/* flatten2d: [prod(dims before axis), prod(the rest)]. */
static int check_flatten2d(Opd *c) {
  const MilType *x = type(c, 0);
  int64_t axis;
  if (!known(x) || !int1(c, 1, &axis))
    return 0;
  int a = axis < -x->rank || axis > x->rank ? -1 : (int)(axis < 0 ? axis + x->rank : axis);
  if (a < 0)
    return bad_axis(c, axis, x->rank);
  MilType want = {.kind = MIL_TENSOR, .dtype = x->dtype, .rank = 2, .dim = {1, 1}};
  for (int i = 0; i < x->rank; i++)
    want.dim[i >= a] *= x->dim[i];
  return check_out(c, &want);
}

/* select: cond, a and b broadcast together; a's dtype. */
static int check_select(Opd *c) {
  const MilType *t[3] = {type(c, 0), type(c, 1), type(c, 2)};
  if (!known(t[0]) || !known(t[1]) || !known(t[2]))
    return 0;
  MilType want = {.kind = MIL_TENSOR, .dtype = t[1]->dtype};
  int64_t ab[MIL_MAX_RANK];
  int r = broadcast_dims(t[1]->dim, t[1]->rank, t[2]->dim, t[2]->rank, ab);
  if (r >= 0)
    r = broadcast_dims(t[0]->dim, t[0]->rank, ab, r, want.dim);
  if (r < 0) {
    char b0[256], b1[256], b2[256];
    return fail(c, "cannot broadcast cond %s, a %s and b %s", type_str(b0, sizeof b0, t[0]),
                type_str(b1, sizeof b1, t[1]), type_str(b2, sizeof b2, t[2]));
  }
  want.rank = r;
  return check_out(c, &want);
}

/* The rank-4 rearrangements ([N, C, H, W]): space_to_depth and
 * pixel_unshuffle fold b x b blocks into channels, depth_to_space and
 * pixel_shuffle unfold them. */
static int rearrange(Opd *c, bool fold) {
  const MilType *x = type(c, 0);
  int64_t b;
  if (!known(x) || !int1(c, 1, &b))
    return 0;
  if (x->rank != 4)
    return fail(c, "x has rank %d; it must be 4", x->rank);
  if (b < 1)
    return fail(c, "%s is %lld; it must be at least 1", oname(c, 1), (long long)b);
  if (b > 65535)
    return too_big(c, oname(c, 1), b);
  MilType want = *x;
  if (fold) {
    if (x->dim[2] % b || x->dim[3] % b)
      return fail(c, "%s %lld does not divide x's height %lld and width %lld", oname(c, 1),
                  (long long)b, (long long)x->dim[2], (long long)x->dim[3]);
    want.dim[1] *= b * b, want.dim[2] /= b, want.dim[3] /= b;
  } else {
    if (x->dim[1] % (b * b))
      return fail(c, "%s %lld squared does not divide x's %lld channels", oname(c, 1),
                  (long long)b, (long long)x->dim[1]);
    want.dim[1] /= b * b, want.dim[2] *= b, want.dim[3] *= b;
  }
  return check_out(c, &want);
}
static int check_fold(Opd *c) { return rearrange(c, true); }
static int check_unfold(Opd *c) { return rearrange(c, false); }

/* space_to_batch (paddings) and batch_to_space (crops): block_shape [2]
 * over H and W, a [2, 2] pad or crop. */
static int batch_space(Opd *c, bool to_batch) {
  const MilType *x = type(c, 0);
  int64_t bs[2], p[4];
  if (!known(x) || ints(c, 1, bs, 2, 0) != 2 || ints(c, 2, p, 4, 0) != 4)
    return 0;
  if (x->rank != 4)
    return fail(c, "x has rank %d; it must be 4", x->rank);
  MilType want = *x;
  for (int i = 0; i < 2; i++) {
    if (bs[i] < 1 || p[2 * i] < 0 || p[2 * i + 1] < 0)
      return fail(c, "block_shape must be positive and %s not negative", oname(c, 2));
    if (bs[i] > 65535 || p[2 * i] > BIG || p[2 * i + 1] > BIG)
      return fail(c, "block_shape or %s is too large", oname(c, 2));
    int64_t d = x->dim[2 + i];
    if (to_batch) {
      d += p[2 * i] + p[2 * i + 1];
      if (d % bs[i])
        return fail(c, "block_shape[%d] %lld does not divide the padded size %lld", i,
                    (long long)bs[i], (long long)d);
      want.dim[2 + i] = d / bs[i];
    } else {
      want.dim[2 + i] = d * bs[i] - p[2 * i] - p[2 * i + 1];
      if (want.dim[2 + i] < 0)
        return fail(c, "crops remove more than axis %d holds", 2 + i);
    }
  }
  if (to_batch) {
    want.dim[0] *= bs[0] * bs[1];
  } else {
    if (x->dim[0] % (bs[0] * bs[1]))
      return fail(c, "the block size %lld does not divide the batch %lld",
                  (long long)(bs[0] * bs[1]), (long long)x->dim[0]);
    want.dim[0] /= bs[0] * bs[1];
  }
  return check_out(c, &want);
}
static int check_space_to_batch(Opd *c) { return batch_space(c, true); }
static int check_batch_to_space(Opd *c) { return batch_space(c, false); }

/* sliding_windows: axis's D becomes (D - size) / stride + 1 windows,
 * followed by an axis of size. */
static int check_sliding_windows(Opd *c) {
  const MilType *x = type(c, 0);
  int64_t axis, size, stride;
  if (!known(x) || !int1(c, 1, &axis) || !int1(c, 2, &size) || !int1(c, 3, &stride))
    return 0;
  int a = norm_axis(axis, x->rank);
  if (a < 0)
    return bad_axis(c, axis, x->rank);
  if (size < 1 || stride < 1 || size > x->dim[a])
    return fail(c, "size %lld, stride %lld do not fit axis %d of size %lld", (long long)size,
                (long long)stride, a, (long long)x->dim[a]);
  if (x->rank + 1 > MIL_MAX_RANK)
    return fail(c, "the result would have rank %d", x->rank + 1);
  MilType want = {.kind = MIL_TENSOR, .dtype = x->dtype, .rank = x->rank + 1};
  for (int i = 0, j = 0; i < x->rank; i++) {
    want.dim[j++] = i == a ? (x->dim[a] - size) / stride + 1 : x->dim[i];
    if (i == a)
      want.dim[j++] = size;
  }
  return check_out(c, &want);
}

/* The resizing ops on [..., H, W]: the two sizes from two operands. */
static int resized(Opd *c, int64_t h, int64_t w) {
  const MilType *x = type(c, 0);
  if (!x)
    return 0;
  if (x->rank < 3)
    return fail(c, "x has rank %d; it must be at least 3", x->rank);
  if (h < 1 || w < 1)
    return fail(c, "the output would be %lld x %lld", (long long)h, (long long)w);
  MilType want = *x;
  want.dim[x->rank - 2] = h, want.dim[x->rank - 1] = w;
  return check_out(c, &want);
}

/* upsample_*: floor(size * scale factor). */
static int check_upsample(Opd *c) {
  const MilType *x = type(c, 0);
  double sh, sw;
  if (!known(x) || x->rank < 3 || !float1(c, 1, &sh) || !float1(c, 2, &sw))
    return resized(c, 1, 1) < 0 ? -1 : 0;
  if (!has(c, 1))
    sh = 1;
  if (!has(c, 2))
    sw = 1;
  double h = (double)x->dim[x->rank - 2] * sh, w = (double)x->dim[x->rank - 1] * sw;
  if (!(h < BIG && w < BIG))   /* NaN too */
    return fail(c, "scale factors %g, %g give a result too large", sh, sw);
  return resized(c, (int64_t)(h > 0 ? h : 0), (int64_t)(w > 0 ? w : 0));
}

static int check_resize_to(Opd *c) {
  int64_t h, w;
  return int1(c, 1, &h) && int1(c, 2, &w) ? resized(c, h, w) : 0;
}

/* crop: crop_height and crop_width each remove (begin, end). */
static int check_crop(Opd *c) {
  const MilType *x = type(c, 0);
  int64_t ch[2], cw[2];
  if (!known(x) || x->rank < 3 || ints(c, 1, ch, 2, 0) != 2 || ints(c, 2, cw, 2, 0) != 2)
    return 0;
  if (ch[0] < 0 || ch[1] < 0 || cw[0] < 0 || cw[1] < 0)
    return fail(c, "crop_height and crop_width must not be negative");
  if (ch[0] > BIG || ch[1] > BIG || cw[0] > BIG || cw[1] > BIG)
    return fail(c, "crop_height or crop_width is too large");
  return resized(c, x->dim[x->rank - 2] - ch[0] - ch[1], x->dim[x->rank - 1] - cw[0] - cw[1]);
}

/* slice_update: x update begin end stride masks; update has the shape
 * the slice of x selects; the output is x's type. */
static int check_slice_update(Opd *c) {
  const MilType *x = type(c, 0), *u = type(c, 1);
  MilType want;
  int rc = known(x) ? slice_shape(c, x, 2, &want) : 1;
  if (rc)
    return rc < 0 ? -1 : 0;
  if (known(u) && !(u->rank == want.rank &&
                    memcmp(u->dim, want.dim, sizeof *u->dim * u->rank) == 0)) {
    char b1[256], b2[256];
    want.dtype = u->dtype;
    return fail(c, "update is %s; the slice is %s", type_str(b1, sizeof b1, u),
                type_str(b2, sizeof b2, &want));
  }
  return check_out(c, x);
}

/* constexpr_cast: source_val in output_dtype. */
static int check_constexpr_cast(Opd *c) { return retyped(c, 1); }

/* constexpr_sparse_to_dense: iOS18 gives mask's shape, iOS16 shape's
 * values; nonzero_data's dtype. */
static int check_sparse_to_dense(Opd *c) {
  const MilType *d = type(c, 0), *m = type(c, 1);
  int64_t sh[MIL_MAX_RANK];
  int k = has(c, 2) ? ints(c, 2, sh, MIL_MAX_RANK, 0) : -1;
  if (!d || (!m && k < 0))
    return 0;
  MilType want = k >= 0 ? (MilType){.kind = MIL_TENSOR, .rank = k} : *m;
  for (int i = 0; i < k; i++)
    want.dim[i] = sh[i];
  want.dtype = d->dtype;
  return check_out(c, &want);
}

/* constexpr_lut_to_dense: iOS16 (lut [2^nbits], shape) gives shape; iOS18
 * (lut [..., 2^nbits, vector size]) indices' shape; lut's dtype. */
static int check_lut_to_dense(Opd *c) {
  const MilType *ix = type(c, 0), *lut = type(c, 1);
  int64_t sh[MIL_MAX_RANK];
  int k = has(c, 2) ? ints(c, 2, sh, MIL_MAX_RANK, 0) : -1;
  if (!lut || (!ix && k < 0))
    return 0;
  MilType want;
  if (k >= 0) {
    want = (MilType){.kind = MIL_TENSOR, .rank = k};
    for (int i = 0; i < k; i++)
      want.dim[i] = sh[i];
  } else {
    int64_t axis;
    want = *ix;
    int vs = lut->rank >= 1 ? (int)lut->dim[lut->rank - 1] : 1;
    if (vs > 1 && has(c, 3) && int1(c, 3, &axis)) {
      int a = norm_axis(axis, ix->rank);
      if (a < 0)
        return bad_axis(c, axis, ix->rank);
      if (want.dim[a] >= 0)
        want.dim[a] *= vs;
    }
  }
  want.dtype = lut->dtype;
  return check_out(c, &want);
}

/* lstm (4 gates), gru (3) and rnn (1): x [S, B, I], weight_ih [G * H, I],
 * weight_hh [G * H, H]; outputs [S (1 without output_sequence), B, D * H],
 * then [B, D * H] (h, and c for lstm), D = 2 for a bidirectional lstm.
 * Operands by index: ih, hh, direction, output_sequence. */
static int recurrent(Opd *c, int G, int ih, int dir, int seq) {
  const MilType *x = type(c, 0), *wi = type(c, ih), *wh = type(c, ih + 1);
  const char *d = str(c, dir);
  bool lstm = G == 4;
  if (d && !streq(d, "forward") && !streq(d, "reverse") && !(lstm && streq(d, "bidirectional")))
    return streq(d, "bidirectional")   /* the cpu backend's words */
               ? fail(c, "direction \"bidirectional\" is an lstm direction (forward or reverse "
                      "here)")
               : fail(c, "direction \"%s\" is not supported (forward, reverse%s)", d,
                      lstm ? " or bidirectional" : "");
  int D = d && streq(d, "bidirectional") ? 2 : 1;
  if (D == 2 && (!has(c, 7) || !has(c, 8)))
    return fail(c, "a bidirectional lstm needs weight_ih_back and weight_hh_back");
  int64_t os;
  if (!known(x) || !known(wi) || !known(wh) || !int1(c, seq, &os))
    return 0;
  if (x->rank != 3)
    return fail(c, "x has rank %d; it must be 3 ([S, B, I])", x->rank);
  int64_t H = wh->rank == 2 ? wh->dim[1] : -1;
  if (wi->rank != 2 || wh->rank != 2 || wh->dim[0] != G * H || wi->dim[0] != G * H ||
      wi->dim[1] != x->dim[2])
    return fail(c, "weight_ih and weight_hh must be [%d * H, %lld] and [%d * H, H]", G,
                (long long)x->dim[2], G);
  if (check_nouts(c, lstm ? 3 : 2) < 0)
    return -1;
  MilType want = {.kind = MIL_TENSOR, .dtype = x->dtype, .rank = 3,
                  .dim = {os ? x->dim[0] : 1, x->dim[1], D * H}};
  if (check_out_k(c, 0, &want) < 0)
    return -1;
  want.rank = 2, want.dim[0] = x->dim[1], want.dim[1] = D * H;
  for (int k = 1; k < c->op->nouts; k++)
    if (check_out_k(c, k, &want) < 0)
      return -1;
  return 0;
}
static int check_lstm(Opd *c) { return recurrent(c, 4, 3, 11, 12); }
static int check_gru(Opd *c) { return recurrent(c, 3, 2, 5, 6); }
static int check_rnn(Opd *c) { return recurrent(c, 1, 2, 5, 6); }

/* read_state: the tensor its state input holds. */
static int check_read_state(Opd *c) {
  const MilBind *b = c->b[0];
  int def;
  if (!b || b->kind != MIL_BREF)
    return 0;
  const MilVar *v = mil_ref_var(c->f, b, c->opi, &def);
  const MilType *t = v ? v->type : NULL;
  if (!t || t->kind != MIL_STATE || t->nsub != 1 || !t->sub[0] || t->sub[0]->kind != MIL_TENSOR)
    return t ? fail(c, "operand 'input' is not a state (a function input of type state<...>)") : 0;
  return check_out(c, t->sub[0]);
}


/* ---- image resampling, einsum, reshape_like, the iOS18 sparse constexprs ------- */

/* affine: x [B, C, H, W] and transform_matrix [B', 6] give
 * [B, C, output_height, output_width]. */
static int check_affine(Opd *c) {
  const MilType *x = type(c, 0), *m = type(c, 1);
  int64_t h, w;
  if (!x || !m)
    return 0;
  if (x->rank != 4)
    return fail(c, "x has rank %d; it must be 4", x->rank);
  if (m->rank != 2 || (m->dim[1] >= 0 && m->dim[1] != 6))
    return fail(c, "transform_matrix must be [B, 6]");
  if (!int1(c, 2, &h) || !int1(c, 3, &w))
    return 0;
  if (h < 0 || w < 0 || h > BIG || w > BIG)
    return fail(c, "output_height and output_width must be sizes");
  MilType want = *x;
  want.dim[2] = h, want.dim[3] = w;
  return check_out(c, &want);
}

/* resample: x [B, C, H, W] at coordinates [B, H', W', 2] gives
 * [B, C, H', W']. */
static int check_resample(Opd *c) {
  const MilType *x = type(c, 0), *k = type(c, 1);
  if (!x || !k)
    return 0;
  if (x->rank != 4 || k->rank != 4)
    return fail(c, "x and coordinates must have rank 4 (they have %d and %d)", x->rank,
                k->rank);
  if (x->dim[0] >= 0 && k->dim[0] >= 0 && x->dim[0] != k->dim[0])
    return fail(c, "x has batch %lld; coordinates has %lld", (long long)x->dim[0],
                (long long)k->dim[0]);
  if (k->dim[3] >= 0 && k->dim[3] != 2)
    return fail(c, "coordinates' last dim is %lld; it must be 2", (long long)k->dim[3]);
  MilType want = *x;
  want.dim[2] = k->dim[1], want.dim[3] = k->dim[2];
  return check_out(c, &want);
}

/* resize (iOS17): the last resized_dims dims of x take the last
 * resized_dims entries of shape (0 keeps x's dim; '?' when shape is not a
 * constant). */
static int check_resize(Opd *c) {
  const MilType *x = type(c, 0), *s = type(c, 1);
  int64_t rd, sh[MIL_MAX_RANK];
  if (!x || !s || !int1(c, 2, &rd))
    return 0;
  if (s->rank != 1)
    return fail(c, "shape has rank %d; it must be 1", s->rank);
  int n = s->dim[0] >= 0 && s->dim[0] <= MIL_MAX_RANK ? (int)s->dim[0] : -1;
  if (s->dim[0] > x->rank)
    return fail(c, "shape has %lld entries; x has rank %d", (long long)s->dim[0], x->rank);
  if (n < 0)
    return 0;
  if (rd < 0 || rd > n)
    return fail(c, "resized_dims %lld is more than shape's %d entries", (long long)rd, n);
  bool vals = ints(c, 1, sh, MIL_MAX_RANK, 0) == n;
  MilType want = *x;
  for (int i = 0; i < rd; i++) {
    int d = x->rank - (int)rd + i;
    int64_t v = vals ? sh[n - rd + i] : MIL_DIM_ANY;
    if (vals && (v < 0 || v > BIG))
      return fail(c, "shape entry %lld is not a size", (long long)v);
    want.dim[d] = v == 0 ? x->dim[d] : v;
  }
  return check_out(c, &want);
}

/* crop_resize: iOS15/16's roi [N, 1, 5, 1, 1] gives [N, B, C, target_height,
 * target_width]; iOS17's boxes [N, 4] give [N, C, target_height,
 * target_width]. Operands: x roi boxes box_indices target_height
 * target_width. */
static int check_crop_resize(Opd *c) {
  const MilType *x = type(c, 0), *roi = type(c, 1), *bx = type(c, 2), *bi = type(c, 3);
  int64_t th, tw;
  if (!has(c, 1) && !has(c, 2))
    return fail(c, "missing operand 'roi'");
  if (!x || !int1(c, 4, &th) || !int1(c, 5, &tw))
    return 0;
  if (x->rank != 4)
    return fail(c, "x has rank %d; it must be 4", x->rank);
  if (th < 0 || tw < 0 || th > BIG || tw > BIG)
    return fail(c, "target_height and target_width must be sizes");
  MilType want = {.kind = MIL_TENSOR, .dtype = x->dtype};
  if (roi) {
    if (roi->rank != 5)
      return fail(c, "roi has rank %d; it must be 5", roi->rank);
    want.rank = 5;
    want.dim[0] = roi->dim[0], want.dim[1] = x->dim[0], want.dim[2] = x->dim[1];
  } else if (bx) {
    if (bx->rank != 2 || (bx->dim[1] >= 0 && bx->dim[1] != 4))
      return fail(c, "boxes must be [N, 4]");
    if (bi && (bi->rank != 1 || (bi->dim[0] >= 0 && bx->dim[0] >= 0 && bi->dim[0] != bx->dim[0])))
      return fail(c, "box_indices must be [%lld]", (long long)bx->dim[0]);
    want.rank = 4;
    want.dim[0] = bx->dim[0], want.dim[1] = x->dim[1];
  } else {
    return 0;
  }
  want.dim[want.rank - 2] = th, want.dim[want.rank - 1] = tw;
  return check_out(c, &want);
}

/* einsum: the two equations coremltools takes, with each letter numbered
 * by its first appearance: "abcd,adce->abce" (rank 4) and "abc,cbd->abd"
 * (rank 3); batch-like dims broadcast (the larger when both are known). */
static int check_einsum(Opd *c) {
  const MilType *v[2];
  const char *eq = str(c, 1);
  if (list_types(c, 0, v, 2) != 2 || !c->b[0] || c->b[0]->nitems != 2)
    return c->b[0] && c->b[0]->kind == MIL_BLIST && c->b[0]->nitems != 2
               ? fail(c, "values has %d items; it must have 2", c->b[0]->nitems)
               : 0;
  if (!eq)
    return 0;
  char num[64] = "", seen[128] = {0};
  int next = 0, o = 0;
  for (const char *p = eq; *p && o < 63; p++)
    if (*p == ',' || *p == '-' || *p == '>')
      num[o++] = *p;
    else if ((unsigned char)*p < 128 && *p != ' ') {
      int ch = (unsigned char)*p;
      if (!seen[ch])
        seen[ch] = (char)++next;
      num[o++] = (char)('0' + seen[ch] - 1);
    }
  num[o] = '\0';
  int r = streq(num, "0123,0324->0124") ? 4 : streq(num, "012,213->013") ? 3 : 0;
  if (!r)
    return fail(c, "unsupported einsum equation \"%s\" (the opset allows \"nchw,nwhu->nchu\" "
                "and \"chw,whr->chr\", up to renaming)", eq);   /* the cpu backend's words */
  const MilType *x = v[0], *y = v[1];
  if (x->dtype != y->dtype || x->rank != r || y->rank != r) {
    char a[256], b[256];
    return fail(c, "values %s and %s do not fit the equation", type_str(a, sizeof a, x),
                type_str(b, sizeof b, y));
  }
  int64_t x1 = x->dim[r - 1], y3 = y->dim[r - 3], x2 = x->dim[r - 2], y2 = y->dim[r - 2];
  int64_t x4 = r == 4 ? x->dim[0] : 1, y4 = r == 4 ? y->dim[0] : 1;
  if ((x1 >= 0 && y3 >= 0 && x1 != y3) || (x2 >= 0 && y2 >= 0 && x2 != 1 && y2 != 1 && x2 != y2) ||
      (x4 >= 0 && y4 >= 0 && x4 != 1 && y4 != 1 && x4 != y4)) {
    char a[256], b[256];
    return fail(c, "values %s and %s do not fit the equation", type_str(a, sizeof a, x),
                type_str(b, sizeof b, y));
  }
  MilType want = {.kind = MIL_TENSOR, .dtype = x->dtype, .rank = r};
  want.dim[r - 1] = y->dim[r - 1];
  want.dim[r - 3] = x->dim[r - 3];
  want.dim[r - 2] = x2 < 0 || y2 < 0 ? MIL_DIM_ANY : x2 > y2 ? x2 : y2;
  if (r == 4)
    want.dim[0] = x4 < 0 || y4 < 0 ? MIL_DIM_ANY : x4 > y4 ? x4 : y4;
  return check_out(c, &want);
}

static const MilValue *bind_const(const MilFunc *f, int opi, const MilBind *b);

/* The constant of list operand k's item j as one integer (bool too). */
static bool list_int(const Opd *c, int k, int j, int64_t *out) {
  const MilValue *v = bind_const(c->f, c->opi, &c->b[k]->items[j]);
  if (!v || v->kind != MIL_VDATA || v->n != 1 || !v->i)
    return false;
  *out = v->i[0];
  return true;
}

/* reshape_like: the dims [begin, end) (to the end with end_mask) of each
 * ref tensor, joined, as Python slices them; as many elements as x. */
static int check_reshape_like(Opd *c) {
  const MilType *x = type(c, 0), *ref[MIL_MAX_RANK];
  int nr = list_types(c, 1, ref, MIL_MAX_RANK);
  if (nr < 1 || !x)
    return 0;
  for (int k = 2; k <= 4; k++)
    if (!c->b[k] || c->b[k]->kind != MIL_BLIST || c->b[k]->nitems != nr)
      return fail(c, "ref_tensors, begins, ends and end_masks must have the same length");
  MilType want = {.kind = MIL_TENSOR, .dtype = x->dtype};
  for (int j = 0; j < nr; j++) {
    int64_t b, e, m, n = ref[j]->rank;
    if (!list_int(c, 2, j, &b) || !list_int(c, 3, j, &e) || !list_int(c, 4, j, &m))
      return 0;
    b = b < 0 ? (b + n < 0 ? 0 : b + n) : b > n ? n : b;
    e = m ? n : e < 0 ? (e + n < 0 ? 0 : e + n) : e > n ? n : e;
    for (int64_t i = b; i < e; i++) {
      if (want.rank == MIL_MAX_RANK)
        return fail(c, "the result would have rank above %d", MIL_MAX_RANK);
      if (ref[j]->dim[i] < 0)
        return 0;
      want.dim[want.rank++] = ref[j]->dim[i];
    }
  }
  if (known(x) && mil_type_numel(x) != mil_type_numel(&want))
    return fail(c, "x has %lld elements; the shape the ref tensors give holds %lld",
                (long long)mil_type_numel(x), (long long)mil_type_numel(&want));
  return check_out(c, &want);
}

/* The two outputs of the iOS18 sparse constexprs: mask's type, then the
 * nonzero values' shape in dtype dt. */
static int sparse_outs(Opd *c, const MilType *mask, const MilType *nz, MilDtype dt) {
  if (check_nouts(c, 2) < 0 || check_out_k(c, 0, mask) < 0)
    return -1;
  MilType want = *nz;
  want.dtype = dt;
  return check_out_k(c, 1, &want);
}

/* constexpr_lut_to_sparse: indices_mask indices_nonzero_data lut
 * vector_axis; a vector size (lut's last dim) above 1 scales the mask on
 * vector_axis and every dim of the nonzero data. */
static int check_lut_to_sparse(Opd *c) {
  const MilType *m = type(c, 0), *nz = type(c, 1), *lut = type(c, 2);
  if (!known(m) || !known(nz) || !known(lut) || lut->rank < 1)
    return 0;
  int64_t vs = lut->dim[lut->rank - 1], axis;
  MilType mask = *m, data = *nz;
  if (vs > 1) {
    if (!has(c, 3) || !int1(c, 3, &axis))
      return 0;   /* without vector_axis: the backend's to refuse */
    int a = norm_axis(axis, m->rank);
    if (a < 0)
      return bad_axis(c, axis, m->rank);
    if (vs > BIG)
      return too_big(c, "vector size", vs);
    mask.dim[a] *= vs;
    for (int i = 0; i < data.rank; i++)
      data.dim[i] *= vs;
  }
  return sparse_outs(c, &mask, &data, lut->dtype);
}

/* constexpr_sparse_blockwise_shift_scale: data_mask's type, and
 * nonzero_data's shape in scale's dtype. */
static int check_sparse_shift_scale(Opd *c) {
  const MilType *m = type(c, 0), *nz = type(c, 1), *s = type(c, 2);
  return known(m) && known(nz) && s ? sparse_outs(c, m, nz, s->dtype) : 0;
}

/* The state ops: read_state gives the state's tensor; write_state and
 * the recurrent ops' operands are checked by the row alone. */
static int check_none(Opd *c) {
  (void)c;
  return 0;
}

/* ---- the table ----------------------------------------------------------------- */

#define UNARY(name) {name, check_unary, "fp16 fp32", "x:T"}
#define UNARY_INT(name) {name, check_unary, "fp16 fp32 int32", "x:T"}
#define ACT1(name) {name, check_unary, "fp16 fp32", "x:T alpha:f"}
#define ACT2(name) {name, check_unary, "fp16 fp32", "x:T alpha:f beta:f"}
#define BINARY(name) {name, check_arith, "fp16 fp32 int32", "x:T y:T"}
#define COMPARE(name) {name, check_compare, "fp16 fp32 int32 bool", "x:T y:T"}
#define LOGIC(name) {name, check_compare, "bool", "x:T y:T"}
#define REDUCE(name) {name, check_reduce, "fp16 fp32 int32", "x:T axes?:i! keep_dims?:b!=false"}
#define POOL(name) {name, check_pool, "fp16 fp32", \
    "x:T kernel_sizes:i! strides?:i!=1 pad_type:s! pad?:i!=0 ceil_mode?:b!=false " \
    "exclude_padding_from_average?:b!=false"}
/* any dtype a tensor op moves */
#define ANY "*"

static const Row defs[] = {
  UNARY_INT("abs"), UNARY("acos"), BINARY("add"),
  {"affine", check_affine, "fp16 fp32",
   "x:T transform_matrix:T output_height:i! output_width:i! sampling_mode:s! padding_mode:s! "
   "padding_value:T coordinates_mode:s! align_corners:b!"},
  {"argsort", check_argsort, "fp16 fp32 int32", "x:T axis?:i!=-1 ascending?:b!=false"},
  UNARY("asin"), UNARY("atan"), UNARY("atanh"), POOL("avg_pool"),
  {"band_part", check_unary, "fp16 fp32 int32 bool", "x:T lower?:i!=-1 upper?:i!=-1"},
  {"batch_norm", check_batch_norm, "fp16 fp32",
   "x:T mean:f variance:f gamma?:f beta?:f epsilon?:f"},
  {"batch_to_space", check_batch_to_space, "fp16 fp32", "x:T block_shape:i! crops:i!"},
  {"cast", check_cast, ANY, "x dtype:s"}, UNARY("ceil"), ACT2("clamped_relu"),
  {"clip", check_clip, "fp16 fp32", "x:T alpha:f#! beta:f#!"},
  {"concat", check_concat, ANY, "values:T axis:i! interleave?:b!=false"},
  {"constexpr_affine_dequantize", check_dequant, ANY,
   "quantized_data:i scale:f zero_point axis:i"},
  {"constexpr_blockwise_shift_scale", check_dequant, ANY, "data scale:f offset?"},
  {"constexpr_cast", check_constexpr_cast, ANY, "source_val output_dtype:s"},
  {"constexpr_lut_to_dense", check_lut_to_dense, ANY, "indices lut shape? vector_axis?:i"},
  {"constexpr_lut_to_sparse", check_lut_to_sparse, ANY,
   "indices_mask indices_nonzero_data lut vector_axis?:i"},
  {"constexpr_sparse_blockwise_shift_scale", check_sparse_shift_scale, ANY,
   "data_mask nonzero_data scale:f offset?"},
  {"constexpr_sparse_to_dense", check_sparse_to_dense, ANY, "nonzero_data mask shape?"},
  {"conv", check_conv, "fp16 fp32",
   "x:T weight:f bias?:f strides?:i!=1 pad_type?:s!=valid pad?:i!=0 dilations?:i!=1 "
   "groups?:i!=1"},
  {"conv_quantized", check_conv, "fp16 fp32",   /* check_conv's operand order, then its own */
   "x:T weight:i bias? strides?:i!=1 pad_type?:s!=valid pad?:i!=0 dilations?:i!=1 groups?:i!=1 "
   "quantization_type:s! nbits?:i!=8 quant_scale:T quant_bias:T"},
  {"conv_transpose", check_conv_transpose, "fp16 fp32",
   "x:T weight:f bias?:f pad?:i!=0 output_shape?:i! pad_type?:s!=valid strides?:i!=1 "
   "dilations?:i!=1 groups?:i!=1"},
  UNARY("cos"), UNARY("cosh"),
  {"crop", check_crop, "fp16 fp32", "x:T crop_height:i! crop_width:i!"},
  {"crop_resize", check_crop_resize, "fp16 fp32",   /* roi up to iOS16, boxes from iOS17 */
   "x:T roi? boxes? box_indices? target_height?:i!=1 target_width?:i!=1 "
   "normalized_coordinates?:b!=false spatial_scale?:f!=1 "
   "box_coordinate_mode?:s!=CORNERS_HEIGHT_FIRST sampling_mode?:s!=DEFAULT pad_value?:f"},
  {"cumsum", check_axes, "fp16 fp32 int32",
   "x:T axis?:i!=0 exclusive?:b!=false reverse?:b!=false"},
  {"depth_to_space", check_unfold, "fp16 fp32", "x:T block_size:i!"},
  {"dequantize", check_dequant, ANY, "input:i scale:f zero_point? axis?:i"},
  {"einsum", check_einsum, "fp16 fp32", "values:T equation:s!"}, ACT1("elu"), COMPARE("equal"),
  UNARY("erf"), UNARY("exp"), UNARY_INT("exp2"),
  {"expand_dims", check_expand_dims, ANY, "x axes:i!"},
  {"fill", check_fill, "fp16 fp32 int32 bool", "shape:i value?:T"},
  {"fill_like", check_fill_like, ANY, "ref_tensor value?"},
  {"flatten2d", check_flatten2d, "fp16 fp32 int32 bool", "x:T axis?:i!=1"},
  UNARY("floor"), BINARY("floor_div"),
  {"gather", check_gather, ANY, "x indices:i axis?:i=0 batch_dims?:i=0 validate_indices?:b"},
  {"gather_along_axis", check_gather_along_axis, ANY,
   "x indices:i axis?:i=0 validate_indices?:b"},
  {"gather_nd", check_gather_nd, ANY, "x indices:i batch_dims?:i=0 validate_indices?:b"},
  {"gelu", check_unary, "fp16 fp32", "x:T mode?:s=EXACT"}, COMPARE("greater"),
  COMPARE("greater_equal"),
  {"gru", check_gru, "fp16 fp32",
   "x:T initial_h:T weight_ih:T weight_hh:T bias?:T direction?:s!=forward "
   "output_sequence?:b!=false recurrent_activation?:s!=sigmoid activation?:s!=tanh "
   "reset_after?:b!=false input_bias?:T"},
  {"identity", check_unary, ANY, "x"},
  {"instance_norm", check_norm, "fp16 fp32", "x:T gamma?:f beta?:f epsilon?:f"},
  {"inverse", check_unary, "fp16 fp32", "x:T epsilon?:f"},
  {"l2_norm", check_norm, "fp16 fp32", "x:T epsilon?:f"}, POOL("l2_pool"),
  {"layer_norm", check_axes, "fp16 fp32", "x:T axes?:i gamma?:f beta?:f epsilon?:f"},
  ACT1("leaky_relu"), COMPARE("less"), COMPARE("less_equal"),
  {"linear", check_linear, "fp16 fp32 int32", "x:T weight:T bias?:T"},
  ACT2("linear_activation"),
  {"local_response_norm", check_norm, "fp16 fp32", "x:T size:i alpha?:f beta?:f k?:f"},
  {"log", check_unary, "fp16 fp32", "x:T epsilon?:f"}, LOGIC("logical_and"),
  {"logical_not", check_unary, "bool", "x:T"}, LOGIC("logical_or"), LOGIC("logical_xor"),
  {"lstm", check_lstm, "fp16 fp32",
   "x:T initial_h:T initial_c:T weight_ih:T weight_hh:T bias?:T peephole?:T weight_ih_back?:T "
   "weight_hh_back?:T bias_back?:T peephole_back?:T direction?:s!=forward "
   "output_sequence?:b!=false recurrent_activation?:s!=sigmoid cell_activation?:s!=tanh "
   "activation?:s!=tanh clip?:f"},
  {"matmul", check_matmul, "fp16 fp32 int32",
   "x:T y:T transpose_x?:b=false transpose_y?:b=false"},
  POOL("max_pool"), BINARY("maximum"), BINARY("minimum"), BINARY("mod"), BINARY("mul"),
  {"non_zero", check_non_zero, "fp16 fp32 int32 bool", "x:T"}, COMPARE("not_equal"),
  {"one_hot", check_one_hot, "fp16 fp32 int32 bool",
   "indices:i one_hot_vector_size:i axis?:i!=-1 on_value?:T off_value?:T"},
  {"pad", check_pad, ANY, "x pad:i mode?:s!=constant constant_val?"},
  {"pixel_shuffle", check_unfold, "fp16 fp32", "x:T upscale_factor:i!"},
  {"pixel_unshuffle", check_fold, "fp16 fp32", "x:T downscale_factor:i!"},
  {"pow", check_fdiv, "fp16 fp32 int32", "x:T y:T"}, ACT1("prelu"),
  {"quantize", check_quantize, ANY, "input:f zero_point? scale:f axis?:i output_dtype:s"},
  {"range_1d", check_range_1d, "fp16 fp32 int32", "end:T# start:T# step:T#"},
  {"read_state", check_read_state, ANY, "input"}, {"real_div", check_fdiv, "fp16 fp32 int32", "x:T y:T"},
  {"reduce_argmax", check_argreduce, "fp16 fp32 int32",
   "x:T axis?:i!=-1 keep_dims?:b!=false output_dtype?:s!=int32"},
  {"reduce_argmin", check_argreduce, "fp16 fp32 int32",
   "x:T axis?:i!=-1 keep_dims?:b!=false output_dtype?:s!=int32"},
  REDUCE("reduce_l1_norm"), REDUCE("reduce_l2_norm"), REDUCE("reduce_log_sum"),
  REDUCE("reduce_log_sum_exp"), REDUCE("reduce_max"), REDUCE("reduce_mean"), REDUCE("reduce_min"),
  REDUCE("reduce_prod"), REDUCE("reduce_sum"), REDUCE("reduce_sum_square"), UNARY("relu"),
  UNARY("relu6"),
  {"resample", check_resample, "fp16 fp32",
   "x:T coordinates sampling_mode:s! padding_mode:s! padding_value:T coordinates_mode:s! "
   "align_corners:b!"},
  {"reshape", check_reshape, ANY, "x shape:i"},
  {"reshape_like", check_reshape_like, ANY, "x ref_tensors begins ends end_masks"},
  {"resize", check_resize, "fp16 fp32 int32",
   "x:T shape:i resized_dims:i! interpolation_mode?:s!=LINEAR sampling_mode?:s!=DEFAULT"},
  {"resize_bilinear", check_resize_to, "fp16 fp32",
   "x:T target_size_height?:i!=1 target_size_width?:i!=1 sampling_mode?:s!=DEFAULT"},
  {"resize_nearest_neighbor", check_resize_to, "fp16 fp32",
   "x:T target_size_height:i! target_size_width:i!"},
  {"reverse", check_axes, ANY, "x axes?:i!"},
  {"reverse_sequence", check_reverse_sequence, ANY,
   "x lengths:i seq_axis?:i!=0 batch_axis?:i!=0"},
  {"rnn", check_rnn, "fp16 fp32",
   "x:T initial_h:T weight_ih:T weight_hh:T bias?:T direction?:s!=forward "
   "output_sequence?:b!=false activation?:s!=tanh"},
  UNARY("round"), {"rsqrt", check_unary, "fp16 fp32", "x:T epsilon?:f"},
  {"scaled_dot_product_attention", check_sdpa, "fp16 fp32", "query:T key:T value:T attn_mask?"},
  ACT2("scaled_tanh"),
  {"scatter", check_scatter, ANY,
   "data:T indices:i updates:T axis?:i!=0 mode?:s!=add validate_indices?:b!"},
  {"scatter_along_axis", check_scatter_along_axis, ANY,
   "data:T indices:i updates:T axis?:i!=0 mode?:s!=add validate_indices?:b!"},
  {"scatter_nd", check_scatter_nd, ANY,
   "data:T indices:i updates:T mode?:s!=add validate_indices?:b!"},
  {"select", check_select, "fp16 fp32 int32 bool", "cond:b a:T b:T"},
  {"shape", check_shape, ANY, "x"}, UNARY("sigmoid"), ACT2("sigmoid_hard"), UNARY_INT("sign"),
  UNARY("silu"), UNARY("sin"), UNARY("sinh"),
  {"slice_by_index", check_slice_by_index, ANY,
   "x begin:i end:i stride?:i=1 begin_mask?:b=false end_mask?:b=false squeeze_mask?:b=false"},
  {"slice_by_size", check_slice_by_size, ANY, "x begin:i size:i"},
  {"slice_update", check_slice_update, ANY,
   "x:T update:T begin:i end:i stride?:i=1 begin_mask?:b=false end_mask?:b=false "
   "squeeze_mask?:b=false"},
  {"sliding_windows", check_sliding_windows, ANY, "x axis:i! size:i! stride?:i!=1"},
  {"softmax", check_softmax, "fp16 fp32", "x:T axis?:i!=-1"}, UNARY("softplus"),
  ACT2("softplus_parametric"), UNARY("softsign"),
  {"space_to_batch", check_space_to_batch, "fp16 fp32", "x:T block_shape:i! paddings:i!"},
  {"space_to_depth", check_fold, "fp16 fp32", "x:T block_size:i!"},
  {"split", check_split, ANY, "x num_splits?:i! split_sizes?:i! axis:i!"},
  UNARY("sqrt"), UNARY_INT("square"), {"squeeze", check_squeeze, ANY, "x axes?:i!"},
  {"stack", check_stack, ANY, "values:T axis:i!"}, BINARY("sub"), UNARY("tan"), UNARY("tanh"),
  {"threshold", check_unary, "fp16 fp32 int32", "x:T alpha:T"}, ACT1("thresholded_relu"),
  {"tile", check_tile, ANY, "x reps:i"},
  {"topk", check_topk, "fp16 fp32 int32 int16 int8 uint16 uint8",
   "x:T k?:i!=1 axis?:i!=-1 ascending?:b!=false sort?:b!=true return_indices?:b!=true "
   "output_indices_dtype?:s!=int32"},
  {"transpose", check_transpose, ANY, "x perm:i!"},
  {"upsample_bilinear", check_upsample, "fp16 fp32",
   "x:T scale_factor_height?:*!=1 scale_factor_width?:*!=1 align_corners?:b!=true "
   "half_pixel_centers?:b!"},
  {"upsample_nearest_neighbor", check_upsample, "fp16 fp32",
   "x:T scale_factor_height?:*!=1 scale_factor_width?:*!=1"},
  {"write_state", check_none, ANY, "input data"},
};
enum { NDEFS = sizeof defs / sizeof *defs };

/* ---- the parsed table: the rows' operands, and a hash of the op names ---------- */

enum { HASHN = 1024 };   /* a power of two, well above NDEFS */
static struct {
  Opnd o[NDEFS][MAXO];
  unsigned char no[NDEFS];
  uint32_t tdom[NDEFS];         /* bit per MilDtype; all bits for "*" */
  bool attrs[NDEFS];            /* a constexpr op: its operands are attributes */
  short slot[HASHN];            /* 1 + row, or 0 */
  char pool[16384];             /* the specs, split into words */
} tab;
static pthread_once_t tab_once = PTHREAD_ONCE_INIT;

static uint32_t hash_name(const char *s) {
  uint32_t h = 2166136261u;
  while (*s)
    h = (h ^ (unsigned char)*s++) * 16777619u;
  return h;
}

/* A table that does not parse is a bug in this file: it stops every run. */
static void tab_bad(const char *op, const char *why) {
  fprintf(stderr, "opdef: row '%s': %s\n", op, why);
  abort();
}

static void parse_row(int r, size_t *used) {
  const Row *row = &defs[r];
  size_t len = strlen(row->spec);
  if (*used + len + 1 > sizeof tab.pool)
    tab_bad(row->op, "the spec pool is full");
  char *p = memcpy(tab.pool + *used, row->spec, len + 1);
  *used += len + 1;
  int n = 0;
  for (char *w = strtok_r(p, " ", &p); w; w = strtok_r(NULL, " ", &p)) {
    if (n == MAXO)
      tab_bad(row->op, "too many operands");
    Opnd *o = &tab.o[r][n++];
    *o = (Opnd){.name = w, .cls = '*'};
    char *eq = strchr(w, '='), *colon = strchr(w, ':'), *q = strchr(w, '?');
    if (eq) {
      *eq++ = '\0';
      o->hasdef = o->opt = true;
      if (strcmp(eq, "true") == 0 || strcmp(eq, "false") == 0)
        o->defi = eq[0] == 't';
      else if ((eq[0] >= '0' && eq[0] <= '9') || eq[0] == '-')
        o->defi = strtoll(eq, NULL, 10);
      else
        o->defs = eq;
    }
    if (colon) {
      *colon = '\0';
      o->cls = colon[1];
      for (const char *m = colon + 2; o->cls && *m; m++)
        if (*m == '!')
          o->cst = true;
        else if (*m == '#')
          o->val = true;
      if (!o->cls || !strchr("Tfibs*", o->cls))
        tab_bad(row->op, "an unknown operand class");
    }
    if (q) {
      *q = '\0';
      o->opt = true;
    }
  }
  for (int k = 0; k < n; k++) {
    const char *nm = tab.o[r][k].name;
    tab.o[r][k].key = (unsigned char)nm[0] | (nm[0] ? (unsigned)(unsigned char)nm[1] << 8 : 0);
  }
  tab.no[r] = (unsigned char)n;
  uint32_t m = 0;
  for (const char *s = row->tdom; *s;) {
    size_t k = strcspn(s, " ");
    MilDtype dt;
    if (k == 1 && *s == '*')
      m = ~0u;
    else if (mil_dtype_lookup(s, k, &dt))
      m |= 1u << dt;
    else
      tab_bad(row->op, "an unknown dtype in its T list");
    s += k + (s[k] == ' ');
  }
  tab.tdom[r] = m;
  tab.attrs[r] = strncmp(row->op, "constexpr_", 10) == 0;
  for (int k = 0; k < n; k++) {
    Opnd *o = &tab.o[r][k];
    o->dts = o->cls == 'T' ? m : o->cls == '*' ? ~0u : 0;
    for (int d = 0; d < MIL_NDTYPES; d++)
      if ((o->cls == 'f' && is_float(d)) || (o->cls == 'i' && mil_dtype_is_int(d)) ||
          (o->cls == 'b' && d == MIL_BOOL) || (o->cls == 's' && d == MIL_STRING))
        o->dts |= 1u << d;
  }
}

static void tab_init(void) {
  size_t used = 0;
  for (int r = 0; r < NDEFS; r++) {
    parse_row(r, &used);
    uint32_t h = hash_name(defs[r].op);
    while (tab.slot[h & (HASHN - 1)])
      h++;
    tab.slot[h & (HASHN - 1)] = (short)(r + 1);
  }
}

/* The parser interns op names, so a program's ops of one kind share one
 * pointer: a small cache by pointer skips the hash. An entry is trusted
 * only while its row's name still matches (memory is reused). */
static _Thread_local struct { const char *p; int r; } row_cache[64];

static int find_row(const char *op) {
  unsigned ci = (unsigned)(((uintptr_t)op * 0x9E3779B97F4A7C15u) >> 58);
  if (row_cache[ci].p == op && streq(defs[row_cache[ci].r].op, op))
    return row_cache[ci].r;
  pthread_once(&tab_once, tab_init);
  for (uint32_t h = hash_name(op);; h++) {
    int s = tab.slot[h & (HASHN - 1)];
    if (!s || streq(defs[s - 1].op, op)) {
      if (s)
        row_cache[ci].p = op, row_cache[ci].r = s - 1;
      return s - 1;
    }
  }
}

bool opdef_defined(const char *op) { return find_row(op) >= 0; }

/* ---- one check ---------------------------------------------------------------- */

/* The row operand named s, or -1: the first two bytes tell most apart. */
static inline int operand_index(const Opd *c, const char *s) {
  unsigned key = (unsigned char)s[0] | (s[0] ? (unsigned)(unsigned char)s[1] << 8 : 0);
  for (int k = 0; k < c->no; k++)
    if (c->o[k].key == key && (key < 256 || streq(c->o[k].name + 2, s + 2)))
      return k;
  return -1;
}

static const char *dtype_names(uint32_t m, char *buf, size_t n) {
  size_t o = 0;
  buf[0] = '\0';
  for (int d = 0, k = 0; d < MIL_NDTYPES && o < n; d++)
    if (m >> d & 1)
      o += (size_t)snprintf(buf + o, n - o, "%s%s", k++ ? ", " : "", mil_dtype_name(d));
  return buf;
}

/* Operand k's dtype against its class; *tk the first T operand (-1
 * before it). 0, or -1 with the reason. */
static int check_dtype(Opd *c, int k, const MilType *t, uint32_t tdom, int *tk) {
  MilDtype d = t->dtype;
  const char *want;
  switch (c->o[k].cls) {
  case 'T':
    if (!(tdom >> d & 1)) {
      char b[160];
      return fail(c, "operand '%s' is %s; the op takes %s", oname(c, k), mil_dtype_name(d),
                  dtype_names(tdom, b, sizeof b));
    }
    if (*tk < 0)
      *tk = k;
    else if (d != c->t[*tk]->dtype)   /* the cpu backend's words */
      return fail(c, "%s is %s and %s is %s; they must have the same dtype", oname(c, *tk),
                  mil_dtype_name(c->t[*tk]->dtype), oname(c, k), mil_dtype_name(d));
    return 0;
  case 'f': want = "fp16 or fp32"; if (is_float(d)) return 0; break;
  case 'i': want = "an integer"; if (mil_dtype_is_int(d)) return 0; break;
  case 'b': want = "bool"; if (d == MIL_BOOL) return 0; break;
  case 's': want = "a string"; if (d == MIL_STRING) return 0; break;
  default: return 0;
  }
  return fail(c, "operand '%s' is %s; it must be %s", oname(c, k), mil_dtype_name(d), want);
}

/* Whether operand k is a constant: inline, or a const or constexpr op's
 * output. */
static bool is_const(const Opd *c, int k) {
  const MilBind *b = c->b[k];
  if (!b || b->kind != MIL_BREF || const_op(c, k))
    return true;
  return c->def[k] >= 0 && strncmp(c->f->ops[c->def[k]].op, "constexpr_", 10) == 0;
}

/* Binds operand k to argument a (or attribute value v), with its type. */
static inline int bind(Opd *c, const char *name, const MilBind *a, const MilValue *v) {
  int k = operand_index(c, name);
  if (k < 0)
    return -1;   /* an operand the row does not list: refused by the caller */
  c->b[k] = a;
  c->a[k] = v;
  c->def[k] = -1;
  const MilType *t = a ? (a->kind == MIL_BLIST ? NULL : bind_type(c->f, c->opi, a, &c->def[k]))
                       : v->type;
  c->t[k] = t && t->kind == MIL_TENSOR ? t : NULL;
  return k;
}

/* ---- the same check again ------------------------------------------------------
 * A program repeats its layers: an op whose operands have the very types
 * (the parser shares equal types), whose parameters are the very values,
 * and whose outputs the very types of the last op of its kind that passed
 * in the same function passes too. memo[] names such ops, four per name
 * and first output type (the hash of both picks them); the comparison
 * reads both ops as they are now, so a stale entry (another function at
 * the same address) is only a miss. Ops already checked are taken as not
 * changed since. */
/* The type a resolved reference reads, or NULL (then no memo). */
static inline const MilType *ref_type(const MilFunc *f, int opi, const MilBind *b) {
  int d = b->def;
  if (d > 0 && d - 1 < opi && b->out < f->ops[d - 1].nouts &&
      f->ops[d - 1].outs[b->out].name == b->ref)
    return f->ops[d - 1].outs[b->out].type;
  if (d < 0 && -d - 1 < f->ninputs &&
      (f->inputs[-d - 1].name == b->ref || streq(f->inputs[-d - 1].name, b->ref)))
    return f->inputs[-d - 1].type;
  return NULL;
}

static _Thread_local struct {
  const MilFunc *f;
  int opi;
  const MilArg *args;   /* the op's arrays when it passed: a rewritten op is a miss */
  const MilVar *outs;
  uint32_t vmask;       /* bit i: argument i's value is read, not only its type */
} memo[1024];
static _Thread_local unsigned memo_next;

/* The first of the four entries op may use: a hash of its name and its
 * first output's type. */
static unsigned memo_slot(const MilOp *op) {
  uint64_t h = (uintptr_t)op->op;
  if (op->nouts)
    h = (h ^ (uintptr_t)op->outs[0].type) * 0x9E3779B97F4A7C15u;
  return (unsigned)(h >> 54);
}

/* Two parameter values alike: the same value, or constants of one type
 * and equal elements. */
static bool same_value(const MilValue *a, const MilValue *b) {
  if (a == b)
    return true;
  if (!a || !b || a->type != b->type || a->kind != MIL_VDATA || b->kind != MIL_VDATA ||
      a->n != b->n || a->n > 64)
    return false;
  if (a->i && b->i)
    return memcmp(a->i, b->i, sizeof *a->i * (size_t)a->n) == 0;
  if (a->f && b->f)
    return memcmp(a->f, b->f, sizeof *a->f * (size_t)a->n) == 0;
  if (a->s && b->s) {
    for (int64_t i = 0; i < a->n; i++)
      if (!streq(a->s[i], b->s[i]))
        return false;
    return true;
  }
  return false;
}

/* The constant a binding reads (inline, or a const op's val), or NULL. */
static const MilValue *bind_const(const MilFunc *f, int opi, const MilBind *b) {
  if (b->kind == MIL_BVAL)
    return b->val;
  if (!ref_type(f, opi, b) || b->def <= 0)
    return NULL;
  const MilOp *op = &f->ops[b->def - 1];
  const char *s = op->op;
  if (op->nouts != 1 || !(s[0] == 'c' && s[1] == 'o' && s[2] == 'n' && s[3] == 's' &&
                          s[4] == 't' && !s[5]))
    return NULL;
  for (int i = 0; i < op->nattrs; i++)
    if (op->attrs[i].name[0] == 'v' && streq(op->attrs[i].name, "val"))
      return op->attrs[i].val;
  return NULL;
}

static bool same_as_memo(const MilFunc *f, int opi, unsigned m) {
  if (memo[m].f != f || memo[m].opi >= opi || memo[m].opi >= f->nops)
    return false;
  const MilOp *op = &f->ops[opi], *p = &f->ops[memo[m].opi];
  if ((p->op != op->op && !streq(p->op, op->op)) || p->args != memo[m].args ||
      p->outs != memo[m].outs ||
      p->nargs != op->nargs || p->nouts != op->nouts)
    return false;
  for (int i = 0; i < op->nargs; i++) {
    const MilBind *a = &op->args[i].bind, *b = &p->args[i].bind;
    if (op->args[i].name != p->args[i].name || a->kind != b->kind || a->kind == MIL_BLIST)
      return false;
    if (memo[m].vmask >> i & 1) {   /* the same value: the same definition, or alike */
      if (a->kind == MIL_BREF && a->def == b->def && a->out == b->out && ref_type(f, opi, a))
        continue;
      if (!same_value(bind_const(f, opi, a), bind_const(f, opi, b)))
        return false;
    } else if (a->kind == MIL_BREF && a->def == b->def && a->out == b->out &&
               ref_type(f, opi, a)) {
      continue;   /* the same value */
    } else {
      const MilType *ta = a->kind == MIL_BVAL ? (a->val ? a->val->type : NULL)
                                              : ref_type(f, opi, a),
                    *tb = b->kind == MIL_BVAL ? (b->val ? b->val->type : NULL)
                                              : ref_type(f, opi, b);
      if (!ta || ta != tb)
        return false;
    }
  }
  for (int i = 0; i < op->nouts; i++)
    if (op->outs[i].type != p->outs[i].type)
      return false;
  return true;
}

/* An operand the row does not list: coremltools refuses it too, and a
 * misspelt optional operand would otherwise take its default silently. */
static int unknown_operand(Opd *c, const char *name) {
  const char *best = diag_suggest_in(name, c->o, (size_t)c->no, sizeof *c->o);
  if (best)
    return fail(c, "unknown operand '%s'; did you mean '%s'?", name, best);
  char list[400];
  size_t o = 0;
  list[0] = '\0';
  for (int k = 0; k < c->no && o < sizeof list; k++)
    o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", k ? ", " : "", oname(c, k));
  return c->no ? fail(c, "unknown operand '%s'; it takes %s", name, list)
               : fail(c, "unknown operand '%s': the op takes no operands", name);
}

int opdef_check(const MilFunc *f, int opi, char *msg, size_t n) {
  const MilOp *op = &f->ops[opi];
  const char *s = op->op;   /* const: most ops of a program, and none to check */
  if (s[0] == 'c' && s[1] == 'o' && s[2] == 'n' && s[3] == 's' && s[4] == 't' && !s[5])
    return 0;
  /* first the memo (which holds no constexpr op), then the row */
  unsigned m = memo_slot(op);
  for (unsigned w = 0; w < 4; w++)
    if (same_as_memo(f, opi, m ^ w))
      return 0;
  m ^= memo_next++ & 3;   /* a miss replaces one of the four in turn */
  int r = find_row(op->op);
  if (r < 0)
    return 0;
  bool memo_ok = !tab.attrs[r] && op->nargs <= 32;
  Opd c;   /* not zeroed whole: only the row's operands are used */
  c.f = f, c.opi = opi, c.op = op, c.o = tab.o[r], c.no = tab.no[r], c.msg = msg, c.n = n;
  for (int k = 0; k < c.no; k++)
    c.b[k] = NULL, c.a[k] = NULL, c.t[k] = NULL, c.def[k] = -1;
  uint32_t vmask = 0;
  for (int i = 0; i < op->nargs; i++) {
    int k = bind(&c, op->args[i].name, &op->args[i].bind, NULL);
    if (k < 0)
      return unknown_operand(&c, op->args[i].name);
    if ((c.o[k].cls != 'T' && c.o[k].cls != 'f') || c.o[k].cst || c.o[k].val)
      vmask |= 1u << (i & 31);
  }
  for (int i = 0; tab.attrs[r] && i < op->nattrs; i++)   /* constexpr ops' operands */
    if (op->attrs[i].val && !streq(op->attrs[i].name, "name") &&
        bind(&c, op->attrs[i].name, NULL, op->attrs[i].val) < 0)
      return unknown_operand(&c, op->attrs[i].name);
  int tk = -1;
  for (int k = 0; k < c.no; k++) {
    if (!has(&c, k)) {
      if (!c.o[k].opt)
        return fail(&c, "missing operand '%s'", oname(&c, k));
      continue;
    }
    const MilType *t = c.t[k];   /* the masks first: most operands pass */
    if (t && (!(c.o[k].dts >> t->dtype & 1) || (c.o[k].cls == 'T' && tk >= 0 &&
                                                  t->dtype != c.t[tk]->dtype)) &&
        check_dtype(&c, k, t, tab.tdom[r], &tk) < 0)
      return -1;
    if (t && c.o[k].cls == 'T' && tk < 0)
      tk = k;
    if (c.o[k].cst && !is_const(&c, k))   /* the cpu backend's words */
      return fail(&c, "'%s' must be a constant (const or constexpr value)", oname(&c, k));
    if (c.b[k] && c.b[k]->kind == MIL_BLIST)   /* a list's items */
      for (int j = 0; j < c.b[k]->nitems; j++) {
        int def;
        const MilType *t = bind_type(f, opi, &c.b[k]->items[j], &def);
        if (t && c.o[k].cls != 'T' && check_dtype(&c, k, t, tab.tdom[r], &tk) < 0)
          return -1;
      }
  }
  if (defs[r].check(&c) < 0)
    return -1;
  if (memo_ok)
    memo[m].f = f, memo[m].opi = opi, memo[m].args = op->args, memo[m].outs = op->outs,
    memo[m].vmask = vmask;
  return 0;
}
