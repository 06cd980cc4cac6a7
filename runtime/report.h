/* report.h - one row per model run, printed as a table, JSON or CSV
 * (docs/report-schema.md).
 *
 * A Report is plain data with no pointers, so a child process that ran a
 * sweep point can hand it to its parent through a pipe. */
#ifndef ANET_REPORT_H
#define ANET_REPORT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "chip.h"
#include "compare.h"
#include "stats.h"

enum { REPORT_NAME = 256, REPORT_MAX_CHECKS = 16 };

typedef struct CheckRow {
  char output[64];
  Compare c;
  bool ok;
} CheckRow;

typedef struct Report {
  char model[REPORT_NAME];
  char backend[16];
  char chip[16];           /* "" when no chip applies */
  bool estimated;          /* times come from the sim cost model */
  int warmup, iters;
  uint64_t weight_bytes;
  double gflop;
  bool gflop_partial;      /* ops with unknown shapes were not counted */
  double ms_min, ms_median, ms_p90;
  double tflops;           /* gflop / ms_median, in TFLOP/s */
  double pct_peak, est_mhz;  /* NaN unless measured on an ANE of a known chip */
  double tol;
  int nchecks;             /* --check: outputs compared against cpu */
  CheckRow checks[REPORT_MAX_CHECKS];
  char binding[16];        /* ane: "attributes" or "alphabetical"; "" otherwise */
  bool hw_ok;              /* ane: the system gave the hardware time of every timed run */
  double hw_ms_min, hw_ms_median, hw_ms_p90;
} Report;

typedef enum ReportFormat { REPORT_TABLE, REPORT_JSON, REPORT_CSV } ReportFormat;

void report_init(Report *r, const char *model, const char *backend, bool estimated);
/* Stores the timing summary and derives tflops from gflop. */
void report_set_times(Report *r, const Stats *s);
/* Names the chip; for a row measured on an ANE also fills % of the fp16
 * peak and the implied MAC clock by the seed's model (chip.h). */
void report_set_chip(Report *r, const Chip *c);
/* Prints rows r[0..n); the first row's backend chooses the table columns. */
void report_print(FILE *out, ReportFormat fmt, const Report *r, int n);
bool report_checks_ok(const Report *r);

#endif
