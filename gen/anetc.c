/* anetc.c - the compiler driver: .anet in, model.mil + weights/weight.bin
 * out (one directory per sweep point), or MIL / layer IR on stdout.
 * Exit status: 0 success, 1 bad input or failed output, 2 bad usage. */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "anet.h"
#include "blob.h"
#include "calib.h"
#include "dialect.h"
#include "json.h"
#include "lint.h"
#include "outfile.h"
#include "wformat.h"

enum { MAX_SOURCE = 16 << 20 };

typedef struct Opts {
  const char *file, *outdir, *point;
  bool emit_mil, dump_ir, list_points, list_targets;
} Opts;

/* --quant-report: rows go out as each point's weights are quantised. */
static struct { bool on, json; int rows; } report;
/* The lint runs on every program lowered (lower_linted); its options and
 * the .anet text its findings point into. */
static LintOpts lint;
static const Src *lint_src;
/* --calibrate NAME=FILE.npy, for `activations int8 scale=auto` */
static Calib calib;

static void usage(FILE *out) {
  fputs("usage: anetc [options] FILE.anet\n"
        "\n"
        "Compiles a .anet network to MIL text and a MILBlob v2 weight file.\n"
        "\n"
        "  -o DIR, --output=DIR  write DIR/model.mil, DIR/weights/weight.bin and\n"
        "                        DIR/anet.json (the manifest);\n"
        "                        with a sweep, one subdirectory of DIR per point\n"
        "  --emit=mil            print the MIL program to standard output\n"
        "  --dump-ir             print the checked layer IR to standard output\n"
        "  --point=NAME          only this sweep point (see --list-points)\n"
        "  --list-points         print the name of every sweep point\n"
        "  --calibrate NAME=FILE.npy\n"
        "                        the input NAME of a calibration run, from which\n"
        "                        `activations int8 scale=auto` takes its scales\n"
        "  --quant-report[=table|json]\n"
        "                        print each quantised weight's error (max |w' - w|,\n"
        "                        SNR in dB against the fp32 weights)\n"
        "  --sync                fsync each output before renaming it into place\n"
        "  --target NAME         the chip (and OS) to check for: M1 ... M6, A14 ... A18 Pro,\n"
        "                        CHIP:macos14, or an OS alone (default ios18)\n"
        "  --list-targets        print the known targets\n"
        "  -W no-RULE            silence one lint rule (docs/lint.md lists them)\n"
        "  --lint=json           print the lint's findings as JSON on standard output\n"
        "  -h, --help            print this help\n"
        "  -V, --version         print the version\n"
        "\n"
        "Exit status: 0 on success, 1 for errors in the input or while writing,\n"
        "2 for a wrong command line. The output directory is replaced only when\n"
        "everything was written.\n", out);
}

static int usage_error(const char *fmt, const char *arg) {
  fputs("anetc: error: ", stderr);
  fprintf(stderr, fmt, arg);
  fputs("\nTry 'anetc --help'.\n", stderr);
  return 2;
}

/* The value of "--name=value", or of "--name value" / "-o value". */
static const char *opt_value(int argc, char **argv, int *i, const char *name) {
  size_t n = strlen(name);
  if (strncmp(argv[*i], name, n) != 0)
    return NULL;
  if (argv[*i][n] == '=')
    return argv[*i] + n + 1;
  if (argv[*i][n] == '\0' && *i + 1 < argc)
    return argv[++*i];
  return NULL;
}

/* 0 to go on, otherwise the exit status + 1 (so that help exits 0). */
static int parse_args(int argc, char **argv, Opts *o) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      return 1;
    } else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
      printf("anetc (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION);
      return 1;
    } else if (!strcmp(a, "--dump-ir")) {
      o->dump_ir = true;
    } else if (!strcmp(a, "--list-points")) {
      o->list_points = true;
    } else if (!strcmp(a, "--quant-report") || !strncmp(a, "--quant-report=", 15)) {
      report.on = true;
      if (a[14] && strcmp(a + 15, "table") && !(report.json = !strcmp(a + 15, "json")))
        return 1 + usage_error("unknown --quant-report format '%s'; expected table or json",
                               a + 15);
    } else if ((v = opt_value(argc, argv, &i, "--calibrate"))) {
      Diag d = diag_stderr();
      int bad;
      if (calib_add(&calib, v, &bad, &d) != 0)
        return 1 + (bad ? usage_error("--calibrate wants NAME=FILE.npy, not '%s'", v) : 1);
    } else if (!strcmp(a, "--list-targets")) {
      o->list_targets = true;
    } else if ((v = opt_value(argc, argv, &i, "--target"))) {
      char err[256];
      if (target_parse(v, &lint.target, err, sizeof err) != 0)
        return 1 + usage_error("%s", err);
      lint.strict = true;
    } else if (!strncmp(a, "-W", 2)) {
      const char *r = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : "");
      if (strncmp(r, "no-", 3) != 0 || lint_opts_silence(&lint, r + 3) != 0)
        return 1 + usage_error("-W wants no-RULE with a rule of docs/lint.md, not '%s'", r);
    } else if (!strcmp(a, "--lint=json")) {
      lint.json = true;
      lint.strict = true;
    } else if (!strcmp(a, "--sync")) {
      outfile_set_sync(true);
    } else if (!strncmp(a, "--emit", 6)) {
      if (!(v = opt_value(argc, argv, &i, "--emit")))
        return 1 + usage_error("%s needs a value (--emit=mil)", a);
      if (strcmp(v, "mil") != 0)
        return 1 + usage_error("unknown --emit format '%s'; expected mil", v);
      o->emit_mil = true;
    } else if ((v = opt_value(argc, argv, &i, "--output")) || (v = opt_value(argc, argv, &i, "-o"))) {
      o->outdir = v;
    } else if ((v = opt_value(argc, argv, &i, "--point"))) {
      o->point = v;
    } else if (!strcmp(a, "-o") || !strcmp(a, "--output") || !strcmp(a, "--point") ||
               !strcmp(a, "--calibrate")) {
      return 1 + usage_error("%s needs a value", a);
    } else if (a[0] == '-' && a[1] != '\0') {
      static const char *const known[] = {"--help", "--version", "--dump-ir", "--list-points",
                                          "--sync", "--emit", "--output", "--point",
                                          "--calibrate", "--quant-report", NULL};
      char opt[64];
      snprintf(opt, sizeof opt, "%.*s", (int)strcspn(a, "="), a);
      const char *best = diag_suggest(opt, known);
      if (best) {
        char msg[200];
        snprintf(msg, sizeof msg, "%.100s'; did you mean '%s'?", a, best);
        return 1 + usage_error("unknown option '%s", msg);
      }
      return 1 + usage_error("unknown option '%s'", a);
    } else if (o->file) {
      return 1 + usage_error("more than one input file ('%s')", a);
    } else {
      o->file = a;
    }
  }
  if (o->list_targets && !o->file) {
    target_list(stdout);
    return 1;
  }
  if (!o->file)
    return 1 + usage_error("%s", "no input file");
  if (lint.json && o->emit_mil)
    return 1 + usage_error("%s", "--lint=json and --emit=mil both want standard output");
  if (!o->outdir && !o->emit_mil && !o->dump_ir && !o->list_points && !report.on && !lint.json)
    return 1 + usage_error("%s", "nothing to do: give -o DIR, --emit=mil, --dump-ir, "
                           "--list-points or --quant-report");
  return 0;
}

static char *path_join(const char *a, const char *b) {
  char *s = outdir_join(a, b);
  if (!s) {
    fputs("anetc: out of memory\n", stderr);
    exit(1);
  }
  return s;
}

/* Point i lowered and linted; NULL after errors (lint errors included). */
static MilProg *lower_linted(const AnetFile *f, int point, Diag *d) {
  MilProg *p = calib_lower(f, point, &calib, d);
  if (p && (mil_dialect(p, &lint.target, lint_src, d) > 0 ||
            lint_prog(p, lint_src, &lint, d) > 0)) {
    mil_free(p);
    return NULL;
  }
  return p;
}

/* Line and column of off, counting on from the previous call's place: a
 * model's ops come in source order, so its manifest costs one pass over the
 * text rather than one per op. */
typedef struct LineCursor {
  size_t off, bol;
  int line;
} LineCursor;

static void cursor_linecol(LineCursor *c, const Src *src, size_t off, int *line, int *col) {
  if (off < c->off)
    *c = (LineCursor){0, 0, 1};
  for (; c->off < off && c->off < src->len; c->off++)
    if (src->text[c->off] == '\n') {
      c->line++;
      c->bol = c->off + 1;
    }
  *line = c->line;
  *col = (int)(c->off - c->bol) + 1;
}

/* anet.json (docs/report-schema.md, "Model manifests"): which network and
 * point the model is, and the .anet line:col of the layer behind each op,
 * so that a backend's error about an op can point into the source. */
static void manifest_print(const AnetFile *f, int point, const MilProg *p, FILE *out) {
  const char *pt = anet_point_name(f, point);
  fputs("{\"schema\": \"anet-manifest\", \"schema_version\": 1,\n \"network\": ", out);
  json_str(out, anet_network_name(f));
  fputs(", \"point\": ", out);
  if (*pt)
    json_str(out, pt);
  else
    fputs("null", out);
  fputs(",\n \"source\": ", out);
  json_str(out, lint_src->name);
  fputs(",\n \"ops\": [", out);
  int n = 0;
  LineCursor cur = {0, 0, 1};
  for (int i = 0; i < p->nfuncs; i++)
    for (int k = 0; k < p->funcs[i].nops; k++) {
      const MilOp *op = &p->funcs[i].ops[k];
      int line = 0, col = 0;   /* 0, 0: a constant several layers share */
      if (op->loc.end > op->loc.start)
        cursor_linecol(&cur, lint_src, op->loc.start, &line, &col);
      fputs(n++ ? ",\n  " : "\n  ", out);
      fputs("{\"name\": ", out);
      json_str(out, mil_op_name(op));
      fputs(", \"op\": ", out);
      json_str(out, op->op);
      fprintf(out, ", \"line\": %d, \"col\": %d}", line, col);
    }
  fputs(n ? "\n ]}\n" : "]}\n", out);
}

static int write_manifest(const AnetFile *f, int point, const MilProg *p, const char *path,
                          Diag *d) {
  OutFile o;
  if (outfile_open(&o, path, d) != 0)
    return -1;
  manifest_print(f, point, p, o.f);
  return outfile_commit(&o, d);
}

/* One model into dir (which exists): weights/weight.bin, anet.json, then
 * model.mil. */
static int write_model(const AnetFile *f, int point, const char *dir, Diag *d) {
  MilProg *p = lower_linted(f, point, d);
  if (!p)
    return -1;
  if (!dir) {   /* --quant-report alone: quantise, write nothing */
    int rc = blob_measure(p, d);
    if (rc == 0)
      wfmt_report(p, anet_point_name(f, point), report.json, &report.rows, stdout);
    mil_free(p);
    return rc;
  }
  char *wdir = path_join(dir, "weights");
  char *wpath = path_join(wdir, "weight.bin");
  char *mpath = path_join(dir, "model.mil");
  char *jpath = path_join(dir, "anet.json");
  OutFile o;
  int rc = -1;
  if (outdir_mkdirs(wdir, d) == 0 && blob_write(p, wpath, d) == 0 &&
      write_manifest(f, point, p, jpath, d) == 0 && outfile_open(&o, mpath, d) == 0) {
    if (mil_print(p, o.f) != 0) {
      diag_file_error(d, mpath, "cannot write: %s", strerror(errno));
      outfile_abort(&o);
    } else {
      rc = outfile_commit(&o, d);
    }
  }
  if (rc == 0 && report.on)
    wfmt_report(p, anet_point_name(f, point), report.json, &report.rows, stdout);
  free(wdir);
  free(wpath);
  free(mpath);
  free(jpath);
  mil_free(p);
  return rc;
}

/* Makes DIR's parent if needed, so that its staging sibling can exist. */
static int make_parent(const char *dir, Diag *d) {
  char *parent = path_join(dir, "");
  char *slash = strrchr(parent, '/');
  while (slash && slash > parent && slash[1] == '\0') {   /* "out/" */
    *slash = '\0';
    slash = strrchr(parent, '/');
  }
  int rc = 0;
  if (slash && slash > parent) {
    *slash = '\0';
    rc = outdir_mkdirs(parent, d);
  }
  free(parent);
  return rc;
}

static int write_all(const AnetFile *f, const Opts *o, int only, Diag *d) {
  char *tmp;
  if (make_parent(o->outdir, d) != 0 || outdir_begin(o->outdir, &tmp, d) != 0)
    return -1;
  bool sub = only < 0 && anet_point_name(f, 0)[0] != '\0';
  for (int i = 0; i < anet_npoints(f); i++) {
    if (only >= 0 && i != only)
      continue;
    char *dir = path_join(tmp, sub ? anet_point_name(f, i) : "");
    int rc = write_model(f, i, dir, d);
    free(dir);
    if (rc != 0) {
      outdir_abort(tmp);
      return -1;
    }
  }
  if (outdir_commit(tmp, o->outdir, d) != 0) {
    outdir_abort(tmp);
    return -1;
  }
  free(tmp);
  return 0;
}

static int find_point(const AnetFile *f, const char *name) {
  for (int i = 0; i < anet_npoints(f); i++)
    if (strcmp(anet_point_name(f, i), name) == 0)
      return i;
  return -1;
}

static int run(const AnetFile *f, const Opts *o, Diag *d) {
  int only = -1, n = anet_npoints(f);
  if (o->point && (only = find_point(f, o->point)) < 0)
    return usage_error("no sweep point '%s' (--list-points lists them)", o->point);
  if (o->list_points)
    for (int i = 0; i < n; i++)
      if (only < 0 || i == only)
        printf("%s\n", anet_point_name(f, i));
  if (lint.json && only < 0 && n > 1) {
    fprintf(stderr, "anetc: error: %s describes %d models; --lint=json prints one of them: "
            "choose it with --point=NAME\n", o->file, n);
    return 2;
  }
  if (o->emit_mil && only < 0 && n > 1) {
    fprintf(stderr, "anetc: error: %s describes %d models; choose one with --point=NAME "
            "(--list-points lists them)\n", o->file, n);
    return 2;
  }
  if (o->dump_ir)
    for (int i = 0; i < n; i++)
      if ((only < 0 || i == only) && anet_dump_ir(f, i, stdout, d) != 0)
        return 1;
  if (lint.json && !o->outdir && !o->emit_mil) {
    for (int i = 0; i < n; i++) {
      MilProg *p = (only < 0 || i == only) ? lower_linted(f, i, d) : NULL;
      mil_free(p);
    }
    if (d->nerrors)
      return 1;
  }
  if (o->emit_mil) {
    MilProg *p = lower_linted(f, only < 0 ? 0 : only, d);
    if (!p)
      return 1;
    int rc = mil_print(p, stdout);
    mil_free(p);
    if (rc != 0)
      return 1;
  }
  if (report.on)
    fputs(report.json ? "[\n" : "point            weight                   format                 "
          "    elements  max_abs_err    snr_db\n", stdout);
  if (o->outdir && write_all(f, o, only, d) != 0)
    return 1;
  for (int i = 0; report.on && !o->outdir && i < n; i++)
    if ((only < 0 || i == only) && write_model(f, i, NULL, d) != 0)
      return 1;
  if (report.json)
    fputs(report.rows ? "\n]\n" : "]\n", stdout);
  if (fflush(stdout) != 0) {
    diag_file_error(d, NULL, "cannot write to standard output: %s", strerror(errno));
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  Opts o = {0};
  lint_opts_init(&lint);
  int rc = parse_args(argc, argv, &o);
  if (rc) {
    calib_free(&calib);
    return rc - 1;
  }
  Diag d = diag_stderr();
  Src src;
  if (src_read_file(&src, o.file, MAX_SOURCE, &d) != 0)
    return 1;
  lint_src = &src;
  AnetFile *f = anet_parse(&src, &d);
  rc = f ? run(f, &o, &d) : 1;
  anet_free(f);
  src_free(&src);
  calib_free(&calib);
  return rc;
}
