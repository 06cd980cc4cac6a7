/* model.h - what anerun's PATH names: a model directory (model.mil and
 * weights/weight.bin, as anetc writes it or as a compiled Core ML model
 * holds it), a sweep directory (one such model directory per point, as
 * anetc writes a sweep), a model.mil file, or a .anet file compiled
 * in-process.
 *
 * A .anet point that runs gets its weights written (blob_write) into a
 * private directory under $TMPDIR, removed again by model_unload(); the
 * backends then see an ordinary model directory. */
#ifndef ANET_MODEL_H
#define ANET_MODEL_H

#include <stdbool.h>

#include "anet.h"
#include "backend.h"
#include "diag.h"
#include "target.h"

typedef struct ModelPath {
  char *path;          /* as given */
  char *dir;           /* MIL: the model directory */
  char *base;          /* report name of a MIL model: the point or network its
                          anet.json names, else its directory's name */
  char *file;          /* the text read: model.mil or the .anet (src.name) */
  bool is_anet;
  Src src;             /* the .anet or model.mil text */
  AnetFile *anet;
  int npoints;         /* sweep points; 1 for a single MIL model */
  char *root;          /* a sweep directory: PATH; dir, base, file and src */
  char **points;       /* follow the point loaded last; points[] in natural order */
  char **names;        /* a sweep directory: each point's report name */
  const char *function;/* the function to run (--function); NULL: main */
  const Target *target;/* the dialect a .anet point is lowered to (dialect.h); NULL: ios18 */
} ModelPath;

typedef struct Loaded {
  Model m;             /* what backends see */
  char *name;
  char *workdir;       /* a .anet point's private directory, or NULL */
  bool own_workdir;    /* model_unload removes the directory itself */
  bool has_blobs;      /* the program names weight blobs */
  bool weights_missing;/* ... and the weight file is absent */
  int nchecked;        /* blob values checked */
} Loaded;

int model_open(const char *path, ModelPath *mp, Diag *d);
/* What PATH stands for: a directory that holds .anet files but no model
 * (neither model.mil nor a sweep) stands for those files in natural order,
 * anything else for itself. *out is malloc'd, as each string in it; 0, or
 * -1 after reporting. */
int model_expand(const char *path, char ***out, int *n, Diag *d);
void model_close(ModelPath *mp);
/* The name of point i: the sweep point's, or the model's. */
const char *model_point_name(const ModelPath *mp, int i);

/* Loads point i. With weights, they must be available: a .anet point's
 * are written to workdir (NULL: a new private one), a MIL model's must be
 * present. Without it, present MIL weights are checked and absent ones
 * only noted. 0, or -1 after reporting. */
int model_load(ModelPath *mp, int i, bool weights, const char *workdir, Loaded *l, Diag *d);
void model_unload(Loaded *l);
/* 0 when l has the function to run, else -1 after naming the ones it has
 * (a program without main loads, for --dry-run, but cannot run). */
int model_require_function(const ModelPath *mp, const Loaded *l, Diag *d);

/* A private directory for a .anet point's files; removing it deletes only
 * the files model_load writes there. */
char *model_workdir_new(Diag *d);
void model_workdir_remove(const char *dir);

#endif
