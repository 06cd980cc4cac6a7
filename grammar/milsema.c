/* milsema.c - the MIL parser's actions: types, literals checked against
 * their types, and the names each function defines and uses. */
#include "milpriv.h"
#include "opdef.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors and small helpers ---------------------------------------------- */

bool milp_err(MilpState *s, Loc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  diag_verror(s->d, s->src, loc, fmt, ap);
  va_end(ap);
  return false;
}

bool milp_too_many_errors(const MilpState *s) {
  return s->d->nerrors - s->errors0 >= MILP_MAX_ERRORS;
}

char *milp_text(MilpState *s, Loc loc) {
  return mil_strndup(s->p, s->src->text + loc.start, loc.end - loc.start);
}

/* ---- scratch memory, emptied after each statement ----------------------------- */

static _Noreturn void oom(void) {
  fputs("anet: out of memory\n", stderr);
  abort();
}

static void *xmalloc(size_t n) {
  void *m = malloc(n);
  if (!m)
    oom();
  return m;
}

/* milp_tmp's slow path: a new chunk, which becomes the current one. */
void *milp_tmp_chunk(MilpState *s, size_t size) {
  if (size > SIZE_MAX / 2)
    oom();
  size_t cap = size > 65536 ? size : 65536;
  MilpChunk *c = xmalloc(sizeof *c + cap);
  c->used = size;
  c->cap = cap;
  c->next = s->tmp;
  s->tmp = c;
  return memset(c->data, 0, size);
}

/* Keeps the newest chunk for the next statement and frees the others. */
static void tmp_reset(MilpState *s) {
  MilpChunk *c = s->tmp;
  if (!c)
    return;
  for (MilpChunk *x = c->next, *n; x; x = n) {
    n = x->next;
    free(x);
  }
  c->next = NULL;
  c->used = 0;
}

/* ---- interned names and strings, interned tensor types --------------------------- */

static uint64_t load64(const char *t) {
  uint64_t w;
  memcpy(&w, t, 8);
  return w;
}

static uint64_t load32(const char *t) {
  uint32_t w;
  memcpy(&w, t, 4);
  return w;
}

/* The last (up to) eight bytes of t[0..n) as one word, read without a
 * byte-by-byte copy: overlapping loads, never past t + n. */
static inline uint64_t tail_word(const char *t, size_t n) {
  if (n >= 8)
    return load64(t + n - 8);
  if (n >= 4)
    return load32(t) | load32(t + n - 4) << 32;
  if (n)
    return (uint64_t)(unsigned char)t[0] | (uint64_t)(unsigned char)t[n / 2] << 8 |
           (uint64_t)(unsigned char)t[n - 1] << 16;
  return 0;
}

/* Eight bytes a step: names are short, but there are millions of them.
 * The length is mixed in, so the overlapping tail loses nothing. */
static inline __attribute__((always_inline)) uint32_t hash_bytes(const char *t, size_t n) {
  uint64_t h = 0x9e3779b97f4a7c15u ^ n;
  for (size_t i = 0; i + 8 < n; i += 8) {
    h = (h ^ load64(t + i)) * 0xff51afd7ed558ccdu;
    h ^= h >> 29;
  }
  h = (h ^ tail_word(t, n)) * 0xc4ceb9fe1a85ec53u;
  h = (h ^ h >> 32) * 0xff51afd7ed558ccdu;   /* so the last byte reaches the low bits */
  return (uint32_t)(h ^ h >> 32);
}

/* memcmp(a, b, n) == 0 for the short names a parse compares by the
 * million, inline. */
static bool same_bytes(const char *a, const char *b, size_t n) {
  size_t i = 0;
  for (; i + 8 < n; i += 8)
    if (load64(a + i) != load64(b + i))
      return false;
  return tail_word(a, n) == tail_word(b, n);
}

/* The slot table holds 1 + an index into s->sym, or 0 when empty: 4 bytes
 * a slot keep a table for a million names within the caches, and entries
 * stay in the order they were made, so recent names are near each other. */
static inline __attribute__((always_inline)) size_t sym_slot(const MilpState *s, const char *t, size_t n,
                                                            uint32_t h) {
  size_t mask = s->slotcap - 1, i = h & mask;
  for (; s->slot[i]; i = (i + 1) & mask) {
    const MilpSym *e = &s->sym[s->slot[i] - 1];
    if (e->hash == h && e->len == n && same_bytes(e->str, t, n))
      break;
  }
  return i;
}

static void sym_grow(MilpState *s) {
  s->symcap = s->symcap ? 2 * s->symcap : 512;
  MilpSym *sym = realloc(s->sym, s->symcap * sizeof *s->sym);
  free(s->slot);
  s->slotcap = 2 * s->symcap;
  s->slot = calloc(s->slotcap, sizeof *s->slot);
  if (!sym || !s->slot)
    oom();
  s->sym = sym;
  for (size_t k = 0; k < s->nsym; k++) {
    const MilpSym *e = &s->sym[k];
    s->slot[sym_slot(s, e->str, e->len, e->hash)] = (uint32_t)k + 1;
  }
}

/* The table entry of text t (n < 4 GiB: the text is limited to INT_MAX).
 * The pointer is good until the next call. */
static MilpSym *intern_hashed(MilpState *s, const char *t, size_t n) {
  if (s->nsym == s->symcap)
    sym_grow(s);
  uint32_t h = hash_bytes(t, n);
  size_t i = sym_slot(s, t, n, h);
  if (!s->slot[i]) {
    s->sym[s->nsym] = (MilpSym){mil_strndup(s->p, t, n), (uint32_t)n, h, 0, 0, 0};
    s->slot[i] = (uint32_t)++s->nsym;
  }
  return &s->sym[s->slot[i] - 1];
}

/* A name of 1 to 8 bytes is its length and tail_word() exactly. */
static MilpSym *intern(MilpState *s, const char *t, size_t n) {
  if (n - 1 >= 8)
    return intern_hashed(s, t, n);
  uint64_t w = tail_word(t, n);
  MilpSmall *c = &s->small[((w ^ n) * 0x9e3779b97f4a7c15u) >> 56];
  if (c->len == n && c->word == w)
    return &s->sym[c->sym];
  MilpSym *e = intern_hashed(s, t, n);
  c->word = w;
  c->len = (uint32_t)n;
  c->sym = (uint32_t)(e - s->sym);
  return e;
}

static MilpSym *name_sym(MilpState *s, Loc loc) {
  return intern(s, s->src->text + loc.start, loc.end - loc.start);
}

const char *milp_name(MilpState *s, Loc loc) { return name_sym(s, loc)->str; }

static uint32_t type_hash(MilDtype dt, int rank, const int64_t *dims) {
  uint32_t h = hash_bytes((const char *)&dt, sizeof dt) ^ (uint32_t)rank * 0x9e3779b9u;
  return h ^ hash_bytes((const char *)dims, (size_t)rank * sizeof *dims);
}

static bool type_is(const MilType *t, MilDtype dt, int rank, const int64_t *dims) {
  return t->dtype == dt && t->rank == rank && memcmp(t->dim, dims, (size_t)rank * sizeof *dims) == 0;
}

static size_t type_slot(const MilpState *s, MilDtype dt, int rank, const int64_t *dims) {
  size_t mask = s->tycap - 1, i = type_hash(dt, rank, dims) & mask;
  while (s->ty[i] && !type_is(s->ty[i], dt, rank, dims))
    i = (i + 1) & mask;
  return i;
}

/* One MilType per distinct tensor type: a program spells few of them
 * many times. */
static MilType *tensor_type(MilpState *s, MilDtype dt, int rank, const int64_t *dims) {
  if (2 * (s->nty + 1) > s->tycap) {
    const MilType **old = s->ty;
    size_t oldcap = s->tycap;
    s->tycap = oldcap ? 2 * oldcap : 256;
    s->ty = xmalloc(s->tycap * sizeof *s->ty);
    memset(s->ty, 0, s->tycap * sizeof *s->ty);
    for (size_t i = 0; i < oldcap; i++)
      if (old[i])
        s->ty[type_slot(s, old[i]->dtype, old[i]->rank, old[i]->dim)] = old[i];
    free(old);
  }
  const MilType **t = &s->ty[type_slot(s, dt, rank, dims)];
  if (!*t) {
    *t = mil_tensor_type(s->p, dt, rank, dims);
    s->nty++;
  }
  return (MilType *)*t;
}

void milp_state_free(MilpState *s) {
  tmp_reset(s);
  free(s->tmp);
  free(s->sym);
  free(s->slot);
  free(s->ty);
  free(s->tt);
  s->tt = NULL;
  s->tmp = NULL;
  s->sym = NULL;
  s->slot = NULL;
  s->ty = NULL;
}

static bool text_is(const MilpState *s, Loc loc, const char *word) {
  size_t n = strlen(word);
  return loc.end - loc.start == n && memcmp(s->src->text + loc.start, word, n) == 0;
}

MilpSeq *milp_seq(MilpState *s, MilpSeq *q, void *item, Loc loc) {
  if (!q)
    q = milp_tmp(s, sizeof *q);
  MilpNode *n = milp_tmp(s, sizeof *n);
  n->item = item;
  n->loc = loc;
  if (q->tail)
    q->tail->next = n;
  else
    q->head = n;
  q->tail = n;
  q->n++;
  return q;
}

/* ---- strings ----------------------------------------------------------------- */

/* Length of the UTF-8 sequence at t, or 0 if it is not one (overlong,
 * surrogate, beyond U+10FFFF, truncated). */
static size_t utf8_len(const unsigned char *t, size_t n) {
  size_t len;
  uint32_t cp, min;
  if (t[0] >= 0xc2 && t[0] <= 0xdf)
    len = 2, cp = t[0] & 0x1fu, min = 0x80;
  else if (t[0] >= 0xe0 && t[0] <= 0xef)
    len = 3, cp = t[0] & 0x0fu, min = 0x800;
  else if (t[0] >= 0xf0 && t[0] <= 0xf4)
    len = 4, cp = t[0] & 0x07u, min = 0x10000;
  else
    return 0;
  if (len > n)
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((t[i] & 0xc0) != 0x80)
      return 0;
    cp = cp << 6 | (t[i] & 0x3fu);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* One escape at t[*i] (the byte after the backslash); -1 if invalid. The
 * escapes are those the printer writes: \" \\ \n \t and \xNN below 0x80. */
static int unescape(const unsigned char *t, size_t n, size_t *i) {
  switch (t[*i]) {
  case '"': return '"';
  case '\\': return '\\';
  case 'n': return '\n';
  case 't': return '\t';
  case 'x': {
    if (*i + 2 >= n)
      return -1;
    int hi = hexval(t[*i + 1]), lo = hexval(t[*i + 2]);
    int c = hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
    if (c <= 0 || c >= 0x80)
      return -1;
    *i += 2;
    return c;
  }
  default:
    return -1;
  }
}

/* Interned, so equal strings (and a name equal to a value's name) are one
 * copy. Most strings need no decoding and are interned from the text. */
const char *milp_string(MilpState *s, Loc loc) {
  const unsigned char *t = (const unsigned char *)s->src->text + loc.start + 1;
  size_t n = loc.end - loc.start - 2, o = 0;
  size_t plain = 0;
  while (plain < n && t[plain] >= 0x20 && t[plain] < 0x7f && t[plain] != '\\')
    plain++;
  if (plain == n)
    return intern(s, (const char *)t, n)->str;
  char *out = milp_tmp(s, n + 1);
  for (size_t i = 0; i < n; i++) {
    Loc at = {loc.start + 1 + i, loc.start + 2 + i};
    if (t[i] == '\\') {
      int c = ++i < n ? unescape(t, n, &i) : -1;
      if (c < 0)
        return milp_err(s, (Loc){at.start, at.end + 1}, "unknown escape in string"), NULL;
      out[o++] = (char)c;
    } else if (t[i] < 0x20 || t[i] == 0x7f) {
      return milp_err(s, at, "control byte 0x%02x in string", t[i]), NULL;
    } else if (t[i] >= 0x80) {
      size_t len = utf8_len(t + i, n - i);
      if (!len)
        return milp_err(s, at, "invalid UTF-8 in string"), NULL;
      memcpy(out + o, t + i, len);
      o += len;
      i += len - 1;
    } else {
      out[o++] = (char)t[i];
    }
  }
  out[o] = '\0';
  return intern(s, out, o)->str;
}

/* ---- types ------------------------------------------------------------------- */

MilType *milp_dtype(MilpState *s, Loc name) {
  MilDtype dt;
  if (!mil_dtype_lookup(s->src->text + name.start, name.end - name.start, &dt)) {
    milp_err(s, name, "unknown type '%s'", milp_text(s, name));
    return NULL;
  }
  return mil_scalar_type(s->p, dt);
}

static size_t skip_ws(const char *t, size_t i) {
  while (t[i] == ' ' || t[i] == '\t' || t[i] == '\r' || t[i] == '\n')
    i++;
  return i;
}

/* A TENSOR_TYPE token, "tensor<DTYPE, [DIMS]>" with DIMS digits or '?'
 * (the scanner's pattern). Whatever the general rules would report (an
 * unknown dtype, a dimension too large, too many, too deep) gives NULL, and
 * the text is read again the long way, which reports it. */
static size_t tt_slot(const MilpState *s, const char *t, size_t n, uint32_t h) {
  size_t mask = s->ttcap - 1, i = h & mask;
  for (; s->tt[i].type; i = (i + 1) & mask) {
    const MilpTypeText *e = &s->tt[i];
    if (e->hash == h && e->len == n && same_bytes(s->src->text + e->at, t, n))
      break;
  }
  return i;
}

static void tt_grow(MilpState *s) {
  MilpTypeText *old = s->tt;
  size_t oldcap = s->ttcap;
  s->ttcap = oldcap ? 2 * oldcap : 64;
  s->tt = xmalloc(s->ttcap * sizeof *s->tt);
  memset(s->tt, 0, s->ttcap * sizeof *s->tt);
  for (size_t i = 0; i < oldcap; i++)
    if (old[i].type)
      s->tt[tt_slot(s, s->src->text + old[i].at, old[i].len, old[i].hash)] = old[i];
  free(old);
}

static MilType *read_tensor_token(MilpState *s, const char *t);

/* A program spells a few tensor types many times: each spelling is read
 * once, then found by its text. */
MilType *milp_tensor_token(MilpState *s, Loc loc) {
  if (s->depth + 2 > MILP_MAX_DEPTH)
    return NULL;
  const char *t = s->src->text + loc.start;
  size_t n = loc.end - loc.start;
  uint32_t h = hash_bytes(t, n);
  if (2 * (s->ntt + 1) > s->ttcap)
    tt_grow(s);
  MilpTypeText *e = &s->tt[tt_slot(s, t, n, h)];
  if (!e->type) {
    MilType *type = read_tensor_token(s, t);
    if (!type)
      return NULL;
    *e = (MilpTypeText){loc.start, (uint32_t)n, h, type};
    s->ntt++;
  }
  return e->type;
}

static MilType *read_tensor_token(MilpState *s, const char *t) {
  size_t i = skip_ws(t, 6) + 1, j = skip_ws(t, i), k = j;   /* past "tensor" and '<' */
  while (t[k] != ',' && t[k] != ' ' && t[k] != '\t' && t[k] != '\r' && t[k] != '\n')
    k++;
  MilDtype dt;
  if (!mil_dtype_lookup(t + j, k - j, &dt))
    return NULL;
  i = skip_ws(t, skip_ws(t, k) + 1) + 1;                   /* past ',' and '[' */
  int64_t dims[MIL_MAX_RANK], numel = 1;
  int rank = 0;
  for (i = skip_ws(t, i); t[i] != ']'; i = skip_ws(t, i)) {
    if (t[i] == ',')
      i = skip_ws(t, i + 1);
    if (rank == MIL_MAX_RANK)
      return NULL;
    int64_t d = MIL_DIM_ANY;
    if (t[i] == '?')
      i++;
    else
      for (d = 0; t[i] >= '0' && t[i] <= '9'; i++)
        if ((d = d * 10 + (t[i] - '0')) > MILP_MAX_DIM)
          return NULL;
    if (d > 0 && numel > MILP_MAX_NUMEL / d)
      return NULL;
    numel *= d > 0 ? d : 1;
    dims[rank++] = d;
  }
  return tensor_type(s, dt, rank, dims);
}

static MilValue *new_value(MilpState *s, const MilType *t, MilValKind kind, size_t extra);

/* Whether t[0..n) is all printable ASCII without a backslash: what a
 * string holds that needs no decoding. Eight bytes a step: a byte >= 0x80,
 * below 0x20, 0x7f or '\\' sets that byte's top bit in bad. */
static bool plain_bytes(const char *t, size_t n) {
  const uint64_t ones = 0x0101010101010101u, tops = 0x8080808080808080u;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x = load64(t + i), d = x ^ 0x7f * ones, b = x ^ '\\' * ones;
    uint64_t bad = x | ((x - 0x20 * ones) & ~x) | ((d - ones) & ~d) | ((b - ones) & ~b);
    if (bad & tops)
      return false;
  }
  for (; i < n; i++)
    if ((unsigned char)t[i] < 0x20 || (unsigned char)t[i] >= 0x7f || t[i] == '\\')
      return false;
  return true;
}

/* A "string(\"...\")" token: the value milp_value() makes of it, or NULL
 * when it is read the long way: a string that needs decoding (the long
 * way reports what is wrong with it), too deep, or not right after the
 * '=' of an argument or attribute. Only there is "string" sure to be read
 * as a type, so that one token changes nothing, not even a message: after
 * a statement's '=' (innermost bracket '{') it names an op. */
MilValue *milp_string_token(MilpState *s, Loc loc) {
  const char *t = s->src->text;
  size_t a = loc.start + 6, b = loc.end - 1;   /* past "string"; at ')' */
  if (s->depth + 1 > MILP_MAX_DEPTH || loc.start != s->after_eq || s->depth == 0 ||
      (s->open[s->depth] != '(' && s->open[s->depth] != '['))
    return NULL;
  while (t[a] != '"')
    a++;
  while (t[b] != '"')
    b--;
  if (!plain_bytes(t + a + 1, b - a - 1))
    return NULL;
  MilValue *v = new_value(s, mil_scalar_type(s->p, MIL_STRING), MIL_VDATA, sizeof *v->s);
  v->n = 1;
  v->s = (char **)(v + 1);
  v->s[0] = (char *)intern(s, t + a + 1, b - a - 1)->str;
  return v;
}

MilpTArg *milp_targ_type(MilpState *s, MilType *t) {
  MilpTArg *a = milp_tmp(s, sizeof *a);
  a->kind = MILP_TTYPE;
  a->type = t;
  a->bad = !t;
  return a;
}

MilpTArg *milp_targ_dim(MilpState *s, Loc loc, bool any) {
  MilpTArg *a = milp_tmp(s, sizeof *a);
  a->kind = MILP_TDIM;
  a->d = MIL_DIM_ANY;
  if (any)
    return a;
  const char *t = s->src->text + loc.start;   /* the INT token: -?[0-9]+ */
  size_t n = loc.end - loc.start;
  int64_t v = 0;   /* digits only: the sign is judged below, and v stays small */
  for (size_t i = t[0] == '-'; i < n && v <= MILP_MAX_DIM; i++)
    v = v * 10 + (t[i] - '0');
  if (t[0] == '-')
    a->bad = !milp_err(s, loc, "negative dimension %s", milp_text(s, loc));
  else if (v > MILP_MAX_DIM)
    a->bad = !milp_err(s, loc, "dimension %s is larger than %lld", milp_text(s, loc),
                       (long long)MILP_MAX_DIM);
  else
    a->d = v;
  return a;
}

MilpTArg *milp_targ_shape(MilpState *s, MilpTArg *shape, MilpTArg *dim, Loc loc) {
  if (!shape) {
    shape = milp_tmp(s, sizeof *shape);
    shape->kind = MILP_TSHAPE;
  }
  if (!dim)
    return shape;
  shape->bad |= dim->bad;
  if (shape->rank == MIL_MAX_RANK) {
    if (!shape->bad)
      shape->bad = !milp_err(s, loc, "tensor rank above the limit of %d", MIL_MAX_RANK);
    return shape;
  }
  shape->dim[shape->rank++] = dim->d;
  return shape;
}

static MilType *new_type(MilpState *s, MilKind kind, int nsub) {
  MilType *t = mil_alloc(s->p, sizeof *t);
  t->kind = kind;
  t->nsub = nsub;
  t->sub = nsub ? mil_alloc(s->p, (size_t)nsub * sizeof *t->sub) : NULL;
  return t;
}

/* Static element counts above MILP_MAX_NUMEL (or overflowing) are refused
 * here, so nothing downstream multiplies them. */
static MilType *tensor_of(MilpState *s, MilpTArg **a, Loc loc) {
  const MilType *e = a[0]->type;
  if (a[0]->kind != MILP_TTYPE || e->kind != MIL_TENSOR || e->rank != 0 ||
      a[1]->kind != MILP_TSHAPE) {
    milp_err(s, loc, "expected tensor<dtype, [dims]>");
    return NULL;
  }
  MilType *t = tensor_type(s, e->dtype, a[1]->rank, a[1]->dim);
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) {
    if (t->dim[i] <= 0)
      continue;
    if (n > MILP_MAX_NUMEL / t->dim[i]) {
      milp_err(s, loc, "tensor type with more than %lld elements", (long long)MILP_MAX_NUMEL);
      return NULL;
    }
    n *= t->dim[i];
  }
  return t;
}

static bool all_types(MilpTArg **a, int n) {
  for (int i = 0; i < n; i++)
    if (a[i]->kind != MILP_TTYPE)
      return false;
  return true;
}

MilType *milp_type(MilpState *s, Loc name, MilpSeq targs, Loc loc) {
  MilpTArg **a = milp_tmp(s, (size_t)targs.n * sizeof *a);
  int n = 0;
  for (MilpNode *x = targs.head; x; x = x->next) {
    a[n] = x->item;
    if (a[n++]->bad)
      return NULL;
  }
  MilType *t = NULL;
  if (text_is(s, name, "tensor") && n == 2)
    return tensor_of(s, a, loc);
  if (text_is(s, name, "list") && n == 2 && a[0]->kind == MILP_TTYPE && a[1]->kind == MILP_TDIM) {
    t = new_type(s, MIL_LIST, 1);
    t->len = a[1]->d;
  } else if (text_is(s, name, "tuple") && all_types(a, n)) {
    t = new_type(s, MIL_TUPLE, n);
  } else if (text_is(s, name, "dict") && n == 2 && all_types(a, n)) {
    t = new_type(s, MIL_DICT, 2);
  } else if (text_is(s, name, "state") && n == 1 && all_types(a, n)) {
    t = new_type(s, MIL_STATE, 1);
  } else {
    milp_err(s, loc, "expected tensor<dtype, [dims]>, list<type, len>, tuple<types>, "
                     "dict<type, type> or state<type>");
    return NULL;
  }
  for (int i = 0; i < t->nsub; i++)
    t->sub[i] = a[i]->type;
  return t;
}

/* ---- literals ---------------------------------------------------------------- */

MilpLit *milp_lit(MilpState *s, MilpLitKind kind, Loc loc, const char *str) {
  MilpLit *l = milp_tmp(s, sizeof *l);
  l->kind = kind;
  l->loc = loc;
  l->str = str;
  return l;
}

MilpLit *milp_lit_list(MilpState *s, MilpLitKind kind, MilpSeq items, Loc loc) {
  MilpLit *l = milp_lit(s, kind, loc, NULL);
  l->n = items.n;
  l->items = milp_tmp(s, (size_t)items.n * sizeof *l->items);
  int i = 0;
  for (MilpNode *x = items.head; x; x = x->next) {
    if (!x->item)
      return NULL;          /* an error inside was already reported */
    l->items[i++] = x->item;
  }
  return l;
}

static bool is_scalar_of(const MilValue *v, MilDtype dt) {
  return v && v->kind == MIL_VDATA && v->type->kind == MIL_TENSOR && v->type->rank == 0 &&
         v->type->dtype == dt;
}

MilpLit *milp_lit_blob(MilpState *s, MilpSeq keyvals, Loc loc) {
  MilpLit *l = milp_lit(s, MILP_LBLOB, loc, NULL);
  bool has_off = false;
  for (MilpNode *x = keyvals.head; x; x = x->next) {
    MilAttr *a = x->item;
    if (!a->val)
      return NULL;
    if (strcmp(a->name, "path") == 0 && !l->str && is_scalar_of(a->val, MIL_STRING)) {
      l->str = a->val->s[0];
    } else if (strcmp(a->name, "offset") == 0 && !has_off && is_scalar_of(a->val, MIL_UINT64)) {
      l->offset = (uint64_t)a->val->i[0];
      has_off = true;
    } else {
      milp_err(s, x->loc, "expected path = string(...) and offset = uint64(...) "
                          "once each in BLOBFILE(...)");
      return NULL;
    }
  }
  if (!l->str || !has_off) {
    milp_err(s, loc, "BLOBFILE(...) needs both path and offset");
    return NULL;
  }
  return l;
}

MilAttr *milp_attr(MilpState *s, Loc name, MilValue *v) {
  MilAttr *a = milp_tmp(s, sizeof *a);
  a->name = milp_name(s, name);
  a->val = v;
  return a;
}

/* ---- literal against its type ------------------------------------------------ */

static const char *lit_desc(MilpState *s, const MilpLit *l) {
  switch (l->kind) {
  case MILP_LLIST: return "'[...]'";
  case MILP_LTUPLE: return "'(...)'";
  case MILP_LDICT: return "'{...}'";
  case MILP_LBLOB: return "BLOBFILE(...)";
  default: break;
  }
  size_t n = l->loc.end - l->loc.start;
  return mil_printf(s->p, "'%.*s%s'", (int)(n > 24 ? 24 : n), s->src->text + l->loc.start,
                    n > 24 ? "..." : "");
}

enum { NUM_MAX = 400 };

/* A number token as a NUL-terminated string in buf; false if absurdly long. */
static bool num_text(MilpState *s, const MilpLit *l, char buf[NUM_MAX + 1]) {
  size_t n = l->loc.end - l->loc.start;
  if (n > NUM_MAX)
    return milp_err(s, l->loc, "number longer than %d characters", NUM_MAX);
  memcpy(buf, s->src->text + l->loc.start, n);
  buf[n] = '\0';
  return true;
}

static bool set_float(MilpState *s, MilValue *v, int64_t k, const MilpLit *l) {
  if (l->kind == MILP_LWORD && (text_is(s, l->loc, "inf") || text_is(s, l->loc, "nan"))) {
    v->f[k] = text_is(s, l->loc, "inf") ? INFINITY : NAN;
    return true;
  }
  if (l->kind != MILP_LINT && l->kind != MILP_LFLOAT)
    return milp_err(s, l->loc, "expected a number for %s, found %s",
                    mil_dtype_name(v->type->dtype), lit_desc(s, l));
  char t[NUM_MAX + 1];
  if (!num_text(s, l, t))
    return false;
  errno = 0;
  double x = strtod(t, NULL);
  if (errno == ERANGE && isinf(x))
    return milp_err(s, l->loc, "number %s is out of range", t);
  v->f[k] = x;
  return true;
}

static bool set_int(MilpState *s, MilValue *v, int64_t k, const MilpLit *l) {
  MilDtype dt = v->type->dtype;
  if (l->kind != MILP_LINT)
    return milp_err(s, l->loc, "expected an integer for %s, found %s", mil_dtype_name(dt),
                    lit_desc(s, l));
  char t[NUM_MAX + 1];
  if (!num_text(s, l, t))
    return false;
  int bits = mil_dtype_bits(dt);
  bool sign = mil_dtype_is_signed(dt);
  errno = 0;
  if (t[0] == '-') {
    long long x = strtoll(t, NULL, 10);
    long long lo = !sign ? 0 : bits == 64 ? INT64_MIN : -(1LL << (bits - 1));
    if (errno == ERANGE || x < lo)
      return milp_err(s, l->loc, "%s is out of range for %s", t, mil_dtype_name(dt));
    v->i[k] = x;
    return true;
  }
  unsigned long long x = strtoull(t, NULL, 10);
  int vbits = sign ? bits - 1 : bits;
  unsigned long long hi = vbits == 64 ? UINT64_MAX : (1ULL << vbits) - 1;
  if (errno == ERANGE || x > hi)
    return milp_err(s, l->loc, "%s is out of range for %s", t, mil_dtype_name(dt));
  v->i[k] = (int64_t)x;
  return true;
}

static bool set_elem(MilpState *s, MilValue *v, int64_t k, const MilpLit *l) {
  MilDtype dt = v->type->dtype;
  if (dt == MIL_STRING) {
    if (l->kind != MILP_LSTRING)
      return milp_err(s, l->loc, "expected a string, found %s", lit_desc(s, l));
    v->s[k] = (char *)l->str;     /* interned by milp_string */
    return true;
  }
  if (dt == MIL_BOOL) {
    bool t = l->kind == MILP_LWORD && text_is(s, l->loc, "true");
    if (!t && !(l->kind == MILP_LWORD && text_is(s, l->loc, "false")))
      return milp_err(s, l->loc, "expected true or false, found %s", lit_desc(s, l));
    v->i[k] = t;
    return true;
  }
  if (mil_dtype_is_float(dt))
    return set_float(s, v, k, l);
  return set_int(s, v, k, l);
}

/* The shape a nested [...] literal spells, read along its first items;
 * declared dims must agree, '?' dims take what the literal says. */
static bool infer_shape(MilpState *s, const MilType *t, const MilpLit *lit, int64_t *dims) {
  const MilpLit *l = lit;
  for (int k = 0; k < t->rank; k++) {
    if (l->kind != MILP_LLIST)
      return milp_err(s, l->loc, "expected '[' for dimension %d of a rank-%d tensor, found %s",
                      k, t->rank, lit_desc(s, l));
    if (t->dim[k] >= 0 && l->n != t->dim[k])
      return milp_err(s, l->loc, "expected %lld elements in dimension %d, found %d",
                      (long long)t->dim[k], k, l->n);
    dims[k] = l->n;
    if (l->n == 0) {
      for (int j = k + 1; j < t->rank; j++)
        dims[j] = t->dim[j] >= 0 ? t->dim[j] : 0;
      return true;
    }
    l = l->items[0];
  }
  return true;
}

/* Every [...] at depth `axis` must hold dims[axis] items; the leaves sit at
 * depth rank. Counts the leaves, which bounds what the value allocates. */
static bool check_nesting(MilpState *s, const MilType *t, const MilpLit *l, int axis,
                          const int64_t *dims) {
  if (axis == t->rank) {
    if (l->kind == MILP_LLIST || l->kind == MILP_LTUPLE || l->kind == MILP_LDICT ||
        l->kind == MILP_LBLOB)
      return milp_err(s, l->loc, "expected a %s element (the tensor has rank %d), found %s",
                      mil_dtype_name(t->dtype), t->rank, lit_desc(s, l));
    return true;
  }
  if (l->kind != MILP_LLIST)
    return milp_err(s, l->loc, "expected '[' for dimension %d of a rank-%d tensor, found %s",
                    axis, t->rank, lit_desc(s, l));
  if (l->n != dims[axis])
    return milp_err(s, l->loc, "expected %lld elements in dimension %d, found %d",
                    (long long)dims[axis], axis, l->n);
  for (int i = 0; i < l->n; i++)
    if (!check_nesting(s, t, l->items[i], axis + 1, dims))
      return false;
  return true;
}

static bool fill(MilpState *s, MilValue *v, const MilpLit *l, int axis, int64_t *k) {
  if (axis == v->type->rank)
    return set_elem(s, v, (*k)++, l);
  for (int i = 0; i < l->n; i++)
    if (!fill(s, v, l->items[i], axis + 1, k))
      return false;
  return true;
}

/* A value and `extra` bytes after it, for its elements. */
static MilValue *new_value(MilpState *s, const MilType *t, MilValKind kind, size_t extra) {
  MilValue *v = mil_alloc(s->p, sizeof *v + extra);
  v->type = t;
  v->kind = kind;
  v->blob_src = -1;
  return v;
}

static MilValue *blob_value(MilpState *s, const MilType *t, const MilpLit *l) {
  if (mil_type_numel(t) < 0) {
    milp_err(s, l->loc, "a BLOBFILE tensor needs a static shape");
    return NULL;
  }
  MilValue *v = new_value(s, t, MIL_VBLOB, 0);
  v->n = mil_type_numel(t);
  v->blob_path = l->str;
  v->blob_offset = l->offset;
  return v;
}

static MilValue *tensor_value(MilpState *s, const MilType *t, const MilpLit *lit) {
  if (lit->kind == MILP_LBLOB)
    return blob_value(s, t, lit);
  int64_t dims[MIL_MAX_RANK];
  if (!infer_shape(s, t, lit, dims) || !check_nesting(s, t, lit, 0, dims))
    return NULL;
  if (mil_type_numel(t) < 0)    /* '?' dims: the value gets the shape it spells */
    t = tensor_type(s, t->dtype, t->rank, dims);
  int64_t n = mil_type_numel(t);
  if (n < 0 || n > MIL_MAX_ELEMS) {
    milp_err(s, lit->loc, "literal with more than %d elements", MIL_MAX_ELEMS);
    return NULL;
  }
  /* Elements (8 bytes each, whatever the dtype) right after the value. */
  size_t cnt = n ? (size_t)n : 1;
  MilValue *v = new_value(s, t, MIL_VDATA, cnt * 8);
  v->n = n;
  void *data = v + 1;
  if (t->dtype == MIL_STRING)
    v->s = data;
  else if (mil_dtype_is_float(t->dtype))
    v->f = data;
  else
    v->i = data;
  int64_t k = 0;
  return fill(s, v, lit, 0, &k) ? v : NULL;
}

static const char *kind_name(MilKind k) {
  switch (k) {
  case MIL_LIST: return "list";
  case MIL_TUPLE: return "tuple";
  case MIL_DICT: return "dict";
  case MIL_STATE: return "state";
  default: return "tensor";
  }
}

/* Items of a list, tuple or dict; a dict's pairs are {k, v} and become
 * key, value, key, value... */
static MilValue *agg_value(MilpState *s, const MilType *t, const MilpLit *l) {
  static const MilpLitKind want[] = {[MIL_LIST] = MILP_LLIST, [MIL_TUPLE] = MILP_LTUPLE,
                                     [MIL_DICT] = MILP_LDICT};
  static const char *const open[] = {[MIL_LIST] = "[", [MIL_TUPLE] = "(", [MIL_DICT] = "{"};
  if (l->kind != want[t->kind])
    return milp_err(s, l->loc, "expected '%s' for a %s, found %s", open[t->kind],
                    kind_name(t->kind), lit_desc(s, l)), NULL;
  int n = t->kind == MIL_TUPLE ? t->nsub : t->kind == MIL_LIST ? (int)t->len : -1;
  if (n >= 0 && l->n != n)
    return milp_err(s, l->loc, "expected %d items in the %s, found %d", n, kind_name(t->kind),
                    l->n), NULL;
  int per = t->kind == MIL_DICT ? 2 : 1;
  MilValue *v = mil_agg(s->p, t, l->n * per);
  for (int i = 0; i < l->n; i++) {
    const MilpLit *it = l->items[i];
    if (t->kind == MIL_DICT && (it->kind != MILP_LDICT || it->n != 2))
      return milp_err(s, it->loc, "expected a {key, value} pair, found %s", lit_desc(s, it)), NULL;
    for (int j = 0; j < per; j++) {
      const MilType *st = t->kind == MIL_TUPLE ? t->sub[i] : t->sub[j];
      v->items[i * per + j] = milp_value(s, st, t->kind == MIL_DICT ? it->items[j] : it);
      if (!v->items[i * per + j])
        return NULL;
    }
  }
  return v;
}

MilValue *milp_value(MilpState *s, const MilType *t, const MilpLit *lit) {
  if (!t || !lit)
    return NULL;     /* already reported */
  if (t->kind == MIL_TENSOR)
    return tensor_value(s, t, lit);
  if (t->kind == MIL_STATE) {
    milp_err(s, lit->loc, "a state<...> has no literal value");
    return NULL;
  }
  return agg_value(s, t, lit);
}

/* ---- names defined in the current function ------------------------------------- */

static bool defined(const MilpState *s, const MilpSym *e) { return e->def == s->fn + 1; }

/* A name defined twice keeps its first definition, as a scan finds it. */
static void define(MilpState *s, MilpSym *e, int var, int out) {
  if (defined(s, e))
    return;
  e->def = s->fn + 1;
  e->var = var;
  e->out = out;
}

/* ---- program structure ---------------------------------------------------------- */

void milp_version(MilpState *s, Loc loc) {
  const char *t = s->src->text + loc.start;
  size_t n = loc.end - loc.start, i = 0;
  while (i < n && t[i] >= '0' && t[i] <= '9')
    i++;
  bool ok = i > 0;
  if (ok && i < n && t[i] == '.') {
    size_t j = ++i;
    while (i < n && t[i] >= '0' && t[i] <= '9')
      i++;
    ok = i > j;
  }
  if (!ok || i != n)
    milp_err(s, loc, "expected a version such as 1.3, found '%s'", milp_text(s, loc));
  s->p->version = milp_text(s, loc);
}

/* Attributes into an array, refusing a key given twice. */
static void attr_array(MilpState *s, MilpSeq q, int *n, MilAttr **out) {
  *out = mil_alloc(s->p, (size_t)q.n * sizeof **out);
  *n = 0;
  for (MilpNode *x = q.head; x; x = x->next) {
    MilAttr *a = x->item;
    for (int i = 0; i < *n; i++)
      if ((*out)[i].name == a->name) {     /* interned */
        milp_err(s, x->loc, "attribute '%s' given twice", a->name);
        break;
      }
    (*out)[(*n)++] = *a;
  }
}

void milp_prog_attrs(MilpState *s, MilpSeq attrs) {
  attr_array(s, attrs, &s->p->nattrs, &s->p->attrs);
}

void milp_func_begin(MilpState *s, Loc name, Loc opset, Loc loc) {
  char *fname = milp_text(s, name);
  if (mil_find_func(s->p, fname))
    milp_err(s, name, "function '%s' defined twice", fname);
  MilFunc *f = mil_add_func(s->p, fname, milp_text(s, opset));
  f->loc = loc;
  s->fn = s->p->nfuncs - 1;   /* a new fn: no name is defined in it yet */
}

void milp_param(MilpState *s, MilType *t, Loc name) {
  MilpSym *e = name_sym(s, name);
  if (defined(s, e))
    milp_err(s, name, "'%s' defined twice", e->str);
  define(s, e, -(s->p->funcs[s->fn].ninputs + 1), 0);
  mil_add_input(s->p, &s->p->funcs[s->fn], t, e->str);
}

void milp_func_attrs(MilpState *s, MilpSeq attrs) {
  MilFunc *f = &s->p->funcs[s->fn];
  attr_array(s, attrs, &f->nattrs, &f->attrs);
}

void milp_func_output(MilpState *s, Loc name) {
  MilpSym *e = name_sym(s, name);
  if (!defined(s, e))
    milp_err(s, name, "function output '%s' is not defined", e->str);
  mil_add_output(s->p, &s->p->funcs[s->fn], e->str);
}

void milp_func_end(MilpState *s) {
  s->fn = -1;
  tmp_reset(s);
}

MilBind *milp_bind_ref(MilpState *s, Loc name) {
  MilBind *b = milp_tmp(s, sizeof *b);
  b->kind = MIL_BREF;
  MilpSym *e = name_sym(s, name);
  b->ref = e->str;
  if (!defined(s, e))
    milp_err(s, name, "'%s' is not defined", b->ref);
  else
    b->def = e->var, b->out = e->out;
  return b;
}

MilBind *milp_bind_val(MilpState *s, MilValue *v) {
  MilBind *b = milp_tmp(s, sizeof *b);
  b->kind = MIL_BVAL;
  b->val = v;
  return b;
}

MilBind *milp_bind_list(MilpState *s, MilpSeq items) {
  MilBind *b = milp_tmp(s, sizeof *b);
  b->kind = MIL_BLIST;
  b->items = mil_alloc(s->p, (size_t)items.n * sizeof *b->items);
  for (MilpNode *x = items.head; x; x = x->next)
    b->items[b->nitems++] = *(MilBind *)x->item;
  return b;
}

MilArg *milp_arg(MilpState *s, Loc name, MilBind *b) {
  MilArg *a = milp_tmp(s, sizeof *a);
  a->name = milp_name(s, name);
  a->bind = *b;
  return a;
}

MilVar *milp_out(MilpState *s, MilType *t, Loc name) {
  MilVar *v = milp_tmp(s, sizeof *v);
  v->type = t;
  v->name = milp_name(s, name);
  return v;
}

static void stmt_args(MilpState *s, MilOp *op, MilpSeq args) {
  op->args = mil_alloc(s->p, (size_t)args.n * sizeof *op->args);
  for (MilpNode *x = args.head; x; x = x->next) {
    MilArg *a = x->item;
    for (int i = 0; i < op->nargs; i++)
      if (op->args[i].name == a->name) {     /* interned */
        milp_err(s, x->loc, "argument '%s' given twice", a->name);
        break;
      }
    op->args[op->nargs++] = *a;
  }
}

/* The outputs become visible only after the whole statement (its
 * arguments were checked while it was read), so an op cannot read its own
 * result. What the statement needed in scratch memory is dropped here. */
void milp_stmt(MilpState *s, MilpSeq outs, Loc opname, MilpSeq args, MilpSeq attrs, Loc loc) {
  MilOp *op = mil_add_op_named(s->p, &s->p->funcs[s->fn], milp_name(s, opname));
  op->loc = loc;
  op->outs = outs.n ? mil_alloc(s->p, (size_t)outs.n * sizeof *op->outs) : NULL;
  for (MilpNode *x = outs.head; x; x = x->next) {
    MilpSym *e = name_sym(s, x->loc);
    if (defined(s, e))
      milp_err(s, x->loc, "'%s' defined twice", e->str);
    define(s, e, s->p->funcs[s->fn].nops, op->nouts);
    op->outs[op->nouts++] = *(MilVar *)x->item;
  }
  stmt_args(s, op, args);
  attr_array(s, attrs, &op->nattrs, &op->attrs);
  char msg[640];
  if (opdef_check(&s->p->funcs[s->fn], s->p->funcs[s->fn].nops - 1, msg, sizeof msg) < 0)
    milp_err(s, loc, "%s: %s", op->op, msg);
  tmp_reset(s);
}
