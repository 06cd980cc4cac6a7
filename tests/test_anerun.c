/* test_anerun.c - anerun's library: FLOP counting against hand-computed
 * shapes and the seed's table, statistics on hand lists, the report formats
 * against text written by hand, --check's error measures, the sim cost
 * model, option errors, --dry-run and runs through a test double. */
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_main.h"
#include "compare.h"
#include "dryrun.h"
#include "flops.h"
#include "manifest.h"
#include "model.h"
#include "plot.h"
#include "report.h"
#include "results.h"
#include "run.h"
#include "runopts.h"
#include "sim.h"
#include "stats.h"

/* ---- building MIL by hand ------------------------------------------------ */

static MilType *tensor(MilProg *p, MilDtype dt, int rank, ...) {
  int64_t d[MIL_MAX_RANK];
  va_list ap;
  va_start(ap, rank);
  for (int i = 0; i < rank; i++)
    d[i] = va_arg(ap, int64_t);
  va_end(ap);
  return mil_tensor_type(p, dt, rank, d);
}

static void add_const(MilProg *p, MilFunc *f, const char *name, MilValue *v) {
  MilOp *op = mil_add_op(p, f, "const");
  mil_op_out(p, op, v->type, name);
  mil_op_attr(p, op, "val", v);
  mil_op_attr(p, op, "name", mil_scalar_s(p, name));
}

static void add_blob_const(MilProg *p, MilFunc *f, const char *name, MilType *t) {
  add_const(p, f, name, mil_blob_value(p, t, "@model_path/weights/weight.bin", 64, -1));
}

/* op(out: t) with reference arguments given as "arg", "value" pairs. */
static MilOp *add_op(MilProg *p, MilFunc *f, const char *op, const char *out, MilType *t,
                     int nrefs, ...) {
  MilOp *o = mil_add_op(p, f, op);
  va_list ap;
  va_start(ap, nrefs);
  for (int i = 0; i < nrefs; i++) {
    const char *arg = va_arg(ap, const char *);
    mil_op_ref(p, o, arg, va_arg(ap, const char *));
  }
  va_end(ap);
  mil_op_out(p, o, t, out);
  return o;
}

/* The seed's benchmark: depth x (1x1 conv, ch channels) on 64x64, fp16
 * weights in the blob file. */
static MilProg *conv_chain(int ch, int depth) {
  MilProg *p = mil_new("1.3");
  MilFunc *f = mil_add_func(p, "main", "ios18");
  mil_add_input(p, f, tensor(p, MIL_FP16, 4, 1L, (int64_t)ch, 64L, 64L), "x0");
  for (int i = 0; i < depth; i++) {
    char w[32], x[32], y[32];
    snprintf(w, sizeof w, "W%d", i);
    snprintf(x, sizeof x, "x%d", i);
    snprintf(y, sizeof y, "x%d", i + 1);
    add_blob_const(p, f, mil_strdup(p, w), tensor(p, MIL_FP16, 4, (int64_t)ch, (int64_t)ch, 1L, 1L));
    add_op(p, f, "conv", mil_strdup(p, y), tensor(p, MIL_FP16, 4, 1L, (int64_t)ch, 64L, 64L), 2,
           "x", mil_strdup(p, x), "weight", mil_strdup(p, w));
  }
  return p;
}

/* ---- FLOP counting ------------------------------------------------------- */

/* Seed table: "128x conv 512ch 64x64  64.0  274.88" and
 * "128x conv 256ch 64x64  16.0  68.72". */
START_TEST(flops_seed_512) {
  MilProg *p = conv_chain(512, 128);
  FuncCost fc;
  ck_assert_int_eq(flops_func(&p->funcs[0], &fc), 0);
  ck_assert_double_eq_tol(fc.flops, 274877906944.0, 0.5); /* 2*512*512*64*64*128 */
  ck_assert_uint_eq(fc.const_bytes, 67108864);              /* 512*512*2*128 = 64 MiB */
  ck_assert_int_eq(fc.nblobs, 128);
  ck_assert_int_eq(fc.unknown, 0);
  mil_free(p);
}
END_TEST

START_TEST(flops_seed_256) {
  MilProg *p = conv_chain(256, 128);
  FuncCost fc;
  ck_assert_int_eq(flops_func(&p->funcs[0], &fc), 0);
  ck_assert_double_eq_tol(fc.flops / 1e9, 68.72, 0.005);
  ck_assert_double_eq_tol(fc.flops, 68719476736.0, 0.5);
  ck_assert_uint_eq(fc.const_bytes, 16u << 20);
  mil_free(p);
}
END_TEST

/* Grouped 3x3 conv: 2 * Cout * (Cin/groups) * kh * kw * Hout * Wout. */
START_TEST(flops_conv_groups_stride) {
  MilProg *p = mil_new("1.3");
  MilFunc *f = mil_add_func(p, "main", "ios18");
  mil_add_input(p, f, tensor(p, MIL_FP16, 4, 1L, 32L, 16L, 16L), "x");
  add_blob_const(p, f, "w", tensor(p, MIL_FP16, 4, 64L, 8L, 3L, 3L));
  MilOp *c = add_op(p, f, "conv", "y", tensor(p, MIL_FP16, 4, 1L, 64L, 16L, 16L), 2, "x", "x",
                    "weight", "w");
  mil_op_val(p, c, "groups", mil_scalar_i(p, MIL_INT32, 4));
  /* 7x7 stride 2 on a batch of 2: Hout = Wout = 112. */
  mil_add_input(p, f, tensor(p, MIL_FP32, 4, 2L, 3L, 224L, 224L), "img");
  add_blob_const(p, f, "w7", tensor(p, MIL_FP32, 4, 64L, 3L, 7L, 7L));
  add_op(p, f, "conv", "z", tensor(p, MIL_FP32, 4, 2L, 64L, 112L, 112L), 2, "x", "img", "weight",
         "w7");
  FlopsIndex *ix = flops_index(f);
  OpCost c1, c2;
  flops_op(ix, 1, &c1);
  flops_op(ix, 3, &c2);
  ck_assert_double_eq(c1.flops, 2.0 * 64 * 8 * 3 * 3 * 16 * 16);  /* 2359296 */
  ck_assert_double_eq(c2.flops, 472055808.0);                       /* 2*2*64*3*49*112*112 */
  ck_assert(c1.known && c2.known);
  ck_assert_int_eq(c1.cls, FLOPS_CONV);
  /* bytes: x 32*16*16*2 + y 64*16*16*2 activations, weight 64*8*9*2; the
   * inline groups scalar is 4 bytes of constant. */
  ck_assert_double_eq(c1.act_bytes, 16384 + 32768);
  ck_assert_double_eq(c1.io_bytes, 16384);  /* x is an input; y is no output */
  ck_assert_double_eq(c1.weight_bytes, 9216 + 4);
  flops_index_free(ix);
  mil_free(p);
}
END_TEST

START_TEST(flops_matmul_linear) {
  MilProg *p = mil_new("1.3");
  MilFunc *f = mil_add_func(p, "main", "ios18");
  mil_add_input(p, f, tensor(p, MIL_FP16, 4, 2L, 3L, 4L, 5L), "a");
  mil_add_input(p, f, tensor(p, MIL_FP16, 4, 2L, 3L, 5L, 6L), "b");
  add_op(p, f, "matmul", "ab", tensor(p, MIL_FP16, 4, 2L, 3L, 4L, 6L), 2, "x", "a", "y", "b");
  /* transpose_x: x [5, 4] is used as [4, 5], so K = 5. */
  mil_add_input(p, f, tensor(p, MIL_FP16, 2, 5L, 4L), "c");
  mil_add_input(p, f, tensor(p, MIL_FP16, 2, 5L, 6L), "e");
  add_const(p, f, "tx", mil_scalar_i(p, MIL_BOOL, 1));
  add_op(p, f, "matmul", "ce", tensor(p, MIL_FP16, 2, 4L, 6L), 3, "x", "c", "y", "e",
         "transpose_x", "tx");
  /* linear: x [1, 256, 384], weight [1152, 384]. */
  mil_add_input(p, f, tensor(p, MIL_FP16, 3, 1L, 256L, 384L), "h");
  add_blob_const(p, f, "wl", tensor(p, MIL_FP16, 2, 1152L, 384L));
  add_op(p, f, "linear", "q", tensor(p, MIL_FP16, 3, 1L, 256L, 1152L), 2, "x", "h", "weight",
         "wl");
  FlopsIndex *ix = flops_index(f);
  OpCost c;
  flops_op(ix, 0, &c);
  ck_assert_double_eq(c.flops, 2.0 * 2 * 3 * 4 * 6 * 5);  /* 1440 */
  flops_op(ix, 2, &c);
  ck_assert_double_eq(c.flops, 2.0 * 4 * 6 * 5);          /* 240 */
  flops_op(ix, 4, &c);
  ck_assert_double_eq(c.flops, 226492416.0);              /* 2*256*1152*384 */
  ck_assert_int_eq(c.cls, FLOPS_LINEAR);
  flops_index_free(ix);
  mil_free(p);
}
END_TEST

START_TEST(flops_other_classes) {
  MilProg *p = mil_new("1.3");
  MilFunc *f = mil_add_func(p, "main", "ios18");
  MilType *act = tensor(p, MIL_FP16, 4, 1L, 512L, 64L, 64L);
  mil_add_input(p, f, act, "x");
  add_op(p, f, "add", "s", act, 2, "x", "x", "y", "x");                       /* 0 */
  add_op(p, f, "reshape", "r", tensor(p, MIL_FP16, 2, 512L, 4096L), 1, "x", "x");
  MilType *qkv = tensor(p, MIL_FP16, 4, 1L, 12L, 256L, 32L);
  mil_add_input(p, f, qkv, "q");
  add_op(p, f, "scaled_dot_product_attention", "att", qkv, 3, "query", "q", "key", "q", "value",
         "q");                                                                 /* 2 */
  mil_add_input(p, f, tensor(p, MIL_FP16, 3, 10L, 1L, 64L), "seq");
  add_blob_const(p, f, "wih", tensor(p, MIL_FP16, 2, 512L, 64L));
  add_blob_const(p, f, "whh", tensor(p, MIL_FP16, 2, 512L, 128L));
  add_op(p, f, "lstm", "hs", tensor(p, MIL_FP16, 3, 10L, 1L, 128L), 3, "x", "seq", "weight_ih",
         "wih", "weight_hh", "whh");                                           /* 5 */
  mil_add_input(p, f, tensor(p, MIL_FP32, 4, 1L, 8L, 28L, 28L), "img");
  int64_t two = 2, k[] = {2, 2};
  add_const(p, f, "ks", mil_tensor_i(p, MIL_INT32, 1, &two, k));
  add_op(p, f, "max_pool", "pool", tensor(p, MIL_FP32, 4, 1L, 8L, 14L, 14L), 2, "x", "img",
         "kernel_sizes", "ks");                                                /* 7 */
  mil_add_input(p, f, tensor(p, MIL_FP32, 2, 4L, 100L), "m");
  add_op(p, f, "reduce_sum", "rs", tensor(p, MIL_FP32, 1, 4L), 1, "x", "m");  /* 8 */
  mil_add_input(p, f, tensor(p, MIL_FP32, 2, -1L, 3L), "dyn");
  add_op(p, f, "relu", "dr", tensor(p, MIL_FP32, 2, -1L, 3L), 1, "x", "dyn"); /* 9 */
  FlopsIndex *ix = flops_index(f);
  OpCost c;
  flops_op(ix, 0, &c);
  ck_assert_double_eq(c.flops, 2097152.0);                  /* 512*64*64 */
  flops_op(ix, 1, &c);
  ck_assert_double_eq(c.flops, 0);
  ck_assert_int_eq(c.cls, FLOPS_MOVE);
  flops_op(ix, 2, &c);
  ck_assert_double_eq(c.flops, 2.0 * (12 * 256) * 256 * (32 + 32));  /* 100663296 */
  flops_op(ix, 3, &c);
  ck_assert_int_eq(c.cls, FLOPS_CONST);
  ck_assert_double_eq(c.flops, 0);
  flops_op(ix, 5, &c);
  ck_assert_double_eq(c.flops, 2.0 * 10 * 1 * (512 * 64 + 512 * 128));  /* 1966080 */
  flops_op(ix, 7, &c);
  ck_assert_double_eq(c.flops, 8.0 * 14 * 14 * 4);          /* 6272 */
  flops_op(ix, 8, &c);
  ck_assert_double_eq(c.flops, 400);
  flops_op(ix, 9, &c);
  ck_assert(!c.known);
  ck_assert_double_eq(c.flops, 0);
  flops_index_free(ix);
  FuncCost fc;
  ck_assert_int_eq(flops_func(f, &fc), 0);
  ck_assert_int_eq(fc.unknown, 1);
  mil_free(p);
}
END_TEST

/* W8A8 (the seed's inmem_peak_int8): int8 weights stored, dequantized at
 * compile time; activations quantized and dequantized between layers. */
START_TEST(flops_w8a8_layer) {
  MilProg *p = mil_new("1.3");
  MilFunc *f = mil_add_func(p, "main", "ios18");
  MilType *act = tensor(p, MIL_FP16, 4, 1L, 512L, 64L, 64L);
  mil_add_input(p, f, act, "x");
  MilOp *w = mil_add_op(p, f, "constexpr_affine_dequantize");
  mil_op_out(p, w, tensor(p, MIL_FP16, 4, 512L, 512L, 1L, 1L), "W0");
  mil_op_attr(p, w, "quantized_data",
              mil_blob_value(p, tensor(p, MIL_INT8, 4, 512L, 512L, 1L, 1L),
                             "@model_path/weights/weight.bin", 64, -1));
  mil_op_attr(p, w, "scale", mil_scalar_f(p, MIL_FP16, 0.125));
  mil_op_attr(p, w, "zero_point", mil_scalar_i(p, MIL_INT8, 0));
  mil_op_attr(p, w, "axis", mil_scalar_i(p, MIL_INT32, 0));
  add_op(p, f, "quantize", "q", tensor(p, MIL_INT8, 4, 1L, 512L, 64L, 64L), 1, "input", "x");
  add_op(p, f, "dequantize", "dq", act, 1, "input", "q");
  add_op(p, f, "conv", "y", act, 2, "x", "dq", "weight", "W0");
  FlopsIndex *ix = flops_index(f);
  OpCost c;
  flops_op(ix, 1, &c);
  ck_assert_double_eq(c.flops, 2097152.0);  /* quantize: one per output element */
  ck_assert(!c.int8_act);
  flops_op(ix, 3, &c);
  ck_assert_double_eq(c.flops, 2.0 * 512 * 512 * 64 * 64);
  ck_assert(c.int8_act);
  /* The conv reads the stored int8 weight (262144 B) plus scale (2 B),
   * zero point (1 B) and axis (4 B), not the fp16 it becomes. */
  ck_assert_double_eq(c.weight_bytes, 262144 + 2 + 1 + 4);
  flops_index_free(ix);
  FuncCost fc;
  ck_assert_int_eq(flops_func(f, &fc), 0);
  ck_assert_uint_eq(fc.blob_bytes, 262144);
  ck_assert_int_eq(fc.nblobs, 1);
  mil_free(p);
}
END_TEST

START_TEST(flops_classes_by_name) {
  ck_assert_int_eq(flops_class("constexpr_lut_to_dense"), FLOPS_CONST);
  ck_assert_int_eq(flops_class("const"), FLOPS_CONST);
  ck_assert_int_eq(flops_class("reduce_argmax"), FLOPS_REDUCE);
  ck_assert_int_eq(flops_class("transpose"), FLOPS_MOVE);
  ck_assert_int_eq(flops_class("gelu"), FLOPS_ELEM);
  ck_assert_int_eq(flops_class("conv_transpose"), FLOPS_CONVT);
  ck_assert_int_eq(flops_class("write_state"), FLOPS_MOVE);
}
END_TEST

/* ---- statistics ---------------------------------------------------------- */

START_TEST(stats_odd_even) {
  Stats s;
  ck_assert_int_eq(stats_summarise((double[]){3, 1, 2}, 3, &s), 0);
  ck_assert_double_eq(s.min, 1);
  ck_assert_double_eq(s.median, 2);
  ck_assert_double_eq(s.p90, 3);  /* rank ceil(2.7) = 3 */
  ck_assert_int_eq(stats_summarise((double[]){4, 1, 3, 2}, 4, &s), 0);
  ck_assert_double_eq(s.median, 2.5);
  ck_assert_double_eq(s.p90, 4);  /* rank ceil(3.6) = 4 */
}
END_TEST

START_TEST(stats_nearest_rank_rule) {
  double ten[] = {10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, twenty[20];
  Stats s;
  ck_assert_int_eq(stats_summarise(ten, 10, &s), 0);
  ck_assert_double_eq(s.min, 1);
  ck_assert_double_eq(s.median, 5.5);
  ck_assert_double_eq(s.p90, 9);  /* rank 9 exactly, not 10 */
  ck_assert_double_eq(ten[0], 10);  /* the input is left alone */
  for (int i = 0; i < 20; i++)
    twenty[i] = 0.5 * (20 - i);
  ck_assert_int_eq(stats_summarise(twenty, 20, &s), 0);
  ck_assert_double_eq(s.p90, 9);  /* rank 18 of 0.5..10 */
  ck_assert_int_eq(stats_summarise((double[]){7.25}, 1, &s), 0);
  ck_assert_double_eq(s.min, 7.25);
  ck_assert_double_eq(s.median, 7.25);
  ck_assert_double_eq(s.p90, 7.25);
  ck_assert_int_eq(stats_summarise(ten, 0, &s), -1);
  double sorted[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
  ck_assert_double_eq(stats_nearest_rank(sorted, 11, 50), 6);   /* ceil(5.5) = 6 */
  ck_assert_double_eq(stats_nearest_rank(sorted, 11, 100), 11);
}
END_TEST

/* ---- reports ------------------------------------------------------------- */

static char *capture(void (*fn)(FILE *, const void *), const void *arg) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  fn(f, arg);
  fclose(f);
  return buf;
}

static Report sample_row(void) {
  Report r;
  report_init(&r, "fp16_peak_ch512", "cpu", false);
  r.warmup = 1;
  r.iters = 3;
  r.weight_bytes = 67108864;
  r.gflop = 274.877906944;
  Stats s = {3, 15.0, 15.5, 16.25};
  report_set_times(&r, &s);
  return r;
}

static void print_json1(FILE *f, const void *r) { report_print(f, REPORT_JSON, r, 1, NULL); }
static void print_csv1(FILE *f, const void *r) { report_print(f, REPORT_CSV, r, 1, NULL); }
static void print_table1(FILE *f, const void *r) { report_print(f, REPORT_TABLE, r, 1, NULL); }

START_TEST(report_json) {
  Report r = sample_row();
  ck_assert_double_eq_tol(r.tflops, 274.877906944 / 15.5, 1e-12);
  char *got = capture(print_json1, &r);
  ck_assert_str_eq(got,
                   "[\n"
                   "  {\"model\": \"fp16_peak_ch512\", \"backend\": \"cpu\", \"chip\": null, "
                   "\"precision\": \"fp16\", \"estimated\": false,\n"
                   "   \"warmup\": 1, \"iters\": 3, \"weight_bytes\": 67108864, \"weight_mb\": 64, "
                   "\"gflop\": 274.877907, \"gflop_partial\": false,\n"
                   "   \"ms_min\": 15, \"ms_median\": 15.5, \"ms_p90\": 16.25, "
                   "\"tflops\": 17.7340585, \"pct_peak\": null, \"pct_int8\": null, "
                   "\"est_mhz\": null, \"dram_bytes\": null}\n"
                   "]\n");
  free(got);
}
END_TEST

START_TEST(report_json_escapes_and_checks) {
  Report r = sample_row();
  snprintf(r.model, sizeof r.model, "a\"b\\c\n");
  snprintf(r.backend, sizeof r.backend, "ane");
  r.nchecks = 1;
  r.tol = 0.01;
  snprintf(r.checks[0].output, sizeof r.checks[0].output, "y");
  r.checks[0].c = (Compare){0.5, 0.125, INFINITY, 0.125, 4};
  r.checks[0].ok = false;
  char *got = capture(print_json1, &r);
  ck_assert_ptr_nonnull(strstr(got, "\"model\": \"a\\\"b\\\\c\\u000a\""));
  ck_assert_ptr_nonnull(strstr(got, ",\n   \"check\": {\"reference\": \"cpu\", \"tol\": 0.01, "
                                    "\"outputs\": [{\"output\": \"y\", \"max_abs_err\": 0.5, "
                                    "\"max_rel_err\": 0.125, \"snr_db\": null, "
                                    "\"norm_err\": 0.125, \"ok\": false}]}}\n]\n"));
  ck_assert(!report_checks_ok(&r));
  free(got);
}
END_TEST

START_TEST(report_csv) {
  Report r = sample_row();
  snprintf(r.model, sizeof r.model, "net,\"x\"");
  char *got = capture(print_csv1, &r);
  ck_assert_str_eq(got,
                   "model,backend,chip,precision,estimated,warmup,iters,weight_bytes,weight_mb,gflop,"
                   "gflop_partial,ms_min,ms_median,ms_p90,tflops,pct_peak,pct_int8,est_mhz\n"
                   "\"net,\"\"x\"\"\",cpu,,fp16,false,1,3,67108864,64,274.877907,false,15,15.5,16.25,"
                   "17.7340585,,,\n");
  free(got);
}
END_TEST

/* The cpu table's header and rule, written out by hand. */
#define CPU_TABLE_HEAD                                                                      \
  "Model                    Prec    W(MB)     GFLOP    min ms    med ms    p90 ms   GFLOP/s\n" \
  "----------------------------------------------------------------------------------------\n"

START_TEST(report_table_cpu) {
  Report r = sample_row();
  char *got = capture(print_table1, &r);
  /* GFLOP/s on the CPU, never TFLOPS: 274.877906944 / 15.5 ms = 17734.06. */
  ck_assert_str_eq(got,
                   CPU_TABLE_HEAD
                   "fp16_peak_ch512          fp16     64.0   274.88     15.000    15.500    "
                   "16.250  17734.06\n"
                   "GFLOP/s = GFLOP / median ms, measured on this machine's CPU\n");
  free(got);
}
END_TEST

/* Tiny values keep their column: 291 B = 2.775e-4 MB does not fit 7
 * characters as 0.000278, so it prints as 2.8e-04; 1.69e-5 GFLOP / 0.5 ms
 * = 0.0338 GFLOP/s. A cpu W8A8 row's column is GOP/s, not TOPS. */
START_TEST(report_table_small_values) {
  Report r;
  report_init(&r, "tiny", "cpu", false);
  snprintf(r.precision, sizeof r.precision, "w8a8");
  r.weight_bytes = 291;
  r.gflop = 1.69e-5;
  Stats st = {3, 0.5, 0.5, 0.5};
  report_set_times(&r, &st);
  char *got = capture(print_table1, &r);
  ck_assert_str_eq(got,
                   CPU_TABLE_HEAD
                   "tiny                     w8a8  2.8e-04 1.69e-05      0.500     0.500    "
                   " 0.500    0.0338\n"
                   "w8a8 rows count int8 operations: read GFLOP as GOP and GFLOP/s as GOP/s\n"
                   "GFLOP/s = GFLOP / median ms, measured on this machine's CPU\n");
  free(got);
}
END_TEST

START_TEST(report_sim_is_estimate) {
  Report r = sample_row();
  report_init(&r, "m", "sim", true);
  r.gflop = 2;
  Stats s = {1, 0.5, 0.5, 0.5};
  report_set_times(&r, &s);
  Chip c = {.name = "M9", .fp16_peak_tflops = 20.0, .mhz = NAN, .ip_mhz = 2448};
  report_set_chip(&r, &c);
  ck_assert(isnan(r.pct_peak));  /* never an ANE figure for an estimate */
  ck_assert_str_eq(r.chip, "M9");
  char *got = capture(print_table1, &r);
  ck_assert_ptr_nonnull(strstr(got, "est. ms"));
  ck_assert_ptr_nonnull(strstr(got, "est. TFLOPS"));
  ck_assert_ptr_nonnull(strstr(got, "estimated by the sim cost model for M9"));
  free(got);
  got = capture(print_json1, &r);
  ck_assert_ptr_nonnull(strstr(got, "\"estimated\": true"));
  ck_assert_ptr_nonnull(strstr(got, "\"chip\": \"M9\""));
  /* Nothing ran: no warm-up or iteration count is claimed. */
  ck_assert_ptr_nonnull(strstr(got, "\"warmup\": null, \"iters\": null"));
  free(got);
}
END_TEST

/* The seed's W8A8 row: 274.88 GOP in 8.032 ms on an M5 is 34.22 TOPS,
 * 170.6% of the fp16 peak and 85.3% of the int8 one (2 x 20.05). */
START_TEST(report_ane_w8a8_int8_peak) {
  Report r;
  report_init(&r, "w8a8_128x512", "ane", false);
  snprintf(r.precision, sizeof r.precision, "w8a8");
  r.gflop = 274.88;
  Stats s = {1, 8.032, 8.032, 8.032};
  report_set_times(&r, &s);
  Chip c = {.name = "Mx", .fp16_peak_tflops = 18.22, .int8_peak_tops = NAN, .mhz = NAN,
            .ip_mhz = 2448};
  report_set_chip(&r, &c);
  /* The seed rounds its peak to 20.05 and its times to 3 places. */
  ck_assert_double_eq_tol(r.pct_peak, 170.6, 0.1);
  ck_assert_double_eq_tol(r.pct_int8, 85.3, 0.05);
  ck_assert_double_eq_tol(r.est_mhz, 522, 0.5);
}
END_TEST

/* fp16 and w8a8 points of one configuration pair up; a name without a
 * format token, or fp16 itself, has no baseline. */
START_TEST(baselines_pair_by_format) {
  const char *names[] = {"fp16_64x512", "fp16_128x512", "w8a8_128x512", "w8a8_64x512",
                         "transformer", "w8a8_256x256", "seed_fp16_d1", "seed_w8a8_d1"};
  int base[8];
  ck_assert_int_eq(report_baselines(names, 8, NULL, base), 3);
  int want[8] = {-1, -1, 1, 0, -1, -1, -1, 6};
  for (int i = 0; i < 8; i++)
    ck_assert_int_eq(base[i], want[i]);
  ck_assert_int_eq(report_baselines(names, 8, "transformer", base), 8);
  ck_assert_int_eq(base[0], 4);
  ck_assert_int_eq(report_baselines(names, 8, "none", base), 0);
  ck_assert_int_eq(base[7], -1);
  ck_assert_int_eq(report_baselines(names, 8, "nosuch", base), -1);
  char key[REPORT_NAME];
  ck_assert_str_eq(report_config_key("w8a8_128x512", key), "_128x512");
  ck_assert_str_eq(report_config_key("xfp16_1", key), "xfp16_1");  /* not a token */
}
END_TEST

/* A table with ratios: 15 ms against 8 ms is 1.875x, printed 1.88x. */
static void print_pair(FILE *f, const void *r) {
  int base[2] = {-1, 0};
  report_print(f, REPORT_TABLE, r, 2, base);
}

START_TEST(report_table_speedup) {
  Report r[2];
  report_init(&r[0], "fp16_a", "sim", true);
  report_init(&r[1], "w8a8_a", "sim", true);
  Stats s0 = {1, 15, 15, 15}, s1 = {1, 8, 8, 8};
  report_set_times(&r[0], &s0);
  report_set_times(&r[1], &s1);
  char *got = capture(print_pair, r);
  ck_assert_ptr_nonnull(strstr(got, "speed-up\n"));
  ck_assert_ptr_nonnull(strstr(got, "    1.88x\n"));
  ck_assert_ptr_nonnull(strstr(got, "w8a8_a                       vs fp16_a"));
  free(got);
}
END_TEST

/* The seed's first row: 274.88 GFLOP in 15.083 ms on an M5 (IP clock 2448
 * MHz) is 18.22 TFLOPS, 90.9% of the 20.05 peak, at an implied 278 MHz. */
START_TEST(report_ane_chip_hook) {
  Report r;
  report_init(&r, "seed", "ane", false);
  r.gflop = 274.88;
  Stats s = {1, 15.083, 15.083, 15.083};
  report_set_times(&r, &s);
  Chip c = {.name = "Mx", .fp16_peak_tflops = 18.22, .int8_peak_tops = NAN, .mhz = NAN, .ip_mhz = 2448};
  report_set_chip(&r, &c);
  ck_assert_double_eq_tol(r.tflops, 18.22, 0.005);
  ck_assert_double_eq_tol(r.pct_peak, 90.9, 0.05);
  ck_assert_double_eq_tol(r.est_mhz, 278, 0.5);  /* the seed's Est.MHz column */
}
END_TEST

/* ---- compare ------------------------------------------------------------- */

static Tensor vec(int n, const double *v) {
  Tensor t;
  int64_t dim = n;
  ck_assert_int_eq(tensor_alloc(&t, MIL_FP32, 1, &dim), 0);
  for (int i = 0; i < n; i++)
    tensor_set(&t, i, v[i]);
  return t;
}

START_TEST(compare_measures) {
  Tensor ref = vec(4, (double[]){1, 2, 3, 4}), out = vec(4, (double[]){1, 2, 3, 4.5});
  Compare c;
  Diag d = diag_stderr();
  ck_assert_int_eq(compare_tensors("y", &out, &ref, &c, &d), 0);
  ck_assert_double_eq(c.max_abs, 0.5);
  ck_assert_double_eq(c.max_rel, 0.125);
  ck_assert_double_eq_tol(c.snr_db, 10 * log10(30 / 0.25), 1e-12);  /* 20.79 dB */
  ck_assert_double_eq(c.norm, 0.125);
  ck_assert(compare_ok(&c, 0.125));
  ck_assert(!compare_ok(&c, 0.1));
  ck_assert_int_eq(compare_tensors("y", &ref, &ref, &c, &d), 0);
  ck_assert(isinf(c.snr_db) && c.max_abs == 0);
  tensor_free(&ref);
  tensor_free(&out);
}
END_TEST

START_TEST(compare_nan_and_shape) {
  Tensor ref = vec(2, (double[]){1, NAN}), out = vec(2, (double[]){1, 2});
  Compare c;
  char *buf = NULL;
  size_t len = 0;
  Diag d = {open_memstream(&buf, &len), 0};
  ck_assert_int_eq(compare_tensors("y", &out, &ref, &c, &d), 0);
  ck_assert(isinf(c.max_abs));
  ck_assert(!compare_ok(&c, 1e9));
  Tensor three = vec(3, (double[]){1, 2, 3});
  ck_assert_int_eq(compare_tensors("y", &three, &ref, &c, &d), -1);
  fclose(d.out);
  ck_assert_str_eq(buf, "anerun: error: output 'y': the shapes differ: [3] against the reference [2]\n");
  free(buf);
  tensor_free(&ref);
  tensor_free(&out);
  tensor_free(&three);
}
END_TEST

/* ---- the sim cost model -------------------------------------------------- */

/* One 512-channel 1x1 conv on 64x64: 2.147483648 GFLOP at 10 TFLOPS is
 * 0.2147483648 ms; from DRAM it reads the 4 MiB function input and 0.5 MiB
 * of weights (its output is no function output), 4718592 B at 100 GB/s =
 * 0.0472 ms, so it is compute bound; plus 1 us for the op and 100 us for
 * the evaluation. */
START_TEST(sim_roofline) {
  MilProg *p = conv_chain(512, 1);
  Chip chip = {.name = "Test", .fp16_peak_tflops = 10.0, .int8_peak_tops = 20.0};
  SimParams sp = {.chip = &chip, .peak_tflops = 10.0, .int8_factor = 2.0, .bw_gbs = 100.0,
                  .op_us = 1.0, .eval_us = 100.0};
  SimProfile s;
  Diag d = diag_stderr();
  ck_assert_int_eq(sim_profile(&p->funcs[0], &sp, &s, &d), 0);
  ck_assert_int_eq(s.nconst, 1);
  ck_assert_int_eq(s.nrows, 1);
  ck_assert_str_eq(s.rows[0].op, "conv");
  ck_assert_double_eq_tol(s.rows[0].compute_ms, 0.2147483648, 1e-12);
  ck_assert_double_eq_tol(s.rows[0].memory_ms, 0.04718592, 1e-12);
  ck_assert_double_eq_tol(s.total_ms, 0.2147483648 + 0.001 + 0.1, 1e-12);
  sim_profile_free(&s);
  mil_free(p);
}
END_TEST

/* A tiny elementwise op from a function input to a function output is
 * memory bound: 2 * 4096 * 2 B at 100 GB/s. */
START_TEST(sim_memory_bound) {
  MilProg *p = mil_new("1.3");
  MilFunc *f = mil_add_func(p, "main", "ios18");
  MilType *t = tensor(p, MIL_FP16, 2, 64L, 64L);
  mil_add_input(p, f, t, "x");
  add_op(p, f, "relu", "y", t, 1, "x", "x");
  mil_add_output(p, f, "y");
  Chip chip = {.name = "Test", .fp16_peak_tflops = 10.0, .int8_peak_tops = NAN};
  SimParams sp = {.chip = &chip, .peak_tflops = 10.0, .int8_factor = 1.0, .bw_gbs = 100.0};
  SimProfile s;
  Diag d = diag_stderr();
  ck_assert_int_eq(sim_profile(f, &sp, &s, &d), 0);
  ck_assert_double_eq_tol(s.total_ms, 16384 / 100e9 * 1e3, 1e-15);
  ck_assert(s.rows[0].memory_ms > s.rows[0].compute_ms);
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  sim_print_profile(out, "tiny", &s);
  fclose(out);
  ck_assert_ptr_nonnull(strstr(buf, "ESTIMATES"));
  ck_assert_ptr_nonnull(strstr(buf, " Mem"));
  free(buf);
  sim_profile_free(&s);
  mil_free(p);
}
END_TEST

/* ---- options ------------------------------------------------------------- */

/* runopts_parse of "anerun" and argc more arguments from ap; *err gets
 * what it said (free it). */
static int vparse(RunOpts *o, char **err, int argc, va_list ap) {
  char *argv[32] = {"anerun"};
  for (int i = 0; i < argc; i++)
    argv[i + 1] = va_arg(ap, char *);
  size_t len = 0;
  *err = NULL;
  Diag d = {open_memstream(err, &len), 0};
  int rc = runopts_parse(argc + 1, argv, o, &d);
  fclose(d.out);
  return rc;
}

static int parse(RunOpts *o, char **err, int argc, ...) {
  va_list ap;
  va_start(ap, argc);
  int rc = vparse(o, err, argc, ap);
  va_end(ap);
  return rc;
}

static void expect_usage_error(const char *want, int argc, ...) {
  RunOpts o;
  char *err;
  va_list ap;
  va_start(ap, argc);
  int rc = vparse(&o, &err, argc, ap);
  va_end(ap);
  ck_assert_int_eq(rc, 2);
  ck_assert_msg(strstr(err, want) != NULL, "wanted '%s' in '%s'", want, err);
  ck_assert_msg(strncmp(err, "anerun: error: ", 15) == 0, "got '%s'", err);
  runopts_free(&o);
  free(err);
}

START_TEST(options_errors) {
  expect_usage_error("unknown option '--bogus'", 2, "--bogus", "m");
  expect_usage_error("unknown option '--itters'; did you mean '--iters'?", 3, "--itters", "3", "m");
  expect_usage_error("unknown option '--formt=json'; did you mean '--format'?", 2, "--formt=json",
                     "m");
  expect_usage_error("--iters wants an integer from 1", 3, "--iters", "0", "m");
  expect_usage_error("not 'ten'", 3, "--iters", "ten", "m");
  expect_usage_error("--warmup wants", 2, "--warmup=-1", "m");
  expect_usage_error("unknown format 'xml'", 3, "--format", "xml", "m");
  expect_usage_error("unknown backend 'gpu'", 3, "--backend", "gpu", "m");
  expect_usage_error("--input wants NAME=FILE.npy", 3, "--input", "x.npy", "m");
  expect_usage_error("no model given", 2, "--iters", "3");
  expect_usage_error("--threshold wants a percentage", 4, "--compare", "o.jsonl", "--threshold",
                     "-1");
  expect_usage_error("unknown plot kind 'pie'", 3, "--plot-kind", "pie", "m");
  expect_usage_error("--tol wants a positive number", 3, "--tol", "-1", "m");
  expect_usage_error("--iters needs a value", 2, "m", "--iters");
  expect_usage_error("--check takes no value", 2, "--check=1", "m");
  expect_usage_error("--seed wants", 3, "--seed", "-4", "m");
  expect_usage_error("--output-dir: the sim backend computes no outputs", 5, "--backend", "sim",
                     "--output-dir", "o", "m");
  expect_usage_error("--check compares the ane backend against cpu", 4, "--backend", "cpu",
                     "--check", "m");
#ifndef __APPLE__
  expect_usage_error("the ane backend needs macOS", 3, "--backend", "ane", "m");
#endif
}
END_TEST

START_TEST(options_values) {
  RunOpts o;
  char *err;
  ck_assert_int_eq(parse(&o, &err, 17, "--backend=sim", "--warmup", "0", "--iters", "7",
                         "--seed=42", "--input", "x=a.npy", "--input=mask=b=c.npy", "--format",
                         "csv", "--qos", "9", "--chip", "M5", "--", "-model"),
                   0);
  ck_assert_msg(strcmp(err, "") == 0, "%s", err);
  ck_assert_str_eq(o.backend->name, "sim");
  ck_assert_int_eq(o.warmup, 0);
  ck_assert_int_eq(o.iters, 7);
  ck_assert_uint_eq(o.seed, 42);
  ck_assert_int_eq(o.ninputs, 2);
  ck_assert_int_eq(o.inputs[1].name_len, 4);
  ck_assert_str_eq(o.inputs[1].file, "b=c.npy");
  ck_assert_int_eq(o.format, REPORT_CSV);
  ck_assert_int_eq(o.bopts.qos, 9);
  ck_assert_str_eq(o.bopts.chip, "M5");
  ck_assert_str_eq(o.path, "-model");
  ck_assert_int_eq(o.mode, RUN_BENCH);
  runopts_free(&o);
  free(err);
  ck_assert_int_eq(parse(&o, &err, 1, "--help"), 0);
  ck_assert_int_eq(o.mode, RUN_HELP);
  runopts_free(&o);
  free(err);
  ck_assert_int_eq(parse(&o, &err, 2, "--dry-run", "m"), 0);
  ck_assert_int_eq(o.mode, RUN_DRY);
  ck_assert_int_eq(o.iters, 10);
  ck_assert_int_eq(o.bopts.qos, RUNOPTS_QOS_DEFAULT);
#ifdef __APPLE__
  ck_assert_str_eq(o.backend->name, "ane");
#else
  ck_assert_str_eq(o.backend->name, "cpu");
#endif
  runopts_free(&o);
  free(err);
  /* Any number of PATHs, in order; the study's options. */
  ck_assert_int_eq(parse(&o, &err, 11, "a", "--summary", "b/", "--baseline", "fp16_x", "--plot",
                         "p.svg", "--plot-kind=roofline", "--results", "r.jsonl", "c.anet"), 0);
  ck_assert_int_eq(o.npaths, 3);
  ck_assert_str_eq(o.paths[1], "b/");
  ck_assert_str_eq(o.paths[2], "c.anet");
  ck_assert_str_eq(o.path, "a");
  ck_assert(o.summary && !o.profile);
  ck_assert_str_eq(o.baseline, "fp16_x");
  ck_assert_int_eq(o.plot_kind, PLOT_ROOFLINE);
  ck_assert_str_eq(o.results, "r.jsonl");
  ck_assert_double_eq(o.threshold, 15);
  runopts_free(&o);
  free(err);
  ck_assert_int_eq(parse(&o, &err, 4, "--compare", "old.jsonl", "--threshold=5", "new.jsonl"), 0);
  ck_assert_int_eq(o.mode, RUN_COMPARE);
  ck_assert_double_eq(o.threshold, 5);
  ck_assert_str_eq(o.paths[0], "new.jsonl");
  runopts_free(&o);
  free(err);
}
END_TEST

/* ---- models on disk ------------------------------------------------------ */

/* A scratch directory under the build tree, emptied by rm_tree. */
static char *scratch(const char *name) {
  char *dir = malloc(strlen(BUILDDIR) + strlen(name) + 32);
  sprintf(dir, "%s/tests/anerun-%s-%ld", BUILDDIR, name, (long)getpid());
  ck_assert_int_eq(mkdir(dir, 0700), 0);
  return dir;
}

static void write_file(const char *dir, const char *name, const char *text) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  fclose(f);
}

static void rm_tree(char *dir) {
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
  free(dir);
}

static const char *const small_mil =
    "program(1.3)\n"
    "{\n"
    "    func main<ios18>(tensor<fp16, [1, 4, 2, 2]> x) {\n"
    "        tensor<fp16, [4, 4, 1, 1]> w = const()[name = string(\"w\"), val = tensor<fp16, [4, 4, 1, 1]>"
    "([[[[1]], [[0]], [[0]], [[0]]], [[[0]], [[1]], [[0]], [[0]]], [[[0]], [[0]], [[1]], [[0]]], [[[0]], [[0]], [[0]], [[1]]]])];\n"
    "        tensor<fp16, [1, 4, 2, 2]> c = conv(weight = w, x = x)[name = string(\"c\")];\n"
    "        tensor<fp16, [1, 4, 2, 2]> y = relu(x = c)[name = string(\"y\")];\n"
    "    } -> (y);\n"
    "}\n";

/* anerun --dry-run path: the output; *err receives the diagnostics. */
static char *dry(const char *path, int *status, char **err) {
  RunOpts o;
  ck_assert_int_eq(parse(&o, err, 2, "--dry-run", path), 0);
  free(*err);
  char *buf = NULL;
  size_t len = 0, elen = 0;
  FILE *out = open_memstream(&buf, &len);
  Diag d = {open_memstream(err, &elen), 0};
  *status = run_dry(&o, out, &d);
  fclose(out);
  fclose(d.out);
  runopts_free(&o);
  return buf;
}

/* The output of a --dry-run of path that succeeds and says nothing else. */
static char *dry_ok(const char *path) {
  int status;
  char *err;
  char *got = dry(path, &status, &err);
  ck_assert_int_eq(status, 0);
  ck_assert_str_eq(err, "");
  free(err);
  return got;
}

/* conv: 2 * 4 * 4 * 1 * 1 * 2 * 2 = 128 FLOP, relu 16: 144 FLOP; the
 * inline weight is 16 fp16 = 32 bytes. */
START_TEST(dry_run_small) {
  char *dir = scratch("dry");
  write_file(dir, "model.mil", small_mil);
  char *got = dry_ok(dir);
  ck_assert_ptr_nonnull(strstr(got, "program(1.3), 1 function\nfunction main<ios18>\n"));
  ck_assert_ptr_nonnull(strstr(got, "  inputs: 1\n    x: tensor<fp16, [1, 4, 2, 2]>\n"));
  ck_assert_ptr_nonnull(strstr(got, "  outputs: 1\n    y: tensor<fp16, [1, 4, 2, 2]>\n"));
  ck_assert_ptr_nonnull(strstr(got, "  ops: 3 (const 1, conv 1, relu 1)\n"));
  ck_assert_ptr_nonnull(strstr(got, "  GFLOP: 0.000000 (144 FLOP)\n"));
  ck_assert_ptr_nonnull(strstr(got, "(32 bytes), 0 weight blobs"));
  ck_assert_ptr_nonnull(strstr(got, "weights: none"));
  free(got);
  rm_tree(dir);
}
END_TEST

START_TEST(dry_run_missing_weights) {
  char *dir = scratch("nowt");
  write_file(dir, "model.mil",
             "program(1.3)\n{\n    func main<ios18>(tensor<fp16, [1, 8]> x) {\n"
             "        tensor<fp16, [8, 8]> w = const()[name = string(\"w\"), val = tensor<fp16, [8, 8]>"
             "(BLOBFILE(path = string(\"@model_path/weights/weight.bin\"), offset = uint64(64)))];\n"
             "        tensor<fp16, [1, 8]> y = linear(weight = w, x = x)[name = string(\"y\")];\n"
             "    } -> (y);\n}\n");
  char *got = dry_ok(dir);
  ck_assert_ptr_nonnull(strstr(got, "weights: ABSENT"));
  ck_assert_ptr_nonnull(strstr(got, "(128 bytes), 1 weight blobs"));
  free(got);
  rm_tree(dir);
}
END_TEST

START_TEST(dry_run_bad_path) {
  int status;
  char *err;
  char *got = dry("/nonexistent/anerun/model", &status, &err);
  ck_assert_int_eq(status, 1);
  ck_assert_str_eq(err, "/nonexistent/anerun/model: error: cannot open: No such file or directory\n");
  free(err);
  free(got);
}
END_TEST

/* ---- runs through a test double ------------------------------------------
 * The double "computes" y = 2 * x for its first output and counts calls. */

typedef struct Double {
  const Model *m;
  Tensor in;
  int evals;
} Double;

static int dbl_open(const Model *m, const BackendOpts *o, void **state, Diag *d) {
  Double *s = calloc(1, sizeof *s);
  s->m = m;
  *state = s;
  return 0;
}

static int dbl_set_input(void *state, int i, const Tensor *t, Diag *d) {
  Double *s = state;
  tensor_free(&s->in);
  ck_assert_int_eq(tensor_alloc(&s->in, t->dtype, t->rank, t->dim), 0);
  memcpy(s->in.data, t->data, t->nbytes);
  return 0;
}

static int dbl_eval(void *state, double *ms, Diag *d) {
  ((Double *)state)->evals++;
  return 0;
}

static int dbl_get_output(void *state, int i, Tensor *t, Diag *d) {
  Double *s = state;
  ck_assert_int_eq(tensor_alloc(t, s->in.dtype, s->in.rank, s->in.dim), 0);
  for (int64_t k = 0; k < tensor_numel(t); k++)
    tensor_set(t, k, 2 * tensor_get(&s->in, k));
  return 0;
}

static void dbl_close(void *state) {
  Double *s = state;
  ck_assert_int_eq(s->evals, 5);  /* --warmup 2 --iters 3 */
  tensor_free(&s->in);
  free(s);
}

static const Backend double_backend = {"double", false, dbl_open, dbl_set_input,
                                       dbl_eval, dbl_get_output, dbl_close};

/* A model directory whose model.mil is text, options that run it on the
 * double (--warmup 2 --iters 3 --seed 7), and the model opened: what the
 * run tests share. rig_close removes it all. */
typedef struct Rig {
  char *dir;
  RunOpts o;
  ModelPath mp;
} Rig;

static void rig_open(Rig *g, const char *name, const char *text) {
  g->dir = scratch(name);
  write_file(g->dir, "model.mil", text);
  char *err;
  ck_assert_int_eq(
      parse(&g->o, &err, 7, "--warmup", "2", "--iters", "3", "--seed", "7", g->dir), 0);
  free(err);
  g->o.backend = &double_backend;
  Diag d = diag_stderr();
  ck_assert_int_eq(model_open(g->dir, &g->mp, &d), 0);
}

static void rig_close(Rig *g) {
  model_close(&g->mp);
  runopts_free(&g->o);
  rm_tree(g->dir);
}

/* What run_point says when it fails on point 0 of mp (free it). */
static char *run_error(const RunOpts *o, ModelPath *mp) {
  char *buf = NULL;
  size_t len = 0;
  Diag cap = {open_memstream(&buf, &len), 0};
  Report r;
  ck_assert_int_eq(run_point(o, mp, 0, NULL, NULL, &r, &cap), -1);
  fclose(cap.out);
  return buf;
}

START_TEST(run_through_double) {
  Rig g;
  rig_open(&g, "run", small_mil);
  char out[1100];
  snprintf(out, sizeof out, "%s/out", g.dir);
  g.o.output_dir = out;
  Diag d = diag_stderr();
  Report r;
  ck_assert_int_eq(run_point(&g.o, &g.mp, 0, NULL, NULL, &r, &d), 0);
  ck_assert_int_eq(r.iters, 3);
  ck_assert_int_eq(r.warmup, 2);
  ck_assert(r.ms_min >= 0 && r.ms_min <= r.ms_median && r.ms_median <= r.ms_p90);
  ck_assert_double_eq_tol(r.gflop, 144e-9, 1e-18);
  ck_assert_uint_eq(r.weight_bytes, 32);
  /* The output file holds 2 * the generated input, which is uniform in
   * [-1, 1) and fp16. */
  char path[1200];
  snprintf(path, sizeof path, "%s/y.npy", out);
  Tensor y;
  ck_assert_int_eq(npy_read(path, &y, &d), 0);
  ck_assert_int_eq(y.dtype, MIL_FP16);
  ck_assert_int_eq(tensor_numel(&y), 16);
  double lo = 0, hi = 0;
  for (int k = 0; k < 16; k++) {
    lo = fmin(lo, tensor_get(&y, k));
    hi = fmax(hi, tensor_get(&y, k));
  }
  ck_assert(lo >= -2 && hi < 2 && hi > lo);
  tensor_free(&y);
  rig_close(&g);
}
END_TEST

/* The same point through fork: the report comes back through the pipe. */
START_TEST(run_forked_double) {
  Rig g;
  rig_open(&g, "fork", small_mil);
  Diag d = diag_stderr();
  Report r;
  memset(&r, 0, sizeof r);
  ck_assert_int_eq(run_point_forked(&g.o, &g.mp, 0, &r, &d), 0);
  ck_assert_str_eq(r.model, strrchr(g.dir, '/') + 1);
  ck_assert_str_eq(r.backend, "double");
  ck_assert_int_eq(r.iters, 3);
  ck_assert_double_eq_tol(r.gflop, 144e-9, 1e-18);
  rig_close(&g);
}
END_TEST

/* A given input of the wrong shape is refused; one naming no input too. */
START_TEST(run_bad_inputs) {
  char *dir = scratch("inp");
  write_file(dir, "model.mil", small_mil);
  char npy[1100], arg[1200];
  snprintf(npy, sizeof npy, "%s/x.npy", dir);
  Tensor t;
  int64_t dims[] = {1, 4};
  ck_assert_int_eq(tensor_alloc(&t, MIL_FP32, 2, dims), 0);
  Diag d = diag_stderr();
  ck_assert_int_eq(npy_write(npy, &t, &d), 0);
  tensor_free(&t);
  RunOpts o;
  char *err;
  snprintf(arg, sizeof arg, "--input=x=%s", npy);
  ck_assert_int_eq(parse(&o, &err, 2, arg, dir), 0);
  free(err);
  o.backend = &double_backend;
  ModelPath mp;
  ck_assert_int_eq(model_open(dir, &mp, &d), 0);
  char *msg = run_error(&o, &mp);
  ck_assert_ptr_nonnull(strstr(msg, "the shape does not fit input 'x'"));
  free(msg);
  runopts_free(&o);
  snprintf(arg, sizeof arg, "--input=nosuch=%s", npy);
  ck_assert_int_eq(parse(&o, &err, 2, arg, dir), 0);
  free(err);
  o.backend = &double_backend;
  msg = run_error(&o, &mp);
  ck_assert_ptr_nonnull(strstr(msg, "has no input 'nosuch'"));
  free(msg);
  runopts_free(&o);
  model_close(&mp);
  rm_tree(dir);
}
END_TEST

/* A .anet point that runs gets model.mil and weights/weight.bin in a
 * private directory, which model_unload removes. */
START_TEST(anet_point_workdir) {
  ModelPath mp;
  Diag d = diag_stderr();
  ck_assert_int_eq(model_open(SRCDIR "/tests/anerun/tiny_sweep.anet", &mp, &d), 0);
  ck_assert_int_eq(mp.npoints, 2);
  Loaded l;
  ck_assert_int_eq(model_load(&mp, 1, false, NULL, &l, &d), 0);
  ck_assert_str_eq(l.name, "tiny_ch16");
  ck_assert_ptr_null(l.workdir);  /* nothing written without weights */
  model_unload(&l);
  ck_assert_int_eq(model_load(&mp, 1, true, NULL, &l, &d), 0);
  ck_assert_ptr_nonnull(l.workdir);
  ck_assert_ptr_eq(l.m.dir, l.workdir);
  ck_assert_ptr_nonnull(l.m.weights);
  ck_assert_int_eq(l.nchecked, 2);  /* the two conv weights */
  char path[1200];
  struct stat st;
  snprintf(path, sizeof path, "%s/weights/weight.bin", l.workdir);
  ck_assert_int_eq(stat(path, &st), 0);
  snprintf(path, sizeof path, "%s", l.workdir);
  model_unload(&l);
  ck_assert_int_eq(stat(path, &st), -1);
  model_close(&mp);
}
END_TEST

/* --check against the real cpu backend: the double's 2x equals add(x, x)
 * exactly, and differs from relu(x) wherever x > 0. */
static void check_model(const char *op, const char *args, bool want_ok) {
  char text[600];
  snprintf(text, sizeof text,
           "program(1.3)\n{\n    func main<ios18>(tensor<fp16, [1, 64]> x) {\n"
           "        tensor<fp16, [1, 64]> y = %s(%s)[name = string(\"y\")];\n"
           "    } -> (y);\n}\n", op, args);
  Rig g;
  rig_open(&g, "check", text);
  g.o.check = true;
  Diag d = diag_stderr();
  Report r;
  ck_assert_int_eq(run_point(&g.o, &g.mp, 0, NULL, NULL, &r, &d), 0);
  ck_assert_int_eq(r.nchecks, 1);
  ck_assert_str_eq(r.checks[0].output, "y");
  ck_assert_double_eq(r.tol, 0.01);
  ck_assert(report_checks_ok(&r) == want_ok);
  if (want_ok)
    ck_assert(r.checks[0].c.max_abs == 0 && isinf(r.checks[0].c.snr_db));
  else
    ck_assert(r.checks[0].c.norm > 0.3);  /* 2x against x at the largest x */
  rig_close(&g);
}

START_TEST(check_against_cpu) {
  check_model("add", "x = x, y = x", true);
  check_model("relu", "x = x", false);
}
END_TEST

/* A program without main describes, but runs only with --function. */
START_TEST(no_main_function) {
  Rig g;
  rig_open(&g, "nomain",
           "program(1.3)\n{\n    func other<ios18>(tensor<fp16, [1, 4]> x) {\n"
           "        tensor<fp16, [1, 4]> y = relu(x = x)[name = string(\"y\")];\n"
           "    } -> (y);\n}\n");
  int status;
  char *err, *got = dry(g.dir, &status, &err);
  ck_assert_int_eq(status, 0);
  ck_assert_ptr_nonnull(strstr(got, "runs: function other, the first (there is no function main"));
  free(got);
  free(err);
  /* without --function the first function runs */
  Diag d = diag_stderr();
  Report r;
  ck_assert_int_eq(run_point(&g.o, &g.mp, 0, NULL, NULL, &r, &d), 0);
  g.mp.function = "other";
  ck_assert_int_eq(run_point(&g.o, &g.mp, 0, NULL, NULL, &r, &d), 0);
  ck_assert_double_eq(r.gflop, 4e-9);
  g.mp.function = "nosuch";
  char *buf = NULL;
  size_t len = 0;
  Diag cap = {open_memstream(&buf, &len), 0};
  Loaded l;
  ck_assert_int_eq(model_load(&g.mp, 0, false, NULL, &l, &cap), -1);
  fclose(cap.out);
  ck_assert_ptr_nonnull(strstr(buf, "no function 'nosuch' (it has: other)"));
  free(buf);
  rig_close(&g);
}
END_TEST

/* ---- model manifests (anet.json) ----------------------------------------- */

static int parse_manifest(const char *text, Manifest *m, char **err) {
  Src src = {"anet.json", text, strlen(text)};
  size_t len = 0;
  FILE *f = open_memstream(err, &len);
  Diag d = {f, 0};
  int rc = manifest_parse(&src, m, &d);
  fclose(f);
  return rc;
}

START_TEST(manifest_fields) {
  Manifest m;
  char *err = NULL;
  const char *text =
      "{\"schema\": \"anet-manifest\", \"schema_version\": 1,\n"
      " \"network\": \"tiny\", \"point\": \"tiny_c\\u0038\", \"later\": {\"x\": [1, null]},\n"
      " \"source\": \"a/tiny.anet\",\n"
      " \"ops\": [{\"name\": \"c_pad_0\", \"op\": \"const\", \"line\": 0, \"col\": 0},\n"
      "  {\"col\": 5, \"line\": 5, \"op\": \"conv\", \"name\": \"conv_0\"}]}\n";
  ck_assert_int_eq(parse_manifest(text, &m, &err), 0);
  ck_assert_str_eq(m.network, "tiny");
  ck_assert_str_eq(m.point, "tiny_c8");
  ck_assert_str_eq(manifest_model_name(&m), "tiny_c8");
  ck_assert_str_eq(m.source, "a/tiny.anet");
  ck_assert_int_eq(m.nops, 2);
  const ManifestOp *op = manifest_find(&m, "conv_0");
  ck_assert_ptr_nonnull(op);
  ck_assert_str_eq(op->op, "conv");
  ck_assert_int_eq(op->line, 5);
  ck_assert_int_eq(op->col, 5);
  ck_assert_int_eq(m.ops[0].line, 0);
  ck_assert_ptr_null(manifest_find(&m, "conv"));
  manifest_free(&m);
  free(err);
  /* no sweep: point null, the model is named after the network */
  text = "{\"schema\": \"anet-manifest\", \"schema_version\": 1, \"network\": \"n\", "
         "\"point\": null, \"source\": \"n.anet\", \"ops\": []}";
  ck_assert_int_eq(parse_manifest(text, &m, &err), 0);
  ck_assert_str_eq(manifest_model_name(&m), "n");
  ck_assert_int_eq(m.nops, 0);
  manifest_free(&m);
  free(err);
}
END_TEST

/* Columns counted by hand from each text's first byte (column 1). */
START_TEST(manifest_bad) {
#define HEAD "{\"schema\": \"anet-manifest\", \"schema_version\": 1, \"network\": \"n\", "
  static const struct {
    const char *text, *want;
  } bad[] = {
      {"", "anet.json:1:1: error: manifest: expected '{'"},
      {"[]", "anet.json:1:1: error: manifest: expected '{'"},
      {"{\"schema\": \"anet-report\"}", "anet.json:1:12: error: manifest: \"schema\" is not"},
      {"{\"schema_version\": 2}", "anet.json:1:20: error: manifest: schema_version 2; this anerun"},
      {"{\"schema_version\": 1.5}", "anet.json:1:20: error: manifest: \"schema_version\" must be"},
      {HEAD "\"point\": null, \"source\": \"s\"}",
       "anet.json:1:1: error: manifest: the manifest lacks \"ops\""},
      {HEAD "\"network\": \"m\"}", "anet.json:1:66: error: manifest: \"network\" appears twice"},
      {HEAD "\"point\": \"\"}", "anet.json:1:75: error: manifest: \"point\" is empty"},
      {HEAD "\"point\": \"a\\nb\"}", "anet.json:1:75: error: manifest: \"point\" holds a control"},
      {HEAD "\"point\": 3}", "anet.json:1:75: error: manifest: expected '\"'"},
      {HEAD "\"ops\": [{\"name\": \"a\", \"op\": \"relu\", \"line\": -1, \"col\": 2}]}",
       "anet.json:1:110: error: manifest: \"line\" must be a whole number"},
      {HEAD "\"ops\": [{\"name\": \"a\", \"op\": \"relu\", \"line\": 3, \"col\": 0}]}",
       "anet.json:1:74: error: manifest: an op's line and col are both 0"},
      {HEAD "\"ops\": [{\"name\": \"a\", \"line\": 3, \"col\": 1}]}",
       "anet.json:1:74: error: manifest: an op lacks \"op\""},
      {HEAD "\"ops\": [1]}", "anet.json:1:74: error: manifest: expected '{'"},
      {HEAD "\"ops\": [{\"name\": \"a\", \"name\": \"b\"}]}",
       "anet.json:1:88: error: manifest: \"name\" appears twice"},
      {HEAD "\"ops\": []} x", "anet.json:1:77: error: manifest: text after the object"},
      {HEAD "\"ops\": [], \"x\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]",
       "error: manifest: nested too deeply"},
  };
#undef HEAD
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    Manifest m;
    char *err = NULL;
    ck_assert_int_eq(parse_manifest(bad[i].text, &m, &err), -1);
    ck_assert_msg(strstr(err, bad[i].want), "case %zu: %s", i, err);
    ck_assert_ptr_null(m.ops);
    free(err);
  }
}
END_TEST

/* --profile on cpu lists the timed ops (the two that are not const) at
 * the .anet lines the manifest gives; a manifest whose ops cannot be read
 * fails the point rather than printing an error and going on. */
START_TEST(manifest_profile_sources) {
  Rig g;
  rig_open(&g, "profile", small_mil);
  g.o.backend = &cpu_backend;
  g.o.profile = true;
#define HEAD "{\"schema\": \"anet-manifest\", \"schema_version\": 1, \"network\": \"n\", " \
             "\"point\": null, \"source\": \"src/t.anet\", \"ops\": ["
  write_file(g.dir, "anet.json", HEAD "{\"name\": \"w\", \"op\": \"const\", \"line\": 0, \"col\": 0}, "
             "{\"name\": \"c\", \"op\": \"conv\", \"line\": 2, \"col\": 5}, "
             "{\"name\": \"y\", \"op\": \"relu\", \"line\": 3, \"col\": 7}]}\n");
  char *buf = NULL, *err = NULL;
  size_t len = 0, elen = 0;
  FILE *prof = open_memstream(&buf, &len);
  Diag d = {open_memstream(&err, &elen), 0};
  Report r;
  ck_assert_int_eq(run_point(&g.o, &g.mp, 0, NULL, prof, &r, &d), 0);
  fclose(prof);
  fclose(d.out);
  ck_assert_msg(strstr(buf, ": the 2 slowest of 2 (measured, mean of 3 evaluations)\n"), "%s", buf);
  ck_assert_msg(strstr(buf, "  c                        conv "), "%s", buf);
  ck_assert_msg(strstr(buf, " src/t.anet:2:5\n") && strstr(buf, " src/t.anet:3:7\n"), "%s", buf);
  ck_assert_ptr_null(strstr(buf, "  w   "));
  free(buf);
  free(err);
  write_file(g.dir, "anet.json", HEAD "{\"name\": \"c\", \"line\": 2, \"col\": 5}]}\n");
#undef HEAD
  prof = open_memstream(&buf, &len);
  d = (Diag){open_memstream(&err, &elen), 0};
  ck_assert_int_eq(run_point(&g.o, &g.mp, 0, NULL, prof, &r, &d), -1);
  fclose(prof);
  fclose(d.out);
  ck_assert_msg(strstr(err, "anet.json:1:113: error: manifest: an op lacks \"op\""), "%s", err);
  free(buf);
  free(err);
  rig_close(&g);
}
END_TEST

/* Of twelve timed ops --profile lists ten, slowest first: the ms column
 * never rises. */
START_TEST(profile_slowest_ten) {
  Rig g;
  char mil[4096];
  int k = snprintf(mil, sizeof mil, "program(1.3)\n{\n    func main<ios18>(tensor<fp16, [1, 64]> x) {\n");
  for (int i = 0; i < 12; i++) {
    char prev[8] = "x";
    if (i > 0)
      snprintf(prev, sizeof prev, "r%d", i - 1);
    k += snprintf(mil + k, sizeof mil - (size_t)k, "        tensor<fp16, [1, 64]> r%d = relu(x = %s)"
                  "[name = string(\"r%d\")];\n", i, prev, i);
  }
  snprintf(mil + k, sizeof mil - (size_t)k, "    } -> (r11);\n}\n");
  rig_open(&g, "ten", mil);
  g.o.backend = &cpu_backend;
  g.o.profile = true;
  char *buf = NULL;
  size_t len = 0;
  FILE *prof = open_memstream(&buf, &len);
  Diag d = diag_stderr();
  Report r;
  ck_assert_int_eq(run_point(&g.o, &g.mp, 0, NULL, prof, &r, &d), 0);
  fclose(prof);
  const char *at = strstr(buf, ": the 10 slowest of 12 (measured");
  ck_assert_msg(at, "%s", buf);
  at = strstr(at, "Source\n");
  ck_assert_ptr_nonnull(at);
  double last = INFINITY;
  for (int i = 0; i < 10; i++) {
    at = strchr(at, '\n') + 1;
    char name[32], type[32];
    double ms;
    ck_assert_int_eq(sscanf(at, " %31s %31s %lf", name, type, &ms), 3);
    ck_assert_str_eq(type, "relu");
    ck_assert_msg(ms <= last, "%s", buf);
    last = ms;
  }
  ck_assert_msg(strncmp(strchr(at, '\n') + 1, "\n", 1) == 0, "%s", buf);   /* ten rows, no more */
  free(buf);
  rig_close(&g);
}
END_TEST

/* Reading only the names still checks every op, so a model whose manifest
 * is bad is refused when it opens, whatever runs it. */
START_TEST(manifest_head_checks_ops) {
  char *dir = scratch("head");
  write_file(dir, "anet.json", "{\"schema\": \"anet-manifest\", \"schema_version\": 1, "
             "\"network\": \"n\", \"point\": \"p\", \"source\": \"s\", \"ops\": [{\"name\": \"c\"}]}");
  Manifest m;
  char *err = NULL;
  size_t len = 0;
  Diag d = {open_memstream(&err, &len), 0};
  ck_assert_int_eq(manifest_load_head(dir, &m, &d), -1);
  fclose(d.out);
  ck_assert_msg(strstr(err, "/anet.json:1:103: error: manifest: an op lacks \"op\""), "%s", err);
  ck_assert_int_eq(m.nops, 0);
  free(err);
  write_file(dir, "anet.json", "{\"schema\": \"anet-manifest\", \"schema_version\": 1, "
             "\"network\": \"n\", \"point\": \"p\", \"source\": \"s\", \"ops\": "
             "[{\"name\": \"c\", \"op\": \"conv\", \"line\": 1, \"col\": 1}]}");
  d = diag_stderr();
  ck_assert_int_eq(manifest_load_head(dir, &m, &d), 1);
  ck_assert_str_eq(manifest_model_name(&m), "p");
  ck_assert_int_eq(m.nops, 0);
  ck_assert_ptr_null(m.ops);
  manifest_free(&m);
  rm_tree(dir);
}
END_TEST

/* A directory without anet.json has no manifest, which is no error. */
START_TEST(manifest_absent) {
  char dir[] = "/tmp/anet-manifest-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  Manifest m;
  Diag d = {stderr, 0};
  ck_assert_int_eq(manifest_load(dir, &m, &d), 0);
  ck_assert_int_eq(d.nerrors, 0);
  rmdir(dir);
}
END_TEST

/* ---- results files, --compare, --plot ------------------------------------ */

static int parse_text(const char *text, ResultRow **rows, int *n, char **err) {
  Src src = {"r.jsonl", text, strlen(text)};
  size_t len = 0;
  FILE *f = open_memstream(err, &len);
  Diag d = {f, 0};
  int rc = results_parse(&src, rows, n, &d);
  fclose(f);
  return rc;
}

START_TEST(results_read_lines) {
  ResultRow *rows = NULL;
  char *err = NULL;
  const char *text =
      "{\"schema_version\": 1, \"model\": \"a\\u0041\", \"backend\": \"sim\", \"chip\": \"M4\", "
      "\"ms_median\": 1.5e1, \"machine\": {\"cores\": [1, 0, -0.5e-3, 1E+2, {\"x\": null}], \"os\": \"L\"}}\n"
      "\n"
      "  {\"model\": \"b\", \"schema_version\": 1, \"backend\": \"cpu\", \"chip\": null, "
      "\"ms_median\": null}  \n";
  int n = 0;
  ck_assert_int_eq(parse_text(text, &rows, &n, &err), 0);
  ck_assert_int_eq(n, 2);
  ck_assert_str_eq(rows[0].model, "aA");
  ck_assert_str_eq(rows[0].chip, "M4");
  ck_assert_double_eq(rows[0].ms_median, 15);
  ck_assert_int_eq(rows[1].line, 3);
  ck_assert_str_eq(rows[1].chip, "");
  ck_assert(isnan(rows[1].ms_median));
  free(rows);
  free(err);
}
END_TEST

START_TEST(results_bad_lines) {
  static const struct {
    const char *text, *want;
  } bad[] = {
      {"{\"schema_version\": 1, \"model\": \"a\"}\n", "r.jsonl:1:36: error: results file: the line lacks backend"},
      {"\n{\"schema_version\": 2, \"model\": \"a\"}", "r.jsonl:2:20: error: results file: schema_version 2"},
      {"{\"model\": \"a\" \"backend\": 1}", "r.jsonl:1:15: error: results file: expected '}'"},
      {"{\"model\": \"a\n\"}", "r.jsonl:1:13: error: results file: unterminated string"},
      {"[1]", "r.jsonl:1:1: error: results file: expected '{'"},
      {"{\"x\": tru}", "r.jsonl:1:7: error: results file: expected a value"},
      {"{\"x\": 01}", "r.jsonl:1:7: error: results file: a number JSON does not allow"},
      {"{\"x\": -1.}", "r.jsonl:1:7: error: results file: a number JSON does not allow"},
      {"{\"x\": 2e+}", "r.jsonl:1:7: error: results file: a number JSON does not allow"},
      {"{\"x\": 10000000000000000000000000000000000000000000000000000000000000000000000}",   /* 71 characters */
       "r.jsonl:1:7: error: results file: a number of more than 63 characters"},
      {"{\"schema_version\": 1, \"model\": \"a\", \"backend\": \"c\", \"ms_median\": 1} x",
       "r.jsonl:1:69: error: results file: text after the object"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    ResultRow *rows = NULL;
    char *err = NULL;
    int n = 0;
    ck_assert_int_eq(parse_text(bad[i].text, &rows, &n, &err), -1);
    ck_assert_msg(strstr(err, bad[i].want), "case %zu: %s", i, err);
    free(rows);
    free(err);
  }
}
END_TEST

static ResultRow result(const char *model, double ms) {
  ResultRow r;
  memset(&r, 0, sizeof r);
  snprintf(r.model, sizeof r.model, "%s", model);
  snprintf(r.backend, sizeof r.backend, "sim");
  r.ms_median = ms;
  return r;
}

/* 10 -> 12 ms is +20%: past 15%, flagged; 10 -> 11 (+10%) and a faster
 * point are not; the last line of a point in a file is the one compared. */
START_TEST(results_compare_threshold) {
  ResultRow old[] = {result("a", 99), result("a", 10), result("b", 10), result("c", 10),
                     result("gone", 1)};
  ResultRow cur[] = {result("a", 12), result("b", 11), result("c", 5), result("new", 3)};
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  ck_assert_int_eq(results_compare(f, old, 5, cur, 4, 15), 1);
  fclose(f);
  ck_assert_ptr_nonnull(strstr(buf, "10.000     12.000   +20.0%  REGRESSED\n"));
  ck_assert_ptr_nonnull(strstr(buf, "10.000     11.000   +10.0%\n"));
  ck_assert_ptr_nonnull(strstr(buf, "-50.0%\n"));
  ck_assert_ptr_nonnull(strstr(buf, " new only\n"));
  ck_assert_ptr_nonnull(strstr(buf, " old only\n"));
  ck_assert_ptr_nonnull(strstr(buf, "1 of 3 points compared slower by more than 15%"));
  free(buf);
  f = open_memstream(&buf, &len);
  ck_assert_int_eq(results_compare(f, old, 5, cur, 4, 25), 0);
  fclose(f);
  free(buf);
}
END_TEST

static int count(const char *s, const char *what) {
  int n = 0;
  size_t len = strlen(what);
  for (const char *p = s; (p = strstr(p, what)) != NULL; p += len)
    n++;
  return n;
}

static void plot3(FILE *f, const void *r) { plot_svg(f, PLOT_THROUGHPUT, false, r, 3); }
static void roof3(FILE *f, const void *r) { plot_svg(f, PLOT_ROOFLINE, false, r, 3); }
static void roof1(FILE *f, const void *r) { plot_svg(f, PLOT_ROOFLINE, false, r, 1); }

/* Two configurations, one with both formats: three bars in two groups, the
 * 2x speed-up over the pair, "estimated" in the title. */
START_TEST(plot_throughput_marks) {
  Report r[3];
  const char *names[] = {"fp16_a", "w8a8_a", "fp16_b"};
  double ms[] = {10, 5, 20};
  for (int i = 0; i < 3; i++) {
    report_init(&r[i], names[i], "sim", true);
    snprintf(r[i].chip, sizeof r[i].chip, "M4");
    r[i].gflop = 100;
    r[i].dram_bytes = 1e8;
    Stats s = {1, ms[i], ms[i], ms[i]};
    report_set_times(&r[i], &s);
  }
  snprintf(r[1].precision, sizeof r[1].precision, "w8a8");
  char *svg = capture(plot3, r);
  ck_assert_int_eq(count(svg, "class=\"bar\""), 3);
  ck_assert_ptr_nonnull(strstr(svg, "estimated"));
  ck_assert_ptr_nonnull(strstr(svg, "on M4 (sim backend"));
  ck_assert_ptr_nonnull(strstr(svg, ">2.00x</text>"));
  ck_assert_ptr_nonnull(strstr(svg, ">W8A8</text>"));
  ck_assert_ptr_nonnull(strstr(svg, ">a</text>"));
  ck_assert_ptr_nonnull(strstr(svg, ">b</text>"));
  free(svg);
  svg = capture(roof3, r);
  ck_assert_int_eq(count(svg, "class=\"point\""), 3);
  ck_assert_ptr_nonnull(strstr(svg, "fp16 peak 18.6"));  /* M4's row in chip.c */
  /* 100 GFLOP over 1e8 bytes: intensity 1000, a tick in the axis's one style */
  ck_assert_ptr_nonnull(strstr(svg, ">1k</text>"));
  ck_assert_ptr_null(strstr(svg, "e+0"));
  ck_assert_ptr_nonnull(strstr(svg, "<title>w8a8_a: 20 TOPS</title>"));   /* 100 GOP / 5 ms */
  ck_assert_ptr_nonnull(strstr(svg, "<title>fp16_a: 10 TFLOPS</title>"));
  ck_assert_ptr_nonnull(strstr(svg, ">W8A8 model</text>"));
  free(svg);
  /* only fp16 points: no key for a W8A8 series that is not drawn */
  svg = capture(roof1, r);
  ck_assert_ptr_nonnull(strstr(svg, ">fp16 model</text>"));
  ck_assert_ptr_null(strstr(svg, ">W8A8 model</text>"));
  free(svg);
}
END_TEST

static Suite *anerun_suite(void) {
  Suite *s = suite_create("anerun");
  TCase *fl = tcase_create("flops");
  tcase_add_test(fl, flops_seed_512);
  tcase_add_test(fl, flops_seed_256);
  tcase_add_test(fl, flops_conv_groups_stride);
  tcase_add_test(fl, flops_matmul_linear);
  tcase_add_test(fl, flops_other_classes);
  tcase_add_test(fl, flops_w8a8_layer);
  tcase_add_test(fl, flops_classes_by_name);
  suite_add_tcase(s, fl);
  TCase *st = tcase_create("stats");
  tcase_add_test(st, stats_odd_even);
  tcase_add_test(st, stats_nearest_rank_rule);
  suite_add_tcase(s, st);
  TCase *rp = tcase_create("report");
  tcase_add_test(rp, report_json);
  tcase_add_test(rp, report_json_escapes_and_checks);
  tcase_add_test(rp, report_csv);
  tcase_add_test(rp, report_table_cpu);
  tcase_add_test(rp, report_table_small_values);
  tcase_add_test(rp, report_sim_is_estimate);
  tcase_add_test(rp, report_ane_chip_hook);
  tcase_add_test(rp, report_ane_w8a8_int8_peak);
  tcase_add_test(rp, baselines_pair_by_format);
  tcase_add_test(rp, report_table_speedup);
  suite_add_tcase(s, rp);
  TCase *rs = tcase_create("results");
  tcase_add_test(rs, results_read_lines);
  tcase_add_test(rs, manifest_fields);
  tcase_add_test(rs, manifest_bad);
  tcase_add_test(rs, manifest_absent);
  tcase_add_test(rs, manifest_head_checks_ops);
  tcase_add_test(rs, manifest_profile_sources);
  tcase_add_test(rs, profile_slowest_ten);
  tcase_add_test(rs, results_bad_lines);
  tcase_add_test(rs, results_compare_threshold);
  tcase_add_test(rs, plot_throughput_marks);
  suite_add_tcase(s, rs);
  TCase *cm = tcase_create("compare");
  tcase_add_test(cm, compare_measures);
  tcase_add_test(cm, compare_nan_and_shape);
  suite_add_tcase(s, cm);
  TCase *sm = tcase_create("sim");
  tcase_add_test(sm, sim_roofline);
  tcase_add_test(sm, sim_memory_bound);
  suite_add_tcase(s, sm);
  TCase *op = tcase_create("options");
  tcase_add_test(op, options_errors);
  tcase_add_test(op, options_values);
  suite_add_tcase(s, op);
  TCase *rn = tcase_create("run");
  tcase_add_test(rn, dry_run_small);
  tcase_add_test(rn, dry_run_missing_weights);
  tcase_add_test(rn, dry_run_bad_path);
  tcase_add_test(rn, run_through_double);
  tcase_add_test(rn, run_forked_double);
  tcase_add_test(rn, run_bad_inputs);
  tcase_add_test(rn, anet_point_workdir);
  tcase_add_test(rn, no_main_function);
  tcase_add_test(rn, check_against_cpu);
  suite_add_tcase(s, rn);
  return s;
}

int main(void) { return ck_run(anerun_suite()); }
