/* manifest.c - reading anet.json back, every field checked. */
#include "manifest.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jread.h"
#include "outfile.h"

enum { MANIFEST_MAX_TEXT = 256 << 20 };

static size_t value_start(JRead *j) {
  jread_peek(j);
  return j->pos;
}

/* A string member that names something: not empty, no control
 * characters, shorter than size. */
static void read_name(JRead *j, const char *key, char *buf, size_t size) {
  size_t at = value_start(j);
  size_t n = jread_string(j, buf, size);
  if (j->failed)
    return;
  if (n >= size)
    jread_fail_at(j, at, "\"%s\" is longer than %zu bytes", key, size - 1);
  else if (n == 0)
    jread_fail_at(j, at, "\"%s\" is empty", key);
  for (size_t i = 0; !j->failed && i < n; i++)
    if ((unsigned char)buf[i] < 0x20)
      jread_fail_at(j, at, "\"%s\" holds a control character", key);
}

static int read_count(JRead *j, const char *key) {
  size_t at = value_start(j);
  double v = jread_number(j);
  if (j->failed)
    return 0;
  if (!(v >= 0 && v <= INT_MAX && v == floor(v))) {
    jread_fail_at(j, at, "\"%s\" must be a whole number from 0 to %d", key, INT_MAX);
    return 0;
  }
  return (int)v;
}

/* Reads one member's key; the bit of keys[] it is (0 for one this reader
 * does not know, which is skipped, and after failing on a key seen before). */
static int read_key(JRead *j, const char *const *keys, int seen) {
  char key[64];
  size_t at = value_start(j);
  jread_string(j, key, sizeof key);
  jread_expect(j, ':');
  for (int i = 0; !j->failed && keys[i]; i++)
    if (strcmp(key, keys[i]) == 0) {
      if (seen & 1 << i)
        return jread_fail_at(j, at, "\"%s\" appears twice", key), 0;
      return 1 << i;
    }
  return 0;
}

/* Fails at `at` naming the first of keys[] absent from has. */
static void require(JRead *j, size_t at, const char *const *keys, int has, const char *what) {
  for (int i = 0; !j->failed && keys[i]; i++)
    if (!(has & 1 << i))
      jread_fail_at(j, at, "%s lacks \"%s\"", what, keys[i]);
}

static const char *const op_keys[] = {"name", "op", "line", "col", NULL};

/* A copy of what read_name read, kept only as long as it is: a program
 * has an entry per op, so fixed-size names would cost 0.5 KiB each. */
static char *keep_name(JRead *j, const char *buf) {
  char *s = j->failed ? NULL : strdup(buf);
  if (!j->failed && !s)
    jread_fail(j, "out of memory");
  return s;
}

static void read_op(JRead *j, ManifestOp *op) {
  char buf[MANIFEST_NAME];
  size_t at = value_start(j);
  int has = 0;
  jread_expect(j, '{');
  if (!j->failed && !jread_accept(j, '}')) {
    do {
      int k = read_key(j, op_keys, has);
      has |= k;
      if (k == 1) {
        read_name(j, "name", buf, sizeof buf);
        op->name = keep_name(j, buf);
      } else if (k == 2) {
        read_name(j, "op", buf, sizeof buf);
        op->op = keep_name(j, buf);
      }
      else if (k == 4)
        op->line = read_count(j, "line");
      else if (k == 8)
        op->col = read_count(j, "col");
      else if (!j->failed)
        jread_skip(j);
    } while (!j->failed && jread_accept(j, ','));
    jread_expect(j, '}');
  }
  require(j, at, op_keys, has, "an op");
  if (!j->failed && (op->line == 0) != (op->col == 0))
    jread_fail_at(j, at, "an op's line and col are both 0 (no layer) or both positive");
}

/* The ops into m, or (keep false) each checked and dropped. */
static void read_ops(JRead *j, Manifest *m, bool keep) {
  int cap = 0, n = 0;
  jread_expect(j, '[');
  if (j->failed || jread_accept(j, ']'))
    return;
  do {
    if (n++ == MANIFEST_MAX_OPS) {
      jread_fail(j, "more than %d ops", MANIFEST_MAX_OPS);
      return;
    }
    if (keep && m->nops == cap) {
      cap = 2 * cap + 64;
      ManifestOp *g = realloc(m->ops, (size_t)cap * sizeof *g);
      if (!g) {
        jread_fail(j, "out of memory");
        return;
      }
      m->ops = g;
    }
    ManifestOp dropped = {0}, *op = keep ? &m->ops[m->nops++] : &dropped;
    memset(op, 0, sizeof *op);
    read_op(j, op);
    free(dropped.name);
    free(dropped.op);
  } while (!j->failed && jread_accept(j, ','));
  jread_expect(j, ']');
}

static const char *const top_keys[] = {"schema", "schema_version", "network", "point",
                                       "source", "ops", NULL};

static void read_member(JRead *j, Manifest *m, int k, bool with_ops) {
  size_t at = value_start(j);
  char schema[32];
  switch (k) {
  case 1:
    jread_string(j, schema, sizeof schema);
    if (!j->failed && strcmp(schema, "anet-manifest") != 0)
      jread_fail_at(j, at, "\"schema\" is not \"anet-manifest\"");
    break;
  case 2: {
    int v = read_count(j, "schema_version");
    if (!j->failed && v != MANIFEST_VERSION)
      jread_fail_at(j, at, "schema_version %d; this anerun reads version %d", v, MANIFEST_VERSION);
    break;
  }
  case 4:
    read_name(j, "network", m->network, sizeof m->network);
    break;
  case 8:
    if (!jread_word(j, "null"))
      read_name(j, "point", m->point, sizeof m->point);
    break;
  case 16:
    read_name(j, "source", m->source, sizeof m->source);
    break;
  case 32:
    read_ops(j, m, with_ops);
    break;
  default:
    jread_skip(j);   /* a later addition to version 1 */
  }
}

static int parse(const Src *src, Manifest *m, bool with_ops, Diag *d) {
  memset(m, 0, sizeof *m);
  JRead j = {src, 0, src->len, d, "manifest", false};
  size_t at = value_start(&j);
  int has = 0;
  jread_expect(&j, '{');
  if (!j.failed && !jread_accept(&j, '}')) {
    do {
      int k = read_key(&j, top_keys, has);
      has |= k;
      if (!j.failed)
        read_member(&j, m, k, with_ops);
    } while (!j.failed && jread_accept(&j, ','));
    jread_expect(&j, '}');
  }
  jread_end(&j);
  require(&j, at, top_keys, has, "the manifest");
  if (j.failed) {
    manifest_free(m);
    return -1;
  }
  return 0;
}

int manifest_parse(const Src *src, Manifest *m, Diag *d) {
  return parse(src, m, true, d);
}

static int load(const char *dir, Manifest *m, bool with_ops, Diag *d) {
  memset(m, 0, sizeof *m);
  char *path = outdir_join(dir, "anet.json");
  struct stat st;
  if (!path) {
    diag_file_error(d, dir, "out of memory");
    return -1;
  }
  if (stat(path, &st) != 0 && errno == ENOENT) {
    free(path);
    return 0;
  }
  Src src;
  int rc = src_read_file(&src, path, MANIFEST_MAX_TEXT, d);
  if (rc == 0) {
    rc = parse(&src, m, with_ops, d) == 0 ? 1 : -1;
    src_free(&src);
  }
  free(path);
  return rc;
}

int manifest_load(const char *dir, Manifest *m, Diag *d) {
  return load(dir, m, true, d);
}

int manifest_load_head(const char *dir, Manifest *m, Diag *d) {
  return load(dir, m, false, d);
}

void manifest_free(Manifest *m) {
  for (int i = 0; i < m->nops; i++) {
    free(m->ops[i].name);
    free(m->ops[i].op);
  }
  free(m->ops);
  memset(m, 0, sizeof *m);
}

const char *manifest_model_name(const Manifest *m) {
  return m->point[0] ? m->point : m->network;
}

const ManifestOp *manifest_find(const Manifest *m, const char *name) {
  for (int i = 0; i < m->nops; i++)
    if (m->ops[i].name && strcmp(m->ops[i].name, name) == 0)
      return &m->ops[i];
  return NULL;
}

ManifestSource manifest_op_source(const Manifest *m, const MilOp *op, const Src *src) {
  ManifestSource s = {0};
  const ManifestOp *e = op && m ? manifest_find(m, mil_op_name(op)) : NULL;
  if (e && e->line > 0)
    s = (ManifestSource){m->source, e->line, e->col};
  else if (!e && op && src && op->loc.end > op->loc.start && op->loc.end <= src->len) {
    s.file = src->name;
    diag_linecol(src, op->loc.start, &s.line, &s.col);
  }
  return s;
}
