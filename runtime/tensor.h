/* tensor.h - host tensors (model inputs and outputs) and .npy files.
 *
 * .npy versions 1.0 and 2.0, C order, dtypes <f2 <f4 |i1 |u1 <i4 |b1 (fp16, fp32,
 * int8, uint8, int32, bool). Anything else is refused with a message naming what was
 * found. Writes go to a temporary name in the same directory and are
 * renamed into place. */
#ifndef ANET_TENSOR_H
#define ANET_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "diag.h"
#include "mil.h"

typedef struct Tensor {
  MilDtype dtype;
  int rank;
  int64_t dim[MIL_MAX_RANK];
  void *data;            /* malloc'd, numel * element size bytes */
  size_t nbytes;
} Tensor;

int64_t tensor_numel(const Tensor *t);
/* "[1, 2, 3]" into buf (truncated to n bytes). */
void tensor_shape_str(char *buf, size_t n, int rank, const int64_t *dim);

/* Allocates zeroed data for dtype and shape; 0, or -1 if too large. */
int tensor_alloc(Tensor *t, MilDtype dt, int rank, const int64_t *dim);
void tensor_free(Tensor *t);
/* Element i as a double / stored from a double (fp16 rounds to nearest even,
 * ints round half to even and saturate). */
double tensor_get(const Tensor *t, int64_t i);
void tensor_set(Tensor *t, int64_t i, double v);

/* Reads path (or len bytes at buf, reported as name); 0, or -1 after
 * reporting "path: error: ..." on d. */
int npy_read(const char *path, Tensor *out, Diag *d);
int npy_read_mem(const char *name, const void *buf, size_t len, Tensor *out, Diag *d);
int npy_write(const char *path, const Tensor *t, Diag *d);

#endif
