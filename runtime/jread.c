/* jread.c - see jread.h. */
#include "jread.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void vfail(JRead *j, size_t at, const char *fmt, va_list ap) {
  if (j->failed)
    return;
  j->failed = true;
  char msg[256];
  vsnprintf(msg, sizeof msg, fmt, ap);
  at = at < j->end ? at : j->end;
  diag_error(j->d, j->src, (Loc){at, at < j->end ? at + 1 : at}, "%s: %s", j->what, msg);
}

void jread_fail(JRead *j, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(j, j->pos, fmt, ap);
  va_end(ap);
}

void jread_fail_at(JRead *j, size_t at, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(j, at, fmt, ap);
  va_end(ap);
}

static int peek(const JRead *j) {
  return j->pos < j->end ? (unsigned char)j->src->text[j->pos] : -1;
}

int jread_peek(JRead *j) {
  int c;
  while ((c = peek(j)) == ' ' || c == '\t' || c == '\r' || c == '\n')
    j->pos++;
  return c;
}

bool jread_accept(JRead *j, int c) {
  if (jread_peek(j) != c)
    return false;
  j->pos++;
  return true;
}

void jread_expect(JRead *j, int c) {
  if (!jread_accept(j, c))
    jread_fail(j, "expected '%c'", c);
}

bool jread_word(JRead *j, const char *w) {
  jread_peek(j);
  size_t n = strlen(w);
  if (j->end - j->pos < n || strncmp(j->src->text + j->pos, w, n) != 0)
    return false;
  j->pos += n;
  return true;
}

static int hex_digit(int h) {
  return h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
         : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
}

/* The character an escape stands for (j->pos past the backslash); -1 after failing. */
static int escape(JRead *j) {
  int e = peek(j);
  const char *from = "\"\\/bfnrtu", *to = "\"\\/\b\f\n\r\t";
  const char *k = e > 0 ? strchr(from, e) : NULL;
  if (!k) {
    jread_fail(j, "a bad escape in a string");
    return -1;
  }
  j->pos++;
  if (e != 'u')
    return to[k - from];
  unsigned v = 0;
  for (int i = 0; i < 4; i++, j->pos++) {
    int x = hex_digit(peek(j));
    if (x < 0) {
      jread_fail(j, "\\u wants four hex digits");
      return -1;
    }
    v = v * 16 + (unsigned)x;
  }
  return v < 0x80 && v > 0 ? (int)v : '?';
}

size_t jread_string(JRead *j, char *buf, size_t size) {
  size_t n = 0;
  jread_expect(j, '"');
  while (!j->failed && peek(j) != '"') {
    int c = peek(j);
    if (c < 0x20) {
      jread_fail(j, c < 0 ? "unterminated string" : "a control character in a string");
      break;
    }
    j->pos++;
    if (c == '\\' && (c = escape(j)) < 0)
      break;
    if (buf && n + 1 < size)
      buf[n] = (char)c;
    n++;
  }
  if (buf && size)
    buf[n < size ? n : size - 1] = '\0';
  if (!j->failed)
    j->pos++;
  return n;
}

/* Skips digits; how many. */
static size_t digits(JRead *j) {
  size_t from = j->pos;
  while (peek(j) >= '0' && peek(j) <= '9')
    j->pos++;
  return j->pos - from;
}

double jread_number(JRead *j) {
  jread_peek(j);
  size_t s = j->pos;
  if (peek(j) == '-')
    j->pos++;
  size_t first = j->pos, n = digits(j);
  if (n == 0) {
    jread_fail(j, "expected a value");
    return NAN;
  }
  bool bad = n > 1 && j->src->text[first] == '0';   /* the grammar: no leading zero */
  if (peek(j) == '.')
    j->pos++, bad |= digits(j) == 0;
  if (peek(j) == 'e' || peek(j) == 'E') {
    j->pos++;
    if (peek(j) == '+' || peek(j) == '-')
      j->pos++;
    bad |= digits(j) == 0;
  }
  char buf[64];
  if (bad)
    jread_fail_at(j, s, "a number JSON does not allow (a leading zero, or no digit after "
                  "'.' or 'e')");
  else if (j->pos - s >= sizeof buf)
    jread_fail_at(j, s, "a number of more than %zu characters", sizeof buf - 1);
  if (j->failed)
    return NAN;
  memcpy(buf, j->src->text + s, j->pos - s);
  buf[j->pos - s] = '\0';
  return strtod(buf, NULL);
}

static void skip_value(JRead *j, int depth);

static void skip_members(JRead *j, int depth, bool object) {
  int close = object ? '}' : ']';
  if (jread_accept(j, close))
    return;
  do {
    if (object) {
      jread_string(j, NULL, 0);
      jread_expect(j, ':');
    }
    skip_value(j, depth + 1);
  } while (!j->failed && jread_accept(j, ','));
  jread_expect(j, close);
}

static void skip_value(JRead *j, int depth) {
  int c = jread_peek(j);
  if (depth > JREAD_MAX_DEPTH)
    jread_fail(j, "nested too deeply");
  else if (c == '{' || c == '[')
    j->pos++, skip_members(j, depth, c == '{');
  else if (c == '"')
    jread_string(j, NULL, 0);
  else if (!jread_word(j, "true") && !jread_word(j, "false") && !jread_word(j, "null"))
    jread_number(j);
}

void jread_skip(JRead *j) { skip_value(j, 1); }

void jread_end(JRead *j) {
  if (!j->failed && jread_peek(j) >= 0)
    jread_fail(j, "text after the object");
}
