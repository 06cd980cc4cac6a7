/* ane_probe.c - anerun --probe: a first-contact report a user can paste
 * into an issue (docs/ane.md). The machine, the device, every class and
 * selector the backend uses, then tiny built-in models compiled, loaded,
 * evaluated and compared with the cpu backend. Nothing stops the report:
 * each item says ok or why not.
 *
 * Written against AneApi only, so the fakes of tests/anefake run it on
 * Linux; anerun calls it with the real table on macOS. */
#include "ane_api.h"
#include "json.h"

#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "compare.h"
#include "fp16.h"
#include "mil.h"
#include "tensor.h"

enum { PROBE_C = 4, PROBE_MSG = 2048 };

/* Tolerance against the cpu backend: the ANE computes in fp16. */
static const double probe_tol = 1e-2;

typedef struct Probe {
  FILE *out, *json;
  int failed;
  bool first;                 /* no JSON array element yet */
} Probe;


static void json_field(Probe *P, const char *key, const char *val) {
  fprintf(P->json, "%s", P->first ? "" : ", ");
  P->first = false;
  json_str(P->json, key);
  fputs(": ", P->json);
  if (val)
    json_str(P->json, val);
  else
    fputs("null", P->json);
}

/* ---- the machine and the framework ---------------------------------------- */

static void probe_os(Probe *P) {
  struct utsname u;
  char os[300] = "unknown";
  if (uname(&u) == 0)
    snprintf(os, sizeof os, "%s %s %s", u.sysname, u.release, u.machine);
  fprintf(P->out, "os: %s\n", os);
  if (P->json) {
    fputs("  ", P->json);
    P->first = true;
    json_field(P, "os", os);
  }
}

static void probe_device(Probe *P, int (*make)(AneApi *)) {
  AneApi api;
  AneDeviceInfo info = {0};
  char why[PROBE_MSG] = "", *msg = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&msg, &len);
  Diag d = {.out = m ? m : stderr};
  int made = make(&api);
  int rc = made < 0 ? -1 : ane_device_info(&api, &info, &d);
  if (made == 0)
    api.finish(api.ctx);
  if (m)
    fclose(m);
  snprintf(why, sizeof why, "%s", msg && *msg ? msg : "out of memory");
  free(msg);
  why[strcspn(why, "\n")] = '\0';
  const Chip *chip = rc == 0 ? ane_chip(&info) : NULL;
  if (rc == 0)
    fprintf(P->out,
            "device: ok: aneSubType '%s', variant '%s', architecture '%s', product '%s', build "
            "'%s', %u ANE(s), %u cores, hasANE %d, virtual machine %d, chip %s\n",
            info.sub_type, info.variant, info.arch_type, info.product, info.build, info.num_anes,
            info.num_cores, info.has_ane, info.virtual_machine, chip ? chip->name : "unknown");
  else
    fprintf(P->out, "device: FAILED: %s\n", why);
  P->failed += rc < 0;
  if (!P->json)
    return;
  fputs(",\n  \"device\": {", P->json);
  P->first = true;
  json_field(P, "status", rc == 0 ? "ok" : why);
  if (rc == 0) {
    json_field(P, "sub_type", info.sub_type);
    json_field(P, "variant", info.variant);
    json_field(P, "architecture", info.arch_type);
    json_field(P, "product", info.product);
    json_field(P, "build", info.build);
    json_field(P, "chip", chip ? chip->name : NULL);
    fprintf(P->json, ", \"num_anes\": %u, \"num_cores\": %u, \"has_ane\": %d, "
            "\"virtual_machine\": %d", info.num_anes, info.num_cores, info.has_ane,
            info.virtual_machine);
  }
  fputs("}", P->json);
}

static void each_symbol(void *arg, const char *cls, char kind, const char *sel, bool present,
                        bool optional) {
  Probe *P = arg;
  char name[300];
  if (sel)
    snprintf(name, sizeof name, "%c[%s %s]", kind, cls, sel);
  else
    snprintf(name, sizeof name, "%s", cls);
  fprintf(P->out, "%s %s: %s\n", sel ? "selector" : "class", name,
          present ? "present" : optional ? "missing (optional)" : "MISSING");
  P->failed += !present && !optional;
  if (P->json) {
    fputs(P->first ? "\n    {" : ",\n    {", P->json);
    P->first = true;
    json_field(P, "name", name);
    json_field(P, "status", present ? "present" : "missing");
    fprintf(P->json, ", \"optional\": %s}", optional ? "true" : "false");
    P->first = false;
  }
}

static void probe_symbols(Probe *P, int (*make)(AneApi *)) {
  AneApi api;
  AneErr e = {{0}};
  if (P->json)
    fputs(",\n  \"symbols\": [", P->json);
  P->first = true;
  int rc = -1;
  if (make(&api) == 0) {
    void *pool = api.pool_push(api.ctx);
    rc = api.symbols(api.ctx, each_symbol, P, &e);
    api.pool_pop(api.ctx, pool);
    api.finish(api.ctx);
  } else {
    snprintf(e.msg, sizeof e.msg, "out of memory");
  }
  if (rc < 0) {
    fprintf(P->out, "symbols: FAILED: %s\n", e.msg);
    P->failed++;
  }
  if (P->json)
    fputs("]", P->json);
}

/* ---- tiny models -------------------------------------------------------------- */

typedef struct ProbeModel {
  int ninputs;
  bool fp32;                  /* fp32 inputs and output, fp16 inside */
  int width;
} ProbeModel;

/* The MIL text of a model: y = relu(a) or y = a + b over [1, 4, 1, w]. */
static void model_text(const ProbeModel *pm, char *buf, size_t size) {
  const char *io = pm->fp32 ? "fp32" : "fp16";
  int w = pm->width, n = 0;
  n += snprintf(buf + n, size - (size_t)n, "program(1.3)\n{\n func main<ios18>(");
  for (int i = 0; i < pm->ninputs; i++)
    n += snprintf(buf + n, size - (size_t)n, "%stensor<%s, [1, %d, 1, %d]> %c", i ? ", " : "",
                  io, PROBE_C, w, 'a' + i);
  n += snprintf(buf + n, size - (size_t)n, ") {\n");
  const char *x = "a", *y = "b";
  if (pm->fp32) {
    n += snprintf(buf + n, size - (size_t)n,
                  " string to16 = const()[name = string(\"to16\"), val = string(\"fp16\")];\n"
                  " string to32 = const()[name = string(\"to32\"), val = string(\"fp32\")];\n");
    for (int i = 0; i < pm->ninputs; i++)
      n += snprintf(buf + n, size - (size_t)n,
                    " tensor<fp16, [1, %d, 1, %d]> %c16 = cast(dtype = to16, x = %c)[name = "
                    "string(\"%c16\")];\n",
                    PROBE_C, w, 'a' + i, 'a' + i, 'a' + i);
    x = "a16", y = "b16";
  }
  const char *res = pm->fp32 ? "r16" : "y";
  if (pm->ninputs == 1)
    n += snprintf(buf + n, size - (size_t)n,
                  " tensor<fp16, [1, %d, 1, %d]> %s = relu(x = %s)[name = string(\"%s\")];\n",
                  PROBE_C, w, res, x, res);
  else
    n += snprintf(buf + n, size - (size_t)n,
                  " tensor<fp16, [1, %d, 1, %d]> %s = add(x = %s, y = %s)[name = "
                  "string(\"%s\")];\n",
                  PROBE_C, w, res, x, y, res);
  if (pm->fp32)
    n += snprintf(buf + n, size - (size_t)n,
                  " tensor<fp32, [1, %d, 1, %d]> y = cast(dtype = to32, x = r16)[name = "
                  "string(\"y\")];\n",
                  PROBE_C, w);
  snprintf(buf + n, size - (size_t)n, " } -> (y);\n}\n");
}

/* Inputs exact in fp16: a[k] = (k % 13 - 6) / 4, b[k] = (k % 7) / 8. */
static int fill_input(Tensor *t, const ProbeModel *pm, int i) {
  if (tensor_alloc(t, pm->fp32 ? MIL_FP32 : MIL_FP16, 4,
                   (int64_t[]){1, PROBE_C, 1, pm->width}) < 0)
    return -1;
  for (int64_t k = 0; k < tensor_numel(t); k++) {
    float v = i == 0 ? (float)(k % 13 - 6) / 4 : (float)(k % 7) / 8;
    if (pm->fp32)
      ((float *)t->data)[k] = v;
    else
      ((uint16_t *)t->data)[k] = fp16_from_float(v);
  }
  return 0;
}

/* Runs the model on a backend: open, inputs, one evaluation, output 0. */
static int run_backend(const Backend *b, const Model *m, const BackendOpts *o,
                       const ProbeModel *pm, Tensor *y, void **keep, Diag *d) {
  void *st = NULL;
  if (b->open(m, o, &st, d) < 0)
    return -1;
  int rc = 0;
  for (int i = 0; rc == 0 && i < pm->ninputs; i++) {
    Tensor t;
    rc = fill_input(&t, pm, i) < 0 ? -1 : b->set_input(st, i, &t, d);
    tensor_free(&t);
  }
  double ms = 0;
  if (rc == 0)
    rc = b->eval(st, &ms, d);
  if (rc == 0)
    rc = b->get_output(st, 0, y, d);
  if (keep && rc == 0)
    *keep = st;
  else
    b->close(st);
  return rc;
}

/* The ane backend over the probe's tables, so run_backend() drives it like
 * the cpu one. Backend.open takes no context, hence the file-scope maker. */
static int ane_open_made(const Model *m, const BackendOpts *o, void **state, Diag *d);
static int (*probe_make)(AneApi *);

static int ane_open_made(const Model *m, const BackendOpts *o, void **state, Diag *d) {
  AneApi api;
  if (probe_make(&api) < 0) {
    diag_file_error(d, m->name, "ane: out of memory");
    return -1;
  }
  return ane_open_with(&api, m, o, state, d);
}

static void print_binding(Probe *P, void *st) {
  AneIoInfo io;
  fprintf(P->out, "  binding: %s\n", ane_binding(st));
  if (P->json) {
    json_field(P, "binding", ane_binding(st));
    fputs(", \"io\": [", P->json);
  }
  for (int k = 0; ane_io_info(st, k, &io); k++) {
    fprintf(P->out,
            "  %s %s: symbol %d, %zu rows of %zu bytes, strides %zu/%zu/%zu/%zu bytes, surface "
            "%zu bytes\n",
            io.output ? "output" : "input", io.name, io.symbol, io.lay.rows, io.lay.row_bytes,
            io.lay.stride[0], io.lay.stride[1], io.lay.stride[2], io.lay.stride[3],
            io.surf_bytes);
    if (P->json)
      fprintf(P->json,
              "%s{\"name\": \"%s\", \"output\": %s, \"symbol\": %d, \"rows\": %zu, "
              "\"row_bytes\": %zu, \"strides\": [%zu, %zu, %zu, %zu], \"surface_bytes\": %zu}",
              k ? ", " : "", io.name, io.output ? "true" : "false", io.symbol, io.lay.rows,
              io.lay.row_bytes, io.lay.stride[0], io.lay.stride[1], io.lay.stride[2],
              io.lay.stride[3], io.surf_bytes);
  }
  if (P->json)
    fputs("]", P->json);
}

static void probe_model(Probe *P, const ProbeModel *pm, bool first) {
  char text[4096], name[64], *msg = NULL;
  size_t len = 0;
  snprintf(name, sizeof name, "%s_%s_w%d", pm->ninputs == 1 ? "relu" : "add",
           pm->fp32 ? "fp32" : "fp16", pm->width);
  model_text(pm, text, sizeof text);
  FILE *m = open_memstream(&msg, &len);
  Diag d = {.out = m ? m : stderr};
  Src src = {.name = name, .text = text, .len = strlen(text)};
  MilProg *prog = mil_parse(&src, &d);
  Model model = {.name = name, .prog = prog, .fn = prog ? &prog->funcs[0] : NULL};
  BackendOpts o = {.qos = ANE_QOS_DEFAULT};
  const Backend ane = {"ane", false, ane_open_made, ane_set_input, ane_eval, ane_get_output,
                       ane_close};
  Tensor got = {0}, want = {0};
  void *st = NULL;
  Compare c = {0};
  int rc = prog ? run_backend(&ane, &model, &o, pm, &got, &st, &d) : -1;
  if (rc == 0)
    rc = run_backend(&cpu_backend, &model, &o, pm, &want, NULL, &d);
  if (rc == 0)
    rc = compare_tensors("y", &got, &want, &c, &d);
  bool ok = rc == 0 && compare_ok(&c, probe_tol);
  if (m)
    fflush(m);
  fprintf(P->out, "model %s (%d input%s, %s I/O, width %d): ", name, pm->ninputs,
          pm->ninputs > 1 ? "s" : "", pm->fp32 ? "fp32" : "fp16", pm->width);
  if (ok)
    fprintf(P->out, "ok: max abs error against cpu %g\n", c.max_abs);
  else if (rc == 0)
    fprintf(P->out, "WRONG: max abs error against cpu %g (tolerance %g)\n", c.max_abs,
            probe_tol);
  else
    fprintf(P->out, "FAILED: %s", msg && *msg ? msg : "no reason given\n");
  P->failed += !ok;
  if (P->json) {
    fputs(first ? "\n    {" : ",\n    {", P->json);
    P->first = true;
    json_field(P, "model", name);
    json_field(P, "status", ok ? "ok" : rc == 0 ? "wrong" : "failed");
    json_field(P, "error", ok || !msg || !*msg ? NULL : msg);
    if (rc == 0)
      fprintf(P->json, ", \"max_abs_err\": %g", c.max_abs);
  }
  if (st) {
    print_binding(P, st);
    ane_close(st);
  }
  if (P->json)
    fputs("}", P->json);
  tensor_free(&got);
  tensor_free(&want);
  if (prog)
    mil_free(prog);
  if (m)
    fclose(m);
  free(msg);
}

int ane_first_contact(int (*make)(AneApi *api), FILE *out, FILE *json) {
  static const ProbeModel models[] = {
      {1, false, 16}, {1, false, 64}, {1, true, 16}, {1, true, 64},
      {2, false, 16}, {2, false, 64}, {2, true, 16}, {2, true, 64},
  };
  Probe P = {.out = out, .json = json};
  probe_make = make;
  fprintf(out, "anerun --probe: first contact with the Apple Neural Engine\n");
  if (json)
    fputs("{\n", json);
  probe_os(&P);
  probe_device(&P, make);
  probe_symbols(&P, make);
  if (json)
    fputs(",\n  \"models\": [", json);
  for (size_t i = 0; i < sizeof models / sizeof models[0]; i++)
    probe_model(&P, &models[i], i == 0);
  if (json)
    fprintf(json, "\n  ],\n  \"failed\": %d\n}\n", P.failed);
  fprintf(out, "%d item%s failed\n", P.failed, P.failed == 1 ? "" : "s");
  return P.failed;
}
