/* opdef.c - the shared op definitions (see opdef.h). Operand types come
 * from the function (mil_ref_var, O(1) for what the parser read);
 * parameters from inline values or the const op that defines them. */
#include "opdef.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
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

/* The value of attribute `name`: constexpr ops take their operands as
 * attributes ("constexpr_affine_dequantize()[scale = ...]"). */
static const MilValue *attr_value(const MilOp *op, const char *name) {
  const MilAttr *v = mil_op_attr_get(op, name);
  return v ? v->val : NULL;
}

/* Whether the op has operand `name`, as an argument or an attribute. */
static bool has(const MilFunc *f, int opi, const char *name) {
  return mil_op_arg(&f->ops[opi], name) || attr_value(&f->ops[opi], name);
}

/* The tensor type of operand `name`, or NULL when absent or not known. */
static const MilType *operand_type(const MilFunc *f, int opi, const char *name) {
  const MilArg *a = mil_op_arg(&f->ops[opi], name);
  const MilType *t = NULL;
  if (!a) {
    const MilValue *v = attr_value(&f->ops[opi], name);
    t = v ? v->type : NULL;
  }
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
    return attr_value(&f->ops[opi], name);
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
  if (!has(f, opi, name)) {
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

static int check_out_k(const MilFunc *f, int opi, int k, const MilType *want, char *msg,
                       size_t n);

/* The declared type of the op's one output against the type the op
 * computes. (Another number of outputs is the backend's to report.) */
static int check_out(const MilFunc *f, int opi, const MilType *want, char *msg, size_t n) {
  return f->ops[opi].nouts == 1 ? check_out_k(f, opi, 0, want, msg, n) : 0;
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
    if (dx != dy && dx != 1 && dy != 1) {
      char a[256], c[256];
      return fail(msg, n, "cannot broadcast x %s with y %s", type_str(a, sizeof a, x),
                  type_str(c, sizeof c, y));
    }
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

/* ---- shape inference for the structural ops: each computes the output
 * type(s) from the operands and constant parameters, refusing what no
 * backend could run, then verifies the declared outputs. ---- */

/* The tensor type a binding reads (a ref or an inline value). */
static const MilType *bind_type(const MilFunc *f, int opi, const MilBind *b) {
  const MilType *t = NULL;
  int def;
  if (b->kind == MIL_BREF) {
    const MilVar *v = mil_ref_var(f, b, opi, &def);
    t = v ? v->type : NULL;
  } else if (b->kind == MIL_BVAL && b->val) {
    t = b->val->type;
  }
  return t && t->kind == MIL_TENSOR ? t : NULL;
}

/* A string parameter (pad_type, dtype, mode): def when absent, NULL when
 * not a known constant. */
static const char *const_str(const MilFunc *f, int opi, const char *name, const char *def) {
  if (!has(f, opi, name))
    return def;
  const MilValue *v = operand_const(f, opi, name);
  return v && v->kind == MIL_VDATA && v->s && v->n == 1 ? v->s[0] : NULL;
}

/* axis a of rank r, normalised to [0, r), or -1 when out of range */
static int norm_axis(int64_t a, int r) {
  return a < -r || a >= r ? -1 : (int)(a < 0 ? a + r : a);
}

/* The declared type of output k against the type the op computes; a
 * '?' on either side takes any size. */
static int check_out_k(const MilFunc *f, int opi, int k, const MilType *want, char *msg,
                       size_t n) {
  const MilOp *op = &f->ops[opi];
  const MilType *t = k < op->nouts ? op->outs[k].type : NULL;
  if (!t || t->kind != MIL_TENSOR)
    return 0;
  bool same = t->dtype == want->dtype && t->rank == want->rank;
  for (int i = 0; same && i < t->rank; i++)
    same = t->dim[i] == want->dim[i] || t->dim[i] == MIL_DIM_ANY || want->dim[i] == MIL_DIM_ANY;
  if (same)
    return 0;
  char a[256], c[256];
  return fail(msg, n, "output '%s' is declared %s, but the op computes %s", op->outs[k].name,
              type_str(a, sizeof a, t), type_str(c, sizeof c, want));
}

/* The spatial window of conv and pooling: output size of one spatial
 * axis, or WIN_NOFIT when the window does not fit. */
enum { WIN_NOFIT = -2 };
static int64_t window_out(int64_t in, int64_t k, int64_t s, int64_t d, const char *pt,
                          int64_t pb, int64_t pe, bool ceil_mode) {
  if (in < 0)
    return MIL_DIM_ANY;
  if (strcmp(pt, "same") == 0 || strcmp(pt, "same_lower") == 0)
    return (in + s - 1) / s;
  int64_t span = d * (k - 1) + 1, len = in + (strcmp(pt, "custom") == 0 ? pb + pe : 0) - span;
  if (len < 0)
    return WIN_NOFIT;
  if (!ceil_mode)
    return len / s + 1;
  /* coremltools (and PyTorch) drop a last window that would start in the
   * end padding; runtime/cpu/pool.c applies the same rule. */
  int64_t o = (len + s - 1) / s + 1;
  return (o - 1) * s >= in + pb ? o - 1 : o;
}

/* strides, dilations and pad of a window op with `sp` spatial axes into
 * s, d, pad; pt its pad_type. 0, -1 with msg, or 1 when not all known. */
static int window_params(const MilFunc *f, int opi, int sp, bool dil, int64_t *s, int64_t *d,
                         int64_t *pad, const char **pt, char *msg, size_t n) {
  int64_t ones[MIL_MAX_RANK], zeros[2 * MIL_MAX_RANK] = {0};
  for (int i = 0; i < sp; i++)
    ones[i] = 1;
  *pt = const_str(f, opi, "pad_type", "valid");
  if (!*pt || const_ints(f, opi, "strides", s, MIL_MAX_RANK, ones, sp) != sp ||
      (dil && const_ints(f, opi, "dilations", d, MIL_MAX_RANK, ones, sp) != sp) ||
      const_ints(f, opi, "pad", pad, 2 * MIL_MAX_RANK, zeros, 2 * sp) != 2 * sp)
    return 1;
  if (strcmp(*pt, "valid") && strcmp(*pt, "same") && strcmp(*pt, "same_lower") &&
      strcmp(*pt, "custom"))
    return fail(msg, n, "pad_type '%s' is not valid, same, same_lower or custom", *pt);
  for (int i = 0; i < sp; i++) {
    if (s[i] < 1)
      return fail(msg, n, "strides[%d] is %lld; strides must be at least 1", i, (long long)s[i]);
    if (dil && d[i] < 1)
      return fail(msg, n, "dilations[%d] is %lld; dilations must be at least 1", i,
                  (long long)d[i]);
    if (pad[2 * i] < 0 || pad[2 * i + 1] < 0)
      return fail(msg, n, "pad has a negative entry");
  }
  if (!dil)
    for (int i = 0; i < sp; i++)
      d[i] = 1;
  return 0;
}

static int check_conv_shape(const MilFunc *f, int opi, char *msg, size_t n) {
  if (check_conv(f, opi, msg, n) < 0)
    return -1;
  const MilType *x = operand_type(f, opi, "x"), *w = operand_type(f, opi, "weight");
  if (!x || !known(w) || x->rank < 3 || w->rank != x->rank)
    return 0;
  int sp = x->rank - 2;
  int64_t s[MIL_MAX_RANK], d[MIL_MAX_RANK], pad[2 * MIL_MAX_RANK];
  const char *pt;
  int rc = window_params(f, opi, sp, true, s, d, pad, &pt, msg, n);
  if (rc)
    return rc < 0 ? -1 : 0;
  const MilType *bias = operand_type(f, opi, "bias");
  if (known(bias) && mil_type_numel(bias) != w->dim[0])
    return fail(msg, n, "bias has %lld elements; weight has %lld output channels",
                (long long)mil_type_numel(bias), (long long)w->dim[0]);
  MilType want = *x;
  want.dim[1] = w->dim[0];
  for (int i = 0; i < sp; i++) {
    want.dim[2 + i] = window_out(x->dim[2 + i], w->dim[2 + i], s[i], d[i], pt, pad[2 * i],
                                 pad[2 * i + 1], false);
    if (want.dim[2 + i] == WIN_NOFIT)
      return fail(msg, n, "kernel size %lld (dilation %lld) is larger than the padded input "
                  "(%lld) on spatial axis %d", (long long)w->dim[2 + i], (long long)d[i],
                  (long long)x->dim[2 + i], i);
  }
  return check_out(f, opi, &want, msg, n);
}

static int check_pool(const MilFunc *f, int opi, char *msg, size_t n) {
  const MilType *x = operand_type(f, opi, "x");
  if (!x || x->rank < 3)
    return 0;
  int sp = x->rank - 2;
  int64_t k[MIL_MAX_RANK], s[MIL_MAX_RANK], d[MIL_MAX_RANK], pad[2 * MIL_MAX_RANK], cm, no = 0;
  const char *pt;
  if (const_ints(f, opi, "kernel_sizes", k, MIL_MAX_RANK, NULL, 0) != sp ||
      const_ints(f, opi, "ceil_mode", &cm, 1, &no, 1) != 1)
    return 0;
  int rc = window_params(f, opi, sp, false, s, d, pad, &pt, msg, n);
  if (rc)
    return rc < 0 ? -1 : 0;
  MilType want = *x;
  for (int i = 0; i < sp; i++) {
    if (k[i] < 1)
      return fail(msg, n, "kernel_sizes[%d] is %lld; it must be at least 1", i, (long long)k[i]);
    want.dim[2 + i] = window_out(x->dim[2 + i], k[i], s[i], 1, pt, pad[2 * i], pad[2 * i + 1],
                                 cm != 0);
    if (want.dim[2 + i] == WIN_NOFIT)
      return fail(msg, n, "kernel size %lld is larger than the padded input (%lld) on spatial "
                  "axis %d", (long long)k[i], (long long)x->dim[2 + i], i);
  }
  return check_out(f, opi, &want, msg, n);
}

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

static int check_matmul_shape(const MilFunc *f, int opi, char *msg, size_t n) {
  if (check_matmul(f, opi, msg, n) < 0)
    return -1;
  const MilType *x = operand_type(f, opi, "x"), *y = operand_type(f, opi, "y");
  int64_t tx, ty, no = 0;
  if (!x || !y || x->rank < 1 || y->rank < 1 || (x->rank == 1 && y->rank == 1) ||
      const_ints(f, opi, "transpose_x", &tx, 1, &no, 1) != 1 ||
      const_ints(f, opi, "transpose_y", &ty, 1, &no, 1) != 1 || x->dtype != y->dtype)
    return 0;
  int xr = x->rank, yr = y->rank;
  MilType want = {.kind = MIL_TENSOR, .dtype = x->dtype};
  int xb = xr > 2 ? xr - 2 : 0, yb = yr > 2 ? yr - 2 : 0;
  int r = broadcast_dims(x->dim, xb, y->dim, yb, want.dim);
  if (r < 0) {
    char a[256], c[256];
    return fail(msg, n, "x %s and y %s do not fit: their batch dims do not broadcast",
                type_str(a, sizeof a, x), type_str(c, sizeof c, y));
  }
  if (xr > 1)
    want.dim[r++] = tx ? x->dim[xr - 1] : x->dim[xr - 2];
  if (yr > 1)
    want.dim[r++] = ty ? y->dim[yr - 2] : y->dim[yr - 1];
  want.rank = r;
  return check_out(f, opi, &want, msg, n);
}

static int check_linear(const MilFunc *f, int opi, char *msg, size_t n) {
  const MilType *x = operand_type(f, opi, "x"), *w = operand_type(f, opi, "weight"),
                *b = operand_type(f, opi, "bias");
  if (!x || !known(w) || x->rank < 1 || w->rank != 2)
    return 0;
  int64_t K = x->dim[x->rank - 1];
  if (K >= 0 && K != w->dim[1]) {
    char a[256], c[256];
    return fail(msg, n, "x %s and weight %s do not fit: inner dims %lld and %lld",
                type_str(a, sizeof a, x), type_str(c, sizeof c, w), (long long)K,
                (long long)w->dim[1]);
  }
  if (known(b) && mil_type_numel(b) != w->dim[0])
    return fail(msg, n, "bias has %lld elements; weight has %lld output rows",
                (long long)mil_type_numel(b), (long long)w->dim[0]);
  MilType want = *x;
  want.dim[x->rank - 1] = w->dim[0];
  return check_out(f, opi, &want, msg, n);
}

/* reshape: -1 takes what is left; a 0 copies the dim of x it matches
 * from the right (1 when there is none). */
static int check_reshape(const MilFunc *f, int opi, char *msg, size_t n) {
  const MilType *x = operand_type(f, opi, "x");
  int64_t sh[MIL_MAX_RANK];
  int k = const_ints(f, opi, "shape", sh, MIL_MAX_RANK, NULL, 0);
  if (!x || k < 0)
    return 0;
  MilType want = {.kind = MIL_TENSOR, .dtype = x->dtype, .rank = k};
  int infer = -1;
  int64_t prod = 1;
  bool all = known(x);
  for (int i = 0; i < k; i++) {
    int64_t v = sh[i];
    if (v == 0) {   /* iOS 15/16: needs k == rank (the backend says so); then from the right */
      if (k != x->rank && !(f->opset && strncmp(f->opset, "ios", 3) == 0 && atoi(f->opset + 3) >= 17))
        return 0;
      v = x->rank - k + i >= 0 ? x->dim[x->rank - k + i] : 1;
    }
    if (v == -1) {
      if (infer >= 0)
        return fail(msg, n, "shape has more than one -1");
      infer = i;
      continue;
    }
    if (v < 0 && !(sh[i] == 0 && v == MIL_DIM_ANY))
      return fail(msg, n, "shape entry %lld is not a size, 0 or -1", (long long)sh[i]);
    if (v < 0)
      all = false;
    want.dim[i] = v;
    if (v >= 0)
      prod *= v;
  }
  if (!all)
    return 0;
  int64_t numel = mil_type_numel(x);
  if (infer >= 0) {
    if (prod == 0 || numel % prod)
      return fail(msg, n, "x has %lld elements, which shape cannot hold", (long long)numel);
    want.dim[infer] = numel / prod;
  } else if (prod != numel) {
    return fail(msg, n, "shape holds %lld elements; x has %lld", (long long)prod,
                (long long)numel);
  }
  return check_out(f, opi, &want, msg, n);
}

static int check_concat(const MilFunc *f, int opi, char *msg, size_t n) {
  const MilArg *vals = mil_op_arg(&f->ops[opi], "values");
  int64_t axis, il, no = 0;
  if (!vals || vals->bind.kind != MIL_BLIST || vals->bind.nitems < 1 ||
      const_ints(f, opi, "axis", &axis, 1, NULL, 0) != 1 ||
      const_ints(f, opi, "interleave", &il, 1, &no, 1) != 1)
    return 0;
  const MilType *t0 = bind_type(f, opi, &vals->bind.items[0]);
  if (!t0)
    return 0;
  int a = norm_axis(axis, t0->rank);
  if (a < 0)
    return fail(msg, n, "axis %lld is out of range for rank %d", (long long)axis, t0->rank);
  MilType want = *t0;
  for (int j = 1; j < vals->bind.nitems; j++) {
    const MilType *t = bind_type(f, opi, &vals->bind.items[j]);
    if (!t)
      return 0;
    if (t->rank != t0->rank || t->dtype != t0->dtype)
      return fail(msg, n, "values[%d] is rank %d %s; values[0] is rank %d %s", j, t->rank,
                  mil_dtype_name(t->dtype), t0->rank, mil_dtype_name(t0->dtype));
    for (int i = 0; i < t->rank; i++) {
      if (i == a) {
        want.dim[i] = want.dim[i] < 0 || t->dim[i] < 0 ? MIL_DIM_ANY : want.dim[i] + t->dim[i];
      } else if (t->dim[i] >= 0 && t0->dim[i] >= 0 && t->dim[i] != t0->dim[i]) {
        return fail(msg, n, "values[%d] has %lld on axis %d; values[0] has %lld", j,
                    (long long)t->dim[i], i, (long long)t0->dim[i]);
      }
    }
  }
  return check_out(f, opi, &want, msg, n);
}

static int check_split(const MilFunc *f, int opi, char *msg, size_t n) {
  const MilType *x = operand_type(f, opi, "x");
  int64_t axis, sizes[64], ns;
  if (!known(x) || const_ints(f, opi, "axis", &axis, 1, NULL, 0) != 1)
    return 0;
  int a = norm_axis(axis, x->rank), k;
  if (a < 0)
    return fail(msg, n, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
  int64_t D = x->dim[a];
  if (has(f, opi, "split_sizes")) {
    if ((k = const_ints(f, opi, "split_sizes", sizes, 64, NULL, 0)) < 1)
      return 0;
    int64_t sum = 0;
    for (int i = 0; i < k; i++)
      sum += sizes[i];
    if (sum != D)
      return fail(msg, n, "split_sizes add up to %lld; axis %d has %lld", (long long)sum, a,
                  (long long)D);
  } else {
    if (const_ints(f, opi, "num_splits", &ns, 1, NULL, 0) != 1)
      return 0;
    if (ns < 1 || ns > 64 || D % ns)
      return fail(msg, n, "num_splits %lld does not divide axis %d of size %lld", (long long)ns,
                  a, (long long)D);
    k = (int)ns;
    for (int i = 0; i < k; i++)
      sizes[i] = D / ns;
  }
  if (f->ops[opi].nouts != k)
    return fail(msg, n, "the op makes %d outputs; %d are declared", k, f->ops[opi].nouts);
  for (int i = 0; i < k; i++) {
    MilType want = *x;
    want.dim[a] = sizes[i];
    if (check_out_k(f, opi, i, &want, msg, n) < 0)
      return -1;
  }
  return 0;
}

static int check_slice_by_size(const MilFunc *f, int opi, char *msg, size_t n) {
  const MilType *x = operand_type(f, opi, "x");
  int64_t b[MIL_MAX_RANK], sz[MIL_MAX_RANK];
  if (!known(x) || const_ints(f, opi, "begin", b, MIL_MAX_RANK, NULL, 0) != x->rank ||
      const_ints(f, opi, "size", sz, MIL_MAX_RANK, NULL, 0) != x->rank)
    return 0;
  MilType want = *x;
  for (int i = 0; i < x->rank; i++) {
    int64_t D = x->dim[i], bi = b[i] < 0 ? b[i] + D : b[i];
    int64_t len = sz[i] == -1 ? D - bi : sz[i];
    if (bi < 0 || bi > D || len < 0 || bi + len > D)
      return fail(msg, n, "begin %lld, size %lld does not fit axis %d of size %lld",
                  (long long)b[i], (long long)sz[i], i, (long long)D);
    want.dim[i] = len;
  }
  return check_out(f, opi, &want, msg, n);
}

/* slice_by_index: Python's slice rule per axis, masks as coremltools
 * defines them. */
static int check_slice_by_index(const MilFunc *f, int opi, char *msg, size_t n) {
  const MilType *x = operand_type(f, opi, "x");
  if (!known(x))
    return 0;
  int r = x->rank;
  int64_t b[MIL_MAX_RANK], e[MIL_MAX_RANK], st[MIL_MAX_RANK], bm[MIL_MAX_RANK],
      em[MIL_MAX_RANK], sm[MIL_MAX_RANK], ones[MIL_MAX_RANK], zeros[MIL_MAX_RANK] = {0};
  for (int i = 0; i < r; i++)
    ones[i] = 1;
  if (const_ints(f, opi, "begin", b, MIL_MAX_RANK, NULL, 0) != r ||
      const_ints(f, opi, "end", e, MIL_MAX_RANK, NULL, 0) != r ||
      const_ints(f, opi, "stride", st, MIL_MAX_RANK, ones, r) != r ||
      const_ints(f, opi, "begin_mask", bm, MIL_MAX_RANK, zeros, r) != r ||
      const_ints(f, opi, "end_mask", em, MIL_MAX_RANK, zeros, r) != r ||
      const_ints(f, opi, "squeeze_mask", sm, MIL_MAX_RANK, zeros, r) != r)
    return 0;
  MilType want = {.kind = MIL_TENSOR, .dtype = x->dtype};
  for (int i = 0; i < r; i++) {
    int64_t D = x->dim[i], s = st[i], lo, hi;
    if (s == 0)
      return fail(msg, n, "stride[%d] is 0", i);
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
        return fail(msg, n, "squeeze_mask drops axis %d, which the slice leaves %lld long", i,
                    (long long)len);
      continue;
    }
    want.dim[want.rank++] = len;
  }
  return check_out(f, opi, &want, msg, n);
}

/* reduce_*: axes (all when absent), keep_dims; arg-reductions one axis
 * and an int32 result. */
static int reduce_common(const MilFunc *f, int opi, bool arg, char *msg, size_t n) {
  const MilType *x = operand_type(f, opi, "x");
  int64_t ax[MIL_MAX_RANK], kd, no = 0, m1 = -1;
  if (!x || const_ints(f, opi, "keep_dims", &kd, 1, &no, 1) != 1)
    return 0;
  int r = x->rank, k;
  bool red[MIL_MAX_RANK] = {false};
  if (arg) {
    if (const_ints(f, opi, "axis", ax, 1, &m1, 1) != 1)
      return 0;
    k = 1;
  } else if (!has(f, opi, "axes")) {
    for (k = 0; k < r; k++)
      ax[k] = k;
  } else if ((k = const_ints(f, opi, "axes", ax, MIL_MAX_RANK, NULL, 0)) < 0) {
    return 0;
  }
  for (int i = 0; i < k; i++) {
    int a = norm_axis(ax[i], r);
    if (a < 0)
      return fail(msg, n, "axis %lld is out of range for rank %d", (long long)ax[i], r);
    red[a] = true;
  }
  MilType want = {.kind = MIL_TENSOR, .dtype = arg ? MIL_INT32 : x->dtype};
  for (int i = 0; i < r; i++)
    if (!red[i] || kd)
      want.dim[want.rank++] = red[i] ? 1 : x->dim[i];
  return check_out(f, opi, &want, msg, n);
}
static int check_reduce(const MilFunc *f, int opi, char *msg, size_t n) {
  return reduce_common(f, opi, false, msg, n);
}
static int check_argreduce(const MilFunc *f, int opi, char *msg, size_t n) {
  return reduce_common(f, opi, true, msg, n);
}

/* Normalisations keep x's type; layer_norm's axes must be x's. */
static int check_norm(const MilFunc *f, int opi, char *msg, size_t n) {
  const MilType *x = operand_type(f, opi, "x");
  int64_t ax[MIL_MAX_RANK];
  if (!x)
    return 0;
  int k = strcmp(f->ops[opi].op, "layer_norm") == 0
              ? const_ints(f, opi, "axes", ax, MIL_MAX_RANK, NULL, 0) : 0;
  for (int i = 0; i < k; i++)
    if (norm_axis(ax[i], x->rank) < 0)
      return fail(msg, n, "axis %lld is out of range for rank %d", (long long)ax[i], x->rank);
  if (strcmp(f->ops[opi].op, "batch_norm") == 0 && x->rank >= 2 && x->dim[1] >= 0) {
    static const char *const per_c[] = {"mean", "variance", "gamma", "beta"};
    for (int i = 0; i < 4; i++) {
      const MilType *t = operand_type(f, opi, per_c[i]);
      if (known(t) && mil_type_numel(t) != x->dim[1])
        return fail(msg, n, "%s has %lld elements; x has %lld channels", per_c[i],
                    (long long)mil_type_numel(t), (long long)x->dim[1]);
    }
  }
  return known(x) ? check_out(f, opi, x, msg, n) : 0;
}

static int check_gather(const MilFunc *f, int opi, char *msg, size_t n) {
  const MilType *x = operand_type(f, opi, "x"), *ix = operand_type(f, opi, "indices");
  int64_t axis, bd, zero = 0;
  if (!x || !ix || const_ints(f, opi, "axis", &axis, 1, &zero, 1) != 1 ||
      const_ints(f, opi, "batch_dims", &bd, 1, &zero, 1) != 1)
    return 0;
  int a = norm_axis(axis, x->rank);
  if (a < 0)
    return fail(msg, n, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
  if (bd < 0 || bd > a || bd > ix->rank)
    return fail(msg, n, "batch_dims %lld does not fit axis %d and indices of rank %d",
                (long long)bd, a, ix->rank);
  MilType want = {.kind = MIL_TENSOR, .dtype = x->dtype};
  want.rank = x->rank - 1 + ix->rank - (int)bd;
  if (want.rank > MIL_MAX_RANK)
    return fail(msg, n, "the result would have rank %d", want.rank);
  int r = 0;
  for (int i = 0; i < a; i++)
    want.dim[r++] = x->dim[i];
  for (int i = (int)bd; i < ix->rank; i++)
    want.dim[r++] = ix->dim[i];
  for (int i = a + 1; i < x->rank; i++)
    want.dim[r++] = x->dim[i];
  return check_out(f, opi, &want, msg, n);
}

static int check_gather_along_axis(const MilFunc *f, int opi, char *msg, size_t n) {
  const MilType *x = operand_type(f, opi, "x"), *ix = operand_type(f, opi, "indices");
  int64_t axis, zero = 0;
  if (!x || !ix || const_ints(f, opi, "axis", &axis, 1, &zero, 1) != 1)
    return 0;
  int a = norm_axis(axis, x->rank);
  if (a < 0)
    return fail(msg, n, "axis %lld is out of range for rank %d", (long long)axis, x->rank);
  if (ix->rank != x->rank)
    return fail(msg, n, "indices has rank %d; x has rank %d", ix->rank, x->rank);
  for (int i = 0; i < x->rank; i++)
    if (i != a && x->dim[i] >= 0 && ix->dim[i] >= 0 && x->dim[i] != ix->dim[i])
      return fail(msg, n, "indices has %lld on axis %d; x has %lld", (long long)ix->dim[i], i,
                  (long long)x->dim[i]);
  MilType want = *ix;
  want.dtype = x->dtype;
  return check_out(f, opi, &want, msg, n);
}

static int check_gather_nd(const MilFunc *f, int opi, char *msg, size_t n) {
  const MilType *x = operand_type(f, opi, "x"), *ix = operand_type(f, opi, "indices");
  int64_t bd, zero = 0;
  if (!x || !ix || ix->rank < 1 || const_ints(f, opi, "batch_dims", &bd, 1, &zero, 1) != 1)
    return 0;
  int64_t K = ix->dim[ix->rank - 1];
  if (K < 0)
    return 0;
  if (bd < 0 || bd + K > x->rank)
    return fail(msg, n, "indices address %lld dims after %lld batch dims; x has rank %d",
                (long long)K, (long long)bd, x->rank);
  MilType want = {.kind = MIL_TENSOR, .dtype = x->dtype};
  for (int i = 0; i < ix->rank - 1; i++)
    want.dim[want.rank++] = ix->dim[i];
  for (int i = (int)(bd + K); i < x->rank && want.rank < MIL_MAX_RANK; i++)
    want.dim[want.rank++] = x->dim[i];
  return check_out(f, opi, &want, msg, n);
}

/* pad: 2*N entries pad x's last N dims, each a (begin, end) pair. */
static int check_pad(const MilFunc *f, int opi, char *msg, size_t n) {
  const MilType *x = operand_type(f, opi, "x");
  int64_t p[2 * MIL_MAX_RANK];
  int k = const_ints(f, opi, "pad", p, 2 * MIL_MAX_RANK, NULL, 0);
  if (!x || k < 0)
    return 0;
  if (k % 2 || k / 2 > x->rank)
    return fail(msg, n, "pad has %d entries; it needs an even number, at most %d", k,
                2 * x->rank);
  MilType want = *x;
  for (int i = 0; i < k / 2; i++) {
    int a = x->rank - k / 2 + i;
    if (p[2 * i] < 0 || p[2 * i + 1] < 0)
      return fail(msg, n, "pad has a negative entry");
    if (want.dim[a] >= 0)
      want.dim[a] += p[2 * i] + p[2 * i + 1];
  }
  return check_out(f, opi, &want, msg, n);
}

static int check_expand_dims(const MilFunc *f, int opi, char *msg, size_t n) {
  const MilType *x = operand_type(f, opi, "x");
  int64_t ax[MIL_MAX_RANK];
  int k = const_ints(f, opi, "axes", ax, MIL_MAX_RANK, NULL, 0);
  if (!x || k < 1)
    return 0;
  int r = x->rank + k;
  if (r > MIL_MAX_RANK)
    return fail(msg, n, "the result would have rank %d", r);
  bool ins[MIL_MAX_RANK] = {false};
  for (int i = 0; i < k; i++) {
    int a = norm_axis(ax[i], r);
    if (a < 0 || ins[a])
      return fail(msg, n, "axes entry %lld is out of range or repeated for rank %d",
                  (long long)ax[i], r);
    ins[a] = true;
  }
  MilType want = {.kind = MIL_TENSOR, .dtype = x->dtype, .rank = r};
  for (int i = 0, j = 0; i < r; i++)
    want.dim[i] = ins[i] ? 1 : x->dim[j++];
  return check_out(f, opi, &want, msg, n);
}

static int check_squeeze(const MilFunc *f, int opi, char *msg, size_t n) {
  const MilType *x = operand_type(f, opi, "x");
  int64_t ax[MIL_MAX_RANK];
  if (!x)
    return 0;
  bool drop[MIL_MAX_RANK] = {false};
  if (!has(f, opi, "axes")) {
    if (!known(x))
      return 0;
    for (int i = 0; i < x->rank; i++)
      drop[i] = x->dim[i] == 1;
  } else {
    int k = const_ints(f, opi, "axes", ax, MIL_MAX_RANK, NULL, 0);
    if (k < 0)
      return 0;
    for (int i = 0; i < k; i++) {
      int a = norm_axis(ax[i], x->rank);
      if (a < 0)
        return fail(msg, n, "axis %lld is out of range for rank %d", (long long)ax[i], x->rank);
      if (x->dim[a] >= 0 && x->dim[a] != 1)
        return fail(msg, n, "axis %d has size %lld, not 1", a, (long long)x->dim[a]);
      drop[a] = true;
    }
  }
  MilType want = {.kind = MIL_TENSOR, .dtype = x->dtype};
  for (int i = 0; i < x->rank; i++)
    if (!drop[i])
      want.dim[want.rank++] = x->dim[i];
  return check_out(f, opi, &want, msg, n);
}

/* The dtype a string parameter names, or -1 (not known or not a dtype). */
static int const_dtype(const MilFunc *f, int opi, const char *name) {
  const char *s = const_str(f, opi, name, NULL);
  MilDtype dt;
  return s && mil_dtype_lookup(s, strlen(s), &dt) ? (int)dt : -1;
}

static int check_cast(const MilFunc *f, int opi, char *msg, size_t n) {
  const MilType *x = operand_type(f, opi, "x");
  int dt = const_dtype(f, opi, "dtype");
  if (!x || dt < 0)
    return 0;
  MilType want = *x;
  want.dtype = (MilDtype)dt;
  return check_out(f, opi, &want, msg, n);
}

/* quantize: output_dtype names the result's dtype; dequantize and the
 * dequantizing constexpr ops give data's shape in scale's dtype. */
static int check_quantize(const MilFunc *f, int opi, char *msg, size_t n) {
  const MilType *x = operand_type(f, opi, "input");
  int dt = const_dtype(f, opi, "output_dtype");
  if (!x || dt < 0)
    return 0;
  MilType want = *x;
  want.dtype = (MilDtype)dt;
  return check_out(f, opi, &want, msg, n);
}

static int dequant_out(const MilFunc *f, int opi, const char *data, char *msg, size_t n) {
  const MilType *x = operand_type(f, opi, data), *s = operand_type(f, opi, "scale");
  if (!x || !s)
    return 0;
  MilType want = *x;
  want.dtype = s->dtype;
  return check_out(f, opi, &want, msg, n);
}
static int check_dequantize(const MilFunc *f, int opi, char *msg, size_t n) {
  return dequant_out(f, opi, "input", msg, n);
}
static int check_affine_dequantize(const MilFunc *f, int opi, char *msg, size_t n) {
  return dequant_out(f, opi, "quantized_data", msg, n);
}
static int check_blockwise(const MilFunc *f, int opi, char *msg, size_t n) {
  return dequant_out(f, opi, "data", msg, n);
}

/* scaled_dot_product_attention: q [..., L, E], k [..., S, E],
 * v [..., S, Ev] give [..., L, Ev]. */
static int check_sdpa(const MilFunc *f, int opi, char *msg, size_t n) {
  const MilType *q = operand_type(f, opi, "query"), *k = operand_type(f, opi, "key"),
                *v = operand_type(f, opi, "value");
  if (!known(q) || !known(k) || !known(v) || q->rank < 3 || k->rank != q->rank ||
      v->rank != q->rank)
    return 0;
  int r = q->rank;
  if (q->dim[r - 1] != k->dim[r - 1] || k->dim[r - 2] != v->dim[r - 2]) {
    char a[256], b[256], c[256];
    return fail(msg, n, "query %s, key %s and value %s do not fit", type_str(a, sizeof a, q),
                type_str(b, sizeof b, k), type_str(c, sizeof c, v));
  }
  MilType want = *q;
  want.dim[r - 1] = v->dim[r - 1];
  return check_out(f, opi, &want, msg, n);
}

/* One row per op: its name, the function that checks its parameters and
 * infers and verifies its output types (each takes coremltools' defaults
 * for the optional parameters it reads), and its required operands, in
 * coremltools' order, space-separated. */
static const struct {
  const char *op;
  int (*check)(const MilFunc *f, int opi, char *msg, size_t n);
  const char *need;
} defs[] = {
  {"abs", check_unary, "x"}, {"acos", check_unary, "x"}, {"add", check_arith, "x y"},
  {"asin", check_unary, "x"}, {"atan", check_unary, "x"}, {"atanh", check_unary, "x"},
  {"avg_pool", check_pool, "x kernel_sizes"}, {"batch_norm", check_norm, "x mean variance"},
  {"cast", check_cast, "x dtype"}, {"ceil", check_unary, "x"}, {"clamped_relu", check_unary, "x"},
  {"clip", check_unary, "x alpha beta"}, {"concat", check_concat, "values axis"},
  {"constexpr_affine_dequantize", check_affine_dequantize, "quantized_data scale zero_point axis"},
  {"constexpr_blockwise_shift_scale", check_blockwise, "data scale"},
  {"conv", check_conv_shape, "x weight"}, {"cos", check_unary, "x"}, {"cosh", check_unary, "x"},
  {"dequantize", check_dequantize, "input scale"}, {"elu", check_unary, "x"},
  {"equal", check_compare, "x y"}, {"erf", check_unary, "x"}, {"exp", check_unary, "x"},
  {"exp2", check_unary, "x"}, {"expand_dims", check_expand_dims, "x axes"},
  {"floor", check_unary, "x"}, {"floor_div", check_arith, "x y"},
  {"gather", check_gather, "x indices"},
  {"gather_along_axis", check_gather_along_axis, "x indices"},
  {"gather_nd", check_gather_nd, "x indices"}, {"gelu", check_unary, "x"},
  {"greater", check_compare, "x y"}, {"greater_equal", check_compare, "x y"},
  {"instance_norm", check_norm, "x"}, {"inverse", check_unary, "x"}, {"l2_norm", check_norm, "x"},
  {"l2_pool", check_pool, "x kernel_sizes"}, {"layer_norm", check_norm, "x"},
  {"leaky_relu", check_unary, "x"}, {"less", check_compare, "x y"},
  {"less_equal", check_compare, "x y"}, {"linear", check_linear, "x weight"},
  {"linear_activation", check_unary, "x"}, {"local_response_norm", check_norm, "x size"},
  {"log", check_unary, "x"}, {"logical_and", check_logic, "x y"},
  {"logical_or", check_logic, "x y"}, {"logical_xor", check_logic, "x y"},
  {"matmul", check_matmul_shape, "x y"}, {"max_pool", check_pool, "x kernel_sizes"},
  {"maximum", check_arith, "x y"}, {"minimum", check_arith, "x y"}, {"mod", check_arith, "x y"},
  {"mul", check_arith, "x y"}, {"not_equal", check_compare, "x y"}, {"pad", check_pad, "x pad"},
  {"pow", check_fdiv, "x y"}, {"quantize", check_quantize, "input scale output_dtype"},
  {"real_div", check_fdiv, "x y"}, {"reduce_argmax", check_argreduce, "x"},
  {"reduce_argmin", check_argreduce, "x"}, {"reduce_l1_norm", check_reduce, "x"},
  {"reduce_l2_norm", check_reduce, "x"}, {"reduce_log_sum", check_reduce, "x"},
  {"reduce_log_sum_exp", check_reduce, "x"}, {"reduce_max", check_reduce, "x"},
  {"reduce_mean", check_reduce, "x"}, {"reduce_min", check_reduce, "x"},
  {"reduce_prod", check_reduce, "x"}, {"reduce_sum", check_reduce, "x"},
  {"reduce_sum_square", check_reduce, "x"}, {"relu", check_unary, "x"},
  {"relu6", check_unary, "x"}, {"reshape", check_reshape, "x shape"}, {"round", check_unary, "x"},
  {"rsqrt", check_unary, "x"}, {"scaled_dot_product_attention", check_sdpa, "query key value"},
  {"scaled_tanh", check_unary, "x"}, {"sigmoid", check_unary, "x"},
  {"sigmoid_hard", check_unary, "x"}, {"sign", check_unary, "x"}, {"silu", check_unary, "x"},
  {"sin", check_unary, "x"}, {"sinh", check_unary, "x"},
  {"slice_by_index", check_slice_by_index, "x begin end"},
  {"slice_by_size", check_slice_by_size, "x begin size"}, {"softmax", check_softmax_out, "x"},
  {"softplus", check_unary, "x"}, {"softsign", check_unary, "x"}, {"split", check_split, "x axis"},
  {"sqrt", check_unary, "x"}, {"square", check_unary, "x"}, {"squeeze", check_squeeze, "x"},
  {"sub", check_arith, "x y"}, {"tan", check_unary, "x"}, {"tanh", check_unary, "x"},
  {"threshold", check_unary, "x"}, {"thresholded_relu", check_unary, "x"},
  {"transpose", check_transpose, "x perm"},
};

/* The first required operand the op lacks, in the cpu backend's words. */
static int check_need(const MilFunc *f, int opi, const char *need, char *msg, size_t n) {
  for (const char *p = need; *p;) {
    size_t len = strcspn(p, " ");
    char name[32];   /* no printf: this runs for every op the parser reads */
    size_t k = len < sizeof name ? len : sizeof name - 1;
    memcpy(name, p, k);
    name[k] = '\0';
    if (!has(f, opi, name))
      return fail(msg, n, "missing operand '%s'", name);
    p += len + (p[len] == ' ');
  }
  return 0;
}

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
      return check_need(f, opi, defs[mid].need, msg, n) < 0 ? -1 : defs[mid].check(f, opi, msg, n);
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return 0;
}
