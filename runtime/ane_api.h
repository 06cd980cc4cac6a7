/* ane_api.h - the ane backend and the one table it runs on.
 *
 * Every step that touches the platform (the private AppleNeuralEngine
 * classes, CoreFoundation, IOSurface, the file system) is a function
 * pointer in AneApi, taking and returning plain C types and opaque
 * handles. ane.c holds the whole backend logic over that table and builds
 * everywhere; ane_darwin.c fills the table with the real calls on macOS
 * (and, in tests/test_anefake.c, on Linux over fakes of the Apple pieces);
 * tests/test_ane.c fills it with a recording double (docs/ane.md).
 *
 * Conventions every implementation keeps:
 *   - An AneRef a function returns is owned by the caller (+1) and given
 *     back with release(). Nothing returned is autoreleased, so handles
 *     stay valid after pool_pop().
 *   - int functions return 0, or -1 with e->msg set; AneRef functions
 *     return NULL with e->msg set. e->msg names what failed and carries the
 *     framework's own error text when there is one: every level of its
 *     chain of underlying errors. */
#ifndef ANET_ANE_API_H
#define ANET_ANE_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "backend.h"
#include "chip.h"
#include "diag.h"
#include "stats.h"

typedef struct AneObj *AneRef;

enum {
  ANE_ERR_MAX = 4096,        /* room for a compiler's error chain */
  ANE_MIN_SURFACE = 49152,   /* bytes; smaller surfaces fail with status 0x1d (ANE_API.md 4.1) */
  ANE_SURFACE_ALIGN = 128,   /* surface sizes are rounded up to this (ANE_NOTES 3.4) */
  ANE_ROW_ALIGN = 64,        /* bytes in a tensor's innermost dimension (ANE_NOTES 3.4) */
  ANE_MAX_IO = 255,          /* buffers per request (_ANERequest -validate) */
  ANE_MAX_PROCEDURE = 128,   /* highest procedure index -validate accepts */
  ANE_MAX_WEIGHT_FILES = 64,
  ANE_QOS_DEFAULT = 21,
};

typedef struct AneErr {
  char msg[ANE_ERR_MAX];
} AneErr;

/* What _ANEDeviceInfo says about the machine. Strings are "" and counts 0
 * when the class does not answer; has_ane and virtual_machine are -1 then. */
typedef struct AneDeviceInfo {
  char sub_type[32];         /* aneSubType: "h17" */
  char variant[16];          /* aneSubTypeVariant: "g" */
  char arch_type[32];        /* aneArchitectureType: "h17g" */
  char product[64];          /* productName: "macOS" */
  char build[32];            /* buildVersion */
  unsigned num_anes;         /* numANEs */
  unsigned num_cores;        /* numANECores */
  int has_ane;
  int virtual_machine;
} AneDeviceInfo;

/* One input or output as the compiled program reports it (modelAttributes,
 * NetworkStatusList[p].LiveInputList / LiveOutputList; ANE_API.md 12).
 * Sizes are elements, strides bytes; -1 where the system gave none. */
typedef struct AneSym {
  char name[128];            /* "x", "y@output" */
  int symbol;                /* the index a request gives its surface */
  int64_t batches, channels, depth, height, width;
  int64_t batch_stride, plane_stride, depth_stride, row_stride;
} AneSym;

typedef struct AneProcAttrs {
  AneSym *in, *out;
  int nin, nout;
} AneProcAttrs;

typedef struct AneProcName {
  char name[128];            /* as kANEFModelProcedureNameToIDMapKey spells it */
  int id;
} AneProcName;

/* All of it; nproc 0 when the system reports nothing. Filled with
 * ane_attrs_sym() and ane_attrs_name(), freed with ane_attrs_free(). */
typedef struct AneAttrs {
  AneProcAttrs *proc;
  int nproc;
  AneProcName *names;
  int nnames;
} AneAttrs;

/* Where rows of a tensor go in its surface: row r of `rows`, each
 * row_bytes long, starts at ane_row_offset(l, r). The row index splits as
 * (b, c, d, h) with h fastest. */
typedef struct AneLayout {
  size_t row_bytes;
  size_t rows;
  int64_t count[4];          /* batches, channels, depth, height */
  size_t stride[4];          /* their strides in bytes */
} AneLayout;

/* One class (kind 0, sel NULL) or selector ('+' or '-') the backend uses. */
typedef void AneSymbolFn(void *arg, const char *cls, char kind, const char *sel, bool present,
                         bool optional);

typedef struct AneApi {
  void *ctx;                 /* the implementation's own; first argument of every call */
  /* Frees ctx; NULL when there is nothing to free. */
  void (*finish)(void *ctx);

  /* Loads the framework and checks every class and selector the backend
   * uses. Safe to call again. */
  int (*framework_open)(void *ctx, AneErr *e);
  void *(*pool_push)(void *ctx);
  void (*pool_pop)(void *ctx, void *pool);
  void (*release)(void *ctx, AneRef obj);

  /* Bytes copied into a data object (NSData). */
  AneRef (*data_new)(void *ctx, const void *bytes, size_t n, AneErr *e);
  /* An empty weights dictionary; weights_add() sets
   * weights[path] = {"offset": offset, "data": data}. */
  AneRef (*weights_new)(void *ctx, AneErr *e);
  int (*weights_add)(void *ctx, AneRef weights, const char *path, uint64_t offset, AneRef data,
                     AneErr *e);

  /* _ANEInMemoryModelDescriptor and _ANEInMemoryModel. */
  AneRef (*descriptor_new)(void *ctx, AneRef mil, AneRef weights, AneErr *e);
  AneRef (*model_new)(void *ctx, AneRef descriptor, AneErr *e);
  /* The model's directory, localModelPath (NSTemporaryDirectory() and
   * hexStringIdentifier where the OS lacks it), as a C string. */
  int (*model_dir)(void *ctx, AneRef model, char *buf, size_t size, AneErr *e);
  /* What the loaded model's modelAttributes report; out->nproc 0 when
   * the system reports none. */
  int (*model_attributes)(void *ctx, AneRef model, AneAttrs *out, AneErr *e);
  int (*compile)(void *ctx, AneRef model, unsigned qos, AneErr *e);
  int (*load)(void *ctx, AneRef model, unsigned qos, AneErr *e);
  int (*unload)(void *ctx, AneRef model, unsigned qos, AneErr *e);

  /* A byte IOSurface of exactly `bytes`, and its _ANEIOSurfaceObject. */
  AneRef (*surface_new)(void *ctx, size_t bytes, AneErr *e);
  AneRef (*surface_wrap)(void *ctx, AneRef surface, AneErr *e);
  /* A packed tensor into or out of the surface, row by row as l says,
   * under one lock. */
  int (*surface_write)(void *ctx, AneRef surface, const AneLayout *l, const void *src, AneErr *e);
  int (*surface_read)(void *ctx, AneRef surface, const AneLayout *l, void *dst, AneErr *e);

  /* _ANERequest over wrapped surfaces; idx are the symbol indices. */
  AneRef (*request_new)(void *ctx, const AneRef *in, const int *in_idx, int nin, const AneRef *out,
                        const int *out_idx, int nout, int procedure, AneErr *e);
  int (*evaluate)(void *ctx, AneRef model, unsigned qos, AneRef request, AneErr *e);
  /* The hardware execution time of the request's last evaluation, from
   * its _ANEPerformanceStats (ANE_API.md 2.11); false when the system
   * gives none. NULL in a table that never has one. */
  bool (*hw_time)(void *ctx, AneRef request, uint64_t *ns);

  /* Loads the framework if needed; fills what _ANEDeviceInfo answers. */
  int (*device_info)(void *ctx, AneDeviceInfo *out, AneErr *e);
  /* Loads the framework if needed; calls each() for every class and
   * selector the table uses, present or missing. */
  int (*symbols)(void *ctx, AneSymbolFn *each, void *arg, AneErr *e);

  /* Files. read_file refuses files over max bytes; *data is malloc'd.
   * remove_tree succeeds when path does not exist. */
  int (*make_dir)(void *ctx, const char *path, AneErr *e);
  int (*write_file)(void *ctx, const char *path, const void *data, size_t n, AneErr *e);
  int (*read_file)(void *ctx, const char *path, size_t max, void **data, size_t *n, AneErr *e);
  int (*remove_tree)(void *ctx, const char *path, AneErr *e);
  /* An exclusive lock named by the file at path, waiting while another
   * process holds it; *handle is for unlock, which removes the file. */
  int (*lock)(void *ctx, const char *path, int *handle, AneErr *e);
  void (*unlock)(void *ctx, const char *path, int handle);
} AneApi;

/* The backend over any table. ane_open_with copies *api and owns api->ctx
 * from then on: it calls api->finish on failure and in ane_close. */
int ane_open_with(const AneApi *api, const Model *m, const BackendOpts *o, void **state, Diag *d);
int ane_set_input(void *state, int i, const Tensor *t, Diag *d);
int ane_eval(void *state, double *ms, Diag *d);
int ane_get_output(void *state, int i, Tensor *t, Diag *d);
void ane_close(void *state);

/* How an open model's input or output k (inputs first, in MIL order) is
 * bound; false when there is no such k. */
typedef struct AneIoInfo {
  const char *name;
  bool output;
  int symbol;
  AneLayout lay;
  size_t surf_bytes;
} AneIoInfo;
bool ane_io_info(void *state, int k, AneIoInfo *out);
/* "attributes" or "alphabetical". */
const char *ane_binding(void *state);
/* The hardware times of the last n evaluations, summarised; false unless
 * the system gave one for each. */
bool ane_hw_stats(void *state, int n, Stats *s);

/* anerun --probe over any table: make() gives a fresh table for each use.
 * Text on out, and JSON on json unless it is NULL. Every item is tried;
 * returns how many failed. */
int ane_first_contact(int (*make)(AneApi *api), FILE *out, FILE *json);

/* Asks _ANEDeviceInfo; 0, or -1 after reporting. Does not finish api. */
int ane_device_info(const AneApi *api, AneDeviceInfo *out, Diag *d);
/* A zeroed symbol appended to procedure `proc`'s inputs or outputs (the
 * procedure list grows as needed); NULL when out of memory. */
AneSym *ane_attrs_sym(AneAttrs *a, int proc, bool output);
int ane_attrs_name(AneAttrs *a, const char *name, int id);
void ane_attrs_free(AneAttrs *a);
size_t ane_row_offset(const AneLayout *l, size_t r);

/* The chip row for what the device reports, NULL when unknown. */
const Chip *ane_chip(const AneDeviceInfo *info);

/* The POSIX file functions of the Darwin table (ctx unused). */
int ane_fs_make_dir(void *ctx, const char *path, AneErr *e);
int ane_fs_write_file(void *ctx, const char *path, const void *data, size_t n, AneErr *e);
int ane_fs_read_file(void *ctx, const char *path, size_t max, void **data, size_t *n, AneErr *e);
int ane_fs_remove_tree(void *ctx, const char *path, AneErr *e);
int ane_fs_lock(void *ctx, const char *path, int *handle, AneErr *e);
void ane_fs_unlock(void *ctx, const char *path, int handle);

#ifdef __APPLE__
/* The real table (ane_darwin.c); 0, or -1 when out of memory. */
int ane_darwin_api(AneApi *api);
/* The device's information through the real table. */
int ane_probe(AneDeviceInfo *out, Diag *d);
#endif

#endif
