/* fuzz_simfit.c - libFuzzer harness for the loader of the sim cost model's
 * measurements (anerun --sim-validate, data/ane_conv_chains.csv). Rows it
 * accepts are in the ranges simfit.h promises; a small accepted file is
 * also fitted per chip and its first row predicted, as --sim-validate does. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "simfit.h"

enum { FIT_MAX_ROWS = 32, FIT_MAX_CONVS = 256 };

static void check_row(const SimMeas *m) {
  if (strnlen(m->chip, sizeof m->chip) == sizeof m->chip || m->convs < 1 ||
      m->convs > SIMFIT_MAX_CONVS || m->ch < 1 || m->ch > 65536 || m->h < 1 || m->h > 65536 ||
      m->w < 1 || m->w > 65536 || !(m->ms > 0) || !isfinite(m->ms) || m->line < 1)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Diag d = fuzz_diag();
  Src src = {"fuzz.csv", (const char *)data, size};
  SimData sd;
  if (simfit_parse(&src, &sd, &d) != 0) {
    if (sd.rows || sd.n)
      abort();
    return 0;
  }
  if (sd.n < 1 || sd.n > SIMFIT_MAX_ROWS)
    abort();
  bool small = sd.n <= FIT_MAX_ROWS;
  for (int i = 0; i < sd.n; i++) {
    check_row(&sd.rows[i]);
    small &= sd.rows[i].convs <= FIT_MAX_CONVS;
  }
  SimFit base, f;
  bool have_base = small && simfit_fit(&sd, "M5", -1, NULL, &base) == 0;
  for (int i = 0; small && i < sd.n; i++)
    if (simfit_fit(&sd, sd.rows[i].chip, i, have_base ? &base : NULL, &f) == 0)
      (void)simfit_predict(&f, &sd.rows[i]);
  simfit_free(&sd);
  return 0;
}
