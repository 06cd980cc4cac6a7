/* millex.c - tokens of MIL program text, and mil_parse(), the entry point.
 *
 * Written by hand rather than with flex: a parse spends most of its time
 * here, and a switch on the first byte with one short loop per token is
 * several times cheaper than a table-driven DFA with flex's per-token
 * bookkeeping. The tokens are those of a longest-match scanner over these
 * patterns (the scanner was once flex's, and behaves exactly as it did):
 *
 *   IDENT   [A-Za-z_][A-Za-z0-9_@]*   (program, func, BLOBFILE: keywords)
 *   INT     -?[0-9]+
 *   FLOAT   -?0x HEX (p[-+]?[0-9]+)?, -?DEC ([eE][-+]?[0-9]+)?, -inf, -nan
 *           where HEX is h+.?h* | .h+ and DEC is d+.d* | .d+ | d+ before
 *           an exponent; a letter not followed by a complete exponent
 *           ends the number before it ("1e" is INT 1, then IDENT e)
 *   STRING  "..." with escapes ("\" and any byte), no raw newline
 *   punctuation ( ) [ ] { } < > , = ; ? ->
 *
 * Blanks and // comments separate tokens. Locations are byte offsets into
 * the source and token text is never copied: the actions find it through
 * the location. A tensor type in its common spelling is one token
 * (TENSOR_TYPE), and so is a string value without escapes (VALUE): that
 * cuts the tokens of a typical program by a third. The scanner reports its
 * own errors (bad bytes, strings, nesting) and hands bison MILP_error,
 * which stops the parse without a second message. The text need not end
 * in a NUL: every read is bounded by its length. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "milparse.h"

/* Byte classes for the first byte of a token, and for identifiers. */
enum { C_BAD, C_BLANK, C_IDENT, C_DIGIT, C_OPEN, C_CLOSE, C_PUNCT, C_MINUS, C_DOT,
       C_QUOTE };

static const unsigned char cls[256] = {
  ['a' ... 'z'] = C_IDENT, ['A' ... 'Z'] = C_IDENT, ['_'] = C_IDENT,
  ['0' ... '9'] = C_DIGIT,
  [' '] = C_BLANK, ['\t'] = C_BLANK, ['\r'] = C_BLANK, ['\n'] = C_BLANK,
  ['('] = C_OPEN, ['['] = C_OPEN, ['{'] = C_OPEN, ['<'] = C_OPEN,
  [')'] = C_CLOSE, [']'] = C_CLOSE, ['}'] = C_CLOSE, ['>'] = C_CLOSE,
  [','] = C_PUNCT, ['='] = C_PUNCT, [';'] = C_PUNCT, ['?'] = C_PUNCT,
  ['-'] = C_MINUS, ['.'] = C_DOT, ['"'] = C_QUOTE,
};

/* Bytes after an identifier's first. */
static const bool in_word[256] = {
  ['a' ... 'z'] = true, ['A' ... 'Z'] = true, ['0' ... '9'] = true, ['_'] = true, ['@'] = true,
};
static bool is_digit(unsigned char c) { return (unsigned)(c - '0') < 10u; }
static bool is_hex(unsigned char c) { return is_digit(c) || (unsigned)((c | 0x20) - 'a') < 6u; }

/* The scanner's view of the text: bytes t[0..n), reads past n see 0. */
typedef struct Text {
  const unsigned char *t;
  size_t n;
} Text;

static unsigned char at(Text x, size_t i) { return i < x.n ? x.t[i] : 0; }

static size_t blanks(Text x, size_t i) {
  while (i < x.n && cls[x.t[i]] == C_BLANK)
    i++;
  return i;
}

static size_t digits(Text x, size_t i) {
  while (i < x.n && is_digit(x.t[i]))
    i++;
  return i;
}

static size_t hexdigits(Text x, size_t i) {
  while (i < x.n && is_hex(x.t[i]))
    i++;
  return i;
}

/* [eE][-+]?[0-9]+ (or pP) at i: its end, or i when not all of it is there. */
static size_t exponent(Text x, size_t i, char letter) {
  if ((at(x, i) | 0x20) != letter)
    return i;
  size_t j = i + 1;
  if (at(x, j) == '-' || at(x, j) == '+')
    j++;
  return is_digit(at(x, j)) ? digits(x, j) : i;
}

/* A number at i (after an optional '-' at i - neg): its end; *tok gets INT
 * or FLOAT. The caller has seen a digit, or '.' before a digit. */
static size_t number(Text x, size_t i, int *tok) {
  if (at(x, i) == '0' && (at(x, i + 1) | 0x20) == 'x') {
    size_t j = i + 2, m;
    if (is_hex(at(x, j))) {
      m = hexdigits(x, j);
      if (at(x, m) == '.')
        m = hexdigits(x, m + 1);
    } else if (at(x, j) == '.' && is_hex(at(x, j + 1))) {
      m = hexdigits(x, j + 1);
    } else {
      *tok = INT;            /* "0x" without digits: the 0 alone */
      return i + 1;
    }
    *tok = FLOAT;
    return exponent(x, m, 'p');
  }
  size_t m = digits(x, i);
  if (at(x, m) == '.' && (m > i || is_digit(at(x, m + 1)))) {
    *tok = FLOAT;
    return exponent(x, digits(x, m + 1), 'e');
  }
  size_t e = exponent(x, m, 'e');
  *tok = e > m ? FLOAT : INT;
  return e;
}

/* Blanks, the byte c, blanks from i: where they end, or 0 if c is not
 * there (0 is never such an end: something precedes i). */
static size_t past(Text x, size_t i, char c) {
  i = blanks(x, i);
  return at(x, i) == c ? blanks(x, i + 1) : 0;
}

/* tensor <IDENT, [DIMS]> from i (just past "tensor"): the end, or 0 when
 * the text is not of that form. DIMS are digits or '?', comma-separated. */
static size_t tensor_spelling(Text x, size_t i) {
  if (!(i = past(x, i, '<')) || cls[at(x, i)] != C_IDENT)
    return 0;
  while (i < x.n && in_word[x.t[i]])
    i++;
  if (!(i = past(x, i, ',')) || !(i = past(x, i, '[')))
    return 0;
  for (bool first = true; at(x, i) != ']'; first = false) {
    if (!first && !(i = past(x, i, ',')))
      return 0;
    if (at(x, i) == '?')
      i++;
    else if (is_digit(at(x, i)))
      i = digits(x, i);
    else
      return 0;
    i = blanks(x, i);
  }
  i = blanks(x, i + 1);
  return at(x, i) == '>' ? i + 1 : 0;
}

/* A string's body from i (just past its '"'): the index of the closing
 * '"', or the end of what an unterminated string holds (*closed false):
 * up to a raw newline, or the end of the text. */
static size_t string_body(Text x, size_t i, bool *closed) {
  for (;;) {
    if (i >= x.n) {
      *closed = false;
      return x.n;
    }
    unsigned char c = x.t[i];
    if (c == '"') {
      *closed = true;
      return i;
    }
    if (c == '\n') {
      *closed = false;
      return i;
    }
    i += c == '\\' && i + 1 < x.n ? 2 : 1;
  }
}

/* string ( "..." ) from i (just past "string"): the end, or 0. */
static size_t string_spelling(Text x, size_t i) {
  if (!(i = past(x, i, '(')) || at(x, i) != '"')
    return 0;
  bool closed;
  i = string_body(x, i + 1, &closed);
  if (!closed)
    return 0;
  i = blanks(x, i + 1);
  return at(x, i) == ')' ? i + 1 : 0;
}

static int bad_byte(MilpState *s, Loc loc, unsigned char c) {
  if (c > 0x20 && c < 0x7f)
    milp_err(s, loc, "unexpected character '%c'", c);
  else
    milp_err(s, loc, "unexpected byte 0x%02x", c);
  return MILP_error;
}

static int open_bracket(MilpState *s, Loc loc, int tok) {
  if (++s->depth > MILP_MAX_DEPTH) {
    milp_err(s, loc, "brackets nested more than %d deep", MILP_MAX_DEPTH);
    return MILP_error;
  }
  s->open[s->depth] = (char)tok;
  return tok;
}

static bool word_is(Text x, size_t i, size_t len, const char *w) {
  return strlen(w) == len && memcmp(x.t + i, w, len) == 0;
}

/* An identifier t[i..e) that may be special: a keyword, or "tensor" or
 * "string" starting the one-token spelling of a tensor type or a string
 * value. Out of line: the common tokens need none of it. */
static __attribute__((noinline)) int word(MilpState *s, Text x, size_t i, size_t e, Loc *loc,
                                          MILP_STYPE *lval) {
  size_t len = e - i;
  if (word_is(x, i, len, "tensor")) {
    size_t end = tensor_spelling(x, e);
    if (end && (lval->type = milp_tensor_token(s, (Loc){i, end}))) {
      *loc = (Loc){i, end};
      s->pos = end;
      return TENSOR_TYPE;
    }                         /* anything unusual: "tensor" and the general rules */
  } else if (word_is(x, i, len, "string")) {
    size_t end = string_spelling(x, e);
    if (end && (lval->val = milp_string_token(s, (Loc){i, end}))) {
      *loc = (Loc){i, end};
      s->pos = end;
      return VALUE;
    }                         /* escapes, deep nesting: the long way */
  }
  if (word_is(x, i, len, "program"))
    return KW_PROGRAM;
  if (word_is(x, i, len, "func"))
    return KW_FUNC;
  if (word_is(x, i, len, "BLOBFILE"))
    return KW_BLOBFILE;
  return IDENT;
}

/* Every token but identifiers and punctuation, and the end of the text;
 * *loc is the first byte, s->pos just past it. */
static __attribute__((noinline)) int other(MilpState *s, Text x, size_t i, Loc *loc,
                                           MILP_STYPE *lval) {
  unsigned char c = x.t[i];
  switch (cls[c]) {
  case C_MINUS:
    if (at(x, i + 1) == '>') {
      *loc = (Loc){i, i + 2};
      s->pos = i + 2;
      return ARROW;
    }
    if (is_digit(at(x, i + 1)) || (at(x, i + 1) == '.' && is_digit(at(x, i + 2))))
      break;
    if (x.n - i >= 4 && (memcmp(x.t + i, "-inf", 4) == 0 || memcmp(x.t + i, "-nan", 4) == 0)) {
      *loc = (Loc){i, i + 4};
      s->pos = i + 4;
      return FLOAT;
    }
    return bad_byte(s, *loc, c);
  case C_DIGIT:
    break;
  case C_DOT:
    if (is_digit(at(x, i + 1)))
      break;
    return bad_byte(s, *loc, c);
  case C_QUOTE: {
    bool closed;
    size_t e = string_body(x, i + 1, &closed);
    *loc = (Loc){i, closed ? e + 1 : e};
    s->pos = loc->end;
    if (!closed) {
      milp_err(s, *loc, "unterminated string");
      return MILP_error;
    }
    lval->str = milp_string(s, *loc);
    return lval->str ? STRING : MILP_error;
  }
  default:
    return bad_byte(s, *loc, c);
  }
  int tok;
  size_t e = number(x, i + (c == '-'), &tok);
  *loc = (Loc){i, e};
  s->pos = e;
  return tok;
}

int milp_lex(MILP_STYPE *lval, Loc *loc, void *scanner) {
  MilpState *s = scanner;
  Text x = {(const unsigned char *)s->src->text, s->src->len};
  size_t i = blanks(x, s->pos);
  while (at(x, i) == '/' && at(x, i + 1) == '/') {
    const unsigned char *nl = memchr(x.t + i, '\n', x.n - i);
    i = blanks(x, nl ? (size_t)(nl - x.t) : x.n);
  }
  if (i >= x.n) {
    s->pos = x.n;
    *loc = (Loc){x.n, x.n};
    return MILP_END;
  }
  unsigned char c = x.t[i];
  *loc = (Loc){i, i + 1};
  s->pos = i + 1;
  switch (cls[c]) {
  case C_IDENT: {
    size_t e = i + 1;
    while (e < x.n && in_word[x.t[e]])
      e++;
    loc->end = s->pos = e;
    size_t len = e - i;     /* the special words: tensor, string, program, func, BLOBFILE */
    if ((len == 6 && (c == 't' || c == 's')) || (len == 7 && c == 'p') || (len == 4 && c == 'f') ||
        (len == 8 && c == 'B'))
      return word(s, x, i, e, loc, lval);
    return IDENT;
  }
  case C_PUNCT:
    if (c == '=')
      s->after_eq = blanks(x, i + 1);
    return c;
  case C_OPEN:
    return open_bracket(s, *loc, c);
  case C_CLOSE:
    if (s->depth > 0)
      s->depth--;
    return c;
  default:
    return other(s, x, i, loc, lval);
  }
}

MilProg *mil_parse(const Src *src, Diag *d) {
  if (src->len > (size_t)INT_MAX - 2) {
    diag_file_error(d, src->name, "MIL text larger than %d bytes", INT_MAX - 2);
    return NULL;
  }
  MilpState s = {.src = src, .d = d, .errors0 = d->nerrors, .fn = -1};
  s.p = mil_new("1.3");
  Src *keep = mil_alloc(s.p, sizeof *keep);   /* the caller's Src may be a local */
  *keep = *src;
  s.p->src = keep;
  int rc = milp_parse(&s, &s);
  milp_state_free(&s);
  if (rc != 0 || d->nerrors != s.errors0) {
    mil_free(s.p);
    return NULL;
  }
  return s.p;
}
