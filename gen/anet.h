/* anet.h - the .anet compiler: parse a file, check it, lower each sweep
 * point to a MIL program.
 *
 *   AnetFile *f = anet_parse(&src, &diag);        // syntax + name/shape checks
 *   for (int i = 0; i < anet_npoints(f); i++)
 *     MilProg *p = anet_lower(f, i, &diag);       // one program per sweep point
 *
 * All diagnostics are file:line:col errors on the Diag. */
#ifndef ANET_ANET_H
#define ANET_ANET_H

#include <stdio.h>

#include "diag.h"
#include "mil.h"

typedef struct AnetFile AnetFile;

/* Parses and checks src (which must outlive the result). NULL on error. */
AnetFile *anet_parse(const Src *src, Diag *d);
void anet_free(AnetFile *f);

/* Number of models the file describes: 1 without a sweep. */
int anet_npoints(const AnetFile *f);
/* The directory name of point i, made of the network name and its constants
 * ("fp16_peak_ch512_depth128"); for a file without a sweep, "" . */
const char *anet_point_name(const AnetFile *f, int i);
/* The network's name. */
const char *anet_network_name(const AnetFile *f);

/* Checks and lowers point i to MIL (program(1.3), func main<ios18>).
 * Weight data are not generated: the program's blobs describe them.
 * `activations int8 scale=auto` is an error here (it needs AnetCalib). */
MilProg *anet_lower(const AnetFile *f, int point, Diag *d);

/* A calibration input (anetc --calibrate NAME=FILE.npy): its shape. */
typedef struct AnetCalInput {
  const char *name, *file;
  MilDtype dtype;
  int rank;
  const int64_t *dim;
} AnetCalInput;

/* Lowering with calibration, for `activations int8 scale=auto`
 * (gen/calib.c runs it). Every input of the network must have one
 * calibration input of its shape, and every one given must name an input:
 * errors located in the .anet file. With probe, the auto layers keep fp16
 * activations and each one's result is appended to the function's outputs
 * (nprobe of them, after the network's); otherwise scale[k] is the scale
 * of auto layer k (nscale must be their number). */
typedef struct AnetCalib {
  int ninputs;
  const AnetCalInput *inputs;
  bool probe;
  int nprobe;              /* set by a probe lowering */
  int nscale;
  const double *scale;
} AnetCalib;

MilProg *anet_lower_calib(const AnetFile *f, int point, AnetCalib *cal, Diag *d);

/* Prints the checked layer IR of point i (--dump-ir). 0, or -1 on error. */
int anet_dump_ir(const AnetFile *f, int point, FILE *out, Diag *d);

#endif
