/* test_npy.c - host tensors and .npy files.
 *
 * Files are built byte by byte from the NPY format specification
 * (numpy.lib.format): magic "\x93NUMPY", major, minor, header length (u16 LE
 * for 1.0, u32 LE for 2.0), a dict literal padded with spaces and ended by
 * '\n' so that magic + length + dict is a multiple of 64, then the data. */
#include <math.h>
#include <stdint.h>

#include "check_main.h"
#include "tensor.h"
#include "wtest.h"

/* A version major.0 file image of `total_header` bytes (including the
 * magic) with `dict` padded by spaces and '\n', followed by data. */
static size_t npy_image(uint8_t *out, int major, size_t total_header, const char *dict,
                        const void *data, size_t n) {
  size_t pre = major == 1 ? 10 : 12;
  size_t hl = total_header - pre;
  memcpy(out, "\x93NUMPY", 6);
  out[6] = (uint8_t)major;
  out[7] = 0;
  for (size_t i = 0; i < pre - 8; i++)
    out[8 + i] = (uint8_t)(hl >> (8 * i));
  size_t dl = strlen(dict);
  ck_assert_uint_lt(dl, hl);
  memcpy(out + pre, dict, dl);
  memset(out + pre + dl, ' ', hl - dl - 1);
  out[total_header - 1] = '\n';
  if (n)
    memcpy(out + total_header, data, n);
  return total_header + n;
}

static void expect_bad_mem(const uint8_t *img, size_t len, const char *msg) {
  WtDiag w;
  wt_diag_begin(&w);
  Tensor t;
  ck_assert_int_eq(npy_read_mem("a.npy", img, len, &t, &w.d), -1);
  ck_assert_ptr_null(t.data);
  ck_assert_int_eq(w.d.nerrors, 1);
  wt_assert_has(&w, msg);
  wt_diag_end(&w);
}

/* A 1.0 file with a 128-byte header holding dict and n zero bytes of data
 * must be rejected with msg. */
static void expect_bad_dict(const char *dict, size_t n, const char *msg) {
  static const uint8_t z[64] = {0};
  uint8_t img[256];
  ck_assert_uint_le(n, sizeof z);
  expect_bad_mem(img, npy_image(img, 1, 128, dict, z, n), msg);
}

START_TEST(test_read_v1_fp32) {
  /* 1.0, -2.0, 0.5, 3.0, 0.0, -0.25 in little-endian binary32 */
  static const uint8_t data[24] = {0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 0, 0, 0, 0x3f,
                                   0, 0, 0x40, 0x40, 0, 0, 0, 0,    0, 0, 0x80, 0xbe};
  uint8_t img[256];
  size_t n = npy_image(img, 1, 128, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                       data, 24);
  ck_assert_uint_eq(img[8], 118);   /* header length 0x0076 */
  ck_assert_uint_eq(img[9], 0);
  Tensor t;
  Diag d = diag_stderr();
  ck_assert_int_eq(npy_read_mem("a.npy", img, n, &t, &d), 0);
  ck_assert_int_eq(t.dtype, MIL_FP32);
  ck_assert_int_eq(t.rank, 2);
  ck_assert_int_eq(t.dim[0], 2);
  ck_assert_int_eq(t.dim[1], 3);
  ck_assert_uint_eq(t.nbytes, 24);
  static const double want[6] = {1, -2, 0.5, 3, 0, -0.25};
  for (int i = 0; i < 6; i++)
    ck_assert(tensor_get(&t, i) == want[i]);
  tensor_free(&t);
}
END_TEST

START_TEST(test_read_v2_int8) {
  /* version 2.0 (u32 length), double quotes, keys in another order, no
   * trailing comma, spaces around the tuple */
  static const int8_t data[4] = {-128, -1, 0, 127};
  uint8_t img[256];
  size_t n = npy_image(img, 2, 128, "{\"shape\": ( 4 , ), \"descr\": \"|i1\", "
                                   "\"fortran_order\": False}", data, 4);
  ck_assert_uint_eq(img[8], 116);
  ck_assert_uint_eq(img[9] | img[10] | img[11], 0);
  Tensor t;
  Diag d = diag_stderr();
  ck_assert_int_eq(npy_read_mem("a.npy", img, n, &t, &d), 0);
  ck_assert_int_eq(t.dtype, MIL_INT8);
  ck_assert_int_eq(t.rank, 1);
  ck_assert_int_eq(t.dim[0], 4);
  ck_assert(tensor_get(&t, 0) == -128);
  ck_assert(tensor_get(&t, 1) == -1);
  ck_assert(tensor_get(&t, 3) == 127);
  tensor_free(&t);
}
END_TEST

START_TEST(test_read_shapes) {
  uint8_t img[256];
  Tensor t;
  Diag d = diag_stderr();
  /* () is a scalar: one element */
  static const uint8_t h[2] = {0x00, 0x3c};   /* fp16 1.0 */
  size_t n = npy_image(img, 1, 128, "{'descr': '<f2', 'fortran_order': False, 'shape': (), }",
                       h, 2);
  ck_assert_int_eq(npy_read_mem("a.npy", img, n, &t, &d), 0);
  ck_assert_int_eq(t.rank, 0);
  ck_assert_int_eq(tensor_numel(&t), 1);
  ck_assert(tensor_get(&t, 0) == 1.0);
  tensor_free(&t);
  /* (0, 5): no data at all */
  n = npy_image(img, 1, 128, "{'descr': '|u1', 'fortran_order': False, 'shape': (0, 5), }",
                NULL, 0);
  ck_assert_int_eq(npy_read_mem("a.npy", img, n, &t, &d), 0);
  ck_assert_int_eq(t.rank, 2);
  ck_assert_int_eq(tensor_numel(&t), 0);
  tensor_free(&t);
  /* '<i1' is the same as '|i1' */
  static const uint8_t b[1] = {0xff};
  n = npy_image(img, 1, 128, "{'descr': '<i1', 'fortran_order': False, 'shape': (1,), }", b, 1);
  ck_assert_int_eq(npy_read_mem("a.npy", img, n, &t, &d), 0);
  ck_assert(tensor_get(&t, 0) == -1);
  tensor_free(&t);
}
END_TEST

START_TEST(test_rejects) {
  expect_bad_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 16,
                  "a.npy: error: unsupported dtype '<f8'");
  expect_bad_dict("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 8,
                  "unsupported dtype '>f4'");
  expect_bad_dict("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", 8,
                  "fortran_order True at byte 44 is not supported");
  /* data one byte short, and one byte too many */
  uint8_t img[512] = {0};   /* n + 1 reads one byte past the image */
  static const uint8_t z[8] = {0};
  size_t n = npy_image(img, 1, 128, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
                       z, 8);
  expect_bad_mem(img, n - 1, "has 7 bytes of data after the header, its shape and dtype need "
                             "exactly 8");
  expect_bad_mem(img, n + 1, "has 9 bytes of data");
  /* magic */
  uint8_t bad[136];
  memcpy(bad, img, 136);
  bad[1] = 'n';
  expect_bad_mem(bad, 136, "not a .npy file");
  expect_bad_mem(img, 5, "not a .npy file");
  /* version 3.0 (utf-8 headers) is not supported */
  memcpy(bad, img, 136);
  bad[6] = 3;
  expect_bad_mem(bad, 136, "unsupported .npy format version 3.0");
  /* header length pointing past the end */
  memcpy(bad, img, 136);
  bad[8] = 0xff;
  bad[9] = 0x01;   /* 0x1ff = 511 bytes of dict */
  expect_bad_mem(bad, 136,
                 "the .npy header is truncated: it announces 521 bytes, the file has 136");
  /* shapes */
  expect_bad_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", 8,
                  "the .npy shape (2) is a number, not a tuple: "
                  "write a one-element shape as (n,)");
  expect_bad_dict("{'descr': '|u1', 'fortran_order': False, "
                  "'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1), }", 1,
                  "the .npy shape has more than 8 dimensions");
  expect_bad_dict("{'descr': '|u1', 'fortran_order': False, "
                  "'shape': (4294967296, 4294967296), }", 1,
                  "more than 2^63 elements");
  expect_bad_dict("{'descr': '|u1', 'fortran_order': False, "
                  "'shape': (99999999999999999999,), }", 1,
                  "expected a dimension below 2^63");
  expect_bad_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", 8,
                  "expected a non-negative integer dimension, found '-'");
  /* keys */
  expect_bad_dict("{'descr': '<f4', 'fortran_order': False}", 8,
                  "the .npy header has no 'shape' key");
  expect_bad_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}", 8,
                  "unknown key 'extra'");
  expect_bad_dict("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 8,
                  "repeated key 'descr'");
  expect_bad_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x", 8,
                  "expected only padding after '}', found 'x'");
  expect_bad_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2,", 8,
                  "expected a non-negative integer dimension before its end");
}
END_TEST

/* ---- writing ------------------------------------------------------------- */

START_TEST(test_write_exact_bytes) {
  /* fp16[2, 3] = 0, 1, 2, -1, 0.5, 65504: NumPy's header for this array,
   * padded to 128 bytes, then 12 data bytes */
  Tensor t;
  static const int64_t dims[2] = {2, 3};
  ck_assert_int_eq(tensor_alloc(&t, MIL_FP16, 2, dims), 0);
  static const double v[6] = {0, 1, 2, -1, 0.5, 65504};
  for (int i = 0; i < 6; i++)
    tensor_set(&t, i, v[i]);
  static const uint8_t data[12] = {0, 0, 0, 0x3c, 0, 0x40, 0, 0xbc, 0, 0x38, 0xff, 0x7b};
  uint8_t want[256];
  size_t wn = npy_image(want, 1, 128,
                        "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }", data, 12);
  char *dir = wt_tmpdir();
  char *p = wt_path(dir, "x.npy");
  Diag d = diag_stderr();
  ck_assert_int_eq(npy_write(p, &t, &d), 0);
  size_t n;
  unsigned char *got = wt_read(p, &n);
  ck_assert_uint_eq(n, wn);
  ck_assert_mem_eq(got, want, wn);
  ck_assert_int_eq(wt_count_entries(dir), 1);
  free(got);
  /* rank 1 is spelled (n,) */
  Tensor t1;
  static const int64_t d1[1] = {3};
  ck_assert_int_eq(tensor_alloc(&t1, MIL_UINT8, 1, d1), 0);
  ck_assert_int_eq(npy_write(p, &t1, &d), 0);
  got = wt_read(p, &n);
  ck_assert_uint_eq(n, 128 + 3);
  const char *dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }";
  ck_assert_mem_eq(got + 10, dict, strlen(dict));
  free(got);
  tensor_free(&t1);
  tensor_free(&t);
  free(p);
  wt_rmdir(dir);
}
END_TEST

START_TEST(test_round_trip) {
  static const MilDtype dts[4] = {MIL_FP16, MIL_FP32, MIL_INT8, MIL_UINT8};
  static const int64_t dims[3] = {3, 1, 7};
  char *p = wt_tmpfile("r.npy");
  Diag d = diag_stderr();
  for (int k = 0; k < 4; k++) {
    Tensor t, u;
    ck_assert_int_eq(tensor_alloc(&t, dts[k], 3, dims), 0);
    for (int i = 0; i < 21; i++)
      tensor_set(&t, i, (i - 10) * 12.25);
    ck_assert_int_eq(npy_write(p, &t, &d), 0);
    ck_assert_int_eq(npy_read(p, &u, &d), 0);
    ck_assert_int_eq(u.dtype, dts[k]);
    ck_assert_int_eq(u.rank, 3);
    ck_assert_int_eq(u.dim[2], 7);
    ck_assert_uint_eq(u.nbytes, t.nbytes);
    ck_assert_mem_eq(u.data, t.data, t.nbytes);
    tensor_free(&u);
    size_t n;
    unsigned char *img = wt_read(p, &n);
    ck_assert_int_eq(npy_read_mem("r.npy", img, n, &u, &d), 0);
    ck_assert_mem_eq(u.data, t.data, t.nbytes);
    free(img);
    tensor_free(&u);
    tensor_free(&t);
  }
  wt_rmtmp(p);
}
END_TEST

START_TEST(test_file_errors) {
  WtDiag w;
  wt_diag_begin(&w);
  Tensor t;
  ck_assert_int_eq(npy_read("/nonexistent/x.npy", &t, &w.d), -1);
  wt_assert_has(&w, "/nonexistent/x.npy: error: cannot open: No such file or directory");
  char *dir = wt_tmpdir();
  char *p = wt_path(dir, "t.npy");
  wt_write(p, "\x93NUMPY\x01\x00\x76\x00{'descr'", 17);
  ck_assert_int_eq(npy_read(p, &t, &w.d), -1);
  wt_assert_has(&w, "the .npy header is truncated: it announces 128 bytes, the file has 17");
  wt_write(p, "\x93NUM", 4);
  ck_assert_int_eq(npy_read(p, &t, &w.d), -1);
  wt_assert_has(&w, "t.npy: error: not a .npy file");
  ck_assert_int_eq(npy_read(dir, &t, &w.d), -1);
  static const int64_t dims[1] = {2};
  ck_assert_int_eq(tensor_alloc(&t, MIL_INT16, 1, dims), 0);
  ck_assert_int_eq(npy_write(p, &t, &w.d), -1);
  wt_assert_has(&w, "cannot store int16 in a .npy file");
  tensor_free(&t);
  ck_assert_int_eq(tensor_alloc(&t, MIL_FP32, 1, dims), 0);
  ck_assert_int_eq(npy_write("/nonexistent/y.npy", &t, &w.d), -1);
  wt_assert_has(&w, "/nonexistent/y.npy: error:");
  tensor_free(&t);
  ck_assert_int_eq(wt_count_entries(dir), 1);
  free(p);
  wt_rmdir(dir);
  wt_diag_end(&w);
}
END_TEST

/* ---- tensors ------------------------------------------------------------- */

START_TEST(test_set_rounding) {
  static const struct { MilDtype dt; double in, out; } c[] = {
    {MIL_FP16, 1.0 / 3, 0.333251953125}, {MIL_FP16, 65520, INFINITY}, {MIL_FP16, 1e-8, 0},
    {MIL_FP16, 0x1p-24 * 1.5, 0x1p-23},   /* a tie between subnormals: to even */
    {MIL_FP32, 0.1, 0.100000001490116119384765625},
    {MIL_INT8, 2.5, 2}, {MIL_INT8, 3.5, 4}, {MIL_INT8, -2.5, -2}, {MIL_INT8, -0.5, 0},
    {MIL_INT8, 127.4, 127}, {MIL_INT8, 127.5, 127}, {MIL_INT8, 1000, 127},
    {MIL_INT8, -1000, -128}, {MIL_INT8, -128.5, -128}, {MIL_INT8, NAN, 0},
    {MIL_UINT8, -3, 0}, {MIL_UINT8, 254.5, 254}, {MIL_UINT8, 255.5, 255}, {MIL_UINT8, 1e300, 255},
    {MIL_INT16, -40000, -32768}, {MIL_UINT16, 65535.49, 65535},
    {MIL_INT32, 0x1p40, 2147483647}, {MIL_INT32, -2147483648.0, -2147483648.0},
    {MIL_UINT32, 4294967294.5, 4294967294}, {MIL_INT64, 1e19, 9223372036854775807.0},
    {MIL_INT64, -1e19, -9223372036854775808.0}, {MIL_UINT64, 2e19, 18446744073709551615.0},
    {MIL_FP64, 0.1, 0.1}, {MIL_BOOL, 0.5, 1}, {MIL_BOOL, 0, 0},
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
    Tensor t;
    ck_assert_int_eq(tensor_alloc(&t, c[i].dt, 0, NULL), 0);
    tensor_set(&t, 0, c[i].in);
    double got = tensor_get(&t, 0);
    ck_assert_msg(got == c[i].out, "case %zu: %s(%.17g) = %.17g", i, mil_dtype_name(c[i].dt),
                  c[i].in, got);
    tensor_free(&t);
  }
}
END_TEST

START_TEST(test_alloc_limits) {
  Tensor t;
  static const int64_t huge[3] = {1 << 30, 1 << 30, 1 << 30};
  ck_assert_int_eq(tensor_alloc(&t, MIL_FP32, 3, huge), -1);
  ck_assert_ptr_null(t.data);
  static const int64_t neg[1] = {-1};
  ck_assert_int_eq(tensor_alloc(&t, MIL_FP32, 1, neg), -1);
  static const int64_t one[1] = {4};
  ck_assert_int_eq(tensor_alloc(&t, MIL_INT4, 1, one), -1);
  ck_assert_int_eq(tensor_alloc(&t, MIL_STRING, 1, one), -1);
  ck_assert_int_eq(tensor_alloc(&t, MIL_FP32, MIL_MAX_RANK + 1, one), -1);
  ck_assert_int_eq(tensor_alloc(&t, MIL_INT16, 1, one), 0);
  ck_assert_uint_eq(t.nbytes, 8);
  ck_assert(tensor_get(&t, 3) == 0);   /* zeroed */
  tensor_free(&t);
}
END_TEST

int main(void) {
  Suite *s = suite_create("npy");
  TCase *t = wt_tcase(s, "read");
  tcase_add_test(t, test_read_v1_fp32);
  tcase_add_test(t, test_read_v2_int8);
  tcase_add_test(t, test_read_shapes);
  tcase_add_test(t, test_rejects);
  t = wt_tcase(s, "write");
  tcase_add_test(t, test_write_exact_bytes);
  tcase_add_test(t, test_round_trip);
  tcase_add_test(t, test_file_errors);
  t = wt_tcase(s, "tensor");
  tcase_add_test(t, test_set_rounding);
  tcase_add_test(t, test_alloc_limits);
  return ck_run(s);
}
