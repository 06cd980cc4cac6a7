/* test_quant.c - gen/quant.c against cases worked out by hand from the
 * rules in its header comment and the op definitions (FORMATS.md §3.1).
 * fp16 values were rounded by hand (and checked with Python's struct 'e'). */
#include <check.h>
#include <math.h>
#include <string.h>

#include "check_main.h"
#include "quant.h"

static QuantOut run(QuantFmt f, const float *w, int64_t cout, int64_t cin, int64_t k) {
  char msg[160];
  ck_assert_ptr_null(quant_check(&f, cout, cin, k, msg, sizeof msg));
  QuantOut o;
  ck_assert_int_eq(quant_run(&f, w, cout, cin, k, &o), 0);
  return o;
}

static void part_is(const QuantOut *o, QuantPart p, MilDtype want_dt, int64_t n,
                    const double *want) {
  MilDtype dt;
  ck_assert_int_eq(quant_part_numel(o, p, &dt), n);
  ck_assert_int_eq(dt, want_dt);
  double v[64];
  quant_part_values(o, p, 0, n, v);
  for (int64_t i = 0; i < n; i++)
    ck_assert_msg(v[i] == want[i], "part %d element %lld: %.17g, want %.17g", p, (long long)i,
                  v[i], want[i]);
}

START_TEST(test_int8_per_channel) {
  /* row 0: absmax 7.9375 -> scale 7.9375/127 = 0.0625 exactly; -16.5 and
   * 1.5 and 2.5 are ties: half to even gives -16, 2, 2.
   * row 1: 0.5/127 -> fp16 0.003936767578125; 0.5 / that = 127.0077 -> 127.
   * row 2: all zero -> scale 1, q 0. */
  static const float w[12] = {7.9375f, -1.03125f, 0.09375f, 0.15625f, 0.5f, 0, 0, 0, 0, 0, 0, 0};
  QuantOut o = run((QuantFmt){.kind = QK_AFFINE, .dtype = MIL_INT8,
                              .block = QUANT_PER_CHANNEL}, w, 3, 4, 1);
  part_is(&o, QP_DATA, MIL_INT8, 12, (double[]){127, -16, 2, 2, 127, 0, 0, 0, 0, 0, 0, 0});
  part_is(&o, QP_SCALE, MIL_FP16, 3, (double[]){0.0625, 0.003936767578125, 1});
  MilDtype dt;
  ck_assert_int_eq(quant_part_numel(&o, QP_OFFSET, &dt), 0);
  float y[12];
  quant_dequant(&o, y);
  ck_assert(y[1] == -1.0f && y[2] == 0.125f && y[3] == 0.125f);
  double mx, snr;
  quant_error(w, y, 12, &mx, &snr);
  ck_assert(mx == 0.03125);   /* 0.15625 - 0.125 and -1.03125 + 1 */
  quant_free(&o);
}
END_TEST

START_TEST(test_uint8_per_tensor) {
  /* span [-1, 2]: scale fp16(3/255) = 0.0117645263671875, zero point
   * rne(1 / scale = 85.0013) = 85; 2 / scale = 170.0026 -> 170 + 85 = 255;
   * 0.5 / scale = 42.5006 -> 43 + 85 = 128. */
  static const float w[4] = {-1, 0, 2, 0.5f};
  QuantOut o = run((QuantFmt){.kind = QK_AFFINE, .dtype = MIL_UINT8,
                              .block = QUANT_PER_TENSOR}, w, 1, 4, 1);
  part_is(&o, QP_DATA, MIL_UINT8, 4, (double[]){0, 85, 255, 128});
  part_is(&o, QP_SCALE, MIL_FP16, 1, (double[]){0.0117645263671875});
  part_is(&o, QP_OFFSET, MIL_UINT8, 1, (double[]){85});
  quant_free(&o);
}
END_TEST

START_TEST(test_int4_blockwise) {
  /* block 2 along cin: (0.7, -0.35) absmax 0.7 -> scale fp16(0.1) =
   * 0.0999755859375, q 7.0017 -> 7, -3.5009 -> -4 (no tie); (1.4, -2.8)
   * -> scale fp16(0.4) = 0.39990234375, q 3.5009 -> 4, -7.0017 -> -7.
   * Spatial k = 2 doubles the blocks: scales [1, 2, 2] for cin 4. */
  static const float w[4] = {0.7f, -0.35f, 1.4f, -2.8f};
  QuantOut o = run((QuantFmt){.kind = QK_AFFINE, .dtype = MIL_INT4, .block = 2}, w, 1, 4, 1);
  part_is(&o, QP_DATA, MIL_INT4, 4, (double[]){7, -4, 4, -7});
  part_is(&o, QP_SCALE, MIL_FP16, 2, (double[]){0.0999755859375, 0.39990234375});
  quant_free(&o);
  /* [cout 1, cin 2, k 2], block 2: scale (0, 0, s) from w[0, 0, s], w[0, 1, s] */
  static const float w2[4] = {1, 2, -0.5f, 4};   /* (c0: 1, 2), (c1: -0.5, 4) */
  o = run((QuantFmt){.kind = QK_AFFINE, .dtype = MIL_INT4, .block = 2}, w2, 1, 2, 2);
  /* s = 0: absmax 1 -> fp16(1/7) = 0.142822265625; s = 1: 4/7 -> 0.5712890625 */
  part_is(&o, QP_SCALE, MIL_FP16, 2, (double[]){0.142822265625, 0.5712890625});
  /* 1/0.1428 = 7.0017 -> 7; 2/0.5713 = 3.5009 -> 4; -0.5/0.1428 = -3.5009 -> -4; 7 */
  part_is(&o, QP_DATA, MIL_INT4, 4, (double[]){7, 4, -4, 7});
  quant_free(&o);
}
END_TEST

START_TEST(test_checks) {
  char msg[160];
  QuantFmt f = {.kind = QK_AFFINE, .dtype = MIL_INT4, .block = 32};
  ck_assert_str_eq(quant_check(&f, 8, 48, 1, msg, sizeof msg),
                   "block size 32 does not divide the 48 input channels");
  ck_assert_ptr_null(quant_check(&f, 8, 64, 9, msg, sizeof msg));
  f = (QuantFmt){.kind = QK_LUT, .dtype = MIL_UINT6, .group = 16};
  ck_assert_str_eq(quant_check(&f, 24, 8, 1, msg, sizeof msg),
                   "palette group of 16 output channels does not divide the 24 output channels");
  f = (QuantFmt){.kind = QK_LUT, .dtype = MIL_INT4};
  ck_assert_str_eq(quant_check(&f, 4, 4, 1, msg, sizeof msg),
                   "palettes have 1, 2, 3, 4, 6 or 8 bits");
  f = (QuantFmt){.kind = QK_AFFINE, .dtype = MIL_INT8, .sparse = true, .sparsity = 1};
  ck_assert_str_eq(quant_check(&f, 4, 4, 1, msg, sizeof msg), "sparsity must be in [0, 1)");
  /* a weight that is not finite */
  QuantOut o;
  f.sparsity = 0.5;
  ck_assert_int_eq(quant_run(&f, (float[]){1, NAN, 2, 3}, 1, 4, 1, &o), -1);
}
END_TEST

START_TEST(test_lut_kmeans) {
  /* 1 bit on sorted (0, 4, 5, 6, 100): start at ranks 5/4 = 1 and 15/4 = 3
   * (4 and 6); split at 5: means 3 and 53; split at 28: 3.75 and 100;
   * split at 51.875: no change. */
  static const float w[5] = {100, 0, 5, 4, 6};
  QuantOut o = run((QuantFmt){.kind = QK_LUT, .dtype = MIL_UINT1}, w, 1, 5, 1);
  part_is(&o, QP_LUT, MIL_FP16, 2, (double[]){3.75, 100});
  part_is(&o, QP_INDICES, MIL_UINT1, 5, (double[]){1, 0, 0, 0, 0});
  float y[5];
  quant_dequant(&o, y);
  ck_assert(y[0] == 100 && y[1] == 3.75f);
  quant_free(&o);
  /* 2 bits, 3 distinct values: the palette is the values, padded with the
   * last; 3 sits on the midpoint of the two 3s and takes the lower. */
  static const float w2[4] = {3, -1, 3, 2};
  o = run((QuantFmt){.kind = QK_LUT, .dtype = MIL_UINT2}, w2, 2, 2, 1);
  part_is(&o, QP_LUT, MIL_FP16, 4, (double[]){-1, 2, 3, 3});
  part_is(&o, QP_INDICES, MIL_UINT2, 4, (double[]){2, 0, 2, 1});
  quant_free(&o);
  /* values are rounded to fp16 in the palette: 0.1 -> 0.0999755859375 */
  o = run((QuantFmt){.kind = QK_LUT, .dtype = MIL_UINT1}, (float[]){0.1f, 0.1f}, 1, 2, 1);
  part_is(&o, QP_LUT, MIL_FP16, 2, (double[]){0.0999755859375, 0.0999755859375});
  quant_free(&o);
}
END_TEST

START_TEST(test_lut_grouped) {
  /* one 1-bit palette per output channel */
  static const float w[4] = {2, 1, 10, 30};
  QuantOut o = run((QuantFmt){.kind = QK_LUT, .dtype = MIL_UINT1, .group = 1}, w, 2, 2, 1);
  part_is(&o, QP_LUT, MIL_FP16, 4, (double[]){1, 2, 10, 30});
  part_is(&o, QP_INDICES, MIL_UINT1, 4, (double[]){1, 0, 0, 1});
  float y[4];
  quant_dequant(&o, y);
  ck_assert(memcmp(y, w, sizeof y) == 0);
  quant_free(&o);
}
END_TEST

START_TEST(test_lut_signed_zero) {
  /* -0 and +0 are one value: the palette holds +0 whatever the sort did */
  static const float w[4] = {-0.0f, 0.0f, -0.0f, 1};
  QuantOut o = run((QuantFmt){.kind = QK_LUT, .dtype = MIL_UINT1}, w, 1, 4, 1);
  ck_assert(o.lut[0] == 0 && !signbit(o.lut[0]) && o.lut[1] == 1);
  quant_free(&o);
}
END_TEST

START_TEST(test_sparse) {
  /* |w| sorted: 0, 0.1, 0.2, 0.2, 0.5, 3; three go: below 0.2 (0.1, 0)
   * and of the two at 0.2 the lower index (2). */
  static const float w[6] = {0.1f, -0.5f, 0.2f, 0, -0.2f, 3};
  QuantFmt f = {.kind = QK_FP16, .sparse = true, .sparsity = 0.5};
  QuantOut o = run(f, w, 2, 3, 1);
  part_is(&o, QP_MASK, MIL_UINT1, 6, (double[]){0, 1, 0, 0, 1, 1});
  part_is(&o, QP_VALUES, MIL_FP16, 3, (double[]){-0.5, -0.199951171875, 3});
  quant_free(&o);
  /* int8 per channel on the kept values: row 0 keeps -0.5 (scale
   * fp16(0.5/127) = 0.003936767578125, q -127.0078 -> -127), row 1 keeps
   * -0.2 and 3 (scale fp16(3/127) = 0.02362060546875, q -8.467 -> -8, 127.0078 -> 127) */
  f.kind = QK_AFFINE;
  f.dtype = MIL_INT8;
  f.block = QUANT_PER_CHANNEL;
  o = run(f, w, 2, 3, 1);
  part_is(&o, QP_DATA, MIL_INT8, 3, (double[]){-127, -8, 127});
  part_is(&o, QP_SCALE, MIL_FP16, 2, (double[]){0.003936767578125, 0.02362060546875});
  quant_free(&o);
}
END_TEST

START_TEST(test_sparse_zero_row) {
  /* the three smallest are all of row 0: its mask row is zero, its scale 1 */
  static const float w[6] = {0.01f, 0.02f, 5, 6, 0.03f, 7};
  QuantFmt f = {.kind = QK_AFFINE, .dtype = MIL_INT8, .block = QUANT_PER_CHANNEL,
                .sparse = true, .sparsity = 0.5};
  QuantOut o = run(f, w, 3, 2, 1);
  part_is(&o, QP_MASK, MIL_UINT1, 6, (double[]){0, 0, 1, 1, 0, 1});
  part_is(&o, QP_SCALE, MIL_FP16, 3, (double[]){1, 0.04724121093750, 0.05511474609375});
  float y[6];
  quant_dequant(&o, y);
  ck_assert(y[0] == 0 && y[1] == 0 && y[4] == 0);
  quant_free(&o);
  /* sparse palettes: row 0 keeps nothing, its palette is zeros */
  f = (QuantFmt){.kind = QK_LUT, .dtype = MIL_UINT1, .group = 1, .sparse = true,
                 .sparsity = 0.5};
  o = run(f, w, 3, 2, 1);
  part_is(&o, QP_LUT, MIL_FP16, 6, (double[]){0, 0, 5, 6, 7, 7});
  part_is(&o, QP_INDICES, MIL_UINT1, 3, (double[]){0, 1, 0});
  quant_free(&o);
}
END_TEST

START_TEST(test_error_metrics) {
  double mx, snr;
  /* error (0, 0.5): signal 1 + 4 = 5, noise 0.25: 10 log10(20) dB */
  quant_error((float[]){1, 2}, (float[]){1, 2.5f}, 2, &mx, &snr);
  ck_assert(mx == 0.5);
  ck_assert_double_eq_tol(snr, 13.010299956639812, 1e-12);
  quant_error((float[]){1, 2}, (float[]){1, 2}, 2, &mx, &snr);
  ck_assert(mx == 0 && isinf(snr) && snr > 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("quant");
  TCase *t = tcase_create("quant");
  tcase_add_test(t, test_int8_per_channel);
  tcase_add_test(t, test_uint8_per_tensor);
  tcase_add_test(t, test_int4_blockwise);
  tcase_add_test(t, test_checks);
  tcase_add_test(t, test_lut_kmeans);
  tcase_add_test(t, test_lut_grouped);
  tcase_add_test(t, test_lut_signed_zero);
  tcase_add_test(t, test_sparse);
  tcase_add_test(t, test_sparse_zero_row);
  tcase_add_test(t, test_error_metrics);
  suite_add_tcase(s, t);
  return ck_run(s);
}
