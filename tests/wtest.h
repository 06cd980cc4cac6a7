/* wtest.h - helpers shared by the weight and array tests (test_blob,
 * test_wfile, test_npy): test cases, scratch directories, whole files,
 * captured diagnostics. Header-only; every function is static. */
#ifndef ANET_WTEST_H
#define ANET_WTEST_H

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"

/* A test case called name, added to s, with the time that sanitizer
 * builds on a loaded machine need. */
static inline TCase *wt_tcase(Suite *s, const char *name) {
  TCase *t = tcase_create(name);
  tcase_set_timeout(t, 120);
  suite_add_tcase(s, t);
  return t;
}

/* A fresh directory under /tmp; free() the result. */
static inline char *wt_tmpdir(void) {
  char *d = strdup("/tmp/anet-wtest-XXXXXX");
  ck_assert_ptr_nonnull(d);
  ck_assert_ptr_nonnull(mkdtemp(d));
  return d;
}

static inline char *wt_path(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  ck_assert_ptr_nonnull(p);
  snprintf(p, n, "%s/%s", dir, name);
  return p;
}

static inline void wt_write(const char *path, const void *buf, size_t n) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(buf, 1, n, f), n);
  ck_assert_int_eq(fclose(f), 0);
}

/* The whole file, malloc'd; *n its size. */
static inline unsigned char *wt_read(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  ck_assert_ptr_nonnull(f);
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  ck_assert_int_ge(len, 0);
  fseek(f, 0, SEEK_SET);
  unsigned char *b = malloc((size_t)len + 1);
  ck_assert_ptr_nonnull(b);
  ck_assert_uint_eq(fread(b, 1, (size_t)len, f), (size_t)len);
  fclose(f);
  *n = (size_t)len;
  return b;
}

/* Names in dir other than . and .. */
static inline int wt_count_entries(const char *dir) {
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
      n++;
  closedir(d);
  return n;
}

/* Removes dir and the plain files in it. */
static inline void wt_rmdir(char *dir) {
  DIR *d = opendir(dir);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)))
      if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
        char *p = wt_path(dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
          wt_rmdir(p);
        else {
          unlink(p);
          free(p);
        }
      }
    closedir(d);
  }
  rmdir(dir);
  free(dir);
}

/* A path called name in a fresh directory under /tmp; wt_rmtmp(path)
 * removes the directory and frees the path. */
static inline char *wt_tmpfile(const char *name) {
  char *dir = wt_tmpdir();
  char *p = wt_path(dir, name);
  free(dir);
  return p;
}

static inline void wt_rmtmp(char *path) {
  char *dir = strdup(path);
  ck_assert_ptr_nonnull(dir);
  *strrchr(dir, '/') = '\0';
  wt_rmdir(dir);
  free(path);
}

/* Diagnostics into memory: wt_diag_begin, run, then wt_diag_text. */
typedef struct WtDiag {
  Diag d;
  char *buf;
  size_t len;
} WtDiag;

static inline void wt_diag_begin(WtDiag *w) {
  w->buf = NULL;
  w->len = 0;
  w->d.out = open_memstream(&w->buf, &w->len);
  w->d.nerrors = 0;
  ck_assert_ptr_nonnull(w->d.out);
}

/* The text so far (valid until wt_diag_end). */
static inline const char *wt_diag_text(WtDiag *w) {
  fflush(w->d.out);
  return w->buf ? w->buf : "";
}

static inline void wt_diag_end(WtDiag *w) {
  fclose(w->d.out);
  free(w->buf);
}

/* Asserts that the captured text contains needle. */
#define wt_assert_has(w, needle)                                            \
  do {                                                                      \
    const char *t_ = wt_diag_text(w);                                       \
    ck_assert_msg(strstr(t_, (needle)) != NULL, "expected \"%s\" in: %s",   \
                  (needle), t_);                                            \
  } while (0)

static inline unsigned long long wt_le(const unsigned char *p, int n) {
  unsigned long long v = 0;
  for (int i = n - 1; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

#endif
