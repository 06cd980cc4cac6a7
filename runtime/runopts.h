/* runopts.h - anerun's command line. */
#ifndef ANET_RUNOPTS_H
#define ANET_RUNOPTS_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "diag.h"
#include "lint.h"
#include "report.h"

typedef enum RunMode {
  RUN_BENCH, RUN_DRY, RUN_HELP, RUN_VERSION, RUN_LIST_CHIPS, RUN_PROBE, RUN_COMPARE,
  RUN_SIM_VALIDATE
} RunMode;
typedef enum PlotKind { PLOT_THROUGHPUT, PLOT_ROOFLINE } PlotKind;

typedef struct InputArg {
  const char *name, *file;   /* "--input NAME=FILE": point into argv */
  int name_len;
} InputArg;

typedef struct RunOpts {
  RunMode mode;
  const char *path;
  const Backend *backend;
  int warmup, iters;
  uint64_t seed;
  int ninputs;
  InputArg *inputs;          /* malloc'd */
  const char *output_dir;
  const char *function;      /* --function; NULL: main */
  ReportFormat format;
  BackendOpts bopts;         /* qos, chip */
  bool check;
  double tol;
  const char *probe_output;  /* --probe --output FILE.json */
  bool list_functions;       /* --list-functions: print them, run nothing */
  int npaths;
  const char **paths;        /* every PATH, in order (malloc'd); path is paths[0] */
  bool summary, profile;     /* --summary, --profile */
  const char *baseline;      /* --baseline; NULL: pair by format */
  const char *results;       /* --results FILE.jsonl */
  const char *compare;       /* --compare OLD.jsonl */
  double threshold;          /* --threshold: % slower that counts as a regression */
  const char *plot;          /* --plot FILE.svg */
  PlotKind plot_kind;
  bool many;                 /* set by the run: more than one point, so each
                                point's outputs go to output_dir/POINT */
  LintOpts lint;             /* --target, -W no-RULE, --lint=json (the dry run's lint) */
  bool lint_on;              /* any of them given: the dry run lints */
  bool sim_validate;         /* --sim-validate */
  bool bisect;               /* --bisect: a program that fails to compile is searched */
  bool target_given;         /* --target: .anet points are lowered to its dialect */
} RunOpts;

enum { RUNOPTS_QOS_DEFAULT = 21, RUNOPTS_EXIT_USAGE = 2, RUNOPTS_EXIT_REGRESSED = 3 };

/* 0, or RUNOPTS_EXIT_USAGE after reporting "anerun: error: ..." on d. */
int runopts_parse(int argc, char **argv, RunOpts *o, Diag *d);
void runopts_free(RunOpts *o);
void runopts_usage(FILE *out);
/* The backend called name on this system; NULL when there is none. */
const Backend *runopts_backend(const char *name);

#endif
