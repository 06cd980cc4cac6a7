/* flops.c - counting FLOP and bytes per MIL op.
 *
 * The rules (docs/report-schema.md) follow the seed benchmark: a multiply
 * and an add are two FLOP, so conv is 2*Cout*(Cin/groups)*kh*kw*Hout*Wout
 * per batch item. Ops that do several operations per element (softmax,
 * norms, gelu) count one, so totals are lower bounds for them. */
#include "flops.h"

#include <stdlib.h>
#include <string.h>

enum { VALUE_DEPTH = 16, PRODUCER_DEPTH = 4 };

typedef struct Entry {
  const char *name;
  int producer;          /* op index, or -1 - input index */
  const MilType *type;
} Entry;

struct FlopsIndex {
  const MilFunc *f;
  int n;
  Entry *e;
};

/* ---- op classes ---------------------------------------------------------- */

typedef struct ClassName {
  const char *op;
  FlopsClass cls;
} ClassName;

/* Sorted by op name (bsearch). */
static const ClassName class_names[] = {
    {"avg_pool", FLOPS_POOL},
    {"batch_to_space", FLOPS_MOVE},
    {"concat", FLOPS_MOVE},
    {"const", FLOPS_CONST},
    {"conv", FLOPS_CONV},
    {"conv_transpose", FLOPS_CONVT},
    {"coreml_update_state", FLOPS_MOVE},
    {"crop", FLOPS_MOVE},
    {"depth_to_space", FLOPS_MOVE},
    {"expand_dims", FLOPS_MOVE},
    {"fill", FLOPS_MOVE},
    {"fill_like", FLOPS_MOVE},
    {"flatten2d", FLOPS_MOVE},
    {"gather", FLOPS_MOVE},
    {"gather_along_axis", FLOPS_MOVE},
    {"gather_nd", FLOPS_MOVE},
    {"gru", FLOPS_RNN},
    {"identity", FLOPS_MOVE},
    {"l2_pool", FLOPS_POOL},
    {"linear", FLOPS_LINEAR},
    {"lstm", FLOPS_RNN},
    {"matmul", FLOPS_MATMUL},
    {"max_pool", FLOPS_POOL},
    {"pad", FLOPS_MOVE},
    {"pixel_shuffle", FLOPS_MOVE},
    {"pixel_unshuffle", FLOPS_MOVE},
    {"range_1d", FLOPS_MOVE},
    {"read_state", FLOPS_MOVE},
    {"reshape", FLOPS_MOVE},
    {"reshape_like", FLOPS_MOVE},
    {"reverse", FLOPS_MOVE},
    {"reverse_sequence", FLOPS_MOVE},
    {"rnn", FLOPS_RNN},
    {"scaled_dot_product_attention", FLOPS_ATTN},
    {"scatter", FLOPS_MOVE},
    {"scatter_along_axis", FLOPS_MOVE},
    {"scatter_nd", FLOPS_MOVE},
    {"shape", FLOPS_MOVE},
    {"slice_by_index", FLOPS_MOVE},
    {"slice_by_size", FLOPS_MOVE},
    {"sliding_windows", FLOPS_MOVE},
    {"space_to_batch", FLOPS_MOVE},
    {"space_to_depth", FLOPS_MOVE},
    {"split", FLOPS_MOVE},
    {"squeeze", FLOPS_MOVE},
    {"stack", FLOPS_MOVE},
    {"tile", FLOPS_MOVE},
    {"topk", FLOPS_REDUCE},
    {"transpose", FLOPS_MOVE},
    {"write_state", FLOPS_MOVE},
};

static int cmp_class(const void *key, const void *elem) {
  return strcmp(key, ((const ClassName *)elem)->op);
}

FlopsClass flops_class(const char *op) {
  if (strncmp(op, "constexpr_", 10) == 0)
    return FLOPS_CONST;
  if (strncmp(op, "reduce_", 7) == 0)
    return FLOPS_REDUCE;
  const ClassName *c = bsearch(op, class_names, sizeof class_names / sizeof class_names[0],
                               sizeof class_names[0], cmp_class);
  return c ? c->cls : FLOPS_ELEM;
}

/* ---- the name index ------------------------------------------------------ */

static int cmp_entry(const void *a, const void *b) {
  return strcmp(((const Entry *)a)->name, ((const Entry *)b)->name);
}

static int count_names(const MilFunc *f) {
  int n = f->ninputs;
  for (int i = 0; i < f->nops; i++)
    n += f->ops[i].nouts;
  return n;
}

FlopsIndex *flops_index(const MilFunc *f) {
  FlopsIndex *ix = calloc(1, sizeof *ix);
  int n = count_names(f);
  if (!ix || !(ix->e = calloc((size_t)n + 1, sizeof *ix->e))) {
    free(ix);
    return NULL;
  }
  ix->f = f;
  for (int i = 0; i < f->ninputs; i++)
    ix->e[ix->n++] = (Entry){f->inputs[i].name, -1 - i, f->inputs[i].type};
  for (int o = 0; o < f->nops; o++)
    for (int k = 0; k < f->ops[o].nouts; k++)
      ix->e[ix->n++] = (Entry){f->ops[o].outs[k].name, o, f->ops[o].outs[k].type};
  qsort(ix->e, (size_t)ix->n, sizeof *ix->e, cmp_entry);
  return ix;
}

void flops_index_free(FlopsIndex *ix) {
  if (ix)
    free(ix->e);
  free(ix);
}

static const Entry *lookup(const FlopsIndex *ix, const char *name) {
  Entry key = {name, 0, NULL};
  return name ? bsearch(&key, ix->e, (size_t)ix->n, sizeof key, cmp_entry) : NULL;
}

static const MilOp *producer_op(const FlopsIndex *ix, const MilBind *b) {
  if (b->kind != MIL_BREF)
    return NULL;
  const Entry *e = lookup(ix, b->ref);
  return e && e->producer >= 0 ? &ix->f->ops[e->producer] : NULL;
}

static bool is_func_input(const FlopsIndex *ix, const MilBind *b) {
  const Entry *e = b->kind == MIL_BREF ? lookup(ix, b->ref) : NULL;
  return e && e->producer < 0;
}

static bool is_func_output(const MilFunc *f, const char *name) {
  for (int i = 0; i < f->noutputs; i++)
    if (strcmp(f->outputs[i], name) == 0)
      return true;
  return false;
}

const MilType *flops_bind_type(const FlopsIndex *ix, const MilBind *b) {
  if (b->kind == MIL_BVAL)
    return b->val ? b->val->type : NULL;
  if (b->kind != MIL_BREF)
    return NULL;
  const Entry *e = lookup(ix, b->ref);
  return e ? e->type : NULL;
}

const MilValue *flops_const_value(const FlopsIndex *ix, const MilBind *b) {
  if (b->kind == MIL_BVAL)
    return b->val;
  const MilOp *p = producer_op(ix, b);
  if (!p || strcmp(p->op, "const") != 0)
    return NULL;
  const MilAttr *a = mil_op_attr_get(p, "val");
  return a ? a->val : NULL;
}

/* ---- bytes --------------------------------------------------------------- */

static uint64_t type_bytes(const MilType *t) {
  int64_t n = t ? mil_type_numel(t) : -1;
  if (n < 0 || mil_dtype_bits(t->dtype) == 0)
    return 0;
  return mil_blob_nbytes(t->dtype, n);
}

static uint64_t value_bytes(const MilValue *v, int depth) {
  if (!v || depth > VALUE_DEPTH)
    return 0;
  if (v->kind == MIL_VAGG) {
    uint64_t n = 0;
    for (int i = 0; i < v->nitems; i++)
      n += value_bytes(v->items[i], depth + 1);
    return n;
  }
  if (!v->type || v->type->kind != MIL_TENSOR || mil_dtype_bits(v->type->dtype) == 0)
    return 0;
  int64_t n = v->kind == MIL_VDATA ? v->n : mil_type_numel(v->type);
  return n < 0 ? 0 : mil_blob_nbytes(v->type->dtype, n);
}

uint64_t flops_value_bytes(const MilValue *v) { return value_bytes(v, 0); }

static bool is_const_op(const MilOp *op) { return flops_class(op->op) == FLOPS_CONST; }

static uint64_t stored_bytes(const FlopsIndex *ix, const MilOp *op, int depth);

/* Stored bytes behind one binding of a constant op. */
static uint64_t bind_stored(const FlopsIndex *ix, const MilBind *b, int depth) {
  if (b->kind == MIL_BVAL)
    return flops_value_bytes(b->val);
  if (b->kind == MIL_BLIST) {
    uint64_t n = 0;
    for (int i = 0; i < b->nitems; i++)
      n += bind_stored(ix, &b->items[i], depth);
    return n;
  }
  const MilOp *p = producer_op(ix, b);
  return p && is_const_op(p) ? stored_bytes(ix, p, depth + 1) : 0;
}

/* Whether argument i of op comes from the same op as an earlier one: the
 * two outputs of constexpr_sparse_blockwise_shift_scale (mask, values)
 * both feed constexpr_sparse_to_dense, and are stored once. */
static bool same_producer(const FlopsIndex *ix, const MilOp *op, int i) {
  const MilBind *b = &op->args[i].bind;
  const MilOp *p = b->kind == MIL_BREF ? producer_op(ix, b) : NULL;
  for (int j = 0; p && j < i; j++)
    if (op->args[j].bind.kind == MIL_BREF && producer_op(ix, &op->args[j].bind) == p)
      return true;
  return false;
}

/* What a const or constexpr op keeps in the model: a constexpr's inputs
 * (int8 data, LUTs, masks), not its dequantized output. */
static uint64_t stored_bytes(const FlopsIndex *ix, const MilOp *op, int depth) {
  if (depth > PRODUCER_DEPTH)
    return 0;
  uint64_t n = 0;
  for (int i = 0; i < op->nattrs; i++)
    if (strcmp(op->attrs[i].name, "name") != 0)
      n += flops_value_bytes(op->attrs[i].val);
  for (int i = 0; i < op->nargs; i++)
    if (!same_producer(ix, op, i))
      n += bind_stored(ix, &op->args[i].bind, depth);
  return n;
}

static void add_bind_bytes(const FlopsIndex *ix, const MilBind *b, OpCost *c) {
  if (b->kind == MIL_BLIST) {
    for (int i = 0; i < b->nitems; i++)
      add_bind_bytes(ix, &b->items[i], c);
    return;
  }
  if (b->kind == MIL_BVAL) {
    c->weight_bytes += (double)flops_value_bytes(b->val);
    return;
  }
  const MilOp *p = producer_op(ix, b);
  double n = (double)type_bytes(flops_bind_type(ix, b));
  if (p && is_const_op(p))
    c->weight_bytes += (double)stored_bytes(ix, p, 0);
  else
    c->act_bytes += n;
  if (is_func_input(ix, b))
    c->io_bytes += n;
}

static void op_bytes(const FlopsIndex *ix, const MilOp *op, OpCost *c) {
  for (int i = 0; i < op->nargs; i++)
    add_bind_bytes(ix, &op->args[i].bind, c);
  for (int k = 0; k < op->nouts; k++) {
    double n = (double)type_bytes(op->outs[k].type);
    c->act_bytes += n;
    if (is_func_output(ix->f, op->outs[k].name))
      c->io_bytes += n;
  }
}

/* ---- FLOP per class ------------------------------------------------------ */

static const MilType *arg_tensor(const FlopsIndex *ix, const MilOp *op, const char *name) {
  const MilArg *a = mil_op_arg(op, name);
  const MilType *t = a ? flops_bind_type(ix, &a->bind) : NULL;
  return t && t->kind == MIL_TENSOR ? t : NULL;
}

static double numel(const MilType *t) {
  int64_t n = t && t->kind == MIL_TENSOR ? mil_type_numel(t) : -1;
  return (double)n;
}

static double out_numel(const MilOp *op) {
  double n = 0;
  for (int k = 0; k < op->nouts; k++) {
    double m = numel(op->outs[k].type);
    if (m < 0)
      return -1;
    n += m;
  }
  return n;
}

static double first_out(const MilOp *op) { return op->nouts ? numel(op->outs[0].type) : -1; }

/* Product of dims [from, rank); -1 if one is unknown. */
static double dims_from(const MilType *t, int from) {
  if (!t || t->rank <= from)
    return -1;
  double p = 1;
  for (int i = from; i < t->rank; i++) {
    if (t->dim[i] < 0)
      return -1;
    p *= (double)t->dim[i];
  }
  return p;
}

static double conv_flops(const FlopsIndex *ix, const MilOp *op) {
  double w = dims_from(arg_tensor(ix, op, "weight"), 1), out = first_out(op);
  return w < 0 || out < 0 ? -1 : 2 * out * w;
}

static double convt_flops(const FlopsIndex *ix, const MilOp *op) {
  double w = dims_from(arg_tensor(ix, op, "weight"), 1), x = numel(arg_tensor(ix, op, "x"));
  return w < 0 || x < 0 ? -1 : 2 * x * w;
}

static bool const_flag(const FlopsIndex *ix, const MilOp *op, const char *name) {
  const MilArg *a = mil_op_arg(op, name);
  const MilValue *v = a ? flops_const_value(ix, &a->bind) : NULL;
  return v && v->kind == MIL_VDATA && v->n == 1 && v->i && v->i[0] != 0;
}

static double matmul_flops(const FlopsIndex *ix, const MilOp *op) {
  const MilType *x = arg_tensor(ix, op, "x");
  double out = first_out(op);
  if (!x || x->rank < 1 || out < 0)
    return -1;
  int k = x->rank - 1;
  if (x->rank >= 2 && const_flag(ix, op, "transpose_x"))
    k = x->rank - 2;
  return x->dim[k] < 0 ? -1 : 2 * out * (double)x->dim[k];
}

static double linear_flops(const FlopsIndex *ix, const MilOp *op) {
  const MilType *x = arg_tensor(ix, op, "x");
  double out = first_out(op);
  if (!x || x->rank < 1 || out < 0 || x->dim[x->rank - 1] < 0)
    return -1;
  return 2 * out * (double)x->dim[x->rank - 1];
}

/* query [..., L, E], key [..., S, E], value [..., S, Ev]: Q.K^T and P.V. */
static double attn_flops(const FlopsIndex *ix, const MilOp *op) {
  const MilType *q = arg_tensor(ix, op, "query"), *k = arg_tensor(ix, op, "key");
  const MilType *v = arg_tensor(ix, op, "value");
  if (!q || !k || !v || q->rank < 2 || k->rank < 2 || v->rank < 2)
    return -1;
  double e = (double)q->dim[q->rank - 1], s = (double)k->dim[k->rank - 2];
  double ev = (double)v->dim[v->rank - 1], nq = numel(q);
  if (e <= 0 || s < 0 || ev < 0 || nq < 0)
    return e == 0 ? 0 : -1;
  return 2 * (nq / e) * s * (e + ev);
}

/* x [T, B, I]: each weight matrix is applied once per step and batch row. */
static double rnn_flops(const FlopsIndex *ix, const MilOp *op) {
  static const char *const weights[] = {"weight_ih", "weight_hh", "weight_ih_back",
                                        "weight_hh_back"};
  const MilType *x = arg_tensor(ix, op, "x");
  if (!x || x->rank != 3 || x->dim[0] < 0 || x->dim[1] < 0)
    return -1;
  double w = 0;
  for (int i = 0; i < 4; i++) {
    if (!mil_op_arg(op, weights[i]))
      continue;
    double n = numel(arg_tensor(ix, op, weights[i]));
    if (n < 0)
      return -1;
    w += n;
  }
  return 2 * (double)x->dim[0] * (double)x->dim[1] * w;
}

static double pool_flops(const FlopsIndex *ix, const MilOp *op) {
  const MilArg *a = mil_op_arg(op, "kernel_sizes");
  const MilValue *k = a ? flops_const_value(ix, &a->bind) : NULL;
  double out = first_out(op), p = 1;
  if (!k || k->kind != MIL_VDATA || !k->i || out < 0)
    return -1;
  for (int64_t i = 0; i < k->n; i++)
    p *= (double)k->i[i];
  return out * p;
}

static double class_flops(const FlopsIndex *ix, const MilOp *op, FlopsClass cls) {
  switch (cls) {
  case FLOPS_CONST:
  case FLOPS_MOVE: return 0;
  case FLOPS_CONV: return conv_flops(ix, op);
  case FLOPS_CONVT: return convt_flops(ix, op);
  case FLOPS_MATMUL: return matmul_flops(ix, op);
  case FLOPS_LINEAR: return linear_flops(ix, op);
  case FLOPS_ATTN: return attn_flops(ix, op);
  case FLOPS_RNN: return rnn_flops(ix, op);
  case FLOPS_POOL: return pool_flops(ix, op);
  case FLOPS_REDUCE: return numel(arg_tensor(ix, op, "x"));
  case FLOPS_ELEM: return out_numel(op);
  }
  return -1;
}

static bool from_dequantize(const FlopsIndex *ix, const MilOp *op) {
  const MilArg *a = mil_op_arg(op, "x");
  const MilOp *p = a ? producer_op(ix, &a->bind) : NULL;
  return p && strcmp(p->op, "dequantize") == 0;
}

void flops_op(const FlopsIndex *ix, int i, OpCost *c) {
  const MilOp *op = &ix->f->ops[i];
  memset(c, 0, sizeof *c);
  c->cls = flops_class(op->op);
  c->known = true;
  if (c->cls == FLOPS_CONST)
    return;
  double fl = class_flops(ix, op, c->cls);
  c->known = fl >= 0;
  c->flops = fl > 0 ? fl : 0;
  c->int8_act = from_dequantize(ix, op);
  op_bytes(ix, op, c);
}

/* ---- whole functions ----------------------------------------------------- */

static void count_value(const MilValue *v, FuncCost *fc, int depth) {
  if (!v || depth > VALUE_DEPTH)
    return;
  if (v->kind == MIL_VAGG) {
    for (int i = 0; i < v->nitems; i++)
      count_value(v->items[i], fc, depth + 1);
    return;
  }
  uint64_t n = flops_value_bytes(v);
  fc->const_bytes += n;
  if (v->kind == MIL_VBLOB) {
    fc->nblobs++;
    fc->blob_bytes += n;
  }
}

static void count_bind(const MilBind *b, FuncCost *fc) {
  if (b->kind == MIL_BVAL)
    count_value(b->val, fc, 0);
  for (int i = 0; b->kind == MIL_BLIST && i < b->nitems; i++)
    count_bind(&b->items[i], fc);
}

static void count_constants(const MilOp *op, FuncCost *fc) {
  for (int i = 0; i < op->nattrs; i++)
    count_value(op->attrs[i].val, fc, 0);
  for (int i = 0; i < op->nargs; i++)
    count_bind(&op->args[i].bind, fc);
}

int flops_func(const MilFunc *f, FuncCost *fc) {
  memset(fc, 0, sizeof *fc);
  FlopsIndex *ix = flops_index(f);
  if (!ix)
    return -1;
  fc->nops = f->nops;
  for (int i = 0; i < f->nops; i++) {
    OpCost c;
    flops_op(ix, i, &c);
    fc->flops += c.flops;
    fc->unknown += !c.known;
    count_constants(&f->ops[i], fc);
  }
  flops_index_free(ix);
  return 0;
}
