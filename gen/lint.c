/* lint.c - one check per known ANE constraint (docs/lint.md).
 *
 * Sources are cited by the short names of docs/lint.md: orion (mechramc/
 * Orion docs/ane_constraints.md, by item number), af-cap, af-quirks,
 * af-cross (sbryngelson/ANEForge docs/capabilities.md, developer/
 * op-quirks.md, cross-chip.md), guide (skyfallsin/apple-neural-engine-
 * field-guide README), notes (../shared/ANE_NOTES.md by section), mad-m4
 * and coremltools as in target.c. Where two sources disagree the rule
 * warns and says so; it is an error only when no source says it works. */
#include "lint.h"
#include "json.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef enum Sev { SEV_WARNING, SEV_ERROR } Sev;

enum {
  R_DIALECT, R_OPSET, R_CONCAT, R_GELU, R_RSQRT, R_CONV_BIAS, R_SDPA_MASK, R_IO_DTYPE,
  R_IO_WIDTH, R_IO_MIN_BYTES, R_IO_UNIFORM, R_IO_ORDER, R_RANK, R_SYMBOLIC, R_AXIS_SIZE,
  R_CONV_CHANNELS, R_KERNEL_WIDTH, R_RUNTIME_CONV_WEIGHT, R_TILE, R_BLOCKWISE_INT4,
  R_WEIGHT_FOLD, R_AFFINE_SCALE, R_FAMILY_OP, R_NO_HW_OP, R_MUL_ZERO, R_WIDTH_SLICE,
  R_CONST_BYTES, R_FP32_COMPUTE, R_SRAM, R_NRULES
};

static const LintRule rules[R_NRULES] = {
    [R_DIALECT] = {"ane-dialect", "maderix/ANE PR #6 (notes 3.2)",
                   "program version or opset newer than the target takes"},
    [R_OPSET] = {"ane-opset", "coremltools opset definitions",
                 "an op that the target's opset does not have"},
    [R_CONCAT] = {"ane-concat", "orion 1; af-cap (exactly 2 inputs)", "concat"},
    [R_GELU] = {"ane-gelu", "orion 10; af-cap (mode required)", "gelu"},
    [R_RSQRT] = {"ane-rsqrt", "notes 3.2; af-cap says native (CONFLICT)", "rsqrt and inverse"},
    [R_CONV_BIAS] = {"ane-conv-bias", "notes 3.2", "conv with a bias argument"},
    [R_SDPA_MASK] = {"ane-sdpa-mask", "orion 6", "scaled_dot_product_attention with a mask"},
    [R_IO_DTYPE] = {"ane-io-dtype", "af-cap (datatypes); notes 3.4",
                    "function inputs and outputs the ANE cannot exchange"},
    [R_IO_WIDTH] = {"ane-io-width", "guide (SP=32); notes 3.4 (rustane: multiple of 16); orion 4",
                    "I/O innermost dimension below 32 or not a multiple of 16"},
    [R_IO_MIN_BYTES] = {"ane-io-min-bytes", "orion 4", "I/O tensors under 49152 bytes"},
    [R_IO_UNIFORM] = {"ane-io-uniform", "orion 2, 12", "inputs (outputs) of different sizes"},
    [R_IO_ORDER] = {"ane-io-order", "orion 3, 13", "inputs (outputs) not in alphabetical order"},
    [R_RANK] = {"ane-rank", "af-quirks (rank 0..5)", "tensors of rank above 5"},
    [R_SYMBOLIC] = {"ane-symbolic-shape", "af-cap (shapes static only)", "'?' dimensions"},
    [R_AXIS_SIZE] = {"ane-axis-size", "af-cross; af-quirks; notes 3.2",
                     "an axis beyond the target's extent cap"},
    [R_CONV_CHANNELS] = {"ane-conv-channels", "notes 3.2 (32K-channel conv)",
                         "conv with 32768 or more channels"},
    [R_KERNEL_WIDTH] = {"ane-kernel-width", "af-cross; af-quirks", "conv kernel wider than the target's cap"},
    [R_RUNTIME_CONV_WEIGHT] = {"ane-runtime-conv-weight", "guide; af-cap (batch 1 only, CONFLICT)",
                               "conv whose weight is computed at run time"},
    [R_TILE] = {"ane-tile", "guide (tile poison); af-cross says native (CONFLICT)", "tile"},
    [R_BLOCKWISE_INT4] = {"ane-blockwise-int4", "af-cross (streaming table)",
                          "4-bit constexpr_blockwise_shift_scale on a target that folds it"},
    [R_WEIGHT_FOLD] = {"ane-weight-fold", "af-cross (streaming table)",
                       "int8 or blockwise weights on a target that folds them to fp16"},
    [R_AFFINE_SCALE] = {"ane-affine-scale", "notes 3.3 (probe); af-cap says per-channel works (CONFLICT)",
                        "constexpr_affine_dequantize with a per-channel scale"},
    [R_FAMILY_OP] = {"ane-family-op", "af-cap (per-family op floors)",
                     "ops newer than the target's capability family"},
    [R_NO_HW_OP] = {"ane-no-hw-op", "af-cap (operators with no hardware backing)",
                    "ops the ANE has no hardware for"},
    [R_MUL_ZERO] = {"ane-mul-zero", "af-cap (training); notes 3.2", "mul of a reduction by 0"},
    [R_WIDTH_SLICE] = {"ane-width-slice", "af-cross (h13 slice saturation)",
                       "slice with a last-axis offset on an A13-family (M1) target"},
    [R_CONST_BYTES] = {"ane-const-bytes", "notes 3.5 (ANEForge PR #45)", "more than 2 GB of weights"},
    [R_FP32_COMPUTE] = {"ane-fp32-compute", "af-quirks (compute dtype fp16 only)", "ops computing in fp32"},
    [R_SRAM] = {"ane-sram", "mad-m4 (~32 MB SRAM, ~30 % slower past it)",
                "an activation larger than the target's on-chip memory"},
};

typedef struct Ctx {
  const MilProg *p;
  const MilFunc *f;
  const Src *src;
  const LintOpts *o;
  const TargetChip *tc;    /* NULL for an OS-only target */
  Diag *d;
  int nerrors, nfound;
} Ctx;

const LintRule *lint_rules(int *n) {
  *n = R_NRULES;
  return rules;
}

void lint_opts_init(LintOpts *o) {
  memset(o, 0, sizeof *o);
  target_default(&o->target);
}

int lint_opts_silence(LintOpts *o, const char *name) {
  for (int i = 0; i < R_NRULES; i++)
    if (strcmp(rules[i].name, name) == 0) {
      if (o->noff < LINT_MAX_OFF)
        o->off[o->noff++] = rules[i].name;
      return 0;
    }
  return -1;
}

static bool silenced(const LintOpts *o, int rule) {
  for (int i = 0; i < o->noff; i++)
    if (strcmp(o->off[i], rules[rule].name) == 0)
      return true;
  return false;
}

/* ---- reporting ----------------------------------------------------------- */


static void report_json(Ctx *c, int rule, Sev sev, Loc loc, const char *what, const char *msg) {
  FILE *out = c->o->json_out ? c->o->json_out : stdout;
  int line = 0, col = 0;
  if (c->src && loc.end > loc.start)
    diag_linecol(c->src, loc.start, &line, &col);
  fputs(c->nfound ? ",\n  {" : "\n  {", out);
  fputs("\"rule\": ", out);
  json_str(out, rules[rule].name);
  fprintf(out, ", \"severity\": \"%s\", \"file\": ", sev == SEV_ERROR ? "error" : "warning");
  json_str(out, c->src ? c->src->name : "");
  fprintf(out, ", \"line\": %d, \"col\": %d, \"op\": ", line, col);
  json_str(out, what);
  fputs(", \"message\": ", out);
  json_str(out, msg);
  fputs("}", out);
}

/* One finding about `what` (an op's output or an I/O name) at loc. */
__attribute__((format(printf, 6, 7))) static void report(Ctx *c, int rule, Sev sev, Loc loc,
                                                         const char *what, const char *fmt, ...) {
  if (silenced(c->o, rule))
    return;
  if (!c->o->strict) {
    if (rule == R_IO_MIN_BYTES || rule == R_IO_UNIFORM || rule == R_IO_ORDER)
      return;
    sev = SEV_WARNING;
  }
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  bool counted = false;
  if (c->o->json)
    report_json(c, rule, sev, loc, what, msg);
  else if (c->src && loc.end > loc.start && sev == SEV_ERROR)
    counted = (diag_error(c->d, c->src, loc, "%s: %s [%s]", what, msg, rules[rule].name), true);
  else if (c->src && loc.end > loc.start)
    diag_warning(c->d, c->src, loc, "%s: %s [%s]", what, msg, rules[rule].name);
  else
    fprintf(c->d->out ? c->d->out : stderr, "%s: %s: %s: %s [%s]\n",
            c->src ? c->src->name : "anet", sev == SEV_ERROR ? "error" : "warning", what, msg,
            rules[rule].name);
  if (sev == SEV_ERROR && !counted)
    c->d->nerrors++;
  c->nerrors += sev == SEV_ERROR;
  c->nfound++;
}

/* ---- helpers ------------------------------------------------------------- */

static const MilOp *producer(const MilFunc *f, const char *name) {
  for (int o = 0; o < f->nops; o++)
    for (int k = 0; k < f->ops[o].nouts; k++)
      if (strcmp(f->ops[o].outs[k].name, name) == 0)
        return &f->ops[o];
  return NULL;
}

static bool binds(const MilBind *b, const char *name) {
  if (b->kind == MIL_BREF)
    return strcmp(b->ref, name) == 0;
  for (int i = 0; b->kind == MIL_BLIST && i < b->nitems; i++)
    if (binds(&b->items[i], name))
      return true;
  return false;
}

/* Where a function input is first used: the op reading it. */
static Loc use_loc(const MilFunc *f, const char *name) {
  for (int o = 0; o < f->nops; o++)
    for (int a = 0; a < f->ops[o].nargs; a++)
      if (binds(&f->ops[o].args[a].bind, name))
        return f->ops[o].loc;
  return f->loc;
}

static Loc def_loc(const MilFunc *f, const char *name) {
  const MilOp *op = producer(f, name);
  return op ? op->loc : f->loc;
}

static const MilType *bind_type(const Ctx *c, const MilBind *b) {
  if (b->kind == MIL_BVAL)
    return b->val->type;
  if (b->kind == MIL_BREF)
    return mil_value_type(c->f, b->ref, c->f->nops);
  return NULL;
}

/* Constexpr parameters are attributes up to ios17 and inputs from ios18
 * (FORMATS.md 2): look in both. */
static const MilType *arg_type(const Ctx *c, const MilOp *op, const char *name) {
  const MilArg *a = mil_op_arg(op, name);
  const MilAttr *at = a ? NULL : mil_op_attr_get(op, name);
  return a ? bind_type(c, &a->bind) : at ? at->val->type : NULL;
}

/* The literal behind a parameter: an attribute, inline, or a const's val. */
static const MilValue *arg_value(const Ctx *c, const MilOp *op, const char *name) {
  const MilArg *a = mil_op_arg(op, name);
  const MilAttr *at = a ? NULL : mil_op_attr_get(op, name);
  if (!a)
    return at ? at->val : NULL;
  if (a->bind.kind == MIL_BVAL)
    return a->bind.val;
  if (a->bind.kind != MIL_BREF)
    return NULL;
  const MilOp *src = producer(c->f, a->bind.ref);
  const MilAttr *v = src && strcmp(src->op, "const") == 0 ? mil_op_attr_get(src, "val") : NULL;
  return v ? v->val : NULL;
}

static bool is_tensor(const MilType *t) { return t && t->kind == MIL_TENSOR; }

static int64_t type_bytes(const MilType *t) {
  int64_t n = is_tensor(t) ? mil_type_numel(t) : -1;
  return n < 0 ? -1 : (int64_t)mil_blob_nbytes(t->dtype, n);
}

static const char *op_name(const MilOp *op) { return op->nouts ? op->outs[0].name : op->op; }

static bool is_folded(const MilOp *op) {
  return strcmp(op->op, "const") == 0 || strncmp(op->op, "constexpr_", 10) == 0;
}

static bool op_in(const char *op, const char *const *list) {
  for (; *list; list++)
    if (strcmp(op, *list) == 0)
      return true;
  return false;
}

/* ---- program and I/O rules ----------------------------------------------- */

static void check_dialect(Ctx *c) {
  const Target *t = &c->o->target;
  int ios = c->f->opset && strncmp(c->f->opset, "ios", 3) == 0 ? atoi(c->f->opset + 3) : 0;
  if (ios > t->ios)
    report(c, R_DIALECT, SEV_ERROR, c->f->loc, c->f->name,
           "function is <%s> but target %s takes <ios%d> at most; build for that opset",
           c->f->opset, t->name, t->ios);
  else if (c->p->version && strcmp(t->version, "1.0") == 0 && strcmp(c->p->version, "1.0") != 0)
    report(c, R_DIALECT, SEV_ERROR, c->f->loc, c->f->name,
           "target %s needs program(1.0) with verbose scalars (tensor<T, []>), not program(%s)",
           t->name, c->p->version);
}

static void check_io_type(Ctx *c, const char *name, const MilType *t, Loc loc) {
  if (!is_tensor(t))
    return;
  static const MilDtype ok[] = {MIL_FP16, MIL_INT8, MIL_UINT8, MIL_INT16, MIL_UINT16};
  bool good = false;
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    good |= t->dtype == ok[i];
  if (t->dtype == MIL_FP32)
    report(c, R_IO_DTYPE, SEV_WARNING, loc, name,
           "fp32 I/O is refused on the e5rt path and slower on the direct path; use fp16");
  else if (!good)
    report(c, R_IO_DTYPE, SEV_ERROR, loc, name,
           "%s tensors cannot cross an IOSurface; cast to fp16 inside the program",
           mil_dtype_name(t->dtype));
  if (t->rank == 0)
    return;
  int64_t w = t->dim[t->rank - 1];
  if (w > 0 && (w < 32 || w % 16 != 0))
    report(c, R_IO_WIDTH, SEV_WARNING, loc, name,
           "innermost dimension %lld: runtime surfaces want it a multiple of 16 and at least "
           "32 (sources disagree on 16 vs 32); pad it", (long long)w);
  int64_t b = type_bytes(t);
  if (b >= 0 && b < 49152)
    report(c, R_IO_MIN_BYTES, SEV_WARNING, loc, name,
           "%lld bytes: evaluation fails (status 0x1d) on surfaces under 49152 bytes; allocate "
           "the surface at 49152 or more", (long long)b);
}

/* Sizes and names of the I/O list: uniform sizes, alphabetical order. */
static void check_io_list(Ctx *c, int n, const char **names, const MilType **types,
                          const char *kind) {
  for (int i = 1; i < n; i++) {
    int64_t a = type_bytes(types[0]), b = type_bytes(types[i]);
    if (a >= 0 && b >= 0 && a != b) {
      report(c, R_IO_UNIFORM, SEV_WARNING, c->f->loc, names[i],
             "%s sizes differ (%lld vs %lld bytes for '%s'): every surface must be allocated "
             "at the largest size", kind, (long long)b, (long long)a, names[0]);
      break;
    }
  }
  for (int i = 1; i < n; i++)
    if (strcmp(names[i - 1], names[i]) > 0) {
      report(c, R_IO_ORDER, SEV_WARNING, c->f->loc, names[i],
             "%s are bound in alphabetical order of their names, not declaration order; "
             "rename them so both orders agree", kind);
      break;
    }
}

static void check_io(Ctx *c) {
  const MilFunc *f = c->f;
  int n = f->ninputs > f->noutputs ? f->ninputs : f->noutputs;
  const char **names = malloc(((size_t)n + 1) * sizeof *names);
  const MilType **types = malloc(((size_t)n + 1) * sizeof *types);
  if (!names || !types) {
    free(names);
    free(types);
    return;
  }
  for (int i = 0; i < f->ninputs; i++) {
    names[i] = f->inputs[i].name;
    types[i] = f->inputs[i].type;
    check_io_type(c, names[i], types[i], use_loc(f, names[i]));
  }
  check_io_list(c, f->ninputs, names, types, "inputs");
  int m = 0;
  for (int i = 0; i < f->noutputs; i++) {
    const MilType *t = mil_value_type(f, f->outputs[i], f->nops);
    if (!t)
      continue;
    names[m] = f->outputs[i];
    types[m++] = t;
    check_io_type(c, f->outputs[i], t, def_loc(f, f->outputs[i]));
  }
  check_io_list(c, m, names, types, "outputs");
  free(names);
  free(types);
}

static void check_const_bytes(Ctx *c) {
  uint64_t total = 0;
  for (int i = 0; i < c->p->nblobs; i++)
    total += mil_blob_nbytes(c->p->blobs[i].dtype, c->p->blobs[i].numel);
  for (int o = 0; o < c->f->nops; o++) {
    const MilAttr *v = mil_op_attr_get(&c->f->ops[o], "val");
    if (c->p->nblobs == 0 && v && v->val->kind == MIL_VBLOB)
      total += (uint64_t)(type_bytes(v->val->type) > 0 ? type_bytes(v->val->type) : 0);
  }
  if (total > (2ull << 30))
    report(c, R_CONST_BYTES, SEV_ERROR, c->f->loc, c->f->name,
           "%.2f GB of weights: one program bakes about 2 GB at most; split the model",
           (double)total / (1 << 30));
}

/* ---- per-op rules -------------------------------------------------------- */

static void check_shape(Ctx *c, const MilOp *op, const MilType *t) {
  const TargetChip *tc = c->tc;
  if (!is_tensor(t))
    return;
  /* const and constexpr values are folded by the compiler (iOS18's LUT
   * operand has rank 6 by definition): the cap is for tensors it computes */
  if (t->rank > 5 && strncmp(op->op, "const", 5) != 0)
    report(c, R_RANK, SEV_ERROR, op->loc, op_name(op),
           "rank %d: the ANE takes tensors of rank 0 to 5; reshape to fewer dimensions", t->rank);
  for (int i = 0; i < t->rank; i++) {
    int64_t v = t->dim[i];
    if (v == MIL_DIM_ANY) {
      report(c, R_SYMBOLIC, SEV_ERROR, op->loc, op_name(op),
             "dimension %d is '?': the ANE compiles static shapes only; pad to a fixed size", i);
      return;
    }
    bool chan = t->rank == 4 && i == 1;
    int64_t cap = chan ? (tc && tc->max_channels ? tc->max_channels : 65536)
                       : (tc && tc->max_spatial ? tc->max_spatial : 65536);
    if (v > cap) {
      report(c, R_AXIS_SIZE, SEV_ERROR, op->loc, op_name(op),
             "%s axis %d has %lld elements, above %s's cap of %lld; tile it",
             chan ? "channel" : "spatial", i, (long long)v,
             tc ? c->o->target.name : "every ANE", (long long)cap);
      return;
    }
  }
  int64_t b = type_bytes(t);
  if (tc && !isnan(tc->sram_mib) && b > tc->sram_mib * 1048576 && !is_folded(op))
    report(c, R_SRAM, SEV_WARNING, op->loc, op_name(op),
           "%.1f MiB activation exceeds %s's ~%.0f MiB on-chip memory and spills to DRAM "
           "(about 30 %% slower); tile the spatial axis", b / 1048576.0, tc->name, tc->sram_mib);
  if (t->dtype == MIL_FP32 && !is_folded(op) && strcmp(op->op, "cast") != 0)
    report(c, R_FP32_COMPUTE, SEV_WARNING, op->loc, op_name(op),
           "the ANE computes in fp16: an fp32 %s runs in fp16 or off the ANE; compute in fp16",
           op->op);
}

static void check_conv(Ctx *c, const MilOp *op) {
  const MilType *w = arg_type(c, op, "weight"), *x = arg_type(c, op, "x");
  if (mil_op_arg(op, "bias"))
    report(c, R_CONV_BIAS, SEV_ERROR, op->loc, op_name(op),
           "conv bias= is refused on the direct path; add the bias with a separate add");
  if (!is_tensor(w) || w->rank < 3)
    return;
  int64_t cout = w->dim[0], cin = w->dim[1], kw = w->dim[w->rank - 1];
  if (cout >= 32768 || cin >= 32768)
    report(c, R_CONV_CHANNELS, SEV_ERROR, op->loc, op_name(op),
           "%lld x %lld channels: convs with 32K channels are refused; split the channels",
           (long long)cout, (long long)cin);
  int cap = c->tc ? c->tc->max_kernel_w : 0;
  if (kw > 15 || (cap && kw > cap))
    report(c, R_KERNEL_WIDTH, SEV_ERROR, op->loc, op_name(op),
           "kernel width %lld exceeds %d; move width into channels (space_to_depth)",
           (long long)kw, cap ? cap : 15);
  else if (!cap && kw > 13)
    report(c, R_KERNEL_WIDTH, SEV_WARNING, op->loc, op_name(op),
           "kernel width %lld: M1 takes 13 at most, M4/M5 15, others unmeasured", (long long)kw);
  const MilArg *wa = mil_op_arg(op, "weight");
  const MilOp *src = wa && wa->bind.kind == MIL_BREF ? producer(c->f, wa->bind.ref) : NULL;
  if (wa && wa->bind.kind == MIL_BREF && (!src || !is_folded(src))) {
    bool batched = is_tensor(x) && x->rank > 0 && x->dim[0] != 1;
    report(c, R_RUNTIME_CONV_WEIGHT, batched ? SEV_ERROR : SEV_WARNING, op->loc, op_name(op),
           batched ? "a runtime conv weight does not compile at batch > 1; use a const weight"
                   : "runtime conv weights are reported both ignored (M3 Max) and working at "
                     "batch 1; prefer a const weight or mul + reduce_sum");
  }
}

static bool all_zero(const MilValue *v) {
  if (!v || v->kind != MIL_VDATA || v->n <= 0)
    return false;
  for (int64_t i = 0; i < v->n; i++)
    if ((v->f && v->f[i] != 0) || (v->i && v->i[i] != 0))
      return false;
  return true;
}

static void check_mul(Ctx *c, const MilOp *op) {
  const char *args[2] = {"x", "y"};
  for (int k = 0; k < 2; k++) {
    const MilArg *a = mil_op_arg(op, args[k]);
    const MilOp *src = a && a->bind.kind == MIL_BREF ? producer(c->f, a->bind.ref) : NULL;
    if (src && strncmp(src->op, "reduce_", 7) == 0 && all_zero(arg_value(c, op, args[1 - k])))
      report(c, R_MUL_ZERO, SEV_ERROR, op->loc, op_name(op),
             "mul of a %s result by 0 fails to compile; make the zero with sub(x, x)", src->op);
  }
}

static void check_weights(Ctx *c, const MilOp *op) {
  const TargetChip *tc = c->tc;
  bool blockwise = strcmp(op->op, "constexpr_blockwise_shift_scale") == 0;
  bool affine = strcmp(op->op, "constexpr_affine_dequantize") == 0;
  const MilType *d = arg_type(c, op, blockwise ? "data" : "quantized_data");
  if (affine) {
    const MilValue *s = arg_value(c, op, "scale");
    const MilType *st = s ? s->type : arg_type(c, op, "scale");
    if (is_tensor(st) && mil_type_numel(st) > 1)
      report(c, R_AFFINE_SCALE, SEV_WARNING, op->loc, op_name(op),
             "a per-channel scale was reported not to compile here; "
             "constexpr_blockwise_shift_scale takes per-channel scales");
  }
  if (!tc || !is_tensor(d))
    return;
  bool four = d->dtype == MIL_INT4 || d->dtype == MIL_UINT4;
  if (blockwise && four && tc->weights[TW_BLOCKWISE] == TARGET_FOLD)
    report(c, R_BLOCKWISE_INT4, SEV_WARNING, op->loc, op_name(op),
           "%s folds blockwise weights to fp16: 4-bit storage gains no bandwidth; use a 4-bit "
           "LUT (constexpr_lut_to_dense), which streams there", tc->name);
  else if ((blockwise && tc->weights[TW_BLOCKWISE] == TARGET_FOLD) ||
           (affine && tc->weights[TW_INT8_AFFINE] == TARGET_FOLD))
    report(c, R_WEIGHT_FOLD, SEV_WARNING, op->loc, op_name(op),
           "%s folds %s weights to fp16 at compile time: no bandwidth win, only the precision "
           "loss; keep fp16 or use a LUT", tc->name, blockwise ? "blockwise" : "int8 affine");
}

static const char *const no_hw_ops[] = {
    "non_zero", "sliding_windows", "reduce_prod", "cumsum", "bitwise_and", "bitwise_or",
    "bitwise_xor", "bitwise_not", "acos", "asin", "acosh", "asinh", "atanh", "cosh", "sinh",
    "logical_and", "logical_or", "logical_xor", "logical_not", NULL};

/* Family floors (af-cap): op, lowest family generation that has it. */
static int family_floor(const char *op) {
  static const char *const a15[] = {"sin", "cos", "dropout", "random_uniform", "random_normal",
                                    "random_bernoulli", "random_categorical", NULL};
  static const char *const a14[] = {"crop_resize", "resample", "affine", "topk", "sort",
                                    "dynamic_slice", NULL};
  return op_in(op, a15) ? 15 : op_in(op, a14) ? 14 : 0;
}

static void check_op_kind(Ctx *c, const MilOp *op) {
  const char *k = op->op;
  int need = target_op_min_ios(k), floor = family_floor(k);
  if (need > c->o->target.ios)
    report(c, R_OPSET, SEV_ERROR, op->loc, op_name(op),
           "%s exists from <ios%d>; target %s has <ios%d>", k, need, c->o->target.name,
           c->o->target.ios);
  if (c->tc && floor > c->tc->family_gen)
    report(c, R_FAMILY_OP, SEV_ERROR, op->loc, op_name(op),
           "%s needs an A%d-family ANE; %s is %s: decompose it", k, floor, c->tc->name,
           c->tc->family);
  if (op_in(k, no_hw_ops))
    report(c, R_NO_HW_OP, SEV_ERROR, op->loc, op_name(op),
           "the ANE has no hardware for %s; compute it on the CPU or decompose it", k);
  if (strcmp(k, "tile") == 0)
    report(c, R_TILE, SEV_WARNING, op->loc, op_name(op),
           "tile was seen to corrupt the ANE state of the whole process (M3 Max); tile on the "
           "host or broadcast instead");
  if (strcmp(k, "rsqrt") == 0 || strcmp(k, "inverse") == 0)
    report(c, R_RSQRT, SEV_WARNING, op->loc, op_name(op),
           "%s was refused on the direct path; use %s", k,
           k[0] == 'r' ? "pow(x, -0.5)" : "real_div(1, x)");
  if (strcmp(k, "gelu") == 0)
    report(c, R_GELU, mil_op_arg(op, "mode") ? SEV_WARNING : SEV_ERROR, op->loc, op_name(op),
           "gelu %s; write the tanh form with mul, add, pow and tanh",
           mil_op_arg(op, "mode") ? "with mode= is accepted by one source, refused by another"
                                  : "without mode= is refused");
}

static void check_concat(Ctx *c, const MilOp *op) {
  const MilArg *v = mil_op_arg(op, "values");
  int n = v && v->bind.kind == MIL_BLIST ? v->bind.nitems : 0;
  report(c, R_CONCAT, n > 2 ? SEV_ERROR : SEV_WARNING, op->loc, op_name(op),
         n > 2 ? "concat of %d inputs is refused; give each part its own output or concat pairs"
               : "concat of %d inputs: refused in one report, accepted for 2 in another; prefer "
                 "separate outputs", n);
}

static void check_slice(Ctx *c, const MilOp *op) {
  if (!c->tc || c->tc->family_gen != 13)
    return;
  const MilValue *b = arg_value(c, op, "begin");
  if (b && b->kind == MIL_VDATA && b->i && b->n > 0 && b->i[b->n - 1] != 0)
    report(c, R_WIDTH_SLICE, SEV_WARNING, op->loc, op_name(op),
           "on A13-family chips a last-axis slice offset clamps |values| > 4094 to inf; slice "
           "another axis (transpose first)");
}

static void check_op(Ctx *c, const MilOp *op) {
  for (int k = 0; k < op->nouts; k++)
    check_shape(c, op, op->outs[k].type);
  check_op_kind(c, op);
  if (strcmp(op->op, "conv") == 0 || strcmp(op->op, "conv_transpose") == 0)
    check_conv(c, op);
  else if (strcmp(op->op, "mul") == 0)
    check_mul(c, op);
  else if (strcmp(op->op, "concat") == 0)
    check_concat(c, op);
  else if (strncmp(op->op, "slice_by_", 9) == 0)
    check_slice(c, op);
  else if (strcmp(op->op, "scaled_dot_product_attention") == 0 && mil_op_arg(op, "attn_mask"))
    report(c, R_SDPA_MASK, SEV_ERROR, op->loc, op_name(op),
           "the ANE ignores the attention mask; write matmul, add the mask, softmax, matmul");
  else if (strncmp(op->op, "constexpr_", 10) == 0)
    check_weights(c, op);
}

int lint_prog(const MilProg *p, const Src *src, const LintOpts *o, Diag *d) {
  Ctx c = {.p = p, .src = src, .o = o, .tc = o->target.tc, .d = d};
  FILE *out = o->json_out ? o->json_out : stdout;
  if (o->json)
    fputc('[', out);
  for (int i = 0; i < p->nfuncs; i++) {
    c.f = &p->funcs[i];
    check_dialect(&c);
    check_io(&c);
    check_const_bytes(&c);
    for (int k = 0; k < c.f->nops; k++)
      check_op(&c, &c.f->ops[k]);
  }
  if (o->json)
    fputs(c.nfound ? "\n]\n" : "]\n", out);
  return c.nerrors;
}
