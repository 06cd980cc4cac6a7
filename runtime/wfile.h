/* wfile.h - reading weight files (MILBlob v2) referenced by a MIL program.
 *
 * A WStore maps each "@model_path/..." path a program names to a file under
 * the model directory, opened read-only and read with pread() (never
 * mapped: a file cut short by another process is then an error, not
 * SIGBUS). Every blob is checked before its data is handed out: the
 * metadata offset lies inside the file and is 64-aligned, the sentinel is
 * 0xDEADBEEF, the dtype code matches the MIL type, the size matches the MIL
 * shape, and the data range lies inside the file. A failed check, or a
 * read that finds the file shorter than when it was opened, is an error
 * naming the file and the offset. */
#ifndef ANET_WFILE_H
#define ANET_WFILE_H

#include <stdbool.h>
#include <stdint.h>

#include "diag.h"
#include "mil.h"

typedef struct WStore WStore;

/* A store for the model directory dir (the one holding model.mil). */
WStore *wstore_new(const char *dir);
void wstore_free(WStore *w);

/* The checked data of a MIL_VBLOB value, or NULL after reporting on d.
 * The data are read into a buffer the store owns, valid until the next
 * wstore_blob() or wstore_free() on w: convert or copy them before. */
const void *wstore_blob(WStore *w, const MilValue *v, Diag *d);

/* Checks every blob value in p (the metadata, not the data). Returns the number of blob values checked,
 * or -1 after reporting errors. If a referenced file does not exist,
 * *missing is set (when non-NULL) and the blobs in it are not counted. */
int wstore_check_prog(WStore *w, const MilProg *p, bool *missing, Diag *d);

/* Low-level: checks one blob in a file image (used by the store and the
 * fuzzer). Returns a pointer to the data inside buf, or NULL after
 * reporting on d with `name` as the file name. */
const void *wfile_check_blob(const char *name, const uint8_t *buf, uint64_t len,
                             uint64_t offset, MilDtype dt, int64_t numel, Diag *d);

#endif
