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

/* "tensor<fp16, [1, 2]>", as the cpu backend writes types. */
static const char *type_str(char *buf, size_t n, const MilType *t) {
  size_t o = (size_t)snprintf(buf, n, "tensor<%s, [", mil_dtype_name(t->dtype));
  for (int i = 0; i < t->rank && o < n; i++)
    o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? ", " : "", (long long)t->dim[i]);
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
  return 0;
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

static const struct {
  const char *op;
  int (*check)(const MilFunc *f, int opi, char *msg, size_t n);
} defs[] = {
  {"conv", check_conv},
  {"matmul", check_matmul},
  {"softmax", check_softmax},
  {"transpose", check_transpose},
};

int opdef_check(const MilFunc *f, int opi, char *msg, size_t n) {
  const char *op = f->ops[opi].op;
  for (size_t i = 0; i < sizeof defs / sizeof *defs; i++)   /* most ops have no entry */
    if (op[0] == defs[i].op[0] && strcmp(op, defs[i].op) == 0)
      return defs[i].check(f, opi, msg, n);
  return 0;
}
