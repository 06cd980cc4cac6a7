/* test_cpu.c - the cpu reference backend.
 *
 * Every expected number is worked out by hand (the arithmetic is in the
 * comments) or from a closed formula, then rounded to fp16 by hand where
 * the program is fp16: a value v in [2^e, 2^(e+1)) is a multiple of
 * 2^(e-10); "q" below is v divided by that step, rounded half to even.
 * Programs are MIL text read by mil_parse, except where a test needs a
 * program built in memory. */
#include <check.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "check_main.h"
#include "cpu.h"
#include "fp16.h"
#include "opdef.h"

/* ---- harness --------------------------------------------------------------- */

#define PROG(sig, body, outs) \
  "program(1.3)\n{\n func main<ios18>(" sig ") {\n" body " } -> (" outs ");\n}\n"

typedef struct Case {
  Src src;
  MilProg *p;
  Model m;
  void *st;
  FILE *errf;
  char *err;
  size_t errlen;
  Diag d;
} Case;

/* Parses text and opens the backend on its main; returns open()'s result.
 * c->err holds what was reported. */
static int case_open_o(Case *c, const char *text, WStore *w, const BackendOpts *o) {
  memset(c, 0, sizeof *c);
  c->src = (Src){"test.mil", text, strlen(text)};
  c->errf = open_memstream(&c->err, &c->errlen);
  c->d = (Diag){c->errf, 0};
  c->p = mil_parse(&c->src, &c->d);
  fflush(c->errf);
  ck_assert_msg(c->p != NULL, "parse failed: %s", c->err);
  c->m = (Model){"test", NULL, c->p, mil_find_func(c->p, "main"), w};
  int rc = cpu_backend.open(&c->m, o, &c->st, &c->d);
  fflush(c->errf);
  return rc;
}

static int case_open_w(Case *c, const char *text, WStore *w) {
  BackendOpts o = {0};
  return case_open_o(c, text, w, &o);
}

static int case_open(Case *c, const char *text) { return case_open_w(c, text, NULL); }

static void case_close(Case *c) {
  if (c->st)
    cpu_backend.close(c->st);
  mil_free(c->p);
  fclose(c->errf);
  free(c->err);
}

/* Input i as an fp32 tensor. */
static void case_in(Case *c, int i, int rank, const int64_t *dim, const double *v) {
  Tensor t;
  ck_assert_int_eq(tensor_alloc(&t, MIL_FP32, rank, dim), 0);
  for (int64_t k = 0; k < tensor_numel(&t); k++)
    ((float *)t.data)[k] = (float)v[k];
  ck_assert_int_eq(cpu_backend.set_input(c->st, i, &t, &c->d), 0);
  tensor_free(&t);
}

static void case_eval(Case *c) {
  double ms = -1;
  ck_assert_int_eq(cpu_backend.eval(c->st, &ms, &c->d), 0);
  ck_assert(ms == -1);   /* a measured backend leaves *ms alone */
}

/* Checks output i: dtype, shape and every element exactly. */
static void expect_out(Case *c, int i, MilDtype dt, int rank, const int64_t *dim,
                       const double *want) {
  Tensor t;
  ck_assert_int_eq(cpu_backend.get_output(c->st, i, &t, &c->d), 0);
  ck_assert_int_eq(t.dtype, dt);
  ck_assert_int_eq(t.rank, rank);
  for (int k = 0; k < rank; k++)
    ck_assert_int_eq(t.dim[k], dim[k]);
  for (int64_t k = 0; k < tensor_numel(&t); k++)
    ck_assert_msg(tensor_get(&t, k) == want[k], "output %d element %lld: got %.12g, want %.12g",
                  i, (long long)k, tensor_get(&t, k), want[k]);
  tensor_free(&t);
}

/* One input, one output: open, feed, evaluate, check, close. */
static void run1(const char *text, int rank, const int64_t *dim, const double *x, MilDtype odt,
                 int orank, const int64_t *odim, const double *want) {
  Case c;
  ck_assert_msg(case_open(&c, text) == 0, "open failed: %s", c.err);
  if (rank >= 0)
    case_in(&c, 0, rank, dim, x);
  case_eval(&c);
  expect_out(&c, 0, odt, orank, odim, want);
  case_close(&c);
}

/* Opening must fail with a message containing every string in want[]. */
static void expect_parse_error(const char *text, const char *want);

static void expect_open_error(const char *text, const char *const *want, int n) {
  Case c;
  ck_assert_int_eq(case_open(&c, text), -1);
  ck_assert_int_ge(c.d.nerrors, 1);
  for (int i = 0; i < n; i++)
    ck_assert_msg(strstr(c.err, want[i]) != NULL, "missing \"%s\" in: %s", want[i], c.err);
  case_close(&c);
}

/* x = 1..9 as [1, 1, 3, 3] (row-major: rows 1 2 3 / 4 5 6 / 7 8 9) */
static const int64_t D1133[] = {1, 1, 3, 3};
static const double X1to9[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};

/* ---- conv -------------------------------------------------------------------- */

START_TEST(test_conv_2x2) {
  /* w = [[1, 2], [3, 4]], valid, stride 1, bias 0.5:
   *   y00 = 1*1 + 2*2 + 3*4 + 4*5 + .5 = 37.5   y01 = 2 + 6 + 15 + 24 + .5 = 47.5
   *   y10 = 4 + 10 + 21 + 32 + .5 = 67.5         y11 = 5 + 12 + 24 + 36 + .5 = 77.5 */
  static const char *t = PROG("tensor<fp16, [1, 1, 3, 3]> x",
    "  tensor<fp16, [1, 1, 2, 2]> w = const()[name = string(\"w\"), val = tensor<fp16, [1, 1, 2, 2]>([[[[1, 2], [3, 4]]]])];\n"
    "  tensor<fp16, [1, 1, 2, 2]> y = conv(bias = tensor<fp16, [1]>([0.5]), pad_type = string(\"valid\"), weight = w, x = x)[name = string(\"y\")];\n",
    "y");
  static const int64_t od[] = {1, 1, 2, 2};
  static const double want[] = {37.5, 47.5, 67.5, 77.5};
  run1(t, 4, D1133, X1to9, MIL_FP16, 4, od, want);
}
END_TEST

START_TEST(test_conv_pad_stride) {
  /* w = ones 2x2, stride 2, pad 1 on every side: the padded input is
   *   0 0 0 0 0 / 0 1 2 3 0 / 0 4 5 6 0 / 0 7 8 9 0 / 0 0 0 0 0
   * out = floor((3 + 2 - 2) / 2) + 1 = 2; windows at rows/cols 0 and 2:
   *   0+0+0+1 = 1, 0+0+2+3 = 5, 0+4+0+7 = 11, 5+6+8+9 = 28 */
  static const char *custom = PROG("tensor<fp16, [1, 1, 3, 3]> x",
    "  tensor<fp16, [1, 1, 2, 2]> y = conv(pad = tensor<int32, [4]>([1, 1, 1, 1]), pad_type = string(\"custom\"), strides = tensor<int32, [2]>([2, 2]), weight = tensor<fp16, [1, 1, 2, 2]>([[[[1, 1], [1, 1]]]]), x = x)[name = string(\"y\")];\n",
    "y");
  static const int64_t od[] = {1, 1, 2, 2};
  static const double want[] = {1, 5, 11, 28};
  run1(custom, 4, D1133, X1to9, MIL_FP16, 4, od, want);
  /* same, stride 2: out = ceil(3/2) = 2, total pad = (2-1)*2 + 2 - 3 = 1,
   * all of it after: rows 1 2 3 / 4 5 6 / 7 8 9 / 0 0 0 (+ a zero column):
   *   1+2+4+5 = 12, 3+0+6+0 = 9, 7+8+0+0 = 15, 9 */
  static const char *same = PROG("tensor<fp16, [1, 1, 3, 3]> x",
    "  tensor<fp16, [1, 1, 2, 2]> y = conv(pad_type = string(\"same\"), strides = tensor<int32, [2]>([2, 2]), weight = tensor<fp16, [1, 1, 2, 2]>([[[[1, 1], [1, 1]]]]), x = x)[name = string(\"y\")];\n",
    "y");
  static const double want_same[] = {12, 9, 15, 9};
  run1(same, 4, D1133, X1to9, MIL_FP16, 4, od, want_same);
  /* same_lower puts the pad before: the windows of the custom case */
  static const char *lower = PROG("tensor<fp16, [1, 1, 3, 3]> x",
    "  tensor<fp16, [1, 1, 2, 2]> y = conv(pad_type = string(\"same_lower\"), strides = tensor<int32, [2]>([2, 2]), weight = tensor<fp16, [1, 1, 2, 2]>([[[[1, 1], [1, 1]]]]), x = x)[name = string(\"y\")];\n",
    "y");
  run1(lower, 4, D1133, X1to9, MIL_FP16, 4, od, want);
}
END_TEST

START_TEST(test_conv_groups) {
  /* 2 groups of one channel: x0 = [[1, 2], [3, 4]], x1 = [[5, 6], [7, 8]];
   * weight [2, 1, 1, 2]: out0 = x0 * [1, 1] (rows: 1+2 = 3, 3+4 = 7),
   * out1 = x1 * [1, -1] (rows: 5-6 = -1, 7-8 = -1) */
  static const char *t = PROG("tensor<fp32, [1, 2, 2, 2]> x",
    "  tensor<fp32, [1, 2, 2, 1]> y = conv(groups = int32(2), weight = tensor<fp32, [2, 1, 1, 2]>([[[[1, 1]]], [[[1, -1]]]]), x = x)[name = string(\"y\")];\n",
    "y");
  static const int64_t d[] = {1, 2, 2, 2}, od[] = {1, 2, 2, 1};
  static const double x[] = {1, 2, 3, 4, 5, 6, 7, 8}, want[] = {3, 7, -1, -1};
  run1(t, 4, d, x, MIL_FP32, 4, od, want);
  /* 1x1, 2 groups, 4 outputs: out c uses weight c on group c / 2:
   *   1*x0, 2*x0, 3*x1, 4*x1 */
  static const char *t2 = PROG("tensor<fp32, [1, 2, 1, 2]> x",
    "  tensor<fp32, [1, 4, 1, 2]> y = conv(groups = int32(2), weight = tensor<fp32, [4, 1, 1, 1]>([[[[1]]], [[[2]]], [[[3]]], [[[4]]]]), x = x)[name = string(\"y\")];\n",
    "y");
  static const int64_t d2[] = {1, 2, 1, 2}, od2[] = {1, 4, 1, 2};
  static const double x2[] = {1, 2, 5, 6}, want2[] = {1, 2, 2, 4, 15, 18, 20, 24};
  run1(t2, 4, d2, x2, MIL_FP32, 4, od2, want2);
}
END_TEST

START_TEST(test_conv_groups_im2col) {
  /* 2 groups of 2 channels, kernel 1x2 (so im2col + one GEMM per group):
   * x: ch0 = [1, 2], ch1 = [3, 4], ch2 = [5, 6], ch3 = [7, 8];
   * out0 = ch0 . [1, 1] + ch1 . [1, -1] = 3 + -1 = 2;
   * out1 = ch2 . [1, 0] + ch3 . [0, 1] = 5 + 8 = 13 */
  static const char *t = PROG("tensor<fp32, [1, 4, 1, 2]> x",
    "  tensor<fp32, [1, 2, 1, 1]> y = conv(groups = int32(2), weight = tensor<fp32, [2, 2, 1, 2]>([[[[1, 1]], [[1, -1]]], [[[1, 0]], [[0, 1]]]]), x = x)[name = string(\"y\")];\n",
    "y");
  static const int64_t d[] = {1, 4, 1, 2}, od[] = {1, 2, 1, 1};
  static const double x[] = {1, 2, 3, 4, 5, 6, 7, 8}, want[] = {2, 13};
  run1(t, 4, d, x, MIL_FP32, 4, od, want);
}
END_TEST

START_TEST(test_conv_depthwise) {
  /* groups = channels, 3x3, same padding: channel 0 = 1..9 with a ones
   * kernel sums each zero-padded 3x3 neighbourhood:
   *   1+2+4+5 = 12, 1+..+6 = 21, 2+3+5+6 = 16, 1+2+4+5+7+8 = 27, 45,
   *   2+3+5+6+8+9 = 33, 4+5+7+8 = 24, 4+..+9 = 39, 5+6+8+9 = 28;
   * channel 1 = 1..9 with only the centre tap, 2, and bias 1: 2x + 1 */
  static const char *t = PROG("tensor<fp16, [1, 2, 3, 3]> x",
    "  tensor<fp16, [1, 2, 3, 3]> y = conv(bias = tensor<fp16, [2]>([0, 1]), groups = int32(2), pad_type = string(\"same\"), weight = tensor<fp16, [2, 1, 3, 3]>([[[[1, 1, 1], [1, 1, 1], [1, 1, 1]]], [[[0, 0, 0], [0, 2, 0], [0, 0, 0]]]]), x = x)[name = string(\"y\")];\n",
    "y");
  static const int64_t d[] = {1, 2, 3, 3};
  static const double x[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  static const double want[] = {12, 21, 16, 27, 45, 33, 24, 39, 28,
                                3, 5, 7, 9, 11, 13, 15, 17, 19};
  run1(t, 4, d, x, MIL_FP16, 4, d, want);
  /* stride 2, same: out ceil(3/2) = 2, total pad (2-1)*2 + 3 - 3 = 2, one
   * each side: the windows centred on the corners: 12, 16, 24, 28 and
   * 2x + 1 at the corners: 3, 7, 15, 19 */
  static const char *t2 = PROG("tensor<fp16, [1, 2, 3, 3]> x",
    "  tensor<fp16, [1, 2, 2, 2]> y = conv(bias = tensor<fp16, [2]>([0, 1]), groups = int32(2), pad_type = string(\"same\"), strides = tensor<int32, [2]>([2, 2]), weight = tensor<fp16, [2, 1, 3, 3]>([[[[1, 1, 1], [1, 1, 1], [1, 1, 1]]], [[[0, 0, 0], [0, 2, 0], [0, 0, 0]]]]), x = x)[name = string(\"y\")];\n",
    "y");
  static const int64_t od[] = {1, 2, 2, 2};
  static const double want2[] = {12, 16, 24, 28, 3, 7, 15, 19};
  run1(t2, 4, d, x, MIL_FP16, 4, od, want2);
}
END_TEST

/* "[[...]]" of a [2, 8, 3, 3] weight: out 0 reads channel 0 through a
 * ones kernel, out 1 channel 0 at tap (0, 1) and channel 1 at tap (1, 2). */
static void wino_weight_text(char *buf, size_t n) {
  size_t o = (size_t)snprintf(buf, n, "[");
  for (int ko = 0; ko < 2; ko++) {
    o += (size_t)snprintf(buf + o, n - o, "%s[", ko ? ", " : "");
    for (int c = 0; c < 8; c++) {
      o += (size_t)snprintf(buf + o, n - o, "%s[", c ? ", " : "");
      for (int t = 0; t < 9; t++) {
        int v = ko == 0 ? c == 0 : (c == 0 && t == 1) || (c == 1 && t == 5);
        o += (size_t)snprintf(buf + o, n - o, "%s%d%s", t % 3 ? ", " : t ? ", [" : "[", v,
                              t % 3 == 2 ? "]" : "");
      }
      o += (size_t)snprintf(buf + o, n - o, "]");
    }
    o += (size_t)snprintf(buf + o, n - o, "]");
  }
  snprintf(buf + o, n - o, "]");
}

START_TEST(test_conv3x3_winograd) {
  /* x [1, 8, 19, 21]: x0 = w (the column), x1 = 10 h, channels 2..7 all
   * 100 (read by no tap: they show any channel mix-up); 3x3, same padding,
   * bias (0, 1). With 8 channels and 19x21 (odd: partial tiles) it takes
   * the Winograd path: F(2x2, 3x3) in fp32, F(4x4, 3x3) in fp16 (every
   * value exact there). Inputs that vary along both axes, as constant ones
   * make some rows of the transformed tiles zero.
   *   y0 = (the window's rows inside x: 3 - [h = 0] - [h = 18]) times the
   *        sum of its columns w - 1, w, w + 1 inside [0, 20]
   *   y1 = x0 at (h - 1, w) + x1 at (h, w + 1) + 1 = [h >= 1] w + [w <= 19] 10 h + 1 */
  enum { H = 19, W = 21 };
  static char w[4096], text[8192];
  wino_weight_text(w, sizeof w);
  static const int64_t d[] = {1, 8, H, W}, od[] = {1, 2, H, W};
  static double x[8 * H * W], want[2 * H * W];
  for (int i = 0; i < 8 * H * W; i++)
    x[i] = i < H * W ? i % W : i < 2 * H * W ? 10 * (i / W % H) : 100;
  for (int h = 0; h < H; h++)
    for (int c = 0; c < W; c++) {
      int cols = (c > 0 ? c - 1 : 0) + c + (c < W - 1 ? c + 1 : 0);
      want[h * W + c] = (3 - (h == 0) - (h == H - 1)) * cols;
      want[H * W + h * W + c] = (h >= 1) * c + (c <= W - 2) * 10 * h + 1;
    }
  for (int f16 = 0; f16 < 2; f16++) {
    const char *dt = f16 ? "fp16" : "fp32";
    snprintf(text, sizeof text,
             "program(1.3)\n{\n func main<ios18>(tensor<%s, [1, 8, %d, %d]> x) {\n"
             "  tensor<%s, [2, 8, 3, 3]> w = const()[name = string(\"w\"), val = tensor<%s, [2, 8, 3, 3]>(%s)];\n"
             "  tensor<%s, [1, 2, %d, %d]> y = conv(bias = tensor<%s, [2]>([0, 1]), pad_type = string(\"same\"), weight = w, x = x)[name = string(\"y\")];\n"
             " } -> (y);\n}\n", dt, H, W, dt, dt, w, dt, H, W, dt);
    run1(text, 4, d, x, f16 ? MIL_FP16 : MIL_FP32, 4, od, want);
  }
  int64_t k[18] = {1, 8, H, W, 2, 3, 3, 1, 1, 1, 1, 1, 1, H, W, 1};
  ck_assert(cpu_wino_fits(k));
  k[7] = 2;   /* stride 2 */
  ck_assert(!cpu_wino_fits(k));
}
END_TEST

START_TEST(test_wino_weights) {
  /* U = G g G^T with G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1] (Lavin
   * and Gray): for g = ones, G g = a 1^T with a = G 1 = (1, 3/2, 1/2, 1),
   * so U = a a^T. For g = e_00 (the top-left tap alone), G e_0 = (1, 1/2,
   * 1/2, 0), U = that vector's outer product. U is stored [a^2][K][C]. */
  float g[18] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0}, u[32];
  const double a[4] = {1, 1.5, 0.5, 1}, b[4] = {1, 0.5, 0.5, 0};
  cpu_wino_weights(u, g, 2, 1, 2);
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) {
      ck_assert_double_eq(u[(4 * i + j) * 2 + 0], a[i] * a[j]);
      ck_assert_double_eq(u[(4 * i + j) * 2 + 1], b[i] * b[j]);
    }
  /* F(4x4, 3x3)'s G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12
   * 1/6; 1/24 -1/12 1/6; 0 0 1]: G 1 = (1/4, -1/2, -1/6, 7/24, 1/8, 1) and
   * G e_0 = (1/4, -1/6, -1/6, 1/24, 1/24, 0) */
  float u4[72];
  const double a4[6] = {0.25, -0.5, -1.0 / 6, 7.0 / 24, 0.125, 1};
  const double b4[6] = {0.25, -1.0 / 6, -1.0 / 6, 1.0 / 24, 1.0 / 24, 0};
  cpu_wino_weights(u4, g, 2, 1, 4);
  for (int i = 0; i < 6; i++)
    for (int j = 0; j < 6; j++) {
      ck_assert_double_eq_tol(u4[(6 * i + j) * 2 + 0], a4[i] * a4[j], 1e-7);
      ck_assert_double_eq_tol(u4[(6 * i + j) * 2 + 1], b4[i] * b4[j], 1e-7);
    }
}
END_TEST

START_TEST(test_conv_dilation) {
  /* x = 1..16 as 4x4, w = ones 2x2, dilation 2: taps at offsets 0 and 2,
   * k_eff = 3, out 2x2:
   *   1+3+9+11 = 24, 2+4+10+12 = 28, 5+7+13+15 = 40, 6+8+14+16 = 44 */
  static const char *t = PROG("tensor<fp16, [1, 1, 4, 4]> x",
    "  tensor<fp16, [1, 1, 2, 2]> y = conv(dilations = tensor<int32, [2]>([2, 2]), weight = tensor<fp16, [1, 1, 2, 2]>([[[[1, 1], [1, 1]]]]), x = x)[name = string(\"y\")];\n",
    "y");
  static const int64_t d[] = {1, 1, 4, 4}, od[] = {1, 1, 2, 2};
  double x[16];
  for (int i = 0; i < 16; i++)
    x[i] = i + 1;
  static const double want[] = {24, 28, 40, 44};
  run1(t, 4, d, x, MIL_FP16, 4, od, want);
}
END_TEST

START_TEST(test_conv1d) {
  /* rank 3: x [1, 1, 5] = 1..5, w [1, 1, 3] = [1, 0, -1], stride 2:
   * out = (5 - 3) / 2 + 1 = 2: 1-3 = -2, 3-5 = -2 */
  static const char *t = PROG("tensor<fp32, [1, 1, 5]> x",
    "  tensor<fp32, [1, 1, 2]> y = conv(strides = tensor<int32, [1]>([2]), weight = tensor<fp32, [1, 1, 3]>([[[1, 0, -1]]]), x = x)[name = string(\"y\")];\n",
    "y");
  static const int64_t d[] = {1, 1, 5}, od[] = {1, 1, 2};
  static const double x[] = {1, 2, 3, 4, 5}, want[] = {-2, -2};
  run1(t, 3, d, x, MIL_FP32, 3, od, want);
}
END_TEST

/* conv_quantized, "linear": W = W_q * quant_scale + quant_bias. x [1, 1, 4]
 * = 1..4, W_q [1, 1, 2] = [7, 2], scale 0.5, bias -1: W = [2.5, 0], so
 * y[i] = 2.5 x[i] + 0 x[i + 1] = 2.5, 5, 7.5. */
#define QCONV(params, w) \
  PROG("tensor<fp32, [1, 1, 4]> x", \
    "  tensor<fp32, [1, 1, 3]> y = conv_quantized(" params "quant_bias = tensor<fp32, [1]>([-1]), " \
    "quant_scale = tensor<fp32, [1]>([0.5]), weight = " w ", x = x)[name = string(\"y\")];\n", "y")
#define QW72 "tensor<uint8, [1, 1, 2]>([[[7, 2]]])"

START_TEST(test_conv_quantized) {
  static const int64_t d[] = {1, 1, 4}, od[] = {1, 1, 3};
  static const double x[] = {1, 2, 3, 4}, want[] = {2.5, 5, 7.5};
  run1(QCONV("quantization_type = string(\"linear\"), ", QW72), 3, d, x, MIL_FP32, 3, od, want);
  /* each check of prep_conv_quantized, located at the op */
  static const char *const lut[] = {"test.mil:4:3: error: conv_quantized: quantization_type \"lut\" "
                                    "is not supported"};
  expect_open_error(QCONV("quantization_type = string(\"lut\"), ", QW72), lut, 1);
  static const char *const bits[] = {"test.mil:4:3: error: conv_quantized: nbits is 9; 1 to 8 expected"};
  expect_open_error(QCONV("nbits = int32(9), quantization_type = string(\"linear\"), ", QW72), bits, 1);
  /* 7 needs 3 bits: nbits 2 holds 0..3 only */
  static const char *const fit[] = {"test.mil:4:3: error: conv_quantized: weight value 7 does not "
                                    "fit 2 bits"};
  expect_open_error(QCONV("nbits = int32(2), quantization_type = string(\"linear\"), ", QW72), fit, 1);
  static const char *const u8[] = {"test.mil:4:3: error: conv_quantized: weight must be uint8"};
  expect_open_error(QCONV("quantization_type = string(\"linear\"), ",
                          "tensor<int8, [1, 1, 2]>([[[7, 2]]])"), u8, 1);
  /* one output channel: a scale of 2 values fits neither form */
  static const char *const sc[] = {"test.mil:4:3: error: conv_quantized: quant_scale and quant_bias "
                                   "must be float, one value or one per output channel (1)"};
  expect_open_error(PROG("tensor<fp32, [1, 1, 4]> x",
    "  tensor<fp32, [1, 1, 3]> y = conv_quantized(quant_bias = tensor<fp32, [1]>([-1]), "
    "quant_scale = tensor<fp32, [2]>([0.5, 1]), quantization_type = string(\"linear\"), "
    "weight = " QW72 ", x = x)[name = string(\"y\")];\n", "y"), sc, 1);
}
END_TEST

START_TEST(test_conv1x1_is_matmul) {
  /* x: 2 channels of 3 positions, ch0 = [1, 2, 3], ch1 = [4, 5, 6];
   * W = [[1, 2], [3, 4]]; y[co][s] = sum_ci W[co][ci] x[ci][s]:
   *   co0: 1+8 = 9, 2+10 = 12, 3+12 = 15; co1: 3+16 = 19, 6+20 = 26, 9+24 = 33
   * The same product written as matmul(W, x as [2, 3]) gives the same. */
  static const char *t = PROG("tensor<fp16, [1, 2, 1, 3]> x",
    "  tensor<fp16, [2, 2, 1, 1]> w = const()[name = string(\"w\"), val = tensor<fp16, [2, 2, 1, 1]>([[[[1]], [[2]]], [[[3]], [[4]]]])];\n"
    "  tensor<fp16, [1, 2, 1, 3]> y = conv(weight = w, x = x)[name = string(\"y\")];\n"
    "  tensor<fp16, [2, 3]> x2 = reshape(shape = tensor<int32, [2]>([2, 3]), x = x)[name = string(\"x2\")];\n"
    "  tensor<fp16, [2, 2]> w2 = reshape(shape = tensor<int32, [2]>([2, 2]), x = w)[name = string(\"w2\")];\n"
    "  tensor<fp16, [2, 3]> z = matmul(x = w2, y = x2)[name = string(\"z\")];\n",
    "y, z");
  Case c;
  ck_assert_msg(case_open(&c, t) == 0, "%s", c.err);
  static const int64_t d[] = {1, 2, 1, 3}, zd[] = {2, 3};
  static const double x[] = {1, 2, 3, 4, 5, 6}, want[] = {9, 12, 15, 19, 26, 33};
  case_in(&c, 0, 4, d, x);
  case_eval(&c);
  expect_out(&c, 0, MIL_FP16, 4, d, want);
  expect_out(&c, 1, MIL_FP16, 2, zd, want);
  case_close(&c);
}
END_TEST

/* ---- quantisation ---------------------------------------------------------------- */

START_TEST(test_conv_w8a8_int8_path) {
  /* x [1, 5, 1, 3] quantized with scale 0.5 (x / 0.5 rounded half to even,
   * saturated), dequantized: q * 0.5.
   *   c0:  0.25  0.75  100    -> q 0  2  127   -> 0   1    63.5
   *   c1: -0.25 -0.75 -100    -> q 0 -2 -128   -> 0  -1   -64
   *   c2:  1.25  0.5   1      -> q 2  1  2     -> 1   0.5  1
   *   c3:  2    -3     63.5   -> q 4 -6  127   -> 2  -3    63.5
   *   c4:  0     1.75 -64.25  -> q 0  4 -128   -> 0   2   -64
   * W = q * scale per row: [1, 2, 3, 4, 5] * 0.5, [-128, 127, 0, 1, -1] *
   * 0.25, zeros * 2; bias [0.5, -1, 3]. y[m][n] = sum_c W[m][c] x[c][n] + b[m]:
   *   n0: 1.5 + 4 + 0.5 = 6;  0.5 - 1 = -0.5;  3
   *   n1: 0.5 - 1 + 0.75 - 6 + 5 + 0.5 = -0.25;  -32 - 31.75 - 0.75 - 0.5 - 1 = -66;  3
   *   n2: 31.75 - 64 + 1.5 + 127 - 160 + 0.5 = -63.25;
   *       -2032 - 2032 + 15.875 + 16 - 1 = -4033.125, fp16 step 2 there: -4034;  3
   * yq = y / 0.5 rounded half to even, saturated: 12, -0.5 -> 0, -126.5 -> -126,
   * -1, -132 -> -128, -8068 -> -128, 6, 6, 6.
   * On AVX512-VNNI CPUs the conv is the int8 GEMM and writes yq itself (the
   * plan shows both). */
  static const char *t = PROG("tensor<fp16, [1, 5, 1, 3]> x",
    "  tensor<int8, [1, 5, 1, 3]> q = quantize(input = x, output_dtype = string(\"int8\"), scale = fp16(0.5))[name = string(\"q\")];\n"
    "  tensor<fp16, [1, 5, 1, 3]> xd = dequantize(input = q, scale = fp16(0.5))[name = string(\"xd\")];\n"
    "  tensor<fp16, [3, 5, 1, 1]> W = constexpr_affine_dequantize()[axis = int32(0), name = string(\"W\"), quantized_data = tensor<int8, [3, 5, 1, 1]>([[[[1]], [[2]], [[3]], [[4]], [[5]]], [[[-128]], [[127]], [[0]], [[1]], [[-1]]], [[[0]], [[0]], [[0]], [[0]], [[0]]]]), scale = tensor<fp16, [3]>([0.5, 0.25, 2]), zero_point = tensor<int8, [3]>([0, 0, 0])];\n"
    "  tensor<fp16, [3]> b = const()[name = string(\"b\"), val = tensor<fp16, [3]>([0.5, -1, 3])];\n"
    "  tensor<fp16, [1, 3, 1, 3]> y = conv(bias = b, weight = W, x = xd)[name = string(\"y\")];\n"
    "  tensor<int8, [1, 3, 1, 3]> yq = quantize(input = y, output_dtype = string(\"int8\"), scale = fp16(0.5))[name = string(\"yq\")];\n",
    "y, yq");
  Case c;
  ck_assert_msg(case_open(&c, t) == 0, "%s", c.err);
  static const int64_t d[] = {1, 5, 1, 3}, od[] = {1, 3, 1, 3};
  static const double x[] = {0.25, 0.75, 100, -0.25, -0.75, -100, 1.25, 0.5, 1,
                             2, -3, 63.5, 0, 1.75, -64.25};
  static const double want[] = {6, -0.25, -63.25, -0.5, -66, -4034, 3, 3, 3};
  const CpuPlan *p = c.st;
  const CpuStep *conv = &p->steps[p->nsteps - 2];
  ck_assert_str_eq(conv->op->op, "conv");
  ck_assert_int_eq(conv->in[3] >= 0, cpu_igemm_available());
  ck_assert_int_eq(conv->nout, cpu_igemm_available() ? 2 : 1);
  case_in(&c, 0, 4, d, x);
  case_eval(&c);
  expect_out(&c, 0, MIL_FP16, 4, od, want);
  static const double wantq[] = {12, 0, -126, -1, -128, -128, 6, 6, 6};
  expect_out(&c, 1, MIL_INT8, 4, od, wantq);
  case_close(&c);
}
END_TEST


START_TEST(test_quantize_ties) {
  /* x / scale = 0.5, 1.5, 2.5, -0.5, 3.5, -1.5, -2.5 round half to even:
   * 0, 2, 2, -0, 4, -2, -2. scale 0.0625: x = k * 0.0625 */
  static const char *t16 = PROG("tensor<fp16, [7]> x",
    "  tensor<int8, [7]> q = quantize(input = x, output_dtype = string(\"int8\"), scale = fp16(0.0625))[name = string(\"q\")];\n",
    "q");
  static const int64_t d[] = {7};
  static const double k[] = {0.5, 1.5, 2.5, -0.5, 3.5, -1.5, -2.5};
  static const double want[] = {0, 2, 2, 0, 4, -2, -2};
  double x[7];
  for (int i = 0; i < 7; i++)
    x[i] = k[i] * 0.0625;
  run1(t16, 1, d, x, MIL_INT8, 1, d, want);
  static const char *t8 = PROG("tensor<fp16, [7]> x",
    "  tensor<int8, [7]> q = quantize(input = x, output_dtype = string(\"int8\"), scale = fp16(0.125))[name = string(\"q\")];\n",
    "q");
  for (int i = 0; i < 7; i++)
    x[i] = k[i] * 0.125;
  run1(t8, 1, d, x, MIL_INT8, 1, d, want);
}
END_TEST

START_TEST(test_quantize_clamp) {
  /* scale 0.125: x / scale = 200 -> 127, -200 -> -128, 127.5 -> 128 -> 127,
   * -128.5 -> -128 (even), 126.5 -> 126 */
  static const char *t = PROG("tensor<fp32, [5]> x",
    "  tensor<int8, [5]> q = quantize(input = x, output_dtype = string(\"int8\"), scale = fp32(0.125))[name = string(\"q\")];\n",
    "q");
  static const int64_t d[] = {5};
  static const double x[] = {25, -25, 15.9375, -16.0625, 15.8125};
  static const double want[] = {127, -128, 127, -128, 126};
  run1(t, 1, d, x, MIL_INT8, 1, d, want);
  /* uint8, zero point 128, scale 0.5: x/s = -200 -> -72 -> 0, 0.5 -> 0 + 128,
   * 127.5 -> 128 + 128 = 256 -> 255, 1.5 -> 2 + 128 = 130 */
  static const char *u = PROG("tensor<fp32, [4]> x",
    "  tensor<uint8, [4]> q = quantize(input = x, output_dtype = string(\"uint8\"), scale = fp32(0.5), zero_point = uint8(128))[name = string(\"q\")];\n",
    "q");
  static const int64_t du[] = {4};
  static const double xu[] = {-100, 0.25, 63.75, 0.75}, wu[] = {0, 128, 255, 130};
  run1(u, 1, du, xu, MIL_UINT8, 1, du, wu);
}
END_TEST

START_TEST(test_quantize_per_axis) {
  /* x [2, 2], axis 1: column 0 scale 0.5 zero 1, column 1 scale 0.25 zero -1:
   *   [1, 1]: 1/.5 + 1 = 3, 1/.25 - 1 = 3;  [-1, 0.375]: -2 + 1 = -1, 1.5 -> 2, 2 - 1 = 1 */
  static const char *t = PROG("tensor<fp32, [2, 2]> x",
    "  tensor<int8, [2, 2]> q = quantize(axis = int32(1), input = x, output_dtype = string(\"int8\"), scale = tensor<fp32, [2]>([0.5, 0.25]), zero_point = tensor<int8, [2]>([1, -1]))[name = string(\"q\")];\n",
    "q");
  static const int64_t d[] = {2, 2};
  static const double x[] = {1, 1, -1, 0.375}, want[] = {3, 3, -1, 1};
  run1(t, 2, d, x, MIL_INT8, 2, d, want);
}
END_TEST

START_TEST(test_dequantize_zero_point) {
  /* y = 0.5 * (q - 3): q = -128, -1, 0, 5, 127 -> -65.5, -2, -1.5, 1, 62 */
  static const char *t = PROG("tensor<int8, [5]> q",
    "  tensor<fp16, [5]> y = dequantize(input = q, scale = fp16(0.5), zero_point = int8(3))[name = string(\"y\")];\n",
    "y");
  static const int64_t d[] = {5};
  static const double q[] = {-128, -1, 0, 5, 127}, want[] = {-65.5, -2, -1.5, 1, 62};
  run1(t, 1, d, q, MIL_FP16, 1, d, want);
  /* quantize then dequantize (the seed's W8A8 pair), scale 0.125:
   * 0.3 / 0.125 = 2.4 -> 2 -> 0.25; -1.0625 / 0.125 = -8.5 -> -8 -> -1;
   * 20 -> 160 -> 127 -> 15.875 */
  static const char *qd = PROG("tensor<fp16, [3]> x",
    "  tensor<int8, [3]> q = quantize(input = x, output_dtype = string(\"int8\"), scale = fp16(0.125))[name = string(\"q\")];\n"
    "  tensor<fp16, [3]> y = dequantize(input = q, scale = fp16(0.125))[name = string(\"y\")];\n",
    "y");
  static const int64_t d3[] = {3};
  static const double x3[] = {0.3, -1.0625, 20}, w3[] = {0.25, -1, 15.875};
  run1(qd, 1, d3, x3, MIL_FP16, 1, d3, w3);
}
END_TEST

START_TEST(test_dequantize_fp16_rounding) {
  /* A power-of-two scale whose products all fit fp16 skips the rounding
   * pass: 2^-24 * (1, -3, 127) are fp16 subnormals, exact either way. */
  static const char *sub = PROG("tensor<int8, [3]> q",
    "  tensor<fp16, [3]> y = dequantize(input = q, scale = fp16(0x1p-24))[name = string(\"y\")];\n",
    "y");
  static const int64_t d[] = {3};
  static const double q[] = {1, -3, 127}, ws[] = {0x1p-24, -0x1.8p-23, 0x1.fcp-18};
  run1(sub, 1, d, q, MIL_FP16, 1, d, ws);
  /* 2^9 is a power of two, but -128 * 512 = -65536 overflows fp16: the
   * rounding stays, giving -inf; 127 * 512 = 65024 is exact */
  static const char *big = PROG("tensor<int8, [3]> q",
    "  tensor<fp16, [3]> y = dequantize(input = q, scale = fp16(512))[name = string(\"y\")];\n",
    "y");
  static const double qb[] = {-128, 127, 1}, wb[] = {-INFINITY, 65024, 512};
  run1(big, 1, d, qb, MIL_FP16, 1, d, wb);
  /* scale fp16(0.1) = 0.0999755859375: 3 and 7 times it in fp32 are
   * 0.29992676 and 0.6998291, which fp16 rounds to 0.2998046875 and
   * 0.69970703125 (numpy: float16(float32(s) * q)); -128 s = -12.796875 */
  static const char *tenth = PROG("tensor<int8, [3]> q",
    "  tensor<fp16, [3]> y = dequantize(input = q, scale = fp16(0.1))[name = string(\"y\")];\n",
    "y");
  static const double qt[] = {3, 7, -128}, wt[] = {0.2998046875, 0.69970703125, -12.796875};
  run1(tenth, 1, d, qt, MIL_FP16, 1, d, wt);
}
END_TEST

START_TEST(test_constexpr_affine) {
  /* attribute form (opset <= ios17 spelling), per-axis 0:
   * data [[1, 2, 3], [-4, -5, -6]], zero point [1, -2], scale [0.5, 0.25]:
   *   row 0: 0.5 * (1-1, 2-1, 3-1) = 0, 0.5, 1
   *   row 1: 0.25 * (-4+2, -5+2, -6+2) = -0.5, -0.75, -1 */
  static const char *attr = PROG("",
    "  tensor<fp16, [2, 3]> W = constexpr_affine_dequantize()[axis = int32(0), name = string(\"W\"), quantized_data = tensor<int8, [2, 3]>([[1, 2, 3], [-4, -5, -6]]), scale = tensor<fp16, [2]>([0.5, 0.25]), zero_point = tensor<int8, [2]>([1, -2])];\n",
    "W");
  static const int64_t d[] = {2, 3};
  static const double want[] = {0, 0.5, 1, -0.5, -0.75, -1};
  run1(attr, -1, NULL, NULL, MIL_FP16, 2, d, want);
  /* input form, uint8 data, scalar fp32 zero point 128.5, fp32 scale 2:
   *   2 * (128 - 128.5) = -1, 2 * (130 - 128.5) = 3, 2 * (0 - 128.5) = -257 */
  static const char *in = PROG("tensor<fp32, [3]> x",
    "  tensor<fp32, [3]> W = constexpr_affine_dequantize(axis = int32(0), quantized_data = tensor<uint8, [3]>([128, 130, 0]), scale = fp32(2), zero_point = fp32(128.5))[name = string(\"W\")];\n"
    "  tensor<fp32, [3]> y = add(x = x, y = W)[name = string(\"y\")];\n",
    "y");
  static const int64_t d3[] = {3};
  static const double x[] = {1, 1, 1}, w3[] = {0, 4, -256};
  run1(in, 1, d3, x, MIL_FP32, 1, d3, w3);
}
END_TEST

START_TEST(test_constexpr_blockwise) {
  /* data [[1, 2, 3, 4], [5, 6, 7, 8]], scale [[1, 2], [0.5, 0.25]],
   * offset [[0, 1], [2, 3]]: blocks of 1 row x 2 columns:
   *   1*(1-0) = 1, 1*(2-0) = 2, 2*(3-1) = 4, 2*(4-1) = 6,
   *   .5*(5-2) = 1.5, .5*(6-2) = 2, .25*(7-3) = 1, .25*(8-3) = 1.25 */
  static const char *t = PROG("",
    "  tensor<fp16, [2, 4]> W = constexpr_blockwise_shift_scale(data = tensor<int8, [2, 4]>([[1, 2, 3, 4], [5, 6, 7, 8]]), offset = tensor<int8, [2, 2]>([[0, 1], [2, 3]]), scale = tensor<fp16, [2, 2]>([[1, 2], [0.5, 0.25]]))[name = string(\"W\")];\n",
    "W");
  static const int64_t d[] = {2, 4};
  static const double want[] = {1, 2, 4, 6, 1.5, 2, 1, 1.25};
  run1(t, -1, NULL, NULL, MIL_FP16, 2, d, want);
}
END_TEST

START_TEST(test_constexpr_lut) {
  /* iOS16 form: 2-bit indices 0 1 2 3 3 2 1 0 packed LSB first:
   * byte 0 = 0 | 1<<2 | 2<<4 | 3<<6 = 228, byte 1 = 3 | 2<<2 | 1<<4 = 27 */
  static const char *v16 = PROG("",
    "  tensor<fp16, [2, 4]> W = constexpr_lut_to_dense()[indices = tensor<uint8, [2]>([228, 27]), lut = tensor<fp16, [4]>([-1, 0, 0.5, 2]), name = string(\"W\"), shape = tensor<uint32, [2]>([2, 4])];\n",
    "W");
  static const int64_t d[] = {2, 4};
  static const double want[] = {-1, 0, 0.5, 2, 2, 0.5, 0, -1};
  run1(v16, -1, NULL, NULL, MIL_FP16, 2, d, want);
  /* iOS18 form, one LUT per row ([2, 1, 4, 1]): row 0 uses 1 5 9 13,
   * row 1 uses 2 10 18 26; indices [[0, 1, 2, 3], [3, 2, 1, 0]] */
  static const char *v18 = PROG("",
    "  tensor<fp16, [2, 4]> W = constexpr_lut_to_dense(indices = tensor<uint2, [2, 4]>([[0, 1, 2, 3], [3, 2, 1, 0]]), lut = tensor<fp16, [2, 1, 4, 1]>([[[[1], [5], [9], [13]]], [[[2], [10], [18], [26]]]]))[name = string(\"W\")];\n",
    "W");
  static const double want18[] = {1, 5, 9, 13, 26, 18, 10, 2};
  run1(v18, -1, NULL, NULL, MIL_FP16, 2, d, want18);
  /* vectors of 2 along axis 1: palette 0 = [1, 2], 1 = [3, 4];
   * indices [[0, 1], [1, 0]] -> rows [1, 2, 3, 4] and [3, 4, 1, 2] */
  static const char *vec = PROG("",
    "  tensor<fp32, [2, 4]> W = constexpr_lut_to_dense(indices = tensor<uint1, [2, 2]>([[0, 1], [1, 0]]), lut = tensor<fp32, [1, 1, 2, 2]>([[[[1, 2], [3, 4]]]]), vector_axis = int32(1))[name = string(\"W\")];\n",
    "W");
  static const double wantv[] = {1, 2, 3, 4, 3, 4, 1, 2};
  run1(vec, -1, NULL, NULL, MIL_FP32, 2, d, wantv);
}
END_TEST

START_TEST(test_constexpr_sparse_shift) {
  /* mask [[1, 0, 1, 1], [0, 0, 0, 0], [1, 1, 0, 1]] (row 1 all zero), kept
   * int8 [5, -3, 7, 2, 0, -8], per-row (channel) scale [0.5, 2, 0.25] and
   * offset [1, 0, -2]:
   *   row 0: 0.5 * (5 - 1) = 2, 0.5 * (-3 - 1) = -2, 0.5 * (7 - 1) = 3
   *   row 2: 0.25 * (2 + 2) = 1, 0.25 * (0 + 2) = 0.5, 0.25 * (-8 + 2) = -1.5 */
#define SPARSE_SHIFT(off)                                                                  \
  "  tensor<uint1, [3, 4]> m, tensor<fp16, [6]> v = constexpr_sparse_blockwise_shift_scale("  \
  "data_mask = tensor<uint1, [3, 4]>([[1, 0, 1, 1], [0, 0, 0, 0], [1, 1, 0, 1]]), "          \
  "nonzero_data = tensor<int8, [6]>([5, -3, 7, 2, 0, -8]), " off                             \
  "scale = tensor<fp16, [3, 1]>([[0.5], [2], [0.25]]))[name = string(\"s\")];\n"
#define OFFSET "offset = tensor<int8, [3, 1]>([[1], [0], [-2]]), "
  static const char *vals = PROG("", SPARSE_SHIFT(OFFSET), "v");
  static const int64_t d6[] = {6};
  static const double want6[] = {2, -2, 3, 1, 0.5, -1.5};
  run1(vals, -1, NULL, NULL, MIL_FP16, 1, d6, want6);
  static const char *dense = PROG("", SPARSE_SHIFT(OFFSET)
    "  tensor<fp16, [3, 4]> W = constexpr_sparse_to_dense(mask = m, nonzero_data = v)[name = string(\"W\")];\n",
    "W");
  static const int64_t d[] = {3, 4};
  static const double want[] = {2, 0, -2, 3, 0, 0, 0, 0, 1, 0.5, 0, -1.5};
  run1(dense, -1, NULL, NULL, MIL_FP16, 2, d, want);
  /* without offset: 0.5 * 5 = 2.5, ..., 0.25 * -8 = -2 */
  static const char *nooff = PROG("", SPARSE_SHIFT(""), "v");
  static const double wantn[] = {2.5, -1.5, 3.5, 0.5, 0, -2};
  run1(nooff, -1, NULL, NULL, MIL_FP16, 1, d6, wantn);
  /* 6 set bits, 5 values; an offset of another shape; one of another dtype */
  static const char *const m1[] = {"test.mil:4:3: error: constexpr_sparse_blockwise_shift_scale: "
                                   "data_mask has 6 set bits; nonzero_data has 5 values"};
  expect_open_error(PROG("",
    "  tensor<uint1, [3, 4]> m, tensor<fp16, [5]> v = constexpr_sparse_blockwise_shift_scale(data_mask = tensor<uint1, [3, 4]>([[1, 0, 1, 1], [0, 0, 0, 0], [1, 1, 0, 1]]), nonzero_data = tensor<int8, [5]>([5, -3, 7, 2, 0]), scale = tensor<fp16, [3, 1]>([[0.5], [2], [0.25]]))[name = string(\"s\")];\n",
    "v"), m1, 1);
  static const char *const m2[] = {"error: constexpr_sparse_blockwise_shift_scale: offset must "
                                   "have the shape of scale"};
  expect_open_error(PROG("", SPARSE_SHIFT("offset = tensor<int8, [1, 3]>([[1, 0, -2]]), "), "v"),
                    m2, 1);
  static const char *const m3[] = {"offset is uint8; a float or data's dtype (int8) expected"};
  expect_open_error(PROG("", SPARSE_SHIFT("offset = tensor<uint8, [3, 1]>([[1], [0], [2]]), "),
                         "v"), m3, 1);
#undef OFFSET
#undef SPARSE_SHIFT
}
END_TEST

START_TEST(test_constexpr_lut_sparse) {
  /* one 2-bit LUT per pair of rows ([2, 1, 4, 1]): rows 0-1 use 1 5 9 13,
   * rows 2-3 use 2 10 18 26; mask [[1, 0], [1, 1], [0, 0], [0, 1]] (row 2
   * all zero), kept indices [3, 0, 2, 1]:
   *   (0, 0) -> 13, (1, 0) -> 1, (1, 1) -> 9, (3, 1) -> group 1 [1] = 10 */
#define LUT_SPARSE                                                                         \
  "  tensor<uint1, [4, 2]> m, tensor<fp16, [4]> v = constexpr_lut_to_sparse("              \
  "indices_mask = tensor<uint1, [4, 2]>([[1, 0], [1, 1], [0, 0], [0, 1]]), "                 \
  "indices_nonzero_data = tensor<uint2, [4]>([3, 0, 2, 1]), "                                \
  "lut = tensor<fp16, [2, 1, 4, 1]>([[[[1], [5], [9], [13]]], [[[2], [10], [18], [26]]]]))"  \
  "[name = string(\"s\")];\n"
  static const int64_t d4[] = {4}, d42[] = {4, 2};
  static const double want4[] = {13, 1, 9, 10}, wantd[] = {13, 0, 1, 9, 0, 0, 0, 10};
  run1(PROG("", LUT_SPARSE, "v"), -1, NULL, NULL, MIL_FP16, 1, d4, want4);
  run1(PROG("", LUT_SPARSE
    "  tensor<fp16, [4, 2]> W = constexpr_sparse_to_dense(mask = m, nonzero_data = v)[name = string(\"W\")];\n",
    "W"), -1, NULL, NULL, MIL_FP16, 2, d42, wantd);
#undef LUT_SPARSE
  /* vectors of 2 along axis 0: palette 0 = [1, 2], 1 = [3, 4]; mask
   * [[1, 0, 1], [0, 1, 0]], kept indices [1, 0, 1]. Each mask row is
   * repeated twice: rows 0-1 [1, 0, 1], rows 2-3 [0, 1, 0]; row 2a + v of
   * the output takes element v of the vectors of mask row a:
   *   row 0: 3 . 1   row 1: 4 . 2   row 2: . 3 .   row 3: . 4 .
   * kept values, row-major: 3 1 4 2 3 4 */
  static const char *vec = PROG("",
    "  tensor<uint1, [4, 3]> m, tensor<fp32, [6]> v = constexpr_lut_to_sparse(indices_mask = tensor<uint1, [2, 3]>([[1, 0, 1], [0, 1, 0]]), indices_nonzero_data = tensor<uint1, [3]>([1, 0, 1]), lut = tensor<fp32, [1, 1, 2, 2]>([[[[1, 2], [3, 4]]]]), vector_axis = int32(0))[name = string(\"s\")];\n"
    "  tensor<fp32, [4, 3]> W = constexpr_sparse_to_dense(mask = m, nonzero_data = v)[name = string(\"W\")];\n",
    "W");
  static const int64_t d43[] = {4, 3};
  static const double wantv[] = {3, 0, 1, 4, 0, 2, 0, 3, 0, 0, 4, 0};
  run1(vec, -1, NULL, NULL, MIL_FP32, 2, d43, wantv);
  /* vectors without vector_axis; a group dim that does not divide */
  static const char *const m1[] = {"test.mil:4:3: error: constexpr_lut_to_sparse: the lut holds "
                                   "vectors of 2; 'vector_axis' is required"};
  expect_open_error(PROG("",
    "  tensor<uint1, [2, 3]> m, tensor<fp32, [6]> v = constexpr_lut_to_sparse(indices_mask = tensor<uint1, [1, 3]>([[1, 0, 1]]), indices_nonzero_data = tensor<uint1, [2]>([1, 0]), lut = tensor<fp32, [1, 1, 2, 2]>([[[[1, 2], [3, 4]]]]))[name = string(\"s\")];\n",
    "v"), m1, 1);
  static const char *const m2[] = {"lut's dim 1 (2) does not divide indices' (3)"};
  expect_open_error(PROG("",
    "  tensor<uint1, [1, 3]> m, tensor<fp32, [2]> v = constexpr_lut_to_sparse(indices_mask = tensor<uint1, [1, 3]>([[1, 0, 1]]), indices_nonzero_data = tensor<uint1, [2]>([1, 0]), lut = tensor<fp32, [1, 2, 2, 1]>([[[[1], [2]], [[3], [4]]]]))[name = string(\"s\")];\n",
    "v"), m2, 1);
}
END_TEST

/* A weight file by hand (FORMATS.md §1): the 64-byte header, then per blob
 * 64-byte metadata at a multiple of 64 and the data right after it. */
static void write_weights(const char *dir, int nblobs, const int8_t *const *data, const int *n) {
  char path[512];
  snprintf(path, sizeof path, "%s/weights", dir);
  ck_assert_int_eq(mkdir(path, 0700), 0);
  snprintf(path, sizeof path, "%s/weights/weight.bin", dir);
  static uint8_t buf[1 << 16];
  memset(buf, 0, sizeof buf);
  buf[0] = (uint8_t)nblobs;                        /* count */
  buf[4] = 2;                                      /* version */
  size_t at = 64, end = 64;
  for (int b = 0; b < nblobs; b++) {
    uint8_t *m = buf + at;
    m[0] = 0xef, m[1] = 0xbe, m[2] = 0xad, m[3] = 0xde;   /* sentinel */
    m[4] = 4;                                      /* Int8 */
    m[8] = (uint8_t)n[b], m[9] = (uint8_t)(n[b] >> 8);      /* sizeInBytes */
    m[16] = (uint8_t)(at + 64), m[17] = (uint8_t)((at + 64) >> 8);   /* data offset */
    memcpy(m + 64, data[b], (size_t)n[b]);
    end = at + 64 + (size_t)n[b];
    at = (end + 63) / 64 * 64;
  }
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(fwrite(buf, 1, end, f), end);
  fclose(f);
}

static void remove_weights(const char *dir) {
  char path[512];
  snprintf(path, sizeof path, "%s/weights/weight.bin", dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/weights", dir);
  rmdir(path);
  rmdir(dir);
}

START_TEST(test_blob_weights) {
  /* The seed's pattern: int8 weights in weight.bin, dequantized once at
   * open() (scale 0.125), then a 1x1 conv. W = 0.125 * [[8, -16], [4, 2]]
   * = [[1, -2], [0.5, 0.25]]; x = [2, 3] per position:
   *   y0 = 2 - 6 = -4, y1 = 1 + 0.75 = 1.75 */
  char dir[] = "/tmp/test_cpu_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  static const int8_t w[] = {8, -16, 4, 2};
  const int8_t *blobs[] = {w};
  int sizes[] = {4};
  write_weights(dir, 1, blobs, sizes);
  static const char *t = PROG("tensor<fp16, [1, 2, 1, 1]> x",
    "  tensor<fp16, [2, 2, 1, 1]> W = constexpr_affine_dequantize()[axis = int32(0), name = string(\"W\"), quantized_data = tensor<int8, [2, 2, 1, 1]>(BLOBFILE(path = string(\"@model_path/weights/weight.bin\"), offset = uint64(64))), scale = fp16(0x1p-3), zero_point = int8(0)];\n"
    "  tensor<fp16, [1, 2, 1, 1]> y = conv(weight = W, x = x)[name = string(\"y\")];\n",
    "y");
  WStore *ws = wstore_new(dir);
  ck_assert_ptr_nonnull(ws);
  Case c;
  ck_assert_msg(case_open_w(&c, t, ws) == 0, "%s", c.err);
  static const int64_t d[] = {1, 2, 1, 1};
  static const double x[] = {2, 3}, want[] = {-4, 1.75};
  case_in(&c, 0, 4, d, x);
  case_eval(&c);
  expect_out(&c, 0, MIL_FP16, 4, d, want);
  case_close(&c);
  /* without a weight store the blob cannot be read */
  static const char *const msg[] = {"no weights"};
  expect_open_error(t, msg, 1);
  wstore_free(ws);
  remove_weights(dir);
}
END_TEST

START_TEST(test_seed_w8a8) {
  /* The seed benchmark's MIL (tests/cases/mil/seed-w8a8.mil: 64 channels,
   * 8x8, conv W0 -> quantize -> dequantize -> conv W1, scales 1/8) with
   * weights written here: W0 = 8 I and W1 = 16 I, i.e. 1 and 2 after the
   * scale. So y = 2 * 0.125 * clip(round_half_even(x / 0.125), -128, 127).
   * x = k * 9/128 with k = (c*64 + s) % 41 - 20 makes x / 0.125 = 9k/16,
   * a tie at k = +-8 (4.5 -> 4); channel 0 is scaled by 128 to clamp. */
  Src src;
  Diag d = diag_stderr();
  ck_assert_int_eq(src_read_file(&src, SRCDIR "/tests/cases/mil/seed-w8a8.mil", 1 << 20, &d), 0);
  char dir[] = "/tmp/test_cpu_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  static int8_t w0[64 * 64], w1[64 * 64];
  for (int i = 0; i < 64; i++) {
    w0[i * 64 + i] = 8;
    w1[i * 64 + i] = 16;
  }
  const int8_t *blobs[] = {w0, w1};
  int sizes[] = {4096, 4096};   /* metadata at 64 and 4224, as the MIL says */
  write_weights(dir, 2, blobs, sizes);
  WStore *ws = wstore_new(dir);
  Case c;
  ck_assert_msg(case_open_w(&c, src.text, ws) == 0, "%s", c.err);
  static double x[64 * 64], want[64 * 64];
  for (int i = 0; i < 64 * 64; i++) {
    x[i] = (i % 41 - 20) * (9.0 / 128) * (i < 64 ? 128 : 1);
    double q = nearbyint(x[i] / 0.125);
    want[i] = 2 * 0.125 * (q < -128 ? -128 : q > 127 ? 127 : q);
  }
  ck_assert(want[69] == 2 * 0.125 * 4);      /* channel 1, k = 8: the 4.5 tie */
  ck_assert(want[0] == 2 * 0.125 * -128);    /* channel 0, k = -20: clamped */
  static const int64_t dim[] = {1, 64, 8, 8};
  case_in(&c, 0, 4, dim, x);
  case_eval(&c);
  expect_out(&c, 0, MIL_FP16, 4, dim, want);
  case_close(&c);
  wstore_free(ws);
  remove_weights(dir);
  src_free(&src);
}
END_TEST

/* ---- activations, normalisation ---------------------------------------------------- */

static const int64_t D4[] = {4};
static const double XACT[] = {-2, -1, 0.5, 2};

static void unary(const char *op, const char *extra, const double *want) {
  char t[1024];
  snprintf(t, sizeof t, PROG("tensor<fp16, [4]> x",
           "  tensor<fp16, [4]> y = %s(%sx = x)[name = string(\"y\")];\n", "y"), op, extra);
  run1(t, 1, D4, XACT, MIL_FP16, 1, D4, want);
}

START_TEST(test_activations) {
  /* x = -2, -1, 0.5, 2; closed forms, then fp16 (q = value / step) */
  static const double relu[] = {0, 0, 0.5, 2};
  unary("relu", "", relu);
  /* tanh: -.9640276 (q -1974.33), -.7615942 (q -1559.74), .4621172 (q 1892.83), .9640276 */
  static const double th[] = {-1974 * 0x1p-11, -1560 * 0x1p-11, 1893 * 0x1p-12, 1974 * 0x1p-11};
  unary("tanh", "", th);
  /* silu = x * sigmoid(x): -.2384058 (q -1953.02), -.2689414 (q -1101.58),
   * .3112297 (q 1274.80), 1.7615942 (q 1803.87) */
  static const double silu[] = {-1953 * 0x1p-13, -1102 * 0x1p-12, 1275 * 0x1p-12,
                                1804 * 0x1p-10};
  unary("silu", "", silu);
  /* relu6 and clip(-1, 0.75) */
  static const double relu6[] = {0, 0, 0.5, 2}, clip[] = {-1, -1, 0.5, 0.75};
  unary("relu6", "", relu6);
  unary("clip", "alpha = fp16(-1), beta = fp16(0.75), ", clip);
  unary("identity", "", XACT);
  /* relu6 above 6: 4x = -8, -4, 2, 8 -> 0, 0, 2, 6; maximum and minimum
   * with 0.5: 0.5 0.5 0.5 2 and -2 -1 0.5 0.5 */
  static const char *m = PROG("tensor<fp16, [4]> x",
    "  tensor<fp16, [4]> x4 = mul(x = x, y = fp16(4))[name = string(\"x4\")];\n"
    "  tensor<fp16, [4]> r = relu6(x = x4)[name = string(\"r\")];\n"
    "  tensor<fp16, [4]> hi = maximum(x = x, y = fp16(0.5))[name = string(\"hi\")];\n"
    "  tensor<fp16, [4]> lo = minimum(x = x, y = fp16(0.5))[name = string(\"lo\")];\n",
    "r, hi, lo");
  Case c;
  ck_assert_msg(case_open(&c, m) == 0, "%s", c.err);
  static const double r6[] = {0, 0, 2, 6}, mx[] = {0.5, 0.5, 0.5, 2}, mn[] = {-2, -1, 0.5, 0.5};
  case_in(&c, 0, 1, D4, XACT);
  case_eval(&c);
  expect_out(&c, 0, MIL_FP16, 1, D4, r6);
  expect_out(&c, 1, MIL_FP16, 1, D4, mx);
  expect_out(&c, 2, MIL_FP16, 1, D4, mn);
  case_close(&c);
}
END_TEST

START_TEST(test_sigmoid) {
  /* sigmoid(-2, -1, 0.5, 2) = .1192029 (q 1953.02 at 2^-14), .2689414 (q 1101.58 at 2^-12),
   * .6224593 (q 1274.80 at 2^-11), .8807971 (q 1803.87 at 2^-11) */
  static const double want[] = {1953 * 0x1p-14, 1102 * 0x1p-12, 1275 * 0x1p-11,
                                1804 * 0x1p-11};
  unary("sigmoid", "", want);
}
END_TEST

START_TEST(test_gelu_modes) {
  /* gelu(-2, -1, 0.5, 2):
   * EXACT 0.5x(1 + erf(x/sqrt2)): -.04550026 (q -1490.95 at 2^-15), -.15865525 (q -1299.70
   *   at 2^-13), .34573123 (q 1416.12 at 2^-12), 1.95449974 (q 2001.41 at 2^-10)
   * TANH: -.04540231 (q -1487.74), -.15880801 (q -1300.96), .34571401 (q 1416.04),
   *   1.95459769 (q 2001.51)
   * SIGMOID x*sigmoid(1.702x): -.06434138 (q -1054.17 at 2^-14), -.15420423 (q -1263.24),
   *   .35038844 (q 1435.19), 1.93565862 (q 1982.11) */
  static const double ex[] = {-1491 * 0x1p-15, -1300 * 0x1p-13, 1416 * 0x1p-12, 2001 * 0x1p-10};
  static const double th[] = {-1488 * 0x1p-15, -1301 * 0x1p-13, 1416 * 0x1p-12, 2002 * 0x1p-10};
  static const double sg[] = {-1054 * 0x1p-14, -1263 * 0x1p-13, 1435 * 0x1p-12, 1982 * 0x1p-10};
  unary("gelu", "", ex);
  unary("gelu", "mode = string(\"EXACT\"), ", ex);
  unary("gelu", "mode = string(\"TANH_APPROXIMATION\"), ", th);
  unary("gelu", "mode = string(\"SIGMOID_APPROXIMATION\"), ", sg);
}
END_TEST

START_TEST(test_sqrt_rsqrt_pow) {
  static const int64_t d[] = {3};
  static const double x[] = {4, 2, 0.25};
  /* sqrt: 2, 1.4142136 (q 1448.15 at 2^-10), 0.5 */
  static const char *s = PROG("tensor<fp16, [3]> x",
    "  tensor<fp16, [3]> y = sqrt(x = x)[name = string(\"y\")];\n", "y");
  static const double ws[] = {2, 1448 * 0x1p-10, 0.5};
  run1(s, 1, d, x, MIL_FP16, 1, d, ws);
  /* rsqrt (epsilon 1e-12 by default): 0.5, .70710678 (q 1448.15 at 2^-11), 2 */
  static const char *r = PROG("tensor<fp16, [3]> x",
    "  tensor<fp16, [3]> y = rsqrt(x = x)[name = string(\"y\")];\n", "y");
  static const double wr[] = {0.5, 1448 * 0x1p-11, 2};
  run1(r, 1, d, x, MIL_FP16, 1, d, wr);
  /* pow(x, -0.5) is rsqrt without epsilon; pow(x, 2): 16, 4, 0.0625 */
  static const char *p = PROG("tensor<fp32, [3]> x",
    "  tensor<fp32, [3]> y = pow(x = x, y = fp32(2))[name = string(\"y\")];\n", "y");
  static const double wp[] = {16, 4, 0.0625};
  run1(p, 1, d, x, MIL_FP32, 1, d, wp);
}
END_TEST

START_TEST(test_softmax) {
  /* softmax(1, 2, 3) = e^k / (e + e^2 + e^3) = .09003057 (q 1475.06 at 2^-14),
   * .24472847 (q 2004.82 at 2^-13), .66524096 (q 1362.41 at 2^-11) */
  static const char *t = PROG("tensor<fp16, [1, 3]> x",
    "  tensor<fp16, [1, 3]> y = softmax(axis = int32(-1), x = x)[name = string(\"y\")];\n", "y");
  static const int64_t d[] = {1, 3};
  static const double x[] = {1, 2, 3};
  static const double want[] = {1475 * 0x1p-14, 2005 * 0x1p-13, 1362 * 0x1p-11};
  run1(t, 2, d, x, MIL_FP16, 2, d, want);
  /* along axis 0 of [[0, 5], [0, 5]]: every column is two equal values: 0.5 */
  static const char *t0 = PROG("tensor<fp32, [2, 2]> x",
    "  tensor<fp32, [2, 2]> y = softmax(axis = int32(0), x = x)[name = string(\"y\")];\n", "y");
  static const int64_t d2[] = {2, 2};
  static const double x2[] = {0, 5, 0, 5}, w2[] = {0.5, 0.5, 0.5, 0.5};
  run1(t0, 2, d2, x2, MIL_FP32, 2, d2, w2);
}
END_TEST

START_TEST(test_layer_norm) {
  /* [1, 2, 3, 4]: mean 2.5, biased variance (2.25+.25+.25+2.25)/4 = 1.25,
   * epsilon fp16(1e-5) = 0x1.5p-17 = 1.0014e-5,
   * (x - 2.5) / sqrt(1.25 + 1e-5) = -1.3416354 (q -1373.83 at 2^-10),
   * -.4472118 (q -1831.78 at 2^-12), .4472118, 1.3416354 */
  static const char *t = PROG("tensor<fp16, [1, 4]> x",
    "  tensor<fp16, [1, 4]> y = layer_norm(axes = tensor<int32, [1]>([-1]), epsilon = fp16(0x1.5p-17), x = x)[name = string(\"y\")];\n",
    "y");
  static const int64_t d[] = {1, 4};
  static const double x[] = {1, 2, 3, 4};
  static const double want[] = {-1374 * 0x1p-10, -1832 * 0x1p-12, 1832 * 0x1p-12, 1374 * 0x1p-10};
  run1(t, 2, d, x, MIL_FP16, 2, d, want);
  /* over axis 0 of [[1, 2], [3, 2]] with gamma [2, 3], beta [.5, -.5]:
   * column 0: mean 2, var 1 -> -/+ .999995 -> -1.49999 + ..: -1.5 and 2.5;
   * column 1: var 0 -> 0 -> beta: .5 and -.5 */
  static const char *t2 = PROG("tensor<fp16, [2, 2]> x",
    "  tensor<fp16, [2, 2]> y = layer_norm(axes = tensor<int32, [1]>([0]), beta = tensor<fp16, [2]>([0.5, -0.5]), gamma = tensor<fp16, [2]>([2, 3]), x = x)[name = string(\"y\")];\n",
    "y");
  static const int64_t d2[] = {2, 2};
  static const double x2[] = {1, 2, 3, 2};
  /* column c = j: y[0][0] = -1*2 + .5 = -1.5, y[1][0] = 1*3 - .5 = 2.5 (gamma
   * and beta run along the normalised axis, rows here) */
  static const double w2[] = {-1.5, 0.5, 2.5, -0.5};
  run1(t2, 2, d2, x2, MIL_FP16, 2, d2, w2);
}
END_TEST

START_TEST(test_reductions) {
  /* x = [[1, 2, 3], [4, 5, 6]] */
  static const int64_t d[] = {2, 3};
  static const double x[] = {1, 2, 3, 4, 5, 6};
  /* sum over axis 1 keeping dims: [[6], [15]] */
  static const char *s = PROG("tensor<fp32, [2, 3]> x",
    "  tensor<fp32, [2, 1]> y = reduce_sum(axes = tensor<int32, [1]>([1]), keep_dims = bool(true), x = x)[name = string(\"y\")];\n",
    "y");
  static const int64_t ds[] = {2, 1};
  static const double ws[] = {6, 15};
  run1(s, 2, d, x, MIL_FP32, 2, ds, ws);
  /* mean over axis 0: [2.5, 3.5, 4.5] */
  static const char *m = PROG("tensor<fp32, [2, 3]> x",
    "  tensor<fp32, [3]> y = reduce_mean(axes = tensor<int32, [1]>([0]), keep_dims = bool(false), x = x)[name = string(\"y\")];\n",
    "y");
  static const int64_t dm[] = {3};
  static const double wm[] = {2.5, 3.5, 4.5};
  run1(m, 2, d, x, MIL_FP32, 1, dm, wm);
  /* max over axis 1: [3, 6] */
  static const char *mx = PROG("tensor<fp32, [2, 3]> x",
    "  tensor<fp32, [2]> y = reduce_max(axes = tensor<int32, [1]>([-1]), x = x)[name = string(\"y\")];\n",
    "y");
  static const int64_t dx[] = {2};
  static const double wx[] = {3, 6};
  run1(mx, 2, d, x, MIL_FP32, 1, dx, wx);
  /* mean over everything: 21 / 6 = 3.5, a scalar */
  static const char *a = PROG("tensor<fp32, [2, 3]> x",
    "  fp32 y = reduce_mean(x = x)[name = string(\"y\")];\n", "y");
  static const double wa[] = {3.5};
  run1(a, 2, d, x, MIL_FP32, 0, NULL, wa);
}
END_TEST

/* ---- fp16 storage -------------------------------------------------------------------- */

START_TEST(test_fp16_rounding) {
  /* 1 + 2^-11 is halfway between 1 and 1 + 2^-10: the tie goes to the even
   * significand, 1. 1 + 3 * 2^-11 is halfway between 1 + 2^-10 (odd) and
   * 1 + 2^-9 (even): 1.001953125. In fp32 both stay exact. */
  static const char *h = PROG("tensor<fp16, [2]> x",
    "  tensor<fp16, [2]> y = add(x = x, y = tensor<fp16, [2]>([0x1p-11, 0x1.8p-10]))[name = string(\"y\")];\n",
    "y");
  static const int64_t d[] = {2};
  static const double one[] = {1, 1}, w16[] = {1, 1.001953125};
  run1(h, 1, d, one, MIL_FP16, 1, d, w16);
  static const char *f = PROG("tensor<fp32, [2]> x",
    "  tensor<fp32, [2]> y = add(x = x, y = tensor<fp32, [2]>([0x1p-11, 0x1.8p-10]))[name = string(\"y\")];\n",
    "y");
  static const double w32[] = {1 + 0x1p-11, 1 + 0x1.8p-10};
  run1(f, 1, d, one, MIL_FP32, 1, d, w32);
  /* an fp16 input is rounded on the way in: 1 + 2^-12 -> 1;
   * 70000 overflows to inf; 2^-25 (half the smallest subnormal) -> 0 */
  static const char *in = PROG("tensor<fp16, [3]> x",
    "  tensor<fp16, [3]> y = mul(x = x, y = fp16(1))[name = string(\"y\")];\n", "y");
  static const int64_t d3[] = {3};
  static const double x3[] = {1 + 0x1p-12, 70000, 0x1p-25}, w3[] = {1, INFINITY, 0};
  run1(in, 1, d3, x3, MIL_FP16, 1, d3, w3);
}
END_TEST

START_TEST(test_round_fp16_matches_reference) {
  /* cpu_round_fp16 against fp16.c's conversion on a sweep of fp32 patterns
   * (every 8191st, both signs, normals, subnormals, inf, NaN) and the exact
   * ties around the fp16 range's edges */
  static const float edge[] = {65504, 65519.99f, 65520, 0x1p-24f, 0x1p-25f, 0x1.8p-25f,
                               0x1.8p-24f, 0x1p-14f, 0x1.ffcp-15f, 0x1.ffep-15f};
  for (int i = 0; i < 10; i++)
    for (int sgn = 0; sgn < 2; sgn++) {
      float v = sgn ? -edge[i] : edge[i], r = v;
      cpu_round_fp16(&r, 1);
      float want = fp16_to_float(fp16_from_float(v));
      ck_assert_msg(memcmp(&r, &want, 4) == 0, "%a: got %a want %a", v, r, want);
    }
  for (uint64_t u = 0; u <= 0xffffffffu; u += 8191) {
    uint32_t b = (uint32_t)u;
    float v, r;
    memcpy(&v, &b, 4);
    r = v;
    cpu_round_fp16(&r, 1);
    float want = fp16_to_float(fp16_from_float(v));
    if (isnan(v))
      ck_assert(isnan(r));
    else
      ck_assert_msg(memcmp(&r, &want, 4) == 0, "%a: got %a want %a", v, r, want);
  }
}
END_TEST

/* Relative error of y against libm's (double) value r; below 2^-14 (fp16's
 * smallest normal) the error counts against 2^-14, as fp16 storage holds
 * such values to a fixed absolute step. Overflow must overflow. */
static double vm_err(float y, double r) {
  if (isnan(r))
    return isnan(y) ? 0 : INFINITY;
  if (isinf((float)r))
    return isinf(y) && (y > 0) == (r > 0) ? 0 : INFINITY;
  return fabs(y - r) / (fabs(r) > 0x1p-14 ? fabs(r) : 0x1p-14);
}

START_TEST(test_vector_math_vs_libm) {
  /* cpu_vexp, cpu_vtanh and cpu_vsigmoid against libm in double on a sweep
   * of fp32 bit patterns (every 8192nd, both signs, zeros, denormals, inf,
   * NaN) and a dense sweep of [-24, 24). The bound, relative 2^-22 (two
   * fp32 ulps), is 1/1024 of fp16's half ulp (2^-12 relative): after the
   * fp16 rounding eval() applies, a result can differ from libm's only for
   * values within 2^-22 of a rounding midpoint, and then by one fp16 ulp;
   * both are asserted too (measured: 11, 4 and 52 of 2^20 differ). */
  enum { N = 1 << 19 };
  float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y);
  ck_assert(x && y);
  for (int f = 0; f < 3; f++) {
    double worst = 0;
    float wx = 0;
    int differ = 0;
    for (int pass = 0; pass < 2; pass++) {
      for (int i = 0; i < N; i++) {
        uint32_t b = (uint32_t)i * 8192u + 5;
        if (pass == 0)
          memcpy(&x[i], &b, sizeof b);
        else
          x[i] = -24.0f + 48.0f * (float)i / N;
      }
      if (f == 0)
        cpu_vexp(y, x, N - 3);   /* a length that is not a multiple of the vector's */
      else if (f == 1)
        cpu_vtanh(y, x, N - 3);
      else
        cpu_vsigmoid(y, x, N - 3);
      for (int i = 0; i < N - 3; i++) {
        double v = x[i], r = f == 0 ? exp(v) : f == 1 ? tanh(v) : 1 / (1 + exp(-v));
        double e = vm_err(y[i], r);
        if (e > worst) {
          worst = e;
          wx = x[i];
        }
        if (isnan(r))
          continue;
        float a = y[i], c = (float)r;
        cpu_round_fp16(&a, 1);
        cpu_round_fp16(&c, 1);
        if (a != c) {
          differ++;
          ck_assert_msg(fabsf(a - c) <= fabsf(c) * 0x1p-10f + 0x1p-24f,
                        "f%d(%a): fp16 %a, libm's %a", f, x[i], a, c);
        }
      }
    }
    ck_assert_msg(worst <= 0x1p-22, "f%d: error %g at %a", f, worst, wx);
    ck_assert_msg(differ <= 2 * N / 10000, "f%d: %d fp16 results differ from libm's", f, differ);
  }
  free(x);
  free(y);
}
END_TEST

/* cpu_parallel's pieces, recorded: each unit is covered once, by one of
 * at most min(threads, n / grain) contiguous pieces of at least grain
 * units each (their sizes n * i / parts apart, so within one of each
 * other); with fewer than two pieces' worth, or no pool, fn(0, n) on the
 * caller. */
typedef struct PoolLog {
  int cover[1000];
  atomic_int calls, small;
  int64_t grain;
} PoolLog;

static void pool_piece(void *ctx, int64_t lo, int64_t hi) {
  PoolLog *l = ctx;
  for (int64_t i = lo; i < hi; i++)
    l->cover[i]++;
  atomic_fetch_add(&l->calls, 1);
  if (hi - lo < l->grain)
    atomic_fetch_add(&l->small, 1);
}

START_TEST(test_thread_pool) {
  static const int64_t job[][2] = {{0, 1}, {1, 1}, {7, 1}, {10, 3}, {10, 6}, {100, 40},
                                   {1000, 1}, {5, 0}};
  ck_assert_ptr_null(cpu_pool_new(1));   /* one thread: no pool, the caller runs it all */
  for (int nt = 1; nt <= 5; nt += 2) {
    CpuPool *pool = nt == 1 ? NULL : cpu_pool_new(nt);
    for (int rep = 0; rep < 20; rep++)   /* the workers wake for every job */
      for (size_t j = 0; j < sizeof job / sizeof job[0]; j++) {
        static PoolLog l;
        int64_t n = job[j][0], grain = job[j][1];
        memset(l.cover, 0, sizeof l.cover);
        atomic_init(&l.calls, 0);
        atomic_init(&l.small, 0);
        l.grain = grain;
        cpu_parallel(pool, n, grain, pool_piece, &l);
        for (int64_t i = 0; i < n; i++)
          ck_assert_msg(l.cover[i] == 1, "n %lld grain %lld: unit %lld covered %d times",
                        (long long)n, (long long)grain, (long long)i, l.cover[i]);
        int64_t parts = grain > 0 ? n / grain : n;
        parts = parts < 2 ? (n > 0) : parts < nt ? parts : nt;
        ck_assert_int_eq(atomic_load(&l.calls), parts);
        ck_assert_int_eq(atomic_load(&l.small), 0);
      }
    cpu_pool_free(pool);
  }
}
END_TEST

START_TEST(test_parallel_kernels) {
  /* Tensors large enough that eval() splits the work across its threads
   * (more than 16384 elements per piece): every element must come out as
   * the op's definition gives it, whichever thread wrote it. Integers
   * below 2048 keep fp16 sums exact. */
  enum { A = 2, B = 3, H = 64, W = 200, N = A * B * H * W };
  double *x = malloc(N * sizeof *x), *want = malloc(N * sizeof *want);
  ck_assert(x && want);
  /* broadcast rows: x [2, 3, 64, 200] + z [3, 1, 200], z[b, 0, w] = 10 b + w % 7 */
  static const char *rows = PROG("tensor<fp16, [2, 3, 64, 200]> x, tensor<fp16, [3, 1, 200]> z",
    "  tensor<fp16, [2, 3, 64, 200]> y = add(x = x, y = z)[name = string(\"y\")];\n", "y");
  double z[3 * 200];
  for (int b = 0; b < 3; b++)
    for (int w = 0; w < 200; w++)
      z[b * 200 + w] = b * 10 + w % 7;
  for (int i = 0; i < N; i++) {
    int w = i % W, b = i / (H * W) % B;
    x[i] = i % 1000;
    want[i] = x[i] + z[b * 200 + w];
  }
  Case c;
  static const int64_t dx[] = {A, B, H, W}, dz[] = {3, 1, 200};
  ck_assert_msg(case_open(&c, rows) == 0, "open failed: %s", c.err);
  case_in(&c, 0, 4, dx, x);
  case_in(&c, 1, 3, dz, z);
  case_eval(&c);
  expect_out(&c, 0, MIL_FP16, 4, dx, want);
  case_close(&c);
  /* one collapsed row (same shapes): the elements are split */
  static const char *flat = PROG("tensor<fp16, [2, 3, 64, 200]> x",
    "  tensor<fp16, [2, 3, 64, 200]> y = mul(x = x, y = x)[name = string(\"y\")];\n", "y");
  for (int i = 0; i < N; i++) {
    x[i] = i % 45 - 22;
    want[i] = x[i] * x[i];
  }
  run1(flat, 4, dx, x, MIL_FP16, 4, dx, want);
  /* reduce_sum over the channels of [1, 768, 1, 64]: sums of integers */
  static const char *red = PROG("tensor<fp32, [1, 768, 1, 64]> x",
    "  tensor<fp32, [1, 1, 1, 64]> y = reduce_sum(axes = tensor<int32, [1]>([1]), keep_dims = bool(true), x = x)[name = string(\"y\")];\n", "y");
  static const int64_t dr[] = {1, 768, 1, 64}, dro[] = {1, 1, 1, 64};
  for (int i = 0; i < 768 * 64; i++)
    x[i] = i % 64 + i / 64 % 3;   /* position s, channel c: s + c % 3 */
  for (int sp = 0; sp < 64; sp++)
    want[sp] = 768.0 * sp + 256 * (0 + 1 + 2);
  run1(red, 4, dr, x, MIL_FP32, 4, dro, want);
  free(x);
  free(want);
}
END_TEST

/* ---- matmul, linear ------------------------------------------------------------------ */

START_TEST(test_matmul_transpose) {
  /* x = [[1, 2, 3], [4, 5, 6]], y = [[1, 0, 1], [0, 1, 0]], transpose_y:
   * x . y^T = [[1+3, 2], [4+6, 5]] = [[4, 2], [10, 5]] */
  static const char *ty = PROG("tensor<fp32, [2, 3]> x",
    "  tensor<fp32, [2, 2]> z = matmul(transpose_x = bool(false), transpose_y = bool(true), x = x, y = tensor<fp32, [2, 3]>([[1, 0, 1], [0, 1, 0]]))[name = string(\"z\")];\n",
    "z");
  static const int64_t d[] = {2, 3}, dz[] = {2, 2};
  static const double x[] = {1, 2, 3, 4, 5, 6}, want[] = {4, 2, 10, 5};
  run1(ty, 2, d, x, MIL_FP32, 2, dz, want);
  /* transpose_x: x [3, 2] = [[1, 4], [2, 5], [3, 6]] is [[1, 2, 3], [4, 5, 6]]
   * transposed; times ones [3, 1]: [[6], [15]] */
  static const char *tx = PROG("tensor<fp32, [3, 2]> x",
    "  tensor<fp32, [2, 1]> z = matmul(transpose_x = bool(true), x = x, y = tensor<fp32, [3, 1]>([[1], [1], [1]]))[name = string(\"z\")];\n",
    "z");
  static const int64_t dx[] = {3, 2}, dzx[] = {2, 1};
  static const double xt[] = {1, 4, 2, 5, 3, 6}, wt[] = {6, 15};
  run1(tx, 2, dx, xt, MIL_FP32, 2, dzx, wt);
}
END_TEST

START_TEST(test_matmul_batch) {
  /* x [2, 1, 2] = [[[1, 2]], [[3, 4]]] times one y [2, 2] = [[1, 0], [0, 2]]
   * for both batches: [[[1, 4]], [[3, 8]]] */
  static const char *a = PROG("tensor<fp32, [2, 1, 2]> x",
    "  tensor<fp32, [2, 1, 2]> z = matmul(x = x, y = tensor<fp32, [2, 2]>([[1, 0], [0, 2]]))[name = string(\"z\")];\n",
    "z");
  static const int64_t d[] = {2, 1, 2};
  static const double x[] = {1, 2, 3, 4}, want[] = {1, 4, 3, 8};
  run1(a, 3, d, x, MIL_FP32, 3, d, want);
  /* one x [1, 2, 2] = [[1, 2], [3, 4]] against y [2, 2, 1]: y0 = [1, 1],
   * y1 = [1, -1]: [[3], [7]] and [[-1], [-1]] */
  static const char *b = PROG("tensor<fp32, [1, 2, 2]> x",
    "  tensor<fp32, [2, 2, 1]> z = matmul(x = x, y = tensor<fp32, [2, 2, 1]>([[[1], [1]], [[1], [-1]]]))[name = string(\"z\")];\n",
    "z");
  static const int64_t db[] = {1, 2, 2}, dz[] = {2, 2, 1};
  static const double wb[] = {3, 7, -1, -1};
  run1(b, 3, db, x, MIL_FP32, 3, dz, wb);
  /* a vector times a matrix: [1, 2] . [[1, 0], [0, 2]] = [1, 4], rank 1 */
  static const char *v = PROG("tensor<fp32, [2]> x",
    "  tensor<fp32, [2]> z = matmul(x = x, y = tensor<fp32, [2, 2]>([[1, 0], [0, 2]]))[name = string(\"z\")];\n",
    "z");
  static const int64_t dv[] = {2};
  static const double wv[] = {1, 4};
  run1(v, 1, dv, x, MIL_FP32, 1, dv, wv);
}
END_TEST

START_TEST(test_linear) {
  /* y = x W^T + b: x [2, 2] = [[1, 2], [3, 4]], W [3, 2] = [[1, 0], [0, 1], [1, 1]],
   * b = [0, 0, 0.5]: [[1, 2, 3.5], [3, 4, 7.5]] */
  static const char *t = PROG("tensor<fp16, [2, 2]> x",
    "  tensor<fp16, [2, 3]> y = linear(bias = tensor<fp16, [3]>([0, 0, 0.5]), weight = tensor<fp16, [3, 2]>([[1, 0], [0, 1], [1, 1]]), x = x)[name = string(\"y\")];\n",
    "y");
  static const int64_t d[] = {2, 2}, od[] = {2, 3};
  static const double x[] = {1, 2, 3, 4}, want[] = {1, 2, 3.5, 3, 4, 7.5};
  run1(t, 2, d, x, MIL_FP16, 2, od, want);
}
END_TEST

/* ---- elementwise and shape ops ------------------------------------------------------- */

START_TEST(test_broadcast) {
  /* a per-channel bias [1, 2, 1, 1] = [10, 20] over x [1, 2, 1, 2] = [1, 2 | 3, 4] */
  static const char *t = PROG("tensor<fp32, [1, 2, 1, 2]> x",
    "  tensor<fp32, [1, 2, 1, 2]> y = add(x = x, y = tensor<fp32, [1, 2, 1, 1]>([[[[10]], [[20]]]]))[name = string(\"y\")];\n"
    "  tensor<fp32, [1, 2, 1, 2]> s = sub(x = fp32(1), y = y)[name = string(\"s\")];\n"
    "  tensor<fp32, [1, 2, 1, 2]> z = real_div(x = s, y = tensor<fp32, [2]>([1, -2]))[name = string(\"z\")];\n",
    "z");
  /* y = 11 12 23 24; s = 1 - y = -10 -11 -22 -23; z = s / [1, -2] along the
   * last dim = -10 5.5 -22 11.5 */
  static const int64_t d[] = {1, 2, 1, 2};
  static const double x[] = {1, 2, 3, 4}, want[] = {-10, 5.5, -22, 11.5};
  run1(t, 4, d, x, MIL_FP32, 4, d, want);
  /* [2, 1] against [3]: outer sum [[1, 2, 3] + 10, [1, 2, 3] + 20] */
  static const char *o = PROG("tensor<fp32, [2, 1]> x",
    "  tensor<fp32, [2, 3]> y = add(x = x, y = tensor<fp32, [3]>([1, 2, 3]))[name = string(\"y\")];\n",
    "y");
  static const int64_t d2[] = {2, 1}, od[] = {2, 3};
  static const double x2[] = {10, 20}, w2[] = {11, 12, 13, 21, 22, 23};
  run1(o, 2, d2, x2, MIL_FP32, 2, od, w2);
}
END_TEST

START_TEST(test_reshape) {
  /* [2, 3, 4] to [4, -1]: -1 = 24 / 4 = 6, data unchanged */
  static const char *t = PROG("tensor<fp32, [2, 3, 4]> x",
    "  tensor<fp32, [4, 6]> y = reshape(shape = tensor<int32, [2]>([4, -1]), x = x)[name = string(\"y\")];\n",
    "y");
  static const int64_t d[] = {2, 3, 4}, od[] = {4, 6};
  double x[24];
  for (int i = 0; i < 24; i++)
    x[i] = i;
  run1(t, 3, d, x, MIL_FP32, 2, od, x);
  /* iOS17+: a 0 matches x's dims from the right: [0, -1] on [2, 3, 4] takes
   * dim 1 (3) for the 0, then -1 = 8 */
  static const char *z = PROG("tensor<fp32, [2, 3, 4]> x",
    "  tensor<fp32, [3, 8]> y = reshape(shape = tensor<int32, [2]>([0, -1]), x = x)[name = string(\"y\")];\n",
    "y");
  static const int64_t oz[] = {3, 8};
  run1(z, 3, d, x, MIL_FP32, 2, oz, x);
  /* iOS16: a 0 needs len(shape) == rank(x) */
  static const char *const msg[] = {"before iOS 17"};
  expect_open_error("program(1.3)\n{\n func main<ios16>(tensor<fp32, [2, 3, 4]> x) {\n"
    "  tensor<fp32, [3, 8]> y = reshape(shape = tensor<int32, [2]>([0, -1]), x = x)[name = string(\"y\")];\n"
    " } -> (y);\n}\n", msg, 1);
}
END_TEST

START_TEST(test_transpose) {
  /* [[1, 2, 3], [4, 5, 6]] with perm [1, 0]: [[1, 4], [2, 5], [3, 6]] */
  static const char *t = PROG("tensor<fp32, [2, 3]> x",
    "  tensor<fp32, [3, 2]> y = transpose(perm = tensor<int32, [2]>([1, 0]), x = x)[name = string(\"y\")];\n",
    "y");
  static const int64_t d[] = {2, 3}, od[] = {3, 2};
  static const double x[] = {1, 2, 3, 4, 5, 6}, want[] = {1, 4, 2, 5, 3, 6};
  run1(t, 2, d, x, MIL_FP32, 2, od, want);
  /* x [2, 1, 3] (x[a][0][c] = 1..6), perm [2, 0, 1]: y[c][a][0] = x[a][0][c] */
  static const char *t3 = PROG("tensor<fp32, [2, 1, 3]> x",
    "  tensor<fp32, [3, 2, 1]> y = transpose(perm = tensor<int32, [3]>([2, 0, -2]), x = x)[name = string(\"y\")];\n",
    "y");
  static const int64_t d3[] = {2, 1, 3}, od3[] = {3, 2, 1};
  run1(t3, 3, d3, x, MIL_FP32, 3, od3, want);
}
END_TEST

START_TEST(test_concat_split) {
  /* a = [[1, 2]], b = [[3, 4], [5, 6]] along axis 0: [[1, 2], [3, 4], [5, 6]];
   * split again as [1, 2] rows and read back the second piece */
  static const char *t = PROG("tensor<fp32, [1, 2]> a",
    "  tensor<fp32, [3, 2]> c = concat(axis = int32(0), interleave = bool(false), values = (a, tensor<fp32, [2, 2]>([[3, 4], [5, 6]])))[name = string(\"c\")];\n"
    "  tensor<fp32, [1, 2]> p0, tensor<fp32, [2, 2]> p1 = split(axis = int32(0), split_sizes = tensor<int32, [2]>([1, 2]), x = c)[name = string(\"s\")];\n",
    "c, p1");
  Case c;
  ck_assert_msg(case_open(&c, t) == 0, "%s", c.err);
  static const int64_t d[] = {1, 2}, dc[] = {3, 2}, dp[] = {2, 2};
  static const double a[] = {1, 2}, wc[] = {1, 2, 3, 4, 5, 6}, wp[] = {3, 4, 5, 6};
  case_in(&c, 0, 2, d, a);
  case_eval(&c);
  expect_out(&c, 0, MIL_FP32, 2, dc, wc);
  expect_out(&c, 1, MIL_FP32, 2, dp, wp);
  case_close(&c);
  /* interleave along axis 1 of two [1, 2]: x0 = [1, 2], x1 = [7, 8] ->
   * [1, 7, 2, 8]; split into 2 even pieces along axis 1: [1, 7], [2, 8] */
  static const char *il = PROG("tensor<fp32, [1, 2]> a",
    "  tensor<fp32, [1, 4]> c = concat(axis = int32(-1), interleave = bool(true), values = (a, tensor<fp32, [1, 2]>([[7, 8]])))[name = string(\"c\")];\n"
    "  tensor<fp32, [1, 2]> p0, tensor<fp32, [1, 2]> p1 = split(axis = int32(1), num_splits = int32(2), x = c)[name = string(\"s\")];\n",
    "c, p1");
  ck_assert_msg(case_open(&c, il) == 0, "%s", c.err);
  static const int64_t d4[] = {1, 4};
  static const double w4[] = {1, 7, 2, 8}, w1[] = {2, 8};
  case_in(&c, 0, 2, d, a);
  case_eval(&c);
  expect_out(&c, 0, MIL_FP32, 2, d4, w4);
  expect_out(&c, 1, MIL_FP32, 2, d, w1);
  case_close(&c);
}
END_TEST

START_TEST(test_slice_by_index) {
  /* x [3, 4] = 0..11; begin [1, -1], end [3, 0], stride [1, -2]:
   * rows 1..2; columns from 3 down to (not including) 0 by 2: 3, 1
   * -> [[7, 5], [11, 9]] */
  static const char *t = PROG("tensor<fp32, [3, 4]> x",
    "  tensor<fp32, [2, 2]> y = slice_by_index(begin = tensor<int32, [2]>([1, -1]), end = tensor<int32, [2]>([3, 0]), stride = tensor<int32, [2]>([1, -2]), x = x)[name = string(\"y\")];\n",
    "y");
  static const int64_t d[] = {3, 4}, od[] = {2, 2};
  double x[12];
  for (int i = 0; i < 12; i++)
    x[i] = i;
  static const double want[] = {7, 5, 11, 9};
  run1(t, 2, d, x, MIL_FP32, 2, od, want);
  /* squeeze_mask on dim 0 takes row 2; end_mask on dim 1 runs to the end
   * from column 1: [9, 10, 11] */
  static const char *s = PROG("tensor<fp32, [3, 4]> x",
    "  tensor<fp32, [3]> y = slice_by_index(begin = tensor<int32, [2]>([2, 1]), end = tensor<int32, [2]>([0, 0]), end_mask = tensor<bool, [2]>([false, true]), squeeze_mask = tensor<bool, [2]>([true, false]), x = x)[name = string(\"y\")];\n",
    "y");
  static const int64_t os[] = {3};
  static const double ws[] = {9, 10, 11};
  run1(s, 2, d, x, MIL_FP32, 1, os, ws);
}
END_TEST

START_TEST(test_expand_squeeze_cast) {
  /* [2] -> expand_dims axes [0, -1] -> [1, 2, 1] -> squeeze -> [2];
   * cast to int32 truncates toward zero: 2.7 -> 2, -1.5 -> -1 */
  static const char *t = PROG("tensor<fp32, [2]> x",
    "  tensor<fp32, [1, 2, 1]> e = expand_dims(axes = tensor<int32, [2]>([0, -1]), x = x)[name = string(\"e\")];\n"
    "  tensor<fp32, [2]> s = squeeze(x = e)[name = string(\"s\")];\n"
    "  tensor<int32, [2]> i = cast(dtype = string(\"int32\"), x = s)[name = string(\"i\")];\n"
    "  tensor<fp16, [2]> h = cast(dtype = string(\"fp16\"), x = i)[name = string(\"h\")];\n",
    "e, h");
  Case c;
  ck_assert_msg(case_open(&c, t) == 0, "%s", c.err);
  static const int64_t d[] = {2}, de[] = {1, 2, 1};
  static const double x[] = {2.7, -1.5}, we[] = {(float)2.7, -1.5}, wh[] = {2, -1};
  case_in(&c, 0, 1, d, x);
  case_eval(&c);
  expect_out(&c, 0, MIL_FP32, 3, de, we);
  expect_out(&c, 1, MIL_FP16, 1, d, wh);
  case_close(&c);
}
END_TEST

START_TEST(test_eval_twice_and_chain) {
  /* a chain long enough for buffers to be reused: ((x + 1) * 2 - 3) relu;
   * x = [-1, 0, 2]: 0 -> 0 -> -3 -> 0; 1 -> 2 -> -1 -> 0; 3 -> 6 -> 3 -> 3 */
  static const char *t = PROG("tensor<fp16, [3]> x",
    "  tensor<fp16, [3]> a = add(x = x, y = fp16(1))[name = string(\"a\")];\n"
    "  tensor<fp16, [3]> b = mul(x = a, y = fp16(2))[name = string(\"b\")];\n"
    "  tensor<fp16, [3]> c = sub(x = b, y = fp16(3))[name = string(\"c\")];\n"
    "  tensor<fp16, [3]> d = relu(x = c)[name = string(\"d\")];\n"
    "  tensor<fp16, [3]> e = mul(x = d, y = d)[name = string(\"e\")];\n",
    "d, e");
  Case c;
  ck_assert_msg(case_open(&c, t) == 0, "%s", c.err);
  static const int64_t d[] = {3};
  static const double x[] = {-1, 0, 2}, wd[] = {0, 0, 3}, we[] = {0, 0, 9};
  case_in(&c, 0, 1, d, x);
  for (int i = 0; i < 2; i++) {
    case_eval(&c);
    expect_out(&c, 0, MIL_FP16, 1, d, wd);
    expect_out(&c, 1, MIL_FP16, 1, d, we);
  }
  case_close(&c);
}
END_TEST

/* ---- errors -------------------------------------------------------------------------- */

START_TEST(test_unsupported_op) {
  /* line 5 holds the random op (line 1 is "program(1.3)") */
  static const char *t = PROG("tensor<fp16, [4]> x",
    "  tensor<fp16, [4]> a = relu(x = x)[name = string(\"a\")];\n"
    "  tensor<fp16, [2]> g = random_normal(shape = tensor<int32, [1]>([2]), x = a)[name = string(\"g\")];\n",
    "g");
  static const char *const msg[] = {"test.mil:5:3: error: random_normal: op not supported by "
                                    "the cpu backend"};
  expect_open_error(t, msg, 1);
}
END_TEST

START_TEST(test_errors_after_failure) {
  /* after an unsupported op, the 30 ops that read its result fail quietly
   * (no cascade of messages), and a second unsupported op on line 35 is
   * still reported */
  static char text[8192];
  size_t o = (size_t)snprintf(text, sizeof text, "program(1.3)\n{\n func main<ios18>("
                              "tensor<fp16, [4]> x) {\n  tensor<fp16, [4]> r0 = random_uniform(x = x);\n");
  for (int i = 1; i <= 30; i++)
    o += (size_t)snprintf(text + o, sizeof text - o,
                          "  tensor<fp16, [4]> r%d = relu(x = r%d);\n", i, i - 1);
  snprintf(text + o, sizeof text - o,
           "  tensor<fp16, [4]> z = random_bernoulli(x = x);\n } -> (r30, z);\n}\n");
  Case c;
  ck_assert_int_eq(case_open(&c, text), -1);
  ck_assert_int_eq(c.d.nerrors, 2);
  ck_assert_ptr_nonnull(strstr(c.err, "test.mil:4:3: error: random_uniform: op not supported"));
  ck_assert_ptr_nonnull(strstr(c.err, "test.mil:35:3: error: random_bernoulli: op not supported"));
  case_close(&c);
}
END_TEST

START_TEST(test_shape_mismatch) {
  /* the 2x2 conv of a 3x3 input gives 2x2, not the declared 3x3 */
  static const char *t = PROG("tensor<fp16, [1, 1, 3, 3]> x",
    "  tensor<fp16, [1, 1, 3, 3]> y = conv(weight = tensor<fp16, [1, 1, 2, 2]>([[[[1, 1], [1, 1]]]]), x = x)[name = string(\"y\")];\n",
    "y");
  expect_parse_error(t, "test.mil:4:3: error: conv: output 'y' is declared tensor<fp16, [1, 1, 3, 3]>, "
                     "but the op computes tensor<fp16, [1, 1, 2, 2]>");
  /* two errors reported in one parse: the op definitions know identity's
   * output type and that add's operands share a dtype */
  static const char *t2 = PROG("tensor<fp16, [2]> x",
    "  tensor<fp32, [2]> a = identity(x = x)[name = string(\"a\")];\n"
    "  tensor<fp16, [2]> b = add(x = x, y = tensor<int32, [2]>([1, 2]))[name = string(\"b\")];\n",
    "b");
  expect_parse_error(t2, "test.mil:4:3: error: identity: output 'a' is declared tensor<fp32, [2]>, "
                     "but the op computes tensor<fp16, [2]>");
  expect_parse_error(t2, "test.mil:5:3: error: add: x is fp16 and y is int32; they must have the "
                     "same dtype");
  /* operands that do not broadcast: refused at parse time in the cpu's words */
  expect_parse_error(PROG("tensor<fp16, [2]> x",
    "  tensor<fp16, [2]> b = add(x = x, y = tensor<fp16, [3]>([1, 2, 3]))[name = string(\"b\")];\n",
    "b"), "test.mil:4:3: error: add: cannot broadcast x tensor<fp16, [2]> with y tensor<fp16, [3]>");
  /* an input of the wrong shape is refused at set_input */
  Case c;
  ck_assert_int_eq(case_open(&c, PROG("tensor<fp16, [2]> x",
    "  tensor<fp16, [2]> y = relu(x = x)[name = string(\"y\")];\n", "y")), 0);
  Tensor in;
  static const int64_t d3[] = {3};
  ck_assert_int_eq(tensor_alloc(&in, MIL_FP32, 1, d3), 0);
  ck_assert_int_eq(cpu_backend.set_input(c.st, 0, &in, &c.d), -1);
  fflush(c.errf);
  ck_assert_ptr_nonnull(strstr(c.err, "input 'x'"));
  tensor_free(&in);
  case_close(&c);
}
END_TEST

START_TEST(test_param_errors) {
  /* the op definitions refuse these at parse time, in the cpu's words */
  static const char *t = PROG("tensor<fp16, [1, 1, 2, 2]> x, tensor<int32, [2]> s",
    "  tensor<fp16, [1, 1, 2, 2]> a = conv(strides = s, weight = tensor<fp16, [1, 1, 1, 1]>([[[[1]]]]), x = x)[name = string(\"a\")];\n"
    "  tensor<fp16, [1, 1, 2, 2]> b = pad(mode = string(\"wrap\"), pad = tensor<int32, [2]>([0, 0]), x = x)[name = string(\"b\")];\n",
    "a, b");
  expect_parse_error(t, "test.mil:4:3: error: conv: 'strides' must be a constant (const or "
                     "constexpr value)");
  expect_parse_error(t, "test.mil:5:3: error: pad: unknown pad mode \"wrap\" (constant, reflect or "
                     "replicate)");
  expect_parse_error(PROG("tensor<fp16, [1, 1, 2, 2]> x",
    "  tensor<fp16, [1, 1, 2, 2]> c = relu(y = x)[name = string(\"c\")];\n", "c"),
    "test.mil:4:3: error: relu: unknown operand 'y'; did you mean 'x'?");
  expect_parse_error(PROG("tensor<fp16, [1, 1, 2, 2]> x",
    "  tensor<int32, [1, 1, 2]> d = reduce_argmax(axis = int32(4), x = x)[name = string(\"d\")];\n", "d"),
    "test.mil:4:3: error: reduce_argmax: axis 4 is out of range for rank 4");
}
END_TEST

START_TEST(test_error_without_source) {
  /* a program built in memory has no text: the error names the model and
   * the statement */
  MilProg *p = mil_new("1.3");
  MilFunc *f = mil_add_func(p, "main", "ios18");
  int64_t d[] = {4};
  mil_add_input(p, f, mil_tensor_type(p, MIL_FP16, 1, d), "x");
  MilOp *op = mil_add_op(p, f, "random_uniform");
  mil_op_ref(p, op, "x", "x");
  mil_op_out(p, op, mil_tensor_type(p, MIL_FP16, 1, d), "y");
  mil_add_output(p, f, "y");
  char *err = NULL;
  size_t len = 0;
  FILE *ef = open_memstream(&err, &len);
  Diag dg = {ef, 0};
  Model m = {"inmem", NULL, p, f, NULL};
  BackendOpts o = {0};
  void *st = NULL;
  ck_assert_int_eq(cpu_backend.open(&m, &o, &st, &dg), -1);
  fclose(ef);
  ck_assert_msg(strstr(err, "inmem: error: y = random_uniform(...): op not supported by the cpu backend"),
                "%s", err);
  free(err);
  mil_free(p);
}
END_TEST

START_TEST(test_binary_float_only) {
  /* real_div and pow take int32 in the definitions; this backend computes
   * them in floats only and says so at the statement */
  static const char *t = PROG("tensor<int32, [3]> i, tensor<int32, [3]> j",
    "  tensor<fp32, [3]> d = real_div(x = i, y = j);\n"
    "  tensor<int32, [3]> q = pow(x = i, y = j);\n", "d, q");
  static const char *const msg[] = {
    "test.mil:4:3: error: real_div: operand 'x' is int32; fp16 or fp32 expected",
    "test.mil:5:3: error: pow: operand 'x' is int32; fp16 or fp32 expected"};
  expect_open_error(t, msg, 2);
}
END_TEST

/* The checks of image.c, einsum.c and reorder.c that the op definitions
 * (gen/opdef.c) leave to the backend, each at its statement's line: the
 * modes affine does not take, sizes below 1, unknown mode names (with
 * the names there are), and shapes the definitions cannot see because an
 * operand is declared with '?' (a = relu(x = ...) below). */
#define AFFINE(line, tm, h, coords, pad, smode)                                               \
  "  tensor<fp32, [?, ?, ?, ?]> " line " = affine(align_corners = bool(true), coordinates_mode " \
  "= string(\"" coords "\"), output_height = int32(" h "), output_width = int32(3), "           \
  "padding_mode = string(\"" pad "\"), padding_value = fp32(0), sampling_mode = string(\""     \
  smode "\"), transform_matrix = " tm ", x = x);\n"
#define RESAMPLE(line, c, smode)                                                              \
  "  tensor<fp32, [?, ?, ?, ?]> " line " = resample(align_corners = bool(true), coordinates = " \
  c ", coordinates_mode = string(\"unnormalized\"), padding_mode = string(\"constant\"), "      \
  "padding_value = fp32(0), sampling_mode = string(\"" smode "\"), x = x);\n"

START_TEST(test_sampling_errors) {
  static const char *t = PROG("tensor<fp32, [2, 2, 4, 4]> x, tensor<fp32, [2, 6]> t, "
                              "tensor<fp32, [3, 6]> t3, tensor<bool, [2, 3, 3, 2]> cb, "
                              "tensor<fp32, [2, 3, 3, 3]> c3, tensor<fp32, [2, 3, 3, 2]> c2",
    AFFINE("a1", "t", "3", "unnormalized", "constant", "bilinear")
    AFFINE("a2", "t", "3", "normalized_minus_one_to_one", "border", "bilinear")
    AFFINE("a3", "t3", "3", "normalized_minus_one_to_one", "constant", "bilinear")
    AFFINE("a4", "t", "0", "normalized_minus_one_to_one", "constant", "bilinear")
    AFFINE("a5", "t", "3", "normalized_minus_one_to_one", "wrap", "bilinear")
    RESAMPLE("r1", "cb", "bilinear")
    "  tensor<fp32, [?, ?, ?, ?]> c = relu(x = c3);\n"
    RESAMPLE("r2", "c", "bilinear")
    RESAMPLE("r3", "c2", "cubic"),
    "a1, a2, a3, a4, a5, r1, r2, r3");
  static const char *const msg[] = {
    "test.mil:4:3: error: affine: coordinates_mode must be \"normalized_minus_one_to_one\"",
    "test.mil:5:3: error: affine: padding_mode must be \"constant\" with padding_value 0",
    "test.mil:6:3: error: affine: transform_matrix must be [1, 6] or [B, 6] (B = 2)",
    "test.mil:7:3: error: affine: output_height and output_width must be at least 1",
    "test.mil:8:3: error: affine: unknown padding_mode \"wrap\" (constant, border, reflection or "
    "symmetric)",
    "test.mil:9:3: error: resample: coordinates are bool; fp16, fp32 or int32 expected",
    "test.mil:11:3: error: resample: coordinates must be [B, H2, W2, 2] with x's batch (2)",
    "test.mil:12:3: error: resample: unknown sampling_mode \"cubic\" (bilinear or nearest)"};
  expect_open_error(t, msg, 8);
}
END_TEST

#define CROP(line, r, extra, th)                                                              \
  "  tensor<fp32, [?, ?, ?, ?, ?]> " line " = crop_resize(" extra "roi = " r ", target_height = " \
  "int32(" th "), target_width = int32(2), x = x);\n"

START_TEST(test_crop_einsum_errors) {
  static const char *t = PROG("tensor<fp32, [1, 2, 4, 4]> x, tensor<fp32, [3, 1, 4, 1, 1]> r, "
                              "tensor<fp32, [3, 1, 3, 1, 1]> r3, tensor<int32, [3, 1, 4, 1, 1]> ri, "
                              "tensor<int32, [2, 3, 4, 5]> ex, tensor<int32, [2, 5, 4, 6]> ey, "
                              "tensor<fp32, [2, 3, 4, 5]> fx, tensor<fp32, [2, 7, 4, 6]> fy, "
                              "tensor<fp32, [3, 4]> bx",
    CROP("c1", "r3", "", "2")
    CROP("c2", "r", "", "0")
    CROP("c3", "r", "box_coordinate_mode = string(\"CORNERS\"), ", "2")
    CROP("c4", "r", "sampling_mode = string(\"NEAREST\"), ", "2")
    CROP("c5", "ri", "", "2")
    "  tensor<int32, [2, 3, 4, 6]> e1 = einsum(equation = string(\"nchw,nwhu->nchu\"), values = (ex, ey));\n"
    "  tensor<fp32, [2, ?, 4, 6]> a = relu(x = fy);\n"
    "  tensor<fp32, [2, 3, 4, 6]> e2 = einsum(equation = string(\"nchw,nwhu->nchu\"), values = (fx, a));\n"
    "  tensor<fp32, [3, 2, 2, 2]> c6 = crop_resize(boxes = bx, target_height = int32(2), target_width = int32(2), x = x);\n",
    "c1, c2, c3, c4, c5, e1, e2, c6");
  static const char *const msg[] = {
    "test.mil:4:3: error: crop_resize: roi must be [N, 1, 4, 1, 1] or [N, 1, 5, 1, 1]",
    "test.mil:5:3: error: crop_resize: target_height and target_width must be at least 1",
    "test.mil:6:3: error: crop_resize: unknown box_coordinate_mode \"CORNERS\" "
    "(CORNERS_HEIGHT_FIRST, CORNERS_WIDTH_FIRST, CENTER_SIZE_HEIGHT_FIRST or "
    "CENTER_SIZE_WIDTH_FIRST)",
    "test.mil:7:3: error: crop_resize: unknown sampling_mode \"NEAREST\" (STRICT_ALIGN_CORNERS, "
    "ALIGN_CORNERS, DEFAULT, OFFSET_CORNERS or UNALIGN_CORNERS)",
    "test.mil:8:3: error: crop_resize: operand 'roi' is int32; fp16 or fp32 expected",
    "test.mil:9:3: error: einsum: operand 'values[0]' is int32; fp16 or fp32 expected",
    "test.mil:11:3: error: einsum: values[0]'s last dim (5) differs from values[1]'s dim -3 (7)",
    "test.mil:12:3: error: crop_resize: boxes and box_indices (iOS17's form) are not supported by "
    "the cpu backend; roi expected"};
  expect_open_error(t, msg, 8);
}
END_TEST

START_TEST(test_reorder_errors) {
  static const char *t = PROG("tensor<fp32, [2, 15]> x, tensor<fp32, [5, 7]> r7, "
                              "tensor<int32, []> b0, tensor<fp32, [2, 9, 3]> w",
    "  tensor<fp32, [?]> l1 = reshape_like(begins = (b0), end_masks = (bool(true)), ends = (int32(0)), ref_tensors = (x), x = x);\n"
    "  tensor<fp32, [?, ?]> a = relu(x = r7);\n"
    "  tensor<fp32, [?, ?]> l2 = reshape_like(begins = (int32(0)), end_masks = (bool(true)), ends = (int32(0)), ref_tensors = (a), x = x);\n"
    "  tensor<fp32, [?, ?, ?]> v = relu(x = w);\n"
    "  tensor<fp32, [?, ?, ?, ?]> s1 = sliding_windows(axis = int32(1), size = int32(10), x = v);\n"
    "  tensor<fp32, [?, ?, ?, ?]> s2 = sliding_windows(axis = int32(1), size = int32(2), stride = int32(0), x = v);\n",
    "l1, l2, s1, s2");
  static const char *const msg[] = {
    "test.mil:4:3: error: reshape_like: begins[0] must be a constant scalar",
    "test.mil:6:3: error: reshape_like: the shape the references give has 35 elements; x has 30",
    "test.mil:8:3: error: sliding_windows: size 10 is larger than dim 1 (9)",
    "test.mil:9:3: error: sliding_windows: size and stride must be at least 1"};
  expect_open_error(t, msg, 4);
}
END_TEST

START_TEST(test_state_persists) {
  /* r = read_state(s); y = r + x; write_state(s, y): with s = [10, 20] at
   * the start and x = [1, 2], the first eval gives [11, 22] and stores it,
   * the second [12, 24]. write_state has no outputs. */
  MilProg *p = mil_new("1.3");
  MilFunc *f = mil_add_func(p, "main", "ios18");
  int64_t d[] = {2};
  MilType *t = mil_tensor_type(p, MIL_FP32, 1, d);
  MilType *stt = mil_alloc(p, sizeof *stt);
  stt->kind = MIL_STATE;
  stt->nsub = 1;
  stt->sub = mil_alloc(p, sizeof *stt->sub);
  stt->sub[0] = t;
  mil_add_input(p, f, stt, "s");
  mil_add_input(p, f, t, "x");
  MilOp *rd = mil_add_op(p, f, "read_state");
  mil_op_ref(p, rd, "input", "s");
  mil_op_out(p, rd, t, "r");
  MilOp *add = mil_add_op(p, f, "add");
  mil_op_ref(p, add, "x", "r");
  mil_op_ref(p, add, "y", "x");
  mil_op_out(p, add, t, "y");
  MilOp *wr = mil_add_op(p, f, "write_state");
  mil_op_ref(p, wr, "data", "y");
  mil_op_ref(p, wr, "input", "s");
  mil_add_output(p, f, "y");
  Diag dg = diag_stderr();
  Model m = {"inmem", NULL, p, f, NULL};
  BackendOpts o = {0};
  void *st = NULL;
  ck_assert_int_eq(cpu_backend.open(&m, &o, &st, &dg), 0);
  Tensor in;
  ck_assert_int_eq(tensor_alloc(&in, MIL_FP32, 1, d), 0);
  float *v = in.data;
  v[0] = 10;
  v[1] = 20;
  ck_assert_int_eq(cpu_backend.set_input(st, 0, &in, &dg), 0);
  v[0] = 1;
  v[1] = 2;
  ck_assert_int_eq(cpu_backend.set_input(st, 1, &in, &dg), 0);
  for (int k = 1; k <= 2; k++) {
    Tensor out;
    double ms = 0;
    ck_assert_int_eq(cpu_backend.eval(st, &ms, &dg), 0);
    ck_assert_int_eq(cpu_backend.get_output(st, 0, &out, &dg), 0);
    ck_assert(((float *)out.data)[0] == 10 + k && ((float *)out.data)[1] == 20 + 2 * k);
    tensor_free(&out);
  }
  tensor_free(&in);
  cpu_backend.close(st);
  mil_free(p);
}
END_TEST

START_TEST(test_ops_doc_matches_table) {
  /* docs/ops.md lists every op with its status: an "implemented" row must
   * be in the backend's table (const is the plan builder's own), any other
   * row must not; its last column says "yes" exactly for the ops with a
   * definition (gen/opdef.c) */
  FILE *f = fopen(SRCDIR "/docs/ops.md", "r");
  ck_assert_ptr_nonnull(f);
  char line[4096];
  int rows = 0, impl = 0, defined = 0;
  while (fgets(line, sizeof line, f)) {
    char name[128], status[64];
    if (sscanf(line, "| `%127[^`]` | %*s | %63[a-z ]", name, status) != 2)
      continue;
    bool yes = strncmp(status, "implemented", 11) == 0;
    bool have = strcmp(name, "const") == 0 || cpu_op_find(name) != NULL;
    ck_assert_msg(yes == have, "docs/ops.md says %s is \"%s\"", name, status);
    char *last = strrchr(line, '|');
    ck_assert_ptr_nonnull(last);
    *last = '\0';
    char *col = strrchr(line, '|');
    ck_assert_ptr_nonnull(col);
    bool def = strstr(col, "yes") != NULL;
    ck_assert_msg(def == opdef_defined(name), "docs/ops.md says %s has %sa definition", name,
                  def ? "" : "no ");
    rows++;
    impl += yes;
    defined += def;
  }
  fclose(f);
  ck_assert_int_ge(rows, 160);
  ck_assert_int_ge(impl, 130);
  ck_assert_int_ge(defined, 150);
}
END_TEST

/* The op definitions (gen/opdef.c) refuse these at parse time, so
 * --dry-run, sim and cpu give the same located message; a program built in
 * memory (no parser) gets the same words from the cpu backend. */
static void expect_parse_error(const char *text, const char *want) {
  char *err = NULL;
  size_t len = 0;
  FILE *ef = open_memstream(&err, &len);
  Diag d = {ef, 0};
  Src src = {"test.mil", text, strlen(text)};
  MilProg *p = mil_parse(&src, &d);
  fclose(ef);
  ck_assert_ptr_null(p);
  ck_assert_msg(strstr(err, want) != NULL, "missing \"%s\" in: %s", want, err);
  free(err);
}

START_TEST(test_opdef_checks) {
  expect_parse_error(PROG("tensor<fp32, [1, 4, 3, 3]> x",
    "  tensor<fp32, [4, 4, 1, 1]> w = const()[name = string(\"w\"), val = tensor<fp32, [4, 4, 1, 1]>([[[[1]], [[0]], [[0]], [[0]]], [[[0]], [[1]], [[0]], [[0]]], [[[0]], [[0]], [[1]], [[0]]], [[[0]], [[0]], [[0]], [[1]]]])];\n"
    "  tensor<fp32, [1, 4, 3, 3]> y = conv(groups = int32(0), weight = w, x = x)[name = string(\"y\")];\n", "y"),
    "test.mil:5:3: error: conv: weight [4, 4, ...] does not fit x with 4 channels in 0 groups");
  expect_parse_error(PROG("tensor<fp32, [2, 3]> x",
    "  tensor<fp32, [2, 3]> y = transpose(perm = tensor<int32, [2]>([1, 1]), x = x)[name = string(\"y\")];\n", "y"),
    "test.mil:4:3: error: transpose: perm is not a permutation: 1 appears twice");
  expect_parse_error(PROG("tensor<fp32, [2, 3]> x",
    "  tensor<fp32, [2, 3]> y = softmax(axis = int32(2), x = x)[name = string(\"y\")];\n", "y"),
    "test.mil:4:3: error: softmax: axis 2 is out of range for rank 2");
  expect_parse_error(PROG("tensor<fp32, [2, 3]> x, tensor<fp32, [4, 5]> z",
    "  tensor<fp32, [2, 5]> y = matmul(transpose_x = bool(false), transpose_y = bool(false), x = x, y = z)[name = string(\"y\")];\n", "y"),
    "test.mil:4:3: error: matmul: x tensor<fp32, [2, 3]> and y tensor<fp32, [4, 5]> do not fit: "
    "inner dims 3 and 4");
  /* in memory: the cpu backend's open() words it the same */
  MilProg *p = mil_new("1.3");
  MilFunc *f = mil_add_func(p, "main", "ios18");
  int64_t d[] = {2, 3};
  mil_add_input(p, f, mil_tensor_type(p, MIL_FP32, 2, d), "x");
  MilOp *op = mil_add_op(p, f, "softmax");
  mil_op_ref(p, op, "x", "x");
  mil_op_val(p, op, "axis", mil_scalar_i(p, MIL_INT32, -3));
  mil_op_out(p, op, mil_tensor_type(p, MIL_FP32, 2, d), "y");
  mil_add_output(p, f, "y");
  char *err = NULL;
  size_t len = 0;
  FILE *ef = open_memstream(&err, &len);
  Diag dg = {ef, 0};
  Model m = {"inmem", NULL, p, f, NULL};
  BackendOpts o = {0};
  void *st = NULL;
  ck_assert_int_eq(cpu_backend.open(&m, &o, &st, &dg), -1);
  fclose(ef);
  ck_assert_msg(strstr(err, "y = softmax(...): axis -3 is out of range for rank 2"), "%s", err);
  free(err);
  mil_free(p);
}
END_TEST

START_TEST(test_precision_fp32) {
  /* y = x * 0.1 (fp16 0.0999755859375), z = y * 10, x = 3:
   * fp16 between ops: y = 0.2999267578125 is 1228.5 steps of 2^-12 -> 1228
   *   (even) = 0.2998046875, z = 2.998046875 (1535 steps of 2^-9, exact);
   * --precision fp32: z = 2.999267578125 in fp32, 1535.625 steps -> 1536
   *   = 3.0 when the output is stored as fp16. */
  static const char *t = PROG("tensor<fp16, [1]> x",
    "  tensor<fp16, [1]> y = mul(x = x, y = fp16(0.1))[name = string(\"y\")];\n"
    "  tensor<fp16, [1]> z = mul(x = y, y = fp16(10))[name = string(\"z\")];\n", "z");
  static const int64_t d[] = {1};
  static const double x[] = {3}, w16[] = {2.998046875}, w32[] = {3.0};
  for (int fp32 = 0; fp32 < 2; fp32++) {
    Case c;
    memset(&c, 0, sizeof c);
    c.src = (Src){"test.mil", t, strlen(t)};
    c.errf = open_memstream(&c.err, &c.errlen);
    c.d = (Diag){c.errf, 0};
    c.p = mil_parse(&c.src, &c.d);
    ck_assert_ptr_nonnull(c.p);
    c.m = (Model){"test", NULL, c.p, mil_find_func(c.p, "main"), NULL};
    BackendOpts o = {.fp32 = fp32};
    ck_assert_int_eq(cpu_backend.open(&c.m, &o, &c.st, &c.d), 0);
    case_in(&c, 0, 1, d, x);
    case_eval(&c);
    expect_out(&c, 0, MIL_FP16, 1, d, fp32 ? w32 : w16);
    case_close(&c);
  }
}
END_TEST

/* sgemm.c's GEMM called directly. By hand: W = [[1, 2, 3], [4, 5, 6]], X =
 * [[1, 0], [0, 1], [1, 1]] -> [[4, 5], [10, 11]]; bias [0.5, -1] -> [[4.5,
 * 5.5], [9, 10]]; rounded to fp16, a bias 1/1024 larger gives the same:
 * fp16's step is 1/256 below 8 and 1/128 from 8. Then
 * sizes off every block (13 x 300 by 300 x 277, 2 threads) against the
 * product summed in double: within fp32's rounding of the sum's terms. */
START_TEST(test_sgemm_kernel) {
  /* W [[1, 2, 3], [4, 5, 6]] times x [[1, 0], [0, 1], [1, 1]] = [[4, 5],
   * [10, 11]]; with bias [0.5, -1]: [[4.5, 5.5], [9, 10]]. Adding 2^-10 more
   * and rounding to fp16 gives the same: fp16's step is 2^-8 from 4 to 8 and
   * 2^-7 from 8 to 16, so 2^-10 is at most a quarter step, rounded away.
   * Then a 13 x 300 x 277 product on 2 threads, tiles cut at both edges (13
   * = 2 * 6 + 1 rows, 277 = 17 * 16 + 5 columns), within K ulps of the sum
   * of |terms| of the double sum. */
  if (!cpu_sgemm_available())
    return;
  float w[] = {1, 2, 3, 4, 5, 6}, x[] = {1, 0, 0, 1, 1, 1}, bias[] = {0.5f, -1};
  float bias2[] = {0.5f + 1.0f / 1024, -1.0f + 1.0f / 1024}, c[4];
  float *wp = malloc(sizeof(float) * (size_t)cpu_sgemm_packed(2, 3));
  float *buf = malloc(sizeof(float) * 2 * (size_t)cpu_sgemm_scratch(1));
  ck_assert_ptr_nonnull(wp);
  ck_assert_ptr_nonnull(buf);
  cpu_sgemm_pack(wp, w, 2, 3);
  CpuSgemm g = {.M = 2, .N = 2, .K = 3, .w = wp, .x = x, .c = c};
  cpu_sgemm(NULL, &g, 1, buf, 1);
  ck_assert(c[0] == 4 && c[1] == 5 && c[2] == 10 && c[3] == 11);
  g.bias = bias;
  cpu_sgemm(NULL, &g, 1, buf, 1);
  ck_assert(c[0] == 4.5f && c[1] == 5.5f && c[2] == 9 && c[3] == 10);
  g.bias = bias2;
  g.round = true;
  cpu_sgemm(NULL, &g, 1, buf, 1);
  ck_assert(c[0] == 4.5f && c[1] == 5.5f && c[2] == 9 && c[3] == 10);
  free(wp);
  enum { M = 13, K = 300, N = 277 };
  float *W = malloc(sizeof(float) * M * K), *X = malloc(sizeof(float) * K * N);
  float *C = malloc(sizeof(float) * M * N);
  wp = malloc(sizeof(float) * (size_t)cpu_sgemm_packed(M, K));
  ck_assert(W && X && C && wp);
  for (int i = 0; i < M * K; i++)
    W[i] = (float)((i * 37 % 101) - 50) / 64;
  for (int i = 0; i < K * N; i++)
    X[i] = (float)((i * 53 % 97) - 48) / 32;
  cpu_sgemm_pack(wp, W, M, K);
  CpuPool *pool = cpu_pool_new(2);
  CpuSgemm h = {.M = M, .N = N, .K = K, .w = wp, .x = X, .c = C};
  cpu_sgemm(pool, &h, 1, buf, 2);
  for (int m = 0; m < M; m++)
    for (int n = 0; n < N; n++) {
      double sum = 0, mag = 0;
      for (int k = 0; k < K; k++) {
        sum += (double)W[m * K + k] * X[k * N + n];
        mag += fabs((double)W[m * K + k] * X[k * N + n]);
      }
      ck_assert_msg(fabs(C[m * N + n] - sum) <= 0x1p-23 * K * mag, "C[%d][%d] = %g, want %g", m,
                    n, (double)C[m * N + n], sum);
    }
  cpu_pool_free(pool);
  free(W), free(X), free(C), free(wp), free(buf);
}
END_TEST

/* Two GEMMs run as one chain (cpu_sgemm with n = 2), 20 columns (a
 * panel of 16 and a cut one of 4). By hand, for column j, x = [1, j/64]:
 * W1 = [[1, 2], [1, 2]] and bias1 = [3 * 2^-12, 0] give 1 + j/32 + 3 * 2^-12
 * and 1 + j/32; in [1, 2) fp16's step is 2^-10 and 3/4 of a step rounds up,
 * so y1 = [1 + j/32 + 2^-10, 1 + j/32]. W2 = [[4, -4], [1, 0]], bias2 = [0,
 * 0.5]: y2[0] = 4 * 2^-10 = 2^-8 for every j (3 * 2^-10 had y1 not been
 * rounded); y2[1] = 1.5 + j/32 + 2^-10, exact below 2 (j < 16), from 2 a
 * tie at 2^-9's steps that goes to the even 1.5 + j/32. Unrounded, y2[0] is
 * 3 * 2^-10. Then a chain off every block size (K = 600 in two passes, an
 * intermediate of 512 rows, the most a chain takes, 277 columns, batches of
 * threads) gives the bits of its GEMMs run one at a time. */
START_TEST(test_sgemm_chain) {
  if (!cpu_sgemm_available())
    return;
  enum { N = 20 };
  float w1[] = {1, 2, 1, 2}, w2[] = {4, -4, 1, 0}, b1[] = {3.0f / 4096, 0}, b2[] = {0, 0.5f};
  float x[2 * N], y[2 * N], p1[12], p2[12];
  for (int j = 0; j < N; j++)
    x[j] = 1, x[N + j] = (float)j / 64;
  float *buf = malloc(sizeof(float) * (size_t)cpu_sgemm_scratch(2));
  ck_assert_ptr_nonnull(buf);
  cpu_sgemm_pack(p1, w1, 2, 2);
  cpu_sgemm_pack(p2, w2, 2, 2);
  CpuSgemm g[2] = {{.M = 2, .N = N, .K = 2, .w = p1, .x = x, .bias = b1, .round = true},
                   {.M = 2, .N = N, .K = 2, .w = p2, .bias = b2, .c = y, .round = true}};
  ck_assert(cpu_sgemm_chains(&g[0], &g[1]));
  cpu_sgemm(NULL, g, 2, buf, 1);
  for (int j = 0; j < N; j++) {
    ck_assert_msg(y[j] == 0x1p-8f, "y2[0][%d] = %a", j, (double)y[j]);
    ck_assert_msg(y[N + j] == 1.5f + j / 32.0f + (j < 16 ? 0x1p-10f : 0), "y2[1][%d]", j);
  }
  g[0].round = g[1].round = false;
  cpu_sgemm(NULL, g, 2, buf, 1);
  for (int j = 0; j < N; j++)
    ck_assert(y[j] == 3 * 0x1p-10f && y[N + j] == 1.5f + j / 32.0f + 3 * 0x1p-12f);
  free(buf);

  enum { L = 3, C = 277 };
  const int64_t m[L] = {512, 37, 7}, k[L] = {600, 512, 37};
  float *w[L], *wp[L], *bias[L], *v[L + 1], *chain = malloc(sizeof(float) * 7 * C);
  buf = malloc(sizeof(float) * 2 * (size_t)cpu_sgemm_scratch(L));
  ck_assert(chain && buf);
  uint32_t r = 1;
  v[0] = malloc(sizeof(float) * 600 * C);
  for (int i = 0; i < 600 * C; i++)
    v[0][i] = (float)((int)((r = r * 1103515245u + 12345u) >> 20) % 129 - 64) / 32;
  CpuSgemm h[L];
  for (int l = 0; l < L; l++) {
    w[l] = malloc(sizeof(float) * (size_t)(m[l] * k[l]));
    wp[l] = malloc(sizeof(float) * (size_t)cpu_sgemm_packed(m[l], k[l]));
    bias[l] = malloc(sizeof(float) * (size_t)m[l]);
    v[l + 1] = malloc(sizeof(float) * (size_t)(m[l] * C));
    ck_assert(w[l] && wp[l] && bias[l] && v[l + 1]);
    for (int64_t i = 0; i < m[l] * k[l]; i++)
      w[l][i] = (float)((int)((r = r * 1103515245u + 12345u) >> 20) % 65 - 32) / 256;
    for (int64_t i = 0; i < m[l]; i++)
      bias[l][i] = l == 1 ? 0 : (float)(i % 7) / 8;
    cpu_sgemm_pack(wp[l], w[l], m[l], k[l]);
    h[l] = (CpuSgemm){.M = m[l], .N = C, .K = k[l], .w = wp[l], .x = v[l], .c = v[l + 1],
                      .bias = l == 1 ? NULL : bias[l], .round = l != 2};
  }
  CpuPool *pool = cpu_pool_new(2);
  for (int l = 0; l < L; l++)   /* one at a time */
    cpu_sgemm(pool, &h[l], 1, buf, 2);
  h[L - 1].c = chain;
  cpu_sgemm(pool, h, L, buf, 2);
  ck_assert(memcmp(chain, v[L], sizeof(float) * 7 * C) == 0);
  cpu_pool_free(pool);
  for (int l = 0; l < L; l++)
    free(w[l]), free(wp[l]), free(bias[l]), free(v[l + 1]);
  free(v[0]), free(chain), free(buf);
}
END_TEST

/* The plan runs consecutive 1x1 convs, each read only by the next, as one
 * chain (sgemm.c), not under a per-op timer (--profile), and not across a
 * value the function returns. test_sgemm_chain's first case as a program:
 * [1, 2, 8, 8], x[0] = 1, x[1][j] = j/64, then a third conv, the identity.
 * By hand, as there, for j < 32: y1 = [1 + j/32 + 2^-10, 1 + j/32]; for
 * j >= 32 (in [2, 4), a step of 2^-9), 3 * 2^-12 rounds down: y1[0] = 1 +
 * j/32. So y[0][j] = 2^-8 below 32, else 0; y[1][j] = y1[0][j] + 0.5 =
 * 1.5 + j/32, plus 2^-10 below 16 (from 16 a tie, to even). */
static void no_time(void *ctx, const MilOp *op, double ms) {
  (void)ctx, (void)op, (void)ms;
}

#define CHAIN_SIG "tensor<fp16, [1, 2, 8, 8]> x"
#define CHAIN_CONV(out, b, w, in)                                                             \
  "  tensor<fp16, [1, 2, 8, 8]> " out " = conv(bias = tensor<fp16, [2]>(" b "), weight = "      \
  "tensor<fp16, [2, 2, 1, 1]>(" w "), x = " in ")[name = string(\"" out "\")];\n"
#define CHAIN_BODY                                                                            \
  CHAIN_CONV("c0", "[0x1.8p-11, 0]", "[[[[1]], [[2]]], [[[1]], [[2]]]]", "x")                 \
  CHAIN_CONV("c1", "[0, 0.5]", "[[[[4]], [[-4]]], [[[1]], [[0]]]]", "c0")                     \
  CHAIN_CONV("y", "[0, 0]", "[[[[1]], [[0]]], [[[0]], [[1]]]]", "c1")

START_TEST(test_sgemm_chain_plan) {
  if (!cpu_sgemm_available())
    return;
  static const int64_t d[] = {1, 2, 8, 8};
  double x[128], y[128], y1[128];
  for (int j = 0; j < 64; j++) {
    x[j] = 1, x[64 + j] = j / 64.0;
    y[j] = j < 32 ? 0x1p-8 : 0;
    y[64 + j] = 1.5 + j / 32.0 + (j < 16 ? 0x1p-10 : 0);
    y1[j] = 1 + j / 32.0 + (j < 32 ? 0x1p-10 : 0);
    y1[64 + j] = 1 + j / 32.0;
  }
  const char *one = PROG(CHAIN_SIG, CHAIN_BODY, "y"), *open = PROG(CHAIN_SIG, CHAIN_BODY, "c0, y");
  OpTimer timer = {no_time, NULL};
  const BackendOpts opts[] = {{0}, {.timer = &timer}, {0}};
  const char *text[] = {one, one, open};
  const int64_t runs[][3] = {{3, 0, 0}, {1, 1, 1}, {1, 2, 0}};   /* each step's k[19] */
  for (int i = 0; i < 3; i++) {
    Case c;
    ck_assert_msg(case_open_o(&c, text[i], NULL, &opts[i]) == 0, "open failed: %s", c.err);
    const CpuPlan *p = c.st;
    ck_assert_int_eq(p->nsteps, 3);
    for (int k = 0; k < 3; k++) {
      ck_assert_int_eq(p->steps[k].k[19], runs[i][k]);
      ck_assert((p->steps[k].run == cpu_run_nothing) == (runs[i][k] == 0));
    }
    case_in(&c, 0, 4, d, x);
    case_eval(&c);
    expect_out(&c, i == 2, MIL_FP16, 4, d, y);
    if (i == 2)
      expect_out(&c, 0, MIL_FP16, 4, d, y1);
    case_close(&c);
  }
}
END_TEST

START_TEST(test_inmemory_conv) {
  /* programs built with the mil.h constructors run the same: a 1x1 conv
   * whose weight is an inline fp16 const, as the benchmark builds them:
   * W = [[1, -1], [2, 0.5]], x = [4, 2] -> [2, 9] */
  MilProg *p = mil_new("1.3");
  MilFunc *f = mil_add_func(p, "main", "ios18");
  int64_t xd[] = {1, 2, 1, 1}, wd[] = {2, 2, 1, 1};
  double w[] = {1, -1, 2, 0.5};
  mil_add_input(p, f, mil_tensor_type(p, MIL_FP16, 4, xd), "x");
  MilOp *c = mil_add_op(p, f, "const");
  mil_op_attr(p, c, "val", mil_tensor_f(p, MIL_FP16, 4, wd, w));
  mil_op_out(p, c, mil_tensor_type(p, MIL_FP16, 4, wd), "W");
  MilOp *op = mil_add_op(p, f, "conv");
  mil_op_ref(p, op, "weight", "W");
  mil_op_ref(p, op, "x", "x");
  mil_op_val(p, op, "pad_type", mil_scalar_s(p, "valid"));
  mil_op_out(p, op, mil_tensor_type(p, MIL_FP16, 4, xd), "y");
  mil_add_output(p, f, "y");
  Diag dg = diag_stderr();
  Model m = {"inmem", NULL, p, f, NULL};
  BackendOpts o = {0};
  void *st = NULL;
  ck_assert_int_eq(cpu_backend.open(&m, &o, &st, &dg), 0);
  Tensor in, out;
  ck_assert_int_eq(tensor_alloc(&in, MIL_FP16, 4, xd), 0);
  ((uint16_t *)in.data)[0] = fp16_from_float(4);
  ((uint16_t *)in.data)[1] = fp16_from_float(2);
  ck_assert_int_eq(cpu_backend.set_input(st, 0, &in, &dg), 0);
  double ms = 0;
  ck_assert_int_eq(cpu_backend.eval(st, &ms, &dg), 0);
  ck_assert_int_eq(cpu_backend.get_output(st, 0, &out, &dg), 0);
  ck_assert_int_eq(out.dtype, MIL_FP16);
  ck_assert(fp16_to_float(((uint16_t *)out.data)[0]) == 2);
  ck_assert(fp16_to_float(((uint16_t *)out.data)[1]) == 9);
  tensor_free(&in);
  tensor_free(&out);
  cpu_backend.close(st);
  mil_free(p);
}
END_TEST

static Suite *cpu_suite(void) {
  Suite *s = suite_create("cpu");
  TCase *t = tcase_create("conv");
  tcase_add_test(t, test_conv_2x2);
  tcase_add_test(t, test_conv_pad_stride);
  tcase_add_test(t, test_conv_groups);
  tcase_add_test(t, test_conv_groups_im2col);
  tcase_add_test(t, test_conv_depthwise);
  tcase_add_test(t, test_conv3x3_winograd);
  tcase_add_test(t, test_wino_weights);
  tcase_add_test(t, test_conv_dilation);
  tcase_add_test(t, test_conv1d);
  tcase_add_test(t, test_conv_quantized);
  tcase_add_test(t, test_conv1x1_is_matmul);
  suite_add_tcase(s, t);
  t = tcase_create("quant");
  tcase_add_test(t, test_quantize_ties);
  tcase_add_test(t, test_quantize_clamp);
  tcase_add_test(t, test_quantize_per_axis);
  tcase_add_test(t, test_dequantize_zero_point);
  tcase_add_test(t, test_dequantize_fp16_rounding);
  tcase_add_test(t, test_constexpr_affine);
  tcase_add_test(t, test_constexpr_blockwise);
  tcase_add_test(t, test_constexpr_sparse_shift);
  tcase_add_test(t, test_constexpr_lut_sparse);
  tcase_add_test(t, test_constexpr_lut);
  tcase_add_test(t, test_blob_weights);
  tcase_add_test(t, test_seed_w8a8);
  suite_add_tcase(s, t);
  t = tcase_create("math");
  tcase_set_timeout(t, 60);   /* the fp16 sweep, on a loaded machine */
  tcase_add_test(t, test_activations);
  tcase_add_test(t, test_sigmoid);
  tcase_add_test(t, test_gelu_modes);
  tcase_add_test(t, test_sqrt_rsqrt_pow);
  tcase_add_test(t, test_softmax);
  tcase_add_test(t, test_layer_norm);
  tcase_add_test(t, test_reductions);
  tcase_add_test(t, test_fp16_rounding);
  tcase_add_test(t, test_round_fp16_matches_reference);
  tcase_add_test(t, test_vector_math_vs_libm);
  tcase_add_test(t, test_thread_pool);
  tcase_add_test(t, test_parallel_kernels);
  tcase_add_test(t, test_matmul_transpose);
  tcase_add_test(t, test_matmul_batch);
  tcase_add_test(t, test_linear);
  tcase_add_test(t, test_sgemm_kernel);
  tcase_add_test(t, test_sgemm_chain);
  tcase_add_test(t, test_sgemm_chain_plan);
  suite_add_tcase(s, t);
  t = tcase_create("shape");
  tcase_add_test(t, test_broadcast);
  tcase_add_test(t, test_reshape);
  tcase_add_test(t, test_transpose);
  tcase_add_test(t, test_concat_split);
  tcase_add_test(t, test_slice_by_index);
  tcase_add_test(t, test_expand_squeeze_cast);
  tcase_add_test(t, test_eval_twice_and_chain);
  tcase_add_test(t, test_state_persists);
  tcase_add_test(t, test_ops_doc_matches_table);
  tcase_add_test(t, test_opdef_checks);
  tcase_add_test(t, test_precision_fp32);
  suite_add_tcase(s, t);
  t = tcase_create("errors");
  tcase_add_test(t, test_unsupported_op);
  tcase_add_test(t, test_errors_after_failure);
  tcase_add_test(t, test_shape_mismatch);
  tcase_add_test(t, test_param_errors);
  tcase_add_test(t, test_error_without_source);
  tcase_add_test(t, test_binary_float_only);
  tcase_add_test(t, test_sampling_errors);
  tcase_add_test(t, test_crop_einsum_errors);
  tcase_add_test(t, test_reorder_errors);
  tcase_add_test(t, test_inmemory_conv);
  tcase_add_test(t, test_conv_w8a8_int8_path);
  suite_add_tcase(s, t);
  return s;
}

int main(void) { return ck_run(cpu_suite()); }
