/* jread.h - just enough JSON to read back what anet writes (results files,
 * model manifests): a cursor over a span of a Src that reports its first
 * error as "file:line:col: error: WHAT: message" and then stays failed, so
 * callers check j->failed once after a run of reads. */
#ifndef ANET_JREAD_H
#define ANET_JREAD_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"

enum { JREAD_MAX_DEPTH = 64 };

typedef struct JRead {
  const Src *src;
  size_t pos, end;        /* the text being read: src->text[pos, end) */
  Diag *d;
  const char *what;       /* "results file", "manifest" */
  bool failed;
} JRead;

void jread_fail(JRead *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same at byte `at` (where a value began, rather than after it). */
void jread_fail_at(JRead *j, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Skips white space (newlines included); the next byte, or -1 at the end. */
int jread_peek(JRead *j);
bool jread_accept(JRead *j, int c);
void jread_expect(JRead *j, int c);
/* true, false or null when it comes next (consumed). */
bool jread_word(JRead *j, const char *w);
/* A string into buf (NULL: skipped), cut to size - 1 bytes; \u escapes
 * outside ASCII become '?'. Returns the decoded length, uncut. */
size_t jread_string(JRead *j, char *buf, size_t size);
/* A number as the JSON grammar spells it. */
double jread_number(JRead *j);
/* Any value, nested at most JREAD_MAX_DEPTH deep. */
void jread_skip(JRead *j);
/* Fails unless only white space is left. */
void jread_end(JRead *j);

#endif
