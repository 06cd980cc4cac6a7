/* calib.h - anetc --calibrate: the scales of `activations int8 scale=auto`.
 *
 * A point with auto layers is lowered twice. The first lowering (a probe)
 * keeps those layers' activations fp16 and makes each one's result an
 * output; the cpu backend (runtime/cpu, linked in-process) runs it once on
 * the calibration inputs, with its weights written to a temporary
 * directory. Each auto layer's scale is then fp16(max |a| / 127) over that
 * result a (1 when it is all zero, at least 2^-24), and the second
 * lowering writes them as the layers' quantize and dequantize scales. */
#ifndef ANET_CALIB_H
#define ANET_CALIB_H

#include "anet.h"
#include "tensor.h"

typedef struct Calib {
  int n;
  AnetCalInput *inputs;    /* names, files and shapes, for the lowering's checks */
  Tensor *data;            /* the .npy contents */
} Calib;

/* Adds "NAME=FILE.npy" (the file is read now); 0, or -1 after reporting
 * (*usage set when arg is malformed rather than the file bad). */
int calib_add(Calib *c, const char *arg, int *usage, Diag *d);
void calib_free(Calib *c);

/* Lowers point `point` of f, measuring the scales of its auto layers first
 * when c has inputs; without them this is anet_lower(). NULL after errors. */
MilProg *calib_lower(const AnetFile *f, int point, const Calib *c, Diag *d);

/* The scale the rule above gives for the largest magnitude absmax. */
double calib_scale(double absmax);

#endif
