/* ast.c - syntax tree nodes (allocation, freeing, the s-expression form
 * the parser tests compare against) and the printed layer IR (--dump-ir). */
#include "ast.h"

#include <stdlib.h>
#include <string.h>

Node *ast_new(NodeKind k, Loc loc) {
  Node *n = calloc(1, sizeof *n);
  if (!n) {
    fputs("anetc: out of memory\n", stderr);
    abort();
  }
  n->kind = k;
  n->loc = loc;
  return n;
}

/* Recursion follows children only, whose depth the parser bounds; a list
 * of siblings is walked in a loop however long it is. */
void ast_free(Node *n) {
  while (n) {
    Node *next = n->next;
    ast_free(n->a);
    ast_free(n->kids);
    ast_free(n->binds);
    free(n->name);
    free(n->bind);
    free(n);
    n = next;
  }
}

int ast_count(const Node *list) {
  int n = 0;
  for (; list; list = list->next)
    n++;
  return n;
}

static void sexpr(FILE *out, const Node *n);

static void sexpr_list(FILE *out, const Node *list, const char *sep) {
  for (const Node *k = list; k; k = k->next) {
    if (k != list)
      fputs(sep, out);
    sexpr(out, k);
  }
}

/* "(head" + " a" + " kids..." + ")" */
static void form(FILE *out, const char *head, const char *name, const Node *a, const Node *kids) {
  fprintf(out, "(%s", head);
  if (name)
    fprintf(out, " %s", name);
  if (a) {
    fputc(' ', out);
    sexpr(out, a);
  }
  if (kids) {
    fputc(' ', out);
    sexpr_list(out, kids, " ");
  }
  fputc(')', out);
}

static void sexpr(FILE *out, const Node *n) {
  switch (n->kind) {
  case N_INT:     fprintf(out, "%lld", (long long)n->ival); break;
  case N_FLOAT:   fprintf(out, "%g", n->fval); break;
  case N_STR:     fprintf(out, "\"%s\"", n->name); break;
  case N_IDENT:   fputs(n->name, out); break;
  case N_NEG:     form(out, "-", NULL, n->a, NULL); break;
  case N_BIN:     form(out, (char[]){(char)n->ival, 0}, NULL, NULL, n->kids); break;
  case N_CALL:    form(out, n->name, NULL, NULL, n->kids); break;
  case N_LIST:
    fputc('[', out);
    sexpr_list(out, n->kids, " ");
    fputc(']', out);
    break;
  case N_ARG:
    if (n->name)
      fprintf(out, "%s=", n->name);
    sexpr(out, n->a);
    break;
  case N_CONST:   form(out, "const", n->name, n->a, NULL); break;
  case N_SWEEP:   form(out, "sweep", NULL, NULL, n->kids); break;
  case N_FACTOR:
    fputs("(in (", out);
    sexpr_list(out, n->kids, " ");
    fputs(") ", out);
    sexpr(out, n->a);
    fputc(')', out);
    break;
  case N_NETWORK: form(out, "network", n->name, NULL, n->kids); break;
  case N_INPUT:   form(out, "input", n->name, n->a, n->kids); break;
  case N_ACT:     form(out, "activations", NULL, n->a, n->kids); break;
  case N_SEED:    form(out, "seed", NULL, n->a, NULL); break;
  case N_REPEAT:  form(out, "repeat", NULL, n->a, n->kids); break;
  case N_LAYER: case N_USE:
    if (n->bind)
      fprintf(out, "(= %s ", n->bind);
    if (n->binds) {
      fputs("(= (", out);
      sexpr_list(out, n->binds, " ");
      fputs(") ", out);
    }
    form(out, n->kind == N_USE ? "use" : n->name, n->kind == N_USE ? n->name : NULL, NULL,
         n->kids);
    if (n->bind || n->binds)
      fputc(')', out);
    break;
  case N_BLOCK:   form(out, "block", n->name, n->a, n->kids); break;
  case N_STATE:   form(out, "state", n->name, n->a, n->kids); break;
  case N_OUTPUT:  form(out, "output", n->name, n->a, NULL); break;
  case N_WEIGHT:   /* (weight k fp16 [4 4] init=...): the dtype sits on the dims */
    fprintf(out, "(weight %s ", n->name);
    sexpr(out, n->a->a);
    fputc(' ', out);
    sexpr(out, n->a);
    if (n->kids) {
      fputc(' ', out);
      sexpr_list(out, n->kids, " ");
    }
    fputc(')', out);
    break;
  case N_LET:     form(out, "let", n->name, NULL, NULL); break;
  case N_FROM:    form(out, "from", n->name, NULL, NULL); break;
  }
}

char *ast_sexpr(const Node *list) {
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  if (!out)
    return NULL;
  sexpr_list(out, list, " ");
  fclose(out);
  return buf;
}

/* ---- the layer IR (--dump-ir) --------------------------------------------- */

static void put_value(FILE *out, const AnetNet *net, int v) {
  for (int i = 0; i < net->ninputs; i++)
    if (net->inputs[i].value == v) {
      fputs(net->inputs[i].name, out);
      return;
    }
  fprintf(out, "v%d", v);
}

static void put_dims(FILE *out, int n, const int64_t *d, const char *sep) {
  for (int i = 0; i < n; i++)
    fprintf(out, "%s%lld", i ? sep : "", (long long)d[i]);
}

static void put_shape(FILE *out, const AnetValue *v) {
  fprintf(out, "%s[", mil_dtype_name(v->dtype));
  put_dims(out, v->rank, v->dim, ", ");
  fputc(']', out);
}

static void put_weight(FILE *out, const char *what, const AnetWeight *w) {
  fprintf(out, " %s=%s", what, mil_dtype_name(w->dtype));
  if (w->dtype == MIL_INT8)
    fprintf(out, "(scale=%g, zero_point=%lld)", w->scale, (long long)w->zero_point);
  switch (w->init) {
  case MIL_INIT_UNIFORM: fprintf(out, " uniform(%g, %g)", w->a, w->b); break;
  case MIL_INIT_NORMAL:  fprintf(out, " normal(%g, %g)", w->a, w->b); break;
  case MIL_INIT_CONST:   fprintf(out, " constant(%g)", w->a); break;
  case MIL_INIT_NPY:     fprintf(out, " npy(\"%s\")", w->path); break;
  case MIL_INIT_QUANT:   break;
  }
  if (w->quantised)
    fprintf(out, " as %s", w->fmt_word);
  if (w->quantised && w->fmt.sparse)
    fprintf(out, " sparsity=%g", w->fmt.sparsity);
}

static void put_layer(FILE *out, const AnetNet *net, const AnetLayer *l) {
  if (l->kind == L_WRITE_STATE) {
    fprintf(out, "write_state %s ", net->states[l->state].name);
    put_value(out, net, l->in);
    fputc('\n', out);
    return;
  }
  if (l->kind == L_READ_STATE) {
    fprintf(out, "v%d = read_state %s -> ", l->out, net->states[l->state].name);
    put_shape(out, &net->values[l->out]);
    fputc('\n', out);
    return;
  }
  for (int i = 0; l->kind == L_SPLIT && i < l->nouts; i++)
    fprintf(out, "%sv%d", i ? ", " : "", l->outs[i]);
  if (l->kind != L_SPLIT)
    fprintf(out, "v%d", l->out);
  fprintf(out, " = %s ", anetc_layer_name(l->kind));
  put_value(out, net, l->in);
  for (int i = 1; l->kind == L_CONCAT && i < l->nins; i++) {
    fputc(' ', out);
    put_value(out, net, l->ins[i]);
  }
  if (l->in2 >= 0) {
    fputc(' ', out);
    put_value(out, net, l->in2);
  } else if (l->has_scalar) {
    fprintf(out, " %g", l->scalar);
  }
  fputs(" -> ", out);
  put_shape(out, &net->values[l->out]);
  switch (l->kind) {
  case L_CONV: case L_LINEAR:
    fprintf(out, " out=%lld kernel=%lldx%lld stride=%lldx%lld dilation=%lldx%lld pad=",
            (long long)l->cout, (long long)l->kernel[0], (long long)l->kernel[1],
            (long long)l->stride[0], (long long)l->stride[1], (long long)l->dilation[0],
            (long long)l->dilation[1]);
    put_dims(out, 4, l->pad, ",");
    fprintf(out, " groups=%lld", (long long)l->groups);
    put_weight(out, "weights", &l->w);
    if (l->has_bias)
      put_weight(out, "bias", &l->bias);
    break;
  case L_MATMUL:
    fprintf(out, " transpose_x=%d transpose_y=%d", l->transpose_x, l->transpose_y);
    break;
  case L_SOFTMAX:
    fprintf(out, " axis=%d", l->axis);
    break;
  case L_LAYER_NORM: case L_RMS_NORM:
    fprintf(out, " axis=%d eps=%g affine=%d", l->axis, l->eps, l->affine);
    break;
  case L_RESHAPE: case L_TRANSPOSE:
    fputs(l->kind == L_RESHAPE ? " shape=" : " perm=", out);
    put_dims(out, l->nshape, l->shape, ",");
    break;
  default:
    break;
  }
  if (l->quant)
    fprintf(out, " | int8(scale=%g)", l->qscale);
  fputc('\n', out);
}

int anet_dump_ir(const AnetFile *f, int point, FILE *out, Diag *d) {
  AnetNet *net = anetc_check(f, point, d);
  if (!net)
    return -1;
  fprintf(out, "network %s", net->name);
  if (f->sweep)
    fprintf(out, " (point %s)", f->point_names[point]);
  fprintf(out, "\nseed %llu\n", (unsigned long long)net->seed);
  for (int i = 0; i < net->ninputs; i++) {
    fprintf(out, "input %s: ", net->inputs[i].name);
    put_shape(out, &net->values[net->inputs[i].value]);
    fputc('\n', out);
  }
  for (int i = 0; i < net->nstates; i++) {
    AnetValue v = {.dtype = net->states[i].dtype, .rank = net->states[i].rank};
    memcpy(v.dim, net->states[i].dim, sizeof v.dim);
    fprintf(out, "state %s: ", net->states[i].name);
    put_shape(out, &v);
    fputc('\n', out);
  }
  for (int i = 0; i < net->nlayers; i++)
    put_layer(out, net, &net->layers[i]);
  for (int i = 0; i < net->noutputs; i++) {
    fputs("output ", out);
    if (net->outputs[i].name)
      fprintf(out, "%s = ", net->outputs[i].name);
    put_value(out, net, net->outputs[i].value);
    fputc('\n', out);
  }
  anetc_free(net);
  return ferror(out) ? -1 : 0;
}
