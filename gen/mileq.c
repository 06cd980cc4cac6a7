/* mileq.c - structural equality of MIL programs. */
#include "mileq.h"

#include <string.h>

static bool str_eq(const char *a, const char *b) {
  return a == b || (a && b && strcmp(a, b) == 0);
}

static bool type_eq(const MilType *a, const MilType *b) {
  return a == b || (a && b && mil_type_eq(a, b));
}

static bool data_eq(const MilValue *a, const MilValue *b) {
  if (a->n != b->n)
    return false;
  MilDtype dt = a->type->dtype;
  for (int64_t k = 0; k < a->n; k++) {
    if (dt == MIL_STRING ? !str_eq(a->s[k], b->s[k])
        : mil_dtype_is_float(dt) ? memcmp(&a->f[k], &b->f[k], sizeof a->f[k]) != 0
                                 : a->i[k] != b->i[k])
      return false;
  }
  return true;
}

bool mil_value_eq(const MilValue *a, const MilValue *b) {
  if (a == b)
    return true;
  if (!a || !b || a->kind != b->kind || !type_eq(a->type, b->type))
    return false;
  switch (a->kind) {
  case MIL_VDATA:
    return data_eq(a, b);
  case MIL_VBLOB:
    return str_eq(a->blob_path, b->blob_path) && a->blob_offset == b->blob_offset;
  case MIL_VAGG:
    if (a->nitems != b->nitems)
      return false;
    for (int i = 0; i < a->nitems; i++)
      if (!mil_value_eq(a->items[i], b->items[i]))
        return false;
    return true;
  }
  return false;
}

static bool bind_eq(const MilBind *a, const MilBind *b) {
  if (a->kind != b->kind)
    return false;
  switch (a->kind) {
  case MIL_BREF:
    return str_eq(a->ref, b->ref);
  case MIL_BVAL:
    return mil_value_eq(a->val, b->val);
  case MIL_BLIST:
    if (a->nitems != b->nitems)
      return false;
    for (int i = 0; i < a->nitems; i++)
      if (!bind_eq(&a->items[i], &b->items[i]))
        return false;
    return true;
  }
  return false;
}

/* Keyed sets: every key of a is in b with an equal value, and the other
 * way round, so order does not matter. */
static bool attrs_in(int na, const MilAttr *a, int nb, const MilAttr *b) {
  for (int i = 0; i < na; i++) {
    int j = 0;
    while (j < nb && !str_eq(a[i].name, b[j].name))
      j++;
    if (j == nb || !mil_value_eq(a[i].val, b[j].val))
      return false;
  }
  return true;
}

static bool attrs_eq(int na, const MilAttr *a, int nb, const MilAttr *b) {
  return na == nb && attrs_in(na, a, nb, b) && attrs_in(nb, b, na, a);
}

static bool args_in(const MilOp *a, const MilOp *b) {
  for (int i = 0; i < a->nargs; i++) {
    const MilArg *m = mil_op_arg(b, a->args[i].name);
    if (!m || !bind_eq(&a->args[i].bind, &m->bind))
      return false;
  }
  return true;
}

static bool vars_eq(int n, const MilVar *a, const MilVar *b) {
  for (int i = 0; i < n; i++)
    if (!str_eq(a[i].name, b[i].name) || !type_eq(a[i].type, b[i].type))
      return false;
  return true;
}

static bool op_eq(const MilOp *a, const MilOp *b) {
  return str_eq(a->op, b->op) && a->nouts == b->nouts && vars_eq(a->nouts, a->outs, b->outs) &&
         a->nargs == b->nargs && args_in(a, b) && args_in(b, a) &&
         attrs_eq(a->nattrs, a->attrs, b->nattrs, b->attrs);
}

static bool func_eq(const MilFunc *a, const MilFunc *b) {
  if (!str_eq(a->name, b->name) || !str_eq(a->opset, b->opset) || a->ninputs != b->ninputs ||
      !vars_eq(a->ninputs, a->inputs, b->inputs) ||
      !attrs_eq(a->nattrs, a->attrs, b->nattrs, b->attrs) || a->nops != b->nops ||
      a->noutputs != b->noutputs)
    return false;
  for (int i = 0; i < a->nops; i++)
    if (!op_eq(&a->ops[i], &b->ops[i]))
      return false;
  for (int i = 0; i < a->noutputs; i++)
    if (!str_eq(a->outputs[i], b->outputs[i]))
      return false;
  return true;
}

bool mil_prog_eq(const MilProg *a, const MilProg *b) {
  if (!str_eq(a->version, b->version) || !attrs_eq(a->nattrs, a->attrs, b->nattrs, b->attrs) ||
      a->nfuncs != b->nfuncs)
    return false;
  for (int i = 0; i < a->nfuncs; i++)
    if (!func_eq(&a->funcs[i], &b->funcs[i]))
      return false;
  return true;
}
