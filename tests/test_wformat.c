/* test_wformat.c - weight formats end to end: a .anet whose conv weights
 * come from a .npy is compiled (anetc's lowering, the blob writer's
 * quantisation), loaded and run on the cpu backend, and the weights the
 * constexpr ops rebuilt are read back through the conv: with x[c, s] = 1
 * when c == s, output [o, s] is the rebuilt w[o, s]. The expected weights
 * are the hand-worked quantisations of tests/test_quant.c, dequantised by
 * FORMATS.md §3.1 (scale * (q - offset), rounded to fp16). Format words and
 * their errors are checked too. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "blob.h"
#include "check_main.h"
#include "flops.h"
#include "fp16.h"
#include "model.h"
#include "tensor.h"
#include "wformat.h"
#include "wtest.h"

/* Runs `conv COUT weights=FMT init=npy("w.npy")` over the identity input
 * and checks output[o, s] == want[o * cin + s]. */
static void through_conv(const char *fmt, int cout, int cin, const float *w,
                         const double *want) {
  char *dir = wt_tmpdir(), *npy = wt_path(dir, "w.npy"), *anet = wt_path(dir, "t.anet");
  Diag d = diag_stderr();
  Tensor t;
  ck_assert_int_eq(tensor_alloc(&t, MIL_FP32, 4, (int64_t[]){cout, cin, 1, 1}), 0);
  for (int i = 0; i < cout * cin; i++)
    tensor_set(&t, i, w[i]);
  ck_assert_int_eq(npy_write(npy, &t, &d), 0);
  tensor_free(&t);
  char text[400];
  snprintf(text, sizeof text, "network t {\n input x: fp16[1, %d, 1, %d]\n"
           " conv %d weights=%s init=npy(\"w.npy\")\n}\n", cin, cin, cout, fmt);
  wt_write(anet, text, strlen(text));
  ModelPath mp;
  Loaded l;
  ck_assert_int_eq(model_open(anet, &mp, &d), 0);
  ck_assert_int_eq(model_load(&mp, 0, true, NULL, &l, &d), 0);
  BackendOpts o = {0};
  void *st;
  ck_assert_int_eq(cpu_backend.open(&l.m, &o, &st, &d), 0);
  Tensor x, y;
  ck_assert_int_eq(tensor_alloc(&x, MIL_FP16, 4, (int64_t[]){1, cin, 1, cin}), 0);
  for (int c = 0; c < cin; c++)
    for (int s = 0; s < cin; s++)
      tensor_set(&x, c * cin + s, c == s);
  double ms;
  ck_assert_int_eq(cpu_backend.set_input(st, 0, &x, &d), 0);
  ck_assert_int_eq(cpu_backend.eval(st, &ms, &d), 0);
  ck_assert_int_eq(cpu_backend.get_output(st, 0, &y, &d), 0);
  for (int i = 0; i < cout * cin; i++)
    ck_assert_msg(tensor_get(&y, i) == want[i], "%s: w[%d] = %.17g, want %.17g", fmt, i,
                  tensor_get(&y, i), want[i]);
  cpu_backend.close(st);
  tensor_free(&x);
  tensor_free(&y);
  model_unload(&l);
  model_close(&mp);
  remove(npy);
  remove(anet);
  rmdir(dir);
  free(npy);
  free(anet);
  free(dir);
}

static double h(double v) { return fp16_round(v); }

START_TEST(test_int8_channel) {
  /* scales 0.0625 and fp16(0.5/127) = 0.003936767578125; q (127, -16, 2, 2)
   * and (127, 0, 0, 0) */
  static const float w[8] = {7.9375f, -1.03125f, 0.09375f, 0.15625f, 0.5f, 0, 0, 0};
  double want[8] = {7.9375, -1, 0.125, 0.125, h(127 * 0.003936767578125), 0, 0, 0};
  through_conv("int8_channel", 2, 4, w, want);
}
END_TEST

START_TEST(test_uint8_tensor) {
  /* scale 0.0117645263671875, offset 85, q (0, 85, 255, 128) */
  static const float w[4] = {-1, 0, 2, 0.5f};
  const double s = 0.0117645263671875;
  double want[4] = {h(-85 * s), 0, h(170 * s), h(43 * s)};
  through_conv("uint8_tensor", 1, 4, w, want);
}
END_TEST

/* iOS16's constexpr_affine_dequantize, per output channel: the numbers of
 * int8_channel and uint8_channel; channel 1 of the uint8 case is all zero
 * (scale 1, zero point 0) */
START_TEST(test_channel_affine) {
  static const float w[8] = {7.9375f, -1.03125f, 0.09375f, 0.15625f, 0.5f, 0, 0, 0};
  double want[8] = {7.9375, -1, 0.125, 0.125, h(127 * 0.003936767578125), 0, 0, 0};
  through_conv("int8_channel_affine", 2, 4, w, want);
  static const float u[8] = {-1, 0, 2, 0.5f, 0, 0, 0, 0};
  const double s = 0.0117645263671875;
  double uwant[8] = {h(-85 * s), 0, h(170 * s), h(43 * s), 0, 0, 0, 0};
  through_conv("uint8_channel_affine", 2, 4, u, uwant);
}
END_TEST

static const MilValue *attr(const MilOp *o, const char *name) {
  for (int i = 0; i < o->nattrs; i++)
    if (strcmp(o->attrs[i].name, name) == 0)
      return o->attrs[i].val;
  return NULL;
}

/* text parsed (*f, which the program may point into) and lowered. */
static MilProg *lowered(const char *text, AnetFile **f) {
  static Src src;
  src = (Src){"a.anet", text, strlen(text)};
  Diag d = diag_stderr();
  *f = anet_parse(&src, &d);
  ck_assert_ptr_nonnull(*f);
  MilProg *p = anet_lower(*f, 0, &d);
  ck_assert_ptr_nonnull(p);
  return p;
}

/* The first op of main of the given type. */
static const MilOp *first_op(const MilProg *p, const char *type) {
  for (int i = 0; i < p->funcs[0].nops; i++)
    if (strcmp(p->funcs[0].ops[i].op, type) == 0)
      return &p->funcs[0].ops[i];
  ck_abort_msg("no %s op", type);
  return NULL;
}

/* FORMATS.md §3's table: quantized_data, scale (a vector of
 * data.shape[axis] values), zero_point (the same, data's dtype) and axis,
 * all attributes (§2.4's rule for iOS16 ops), the parentheses empty. */
START_TEST(test_channel_affine_mil) {
  static const char text[] = "network a {\n input x: fp16[1, 16, 4, 4]\n"
                             " conv 24 kernel=3 weights=uint8_channel_affine\n}\n";
  AnetFile *f;
  MilProg *p = lowered(text, &f);
  const MilOp *o = first_op(p, "constexpr_affine_dequantize");
  ck_assert_int_eq(o->nargs, 0);
  ck_assert_int_eq(o->nattrs, 5);   /* with name */
  const MilValue *ax = attr(o, "axis"), *q = attr(o, "quantized_data");
  const MilValue *sc = attr(o, "scale"), *zp = attr(o, "zero_point");
  ck_assert(ax && ax->type->dtype == MIL_INT32 && ax->type->rank == 0 && ax->i[0] == 0);
  ck_assert(q && q->kind == MIL_VBLOB && q->type->dtype == MIL_UINT8 && q->type->rank == 4);
  ck_assert(q->type->dim[0] == 24 && q->type->dim[1] == 16 && q->type->dim[2] == 3);
  ck_assert(sc && sc->kind == MIL_VBLOB && sc->type->dtype == MIL_FP16);
  ck_assert(sc->type->rank == 1 && sc->type->dim[0] == 24);
  ck_assert(zp && zp->kind == MIL_VBLOB && zp->type->dtype == MIL_UINT8);
  ck_assert(zp->type->rank == 1 && zp->type->dim[0] == 24);
  ck_assert_int_eq(o->outs[0].type->dtype, MIL_FP16);
  mil_free(p);
  anet_free(f);
}
END_TEST

START_TEST(test_int4_block2) {
  /* blocks (0.7, -0.35): scale 0.0999755859375, q (7, -4); (1.4, -2.8):
   * scale 0.39990234375, q (4, -7) */
  static const float w[4] = {0.7f, -0.35f, 1.4f, -2.8f};
  double want[4] = {h(7 * 0.0999755859375), h(-4 * 0.0999755859375), h(4 * 0.39990234375),
                    h(-7 * 0.39990234375)};
  through_conv("int4_block2", 1, 4, w, want);
}
END_TEST

START_TEST(test_luts) {
  /* one 1-bit palette: k-means gives (3.75, 100) */
  static const float w[5] = {100, 0, 5, 4, 6};
  through_conv("lut1", 1, 5, w, (double[]){100, 3.75, 3.75, 3.75, 3.75});
  /* a palette per output channel holds that channel's two values */
  static const float w2[4] = {2, 1, 10, 30};
  through_conv("lut1_group1", 2, 2, w2, (double[]){2, 1, 10, 30});
}
END_TEST

/* Vector palettes along the output channels: w[o, c] for o < 4, c < 2
 * gives the vectors (w[2o', c], w[2o' + 1, c]): A (1, 1), B (1, 2),
 * C (10, 0), D (12, 0), with sums 2, 3, 10, 12. Two entries start as the
 * means of the halves of that order, (1, 1.5) and (11, 0), which Lloyd
 * keeps; A and B rebuild as (1, 1.5), C and D as (11, 0). One palette per
 * two output channels holds each pair exactly. */
START_TEST(test_vector_luts) {
  static const float w[8] = {1, 1, 1, 2, 10, 12, 0, 0};
  through_conv("lut1_vec2", 4, 2, w, (double[]){1, 1, 1.5, 1.5, 11, 11, 0, 0});
  through_conv("lut1_group2_vec2", 4, 2, w, (double[]){1, 1, 1, 2, 10, 12, 0, 0});
  /* Where the start is wrong, Lloyd moves: vectors (w[0, c], w[1, c]) are
   * A (0, 0), B (10, -9), C (0, 2), D (10, -7) with sums 0, 1, 2, 3; the
   * start (5, -4.5), (5, -2.5) takes B, D and A, C; their means (10, -8)
   * and (0, 1) keep them. */
  static const float w2[8] = {0, 10, 0, 10, 0, -9, 2, -7};
  through_conv("lut1_vec2", 2, 4, w2, (double[]){0, 10, 0, 10, 1, -8, 1, -8});
}
END_TEST

/* FORMATS.md §3: indices with the vector axis divided by the vector size,
 * lut [groups..., 2^bits, vector size], vector_axis an int32 input. */
START_TEST(test_vector_lut_mil) {
  static const char text[] = "network a {\n input x: fp16[1, 16, 4, 4]\n"
                             " conv 24 kernel=3 weights=lut4_group12_vec3\n}\n";
  AnetFile *f;
  MilProg *p = lowered(text, &f);
  const MilFunc *fn = &p->funcs[0];
  const MilOp *o = first_op(p, "constexpr_lut_to_dense");
  ck_assert_int_eq(o->nargs, 3);
  const int64_t want_i[4] = {8, 16, 3, 3}, want_l[6] = {2, 1, 1, 1, 16, 3};
  for (int a = 0; a < o->nargs; a++) {
    const MilOp *src = NULL;
    for (int i = 0; i < fn->nops && !src; i++)
      if (strcmp(fn->ops[i].outs[0].name, o->args[a].bind.ref) == 0)
        src = &fn->ops[i];
    ck_assert_ptr_nonnull(src);
    const MilType *t = src->outs[0].type;
    if (strcmp(o->args[a].name, "vector_axis") == 0) {
      ck_assert(t->dtype == MIL_INT32 && t->rank == 0);
      ck_assert_int_eq(attr(src, "val")->i[0], 0);
    } else if (strcmp(o->args[a].name, "indices") == 0) {
      ck_assert(t->dtype == MIL_UINT4 && t->rank == 4);
      ck_assert(memcmp(t->dim, want_i, sizeof want_i) == 0);
    } else {
      ck_assert_str_eq(o->args[a].name, "lut");
      ck_assert(t->dtype == MIL_FP16 && t->rank == 6);
      ck_assert(memcmp(t->dim, want_l, sizeof want_l) == 0);
    }
  }
  mil_free(p);
  anet_free(f);
}
END_TEST

START_TEST(test_words) {
  QuantFmt f;
  char msg[200];
  ck_assert_int_eq(wfmt_parse("int4_block32", &f, msg, sizeof msg), 0);
  ck_assert(f.kind == QK_AFFINE && f.dtype == MIL_INT4 && f.block == 32 && !f.sparse);
  ck_assert_int_eq(wfmt_parse("uint8_channel", &f, msg, sizeof msg), 0);
  ck_assert(f.dtype == MIL_UINT8 && f.block == QUANT_PER_CHANNEL);
  ck_assert_int_eq(wfmt_parse("lut6_group16", &f, msg, sizeof msg), 0);
  ck_assert(f.kind == QK_LUT && f.dtype == MIL_UINT6 && f.group == 16);
  ck_assert_int_eq(wfmt_parse("sparse_lut4", &f, msg, sizeof msg), 0);
  ck_assert(f.sparse && f.sparsity == 0.5 && f.kind == QK_LUT && f.dtype == MIL_UINT4);
  ck_assert_int_eq(wfmt_parse("sparse_int8", &f, msg, sizeof msg), 0);
  ck_assert(f.sparse && f.kind == QK_AFFINE && f.block == QUANT_PER_CHANNEL);
  ck_assert_int_eq(wfmt_parse("fp16", &f, msg, sizeof msg), 1);
  ck_assert_int_eq(wfmt_parse("int8", &f, msg, sizeof msg), 1);
  ck_assert_int_eq(wfmt_parse("lut5", &f, msg, sizeof msg), -1);
  ck_assert_str_eq(msg, "palettes have 1, 2, 3, 4, 6 or 8 bits, not 5");
  ck_assert_int_eq(wfmt_parse("int4_block0", &f, msg, sizeof msg), -1);
  ck_assert_str_eq(msg, "expected int4_tensor, int4_channel or int4_blockN");
  ck_assert_int_eq(wfmt_parse("lut4_groups16", &f, msg, sizeof msg), -1);
  ck_assert_int_eq(wfmt_parse("sparse_int4", &f, msg, sizeof msg), -1);
  ck_assert_int_eq(wfmt_parse("int8_channel_affine", &f, msg, sizeof msg), 0);
  ck_assert(f.affine_op && f.dtype == MIL_INT8 && f.block == QUANT_PER_CHANNEL);
  ck_assert_int_eq(wfmt_parse("int4_channel_affine", &f, msg, sizeof msg), -1);
  ck_assert_str_eq(msg, "constexpr_affine_dequantize stores int8 or uint8, not int4");
  ck_assert_int_eq(wfmt_parse("int8_tensor_affine", &f, msg, sizeof msg), -1);
  ck_assert_int_eq(wfmt_parse("lut6_group16_vec2", &f, msg, sizeof msg), 0);
  ck_assert(f.kind == QK_LUT && f.dtype == MIL_UINT6 && f.group == 16 && f.vec == 2);
  ck_assert_int_eq(wfmt_parse("lut4_vec4", &f, msg, sizeof msg), 0);
  ck_assert(f.group == 0 && f.vec == 4);
  ck_assert_int_eq(wfmt_parse("lut4_vec1", &f, msg, sizeof msg), -1);
  ck_assert_str_eq(msg, "expected lut4_vecV with V (at least 2) the output channels per "
                   "palette entry");
  ck_assert_int_eq(wfmt_parse("lut4_vec2_group4", &f, msg, sizeof msg), -1);
}
END_TEST

/* The error anetc's checker reports for text, at its position. */
static void rejects(const char *text, const char *want) {
  char *dir = wt_tmpdir(), *anet = wt_path(dir, "t.anet");
  wt_write(anet, text, strlen(text));
  char *log = wt_path(dir, "err");
  FILE *f = fopen(log, "w+");
  ck_assert_ptr_nonnull(f);
  Diag d = diag_stderr();
  d.out = f;
  ModelPath mp;
  Loaded l;
  int rc = model_open(anet, &mp, &d);
  if (rc == 0) {
    rc = model_load(&mp, 0, false, NULL, &l, &d);
    if (rc == 0)
      model_unload(&l);
  }
  model_close(&mp);   /* also after a failed open */
  ck_assert_int_ne(rc, 0);
  char buf[1000] = {0};
  rewind(f);
  fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  ck_assert_msg(strstr(buf, want), "got: %s\nwant: %s", buf, want);
  remove(log);
  remove(anet);
  rmdir(dir);
  free(log);
  free(anet);
  free(dir);
}

START_TEST(test_errors) {
  rejects("network t {\n input x: fp16[1, 48, 2, 2]\n conv 8 weights=int4_block32\n}\n",
          "t.anet:3:17: error: weight format 'int4_block32': block size 32 does not divide "
          "the 48 input channels");
  rejects("network t {\n input x: fp16[1, 16, 2, 2]\n conv 24 weights=lut6_group16\n}\n",
          "3:18: error: weight format 'lut6_group16': palette group of 16 output channels "
          "does not divide the 24 output channels");
  rejects("network t {\n input x: fp16[1, 16, 2, 2]\n conv 8 weights=lut5\n}\n",
          "3:17: error: weight format 'lut5': palettes have 1, 2, 3, 4, 6 or 8 bits, not 5");
  rejects("network t {\n input x: fp16[1, 16, 2, 2]\n conv 8 weights=int8_channel "
          "sparsity=0.5\n}\n", "error: sparsity applies to sparse_* weight formats only");
  rejects("network t {\n input x: fp16[1, 16, 2, 2]\n conv 8 weights=sparse_int8 "
          "sparsity=1\n}\n", "error: sparsity must be in [0, 1), got 1");
  rejects("network t {\n input x: fp16[1, 16, 2, 2]\n conv 8 weights=q4\n}\n",
          "error: unknown weight format 'q4'; expected fp16, int8, TYPE_tensor, TYPE_channel, "
          "TYPE_blockN (TYPE int8, uint8, int4 or uint4), int8_channel_affine, "
          "uint8_channel_affine, lutB[_groupG][_vecV] (B 1, 2, 3, 4, 6 "
          "or 8), sparse_fp16, sparse_int8, sparse_uint8, sparse_lutB[_groupG]");
}
END_TEST

START_TEST(test_sim_weight_bytes) {
  /* What the sim backend reads per conv: the stored parts (sub-byte
   * counted in bits, rounded up per tensor) plus 36 bytes of conv consts
   * (strides, dilations int32[2], pad int32[4], groups int32). The sparse
   * op's two outputs are one set of stored parts. */
  static const char text[] =
      "network w {\n input x: fp16[1, 64, 2, 2]\n conv 8 weights=int4_block32\n"
      " conv 4 weights=uint8_channel\n conv 4 weights=lut2_group2\n"
      " conv 4 weights=sparse_int8\n conv 4 weights=int8_channel_affine\n"
      " conv 4 weights=lut1_vec2\n}\n";
  static const double want[6] = {
    512 / 2 + 16 * 2 + 36,      /* int4[8, 64], fp16 scale[8, 2] */
    32 + 4 * 2 + 4 + 36,        /* uint8[4, 8], fp16 scale[4], uint8 offset[4] */
    16 * 2 / 8 + 8 * 2 + 36,    /* uint2[4, 4], fp16 lut[2 x 4] */
    2 + 8 + 4 * 2 + 36,         /* uint1 mask[16], int8[8], fp16 scale[4] */
    16 + 4 * 2 + 4 + 4 + 36,    /* int8[4, 4], fp16 scale[4], int8 zero_point[4], int32 axis */
    1 + 2 * 2 * 2 + 4 + 36,     /* uint1[2, 4], fp16 lut[2 entries x 2], int32 vector_axis */
  };
  AnetFile *f;
  MilProg *p = lowered(text, &f);
  FlopsIndex *ix = flops_index(&p->funcs[0]);
  int k = 0;
  for (int i = 0; i < p->funcs[0].nops; i++)
    if (strcmp(p->funcs[0].ops[i].op, "conv") == 0) {
      OpCost c;
      flops_op(ix, i, &c);
      ck_assert_msg(c.weight_bytes == want[k], "conv %d: %g bytes, want %g", k, c.weight_bytes,
                    want[k]);
      k++;
    }
  ck_assert_int_eq(k, 6);
  flops_index_free(ix);
  mil_free(p);
  anet_free(f);
}
END_TEST

int main(void) {
  Suite *s = suite_create("wformat");
  TCase *t = wt_tcase(s, "wformat");
  tcase_add_test(t, test_int8_channel);
  tcase_add_test(t, test_uint8_tensor);
  tcase_add_test(t, test_channel_affine);
  tcase_add_test(t, test_channel_affine_mil);
  tcase_add_test(t, test_int4_block2);
  tcase_add_test(t, test_luts);
  tcase_add_test(t, test_vector_luts);
  tcase_add_test(t, test_vector_lut_mil);
  tcase_add_test(t, test_words);
  tcase_add_test(t, test_errors);
  tcase_add_test(t, test_sim_weight_bytes);
  return ck_run(s);
}
