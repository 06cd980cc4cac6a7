/* diag.h - source text, locations and GNU-style diagnostics.
 *
 * A location is a byte span in one source; diag_error() turns it into
 * "file:line:col: error: message", then prints the source line and a caret.
 * Every front end and loader reports through a Diag, so tests can capture
 * the text (open_memstream) and the tools can count errors. */
#ifndef ANET_DIAG_H
#define ANET_DIAG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

typedef struct Src {
  const char *name;   /* as the user named it: "samples/x.anet" */
  const char *text;   /* not necessarily NUL-terminated */
  size_t len;
} Src;

typedef struct Loc {
  size_t start, end;  /* byte offsets into Src.text, end exclusive */
} Loc;

typedef struct Diag {
  FILE *out;          /* where messages go; stderr by default */
  int nerrors;
} Diag;

/* A Diag writing to stderr. */
Diag diag_stderr(void);

/* Errors at a span of a source, with the line and a caret underneath. */
void diag_error(Diag *d, const Src *src, Loc loc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void diag_verror(Diag *d, const Src *src, Loc loc, const char *fmt, va_list ap);
/* A note attached to the previous error ("note: ..."), same layout. */
void diag_note(Diag *d, const Src *src, Loc loc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* A warning at a span: the same layout, not counted in nerrors. */
void diag_warning(Diag *d, const Src *src, Loc loc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Errors about a whole file or a binary one: "path: error: message".
 * path may be NULL for errors about the command line ("anetc: error: ..."). */
void diag_file_error(Diag *d, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 1-based line and column (in bytes) of a byte offset. */
void diag_linecol(const Src *src, size_t off, int *line, int *col);

/* Reads a whole file into a malloc'd, NUL-terminated Src. Returns 0, or -1
 * after reporting the error on d. Files larger than max_bytes are refused. */
int src_read_file(Src *src, const char *path, size_t max_bytes, Diag *d);
void src_free(Src *src);

/* "did you mean": the candidate closest to word by edit distance (a
 * swap of two neighbours counts 1), if it is close enough to be a likely
 * misspelling (at most 1 edit for short words, a third of the length for
 * longer ones); else NULL. cands is NULL-terminated. */
const char *diag_suggest(const char *word, const char *const *cands);
/* As above over n strings spaced stride bytes apart (an array of structs
 * whose first member is the name). */
const char *diag_suggest_in(const char *word, const void *base, size_t n, size_t stride);

#endif
