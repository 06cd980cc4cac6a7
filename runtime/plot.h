/* plot.h - anerun --plot: a run drawn as a standalone SVG file, no
 * library needed.
 *
 *   throughput  TFLOPS (TOPS for W8A8) per point, grouped by configuration
 *               (the name without its format token) with fp16 and W8A8
 *               side by side;
 *   roofline    each model (and with sim each op type) at its arithmetic
 *               intensity under the chip's compute roofs and memory slope,
 *               log-log;
 *   shares      with --profile: each point's time split by op type.
 * The title names the chip and backend and says "estimated" for sim. Each
 * mark has class "bar" or "point", so tests can count them. */
#ifndef ANET_PLOT_H
#define ANET_PLOT_H

#include <stdbool.h>
#include <stdio.h>

#include "diag.h"
#include "report.h"
#include "runopts.h"

/* Draws r[0..n) into path (written whole or not at all); 0, or -1 after
 * reporting. */
int plot_write(const char *path, PlotKind kind, bool profile, const Report *r, int n, Diag *d);
/* The same onto a stream. */
void plot_svg(FILE *out, PlotKind kind, bool profile, const Report *r, int n);

#endif
