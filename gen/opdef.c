/* opdef.c - the shared op definitions (see opdef.h). Operand types come
 * from the function (mil_ref_var, O(1) for what the parser read);
 * parameters from inline values or the const op that defines them. */
#include "opdef.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int fail(char *msg, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *msg, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, n, fmt, ap);
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

/* The tensor type of operand `name`, or NULL when absent or not known. */
static const MilType *operand_type(const MilFunc *f, int opi, const char *name) {
  const MilArg *a = mil_op_arg(&f->ops[opi], name);
  const MilType *t = NULL;
  int def;
  if (a && a->bind.kind == MIL_BREF) {
    const MilVar *v = mil_ref_var(f, &a->bind, opi, &def);
    t = v ? v->type : NULL;
  } else if (a && a->bind.kind == MIL_BVAL && a->bind.val) {   /* NULL after a parse error */
    t = a->bind.val->type;
  }
  return t && t->kind == MIL_TENSOR ? t : NULL;
}

static bool known(const MilType *t) { return t && mil_type_numel(t) >= 0; }

/* The constant value of operand `name`: inline, or the val of the const
 * op before opi that defines it; NULL when it is not a constant. */
static const MilValue *operand_const(const MilFunc *f, int opi, const char *name) {
  const MilArg *a = mil_op_arg(&f->ops[opi], name);
  if (!a)
    return NULL;
  if (a->bind.kind == MIL_BVAL)
    return a->bind.val;
  int def;
  if (a->bind.kind != MIL_BREF || !mil_ref_var(f, &a->bind, opi, &def) || def < 0)
    return NULL;
  const MilOp *op = &f->ops[def];
  const MilAttr *v = op->nouts == 1 && strcmp(op->op, "const") == 0 ? mil_op_attr_get(op, "val")
                                                                    : NULL;
  return v ? v->val : NULL;
}

/* An integer (or bool) parameter's values: their count, def's when the
 * operand is absent (ndef), or -1 when it is not a known constant. */
static int const_ints(const MilFunc *f, int opi, const char *name, int64_t *out, int max,
                      const int64_t *def, int ndef) {
  if (!mil_op_arg(&f->ops[opi], name)) {
    for (int i = 0; i < ndef; i++)
      out[i] = def[i];
    return ndef;
  }
  const MilValue *v = operand_const(f, opi, name);
  if (!v || v->kind != MIL_VDATA || !v->i || v->n > max)
    return -1;
  for (int64_t i = 0; i < v->n; i++)
    out[i] = v->i[i];
  return (int)v->n;
}

/* The declared type of the op's one output against the type the op
 * computes; a declared '?' takes any size. (Another number of outputs is
 * the backend's to report.) */
static int check_out(const MilFunc *f, int opi, const MilType *want, char *msg, size_t n) {
  const MilOp *op = &f->ops[opi];
  const MilType *t = op->nouts == 1 ? op->outs[0].type : NULL;
  if (!t || t->kind != MIL_TENSOR)
    return 0;
  bool same = t->dtype == want->dtype && t->rank == want->rank;
  for (int i = 0; same && i < t->rank; i++)
    same = t->dim[i] == want->dim[i] || t->dim[i] == MIL_DIM_ANY;
  if (same)
    return 0;
  char a[256], c[256];
  return fail(msg, n, "output '%s' is declared %s, but the op computes %s", op->outs[0].name,
              type_str(a, sizeof a, t), type_str(c, sizeof c, want));
}

static int check_conv(const MilFunc *f, int opi, char *msg, size_t n) {
  const MilType *x = operand_type(f, opi, "x"), *w = operand_type(f, opi, "weight");
  int64_t g, one = 1;
  if (!known(x) || !known(w) || x->rank < 3 || w->rank < 2 ||
      const_ints(f, opi, "groups", &g, 1, &one, 1) != 1)
    return 0;
  int64_t cin = x->dim[1], cout = w->dim[0];
  if (g < 1 || cin % g || cout % g || w->dim[1] != cin / g)
    return fail(msg, n, "weight [%lld, %lld, ...] does not fit x with %lld channels in %lld groups",
                (long long)w->dim[0], (long long)w->dim[1], (long long)cin, (long long)g);
  return 0;
}

static int check_transpose(const MilFunc *f, int opi, char *msg, size_t n) {
  const MilType *x = operand_type(f, opi, "x");
  int64_t perm[MIL_MAX_RANK];
  int k = const_ints(f, opi, "perm", perm, MIL_MAX_RANK, NULL, 0);
  if (!x || k < 0)
    return 0;
  if (k != x->rank)
    return fail(msg, n, "perm has %d entries; x has rank %d", k, x->rank);
  bool seen[MIL_MAX_RANK] = {false};
  for (int i = 0; i < k; i++) {
    if (perm[i] < -k || perm[i] >= k)
      return fail(msg, n, "perm entry %lld is out of range for rank %d", (long long)perm[i], k);
    int a = (int)(perm[i] < 0 ? perm[i] + k : perm[i]);
    if (seen[a])
      return fail(msg, n, "perm is not a permutation: %d appears twice", a);
    seen[a] = true;
  }
  if (!known(x))
    return 0;
  MilType want = *x;        /* output dim i is x's dim perm[i] */
  for (int i = 0; i < k; i++)
    want.dim[i] = x->dim[perm[i] < 0 ? perm[i] + k : perm[i]];
  return check_out(f, opi, &want, msg, n);
}

static int check_softmax(const MilFunc *f, int opi, char *msg, size_t n) {
  const MilType *x = operand_type(f, opi, "x");
  int64_t axis, m1 = -1;
  if (!x || const_ints(f, opi, "axis", &axis, 1, &m1, 1) != 1)
    return 0;
  if (axis < -x->rank || axis >= x->rank || x->rank == 0)
    return fail(msg, n, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
  return 0;
}

static int check_matmul(const MilFunc *f, int opi, char *msg, size_t n) {
  const MilType *x = operand_type(f, opi, "x"), *y = operand_type(f, opi, "y");
  int64_t tx, ty, no = 0;
  if (!x || !y || x->rank < 1 || y->rank < 1 ||
      const_ints(f, opi, "transpose_x", &tx, 1, &no, 1) != 1 ||
      const_ints(f, opi, "transpose_y", &ty, 1, &no, 1) != 1)
    return 0;
  /* a vector is its own transpose: [K] acts as [1, K] (x) or [K, 1] (y) */
  int xr = x->rank, yr = y->rank;
  int64_t K = x->dim[xr - 1], K2 = yr == 1 ? y->dim[0] : y->dim[yr - 2];
  if (xr > 1 && tx)
    K = x->dim[xr - 2];
  if (yr > 1 && ty)
    K2 = y->dim[yr - 1];
  if (K >= 0 && K2 >= 0 && K != K2) {
    char a[256], c[256];
    return fail(msg, n, "x %s and y %s do not fit: inner dims %lld and %lld",
                type_str(a, sizeof a, x), type_str(c, sizeof c, y), (long long)K, (long long)K2);
  }
  return 0;
}

static bool is_float(MilDtype t) { return t == MIL_FP16 || t == MIL_FP32; }

/* Unary elementwise ops on a float x: the output is x's type. */
static int check_unary(const MilFunc *f, int opi, char *msg, size_t n) {
  const MilType *x = operand_type(f, opi, "x");
  if (!known(x) || !is_float(x->dtype))
    return 0;
  return check_out(f, opi, x, msg, n);
}

/* Binary elementwise ops: x and y of one dtype the op takes broadcast
 * together (numpy's rule); the output has the broadcast shape, x's dtype
 * (bool for comparisons). Other dtypes are the backend's to judge. */
enum { B_ARITH, B_FLOAT, B_COMPARE, B_LOGIC };

static int check_binary(const MilFunc *f, int opi, int kind, char *msg, size_t n) {
  const MilType *x = operand_type(f, opi, "x"), *y = operand_type(f, opi, "y");
  if (!known(x) || !known(y) || x->dtype != y->dtype)
    return 0;
  MilDtype dt = x->dtype;
  bool ok = kind == B_LOGIC ? dt == MIL_BOOL
            : kind == B_FLOAT ? is_float(dt)
            : kind == B_ARITH ? is_float(dt) || dt == MIL_INT32
                              : is_float(dt) || dt == MIL_INT32 || dt == MIL_BOOL;
  if (!ok)
    return 0;
  MilType want = {.kind = MIL_TENSOR, .dtype = kind >= B_COMPARE ? MIL_BOOL : dt};
  want.rank = x->rank > y->rank ? x->rank : y->rank;
  for (int i = 0; i < want.rank; i++) {
    int ix = i - (want.rank - x->rank), iy = i - (want.rank - y->rank);
    int64_t dx = ix >= 0 ? x->dim[ix] : 1, dy = iy >= 0 ? y->dim[iy] : 1;
    if (dx != dy && dx != 1 && dy != 1)
      return 0;     /* the backend says they do not broadcast */
    want.dim[i] = dx == 1 ? dy : dx;
  }
  return check_out(f, opi, &want, msg, n);
}

static int check_arith(const MilFunc *f, int opi, char *msg, size_t n) {
  return check_binary(f, opi, B_ARITH, msg, n);
}
static int check_fdiv(const MilFunc *f, int opi, char *msg, size_t n) {
  return check_binary(f, opi, B_FLOAT, msg, n);
}
static int check_compare(const MilFunc *f, int opi, char *msg, size_t n) {
  return check_binary(f, opi, B_COMPARE, msg, n);
}
static int check_logic(const MilFunc *f, int opi, char *msg, size_t n) {
  return check_binary(f, opi, B_LOGIC, msg, n);
}

/* softmax: the axis, then the output, x's type. */
static int check_softmax_out(const MilFunc *f, int opi, char *msg, size_t n) {
  return check_softmax(f, opi, msg, n) < 0 ? -1 : check_unary(f, opi, msg, n);
}

static const struct {
  const char *op;
  int (*check)(const MilFunc *f, int opi, char *msg, size_t n);
} defs[] = {
  {"abs", check_unary},          {"acos", check_unary},        {"add", check_arith},
  {"asin", check_unary},         {"atan", check_unary},        {"atanh", check_unary},
  {"ceil", check_unary},         {"clamped_relu", check_unary}, {"clip", check_unary},
  {"conv", check_conv},          {"cos", check_unary},         {"cosh", check_unary},
  {"elu", check_unary},          {"equal", check_compare},     {"erf", check_unary},
  {"exp", check_unary},          {"exp2", check_unary},        {"floor", check_unary},
  {"floor_div", check_arith},    {"gelu", check_unary},        {"greater", check_compare},
  {"greater_equal", check_compare}, {"inverse", check_unary},  {"leaky_relu", check_unary},
  {"less", check_compare},       {"less_equal", check_compare}, {"linear_activation", check_unary},
  {"log", check_unary},          {"logical_and", check_logic}, {"logical_or", check_logic},
  {"logical_xor", check_logic},  {"matmul", check_matmul},     {"maximum", check_arith},
  {"minimum", check_arith},      {"mod", check_arith},         {"mul", check_arith},
  {"not_equal", check_compare},  {"pow", check_fdiv},          {"real_div", check_fdiv},
  {"relu", check_unary},         {"relu6", check_unary},       {"round", check_unary},
  {"rsqrt", check_unary},        {"scaled_tanh", check_unary}, {"sigmoid", check_unary},
  {"sigmoid_hard", check_unary}, {"sign", check_unary},        {"silu", check_unary},
  {"sin", check_unary},          {"sinh", check_unary},        {"softmax", check_softmax_out},
  {"softplus", check_unary},     {"softsign", check_unary},    {"sqrt", check_unary},
  {"square", check_unary},       {"sub", check_arith},         {"tan", check_unary},
  {"tanh", check_unary},         {"threshold", check_unary},   {"thresholded_relu", check_unary},
  {"transpose", check_transpose},
};

/* defs is sorted by name (strcmp order): every op of a program is looked up. */
int opdef_check(const MilFunc *f, int opi, char *msg, size_t n) {
  const char *op = f->ops[opi].op;
  size_t lo = 0, hi = sizeof defs / sizeof *defs;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = (unsigned char)op[0] - (unsigned char)defs[mid].op[0];
    if (c == 0)
      c = strcmp(op, defs[mid].op);
    if (c == 0)
      return defs[mid].check(f, opi, msg, n);
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return 0;
}
