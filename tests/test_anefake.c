/* test_anefake.c - runtime/ane_darwin.c itself, run on Linux: the real
 * AneApi table (ane_darwin_api) under ane.c, over GCC's Objective-C
 * runtime and the fakes of tests/anefake/ (docs/ane.md).
 *
 * The fake evaluates a function the test chooses, reading and writing each
 * symbol at the strides its attributes report, so a surface bound to the
 * wrong symbol gives numbers the test sees are wrong. The expected values
 * are computed here from that function's definition. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ane_api.h"
#include "anefake/anefake.h"
#include "check_main.h"
#include "fp16.h"
#include "mil.h"
#include "tensor.h"

int ane_darwin_api(AneApi *api);

/* The fake's own side, for checking it keeps ANE_API.md's contract:
 * opaque pointers here, as the C side of toll-free bridging sees them. */
void objc_msgSend(void);
void *objc_getClass(const char *name);
void *sel_registerName(const char *name);
const void *CFDataCreate(const void *alloc, const unsigned char *bytes, long n);
void *CFDictionaryCreateMutable(const void *alloc, long cap, const void *kcb, const void *vcb);
void CFDictionarySetValue(void *d, const void *key, const void *value);
const void *CFNumberCreate(const void *alloc, long type, const void *value);
const void *CFArrayCreate(const void *alloc, const void **values, long n, const void *cb);
void CFRelease(const void *cf);
const void *anefake_cfstr(const char *s);
void *objc_autoreleasePoolPush(void);
void objc_autoreleasePoolPop(void *pool);
void *IOSurfaceCreate(const void *props);
void *anefake_dlopen(const char *path, int mode);

/* objc_msgSend through a pointer, cast at each call to the selector's type. */
static void (*send)(void) = objc_msgSend;

/* LeakSanitizer's hook, read when it starts: GCC's Objective-C runtime
 * keeps the selectors and method tables it makes on first use for the life
 * of the process. Nothing else is excused. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) {
  return "leak:libobjc.so\n";
}

/* ---- the program and the fake's view of it ------------------------------------- */

enum { C = 3, H = 2, W = 8, N = C * H * W };

/* y = a + 2b, z = a - b; the fake lists b first (in[0]) and z first. */
static void fn_two(const float *const *in, float *const *out, size_t n) {
  for (size_t k = 0; k < n; k++) {
    out[0][k] = in[1][k] - in[0][k];
    out[1][k] = in[1][k] + 2 * in[0][k];
  }
}

/* y = 3x: procedure "other". */
static void fn_triple(const float *const *in, float *const *out, size_t n) {
  for (size_t k = 0; k < n; k++)
    out[0][k] = 3 * in[0][k];
}

/* y = x + 1: procedure "main". */
static void fn_inc(const float *const *in, float *const *out, size_t n) {
  for (size_t k = 0; k < n; k++)
    out[0][k] = in[0][k] + 1;
}

/* A [1, C, H, w] symbol; rows padded to `rs` bytes, planes to `ps`. */
static AnefakeIo io(const char *name, int symbol, bool fp32, int64_t w, int64_t rs, int64_t ps) {
  return (AnefakeIo){.name = name, .symbol = symbol, .fp32 = fp32, .b = 1, .c = C, .d = 1,
                     .h = H, .w = w, .bs = ps * C, .ps = ps, .ds = ps, .rs = rs};
}

static char tmpdir[64], modeldir[64];
static unsigned char blob[96];

static void setup(void) {
  anefake_reset();
  snprintf(tmpdir, sizeof tmpdir, "/tmp/anefake-tmp-XXXXXX");
  snprintf(modeldir, sizeof modeldir, "/tmp/anefake-model-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(tmpdir));
  ck_assert_ptr_nonnull(mkdtemp(modeldir));
  snprintf(anefake.tmpdir, sizeof anefake.tmpdir, "%s/", tmpdir);
  char path[128];
  snprintf(path, sizeof path, "%s/weights", modeldir);
  ck_assert_int_eq(mkdir(path, 0700), 0);
  for (size_t i = 0; i < sizeof blob; i++)
    blob[i] = (unsigned char)(i * 5 + 1);
  snprintf(path, sizeof path, "%s/weights/weight.bin", modeldir);
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(blob, 1, sizeof blob, f), sizeof blob);
  fclose(f);
}

static void teardown(void) {
  AneErr e;
  ane_fs_remove_tree(NULL, tmpdir, &e);
  ane_fs_remove_tree(NULL, modeldir, &e);
  anefake_reset();
}

/* The fake's two-input program: b symbol 0, a symbol 1 (against the
 * alphabet), z@output 0, y@output 1; fp16 a, fp32 b, whose strides are
 * twice the others'. */
static void fake_two(int64_t w, int64_t rs, int64_t ps) {
  AnefakeProc *p = &anefake.proc[0];
  p->name = "main";
  p->nin = p->nout = 2;
  p->in[0] = io("b", 0, true, w, 2 * rs, 2 * ps);
  p->in[1] = io("a", 1, false, w, rs, ps);
  p->out[0] = io("z@output", 0, false, w, rs, ps);
  p->out[1] = io("y@output", 1, false, w, rs, ps);
  p->fn = fn_two;
  anefake.nproc = 1;
}

static void add_op(MilProg *p, MilFunc *f, const char *op, const char *x, const char *y,
                   const char *out, const MilType *t) {
  MilOp *o = mil_add_op(p, f, op);
  mil_op_ref(p, o, "x", x);
  mil_op_ref(p, o, "y", y);
  mil_op_attr(p, o, "name", mil_scalar_s(p, out));
  mil_op_out(p, o, t, out);
}

/* a (fp16) and b (fp32) of [1, C, H, w] -> y, z; one weight blob. */
static MilProg *prog_two(int64_t w) {
  MilProg *p = mil_new("1.3");
  MilFunc *f = mil_add_func(p, "main", "ios18");
  MilType *t16 = mil_tensor_type(p, MIL_FP16, 4, (int64_t[]){1, C, H, w});
  MilType *t32 = mil_tensor_type(p, MIL_FP32, 4, (int64_t[]){1, C, H, w});
  mil_add_input(p, f, t16, "a");
  mil_add_input(p, f, t32, "b");
  MilType *wt = mil_tensor_type(p, MIL_FP16, 1, (int64_t[]){16});
  MilOp *c = mil_add_op(p, f, "const");
  mil_op_attr(p, c, "name", mil_scalar_s(p, "w"));
  mil_op_attr(p, c, "val", mil_blob_value(p, wt, "@model_path/weights/weight.bin", 64, -1));
  mil_op_out(p, c, wt, "w");
  add_op(p, f, "add", "a", "b", "y", t16);
  add_op(p, f, "sub", "a", "b", "z", t16);
  mil_add_output(p, f, "y");
  mil_add_output(p, f, "z");
  return p;
}

typedef struct Run {
  MilProg *p;
  Model m;
  void *state;
  char *msg;
  size_t msglen;
  FILE *out;
  Diag d;
  int rc;
} Run;

static void run_open(Run *r, MilProg *p, int fn) {
  memset(r, 0, sizeof *r);
  r->p = p;
  r->m = (Model){.name = "m", .dir = modeldir, .prog = p, .fn = &p->funcs[fn]};
  r->out = open_memstream(&r->msg, &r->msglen);
  r->d = (Diag){.out = r->out};
  AneApi api;
  ck_assert_int_eq(ane_darwin_api(&api), 0);
  BackendOpts o = {.qos = 21};
  r->rc = ane_open_with(&api, &r->m, &o, &r->state, &r->d);
  fflush(r->out);
}

static void run_free(Run *r) {
  fclose(r->out);
  free(r->msg);
  mil_free(r->p);
}

static bool exists(const char *dir, const char *name) {
  char path[1024];
  struct stat st;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return stat(path, &st) == 0;
}

/* Nothing alive, no pool open, nothing autoreleased outside one, locks
 * paired, no protocol slip, and the model directory gone. */
static void assert_clean(void) {
  ck_assert_msg(anefake.misuse[0] == '\0', "%s", anefake.misuse);
  ck_assert_int_eq(anefake.live, 0);
  ck_assert_int_eq(anefake.pool_depth, 0);
  ck_assert_int_eq(anefake.unpooled, 0);
  ck_assert_int_eq(anefake.bad_locks, 0);
  ck_assert_int_eq(rmdir(tmpdir), 0); /* empty: the model directory went */
  ck_assert_int_eq(mkdir(tmpdir, 0700), 0);
}

/* a[k] = k / 4 and b[k] = 1 - k / 8: exact in fp16 for k < 64. */
static void set_inputs(Run *r, int64_t w, int *rc) {
  Tensor a, b;
  ck_assert_int_eq(tensor_alloc(&a, MIL_FP32, 4, (int64_t[]){1, C, H, w}), 0);
  ck_assert_int_eq(tensor_alloc(&b, MIL_FP32, 4, (int64_t[]){1, C, H, w}), 0);
  for (int64_t k = 0; k < C * H * w; k++) {
    ((float *)a.data)[k] = (float)k / 4;
    ((float *)b.data)[k] = 1 - (float)k / 8;
  }
  rc[0] = ane_set_input(r->state, 0, &a, &r->d);
  rc[1] = ane_set_input(r->state, 1, &b, &r->d);
  tensor_free(&a);
  tensor_free(&b);
}

/* How many elements of y and z differ from a + 2b and a - b; -1 when an
 * output cannot be read. */
static int wrong_outputs(Run *r, int64_t w) {
  int wrong = 0;
  for (int i = 0; i < 2; i++) {
    Tensor t;
    if (ane_get_output(r->state, i, &t, &r->d) < 0)
      return -1;
    for (int64_t k = 0; k < C * H * w; k++) {
      double a = (double)k / 4, b = 1 - (double)k / 8;
      double want = i == 0 ? a + 2 * b : a - b;
      wrong += tensor_get(&t, k) != want;
    }
    tensor_free(&t);
  }
  return wrong;
}

/* ---- tests ---------------------------------------------------------------------- */

/* 16-byte rows padded to 64, planes to 192: bound and laid out from the
 * attributes; the directory holds what the compiler and the framework
 * wrote while the model is open. */
START_TEST(test_end_to_end) {
  fake_two(W, 64, 192);
  Run r;
  run_open(&r, prog_two(W), 0);
  ck_assert_msg(r.rc == 0, "%s", r.msg);
  ck_assert_str_eq(r.msg, "");
  int rc[2];
  set_inputs(&r, W, rc);
  ck_assert_int_eq(rc[0], 0);
  ck_assert_int_eq(rc[1], 0);
  ck_assert_int_eq(ane_eval(r.state, NULL, &r.d), 0);
  ck_assert_int_eq(anefake.evaluations, 1);
  ck_assert_int_eq(wrong_outputs(&r, W), 0);
  /* No _ANEPerformanceStats: no hardware time. Then 1.5 and 2.5 ms. */
  Stats hw;
  ck_assert(!ane_hw_stats(r.state, 1, &hw));
  anefake.hw_ns = 1500000;
  ck_assert_int_eq(ane_eval(r.state, NULL, &r.d), 0);
  anefake.hw_ns = 2500000;
  ck_assert_int_eq(ane_eval(r.state, NULL, &r.d), 0);
  ck_assert(ane_hw_stats(r.state, 2, &hw));
  ck_assert(hw.min == 1.5 && hw.median == 2.0 && hw.p90 == 2.5);
  ck_assert(!ane_hw_stats(r.state, 3, &hw)); /* the first had none */
  ane_close(r.state);
  assert_clean();
  run_free(&r);
}
END_TEST

/* While open, the model directory holds model.mil, the weight file, and
 * the framework's net.plist and data. */
START_TEST(test_model_directory) {
  fake_two(W, 64, 192);
  Run r;
  run_open(&r, prog_two(W), 0);
  ck_assert_msg(r.rc == 0, "%s", r.msg);
  char cmd[128], name[512] = "";
  snprintf(cmd, sizeof cmd, "ls %s", tmpdir);
  FILE *ls = popen(cmd, "r");
  ck_assert_ptr_nonnull(fgets(name, sizeof name, ls));
  pclose(ls);
  name[strcspn(name, "\n")] = '\0';
  ck_assert_uint_eq(strlen(name), 3 * 64 + 2); /* three hex digests joined by '_' */
  char dir[600];
  snprintf(dir, sizeof dir, "%s/%s", tmpdir, name);
  ck_assert(exists(dir, "model.mil"));
  ck_assert(exists(dir, "weights/weight.bin"));
  ck_assert(exists(dir, "net.plist"));
  ck_assert(exists(dir, "data"));
  ane_close(r.state);
  assert_clean();
  run_free(&r);
}
END_TEST

/* With the attributes missing, the alphabetical rule binds a to symbol 0;
 * where the compiler numbered otherwise, the numbers come out wrong - which
 * is what the attributes prevent. */
START_TEST(test_attributes_missing) {
  for (int honest = 0; honest < 2; honest++) {
    fake_two(32, 64, 2 * 64); /* packed 64-byte rows */
    anefake.no_attributes = true;
    if (honest) { /* the compiler numbered alphabetically: a 0, b 1, y 0, z 1 */
      anefake.proc[0].in[0].symbol = 1;
      anefake.proc[0].in[1].symbol = 0;
      anefake.proc[0].out[0].symbol = 1;
      anefake.proc[0].out[1].symbol = 0;
    }
    Run r;
    run_open(&r, prog_two(32), 0);
    ck_assert_msg(r.rc == 0, "%s", r.msg);
    ck_assert_ptr_nonnull(strstr(r.msg, "m: note: ane: this system reports no compiled "
                                        "attributes; inputs and outputs are bound in "
                                        "alphabetical order"));
    int rc[2];
    set_inputs(&r, 32, rc);
    ck_assert_int_eq(ane_eval(r.state, NULL, &r.d), 0);
    if (honest)
      ck_assert_int_eq(wrong_outputs(&r, 32), 0);
    else
      ck_assert_int_gt(wrong_outputs(&r, 32), 2 * C * H * 32 - 4);
    ane_close(r.state);
    assert_clean();
    run_free(&r);
  }
}
END_TEST

/* Two functions, numbered against their MIL order by the map. */
START_TEST(test_two_procedures) {
  for (int fn = 0; fn < 2; fn++) {
    anefake_reset();
    snprintf(anefake.tmpdir, sizeof anefake.tmpdir, "%s/", tmpdir);
    static const char *names[2] = {"other", "main"};
    for (int p = 0; p < 2; p++) {
      AnefakeProc *pr = &anefake.proc[p];
      pr->name = names[p];
      pr->nin = pr->nout = 1;
      pr->in[0] = io("x", p, false, W, 64, 128);
      pr->out[0] = io("y@output", 2 - p, false, W, 64, 128);
      pr->fn = p == 0 ? fn_triple : fn_inc;
    }
    anefake.nproc = 2;
    MilProg *prog = mil_new("1.3");
    for (int f = 0; f < 2; f++) {
      MilFunc *mf = mil_add_func(prog, f == 0 ? "main" : "other", "ios18");
      MilType *t = mil_tensor_type(prog, MIL_FP16, 4, (int64_t[]){1, C, H, W});
      mil_add_input(prog, mf, t, "x");
      MilOp *o = mil_add_op(prog, mf, "relu");
      mil_op_ref(prog, o, "x", "x");
      mil_op_attr(prog, o, "name", mil_scalar_s(prog, "y"));
      mil_op_out(prog, o, t, "y");
      mil_add_output(prog, mf, "y");
    }
    Run r;
    run_open(&r, prog, fn);
    ck_assert_msg(r.rc == 0, "%s", r.msg);
    Tensor x, y;
    ck_assert_int_eq(tensor_alloc(&x, MIL_FP16, 4, (int64_t[]){1, C, H, W}), 0);
    for (int k = 0; k < N; k++)
      ((uint16_t *)x.data)[k] = fp16_from_float((float)k);
    ck_assert_int_eq(ane_set_input(r.state, 0, &x, &r.d), 0);
    ck_assert_int_eq(ane_eval(r.state, NULL, &r.d), 0);
    ck_assert_int_eq(ane_get_output(r.state, 0, &y, &r.d), 0);
    for (int k = 0; k < N; k++) /* main: x + 1; other: 3x */
      ck_assert(tensor_get(&y, k) == (fn == 0 ? k + 1.0 : 3.0 * k));
    tensor_free(&x);
    tensor_free(&y);
    ane_close(r.state);
    assert_clean();
    run_free(&r);
  }
}
END_TEST

/* A compile failure says every level of the error chain. */
START_TEST(test_error_chain) {
  fake_two(W, 64, 192);
  anefake.compile_fails = true;
  Run r;
  run_open(&r, prog_two(W), 0);
  ck_assert_int_eq(r.rc, -1);
  ck_assert_str_eq(r.msg, "m: error: ane: compile failed: ANECCompile() FAILED "
                          "(com.apple.appleneuralengine.compiler, code 4); underlying error: "
                          "model.mil:3:5: error: unknown op 'frobnicate' (com.apple.mlir, code "
                          "7)\n");
  assert_clean();
  run_free(&r);
}
END_TEST

/* Every framework call the fake can fail, failed in turn: open fails
 * naming its step, or (for a call it can do without) succeeds; either way
 * everything is released and the directory is gone. */
START_TEST(test_failure_at_each_call) {
  int points = 0, opened = 0;
  for (int k = 1; k < 1000; k++) {
    anefake_reset();
    snprintf(anefake.tmpdir, sizeof anefake.tmpdir, "%s/", tmpdir);
    fake_two(W, 64, 192);
    anefake.fail_at = k;
    Run r;
    run_open(&r, prog_two(W), 0);
    if (r.rc == 0) {
      opened++;
      int rc[2];
      set_inputs(&r, W, rc);
      int ev = ane_eval(r.state, NULL, &r.d), wrong = wrong_outputs(&r, W);
      if (!anefake.failed)
        ck_assert(ev == 0 && rc[0] == 0 && rc[1] == 0 && wrong == 0);
      ane_close(r.state);
    } else {
      ck_assert_ptr_null(r.state);
      ck_assert_msg(strstr(r.msg, "m: error: ane: ") != NULL, "%s", r.msg);
    }
    bool injected = anefake.failed != NULL;
    ck_assert_msg(anefake.misuse[0] == '\0', "failing %s: %s", anefake.failed, anefake.misuse);
    assert_clean();
    run_free(&r);
    if (!injected)
      break;
    points++;
  }
  /* dlopen, CF objects, descriptor, model, directory, compile, load,
   * attributes, surfaces, request, locks, evaluate, unload: dozens. */
  ck_assert_int_gt(points, 40);
  ck_assert_int_gt(opened, 0);
}
END_TEST

/* Two processes opening one model share its directory (its name is the
 * model's content): the second waits until the first has closed, then
 * compiles and runs from files of its own. */
START_TEST(test_two_processes) {
  fake_two(W, 64, 192);
  Run r;
  run_open(&r, prog_two(W), 0);
  ck_assert_msg(r.rc == 0, "%s", r.msg);
  char mark[128];
  snprintf(mark, sizeof mark, "%s/first-closing", modeldir);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    int live = anefake.live; /* the parent's, copied */
    Run c;
    run_open(&c, prog_two(W), 0);
    struct stat st;
    int waited = stat(mark, &st) == 0, rc[2] = {-1, -1};
    if (c.rc == 0) {
      set_inputs(&c, W, rc);
      rc[0] |= ane_eval(c.state, NULL, &c.d);
      rc[1] |= wrong_outputs(&c, W);
      ane_close(c.state);
    }
    int open_rc = c.rc;
    run_free(&c);
    _exit(open_rc == 0 && waited && rc[0] == 0 && rc[1] == 0 && anefake.live == live ? 0 : 1);
  }
  struct timespec ts = {0, 300000000L}; /* the child is waiting by now */
  nanosleep(&ts, NULL);
  int rc[2];
  set_inputs(&r, W, rc);
  ck_assert_int_eq(ane_eval(r.state, NULL, &r.d), 0);
  ck_assert_int_eq(wrong_outputs(&r, W), 0); /* its files were not touched */
  FILE *f = fopen(mark, "w"); /* before the lock goes */
  ck_assert_ptr_nonnull(f);
  fclose(f);
  ane_close(r.state);
  int status;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFEXITED(status));
  ck_assert_int_eq(WEXITSTATUS(status), 0);
  assert_clean();
  run_free(&r);
}
END_TEST

/* y = relu(a) and y = a + b, as the probe's tiny models compute them. */
static void fn_relu(const float *const *in, float *const *out, size_t n) {
  for (size_t k = 0; k < n; k++)
    out[0][k] = in[0][k] > 0 ? in[0][k] : 0;
}

static void fn_add(const float *const *in, float *const *out, size_t n) {
  for (size_t k = 0; k < n; k++)
    out[0][k] = in[0][k] + in[1][k];
}

/* The fake compiles whatever the probe sends into the program set here:
 * `inputs` inputs of width w (b listed before a), fp32 or not, rows padded
 * to 64 bytes at least. */
static void fake_probe_model(int inputs, bool fp32, int w) {
  AnefakeProc *p = &anefake.proc[0];
  int64_t row = w * (fp32 ? 4 : 2), rs = row < 64 ? 64 : row;
  p->nin = inputs;
  p->nout = 1;
  for (int i = 0; i < inputs; i++)
    p->in[i] = (AnefakeIo){.name = i == inputs - 1 ? "a" : "b", .symbol = i,
                           .fp32 = fp32, .b = 1, .c = 4, .d = 1, .h = 1, .w = w,
                           .bs = 4 * rs, .ps = rs, .ds = rs, .rs = rs};
  p->out[0] = p->in[0];
  p->out[0].name = "y@output";
  p->out[0].symbol = 0; /* with two inputs b is symbol 0 and a 1, against the alphabet */
  p->fn = inputs == 1 ? fn_relu : fn_add;
  anefake.nproc = 1;
}

static int probe_n;

/* A table for the probe; each model gets the fake program it needs, in
 * the probe's order: relu fp16 16, 64, fp32 16, 64, then add likewise.
 * Tables 1 and 2 are the device and the symbol inventory. */
static int probe_table(AneApi *api) {
  int k = probe_n++ - 2;
  if (k >= 0)
    fake_probe_model(k < 4 ? 1 : 2, k % 4 >= 2, k % 2 ? 64 : 16);
  return ane_darwin_api(api);
}

/* Every item ok against the fake, with text and JSON saying what each
 * model was bound to; a failure in one model does not stop the others. */
START_TEST(test_probe) {
  char *text = NULL, *json = NULL;
  size_t tn = 0, jn = 0;
  FILE *t = open_memstream(&text, &tn), *j = open_memstream(&json, &jn);
  probe_n = 0;
  int failed = ane_first_contact(probe_table, t, j);
  fclose(t);
  fclose(j);
  if (failed != 0)
    fputs(text, stderr);
  ck_assert_int_eq(failed, 0);
  ck_assert_ptr_nonnull(strstr(text, "os: Linux "));
  ck_assert_ptr_nonnull(strstr(text, "device: ok: aneSubType 'fake1', variant 'g'"));
  ck_assert_ptr_nonnull(strstr(text, "selector +[_ANERequest requestWithInputs:inputIndices:"
                                     "outputs:outputIndices:weightsBuffer:perfStats:"
                                     "procedureIndex:]: present\n"));
  ck_assert_ptr_nonnull(strstr(text, "selector -[_ANEInMemoryModel model]: missing (optional)"));
  ck_assert_ptr_nonnull(strstr(text, "model relu_fp16_w16 (1 input, fp16 I/O, width 16): ok: "
                                     "max abs error against cpu 0\n  binding: attributes\n"
                                     "  input a: symbol 0, 4 rows of 32 bytes, strides "
                                     "256/64/64/64 bytes, surface 49152 bytes\n"));
  ck_assert_ptr_nonnull(strstr(text, "model add_fp32_w64 (2 inputs, fp32 I/O, width 64): ok"));
  ck_assert_ptr_nonnull(strstr(text, "  input b: symbol 0, 4 rows of 256 bytes"));
  FILE *dump = getenv("ANEFAKE_PROBE_DUMP") ? fopen(getenv("ANEFAKE_PROBE_DUMP"), "w") : NULL;
  if (dump) {
    fputs(text, dump);
    fputs(json, dump);
    fclose(dump);
  }
  ck_assert_ptr_nonnull(strstr(json, "\"status\": \"ok\", \"error\": null, \"max_abs_err\": 0, "
                                     "\"binding\": \"attributes\""));
  ck_assert_ptr_nonnull(strstr(json, "\"failed\": 0\n}\n"));
  free(text);
  free(json);
  ck_assert_int_eq(anefake.live, 0);
}
END_TEST

typedef void *(*MsgDesc)(void *, void *, const void *, const void *, const void *);
typedef void *(*MsgRequest)(void *, void *, const void *, const void *, const void *,
                            const void *, void *, void *, const void *);
typedef unsigned char (*MsgBool)(void *, void *);

static void *descriptor(const void *text, const void *weights) {
  return ((MsgDesc)send)(objc_getClass("_ANEInMemoryModelDescriptor"),
                                 sel_registerName("modelWithMILText:weights:optionsPlist:"),
                                 text, weights, NULL);
}

typedef void *(*MsgWrap)(void *, void *, void *);

/* A 64-byte surface in its _ANEIOSurfaceObject (autoreleased). */
static void *surface_object(void) {
  static const char *const keys[] = {"IOSurfaceAllocSize", "IOSurfaceWidth",
                                     "IOSurfaceBytesPerRow", "IOSurfaceHeight",
                                     "IOSurfaceBytesPerElement", "IOSurfacePixelFormat"};
  static const int vals[] = {64, 64, 64, 1, 1, 0};
  void *props = CFDictionaryCreateMutable(NULL, 0, NULL, NULL);
  for (int i = 0; i < 6; i++) {
    const void *n = CFNumberCreate(NULL, 9, &vals[i]);
    CFDictionarySetValue(props, anefake_cfstr(keys[i]), n);
    CFRelease(n);
  }
  void *surf = IOSurfaceCreate(props);
  void *obj = ((MsgWrap)send)(objc_getClass("_ANEIOSurfaceObject"),
                              sel_registerName("objectWithIOSurface:"), surf);
  CFRelease(surf);
  CFRelease(props);
  return obj;
}

/* A request of one input and one output (none when n is 0) with these
 * indices and procedure, and what its validate says. */
static int validates(int n, int in_idx, int out_idx, int proc) {
  const void *obj[1] = {surface_object()}, *num[2];
  num[0] = CFNumberCreate(NULL, 9, &in_idx);
  num[1] = CFNumberCreate(NULL, 9, &out_idx);
  const void *p = CFNumberCreate(NULL, 9, &proc);
  const void *ins = CFArrayCreate(NULL, obj, n, NULL), *ii = CFArrayCreate(NULL, num, n, NULL);
  const void *oi = CFArrayCreate(NULL, num + 1, n, NULL);
  void *r = ((MsgRequest)send)(
      objc_getClass("_ANERequest"),
      sel_registerName("requestWithInputs:inputIndices:outputs:outputIndices:weightsBuffer:"
                       "perfStats:procedureIndex:"),
      ins, ii, ins, oi, NULL, NULL, p);
  int ok = r ? ((MsgBool)send)(r, sel_registerName("validate")) : -1;
  const void *made[] = {num[0], num[1], p, ins, ii, oi};
  for (int i = 0; i < 6; i++)
    CFRelease(made[i]);
  return ok;
}

/* The fake keeps the contract the glue is tested against: the descriptor
 * refuses missing text or weights and an empty weight entry (ANE_API.md
 * 2.1); validate refuses empty buffer lists, an index past 254 and a
 * procedure past 128 (2.7). */
START_TEST(test_fake_contract) {
  ck_assert_ptr_nonnull(anefake_dlopen("/System/Library/PrivateFrameworks/"
                                       "AppleNeuralEngine.framework/AppleNeuralEngine", 2));
  void *pool = objc_autoreleasePoolPush();
  const void *text = CFDataCreate(NULL, (const unsigned char *)"program(1.3)", 12);
  void *weights = CFDictionaryCreateMutable(NULL, 0, NULL, NULL);
  ck_assert_ptr_nonnull(descriptor(text, weights));
  ck_assert_ptr_null(descriptor(text, NULL));
  ck_assert_ptr_null(descriptor(NULL, weights));
  void *empty = CFDictionaryCreateMutable(NULL, 0, NULL, NULL);
  CFDictionarySetValue(weights, anefake_cfstr("@model_path/weights/w.bin"), empty);
  ck_assert_ptr_null(descriptor(text, weights));
  CFRelease(empty);
  CFRelease(weights);
  CFRelease(text);
  ck_assert_int_eq(validates(1, 0, 0, 0), 1);
  ck_assert_int_eq(validates(1, 254, 254, 128), 1);
  ck_assert_int_eq(validates(0, 0, 0, 0), 0); /* no buffers */
  ck_assert_int_eq(validates(1, 255, 0, 0), 0);
  ck_assert_int_eq(validates(1, 0, 255, 0), 0);
  ck_assert_int_eq(validates(1, 0, 0, 129), 0);
  objc_autoreleasePoolPop(pool);
  ck_assert_int_eq(anefake.live, 0);
  ck_assert_str_eq(anefake.misuse, "");
}
END_TEST

START_TEST(test_device_info) {
  AneApi api;
  ck_assert_int_eq(ane_darwin_api(&api), 0);
  AneDeviceInfo info;
  Diag d = {.out = stderr};
  ck_assert_int_eq(ane_device_info(&api, &info, &d), 0);
  api.finish(api.ctx);
  ck_assert_str_eq(info.sub_type, "fake1");
  ck_assert_str_eq(info.arch_type, "fake1g");
  ck_assert_str_eq(info.variant, "g");
  ck_assert_uint_eq(info.num_cores, 16);
  ck_assert_int_eq(info.has_ane, 1);
  ck_assert_int_eq(info.virtual_machine, 0);
  ck_assert_int_eq(anefake.live, 0);
}
END_TEST

static Suite *anefake_suite(void) {
  Suite *s = suite_create("anefake");
  TCase *tc = tcase_create("darwin glue");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_end_to_end);
  tcase_add_test(tc, test_model_directory);
  tcase_add_test(tc, test_attributes_missing);
  tcase_add_test(tc, test_two_procedures);
  tcase_add_test(tc, test_error_chain);
  tcase_add_test(tc, test_failure_at_each_call);
  tcase_add_test(tc, test_two_processes);
  tcase_add_test(tc, test_device_info);
  tcase_add_test(tc, test_probe);
  tcase_add_test(tc, test_fake_contract);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return ck_run(anefake_suite()); }
