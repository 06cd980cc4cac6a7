/* outfile.h - outputs that appear whole or not at all.
 *
 * A file is written under a temporary name in its own directory, flushed,
 * and renamed into place by outfile_commit(); outfile_abort() removes it.
 * A directory of outputs is staged the same way: outdir_begin() makes a
 * temporary sibling of the target, outdir_commit() swaps it in. */
#ifndef ANET_OUTFILE_H
#define ANET_OUTFILE_H

#include <stdbool.h>
#include <stdio.h>

#include "diag.h"

typedef struct OutFile {
  FILE *f;
  char *path;       /* final name */
  char *tmp;        /* temporary name, same directory */
} OutFile;

/* Whether outfile_commit() also fsyncs (default: no). A rename of a fully
 * written file already protects against an interrupted run; fsync adds
 * safety against a power loss, at the cost of waiting for the disk. */
void outfile_set_sync(bool on);

int outfile_open(OutFile *o, const char *path, Diag *d);
/* Flushes, fsyncs if asked, and renames; 0, or -1 after reporting (the
 * temporary is removed and path is left as it was). */
int outfile_commit(OutFile *o, Diag *d);
void outfile_abort(OutFile *o);

/* Staging a directory: *tmp receives a new empty directory next to path. */
int outdir_begin(const char *path, char **tmp, Diag *d);
/* Replaces path (if it exists) by tmp; 0, or -1 after reporting. */
int outdir_commit(const char *tmp, const char *path, Diag *d);
/* Removes tmp and everything in it. */
void outdir_abort(char *tmp);
/* "dir/name", or dir alone when name is empty (malloc'd; NULL when out of
 * memory). */
char *outdir_join(const char *dir, const char *name);
/* mkdir -p for a staged tree; 0, or -1 after reporting. */
int outdir_mkdirs(const char *path, Diag *d);

#endif
