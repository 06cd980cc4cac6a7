/* simfit.h - fitting the sim cost model's free parameters per chip to
 * published measurements (data/ane_conv_chains.csv), and the leave-one-out
 * error that anerun --sim-validate prints (docs/cost-model.md). */
#ifndef ANET_SIMFIT_H
#define ANET_SIMFIT_H

#include <stdbool.h>
#include <stdio.h>

#include "diag.h"
#include "sim.h"

enum { SIMFIT_MAX_ROWS = 4096, SIMFIT_MAX_CONVS = 4096 };

typedef struct SimMeas {
  char chip[16];
  bool int8;                /* W8A8 chain */
  int convs, ch, h, w;
  double ms;                /* measured per evaluation */
  int line;                 /* in the data file */
} SimMeas;

typedef struct SimData {
  int n;
  SimMeas *rows;
} SimData;

/* Reads the CSV (comment lines start with '#'; the header names the
 * columns). 0, or -1 after a file:line:col error on d. */
int simfit_load(const char *path, SimData *data, Diag *d);
/* The same for a text (the fuzz harness). */
int simfit_parse(const Src *src, SimData *data, Diag *d);
void simfit_free(SimData *data);

/* Fits chip's rows except row `skip` (-1: none): rate, op_us and eval_us
 * by weighted least squares on the relative error when the rows allow three
 * parameters, else the rate only with base's op_us and eval_us (base NULL:
 * fails). 0, or -1 when there is nothing to fit. */
int simfit_fit(const SimData *data, const char *chip, int skip, const SimFit *base, SimFit *out);
/* The model's time for one measured chain with fit's parameters. */
double simfit_predict(const SimFit *fit, const SimMeas *m);
/* anerun --sim-validate: per chip the fit on all rows and the leave-one-out
 * error of every row. 0, or 1 after errors. */
int simfit_validate(FILE *out, const char *path, Diag *d);

#endif
