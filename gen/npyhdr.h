/* npyhdr.h - the header of a .npy file (NumPy format versions 1.0 and 2.0),
 * shared by the tensor reader/writer (runtime/tensor.c) and the weight
 * initialiser that streams a .npy into weight.bin (gen/blob.c).
 *
 * A file is: "\x93NUMPY", major, minor, a little-endian header length
 * (u16 in 1.0, u32 in 2.0), then an ASCII Python dict literal
 * {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } padded with
 * spaces and ended by '\n', then the raw C-order data. */
#ifndef ANET_NPYHDR_H
#define ANET_NPYHDR_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "diag.h"
#include "mil.h"

enum {
  NPYHDR_PREFIX = 12,         /* enough bytes to learn the header's length */
  NPYHDR_MAX = 1 << 20,       /* longer headers are refused */
  NPYHDR_ALIGN = 64,          /* data start at a multiple of this when written */
};

typedef struct NpyHeader {
  MilDtype dtype;             /* fp16, fp32, int8 or uint8 */
  int rank;
  int64_t dim[MIL_MAX_RANK];
  int64_t numel;
  uint64_t data_offset;       /* bytes before the data */
  uint64_t data_bytes;        /* numel * element size */
} NpyHeader;

/* The total header size (data offset) announced by the first n bytes of a
 * file, or 0 if they are not the start of a version 1.0/2.0 header (then
 * npyhdr_parse on the same bytes says why). */
uint64_t npyhdr_size(const uint8_t *buf, size_t n);

/* Parses the header at buf[0..len) (len may extend into the data).
 * 0, or -1 after reporting "name: error: ..." on d. */
int npyhdr_parse(const char *name, const uint8_t *buf, size_t len, NpyHeader *h, Diag *d);

/* Opens the .npy file at path and reads its header into h, checking that
 * the file holds exactly the data the header announces; the stream is left
 * at the data. NULL after reporting. */
FILE *npyhdr_open(const char *path, NpyHeader *h, Diag *d);

/* Reports that name has `have` bytes of data where h needs h->data_bytes;
 * returns -1. */
int npyhdr_wrong_length(const char *name, const NpyHeader *h, uint64_t have, Diag *d);

/* The element size in bytes of a dtype .npy files may hold; 0 for others. */
int npyhdr_elem_size(MilDtype dt);

/* Writes the complete header (magic to '\n') for dt and shape into out,
 * padded so that the data start at a multiple of NPYHDR_ALIGN; version 1.0
 * unless the header needs more than 65535 bytes. Returns its length, or 0
 * if dt cannot be stored or cap is too small. */
size_t npyhdr_format(uint8_t *out, size_t cap, MilDtype dt, int rank, const int64_t *dim);

#endif
