/* diag.c - locate byte offsets and print diagnostics in the GNU format. */
#include "diag.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

Diag diag_stderr(void) {
  Diag d = {stderr, 0};
  return d;
}

void diag_linecol(const Src *src, size_t off, int *line, int *col) {
  int l = 1;
  size_t bol = 0;
  if (off > src->len)
    off = src->len;
  for (size_t i = 0; i < off; i++)
    if (src->text[i] == '\n') {
      l++;
      bol = i + 1;
    }
  *line = l;
  *col = (int)(off - bol) + 1;
}

/* Prints the line holding loc.start and marks the span with ^~~~. Tabs are
 * kept under the caret so the marker lines up in a terminal. */
static void show_line(FILE *out, const Src *src, Loc loc) {
  size_t bol = loc.start > src->len ? src->len : loc.start;
  while (bol > 0 && src->text[bol - 1] != '\n')
    bol--;
  size_t eol = bol;
  while (eol < src->len && src->text[eol] != '\n')
    eol++;
  fputc(' ', out);
  for (size_t i = bol; i < eol; i++) {
    unsigned char c = (unsigned char)src->text[i];
    fputc(c == '\t' || c >= 0x20 ? c : '?', out);
  }
  fputs("\n ", out);
  size_t start = loc.start > eol ? eol : loc.start;
  for (size_t i = bol; i < start; i++)
    fputc(src->text[i] == '\t' ? '\t' : ' ', out);
  fputc('^', out);
  size_t end = loc.end > eol ? eol : loc.end;
  for (size_t i = start + 1; i < end; i++)
    fputc('~', out);
  fputc('\n', out);
}

static void report(Diag *d, const char *kind, const Src *src, Loc loc,
                   const char *fmt, va_list ap) {
  FILE *out = d->out ? d->out : stderr;
  int line, col;
  diag_linecol(src, loc.start, &line, &col);
  fprintf(out, "%s:%d:%d: %s: ", src->name, line, col, kind);
  vfprintf(out, fmt, ap);
  fputc('\n', out);
  show_line(out, src, loc);
}

void diag_verror(Diag *d, const Src *src, Loc loc, const char *fmt, va_list ap) {
  report(d, "error", src, loc, fmt, ap);
  d->nerrors++;
}

void diag_error(Diag *d, const Src *src, Loc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  diag_verror(d, src, loc, fmt, ap);
  va_end(ap);
}

void diag_note(Diag *d, const Src *src, Loc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report(d, "note", src, loc, fmt, ap);
  va_end(ap);
}

void diag_warning(Diag *d, const Src *src, Loc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report(d, "warning", src, loc, fmt, ap);
  va_end(ap);
}

void diag_file_error(Diag *d, const char *path, const char *fmt, ...) {
  FILE *out = d->out ? d->out : stderr;
  va_list ap;
  fprintf(out, "%s: error: ", path ? path : "anet");
  va_start(ap, fmt);
  vfprintf(out, fmt, ap);
  va_end(ap);
  fputc('\n', out);
  d->nerrors++;
}

int src_read_file(Src *src, const char *path, size_t max_bytes, Diag *d) {
  memset(src, 0, sizeof *src);
  FILE *f = fopen(path, "rb");
  if (!f) {
    diag_file_error(d, path, "cannot open: %s", strerror(errno));
    return -1;
  }
  /* A regular file's size is known: one buffer of that size (a buffer
   * grown by doubling can be nearly twice the text, and the MIL reader's
   * peak memory is judged against the text). Others grow as they read. */
  size_t cap = 4096, len = 0;
  struct stat st;
  if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
    cap = (uintmax_t)st.st_size < max_bytes ? (size_t)st.st_size + 1 : max_bytes + 1;
  char *buf = malloc(cap + 1);
  while (buf) {
    size_t n = fread(buf + len, 1, cap - len, f);
    len += n;
    if (len > max_bytes) {
      diag_file_error(d, path, "file is larger than the limit of %zu bytes", max_bytes);
      goto fail;
    }
    if (n == 0)
      break;
    if (len == cap) {
      char *nb = realloc(buf, cap * 2 + 1);
      if (!nb) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = nb;
      cap *= 2;
    }
  }
  if (!buf) {
    diag_file_error(d, path, "out of memory");
    fclose(f);
    return -1;
  }
  if (ferror(f)) {
    diag_file_error(d, path, "read error: %s", strerror(errno));
    goto fail;
  }
  fclose(f);
  buf[len] = '\0';
  src->name = path;
  src->text = buf;
  src->len = len;
  return 0;
fail:
  free(buf);
  fclose(f);
  return -1;
}

void src_free(Src *src) {
  free((char *)src->text);
  src->text = NULL;
  src->len = 0;
}

/* Optimal string alignment distance, capped: words longer than 64 bytes
 * are never suggested. */
static int edit_distance(const char *a, const char *b) {
  enum { MAXLEN = 64 };
  size_t n = strlen(a), m = strlen(b);
  if (n > MAXLEN || m > MAXLEN)
    return MAXLEN;
  int d[MAXLEN + 1][MAXLEN + 1];
  for (size_t i = 0; i <= n; i++)
    d[i][0] = (int)i;
  for (size_t j = 0; j <= m; j++)
    d[0][j] = (int)j;
  for (size_t i = 1; i <= n; i++)
    for (size_t j = 1; j <= m; j++) {
      int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      if (d[i - 1][j] + 1 < best)
        best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best)
        best = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
          d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  return d[n][m];
}

const char *diag_suggest_in(const char *word, const void *base, size_t n, size_t stride) {
  size_t len = strlen(word);
  int limit = len <= 4 ? 1 : (int)(len / 3), best = limit + 1;
  const char *pick = NULL;
  for (size_t i = 0; i < n; i++) {
    const char *c = *(const char *const *)((const char *)base + i * stride);
    if (!c || strcmp(c, word) == 0)
      continue;
    int dist = edit_distance(word, c);
    if (dist < best) {
      best = dist;
      pick = c;
    }
  }
  return pick;
}

const char *diag_suggest(const char *word, const char *const *cands) {
  size_t n = 0;
  while (cands[n])
    n++;
  return diag_suggest_in(word, cands, n, sizeof *cands);
}
