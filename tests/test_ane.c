/* test_ane.c - the ane backend driven through a recording double of AneApi,
 * the chip arithmetic against the seed's printed table, and the POSIX file
 * functions on a real directory.
 *
 * The double keeps every object it hands out with a reference count, a fake
 * file system, and a log of calls, and can make any one call fail. A
 * protocol slip (an unknown or released handle, the wrong kind of object,
 * an unbalanced pool) is counted in `violations`. */
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ane_api.h"
#include "bisect.h"
#include "manifest.h"
#include "check_main.h"
#include "chip.h"
#include "fp16.h"
#include "mil.h"
#include "tensor.h"

/* ---- the double ----------------------------------------------------------- */

enum { MAXOBJ = 128, MAXLOG = 256, MAXFILES = 32, MAXENT = 8, MAXIO = 8 };

typedef enum Kind { K_DATA, K_DICT, K_DESC, K_MODEL, K_SURFACE, K_WRAP, K_REQUEST } Kind;
static const char *kind_name[] = {"data", "dict", "descriptor", "model", "surface", "wrap",
                                  "request"};

typedef struct Entry {
  char key[256];
  uint64_t offset;
  int data;            /* object index */
} Entry;

typedef struct Obj {
  Kind kind;
  int refs;
  unsigned char *bytes; /* data: a copy; surface: its memory */
  size_t n;
  Entry ent[MAXENT];    /* dict */
  int nent;
  int a, b;             /* descriptor: mil, dict; model: descriptor; wrap: surface */
  int in[MAXIO], in_idx[MAXIO], nin, out[MAXIO], out_idx[MAXIO], nout, proc;
} Obj;

typedef struct File {
  char path[512];
  bool dir;
  unsigned char *data;
  size_t n;
} File;

typedef struct Double {
  char log[MAXLOG][600];
  int nlog;
  Obj obj[MAXOBJ];
  int nobj;
  int open_pools, finished, violations;
  char fail[32];        /* the call to fail, "" for none */
  int fail_nth, seen;   /* which occurrence, and how many so far */
  File file[MAXFILES];
  int nfiles;
  AneDeviceInfo info;
  char model_dir[128];  /* what model_dir answers */
  int locks;            /* held */
  char fail_op[64];     /* compile refuses a program naming this op, "" for none */
} Double;

static void note(Double *D, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(Double *D, const char *fmt, ...) {
  if (D->nlog == MAXLOG) {
    D->violations++;
    return;
  }
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(D->log[D->nlog++], sizeof D->log[0], fmt, ap);
  va_end(ap);
}

/* Logs the call and decides whether it is the one to fail. */
static bool call(Double *D, AneErr *e, const char *name, const char *detail) {
  if (detail)
    note(D, "%s %s", name, detail);
  else
    note(D, "%s", name);
  if (strcmp(D->fail, name) == 0 && ++D->seen == D->fail_nth) {
    snprintf(e->msg, sizeof e->msg, "injected %s failure", name);
    return false;
  }
  return true;
}

static AneRef ref_of(int i) { return (AneRef)(uintptr_t)(i + 1); }

static Obj *obj_of(Double *D, AneRef r, Kind k) {
  uintptr_t i = (uintptr_t)r;
  if (i < 1 || i > (uintptr_t)D->nobj || D->obj[i - 1].refs < 1 || D->obj[i - 1].kind != k) {
    D->violations++;
    return NULL;
  }
  return &D->obj[i - 1];
}

static int idx_of(AneRef r) { return (int)((uintptr_t)r - 1); }

static AneRef new_obj(Double *D, Kind k) {
  if (D->nobj == MAXOBJ) {
    D->violations++;
    return NULL;
  }
  Obj *o = &D->obj[D->nobj];
  memset(o, 0, sizeof *o);
  o->kind = k;
  o->refs = 1;
  return ref_of(D->nobj++);
}

/* A new object of kind k that holds a reference to `held` (in Obj.a). */
static AneRef new_holder(Double *D, Kind k, AneRef held) {
  AneRef r = new_obj(D, k);
  if (r) {
    D->obj[idx_of(r)].a = idx_of(held);
    D->obj[idx_of(held)].refs++;
  }
  return r;
}

static File *file_at(Double *D, const char *path) {
  for (int i = 0; i < D->nfiles; i++)
    if (strcmp(D->file[i].path, path) == 0)
      return &D->file[i];
  return NULL;
}

static bool parent_is_dir(Double *D, const char *path) {
  char parent[512];
  snprintf(parent, sizeof parent, "%s", path);
  char *slash = strrchr(parent, '/');
  if (!slash)
    return false;
  *slash = '\0';
  File *f = file_at(D, parent);
  return f && f->dir;
}

static File *add_file(Double *D, const char *path, bool dir, const void *data, size_t n) {
  File *f = file_at(D, path);
  if (!f) {
    if (D->nfiles == MAXFILES) {
      D->violations++;
      return NULL;
    }
    f = &D->file[D->nfiles++];
    snprintf(f->path, sizeof f->path, "%s", path);
  }
  free(f->data);
  f->dir = dir;
  f->data = n ? malloc(n) : NULL;
  if (n)
    memcpy(f->data, data, n);
  f->n = n;
  return f;
}

static int nfiles_under(Double *D, const char *dir) {
  size_t n = strlen(dir);
  int count = 0;
  for (int i = 0; i < D->nfiles; i++)
    if (strncmp(D->file[i].path, dir, n) == 0 &&
        (D->file[i].path[n] == '\0' || D->file[i].path[n] == '/'))
      count++;
  return count;
}

/* The table. */

static int d_framework_open(void *ctx, AneErr *e) {
  return call(ctx, e, "framework_open", NULL) ? 0 : -1;
}

static void *d_pool_push(void *ctx) {
  Double *D = ctx;
  note(D, "pool_push");
  D->open_pools++;
  return (void *)(uintptr_t)(0x1000 + D->open_pools);
}

static void d_pool_pop(void *ctx, void *pool) {
  Double *D = ctx;
  note(D, "pool_pop");
  if (pool != (void *)(uintptr_t)(0x1000 + D->open_pools) || D->open_pools < 1)
    D->violations++;
  D->open_pools--;
}

static void d_release(void *ctx, AneRef r) {
  Double *D = ctx;
  uintptr_t i = (uintptr_t)r;
  if (i < 1 || i > (uintptr_t)D->nobj || D->obj[i - 1].refs < 1) {
    D->violations++;
    return;
  }
  note(D, "release %s", kind_name[D->obj[i - 1].kind]);
  D->obj[i - 1].refs--;
}

static AneRef d_data_new(void *ctx, const void *bytes, size_t n, AneErr *e) {
  Double *D = ctx;
  char detail[32];
  snprintf(detail, sizeof detail, "%zu", n);
  if (!call(D, e, "data_new", detail))
    return NULL;
  AneRef r = new_obj(D, K_DATA);
  if (!r)
    return NULL;   /* the table is full: counted as a violation */
  Obj *o = &D->obj[idx_of(r)];
  o->bytes = malloc(n ? n : 1);
  memcpy(o->bytes, bytes, n);
  o->n = n;
  return r;
}

static AneRef d_weights_new(void *ctx, AneErr *e) {
  return call(ctx, e, "weights_new", NULL) ? new_obj(ctx, K_DICT) : NULL;
}

static int d_weights_add(void *ctx, AneRef w, const char *path, uint64_t offset, AneRef data,
                         AneErr *e) {
  Double *D = ctx;
  Obj *dict = obj_of(D, w, K_DICT), *d = obj_of(D, data, K_DATA);
  char detail[400];
  snprintf(detail, sizeof detail, "%s offset=%llu len=%zu", path, (unsigned long long)offset,
           d ? d->n : 0);
  if (!call(D, e, "weights_add", detail))
    return -1;
  if (!dict || !d || dict->nent == MAXENT) {
    D->violations++;
    return -1;
  }
  Entry *en = &dict->ent[dict->nent++];
  snprintf(en->key, sizeof en->key, "%s", path);
  en->offset = offset;
  en->data = idx_of(data);
  d->refs++; /* the dictionary holds it, as CFDictionarySetValue would */
  return 0;
}

static AneRef d_descriptor_new(void *ctx, AneRef mil, AneRef weights, AneErr *e) {
  Double *D = ctx;
  if (!obj_of(D, mil, K_DATA) || !obj_of(D, weights, K_DICT) ||
      !call(D, e, "descriptor_new", NULL))
    return NULL;
  AneRef r = new_holder(D, K_DESC, mil);
  if (r) {
    D->obj[idx_of(r)].b = idx_of(weights);
    D->obj[idx_of(weights)].refs++;
  }
  return r;
}

static AneRef d_model_new(void *ctx, AneRef desc, AneErr *e) {
  Double *D = ctx;
  if (!obj_of(D, desc, K_DESC) || !call(D, e, "model_new", NULL))
    return NULL;
  return new_holder(D, K_MODEL, desc);
}

static int d_model_dir(void *ctx, AneRef model, char *buf, size_t size, AneErr *e) {
  Double *D = ctx;
  if (!obj_of(D, model, K_MODEL) || !call(D, e, "model_dir", NULL))
    return -1;
  snprintf(buf, size, "%s", D->model_dir);
  return 0;
}

/* What the next double's modelAttributes report: nothing unless a test
 * sets these. */
typedef struct SymSpec {
  int proc;
  bool output;
  const char *name;
  int symbol;
  int64_t b, c, d, h, w, bs, ps, ds, rs;
} SymSpec;
static const SymSpec *attr_syms;
static int attr_nsyms;
static const AneProcName *attr_names;
static int attr_nnames;

static int d_model_attributes(void *ctx, AneRef model, AneAttrs *out, AneErr *e) {
  Double *D = ctx;
  if (!obj_of(D, model, K_MODEL) || !call(D, e, "model_attributes", NULL))
    return -1;
  for (int i = 0; i < attr_nsyms; i++) {
    const SymSpec *q = &attr_syms[i];
    AneSym *s = ane_attrs_sym(out, q->proc, q->output);
    ck_assert_ptr_nonnull(s);
    snprintf(s->name, sizeof s->name, "%s", q->name);
    s->symbol = q->symbol;
    s->batches = q->b, s->channels = q->c, s->depth = q->d, s->height = q->h, s->width = q->w;
    s->batch_stride = q->bs, s->plane_stride = q->ps, s->depth_stride = q->ds;
    s->row_stride = q->rs;
  }
  for (int i = 0; i < attr_nnames; i++)
    ck_assert_int_eq(ane_attrs_name(out, attr_names[i].name, attr_names[i].id), 0);
  return 0;
}

static int d_qos_call(void *ctx, const char *name, AneRef model, unsigned qos, AneErr *e) {
  Double *D = ctx;
  char detail[32];
  snprintf(detail, sizeof detail, "qos=%u", qos);
  if (!obj_of(D, model, K_MODEL))
    return -1;
  return call(D, e, name, detail) ? 0 : -1;
}

/* The fake compiler: refuses the MIL text when it names fail_op, as
 * ANECCompile() refuses a program holding an op it cannot place. */
static int d_compile(void *ctx, AneRef m, unsigned qos, AneErr *e) {
  Double *D = ctx;
  if (d_qos_call(ctx, "compile", m, qos, e) != 0)
    return -1;
  if (!D->fail_op[0])
    return 0;
  const Obj *mil = &D->obj[D->obj[D->obj[idx_of(m)].a].a];
  char needle[80];
  snprintf(needle, sizeof needle, "(\"%s\")", D->fail_op);
  char *text = strndup((const char *)mil->bytes, mil->n);
  bool refuse = strstr(text, needle) != NULL;
  free(text);
  if (refuse)
    snprintf(e->msg, sizeof e->msg, "ANECCompile() FAILED at %s", D->fail_op);
  return refuse ? -1 : 0;
}
static int d_load(void *ctx, AneRef m, unsigned qos, AneErr *e) {
  return d_qos_call(ctx, "load", m, qos, e);
}
static int d_unload(void *ctx, AneRef m, unsigned qos, AneErr *e) {
  return d_qos_call(ctx, "unload", m, qos, e);
}

static AneRef d_surface_new(void *ctx, size_t bytes, AneErr *e) {
  Double *D = ctx;
  char detail[32];
  snprintf(detail, sizeof detail, "%zu", bytes);
  if (!call(D, e, "surface_new", detail))
    return NULL;
  AneRef r = new_obj(D, K_SURFACE);
  if (!r)
    return NULL;
  D->obj[idx_of(r)].bytes = calloc(bytes, 1);
  D->obj[idx_of(r)].n = bytes;
  return r;
}

static AneRef d_surface_wrap(void *ctx, AneRef s, AneErr *e) {
  Double *D = ctx;
  if (!obj_of(D, s, K_SURFACE) || !call(D, e, "surface_wrap", NULL))
    return NULL;
  return new_holder(D, K_WRAP, s);
}

/* The surface s for a call `name` that moves the rows of l, or NULL if
 * the call fails or a row does not fit. */
static Obj *surface_io(Double *D, const char *name, AneRef s, const AneLayout *l, AneErr *e) {
  Obj *o = obj_of(D, s, K_SURFACE);
  char detail[32];
  snprintf(detail, sizeof detail, "%zu", l->rows * l->row_bytes);
  if (!o || !call(D, e, name, detail))
    return NULL;
  for (size_t r = 0; r < l->rows; r++)
    if (ane_row_offset(l, r) + l->row_bytes > o->n) {
      D->violations++;
      return NULL;
    }
  return o;
}

static int d_surface_write(void *ctx, AneRef s, const AneLayout *l, const void *src, AneErr *e) {
  Obj *o = surface_io(ctx, "surface_write", s, l, e);
  if (!o)
    return -1;
  for (size_t r = 0; r < l->rows; r++)
    memcpy(o->bytes + ane_row_offset(l, r), (const char *)src + r * l->row_bytes, l->row_bytes);
  return 0;
}

static int d_surface_read(void *ctx, AneRef s, const AneLayout *l, void *dst, AneErr *e) {
  Obj *o = surface_io(ctx, "surface_read", s, l, e);
  if (!o)
    return -1;
  for (size_t r = 0; r < l->rows; r++)
    memcpy((char *)dst + r * l->row_bytes, o->bytes + ane_row_offset(l, r), l->row_bytes);
  return 0;
}

static AneRef d_request_new(void *ctx, const AneRef *in, const int *in_idx, int nin,
                            const AneRef *out, const int *out_idx, int nout, int proc,
                            AneErr *e) {
  Double *D = ctx;
  if (nin > MAXIO || nout > MAXIO) {
    D->violations++;
    return NULL;
  }
  for (int i = 0; i < nin; i++)
    if (!obj_of(D, in[i], K_WRAP))
      return NULL;
  for (int i = 0; i < nout; i++)
    if (!obj_of(D, out[i], K_WRAP))
      return NULL;
  char detail[64];
  snprintf(detail, sizeof detail, "in=%d out=%d proc=%d", nin, nout, proc);
  if (!call(D, e, "request_new", detail))
    return NULL;
  AneRef r = new_obj(D, K_REQUEST);
  if (!r)
    return NULL;
  Obj *o = &D->obj[idx_of(r)];
  o->nin = nin;
  o->nout = nout;
  o->proc = proc;
  for (int i = 0; i < nin; i++) {
    o->in[i] = idx_of(in[i]);
    o->in_idx[i] = in_idx[i];
    D->obj[o->in[i]].refs++;
  }
  for (int i = 0; i < nout; i++) {
    o->out[i] = idx_of(out[i]);
    o->out_idx[i] = out_idx[i];
    D->obj[o->out[i]].refs++;
  }
  return r;
}

static int d_evaluate(void *ctx, AneRef model, unsigned qos, AneRef req, AneErr *e) {
  Double *D = ctx;
  if (!obj_of(D, req, K_REQUEST))
    return -1;
  if (D->open_pools < 1)
    D->violations++;
  return d_qos_call(ctx, "evaluate", model, qos, e);
}

static int d_device_info(void *ctx, AneDeviceInfo *out, AneErr *e) {
  Double *D = ctx;
  if (!call(D, e, "device_info", NULL))
    return -1;
  *out = D->info;
  return 0;
}

static int d_make_dir(void *ctx, const char *path, AneErr *e) {
  Double *D = ctx;
  if (!call(D, e, "make_dir", path))
    return -1;
  File *f = file_at(D, path);
  if (f)
    return f->dir ? 0 : -1;
  if (!parent_is_dir(D, path)) {
    snprintf(e->msg, sizeof e->msg, "no parent for %s", path);
    return -1;
  }
  add_file(D, path, true, NULL, 0);
  return 0;
}

static int d_write_file(void *ctx, const char *path, const void *data, size_t n, AneErr *e) {
  Double *D = ctx;
  if (!call(D, e, "write_file", path))
    return -1;
  if (!parent_is_dir(D, path)) {
    snprintf(e->msg, sizeof e->msg, "no parent for %s", path);
    return -1;
  }
  add_file(D, path, false, data, n);
  return 0;
}

static int d_read_file(void *ctx, const char *path, size_t max, void **data, size_t *n,
                       AneErr *e) {
  Double *D = ctx;
  if (!call(D, e, "read_file", path))
    return -1;
  File *f = file_at(D, path);
  if (!f || f->dir || f->n > max) {
    snprintf(e->msg, sizeof e->msg, "cannot open %s", path);
    return -1;
  }
  *data = malloc(f->n ? f->n : 1);
  memcpy(*data, f->data, f->n);
  *n = f->n;
  return 0;
}

static int d_remove_tree(void *ctx, const char *path, AneErr *e) {
  Double *D = ctx;
  if (!call(D, e, "remove_tree", path))
    return -1;
  size_t n = strlen(path);
  int k = 0;
  for (int i = 0; i < D->nfiles; i++) {
    File *f = &D->file[i];
    if (strncmp(f->path, path, n) == 0 && (f->path[n] == '\0' || f->path[n] == '/'))
      free(f->data);
    else
      D->file[k++] = *f;
  }
  D->nfiles = k;
  return 0;
}

static int d_lock(void *ctx, const char *path, int *handle, AneErr *e) {
  Double *D = ctx;
  if (!call(D, e, "lock", path))
    return -1;
  *handle = 7;
  D->locks++;
  return 0;
}

static void d_unlock(void *ctx, const char *path, int handle) {
  Double *D = ctx;
  note(D, "unlock %s", path);
  if (handle != 7 || D->locks-- != 1)
    D->violations++;
}

static void d_finish(void *ctx) {
  Double *D = ctx;
  note(D, "finish");
  D->finished++;
}

static unsigned char weight_bytes[200];

static Double *double_new(void) {
  Double *D = calloc(1, sizeof *D);
  snprintf(D->model_dir, sizeof D->model_dir, "/tmp/ane-double/ABC123_DEF_0F");
  add_file(D, "/tmp", true, NULL, 0);
  add_file(D, "/tmp/ane-double", true, NULL, 0);
  add_file(D, "/models", true, NULL, 0);
  add_file(D, "/models/m", true, NULL, 0);
  add_file(D, "/models/m/weights", true, NULL, 0);
  for (size_t i = 0; i < sizeof weight_bytes; i++)
    weight_bytes[i] = (unsigned char)(i * 7 + 3);
  add_file(D, "/models/m/weights/weight.bin", false, weight_bytes, sizeof weight_bytes);
  add_file(D, "/models/m/weights/more", true, NULL, 0);
  add_file(D, "/models/m/weights/more/b.bin", false, weight_bytes, 72);
  return D;
}

static void double_free(Double *D) {
  for (int i = 0; i < D->nobj; i++)
    free(D->obj[i].bytes);
  for (int i = 0; i < D->nfiles; i++)
    free(D->file[i].data);
  free(D);
}

static AneApi double_api(Double *D) {
  return (AneApi){
      .ctx = D,
      .finish = d_finish,
      .framework_open = d_framework_open,
      .pool_push = d_pool_push,
      .pool_pop = d_pool_pop,
      .release = d_release,
      .data_new = d_data_new,
      .weights_new = d_weights_new,
      .weights_add = d_weights_add,
      .descriptor_new = d_descriptor_new,
      .model_new = d_model_new,
      .model_dir = d_model_dir,
      .model_attributes = d_model_attributes,
      .compile = d_compile,
      .load = d_load,
      .unload = d_unload,
      .surface_new = d_surface_new,
      .surface_wrap = d_surface_wrap,
      .surface_write = d_surface_write,
      .surface_read = d_surface_read,
      .request_new = d_request_new,
      .evaluate = d_evaluate,
      .device_info = d_device_info,
      .make_dir = d_make_dir,
      .write_file = d_write_file,
      .read_file = d_read_file,
      .remove_tree = d_remove_tree,
      .lock = d_lock,
      .unlock = d_unlock,
  };
}

/* Our references: those held by another object of the double (a dict, a
 * descriptor, a model, a wrapper, a request) are dropped when that object's
 * own count reaches zero, as the framework would. What is left must be 0. */
static int live_objects(Double *D) {
  int refs[MAXOBJ];
  for (int i = 0; i < D->nobj; i++)
    refs[i] = D->obj[i].refs;
  for (bool changed = true; changed;) {
    changed = false;
    for (int i = 0; i < D->nobj; i++) {
      if (refs[i] != 0)
        continue;
      Obj *o = &D->obj[i];
      int held[2 * MAXIO + MAXENT + 2], nh = 0;
      if (o->kind == K_DICT)
        for (int k = 0; k < o->nent; k++)
          held[nh++] = o->ent[k].data;
      if (o->kind == K_DESC) {
        held[nh++] = o->a;
        held[nh++] = o->b;
      }
      if (o->kind == K_MODEL || o->kind == K_WRAP)
        held[nh++] = o->a;
      if (o->kind == K_REQUEST) {
        for (int k = 0; k < o->nin; k++)
          held[nh++] = o->in[k];
        for (int k = 0; k < o->nout; k++)
          held[nh++] = o->out[k];
      }
      for (int k = 0; k < nh; k++)
        refs[held[k]]--;
      refs[i] = -1; /* done */
      changed = changed || nh > 0;
    }
  }
  int live = 0;
  for (int i = 0; i < D->nobj; i++)
    live += refs[i] > 0;
  return live;
}

static int count_log(Double *D, const char *prefix) {
  int n = 0;
  for (int i = 0; i < D->nlog; i++)
    n += strncmp(D->log[i], prefix, strlen(prefix)) == 0;
  return n;
}

static int find_log(Double *D, const char *line) {
  for (int i = 0; i < D->nlog; i++)
    if (strcmp(D->log[i], line) == 0)
      return i;
  return -1;
}

/* ---- programs ------------------------------------------------------------- */

static MilType *fp16_type(MilProg *p, int64_t c, int64_t w) {
  return mil_tensor_type(p, MIL_FP16, 4, (int64_t[]){1, c, 1, w});
}

static void add_unary(MilProg *p, MilFunc *f, const char *op, const char *x, const char *out,
                      const MilType *t) {
  MilOp *o = mil_add_op(p, f, op);
  mil_op_ref(p, o, "x", x);
  mil_op_attr(p, o, "name", mil_scalar_s(p, out));
  mil_op_out(p, o, t, out);
}

/* Function name of p: x: fp16 [1, 256, 1, 64] (32 KiB) -> relu -> y. */
static void add_relu_func(MilProg *p, const char *name) {
  MilFunc *f = mil_add_func(p, name, "ios18");
  MilType *t = fp16_type(p, 256, 64);
  mil_add_input(p, f, t, "x");
  add_unary(p, f, "relu", "x", "y", t);
  mil_add_output(p, f, "y");
}

static MilProg *prog_small(void) {
  MilProg *p = mil_new("1.3");
  add_relu_func(p, "main");
  return p;
}

static void add_blob_const(MilProg *p, MilFunc *f, const char *name, const char *path,
                           uint64_t off) {
  MilType *wt = mil_tensor_type(p, MIL_FP16, 4, (int64_t[]){32, 32, 1, 1});
  MilOp *c = mil_add_op(p, f, "const");
  mil_op_attr(p, c, "name", mil_scalar_s(p, name));
  mil_op_attr(p, c, "val", mil_blob_value(p, wt, path, off, -1));
  mil_op_out(p, c, wt, name);
}

/* Inputs b_in [1,512,1,64] (64 KiB) and a_in [1,32,1,64], declared in that
 * order; outputs z_out and m_out, returned in that order; two blobs in
 * weight.bin and one in weights/more/b.bin. */
static MilProg *prog_two(void) {
  MilProg *p = mil_new("1.3");
  MilFunc *f = mil_add_func(p, "main", "ios18");
  MilType *big = fp16_type(p, 512, 64), *small = fp16_type(p, 32, 64);
  mil_add_input(p, f, big, "b_in");
  mil_add_input(p, f, small, "a_in");
  add_blob_const(p, f, "w0", "@model_path/weights/weight.bin", 64);
  add_blob_const(p, f, "w1", "@model_path/weights/weight.bin", 128);
  add_blob_const(p, f, "w2", "@model_path/weights/more/b.bin", 64);
  add_unary(p, f, "relu", "b_in", "z_out", big);
  add_unary(p, f, "relu", "a_in", "m_out", small);
  mil_add_output(p, f, "z_out");
  mil_add_output(p, f, "m_out");
  return p;
}

static Model model_of(MilProg *p) {
  return (Model){.name = "m", .dir = "/models/m", .prog = p, .fn = &p->funcs[0]};
}

typedef struct Run {
  Double *D;
  MilProg *p;
  Model m;
  void *state;
  char *msg;
  size_t msglen;
  FILE *out;
  Diag d;
  int rc;
} Run;

/* Opens function fn of p on a new double; run_open takes the first. */
static void run_open_fn(Run *r, MilProg *p, int fn, int qos, const char *fail, int nth) {
  memset(r, 0, sizeof *r);
  r->D = double_new();
  if (fail) {
    snprintf(r->D->fail, sizeof r->D->fail, "%s", fail);
    r->D->fail_nth = nth;
  }
  r->p = p;
  r->m = model_of(p);
  r->m.fn = &p->funcs[fn];
  r->out = open_memstream(&r->msg, &r->msglen);
  r->d = (Diag){.out = r->out};
  AneApi api = double_api(r->D);
  BackendOpts o = {.qos = qos};
  r->rc = ane_open_with(&api, &r->m, &o, &r->state, &r->d);
  fflush(r->out);
}

static void run_open(Run *r, MilProg *p, int qos, const char *fail, int nth) {
  run_open_fn(r, p, 0, qos, fail, nth);
}

static void run_free(Run *r) {
  fclose(r->out);
  free(r->msg);
  mil_free(r->p);
  double_free(r->D);
}

static void assert_clean(Double *D) {
  ck_assert_int_eq(D->violations, 0);
  ck_assert_int_eq(live_objects(D), 0);
  ck_assert_int_eq(D->open_pools, 0);
  ck_assert_int_eq(count_log(D, "pool_push"), count_log(D, "pool_pop"));
  ck_assert_int_eq(D->finished, 1);
  ck_assert_int_eq(D->locks, 0);
  ck_assert_int_eq(nfiles_under(D, "/tmp/ane-double/ABC123_DEF_0F"), 0);
  ck_assert_int_eq(nfiles_under(D, "/tmp/ane-double"), 1); /* the directory itself */
}

static Obj *request_of(Double *D) {
  for (int i = 0; i < D->nobj; i++)
    if (D->obj[i].kind == K_REQUEST)
      return &D->obj[i];
  return NULL;
}

/* The surface behind the i-th input or output of the request. */
static Obj *bound_at(Double *D, bool input, int i) {
  Obj *req = request_of(D);
  Obj *wrap = &D->obj[input ? req->in[i] : req->out[i]];
  return &D->obj[wrap->a];
}

/* The surface the request gives symbol index sym. */
static Obj *bound(Double *D, bool input, int sym) {
  Obj *req = request_of(D);
  for (int i = 0; i < (input ? req->nin : req->nout); i++)
    if ((input ? req->in_idx : req->out_idx)[i] == sym)
      return bound_at(D, input, i);
  ck_abort_msg("no surface has symbol %d", sym);
  return NULL;
}

/* Without attributes nothing says how functions are numbered: a second
 * function is refused once the model is loaded, and everything is undone. */
START_TEST(test_second_function_refused) {
  MilProg *p = prog_small();
  add_relu_func(p, "other");
  Run r;
  run_open_fn(&r, p, 1, 21, NULL, 0);
  ck_assert_int_eq(r.rc, -1);
  ck_assert_ptr_nonnull(strstr(r.msg, "only its first function ('main') can run, not 'other'"));
  ck_assert_int_eq(count_log(r.D, "request_new"), 0);
  ck_assert_int_eq(count_log(r.D, "unload"), 1);
  assert_clean(r.D);
  run_free(&r);
}
END_TEST

/* ---- binding from the compiled attributes ----------------------------------- */

/* fp16 inputs a and b of [1, 3, 2, 8] (16-byte rows, which the older rule
 * refuses), y = relu(a), z = relu(b). */
static MilProg *prog_narrow(void) {
  MilProg *p = mil_new("1.3");
  MilFunc *f = mil_add_func(p, "main", "ios18");
  MilType *t = mil_tensor_type(p, MIL_FP16, 4, (int64_t[]){1, 3, 2, 8});
  mil_add_input(p, f, t, "a");
  mil_add_input(p, f, t, "b");
  add_unary(p, f, "relu", "a", "y", t);
  add_unary(p, f, "relu", "b", "z", t);
  mil_add_output(p, f, "y");
  mil_add_output(p, f, "z");
  return p;
}

/* Listed b before a and z before y, with symbols against the alphabet;
 * rows padded to 64 bytes, planes to 192, batches to 576. */
static const SymSpec narrow_syms[] = {
    {0, false, "b", 0, 1, 3, 1, 2, 8, 576, 192, -1, 64},
    {0, false, "a", 1, 1, 3, 1, 2, 8, 576, 192, -1, 64},
    {0, true, "z@output", 0, 1, 3, 1, 2, 8, 576, 192, -1, 64},
    {0, true, "y@output", 1, 1, 3, 1, 2, 8, 576, 192, -1, 64},
};

static void set_attrs(const SymSpec *syms, int nsyms, const AneProcName *names, int nnames) {
  attr_syms = syms;
  attr_nsyms = nsyms;
  attr_names = names;
  attr_nnames = nnames;
}

START_TEST(test_attrs_binding) {
  set_attrs(narrow_syms, 4, NULL, 0);
  Run r;
  run_open(&r, prog_narrow(), 21, NULL, 0);
  set_attrs(NULL, 0, NULL, 0);
  ck_assert_msg(r.rc == 0, "%s", r.msg);
  ck_assert_str_eq(r.msg, ""); /* no note: the binding is the compiler's */
  Double *D = r.D;
  Obj *req = request_of(D);
  /* MIL order a, b and y, z; symbols from the attributes. */
  ck_assert_int_eq(req->in_idx[0], 1);
  ck_assert_int_eq(req->in_idx[1], 0);
  ck_assert_int_eq(req->out_idx[0], 1);
  ck_assert_int_eq(req->out_idx[1], 0);
  ck_assert_int_eq(req->proc, 0);
  /* 576 bytes by the strides, raised to the 49152-byte floor. */
  ck_assert_int_eq(count_log(D, "surface_new 49152"), 4);

  /* Element (c, h, w) of a is c * 100 + h * 10 + w; it lands at byte
   * c * 192 + h * 64 + w * 2 of a's surface. */
  Tensor t;
  ck_assert_int_eq(tensor_alloc(&t, MIL_FP32, 4, (int64_t[]){1, 3, 2, 8}), 0);
  for (int k = 0; k < 48; k++)
    ((float *)t.data)[k] = (float)(k / 16 * 100 + k / 8 % 2 * 10 + k % 8);
  ck_assert_int_eq(ane_set_input(r.state, 0, &t, &r.d), 0);
  tensor_free(&t);
  Obj *sa = bound_at(D, true, 0);
  uint16_t v;
  memcpy(&v, sa->bytes + 2 * 192 + 1 * 64 + 7 * 2, 2);
  ck_assert(fp16_to_float(v) == 217.0f);
  memcpy(&v, sa->bytes + 1 * 192 + 0 * 64 + 3 * 2, 2);
  ck_assert(fp16_to_float(v) == 103.0f);
  memcpy(&v, sa->bytes + 16, 2); /* padding after the first row stays 0 */
  ck_assert_uint_eq(v, 0);
  ck_assert_int_ge(find_log(D, "surface_write 96"), 0);

  /* Output z (MIL output 1) reads its surface at the same strides. */
  Obj *sz = bound_at(D, false, 1);
  uint16_t h = fp16_from_float(-5.0f);
  memcpy(sz->bytes + 2 * 192 + 1 * 64 + 4 * 2, &h, 2);
  ck_assert_int_eq(ane_get_output(r.state, 1, &t, &r.d), 0);
  ck_assert(tensor_get(&t, 2 * 16 + 1 * 8 + 4) == -5.0);
  ck_assert(tensor_get(&t, 0) == 0.0);
  tensor_free(&t);
  ane_close(r.state);
  assert_clean(D);
  run_free(&r);
}
END_TEST

/* Two functions numbered against their MIL order: the map decides, with or
 * without a "0@" prefix on the names. */
START_TEST(test_attrs_procedures) {
  static const SymSpec syms[] = {
      {1, false, "x", 0, 1, 256, 1, 1, 64, 256 * 128, 128, -1, 128},
      {1, true, "y@output", 0, 1, 256, 1, 1, 64, 256 * 128, 128, -1, 128},
      {0, false, "x", 3, 1, 256, 1, 1, 64, 256 * 128, 128, -1, 128},
      {0, true, "y@output", 2, 1, 256, 1, 1, 64, 256 * 128, 128, -1, 128},
  };
  static const AneProcName names[] = {{"0@main", 1}, {"other", 0}};
  for (int fn = 0; fn < 2; fn++) {
    MilProg *p = prog_small();
    add_relu_func(p, "other");
    set_attrs(syms, 4, names, 2);
    Run r;
    run_open_fn(&r, p, fn, 21, NULL, 0);
    set_attrs(NULL, 0, NULL, 0);
    ck_assert_msg(r.rc == 0, "%s", r.msg);
    Obj *req = request_of(r.D);
    ck_assert_int_eq(req->proc, fn == 0 ? 1 : 0);
    ck_assert_int_eq(req->in_idx[0], fn == 0 ? 0 : 3);
    ck_assert_int_eq(req->out_idx[0], fn == 0 ? 0 : 2);
    /* 256 planes of 128 bytes: 32768, raised to the floor. */
    ck_assert_int_eq(count_log(r.D, "surface_new 49152"), 2);
    ane_close(r.state);
    assert_clean(r.D);
    run_free(&r);
  }
  /* A function the map does not name is refused, listing what it has. */
  static const AneProcName other_names[] = {{"first", 0}, {"second", 1}};
  set_attrs(syms, 4, other_names, 2);
  Run r;
  run_open(&r, prog_small(), 21, NULL, 0);
  set_attrs(NULL, 0, NULL, 0);
  ck_assert_int_eq(r.rc, -1);
  ck_assert_ptr_nonnull(strstr(r.msg, "no procedure for function 'main' (it has 'first', "
                                      "'second')"));
  assert_clean(r.D);
  run_free(&r);
}
END_TEST

/* Attributes that do not fit the MIL are refused after load, cleanly. */
static void expect_attr_refusal(const SymSpec *syms, int n, const char *msg) {
  set_attrs(syms, n, NULL, 0);
  Run r;
  run_open(&r, prog_narrow(), 21, NULL, 0);
  set_attrs(NULL, 0, NULL, 0);
  ck_assert_int_eq(r.rc, -1);
  ck_assert_msg(strstr(r.msg, msg) != NULL, "got: %s", r.msg);
  ck_assert_int_eq(count_log(r.D, "request_new"), 0);
  assert_clean(r.D);
  run_free(&r);
}

START_TEST(test_attrs_refusals) {
  SymSpec s[4];
  memcpy(s, narrow_syms, sizeof s);
  s[1].name = "c";
  expect_attr_refusal(s, 4, "ane: the compiled program lists no input symbol for 'a'");
  memcpy(s, narrow_syms, sizeof s);
  s[1].symbol = 0;
  expect_attr_refusal(s, 4, "gives inputs 'a' and 'b' one symbol index, 0");
  memcpy(s, narrow_syms, sizeof s);
  s[2].rs = 8; /* rows of 16 bytes 8 apart overlap */
  expect_attr_refusal(s, 4, "lays out 'z@output' as 1 x 3 x 1 x 2 x 8 with strides 576, 192, "
                            "-1, 8 bytes");
  memcpy(s, narrow_syms, sizeof s);
  s[0].c = 4; /* more elements than the tensor */
  expect_attr_refusal(s, 4, "lays out 'b' as");
  memcpy(s, narrow_syms, sizeof s);
  s[3].w = 16;
  expect_attr_refusal(s, 4, "lays out 'y@output' as");
  memcpy(s, narrow_syms, sizeof s);
  s[3].symbol = 255;
  expect_attr_refusal(s, 4, "gives 'y@output' symbol index 255");
}
END_TEST

/* tests/cases/mil/seed-w8a8.mil: x and c1 are [1, 64, 8, 8] fp16, rows of
 * 16 bytes. Refused by the older rule, run when the compiled program says
 * where its rows go (here: 64 bytes apart, planes of 512). */
START_TEST(test_attrs_seed_w8a8) {
  Src src;
  Diag d = {.out = stderr};
  ck_assert_int_eq(src_read_file(&src, SRCDIR "/tests/cases/mil/seed-w8a8.mil", 1 << 20, &d), 0);
  static const SymSpec syms[] = {
      {0, false, "x", 0, 1, 64, 1, 8, 8, 64 * 512, 512, -1, 64},
      {0, true, "c1@output", 0, 1, 64, 1, 8, 8, 64 * 512, 512, -1, 64},
  };
  for (int with = 0; with < 2; with++) {
    MilProg *p = mil_parse(&src, &d);
    ck_assert_ptr_nonnull(p);
    set_attrs(syms, with ? 2 : 0, NULL, 0);
    Run r;
    run_open(&r, p, 21, NULL, 0);
    set_attrs(NULL, 0, NULL, 0);
    if (with) {
      ck_assert_msg(r.rc == 0, "%s", r.msg);
      ck_assert_int_eq(count_log(r.D, "surface_new 49152"), 2); /* 32768 by the strides */
      Tensor t;
      ck_assert_int_eq(tensor_alloc(&t, MIL_FP16, 4, (int64_t[]){1, 64, 8, 8}), 0);
      for (int k = 0; k < 64 * 64; k++)
        ((uint16_t *)t.data)[k] = fp16_from_float((float)(k % 64));
      ck_assert_int_eq(ane_set_input(r.state, 0, &t, &r.d), 0);
      tensor_free(&t);
      /* Element (c = 5, h = 3, w = 7) is k = 5 * 64 + 3 * 8 + 7 = 351, value
       * 351 % 64 = 31, at byte 5 * 512 + 3 * 64 + 7 * 2 = 2766. */
      uint16_t v;
      memcpy(&v, bound_at(r.D, true, 0)->bytes + 2766, 2);
      ck_assert(fp16_to_float(v) == 31.0f);
      ane_close(r.state);
    } else {
      ck_assert_int_eq(r.rc, -1);
      ck_assert_ptr_nonnull(strstr(r.msg, "ane: input 'x': its innermost dimension is 8 x 2 = 16 "
                                          "bytes, not a multiple of 64"));
    }
    assert_clean(r.D);
    run_free(&r);
  }
  src_free(&src);
}
END_TEST

/* No attributes: the alphabetical rule, said once on stderr; it still
 * needs 64-byte rows. */
START_TEST(test_attrs_missing) {
  Run r;
  run_open(&r, prog_small(), 21, NULL, 0);
  ck_assert_int_eq(r.rc, 0);
  ck_assert_str_eq(r.msg, "m: note: ane: this system reports no compiled attributes; inputs "
                          "and outputs are bound in alphabetical order of their names\n");
  ane_close(r.state);
  run_free(&r);

  run_open(&r, prog_narrow(), 21, NULL, 0);
  ck_assert_int_eq(r.rc, -1);
  ck_assert_ptr_nonnull(strstr(r.msg, "ane: input 'a': its innermost dimension is 8 x 2 = 16 "
                                      "bytes, not a multiple of 64"));
  assert_clean(r.D);
  run_free(&r);
}
END_TEST

/* ---- the sequence ----------------------------------------------------------- */

START_TEST(test_sequence) {
  Run r;
  run_open(&r, prog_small(), 21, NULL, 0);
  ck_assert_int_eq(r.rc, 0);
  ck_assert_ptr_nonnull(r.state);
  double ms = 7.5;
  ck_assert_int_eq(ane_eval(r.state, &ms, &r.d), 0);
  ck_assert(ms == 7.5); /* a measuring backend leaves the time alone */
  ane_close(r.state);

  char *mil = mil_print_string(r.p);
  char data_line[64];
  snprintf(data_line, sizeof data_line, "data_new %zu", strlen(mil));
  const char *want[] = {
      "pool_push", "framework_open", data_line, "weights_new", "descriptor_new", "release data",
      "release dict", "model_new", "release descriptor", "model_dir",
      "lock /tmp/ane-double/ABC123_DEF_0F.lock",
      "remove_tree /tmp/ane-double/ABC123_DEF_0F", "make_dir /tmp/ane-double/ABC123_DEF_0F",
      "write_file /tmp/ane-double/ABC123_DEF_0F/model.mil", "compile qos=21", "load qos=21",
      "model_attributes", "surface_new 49152", "surface_wrap", "surface_new 49152", "surface_wrap",
      "request_new in=1 out=1 proc=0", "pool_pop",
      /* eval */
      "pool_push", "evaluate qos=21", "pool_pop",
      /* close */
      "pool_push", "unload qos=21", "release request", "release wrap", "release wrap",
      "release model", "release surface", "release surface",
      "remove_tree /tmp/ane-double/ABC123_DEF_0F", "unlock /tmp/ane-double/ABC123_DEF_0F.lock",
      "pool_pop", "finish"};
  int nwant = (int)(sizeof want / sizeof want[0]);
  for (int i = 0; i < nwant && i < r.D->nlog; i++)
    ck_assert_str_eq(r.D->log[i], want[i]);
  ck_assert_int_eq(r.D->nlog, nwant);
  assert_clean(r.D);

  /* The MIL data the descriptor got is the printed program, byte for byte;
   * its weights dictionary is empty, never missing. */
  Obj *desc = NULL;
  for (int i = 0; i < r.D->nobj; i++)
    if (r.D->obj[i].kind == K_DESC)
      desc = &r.D->obj[i];
  ck_assert_ptr_nonnull(desc);
  Obj *text = &r.D->obj[desc->a], *dict = &r.D->obj[desc->b];
  ck_assert_int_eq(text->kind, K_DATA);
  ck_assert_uint_eq(text->n, strlen(mil));
  ck_assert(memcmp(text->bytes, mil, text->n) == 0);
  ck_assert_int_eq(dict->kind, K_DICT);
  ck_assert_int_eq(dict->nent, 0);
  free(mil);
  run_free(&r);
}
END_TEST

START_TEST(test_weights_dictionary) {
  Run r;
  run_open(&r, prog_two(), 21, NULL, 0);
  ck_assert_int_eq(r.rc, 0);
  Double *D = r.D;
  /* One entry per file, keyed by the exact MIL path, offset 0, the whole
   * file as data. */
  Obj *dict = NULL;
  for (int i = 0; i < D->nobj; i++)
    if (D->obj[i].kind == K_DICT)
      dict = &D->obj[i];
  ck_assert_ptr_nonnull(dict);
  ck_assert_int_eq(dict->nent, 2);
  ck_assert_str_eq(dict->ent[0].key, "@model_path/weights/weight.bin");
  ck_assert_str_eq(dict->ent[1].key, "@model_path/weights/more/b.bin");
  for (int k = 0; k < 2; k++)
    ck_assert_uint_eq(dict->ent[k].offset, 0);
  Obj *d0 = &D->obj[dict->ent[0].data], *d1 = &D->obj[dict->ent[1].data];
  ck_assert_uint_eq(d0->n, 200);
  ck_assert(memcmp(d0->bytes, weight_bytes, 200) == 0);
  ck_assert_uint_eq(d1->n, 72);
  ck_assert_int_ge(find_log(D, "weights_add @model_path/weights/weight.bin offset=0 len=200"), 0);
  ck_assert_int_ge(find_log(D, "weights_add @model_path/weights/more/b.bin offset=0 len=72"), 0);
  ck_assert_int_ge(find_log(D, "read_file /models/m/weights/weight.bin"), 0);
  ck_assert_int_ge(find_log(D, "read_file /models/m/weights/more/b.bin"), 0);
  ck_assert_int_eq(count_log(D, "read_file"), 2);

  /* The directory holds model.mil and the weight files at their MIL paths,
   * all written before compile. */
  const char *dir = "/tmp/ane-double/ABC123_DEF_0F";
  char *mil = mil_print_string(r.p);
  File *f = file_at(D, "/tmp/ane-double/ABC123_DEF_0F/model.mil");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(f->n, strlen(mil));
  ck_assert(memcmp(f->data, mil, f->n) == 0);
  free(mil);
  f = file_at(D, "/tmp/ane-double/ABC123_DEF_0F/weights/weight.bin");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(f->n, 200);
  ck_assert(memcmp(f->data, weight_bytes, 200) == 0);
  ck_assert_ptr_nonnull(file_at(D, "/tmp/ane-double/ABC123_DEF_0F/weights/more/b.bin"));
  int compile = find_log(D, "compile qos=21");
  ck_assert_int_lt(find_log(D, "write_file /tmp/ane-double/ABC123_DEF_0F/weights/weight.bin"),
                   compile);
  ck_assert_int_lt(find_log(D, "write_file /tmp/ane-double/ABC123_DEF_0F/weights/more/b.bin"),
                   compile);
  ck_assert_int_eq(nfiles_under(D, dir), 6); /* dir, model.mil, weights/, weight.bin, more/, b.bin */
  ane_close(r.state);
  assert_clean(D);
  run_free(&r);
}
END_TEST

START_TEST(test_binding_and_sizes) {
  Run r;
  run_open(&r, prog_two(), 21, NULL, 0);
  ck_assert_int_eq(r.rc, 0);
  Double *D = r.D;
  /* Every surface is as large as the largest tensor (b_in: 512 x 64 x 2 =
   * 65536 bytes), never below 49152. */
  ck_assert_int_eq(count_log(D, "surface_new 65536"), 4);
  ck_assert_int_eq(count_log(D, "surface_new"), 4);
  Obj *req = request_of(D);
  ck_assert_int_eq(req->nin, 2);
  ck_assert_int_eq(req->nout, 2);
  ck_assert_int_eq(req->proc, 0);
  /* Surfaces in MIL order, numbered in alphabetical order: b_in 1, a_in 0,
   * z_out 1, m_out 0. */
  ck_assert_int_eq(req->in_idx[0], 1);
  ck_assert_int_eq(req->in_idx[1], 0);
  ck_assert_int_eq(req->out_idx[0], 1);
  ck_assert_int_eq(req->out_idx[1], 0);

  /* Input 0 is b_in (declared first), which sorts second: its bytes land in
   * the request's second input surface. 1.0 is fp16 0x3C00. */
  Tensor t;
  ck_assert_int_eq(tensor_alloc(&t, MIL_FP16, 4, (int64_t[]){1, 512, 1, 64}), 0);
  for (int64_t k = 0; k < tensor_numel(&t); k++)
    ((uint16_t *)t.data)[k] = 0x3C00;
  ck_assert_int_eq(ane_set_input(r.state, 0, &t, &r.d), 0);
  tensor_free(&t);
  Obj *s_b = bound(D, true, 1), *s_a = bound(D, true, 0);
  ck_assert_uint_eq(s_b->bytes[0], 0x00);
  ck_assert_uint_eq(s_b->bytes[1], 0x3C);
  ck_assert_uint_eq(s_b->bytes[65534], 0x00);
  ck_assert_uint_eq(s_b->bytes[65535], 0x3C);
  ck_assert_uint_eq(s_a->bytes[1], 0x00);

  /* Input 1 is a_in, sorted first; an fp32 tensor is converted: 0.5 is
   * fp16 0x3800, -2 is 0xC000. */
  ck_assert_int_eq(tensor_alloc(&t, MIL_FP32, 4, (int64_t[]){1, 32, 1, 64}), 0);
  ((float *)t.data)[0] = 0.5f;
  ((float *)t.data)[1] = -2.0f;
  /* Element (c = 3, s = 5) of [1, 32, 1, 64]: 4.0, fp16 0x4400. The surface
   * is packed channel-major, (c * S + s) * 2 = (3 * 64 + 5) * 2 = byte 394
   * (ANE_API.md 5.2). */
  ((float *)t.data)[3 * 64 + 5] = 4.0f;
  ck_assert_int_eq(ane_set_input(r.state, 1, &t, &r.d), 0);
  tensor_free(&t);
  ck_assert_uint_eq(s_a->bytes[0], 0x00);
  ck_assert_uint_eq(s_a->bytes[1], 0x38);
  ck_assert_uint_eq(s_a->bytes[2], 0x00);
  ck_assert_uint_eq(s_a->bytes[3], 0xC0);
  ck_assert_uint_eq(s_a->bytes[394], 0x00);
  ck_assert_uint_eq(s_a->bytes[395], 0x44);
  ck_assert_uint_eq(s_a->bytes[393], 0x00); /* its neighbours stay 0 */
  ck_assert_uint_eq(s_a->bytes[397], 0x00);
  ck_assert_int_ge(find_log(D, "surface_write 4096"), 0);

  /* Output 0 is z_out, sorted second; output 1 is m_out, sorted first. */
  Obj *o_m = bound(D, false, 0), *o_z = bound(D, false, 1);
  o_z->bytes[0] = 0x00;
  o_z->bytes[1] = 0x40; /* 2.0 */
  o_m->bytes[0] = 0x00;
  o_m->bytes[1] = 0xBC; /* -1.0 */
  ck_assert_int_eq(ane_get_output(r.state, 0, &t, &r.d), 0);
  ck_assert_int_eq(t.dtype, MIL_FP16);
  ck_assert_int_eq(t.rank, 4);
  ck_assert_int_eq(t.dim[1], 512);
  ck_assert(tensor_get(&t, 0) == 2.0);
  tensor_free(&t);
  ck_assert_int_eq(ane_get_output(r.state, 1, &t, &r.d), 0);
  ck_assert_int_eq(t.dim[1], 32);
  ck_assert(tensor_get(&t, 0) == -1.0);
  tensor_free(&t);
  ck_assert_int_ge(find_log(D, "surface_read 4096"), 0);

  /* A tensor of the wrong shape is refused. */
  ck_assert_int_eq(tensor_alloc(&t, MIL_FP16, 4, (int64_t[]){1, 32, 1, 32}), 0);
  ck_assert_int_eq(ane_set_input(r.state, 1, &t, &r.d), -1);
  tensor_free(&t);
  fflush(r.out);
  ck_assert_ptr_nonnull(strstr(r.msg, "input 'a_in' has shape [1, 32, 1, 64]; the tensor given "
                                      "is [1, 32, 1, 32]"));
  ane_close(r.state);
  assert_clean(D);
  run_free(&r);
}
END_TEST

START_TEST(test_qos) {
  Run r;
  run_open(&r, prog_small(), 9, NULL, 0);
  ck_assert_int_eq(r.rc, 0);
  ck_assert_int_eq(ane_eval(r.state, NULL, &r.d), 0);
  ane_close(r.state);
  ck_assert_int_ge(find_log(r.D, "compile qos=9"), 0);
  ck_assert_int_ge(find_log(r.D, "load qos=9"), 0);
  ck_assert_int_ge(find_log(r.D, "evaluate qos=9"), 0);
  ck_assert_int_ge(find_log(r.D, "unload qos=9"), 0);
  ck_assert_int_eq(count_log(r.D, "compile qos=9") + count_log(r.D, "load qos=9") +
                       count_log(r.D, "evaluate qos=9") + count_log(r.D, "unload qos=9"),
                   4);
  run_free(&r);

  /* 40 is no QoS class: refused before the framework is touched. */
  run_open(&r, prog_small(), 40, NULL, 0);
  ck_assert_int_eq(r.rc, -1);
  ck_assert_ptr_nonnull(strstr(r.msg, "m: error: ane: QoS 40 is not a class"));
  ck_assert_int_eq(count_log(r.D, "framework_open"), 0);
  assert_clean(r.D);
  run_free(&r);
}
END_TEST

/* Outputs are numbered by their compiled names, "<name>@output": ANE_API.md
 * 5.4 reports a function returning (y, y2) with y2@output as symbol 0. By
 * ASCII, '2' (0x32) < '@' (0x40) < '_' (0x5f), so (y, y2, y_b) is numbered
 * y2, y, y_b. */
START_TEST(test_output_symbol_order) {
  MilProg *p = mil_new("1.3");
  MilFunc *f = mil_add_func(p, "main", "ios18");
  MilType *t = fp16_type(p, 32, 64);
  mil_add_input(p, f, t, "x");
  add_unary(p, f, "relu", "x", "y", t);
  add_unary(p, f, "relu", "x", "y2", t);
  add_unary(p, f, "relu", "x", "y_b", t);
  mil_add_output(p, f, "y");
  mil_add_output(p, f, "y2");
  mil_add_output(p, f, "y_b");
  Run r;
  run_open(&r, p, 21, NULL, 0);
  ck_assert_int_eq(r.rc, 0);
  Obj *req = request_of(r.D);
  ck_assert_int_eq(req->nout, 3);
  static const int sym[3] = {1, 0, 2}; /* y, y2, y_b */
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(req->out_idx[i], sym[i]);
  /* Mark request output k with fp16 k + 1 (0x3C00 = 1, 0x4000 = 2,
   * 0x4200 = 3) and see which output of the function reads it. */
  static const unsigned char hi[3] = {0x3C, 0x40, 0x42};
  for (int k = 0; k < 3; k++)
    bound(r.D, false, k)->bytes[1] = hi[k];
  static const double want[3] = {2.0, 1.0, 3.0}; /* y, y2, y_b */
  for (int i = 0; i < 3; i++) {
    Tensor o;
    ck_assert_int_eq(ane_get_output(r.state, i, &o, &r.d), 0);
    ck_assert_msg(tensor_get(&o, 0) == want[i], "output %d read %g", i, tensor_get(&o, 0));
    tensor_free(&o);
  }
  ane_close(r.state);
  assert_clean(r.D);
  run_free(&r);
}
END_TEST

/* The step each failing call reports. */
static const char *step_of(const char *call, int nth) {
  static const struct {
    const char *call, *step;
  } steps[] = {
      {"framework_open", "framework"},   {"read_file", "reading weights"},
      {"weights_new", "weights dictionary"}, {"weights_add", "weights dictionary"},
      {"descriptor_new", "descriptor"},  {"model_new", "model"},
      {"model_dir", "model directory"},  {"model_attributes", "model attributes"},
      {"lock", "model directory lock"},
      {"remove_tree", "model directory"}, {"make_dir", "model directory"},
      {"write_file", "model directory"}, {"compile", "compile"},
      {"load", "load"},                  {"surface_new", "surface"},
      {"surface_wrap", "surface"},       {"request_new", "request"},
  };
  if (strcmp(call, "data_new") == 0)
    return nth == 1 ? "MIL data" : "weights dictionary";
  for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
    if (strcmp(call, steps[i].call) == 0)
      return steps[i].step;
  return NULL;
}

/* Runs a successful open to list every call, then fails each call in turn:
 * open returns -1 naming the step and the injected reason, every object is
 * released, the pools balance, the directory is gone, and the model is
 * unloaded exactly when it had been loaded. */
START_TEST(test_failure_at_each_step) {
  Run ok;
  run_open(&ok, prog_two(), 21, NULL, 0);
  ck_assert_int_eq(ok.rc, 0);
  int nsteps = 0;
  for (int i = 0; i < ok.D->nlog; i++) {
    char name[64];
    sscanf(ok.D->log[i], "%63s", name);
    if (strcmp(name, "pool_push") == 0 || strcmp(name, "pool_pop") == 0 ||
        strncmp(ok.D->log[i], "release", 7) == 0)
      continue;
    int nth = 0;
    for (int j = 0; j <= i; j++) {
      char other[64];
      sscanf(ok.D->log[j], "%63s", other);
      nth += strcmp(other, name) == 0;
    }
    const char *step = step_of(name, nth);
    ck_assert_msg(step != NULL, "no step known for %s", name);

    Run r;
    run_open(&r, prog_two(), 21, name, nth);
    ck_assert_msg(r.rc == -1, "open succeeded although %s #%d failed", name, nth);
    ck_assert_ptr_null(r.state);
    char want[160];
    snprintf(want, sizeof want, "m: error: ane: %s failed: injected %s failure\n", step, name);
    /* After the note that says how inputs and outputs were bound, if any. */
    size_t nmsg = strlen(r.msg), nwant = strlen(want);
    ck_assert_msg(nmsg >= nwant && strcmp(r.msg + nmsg - nwant, want) == 0, "%s", r.msg);
    assert_clean(r.D);
    bool loaded = find_log(r.D, "load qos=21") >= 0 && strcmp(name, "load") != 0;
    ck_assert_int_eq(count_log(r.D, "unload"), (loaded ? 1 : 0));
    /* The model's own directory is never touched. */
    ck_assert_int_eq(nfiles_under(r.D, "/models/m"), 5);
    run_free(&r);
    nsteps++;
  }
  /* framework, read x2, data x3, weights_new, add x2, descriptor, model,
   * directory, lock, remove, mkdir x4, write x3, compile, load,
   * attributes, surface x8, request. */
  ck_assert_int_eq(nsteps, 33);
  ane_close(ok.state);
  run_free(&ok);
}
END_TEST

START_TEST(test_eval_failure) {
  Run r;
  run_open(&r, prog_small(), 21, "evaluate", 2);
  ck_assert_int_eq(r.rc, 0);
  ck_assert_int_eq(ane_eval(r.state, NULL, &r.d), 0);
  ck_assert_int_eq(ane_eval(r.state, NULL, &r.d), -1);
  fflush(r.out);
  ck_assert_ptr_nonnull(strstr(r.msg, "\nm: error: ane: evaluate failed: injected evaluate "
                                      "failure\n"));
  ck_assert_int_eq(r.D->open_pools, 0);
  ane_close(r.state);
  assert_clean(r.D);
  run_free(&r);
}
END_TEST

/* Programs the backend refuses before touching the framework. */
static void expect_refusal(MilProg *p, const char *msg) {
  Run r;
  run_open(&r, p, 21, NULL, 0);
  ck_assert_int_eq(r.rc, -1);
  ck_assert_msg(strstr(r.msg, msg) != NULL, "got: %s", r.msg);
  ck_assert_int_eq(count_log(r.D, "framework_open"), 0);
  assert_clean(r.D);
  run_free(&r);
}

START_TEST(test_refusals) {
  MilProg *p = prog_small();
  p->funcs[0].inputs[0].type = mil_tensor_type(p, MIL_FP16, 2, (int64_t[]){MIL_DIM_ANY, 64});
  expect_refusal(p, "ane: input 'x' has dimension 0 of unknown or zero size");

  p = prog_small();
  p->funcs[0].inputs[0].type = mil_tensor_type(p, MIL_INT32, 2, (int64_t[]){1, 64});
  expect_refusal(p, "ane: input 'x' is int32; ANE surfaces carry fp16 or fp32");

  p = prog_small();
  add_blob_const(p, &p->funcs[0], "w", "weights/weight.bin", 64);
  expect_refusal(p, "ane: weight file 'weights/weight.bin' is not under @model_path/");

  p = prog_small();
  add_blob_const(p, &p->funcs[0], "w", "@model_path/../../etc/passwd", 64);
  expect_refusal(p, "does not name a file inside the model directory");

  p = prog_small();
  add_blob_const(p, &p->funcs[0], "w", "@model_path/weights/", 64);
  expect_refusal(p, "does not name a file inside the model directory");

  /* The framework writes these names into the model directory itself. */
  static const char *const mine[] = {"model.mil", "net.plist", "data", "data/w.bin"};
  for (int k = 0; k < 4; k++) {
    char path[64], msg[160];
    snprintf(path, sizeof path, "@model_path/%s", mine[k]);
    snprintf(msg, sizeof msg, "ane: weight file '%s' would land on '%.9s', which the framework "
             "writes", path, mine[k]);
    if (k == 3)
      snprintf(msg, sizeof msg, "would land on 'data', which the framework writes");
    p = prog_small();
    add_blob_const(p, &p->funcs[0], "w", path, 64);
    expect_refusal(p, msg);
  }
  p = prog_small();
  add_blob_const(p, &p->funcs[0], "w", "@model_path/database.bin", 64);
  Run r;
  run_open(&r, p, 21, "read_file", 1); /* got past the name check */
  ck_assert_ptr_nonnull(strstr(r.msg, "reading weights failed"));
  run_free(&r);

  p = prog_small();
  mil_add_input(p, &p->funcs[0], fp16_type(p, 1, 64), "x");
  expect_refusal(p, "ane: two inputs are named 'x'");

  p = prog_small();
  mil_add_output(p, &p->funcs[0], "nowhere");
  expect_refusal(p, "ane: output 'nowhere' is not a tensor");
}
END_TEST

START_TEST(test_no_model_dir) {
  Run r;
  memset(&r, 0, sizeof r);
  r.D = double_new();
  r.p = prog_two();
  r.m = model_of(r.p);
  r.m.dir = NULL;
  r.out = open_memstream(&r.msg, &r.msglen);
  r.d = (Diag){.out = r.out};
  AneApi api = double_api(r.D);
  ck_assert_int_eq(ane_open_with(&api, &r.m, NULL, &r.state, &r.d), -1);
  fflush(r.out);
  ck_assert_ptr_nonnull(strstr(r.msg, "names weight files but has no model directory"));
  assert_clean(r.D);
  run_free(&r);
}
END_TEST

START_TEST(test_device_info) {
  Double *D = double_new();
  snprintf(D->info.sub_type, sizeof D->info.sub_type, "h17");
  snprintf(D->info.arch_type, sizeof D->info.arch_type, "h17g");
  D->info.num_anes = 1;
  D->info.num_cores = 2;
  AneApi api = double_api(D);
  Diag d = {.out = stderr};
  AneDeviceInfo info;
  ck_assert_int_eq(ane_device_info(&api, &info, &d), 0);
  ck_assert_str_eq(info.sub_type, "h17");
  ck_assert_uint_eq(info.num_cores, 2);
  ck_assert_str_eq(ane_chip(&info)->name, "M5");
  ck_assert_int_eq(D->open_pools, 0);
  ck_assert_int_eq(D->finished, 0); /* the caller's table, the caller's to finish */

  /* Only the architecture known: still found; nothing known: no chip. */
  AneDeviceInfo only = {.arch_type = "h16g"};
  ck_assert_str_eq(ane_chip(&only)->name, "M4");
  AneDeviceInfo none = {.sub_type = "h99"};
  ck_assert_ptr_null(ane_chip(&none));
  double_free(D);
}
END_TEST

/* ---- chips --------------------------------------------------------------- */

/* The seed printed, for M5 (type h17, IP clock 2448 MHz): FP16 peak 20.05
 * TFLOPS/cluster, INT8 peak 40.11; 18.22 TFLOPS = 90.9 % at est. 278 MHz;
 * 34.22 TOPS W8A8 = 170.6 % of fp16, 85.3 % of int8, est. 522 MHz. */
START_TEST(test_chip_seed_figures) {
  const Chip *m5 = chip_find("M5");
  ck_assert_ptr_nonnull(m5);
  ck_assert(chip_ops_per_cycle(CHIP_FP16) == 65536);
  ck_assert(chip_ops_per_cycle(CHIP_INT8) == 131072);
  ck_assert_double_eq_tol(chip_peak_tops(m5, CHIP_FP16), 20.05, 0.005);
  ck_assert_double_eq_tol(chip_peak_tops(m5, CHIP_INT8), 40.11, 0.005);
  ck_assert_double_eq_tol(chip_pct_peak(m5, CHIP_FP16, 18.22), 90.9, 0.05);
  ck_assert_double_eq_tol(chip_est_mhz(m5, 18.22), 278, 0.5);
  ck_assert_double_eq_tol(chip_pct_peak(m5, CHIP_FP16, 34.22), 170.6, 0.05);
  ck_assert_double_eq_tol(chip_pct_peak(m5, CHIP_INT8, 34.22), 85.3, 0.05);
  ck_assert_double_eq_tol(chip_est_mhz(m5, 34.22), 522, 0.5);
  /* h13: 2100 / 8 = 262.5 MHz x 65536 = 17.2 TFLOPS. */
  ck_assert_double_eq_tol(chip_peak_tops(chip_find("M1"), CHIP_FP16), 17.2032, 1e-4);
}
END_TEST

START_TEST(test_chip_unknowns) {
  /* No invented numbers: no clock, no % of peak; no chip, nothing. */
  const Chip *m4 = chip_find("m4");
  ck_assert_ptr_nonnull(m4);
  ck_assert_str_eq(m4->name, "M4");
  ck_assert(isnan(chip_peak_tops(m4, CHIP_FP16)));
  ck_assert(isnan(chip_pct_peak(m4, CHIP_FP16, 18.6)));
  ck_assert(isnan(chip_peak_tops(NULL, CHIP_FP16)));
  ck_assert(isnan(chip_pct_peak(NULL, CHIP_INT8, 30)));
  ck_assert(isnan(chip_est_mhz(NULL, 18)));
  ck_assert_ptr_null(chip_find("h12"));
  ck_assert_ptr_null(chip_find("h170"));
  ck_assert_ptr_null(chip_find(""));
  ck_assert_ptr_null(chip_find(NULL));
  ck_assert_str_eq(chip_find("H17G")->name, "M5");
  ck_assert_str_eq(chip_find("h15g")->name, "M3");
  ck_assert_str_eq(chip_find("h18g")->name, "M6");
  ck_assert_str_eq(chip_find("m5 max")->name, "M5 Max");
  int n = 0;
  const Chip *all = chip_table(&n);
  ck_assert_int_ge(n, 13);
  for (int i = 0; i < n; i++) {
    ck_assert(!(all[i].int8_peak_tops > 0) || all[i].fp16_peak_tflops > 0);
    ck_assert(!(all[i].ip_mhz > 0) || all[i].hgen != NULL);
  }
}
END_TEST

/* ---- POSIX files ----------------------------------------------------------- */

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, ms % 1000 * 1000000L};
  nanosleep(&ts, NULL);
}

/* A second process waits for the lock until the first unlocks, and finds
 * what the first wrote before unlocking; the file goes with the unlock. */
START_TEST(test_fs_lock) {
  char root[] = "/tmp/test_ane_lock_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(root));
  char lock[256], mark[256];
  snprintf(lock, sizeof lock, "%s/m.lock", root);
  snprintf(mark, sizeof mark, "%s/first-done", root);
  AneErr e = {{0}};
  int h;
  ck_assert_int_eq(ane_fs_lock(NULL, lock, &h, &e), 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    int h2;
    AneErr e2 = {{0}};
    if (ane_fs_lock(NULL, lock, &h2, &e2) < 0)
      _exit(2);
    struct stat st;
    int done = stat(mark, &st) == 0;
    ane_fs_unlock(NULL, lock, h2);
    _exit(done ? 0 : 1);
  }
  sleep_ms(300); /* the child is waiting by now */
  FILE *f = fopen(mark, "w");
  ck_assert_ptr_nonnull(f);
  fclose(f);
  ane_fs_unlock(NULL, lock, h);
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFEXITED(status));
  ck_assert_int_eq(WEXITSTATUS(status), 0);
  struct stat st;
  ck_assert_int_eq(stat(lock, &st), -1);
  ck_assert_int_eq(unlink(mark), 0);
  ck_assert_int_eq(rmdir(root), 0);
  /* A lock file that cannot be made says why. */
  ck_assert_int_eq(ane_fs_lock(NULL, "/nonexistent-dir/x.lock", &h, &e), -1);
  ck_assert_ptr_nonnull(strstr(e.msg, "cannot create lock file /nonexistent-dir/x.lock"));
}
END_TEST

START_TEST(test_fs) {
  char root[] = "/tmp/test_ane_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(root));
  char a[256], b[256], c[256];
  snprintf(a, sizeof a, "%s/model", root);
  snprintf(b, sizeof b, "%s/model/weights", root);
  snprintf(c, sizeof c, "%s/model/weights/weight.bin", root);
  AneErr e = {{0}};
  ck_assert_int_eq(ane_fs_make_dir(NULL, a, &e), 0);
  ck_assert_int_eq(ane_fs_make_dir(NULL, a, &e), 0); /* already there */
  ck_assert_int_eq(ane_fs_make_dir(NULL, b, &e), 0);
  ck_assert_int_eq(ane_fs_write_file(NULL, c, "hello", 5, &e), 0);
  void *data;
  size_t n;
  ck_assert_int_eq(ane_fs_read_file(NULL, c, 5, &data, &n, &e), 0);
  ck_assert_uint_eq(n, 5);
  ck_assert(memcmp(data, "hello", 5) == 0);
  free(data);
  ck_assert_int_eq(ane_fs_read_file(NULL, c, 4, &data, &n, &e), -1);
  ck_assert_ptr_nonnull(strstr(e.msg, "larger than the limit"));
  ck_assert_int_eq(ane_fs_read_file(NULL, b, 100, &data, &n, &e), -1);
  ck_assert_ptr_nonnull(strstr(e.msg, "not a regular file"));
  /* A file where a directory should go. */
  ck_assert_int_eq(ane_fs_make_dir(NULL, c, &e), -1);
  ck_assert_ptr_nonnull(strstr(e.msg, "cannot create directory"));
  /* Many entries, so removal cannot rely on one readdir pass. */
  for (int i = 0; i < 300; i++) {
    char f[300];
    snprintf(f, sizeof f, "%s/f%03d", b, i);
    ck_assert_int_eq(ane_fs_write_file(NULL, f, "x", 1, &e), 0);
  }
  /* A symlink is removed, not followed. */
  char keep[300], link[300];
  snprintf(keep, sizeof keep, "%s/keep", root);
  snprintf(link, sizeof link, "%s/link", b);
  ck_assert_int_eq(ane_fs_write_file(NULL, keep, "k", 1, &e), 0);
  ck_assert_int_eq(symlink(root, link), 0);
  ck_assert_int_eq(ane_fs_remove_tree(NULL, a, &e), 0);
  struct stat st;
  ck_assert_int_eq(stat(a, &st), -1);
  ck_assert_int_eq(stat(keep, &st), 0);
  ck_assert_int_eq(ane_fs_remove_tree(NULL, a, &e), 0); /* gone already: fine */
  ck_assert_int_eq(ane_fs_read_file(NULL, c, 100, &data, &n, &e), -1);
  ck_assert_int_eq(ane_fs_remove_tree(NULL, root, &e), 0);
  ck_assert_int_eq(stat(root, &st), -1);
}
END_TEST


/* ---- anerun --bisect over the double ----------------------------------------- */

static MilProg *volatile chain_prog;   /* reachable from a child too */

/* x [1,512,1,64] -> op_0 ... op_{n-1} (relu and add with a const, in
 * turn) -> y; the consts come first, as anetc hoists them. */
static MilProg *prog_chain(int n) {
  MilProg *p = chain_prog = mil_new("1.3");
  MilFunc *f = mil_add_func(p, "main", "ios18");
  MilType *t = fp16_type(p, 512, 64);
  mil_add_input(p, f, t, "x");
  MilOp *c = mil_add_op(p, f, "const");
  mil_op_out(p, c, mil_scalar_type(p, MIL_FP16), "one");
  mil_op_attr(p, c, "name", mil_scalar_s(p, "one"));
  mil_op_attr(p, c, "val", mil_scalar_f(p, MIL_FP16, 1.0));
  const char *prev = "x";
  for (int i = 0; i < n; i++) {
    const char *name = mil_printf(p, i == n - 1 ? "y" : "op_%d", i);
    MilOp *o = mil_add_op(p, f, i % 2 ? "add" : "relu");
    mil_op_ref(p, o, "x", prev);
    if (i % 2)
      mil_op_ref(p, o, "y", "one");
    mil_op_attr(p, o, "name", mil_scalar_s(p, name));
    mil_op_out(p, o, t, name);
    prev = name;
  }
  mil_add_output(p, f, "y");
  return p;
}

/* Kept reachable: a child of the search exits without freeing, and
 * valgrind counts what nothing points to as lost. */
static Double *volatile child_double;

/* The child's table: a fresh double whose compiler refuses arg's op. */
static int refusing_double(AneApi *api, void *arg) {
  Double *D = child_double = double_new();
  snprintf(D->fail_op, sizeof D->fail_op, "%s", (const char *)arg);
  *api = double_api(D);
  return 0;
}

/* A double whose load fails: not the compiler's answer. */
static int failing_load_double(AneApi *api, void *arg) {
  Double *D = child_double = double_new();
  snprintf(D->fail, sizeof D->fail, "load");
  D->fail_nth = 1;
  *api = double_api(D);
  return 0;
}

static int ceil_log2(int n) {
  int k = 0;
  while ((1 << k) < n)
    k++;
  return k;
}

/* The bisection finds exactly the op the compiler refuses, first, middle
 * or last of 1, 2, 7 and 40 ops, in 1 + ceil(log2 n) compiles; a program
 * that compiles takes one. */
START_TEST(test_bisect_finds_op) {
  static const int sizes[] = {1, 2, 7, 40};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    int n = sizes[s];
    MilProg *p = prog_chain(n);
    Model m = model_of(p);
    int at[] = {0, n / 2, n - 1};
    for (int k = 0; k < 3; k++) {
      const char *name = at[k] == n - 1 ? "y" : mil_printf(p, "op_%d", at[k]);
      Bisect r;
      Diag d = {stderr, 0};
      BisectAne a = {refusing_double, (void *)name, ANE_QOS_DEFAULT};
      ck_assert_int_eq(bisect_run(&m, bisect_ane_compile, &a, &r, &d), 0);
      ck_assert_int_eq(r.nops, n);
      ck_assert_int_ge(r.bad, 0);
      ck_assert_str_eq(p->funcs[0].ops[r.bad].outs[0].name, name);
      ck_assert_int_eq(r.bad, at[k] + 1);   /* after the const */
      ck_assert_int_le(r.compiles, 1 + ceil_log2(n));
      ck_assert_int_eq(r.mil_line, 4 + r.bad);   /* program, {, func, then the ops */
      char *text = mil_print_string(p), *line = text, needle[80];
      for (int l = 1; l < r.mil_line; l++)
        line = strchr(line, '\n') + 1;
      snprintf(needle, sizeof needle, "> %s = ", name);
      ck_assert_msg(strstr(line, needle) && strstr(line, needle) < strchr(line, '\n'), "%s", line);
      free(text);
      ck_assert_msg(strstr(r.msg, "ANECCompile() FAILED"), "%s", r.msg);
    }
    Bisect r;
    Diag d = {stderr, 0};
    BisectAne a = {refusing_double, (void *)"nothing", ANE_QOS_DEFAULT};
    ck_assert_int_eq(bisect_run(&m, bisect_ane_compile, &a, &r, &d), 0);
    ck_assert_int_eq(r.bad, -1);
    ck_assert_int_eq(r.compiles, 1);
    mil_free(p);
  }
}
END_TEST

/* What anerun prints: the op, its MIL line, the .anet line its loc points
 * to, the compiler's words; a failure that is not a compile is an error. */
START_TEST(test_bisect_report) {
  MilProg *p = prog_chain(7);
  Model m = model_of(p);
  static const char anet_text[] = "network n {\n    input x: fp16[1, 512, 1, 64]\n    relu\n}\n";
  Src anet = {"n.anet", anet_text, strlen(anet_text)};
  p->funcs[0].ops[4].loc = (Loc){49, 53};   /* op_3: "relu" on line 3, column 5 */
  ck_assert_int_eq(anet_text[49], 'r');
  Bisect r;
  Diag d = {stderr, 0};
  BisectAne a = {refusing_double, (void *)"op_3", ANE_QOS_DEFAULT};
  ck_assert_int_eq(bisect_run(&m, bisect_ane_compile, &a, &r, &d), 0);
  char *text = NULL;
  size_t n = 0;
  FILE *out = open_memstream(&text, &n);
  bisect_print(out, &m, "m/model.mil", manifest_op_source(NULL, &p->funcs[0].ops[r.bad], &anet), &r);
  fclose(out);
  const char *dump = getenv("ANE_BISECT_DUMP");   /* docs/ane.md's example */
  FILE *df = dump ? fopen(dump, "w") : NULL;
  if (df) {
    fputs(text, df);
    fclose(df);
  }
  ck_assert_msg(strstr(text, "m: the first op the compiler refuses is 'op_3' (add, op 4 of 7)\n"
                       "m/model.mil:8: the op's MIL statement\n"
                       "n.anet:3:5: the .anet line it came from\n"
                       "  the compiler said: ANECCompile() FAILED at op_3\n"), "%s", text);
  free(text);
  /* a model directory anetc wrote: the line comes from its anet.json */
  static const char json[] =
      "{\"schema\": \"anet-manifest\", \"schema_version\": 1, \"network\": \"n\", "
      "\"point\": null, \"source\": \"src/n.anet\", \"ops\": [\n"
      " {\"name\": \"one\", \"op\": \"const\", \"line\": 0, \"col\": 0},\n"
      " {\"name\": \"op_2\", \"op\": \"relu\", \"line\": 6, \"col\": 5},\n"
      " {\"name\": \"op_3\", \"op\": \"add\", \"line\": 7, \"col\": 9}]}\n";
  Src js = {"anet.json", json, strlen(json)};
  Manifest man;
  ck_assert_int_eq(manifest_parse(&js, &man, &d), 0);
  ManifestSource from = manifest_op_source(&man, &p->funcs[0].ops[r.bad], NULL);
  ck_assert_str_eq(from.file, "src/n.anet");
  ck_assert_int_eq(from.line, 7);
  ck_assert_int_eq(from.col, 9);
  ck_assert_ptr_null(manifest_op_source(&man, &p->funcs[0].ops[1], NULL).file);   /* op_0: not in it */
  ck_assert_ptr_null(manifest_op_source(&man, &p->funcs[0].ops[0], NULL).file);   /* the const: line 0 */
  /* without an entry, the place the op's loc points to, if it lies in the text */
  from = manifest_op_source(&man, &p->funcs[0].ops[4], &anet);
  ck_assert_str_eq(from.file, "src/n.anet");   /* op_3 has an entry: the manifest's place */
  p->funcs[0].ops[2].loc = (Loc){49, 53};
  from = manifest_op_source(&man, &p->funcs[0].ops[2], &anet);   /* op_1: no entry */
  ck_assert_str_eq(from.file, "n.anet");
  ck_assert_int_eq(from.line, 3);
  ck_assert_int_eq(from.col, 5);
  p->funcs[0].ops[2].loc = (Loc){49, sizeof anet_text};   /* past the text's end */
  ck_assert_ptr_null(manifest_op_source(&man, &p->funcs[0].ops[2], &anet).file);
  ck_assert_ptr_null(manifest_op_source(&man, NULL, &anet).file);
  manifest_free(&man);
  char *msgs = NULL;
  out = open_memstream(&msgs, &n);
  d = (Diag){out, 0};
  BisectAne bad = {failing_load_double, NULL, ANE_QOS_DEFAULT};
  ck_assert_int_eq(bisect_run(&m, bisect_ane_compile, &bad, &r, &d), -1);
  fclose(out);
  ck_assert_msg(strstr(msgs, "m: error: bisect: the compile could not be tried: m: error: ane: "
                       "load failed: injected load failure"), "%s", msgs);
  free(msgs);
  mil_free(p);
}
END_TEST

/* A prefix's outputs are its live values: what later ops or the function's
 * outputs read; its consts are those it reads. */
START_TEST(test_bisect_prefix_live_values) {
  MilProg *p = prog_chain(4);   /* const one; op_0 relu; op_1 add; op_2 relu; y add */
  MilFunc *f = &p->funcs[0];
  MilOp *extra = mil_add_op(p, f, "add");   /* z = op_0 + y: op_0 stays live to the end */
  mil_op_ref(p, extra, "x", "op_0");
  mil_op_ref(p, extra, "y", "y");
  mil_op_attr(p, extra, "name", mil_scalar_s(p, "z"));
  mil_op_out(p, extra, f->ops[1].outs[0].type, "z");
  mil_add_output(p, f, "z");
  MilProg *q = bisect_prefix(p, f, 1);   /* const, op_0: no op reads the const */
  ck_assert_int_eq(q->funcs[0].nops, 1);
  ck_assert_int_eq(q->funcs[0].noutputs, 1);
  ck_assert_str_eq(q->funcs[0].outputs[0], "op_0");
  bisect_prefix_free(q);
  q = bisect_prefix(p, f, 3);   /* const, op_0, op_1, op_2: op_0 and op_2 live */
  ck_assert_int_eq(q->funcs[0].nops, 4);
  ck_assert_int_eq(q->funcs[0].noutputs, 2);
  ck_assert_str_eq(q->funcs[0].outputs[0], "op_0");
  ck_assert_str_eq(q->funcs[0].outputs[1], "op_2");
  char *text = mil_print_string(q);
  ck_assert_msg(strstr(text, "} -> (op_0, op_2);"), "%s", text);
  free(text);
  bisect_prefix_free(q);
  mil_free(p);
}
END_TEST

static Suite *ane_suite(void) {
  Suite *s = suite_create("ane");
  TCase *tc = tcase_create("backend");
  tcase_add_test(tc, test_sequence);
  tcase_add_test(tc, test_second_function_refused);
  tcase_add_test(tc, test_weights_dictionary);
  tcase_add_test(tc, test_binding_and_sizes);
  tcase_add_test(tc, test_output_symbol_order);
  tcase_add_test(tc, test_attrs_binding);
  tcase_add_test(tc, test_attrs_procedures);
  tcase_add_test(tc, test_attrs_refusals);
  tcase_add_test(tc, test_attrs_missing);
  tcase_add_test(tc, test_attrs_seed_w8a8);
  tcase_add_test(tc, test_qos);
  tcase_add_test(tc, test_failure_at_each_step);
  tcase_add_test(tc, test_eval_failure);
  tcase_add_test(tc, test_refusals);
  tcase_add_test(tc, test_no_model_dir);
  tcase_add_test(tc, test_device_info);
  tcase_add_test(tc, test_bisect_finds_op);
  tcase_add_test(tc, test_bisect_prefix_live_values);
  tcase_add_test(tc, test_bisect_report);
  suite_add_tcase(s, tc);
  tc = tcase_create("chip");
  tcase_add_test(tc, test_chip_seed_figures);
  tcase_add_test(tc, test_chip_unknowns);
  suite_add_tcase(s, tc);
  tc = tcase_create("files");
  tcase_add_test(tc, test_fs);
  tcase_add_test(tc, test_fs_lock);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return ck_run(ane_suite()); }
