/* anetparse.y - the .anet grammar: a pure parser with byte-offset
 * locations that builds the syntax tree of ast.h.
 *
 * A file is a list of statements separated by newlines or ';': constants,
 * at most one sweep, and one network whose body lists inputs and layers.
 * Layer arguments are single terms (a number, a name, a call, a list or a
 * parenthesised expression), so "conv ch -1" can only mean two arguments;
 * arithmetic in an argument goes in parentheses: "conv (2 * ch)". */
%define api.pure full
%define api.prefix {anetyy}
%define api.token.prefix {T_}
%define api.location.type {Loc}
%define parse.error custom
%locations
%expect 0
%param {void *scanner}
%parse-param {AnetParse *ctx}

%code requires {
#include <stdbool.h>
#include "ast.h"

typedef struct Seq { Node *head, *tail; } Seq;

/* Shared by the scanner (as its extra data) and the parser. */
enum { ANETP_MAX_OPEN = 64 };

typedef struct AnetParse {
  const Src *src;
  Diag *d;
  Node *head, *tail;   /* the top-level statements parsed so far */
  int nerrors;
  int nsoft;           /* of those, reserved words used as names: the tree is whole */
  bool recovering;     /* a statement was skipped: report anew after its end */
  bool deep;           /* the nesting limit has been reported */
  size_t off;          /* the scanner's position in src */
  int nest;            /* open ( and [: newlines inside them are spaces */
  int nopen;           /* open brackets of every kind, the innermost */
  Loc open[ANETP_MAX_OPEN];   /* ANETP_MAX_OPEN of them remembered */
  bool has_suspect;    /* a '}' closed a '{' of another indentation: */
  Loc suspect;         /* that '{' */
  Loc closed;          /* the bracket the last closing one took off open[]
                          (start SIZE_MAX: not remembered) */
  size_t tok_end, prev_end;   /* the ends of the last token and the one before */
  bool rescan;         /* the scanner's next token: an end of line, then */
  size_t rescan_at;    /* the text again from here */
  bool line_ends_error;   /* a syntax error: the next newline ends its statement */
} AnetParse;

int anetp_scan_begin(AnetParse *ctx, void **scanner);
void anetp_forget_brackets(AnetParse *ctx);
void anetp_scan_end(void *scanner);
}

%code provides {
int anetyylex(ANETYYSTYPE *lval, Loc *lloc, void *scanner);
}

%code {
#include <stdlib.h>
#include <string.h>

#define YYLLOC_DEFAULT(Cur, Rhs, N)                     \
  do {                                                  \
    if (N) {                                            \
      (Cur).start = YYRHSLOC(Rhs, 1).start;             \
      (Cur).end = YYRHSLOC(Rhs, N).end;                 \
    } else {                                            \
      (Cur).start = (Cur).end = YYRHSLOC(Rhs, 0).end;   \
    }                                                   \
  } while (0)

static void anetyyerror(Loc *loc, void *scanner, AnetParse *ctx, const char *msg) {
  (void)scanner;
  diag_error(ctx->d, ctx->src, *loc, "%s", msg);
  ctx->nerrors++;
}


static Node *mk(NodeKind k, Loc loc) { return ast_new(k, loc); }

/* After skipping a bad statement: true (stop) at the error limit. Errors
 * are reported again from the next line inside a body only: after a bad
 * top-level line (a network without its '{'), the next lines are
 * mostly its body, whose errors would only follow from the first. */
static bool recovered(AnetParse *ctx, bool in_body) {
  ctx->recovering = in_body;
  if (ctx->nerrors < ANET_MAX_ERRORS)
    return false;
  fprintf(ctx->d->out ? ctx->d->out : stderr, "%s: note: stopping after %d errors\n",
          ctx->src->name, ANET_MAX_ERRORS);
  return true;
}

/* A reserved word where a statement declares a name: reported, then taken
 * as the name, so the statements that follow are checked as written. */
static char *reserved_name(AnetParse *ctx, Loc loc) {
  int len = (int)(loc.end - loc.start);
  diag_error(ctx->d, ctx->src, loc, "'%.*s' is a reserved word and cannot be a name", len,
             ctx->src->text + loc.start);
  ctx->nerrors++;
  ctx->nsoft++;
  char *s = malloc((size_t)len + 1);
  if (!s) {
    fputs("anetc: out of memory\n", stderr);
    abort();
  }
  memcpy(s, ctx->src->text + loc.start, (size_t)len);
  s[len] = '\0';
  return s;
}

static int max_depth(const Node *a, const Node *list) {
  int m = a ? a->depth : 0;
  for (const Node *k = list; k; k = k->next)
    if (k->depth > m)
      m = k->depth;
  return m;
}

/* Sets n's depth from its children; a node nested too deeply is replaced
 * by a leaf, so nothing downstream (freeing included) recurses far. */
static Node *nested(AnetParse *ctx, Node *n) {
  n->depth = 1 + max_depth(n->a, n->kids);
  if (n->depth <= ANET_MAX_NEST)
    return n;
  if (!ctx->deep)
    diag_error(ctx->d, ctx->src, n->loc, "nesting is deeper than the limit of %d levels",
               ANET_MAX_NEST);
  ctx->deep = true;
  ctx->nerrors++;
  Node *leaf = mk(N_INT, n->loc);
  ast_free(n);
  return leaf;
}

static Seq seq_add(Seq s, Node *n) {
  if (!n)
    return s;
  if (s.tail)
    s.tail->next = n;
  else
    s.head = n;
  s.tail = n;
  return s;
}

static Seq seq_one(Node *n) { return seq_add((Seq){NULL, NULL}, n); }

static Node *with_name(Node *n, char *name, Loc name_loc) {
  n->name = name;
  n->name_loc = name_loc;
  return n;
}

static Node *with_kids(AnetParse *ctx, Node *n, Node *a, Seq kids) {
  n->a = a;
  n->kids = kids.head;
  return nested(ctx, n);
}

static void add_top(AnetParse *ctx, Node *n) {
  Seq s = seq_add((Seq){ctx->head, ctx->tail}, n);
  ctx->head = s.head;
  ctx->tail = s.tail;
}

static Node *binop(AnetParse *ctx, int op, Node *a, Node *b, Loc loc) {
  Node *n = mk(N_BIN, loc);
  n->ival = op;
  a->next = b;
  n->kids = a;
  return nested(ctx, n);
}
}

%union {
  Node *node;
  Seq seq;
  char *str;
  int64_t ival;
  double fval;
}

%token <str> IDENT "identifier" CALLEE "function name" STRING "string"
%token <ival> INT "integer"
%token <fval> FLOAT "number"
%token NETWORK "network" INPUT "input" REPEAT "repeat" SWEEP "sweep" IN "in"
       CONST "const" ACTIVATIONS "activations" LET "let" FROM "from" SEED "seed"
       BLOCK "block" OUTPUT "output" STATE "state" WEIGHT "weight"
       NL "end of line"

%type <node> top_stmt factor stmt body_item layer arg atom expr name tuple block_name
%type <seq> body factors names tuples args exprs exprs_opt params binds
%type <str> decl_name

%destructor { free($$); } <str>
%destructor { ast_free($$); } <node>
%destructor { ast_free($$.head); } <seq>

%left '+' '-'
%left '*' '/'
%precedence NEG

%%

file
  : top_list
  ;

top_list
  : top_item
  | top_list term top_item
  ;

top_item
  : %empty
  | top_stmt    { add_top(ctx, $1); }
  | error       { if (recovered(ctx, false)) YYABORT; }
  ;

/* The end of a statement: after an error in a body, the place to report
 * errors again (bison would wait for three good tokens, which hides an
 * error on each of several short lines). */
term
  : NL          { if (ctx->recovering) yyerrok; ctx->recovering = false; }
  | ';'         { if (ctx->recovering) yyerrok; ctx->recovering = false; }
  ;

nls
  : %empty
  | nls NL
  ;

top_stmt
  : CONST decl_name '=' expr
      { $$ = with_name(mk(N_CONST, @$), $2, @2); $$ = with_kids(ctx, $$, $4, (Seq){0}); }
  | SWEEP factors
      { $$ = with_kids(ctx, mk(N_SWEEP, @$), NULL, $2); }
  | NETWORK IDENT nls '{' body '}'
      { $$ = with_name(mk(N_NETWORK, @$), $2, @2); $$ = with_kids(ctx, $$, NULL, $5); }
  | BLOCK block_name '(' params ')' nls '{' body '}'
      { Node *p = with_kids(ctx, mk(N_LIST, @4), NULL, $4);
        $$ = with_name(mk(N_BLOCK, @$), $2->name, $2->loc); $2->name = NULL; ast_free($2);
        $$->name_loc = @2; $$ = with_kids(ctx, $$, p, $8); }
  ;

/* "block f(" is a CALLEE; "block f (" an IDENT: both are meant */
block_name
  : IDENT             { $$ = with_name(mk(N_IDENT, @1), $1, @1); }
  | CALLEE            { $$ = with_name(mk(N_IDENT, @1), $1, @1); }
  ;

params
  : %empty            { $$ = (Seq){0}; }
  | names
  ;

factors
  : factor                    { $$ = seq_one($1); }
  | factors ',' nls factor    { $$ = seq_add($1, $4); }
  ;

factor
  : name IN '[' exprs ']'
      { Node *l = with_kids(ctx, mk(N_LIST, @3), NULL, $4);
        $$ = with_kids(ctx, mk(N_FACTOR, @$), l, seq_one($1)); }
  | '(' names ')' IN '[' tuples ']'
      { Node *l = with_kids(ctx, mk(N_LIST, @5), NULL, $6);
        $$ = with_kids(ctx, mk(N_FACTOR, @$), l, $2); }
  ;

names
  : name              { $$ = seq_one($1); }
  | names ',' name    { $$ = seq_add($1, $3); }
  ;

name
  : IDENT             { $$ = with_name(mk(N_IDENT, @1), $1, @1); }
  ;

tuples
  : tuple             { $$ = seq_one($1); }
  | tuples ',' tuple  { $$ = seq_add($1, $3); }
  ;

tuple
  : '(' exprs ')'     { $$ = with_kids(ctx, mk(N_LIST, @$), NULL, $2); }
  ;

body
  : body_item              { $$ = seq_one($1); }
  | body term body_item    { $$ = seq_add($1, $3); }
  ;

body_item
  : %empty      { $$ = NULL; }
  | stmt        { $$ = $1; }
  | error       { $$ = NULL; if (recovered(ctx, true)) YYABORT; }
  ;

/* the name a statement declares */
decl_name
  : IDENT
  | reserved          { $$ = reserved_name(ctx, @1); }
  ;

reserved
  : NETWORK | INPUT | REPEAT | SWEEP | IN | CONST | ACTIVATIONS | LET | FROM | SEED | BLOCK
  | OUTPUT | STATE | WEIGHT
  ;

stmt
  : INPUT decl_name ':' name '[' exprs ']'
      { $$ = with_name(mk(N_INPUT, @$), $2, @2); $$ = with_kids(ctx, $$, $4, $6); }
  | ACTIVATIONS name args
      { $$ = with_kids(ctx, mk(N_ACT, @$), $2, $3); }
  | SEED expr
      { $$ = with_kids(ctx, mk(N_SEED, @$), $2, (Seq){0}); }
  | REPEAT expr nls '{' body '}'
      { $$ = with_kids(ctx, mk(N_REPEAT, @$), $2, $5); }
  | LET decl_name
      { $$ = with_name(mk(N_LET, @$), $2, @2); }
  | FROM decl_name
      { $$ = with_name(mk(N_FROM, @$), $2, @2); }
  | CONST decl_name '=' expr
      { $$ = with_name(mk(N_CONST, @$), $2, @2); $$ = with_kids(ctx, $$, $4, (Seq){0}); }
  | STATE decl_name ':' name '[' exprs ']'
      { $$ = with_name(mk(N_STATE, @$), $2, @2); $$ = with_kids(ctx, $$, $4, $6); }
  | WEIGHT decl_name ':' name '[' exprs ']' args
      { Node *d = with_kids(ctx, mk(N_LIST, @6), $4, $6);
        $$ = with_name(mk(N_WEIGHT, @$), $2, @2); $$ = with_kids(ctx, $$, d, $8); }
  | OUTPUT decl_name
      { $$ = with_name(mk(N_OUTPUT, @$), $2, @2); }
  | OUTPUT decl_name '=' layer
      { $$ = with_name(mk(N_OUTPUT, @$), $2, @2); $$ = with_kids(ctx, $$, $4, (Seq){0}); }
  | layer
  | IDENT '=' layer
      { $$ = $3; $$->bind = $1; $$->loc.start = @1.start; }
  | binds '=' layer
      { $$ = $3; $$->binds = $1.head; $$->loc.start = @1.start; }
  ;

/* "a, b = split 2 axis=1": one name per result */
binds
  : name ',' name     { $$ = seq_add(seq_one($1), $3); }
  | binds ',' name    { $$ = seq_add($1, $3); }
  ;

layer
  : IDENT args
      { $$ = with_name(mk(N_LAYER, @$), $1, @1); $$ = with_kids(ctx, $$, NULL, $2); }
  | CALLEE '(' exprs_opt ')'
      { $$ = with_name(mk(N_USE, @$), $1, @1); $$ = with_kids(ctx, $$, NULL, $3); }
  ;

args
  : %empty            { $$ = (Seq){0}; }
  | args arg          { $$ = seq_add($1, $2); }
  ;

arg
  : atom              { $$ = with_kids(ctx, mk(N_ARG, @$), $1, (Seq){0}); }
  | IDENT '=' atom    { $$ = with_name(mk(N_ARG, @$), $1, @1); $$ = with_kids(ctx, $$, $3, (Seq){0}); }
  ;

atom
  : INT               { $$ = mk(N_INT, @$); $$->ival = $1; }
  | FLOAT             { $$ = mk(N_FLOAT, @$); $$->fval = $1; }
  | STRING            { $$ = with_name(mk(N_STR, @$), $1, @1); }
  | IDENT             { $$ = with_name(mk(N_IDENT, @$), $1, @1); }
  | '-' atom          { $$ = with_kids(ctx, mk(N_NEG, @$), $2, (Seq){0}); }
  | '(' expr ')'      { $$ = $2; }
  | '[' exprs_opt ']' { $$ = with_kids(ctx, mk(N_LIST, @$), NULL, $2); }
  | CALLEE '(' exprs_opt ')'
      { $$ = with_name(mk(N_CALL, @$), $1, @1); $$ = with_kids(ctx, $$, NULL, $3); }
  ;

exprs_opt
  : %empty            { $$ = (Seq){0}; }
  | exprs
  ;

exprs
  : expr              { $$ = seq_one($1); }
  | exprs ',' expr    { $$ = seq_add($1, $3); }
  ;

expr
  : INT               { $$ = mk(N_INT, @$); $$->ival = $1; }
  | FLOAT             { $$ = mk(N_FLOAT, @$); $$->fval = $1; }
  | IDENT             { $$ = with_name(mk(N_IDENT, @$), $1, @1); }
  | STRING            { $$ = with_name(mk(N_STR, @$), $1, @1); }
  | '(' expr ')'      { $$ = $2; }
  | '-' expr %prec NEG  { $$ = with_kids(ctx, mk(N_NEG, @$), $2, (Seq){0}); }
  | expr '+' expr     { $$ = binop(ctx, '+', $1, $3, @$); }
  | expr '-' expr     { $$ = binop(ctx, '-', $1, $3, @$); }
  | expr '*' expr     { $$ = binop(ctx, '*', $1, $3, @$); }
  | expr '/' expr     { $$ = binop(ctx, '/', $1, $3, @$); }
  ;

%%

/* The reserved words: where all of them are expected, a name is being
 * declared, and listing them is no advice. */
enum { NKEYWORDS = 14 };   /* the words is_keyword() names */

static bool is_keyword(yysymbol_kind_t t) {
  return t == YYSYMBOL_NETWORK || t == YYSYMBOL_INPUT || t == YYSYMBOL_REPEAT ||
         t == YYSYMBOL_SWEEP || t == YYSYMBOL_IN || t == YYSYMBOL_CONST ||
         t == YYSYMBOL_ACTIVATIONS || t == YYSYMBOL_LET || t == YYSYMBOL_FROM ||
         t == YYSYMBOL_SEED || t == YYSYMBOL_BLOCK || t == YYSYMBOL_OUTPUT ||
         t == YYSYMBOL_STATE || t == YYSYMBOL_WEIGHT;
}

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* A '(' or '[' left open turns the newlines after it into spaces, so the
 * lines that follow read as its continuation until a token cannot continue
 * it. When that token starts a later line (a statement, or the '}' of the
 * body), where the closing bracket would have fitted and that line does not
 * close it either, the bracket is what is wrong: it is reported at its own
 * place, with a note where it should have closed, and the parse resumes
 * with the token's line as a new statement, so the errors of the lines
 * after it are still found. */
static bool unclosed_bracket(AnetParse *ctx, yysymbol_kind_t tok, Loc loc,
                             const yysymbol_kind_t *exp, int nall) {
  const char *t = ctx->src->text;
  int rbrace = '}';
  bool brace = tok == YYTRANSLATE(rbrace);
  if (!(tok == YYSYMBOL_IDENT || tok == YYSYMBOL_CALLEE || is_keyword(tok) || brace) ||
      ctx->nest <= 0 || ctx->nopen <= 0 || ctx->nopen > ANETP_MAX_OPEN || loc.end > ctx->src->len)
    return false;
  Loc o = brace ? ctx->closed : ctx->open[ctx->nopen - 1];   /* a '}' took it off already */
  if (o.start >= loc.start)
    return false;
  char c = t[o.start];
  int close = c == '(' ? ')' : ']';
  if (c != '(' && c != '[')
    return false;
  size_t bol = loc.start, eol = loc.start;
  while (bol > 0 && is_blank(t[bol - 1]))
    bol--;
  while (eol < ctx->src->len && t[eol] != '\n' && t[eol] != close)
    eol++;
  bool fits = false;
  for (int i = 0; i < nall; i++)
    fits |= exp[i] == YYTRANSLATE(close);
  if ((bol > 0 && t[bol - 1] != '\n') || (eol < ctx->src->len && t[eol] == close) || !fits)
    return false;
  diag_error(ctx->d, ctx->src, o, "unclosed '%c'", c);
  ctx->nerrors++;
  Loc at = {ctx->prev_end, ctx->prev_end};
  diag_note(ctx->d, ctx->src, at, "expected '%c' at the end of this line", close);
  anetp_forget_brackets(ctx);
  if (brace && ctx->nopen > 0)
    ctx->nopen--;                             /* the '}' closes its own '{' */
  if (ctx->has_suspect && ctx->suspect.start == o.start)
    ctx->has_suspect = false;                 /* the '}' was compared with the '(' */
  if (!brace) {     /* the token is dropped by the recovery: read it again */
    ctx->rescan = true;
    ctx->rescan_at = loc.start;
  }
  return true;
}

/* Whether the innermost bracket is a '(' or '[' that the rest of the line
 * from loc does not close. */
static bool open_on_line(const AnetParse *ctx, Loc loc) {
  if (ctx->nest <= 0 || ctx->nopen <= 0 || ctx->nopen > ANETP_MAX_OPEN)
    return false;
  const char *t = ctx->src->text;
  char c = t[ctx->open[ctx->nopen - 1].start], close = c == '(' ? ')' : ']';
  if (c != '(' && c != '[')
    return false;
  for (size_t i = loc.start; i < ctx->src->len && t[i] != '\n'; i++)
    if (t[i] == close)
      return false;
  return true;
}

/* "syntax error, unexpected identifier 'fp16', expecting ':'"; a reserved
 * word where a name would fit says so; and when the surprise is something
 * that cannot be inside brackets, a note at the bracket still open. */
static int yyreport_syntax_error(const yypcontext_t *yy, void *scanner, AnetParse *ctx) {
  (void)scanner;
  enum { MAX_EXPECTED = 4 };
  yysymbol_kind_t tok = yypcontext_token(yy), exp[YYNTOKENS];
  int nall = yypcontext_expected_tokens(yy, exp, YYNTOKENS);
  Loc loc = *yypcontext_location(yy);
  bool name_fits = false, stmt_start = false;   /* a name must come here; a statement may */
  for (int i = 0; i < nall; i++) {
    name_fits |= exp[i] == YYSYMBOL_IDENT || exp[i] == YYSYMBOL_CALLEE;
    stmt_start |= exp[i] == YYSYMBOL_INPUT || exp[i] == YYSYMBOL_CONST;
  }
  name_fits &= !stmt_start;
  /* where a name is declared every reserved word is taken (to be reported):
   * those are no advice */
  int nkw = 0, nkept = 0;
  for (int i = 0; i < nall; i++)
    nkw += is_keyword(exp[i]);
  for (int i = 0; i < nall; i++)
    if (!(nkw == NKEYWORDS && is_keyword(exp[i])))
      exp[nkept++] = exp[i];
  int nexp = nkept > MAX_EXPECTED ? 0 : nkept;
  if (is_keyword(tok) && name_fits && loc.end > loc.start && loc.end <= ctx->src->len) {
    diag_error(ctx->d, ctx->src, loc, "'%.*s' is a reserved word and cannot be a name",
               (int)(loc.end - loc.start), ctx->src->text + loc.start);
    ctx->nerrors++;
    return 0;
  }
  if (unclosed_bracket(ctx, tok, loc, exp, nkept))
    return 0;
  char msg[300];
  size_t n = (size_t)snprintf(msg, sizeof msg, "syntax error, unexpected %s", yysymbol_name(tok));
  bool has_text = tok == YYSYMBOL_IDENT || tok == YYSYMBOL_CALLEE || tok == YYSYMBOL_INT ||
                  tok == YYSYMBOL_FLOAT || tok == YYSYMBOL_STRING;
  if (has_text && loc.end > loc.start && loc.end <= ctx->src->len) {
    int len = (int)(loc.end - loc.start);
    n += (size_t)snprintf(msg + n, sizeof msg - n, " '%.*s%s'", len > 40 ? 40 : len,
                          ctx->src->text + loc.start, len > 40 ? "..." : "");
  }
  for (int i = 0; i < nexp && n < sizeof msg; i++)
    n += (size_t)snprintf(msg + n, sizeof msg - n, "%s%s", i ? " or " : ", expecting ",
                          yysymbol_name(exp[i]));
  diag_error(ctx->d, ctx->src, loc, "%s", msg);
  ctx->nerrors++;
  ctx->line_ends_error = ctx->nest > 0;   /* the recovery ends with the line, even in brackets */
  bool outside = tok == YYSYMBOL_YYEOF || (is_keyword(tok) && tok != YYSYMBOL_IN);
  if (!outside && open_on_line(ctx, loc)) {
    Loc o = ctx->open[ctx->nopen - 1];
    diag_note(ctx->d, ctx->src, o, "'%c' opened here is not closed", ctx->src->text[o.start]);
  }
  if (outside && ctx->nopen > 0 && ctx->nopen <= ANETP_MAX_OPEN) {
    Loc o = ctx->open[ctx->nopen - 1];
    if (tok == YYSYMBOL_YYEOF && ctx->src->text[o.start] == '{' && ctx->has_suspect)
      o = ctx->suspect;
    diag_note(ctx->d, ctx->src, o, "'%c' opened here is not closed", ctx->src->text[o.start]);
  }
  /* forget the brackets, so that recovery sees the ends of lines again */
  if (outside && tok != YYSYMBOL_YYEOF)
    ctx->nest = ctx->nopen = 0;
  return 0;
}

Node *anetp_parse(const Src *src, Diag *d) {
  AnetParse ctx = {.src = src, .d = d};
  void *scanner;
  if (src->len > (size_t)1 << 30) {
    diag_file_error(d, src->name, "file is larger than 1 GiB");
    return NULL;
  }
  if (anetp_scan_begin(&ctx, &scanner) != 0) {
    diag_file_error(d, src->name, "cannot start the scanner");
    return NULL;
  }
  int rc = anetyyparse(scanner, &ctx);
  anetp_scan_end(scanner);
  if (rc != 0 || ctx.nerrors > ctx.nsoft) {
    if (rc == 2)
      diag_file_error(d, src->name, "out of memory while parsing");
    ast_free(ctx.head);
    return NULL;
  }
  return ctx.head;
}

/* Keywords print as themselves, punctuation quoted, other tokens by kind. */
static void put_token(FILE *out, int t, ANETYYSTYPE *v) {
  switch (t) {
  case T_IDENT:  fprintf(out, "IDENT(%s)", v->str); free(v->str); return;
  case T_CALLEE: fprintf(out, "CALLEE(%s)", v->str); free(v->str); return;
  case T_STRING: fprintf(out, "STRING(%s)", v->str); free(v->str); return;
  case T_INT:    fprintf(out, "INT(%lld)", (long long)v->ival); return;
  case T_FLOAT:  fprintf(out, "FLOAT(%g)", v->fval); return;
  case T_NL:     fputs("NL", out); return;
  }
  if (t < 256) {
    fprintf(out, "'%c'", t);
    return;
  }
  fputs(yysymbol_name(YYTRANSLATE(t)), out);
}

char *anetp_tokens(const Src *src, Diag *d) {
  AnetParse ctx = {.src = src, .d = d};
  void *scanner;
  if (anetp_scan_begin(&ctx, &scanner) != 0)
    return NULL;
  char *buf = NULL;
  size_t len = 0;
  bool first = true;
  FILE *out = open_memstream(&buf, &len);
  if (!out) {
    anetp_scan_end(scanner);
    return NULL;
  }
  for (;;) {
    ANETYYSTYPE v;
    Loc loc;
    int t = anetyylex(&v, &loc, scanner);
    if (t == T_YYEOF || t == T_ANETYYerror)
      break;
    if (!first)
      fputc(' ', out);
    first = false;
    put_token(out, t, &v);
  }
  anetp_scan_end(scanner);
  fclose(out);
  if (ctx.nerrors) {
    free(buf);
    return NULL;
  }
  return buf;
}
