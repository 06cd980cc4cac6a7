/* lint.h - known ANE limits checked on the MIL IR before Apple's compiler
 * sees the program (docs/lint.md lists the rules and their sources).
 *
 * Each rule has a stable name ("ane-concat"); its severity depends on the
 * target: an error when the compiler refuses the program or the result is
 * wrong, a warning when it runs off the ANE or slowly, or when the sources
 * disagree. A finding is reported at the op's loc in src: the .anet line
 * for programs anetc lowers, the MIL line for parsed ones. */
#ifndef ANET_LINT_H
#define ANET_LINT_H

#include <stdbool.h>
#include <stdio.h>

#include "diag.h"
#include "mil.h"
#include "target.h"

enum { LINT_MAX_OFF = 64 };

typedef struct LintOpts {
  Target target;
  int noff;
  const char *off[LINT_MAX_OFF];   /* rules silenced by -W no-NAME */
  bool json;                       /* one JSON array on json_out instead of diagnostics */
  bool strict;                     /* a target was asked for: errors are errors, and the
                                      I/O rules a runtime answers for are checked too */
  FILE *json_out;
} LintOpts;

typedef struct LintRule {
  const char *name;
  const char *source;              /* the public source of the constraint */
  const char *what;                /* one line for docs and --help */
} LintRule;

/* Defaults: TARGET_DEFAULT, every rule on, diagnostics, not strict: a
 * program written for any backend gets the findings as warnings, and the
 * rules on surface sizes and binding order, which anerun's ane backend
 * answers for itself, stay quiet. */
void lint_opts_init(LintOpts *o);
/* "-W no-NAME" / "-Wno-NAME": NAME must be a rule. 0, or -1 (unknown). */
int lint_opts_silence(LintOpts *o, const char *name);
const LintRule *lint_rules(int *n);

/* Checks every function of p; src is what the ops' locs point into (NULL:
 * findings name the op only). Errors count in d->nerrors. Returns the
 * number of errors found. */
int lint_prog(const MilProg *p, const Src *src, const LintOpts *o, Diag *d);

#endif
