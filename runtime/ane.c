/* ane.c - the Apple Neural Engine backend, written only against AneApi.
 *
 * open() runs the in-memory sequence of ANE_API.md section 2: the MIL text
 * and a weights dictionary keyed by the program's own "@model_path/..."
 * paths become a descriptor and a model; the model's directory under the
 * temporary directory gets model.mil and the weight files; the model is
 * compiled and loaded. The loaded model's attributes then say which symbol
 * index, procedure, sizes and strides each input and output has
 * (ANE_API.md 12); one IOSurface per input and output is sized and bound
 * from them into one request, and tensors are copied row by row at the
 * reported strides. A system that reports no attributes gets the older
 * rule: symbols numbered in alphabetical order of their names (each
 * output's with "@output", ANE_API.md 5.4), packed 64-byte rows, surfaces
 * of one size, procedure 0; it is said on stderr. Every failure names its
 * step, and every path out of open() goes through ane_close(), which
 * undoes exactly what was done.
 *
 * The whole file builds everywhere; only ane_backend needs the real table. */
#include "ane_api.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fp16.h"

enum {
  ANE_PATH_MAX = 4096,
  ANE_ID_MAX = 256,
  ANE_NEST_MAX = 32,          /* nesting of list values searched for blobs */
  ANE_TREE_DEPTH = 16,        /* directories remove_tree descends */
};

/* One surface's worth is at most this; the ANE's own limits are far lower. */
static const uint64_t ane_max_tensor_bytes = (uint64_t)1 << 30;
static const uint64_t ane_max_weight_bytes = (uint64_t)4 << 30;
static const char model_path_prefix[] = "@model_path/";

typedef struct AneIo {
  const char *name;
  const MilType *type;
  size_t bytes;               /* the packed tensor */
  int slot;                   /* position in alphabetical order */
  int symbol;                 /* the index the request gives its surface */
  AneLayout lay;              /* where its rows go in the surface */
  size_t surf_bytes;
} AneIo;

typedef struct AneWeight {
  const char *key;            /* the BLOBFILE path as the MIL spells it */
  void *bytes;
  size_t n;
} AneWeight;

typedef struct AneWeights {
  AneWeight w[ANE_MAX_WEIGHT_FILES];
  int n;
} AneWeights;

typedef struct AneState {
  AneApi api;
  char *name;                 /* the model's, for messages */
  unsigned qos;
  int nin, nout;
  AneIo *in, *out;            /* in MIL order */
  AneRef *surf, *wrap;        /* inputs then outputs, each group in MIL order */
  AneRef model, request;
  bool loaded;
  int procedure;
  const char *binding;        /* "attributes" or "alphabetical", once bound */
  char dir[ANE_PATH_MAX];     /* the model directory, "" until chosen */
  char lock[ANE_PATH_MAX];    /* its lock file, "" until held */
  int lock_handle;
  double *hw_ms;              /* per evaluation; NAN when the system gave none */
  int nhw, hw_cap;
} AneState;

static int step_failed(AneState *S, Diag *d, const char *step, const AneErr *e) {
  diag_file_error(d, S->name, "ane: %s failed: %s", step, e->msg[0] ? e->msg : "no reason given");
  return -1;
}

static int join(char *buf, size_t size, const char *a, const char *b) {
  int n = snprintf(buf, size, "%s/%s", a, b);
  return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* ---- the model's inputs and outputs -------------------------------------- */

static size_t io_elem_size(MilDtype dt) {
  return dt == MIL_FP16 ? 2 : dt == MIL_FP32 ? 4 : 0;
}

static int check_io(AneState *S, AneIo *io, const char *what, Diag *d) {
  const MilType *t = io->type;
  if (!t || t->kind != MIL_TENSOR) {
    diag_file_error(d, S->name, "ane: %s '%s' is not a tensor", what, io->name);
    return -1;
  }
  size_t es = io_elem_size(t->dtype);
  if (!es) {
    diag_file_error(d, S->name, "ane: %s '%s' is %s; ANE surfaces carry fp16 or fp32", what,
                    io->name, mil_dtype_name(t->dtype));
    return -1;
  }
  if (t->rank < 1) {
    diag_file_error(d, S->name, "ane: %s '%s' is a scalar; give it at least one dimension", what,
                    io->name);
    return -1;
  }
  uint64_t bytes = es;
  for (int k = 0; k < t->rank; k++) {
    if (t->dim[k] <= 0) {
      diag_file_error(d, S->name, "ane: %s '%s' has dimension %d of unknown or zero size", what,
                      io->name, k);
      return -1;
    }
    if ((uint64_t)t->dim[k] > ane_max_tensor_bytes / bytes) {
      diag_file_error(d, S->name, "ane: %s '%s' is larger than %llu bytes", what, io->name,
                      (unsigned long long)ane_max_tensor_bytes);
      return -1;
    }
    bytes *= (uint64_t)t->dim[k];
  }
  io->bytes = (size_t)bytes;
  return 0;
}

/* strcmp() of a + suffix against b + suffix. */
static int cmp_symbols(const char *a, const char *b, const char *suffix) {
  size_t na = strlen(a), nb = strlen(b), ns = strlen(suffix);
  for (size_t i = 0;; i++) {
    int ca = i < na ? (unsigned char)a[i] : i < na + ns ? (unsigned char)suffix[i - na] : 0;
    int cb = i < nb ? (unsigned char)b[i] : i < nb + ns ? (unsigned char)suffix[i - nb] : 0;
    if (ca != cb || ca == 0)
      return ca - cb;
  }
}

/* Slots in alphabetical (byte) order of the compiled program's symbol
 * names, which are the MIL names plus `suffix`; names must differ. Outputs
 * are "<name>@output", so a function returning (y, y2) numbers y2 first
 * ('2' sorts before '@'), as observed (ANE_API.md 5.4). */
static int assign_slots(AneState *S, AneIo *io, int n, const char *what, const char *suffix,
                        Diag *d) {
  for (int i = 0; i < n; i++) {
    io[i].slot = 0;
    for (int j = 0; j < n; j++) {
      int c = cmp_symbols(io[j].name, io[i].name, suffix);
      if (c == 0 && j != i) {
        diag_file_error(d, S->name, "ane: two %ss are named '%s'", what, io[i].name);
        return -1;
      }
      if (c < 0)
        io[i].slot++;
    }
  }
  return 0;
}

static int collect_io(AneState *S, const Model *m, Diag *d) {
  const MilFunc *fn = m->fn;
  if (!fn) {
    diag_file_error(d, S->name, "ane: the program has no function to run");
    return -1;
  }
  if (fn->ninputs < 1 || fn->noutputs < 1 || fn->ninputs > ANE_MAX_IO ||
      fn->noutputs > ANE_MAX_IO) {
    diag_file_error(d, S->name,
                    "ane: function '%s' has %d inputs and %d outputs; a request needs 1 to %d of "
                    "each",
                    fn->name, fn->ninputs, fn->noutputs, ANE_MAX_IO);
    return -1;
  }
  S->nin = fn->ninputs;
  S->nout = fn->noutputs;
  S->in = calloc((size_t)S->nin, sizeof *S->in);
  S->out = calloc((size_t)S->nout, sizeof *S->out);
  if (!S->in || !S->out) {
    diag_file_error(d, S->name, "ane: out of memory");
    return -1;
  }
  for (int i = 0; i < S->nin; i++) {
    S->in[i].name = fn->inputs[i].name;
    S->in[i].type = fn->inputs[i].type;
    if (check_io(S, &S->in[i], "input", d) < 0)
      return -1;
  }
  for (int i = 0; i < S->nout; i++) {
    S->out[i].name = fn->outputs[i];
    S->out[i].type = mil_value_type(fn, fn->outputs[i], fn->nops);
    if (check_io(S, &S->out[i], "output", d) < 0)
      return -1;
  }
  return assign_slots(S, S->in, S->nin, "input", "", d) < 0 ||
                 assign_slots(S, S->out, S->nout, "output", "@output", d) < 0
             ? -1
             : 0;
}

/* ---- the weight files the program names ----------------------------------- */

/* The part after "@model_path/" becomes a file under our own directory, so
 * it must stay inside it. */
static bool safe_rel_path(const char *p) {
  if (strlen(p) >= 1024)
    return false;
  for (;;) {
    size_t n = strcspn(p, "/");
    if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
      return false;
    if (!p[n])
      return true;
    p += n + 1;
  }
}

static int add_weight(AneState *S, AneWeights *ws, const char *path, Diag *d) {
  if (!path || strncmp(path, model_path_prefix, sizeof model_path_prefix - 1) != 0) {
    diag_file_error(d, S->name, "ane: weight file '%s' is not under %s", path ? path : "",
                    model_path_prefix);
    return -1;
  }
  const char *rel = path + sizeof model_path_prefix - 1;
  if (!safe_rel_path(rel)) {
    diag_file_error(d, S->name, "ane: weight file '%s' does not name a file inside the model "
                    "directory", path);
    return -1;
  }
  /* The framework writes these itself into the model directory
   * (ANE_API.md 2.3 and 12), over a weight file of the same name. */
  static const char *const reserved[] = {"model.mil", "net.plist", "data"};
  for (size_t k = 0; k < sizeof reserved / sizeof reserved[0]; k++) {
    size_t n = strlen(reserved[k]);
    if (strncmp(rel, reserved[k], n) == 0 && (rel[n] == '\0' || rel[n] == '/')) {
      diag_file_error(d, S->name, "ane: weight file '%s' would land on '%s', which the "
                      "framework writes into the model directory itself; rename the file",
                      path, reserved[k]);
      return -1;
    }
  }
  for (int i = 0; i < ws->n; i++)
    if (strcmp(ws->w[i].key, path) == 0)
      return 0;
  if (ws->n == ANE_MAX_WEIGHT_FILES) {
    diag_file_error(d, S->name, "ane: the program names more than %d weight files",
                    ANE_MAX_WEIGHT_FILES);
    return -1;
  }
  ws->w[ws->n++] = (AneWeight){.key = path};
  return 0;
}

static int walk_value(AneState *S, AneWeights *ws, const MilValue *v, int depth, Diag *d);

static int walk_bind(AneState *S, AneWeights *ws, const MilBind *b, int depth, Diag *d) {
  if (depth > ANE_NEST_MAX) {
    diag_file_error(d, S->name, "ane: values nested deeper than %d", ANE_NEST_MAX);
    return -1;
  }
  if (b->kind == MIL_BVAL)
    return walk_value(S, ws, b->val, depth + 1, d);
  if (b->kind == MIL_BLIST)
    for (int i = 0; i < b->nitems; i++)
      if (walk_bind(S, ws, &b->items[i], depth + 1, d) < 0)
        return -1;
  return 0;
}

static int walk_value(AneState *S, AneWeights *ws, const MilValue *v, int depth, Diag *d) {
  if (!v)
    return 0;
  if (depth > ANE_NEST_MAX) {
    diag_file_error(d, S->name, "ane: values nested deeper than %d", ANE_NEST_MAX);
    return -1;
  }
  if (v->kind == MIL_VBLOB)
    return add_weight(S, ws, v->blob_path, d);
  if (v->kind == MIL_VAGG)
    for (int i = 0; i < v->nitems; i++)
      if (walk_value(S, ws, v->items[i], depth + 1, d) < 0)
        return -1;
  return 0;
}

static int walk_attrs(AneState *S, AneWeights *ws, const MilAttr *a, int n, Diag *d) {
  for (int i = 0; i < n; i++)
    if (walk_value(S, ws, a[i].val, 0, d) < 0)
      return -1;
  return 0;
}

/* Every weight file of every function: the MIL text the descriptor gets
 * holds them all. */
static int collect_weights(AneState *S, const MilProg *p, AneWeights *ws, Diag *d) {
  if (walk_attrs(S, ws, p->attrs, p->nattrs, d) < 0)
    return -1;
  for (int f = 0; f < p->nfuncs; f++) {
    const MilFunc *fn = &p->funcs[f];
    if (walk_attrs(S, ws, fn->attrs, fn->nattrs, d) < 0)
      return -1;
    for (int k = 0; k < fn->nops; k++) {
      const MilOp *op = &fn->ops[k];
      for (int a = 0; a < op->nargs; a++)
        if (walk_bind(S, ws, &op->args[a].bind, 0, d) < 0)
          return -1;
      if (walk_attrs(S, ws, op->attrs, op->nattrs, d) < 0)
        return -1;
    }
  }
  return 0;
}

static int read_weights(AneState *S, const Model *m, AneWeights *ws, Diag *d) {
  AneApi *A = &S->api;
  if (ws->n && !m->dir) {
    diag_file_error(d, S->name, "ane: the program names weight files but has no model directory");
    return -1;
  }
  size_t max = ane_max_weight_bytes < SIZE_MAX ? (size_t)ane_max_weight_bytes : SIZE_MAX;
  for (int i = 0; i < ws->n; i++) {
    char path[ANE_PATH_MAX];
    AneErr e = {{0}};
    if (join(path, sizeof path, m->dir, ws->w[i].key + sizeof model_path_prefix - 1) < 0) {
      diag_file_error(d, S->name, "ane: the path of weight file '%s' is too long", ws->w[i].key);
      return -1;
    }
    if (A->read_file(A->ctx, path, max, &ws->w[i].bytes, &ws->w[i].n, &e) < 0)
      return step_failed(S, d, "reading weights", &e);
  }
  return 0;
}

static void free_weights(AneWeights *ws) {
  for (int i = 0; i < ws->n; i++) {
    free(ws->w[i].bytes);
    ws->w[i].bytes = NULL;
  }
}

/* ---- the sequence ---------------------------------------------------------- */

/* MIL data and weights dictionary -> descriptor -> model. Our references
 * to the first three go as soon as the next object holds them. */
static int make_model(AneState *S, const char *mil, AneWeights *ws, Diag *d) {
  AneApi *A = &S->api;
  AneErr e = {{0}};
  AneRef text = A->data_new(A->ctx, mil, strlen(mil), &e);
  if (!text)
    return step_failed(S, d, "MIL data", &e);
  AneRef dict = A->weights_new(A->ctx, &e);
  if (!dict) {
    A->release(A->ctx, text);
    return step_failed(S, d, "weights dictionary", &e);
  }
  for (int i = 0; i < ws->n; i++) {
    AneRef data = A->data_new(A->ctx, ws->w[i].bytes, ws->w[i].n, &e);
    /* The payload is read from offset 0 of the data (ANE_API.md 6.1). */
    int rc = data ? A->weights_add(A->ctx, dict, ws->w[i].key, 0, data, &e) : -1;
    if (data)
      A->release(A->ctx, data);
    if (rc < 0) {
      A->release(A->ctx, text);
      A->release(A->ctx, dict);
      return step_failed(S, d, "weights dictionary", &e);
    }
  }
  AneRef desc = A->descriptor_new(A->ctx, text, dict, &e);
  A->release(A->ctx, text);
  A->release(A->ctx, dict);
  if (!desc)
    return step_failed(S, d, "descriptor", &e);
  S->model = A->model_new(A->ctx, desc, &e);
  A->release(A->ctx, desc);
  if (!S->model)
    return step_failed(S, d, "model", &e);
  return 0;
}

/* The last part of the directory is the model's identifier; it names a
 * directory we create and later delete. */
static bool safe_id(const char *id) {
  if (!*id)
    return false;
  for (const char *p = id; *p; p++)
    if (!(*p >= '0' && *p <= '9') && !(*p >= 'A' && *p <= 'Z') && !(*p >= 'a' && *p <= 'z') &&
        *p != '_')
      return false;
  return true;
}

static int choose_dir(AneState *S, Diag *d) {
  AneApi *A = &S->api;
  AneErr e = {{0}};
  char dir[ANE_PATH_MAX];
  if (A->model_dir(A->ctx, S->model, dir, sizeof dir, &e) < 0)
    return step_failed(S, d, "model directory", &e);
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/')
    dir[--n] = '\0';
  const char *last = strrchr(dir, '/');
  if (dir[0] != '/' || !last || last == dir || !safe_id(last + 1) || strstr(dir, "/../") ||
      strstr(dir, "/./")) {
    diag_file_error(d, S->name, "ane: the model directory '%s' is not an absolute path ending "
                    "in the model's identifier", dir);
    return -1;
  }
  memcpy(S->dir, dir, n + 1);
  return 0;
}

/* The directory is named after the model's content, so two processes
 * running one model share it, and each would delete and rewrite the
 * other's files: the second waits for the first to close. */
static int lock_dir(AneState *S, Diag *d) {
  AneApi *A = &S->api;
  AneErr e = {{0}};
  char path[ANE_PATH_MAX];
  int n = snprintf(path, sizeof path, "%s.lock", S->dir);
  if (n < 0 || (size_t)n >= sizeof path) {
    diag_file_error(d, S->name, "ane: the model directory's path is too long");
    return -1;
  }
  if (A->lock(A->ctx, path, &S->lock_handle, &e) < 0)
    return step_failed(S, d, "model directory lock", &e);
  memcpy(S->lock, path, (size_t)n + 1);
  return 0;
}

/* The compiler reads model.mil and the weight files from the model's
 * directory (ANE_API.md 2.3). Files left by an earlier run could shadow
 * ours, so the directory starts empty. */
static int write_dir(AneState *S, const char *mil, const AneWeights *ws, Diag *d) {
  AneApi *A = &S->api;
  AneErr e = {{0}};
  char path[ANE_PATH_MAX];
  if (A->remove_tree(A->ctx, S->dir, &e) < 0 || A->make_dir(A->ctx, S->dir, &e) < 0)
    return step_failed(S, d, "model directory", &e);
  if (join(path, sizeof path, S->dir, "model.mil") < 0 ||
      A->write_file(A->ctx, path, mil, strlen(mil), &e) < 0)
    return step_failed(S, d, "model directory", &e);
  for (int i = 0; i < ws->n; i++) {
    const char *rel = ws->w[i].key + sizeof model_path_prefix - 1;
    if (join(path, sizeof path, S->dir, rel) < 0) {
      diag_file_error(d, S->name, "ane: the path of weight file '%s' is too long", ws->w[i].key);
      return -1;
    }
    /* Parent directories, shortest first. */
    size_t base = strlen(S->dir) + 1;
    for (char *slash = strchr(path + base, '/'); slash; slash = strchr(slash + 1, '/')) {
      *slash = '\0';
      int rc = A->make_dir(A->ctx, path, &e);
      *slash = '/';
      if (rc < 0)
        return step_failed(S, d, "model directory", &e);
    }
    if (A->write_file(A->ctx, path, ws->w[i].bytes, ws->w[i].n, &e) < 0)
      return step_failed(S, d, "model directory", &e);
  }
  return 0;
}

/* ---- binding: which surface is which symbol -------------------------------- */

static size_t round_surface(size_t n) {
  n = n > ANE_MIN_SURFACE ? n : ANE_MIN_SURFACE;
  return (n + ANE_SURFACE_ALIGN - 1) / ANE_SURFACE_ALIGN * ANE_SURFACE_ALIGN;
}

/* The older rule: packed tensors, whose rows the ANE reads at a multiple of
 * 64 bytes (a packed row of another length is misread or fails with status
 * 0x1d, ANE_API.md 4.1 and 5.2), in surfaces of one size (unequal sizes
 * failed the same way). */
static int bind_alphabetical(AneState *S, const Model *m, Diag *d) {
  if (m->prog && m->prog->nfuncs > 1 && m->fn != &m->prog->funcs[0]) {
    diag_file_error(d, S->name,
                    "ane: this system does not report how the program's functions are "
                    "numbered, so only its first function ('%s') can run, not '%s'",
                    m->prog->funcs[0].name, m->fn->name);
    return -1;
  }
  size_t size = 0;
  for (int k = 0; k < S->nin + S->nout; k++) {
    AneIo *io = k < S->nin ? &S->in[k] : &S->out[k - S->nin];
    size_t es = io_elem_size(io->type->dtype);
    uint64_t row = (uint64_t)io->type->dim[io->type->rank - 1] * es;
    if (row % ANE_ROW_ALIGN != 0) {
      diag_file_error(d, S->name,
                      "ane: %s '%s': its innermost dimension is %lld x %zu = %llu bytes, not a "
                      "multiple of %d; without the compiled program's strides the ANE needs "
                      "%d-byte rows (pad that dimension to a multiple of %zu)",
                      k < S->nin ? "input" : "output", io->name,
                      (long long)io->type->dim[io->type->rank - 1], es, (unsigned long long)row,
                      ANE_ROW_ALIGN, ANE_ROW_ALIGN, ANE_ROW_ALIGN / es);
      return -1;
    }
    io->symbol = io->slot;
    io->lay = (AneLayout){.row_bytes = io->bytes, .rows = 1, .count = {1, 1, 1, 1}};
    size = io->bytes > size ? io->bytes : size;
  }
  for (int k = 0; k < S->nin + S->nout; k++)
    (k < S->nin ? &S->in[k] : &S->out[k - S->nin])->surf_bytes = round_surface(size);
  S->procedure = 0;
  S->binding = "alphabetical";
  fprintf(d->out ? d->out : stderr,
          "%s: note: ane: this system reports no compiled attributes; inputs and outputs are "
          "bound in alphabetical order of their names\n",
          S->name);
  return 0;
}

/* The procedure the map gives the function; names may carry a "0@"
 * prefix, as in a dump of a two-function model (ANE_API.md 12). */
static int find_procedure(AneState *S, const Model *m, const AneAttrs *a, Diag *d) {
  const char *fn = m->fn->name;
  if (a->nnames == 0) {
    if (m->prog && m->prog->nfuncs > 1 && m->fn != &m->prog->funcs[0]) {
      diag_file_error(d, S->name, "ane: the compiled program maps no function names to "
                      "procedures, so only its first function can run, not '%s'", fn);
      return -1;
    }
    return 0;
  }
  for (int i = 0; i < a->nnames; i++) {
    const char *n = a->names[i].name, *at = strrchr(n, '@');
    if (strcmp(n, fn) == 0 || (at && strcmp(at + 1, fn) == 0))
      return a->names[i].id;
  }
  char list[512] = "";
  for (int i = 0; i < a->nnames; i++) {
    size_t used = strlen(list);
    snprintf(list + used, sizeof list - used, "%s'%s'", i ? ", " : "", a->names[i].name);
  }
  diag_file_error(d, S->name, "ane: the compiled program has no procedure for function '%s' "
                  "(it has %s)", fn, list);
  return -1;
}

/* The symbol named `name` + suffix, or plain `name`. */
static const AneSym *find_sym(const AneSym *sym, int n, const char *name, const char *suffix) {
  size_t len = strlen(name);
  for (int i = 0; i < n; i++)
    if (strncmp(sym[i].name, name, len) == 0 &&
        (sym[i].name[len] == '\0' || strcmp(sym[i].name + len, suffix) == 0))
      return &sym[i];
  return NULL;
}

/* The layout a symbol's sizes and strides describe, checked: the sizes
 * hold the tensor with the MIL's innermost dimension as the row, and no
 * row overlaps another. */
static int sym_layout(AneState *S, AneIo *io, const AneSym *sym, Diag *d) {
  size_t es = io_elem_size(io->type->dtype);
  int64_t width = io->type->dim[io->type->rank - 1];
  int64_t count[4] = {sym->batches, sym->channels, sym->depth < 0 ? 1 : sym->depth, sym->height};
  int64_t stride[4] = {sym->batch_stride, sym->plane_stride,
                       sym->depth_stride < 0 ? 0 : sym->depth_stride, sym->row_stride};
  uint64_t rows = 1, extent = (uint64_t)width * es;
  bool ok = sym->width == width;
  for (int k = 3; ok && k >= 0; k--) {
    ok = count[k] >= 1 && count[k] <= (int64_t)ane_max_tensor_bytes && stride[k] >= 0 &&
         stride[k] <= (int64_t)ane_max_tensor_bytes &&
         (count[k] == 1 || (uint64_t)stride[k] >= extent);
    if (ok) {
      rows *= (uint64_t)count[k];
      extent = (uint64_t)(count[k] - 1) * (uint64_t)stride[k] + extent;
      ok = rows <= ane_max_tensor_bytes && extent <= 2 * ane_max_tensor_bytes;
    }
  }
  /* Benchmarks size surfaces as BatchStride x Batches (ANE_API.md 12). */
  uint64_t whole = ok ? (uint64_t)stride[0] * (uint64_t)count[0] : 0;
  if (!ok || rows * (uint64_t)width * es != io->bytes || whole > 2 * ane_max_tensor_bytes) {
    diag_file_error(d, S->name,
                    "ane: the compiled program lays out '%s' as %lld x %lld x %lld x %lld x %lld "
                    "with strides %lld, %lld, %lld, %lld bytes, which does not hold its %zu bytes "
                    "in rows of %lld",
                    sym->name, (long long)sym->batches, (long long)sym->channels,
                    (long long)sym->depth, (long long)sym->height, (long long)sym->width,
                    (long long)sym->batch_stride, (long long)sym->plane_stride,
                    (long long)sym->depth_stride, (long long)sym->row_stride, io->bytes,
                    (long long)width);
    return -1;
  }
  if (sym->symbol < 0 || sym->symbol >= ANE_MAX_IO) {
    diag_file_error(d, S->name, "ane: the compiled program gives '%s' symbol index %d", sym->name,
                    sym->symbol);
    return -1;
  }
  io->symbol = sym->symbol;
  io->lay = (AneLayout){.row_bytes = (size_t)width * es, .rows = (size_t)rows};
  for (int k = 0; k < 4; k++) {
    io->lay.count[k] = count[k];
    io->lay.stride[k] = (size_t)stride[k];
  }
  io->surf_bytes = round_surface((size_t)(whole > extent ? whole : extent));
  return 0;
}

static int bind_group(AneState *S, AneIo *io, int n, const AneSym *sym, int nsym,
                      const char *what, const char *suffix, Diag *d) {
  for (int i = 0; i < n; i++) {
    const AneSym *s = find_sym(sym, nsym, io[i].name, suffix);
    if (!s) {
      diag_file_error(d, S->name, "ane: the compiled program lists no %s symbol for '%s'", what,
                      io[i].name);
      return -1;
    }
    if (sym_layout(S, &io[i], s, d) < 0)
      return -1;
    for (int j = 0; j < i; j++)
      if (io[j].symbol == io[i].symbol) {
        diag_file_error(d, S->name, "ane: the compiled program gives %ss '%s' and '%s' one "
                        "symbol index, %d", what, io[j].name, io[i].name, io[i].symbol);
        return -1;
      }
  }
  return 0;
}

static int bind_attrs(AneState *S, const Model *m, const AneAttrs *a, Diag *d) {
  int p = find_procedure(S, m, a, d);
  if (p < 0)
    return -1;
  if (p >= a->nproc || p > ANE_MAX_PROCEDURE) {
    diag_file_error(d, S->name, "ane: function '%s' is procedure %d, but the compiled program "
                    "reports %d", m->fn->name, p, a->nproc);
    return -1;
  }
  const AneProcAttrs *pa = &a->proc[p];
  if (bind_group(S, S->in, S->nin, pa->in, pa->nin, "input", "", d) < 0 ||
      bind_group(S, S->out, S->nout, pa->out, pa->nout, "output", "@output", d) < 0)
    return -1;
  S->procedure = p;
  S->binding = "attributes";
  return 0;
}

static int bind(AneState *S, const Model *m, Diag *d) {
  AneApi *A = &S->api;
  AneErr e = {{0}};
  AneAttrs a = {0};
  if (A->model_attributes(A->ctx, S->model, &a, &e) < 0) {
    ane_attrs_free(&a);
    return step_failed(S, d, "model attributes", &e);
  }
  int rc = a.nproc ? bind_attrs(S, m, &a, d) : bind_alphabetical(S, m, d);
  ane_attrs_free(&a);
  return rc;
}

static int make_request(AneState *S, Diag *d) {
  AneApi *A = &S->api;
  AneErr e = {{0}};
  int n = S->nin + S->nout;
  S->surf = calloc((size_t)n, sizeof *S->surf);
  S->wrap = calloc((size_t)n, sizeof *S->wrap);
  int *idx = calloc((size_t)n, sizeof *idx);
  if (!S->surf || !S->wrap || !idx) {
    free(idx);
    diag_file_error(d, S->name, "ane: out of memory");
    return -1;
  }
  for (int k = 0; k < n; k++) {
    const AneIo *io = k < S->nin ? &S->in[k] : &S->out[k - S->nin];
    idx[k] = io->symbol;
    if (!(S->surf[k] = A->surface_new(A->ctx, io->surf_bytes, &e)) ||
        !(S->wrap[k] = A->surface_wrap(A->ctx, S->surf[k], &e))) {
      free(idx);
      return step_failed(S, d, "surface", &e);
    }
  }
  S->request = A->request_new(A->ctx, S->wrap, idx, S->nin, S->wrap + S->nin, idx + S->nin,
                              S->nout, S->procedure, &e);
  free(idx);
  if (!S->request)
    return step_failed(S, d, "request", &e);
  return 0;
}

static int build(AneState *S, const Model *m, const char *mil, AneWeights *ws, Diag *d) {
  AneApi *A = &S->api;
  AneErr e = {{0}};
  if (A->framework_open(A->ctx, &e) < 0)
    return step_failed(S, d, "framework", &e);
  if (read_weights(S, m, ws, d) < 0 || make_model(S, mil, ws, d) < 0 || choose_dir(S, d) < 0 ||
      lock_dir(S, d) < 0 || write_dir(S, mil, ws, d) < 0)
    return -1;
  if (A->compile(A->ctx, S->model, S->qos, &e) < 0)
    return step_failed(S, d, "compile", &e);
  if (A->load(A->ctx, S->model, S->qos, &e) < 0)
    return step_failed(S, d, "load", &e);
  S->loaded = true;
  return bind(S, m, d) < 0 ? -1 : make_request(S, d);
}

/* The classes _ANEQoSMapper accepts, plus 0, the real-time class the seed
 * uses (ANE_API.md 2.13); others are silently remapped by the framework. */
static int check_qos(AneState *S, int qos, Diag *d) {
  static const int valid[] = {0, 9, 17, 21, 25, 33};
  for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++)
    if (qos == valid[i]) {
      S->qos = (unsigned)qos;
      return 0;
    }
  diag_file_error(d, S->name,
                  "ane: QoS %d is not a class the framework accepts (0, 9, 17, 21, 25 or 33; "
                  "default %d)",
                  qos, ANE_QOS_DEFAULT);
  return -1;
}

int ane_open_with(const AneApi *api, const Model *m, const BackendOpts *o, void **state, Diag *d) {
  *state = NULL;
  AneState *S = calloc(1, sizeof *S);
  if (!S) {
    diag_file_error(d, m->name, "ane: out of memory");
    if (api->finish)
      api->finish(api->ctx);
    return -1;
  }
  S->api = *api;
  S->name = strdup(m->name ? m->name : "anerun");
  AneWeights ws = {.n = 0};
  char *mil = NULL;
  int rc = -1;
  if (!S->name)
    diag_file_error(d, m->name, "ane: out of memory");
  else if (check_qos(S, o ? o->qos : ANE_QOS_DEFAULT, d) == 0 && collect_io(S, m, d) == 0 &&
           collect_weights(S, m->prog, &ws, d) == 0) {
    if (!(mil = mil_print_string(m->prog))) {
      diag_file_error(d, S->name, "ane: cannot print the MIL program");
    } else {
      void *pool = S->api.pool_push(S->api.ctx);
      rc = build(S, m, mil, &ws, d);
      S->api.pool_pop(S->api.ctx, pool);
    }
  }
  free(mil);
  free_weights(&ws);
  if (rc < 0) {
    ane_close(S);
    return -1;
  }
  *state = S;
  return 0;
}

/* ---- running ---------------------------------------------------------------- */

static int check_shape(AneState *S, const AneIo *io, const Tensor *t, Diag *d) {
  const MilType *ty = io->type;
  bool same = t->rank == ty->rank;
  for (int k = 0; same && k < t->rank; k++)
    same = t->dim[k] == ty->dim[k];
  if (!same) {
    char want[200], got[200];
    tensor_shape_str(want, sizeof want, ty->rank, ty->dim);
    tensor_shape_str(got, sizeof got, t->rank, t->dim);
    diag_file_error(d, S->name, "ane: input '%s' has shape %s; the tensor given is %s", io->name,
                    want, got);
    return -1;
  }
  return 0;
}

int ane_set_input(void *state, int i, const Tensor *t, Diag *d) {
  AneState *S = state;
  if (i < 0 || i >= S->nin) {
    diag_file_error(d, S->name, "ane: there is no input %d", i);
    return -1;
  }
  const AneIo *io = &S->in[i];
  MilDtype want = io->type->dtype;
  size_t es = io_elem_size(t->dtype), n = io->bytes / io_elem_size(want);
  if (!es) {
    diag_file_error(d, S->name, "ane: input '%s' given as %s; fp16 or fp32 expected", io->name,
                    mil_dtype_name(t->dtype));
    return -1;
  }
  if (check_shape(S, io, t, d) < 0)
    return -1;
  if (!t->data || t->nbytes < n * es) {
    diag_file_error(d, S->name, "ane: input '%s' holds %zu bytes, fewer than its shape needs",
                    io->name, t->nbytes);
    return -1;
  }
  const void *src = t->data;
  void *conv = NULL;
  if (t->dtype != want) {
    if (!(conv = malloc(io->bytes))) {
      diag_file_error(d, S->name, "ane: out of memory");
      return -1;
    }
    for (size_t k = 0; k < n; k++) {
      if (want == MIL_FP16)
        ((uint16_t *)conv)[k] = fp16_from_float(((const float *)t->data)[k]);
      else
        ((float *)conv)[k] = fp16_to_float(((const uint16_t *)t->data)[k]);
    }
    src = conv;
  }
  AneErr e = {{0}};
  int rc = S->api.surface_write(S->api.ctx, S->surf[i], &io->lay, src, &e);
  free(conv);
  return rc < 0 ? step_failed(S, d, "writing an input", &e) : 0;
}

/* Keeps what the system says the evaluation took on the ANE, or NAN. */
static int note_hw_time(AneState *S, Diag *d) {
  uint64_t ns = 0;
  bool has = S->api.hw_time && S->api.hw_time(S->api.ctx, S->request, &ns);
  if (S->nhw == S->hw_cap) {
    int cap = S->hw_cap ? 2 * S->hw_cap : 64;
    double *n = realloc(S->hw_ms, (size_t)cap * sizeof *n);
    if (!n) {
      diag_file_error(d, S->name, "ane: out of memory");
      return -1;
    }
    S->hw_ms = n;
    S->hw_cap = cap;
  }
  S->hw_ms[S->nhw++] = has ? (double)ns / 1e6 : NAN;
  return 0;
}

int ane_eval(void *state, double *ms, Diag *d) {
  (void)ms; /* measured by the caller */
  AneState *S = state;
  AneErr e = {{0}};
  void *pool = S->api.pool_push(S->api.ctx);
  int rc = S->api.evaluate(S->api.ctx, S->model, S->qos, S->request, &e);
  if (rc == 0)
    rc = note_hw_time(S, d);
  else
    step_failed(S, d, "evaluate", &e);
  S->api.pool_pop(S->api.ctx, pool);
  return rc;
}

bool ane_hw_stats(void *state, int n, Stats *s) {
  AneState *S = state;
  if (n < 1 || n > S->nhw)
    return false;
  for (int i = S->nhw - n; i < S->nhw; i++)
    if (isnan(S->hw_ms[i]))
      return false;
  return stats_summarise(S->hw_ms + S->nhw - n, n, s) == 0;
}

int ane_get_output(void *state, int i, Tensor *t, Diag *d) {
  AneState *S = state;
  if (i < 0 || i >= S->nout) {
    diag_file_error(d, S->name, "ane: there is no output %d", i);
    return -1;
  }
  const AneIo *io = &S->out[i];
  if (tensor_alloc(t, io->type->dtype, io->type->rank, io->type->dim) < 0) {
    diag_file_error(d, S->name, "ane: out of memory for output '%s'", io->name);
    return -1;
  }
  AneErr e = {{0}};
  if (S->api.surface_read(S->api.ctx, S->surf[S->nin + i], &io->lay, t->data, &e) < 0) {
    tensor_free(t);
    return step_failed(S, d, "reading an output", &e);
  }
  return 0;
}

/* Unload, then release request, surface objects, model and surfaces, then
 * delete the directory (the order of ANE_API.md 2.9). An unload failure
 * has nowhere to go: close() cannot report. */
void ane_close(void *state) {
  AneState *S = state;
  if (!S)
    return;
  AneApi *A = &S->api;
  AneErr e = {{0}};
  void *pool = A->pool_push(A->ctx);
  if (S->loaded)
    A->unload(A->ctx, S->model, S->qos, &e);
  if (S->request)
    A->release(A->ctx, S->request);
  for (int k = 0; S->wrap && k < S->nin + S->nout; k++)
    if (S->wrap[k])
      A->release(A->ctx, S->wrap[k]);
  if (S->model)
    A->release(A->ctx, S->model);
  for (int k = 0; S->surf && k < S->nin + S->nout; k++)
    if (S->surf[k])
      A->release(A->ctx, S->surf[k]);
  /* Only the holder of the lock may delete the directory. */
  if (S->lock[0]) {
    A->remove_tree(A->ctx, S->dir, &e);
    A->unlock(A->ctx, S->lock, S->lock_handle);
  }
  A->pool_pop(A->ctx, pool);
  if (A->finish)
    A->finish(A->ctx);
  free(S->hw_ms);
  free(S->surf);
  free(S->wrap);
  free(S->in);
  free(S->out);
  free(S->name);
  free(S);
}

/* ---- the device ------------------------------------------------------------- */

int ane_device_info(const AneApi *api, AneDeviceInfo *out, Diag *d) {
  memset(out, 0, sizeof *out);
  out->has_ane = out->virtual_machine = -1;
  AneErr e = {{0}};
  void *pool = api->pool_push(api->ctx);
  int rc = api->device_info(api->ctx, out, &e);
  api->pool_pop(api->ctx, pool);
  if (rc < 0)
    diag_file_error(d, NULL, "ane: device information failed: %s",
                    e.msg[0] ? e.msg : "no reason given");
  return rc < 0 ? -1 : 0;
}

bool ane_io_info(void *state, int k, AneIoInfo *out) {
  AneState *S = state;
  if (k < 0 || k >= S->nin + S->nout)
    return false;
  const AneIo *io = k < S->nin ? &S->in[k] : &S->out[k - S->nin];
  *out = (AneIoInfo){.name = io->name, .output = k >= S->nin, .symbol = io->symbol,
                     .lay = io->lay, .surf_bytes = io->surf_bytes};
  return true;
}

const char *ane_binding(void *state) {
  return ((AneState *)state)->binding;
}

/* ---- attributes and layouts (shared by every table) ------------------------- */

AneSym *ane_attrs_sym(AneAttrs *a, int proc, bool output) {
  if (proc < 0 || proc > ANE_MAX_PROCEDURE)
    return NULL;
  if (proc >= a->nproc) {
    AneProcAttrs *np = realloc(a->proc, (size_t)(proc + 1) * sizeof *np);
    if (!np)
      return NULL;
    memset(np + a->nproc, 0, (size_t)(proc + 1 - a->nproc) * sizeof *np);
    a->proc = np;
    a->nproc = proc + 1;
  }
  AneProcAttrs *p = &a->proc[proc];
  AneSym **list = output ? &p->out : &p->in;
  int *n = output ? &p->nout : &p->nin;
  if (*n >= ANE_MAX_IO)
    return NULL;
  AneSym *nl = realloc(*list, (size_t)(*n + 1) * sizeof *nl);
  if (!nl)
    return NULL;
  *list = nl;
  AneSym *s = &nl[(*n)++];
  memset(s, 0, sizeof *s);
  s->symbol = s->depth = s->depth_stride = -1;
  return s;
}

int ane_attrs_name(AneAttrs *a, const char *name, int id) {
  if (a->nnames > ANE_MAX_PROCEDURE)
    return -1;
  AneProcName *nn = realloc(a->names, (size_t)(a->nnames + 1) * sizeof *nn);
  if (!nn)
    return -1;
  a->names = nn;
  snprintf(nn[a->nnames].name, sizeof nn[0].name, "%s", name);
  nn[a->nnames++].id = id;
  return 0;
}

void ane_attrs_free(AneAttrs *a) {
  for (int p = 0; p < a->nproc; p++) {
    free(a->proc[p].in);
    free(a->proc[p].out);
  }
  free(a->proc);
  free(a->names);
  *a = (AneAttrs){0};
}

size_t ane_row_offset(const AneLayout *l, size_t r) {
  size_t off = 0;
  for (int k = 3; k >= 0; k--) {
    size_t n = l->count[k] > 0 ? (size_t)l->count[k] : 1;
    off += r % n * l->stride[k];
    r /= n;
  }
  return off;
}

const Chip *ane_chip(const AneDeviceInfo *info) {
  const Chip *c = chip_find(info->sub_type);
  return c ? c : chip_find(info->arch_type);
}

/* ---- POSIX files (the Darwin table's; tested on Linux) ---------------------- */

static int sys_error(AneErr *e, const char *what, const char *path) {
  snprintf(e->msg, sizeof e->msg, "cannot %s %s: %s", what, path, strerror(errno));
  return -1;
}

int ane_fs_make_dir(void *ctx, const char *path, AneErr *e) {
  (void)ctx;
  struct stat st;
  if (mkdir(path, 0700) == 0)
    return 0;
  if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    return 0;
  return sys_error(e, "create directory", path);
}

int ane_fs_write_file(void *ctx, const char *path, const void *data, size_t n, AneErr *e) {
  (void)ctx;
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return sys_error(e, "create", path);
  const char *p = data;
  while (n > 0) {
    ssize_t k = write(fd, p, n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0) {
      sys_error(e, "write", path);
      close(fd);
      return -1;
    }
    p += k;
    n -= (size_t)k;
  }
  return close(fd) == 0 ? 0 : sys_error(e, "write", path);
}

int ane_fs_read_file(void *ctx, const char *path, size_t max, void **data, size_t *n, AneErr *e) {
  (void)ctx;
  *data = NULL;
  *n = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return sys_error(e, "open", path);
  struct stat st;
  if (fstat(fd, &st) < 0) {
    sys_error(e, "read", path);
    close(fd);
    return -1;
  }
  if (!S_ISREG(st.st_mode) || st.st_size < 0 || (uint64_t)st.st_size > max) {
    snprintf(e->msg, sizeof e->msg, "%s: %s", path,
             S_ISREG(st.st_mode) ? "the file is larger than the limit" : "not a regular file");
    close(fd);
    return -1;
  }
  size_t size = (size_t)st.st_size, got = 0;
  char *buf = malloc(size ? size : 1);
  if (!buf) {
    snprintf(e->msg, sizeof e->msg, "%s: out of memory", path);
    close(fd);
    return -1;
  }
  while (got < size) {
    ssize_t k = read(fd, buf + got, size - got);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0) {
      if (k == 0)
        snprintf(e->msg, sizeof e->msg, "%s: the file shrank while being read", path);
      else
        sys_error(e, "read", path);
      free(buf);
      close(fd);
      return -1;
    }
    got += (size_t)k;
  }
  close(fd);
  *data = buf;
  *n = size;
  return 0;
}

/* Names are read in full before any is removed: removing entries while
 * readdir() walks a directory may skip some on macOS. */
static int remove_entries(const char *path, int depth, AneErr *e);

static int remove_any(const char *path, int depth, AneErr *e) {
  struct stat st;
  if (lstat(path, &st) < 0)
    return errno == ENOENT ? 0 : sys_error(e, "remove", path);
  if (!S_ISDIR(st.st_mode))
    return unlink(path) == 0 || errno == ENOENT ? 0 : sys_error(e, "remove", path);
  if (depth >= ANE_TREE_DEPTH) {
    snprintf(e->msg, sizeof e->msg, "cannot remove %s: directories nested deeper than %d", path,
             ANE_TREE_DEPTH);
    return -1;
  }
  if (remove_entries(path, depth, e) < 0)
    return -1;
  return rmdir(path) == 0 || errno == ENOENT ? 0 : sys_error(e, "remove", path);
}

static int remove_entries(const char *path, int depth, AneErr *e) {
  DIR *dir = opendir(path);
  if (!dir)
    return sys_error(e, "read directory", path);
  char **names = NULL;
  size_t n = 0, cap = 0;
  int rc = 0;
  struct dirent *de;
  while (rc == 0 && (de = readdir(dir))) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    if (n == cap) {
      size_t ncap = cap ? 2 * cap : 16;
      char **nn = realloc(names, ncap * sizeof *nn);
      if (!nn) {
        rc = -1;
        break;
      }
      names = nn;
      cap = ncap;
    }
    size_t len = strlen(path) + strlen(de->d_name) + 2;
    if (!(names[n] = malloc(len)))
      rc = -1;
    else
      snprintf(names[n++], len, "%s/%s", path, de->d_name);
  }
  closedir(dir);
  if (rc < 0)
    snprintf(e->msg, sizeof e->msg, "cannot remove %s: out of memory", path);
  for (size_t i = 0; i < n; i++) {
    if (rc == 0)
      rc = remove_any(names[i], depth + 1, e);
    free(names[i]);
  }
  free(names);
  return rc;
}

int ane_fs_remove_tree(void *ctx, const char *path, AneErr *e) {
  (void)ctx;
  return remove_any(path, 0, e);
}

/* A POSIX record lock on the whole file. The holder removes the file when
 * it is done, so a waiter that gets the lock checks that its file is
 * still the one at path, and starts again if not. */
int ane_fs_lock(void *ctx, const char *path, int *handle, AneErr *e) {
  (void)ctx;
  for (;;) {
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
      return sys_error(e, "create lock file", path);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    int rc;
    while ((rc = fcntl(fd, F_SETLKW, &fl)) < 0 && errno == EINTR)
      ;
    struct stat held, now;
    if (rc < 0 || fstat(fd, &held) < 0) {
      sys_error(e, "lock", path);
      close(fd);
      return -1;
    }
    if (stat(path, &now) == 0 && now.st_dev == held.st_dev && now.st_ino == held.st_ino) {
      *handle = fd;
      return 0;
    }
    close(fd);
  }
}

void ane_fs_unlock(void *ctx, const char *path, int handle) {
  (void)ctx;
  unlink(path);
  close(handle);
}

#ifdef __APPLE__
static int ane_open(const Model *m, const BackendOpts *o, void **state, Diag *d) {
  AneApi api;
  if (ane_darwin_api(&api) < 0) {
    *state = NULL;
    diag_file_error(d, m->name, "ane: out of memory");
    return -1;
  }
  return ane_open_with(&api, m, o, state, d);
}

int ane_probe(AneDeviceInfo *out, Diag *d) {
  AneApi api;
  if (ane_darwin_api(&api) < 0) {
    diag_file_error(d, NULL, "ane: out of memory");
    return -1;
  }
  int rc = ane_device_info(&api, out, d);
  api.finish(api.ctx);
  return rc;
}

const Backend ane_backend = {"ane", false, ane_open, ane_set_input, ane_eval, ane_get_output,
                             ane_close};
#endif
