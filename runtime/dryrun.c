/* dryrun.c - describing a model without running it. */
#include "dryrun.h"

#include <stdlib.h>
#include <string.h>

#include "flops.h"

enum { TYPE_DEPTH = 8 };

typedef struct OpCount {
  const char *op;
  int n;
} OpCount;

static void print_type(FILE *out, const MilType *t, int depth);

static void print_dim(FILE *out, int64_t v) {
  if (v < 0)
    fputc('?', out);
  else
    fprintf(out, "%lld", (long long)v);
}

static void print_tensor(FILE *out, const MilType *t) {
  if (t->rank == 0) {
    fputs(mil_dtype_name(t->dtype), out);
    return;
  }
  fprintf(out, "tensor<%s, [", mil_dtype_name(t->dtype));
  for (int i = 0; i < t->rank && i < MIL_MAX_RANK; i++) {
    fputs(i ? ", " : "", out);
    print_dim(out, t->dim[i]);
  }
  fputs("]>", out);
}

static void print_subs(FILE *out, const MilType *t, int depth) {
  for (int i = 0; i < t->nsub; i++) {
    fputs(i ? ", " : "", out);
    print_type(out, t->sub[i], depth + 1);
  }
}

static void print_type(FILE *out, const MilType *t, int depth) {
  static const char *const kinds[] = {"tensor", "list", "tuple", "dict", "state"};
  if (!t || depth > TYPE_DEPTH) {
    fputs("...", out);
    return;
  }
  if (t->kind == MIL_TENSOR) {
    print_tensor(out, t);
    return;
  }
  fprintf(out, "%s<", kinds[t->kind]);
  print_subs(out, t, depth);
  if (t->kind == MIL_LIST) {
    fputs(", ", out);
    print_dim(out, t->len);
  }
  fputc('>', out);
}

void dryrun_type(FILE *out, const MilType *t) { print_type(out, t, 0); }

/* ---- op counts ----------------------------------------------------------- */

static int cmp_name(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_count(const void *a, const void *b) {
  const OpCount *x = a, *y = b;
  return x->n != y->n ? y->n - x->n : strcmp(x->op, y->op);
}

/* Distinct op types of f, most frequent first; returns how many, or -1. */
static int count_ops(const MilFunc *f, OpCount **out) {
  const char **names = malloc(((size_t)f->nops + 1) * sizeof *names);
  OpCount *c = calloc((size_t)f->nops + 1, sizeof *c);
  int n = 0;
  if (!names || !c) {
    free(names);
    free(c);
    return -1;
  }
  for (int i = 0; i < f->nops; i++)
    names[i] = f->ops[i].op;
  qsort(names, (size_t)f->nops, sizeof *names, cmp_name);
  for (int i = 0; i < f->nops; i++) {
    if (n == 0 || strcmp(c[n - 1].op, names[i]) != 0)
      c[n++].op = names[i];
    c[n - 1].n++;
  }
  free(names);
  qsort(c, (size_t)n, sizeof *c, cmp_count);
  *out = c;
  return n;
}

static int print_op_counts(FILE *out, const MilFunc *f, Diag *d) {
  OpCount *c;
  int n = count_ops(f, &c);
  if (n < 0) {
    diag_file_error(d, "anerun", "out of memory");
    return -1;
  }
  fprintf(out, "  ops: %d", f->nops);
  for (int i = 0; i < n; i++)
    fprintf(out, "%s%s %d", i ? ", " : " (", c[i].op, c[i].n);
  fputs(n ? ")\n" : "\n", out);
  free(c);
  return 0;
}

/* ---- functions ----------------------------------------------------------- */

static void print_inputs(FILE *out, const MilFunc *f) {
  fprintf(out, "  inputs: %d\n", f->ninputs);
  for (int i = 0; i < f->ninputs; i++) {
    fprintf(out, "    %s: ", f->inputs[i].name);
    dryrun_type(out, f->inputs[i].type);
    fputc('\n', out);
  }
}

static int print_outputs(FILE *out, const MilFunc *f, const char *where, Diag *d) {
  int rc = 0;
  fprintf(out, "  outputs: %d\n", f->noutputs);
  for (int i = 0; i < f->noutputs; i++) {
    const MilType *t = mil_value_type(f, f->outputs[i], f->nops);
    if (!t) {
      diag_file_error(d, where, "function %s: output '%s' names no value", f->name,
                      f->outputs[i]);
      rc = -1;
      continue;
    }
    fprintf(out, "    %s: ", f->outputs[i]);
    dryrun_type(out, t);
    fputc('\n', out);
  }
  return rc;
}

static void print_costs(FILE *out, const FuncCost *fc) {
  fprintf(out, "  GFLOP: %.6f (%.0f FLOP)", fc->flops / 1e9, fc->flops);
  if (fc->unknown)
    fprintf(out, " (lower bound: %d ops with unknown shapes not counted)", fc->unknown);
  fprintf(out, "\n  constants: %.3f MB (%llu bytes), %d weight blobs (%.3f MB)\n",
          (double)fc->const_bytes / 1048576.0, (unsigned long long)fc->const_bytes, fc->nblobs,
          (double)fc->blob_bytes / 1048576.0);
}

static int print_func(FILE *out, const MilFunc *f, const char *where, Diag *d) {
  FuncCost fc;
  fprintf(out, "function %s<%s>\n", f->name, f->opset ? f->opset : "?");
  print_inputs(out, f);
  int rc = print_outputs(out, f, where, d);
  if (print_op_counts(out, f, d) < 0 || flops_func(f, &fc) < 0)
    return -1;
  print_costs(out, &fc);
  return rc;
}

static void print_weights(FILE *out, const ModelPath *mp, const Loaded *l) {
  fputs("weights: ", out);
  if (mp->is_anet && l->has_blobs)
    fprintf(out, "%d blobs, generated into a private weight.bin when the model runs\n",
            l->m.prog->nblobs);
  else if (!l->has_blobs)
    fputs("none (the program names no weight blobs)\n", out);
  else if (l->weights_missing)
    fputs("ABSENT: weights/weight.bin is not there, so the blobs were not checked "
          "(the model can be described but not run)\n",
          out);
  else
    fprintf(out, "weights/weight.bin present, %d blob values checked\n", l->nchecked);
}

static LintOpts dry_lint_copy;
static const LintOpts *dry_lint;

/* A copy: the caller's options may not outlive the dry run. */
void dryrun_set_lint(const LintOpts *o) {
  if (o)
    dry_lint_copy = *o;
  dry_lint = o ? &dry_lint_copy : NULL;
}

/* The lint's findings point into the text read: model.mil's lines, or for
 * a .anet the layer lines anetc lowered the ops from. */
static int lint_model(FILE *out, const ModelPath *mp, const Loaded *l, Diag *d) {
  if (!dry_lint)
    return 0;
  LintOpts o = *dry_lint;
  o.json_out = out;
  return lint_prog(l->m.prog, &mp->src, &o, d) > 0 ? -1 : 0;
}

int dryrun_print(FILE *out, const ModelPath *mp, const Loaded *l, Diag *d) {
  const MilProg *p = l->m.prog;
  if (dry_lint && dry_lint->json)
    return lint_model(out, mp, l, d);
  int rc = 0;
  fprintf(out, "model %s (%s)\n", l->name, mp->path);
  fprintf(out, "program(%s), %d function%s\n", p->version ? p->version : "?", p->nfuncs,
          p->nfuncs == 1 ? "" : "s");
  for (int i = 0; i < p->nfuncs; i++)
    if (print_func(out, &p->funcs[i], mp->path, d) < 0)
      rc = -1;
  if (!l->m.fn && p->nfuncs > 0)
    fprintf(out, "runs: function %s, the first (there is no function main; --function "
                 "chooses)\n", p->funcs[0].name);
  else if (p->nfuncs > 1)
    fprintf(out, "runs: function %s\n", l->m.fn->name);
  print_weights(out, mp, l);
  return lint_model(out, mp, l, d) < 0 ? -1 : rc;
}
