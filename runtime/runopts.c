/* runopts.c - parsing anerun's options: a table of long options, each with
 * a setter that checks its value. "--opt VALUE" and "--opt=VALUE" both work;
 * "--" ends the options. */
#include "runopts.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chip.h"
#include "dryrun.h"

typedef struct OptSpec {
  const char *name;
  bool has_arg;
  int (*set)(RunOpts *o, const char *v, Diag *d);
} OptSpec;

__attribute__((format(printf, 2, 3))) static int usage_error(Diag *d, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  diag_file_error(d, "anerun", "%s", msg);
  return -1;
}

static int parse_long(const char *opt, const char *v, long lo, long hi, long *out, Diag *d) {
  char *end;
  errno = 0;
  long x = strtol(v, &end, 10);
  if (!*v || *end || errno || x < lo || x > hi)
    return usage_error(d, "%s wants an integer from %ld to %ld, not '%s'", opt, lo, hi, v);
  *out = x;
  return 0;
}

static int set_backend(RunOpts *o, const char *v, Diag *d) {
  o->backend = runopts_backend(v);
  if (o->backend)
    return 0;
  if (strcmp(v, "ane") == 0)
    return usage_error(d, "the ane backend needs macOS on Apple silicon; here use "
                       "--backend cpu (reference numerics) or --backend sim (cost model)");
  return usage_error(d, "unknown backend '%s' (cpu, sim or ane)", v);
}

static int set_warmup(RunOpts *o, const char *v, Diag *d) {
  long x;
  if (parse_long("--warmup", v, 0, 1000000, &x, d) < 0)
    return -1;
  o->warmup = (int)x;
  return 0;
}

static int set_iters(RunOpts *o, const char *v, Diag *d) {
  long x;
  if (parse_long("--iters", v, 1, 10000000, &x, d) < 0)
    return -1;
  o->iters = (int)x;
  return 0;
}

static int set_qos(RunOpts *o, const char *v, Diag *d) {
  long x;
  if (parse_long("--qos", v, 0, 255, &x, d) < 0)
    return -1;
  o->bopts.qos = (int)x;
  return 0;
}

static int set_seed(RunOpts *o, const char *v, Diag *d) {
  char *end;
  errno = 0;
  unsigned long long x = strtoull(v, &end, 10);
  if (!*v || *end || errno || v[0] == '-')
    return usage_error(d, "--seed wants a non-negative integer, not '%s'", v);
  o->seed = x;
  return 0;
}

static int set_tol(RunOpts *o, const char *v, Diag *d) {
  char *end;
  errno = 0;
  double x = strtod(v, &end);
  if (!*v || *end || errno || !isfinite(x) || x <= 0)
    return usage_error(d, "--tol wants a positive number, not '%s'", v);
  o->tol = x;
  return 0;
}

static int set_format(RunOpts *o, const char *v, Diag *d) {
  if (strcmp(v, "table") == 0)
    o->format = REPORT_TABLE;
  else if (strcmp(v, "json") == 0)
    o->format = REPORT_JSON;
  else if (strcmp(v, "csv") == 0)
    o->format = REPORT_CSV;
  else
    return usage_error(d, "unknown format '%s' (table, json or csv)", v);
  return 0;
}

static int set_input(RunOpts *o, const char *v, Diag *d) {
  const char *eq = strchr(v, '=');
  if (!eq || eq == v || !eq[1])
    return usage_error(d, "--input wants NAME=FILE.npy, not '%s'", v);
  InputArg *in = realloc(o->inputs, ((size_t)o->ninputs + 1) * sizeof *in);
  if (!in)
    return usage_error(d, "out of memory");
  o->inputs = in;
  in[o->ninputs++] = (InputArg){v, eq + 1, (int)(eq - v)};
  return 0;
}

static int set_output_dir(RunOpts *o, const char *v, Diag *d) {
  o->output_dir = v;
  return 0;
}

static int set_function(RunOpts *o, const char *v, Diag *d) {
  o->function = v;
  return 0;
}

/* Every backend takes the name from the same table, so an unknown one is
 * refused up front rather than ignored by some. */
static int set_chip(RunOpts *o, const char *v, Diag *d) {
  if (!chip_find(v))
    return usage_error(d, "unknown chip '%s' (anerun --list-chips lists them)", v);
  o->bopts.chip = v;
  return 0;
}

static int set_dry(RunOpts *o, const char *v, Diag *d) {
  o->mode = RUN_DRY;
  return 0;
}

static int set_check(RunOpts *o, const char *v, Diag *d) {
  o->check = true;
  return 0;
}

static int set_bisect(RunOpts *o, const char *v, Diag *d) {
  o->bisect = true;
  return 0;
}

static int set_help(RunOpts *o, const char *v, Diag *d) {
  o->mode = RUN_HELP;
  return 0;
}

static int set_version(RunOpts *o, const char *v, Diag *d) {
  o->mode = RUN_VERSION;
  return 0;
}

static int set_list_functions(RunOpts *o, const char *v, Diag *d) {
  o->list_functions = true;
  return 0;
}

static int set_precision(RunOpts *o, const char *v, Diag *d) {
  if (strcmp(v, "fp32") != 0 && strcmp(v, "fp16") != 0)
    return usage_error(d, "--precision is fp16 or fp32, not '%s'", v);
  o->bopts.fp32 = strcmp(v, "fp32") == 0;
  return 0;
}

static int set_list_chips(RunOpts *o, const char *v, Diag *d) {
  o->mode = RUN_LIST_CHIPS;
  return 0;
}

static int set_probe(RunOpts *o, const char *v, Diag *d) {
  o->mode = RUN_PROBE;
  return 0;
}

static int set_probe_output(RunOpts *o, const char *v, Diag *d) {
  o->probe_output = v;
  return 0;
}

static int set_summary(RunOpts *o, const char *v, Diag *d) {
  o->summary = true;
  return 0;
}

static int set_profile(RunOpts *o, const char *v, Diag *d) {
  o->profile = true;
  return 0;
}

static int set_baseline(RunOpts *o, const char *v, Diag *d) {
  o->baseline = v;
  return 0;
}

static int set_results(RunOpts *o, const char *v, Diag *d) {
  o->results = v;
  return 0;
}

static int set_compare(RunOpts *o, const char *v, Diag *d) {
  o->compare = v;
  o->mode = RUN_COMPARE;
  return 0;
}

static int set_threshold(RunOpts *o, const char *v, Diag *d) {
  char *end;
  errno = 0;
  double x = strtod(v, &end);
  if (!*v || *end || errno || !isfinite(x) || x < 0)
    return usage_error(d, "--threshold wants a percentage >= 0, not '%s'", v);
  o->threshold = x;
  return 0;
}

static int set_plot(RunOpts *o, const char *v, Diag *d) {
  o->plot = v;
  return 0;
}

static int set_plot_kind(RunOpts *o, const char *v, Diag *d) {
  if (strcmp(v, "throughput") == 0)
    o->plot_kind = PLOT_THROUGHPUT;
  else if (strcmp(v, "roofline") == 0)
    o->plot_kind = PLOT_ROOFLINE;
  else
    return usage_error(d, "unknown plot kind '%s' (throughput or roofline)", v);
  return 0;
}

/* The target picks the lint's rules and, when the sim has the chip, the
 * chip it models (an explicit --chip wins). */
static int set_target(RunOpts *o, const char *v, Diag *d) {
  char err[256];
  if (target_parse(v, &o->lint.target, err, sizeof err) != 0)
    return usage_error(d, "%s", err);
  o->lint_on = true;
  o->target_given = true;
  const char *chip = o->lint.target.tc ? o->lint.target.tc->chip : NULL;
  if (!o->bopts.chip && chip && chip_find(chip))
    o->bopts.chip = chip;
  return 0;
}

static int set_lint(RunOpts *o, const char *v, Diag *d) {
  if (strcmp(v, "json") != 0 && strcmp(v, "text") != 0)
    return usage_error(d, "--lint wants text or json, not '%s'", v);
  o->lint.json = v[0] == 'j';
  o->lint_on = true;
  if (o->mode == RUN_BENCH)
    o->mode = RUN_DRY;
  return 0;
}

static int set_silence(RunOpts *o, const char *v, Diag *d) {
  if (strncmp(v, "no-", 3) != 0 || lint_opts_silence(&o->lint, v + 3) != 0)
    return usage_error(d, "-W wants no-RULE with a rule of docs/lint.md, not '%s'", v);
  o->lint_on = true;
  return 0;
}

static int set_sim_validate(RunOpts *o, const char *v, Diag *d) {
  o->mode = RUN_SIM_VALIDATE;
  return 0;
}

static const OptSpec specs[] = {
    {"probe", false, set_probe},
    {"output", true, set_probe_output},
    {"backend", true, set_backend},
    {"dry-run", false, set_dry},
    {"function", true, set_function},
    {"warmup", true, set_warmup},
    {"iters", true, set_iters},
    {"input", true, set_input},
    {"seed", true, set_seed},
    {"output-dir", true, set_output_dir},
    {"format", true, set_format},
    {"qos", true, set_qos},
    {"chip", true, set_chip},
    {"list-chips", false, set_list_chips},
    {"list-functions", false, set_list_functions},
    {"precision", true, set_precision},
    {"check", false, set_check},
    {"bisect", false, set_bisect},
    {"tol", true, set_tol},
    {"summary", false, set_summary},
    {"profile", false, set_profile},
    {"baseline", true, set_baseline},
    {"results", true, set_results},
    {"compare", true, set_compare},
    {"threshold", true, set_threshold},
    {"plot", true, set_plot},
    {"plot-kind", true, set_plot_kind},
    {"help", false, set_help},
    {"version", false, set_version},
    {"target", true, set_target},
    {"lint", true, set_lint},
    {"W", true, set_silence},
    {"sim-validate", false, set_sim_validate},
};

const Backend *runopts_backend(const char *name) {
  if (strcmp(name, "cpu") == 0)
    return &cpu_backend;
  if (strcmp(name, "sim") == 0)
    return &sim_backend;
#ifdef __APPLE__
  if (strcmp(name, "ane") == 0)
    return &ane_backend;
#endif
  return NULL;
}

static void set_defaults(RunOpts *o) {
  memset(o, 0, sizeof *o);
  o->mode = RUN_BENCH;
#ifdef __APPLE__
  o->backend = &ane_backend;
#else
  o->backend = &cpu_backend;
#endif
  o->warmup = 1;
  o->iters = 10;
  o->tol = 1e-2;
  o->format = REPORT_TABLE;
  o->bopts.qos = RUNOPTS_QOS_DEFAULT;
  o->threshold = 15;
  lint_opts_init(&o->lint);
  o->lint.strict = true;   /* anerun lints only when asked */
}

static const OptSpec *find_spec(const char *name, size_t len) {
  for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
    if (strlen(specs[i].name) == len && strncmp(specs[i].name, name, len) == 0)
      return &specs[i];
  return NULL;
}

/* One option at argv[*i]; advances *i past its value. */
static int parse_option(int argc, char **argv, int *i, RunOpts *o, Diag *d) {
  const char *a = argv[*i];
  if (strcmp(a, "-h") == 0)
    return set_help(o, NULL, d);
  if (strcmp(a, "-V") == 0)
    return set_version(o, NULL, d);
  if (strncmp(a, "-W", 2) == 0)
    return a[2] ? set_silence(o, a + 2, d)
                : *i + 1 < argc ? set_silence(o, argv[++*i], d) : usage_error(d, "-W needs a value");
  const char *name = a + 2, *eq = strchr(name, '=');
  size_t len = eq ? (size_t)(eq - name) : strlen(name);
  const OptSpec *s = a[1] == '-' ? find_spec(name, len) : NULL;
  if (!s && a[1] == '-') {
    char word[64];
    snprintf(word, sizeof word, "%.*s", (int)(len < 63 ? len : 63), name);
    const char *best = diag_suggest_in(word, specs, sizeof specs / sizeof specs[0], sizeof specs[0]);
    if (best)
      return usage_error(d, "unknown option '%s'; did you mean '--%s'?", a, best);
  }
  if (!s)
    return usage_error(d, "unknown option '%s' (anerun --help lists them)", a);
  if (!s->has_arg && eq)
    return usage_error(d, "--%s takes no value", s->name);
  if (!s->has_arg)
    return s->set(o, NULL, d);
  if (eq)
    return s->set(o, eq + 1, d);
  if (*i + 1 >= argc)
    return usage_error(d, "--%s needs a value", s->name);
  return s->set(o, argv[++*i], d);
}

static int set_path(RunOpts *o, const char *a, Diag *d) {
  const char **p = realloc(o->paths, ((size_t)o->npaths + 1) * sizeof *p);
  if (!p)
    return usage_error(d, "out of memory");
  o->paths = p;
  p[o->npaths++] = a;
  o->path = p[0];
  return 0;
}

/* Combinations that no single option can judge. */
static int check_combination(RunOpts *o, Diag *d) {
  if (o->probe_output && o->mode != RUN_PROBE)
    return usage_error(d, "--output FILE.json goes with --probe");
  if (o->mode == RUN_PROBE && o->path)
    return usage_error(d, "--probe runs its own models, not '%s'", o->path);
  if (o->mode == RUN_COMPARE && o->plot)
    return usage_error(d, "--plot draws a run, not a --compare");
  if (o->mode == RUN_SIM_VALIDATE && !o->path)
    return usage_error(d, "--sim-validate needs the measurements file (data/ane_conv_chains.csv)");
  if (o->mode != RUN_BENCH && o->mode != RUN_DRY)
    return 0;
  if (!o->path)
    return usage_error(d, "no model given (usage: anerun [options] PATH...)");
  if (o->mode == RUN_DRY)
    return 0;
  if (o->bisect && strcmp(o->backend->name, "ane") != 0)
    return usage_error(d, "--bisect searches what the ANE compiler refuses; it needs --backend ane (macOS)");
  if (o->check && strcmp(o->backend->name, "ane") != 0)
    return usage_error(d, "--check compares the ane backend against cpu; it needs --backend ane (macOS)");
  if (o->output_dir && o->backend->estimated)
    return usage_error(d, "--output-dir: the %s backend computes no outputs", o->backend->name);
  return 0;
}

int runopts_parse(int argc, char **argv, RunOpts *o, Diag *d) {
  set_defaults(o);
  bool opts_done = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int rc;
    if (!opts_done && strcmp(a, "--") == 0)
      rc = (opts_done = true, 0);
    else if (!opts_done && a[0] == '-' && a[1])
      rc = parse_option(argc, argv, &i, o, d);
    else
      rc = set_path(o, a, d);
    if (rc < 0)
      return RUNOPTS_EXIT_USAGE;
  }
  dryrun_set_lint(o->lint_on ? &o->lint : NULL);
  return check_combination(o, d) < 0 ? RUNOPTS_EXIT_USAGE : 0;
}

void runopts_free(RunOpts *o) {
  free(o->paths);
  o->paths = NULL;
  o->npaths = 0;
  free(o->inputs);
  o->inputs = NULL;
  o->ninputs = 0;
}

void runopts_usage(FILE *out) {
  fputs("usage: anerun [options] PATH...\n"
        "       anerun --compare OLD.jsonl [NEW.jsonl | PATH...]\n"
        "Each PATH is a model directory (model.mil, weights/weight.bin), a sweep directory\n"
        "(one model directory per point, as anetc -o writes a sweep), a model.mil file,\n"
        "a .anet file or a directory of .anet files. Every point of every PATH runs, in\n"
        "the order given (natural order inside a directory), into one table.\n"
        "\n"
        "  --backend cpu|sim|ane  what runs the model (default: "
#ifdef __APPLE__
        "ane"
#else
        "cpu"
#endif
        ")\n"
        "  --dry-run              parse and check, print what the model holds, run nothing\n"
        "  --function NAME        the function of the program to run (default main, else\n"
        "                         the first)\n"
        "  --list-functions       print the program's functions, run nothing\n"
        "  --precision fp16|fp32  cpu: fp16 values rounded between ops as the ANE does\n"
        "                         (default), or everything in fp32\n"
        "  --warmup N             untimed evaluations first (default 1)\n"
        "  --iters N              timed evaluations (default 10)\n"
        "  --input NAME=FILE.npy  an input's data; others come from the PRNG\n"
        "  --seed N               PRNG seed for generated inputs (default 0)\n"
        "  --output-dir DIR       write each output as DIR/NAME.npy\n"
        "  --format table|json|csv\n"
        "  --qos N                ane: QoS class (default 21)\n"
        "  --chip NAME            sim: the chip to model (default M4); ane: its row for %peak\n"
        "  --list-chips           print the known chips\n"
        "  --probe [--output F]   first-contact report on the ANE (macOS): device, classes,\n"
        "                         tiny models checked against cpu; JSON into F too\n"
        "  --target NAME          lint the dry run for a chip (and OS): M1 ... M6, A14 ...\n"
        "                         A18 Pro, CHIP:macos14, or ios16..ios18; sim: its chip\n"
        "  -W no-RULE             lint the dry run, without one rule (docs/lint.md)\n"
        "  --lint=text|json       lint the dry run (default target ios18); json: only the\n"
        "                         findings, as a JSON array\n"
        "  --sim-validate FILE.csv  fit the sim model to the measurements in FILE.csv and\n"
        "                         print each chip's leave-one-out error\n"
        "  --bisect               ane: when the program fails to compile, find the first op\n"
        "                         the compiler refuses (op prefixes compiled in child\n"
        "                         processes); prints its MIL and .anet lines\n"
        "  --check                ane: compare every output with the cpu backend\n"
        "  --tol X                --check: largest max|out-ref| / max|ref| (default 0.01)\n"
        "  --summary              print only the summary table\n"
        "  --profile              time per op type (sim: modelled; cpu: measured, with the\n"
        "                         ten slowest ops and their source lines)\n"
        "  --baseline NAME|none   speed-up against point NAME (default: fp16 vs w8a8 pairs)\n"
        "  --results FILE.jsonl   append one JSON line per point, with the machine\n"
        "  --compare OLD.jsonl    compare a run or NEW.jsonl with OLD; exit 3 on a regression\n"
        "  --threshold PCT        --compare: slower by more than PCT% regresses (default 15)\n"
        "  --plot FILE.svg        draw the run: throughput per point (or per op with --profile)\n"
        "  --plot-kind KIND       throughput (default) or roofline\n"
        "  -h, --help             this text\n"
        "  -V, --version          the version\n"
        "Exit status: 0 ok, 1 bad input or a failed run or check, 2 usage error,\n"
        "3 --compare found a regression.\n",
        out);
}
