/* test_sim.c - the sim cost model's equations against hand-computed times,
 * the fit against synthetic data whose parameters are known, the table of
 * fitted parameters in sim.c against a fresh fit of data/ane_conv_chains.csv,
 * and the CSV loader's errors. */
#define _GNU_SOURCE
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "sim.h"
#include "simfit.h"

static char tmpdir[] = "/tmp/test_sim.XXXXXX";

static char *write_csv(const char *name, const char *text) {
  char *path;
  ck_assert_int_ge(asprintf(&path, "%s/%s", tmpdir, name), 0);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  fclose(f);
  return path;
}

/* Two fp16 1x1 convs, 64 channels on 8x8, on the M5 (153 GB/s) with rate
 * 10 TFLOPS, 1 us per op, 100 us per evaluation. Each conv: 2*64*64*64 =
 * 524288 FLOP = 5.24288e-5 ms; weights 64*64*2 = 8192 B; the first reads
 * the 8192 B function input, the second writes the 8192 B output, so each
 * moves 16384 B = 16384 / 153e9 s = 1.070850e-4 ms: memory bound. Total
 * 2 * (1.070850e-4 + 0.001) + 0.1 ms. */
START_TEST(predict_by_hand) {
  SimFit fit = {"M5", 10.0, 1.0, 100.0};
  SimMeas m = {"M5", false, 2, 64, 8, 8, 1.0, 1};
  double want = 2 * (16384 / 153e9 * 1e3 + 0.001) + 0.1;
  ck_assert_double_eq_tol(simfit_predict(&fit, &m), want, 1e-12);
  /* W8A8: 1 conv at fp16 rate (its x is the input), quantize, dequantize,
   * 1 conv at twice the rate. 512 ch on 64x64: a conv is 2*512*512*4096 =
   * 2147483648 FLOP: 0.2147483648 ms at 10 TFLOPS, 0.1073741824 at 20;
   * the two elementwise ops 2097152 FLOP each = 2.097152e-4 ms; weights
   * 262144 B and io 4 MiB per conv: (262144 + 4194304) / 153e9 s =
   * 0.029127 ms < compute. */
  SimMeas q = {"M5", true, 2, 512, 64, 64, 1.0, 1};
  want = 0.2147483648 + 0.1073741824 + 2 * 2.097152e-4 + 4 * 0.001 + 0.1;
  ck_assert_double_eq_tol(simfit_predict(&fit, &q), want, 1e-9);
}
END_TEST

/* An activation past the chip's on-chip budget goes through DRAM. */
START_TEST(sram_spill) {
  SimParams p = {.peak_tflops = 1000, .int8_factor = 2, .bw_gbs = 100, .op_us = 0};
  OpCost c = {.cls = FLOPS_ELEM, .flops = 1, .act_bytes = 64e6, .io_bytes = 0, .known = true};
  double comp, mem;
  sim_op_ms(&p, &c, &comp, &mem);
  ck_assert_double_eq(mem, 0);                       /* no budget: on chip */
  p.sram_bytes = 32.0 * 1048576;
  ck_assert_double_eq_tol(sim_op_ms(&p, &c, &comp, &mem), 64e6 / 100e9 * 1e3, 1e-15);
  c.act_bytes = 16e6;                                /* fits */
  sim_op_ms(&p, &c, &comp, &mem);
  ck_assert_double_eq(mem, 0);
  SimParams m4;
  Diag d = diag_stderr();
  ck_assert_int_eq(sim_params("M4", &m4, &d), 0);    /* ~32 MB SRAM (target.c) */
  ck_assert_double_eq(m4.sram_bytes, 32.0 * 1048576);
  ck_assert_int_eq(sim_params("M5", &m4, &d), 0);    /* unpublished */
  ck_assert_double_eq(m4.sram_bytes, 0);
}
END_TEST

/* Rows made by the model's own linear form with rate 15, 2 us, 150 us
 * (large convs: compute bound) give those parameters back. */
START_TEST(fit_recovers_parameters) {
  const int conv[][3] = {{64, 512, 0}, {128, 512, 0}, {128, 256, 0}, {96, 384, 0}, {64, 512, 1}};
  char *text = strdup("chip,precision,convs,channels,height,width,ms,source\n"), *line;
  for (size_t i = 0; i < sizeof conv / sizeof conv[0]; i++) {
    int n = conv[i][0], c = conv[i][1], q = conv[i][2];
    double g = 2.0 * c * c * 4096 / 1e9, e = (double)c * 4096 / 1e9;
    /* W8A8: the first conv at 15, n-1 at 30, 2(n-1) elementwise ops. */
    double ms = q ? (g + (n - 1) * g / 2 + 2 * (n - 1) * e) / 15 + (3 * n - 2) * 0.002 + 0.15
                  : n * g / 15 + n * 0.002 + 0.15;
    ck_assert_int_ge(asprintf(&line, "%sM5,%s,%d,%d,64,64,%.9f,synthetic\n", text,
                              q ? "int8" : "fp16", n, c, ms), 0);
    free(text);
    text = line;
  }
  char *path = write_csv("synth.csv", text);
  SimData data;
  Diag d = diag_stderr();
  ck_assert_int_eq(simfit_load(path, &data, &d), 0);
  ck_assert_int_eq(data.n, 5);
  SimFit f;
  ck_assert_int_eq(simfit_fit(&data, "M5", -1, NULL, &f), 0);
  ck_assert_double_eq_tol(f.rate_tflops, 15, 1e-5);
  ck_assert_double_eq_tol(f.op_us, 2, 1e-4);
  ck_assert_double_eq_tol(f.eval_us, 150, 1e-3);
  /* Two rows: only the rate, with the given overheads. */
  SimFit base = {"M5", 99, 2, 150}, one;
  ck_assert_int_eq(simfit_fit(&data, "M5", -1, &base, &one), 0);   /* 5 rows: three params */
  for (int i = 2; i < 5; i++)
    strcpy(data.rows[i].chip, "M4");
  ck_assert_int_eq(simfit_fit(&data, "M5", -1, &base, &one), 0);
  ck_assert_double_eq_tol(one.rate_tflops, 15, 1e-5);
  ck_assert_int_eq(simfit_fit(&data, "M5", -1, NULL, &one), -1);
  simfit_free(&data);
  unlink(path);
  free(path);
  free(text);
}
END_TEST

/* sim.c's table is what a fit of the published data gives (to the digits
 * it keeps). */
START_TEST(table_matches_fit) {
  SimData data;
  Diag d = diag_stderr();
  ck_assert_int_eq(simfit_load(SRCDIR "/data/ane_conv_chains.csv", &data, &d), 0);
  ck_assert_int_eq(data.n, 15);
  SimFit m5, f;
  ck_assert_int_eq(simfit_fit(&data, "M5", -1, NULL, &m5), 0);
  const char *chips[] = {"M5", "M4", "M5 Max"};
  for (int i = 0; i < 3; i++) {
    const SimFit *t = sim_fit_find(chips[i]);
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(simfit_fit(&data, chips[i], -1, &m5, &f), 0);
    ck_assert_double_eq_tol(t->rate_tflops, f.rate_tflops, 0.0006);
    ck_assert_double_eq_tol(t->op_us, f.op_us, 0.006);
    ck_assert_double_eq_tol(t->eval_us, f.eval_us, 0.06);
  }
  simfit_free(&data);
}
END_TEST

static void expect_bad(const char *text, const char *msg) {
  char *path = write_csv("bad.csv", text), *out = NULL;
  size_t n = 0;
  Diag d = {open_memstream(&out, &n), 0};
  SimData data;
  ck_assert_int_eq(simfit_load(path, &data, &d), -1);
  fclose(d.out);
  ck_assert_msg(strstr(out, msg), "wanted '%s' in:\n%s", msg, out);
  ck_assert_ptr_null(data.rows);
  free(out);
  unlink(path);
  free(path);
}

START_TEST(bad_csv) {
  expect_bad("M5,fp32,1,1,1,1,1,s\n", "bad.csv:1:4: error: precision must be fp16 or int8");
  expect_bad("# c\nM5,fp16,1,1,1,1\n", "bad.csv:2:1: error: expected 8 comma-separated fields");
  expect_bad("M5,fp16,0,1,1,1,1,s\n", "bad.csv:1:9: error: convs, channels");
  expect_bad("M5,fp16,1,1,1,70000,1,s\n", "at most 65536");
  expect_bad("M5,fp16,1,1,1,1,-2,s\n", "ms must be a positive number");
  expect_bad("M5,fp16,1,1,1,1,nan,s\n", "ms must be a positive number");
  expect_bad("M5,fp16,1,1,1,1,1,\n", "every row needs its source");
  expect_bad("a-chip-name-too-long,fp16,1,1,1,1,1,s\n", "longer than 15");
  expect_bad("# only comments\n", "no measurements");
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("sim");
  TCase *tc = tcase_create("model");
  tcase_add_test(tc, predict_by_hand);
  tcase_add_test(tc, sram_spill);
  tcase_add_test(tc, fit_recovers_parameters);
  tcase_add_test(tc, table_matches_fit);
  tcase_add_test(tc, bad_csv);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  if (!mkdtemp(tmpdir))
    return EXIT_FAILURE;
  int rc = ck_run(suite());
  rmdir(tmpdir);
  return rc;
}
