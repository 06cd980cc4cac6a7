/* wfile.c - checked reading of MILBlob v2 weight files.
 *
 * Nothing in a weight file is trusted: every field is checked against the
 * file's size and the MIL type before a byte of data is handed out, and all
 * offset arithmetic is done so that it cannot wrap. The store reads with
 * pread() into buffers it owns rather than mapping the file: a file cut
 * short by another process after the checks then gives a short read and an
 * error, where a mapping would give SIGBUS. */
#include "wfile.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MODEL_PATH "@model_path/"

enum { WF_OK, WF_MISSING, WF_BAD };

typedef struct WFile {
  char *rel;             /* the path after "@model_path/" */
  char *path;            /* dir/rel, as errors name it */
  int state;
  int err;               /* errno of a failed open */
  bool reported;
  int fd;                /* open while the store lives (-1 if not) */
  uint64_t len;          /* the size fstat gave at open; all checks use it */
} WFile;

struct WStore {
  char *dir;
  int n, cap;
  WFile *files;
  uint8_t *data;         /* the last blob wstore_blob read; reused */
  uint64_t datacap;
};

static uint64_t rd32(const uint8_t *p) {
  return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p) { return rd32(p) | rd32(p + 4) << 32; }

/* FORMATS.md §1.4, for messages. */
static const char *blob_type_name(uint64_t code) {
  static const char *const names[] = {
    NULL, "Float16", "Float32", "UInt8", "Int8", "BFloat16", "Int16", "UInt16", "Int4",
    "UInt1", "UInt2", "UInt4", "UInt3", "UInt6", "Int32", "UInt32", "Float8E4M3FN", "Float8E5M2",
  };
  return code < sizeof names / sizeof names[0] && names[code] ? names[code] : "unknown";
}

/* Reports "name: error: at offset N: ..." and gives false. */
__attribute__((format(printf, 4, 5)))
static bool bad(Diag *d, const char *name, uint64_t off, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  diag_file_error(d, name, "at offset %" PRIu64 ": %s", off, msg);
  return false;
}

/* buf: the file's first 64 bytes (only read when len >= 64). */
static bool check_header(const char *name, const uint8_t *buf, uint64_t len, Diag *d) {
  if (len < 64)
    return bad(d, name, 0, "the file is %" PRIu64 " bytes, too short for the 64-byte "
               "storage header", len);
  uint64_t version = rd32(buf + 4), count = rd32(buf);
  if (version != 2)
    return bad(d, name, 4, "storage format version is %" PRIu64 "; expects version 2", version);
  /* each blob needs at least its 64-byte metadata after the header */
  if (count == 0 || count > (len - 64) / 64)
    return bad(d, name, 0, "blob count %" PRIu64 " is impossible in a file of %" PRIu64
               " bytes", count, len);
  return true;
}

/* The checks that need only the header: the MIL type, and a blob offset
 * whose 64 bytes of metadata lie inside a file of len bytes. */
static bool check_place(const char *name, const uint8_t *hdr, uint64_t len, uint64_t off,
                        MilDtype dt, int64_t numel, Diag *d) {
  if (!check_header(name, hdr, len, d))
    return false;
  int code = (unsigned)dt < MIL_NDTYPES ? mil_dtype_blob_code(dt) : 0;
  if (!code)
    return bad(d, name, off, "a MIL %s tensor cannot be stored in a weight file",
               mil_dtype_name(dt));
  uint64_t bits = (uint64_t)mil_dtype_bits(dt);
  if (numel < 0 || (uint64_t)numel > (UINT64_MAX - 7) / bits)
    return bad(d, name, off, "the MIL type's element count is unknown or too large");
  if (off < 64)
    return bad(d, name, off, "a blob offset must lie past the 64-byte storage header");
  if (off % 64)
    return bad(d, name, off, "a blob offset must be a multiple of 64");
  if (off > len - 64)
    return bad(d, name, off, "the blob metadata would end past the end of the file (%" PRIu64
               " bytes)", len);
  return true;
}

/* The checks of the 64 bytes of metadata m found at off (check_place
 * passed); *data gets the offset of the blob's data, whose size is the
 * MIL type's byte count and whose range lies inside the file. */
static bool check_meta(const char *name, const uint8_t *m, uint64_t len, uint64_t off,
                       MilDtype dt, int64_t numel, uint64_t *data, Diag *d) {
  int code = mil_dtype_blob_code(dt);
  uint64_t bits = (uint64_t)mil_dtype_bits(dt);
  if (rd32(m) != 0xdeadbeefu)
    return bad(d, name, off, "no blob metadata here: sentinel is 0x%08" PRIx64
               ", expected 0xDEADBEEF", rd32(m));
  uint64_t ftype = rd32(m + 4);
  if (ftype != (uint64_t)code)
    return bad(d, name, off + 4, "blob data type is %" PRIu64 " (%s), but the MIL type is %s "
               "(%d, %s)", ftype, blob_type_name(ftype), mil_dtype_name(dt), code,
               blob_type_name((uint64_t)code));
  /* cannot wrap: numel * bits <= UINT64_MAX - 7 */
  uint64_t want = ((uint64_t)numel * bits + 7) / 8;
  uint64_t size = rd64(m + 8);
  if (size != want)
    return bad(d, name, off + 8, "blob size is %" PRIu64 " bytes, but %" PRId64 " %s elements "
               "take %" PRIu64, size, numel, mil_dtype_name(dt), want);
  uint64_t at = rd64(m + 16);
  if (at < off + 64)
    return bad(d, name, off + 16, "data offset %" PRIu64 " overlaps the metadata (must be at "
               "least %" PRIu64 ")", at, off + 64);
  if (at % 64)
    return bad(d, name, off + 16, "data offset %" PRIu64 " is not a multiple of 64", at);
  if (at > len || size > len - at)
    return bad(d, name, off + 16, "the data (%" PRIu64 " bytes at %" PRIu64 ") run past the "
               "end of the file (%" PRIu64 " bytes)", size, at, len);
  uint64_t pad = rd64(m + 24), want_pad = want * 8 - (uint64_t)numel * bits;
  if (pad != want_pad)
    return bad(d, name, off + 24, "padding_size_in_bits is %" PRIu64 ", expected %" PRIu64,
               pad, want_pad);
  *data = at;
  return true;
}

const void *wfile_check_blob(const char *name, const uint8_t *buf, uint64_t len,
                             uint64_t off, MilDtype dt, int64_t numel, Diag *d) {
  uint64_t data;
  if (!check_place(name, buf, len, off, dt, numel, d) ||
      !check_meta(name, buf + off, len, off, dt, numel, &data, d))
    return NULL;
  return buf + data;
}

/* ---- the store ----------------------------------------------------------- */

static char *xstrdup(const char *s) {
  char *c = malloc(strlen(s) + 1);
  if (c)
    strcpy(c, s);
  return c;
}

WStore *wstore_new(const char *dir) {
  WStore *w = calloc(1, sizeof *w);
  if (w && !(w->dir = xstrdup(dir))) {
    free(w);
    w = NULL;
  }
  return w;
}

void wstore_free(WStore *w) {
  if (!w)
    return;
  for (int i = 0; i < w->n; i++) {
    if (w->files[i].fd >= 0)
      close(w->files[i].fd);
    free(w->files[i].rel);
    free(w->files[i].path);
  }
  free(w->files);
  free(w->data);
  free(w->dir);
  free(w);
}

/* The part after "@model_path/", or NULL if the path leaves the model
 * directory or names nothing. */
static const char *model_rel(const char *p) {
  size_t n = strlen(MODEL_PATH);
  if (!p || strncmp(p, MODEL_PATH, n) != 0)
    return NULL;
  const char *rel = p + n;
  if (!*rel || *rel == '/')
    return NULL;
  for (const char *c = rel; *c;) {
    const char *e = strchr(c, '/');
    size_t len = e ? (size_t)(e - c) : strlen(c);
    if (len == 2 && c[0] == '.' && c[1] == '.')
      return NULL;
    c += len + (e != NULL);
  }
  return rel;
}

/* Reads n bytes at off into buf. The range was checked against the size
 * at open, so running out of file means the file shrank since. */
static bool read_at(const WFile *f, void *buf, uint64_t n, uint64_t off, Diag *d) {
  uint8_t *p = buf;
  uint64_t at = off;
  while (n > 0) {
    size_t chunk = n < (1u << 30) ? (size_t)n : (size_t)1 << 30;   /* Linux reads < 2 GiB */
    ssize_t r = pread(f->fd, p, chunk, (off_t)at);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return bad(d, f->path, off, "cannot read: %s", strerror(errno));
    if (r == 0)
      return bad(d, f->path, off, "the file ended early: it was %" PRIu64 " bytes when opened "
                 "and has shrunk since (a weight file must not change while it is read)", f->len);
    p += r;
    at += (uint64_t)r;
    n -= (uint64_t)r;
  }
  return true;
}

static void open_file(WFile *f) {
  /* O_NONBLOCK: a FIFO in place of the file must not hang the open */
  f->fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  struct stat st;
  if (f->fd < 0) {
    f->state = errno == ENOENT ? WF_MISSING : WF_BAD;
    f->err = errno;
    return;
  }
  if (fstat(f->fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > SIZE_MAX) {
    f->state = WF_BAD;
    f->err = EINVAL;
    close(f->fd);
    f->fd = -1;
    return;
  }
  f->len = (uint64_t)st.st_size;
}

/* The file a blob path names, opened on first use; NULL (reported) if the
 * path is not acceptable. */
static WFile *get_file(WStore *w, const char *blob_path, Diag *d) {
  const char *rel = model_rel(blob_path);
  if (!rel) {
    diag_file_error(d, blob_path ? blob_path : "(no path)",
                    "a weight path must start with " MODEL_PATH
                    " and stay inside the model directory (no '..')");
    return NULL;
  }
  for (int i = 0; i < w->n; i++)
    if (strcmp(w->files[i].rel, rel) == 0)
      return &w->files[i];
  if (w->n == w->cap) {
    int cap = w->cap ? 2 * w->cap : 4;
    WFile *nf = realloc(w->files, (size_t)cap * sizeof *nf);
    if (!nf)
      goto oom;
    w->files = nf;
    w->cap = cap;
  }
  WFile *f = &w->files[w->n];
  memset(f, 0, sizeof *f);
  f->fd = -1;
  size_t n = strlen(w->dir) + strlen(rel) + 2;
  f->rel = xstrdup(rel);
  f->path = malloc(n);
  if (!f->rel || !f->path) {
    free(f->rel);
    free(f->path);
    goto oom;
  }
  snprintf(f->path, n, "%s/%s", w->dir, rel);
  w->n++;
  open_file(f);
  return f;
oom:
  diag_file_error(d, blob_path, "out of memory");
  return NULL;
}

/* Checks the blob v names in f: *data gets its data offset, *size its
 * byte count, both inside the file as it was when opened. */
static bool file_blob(WFile *f, const MilValue *v, uint64_t *data, uint64_t *size, Diag *d) {
  if (f->state != WF_OK) {
    diag_file_error(d, f->path, "cannot read: %s", strerror(f->err));
    f->reported = true;
    return false;
  }
  const MilType *t = v->type;
  if (!t || t->kind != MIL_TENSOR) {
    diag_file_error(d, f->path, "at offset %" PRIu64 ": a blob must have a tensor type",
                    v->blob_offset);
    return false;
  }
  int64_t numel = mil_type_numel(t);
  uint64_t off = v->blob_offset;
  uint8_t hdr[64] = {0}, meta[64];
  if ((f->len >= 64 && !read_at(f, hdr, 64, 0, d)) ||
      !check_place(f->path, hdr, f->len, off, t->dtype, numel, d) ||
      !read_at(f, meta, 64, off, d) ||
      !check_meta(f->path, meta, f->len, off, t->dtype, numel, data, d))
    return false;
  *size = mil_blob_nbytes(t->dtype, numel);
  return true;
}

const void *wstore_blob(WStore *w, const MilValue *v, Diag *d) {
  if (v->kind != MIL_VBLOB) {
    diag_file_error(d, NULL, "internal error: wstore_blob on a value that is not a blob");
    return NULL;
  }
  WFile *f = get_file(w, v->blob_path, d);
  uint64_t data, size;
  if (!f || !file_blob(f, v, &data, &size, d))
    return NULL;
  /* one buffer, as large as the largest blob read so far; size <= f->len
   * <= SIZE_MAX */
  if (size > w->datacap || !w->data) {
    free(w->data);
    w->datacap = 0;
    if (!(w->data = malloc(size ? (size_t)size : 1))) {
      diag_file_error(d, f->path, "at offset %" PRIu64 ": out of memory for %" PRIu64
                      " bytes of blob data", v->blob_offset, size);
      return NULL;
    }
    w->datacap = size;
  }
  return read_at(f, w->data, size, data, d) ? w->data : NULL;
}

/* ---- walking a program --------------------------------------------------- */

typedef struct Walk {
  WStore *w;
  bool *missing;
  Diag *d;
  int checked, failed;
} Walk;

static void walk_value(Walk *k, const MilValue *v) {
  if (!v)
    return;
  if (v->kind == MIL_VAGG) {
    for (int i = 0; i < v->nitems; i++)
      walk_value(k, v->items[i]);
    return;
  }
  if (v->kind != MIL_VBLOB)
    return;
  WFile *f = get_file(k->w, v->blob_path, k->d);
  uint64_t data, size;
  if (!f) {
    k->failed++;
  } else if (f->state == WF_MISSING && k->missing) {
    *k->missing = true;
  } else if (f->state != WF_OK && f->reported) {
    k->failed++;      /* said once per file */
  } else if (file_blob(f, v, &data, &size, k->d)) {
    k->checked++;
  } else {
    k->failed++;
  }
}

static void walk_bind(Walk *k, const MilBind *b) {
  if (b->kind == MIL_BVAL)
    walk_value(k, b->val);
  for (int i = 0; b->kind == MIL_BLIST && i < b->nitems; i++)
    walk_bind(k, &b->items[i]);
}

static void walk_attrs(Walk *k, const MilAttr *a, int n) {
  for (int i = 0; i < n; i++)
    walk_value(k, a[i].val);
}

int wstore_check_prog(WStore *w, const MilProg *p, bool *missing, Diag *d) {
  Walk k = {w, missing, d, 0, 0};
  walk_attrs(&k, p->attrs, p->nattrs);
  for (int fi = 0; fi < p->nfuncs; fi++) {
    const MilFunc *f = &p->funcs[fi];
    walk_attrs(&k, f->attrs, f->nattrs);
    for (int o = 0; o < f->nops; o++) {
      const MilOp *op = &f->ops[o];
      for (int a = 0; a < op->nargs; a++)
        walk_bind(&k, &op->args[a].bind);
      walk_attrs(&k, op->attrs, op->nattrs);
    }
  }
  return k.failed ? -1 : k.checked;
}
