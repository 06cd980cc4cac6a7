/* dryrun.h - anerun --dry-run: what a model holds, without running it. */
#ifndef ANET_DRYRUN_H
#define ANET_DRYRUN_H

#include <stdio.h>

#include "diag.h"
#include "lint.h"
#include "model.h"

/* Prints every function of a loaded model: inputs and outputs with their
 * types, op counts by type, GFLOP, constant bytes, and the state of the
 * weight file. 0, or -1 after reporting a problem (an output that names no
 * value). */
int dryrun_print(FILE *out, const ModelPath *mp, const Loaded *l, Diag *d);
/* The lint options dryrun_print checks the program with (anerun's --target,
 * -W, --lint); NULL (the default): no lint, since most MIL from elsewhere is
 * made for Core ML, which may run it off the ANE. With --lint=json only the
 * JSON is printed.
 * Lint errors make dryrun_print fail. */
void dryrun_set_lint(const LintOpts *o);
/* A MIL type as MIL spells it: tensor<fp16, [1, ?]>, list<..., 4>. */
void dryrun_type(FILE *out, const MilType *t);

#endif
