/* run.h - what anerun does with its options: describe (--dry-run) or run
 * every model PATH holds and print the report.
 *
 * A point runs as: open the backend, set the inputs (from --input files or
 * the seeded PRNG), --warmup untimed evaluations, --iters evaluations each
 * timed with CLOCK_MONOTONIC around eval() alone, then outputs and --check.
 * With the ane backend every point of a sweep runs in a child process,
 * because the private API leaks with each compile. */
#ifndef ANET_RUN_H
#define ANET_RUN_H

#include <stdio.h>

#include "model.h"
#include "report.h"
#include "runopts.h"

/* Exit statuses: 0, or 1 after reporting. */
int run_dry(const RunOpts *o, FILE *out, Diag *d);
/* Runs every point of every PATH (o->paths) into one report, then
 * --results and --plot. */
int run_all(const RunOpts *o, FILE *out, Diag *d);
/* anerun --probe: 0 when every item is ok, 1 when one is not, 2 off macOS. */
int run_probe(const RunOpts *o, FILE *out, Diag *d);

/* The rows of a run and each row's baseline (-1: none). */
typedef struct RunRows {
  Report *rows;
  int n;
  int *base;
} RunRows;
/* Runs every point of o->paths; with print, shows the report (and
 * progress on a terminal) as run_all does. 0, or 1 when a point failed
 * (the others are in rr). */
int run_study_rows(const RunOpts *o, FILE *out, bool print, RunRows *rr, Diag *d);
void run_rows_free(RunRows *rr);
/* --compare OLD.jsonl against NEW.jsonl or a run of o->paths: 0, 1 after
 * an error, RUNOPTS_EXIT_REGRESSED when a point got slower. */
int run_compare(const RunOpts *o, FILE *out, Diag *d);

/* Runs point i of mp in this process; a .anet point's files go to workdir
 * (NULL: a private one). When profile is non-NULL and the backend is sim,
 * the per-op table goes there. 0, or -1 after reporting. */
int run_point(const RunOpts *o, ModelPath *mp, int i, const char *workdir, FILE *profile,
              Report *r, Diag *d);
/* The same in a child process; the parent removes the point's files even
 * when the child dies. */
int run_point_forked(const RunOpts *o, ModelPath *mp, int i, Report *r, Diag *d);

#endif
