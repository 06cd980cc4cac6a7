/* results.h - results that accumulate: anerun --results appends one JSON
 * line per point (the report plus the machine, docs/report-schema.md,
 * "Results files"), and --compare reads such files back and flags the
 * points that got slower. */
#ifndef ANET_RESULTS_H
#define ANET_RESULTS_H

#include <stdbool.h>
#include <stdio.h>

#include "diag.h"
#include "report.h"
#include "runopts.h"

enum { RESULTS_SCHEMA_VERSION = 1 };

/* Appends rows r[0..n) to path as JSON lines; 0, or -1 after reporting.
 * A line is written whole or the file is left as it was. */
int results_append(const char *path, const RunOpts *o, const Report *r, int n, Diag *d);

/* What --compare needs of one line. */
typedef struct ResultRow {
  char model[REPORT_NAME];
  char backend[16], chip[16];
  double ms_median;       /* NaN when the line had null */
  int line;               /* 1-based, in its file */
} ResultRow;

/* Reads every line of a results file (blank lines skipped); a line that
 * is not a JSON object of this schema is a file:line:col error. 0, or -1
 * after reporting; *rows is malloc'd. */
int results_read(const char *path, ResultRow **rows, int *n, Diag *d);
/* The same for the text of one file (for tests and the fuzz harness). */
int results_parse(const Src *src, ResultRow **rows, int *n, Diag *d);
/* The rows of a run as --compare sees them. */
void results_from_report(const Report *r, ResultRow *row);

/* Prints per point (model, backend and chip; the last line of each file
 * wins) the old and new median times and the change; a point slower by
 * more than threshold percent is flagged. Returns the number flagged. */
int results_compare(FILE *out, const ResultRow *old, int nold, const ResultRow *cur, int ncur,
                    double threshold);

#endif
