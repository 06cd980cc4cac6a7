/* run.c - running models on a backend and timing them. */
#include "run.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "blob.h"
#include "compare.h"
#include "dryrun.h"
#include "flops.h"
#include "outfile.h"
#include "sim.h"
#ifdef __APPLE__
#include "ane_api.h"
#endif

/* The inputs of one run: they outlive the backend that reads them. */
typedef struct Inputs {
  int n;
  Tensor *t;
} Inputs;

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

/* The default shape a function's FlexibleShapeInformation attribute gives
 * input `name` (("DefaultShapes", {{name, [dims]}}), ...), as Core ML
 * writes it: its rank, or -1 when there is none. */
static int default_shape(const MilFunc *f, const char *name, int64_t *dim) {
  for (int a = 0; a < f->nattrs; a++) {
    const MilValue *v = f->attrs[a].val;
    if (strcmp(f->attrs[a].name, "FlexibleShapeInformation") != 0 || v->kind != MIL_VAGG)
      continue;
    for (int t = 0; t < v->nitems; t++) {
      const MilValue *tu = v->items[t];
      if (tu->kind != MIL_VAGG || tu->nitems != 2 || tu->items[0]->kind != MIL_VDATA ||
          !tu->items[0]->s || strcmp(tu->items[0]->s[0], "DefaultShapes") != 0 ||
          tu->items[1]->kind != MIL_VAGG)
        continue;
      const MilValue *dict = tu->items[1];
      for (int k = 0; k + 1 < dict->nitems; k += 2) {
        const MilValue *key = dict->items[k], *val = dict->items[k + 1];
        if (key->kind != MIL_VDATA || !key->s || strcmp(key->s[0], name) != 0 ||
            val->kind != MIL_VDATA || !val->i || val->n > MIL_MAX_RANK)
          continue;
        for (int64_t i = 0; i < val->n; i++)
          dim[i] = val->i[i];
        return (int)val->n;
      }
    }
  }
  return -1;
}

/* Floats are uniform in [-1, 1); integers and bools are 0, which is a
 * valid index for any gather. A '?' dimension takes the function's
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
  for (int64_t i = 0; mil_dtype_is_float(t->dtype) && i < n; i++)
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

static int make_inputs(const RunOpts *o, const MilFunc *f, Inputs *in, Diag *d) {
  Prng rng;
  prng_seed(&rng, o->seed);
  in->t = calloc((size_t)f->ninputs + 1, sizeof *in->t);
  if (!in->t || check_input_names(o, f, d) < 0)
    return -1;
  /* All slots count from the start: a failed read may leave one filled. */
  in->n = f->ninputs;
  for (int i = 0; i < f->ninputs; i++) {
    const InputArg *a = given_input(o, f->inputs[i].name);
    int rc = a ? read_input(&f->inputs[i], a, &in->t[i], d)
               : generate_input(f, &f->inputs[i], &rng, &in->t[i], d);
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

static int time_evals(const RunOpts *o, const Backend *b, void *st, Stats *s, Diag *d) {
  double *ms = calloc((size_t)o->iters, sizeof *ms);
  int rc = ms ? 0 : -1;
  for (int i = 0; rc == 0 && i < o->warmup; i++) {
    double m = 0;
    rc = b->eval(st, &m, d);
  }
  for (int i = 0; rc == 0 && i < o->iters; i++) {
    double m = 0, t0 = now_ms();
    rc = b->eval(st, &m, d);
    double t1 = now_ms();
    ms[i] = b->estimated ? m : t1 - t0;
  }
  if (rc == 0 && stats_summarise(ms, o->iters, s) < 0)
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
  if (mp->npoints > 1)
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
  if (cpu_backend.open(&l->m, &o->bopts, &ref, d) < 0)
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

static int fill_costs(const Loaded *l, Report *r, Diag *d) {
  FuncCost fc;
  if (flops_func(l->m.fn, &fc) < 0) {
    diag_file_error(d, "anerun", "out of memory counting ops");
    return -1;
  }
  r->gflop = fc.flops / 1e9;
  r->gflop_partial = fc.unknown > 0;
  r->weight_bytes = fc.const_bytes;
  return 0;
}

static int print_profile(const RunOpts *o, const Loaded *l, FILE *out, Diag *d) {
  SimParams p;
  SimProfile s;
  if (sim_params(o->bopts.chip, &p, d) < 0 || sim_profile(l->m.fn, &p, &s, d) < 0)
    return -1;
  sim_print_profile(out, l->name, &s);
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

static int run_loaded(const RunOpts *o, const ModelPath *mp, const Loaded *l, Report *r,
                      Diag *d) {
  const Backend *b = o->backend;
  Inputs in = {0};
  void *st = NULL;
  Stats s;
  /* A cost model reads no input data. */
  bool feed = !b->estimated;
  int made = feed ? make_inputs(o, l->m.fn, &in, d) : 0;
  if (made == 0 && feed)
    fix_input_shapes(l, &in);
  if (made < 0 || b->open(&l->m, &o->bopts, &st, d) < 0) {
    inputs_free(&in);
    return -1;
  }
#ifdef __APPLE__
  if (b == &ane_backend)
    snprintf(r->binding, sizeof r->binding, "%s", ane_binding(st));
#endif
  int rc = set_inputs(b, st, &in, d);
  if (rc == 0)
    rc = time_evals(o, b, st, &s, d);
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
  r->warmup = o->warmup;
  r->iters = o->iters;
  int rc = fill_costs(&l, r, d);
  if (rc == 0 && profile && o->backend == &sim_backend)
    rc = print_profile(o, &l, profile, d);
  if (rc == 0)
    rc = run_loaded(o, mp, &l, r, d);
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

/* ---- every point --------------------------------------------------------- */

static bool fork_each(const RunOpts *o, const ModelPath *mp) {
  return strcmp(o->backend->name, "ane") == 0 && mp->npoints > 1;
}

static int run_points(const RunOpts *o, ModelPath *mp, FILE *out, Diag *d) {
  Report *rows = calloc((size_t)mp->npoints + 1, sizeof *rows);
  int n = 0, status = 0;
  FILE *profile = o->format == REPORT_TABLE ? out : NULL;
  if (!rows) {
    diag_file_error(d, mp->path, "out of memory");
    return 1;
  }
  for (int i = 0; i < mp->npoints; i++) {
    int rc = fork_each(o, mp) ? run_point_forked(o, mp, i, &rows[n], d)
                              : run_point(o, mp, i, NULL, profile, &rows[n], d);
    if (rc == 0 && !report_checks_ok(&rows[n]))
      status = 1;
    n += rc == 0;
    status |= rc != 0;
  }
  report_print(out, o->format, rows, n);
  free(rows);
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
  ModelPath mp;
  int status = 1;
  if (model_open(o->path, &mp, d) == 0) {
    mp.function = o->function;
    status = o->list_functions ? list_functions(&mp, out, d) : run_points(o, &mp, out, d);
  }
  model_close(&mp);
  return status;
}

int run_dry(const RunOpts *o, FILE *out, Diag *d) {
  ModelPath mp;
  int status = model_open(o->path, &mp, d) == 0 ? 0 : 1;
  mp.function = o->function;
  if (status == 0 && mp.npoints > 1)
    fprintf(out, "%s: %d sweep points\n", o->path, mp.npoints);
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
