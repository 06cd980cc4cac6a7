/* run.c - running models on a backend and timing them. */
#include "run.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "blob.h"
#include "compare.h"
#include "dryrun.h"
#include "flops.h"
#include "manifest.h"
#include "outfile.h"
#include "plot.h"
#include "results.h"
#include "sim.h"
#ifdef __APPLE__
#include "ane_api.h"
#include "bisect.h"
#endif

/* The inputs of one run: they outlive the backend that reads them. */
typedef struct Inputs {
  int n;
  Tensor *t;
} Inputs;

/* --profile on cpu: the op times of the timed evaluations go to r, by op
 * type, and to op_ms, per op of fn. */
typedef struct OpClock {
  Report *r;
  bool on;
  const MilFunc *fn;
  double *op_ms;
} OpClock;

static void inputs_free(Inputs *in) {
  for (int i = 0; i < in->n; i++)
    tensor_free(&in->t[i]);
  free(in->t);
  in->t = NULL;
  in->n = 0;
}

/* ---- inputs -------------------------------------------------------------- */

static const InputArg *given_input(const RunOpts *o, const char *name) {
  for (int i = 0; i < o->ninputs; i++)
    if ((size_t)o->inputs[i].name_len == strlen(name) &&
        strncmp(o->inputs[i].name, name, (size_t)o->inputs[i].name_len) == 0)
      return &o->inputs[i];
  return NULL;
}

static int known_tensor(const MilVar *v, Diag *d) {
  if (v->type->kind != MIL_TENSOR) {
    diag_file_error(d, "anerun", "input '%s' is not a tensor; anerun feeds tensors only", v->name);
    return -1;
  }
  if (mil_type_numel(v->type) < 0) {
    diag_file_error(d, "anerun",
                    "input '%s' has an unknown ('?') dimension; give its data with "
                    "--input %s=FILE.npy",
                    v->name, v->name);
    return -1;
  }
  return 0;
}

/* Part `what` ("DefaultShapes", "RangeDims", "EnumeratedShapes") of a
 * function's FlexibleShapeInformation attribute, as Core ML writes it:
 * ((what, {{name, value}, ...}), ...); the dict, its items flattened as
 * key, value pairs, or NULL. */
static const MilValue *flex_part(const MilFunc *f, const char *what) {
  for (int a = 0; a < f->nattrs; a++) {
    const MilValue *v = f->attrs[a].val;
    if (strcmp(f->attrs[a].name, "FlexibleShapeInformation") != 0 || v->kind != MIL_VAGG)
      continue;
    for (int t = 0; t < v->nitems; t++) {
      const MilValue *tu = v->items[t];
      if (tu->kind == MIL_VAGG && tu->nitems == 2 && tu->items[0]->kind == MIL_VDATA &&
          tu->items[0]->s && strcmp(tu->items[0]->s[0], what) == 0 &&
          tu->items[1]->kind == MIL_VAGG)
        return tu->items[1];
    }
  }
  return NULL;
}

/* The value of key `name` in a flattened dict, or NULL. */
static const MilValue *dict_get(const MilValue *dict, const char *name) {
  for (int k = 0; dict && k + 1 < dict->nitems; k += 2) {
    const MilValue *key = dict->items[k];
    if (key->kind == MIL_VDATA && key->s && strcmp(key->s[0], name) == 0)
      return dict->items[k + 1];
  }
  return NULL;
}

static bool int_vec(const MilValue *v) { return v && v->kind == MIL_VDATA && v->i && v->n <= MIL_MAX_RANK; }

/* The default shape the function gives input `name`: its rank, or -1. */
static int default_shape(const MilFunc *f, const char *name, int64_t *dim) {
  const MilValue *val = dict_get(flex_part(f, "DefaultShapes"), name);
  if (!int_vec(val))
    return -1;
  for (int64_t i = 0; i < val->n; i++)
    dim[i] = val->i[i];
  return (int)val->n;
}

/* A given input's shape against the function's RangeDims (each dim in
 * [lo, hi], hi -1 unbounded, as coremltools writes RangeDim) and
 * EnumeratedShapes (one of the listed shapes); an error at the function. */
static int flex_check(const Src *src, const MilFunc *f, const MilVar *v, const Tensor *t,
                      const char *file, Diag *d) {
  char got[160];
  tensor_shape_str(got, sizeof got, t->rank, t->dim);
  const MilValue *r = dict_get(flex_part(f, "RangeDims"), v->name);
  if (r && r->kind == MIL_VAGG && r->nitems == t->rank)
    for (int i = 0; i < t->rank; i++) {
      const MilValue *lh = r->items[i];
      if (lh->kind != MIL_VDATA || !lh->i || lh->n != 2)
        continue;
      int64_t lo = lh->i[0], hi = lh->i[1];
      if (t->dim[i] < lo || (hi >= 0 && t->dim[i] > hi)) {
        diag_error(d, src, f->loc, "input '%s' from %s has shape %s: dim %d (%lld) is outside "
                   "the function's range [%lld, %lld]", v->name, file, got, i,
                   (long long)t->dim[i], (long long)lo, (long long)hi);
        return -1;
      }
    }
  const MilValue *e = flex_part(f, "EnumeratedShapes");
  bool listed = false, any = false;
  for (int k = 0; e && k + 1 < e->nitems && !listed; k += 2) {
    const MilValue *sh = dict_get(e->items[k + 1]->kind == MIL_VAGG ? e->items[k + 1] : NULL, v->name);
    if (!int_vec(sh))
      continue;
    any = true;
    listed = sh->n == t->rank;
    for (int i = 0; listed && i < t->rank; i++)
      listed = sh->i[i] == t->dim[i];
  }
  if (any && !listed) {
    diag_error(d, src, f->loc, "input '%s' from %s has shape %s, which is not one of the "
               "function's enumerated shapes", v->name, file, got);
    return -1;
  }
  return 0;
}

/* Floats are uniform in [-1, 1); integers and bools are 0, which is a
 * valid index for any gather; with no rng (a state's first value: an
 * empty cache) everything is 0. A '?' dimension takes the function's
 * default shape when it declares one. */
static int generate_input(const MilFunc *f, const MilVar *v, Prng *rng, Tensor *t, Diag *d) {
  int64_t dim[MIL_MAX_RANK];
  if (v->type->kind == MIL_TENSOR && mil_type_numel(v->type) < 0 &&
      default_shape(f, v->name, dim) == v->type->rank) {
    if (tensor_alloc(t, v->type->dtype, v->type->rank, dim) < 0)
      return -1;
    fprintf(stderr, "anerun: input '%s' takes the function's default shape\n", v->name);
  } else if (known_tensor(v, d) < 0) {
    return -1;
  } else if (tensor_alloc(t, v->type->dtype, v->type->rank, v->type->dim) < 0) {
    diag_file_error(d, "anerun", "input '%s': cannot allocate a %s tensor of this size", v->name,
                    mil_dtype_name(v->type->dtype));
    return -1;
  }
  int64_t n = tensor_numel(t);
  for (int64_t i = 0; rng && mil_dtype_is_float(t->dtype) && i < n; i++)
    tensor_set(t, i, 2 * prng_uniform(rng) - 1);
  return 0;
}

static bool shape_fits(const MilType *want, const Tensor *t) {
  if (want->rank != t->rank)
    return false;
  for (int i = 0; i < t->rank; i++)
    if (want->dim[i] >= 0 && want->dim[i] != t->dim[i])
      return false;
  return true;
}

/* An fp32 file for an fp16 input (or the reverse) is converted. */
static int convert_float(Tensor *t, MilDtype dt, Diag *d) {
  Tensor c;
  if (tensor_alloc(&c, dt, t->rank, t->dim) < 0) {
    diag_file_error(d, "anerun", "out of memory converting an input");
    return -1;
  }
  int64_t n = tensor_numel(t);
  for (int64_t i = 0; i < n; i++)
    tensor_set(&c, i, tensor_get(t, i));
  tensor_free(t);
  *t = c;
  return 0;
}

static int read_input(const MilVar *v, const InputArg *a, Tensor *t, Diag *d) {
  if (v->type->kind != MIL_TENSOR)
    return known_tensor(v, d);
  if (npy_read(a->file, t, d) < 0)
    return -1;
  MilDtype want = v->type->dtype;
  if (!shape_fits(v->type, t)) {
    diag_file_error(d, a->file, "the shape does not fit input '%s' (rank %d, the model wants %d)",
                    v->name, t->rank, v->type->rank);
    return -1;
  }
  if (t->dtype == want)
    return 0;
  if (mil_dtype_is_float(t->dtype) && mil_dtype_is_float(want))
    return convert_float(t, want, d);
  diag_file_error(d, a->file, "input '%s' wants %s data, the file holds %s", v->name,
                  mil_dtype_name(want), mil_dtype_name(t->dtype));
  return -1;
}

static int check_input_names(const RunOpts *o, const MilFunc *f, Diag *d) {
  for (int i = 0; i < o->ninputs; i++) {
    bool found = false;
    for (int k = 0; k < f->ninputs && !found; k++)
      found = given_input(o, f->inputs[k].name) == &o->inputs[i];
    if (!found) {
      diag_file_error(d, o->inputs[i].file, "function %s has no input '%.*s'", f->name,
                      o->inputs[i].name_len, o->inputs[i].name);
      return -1;
    }
  }
  return 0;
}

static int make_inputs(const RunOpts *o, const Src *src, const MilFunc *f, Inputs *in, Diag *d) {
  Prng rng;
  prng_seed(&rng, o->seed);
  in->t = calloc((size_t)f->ninputs + 1, sizeof *in->t);
  if (!in->t || check_input_names(o, f, d) < 0)
    return -1;
  /* All slots count from the start: a failed read may leave one filled. */
  in->n = f->ninputs;
  for (int i = 0; i < f->ninputs; i++) {
    /* a state<tensor<...>> input is fed its tensor's first value */
    MilVar v = f->inputs[i];
    bool state = v.type->kind == MIL_STATE && v.type->nsub == 1;
    if (state)
      v.type = v.type->sub[0];
    const InputArg *a = given_input(o, v.name);
    int rc = a ? read_input(&v, a, &in->t[i], d)
               : generate_input(f, &v, state ? NULL : &rng, &in->t[i], d);
    if (rc == 0 && a && flex_check(src, f, &v, &in->t[i], a->file, d) < 0)
      rc = -1;
    if (rc < 0)
      return -1;
  }
  return 0;
}

static int set_inputs(const Backend *b, void *st, const Inputs *in, Diag *d) {
  for (int i = 0; i < in->n; i++)
    if (b->set_input(st, i, &in->t[i], d) < 0)
      return -1;
  return 0;
}

/* ---- timing -------------------------------------------------------------- */

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A cost model gives the same time every call: one evaluation, no warm-up. */
static int time_evals(const RunOpts *o, const Backend *b, void *st, OpClock *clk, Stats *s,
                      Diag *d) {
  int warmup = b->estimated ? 0 : o->warmup, iters = b->estimated ? 1 : o->iters;
  double *ms = calloc((size_t)iters, sizeof *ms);
  int rc = ms ? 0 : -1;
  for (int i = 0; rc == 0 && i < warmup; i++) {
    double m = 0;
    rc = b->eval(st, &m, d);
  }
  clk->on = true;
  for (int i = 0; rc == 0 && i < iters; i++) {
    double m = 0, t0 = now_ms();
    rc = b->eval(st, &m, d);
    double t1 = now_ms();
    ms[i] = b->estimated ? m : t1 - t0;
  }
  clk->on = false;
  if (rc == 0 && stats_summarise(ms, iters, s) < 0)
    rc = -1;
  free(ms);
  return rc;
}

/* ---- outputs ------------------------------------------------------------- */

static int write_output(const Backend *b, void *st, const MilFunc *f, int i, const char *dir,
                        Diag *d) {
  Tensor t = {0};
  char *name = malloc(strlen(f->outputs[i]) + 5);
  if (!name)
    return -1;
  sprintf(name, "%s.npy", f->outputs[i]);
  char *path = outdir_join(dir, name);
  int rc = path ? b->get_output(st, i, &t, d) : -1;
  if (rc == 0)
    rc = npy_write(path, &t, d);
  tensor_free(&t);
  free(path);
  free(name);
  return rc;
}

/* A sweep writes each point's outputs to DIR/POINT so they do not collide. */
static char *output_dir(const RunOpts *o, const ModelPath *mp, const Loaded *l) {
  if (mp->npoints > 1 || o->many)
    return outdir_join(o->output_dir, l->name);
  char *s = malloc(strlen(o->output_dir) + 1);
  return s ? strcpy(s, o->output_dir) : NULL;
}

static int write_outputs(const RunOpts *o, const ModelPath *mp, const Loaded *l, void *st,
                         Diag *d) {
  char *dir = output_dir(o, mp, l);
  int rc = dir && outdir_mkdirs(dir, d) == 0 ? 0 : -1;
  for (int i = 0; rc == 0 && i < l->m.fn->noutputs; i++)
    rc = write_output(o->backend, st, l->m.fn, i, dir, d);
  free(dir);
  return rc;
}

/* ---- --check ------------------------------------------------------------- */

static int check_output(const Backend *b, void *st, void *ref, int i, const char *name,
                        CheckRow *row, double tol, Diag *d) {
  Tensor out = {0}, want = {0};
  int rc = b->get_output(st, i, &out, d);
  if (rc == 0)
    rc = cpu_backend.get_output(ref, i, &want, d);
  if (rc == 0)
    rc = compare_tensors(name, &out, &want, &row->c, d);
  snprintf(row->output, sizeof row->output, "%s", name);
  row->ok = rc == 0 && compare_ok(&row->c, tol);
  tensor_free(&out);
  tensor_free(&want);
  return rc;
}

/* Evaluates the cpu reference on the same inputs and compares outputs. */
static int run_check(const RunOpts *o, const Loaded *l, void *st, const Inputs *in, Report *r,
                     Diag *d) {
  void *ref = NULL;
  const MilFunc *f = l->m.fn;
  double ms = 0;
  BackendOpts bo = o->bopts;
  bo.timer = NULL;   /* the reference's op times are not the row's */
  if (cpu_backend.open(&l->m, &bo, &ref, d) < 0)
    return -1;
  int rc = set_inputs(&cpu_backend, ref, in, d);
  if (rc == 0)
    rc = cpu_backend.eval(ref, &ms, d);
  r->tol = o->tol;
  for (int i = 0; rc == 0 && i < f->noutputs && i < REPORT_MAX_CHECKS; i++, r->nchecks++)
    rc = check_output(o->backend, st, ref, i, f->outputs[i], &r->checks[i], o->tol, d);
  cpu_backend.close(ref);
  return rc;
}

/* ---- one model ----------------------------------------------------------- */

/* The chip a row is about: --chip, else for sim the default one, for ane
 * the one the device reports; cpu rows have none. */
static const Chip *report_chip(const RunOpts *o, Diag *d) {
  if (!o->backend->estimated && strcmp(o->backend->name, "ane") != 0)
    return NULL;
  if (o->bopts.chip)
    return chip_find(o->bopts.chip);
  if (o->backend->estimated)
    return chip_find(SIM_DEFAULT_CHIP);
#ifdef __APPLE__
  AneDeviceInfo info;
  if (o->backend == &ane_backend && ane_probe(&info, d) == 0)
    return ane_chip(&info);
#endif
  return NULL;
}

/* W8A8 when any op takes int8 activations; the memory traffic as the sim
 * model counts it (weights and function inputs and outputs). */
static int fill_traffic(const MilFunc *f, Report *r) {
  FlopsIndex *ix = flops_index(f);
  if (!ix)
    return -1;
  r->dram_bytes = 0;
  for (int i = 0; i < f->nops; i++) {
    OpCost c;
    flops_op(ix, i, &c);
    if (c.int8_act)
      snprintf(r->precision, sizeof r->precision, "w8a8");
    if (c.cls != FLOPS_CONST)
      r->dram_bytes += c.weight_bytes + c.io_bytes;
  }
  flops_index_free(ix);
  return 0;
}

static int fill_costs(const Loaded *l, Report *r, Diag *d) {
  FuncCost fc;
  if (flops_func(l->m.fn, &fc) < 0 || fill_traffic(l->m.fn, r) < 0) {
    diag_file_error(d, "anerun", "out of memory counting ops");
    return -1;
  }
  r->gflop = fc.flops / 1e9;
  r->gflop_partial = fc.unknown > 0;
  r->weight_bytes = fc.const_bytes;
  return 0;
}

/* ---- --profile ----------------------------------------------------------- */

/* The row of op type op in r; past REPORT_MAX_OPS types the last row
 * becomes "(other)" and takes the rest. */
static OpShare *op_share(Report *r, const char *op) {
  for (int i = 0; i < r->nops; i++)
    if (strcmp(r->ops[i].op, op) == 0)
      return &r->ops[i];
  if (r->nops == REPORT_MAX_OPS) {
    OpShare *last = &r->ops[REPORT_MAX_OPS - 1];
    snprintf(last->op, sizeof last->op, "(other)");
    r->ops_other = true;
    return last;
  }
  OpShare *s = &r->ops[r->nops++];
  snprintf(s->op, sizeof s->op, "%s", op);
  return s;
}

static void op_clock_done(void *ctx, const MilOp *op, double ms) {
  OpClock *c = ctx;
  if (!c->on)
    return;
  op_share(c->r, op->op)->ms += ms;
  if (c->op_ms && op >= c->fn->ops && op < c->fn->ops + c->fn->nops)
    c->op_ms[op - c->fn->ops] += ms;
}

/* Per-op counts and GFLOP, and the summed times made per evaluation. */
static int finish_op_times(const MilFunc *f, int iters, Report *r) {
  FlopsIndex *ix = flops_index(f);
  if (!ix)
    return -1;
  for (int i = 0; i < r->nops; i++)
    r->ops[i].ms /= iters;
  for (int i = 0; i < f->nops; i++) {
    OpCost c;
    flops_op(ix, i, &c);
    if (c.cls == FLOPS_CONST)
      continue;
    OpShare *s = op_share(r, f->ops[i].op);
    s->count++;
    s->gflop += c.flops / 1e9;
  }
  flops_index_free(ix);
  return 0;
}

static void sim_shares(const SimProfile *s, Report *r) {
  for (int i = 0; i < s->nrows; i++) {
    OpShare *o = op_share(r, s->rows[i].op);
    o->count += s->rows[i].count;
    o->gflop += s->rows[i].gflop;
    o->ms += s->rows[i].ms;
    /* ms at GB/s: the bytes the model priced. */
    o->bytes += s->rows[i].memory_ms * s->p.bw_gbs * 1e6;
  }
}

/* The cpu backend's measured op times, as the sim table shows modelled ones. */
static void print_op_times(FILE *out, const Report *r) {
  double total = 0;
  for (int i = 0; i < r->nops; i++)
    total += r->ops[i].ms;
  fprintf(out, "cpu time per op type for %s (measured, mean of %d evaluations)\n", r->model,
          r->iters);
  fprintf(out, "  %-30s %6s %10s %10s %7s %9s\n", "Op type", "Count", "GFLOP", "ms", "Share",
          "GFLOP/s");
  for (int i = 0; i < r->nops; i++) {
    const OpShare *s = &r->ops[i];
    fprintf(out, "  %-30s %6d %10.4f %10.4f %6.1f%% %9.2f\n", s->op, s->count, s->gflop, s->ms,
            total > 0 ? 100 * s->ms / total : 0.0, s->ms > 0 ? s->gflop / s->ms * 1e3 : 0.0);
  }
  fprintf(out, "  total %.4f ms in ops (the evaluation took %.4f ms median)\n\n", total,
          r->ms_median);
}

enum { RUN_SLOWEST_OPS = 10 };

/* Where op was written, "file:line:col": its .anet layer (compiled here, or
 * named by the model's anet.json), else its statement in model.mil. */
static void op_source(const ModelPath *mp, const Loaded *l, const Manifest *m, const MilOp *op,
                      char *buf, size_t size) {
  ManifestSource s = manifest_op_source(m, op, mp->is_anet ? &mp->src : l->m.prog->src);
  buf[0] = '\0';
  if (s.file)
    snprintf(buf, size, "%s:%d:%d", s.file, s.line, s.col);
}

/* The slowest ops one by one, with the source line each came from. 0, or
 * -1 after reporting (out of memory, a manifest that cannot be read). */
static int print_slowest_ops(FILE *out, const ModelPath *mp, const Loaded *l,
                             const OpClock *c, const Report *r, Diag *d) {
  const MilFunc *f = c->fn;
  Manifest m = {0};
  int got = mp->is_anet ? 0 : manifest_load(l->m.dir, &m, d);
  FlopsIndex *ix = got < 0 ? NULL : flops_index(f);
  if (!ix) {
    if (got >= 0)
      diag_file_error(d, r->model, "out of memory");
    manifest_free(&m);
    return -1;
  }
  int top[RUN_SLOWEST_OPS], shown = 0, n = 0;
  double total = 0;
  for (int i = 0; i < f->nops; i++) {
    OpCost cost;
    flops_op(ix, i, &cost);
    total += c->op_ms[i];
    if (cost.cls == FLOPS_CONST)   /* constants and constexpr ops: folded, never timed */
      continue;
    n++;
    /* into top[], slowest first and the earlier of equals first; the
     * eleventh falls off the end */
    int k = shown < RUN_SLOWEST_OPS ? shown++ : RUN_SLOWEST_OPS;
    for (; k > 0 && c->op_ms[i] > c->op_ms[top[k - 1]]; k--)
      if (k < RUN_SLOWEST_OPS)
        top[k] = top[k - 1];
    if (k < RUN_SLOWEST_OPS)
      top[k] = i;
  }
  fprintf(out, "cpu time per op for %s: the %d slowest of %d (measured, mean of %d "
          "evaluations)\n", r->model, shown, n, r->iters);
  fprintf(out, "  %-24s %-20s %10s %7s %9s  %s\n", "Op", "Type", "ms", "Share", "GFLOP/s",
          "Source");
  for (int j = 0; j < shown; j++) {
    const MilOp *op = &f->ops[top[j]];
    double ms = c->op_ms[top[j]] / r->iters;
    OpCost cost;
    char where[MANIFEST_PATH + 32];
    flops_op(ix, top[j], &cost);
    op_source(mp, l, &m, op, where, sizeof where);
    fprintf(out, "  %-24.24s %-20.20s %10.4f %6.1f%% %9.2f  %s\n", mil_op_name(op), op->op, ms,
            total > 0 ? 100 * c->op_ms[top[j]] / total : 0.0,
            ms > 0 ? cost.flops / 1e9 / ms * 1e3 : 0.0, where[0] ? where : "-");
  }
  fputc('\n', out);
  manifest_free(&m);
  flops_index_free(ix);
  return 0;
}

/* The sim model's per-op split: kept in r (for --plot and --results) and
 * printed when out is not NULL. */
static int sim_split(const RunOpts *o, const Loaded *l, FILE *out, Report *r, Diag *d) {
  SimParams p;
  SimProfile s;
  if (sim_params(o->bopts.chip, &p, d) < 0 || sim_profile(l->m.fn, &p, &s, d) < 0)
    return -1;
  if (out)
    sim_print_profile(out, l->name, &s);
  sim_shares(&s, r);
  sim_profile_free(&s);
  return 0;
}

/* Inputs declared with a '?' dimension take the shape of the data given
 * (--input or the default shape): the function's input types are replaced
 * by the given shapes, so a backend sees static input shapes. */
static void fix_input_shapes(const Loaded *l, const Inputs *in) {
  MilFunc *f = (MilFunc *)l->m.fn;   /* the loaded program is this run's own */
  for (int i = 0; i < f->ninputs && i < in->n; i++) {
    const MilType *t = f->inputs[i].type;
    if (t->kind == MIL_TENSOR && mil_type_numel(t) < 0 && in->t[i].data)
      f->inputs[i].type = mil_tensor_type(l->m.prog, t->dtype, in->t[i].rank, in->t[i].dim);
  }
}

#ifdef __APPLE__
static int darwin_table(AneApi *api, void *arg) {
  (void)arg;
  return ane_darwin_api(api);
}

/* --bisect, after the open failed: which op the compiler refuses. */
static void bisect_point(const RunOpts *o, const ModelPath *mp, const Loaded *l, Diag *d) {
  BisectAne a = {darwin_table, NULL, (unsigned)o->bopts.qos};
  Bisect r;
  fprintf(stderr, "anerun: %s: --bisect: compiling op prefixes in child processes\n", l->name);
  if (bisect_run(&l->m, bisect_ane_compile, &a, &r, d) != 0)
    return;
  const MilOp *bad = r.bad >= 0 ? &l->m.fn->ops[r.bad] : NULL;
  Manifest man = {0};   /* a model directory anetc wrote: its anet.json maps ops to .anet lines */
  int got = mp->is_anet ? 0 : manifest_load(mp->dir, &man, d);
  ManifestSource from = manifest_op_source(got > 0 ? &man : NULL, bad, mp->is_anet ? &mp->src : NULL);
  bisect_print(stdout, &l->m, mp->is_anet ? NULL : mp->file, from, &r);
  manifest_free(&man);
}
#endif

static int run_loaded(const RunOpts *o, const ModelPath *mp, const Loaded *l, FILE *profile,
                      Report *r, Diag *d) {
  const Backend *b = o->backend;
  Inputs in = {0};
  void *st = NULL;
  Stats s;
  /* A cost model reads no input data. */
  bool feed = !b->estimated;
  OpClock clk = {r, false, l->m.fn, NULL};
  OpTimer timer = {op_clock_done, &clk};
  BackendOpts bo = o->bopts;
  bo.timer = o->profile && b == &cpu_backend ? &timer : NULL;
  int made = feed ? make_inputs(o, &mp->src, l->m.fn, &in, d) : 0;
  if (made == 0 && feed)
    fix_input_shapes(l, &in);
  if (made < 0 || b->open(&l->m, &bo, &st, d) < 0) {
#ifdef __APPLE__
    if (made == 0 && o->bisect && b == &ane_backend)
      bisect_point(o, mp, l, d);
#endif
    inputs_free(&in);
    return -1;
  }
#ifdef __APPLE__
  if (b == &ane_backend)
    snprintf(r->binding, sizeof r->binding, "%s", ane_binding(st));
#endif
  int rc = set_inputs(b, st, &in, d);
  if (rc == 0 && bo.timer && profile &&
      !(clk.op_ms = calloc((size_t)l->m.fn->nops + 1, sizeof *clk.op_ms)))
    rc = (diag_file_error(d, l->name, "out of memory"), -1);
  if (rc == 0)
    rc = time_evals(o, b, st, &clk, &s, d);
  if (rc == 0)
    report_set_times(r, &s);
#ifdef __APPLE__
  Stats hw;
  if (rc == 0 && b == &ane_backend && (r->hw_ok = ane_hw_stats(st, o->iters, &hw))) {
    r->hw_ms_min = hw.min;
    r->hw_ms_median = hw.median;
    r->hw_ms_p90 = hw.p90;
  }
#endif
  if (rc == 0 && bo.timer && finish_op_times(l->m.fn, r->iters, r) < 0)
    rc = -1;
  if (rc == 0 && bo.timer && profile) {
    print_op_times(profile, r);
    rc = print_slowest_ops(profile, mp, l, &clk, r, d);
  }
  free(clk.op_ms);
  if (rc == 0 && o->output_dir)
    rc = write_outputs(o, mp, l, st, d);
  if (rc == 0 && o->check)
    rc = run_check(o, l, st, &in, r, d);
  b->close(st);
  inputs_free(&in);
  return rc;
}

int run_point(const RunOpts *o, ModelPath *mp, int i, const char *workdir, FILE *profile,
              Report *r, Diag *d) {
  Loaded l;
  /* The sim backend reads no weights: nothing to write or to require. */
  if (model_load(mp, i, !o->backend->estimated, workdir, &l, d) < 0)
    return -1;
  /* without --function and main, the first function runs */
  if (!l.m.fn && !mp->function && l.m.prog->nfuncs > 0) {
    l.m.fn = &l.m.prog->funcs[0];
    fprintf(stderr, "anerun: %s: no function 'main'; running '%s', the first\n", l.name,
            l.m.fn->name);
  }
  if (model_require_function(mp, &l, d) < 0) {
    model_unload(&l);
    return -1;
  }
  report_init(r, l.name, o->backend->name, o->backend->estimated);
  r->warmup = o->backend->estimated ? 0 : o->warmup;
  r->iters = o->backend->estimated ? 0 : o->iters;
  int rc = fill_costs(&l, r, d);
  if (rc == 0 && o->backend == &sim_backend && (o->profile || o->plot || o->results))
    rc = sim_split(o, &l, profile, r, d);
  if (rc == 0)
    rc = run_loaded(o, mp, &l, profile, r, d);
  if (rc == 0)
    report_set_chip(r, report_chip(o, d));
  model_unload(&l);
  return rc;
}

/* ---- a point in a child process ------------------------------------------ */

typedef struct ChildMsg {
  int rc, nerrors;
  Report r;
} ChildMsg;

static int write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t k = write(fd, p, n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return -1;
    p += k;
    n -= (size_t)k;
  }
  return 0;
}

static size_t read_all(int fd, void *buf, size_t n) {
  char *p = buf;
  size_t got = 0;
  while (got < n) {
    ssize_t k = read(fd, p + got, n - got);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      break;
    got += (size_t)k;
  }
  return got;
}

static void child(const RunOpts *o, ModelPath *mp, int i, const char *wd, int fd, Diag *d) {
  ChildMsg m;
  memset(&m, 0, sizeof m);
  int before = d->nerrors;
  m.rc = run_point(o, mp, i, wd, NULL, &m.r, d);
  m.nerrors = d->nerrors - before;
  fflush(NULL);
  _exit(write_all(fd, &m, sizeof m) == 0 && m.rc == 0 ? 0 : 1);
}

static int child_status(int status, bool complete, const char *name, Diag *d) {
  if (WIFSIGNALED(status)) {
    diag_file_error(d, name, "the child process running this point died of signal %d",
                    WTERMSIG(status));
    return -1;
  }
  if (!complete) {
    diag_file_error(d, name, "the child process running this point sent no result");
    return -1;
  }
  return 0;
}

static int wait_child(pid_t pid, int fd, const char *name, Report *r, Diag *d) {
  ChildMsg m;
  memset(&m, 0, sizeof m);
  bool complete = read_all(fd, &m, sizeof m) == sizeof m;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  if (child_status(status, complete, name, d) < 0)
    return -1;
  d->nerrors += m.nerrors;
  *r = m.r;
  return m.rc;
}

static char *point_label(const ModelPath *mp, int i) {
  const char *n = model_point_name(mp, i);
  size_t len = strlen(mp->path) + strlen(n ? n : "") + 4;
  char *s = malloc(len);
  if (s)
    snprintf(s, len, "%s [%s]", mp->path, n ? n : "");
  return s;
}

int run_point_forked(const RunOpts *o, ModelPath *mp, int i, Report *r, Diag *d) {
  int fds[2];
  char *wd = mp->is_anet ? model_workdir_new(d) : NULL;
  if (mp->is_anet && !wd)
    return -1;
  if (pipe(fds) != 0) {
    diag_file_error(d, mp->path, "cannot make a pipe: %s", strerror(errno));
    model_workdir_remove(wd);
    free(wd);
    return -1;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    child(o, mp, i, wd, fds[1], d);
  }
  close(fds[1]);
  char *label = point_label(mp, i);
  int rc = -1;
  if (pid < 0)
    diag_file_error(d, mp->path, "cannot fork: %s", strerror(errno));
  else
    rc = wait_child(pid, fds[0], label ? label : mp->path, r, d);
  close(fds[0]);
  model_workdir_remove(wd);
  free(wd);
  free(label);
  return rc;
}

/* ---- every point of every PATH ------------------------------------------- */

typedef struct Point {
  ModelPath *mp;
  int i;
  const char *name;   /* the report's name, known before it runs */
} Point;

typedef struct Study {
  int nmp;
  ModelPath *mp;      /* one per PATH (a directory of .anet files: one per file) */
  int n;
  Point *pt;
  Report *rows;       /* rows of the points that ran */
  const char **ptnames; /* pt[i].name */
  const char **names; /* rows[i].model */
  int nrows;
  int *base;
  const char *baseline_sel;
} Study;

static const char *report_name(const ModelPath *mp, int i) {
  const char *n = model_point_name(mp, i);
  if (mp->anet && !(n && *n))
    return anet_network_name(mp->anet);
  return n ? n : "";
}

static int study_add(Study *s, const char *path, const RunOpts *o, Diag *d) {
  ModelPath *grown = realloc(s->mp, ((size_t)s->nmp + 1) * sizeof *grown);
  if (!grown) {
    diag_file_error(d, path, "out of memory");
    return -1;
  }
  s->mp = grown;
  ModelPath *mp = &s->mp[s->nmp];
  if (model_open(path, mp, d) < 0) {
    model_close(mp);
    return -1;
  }
  mp->function = o->function;
  /* the ANE gets the target's dialect; the cpu and sim backends run either */
  if (o->target_given || strcmp(o->backend->name, "ane") == 0)
    mp->target = &o->lint.target;
  s->nmp++;
  return 0;
}

/* Calls each(path, ctx) for every model of every PATH, in order; a PATH
 * that cannot be expanded, or a model each() fails on, is reported and
 * the rest still go. 1 if any failed. */
static int each_model(const RunOpts *o, int (*each)(const char *path, void *ctx), void *ctx,
                      Diag *d) {
  int status = 0;
  for (int p = 0; p < o->npaths; p++) {
    char **list = NULL;
    int n = 0;
    if (model_expand(o->paths[p], &list, &n, d) < 0) {
      status = 1;
      continue;
    }
    for (int k = 0; k < n; k++) {
      status |= each(list[k], ctx) != 0;
      free(list[k]);
    }
    free(list);
  }
  return status;
}

typedef struct StudyCtx {
  Study *s;
  const RunOpts *o;
  Diag *d;
} StudyCtx;

static int study_add_one(const char *path, void *ctx) {
  StudyCtx *c = ctx;
  return study_add(c->s, path, c->o, c->d) < 0;
}

/* Opens every PATH; one that cannot be opened is reported and left out. */
static int study_open_paths(Study *s, const RunOpts *o, Diag *d) {
  StudyCtx c = {s, o, d};
  return each_model(o, study_add_one, &c, d);
}

static int study_open(Study *s, const RunOpts *o, Diag *d) {
  memset(s, 0, sizeof *s);
  int status = study_open_paths(s, o, d);
  for (int m = 0; m < s->nmp; m++)
    s->n += s->mp[m].npoints;
  s->pt = calloc((size_t)s->n + 1, sizeof *s->pt);
  s->rows = calloc((size_t)s->n + 1, sizeof *s->rows);
  s->names = calloc((size_t)s->n + 1, sizeof *s->names);
  s->ptnames = calloc((size_t)s->n + 1, sizeof *s->ptnames);
  s->base = calloc((size_t)s->n + 1, sizeof *s->base);
  if (!s->pt || !s->rows || !s->names || !s->ptnames || !s->base) {
    diag_file_error(d, "anerun", "out of memory for %d points", s->n);
    return -1;
  }
  int k = 0;
  for (int m = 0; m < s->nmp; m++)
    for (int i = 0; i < s->mp[m].npoints; i++, k++)
      s->pt[k] = (Point){&s->mp[m], i, report_name(&s->mp[m], i)};
  for (k = 0; k < s->n; k++)
    s->ptnames[k] = s->pt[k].name;
  return status;
}

static void study_close(Study *s) {
  for (int m = 0; m < s->nmp; m++)
    model_close(&s->mp[m]);
  free(s->mp);
  free(s->pt);
  free(s->rows);
  free(s->names);
  free(s->ptnames);
  free(s->base);
}

/* ---- progress ------------------------------------------------------------ */

typedef struct Progress {
  bool on;            /* stderr is a terminal */
  int n;
  double t0;
} Progress;

static void progress_show(const Progress *p, int k, const char *name) {
  if (!p->on)
    return;
  double s = (now_ms() - p->t0) / 1e3;
  fprintf(stderr, "\r\033[K[%d/%d] %s  %.1f s elapsed", k + 1, p->n, name, s);
  double left = k > 0 ? s / k * (p->n - k) : NAN;
  if (k > 0)
    fprintf(stderr, left < 10 ? ", about %.1f s left" : ", about %.0f s left", left);
  fflush(stderr);
}

static void progress_clear(const Progress *p) {
  if (p->on) {
    fputs("\r\033[K", stderr);
    fflush(stderr);
  }
}

/* ---- running them -------------------------------------------------------- */

/* Each ane point compiles in its own process: the private API leaks. */
static bool fork_each(const RunOpts *o, const Study *s) {
  return strcmp(o->backend->name, "ane") == 0 && s->n > 1;
}

/* The table streams, a row as each point finishes, unless per-op tables
 * come between the points. */
static bool streams(const RunOpts *o) {
  return o->format == REPORT_TABLE && (!o->profile || o->summary);
}

static bool has_ratio(const Study *s, const RunOpts *o) {
  return report_baselines(s->ptnames, s->n, o->baseline, s->base) > 0;
}

/* Row k just finished: its ratio if its baseline already ran. */
static void stream_row(FILE *out, const ReportTable *t, Study *s) {
  int k = s->nrows - 1;
  report_baselines(s->names, s->nrows, s->baseline_sel, s->base);
  report_table_row(out, t, &s->rows[k], s->base[k] >= 0 ? &s->rows[s->base[k]] : NULL);
  fflush(out);
}

static int run_one(const RunOpts *o, Study *s, int k, FILE *profile, Diag *d) {
  Point *p = &s->pt[k];
  Report *r = &s->rows[s->nrows];
  int rc = fork_each(o, s) ? run_point_forked(o, p->mp, p->i, r, d)
                           : run_point(o, p->mp, p->i, NULL, profile, r, d);
  if (rc < 0)
    return -1;
  s->names[s->nrows++] = r->model;
  return report_checks_ok(r) ? 0 : 1;
}

static int run_study(const RunOpts *o, Study *s, FILE *out, bool print, Diag *d) {
  Progress pg = {print && isatty(STDERR_FILENO), s->n, now_ms()};
  bool stream = print && streams(o);
  FILE *profile = print && o->profile && !o->summary && o->format == REPORT_TABLE ? out : NULL;
  ReportTable t;
  int status = 0, width = report_name_width(s->ptnames, s->n);
  s->baseline_sel = o->baseline;
  bool ratio = has_ratio(s, o);
  if (print && o->profile && strcmp(o->backend->name, "ane") == 0)
    fputs("--profile: the ane backend times the whole program only; the private API gives "
          "no per-op split\n", out);
  for (int k = 0; k < s->n; k++) {
    progress_show(&pg, k, s->pt[k].name);
    int rc = run_one(o, s, k, profile, d);
    progress_clear(&pg);
    status |= rc != 0;
    if (rc < 0 || !stream)
      continue;
    if (s->nrows == 1)
      report_table_begin(out, &t, &s->rows[0], width, ratio);
    stream_row(out, &t, s);
  }
  report_baselines(s->names, s->nrows, o->baseline, s->base);
  if (stream && s->nrows > 0)
    report_table_end(out, &t, s->rows, s->nrows, ratio ? s->base : NULL);
  else if (print)
    report_print(out, o->format, s->rows, s->nrows, ratio ? s->base : NULL);
  return status;
}

static int check_baseline(const RunOpts *o, const Study *s, Diag *d) {
  if (!o->baseline || strcmp(o->baseline, "none") == 0)
    return 0;
  for (int i = 0; i < s->n; i++)
    if (strcmp(s->pt[i].name, o->baseline) == 0)
      return 0;
  diag_file_error(d, "anerun", "--baseline: no point is named '%s'", o->baseline);
  return -1;
}

int run_study_rows(const RunOpts *o, FILE *out, bool print, RunRows *rr, Diag *d) {
  Study s;
  int status = study_open(&s, o, d);
  if (status >= 0 && check_baseline(o, &s, d) < 0)
    status = -1;
  if (status < 0) {
    study_close(&s);
    return 1;
  }
  RunOpts each = *o;
  each.many = s.n > 1;
  status |= run_study(&each, &s, out, print, d);
  rr->rows = s.rows;
  rr->n = s.nrows;
  rr->base = s.base;
  s.rows = NULL;
  s.base = NULL;
  study_close(&s);
  return status;
}

void run_rows_free(RunRows *rr) {
  free(rr->rows);
  free(rr->base);
  memset(rr, 0, sizeof *rr);
}

static bool is_results_file(const RunOpts *o) {
  size_t n = o->npaths == 1 ? strlen(o->paths[0]) : 0;
  return n > 6 && strcmp(o->paths[0] + n - 6, ".jsonl") == 0;
}

/* The new side of --compare: a results file, or a run of the PATHs. */
static int compare_new(const RunOpts *o, ResultRow **rows, int *n, Diag *d) {
  if (is_results_file(o))
    return results_read(o->paths[0], rows, n, d) < 0 ? 1 : 0;
  RunRows rr = {0};
  int status = run_study_rows(o, stdout, false, &rr, d);
  *n = rr.n;
  *rows = calloc((size_t)rr.n + 1, sizeof **rows);
  for (int i = 0; *rows && i < rr.n; i++)
    results_from_report(&rr.rows[i], &(*rows)[i]);
  if (!*rows) {
    diag_file_error(d, "anerun", "out of memory");
    status = 1;
  }
  if (o->results && rr.n > 0 && results_append(o->results, o, rr.rows, rr.n, d) < 0)
    status = 1;
  run_rows_free(&rr);
  return status;
}

int run_compare(const RunOpts *o, FILE *out, Diag *d) {
  ResultRow *old = NULL, *cur = NULL;
  int nold = 0, ncur = 0, status = 0;
  if (o->npaths == 0) {
    diag_file_error(d, "anerun", "--compare %s: nothing to compare it with (give NEW.jsonl or "
                    "models to run)", o->compare);
    return RUNOPTS_EXIT_USAGE;
  }
  if (results_read(o->compare, &old, &nold, d) < 0)
    status = 1;
  else
    status = compare_new(o, &cur, &ncur, d);
  if (status == 0 && results_compare(out, old, nold, cur, ncur, o->threshold) > 0)
    status = RUNOPTS_EXIT_REGRESSED;
  free(old);
  free(cur);
  return status;
}

/* --list-functions: one line per function: name<opset>(inputs). */
static int list_functions(ModelPath *mp, FILE *out, Diag *d) {
  Loaded l;
  if (model_load(mp, 0, false, NULL, &l, d) < 0)
    return 1;
  for (int i = 0; i < l.m.prog->nfuncs; i++) {
    const MilFunc *f = &l.m.prog->funcs[i];
    fprintf(out, "%s<%s>(", f->name, f->opset ? f->opset : "?");
    for (int k = 0; k < f->ninputs; k++)
      fprintf(out, "%s%s", k ? ", " : "", f->inputs[k].name);
    fprintf(out, ")\n");
  }
  model_unload(&l);
  return 0;
}

int run_all(const RunOpts *o, FILE *out, Diag *d) {
  if (o->list_functions) {
    ModelPath mp;
    int status = 1;
    if (model_open(o->path, &mp, d) == 0) {
      mp.function = o->function;
      status = list_functions(&mp, out, d);
    }
    model_close(&mp);
    return status;
  }
  RunRows rr = {0};
  int status = run_study_rows(o, out, true, &rr, d);
  if (o->results && rr.n > 0 && results_append(o->results, o, rr.rows, rr.n, d) < 0)
    status = 1;
  if (o->plot && rr.n > 0 && plot_write(o->plot, o->plot_kind, o->profile, rr.rows, rr.n, d) < 0)
    status = 1;
  run_rows_free(&rr);
  return status;
}

static int dry_one(const RunOpts *o, const char *path, FILE *out, Diag *d) {
  ModelPath mp;
  int status = model_open(path, &mp, d) == 0 ? 0 : 1;
  mp.function = o->function;
  mp.target = o->target_given ? &o->lint.target : NULL;
  if (status == 0 && mp.npoints > 1)
    fprintf(out, "%s: %d sweep points\n", path, mp.npoints);
  for (int i = 0; status == 0 && i < mp.npoints; i++) {
    Loaded l;
    if (model_load(&mp, i, false, NULL, &l, d) < 0 || dryrun_print(out, &mp, &l, d) < 0)
      status = 1;
    model_unload(&l);
  }
  model_close(&mp);
  return status;
}

/* ---- --probe (docs/ane.md) --------------------------------------------------- */

int run_probe(const RunOpts *o, FILE *out, Diag *d) {
#ifdef __APPLE__
  OutFile f;
  if (o->probe_output && outfile_open(&f, o->probe_output, d) < 0)
    return 1;
  int failed = ane_first_contact(ane_darwin_api, out, o->probe_output ? f.f : NULL);
  if (o->probe_output && outfile_commit(&f, d) < 0)
    return 1;
  return failed ? 1 : 0;
#else
  (void)o;
  (void)out;
  diag_file_error(d, "anerun", "--probe reports on the Apple Neural Engine and runs only on "
                  "macOS; this system is not macOS");
  return RUNOPTS_EXIT_USAGE;
#endif
}

typedef struct DryCtx {
  const RunOpts *o;
  FILE *out;
  Diag *d;
} DryCtx;

static int dry_each(const char *path, void *ctx) {
  DryCtx *c = ctx;
  return dry_one(c->o, path, c->out, c->d);
}

int run_dry(const RunOpts *o, FILE *out, Diag *d) {
  DryCtx c = {o, out, d};
  return each_model(o, dry_each, &c, d);
}
