/* npyhdr.c - parse and format .npy headers.
 *
 * The header is a Python literal; we accept the subset NumPy writes (and
 * a little more whitespace): a dict of string keys whose values are strings,
 * True/False or tuples of non-negative integers. */
#include "npyhdr.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const uint8_t magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

static const struct {
  const char *descr;
  MilDtype dt;
} descrs[] = {
  {"<f2", MIL_FP16}, {"<f4", MIL_FP32},
  /* byte order means nothing for one byte; NumPy writes '|' */
  {"|i1", MIL_INT8}, {"<i1", MIL_INT8}, {">i1", MIL_INT8}, {"=i1", MIL_INT8},
  {"|u1", MIL_UINT8}, {"<u1", MIL_UINT8}, {">u1", MIL_UINT8}, {"=u1", MIL_UINT8},
  {"<i4", MIL_INT32}, {"|b1", MIL_BOOL},
};

int npyhdr_elem_size(MilDtype dt) {
  switch (dt) {
  case MIL_FP16: return 2;
  case MIL_FP32: case MIL_INT32: return 4;
  case MIL_INT8: case MIL_UINT8: case MIL_BOOL: return 1;
  default: return 0;
  }
}

/* The version's header-length field width, 0 for unsupported versions. */
static int len_width(const uint8_t *buf) {
  if (buf[7] != 0)
    return 0;
  return buf[6] == 1 ? 2 : buf[6] == 2 ? 4 : 0;
}

uint64_t npyhdr_size(const uint8_t *buf, size_t n) {
  if (n < 10 || memcmp(buf, magic, sizeof magic) != 0)
    return 0;
  int w = len_width(buf);
  if (!w || n < 8 + (size_t)w)
    return 0;
  uint64_t hl = w == 2 ? (uint64_t)buf[8] | (uint64_t)buf[9] << 8
                       : (uint64_t)buf[8] | (uint64_t)buf[9] << 8 |
                             (uint64_t)buf[10] << 16 | (uint64_t)buf[11] << 24;
  if (hl > NPYHDR_MAX)
    return 0;
  return 8 + (uint64_t)w + hl;
}

/* ---- the dict literal ---------------------------------------------------- */

typedef struct Parser {
  const char *name;
  const char *s;     /* the whole file image: positions are file offsets */
  size_t pos, end;
  Diag *d;
} Parser;

static int fail(Parser *p, const char *expected) {
  if (p->pos >= p->end)
    diag_file_error(p->d, p->name, "malformed .npy header: expected %s before its end (byte %zu)",
                    expected, p->end);
  else
    diag_file_error(p->d, p->name, "malformed .npy header at byte %zu: expected %s, found '%c'",
                    p->pos, expected,
                    p->s[p->pos] >= 0x20 && p->s[p->pos] < 0x7f ? p->s[p->pos] : '?');
  return -1;
}

static void skip_ws(Parser *p) {
  while (p->pos < p->end && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                             p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
    p->pos++;
}

static bool eat(Parser *p, char c) {
  skip_ws(p);
  if (p->pos < p->end && p->s[p->pos] == c) {
    p->pos++;
    return true;
  }
  return false;
}

/* A quoted string without escapes; the result points into the header. */
static int parse_string(Parser *p, const char **str, size_t *len) {
  skip_ws(p);
  if (p->pos >= p->end || (p->s[p->pos] != '\'' && p->s[p->pos] != '"'))
    return fail(p, "a quoted string");
  char q = p->s[p->pos++];
  size_t start = p->pos;
  while (p->pos < p->end && p->s[p->pos] != q) {
    if (p->s[p->pos] == '\\' || p->s[p->pos] == '\n')
      return fail(p, "a plain string (no escapes)");
    p->pos++;
  }
  if (p->pos >= p->end)
    return fail(p, "a closing quote");
  *str = p->s + start;
  *len = p->pos - start;
  p->pos++;
  return 0;
}

static bool eat_word(Parser *p, const char *w) {
  skip_ws(p);
  size_t n = strlen(w);
  if (p->end - p->pos >= n && memcmp(p->s + p->pos, w, n) == 0) {
    p->pos += n;
    return true;
  }
  return false;
}

static int parse_bool(Parser *p, bool *v) {
  if (eat_word(p, "True"))
    *v = true;
  else if (eat_word(p, "False"))
    *v = false;
  else
    return fail(p, "True or False");
  return 0;
}

static int parse_dim(Parser *p, int64_t *v) {
  skip_ws(p);
  size_t start = p->pos;
  int64_t n = 0;
  while (p->pos < p->end && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
    int dig = p->s[p->pos] - '0';
    if (n > (INT64_MAX - dig) / 10) {
      p->pos = start;
      return fail(p, "a dimension below 2^63");
    }
    n = n * 10 + dig;
    p->pos++;
  }
  if (p->pos == start)
    return fail(p, "a non-negative integer dimension");
  *v = n;
  return 0;
}

/* "()" "(3,)" "(2, 3)" "(2, 3,)"; "(3)" is an int in Python, not a tuple. */
static int parse_shape(Parser *p, NpyHeader *h) {
  if (!eat(p, '('))
    return fail(p, "a shape tuple '('");
  h->rank = 0;
  bool comma = false;
  while (!eat(p, ')')) {
    if (h->rank == MIL_MAX_RANK) {
      diag_file_error(p->d, p->name, "the .npy shape has more than %d dimensions", MIL_MAX_RANK);
      return -1;
    }
    if (parse_dim(p, &h->dim[h->rank++]) != 0)
      return -1;
    comma = eat(p, ',');
    if (!comma) {
      if (!eat(p, ')'))
        return fail(p, "',' or ')' in the shape");
      break;
    }
  }
  if (h->rank == 1 && !comma) {
    diag_file_error(p->d, p->name, "the .npy shape (%" PRId64 ") is a number, not a tuple: "
                    "write a one-element shape as (n,)", h->dim[0]);
    return -1;
  }
  return 0;
}

static int parse_descr(Parser *p, NpyHeader *h) {
  const char *s;
  size_t n;
  skip_ws(p);
  size_t at = p->pos;
  if (parse_string(p, &s, &n) != 0)
    return -1;
  for (size_t i = 0; i < sizeof descrs / sizeof descrs[0]; i++)
    if (strlen(descrs[i].descr) == n && memcmp(descrs[i].descr, s, n) == 0) {
      h->dtype = descrs[i].dt;
      return 0;
    }
  diag_file_error(p->d, p->name,
                  "unsupported dtype '%.*s' at byte %zu (supported: '<f2' '<f4' '|i1' '|u1' '<i4' '|b1')",
                  (int)(n > 32 ? 32 : n), s, at);
  return -1;
}

static int parse_dict(Parser *p, NpyHeader *h) {
  bool seen[3] = {false, false, false};
  static const char *const keys[3] = {"descr", "fortran_order", "shape"};
  if (!eat(p, '{'))
    return fail(p, "'{'");
  while (!eat(p, '}')) {
    skip_ws(p);
    size_t at = p->pos;
    const char *k;
    size_t kn;
    if (parse_string(p, &k, &kn) != 0)
      return -1;
    int key = -1;
    for (int i = 0; i < 3; i++)
      if (strlen(keys[i]) == kn && memcmp(keys[i], k, kn) == 0)
        key = i;
    if (key < 0 || seen[key]) {
      diag_file_error(p->d, p->name, "%s key '%.*s' in the .npy header at byte %zu",
                      key < 0 ? "unknown" : "repeated", (int)(kn > 32 ? 32 : kn), k, at);
      return -1;
    }
    seen[key] = true;
    if (!eat(p, ':'))
      return fail(p, "':'");
    if (key == 0 && parse_descr(p, h) != 0)
      return -1;
    if (key == 1) {
      bool fortran;
      skip_ws(p);
      at = p->pos;
      if (parse_bool(p, &fortran) != 0)
        return -1;
      if (fortran) {
        diag_file_error(p->d, p->name, "fortran_order True at byte %zu is not supported "
                        "(save the array in C order)", at);
        return -1;
      }
    }
    if (key == 2 && parse_shape(p, h) != 0)
      return -1;
    if (!eat(p, ',')) {
      if (!eat(p, '}'))
        return fail(p, "',' or '}'");
      break;
    }
  }
  for (int i = 0; i < 3; i++)
    if (!seen[i]) {
      diag_file_error(p->d, p->name, "the .npy header has no '%s' key", keys[i]);
      return -1;
    }
  skip_ws(p);
  if (p->pos != p->end)
    return fail(p, "only padding after '}'");
  return 0;
}

int npyhdr_parse(const char *name, const uint8_t *buf, size_t len, NpyHeader *h, Diag *d) {
  memset(h, 0, sizeof *h);
  if (len < 10 || memcmp(buf, magic, sizeof magic) != 0) {
    diag_file_error(d, name, "not a .npy file (it does not start with \\x93NUMPY)");
    return -1;
  }
  if (!len_width(buf)) {
    diag_file_error(d, name, "unsupported .npy format version %u.%u (expected 1.0 or 2.0)",
                    buf[6], buf[7]);
    return -1;
  }
  uint64_t total = npyhdr_size(buf, len);
  if (!total) {
    diag_file_error(d, name, "the .npy header is truncated or longer than %d bytes", NPYHDR_MAX);
    return -1;
  }
  if (total > len) {
    diag_file_error(d, name, "the .npy header is truncated: it announces %" PRIu64
                    " bytes, the file has %zu", total, len);
    return -1;
  }
  Parser p = {name, (const char *)buf, 8 + (size_t)len_width(buf), (size_t)total, d};
  if (parse_dict(&p, h) != 0)
    return -1;
  int64_t n = 1;
  for (int i = 0; i < h->rank; i++) {
    if (h->dim[i] && n > INT64_MAX / h->dim[i]) {
      diag_file_error(d, name, "the .npy shape has more than 2^63 elements");
      return -1;
    }
    n *= h->dim[i];
  }
  uint64_t es = (uint64_t)npyhdr_elem_size(h->dtype);
  if ((uint64_t)n > UINT64_MAX / es) {
    diag_file_error(d, name, "the .npy data size overflows");
    return -1;
  }
  h->numel = n;
  h->data_offset = total;
  h->data_bytes = (uint64_t)n * es;
  return 0;
}

/* ---- writing ------------------------------------------------------------- */

size_t npyhdr_format(uint8_t *out, size_t cap, MilDtype dt, int rank, const int64_t *dim) {
  const char *descr = dt == MIL_FP16 ? "<f2" : dt == MIL_FP32 ? "<f4"
                    : dt == MIL_INT8 ? "|i1" : dt == MIL_UINT8 ? "|u1"
                    : dt == MIL_INT32 ? "<i4" : dt == MIL_BOOL ? "|b1" : NULL;
  if (!descr || rank < 0 || rank > MIL_MAX_RANK)
    return 0;
  /* NumPy's own spelling, so our files match np.save byte for byte */
  char dict[512];
  int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
  for (int i = 0; i < rank; i++)
    n += snprintf(dict + n, sizeof dict - (size_t)n, "%s%" PRId64, i ? ", " : "", dim[i]);
  n += snprintf(dict + n, sizeof dict - (size_t)n, "%s), }", rank == 1 ? "," : "");
  size_t dl = (size_t)n;
  /* version 1.0 has a u16 length; 2.0 a u32 (never needed at MIL_MAX_RANK) */
  size_t pre = 10;
  size_t total = (pre + dl + 1 + NPYHDR_ALIGN - 1) / NPYHDR_ALIGN * NPYHDR_ALIGN;
  if (total - pre > 65535) {
    pre = 12;
    total = (pre + dl + 1 + NPYHDR_ALIGN - 1) / NPYHDR_ALIGN * NPYHDR_ALIGN;
  }
  if (total > cap)
    return 0;
  size_t hl = total - pre;
  memcpy(out, magic, sizeof magic);
  out[6] = pre == 10 ? 1 : 2;
  out[7] = 0;
  for (size_t i = 0; i < pre - 8; i++)
    out[8 + i] = (uint8_t)(hl >> (8 * i));
  memcpy(out + pre, dict, dl);
  memset(out + pre + dl, ' ', total - pre - dl - 1);
  out[total - 1] = '\n';
  return total;
}

int npyhdr_wrong_length(const char *name, const NpyHeader *h, uint64_t have, Diag *d) {
  diag_file_error(d, name, "has %" PRIu64 " bytes of data after the header, "
                  "its shape and dtype need exactly %" PRIu64, have, h->data_bytes);
  return -1;
}

/* Reads and parses the header of f (size bytes); 0, or -1 after reporting. */
static int read_header(FILE *f, const char *path, uint64_t size, NpyHeader *h, Diag *d) {
  uint8_t pre[NPYHDR_PREFIX];
  size_t n = fread(pre, 1, sizeof pre, f);
  uint64_t total = npyhdr_size(pre, n);
  if (!total) {
    npyhdr_parse(path, pre, n, h, d);   /* says what is wrong */
    return -1;
  }
  if (total > size) {
    diag_file_error(d, path, "the .npy header is truncated: it announces %" PRIu64
                    " bytes, the file has %" PRIu64, total, size);
    return -1;
  }
  uint8_t *hb = malloc(total);
  int rc = -1;
  if (!hb || fseeko(f, 0, SEEK_SET) != 0 || fread(hb, 1, total, f) != total)
    diag_file_error(d, path, "cannot read the .npy header");
  else if (npyhdr_parse(path, hb, total, h, d) == 0)
    rc = size - total != h->data_bytes ? npyhdr_wrong_length(path, h, size - total, d) : 0;
  free(hb);
  return rc;
}

FILE *npyhdr_open(const char *path, NpyHeader *h, Diag *d) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    diag_file_error(d, path, "cannot open: %s", strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    diag_file_error(d, path, "not a regular file");
  } else if (read_header(f, path, (uint64_t)st.st_size, h, d) == 0) {
    return f;
  }
  fclose(f);
  return NULL;
}
