/* compare.h - how far one output is from its reference (anerun --check).
 *
 *   max_abs  max |out - ref|
 *   max_rel  max |out - ref| / max(|ref|, 1e-6)
 *   snr_db   10 log10(sum ref^2 / sum (out - ref)^2); +inf when equal
 *   norm     max_abs / max|ref| (max_abs when ref is all zero): what --tol
 *            bounds, so one tolerance serves outputs of any scale.
 * A NaN or infinity in one tensor but not at the same place in the other
 * makes max_abs infinite. */
#ifndef ANET_COMPARE_H
#define ANET_COMPARE_H

#include <stdbool.h>

#include "diag.h"
#include "tensor.h"

typedef struct Compare {
  double max_abs, max_rel, snr_db, norm;
  long long n;
} Compare;

/* Compares out against ref element by element; 0, or -1 after reporting a
 * shape mismatch (name is the output's name). */
int compare_tensors(const char *name, const Tensor *out, const Tensor *ref, Compare *c, Diag *d);
bool compare_ok(const Compare *c, double tol);

#endif
