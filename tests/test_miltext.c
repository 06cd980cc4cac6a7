/* test_miltext.c - the MIL text printer and parser against hand-written text
 * (FORMATS.md §2, the seed benchmark's MIL) and the real corpus. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check_main.h"
#include "mil.h"
#include "mileq.h"

#define CASES SRCDIR "/tests/cases/mil"
#define CORPUS SRCDIR "/../shared/mil-corpus"

/* ---- building aggregates by hand ------------------------------------------- */

static MilType *agg_type(MilProg *p, MilKind kind, int n, ...) {
  MilType *t = mil_alloc(p, sizeof *t);
  t->kind = kind;
  t->nsub = n;
  t->sub = mil_alloc(p, (size_t)n * sizeof *t->sub);
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++)
    t->sub[i] = va_arg(ap, MilType *);
  va_end(ap);
  return t;
}

static MilType *list_type(MilProg *p, MilType *elem, int64_t len) {
  MilType *t = agg_type(p, MIL_LIST, 1, elem);
  t->len = len;
  return t;
}

static MilValue *agg(MilProg *p, const MilType *t, int n, ...) {
  MilValue *v = mil_agg(p, t, n);
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; i++)
    v->items[i] = va_arg(ap, MilValue *);
  va_end(ap);
  return v;
}

static MilValue *ints1(MilProg *p, MilDtype dt, int n, const int64_t *data) {
  int64_t dim = n;
  return mil_tensor_i(p, dt, 1, &dim, data);
}

static void expect_text(const MilProg *p, const char *want) {
  char *got = mil_print_string(p);
  ck_assert_ptr_nonnull(got);
  ck_assert_str_eq(got, want);
  free(got);
}

/* ---- the seed's program, built the way anetc builds it --------------------- */

static const char *const build_info_13 =
    "[buildInfo = dict<string, string>({{\"coremlc-component-MIL\", \"3510.2.1\"}, "
    "{\"coremlc-version\", \"3505.4.1\"}, {\"coremltools-component-milinternal\", \"\"}, "
    "{\"coremltools-version\", \"9.0\"}})]\n";

static void add_build_info(MilProg *p) {
  MilType *s = mil_scalar_type(p, MIL_STRING);
  MilType *d = agg_type(p, MIL_DICT, 2, s, s);
  mil_prog_attr(p, "buildInfo",
                agg(p, d, 8, mil_scalar_s(p, "coremlc-component-MIL"), mil_scalar_s(p, "3510.2.1"),
                    mil_scalar_s(p, "coremlc-version"), mil_scalar_s(p, "3505.4.1"),
                    mil_scalar_s(p, "coremltools-component-milinternal"), mil_scalar_s(p, ""),
                    mil_scalar_s(p, "coremltools-version"), mil_scalar_s(p, "9.0")));
}

static void add_const(MilProg *p, MilFunc *f, const char *name, MilValue *v) {
  MilOp *op = mil_add_op(p, f, "const");
  mil_op_out(p, op, v->type, name);
  mil_op_attr(p, op, "val", v);     /* inserted before name: the printer sorts */
  mil_op_attr(p, op, "name", mil_scalar_s(p, name));
}

/* One conv layer of the seed: consts, a dequantized int8 weight, conv. */
static MilProg *seed_prog(const char *version) {
  MilProg *p = mil_new(version);
  add_build_info(p);
  MilFunc *f = mil_add_func(p, "main", "ios18");
  int64_t xd[] = {1, 512, 64, 64}, wd[] = {512, 512, 1, 1};
  mil_add_input(p, f, mil_tensor_type(p, MIL_FP16, 4, xd), "x");
  int64_t ones[] = {1, 1}, zeros[] = {0, 0, 0, 0};
  add_const(p, f, "c_pad_type_0", mil_scalar_s(p, "valid"));
  add_const(p, f, "c_strides_0", ints1(p, MIL_INT32, 2, ones));
  add_const(p, f, "c_pad_0", ints1(p, MIL_INT32, 4, zeros));
  add_const(p, f, "c_dilations_0", ints1(p, MIL_INT32, 2, ones));
  add_const(p, f, "c_groups_0", mil_scalar_i(p, MIL_INT32, 1));
  MilOp *w = mil_add_op(p, f, "constexpr_affine_dequantize");
  mil_op_out(p, w, mil_tensor_type(p, MIL_FP16, 4, wd), "W0");
  mil_op_attr(p, w, "zero_point", mil_scalar_i(p, MIL_INT8, 0));
  mil_op_attr(p, w, "scale", mil_scalar_f(p, MIL_FP16, 0.125));
  mil_op_attr(p, w, "quantized_data",
              mil_blob_value(p, mil_tensor_type(p, MIL_INT8, 4, wd),
                             "@model_path/weights/weight.bin", 64, -1));
  mil_op_attr(p, w, "name", mil_scalar_s(p, "W0"));
  mil_op_attr(p, w, "axis", mil_scalar_i(p, MIL_INT32, 0));
  MilOp *c = mil_add_op(p, f, "conv");
  mil_op_out(p, c, mil_tensor_type(p, MIL_FP16, 4, (int64_t[]){1, 512, 64, 64}), "c0");
  mil_op_ref(p, c, "x", "x");
  mil_op_ref(p, c, "weight", "W0");
  mil_op_ref(p, c, "strides", "c_strides_0");
  mil_op_ref(p, c, "pad_type", "c_pad_type_0");
  mil_op_ref(p, c, "pad", "c_pad_0");
  mil_op_ref(p, c, "groups", "c_groups_0");
  mil_op_ref(p, c, "dilations", "c_dilations_0");
  mil_op_attr(p, c, "name", mil_scalar_s(p, "c0"));
  mil_add_output(p, f, "c0");
  return p;
}

/* The seed's text (inmem_peak_int8.m, genMILInt8 with ch 512, sp 64,
 * depth 1), with our indentation: ops at 8 spaces, "} -> (...)" at 4. */
START_TEST(print_seed_compact) {
  MilProg *p = seed_prog("1.3");
  char want[4096];
  snprintf(want, sizeof want, "%s%s%s", "program(1.3)\n", build_info_13,
           "{\n"
           "    func main<ios18>(tensor<fp16, [1, 512, 64, 64]> x) {\n"
           "        string c_pad_type_0 = const()[name = string(\"c_pad_type_0\"), val = string(\"valid\")];\n"
           "        tensor<int32, [2]> c_strides_0 = const()[name = string(\"c_strides_0\"), val = tensor<int32, [2]>([1, 1])];\n"
           "        tensor<int32, [4]> c_pad_0 = const()[name = string(\"c_pad_0\"), val = tensor<int32, [4]>([0, 0, 0, 0])];\n"
           "        tensor<int32, [2]> c_dilations_0 = const()[name = string(\"c_dilations_0\"), val = tensor<int32, [2]>([1, 1])];\n"
           "        int32 c_groups_0 = const()[name = string(\"c_groups_0\"), val = int32(1)];\n"
           "        tensor<fp16, [512, 512, 1, 1]> W0 = constexpr_affine_dequantize()[axis = int32(0), name = string(\"W0\"), "
           "quantized_data = tensor<int8, [512, 512, 1, 1]>(BLOBFILE(path = string(\"@model_path/weights/weight.bin\"), offset = uint64(64))), "
           "scale = fp16(0x1p-3), zero_point = int8(0)];\n"
           "        tensor<fp16, [1, 512, 64, 64]> c0 = conv(dilations = c_dilations_0, groups = c_groups_0, pad = c_pad_0, "
           "pad_type = c_pad_type_0, strides = c_strides_0, weight = W0, x = x)[name = string(\"c0\")];\n"
           "    } -> (c0);\n"
           "}\n");
  expect_text(p, want);
  mil_free(p);
}
END_TEST

/* The same program in program(1.0): every scalar is tensor<T, []>
 * (FORMATS.md §2.1 table). */
START_TEST(print_seed_verbose) {
  MilProg *p = seed_prog("1.0");
  const char *want =
      "program(1.0)\n"
      "[buildInfo = dict<tensor<string, []>, tensor<string, []>>({{\"coremlc-component-MIL\", \"3510.2.1\"}, "
      "{\"coremlc-version\", \"3505.4.1\"}, {\"coremltools-component-milinternal\", \"\"}, "
      "{\"coremltools-version\", \"9.0\"}})]\n"
      "{\n"
      "    func main<ios18>(tensor<fp16, [1, 512, 64, 64]> x) {\n"
      "        tensor<string, []> c_pad_type_0 = const()[name = tensor<string, []>(\"c_pad_type_0\"), val = tensor<string, []>(\"valid\")];\n"
      "        tensor<int32, [2]> c_strides_0 = const()[name = tensor<string, []>(\"c_strides_0\"), val = tensor<int32, [2]>([1, 1])];\n"
      "        tensor<int32, [4]> c_pad_0 = const()[name = tensor<string, []>(\"c_pad_0\"), val = tensor<int32, [4]>([0, 0, 0, 0])];\n"
      "        tensor<int32, [2]> c_dilations_0 = const()[name = tensor<string, []>(\"c_dilations_0\"), val = tensor<int32, [2]>([1, 1])];\n"
      "        tensor<int32, []> c_groups_0 = const()[name = tensor<string, []>(\"c_groups_0\"), val = tensor<int32, []>(1)];\n"
      "        tensor<fp16, [512, 512, 1, 1]> W0 = constexpr_affine_dequantize()[axis = tensor<int32, []>(0), name = tensor<string, []>(\"W0\"), "
      "quantized_data = tensor<int8, [512, 512, 1, 1]>(BLOBFILE(path = tensor<string, []>(\"@model_path/weights/weight.bin\"), offset = tensor<uint64, []>(64))), "
      "scale = tensor<fp16, []>(0x1p-3), zero_point = tensor<int8, []>(0)];\n"
      "        tensor<fp16, [1, 512, 64, 64]> c0 = conv(dilations = c_dilations_0, groups = c_groups_0, pad = c_pad_0, "
      "pad_type = c_pad_type_0, strides = c_strides_0, weight = W0, x = x)[name = tensor<string, []>(\"c0\")];\n"
      "    } -> (c0);\n"
      "}\n";
  expect_text(p, want);
  mil_free(p);
}
END_TEST

/* A one-statement program around a value, to look at the value's text. */
static MilProg *const_prog(const char *version, MilValue *(*mk)(MilProg *)) {
  MilProg *p = mil_new(version);
  MilFunc *f = mil_add_func(p, "main", "ios18");
  MilValue *v = mk(p);
  MilOp *op = mil_add_op(p, f, "const");
  mil_op_out(p, op, v->type, "v");
  mil_op_attr(p, op, "val", v);
  mil_add_output(p, f, "v");
  return p;
}

static void expect_const(MilValue *(*mk)(MilProg *), const char *type, const char *value) {
  MilProg *p = const_prog("1.3", mk);
  char want[1024];
  snprintf(want, sizeof want,
           "program(1.3)\n{\n    func main<ios18>() {\n        %s v = const()[val = %s];\n"
           "    } -> (v);\n}\n", type, value);
  expect_text(p, want);
  mil_free(p);
}

/* Values from FORMATS.md §2.3: 0.125, 0, -10000, fp16(1e-5), and the
 * non-finite spellings; -0 keeps its sign. */
static MilValue *mk_floats(MilProg *p) {
  double d[] = {0.125, 0.0, -10000.0, 1.0013580322265625e-05, INFINITY, -INFINITY, NAN, -0.0};
  int64_t n = 8;
  return mil_tensor_f(p, MIL_FP32, 1, &n, d);
}

START_TEST(print_floats) {
  expect_const(mk_floats, "tensor<fp32, [8]>",
               "tensor<fp32, [8]>([0x1p-3, 0x0p+0, -0x1.388p+13, 0x1.5p-17, inf, -inf, nan, -0x0p+0])");
}
END_TEST

static MilValue *mk_matrix(MilProg *p) {
  int64_t d[] = {2, 2}, v[] = {1, 2, 3, -4};
  return mil_tensor_i(p, MIL_INT32, 2, d, v);
}

static MilValue *mk_bools(MilProg *p) {
  int64_t d[] = {1, 2, 2}, v[] = {1, 1, 0, 1};
  return mil_tensor_i(p, MIL_BOOL, 3, d, v);
}

static MilValue *mk_empty_rows(MilProg *p) {
  int64_t d[] = {2, 0}, none[1] = {0};
  return mil_tensor_i(p, MIL_INT32, 2, d, none);
}

static MilValue *mk_u64(MilProg *p) { return mil_scalar_i(p, MIL_UINT64, -1); }
static MilValue *mk_neg_scalar(MilProg *p) { return mil_scalar_f(p, MIL_FP16, -0.5); }
static MilValue *mk_bool_scalar(MilProg *p) { return mil_scalar_i(p, MIL_BOOL, 0); }
static MilValue *mk_escaped(MilProg *p) { return mil_scalar_s(p, "a\"b\\c"); }

START_TEST(print_tensors) {
  expect_const(mk_matrix, "tensor<int32, [2, 2]>", "tensor<int32, [2, 2]>([[1, 2], [3, -4]])");
  expect_const(mk_bools, "tensor<bool, [1, 2, 2]>",
               "tensor<bool, [1, 2, 2]>([[[true, true], [false, true]]])");
  expect_const(mk_empty_rows, "tensor<int32, [2, 0]>", "tensor<int32, [2, 0]>([[], []])");
  expect_const(mk_u64, "uint64", "uint64(18446744073709551615)");
  expect_const(mk_neg_scalar, "fp16", "fp16(-0x1p-1)");
  expect_const(mk_bool_scalar, "bool", "bool(false)");
  expect_const(mk_escaped, "string", "string(\"a\\\"b\\\\c\")");
}
END_TEST

START_TEST(print_verbose_scalar) {
  MilProg *p = const_prog("1.0", mk_neg_scalar);
  expect_text(p, "program(1.0)\n{\n    func main<ios18>() {\n"
                 "        tensor<fp16, []> v = const()[val = tensor<fp16, []>(-0x1p-1)];\n"
                 "    } -> (v);\n}\n");
  mil_free(p);
}
END_TEST

/* Multi-output statements, variadic inputs, inline values, an op without
 * attributes (FORMATS.md §2.4), two functions, a state input (§2.5). */
START_TEST(print_statements) {
  MilProg *p = mil_new("1.3");
  MilFunc *f = mil_add_func(p, "main", "ios18");
  int64_t xd[] = {1, 4}, hd[] = {1, 2};
  MilType *h = mil_tensor_type(p, MIL_FP16, 2, hd);
  mil_add_input(p, f, mil_tensor_type(p, MIL_FP16, 2, xd), "x");
  MilOp *s = mil_add_op(p, f, "split");
  mil_op_out(p, s, h, "a");
  mil_op_out(p, s, h, "b");
  mil_op_ref(p, s, "x", "x");
  mil_op_val(p, s, "num_splits", mil_scalar_i(p, MIL_INT32, 2));
  mil_op_val(p, s, "axis", mil_scalar_i(p, MIL_INT32, 1));
  MilOp *c = mil_add_op(p, f, "concat");
  mil_op_out(p, c, mil_tensor_type(p, MIL_FP16, 2, xd), "y");
  MilBind *items = mil_alloc(p, 2 * sizeof *items);
  items[0] = (MilBind){.kind = MIL_BREF, .ref = "b"};
  items[1] = (MilBind){.kind = MIL_BREF, .ref = "a"};
  MilArg va = {"values", {.kind = MIL_BLIST, .nitems = 2, .items = items}};
  mil_op_val(p, c, "interleave", mil_scalar_i(p, MIL_BOOL, 0));
  c->args = memcpy(mil_alloc(p, 3 * sizeof *c->args), c->args, sizeof *c->args);
  c->args[c->nargs++] = va;
  mil_op_val(p, c, "axis", mil_scalar_i(p, MIL_INT32, 1));
  mil_add_output(p, f, "y");
  mil_add_output(p, f, "a");
  MilFunc *g = mil_add_func(p, "step", "ios18");
  MilType *st = agg_type(p, MIL_STATE, 1, h);
  mil_add_input(p, g, st, "k_state");
  MilOp *r = mil_add_op(p, g, "read_state");
  mil_op_out(p, r, h, "k");
  mil_op_ref(p, r, "input", "k_state");
  mil_op_attr(p, r, "name", mil_scalar_s(p, "k"));
  mil_add_output(p, g, "k");
  expect_text(p,
              "program(1.3)\n{\n"
              "    func main<ios18>(tensor<fp16, [1, 4]> x) {\n"
              "        tensor<fp16, [1, 2]> a, tensor<fp16, [1, 2]> b = split(axis = int32(1), num_splits = int32(2), x = x);\n"
              "        tensor<fp16, [1, 4]> y = concat(axis = int32(1), interleave = bool(false), values = (b, a));\n"
              "    } -> (y, a);\n"
              "    func step<ios18>(state<tensor<fp16, [1, 2]>> k_state) {\n"
              "        tensor<fp16, [1, 2]> k = read_state(input = k_state)[name = string(\"k\")];\n"
              "    } -> (k);\n"
              "}\n");
  mil_free(p);
}
END_TEST

/* The FlexibleShapeInformation attribute of
 * mil-corpus/mlmodelc-export-flexible-weighted-legacy (FORMATS.md §2.3). */
static MilValue *flexible_info(MilProg *p) {
  MilType *s = mil_scalar_type(p, MIL_STRING);
  int64_t any = MIL_DIM_ANY, two = 2;
  MilType *ti = mil_tensor_type(p, MIL_INT32, 1, &any);
  MilType *t2 = mil_tensor_type(p, MIL_INT32, 1, &two);
  MilType *l2 = list_type(p, t2, MIL_DIM_ANY);
  MilType *d1 = agg_type(p, MIL_DICT, 2, s, ti), *d2 = agg_type(p, MIL_DICT, 2, s, l2);
  MilType *u1 = agg_type(p, MIL_TUPLE, 2, s, d1), *u2 = agg_type(p, MIL_TUPLE, 2, s, d2);
  MilType *top = agg_type(p, MIL_TUPLE, 2, u1, u2);
  int64_t def[] = {1, 4}, r0[] = {1, 4}, r1[] = {4, 4};
  MilValue *dv = agg(p, d1, 2, mil_scalar_s(p, "input"), ints1(p, MIL_INT32, 2, def));
  MilValue *lv = agg(p, l2, 2, ints1(p, MIL_INT32, 2, r0), ints1(p, MIL_INT32, 2, r1));
  MilValue *rv = agg(p, d2, 2, mil_scalar_s(p, "input"), lv);
  return agg(p, top, 2, agg(p, u1, 2, mil_scalar_s(p, "DefaultShapes"), dv),
             agg(p, u2, 2, mil_scalar_s(p, "RangeDims"), rv));
}

START_TEST(print_function_attrs) {
  MilProg *p = mil_new("1.3");
  MilFunc *f = mil_add_func(p, "main", "ios17");
  int64_t d[] = {MIL_DIM_ANY, 4};
  MilType *t = mil_tensor_type(p, MIL_FP32, 2, d);
  mil_add_input(p, f, t, "input");
  MilAttr a = {"FlexibleShapeInformation", flexible_info(p)};
  f->attrs = &a;
  f->nattrs = 1;
  MilOp *op = mil_add_op(p, f, "relu");
  mil_op_out(p, op, t, "output");
  mil_op_ref(p, op, "x", "input");
  mil_add_output(p, f, "output");
  expect_text(p,
              "program(1.3)\n{\n"
              "    func main<ios17>(tensor<fp32, [?, 4]> input) [FlexibleShapeInformation = "
              "tuple<tuple<string, dict<string, tensor<int32, [?]>>>, tuple<string, dict<string, "
              "list<tensor<int32, [2]>, ?>>>>(((\"DefaultShapes\", {{\"input\", [1, 4]}}), "
              "(\"RangeDims\", {{\"input\", [[1, 4], [4, 4]]}})))] {\n"
              "        tensor<fp32, [?, 4]> output = relu(x = input);\n"
              "    } -> (output);\n"
              "}\n");
  mil_free(p);
}
END_TEST

/* ---- parsing ---------------------------------------------------------------- */

/* Parses text; the diagnostics land in *msgs (malloc'd) when asked for. */
static MilProg *parse_text(const char *name, const char *text, size_t len, char **msgs) {
  char *buf = NULL;
  size_t blen = 0;
  FILE *out = open_memstream(&buf, &blen);
  ck_assert_ptr_nonnull(out);
  Diag d = {out, 0};
  Src src = {name, text, len};
  MilProg *p = mil_parse(&src, &d);
  fclose(out);
  ck_assert_int_eq(p == NULL, d.nerrors > 0);
  if (msgs)
    *msgs = buf;
  else
    free(buf);
  return p;
}

static MilProg *parse_ok(const char *text) {
  char *msgs;
  MilProg *p = parse_text("t.mil", text, strlen(text), &msgs);
  ck_assert_msg(p != NULL, "parse failed:\n%s", msgs);
  free(msgs);
  return p;
}

static char *slurp(const char *path, size_t *len) {
  Diag d = diag_stderr();
  Src src;
  ck_assert_int_eq(src_read_file(&src, path, 1 << 26, &d), 0);
  *len = src.len;
  return (char *)src.text;
}

static const MilOp *find_op(const MilFunc *f, const char *out) {
  for (int i = 0; i < f->nops; i++)
    if (f->ops[i].nouts && strcmp(f->ops[i].outs[0].name, out) == 0)
      return &f->ops[i];
  ck_abort_msg("no op defines %s", out);
  return NULL;
}

static const MilValue *attr_val(const MilOp *op, const char *name) {
  const MilAttr *a = mil_op_attr_get(op, name);
  ck_assert_msg(a != NULL, "no attribute %s", name);
  return a->val;
}

static const char *ref_of(const MilOp *op, const char *arg) {
  const MilArg *a = mil_op_arg(op, arg);
  ck_assert_msg(a && a->bind.kind == MIL_BREF, "argument %s is not a reference", arg);
  return a->bind.ref;
}

/* The seed's own text (two layers): what the generator wrote, read back. */
START_TEST(parse_seed_file) {
  size_t len;
  char *text = slurp(CASES "/seed-w8a8.mil", &len);
  MilProg *p = parse_text("seed-w8a8.mil", text, len, NULL);
  ck_assert_ptr_nonnull(p);
  ck_assert_str_eq(p->version, "1.3");
  ck_assert_int_eq(p->nattrs, 1);
  ck_assert_str_eq(p->attrs[0].name, "buildInfo");
  const MilValue *bi = p->attrs[0].val;
  ck_assert_int_eq(bi->type->kind, MIL_DICT);
  ck_assert_int_eq(bi->nitems, 8);
  ck_assert_str_eq(bi->items[6]->s[0], "coremltools-version");
  ck_assert_str_eq(bi->items[7]->s[0], "9.0");
  ck_assert_int_eq(p->nfuncs, 1);
  const MilFunc *f = &p->funcs[0];
  ck_assert_str_eq(f->name, "main");
  ck_assert_str_eq(f->opset, "ios18");
  ck_assert_int_eq(f->ninputs, 1);
  ck_assert_int_eq(f->inputs[0].type->rank, 4);
  ck_assert_int_eq(f->inputs[0].type->dim[1], 64);
  ck_assert_int_eq(f->nops, 14);
  const MilValue *q = attr_val(find_op(f, "W1"), "quantized_data");
  ck_assert_int_eq(q->kind, MIL_VBLOB);
  ck_assert_int_eq(q->type->dtype, MIL_INT8);
  ck_assert_str_eq(q->blob_path, "@model_path/weights/weight.bin");
  ck_assert_uint_eq(q->blob_offset, 64 + 64 + 64 * 64);
  ck_assert_int_eq(q->n, 64 * 64);
  const MilValue *sc = attr_val(find_op(f, "W1"), "scale");
  ck_assert_int_eq(sc->type->dtype, MIL_FP16);
  ck_assert(sc->f[0] == 0.125);
  const MilOp *q0 = find_op(f, "q0");
  ck_assert_str_eq(q0->op, "quantize");
  ck_assert_str_eq(ref_of(q0, "input"), "c0");
  ck_assert_str_eq(ref_of(q0, "output_dtype"), "q_dtype");
  ck_assert_str_eq(ref_of(find_op(f, "c1"), "x"), "dq0");
  ck_assert_int_eq(find_op(f, "c_pad_0")->loc.start, (size_t)(strstr(text, " tensor<int32, [4]> c_pad_0") + 1 - text));
  ck_assert_int_eq(f->noutputs, 1);
  ck_assert_str_eq(f->outputs[0], "c1");
  ck_assert_ptr_eq(p->src->text, text);
  mil_free(p);
  free(text);
}
END_TEST

/* A built program read back from its text is the same program, and the
 * verbose spelling of it reads to the same IR as the compact one. */
START_TEST(parse_built_program) {
  MilProg *built = seed_prog("1.3");
  char *t1 = mil_print_string(built);
  MilProg *p = parse_ok(t1);
  ck_assert(mil_prog_eq(built, p));
  char *t2 = mil_print_string(p);
  ck_assert_str_eq(t1, t2);
  MilProg *vb = seed_prog("1.0");
  char *tv = mil_print_string(vb);
  MilProg *pv = parse_ok(tv);
  ck_assert(!mil_prog_eq(p, pv));     /* only the version differs ... */
  pv->version = p->version;
  ck_assert(mil_prog_eq(p, pv));      /* ... and then nothing does */
  free(t1), free(t2), free(tv);
  mil_free(built), mil_free(p), mil_free(vb), mil_free(pv);
}
END_TEST

static const char *const values_text =
    "program(1.0)\n"
    "{\n"
    "  func main<ios16>(tensor<fp32, [?, 3]> x, state<tensor<fp16, [2]>> st) [note = tensor<string, []>(\"hi\")] {\n"
    "    tensor<fp32, [4]> a = const()[val = tensor<fp32, [4]>([0.5, -1e-3, -inf, 0x1.8p+1])];\n"
    "    tensor<int32, [?]> b = const()[val = tensor<int32, [?]>([1, 2, 3])];\n"
    "    list<tensor<int32, [2]>, ?> l = const()[val = list<tensor<int32, [2]>, ?>([[1, 2], [3, 4]])];\n"
    "    tensor<uint64, []> u = const()[val = tensor<uint64, []>(18446744073709551615)];\n"
    "    tensor<int8, [2]> n = const()[val = tensor<int8, [2]>([-128, 127])];\n"
    "    tensor<fp16, [2]> r = read_state(input = st);\n"
    "    // a comment\n"
    "    tensor<fp16, [4]> c = concat(values = (r, r), axis = tensor<int32, []>(0), interleave = tensor<bool, []>(false));\n"
    "    tensor<string, [1, 2]> s = const()[val = tensor<string, [1, 2]>([[\"a\\\"b\", \"\\\\\"]])];\n"
    "  } -> (c, a);\n"
    "}\n";

/* Every kind of value in the verbose dialect, checked field by field. */
START_TEST(parse_values) {
  MilProg *p = parse_ok(values_text);
  const MilFunc *f = &p->funcs[0];
  ck_assert_int_eq(f->inputs[0].type->dim[0], MIL_DIM_ANY);
  ck_assert_int_eq(f->inputs[1].type->kind, MIL_STATE);
  ck_assert_int_eq(f->inputs[1].type->sub[0]->dtype, MIL_FP16);
  ck_assert_int_eq(f->nattrs, 1);
  ck_assert_str_eq(f->attrs[0].val->s[0], "hi");
  const MilValue *a = attr_val(find_op(f, "a"), "val");
  ck_assert(a->f[0] == 0.5 && a->f[1] == -1e-3 && a->f[2] == -INFINITY && a->f[3] == 3.0);
  const MilValue *b = attr_val(find_op(f, "b"), "val");
  ck_assert_int_eq(b->type->dim[0], 3);     /* '?' takes the literal's length */
  ck_assert_int_eq(b->n, 3);
  ck_assert_int_eq(b->i[2], 3);
  const MilValue *l = attr_val(find_op(f, "l"), "val");
  ck_assert_int_eq(l->kind, MIL_VAGG);
  ck_assert_int_eq(l->nitems, 2);
  ck_assert_int_eq(l->items[1]->i[0], 3);
  ck_assert_uint_eq((uint64_t)attr_val(find_op(f, "u"), "val")->i[0], UINT64_MAX);
  const MilValue *n = attr_val(find_op(f, "n"), "val");
  ck_assert(n->i[0] == -128 && n->i[1] == 127);
  const MilArg *v = mil_op_arg(find_op(f, "c"), "values");
  ck_assert_int_eq(v->bind.kind, MIL_BLIST);
  ck_assert_int_eq(v->bind.nitems, 2);
  ck_assert_str_eq(v->bind.items[1].ref, "r");
  const MilValue *s = attr_val(find_op(f, "s"), "val");
  ck_assert_str_eq(s->s[0], "a\"b");
  ck_assert_str_eq(s->s[1], "\\");
  char *text = mil_print_string(p);
  ck_assert_str_eq(text,
      "program(1.0)\n"
      "{\n"
      "    func main<ios16>(tensor<fp32, [?, 3]> x, state<tensor<fp16, [2]>> st) [note = tensor<string, []>(\"hi\")] {\n"
      "        tensor<fp32, [4]> a = const()[val = tensor<fp32, [4]>([0x1p-1, -0x1.0624dd2f1a9fcp-10, -inf, 0x1.8p+1])];\n"
      "        tensor<int32, [?]> b = const()[val = tensor<int32, [3]>([1, 2, 3])];\n"
      "        list<tensor<int32, [2]>, ?> l = const()[val = list<tensor<int32, [2]>, ?>([[1, 2], [3, 4]])];\n"
      "        tensor<uint64, []> u = const()[val = tensor<uint64, []>(18446744073709551615)];\n"
      "        tensor<int8, [2]> n = const()[val = tensor<int8, [2]>([-128, 127])];\n"
      "        tensor<fp16, [2]> r = read_state(input = st);\n"
      "        tensor<fp16, [4]> c = concat(axis = tensor<int32, []>(0), interleave = tensor<bool, []>(false), values = (r, r));\n"
      "        tensor<string, [1, 2]> s = const()[val = tensor<string, [1, 2]>([[\"a\\\"b\", \"\\\\\"]])];\n"
      "    } -> (c, a);\n"
      "}\n");
  free(text);
  mil_free(p);
}
END_TEST

/* A state update as coremltools writes it (FORMATS.md §2.5: write_state +
 * read_state): the op without outputs is written without "... =". */
START_TEST(parse_no_outputs) {
  size_t len;
  char *text = slurp(CASES "/state-update.mil", &len);
  MilProg *p = parse_text("state-update.mil", text, len, NULL);
  ck_assert_ptr_nonnull(p);
  const MilFunc *f = &p->funcs[0];
  ck_assert_int_eq(f->nops, 4);
  const MilOp *w = &f->ops[2];
  ck_assert_str_eq(w->op, "write_state");
  ck_assert_int_eq(w->nouts, 0);
  ck_assert_int_eq(w->nargs, 2);
  ck_assert_str_eq(ref_of(w, "data"), "k_new");
  ck_assert_str_eq(ref_of(w, "input"), "k_cache");
  ck_assert_str_eq(attr_val(w, "name")->s[0], "w");
  ck_assert_int_eq(w->loc.start, (size_t)(strstr(text, "write_state") - text));
  ck_assert_str_eq(ref_of(find_op(f, "k_now"), "input"), "k_cache");
  /* The file is in the printer's canonical form already. */
  char *t1 = mil_print_string(p);
  ck_assert_str_eq(t1, text);
  MilProg *q = parse_ok(t1);
  ck_assert(mil_prog_eq(p, q));
  q->funcs[0].ops[2].nouts = 1;       /* an output more is a different program */
  q->funcs[0].ops[2].outs = q->funcs[0].ops[1].outs;
  ck_assert(!mil_prog_eq(p, q));
  free(t1), free(text);
  mil_free(p), mil_free(q);
}
END_TEST

/* Built with the IR API: an op given no outputs prints as a bare call. */
START_TEST(print_no_outputs) {
  MilProg *p = mil_new("1.3");
  MilFunc *f = mil_add_func(p, "main", "ios18");
  int64_t dims[] = {2};
  MilType *t = mil_tensor_type(p, MIL_FP16, 1, dims);
  MilType *st = agg_type(p, MIL_STATE, 1, t);
  mil_add_input(p, f, st, "s");
  mil_add_input(p, f, t, "d");
  MilOp *op = mil_add_op(p, f, "write_state");
  mil_op_ref(p, op, "input", "s");
  mil_op_ref(p, op, "data", "d");
  mil_op_attr(p, op, "name", mil_scalar_s(p, "w"));
  mil_add_output(p, f, "d");
  const char *want = "program(1.3)\n"
                     "{\n"
                     "    func main<ios18>(state<tensor<fp16, [2]>> s, tensor<fp16, [2]> d) {\n"
                     "        write_state(data = d, input = s)[name = string(\"w\")];\n"
                     "    } -> (d);\n"
                     "}\n";
  expect_text(p, want);
  MilProg *q = parse_ok(want);
  ck_assert(mil_prog_eq(p, q));
  mil_free(p), mil_free(q);
}
END_TEST

/* (x,) is Python's one-element tuple: read as (x), printed as (x). */
START_TEST(parse_tuple_comma) {
  size_t len;
  char *text = slurp(CASES "/tuple-comma.mil", &len);
  MilProg *p = parse_text("tuple-comma.mil", text, len, NULL);
  ck_assert_ptr_nonnull(p);
  const MilFunc *f = &p->funcs[0];
  ck_assert_int_eq(f->nattrs, 2);
  const MilValue *pairs = f->attrs[0].val;
  ck_assert_str_eq(f->attrs[0].name, "pairs");
  ck_assert_int_eq(pairs->nitems, 1);
  ck_assert_int_eq(pairs->items[0]->nitems, 2);
  ck_assert_int_eq(pairs->items[0]->items[0]->i[0], 1);
  ck_assert_int_eq(pairs->items[0]->items[1]->i[0], 2);
  ck_assert_str_eq(f->attrs[1].val->items[0]->s[0], "a");
  const MilValue *spec = attr_val(find_op(f, "y"), "spec");
  ck_assert_int_eq(spec->nitems, 2);
  ck_assert(spec->items[0]->f[0] == 0.5);
  ck_assert_int_eq(spec->items[1]->nitems, 1);
  ck_assert_int_eq(spec->items[1]->items[0]->i[0], 1);
  char *t1 = mil_print_string(p);
  ck_assert_str_eq(t1,
      "program(1.3)\n"
      "{\n"
      "    func main<ios18>(fp16 x) [one = tuple<string>((\"a\")), "
      "pairs = tuple<tuple<int32, int32>>(((1, 2)))] {\n"
      "        fp16 y = relu(x = x)[name = string(\"y\"), "
      "spec = tuple<fp16, tuple<bool>>((0x1p-1, (true)))];\n"
      "    } -> (y);\n"
      "}\n");
  MilProg *q = parse_ok(t1);
  ck_assert(mil_prog_eq(p, q));
  char *t2 = mil_print_string(q);
  ck_assert_str_eq(t1, t2);
  free(t1), free(t2), free(text);
  mil_free(p), mil_free(q);
}
END_TEST

/* A tensor type reads the same however it is spaced, with a comment
 * inside or not (the scanner takes the common spelling as one token, the
 * grammar the rest), and equal types are one MilType. */
START_TEST(parse_type_spellings) {
  MilProg *p = parse_ok("program(1.3) { func main<ios18>(tensor<fp16, [?, 3]> a, "
                        "state<tensor<fp16,[?,3]>> b, tensor < fp16 , [ ? , 3 ] > c, "
                        "tensor<fp16, // a comment\n [?, 3]> d, tensor<int8, []> e, "
                        "tensor<fp16, [2, 1, 1, 1, 1, 1, 1, 1]> f) {} -> (a); }");
  const MilFunc *f = &p->funcs[0];
  const MilType *a = f->inputs[0].type;
  ck_assert_int_eq(a->kind, MIL_TENSOR);
  ck_assert_int_eq(a->dtype, MIL_FP16);
  ck_assert_int_eq(a->rank, 2);
  ck_assert_int_eq(a->dim[0], MIL_DIM_ANY);
  ck_assert_int_eq(a->dim[1], 3);
  ck_assert_ptr_eq(f->inputs[1].type->sub[0], a);
  ck_assert_ptr_eq(f->inputs[2].type, a);
  ck_assert_ptr_eq(f->inputs[3].type, a);
  ck_assert_int_eq(f->inputs[4].type->rank, 0);
  ck_assert_int_eq(f->inputs[4].type->dtype, MIL_INT8);
  ck_assert_int_eq(f->inputs[5].type->rank, 8);
  ck_assert_int_eq(f->inputs[5].type->dim[0], 2);
  mil_free(p);
}
END_TEST

/* Two functions; names are per function, so both may use "x". The few
 * keywords and the type words may name values too. */
START_TEST(parse_two_functions) {
  MilProg *p = parse_ok("program(1.3) { func a<ios18>(fp16 x) { fp16 y = relu(x = x); } -> (y);\n"
                        "func b<ios18>(fp16 x) {} -> (x);\n"
                        "func c<ios18>(fp16 program, fp16 list) { fp16 BLOBFILE = add(x = program, "
                        "y = list); fp16 func = relu(x = BLOBFILE); } -> (func); }");
  ck_assert_int_eq(p->nfuncs, 3);
  ck_assert_str_eq(ref_of(&p->funcs[2].ops[1], "x"), "BLOBFILE");
  ck_assert_str_eq(p->funcs[1].name, "b");
  ck_assert_int_eq(p->funcs[1].nops, 0);
  ck_assert_str_eq(p->funcs[1].outputs[0], "x");
  mil_free(p);
}
END_TEST

/* string("...") is read whole when it needs no decoding, the long way
 * when it does; both give the same values and locate errors alike. */
START_TEST(parse_string_values) {
  MilProg *p = parse_ok("program(1.3) { func main<ios18>(fp16 x) {\n"
                        "  string a = const()[name = string(\"a\"), val = string ( \"two words\"\n )];\n"
                        "  string b = const()[name = string(\"b\"), val = string(\"q\\\"t\\\\\")];\n"
                        "  string c = const()[name = string(\"c\"), val = string(\"\xc3\xa9\")];\n"
                        "} -> (x); }");
  const MilFunc *f = &p->funcs[0];
  ck_assert_str_eq(attr_val(&f->ops[0], "val")->s[0], "two words");
  ck_assert_str_eq(attr_val(&f->ops[1], "val")->s[0], "q\"t\\");
  ck_assert_str_eq(attr_val(&f->ops[2], "val")->s[0], "\xc3\xa9");
  const MilValue *n = attr_val(&f->ops[1], "name");
  ck_assert_int_eq(n->type->kind, MIL_TENSOR);
  ck_assert_int_eq(n->type->dtype, MIL_STRING);
  ck_assert_int_eq(n->type->rank, 0);
  ck_assert_int_eq(n->n, 1);
  ck_assert_ptr_eq(n->s[0], f->ops[1].outs[0].name);     /* interned: one copy */
  mil_free(p);
  static const struct { const char *text, *want; } bad[] = {
    {"program(1.3) { func main<ios18>(fp16 x) {\n"
     "  string a = const()[name = string(\"a\\q\")];\n} -> (x); }",
     "t.mil:2:38: error: unknown escape in string"},
    {"program(1.3) { func main<ios18>(fp16 x) {\n"
     "  string a = const()[name = string(\"a\")  val = string(\"b\")];\n} -> (x); }",
     "t.mil:2:42: error: expected ']' or ',', found 'val'"},
    {"program(1.3) { func main<ios18>(fp16 x) {\n"
     "  string a = const()[name = string(\"a\")]  ;\n  string a = const();\n} -> (x); }",
     "t.mil:3:10: error: 'a' defined twice"},
  };
  /* each byte the whole-token path must leave to the long way, at each
   * place of a 17-byte string: the long way's error, or its decoding */
  for (int at = 0; at < 17; at++) {
    static const struct { const char *put, *want; } odd[] = {
      {"\x01", "control byte 0x01 in string"}, {"\x7f", "control byte 0x7f in string"},
      {"\x1f", "control byte 0x1f in string"}, {"\\q", "unknown escape in string"},
      {"\\n", NULL}, {"\xc3\xa9", NULL}, {" ", NULL}, {"~", NULL},
    };
    for (size_t k = 0; k < sizeof odd / sizeof *odd; k++) {
      char str[64], text[256], *msgs;
      snprintf(str, sizeof str, "%.*s%s%.*s", at, "abcdefghijklmnopq", odd[k].put, 16 - at,
               "ABCDEFGHIJKLMNOPQ");
      snprintf(text, sizeof text, "program(1.3) { func main<ios18>(fp16 x) {\n"
               "  string a = const()[name = string(\"%s\")];\n} -> (x); }", str);
      MilProg *q = parse_text("t.mil", text, strlen(text), &msgs);
      if (odd[k].want) {
        ck_assert_msg(!q && strstr(msgs, odd[k].want), "%s: %s", str, msgs);
      } else {
        ck_assert_msg(q != NULL, "%s: %s", str, msgs);
        const char *got = attr_val(&q->funcs[0].ops[0], "name")->s[0];
        ck_assert_int_eq(strlen(got), 16 + (odd[k].put[0] == '\\' ? 1 : strlen(odd[k].put)));
        ck_assert(strncmp(got, str, (size_t)at) == 0);
        ck_assert_int_eq(got[at], odd[k].put[0] == '\\' ? '\n' : odd[k].put[0]);
        mil_free(q);
      }
      free(msgs);
    }
  }
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char *msgs;
    ck_assert_ptr_null(parse_text("t.mil", bad[i].text, strlen(bad[i].text), &msgs));
    ck_assert_msg(strncmp(msgs, bad[i].want, strlen(bad[i].want)) == 0, "want %s\ngot %s",
                  bad[i].want, msgs);
    free(msgs);
  }
}
END_TEST

/* The scanner never backs up: a long pattern cut short (a tensor type,
 * string(...), a number's exponent, -inf) gives the shorter tokens it
 * starts with, and the grammar says what is wrong after them. */
START_TEST(scan_cut_short) {
  static const struct { const char *stmt, *want; } cases[] = {
    {"tensor<fp16, [1, ]> y = relu(x = x);", "4:18: error: expected integer or '?', found ']'"},
    {"tensor<fp16 [1]> y = relu(x = x);", "4:13: error: expected ',', '<' or '>', found '['"},
    {"int32 y = const()[val = int32(0x)];", "4:32: error: expected ')', found 'x'"},
    {"fp16 y = const()[val = fp16(0x1e2p-)];", "4:34: error: expected ')', found 'p'"},
    {"fp16 y = const()[val = fp16(1e+)];", "4:30: error: expected ')', found 'e'"},
    {"fp16 y = const()[val = fp16(-1.5E)];", "4:33: error: expected ')', found 'E'"},
    {"fp16 y = const()[val = fp16(-in)];", "4:29: error: unexpected character '-'"},
    {"fp16 y = const()[val = fp16(-.)];", "4:29: error: unexpected character '-'"},
    {"fp16 y = const()[name = string(x)];", "4:32: error: expected a string, found 'x'"},
    {"fp16 y = const()[name = string(\"y\" , 1)];", "4:36: error: expected ')', found ','"},
    /* string("...") where "string" is not a type: an op's, an attribute's name */
    {"fp16 y = string(\"a\");",
     "4:17: error: expected identifier, program, func, BLOBFILE or ')', found '\"a\"'"},
    {"fp16 y = const()[string(\"a\") = string(\"b\")];", "4:24: error: expected '=', found '('"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char text[512], *msgs, want[128];
    snprintf(text, sizeof text, "program(1.3)\n{\n  func main<ios18>(tensor<fp16, [1, 2]> x) {\n"
             "%s\n  } -> (x);\n}\n", cases[i].stmt);
    ck_assert_ptr_null(parse_text("t.mil", text, strlen(text), &msgs));
    snprintf(want, sizeof want, "t.mil:%s", cases[i].want);
    ck_assert_msg(strncmp(msgs, want, strlen(want)) == 0, "%s\nwant %s\ngot %s", cases[i].stmt,
                  want, msgs);
    free(msgs);
  }
  MilProg *p = parse_ok("program(1.3) { func main<ios18>(fp16 x) {\n"
                        "  tensor <fp16, [1, 2] > y = const()[val = tensor<fp16, [2]>([-0x1.8p+1, -inf])];\n"
                        "} -> (x); }");
  const MilValue *v = attr_val(&p->funcs[0].ops[0], "val");
  ck_assert(v->f[0] == -3.0 && v->f[1] == -INFINITY);
  ck_assert_int_eq(p->funcs[0].ops[0].outs[0].type->dim[1], 2);
  mil_free(p);
}
END_TEST

/* A program of head then stmts parses; each statement with its first
 * declared dim one larger is refused, the message naming the right
 * type at the statement's line. */
static void check_inferred(const char *head, const char *const *stmts, size_t n) {
  char text[16384], *msgs, at[32];
  size_t o = (size_t)snprintf(text, sizeof text, "%s", head);
  for (size_t i = 0; i < n; i++)
    o += (size_t)snprintf(text + o, sizeof text - o, "%s", stmts[i]);
  snprintf(text + o, sizeof text - o, "} -> (x); }");
  MilProg *p = parse_ok(text);
  mil_free(p);
  int line = 1;
  for (const char *q = head; *q; q++)
    line += *q == '\n';
  snprintf(at, sizeof at, "t.mil:%d:3: error: ", line);
  for (size_t i = 0; i < n; i++) {
    o = (size_t)snprintf(text, sizeof text, "%s", head);
    const char *d = strchr(stmts[i], '[') + 1;
    long v = strtol(d, NULL, 10);
    o += (size_t)snprintf(text + o, sizeof text - o, "%.*s%ld%s", (int)(d - stmts[i]), stmts[i],
                          v + 1, d + strspn(d, "0123456789"));
    snprintf(text + o, sizeof text - o, "} -> (x); }");
    ck_assert_ptr_null(parse_text("t.mil", text, strlen(text), &msgs));
    ck_assert_msg(strstr(msgs, at) && strstr(msgs, "but the op computes"),
                  "statement %zu: %s", i, msgs);
    free(msgs);
  }
}

/* Output types the op definitions infer, each worked out by hand from the
 * op's definition in coremltools (the formula beside each statement): a
 * program declaring them all parses; one wrong dim is refused. */
START_TEST(opdef_inferred_shapes) {
  static const char *const stmts[] = {
    /* conv custom pad [1, 0, 2, 1], strides 2, dilations 2, k 3:
     * H (7 + 1 + 0 - 5) / 2 + 1 = 2, W (8 + 2 + 1 - 5) / 2 + 1 = 4 */
    "  tensor<fp16, [1, 2, 2, 4]> c1 = conv(dilations = tensor<int32, [2]>([2, 2]), pad = tensor<int32, [4]>([1, 0, 2, 1]), pad_type = string(\"custom\"), strides = tensor<int32, [2]>([2, 2]), weight = w, x = img);\n",
    /* same, strides 2: ceil(7 / 2) = 4, ceil(8 / 2) = 4 */
    "  tensor<fp16, [1, 2, 4, 4]> c2 = conv(pad_type = string(\"same\"), strides = tensor<int32, [2]>([2, 2]), weight = w, x = img);\n",
    /* avg_pool k 2, s 2, valid, ceil_mode: ceil((7 - 2) / 2) + 1 = 4, ceil(6 / 2) + 1 = 4 */
    "  tensor<fp16, [1, 1, 4, 4]> p1 = avg_pool(ceil_mode = bool(true), exclude_padding_from_average = bool(true), kernel_sizes = tensor<int32, [2]>([2, 2]), pad_type = string(\"valid\"), strides = tensor<int32, [2]>([2, 2]), x = img);\n",
    /* matmul [3, 1, 2, 4] x [5, 6, 4]^T: batch [3, 5], M 2, N 6 */
    "  tensor<fp16, [3, 5, 2, 6]> m1 = matmul(transpose_y = bool(true), x = a4, y = b3);\n",
    /* a vector x [4] against [2, 4, 6]: [2, 6] */
    "  tensor<fp16, [2, 6]> m2 = matmul(x = v4, y = c3);\n",
    /* linear [2, 3, 4] by weight [5, 4]: [2, 3, 5] */
    "  tensor<fp16, [2, 3, 5]> l1 = linear(weight = lw, x = t234);\n",
    /* reshape [2, 3, 4] to [0, -1] (iOS 17+: the 0 matches dim 1 = 3): [3, 8] */
    "  tensor<fp16, [3, 8]> r1 = reshape(shape = tensor<int32, [2]>([0, -1]), x = t234);\n",
    /* concat [2, 3] and [2, 1] on axis -1: [2, 4] */
    "  tensor<fp16, [2, 4]> k1 = concat(axis = int32(-1), interleave = bool(false), values = (x, x1));\n",
    /* split [2, 3] by sizes [1, 2] on axis 1 */
    "  tensor<fp16, [2, 1]> s1, tensor<fp16, [2, 2]> s2 = split(axis = int32(1), split_sizes = tensor<int32, [2]>([1, 2]), x = x);\n",
    /* slice_by_size begin [0, 1] size [-1, 2] on [2, 3]: [2, 2] */
    "  tensor<fp16, [2, 2]> z1 = slice_by_size(begin = tensor<int32, [2]>([0, 1]), size = tensor<int32, [2]>([-1, 2]), x = x);\n",
    /* [4::-2] on 6 (end masked): 4, 2, 0 */
    "  tensor<fp16, [3]> z2 = slice_by_index(begin = tensor<int32, [1]>([4]), end = tensor<int32, [1]>([0]), end_mask = tensor<bool, [1]>([true]), stride = tensor<int32, [1]>([-2]), x = v6);\n",
    /* [1, :] of [2, 3] with axis 0 squeezed: [3] */
    "  tensor<fp16, [3]> z3 = slice_by_index(begin = tensor<int32, [2]>([1, 0]), end = tensor<int32, [2]>([2, 3]), squeeze_mask = tensor<bool, [2]>([true, false]), x = x);\n",
    /* reduce over the last axis keeping it: [2, 1]; argmax drops it, int32 */
    "  tensor<fp16, [2, 1]> e1 = reduce_sum(axes = tensor<int32, [1]>([-1]), keep_dims = bool(true), x = x);\n",
    "  tensor<int32, [2]> e2 = reduce_argmax(axis = int32(1), keep_dims = bool(false), x = x);\n",
    /* iOS17's output_dtype names the indices' dtype */
    "  tensor<uint16, [2]> e3 = reduce_argmin(axis = int32(-1), output_dtype = string(\"uint16\"), x = x);\n",
    "  tensor<fp16, [2, 3, 4]> n1 = layer_norm(axes = tensor<int32, [1]>([-1]), epsilon = fp16(0.001), x = t234);\n",
    /* gather [2, 5, 3] on axis 1 with indices [2, 4], batch_dims 1: [2] + [4] + [3] */
    "  tensor<fp16, [2, 4, 3]> g1 = gather(axis = int32(1), batch_dims = int32(1), indices = i24, x = t253);\n",
    /* gather_nd [2, 5, 3] with indices [4, 2]: [4] + [3] */
    "  tensor<fp16, [4, 3]> g2 = gather_nd(indices = i42, x = t253);\n",
    /* pad [1, 0, 2, 3] on the last two dims of [2, 3, 4]: [2, 4, 9] */
    "  tensor<fp16, [2, 4, 9]> q1 = pad(mode = string(\"constant\"), pad = tensor<int32, [4]>([1, 0, 2, 3]), x = t234);\n",
    /* expand_dims [2, 3] at 0 and -1 of rank 4: [1, 2, 3, 1]; squeeze all 1s */
    "  tensor<fp16, [1, 2, 3, 1]> x2 = expand_dims(axes = tensor<int32, [2]>([0, -1]), x = x);\n",
    "  tensor<fp16, [2]> x3 = squeeze(x = u121);\n",
    "  tensor<int32, [2, 3]> x4 = cast(dtype = string(\"int32\"), x = x);\n",
    /* attention q [1, 2, 5, 8], k [1, 2, 7, 8], v [1, 2, 7, 4]: [1, 2, 5, 4] */
    "  tensor<fp16, [1, 2, 5, 4]> t1 = scaled_dot_product_attention(key = ak, query = aq, value = av);\n",
  };
  static const char *head =
    "program(1.3) { func main<ios18>(tensor<fp16, [1, 1, 7, 8]> img, tensor<fp16, [3, 1, 2, 4]> a4, "
    "tensor<fp16, [5, 6, 4]> b3, tensor<fp16, [4]> v4, tensor<fp16, [2, 4, 6]> c3, "
    "tensor<fp16, [2, 3, 4]> t234, tensor<fp16, [2, 3]> x, tensor<fp16, [2, 1]> x1, "
    "tensor<fp16, [6]> v6, tensor<fp16, [2, 5, 3]> t253, tensor<int32, [2, 4]> i24, "
    "tensor<int32, [4, 2]> i42, tensor<fp16, [1, 2, 5, 8]> aq, tensor<fp16, [1, 2, 7, 8]> ak, "
    "tensor<fp16, [1, 2, 7, 4]> av, tensor<fp16, [1, 2, 1]> u121) {\n"
    "  tensor<fp16, [2, 1, 3, 3]> w = const()[val = tensor<fp16, [2, 1, 3, 3]>([[[[1, 0, 0], [0, 0, 0], [0, 0, 0]]], [[[0, 0, 0], [0, 1, 0], [0, 0, 0]]]])];\n"
    "  tensor<fp16, [5, 4]> lw = const()[val = tensor<fp16, [5, 4]>([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [1, 1, 1, 1]])];\n";
  check_inferred(head, stmts, sizeof stmts / sizeof *stmts);
}
END_TEST

/* The image, einsum, reshape_like and iOS18 sparse definitions, each type
 * worked out by hand from coremltools' rule (beside each statement). */
START_TEST(opdef_inferred_image_ops) {
  static const char *const stmts[] = {
    /* affine: x's [B, C] then output_height, output_width */
    "  tensor<fp16, [2, 3, 4, 5]> af = affine(align_corners = bool(true), coordinates_mode = string(\"normalized_minus_one_to_one\"), output_height = int32(4), output_width = int32(5), padding_mode = string(\"constant\"), padding_value = fp16(0), sampling_mode = string(\"bilinear\"), transform_matrix = tm, x = im);\n",
    /* resample: x's [B, C], then coordinates' dims 1 and 2 */
    "  tensor<fp16, [2, 3, 5, 7]> rs = resample(align_corners = bool(false), coordinates = co, coordinates_mode = string(\"unnormalized\"), padding_mode = string(\"constant\"), padding_value = fp16(0), sampling_mode = string(\"bilinear\"), x = im);\n",
    /* resize: the last 2 dims take shape [0, 16] (0 keeps x's 8) */
    "  tensor<fp16, [2, 3, 8, 16]> rz = resize(resized_dims = uint32(2), shape = tensor<int32, [2]>([0, 16]), x = im);\n",
    /* resize: 1 resized dim takes shape's last entry (9) */
    "  tensor<fp16, [2, 3, 8, 9]> rz1 = resize(resized_dims = uint32(1), shape = tensor<int32, [2]>([5, 9]), x = im);\n",
    /* crop_resize, iOS17 boxes [2, 4]: [N, C, target_height, target_width] */
    "  tensor<fp16, [2, 3, 2, 5]> cr = crop_resize(boxes = bx, target_height = int32(2), target_width = int32(5), x = im);\n",
    /* crop_resize, iOS15 roi [4, 1, 5, 1, 1]: [N, B, C, 2, 5] */
    "  tensor<fp16, [4, 2, 3, 2, 5]> cr2 = crop_resize(roi = roi, target_height = int32(2), target_width = int32(5), x = im);\n",
    /* einsum nchw,nwhu->nchu: [1, 3, 2, 4] and [5, 4, 1, 6]: n max(1, 5), c 3, h max(2, 1), u 6 */
    "  tensor<fp16, [5, 3, 2, 6]> es = einsum(equation = string(\"nchw,nwhu->nchu\"), values = (ea, eb));\n",
    /* einsum abc,cbd->abd: [2, 3, 4] and [4, 3, 5]: [2, 3, 5] */
    "  tensor<fp16, [2, 3, 5]> es3 = einsum(equation = string(\"abc,cbd->abd\"), values = (e3a, e3b));\n",
    /* an unknown h on one side stays unknown: [5, 3, 2, 4] and [5, 4, ?, 6]: [5, 3, ?, 6] */
    "  tensor<fp16, [5, 3, ?, 6]> esh = einsum(equation = string(\"nchw,nwhu->nchu\"), values = (ea5, ebh));\n",
    /* reshape_like: r452[0:1] [4], co[1:2] [5], co[-1:] (end_mask) [2]: 40 elements as x */
    "  tensor<fp16, [4, 5, 2]> rl = reshape_like(begins = (int32(0), int32(1), int32(-1)), end_masks = (bool(false), bool(false), bool(true)), ends = (int32(1), int32(2), int32(0)), ref_tensors = (r452, co, co), x = t40);\n",
    /* lut_to_sparse, vectors of 2 on axis 0: mask [2, 3] -> [4, 3], data [3] -> [6] in lut's fp32 */
    "  tensor<uint1, [4, 3]> m, tensor<fp32, [6]> nz = constexpr_lut_to_sparse(indices_mask = tensor<uint1, [2, 3]>([[1, 0, 1], [0, 1, 0]]), indices_nonzero_data = tensor<uint1, [3]>([1, 0, 1]), lut = tensor<fp32, [1, 1, 2, 2]>([[[[1, 2], [3, 4]]]]), vector_axis = int32(0));\n",
    /* sparse shift-scale: the mask's type, nonzero_data's [3] in scale's fp16 */
    "  tensor<uint1, [2, 3]> m2, tensor<fp16, [3]> nz2 = constexpr_sparse_blockwise_shift_scale(data_mask = tensor<uint1, [2, 3]>([[1, 0, 1], [0, 1, 0]]), nonzero_data = tensor<int8, [3]>([1, 2, 3]), scale = tensor<fp16, [1, 1]>([[0.5]]));\n",
  };
  static const char *head =
    "program(1.3) { func main<ios18>(tensor<fp16, [2, 3, 8, 8]> im, tensor<fp16, [2, 6]> tm, "
    "tensor<fp16, [2, 5, 7, 2]> co, tensor<fp16, [2, 4]> bx, tensor<fp16, [4, 1, 5, 1, 1]> roi, "
    "tensor<fp16, [1, 3, 2, 4]> ea, tensor<fp16, [5, 4, 1, 6]> eb, tensor<fp16, [2, 3, 4]> e3a, "
    "tensor<fp16, [4, 3, 5]> e3b, tensor<fp16, [5, 3, 2, 4]> ea5, tensor<fp16, [5, 4, ?, 6]> ebh, tensor<fp16, [4, 5, 2]> r452, tensor<fp16, [40]> t40, "
    "tensor<fp16, [2]> x) {\n";
  check_inferred(head, stmts, sizeof stmts / sizeof *stmts);
  /* and an unknown n: [2, 3, 2, 4] and [?, 4, 2, 6] give [?, 3, 2, 6] */
  mil_free(parse_ok("program(1.3) { func main<ios18>(tensor<fp16, [2, 3, 2, 4]> a, "
                    "tensor<fp16, [?, 4, 2, 6]> b) {\n"
                    "  tensor<fp16, [?, 3, 2, 6]> x = einsum(equation = string(\"nchw,nwhu->nchu\"), "
                    "values = (a, b));\n} -> (x); }"));
}
END_TEST

/* The shared op definitions (gen/opdef.c) verify an op's declared output
 * type against the one it computes: elementwise ops keep x's type (bool
 * for comparisons) in numpy's broadcast shape, transpose permutes x's
 * dims. Each expected type is worked out by hand from the op's
 * definition. */
START_TEST(opdef_output_types) {
  static const struct { const char *stmts, *want; } bad[] = {
    {"  tensor<fp32, [2, 3]> a = relu(x = x);\n",
     "t.mil:2:3: error: relu: output 'a' is declared tensor<fp32, [2, 3]>, but the op computes "
     "tensor<fp16, [2, 3]>"},
    {"  tensor<fp16, [2, 4, 4]> a = add(x = x3, y = tensor<fp16, [4, 1]>([[1], [2], [3], [4]]));\n",
     "t.mil:2:3: error: add: output 'a' is declared tensor<fp16, [2, 4, 4]>, but the op computes "
     "tensor<fp16, [2, 4, 3]>"},
    {"  tensor<fp16, [2, 3]> a = equal(x = x, y = x);\n",
     "t.mil:2:3: error: equal: output 'a' is declared tensor<fp16, [2, 3]>, but the op computes "
     "tensor<bool, [2, 3]>"},
    {"  tensor<int32, [3]> p = const()[val = tensor<int32, [3]>([2, 0, 1])];\n"
     "  tensor<fp16, [2, 1, 3]> a = transpose(perm = p, x = x3);\n",
     "t.mil:3:3: error: transpose: output 'a' is declared tensor<fp16, [2, 1, 3]>, but the op "
     "computes tensor<fp16, [3, 2, 1]>"},
    {"  tensor<fp16, [2, 3]> a = add(x = x, y = tensor<fp16, [4]>([1, 2, 3, 4]));\n",
     "t.mil:2:3: error: add: cannot broadcast x tensor<fp16, [2, 3]> with y tensor<fp16, [4]>"},
    {"  tensor<fp16, [4]> a = constexpr_affine_dequantize()[axis = int32(0), quantized_data = tensor<int8, [4]>([1, 2, 3, 4]), scale = fp32(0.5), zero_point = int8(0)];\n",
     "t.mil:2:3: error: constexpr_affine_dequantize: output 'a' is declared tensor<fp16, [4]>, but the op "
     "computes tensor<fp32, [4]>"},
    {"  tensor<fp16, [2, 3]> a = conv(x = x);\n", "t.mil:2:3: error: conv: missing operand 'weight'"},
    /* an op like one that passed, but for a parameter's value: checked again */
    {"  tensor<fp16, [2, 3]> a = softmax(axis = int32(1), x = x);\n"
     "  tensor<fp16, [2, 3]> b = softmax(axis = int32(2), x = x);\n",
     "t.mil:3:3: error: softmax: axis 2 is out of range for rank 2"},
    {"  tensor<int32, [2]> p = const()[val = tensor<int32, [2]>([1, 0])];\n"
     "  tensor<int32, [2]> q = const()[val = tensor<int32, [2]>([1, 1])];\n"
     "  tensor<fp16, [3, 2]> a = transpose(perm = p, x = x);\n"
     "  tensor<fp16, [3, 2]> b = transpose(perm = q, x = x);\n",
     "t.mil:5:3: error: transpose: perm is not a permutation: 1 appears twice"},
    {"  tensor<int8, [2]> i = const()[val = tensor<int8, [2]>([1, 2])];\n"
     "  tensor<int8, [2]> a = relu(x = i);\n",
     "t.mil:3:3: error: relu: operand 'x' is int8; the op takes fp16, fp32"},
    {"  tensor<fp16, [2, 3]> a = add(x = x, y = int32(1));\n",
     "t.mil:2:3: error: add: x is fp16 and y is int32; they must have the same dtype"},
    {"  tensor<fp16, [2, 3]> a = softmax(axis = fp16(0), x = x);\n",
     "t.mil:2:3: error: softmax: operand 'axis' is fp16; it must be an integer"},
    {"  tensor<int32, [2]> s = const()[val = tensor<int32, [2]>([1, 1])];\n"
     "  tensor<int32, [2]> t = add(x = s, y = s);\n"
     "  tensor<fp16, [2, 3]> a = squeeze(axes = t, x = x);\n",
     "t.mil:4:3: error: squeeze: 'axes' must be a constant (const or constexpr value)"},
    {"  tensor<fp16, [3, 2]> a = softmax(axis = int32(0), x = x);\n",
     "t.mil:2:3: error: softmax: output 'a' is declared tensor<fp16, [3, 2]>, but the op computes "
     "tensor<fp16, [2, 3]>"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char text[1024], *msgs;
    snprintf(text, sizeof text, "program(1.3) { func main<ios18>(tensor<fp16, [2, 3]> x, "
             "tensor<fp16, [2, 1, 3]> x3) {\n%s} -> (x); }", bad[i].stmts);
    ck_assert_ptr_null(parse_text("t.mil", text, strlen(text), &msgs));
    ck_assert_msg(strncmp(msgs, bad[i].want, strlen(bad[i].want)) == 0, "want %s\ngot %s",
                  bad[i].want, msgs);
    free(msgs);
  }
  /* right, '?' declared, or left to the backend (an op without a
   * definition) */
  MilProg *p = parse_ok("program(1.3) { func main<ios18>(tensor<fp16, [2, 3]> x, "
                        "tensor<fp16, [2, 1, 3]> x3, tensor<int8, [2]> i) {\n"
                        "  tensor<fp16, [2, 4, 3]> a = add(x = x3, y = tensor<fp16, [4, 1]>([[1], [2], [3], [4]]));\n"
                        "  tensor<bool, [2, 3]> b = less(x = x, y = fp16(0));\n"
                        "  tensor<fp16, [?, 3]> c = relu(x = x);\n"
                        "  tensor<fp16, [3, 2, 1]> d = transpose(perm = tensor<int32, [3]>([2, 0, -2]), x = x3);\n"
                        "  tensor<fp32, [2]> e = no_such_op(x = i);\n"
                        "} -> (a); }");
  ck_assert_int_eq(p->funcs[0].nops, 5);
  mil_free(p);
}
END_TEST

/* The second set of definitions infers what coremltools' rules give;
 * each declared type below is worked out by hand: tile multiplies dims,
 * stack inserts the count, conv_transpose grows (in - 1) * s + k, topk
 * puts k on the axis (indices int32), one_hot appends the size, folds
 * move b x b blocks, sliding_windows gives (D - size) / stride + 1
 * windows of size, range_1d ceil((end - start) / step) values, rnn with
 * output_sequence [S, B, H] and [B, H] (H from weight_hh [H, H]). */
START_TEST(opdef_inferred_types) {
  MilProg *p = parse_ok(
      "program(1.3) { func main<ios18>(tensor<fp16, [2, 3]> x, tensor<fp16, [1, 1, 3, 3]> im, "
      "tensor<int32, [3]> ix, tensor<fp16, [1, 4, 2, 2]> d, tensor<fp16, [3, 2, 2]> xs) {\n"
      "  tensor<fp16, [4, 9]> a = tile(reps = tensor<int32, [2]>([2, 3]), x = x);\n"
      "  tensor<fp16, [2, 3, 2]> b = stack(axis = int32(-1), values = (x, x));\n"
      "  tensor<fp16, [1, 1, 6, 6]> c = conv_transpose(strides = tensor<int32, [2]>([2, 2]), "
      "weight = tensor<fp16, [1, 1, 2, 2]>([[[[1, 1], [1, 1]]]]), x = im);\n"
      "  tensor<fp16, [2, 2]> v, tensor<int32, [2, 2]> i = topk(k = int32(2), x = x);\n"
      "  tensor<fp32, [3, 5]> e = one_hot(indices = ix, on_value = fp32(1), off_value = fp32(0), "
      "one_hot_vector_size = int32(5));\n"
      "  tensor<fp16, [1, 1, 4, 4]> f = depth_to_space(block_size = int32(2), x = d);\n"
      "  tensor<fp16, [1, 16, 1, 1]> g = space_to_depth(block_size = int32(2), x = d);\n"
      "  tensor<fp16, [2, 2, 2]> h = sliding_windows(axis = int32(1), size = int32(2), x = x);\n"
      "  tensor<int32, [4]> r = range_1d(end = int32(7), start = int32(0), step = int32(2));\n"
      "  tensor<int32, [2]> s = shape(x = x);\n"
      "  tensor<int32, [?, 2]> nz = non_zero(x = x);\n"
      "  tensor<fp16, [2, 3]> t = select(a = x, b = fp16(0), cond = tensor<bool, [3]>([true, false, true]));\n"
      "  tensor<fp16, [1, 1, 6, 6]> u = upsample_nearest_neighbor(scale_factor_height = fp32(2), "
      "scale_factor_width = fp32(2), x = im);\n"
      "  tensor<fp16, [1, 1, 1, 2]> w = crop(crop_height = tensor<int32, [2]>([1, 1]), "
      "crop_width = tensor<int32, [2]>([0, 1]), x = im);\n"
      "  tensor<fp16, [6]> fl = reshape(shape = tensor<int32, [1]>([6]), x = x);\n"
      "  tensor<fp16, [2, 3]> cs = cumsum(axis = int32(1), x = x);\n"
      "  tensor<int32, [2, 3]> as = argsort(axis = int32(0), x = x);\n"
      "  tensor<fp16, [2, 3]> se = select(a = tensor<fp16, [3]>([1, 2, 3]), b = fp16(0), "
      "cond = tensor<bool, [2, 1]>([[true], [false]]));\n"
      "  tensor<fp16, [3, 2, 1]> ro, tensor<fp16, [2, 1]> rh = rnn(initial_h = tensor<fp16, [2, 1]>([[0], [0]]), "
      "output_sequence = bool(true), weight_hh = tensor<fp16, [1, 1]>([[1]]), "
      "weight_ih = tensor<fp16, [1, 2]>([[1, 1]]), x = xs);\n"
      "} -> (a); }");
  ck_assert_int_eq(p->funcs[0].nops, 19);
  mil_free(p);
}
END_TEST

/* Each reference records where it was defined (an input: -(1 + index); an
 * op output: 1 + op index, output index), in its own function; the checks
 * look operands up through that, and a stale record falls back to a scan. */
START_TEST(parse_resolved_refs) {
  MilProg *p = parse_ok("program(1.3) { func a<ios18>(fp16 x, fp16 z) {\n"
                        "  fp16 y = relu(x = z);\n"
                        "  fp16 u, fp16 v = split2(x = y);\n"
                        "  fp16 w = add(x = v, y = (x, u));\n"
                        "} -> (w);\n"
                        "func b<ios18>(fp16 w, fp16 y) { fp16 x = add(x = y, y = w); } -> (x); }");
  const MilFunc *f = &p->funcs[0];
  const MilArg *a = mil_op_arg(&f->ops[0], "x");
  ck_assert_int_eq(a->bind.def, -2);                 /* z: input 1 */
  a = mil_op_arg(&f->ops[1], "x");
  ck_assert_int_eq(a->bind.def, 1);                  /* y: op 0, output 0 */
  ck_assert_int_eq(a->bind.out, 0);
  a = mil_op_arg(&f->ops[2], "x");
  ck_assert_int_eq(a->bind.def, 2);                  /* v: op 1, output 1 */
  ck_assert_int_eq(a->bind.out, 1);
  a = mil_op_arg(&f->ops[2], "y");
  ck_assert_int_eq(a->bind.items[0].def, -1);        /* x: input 0 */
  ck_assert_int_eq(a->bind.items[1].def, 2);         /* u: op 1, output 0 */
  ck_assert_int_eq(a->bind.items[1].out, 0);
  a = mil_op_arg(&p->funcs[1].ops[0], "x");
  ck_assert_int_eq(a->bind.def, -2);                 /* b's own y, not a's */
  int opi;
  const MilVar *v = mil_ref_var(f, &mil_op_arg(&f->ops[2], "x")->bind, 2, &opi);
  ck_assert_ptr_eq(v, &f->ops[1].outs[1]);
  ck_assert_int_eq(opi, 1);
  /* a program built in memory gets the same records from mil_resolve_refs */
  MilProg *q = mil_new("1.3");
  MilFunc *g = mil_add_func(q, "a", "ios18");
  mil_add_input(q, g, mil_scalar_type(q, MIL_FP16), "x");
  mil_add_input(q, g, mil_scalar_type(q, MIL_FP16), "z");
  MilOp *op = mil_add_op(q, g, "relu");
  mil_op_ref(q, op, "x", "z");
  mil_op_out(q, op, mil_scalar_type(q, MIL_FP16), "y");
  op = mil_add_op(q, g, "split2");
  mil_op_ref(q, op, "x", "y");
  mil_op_out(q, op, mil_scalar_type(q, MIL_FP16), "u");
  mil_op_out(q, op, mil_scalar_type(q, MIL_FP16), "v");
  op = mil_add_op(q, g, "add");
  mil_op_ref(q, op, "x", "v");
  mil_op_ref(q, op, "y", "nowhere");
  mil_op_out(q, op, mil_scalar_type(q, MIL_FP16), "y");     /* defined twice: the first counts */
  op = mil_add_op(q, g, "relu");
  mil_op_ref(q, op, "x", "y");
  mil_resolve_refs(q);
  ck_assert_int_eq(g->ops[0].args[0].bind.def, -2);
  ck_assert_int_eq(g->ops[1].args[0].bind.def, 1);
  ck_assert_int_eq(g->ops[2].args[0].bind.def, 2);
  ck_assert_int_eq(g->ops[2].args[0].bind.out, 1);
  ck_assert_int_eq(g->ops[2].args[1].bind.def, 0);
  ck_assert_int_eq(g->ops[3].args[0].bind.def, 1);
  mil_free(q);
  MilBind stale = {.kind = MIL_BREF, .ref = "u", .def = -1};   /* says x: scanned */
  ck_assert_ptr_eq(mil_ref_var(f, &stale, 2, &opi), &f->ops[1].outs[0]);
  ck_assert_ptr_null(mil_ref_var(f, &stale, 1, &opi));          /* not before op 1 */
  mil_free(p);
}
END_TEST

/* ---- the corpus of real compiler output ------------------------------------------ */

typedef struct Corpus {
  int n;
  char *path[64];
} Corpus;

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The model.mil files under ../shared/mil-corpus, sorted; n == 0 if the
 * corpus is not there (CI keeps ../shared beside the clone). */
static Corpus corpus_list(void) {
  Corpus c = {0};
  DIR *dir = opendir(CORPUS);
  if (!dir) {
    fprintf(stderr, "test_miltext: %s not found, corpus tests skipped\n", CORPUS);
    return c;
  }
  struct dirent *e;
  while ((e = readdir(dir)) && c.n < 64) {
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s/model.mil", CORPUS, e->d_name);
    if (e->d_name[0] != '.' && stat(path, &st) == 0)
      c.path[c.n++] = strdup(path);
  }
  closedir(dir);
  qsort(c.path, (size_t)c.n, sizeof c.path[0], cmp_str);
  return c;
}

static void corpus_free(Corpus *c) {
  for (int i = 0; i < c->n; i++)
    free(c->path[i]);
}

/* Lines without their leading blanks: the compiler indents by 12/8, we by
 * 8/4, and the files end without a newline. */
static char *unindent(const char *t) {
  char *out = malloc(strlen(t) + 2), *o = out;
  bool bol = true;
  for (; *t; t++) {
    if (bol && *t == ' ')
      continue;
    bol = *t == '\n';
    *o++ = *t;
  }
  if (o > out && o[-1] != '\n')
    *o++ = '\n';
  *o = '\0';
  return out;
}

/* Every file parses; the printer reproduces it as the compiler wrote it;
 * parse -> print -> parse gives the same IR and the same text again. */
START_TEST(corpus_round_trip) {
  Corpus c = corpus_list();
  if (c.n)
    ck_assert_int_ge(c.n, 24);
  for (int i = 0; i < c.n; i++) {
    size_t len;
    char *text = slurp(c.path[i], &len), *msgs;
    MilProg *p = parse_text(c.path[i], text, len, &msgs);
    ck_assert_msg(p != NULL, "%s", msgs);
    free(msgs);
    char *t1 = mil_print_string(p);
    char *u1 = unindent(t1), *u0 = unindent(text);
    ck_assert_msg(strcmp(u0, u1) == 0, "%s: printed text differs from the file", c.path[i]);
    MilProg *q = parse_ok(t1);
    ck_assert_msg(mil_prog_eq(p, q), "%s: IR changed by print + parse", c.path[i]);
    char *t2 = mil_print_string(q);
    ck_assert_msg(strcmp(t1, t2) == 0, "%s: printing is not stable", c.path[i]);
    free(t1), free(t2), free(u0), free(u1), free(text);
    mil_free(p), mil_free(q);
  }
  corpus_free(&c);
}
END_TEST

/* ---- malformed text -------------------------------------------------------------- */

/* Each tests/cases/mil/bad/NAME.mil starts with "// expect: L:C: error: msg";
 * the first diagnostic line must be "NAME.mil:L:C: error: msg". */
static void check_bad_case(const char *dir, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  size_t len;
  char *text = slurp(path, &len), *msgs;
  ck_assert_msg(strncmp(text, "// expect: ", 11) == 0, "%s: no expectation", name);
  const char *want = text + 11;
  size_t wlen = strcspn(want, "\n");
  MilProg *p = parse_text(name, text, len, &msgs);
  ck_assert_msg(p == NULL, "%s: parsed without error", name);
  char expect[1024];
  snprintf(expect, sizeof expect, "%s:%.*s", name, (int)wlen, want);
  size_t glen = strcspn(msgs, "\n");
  ck_assert_msg(strlen(expect) == glen && strncmp(msgs, expect, glen) == 0,
                "%s:\n want: %s\n got:  %.*s", name, expect, (int)glen, msgs);
  free(msgs);
  free(text);
}

START_TEST(bad_cases) {
  const char *dir = CASES "/bad";
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t l = strlen(e->d_name);
    if (l > 4 && strcmp(e->d_name + l - 4, ".mil") == 0) {
      check_bad_case(dir, e->d_name);
      n++;
    }
  }
  closedir(d);
  ck_assert_int_ge(n, 25);
}
END_TEST

/* Every prefix of a valid file and many one-byte corruptions: an error or a
 * program, never a crash (run under --enable-sanitizers to see reads). */
START_TEST(damaged_text) {
  size_t len;
  char *text = slurp(CASES "/seed-w8a8.mil", &len);
  char *buf = malloc(len);
  for (size_t cut = 0; cut < len; cut++) {
    MilProg *p = parse_text("cut.mil", text, cut, NULL);
    ck_assert_msg(p == NULL || cut >= len - 1, "a prefix of %zu bytes parsed", cut);
    mil_free(p);
  }
  static const char bytes[] = {'\0', '\xff', '[', '"', '}', '9', '-', ','};
  for (size_t i = 0; i < len; i += 3)
    for (size_t b = 0; b < sizeof bytes; b++) {
      memcpy(buf, text, len);
      buf[i] = bytes[b];
      mil_free(parse_text("bent.mil", buf, len, NULL));
    }
  free(buf);
  free(text);
}
END_TEST

/* ---- driver ------------------------------------------------------------------ */

static Suite *miltext_suite(void) {
  Suite *s = suite_create("miltext");
  TCase *pr = tcase_create("print");
  tcase_add_test(pr, print_seed_compact);
  tcase_add_test(pr, print_seed_verbose);
  tcase_add_test(pr, print_floats);
  tcase_add_test(pr, print_tensors);
  tcase_add_test(pr, print_verbose_scalar);
  tcase_add_test(pr, print_statements);
  tcase_add_test(pr, print_function_attrs);
  tcase_add_test(pr, print_no_outputs);
  suite_add_tcase(s, pr);
  TCase *pa = tcase_create("parse");
  tcase_set_timeout(pa, 120);
  tcase_add_test(pa, parse_seed_file);
  tcase_add_test(pa, parse_built_program);
  tcase_add_test(pa, parse_values);
  tcase_add_test(pa, parse_two_functions);
  tcase_add_test(pa, parse_resolved_refs);
  tcase_add_test(pa, parse_string_values);
  tcase_add_test(pa, scan_cut_short);
  tcase_add_test(pa, opdef_output_types);
  tcase_add_test(pa, opdef_inferred_types);
  tcase_add_test(pa, opdef_inferred_shapes);
  tcase_add_test(pa, opdef_inferred_image_ops);
  tcase_add_test(pa, parse_no_outputs);
  tcase_add_test(pa, parse_tuple_comma);
  tcase_add_test(pa, parse_type_spellings);
  tcase_add_test(pa, corpus_round_trip);
  tcase_add_test(pa, bad_cases);
  tcase_add_test(pa, damaged_text);
  suite_add_tcase(s, pa);
  return s;
}

int main(void) { return ck_run(miltext_suite()); }
