/* milprint.c - the MIL text printer: one canonical spelling per program.
 *
 * Keys inside (...) and [...] are printed sorted (the compiler does the
 * same; the proto keeps them in maps), floats as %a of the double so they
 * read back bit for bit, and scalars in the dialect of p->version. */
#include "mil.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Printer {
  FILE *out;
  bool compact;
} Printer;

static void print_value(Printer *pr, const MilValue *v);
static void print_lit(Printer *pr, const MilValue *v);

/* ---- types ----------------------------------------------------------------- */

static void print_dim(Printer *pr, int64_t d) {
  if (d < 0)
    fputc('?', pr->out);
  else
    fprintf(pr->out, "%" PRId64, d);
}

static void print_type(Printer *pr, const MilType *t) {
  FILE *o = pr->out;
  switch (t->kind) {
  case MIL_TENSOR:
    if (t->rank == 0 && pr->compact) {
      fputs(mil_dtype_name(t->dtype), o);
      return;
    }
    fprintf(o, "tensor<%s, [", mil_dtype_name(t->dtype));
    for (int i = 0; i < t->rank; i++) {
      if (i)
        fputs(", ", o);
      print_dim(pr, t->dim[i]);
    }
    fputs("]>", o);
    return;
  case MIL_LIST:
    fputs("list<", o);
    print_type(pr, t->sub[0]);
    fputs(", ", o);
    print_dim(pr, t->len);
    fputc('>', o);
    return;
  case MIL_TUPLE:
  case MIL_DICT:
  case MIL_STATE:
    fputs(t->kind == MIL_TUPLE ? "tuple<" : t->kind == MIL_DICT ? "dict<" : "state<", o);
    for (int i = 0; i < t->nsub; i++) {
      if (i)
        fputs(", ", o);
      print_type(pr, t->sub[i]);
    }
    fputc('>', o);
    return;
  }
}

/* ---- literals -------------------------------------------------------------- */

static void print_string(Printer *pr, const char *s) {
  FILE *o = pr->out;
  fputc('"', o);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(o, "\\%c", c);
    else if (c == '\n')
      fputs("\\n", o);
    else if (c == '\t')
      fputs("\\t", o);
    else if (c < 0x20 || c == 0x7f)
      fprintf(o, "\\x%02x", c);
    else
      fputc(c, o);
  }
  fputc('"', o);
}

static void print_float(Printer *pr, double x) {
  if (isnan(x))
    fputs("nan", pr->out);   /* the sign and payload of a NaN are not kept */
  else
    fprintf(pr->out, "%a", x);
}

static void print_elem(Printer *pr, const MilValue *v, int64_t k) {
  MilDtype dt = v->type->dtype;
  if (dt == MIL_STRING)
    print_string(pr, v->s[k]);
  else if (dt == MIL_BOOL)
    fputs(v->i[k] ? "true" : "false", pr->out);
  else if (mil_dtype_is_float(dt))
    print_float(pr, v->f[k]);
  else if (dt == MIL_UINT64)
    fprintf(pr->out, "%" PRIu64, (uint64_t)v->i[k]);
  else
    fprintf(pr->out, "%" PRId64, v->i[k]);
}

/* Elements [*k, ...) of dimension `axis` onward, one bracket level per
 * dimension. */
static void print_dims(Printer *pr, const MilValue *v, int axis, int64_t *k) {
  const MilType *t = v->type;
  if (axis == t->rank) {
    print_elem(pr, v, (*k)++);
    return;
  }
  fputc('[', pr->out);
  for (int64_t i = 0; i < t->dim[axis]; i++) {
    if (i)
      fputs(", ", pr->out);
    print_dims(pr, v, axis + 1, k);
  }
  fputc(']', pr->out);
}

static void print_blobfile(Printer *pr, const MilValue *v) {
  FILE *o = pr->out;
  fputs("BLOBFILE(path = ", o);
  fputs(pr->compact ? "string(" : "tensor<string, []>(", o);
  print_string(pr, v->blob_path);
  fputs("), offset = ", o);
  fputs(pr->compact ? "uint64(" : "tensor<uint64, []>(", o);
  fprintf(o, "%" PRIu64 "))", v->blob_offset);
}

static void print_items(Printer *pr, const MilValue *v, int from, int step,
                        const char *open, const char *close) {
  fputs(open, pr->out);
  for (int i = from; i < v->nitems; i += step) {
    if (i > from)
      fputs(", ", pr->out);
    print_lit(pr, v->items[i]);
  }
  fputs(close, pr->out);
}

static void print_dict(Printer *pr, const MilValue *v) {
  FILE *o = pr->out;
  fputc('{', o);
  for (int i = 0; i + 1 < v->nitems; i += 2) {
    fputs(i ? ", {" : "{", o);
    print_lit(pr, v->items[i]);
    fputs(", ", o);
    print_lit(pr, v->items[i + 1]);
    fputc('}', o);
  }
  fputc('}', o);
}

/* A value without its type: what goes inside type(...), and the items of
 * tuples, lists and dicts, which carry no types of their own. */
static void print_lit(Printer *pr, const MilValue *v) {
  int64_t k = 0;
  switch (v->kind) {
  case MIL_VDATA:
    print_dims(pr, v, 0, &k);
    return;
  case MIL_VBLOB:
    print_blobfile(pr, v);
    return;
  case MIL_VAGG:
    if (v->type->kind == MIL_DICT)
      print_dict(pr, v);
    else if (v->type->kind == MIL_TUPLE)
      print_items(pr, v, 0, 1, "(", ")");
    else
      print_items(pr, v, 0, 1, "[", "]");
    return;
  }
}

static void print_value(Printer *pr, const MilValue *v) {
  print_type(pr, v->type);
  fputc('(', pr->out);
  print_lit(pr, v);
  fputc(')', pr->out);
}

/* ---- sorted keys ----------------------------------------------------------- */

/* Fills idx with 0..n-1 ordered by key (strcmp); stable, so repeated keys
 * keep their order. Returns idx, or NULL when n == 0. */
static int *sort_keys(int n, const char *(*key)(const void *, int), const void *arr) {
  if (n <= 0)
    return NULL;
  int *idx = malloc((size_t)n * sizeof *idx);
  if (!idx) {
    fputs("anet: out of memory\n", stderr);
    abort();
  }
  for (int i = 0; i < n; i++) {
    int j = i;
    while (j > 0 && strcmp(key(arr, idx[j - 1]), key(arr, i)) > 0) {
      idx[j] = idx[j - 1];
      j--;
    }
    idx[j] = i;
  }
  return idx;
}

static const char *arg_key(const void *a, int i) { return ((const MilArg *)a)[i].name; }
static const char *attr_key(const void *a, int i) { return ((const MilAttr *)a)[i].name; }

/* " [k = v, ...]" or nothing. */
static void print_attrs(Printer *pr, const char *lead, int n, const MilAttr *attrs) {
  int *idx = sort_keys(n, attr_key, attrs);
  for (int i = 0; i < n; i++) {
    const MilAttr *a = &attrs[idx[i]];
    fputs(i ? ", " : lead, pr->out);
    fprintf(pr->out, "%s = ", a->name);
    print_value(pr, a->val);
  }
  if (n)
    fputc(']', pr->out);
  free(idx);
}

/* ---- statements ------------------------------------------------------------ */

static void print_bind(Printer *pr, const MilBind *b) {
  switch (b->kind) {
  case MIL_BREF:
    fputs(b->ref, pr->out);
    return;
  case MIL_BVAL:
    print_value(pr, b->val);
    return;
  case MIL_BLIST:
    fputc('(', pr->out);
    for (int i = 0; i < b->nitems; i++) {
      if (i)
        fputs(", ", pr->out);
      print_bind(pr, &b->items[i]);
    }
    fputc(')', pr->out);
    return;
  }
}

static void print_var(Printer *pr, const MilVar *v) {
  print_type(pr, v->type);
  fprintf(pr->out, " %s", v->name);
}

/* An op without outputs (write_state) is a bare call, as coremltools writes it. */
static void print_op(Printer *pr, const MilOp *op) {
  FILE *o = pr->out;
  fputs("        ", o);
  for (int i = 0; i < op->nouts; i++) {
    if (i)
      fputs(", ", o);
    print_var(pr, &op->outs[i]);
  }
  fprintf(o, "%s%s(", op->nouts ? " = " : "", op->op);
  int *idx = sort_keys(op->nargs, arg_key, op->args);
  for (int i = 0; i < op->nargs; i++) {
    const MilArg *a = &op->args[idx[i]];
    fprintf(o, "%s%s = ", i ? ", " : "", a->name);
    print_bind(pr, &a->bind);
  }
  free(idx);
  fputc(')', o);
  print_attrs(pr, "[", op->nattrs, op->attrs);
  fputs(";\n", o);
}

static void print_func(Printer *pr, const MilFunc *f) {
  FILE *o = pr->out;
  fprintf(o, "    func %s<%s>(", f->name, f->opset);
  for (int i = 0; i < f->ninputs; i++) {
    if (i)
      fputs(", ", o);
    print_var(pr, &f->inputs[i]);
  }
  fputc(')', o);
  print_attrs(pr, " [", f->nattrs, f->attrs);
  fputs(" {\n", o);
  for (int i = 0; i < f->nops; i++)
    print_op(pr, &f->ops[i]);
  fputs("    } -> (", o);
  for (int i = 0; i < f->noutputs; i++)
    fprintf(o, "%s%s", i ? ", " : "", f->outputs[i]);
  fputs(");\n", o);
}

int mil_print(const MilProg *p, FILE *out) {
  Printer pr = {out, mil_compact(p)};
  fprintf(out, "program(%s)\n", p->version);
  if (p->nattrs) {
    print_attrs(&pr, "[", p->nattrs, p->attrs);
    fputc('\n', out);
  }
  fputs("{\n", out);
  for (int i = 0; i < p->nfuncs; i++)
    print_func(&pr, &p->funcs[i]);
  fputs("}\n", out);
  return ferror(out) ? -1 : 0;
}

char *mil_print_string(const MilProg *p) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f)
    return NULL;
  int rc = mil_print(p, f);
  if (fclose(f) != 0 || rc != 0) {
    free(buf);
    return NULL;
  }
  return buf;
}
