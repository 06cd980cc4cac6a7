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

enum { REPORT_NAME = 256, REPORT_MAX_CHECKS = 16, REPORT_MAX_OPS = 24 };

typedef struct CheckRow {
  char output[64];
  Compare c;
  bool ok;
} CheckRow;

/* Time spent in one op type during one evaluation (--profile): modelled
 * by sim, measured by cpu; ane gives none. */
typedef struct OpShare {
  char op[32];
  int count;
  double gflop, ms;
  double bytes;            /* sim: memory traffic the model counts, for the roofline */
} OpShare;

typedef struct Report {
  char model[REPORT_NAME];
  char backend[16];
  char chip[16];           /* "" when no chip applies */
  bool estimated;          /* times come from the sim cost model */
  int warmup, iters;       /* 0 for sim: nothing was run */
  char precision[8];       /* "w8a8" when int8 activations flow between layers, else "fp16" */
  uint64_t weight_bytes;
  double gflop;
  bool gflop_partial;      /* ops with unknown shapes were not counted */
  double ms_min, ms_median, ms_p90;
  double tflops;           /* gflop / ms_median, in TFLOP/s */
  double pct_peak, est_mhz;  /* NaN unless ane or sim on a chip that has the figures */
  double pct_int8;         /* tflops as % of the int8 peak (W8A8 rows) */
  double dram_bytes;       /* weights plus function inputs and outputs of one evaluation */
  int nops;                /* --profile: time per op type, ops[0..nops) */
  bool ops_other;          /* op types past REPORT_MAX_OPS were merged into the last */
  OpShare ops[REPORT_MAX_OPS];
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
/* Prints rows r[0..n); the first row's backend chooses the table columns.
 * base[i] is row i's baseline row or -1 (NULL: no ratio column). */
void report_print(FILE *out, ReportFormat fmt, const Report *r, int n, const int *base);
bool report_checks_ok(const Report *r);

/* The table printed a row at a time, as each point finishes: the header
 * (names up to name_width wide), rows, then the notes. */
typedef struct ReportTable {
  int width;
  bool ratio;              /* a ratio column */
  bool estimated, ane;
} ReportTable;
void report_table_begin(FILE *out, ReportTable *t, const Report *first, int name_width,
                        bool ratio);
/* Row i of r; base is the row it is compared with, or NULL. */
void report_table_row(FILE *out, const ReportTable *t, const Report *r, const Report *base);
void report_table_end(FILE *out, const ReportTable *t, const Report *r, int n, const int *base);
int report_name_width(const char *const *names, int n);

/* One JSON object on one line (without newline), for --results. */
void report_json_line(FILE *out, const Report *r);

/* Baselines for the ratio column. sel NULL: pair each row with the row
 * whose name differs only by its format token (fp16_128x512 is the
 * baseline of w8a8_128x512); sel "none": none; else the row named sel.
 * base[i] = index or -1. Returns the number of rows that have one, or -1
 * when sel names no row. */
int report_baselines(const char *const *names, int n, const char *sel, int *base);
/* The name without its format token ("fp16_128x512" -> "_128x512"), for
 * grouping; buf of size REPORT_NAME. */
const char *report_config_key(const char *name, char *buf);

#endif
