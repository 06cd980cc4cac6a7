/* blob.h - the MILBlob v2 writer (weights/weight.bin) and the weight
 * initialisers.
 *
 * blob_write() streams every p->blobs[i] to `path` in the layout that
 * mil_layout_blobs() computed: a 64-byte storage header (count, version 2),
 * then per blob a 64-byte metadata record (sentinel 0xDEADBEEF, BlobDataType,
 * exact size, absolute data offset) and the data, each 64-aligned. Data are
 * generated in bounded chunks, so memory use does not grow with the model.
 * The file is written under a temporary name and renamed when complete. */
#ifndef ANET_BLOB_H
#define ANET_BLOB_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "diag.h"
#include "mil.h"
#include "quant.h"

/* Lays out (mil_layout_blobs) and writes the weight file; 0, or -1 after
 * reporting on d (nothing is left at path or at a temporary name). */
int blob_write(MilProg *p, const char *path, Diag *d);

/* Fills out[0..n) with elements first..first+n-1 of blob src, encoded in
 * src->dtype (little-endian; sub-byte types packed LSB first, so first and n
 * must then be multiples of 8). Deterministic: the same src gives the same
 * bytes on every machine. 0, or -1 after reporting (e.g. an unreadable .npy). */
int blob_fill(const MilBlobSrc *src, int64_t first, int64_t n, void *out, Diag *d);

/* A weight stored quantised: its fp32 values come from src (generated or
 * read from .npy), are quantised by fmt while the file is written, and
 * each stored part is a blob with init MIL_INIT_QUANT pointing here. The
 * writer records the error it measured. */
typedef struct QuantPlan {
  QuantFmt fmt;
  int64_t cout, cin, k;
  MilBlobSrc src;          /* dtype fp32, numel cout * cin * k */
  const char *name;        /* the weight's MIL name, for reports */
  bool measured;
  double max_abs, snr_db;  /* quant_error() of the stored weights */
} QuantPlan;

/* Quantises every plan p's blobs use that is not measured yet, without
 * writing anything (blob_write measures as it goes). 0, or -1 after
 * reporting. */
int blob_measure(MilProg *p, Diag *d);

/* The project's PRNG (documented in docs/language.md): a 64-bit stream
 * seeded by one integer. */
typedef struct Prng { uint64_t s[4]; } Prng;
void prng_seed(Prng *r, uint64_t seed);
uint64_t prng_next(Prng *r);
double prng_uniform(Prng *r);       /* [0, 1), 53 random bits */

/* The standard normal that normal(0, 1) makes of a 32-bit draw. */
float blob_normal_draw(uint32_t d);

#endif
