/* backend.h - what anerun asks of a backend (cpu, sim, ane).
 *
 * A backend opens a model (compiles and loads it), takes inputs, evaluates
 * any number of times, and hands outputs back. anerun times eval() alone. */
#ifndef ANET_BACKEND_H
#define ANET_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "diag.h"
#include "mil.h"
#include "tensor.h"
#include "wfile.h"

typedef struct Model {
  const char *name;      /* for reports: the directory or .anet point name */
  const char *dir;       /* model directory (model.mil, weights/); NULL for in-process */
  MilProg *prog;
  const MilFunc *fn;     /* the function to run ("main") */
  WStore *weights;       /* NULL when the program has no blob values */
} Model;

/* anerun --profile: a backend that can time its ops calls done() after
 * each op of an evaluation with the op and its wall time. */
typedef struct OpTimer {
  void (*done)(void *ctx, const MilOp *op, double ms);
  void *ctx;
} OpTimer;

typedef struct BackendOpts {
  int qos;               /* ane: QoS class for compile/load/evaluate */
  const char *chip;      /* sim: chip to model ("m4"); NULL = default */
  bool fp32;             /* cpu: --precision fp32, no fp16 rounding between ops */
  const OpTimer *timer;  /* cpu: per-op times; NULL: none */
} BackendOpts;

typedef struct Backend {
  const char *name;
  bool estimated;        /* true when times are modelled, not measured */
  /* 0, or -1 after reporting; *state is the backend's own. */
  int (*open)(const Model *m, const BackendOpts *o, void **state, Diag *d);
  /* i indexes m->fn->inputs; t has the input's shape (fp16 or fp32). */
  int (*set_input)(void *state, int i, const Tensor *t, Diag *d);
  /* One evaluation. For an estimated backend, *ms receives the modelled time;
   * for a measuring one it is left alone. */
  int (*eval)(void *state, double *ms, Diag *d);
  /* i indexes m->fn->outputs; allocates t. */
  int (*get_output)(void *state, int i, Tensor *t, Diag *d);
  void (*close)(void *state);
} Backend;

extern const Backend cpu_backend, sim_backend;
#ifdef __APPLE__
extern const Backend ane_backend;
#endif

#endif
