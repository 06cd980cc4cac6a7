/* test_lint.c - every lint rule: a program that triggers it (with the
 * severity its sources call for, docs/lint.md) and one that passes it; the
 * target table's parsing and dialects.
 *
 * Programs are MIL text: a main<ios18> taking x = fp16 [1, 64, 1, 768]
 * (98304 bytes, width a multiple of 16: clean I/O) around each body. */
#define _GNU_SOURCE
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "lint.h"
#include "target.h"

#define BLOB(t) t "(BLOBFILE(path = string(\"@model_path/weights/weight.bin\"), offset = uint64(64)))"

/* The JSON findings for program text prog under target (NULL: default),
 * with rule off silenced; *nerr gets the errors counted. */
static char *lint_json(const char *prog, const char *target, const char *off, int *nerr) {
  Src src = {"t.mil", prog, strlen(prog)};
  char *dtext = NULL, *json = NULL;
  size_t dn = 0, jn = 0;
  Diag d = {open_memstream(&dtext, &dn), 0};
  MilProg *p = mil_parse(&src, &d);
  fclose(d.out);
  ck_assert_msg(p != NULL, "parse failed: %s\n%s", dtext, prog);
  free(dtext);
  LintOpts o;
  lint_opts_init(&o);
  char err[256];
  if (target)
    ck_assert_int_eq(target_parse(target, &o.target, err, sizeof err), 0);
  if (off)
    ck_assert_int_eq(lint_opts_silence(&o, off), 0);
  o.strict = true;
  o.json = true;
  o.json_out = open_memstream(&json, &jn);
  Diag d2 = {stderr, 0};
  int n = lint_prog(p, &src, &o, &d2);
  fclose(o.json_out);
  ck_assert_int_eq(n, d2.nerrors);
  if (nerr)
    *nerr = n;
  mil_free(p);
  return json;
}

static char *wrap(const char *head, const char *inputs, const char *body, const char *out) {
  char *s;
  ck_assert_int_ge(asprintf(&s, "program(1.3)\n{\n func main<%s>(%s) {\n%s } -> (%s);\n}\n", head,
                            inputs, body, out), 0);
  return s;
}

#define X "tensor<fp16, [1, 64, 1, 768]> x"

/* Whether linting finds rule at severity sev ("error"/"warning"), or
 * nothing of rule when sev is NULL. */
static void expect(const char *io, const char *body, const char *out, const char *target,
                   const char *rule, const char *sev) {
  char *prog = wrap("ios18", io, body, out);
  char *json = lint_json(prog, target, NULL, NULL);
  char want[128];
  snprintf(want, sizeof want, "\"rule\": \"%s\", \"severity\": \"%s\"", rule, sev ? sev : "");
  if (sev)
    ck_assert_msg(strstr(json, want), "%s not found for %s:\n%s\n%s", want, target, prog, json);
  else {
    snprintf(want, sizeof want, "\"rule\": \"%s\"", rule);
    ck_assert_msg(!strstr(json, want), "%s reported for %s:\n%s\n%s", rule, target, prog, json);
  }
  free(prog);
  free(json);
}

#define ADD " tensor<fp16, [1, 64, 1, 768]> y = add(x = x, y = x)[name = string(\"y\")];\n"

START_TEST(clean_program) {
  int nerr = -1;
  char *prog = wrap("ios18", X, ADD, "y");
  char *json = lint_json(prog, "M4", NULL, &nerr);
  ck_assert_str_eq(json, "[]\n");
  ck_assert_int_eq(nerr, 0);
  free(prog);
  free(json);
}
END_TEST

START_TEST(dialect) {
  /* M1 takes program(1.0)/ios16 (maderix PR #6): a 1.3 program is refused. */
  expect(X, ADD, "y", "M1", "ane-dialect", "error");
  expect(X, ADD, "y", "M2:macos14", "ane-dialect", "error");
  expect(X, ADD, "y", "M4", "ane-dialect", NULL);
  expect(X, ADD, "y", "M3:macos15", "ane-dialect", NULL);
}
END_TEST

#define SDPA(mask)                                                                               \
  " tensor<fp16, [1, 64, 1, 768]> y = scaled_dot_product_attention(query = x, key = x, value = " \
  "x" mask ")[name = string(\"y\")];\n"

START_TEST(opset) {
  /* scaled_dot_product_attention is an iOS18 op in coremltools. */
  expect(X, SDPA(""), "y", "ios17", "ane-opset", "error");
  expect(X, SDPA(""), "y", "ios18", "ane-opset", NULL);
}
END_TEST

START_TEST(sdpa_mask) {
  expect(X, SDPA(", attn_mask = x"), "y", NULL, "ane-sdpa-mask", "error");
  expect(X, SDPA(""), "y", NULL, "ane-sdpa-mask", NULL);
}
END_TEST

#define CONCAT(vals, c)                                                                           \
  " int32 ax = const()[name = string(\"ax\"), val = int32(3)];\n"                                 \
  " bool il = const()[name = string(\"il\"), val = bool(false)];\n"                                \
  " tensor<fp16, [1, 64, 1, " c "]> y = concat(axis = ax, interleave = il, values = " vals        \
  ")[name = string(\"y\")];\n"

START_TEST(concat) {
  /* Orion: refused; ANEForge: exactly two inputs work. */
  expect(X, CONCAT("(x, x, x)", "2304"), "y", NULL, "ane-concat", "error");
  expect(X, CONCAT("(x, x)", "1536"), "y", NULL, "ane-concat", "warning");
  expect(X, ADD, "y", NULL, "ane-concat", NULL);
}
END_TEST

START_TEST(gelu) {
  expect(X, " tensor<fp16, [1, 64, 1, 768]> y = gelu(x = x)[name = string(\"y\")];\n", "y", NULL,
         "ane-gelu", "error");
  expect(X,
         " string m = const()[name = string(\"m\"), val = string(\"EXACT\")];\n"
         " tensor<fp16, [1, 64, 1, 768]> y = gelu(mode = m, x = x)[name = string(\"y\")];\n",
         "y", NULL, "ane-gelu", "warning");
  expect(X, " tensor<fp16, [1, 64, 1, 768]> y = tanh(x = x)[name = string(\"y\")];\n", "y", NULL,
         "ane-gelu", NULL);
}
END_TEST

START_TEST(rsqrt) {
  expect(X, " tensor<fp16, [1, 64, 1, 768]> y = rsqrt(x = x)[name = string(\"y\")];\n", "y", NULL,
         "ane-rsqrt", "warning");
  expect(X,
         " fp16 e = const()[name = string(\"e\"), val = fp16(-0x1p-1)];\n"
         " tensor<fp16, [1, 64, 1, 768]> y = pow(x = x, y = e)[name = string(\"y\")];\n",
         "y", NULL, "ane-rsqrt", NULL);
}
END_TEST

#define W(co, ci, kh, kw)                                                                     \
  " tensor<fp16, [" co ", " ci ", " kh ", " kw "]> w = const()[name = string(\"w\"), val = " \
  BLOB("tensor<fp16, [" co ", " ci ", " kh ", " kw "]>") "];\n"
#define CONV(extra, co, w)                                                                   \
  " tensor<fp16, [1, " co ", 1, " w "]> y = conv(" extra "weight = w, x = x)[name = string(\"y\")];\n"

START_TEST(conv_bias) {
  expect(X,
         W("64", "64", "1", "1") " tensor<fp16, [64]> b = const()[name = string(\"b\"), val = "
         BLOB("tensor<fp16, [64]>") "];\n" CONV("bias = b, ", "64", "768"),
         "y", NULL, "ane-conv-bias", "error");
  expect(X, W("64", "64", "1", "1") CONV("", "64", "768"), "y", NULL, "ane-conv-bias", NULL);
}
END_TEST

START_TEST(conv_channels) {
  expect(X, W("32768", "64", "1", "1") CONV("", "32768", "768"), "y", NULL, "ane-conv-channels",
         "error");
  expect(X, W("32767", "64", "1", "1") CONV("", "32767", "768"), "y", NULL, "ane-conv-channels",
         NULL);
}
END_TEST

START_TEST(kernel_width) {
  /* ANEForge: kW <= 13 on M1 (A13), <= 15 on A16 (M4, M5). */
  expect(X, W("64", "64", "1", "16") CONV("", "64", "753"), "y", "M4", "ane-kernel-width", "error");
  expect(X, W("64", "64", "1", "15") CONV("", "64", "754"), "y", "M4", "ane-kernel-width", NULL);
  expect(X, W("64", "64", "1", "14") CONV("", "64", "755"), "y", "M1", "ane-kernel-width", "error");
  expect(X, W("64", "64", "1", "13") CONV("", "64", "756"), "y", "M1", "ane-kernel-width", NULL);
  expect(X, W("64", "64", "1", "14") CONV("", "64", "755"), "y", NULL, "ane-kernel-width",
         "warning");
}
END_TEST

START_TEST(runtime_conv_weight) {
  expect(X ", tensor<fp16, [64, 64, 1, 1]> w", CONV("", "64", "768"), "y", NULL,
         "ane-runtime-conv-weight", "warning");
  expect("tensor<fp16, [2, 64, 1, 768]> x, tensor<fp16, [64, 64, 1, 1]> w",
         " tensor<fp16, [2, 64, 1, 768]> y = conv(weight = w, x = x)[name = string(\"y\")];\n", "y",
         NULL, "ane-runtime-conv-weight", "error");
  expect(X, W("64", "64", "1", "1") CONV("", "64", "768"), "y", NULL, "ane-runtime-conv-weight",
         NULL);
}
END_TEST

START_TEST(io_rules) {
  expect("tensor<int32, [1, 64, 1, 768]> x", " tensor<int32, [1, 64, 1, 768]> y = add(x = x, y = x)"
         "[name = string(\"y\")];\n", "y", NULL, "ane-io-dtype", "error");
  expect("tensor<fp32, [1, 64, 1, 768]> x", " tensor<fp32, [1, 64, 1, 768]> y = add(x = x, y = x)"
         "[name = string(\"y\")];\n", "y", NULL, "ane-io-dtype", "warning");
  expect(X, ADD, "y", NULL, "ane-io-dtype", NULL);
  expect("tensor<fp16, [1, 768, 1, 40]> x", " tensor<fp16, [1, 768, 1, 40]> y = add(x = x, y = x)"
         "[name = string(\"y\")];\n", "y", NULL, "ane-io-width", "warning");
  expect(X, ADD, "y", NULL, "ane-io-width", NULL);
  /* 16 x 32 x 2 bytes = 1024 < 49152; [768, 32] fp16 = 49152 passes. */
  expect("tensor<fp16, [1, 16, 1, 32]> x", " tensor<fp16, [1, 16, 1, 32]> y = add(x = x, y = x)"
         "[name = string(\"y\")];\n", "y", NULL, "ane-io-min-bytes", "warning");
  expect("tensor<fp16, [1, 768, 1, 32]> x", " tensor<fp16, [1, 768, 1, 32]> y = add(x = x, y = x)"
         "[name = string(\"y\")];\n", "y", NULL, "ane-io-min-bytes", NULL);
}
END_TEST

#define ADD2 " tensor<fp16, [1, 64, 1, 768]> y = add(x = a, y = b)[name = string(\"y\")];\n"

START_TEST(io_lists) {
  expect("tensor<fp16, [1, 64, 1, 768]> a, tensor<fp16, [1, 64, 1, 1536]> b",
         " tensor<fp16, [1, 64, 1, 2304]> y = concat(axis = int32(3), interleave = bool(false), "
         "values = (a, b))[name = string(\"y\")];\n", "y",
         NULL, "ane-io-uniform", "warning");
  expect("tensor<fp16, [1, 64, 1, 768]> a, tensor<fp16, [1, 64, 1, 768]> b", ADD2, "y", NULL,
         "ane-io-uniform", NULL);
  expect("tensor<fp16, [1, 64, 1, 768]> b, tensor<fp16, [1, 64, 1, 768]> a", ADD2, "y", NULL,
         "ane-io-order", "warning");
  expect("tensor<fp16, [1, 64, 1, 768]> a, tensor<fp16, [1, 64, 1, 768]> b", ADD2, "y", NULL,
         "ane-io-order", NULL);
}
END_TEST

#define RESHAPE(n, dims, vals)                                                                  \
  " tensor<int32, [" n "]> s = const()[name = string(\"s\"), val = tensor<int32, [" n "]>([" vals \
  "])];\n tensor<fp16, [" dims "]> y = reshape(shape = s, x = x)[name = string(\"y\")];\n"

START_TEST(shapes) {
  expect(X, RESHAPE("6", "1, 2, 32, 1, 24, 32", "1, 2, 32, 1, 24, 32"), "y", NULL, "ane-rank",
         "error");
  expect(X, RESHAPE("5", "2, 32, 1, 24, 32", "2, 32, 1, 24, 32"), "y", NULL, "ane-rank", NULL);
  expect("tensor<fp16, [1, 64, 1, ?]> x", " tensor<fp16, [1, 64, 1, ?]> y = add(x = x, y = x)"
         "[name = string(\"y\")];\n", "y", NULL, "ane-symbolic-shape", "error");
  expect(X, ADD, "y", NULL, "ane-symbolic-shape", NULL);
  /* 16384 through A15 (M1), 65536 at A16 (M4). */
  expect(X, RESHAPE("4", "1, 2, 1, 24576", "1, 2, 1, 24576"), "y", "M1", "ane-axis-size", "error");
  expect(X, RESHAPE("4", "1, 2, 1, 24576", "1, 2, 1, 24576"), "y", "M4", "ane-axis-size", NULL);
  expect(X, RESHAPE("4", "1, 1, 1, 49152", "1, 1, 1, 49152"), "y", "M4", "ane-axis-size", NULL);
}
END_TEST

START_TEST(sram) {
  /* 512 x 65280 (768 x 85) fp16 = 63.75 MiB > the M4's ~32 MB; M5 has no
   * published figure. */
  const char *big = " tensor<fp16, [1, 512, 1, 65280]> y = tile(reps = r, x = x)[name = string(\"y\")];\n";
  char body[512];
  snprintf(body, sizeof body, " tensor<int32, [4]> r = const()[name = string(\"r\"), val = "
           "tensor<int32, [4]>([1, 8, 1, 85])];\n%s", big);
  expect(X, body, "y", "M4", "ane-sram", "warning");
  expect(X, body, "y", "M5", "ane-sram", NULL);
  expect(X, ADD, "y", "M4", "ane-sram", NULL);
  expect(X, body, "y", "M4", "ane-tile", "warning");
  expect(X, ADD, "y", "M4", "ane-tile", NULL);
}
END_TEST

#define AFFINE(data, scale)                                                                     \
  " tensor<fp16, [64, 64, 1, 1]> w = constexpr_affine_dequantize()[axis = int32(0), name = "   \
  "string(\"w\"), quantized_data = " BLOB(data) ", scale = " scale ", zero_point = int8(0)];\n"
#define BLOCKWISE(dt)                                                                          \
  " tensor<fp16, [64, 64, 1, 1]> w = constexpr_blockwise_shift_scale(data = d, scale = s)"      \
  "[name = string(\"w\")];\n"
#define BW_CONSTS(dt)                                                                           \
  " tensor<" dt ", [64, 64, 1, 1]> d = const()[name = string(\"d\"), val = "                    \
  BLOB("tensor<" dt ", [64, 64, 1, 1]>") "];\n"                                                \
  " tensor<fp16, [64, 1, 1, 1]> s = const()[name = string(\"s\"), val = "                       \
  BLOB("tensor<fp16, [64, 1, 1, 1]>") "];\n"

START_TEST(weights) {
  const char *aff = AFFINE("tensor<int8, [64, 64, 1, 1]>", "fp16(0x1p-3)") CONV("", "64", "768");
  /* ANEForge: int8-affine folds on A13 (M1), streams from A14 (M2). */
  expect(X, aff, "y", "M1:ios18", "ane-weight-fold", "warning");
  expect(X, aff, "y", "M2", "ane-weight-fold", NULL);
  expect(X, aff, "y", NULL, "ane-affine-scale", NULL);
  expect(X,
         AFFINE("tensor<int8, [64, 64, 1, 1]>", BLOB("tensor<fp16, [64, 1, 1, 1]>"))
         CONV("", "64", "768"),
         "y", NULL, "ane-affine-scale", "warning");
  /* Blockwise folds on A13 and A14 (M1, M2), streams from A15. */
  const char *bw4 = BW_CONSTS("int4") BLOCKWISE() CONV("", "64", "768");
  const char *bw8 = BW_CONSTS("int8") BLOCKWISE() CONV("", "64", "768");
  expect(X, bw4, "y", "M2", "ane-blockwise-int4", "warning");
  expect(X, bw4, "y", "M3", "ane-blockwise-int4", NULL);
  expect(X, bw8, "y", "M2", "ane-blockwise-int4", NULL);
  expect(X, bw8, "y", "M2", "ane-weight-fold", "warning");
}
END_TEST

START_TEST(ops) {
  const char *sin = " tensor<fp16, [1, 64, 1, 768]> y = sin(x = x)[name = string(\"y\")];\n";
  expect(X, sin, "y", "M1:ios18", "ane-family-op", "error");   /* sin/cos: A15+ */
  expect(X, sin, "y", "M2:ios18", "ane-family-op", "error");
  expect(X, sin, "y", "M3", "ane-family-op", NULL);
  expect(X,
         " int32 ax = const()[name = string(\"ax\"), val = int32(3)];\n"
         " tensor<fp16, [1, 64, 1, 768]> y = cumsum(axis = ax, x = x)[name = string(\"y\")];\n",
         "y", NULL, "ane-no-hw-op", "error");
  expect(X, ADD, "y", NULL, "ane-no-hw-op", NULL);
}
END_TEST

#define RED(zero)                                                                               \
  " tensor<int32, [1]> ax = const()[name = string(\"ax\"), val = tensor<int32, [1]>([3])];\n"  \
  " bool kd = const()[name = string(\"kd\"), val = bool(true)];\n"                             \
  " tensor<fp16, [1, 64, 1, 1]> r = reduce_sum(axes = ax, keep_dims = kd, x = x)[name = "       \
  "string(\"r\")];\n fp16 z = const()[name = string(\"z\"), val = fp16(" zero ")];\n"          \
  " tensor<fp16, [1, 64, 1, 1]> y = mul(x = r, y = z)[name = string(\"y\")];\n"

START_TEST(mul_zero) {
  expect(X, RED("0x0p+0"), "y", NULL, "ane-mul-zero", "error");
  expect(X, RED("0x1p+1"), "y", NULL, "ane-mul-zero", NULL);
}
END_TEST

#define SLICE(b)                                                                                 \
  " tensor<int32, [4]> b = const()[name = string(\"b\"), val = tensor<int32, [4]>([" b "])];\n"  \
  " tensor<int32, [4]> s = const()[name = string(\"s\"), val = tensor<int32, [4]>([1, 32, 1, "    \
  "32])];\n tensor<fp16, [1, 32, 1, 32]> y = slice_by_size(begin = b, size = s, x = x)[name = "   \
  "string(\"y\")];\n"

START_TEST(width_slice) {
  expect(X, SLICE("0, 0, 0, 16"), "y", "M1:ios18", "ane-width-slice", "warning");
  expect(X, SLICE("0, 16, 0, 0"), "y", "M1:ios18", "ane-width-slice", NULL);
  expect(X, SLICE("0, 0, 0, 16"), "y", "M2:ios18", "ane-width-slice", NULL);
}
END_TEST

START_TEST(const_bytes) {
  /* 1.1e9 fp16 = 2.2e9 bytes > 2 GiB. */
  expect("tensor<fp16, [1100000000]> x",
         " tensor<fp16, [1100000000]> w = const()[name = string(\"w\"), val = "
         BLOB("tensor<fp16, [1100000000]>") "];\n"
         " tensor<fp16, [1100000000]> y = add(x = x, y = w)[name = string(\"y\")];\n",
         "y", NULL, "ane-const-bytes", "error");
  expect(X, W("64", "64", "1", "1") CONV("", "64", "768"), "y", NULL, "ane-const-bytes", NULL);
}
END_TEST

START_TEST(fp32_compute) {
  const char *body =
      " string t = const()[name = string(\"t\"), val = string(\"fp32\")];\n"
      " tensor<fp32, [1, 64, 1, 768]> c = cast(dtype = t, x = x)[name = string(\"c\")];\n"
      " tensor<fp32, [1, 64, 1, 768]> y = add(x = c, y = c)[name = string(\"y\")];\n";
  expect(X, body, "y", NULL, "ane-fp32-compute", "warning");
  expect(X, ADD, "y", NULL, "ane-fp32-compute", NULL);
}
END_TEST

START_TEST(silence_and_locations) {
  char *prog = wrap("ios18", X, " tensor<fp16, [1, 64, 1, 768]> y = gelu(x = x)[name = string(\"y\")];\n", "y");
  int nerr = -1;
  char *json = lint_json(prog, NULL, "ane-gelu", &nerr);
  ck_assert_str_eq(json, "[]\n");
  ck_assert_int_eq(nerr, 0);
  free(json);
  /* The gelu statement is on line 4 of the text, its first column 2. */
  json = lint_json(prog, NULL, NULL, &nerr);
  ck_assert_int_eq(nerr, 1);
  ck_assert_msg(strstr(json, "\"file\": \"t.mil\", \"line\": 4, \"col\": 2, \"op\": \"y\""), "%s",
                json);
  free(json);
  free(prog);
  LintOpts o;
  lint_opts_init(&o);
  ck_assert_int_eq(lint_opts_silence(&o, "ane-nonesuch"), -1);
}
END_TEST

START_TEST(rule_table) {
  int n;
  const LintRule *r = lint_rules(&n);
  ck_assert_int_ge(n, 15);
  for (int i = 0; i < n; i++) {
    ck_assert(strncmp(r[i].name, "ane-", 4) == 0);
    ck_assert(r[i].source && r[i].source[0] && r[i].what && r[i].what[0]);
    for (int k = 0; k < i; k++)
      ck_assert_str_ne(r[i].name, r[k].name);
  }
}
END_TEST

START_TEST(targets) {
  Target t;
  char err[256];
  ck_assert_int_eq(target_parse("ios18", &t, err, sizeof err), 0);
  ck_assert_ptr_null(t.tc);
  ck_assert_str_eq(t.version, "1.3");
  ck_assert_int_eq(target_parse("m2:macos14", &t, err, sizeof err), 0);
  ck_assert_str_eq(t.name, "M2:macos14");
  ck_assert_int_eq(t.ios, 16);   /* M2 takes only the verbose ios16 form */
  ck_assert_str_eq(t.version, "1.0");
  ck_assert_int_eq(target_parse("M4:macos14", &t, err, sizeof err), 0);
  ck_assert_int_eq(t.ios, 17);
  ck_assert_str_eq(t.version, "1.0");
  ck_assert_int_eq(target_parse("A17 Pro", &t, err, sizeof err), 0);
  ck_assert_str_eq(t.tc->family, "A16");
  ck_assert_int_eq(t.ios, 18);
  ck_assert_int_eq(target_parse("M9", &t, err, sizeof err), -1);
  ck_assert(strstr(err, "unknown target 'M9'"));
  ck_assert_int_eq(target_parse("M4:macos12", &t, err, sizeof err), -1);
  ck_assert_int_eq(target_parse("M4:", &t, err, sizeof err), -1);
  ck_assert_int_eq(target_op_min_ios("quantize"), 17);
  ck_assert_int_eq(target_op_min_ios("conv"), 0);
}
END_TEST

/* A fake host: the answers of three sysctl names, NULL for none. */
typedef struct FakeHost {
  const char *brand, *model, *os;
} FakeHost;

static int fake_sysctl(void *ctx, const char *name, char *buf, size_t n) {
  const FakeHost *f = ctx;
  const char *v = !strcmp(name, "machdep.cpu.brand_string") ? f->brand
                  : !strcmp(name, "hw.model") ? f->model
                  : !strcmp(name, "kern.osproductversion") ? f->os : NULL;
  if (!v)
    return -1;
  snprintf(buf, n, "%s", v);
  return 0;
}

/* The Mac's own target from what sysctl says (as a Mac would answer). */
START_TEST(host_target) {
  static const struct {
    FakeHost h;
    int rc;
    const char *name, *version;
    int ios;
  } cases[] = {
      {{"Apple M1", "MacBookAir10,1", "14.6.1"}, 0, "M1:macos14", "1.0", 16},
      {{"Apple M2 Pro", "Mac14,12", "15.1"}, 0, "M2:macos15", "1.0", 16},
      {{"Apple M3 Pro", "Mac15,6", "15.0"}, 0, "M3 Pro:macos15", "1.3", 18},
      {{"Apple M4 Max", "Mac16,5", "26.1"}, 0, "M4:macos26", "1.3", 18},
      {{"Apple M4", "Mac16,10", "14.2"}, 0, "M4:macos14", "1.0", 17},
      {{"Apple M5", NULL, NULL}, 0, "M5", "1.3", 18},
      /* a virtual machine's brand names no chip: the OS alone */
      {{"Apple processor", "VirtualMac2,1", "15.3"}, -1, "macos15", "1.3", 18},
      {{NULL, NULL, NULL}, -1, "", NULL, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    TargetHost h = {fake_sysctl, (void *)&cases[i].h};
    Target t;
    ck_assert_int_eq(target_host(&h, &t), cases[i].rc);
    ck_assert_str_eq(t.name, cases[i].name);
    if (cases[i].version) {
      ck_assert_str_eq(t.version, cases[i].version);
      ck_assert_int_eq(t.ios, cases[i].ios);
    }
  }
#ifndef __APPLE__
  Target t;
  target_default(&t);   /* off the Mac: the seed's ios18 */
  ck_assert_str_eq(t.name, "ios18");
  ck_assert_str_eq(t.version, "1.3");
#endif
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("lint");
  TCase *tc = tcase_create("rules");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, clean_program);
  tcase_add_test(tc, dialect);
  tcase_add_test(tc, opset);
  tcase_add_test(tc, sdpa_mask);
  tcase_add_test(tc, concat);
  tcase_add_test(tc, gelu);
  tcase_add_test(tc, rsqrt);
  tcase_add_test(tc, conv_bias);
  tcase_add_test(tc, conv_channels);
  tcase_add_test(tc, kernel_width);
  tcase_add_test(tc, runtime_conv_weight);
  tcase_add_test(tc, io_rules);
  tcase_add_test(tc, io_lists);
  tcase_add_test(tc, shapes);
  tcase_add_test(tc, sram);
  tcase_add_test(tc, weights);
  tcase_add_test(tc, ops);
  tcase_add_test(tc, mul_zero);
  tcase_add_test(tc, width_slice);
  tcase_add_test(tc, const_bytes);
  tcase_add_test(tc, fp32_compute);
  tcase_add_test(tc, silence_and_locations);
  tcase_add_test(tc, rule_table);
  tcase_add_test(tc, targets);
  tcase_add_test(tc, host_target);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return ck_run(suite()); }
