/* test_wfile.c - the checked weight-file reader.
 *
 * Each malformed image is a hand-made 144-byte file (FORMATS.md §1): a
 * storage header (count 1, version 2), one fp16[8] blob whose metadata is at
 * 64 and whose 16 data bytes are at 128, with one field broken per case. */
#include <stdint.h>

#include "blob.h"
#include "check_main.h"
#include "wfile.h"
#include "wtest.h"

static void put(uint8_t *p, uint64_t v, int n) {
  for (int i = 0; i < n; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

/* n bytes of zeros but for a storage header (count 1, version 2) and one
 * blob's metadata at 64: its data type code, sizeInBytes and data offset. */
static void image_head(uint8_t *b, size_t n, uint32_t type, uint64_t size, uint64_t data) {
  memset(b, 0, n);
  put(b, 1, 4);              /* count */
  put(b + 4, 2, 4);          /* version */
  put(b + 64, 0xdeadbeef, 4);
  put(b + 68, type, 4);
  put(b + 72, size, 8);
  put(b + 80, data, 8);
}

/* The good image: fp16[8] = 1, 2, ... 8. */
static void good_image(uint8_t b[144]) {
  image_head(b, 144, 1, 16, 128);   /* Float16, 16 bytes at 128 */
  static const uint16_t h[8] = {0x3c00, 0x4000, 0x4200, 0x4400, 0x4500, 0x4600, 0x4700, 0x4800};
  for (int i = 0; i < 8; i++)
    put(b + 128 + 2 * i, h[i], 2);
}

/* Runs wfile_check_blob on img and expects NULL with `msg` in the error. */
static void expect_bad(const uint8_t *img, uint64_t len, uint64_t off, MilDtype dt,
                       int64_t numel, const char *msg) {
  WtDiag w;
  wt_diag_begin(&w);
  ck_assert_ptr_null(wfile_check_blob("w.bin", img, len, off, dt, numel, &w.d));
  ck_assert_int_eq(w.d.nerrors, 1);
  wt_assert_has(&w, msg);
  wt_diag_end(&w);
}

START_TEST(test_good_image) {
  uint8_t b[144];
  good_image(b);
  Diag d = diag_stderr();
  const uint8_t *p = wfile_check_blob("w.bin", b, 144, 64, MIL_FP16, 8, &d);
  ck_assert_ptr_eq(p, b + 128);
  ck_assert_uint_eq(p[0] | p[1] << 8, 0x3c00);
  ck_assert_uint_eq(p[14] | p[15] << 8, 0x4800);   /* 8.0 */
}
END_TEST

START_TEST(test_truncated) {
  uint8_t b[144];
  good_image(b);
  expect_bad(b, 40, 64, MIL_FP16, 8,
             "w.bin: error: at offset 0: the file is 40 bytes, too short for the 64-byte");
  expect_bad(b, 0, 64, MIL_FP16, 8, "the file is 0 bytes");
  /* header and metadata there, data cut short */
  expect_bad(b, 140, 64, MIL_FP16, 8,
             "at offset 80: the data (16 bytes at 128) run past the end of the file (140 bytes)");
  /* metadata cut short: count check first (1 blob needs 64 + 64 bytes) */
  expect_bad(b, 100, 64, MIL_FP16, 8, "at offset 0: blob count 1 is impossible");
}
END_TEST

START_TEST(test_header_fields) {
  uint8_t b[144];
  good_image(b);
  put(b + 4, 1, 4);
  expect_bad(b, 144, 64, MIL_FP16, 8,
             "at offset 4: storage format version is 1; expects version 2");
  good_image(b);
  put(b, 0, 4);
  expect_bad(b, 144, 64, MIL_FP16, 8, "blob count 0 is impossible in a file of 144 bytes");
  put(b, 0xffffffff, 4);
  expect_bad(b, 144, 64, MIL_FP16, 8, "blob count 4294967295 is impossible");
}
END_TEST

START_TEST(test_offsets) {
  uint8_t b[144];
  good_image(b);
  expect_bad(b, 144, 0, MIL_FP16, 8, "at offset 0: a blob offset must lie past the 64-byte");
  expect_bad(b, 144, 100, MIL_FP16, 8, "at offset 100: a blob offset must be a multiple of 64");
  expect_bad(b, 144, 128, MIL_FP16, 8,
             "at offset 128: the blob metadata would end past the end of the file (144 bytes)");
  expect_bad(b, 144, 192, MIL_FP16, 8, "past the end of the file");
  /* an offset so large that offset + 64 wraps */
  expect_bad(b, 144, UINT64_MAX - 63, MIL_FP16, 8, "past the end of the file");
}
END_TEST

START_TEST(test_offset_into_data) {
  /* fp16[64]: metadata at 64, data 128..256; offset 192 points into the data */
  uint8_t b[256];
  image_head(b, sizeof b, 1, 128, 128);
  for (int i = 128; i < 256; i++)
    b[i] = (uint8_t)i;
  Diag d = diag_stderr();
  ck_assert_ptr_eq(wfile_check_blob("w.bin", b, 256, 64, MIL_FP16, 64, &d), b + 128);
  expect_bad(b, 256, 192, MIL_FP16, 32,
             "at offset 192: no blob metadata here: sentinel is 0xc3c2c1c0, expected 0xDEADBEEF");
}
END_TEST

START_TEST(test_metadata_fields) {
  uint8_t b[144];
  good_image(b);
  put(b + 64, 0xdeadbeee, 4);
  expect_bad(b, 144, 64, MIL_FP16, 8, "sentinel is 0xdeadbeee, expected 0xDEADBEEF");
  good_image(b);
  expect_bad(b, 144, 64, MIL_INT8, 16,
             "at offset 68: blob data type is 1 (Float16), but the MIL type is int8 (4, Int8)");
  put(b + 68, 99, 4);
  expect_bad(b, 144, 64, MIL_FP16, 8, "blob data type is 99 (unknown)");
  good_image(b);
  expect_bad(b, 144, 64, MIL_FP16, 10,
             "at offset 72: blob size is 16 bytes, but 10 fp16 elements take 20");
  expect_bad(b, 144, 64, MIL_FP16, -1, "element count is unknown");
  expect_bad(b, 144, 64, MIL_STRING, 1, "a MIL string tensor cannot be stored");
  put(b + 80, 64, 8);
  expect_bad(b, 144, 64, MIL_FP16, 8,
             "at offset 80: data offset 64 overlaps the metadata (must be at least 128)");
  put(b + 80, 130, 8);
  expect_bad(b, 144, 64, MIL_FP16, 8, "data offset 130 is not a multiple of 64");
  put(b + 80, UINT64_MAX - 63, 8);   /* data + size would wrap */
  expect_bad(b, 144, 64, MIL_FP16, 8, "run past the end of the file");
  good_image(b);
  put(b + 88, 3, 8);
  expect_bad(b, 144, 64, MIL_FP16, 8, "at offset 88: padding_size_in_bits is 3, expected 0");
}
END_TEST

START_TEST(test_subbyte_padding) {
  /* uint3[5]: 15 bits in 2 bytes, padding_size_in_bits 1 */
  uint8_t b[192];
  image_head(b, sizeof b, 12, 2, 128);   /* UInt3, 2 bytes at 128 */
  put(b + 88, 1, 8);
  Diag d = diag_stderr();
  ck_assert_ptr_eq(wfile_check_blob("w.bin", b, 130, 64, MIL_UINT3, 5, &d), b + 128);
  put(b + 88, 0, 8);
  expect_bad(b, 130, 64, MIL_UINT3, 5, "padding_size_in_bits is 0, expected 1");
}
END_TEST

START_TEST(test_writer_reader_agree) {
  /* 60 blobs of every storable type and awkward sizes (0, 1, 7, 8, 9, ...,
   * over one writer chunk): the reader accepts each at the offset the
   * layout gave it and returns exactly the bytes blob_fill makes */
  static const MilDtype dts[] = {MIL_FP16, MIL_FP32, MIL_INT8, MIL_UINT8, MIL_INT16, MIL_UINT16,
                                 MIL_INT32, MIL_UINT32, MIL_INT4, MIL_UINT1, MIL_UINT2,
                                 MIL_UINT3, MIL_UINT4, MIL_UINT6};
  static const int64_t sizes[] = {0, 1, 7, 8, 9, 63, 4097, 600000};
  const int ndt = sizeof dts / sizeof dts[0], nsz = sizeof sizes / sizeof sizes[0];
  MilProg *p = mil_new("1.3");
  for (int i = 0; i < 60; i++) {
    MilBlobSrc s = {.dtype = dts[i % ndt], .numel = sizes[(i * 5) % nsz],
                    .init = i % 3 ? MIL_INIT_NORMAL : MIL_INIT_UNIFORM, .a = -1, .b = 3,
                    .seed = (uint64_t)i};
    mil_add_blob(p, s);
  }
  char *path = wt_tmpfile("w.bin");
  Diag d = diag_stderr();
  ck_assert_int_eq(blob_write(p, path, &d), 0);
  size_t n;
  unsigned char *img = wt_read(path, &n);
  uint8_t *want = malloc(4 * 600000);
  for (int i = 0; i < 60; i++) {
    const MilBlobSrc *s = &p->blobs[i];
    const uint8_t *data = wfile_check_blob("w.bin", img, n, s->offset, s->dtype, s->numel, &d);
    ck_assert_ptr_eq(data, img + s->offset + 64);
    ck_assert_int_eq(blob_fill(s, 0, s->numel, want, &d), 0);
    ck_assert_mem_eq(data, want, (size_t)mil_blob_nbytes(s->dtype, s->numel));
  }
  ck_assert_int_eq(d.nerrors, 0);
  free(want);
  free(img);
  wt_rmtmp(path);
  mil_free(p);
}
END_TEST

/* ---- the store ------------------------------------------------------------ */

/* A program with a const whose val is a blob, a conv whose weight argument is
 * a blob, and a blob nested in a tuple attribute; all in weights/weight.bin.
 * With a store on its directory and captured diagnostics. */
typedef struct Model {
  MilProg *p;
  MilValue *v[3];
  char *dir;
  WStore *w;
  WtDiag wd;
} Model;

static MilValue *blob_val(MilProg *p, MilDtype dt, int rank, const int64_t *dims, int src,
                          const char *path) {
  return mil_blob_value(p, mil_tensor_type(p, dt, rank, dims), path, 0, src);
}

static void make_model(Model *m, const char *path) {
  MilProg *p = mil_new("1.3");
  static const int64_t d0[2] = {4, 8}, d1[4] = {16, 16, 1, 1}, d2[1] = {33};
  MilBlobSrc s0 = {.dtype = MIL_FP16, .numel = 32, .init = MIL_INIT_NORMAL, .b = 1, .seed = 1};
  MilBlobSrc s1 = {.dtype = MIL_INT8, .numel = 256, .init = MIL_INIT_UNIFORM, .a = -5, .b = 5,
                   .seed = 2};
  MilBlobSrc s2 = {.dtype = MIL_INT4, .numel = 33, .init = MIL_INIT_UNIFORM, .a = -8, .b = 7,
                   .seed = 3};
  m->v[0] = blob_val(p, MIL_FP16, 2, d0, mil_add_blob(p, s0), path);
  m->v[1] = blob_val(p, MIL_INT8, 4, d1, mil_add_blob(p, s1), path);
  m->v[2] = blob_val(p, MIL_INT4, 1, d2, mil_add_blob(p, s2), path);
  MilFunc *f = mil_add_func(p, "main", "ios18");
  MilOp *op = mil_add_op(p, f, "const");
  mil_op_attr(p, op, "val", m->v[0]);
  op = mil_add_op(p, f, "conv");
  mil_op_val(p, op, "weight", m->v[1]);
  op = mil_add_op(p, f, "const");
  MilValue *tuple = mil_alloc(p, sizeof *tuple);
  tuple->kind = MIL_VAGG;
  tuple->nitems = 2;
  tuple->items = mil_alloc(p, 2 * sizeof *tuple->items);
  tuple->items[0] = mil_scalar_i(p, MIL_INT32, 1);
  tuple->items[1] = m->v[2];
  mil_op_attr(p, op, "pair", tuple);
  m->p = p;
  m->dir = wt_tmpdir();
  char *wd = wt_path(m->dir, "weights");
  ck_assert_int_eq(mkdir(wd, 0755), 0);
  char *wb = wt_path(wd, "weight.bin");
  Diag d = diag_stderr();
  ck_assert_int_eq(blob_write(p, wb, &d), 0);
  free(wb);
  free(wd);
  m->w = wstore_new(m->dir);
  ck_assert_ptr_nonnull(m->w);
  wt_diag_begin(&m->wd);
}

static void free_model(Model *m) {
  wt_diag_end(&m->wd);
  wstore_free(m->w);
  mil_free(m->p);
  wt_rmdir(m->dir);
}

/* A fresh store on m's directory, for a file changed since the last. */
static void reopen_store(Model *m) {
  wstore_free(m->w);
  m->w = wstore_new(m->dir);
  ck_assert_ptr_nonnull(m->w);
}

START_TEST(test_store_reads_back) {
  Model m;
  make_model(&m, "@model_path/weights/weight.bin");
  Diag d = diag_stderr();
  bool missing = false;
  ck_assert_int_eq(wstore_check_prog(m.w, m.p, &missing, &d), 3);
  ck_assert(!missing);
  /* offsets by hand: 64 (fp16[32] = 64 B), 192 (int8[256]), 512 (int4[33] = 17 B) */
  ck_assert_uint_eq(m.v[0]->blob_offset, 64);
  ck_assert_uint_eq(m.v[1]->blob_offset, 192);
  ck_assert_uint_eq(m.v[2]->blob_offset, 512);
  uint8_t want[256];
  for (int i = 0; i < 3; i++) {
    const uint8_t *data = wstore_blob(m.w, m.v[i], &d);
    ck_assert_ptr_nonnull(data);
    const MilBlobSrc *s = &m.p->blobs[i];
    ck_assert_int_eq(blob_fill(s, 0, s->numel, want, &d), 0);
    ck_assert_mem_eq(data, want, (size_t)mil_blob_nbytes(s->dtype, s->numel));
  }
  /* the data are read afresh each time: blob 0 again after the others */
  const uint8_t *a = wstore_blob(m.w, m.v[0], &d);
  ck_assert_int_eq(blob_fill(&m.p->blobs[0], 0, 32, want, &d), 0);
  ck_assert_mem_eq(a, want, 64);
  ck_assert_int_eq(d.nerrors, 0);
  free_model(&m);
}
END_TEST

START_TEST(test_store_missing_file) {
  Model m;
  make_model(&m, "@model_path/weights/other.bin");
  bool missing = false;
  ck_assert_int_eq(wstore_check_prog(m.w, m.p, &missing, &m.wd.d), 0);
  ck_assert(missing);
  ck_assert_int_eq(m.wd.d.nerrors, 0);
  /* without the flag it is an error, said once for the file */
  ck_assert_int_eq(wstore_check_prog(m.w, m.p, NULL, &m.wd.d), -1);
  ck_assert_int_eq(m.wd.d.nerrors, 1);
  wt_assert_has(&m.wd, "weights/other.bin: error: cannot read: No such file or directory");
  ck_assert_ptr_null(wstore_blob(m.w, m.v[0], &m.wd.d));
  free_model(&m);
}
END_TEST

START_TEST(test_store_bad_paths) {
  static const char *const bad[] = {
    "@model_path/../weights/weight.bin", "@model_path/weights/../../x.bin",
    "/etc/passwd", "weights/weight.bin", "@model_path/", "@model_path//etc/passwd",
    "@model_path/weights/..",
  };
  Model m;
  make_model(&m, "@model_path/weights/weight.bin");
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    WtDiag wd;   /* each path's own message */
    wt_diag_begin(&wd);
    MilValue v = *m.v[0];
    v.blob_path = bad[i];
    ck_assert_ptr_null(wstore_blob(m.w, &v, &wd.d));
    wt_assert_has(&wd, "must start with @model_path/ and stay inside the model directory");
    wt_diag_end(&wd);
  }
  /* ".." inside a name is fine */
  MilValue v = *m.v[0];
  v.blob_path = "@model_path/weights/a..b";
  ck_assert_ptr_null(wstore_blob(m.w, &v, &m.wd.d));
  wt_assert_has(&m.wd, "weights/a..b: error: cannot read");
  free_model(&m);
}
END_TEST

START_TEST(test_store_bad_file) {
  /* a type that disagrees with the file, and a truncated file */
  Model m;
  make_model(&m, "@model_path/weights/weight.bin");
  MilValue v = *m.v[0];
  static const int64_t dims[1] = {33};
  v.type = mil_tensor_type(m.p, MIL_FP16, 1, dims);
  ck_assert_ptr_null(wstore_blob(m.w, &v, &m.wd.d));
  wt_assert_has(&m.wd, "weights/weight.bin: error: at offset 72: blob size is 64 bytes, "
                       "but 33 fp16 elements take 66");
  char *wbin = wt_path(m.dir, "weights/weight.bin");
  ck_assert_int_eq(truncate(wbin, 500), 0);
  reopen_store(&m);
  ck_assert_int_eq(wstore_check_prog(m.w, m.p, NULL, &m.wd.d), -1);
  wt_assert_has(&m.wd, "at offset 512: the blob metadata would end past the end of the file");
  ck_assert_int_eq(truncate(wbin, 0), 0);
  reopen_store(&m);
  ck_assert_ptr_null(wstore_blob(m.w, m.v[0], &m.wd.d));
  wt_assert_has(&m.wd, "at offset 0: the file is 0 bytes");
  free(wbin);
  free_model(&m);
}
END_TEST

START_TEST(test_store_file_shrinks) {
  /* The file is opened and every blob checked, then another process cuts
   * it short. Layout by hand: blob 0 metadata at 64, data 128..192;
   * blob 1 metadata at 192, data 256..512. Reading what is gone is an
   * error naming the file, not a SIGBUS. */
  Model m;
  make_model(&m, "@model_path/weights/weight.bin");
  char *wbin = wt_path(m.dir, "weights/weight.bin");
  struct stat st;
  ck_assert_int_eq(stat(wbin, &st), 0);
  ck_assert_int_eq(wstore_check_prog(m.w, m.p, NULL, &m.wd.d), 3);
  char was[160];
  snprintf(was, sizeof was, "the file ended early: it was %lld bytes when opened",
           (long long)st.st_size);
  ck_assert_int_eq(truncate(wbin, 300), 0);
  /* blob 0 lies wholly before the cut and still reads back */
  uint8_t want[64];
  const uint8_t *a = wstore_blob(m.w, m.v[0], &m.wd.d);
  ck_assert_ptr_nonnull(a);
  ck_assert_int_eq(blob_fill(&m.p->blobs[0], 0, 32, want, &m.wd.d), 0);
  ck_assert_mem_eq(a, want, 64);
  ck_assert_int_eq(m.wd.d.nerrors, 0);
  /* blob 1's metadata are there, its data (256..512) are cut */
  ck_assert_ptr_null(wstore_blob(m.w, m.v[1], &m.wd.d));
  ck_assert_int_eq(m.wd.d.nerrors, 1);
  wt_assert_has(&m.wd, "weights/weight.bin: error: at offset 256: ");
  wt_assert_has(&m.wd, was);
  /* cut inside blob 1's metadata (192..256) */
  ck_assert_int_eq(truncate(wbin, 200), 0);
  ck_assert_ptr_null(wstore_blob(m.w, m.v[1], &m.wd.d));
  wt_assert_has(&m.wd, "weights/weight.bin: error: at offset 192: the file ended early");
  /* an empty file: the storage header, read first, is gone */
  ck_assert_int_eq(truncate(wbin, 0), 0);
  ck_assert_ptr_null(wstore_blob(m.w, m.v[0], &m.wd.d));
  wt_assert_has(&m.wd, "weights/weight.bin: error: at offset 0: the file ended early");
  ck_assert_int_eq(m.wd.d.nerrors, 3);
  free(wbin);
  free_model(&m);
}
END_TEST

int main(void) {
  Suite *s = suite_create("wfile");
  TCase *t = wt_tcase(s, "check");
  tcase_add_test(t, test_good_image);
  tcase_add_test(t, test_truncated);
  tcase_add_test(t, test_header_fields);
  tcase_add_test(t, test_offsets);
  tcase_add_test(t, test_offset_into_data);
  tcase_add_test(t, test_metadata_fields);
  tcase_add_test(t, test_subbyte_padding);
  tcase_add_test(t, test_writer_reader_agree);
  t = wt_tcase(s, "store");
  tcase_add_test(t, test_store_reads_back);
  tcase_add_test(t, test_store_missing_file);
  tcase_add_test(t, test_store_bad_paths);
  tcase_add_test(t, test_store_bad_file);
  tcase_add_test(t, test_store_file_shrinks);
  return ck_run(s);
}
