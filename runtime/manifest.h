/* manifest.h - anet.json, the manifest anetc writes beside model.mil
 * (docs/report-schema.md, "Model manifests"): the network and sweep point
 * the model is, the .anet it came from, and the line:col of the layer
 * behind each MIL op. A model directory without one (MIL from anywhere
 * else) has no manifest, which is not an error. */
#ifndef ANET_MANIFEST_H
#define ANET_MANIFEST_H

#include "diag.h"
#include "mil.h"

enum {
  MANIFEST_VERSION = 1,
  MANIFEST_NAME = 256,         /* longest name + 1 */
  MANIFEST_PATH = 4096,        /* longest source path + 1 */
  MANIFEST_MAX_OPS = 1 << 20,
};

typedef struct ManifestOp {
  char *name;                  /* the op's MIL name ("conv_3"), owned */
  char *op;                    /* its MIL op ("conv"), owned */
  int line, col;               /* of its .anet layer; 0, 0 for a constant layers share */
} ManifestOp;

typedef struct Manifest {
  char network[MANIFEST_NAME];
  char point[MANIFEST_NAME];   /* "" for a file without a sweep */
  char source[MANIFEST_PATH];  /* the .anet as anetc was given it */
  int nops;
  ManifestOp *ops;
} Manifest;

/* Reads DIR/anet.json: 1 when read, 0 when DIR has none, -1 after
 * reporting a file:line:col error. */
int manifest_load(const char *dir, Manifest *m, Diag *d);
/* The same without keeping the ops (nops 0; each is still checked): for
 * what needs only the names, as a model's naming does. */
int manifest_load_head(const char *dir, Manifest *m, Diag *d);
/* The same for a text (tests, the fuzz harness): 0 or -1. */
int manifest_parse(const Src *src, Manifest *m, Diag *d);
void manifest_free(Manifest *m);
/* The model's name: the point's, else the network's. */
const char *manifest_model_name(const Manifest *m);
/* The op named name, or NULL. */
const ManifestOp *manifest_find(const Manifest *m, const char *name);

/* Where an op was written: file NULL when unknown. */
typedef struct ManifestSource {
  const char *file;
  int line, col;
} ManifestSource;
/* Where op (NULL: none) came from: the .anet line of its entry in m
 * (NULL: no manifest), none when the entry has line 0 (a constant layers
 * share); without an entry, the place op->loc points to in src (NULL: none). */
ManifestSource manifest_op_source(const Manifest *m, const MilOp *op, const Src *src);

#endif
