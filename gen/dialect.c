/* dialect.c - program(1.0) and the ios16/ios17 opsets for older targets.
 *
 * Up to iOS17 a constexpr op takes every parameter as an attribute, a
 * value, and its parentheses stay empty (coremltools load.py
 * translate_constexpr; the corpus's silero-vad-pruned-int8-ios16): the
 * consts lowering bound them to are inlined and dropped. iOS18's
 * constexpr_blockwise_shift_scale has an iOS16 equivalent when it is int8
 * or uint8 with one scale per tensor or per output channel:
 * constexpr_affine_dequantize, whose scale and zero point are that vector
 * (or a scalar) along axis 0, over the same blob bytes. The other iOS18
 * weight forms (palettes with typed indices, sparse, 4-bit, blocks) have
 * none, and ops newer than the opset have none: errors. */
#include "dialect.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Ctx {
  MilProg *p;
  MilFunc *f;
  const Target *t;
  const Src *src;
  Diag *d;
  int nerr;
  int nseen;
  const char *seen[16];   /* op types already reported: one error each */
} Ctx;

static const char weights_hint[] =
    "on this target use weights=fp16, weights=int8 scale=S, or int8/uint8 _tensor or "
    "_channel (constexpr_affine_dequantize)";

static void error(Ctx *c, const MilOp *op, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void error(Ctx *c, const MilOp *op, const char *hint, const char *fmt, ...) {
  c->nerr++;
  for (int i = 0; i < c->nseen; i++)
    if (strcmp(c->seen[i], op->op) == 0)
      return;
  if (c->nseen < 16)
    c->seen[c->nseen++] = op->op;
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  diag_error(c->d, c->src, op->loc, "%s; target %s has <ios%d> (program(%s))%s%s", msg,
             c->t->name, c->t->ios, c->t->version, hint ? ": " : "", hint ? hint : "");
}

/* The value an argument stands for: inline, or a const's val; NULL when
 * it is neither (another op's output, an input, a list). */
static MilValue *arg_value(Ctx *c, const MilArg *a) {
  if (a->bind.kind == MIL_BVAL)
    return a->bind.val;
  int o;
  if (a->bind.kind != MIL_BREF || !mil_ref_var(c->f, &a->bind, c->f->nops, &o) || o < 0)
    return NULL;
  const MilOp *def = &c->f->ops[o];
  const MilAttr *val = strcmp(def->op, "const") == 0 ? mil_op_attr_get(def, "val") : NULL;
  return val ? val->val : NULL;
}

/* v with its dimensions replaced by dims[0..rank): the same data or blob. */
static MilValue *reshaped(MilProg *p, const MilValue *v, int rank, const int64_t *dims) {
  MilValue *r = mil_alloc(p, sizeof *r);
  *r = *v;
  r->type = rank ? mil_tensor_type(p, v->type->dtype, rank, dims)
                 : mil_scalar_type(p, v->type->dtype);
  return r;
}

/* A [C,1,1,1] or [1,1,1,1] blockwise scale or offset (of any rank: a
 * weight declaration's) as affine dequantisation takes it: a [C] vector
 * along axis 0, or a scalar. NULL when v has another shape. */
static MilValue *per_axis0(MilProg *p, const MilValue *v) {
  const MilType *t = v->type;
  if (t->kind != MIL_TENSOR || t->rank < 1)
    return NULL;
  for (int i = 1; i < t->rank; i++)
    if (t->dim[i] != 1)
      return NULL;
  return reshaped(p, v, t->dim[0] > 1 ? 1 : 0, t->dim);
}

/* constexpr_blockwise_shift_scale -> constexpr_affine_dequantize, or an
 * error when the format has no iOS16 form. */
static void to_affine(Ctx *c, MilOp *op) {
  const MilArg *data = mil_op_arg(op, "data"), *scale = mil_op_arg(op, "scale");
  const MilArg *offset = mil_op_arg(op, "offset");
  MilValue *q = data ? arg_value(c, data) : NULL, *s = scale ? arg_value(c, scale) : NULL;
  MilValue *z = offset ? arg_value(c, offset) : NULL;
  MilValue *s1 = s ? per_axis0(c->p, s) : NULL, *z1 = z ? per_axis0(c->p, z) : NULL;
  MilDtype dt = q ? q->type->dtype : MIL_NDTYPES;
  if (!q || !s1 || (offset && !z1) || (dt != MIL_INT8 && dt != MIL_UINT8) ||
      (z1 && z1->type->rank != s1->type->rank)) {
    error(c, op, weights_hint, "this weight format lowers to '%s', which exists from <ios18>",
          op->op);
    return;
  }
  if (!z1 && s1->type->rank == 0)
    z1 = mil_scalar_i(c->p, dt, 0);
  else if (!z1) {   /* zeros, one per channel: scale and zero point have one shape */
    int64_t n = s1->type->dim[0];
    int64_t *zero = calloc((size_t)n, sizeof *zero);
    if (!zero) {
      fputs("anet: out of memory\n", stderr);
      abort();
    }
    z1 = mil_tensor_i(c->p, dt, 1, &n, zero);
    free(zero);
  }
  op->op = "constexpr_affine_dequantize";
  op->nargs = 0;
  mil_op_attr(c->p, op, "axis", mil_scalar_i(c->p, MIL_INT32, 0));
  mil_op_attr(c->p, op, "quantized_data", q);
  mil_op_attr(c->p, op, "scale", s1);
  mil_op_attr(c->p, op, "zero_point", z1);
}

/* Inputs to attributes (the ≤ iOS17 form of a constexpr op). */
static void args_to_attrs(Ctx *c, MilOp *op) {
  int n = op->nargs;
  MilArg *args = op->args;
  for (int i = 0; i < n; i++)
    if (!arg_value(c, &args[i])) {
      error(c, op, NULL, "'%s' takes a parameter that is not a constant; up to <ios17> every "
            "constexpr parameter is a value", op->op);
      return;
    }
  op->nargs = 0;
  for (int i = 0; i < n; i++)
    mil_op_attr(c->p, op, args[i].name, arg_value(c, &args[i]));
}

static void convert_op(Ctx *c, MilOp *op) {
  if (strcmp(op->op, "constexpr_blockwise_shift_scale") == 0) {
    to_affine(c, op);
    return;
  }
  int need = target_op_min_ios(op->op);
  bool constexpr = strncmp(op->op, "constexpr_", 10) == 0;
  bool act = strcmp(op->op, "quantize") == 0 || strcmp(op->op, "dequantize") == 0;
  if (need > c->t->ios)
    error(c, op, constexpr ? weights_hint : act ? "on this target keep activations fp16 (no "
          "'activations int8')" : NULL, "'%s' exists from <ios%d>", op->op, need);
  else if (constexpr && op->nargs && strcmp(op->op, "constexpr_affine_dequantize") != 0)
    error(c, op, weights_hint, "this weight format lowers to the <ios18> form of '%s' (typed "
          "indices or masks as inputs)", op->op);
  else if (constexpr && op->nargs)
    args_to_attrs(c, op);
}

static void mark_used(const MilFunc *f, const MilBind *b, bool *used) {
  int o;
  if (b->kind == MIL_BREF && mil_ref_var(f, b, f->nops, &o) && o >= 0)
    used[o] = true;
  for (int i = 0; b->kind == MIL_BLIST && i < b->nitems; i++)
    mark_used(f, &b->items[i], used);
}

/* Drops the consts nothing reads any more (they fed constexpr inputs):
 * one pass over the references, resolved in O(1) (mil_resolve_refs). */
static void drop_dead_consts(MilFunc *f) {
  bool *used = calloc((size_t)f->nops + 1, sizeof *used);
  if (!used) {
    fputs("anet: out of memory\n", stderr);
    abort();
  }
  for (int o = 0; o < f->nops; o++)
    for (int a = 0; a < f->ops[o].nargs; a++)
      mark_used(f, &f->ops[o].args[a].bind, used);
  for (int i = 0; i < f->noutputs; i++)
    mark_used(f, &(MilBind){.kind = MIL_BREF, .ref = f->outputs[i]}, used);
  int k = 0;
  for (int o = 0; o < f->nops; o++)
    if (used[o] || strcmp(f->ops[o].op, "const") != 0 || f->ops[o].nouts != 1)
      f->ops[k++] = f->ops[o];
  f->nops = k;
  free(used);
}

int mil_dialect(MilProg *p, const Target *t, const Src *src, Diag *d) {
  if (t->ios >= 18)
    return 0;
  Ctx c = {.p = p, .t = t, .src = src, .d = d};
  p->version = mil_strdup(p, t->version);
  for (int i = 0; i < p->nfuncs; i++) {
    c.f = &p->funcs[i];
    c.f->opset = mil_printf(p, "ios%d", t->ios);
    for (int o = 0; o < c.f->nops; o++)
      convert_op(&c, &c.f->ops[o]);
    drop_dead_consts(c.f);
  }
  mil_resolve_refs(p);   /* the dropped consts moved the ops: lint looks up in O(1) again */
  return c.nerr;
}
