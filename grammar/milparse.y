/* milparse.y - the grammar of MIL program text (FORMATS.md §2.2).
 *
 * Both dialects share it: "fp16" and "tensor<fp16, []>" are the same type.
 * Words such as tensor, list, true or inf are plain identifiers, checked by
 * the actions (milsema.c), so a value may be called "list" or "state"; the
 * scanner hands the common spelling of a tensor type over as one token.
 * Semantic errors are reported and the parse goes on, so one run shows
 * several; the program is dropped at the end if any was reported.
 * Every semantic value lives in the program's arena or the parser's
 * scratch memory, both released whole, so no %destructor is needed on any
 * path. */
%code requires {
#include "milpriv.h"
}

%code provides {
int milp_lex(MILP_STYPE *lval, Loc *lloc, void *scanner);
}

%code {
#include <string.h>

#define YYLLOC_DEFAULT(cur, rhs, n)                                          \
  do {                                                                       \
    if (n)                                                                   \
      (cur) = (Loc){YYRHSLOC(rhs, 1).start, YYRHSLOC(rhs, n).end};           \
    else                                                                     \
      (cur) = (Loc){YYRHSLOC(rhs, 0).end, YYRHSLOC(rhs, 0).end};             \
  } while (0)

static void milp_error(Loc *loc, MilpState *s, void *scanner, const char *msg) {
  (void)scanner;
  milp_err(s, *loc, "%s", msg);
}

/* Lists are passed as pointers (NULL when empty) so that every semantic
 * value is one word: bison copies values and locations on every shift and
 * reduction, and a copy wider than the stores that made it stalls. */
static MilpSeq *seq0(void) { return NULL; }
static MilpSeq seq(const MilpSeq *q) { return q ? *q : (MilpSeq){NULL, NULL, 0}; }
}

%define api.pure full
%define api.prefix {milp_}
%define api.location.type {Loc}
%define parse.error custom
%define parse.lac full
%locations
%expect 0
%parse-param {MilpState *s} {void *scanner}
%lex-param {void *scanner}

%union {
  const char *str;
  MilType *type;
  MilpTArg *targ;
  MilpSeq *seq;
  MilpLit *lit;
  MilValue *val;
  MilBind *bind;
  MilArg *arg;
  MilAttr *attr;
  MilVar *var;
}

%token MILP_END 0 "end of input"
%token IDENT "identifier"
%token INT "integer"
%token FLOAT "number"
%token <str> STRING "string"
%token KW_PROGRAM "program"
%token KW_FUNC "func"
%token KW_BLOBFILE "BLOBFILE"
%token ARROW "->"
%token <type> TENSOR_TYPE "tensor type"
%token <val> VALUE "string value"

%type <type> type
%type <targ> targ shape dims dim
%type <seq> targs attrs outs args arg_list binds bind_list lits lit_list blobargs op_attrs
%type <attr> attr blobarg
%type <arg> arg
%type <bind> bind vbind
%type <val> value
%type <lit> lit

%%

program: KW_PROGRAM '(' version ')' prog_attrs '{' funcs '}'
  ;

version: INT            { milp_version(s, @1); }
  | FLOAT               { milp_version(s, @1); }
  ;

prog_attrs: %empty
  | '[' attrs ']'       { milp_prog_attrs(s, seq($2)); }
  ;

attrs: attr             { $$ = milp_seq(s, seq0(), $1, @1); }
  | attrs ',' attr      { $$ = milp_seq(s, $1, $3, @3); }
  ;

attr: IDENT '=' value   { $$ = milp_attr(s, @1, $3); }
  | kw '=' value        { $$ = milp_attr(s, @1, $3); }
  ;

/* The few keywords may still name values. The rules read most often
 * take IDENT and kw apart rather than through name: a reduction fewer
 * for each name in the program. */
name: IDENT | kw
  ;

kw: KW_PROGRAM | KW_FUNC | KW_BLOBFILE
  ;

funcs: %empty
  | funcs func
  ;

func: func_head func_attrs '{' stmts '}' ARROW '(' outnames ')' ';'
                        { milp_func_end(s); }
  ;

func_head: KW_FUNC name '<' name '>'
                        { milp_func_begin(s, @2, @4, @$); }
           '(' params ')'
  ;

params: %empty
  | param_list
  ;

param_list: param
  | param_list ',' param
  ;

param: type name        { milp_param(s, $1, @2); }
  ;

func_attrs: %empty
  | '[' attrs ']'       { milp_func_attrs(s, seq($2)); }
  ;

outnames: %empty
  | outname_list
  ;

outname_list: name      { milp_func_output(s, @1); }
  | outname_list ',' name
                        { milp_func_output(s, @3); }
  ;

stmts: %empty
  | stmts stmt
  ;

/* An op with no outputs, such as write_state, is written without "... =". */
stmt: outs '=' IDENT '(' args ')' op_attrs ';'
                        { milp_stmt(s, seq($1), @3, seq($5), seq($7), @$);
                          if (milp_too_many_errors(s))
                            YYABORT; }
  | IDENT '(' args ')' op_attrs ';'
                        { milp_stmt(s, seq(NULL), @1, seq($3), seq($5), @$);
                          if (milp_too_many_errors(s))
                            YYABORT; }
  ;

/* Each output is kept with its name's location, for "defined twice". */
outs: type IDENT        { $$ = milp_seq(s, seq0(), milp_out(s, $1, @2), @2); }
  | type kw             { $$ = milp_seq(s, seq0(), milp_out(s, $1, @2), @2); }
  | outs ',' type name  { $$ = milp_seq(s, $1, milp_out(s, $3, @4), @4); }
  ;

args: %empty            { $$ = seq0(); }
  | arg_list
  ;

arg_list: arg           { $$ = milp_seq(s, seq0(), $1, @1); }
  | arg_list ',' arg    { $$ = milp_seq(s, $1, $3, @3); }
  ;

/* "x = y", the most common argument, is one reduction. */
arg: IDENT '=' IDENT    { $$ = milp_arg(s, @1, milp_bind_ref(s, @3)); }
  | IDENT '=' vbind     { $$ = milp_arg(s, @1, $3); }
  | kw '=' bind         { $$ = milp_arg(s, @1, $3); }
  ;

bind: IDENT             { $$ = milp_bind_ref(s, @1); }
  | vbind
  ;

vbind: kw               { $$ = milp_bind_ref(s, @1); }
  | value               { $$ = milp_bind_val(s, $1); }
  | '(' binds ')'       { $$ = milp_bind_list(s, seq($2)); }
  ;

binds: %empty           { $$ = seq0(); }
  | bind_list
  ;

bind_list: bind         { $$ = milp_seq(s, seq0(), $1, @1); }
  | bind_list ',' bind  { $$ = milp_seq(s, $1, $3, @3); }
  ;

op_attrs: %empty        { $$ = seq0(); }
  | '[' attrs ']'       { $$ = $2; }
  ;

value: type '(' lit ')' { $$ = milp_value(s, $1, $3); }
  | VALUE
  ;

type: TENSOR_TYPE
  | IDENT               { $$ = milp_dtype(s, @1); }
  | IDENT '<' targs '>' { $$ = milp_type(s, @1, seq($3), @$); }
  ;

targs: targ             { $$ = milp_seq(s, seq0(), $1, @1); }
  | targs ',' targ      { $$ = milp_seq(s, $1, $3, @3); }
  ;

targ: type              { $$ = milp_targ_type(s, $1); }
  | shape
  | dim
  ;

shape: '[' ']'          { $$ = milp_targ_shape(s, NULL, NULL, @$); }
  | '[' dims ']'        { $$ = $2; }
  ;

dims: dim               { $$ = milp_targ_shape(s, NULL, $1, @1); }
  | dims ',' dim        { $$ = milp_targ_shape(s, $1, $3, @3); }
  ;

dim: INT                { $$ = milp_targ_dim(s, @1, false); }
  | '?'                 { $$ = milp_targ_dim(s, @1, true); }
  ;

lit: INT                { $$ = milp_lit(s, MILP_LINT, @1, NULL); }
  | FLOAT               { $$ = milp_lit(s, MILP_LFLOAT, @1, NULL); }
  | STRING              { $$ = milp_lit(s, MILP_LSTRING, @1, $1); }
  | IDENT               { $$ = milp_lit(s, MILP_LWORD, @1, NULL); }
  | '[' lits ']'        { $$ = milp_lit_list(s, MILP_LLIST, seq($2), @$); }
  | '(' lits ')'        { $$ = milp_lit_list(s, MILP_LTUPLE, seq($2), @$); }
  | '(' lit_list ',' ')'
                        { $$ = milp_lit_list(s, MILP_LTUPLE, seq($2), @$); }   /* Python's (x,) */
  | '{' lits '}'        { $$ = milp_lit_list(s, MILP_LDICT, seq($2), @$); }
  | KW_BLOBFILE '(' blobargs ')'
                        { $$ = milp_lit_blob(s, seq($3), @$); }
  ;

lits: %empty            { $$ = seq0(); }
  | lit_list
  ;

lit_list: lit           { $$ = milp_seq(s, seq0(), $1, @1); }
  | lit_list ',' lit    { $$ = milp_seq(s, $1, $3, @3); }
  ;

blobargs: blobarg       { $$ = milp_seq(s, seq0(), $1, @1); }
  | blobargs ',' blobarg
                        { $$ = milp_seq(s, $1, $3, @3); }
  ;

blobarg: name '=' value { $$ = milp_attr(s, @1, $3); }
  ;

%%

/* "expected '(' or ',', found 'foo'": the token names come from the
 * %token aliases, which bison keeps quoted. */
static int yyreport_syntax_error(const yypcontext_t *ctx, MilpState *s, void *scanner) {
  (void)scanner;
  enum { MAXEXP = 6 };
  yysymbol_kind_t exp[MAXEXP + 1];
  int got = yypcontext_expected_tokens(ctx, exp, MAXEXP + 1), n = 0;
  for (int i = 0; i < got; i++)   /* string("...") whole: a shortcut, "identifier" says it */
    if (exp[i] != YYSYMBOL_VALUE)
      exp[n++] = exp[i];
  if (n > MAXEXP)
    n = 0;
  char buf[256];
  size_t len = 0;
  for (int i = 0; i < n && len < sizeof buf; i++) {
    const char *name = yysymbol_name(exp[i]);
    size_t nl = strlen(name);
    if (name[0] == '"' && nl >= 2) {
      name++;
      nl -= 2;
    }
    const char *sep = i == 0 ? "" : i == n - 1 ? " or " : ", ";
    len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%.*s", sep, (int)nl, name);
  }
  Loc loc = *yypcontext_location(ctx);
  const char *found = "end of input";
  char tok[40];
  if (yypcontext_token(ctx) != YYSYMBOL_YYEOF) {
    size_t tl = loc.end - loc.start;
    snprintf(tok, sizeof tok, "'%.*s%s'", (int)(tl > 24 ? 24 : tl), s->src->text + loc.start,
             tl > 24 ? "..." : "");
    found = tok;
  }
  if (n <= 0)
    milp_err(s, loc, "unexpected %s", found);
  else
    milp_err(s, loc, "expected %s, found %s", buf, found);
  return 0;
}
