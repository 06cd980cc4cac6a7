/* test_dialect.c - program(1.0) for the older targets, against the oracle:
 * real Apple-compiled model.mil files of ../shared/mil-corpus. Each golden
 * test builds one construct in the IR and compares the printed text with
 * the line a corpus file spells it in. Then what anetc lowers for M1/M2
 * reads back through the MIL parser (round trip), and what the opset lacks
 * is an error at the .anet line. */
#define _GNU_SOURCE
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "anet.h"
#include "check_main.h"
#include "dialect.h"
#include "target.h"

#define CORPUS SRCDIR "/../shared/mil-corpus"

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  char *buf = NULL;
  size_t n = 0;
  FILE *m = open_memstream(&buf, &n);
  int c;
  while ((c = getc(f)) != EOF)
    putc(c, m);
  fclose(f);
  fclose(m);
  return buf;
}

/* The line of text containing needle, leading blanks cut (malloc'd);
 * frees text. */
static char *line_with(char *text, const char *needle, const char *where) {
  char *hit = strstr(text, needle);
  ck_assert_msg(hit != NULL, "%s not in %s", needle, where);
  while (hit > text && hit[-1] != '\n')
    hit--;
  while (*hit == ' ')
    hit++;
  char *line = strndup(hit, strcspn(hit, "\n"));
  free(text);
  return line;
}

/* The line of corpus model `model` containing needle. */
static char *corpus_line(const char *model, const char *needle) {
  char path[512];
  snprintf(path, sizeof path, CORPUS "/%s/model.mil", model);
  return line_with(slurp(path), needle, path);
}

/* The printed line of p containing needle. */
static char *printed_line(const MilProg *p, const char *needle) {
  return line_with(mil_print_string(p), needle, "the printed program");
}

static void target(Target *t, const char *name) {
  char err[256];
  ck_assert_int_eq(target_parse(name, t, err, sizeof err), 0);
}

/* buildInfo from key/value pairs. */
static void build_info(MilProg *p, int n, const char *const *kv) {
  mil_prog_attr(p, "buildInfo", mil_string_dict(p, n, kv));
}

/* text with each line's leading blanks cut: whitespace is not significant
 * (FORMATS.md 2.1), and coremlc indents deeper than the printer. */
static char *unindented(const char *text) {
  char *out = malloc(strlen(text) + 1), *o = out;
  for (bool bol = true; *text; text++) {
    if (bol && *text == ' ')
      continue;
    bol = *text == '\n';
    *o++ = *text;
  }
  *o = '\0';
  return out;
}

/* The whole of coremltools' add_model.mlmodelc/model.mil: header, verbose
 * buildInfo dict, <ios16>, the name attribute. */
START_TEST(golden_add_model) {
  static const char *const kv[] = {
      "coremlc-component-MIL", "3402.3.2", "coremlc-version", "3402.4.1",
      "coremltools-component-torch", "2.5.1", "coremltools-source-dialect", "TorchScript",
      "coremltools-version", "8.1"};
  MilProg *p = mil_new("1.3");
  build_info(p, 10, kv);
  MilFunc *f = mil_add_func(p, "main", "ios18");
  const MilType *t = mil_tensor_type(p, MIL_FP16, 2, (const int64_t[]){1, 10});
  mil_add_input(p, f, t, "x");
  mil_add_input(p, f, t, "y");
  MilOp *o = mil_add_op(p, f, "mul");
  mil_op_out(p, o, t, "var_3");
  mil_op_ref(p, o, "x", "x");
  mil_op_ref(p, o, "y", "y");
  mil_op_attr(p, o, "name", mil_scalar_s(p, "op_3_cast_fp16"));
  mil_add_output(p, f, "var_3");
  Target m1;
  target(&m1, "M1");
  Diag d = {stderr, 0};
  ck_assert_int_eq(mil_dialect(p, &m1, NULL, &d), 0);
  char *text = mil_print_string(p), *file = slurp(CORPUS "/coremltools-add-model/model.mil");
  char *got = unindented(text), *want = unindented(file);
  ck_assert_str_eq(got, want);
  free(got);
  free(want);
  free(text);
  free(file);
  mil_free(p);
}
END_TEST

/* Rank-0 string and fp16 consts (parakeet decoder, silero-vad). */
START_TEST(golden_scalar_consts) {
  MilProg *p = mil_new("1.0");
  MilFunc *f = mil_add_func(p, "main", "ios16");
  MilOp *o = mil_add_op(p, f, "const");
  mil_op_out(p, o, mil_scalar_type(p, MIL_STRING), "targets_to_int16_dtype_0");
  mil_op_attr(p, o, "name", mil_scalar_s(p, "targets_to_int16_dtype_0"));
  mil_op_attr(p, o, "val", mil_scalar_s(p, "int16"));
  o = mil_add_op(p, f, "const");
  mil_op_out(p, o, mil_scalar_type(p, MIL_FP16), "var_7_promoted_to_fp16");
  mil_op_attr(p, o, "name", mil_scalar_s(p, "op_7_promoted_to_fp16"));
  mil_op_attr(p, o, "val", mil_scalar_f(p, MIL_FP16, 2.0));
  static const char *const cases[][2] = {
      {"parakeet-eou-decoder", "targets_to_int16_dtype_0 = const()"},
      {"silero-vad-fp32-ios15", "var_7_promoted_to_fp16 = const()"},
  };
  for (int i = 0; i < 2; i++) {
    char *want = corpus_line(cases[i][0], cases[i][1]);
    char *got = printed_line(p, cases[i][1]);
    ck_assert_str_eq(got, want);
    free(want);
    free(got);
  }
  mil_free(p);
}
END_TEST

static MilValue *blob(MilProg *p, MilDtype dt, int rank, const int64_t *dim, uint64_t off) {
  return mil_blob_value(p, mil_tensor_type(p, dt, rank, dim), "@model_path/weights/weight.bin",
                        off, -1);
}

/* An iOS18-style constexpr_affine_dequantize (parameters as inputs, the
 * axis through a const) becomes the attribute form silero-vad's ios16
 * file uses, and the const it no longer needs goes. */
START_TEST(golden_constexpr_attributes) {
  MilProg *p = mil_new("1.3");
  MilFunc *f = mil_add_func(p, "main", "ios18");
  MilOp *k = mil_add_op(p, f, "const");
  mil_op_out(p, k, mil_scalar_type(p, MIL_INT32), "axis_0");
  mil_op_attr(p, k, "name", mil_scalar_s(p, "axis_0"));
  mil_op_attr(p, k, "val", mil_scalar_i(p, MIL_INT32, 0));
  const char *name = "encoder_layers_0_weight_to_fp16_quantized";
  int64_t wd[3] = {128, 129, 3}, c = 128;
  MilOp *o = mil_add_op(p, f, "constexpr_affine_dequantize");
  mil_op_out(p, o, mil_tensor_type(p, MIL_FP16, 3, wd), name);
  mil_op_ref(p, o, "axis", "axis_0");
  mil_op_val(p, o, "quantized_data", blob(p, MIL_INT8, 3, wd, 67200));
  mil_op_val(p, o, "scale", blob(p, MIL_FP16, 1, &c, 116992));
  mil_op_val(p, o, "zero_point", blob(p, MIL_INT8, 1, &c, 116800));
  mil_op_attr(p, o, "name", mil_scalar_s(p, name));
  mil_add_output(p, f, name);
  Target t;
  target(&t, "M2");
  Diag d = {stderr, 0};
  ck_assert_int_eq(mil_dialect(p, &t, NULL, &d), 0);
  ck_assert_int_eq(f->nops, 1);   /* axis_0 inlined and dropped */
  char *want = corpus_line("silero-vad-pruned-int8-ios16", "encoder_layers_0_weight_to_fp16_quantized =");
  char *got = printed_line(p, "constexpr_affine_dequantize");
  ck_assert_str_eq(got, want);
  free(want);
  free(got);
  mil_free(p);
}
END_TEST

/* A const the constexpr op alone read goes; the ops after it move down
 * one, and their references say so (lint finds operands by them). */
START_TEST(dropped_const_refs_resolved) {
  MilProg *p = mil_new("1.3");
  MilFunc *f = mil_add_func(p, "main", "ios18");
  const MilType *t = mil_tensor_type(p, MIL_FP16, 1, (const int64_t[]){4});
  mil_add_input(p, f, t, "x");
  MilOp *o = mil_add_op(p, f, "const");
  mil_op_out(p, o, mil_scalar_type(p, MIL_INT32), "axis_0");
  mil_op_attr(p, o, "val", mil_scalar_i(p, MIL_INT32, 0));
  int64_t c = 4;
  o = mil_add_op(p, f, "constexpr_affine_dequantize");
  mil_op_out(p, o, t, "w");
  mil_op_ref(p, o, "axis", "axis_0");
  mil_op_val(p, o, "quantized_data", blob(p, MIL_INT8, 1, &c, 64));
  mil_op_val(p, o, "scale", mil_scalar_f(p, MIL_FP16, 0.5));
  mil_op_val(p, o, "zero_point", mil_scalar_i(p, MIL_INT8, 0));
  o = mil_add_op(p, f, "add");
  mil_op_out(p, o, t, "y");
  mil_op_ref(p, o, "x", "x");
  mil_op_ref(p, o, "y", "w");
  mil_add_output(p, f, "y");
  mil_resolve_refs(p);
  ck_assert_int_eq(mil_op_arg(&f->ops[2], "y")->bind.def, 2);   /* w: 1 + op index 1 */
  Target m1;
  target(&m1, "M1");
  Diag d = {stderr, 0};
  ck_assert_int_eq(mil_dialect(p, &m1, NULL, &d), 0);
  ck_assert_int_eq(f->nops, 2);
  ck_assert_str_eq(f->ops[1].op, "add");
  const MilArg *x = mil_op_arg(&f->ops[1], "x"), *y = mil_op_arg(&f->ops[1], "y");
  ck_assert_int_eq(x->bind.def, -1);   /* input 0 */
  ck_assert_int_eq(y->bind.def, 1);    /* w is op 0 now */
  ck_assert_int_eq(y->bind.out, 0);
  mil_free(p);
}
END_TEST

/* The opset a chip or OS gets: M1/M2 ios16 whatever the OS, macos14 ios17,
 * the default ios18; program(1.0) below ios18. */
START_TEST(dialect_per_target) {
  static const struct { const char *name, *version; int ios; } cases[] = {
      {"M1", "1.0", 16}, {"M2:macos15", "1.0", 16}, {"M4:macos14", "1.0", 17},
      {"ios17", "1.0", 17}, {"M4", "1.3", 18}, {"ios18", "1.3", 18},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    Target t;
    target(&t, cases[i].name);
    ck_assert_str_eq(t.version, cases[i].version);
    ck_assert_int_eq(t.ios, cases[i].ios);
  }
}
END_TEST

/* ---- what anetc lowers ---------------------------------------------------- */

static const char NET[] =
    "network n {\n"
    "    input x: fp16[1, 32, 8, 8]\n"
    "    conv 32 kernel=1\n"
    "    conv 32 kernel=3 padding=same weights=int8 scale=0.125\n"
    "    conv 32 kernel=1 weights=%s\n"
    "    relu\n"
    "}\n";

/* net with the third conv's weights in format w, lowered for target;
 * diagnostics into *msgs. NULL when mil_dialect reported errors. */
static MilProg *lowered(const char *w, const char *tname, char **msgs) {
  static char text[1024];
  snprintf(text, sizeof text, NET, w);
  static Src src;
  src = (Src){"n.anet", text, strlen(text)};
  size_t n;
  Diag d = {open_memstream(msgs, &n), 0};
  AnetFile *f = anet_parse(&src, &d);
  ck_assert_ptr_nonnull(f);
  MilProg *p = anet_lower(f, 0, &d);
  ck_assert_ptr_nonnull(p);
  Target t;
  target(&t, tname);
  int nerr = mil_dialect(p, &t, &src, &d);
  fclose(d.out);
  anet_free(f);
  if (nerr) {
    mil_free(p);
    return NULL;
  }
  return p;
}

/* print -> parse -> print is the same text, and the parser sees 1.0/ios16. */
START_TEST(round_trip) {
  static const char *const formats[] = {"fp16", "int8_channel", "uint8_tensor", "uint8_channel"};
  for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
    char *msgs = NULL;
    MilProg *p = lowered(formats[i], "M1", &msgs);
    ck_assert_msg(p != NULL, "%s: %s", formats[i], msgs);
    char *text = mil_print_string(p);
    ck_assert_msg(strncmp(text, "program(1.0)\n", 13) == 0, "%s", text);
    ck_assert_msg(strstr(text, "func main<ios16>("), "%s", text);
    ck_assert_msg(!strstr(text, "string(\"") || strstr(text, "tensor<string, []>(\""), "%s", text);
    Src s = {"rt.mil", text, strlen(text)};
    Diag d = {stderr, 0};
    MilProg *q = mil_parse(&s, &d);
    ck_assert_msg(q != NULL, "%s does not parse:\n%s", formats[i], text);
    ck_assert_str_eq(q->version, "1.0");
    ck_assert_str_eq(q->funcs[0].opset, "ios16");
    char *again = mil_print_string(q);
    ck_assert_str_eq(again, text);
    /* no constexpr op keeps inputs, and the iOS18 weight op is gone */
    ck_assert_msg(!strstr(text, "constexpr_affine_dequantize(a"), "%s", text);
    ck_assert_msg(!strstr(text, "blockwise"), "%s", text);
    free(again);
    mil_free(q);
    free(text);
    free(msgs);
    mil_free(p);
  }
}
END_TEST

/* Per-channel int8: scale and zero point are [Cout] vectors along axis 0. */
START_TEST(blockwise_channel_to_affine) {
  char *msgs = NULL;
  MilProg *p = lowered("int8_channel", "M2", &msgs);
  ck_assert_msg(p != NULL, "%s", msgs);
  char *line = printed_line(p, "conv_2_weight = ");
  ck_assert_msg(strstr(line, "= constexpr_affine_dequantize()[axis = tensor<int32, []>(0), "), "%s", line);
  ck_assert_msg(strstr(line, "quantized_data = tensor<int8, [32, 32, 1, 1]>(BLOBFILE("), "%s", line);
  ck_assert_msg(strstr(line, "scale = tensor<fp16, [32]>(BLOBFILE("), "%s", line);
  ck_assert_msg(strstr(line, "zero_point = tensor<int8, [32]>([0, 0, "), "%s", line);
  free(line);
  free(msgs);
  mil_free(p);
}
END_TEST

/* Formats without an iOS16 form: an error at the layer's .anet line. */
START_TEST(missing_formats_are_errors) {
  static const char *const formats[] = {"int4_channel", "lut4", "sparse_fp16", "int8_block16"};
  for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
    char *msgs = NULL;
    ck_assert_ptr_null(lowered(formats[i], "M1", &msgs));
    ck_assert_msg(strncmp(msgs, "n.anet:5:5: error: ", 19) == 0, "%s: %s", formats[i], msgs);
    ck_assert_msg(strstr(msgs, "target M1 has <ios16>"), "%s", msgs);
    free(msgs);
    /* the same program is fine for ios18 */
    MilProg *p = lowered(formats[i], "ios18", &msgs);
    ck_assert_msg(p != NULL, "%s", msgs);
    mil_free(p);
    free(msgs);
  }
}
END_TEST

/* activations int8 needs quantize/dequantize (iOS17): fine for M4:macos14,
 * an error at the layer for M1, reported once per op type. */
START_TEST(ios17_ops) {
  static const char text[] =
      "network n {\n"
      "    input x: fp16[1, 32, 8, 8]\n"
      "    activations int8 scale=0.125\n"
      "    conv 32 kernel=1\n"
      "    conv 32 kernel=1\n"
      "    conv 32 kernel=1\n"
      "}\n";
  const char *names[] = {"M1", "M4:macos14"};
  for (int i = 0; i < 2; i++) {
    Src src = {"a.anet", text, strlen(text)};
    char *msgs = NULL;
    size_t n;
    Diag d = {open_memstream(&msgs, &n), 0};
    AnetFile *f = anet_parse(&src, &d);
    MilProg *p = anet_lower(f, 0, &d);
    Target t;
    target(&t, names[i]);
    int nerr = mil_dialect(p, &t, &src, &d);
    fclose(d.out);
    if (i == 0) {
      ck_assert_int_eq(nerr, 4);   /* after the first two layers: 2 quantize, 2 dequantize */
      ck_assert_msg(strstr(msgs, "a.anet:4:5: error: 'quantize' exists from <ios17>"), "%s", msgs);
      ck_assert_msg(strstr(msgs, "a.anet:4:5: error: 'dequantize' exists from <ios17>"), "%s", msgs);
      ck_assert_msg(!strstr(msgs, "a.anet:5:5"), "%s", msgs);
    } else {
      ck_assert_int_eq(nerr, 0);
      char *text17 = mil_print_string(p);
      ck_assert_msg(strstr(text17, "program(1.0)\n") && strstr(text17, "func main<ios17>("), "%s",
                    text17);
      free(text17);
    }
    free(msgs);
    mil_free(p);
    anet_free(f);
  }
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("dialect");
  TCase *tc = tcase_create("dialect");
  /* The oracle lives beside the checkout (CI keeps ../shared there); a
   * tarball's build (make distcheck) has no corpus and says so. */
  if (access(CORPUS, R_OK) == 0) {
    tcase_add_test(tc, golden_add_model);
    tcase_add_test(tc, golden_scalar_consts);
    tcase_add_test(tc, golden_constexpr_attributes);
  } else {
    fprintf(stderr, "test_dialect: %s absent: golden tests not run\n", CORPUS);
  }
  tcase_add_test(tc, dropped_const_refs_resolved);
  tcase_add_test(tc, dialect_per_target);
  tcase_add_test(tc, round_trip);
  tcase_add_test(tc, blockwise_channel_to_affine);
  tcase_add_test(tc, missing_formats_are_errors);
  tcase_add_test(tc, ios17_ops);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) { return ck_run(suite()); }
