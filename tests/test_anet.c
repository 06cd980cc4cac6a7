/* test_anet.c - the .anet compiler: scanner, parser, checks and shapes,
 * lowering, the hand-written golden cases in tests/cases/anet, the seed
 * benchmark's programs, and one test per diagnostic. */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "anet.h"
#include "ast.h"
#include "backend.h"
#include "blob.h"
#include "check_main.h"
#include "mileq.h"
#include "tensor.h"

#define CASES SRCDIR "/tests/cases/anet"
#define SEEDS SRCDIR "/samples/seed"

/* ---- helpers ------------------------------------------------------------ */

static Src mksrc(const char *text) { return (Src){"t.anet", text, strlen(text)}; }

/* A Diag that collects messages in memory. */
typedef struct Capture {
  char *buf;
  size_t len;
  Diag d;
} Capture;

static void cap_open(Capture *c) {
  c->buf = NULL;
  c->d.out = open_memstream(&c->buf, &c->len);
  c->d.nerrors = 0;
  ck_assert_ptr_nonnull(c->d.out);
}

static char *cap_close(Capture *c) {
  fclose(c->d.out);
  return c->buf;
}

/* The first line of what parsing text reports (malloc'd; "" if nothing). */
static char *first_error(const char *text) {
  Src s = mksrc(text);
  Capture c;
  cap_open(&c);
  AnetFile *f = anet_parse(&s, &c.d);
  if (f) {
    for (int i = 0; i < anet_npoints(f); i++)
      mil_free(anet_lower(f, i, &c.d));
    anet_free(f);
  }
  char *out = cap_close(&c);
  char *nl = strchr(out, '\n');
  if (nl)
    *nl = '\0';
  return out;
}

static AnetFile *parse_ok(const char *text, Src *s) {
  *s = mksrc(text);
  Capture c;
  cap_open(&c);
  AnetFile *f = anet_parse(s, &c.d);
  char *msg = cap_close(&c);
  ck_assert_msg(f != NULL, "parse failed: %s", msg);
  free(msg);
  return f;
}

/* A checked network with the file and source it came from (the file points
 * into the source); checked_free frees all three. */
typedef struct Checked {
  Src s;
  AnetFile *f;
  AnetNet *n;
} Checked;

static AnetNet *check_ok(Checked *c, const char *text) {
  c->f = parse_ok(text, &c->s);
  Diag d = diag_stderr();
  c->n = anetc_check(c->f, 0, &d);
  ck_assert_ptr_nonnull(c->n);
  return c->n;
}

static void checked_free(Checked *c) {
  anetc_free(c->n);
  anet_free(c->f);
}

static MilProg *lower_ok(const char *text) {
  static Src s;   /* the program keeps no pointer into it; the file does */
  AnetFile *f = parse_ok(text, &s);
  Diag d = diag_stderr();
  MilProg *p = anet_lower(f, 0, &d);
  ck_assert_ptr_nonnull(p);
  anet_free(f);
  return p;
}

static void assert_dims(const AnetValue *v, int rank, const int64_t *dim) {
  ck_assert_int_eq(v->rank, rank);
  for (int i = 0; i < rank; i++)
    ck_assert_int_eq(v->dim[i], dim[i]);
}

#define DIMS(...) (const int64_t[]){__VA_ARGS__}
#define NDIMS(...) (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t))
#define ASSERT_DIMS(v, ...) assert_dims((v), NDIMS(__VA_ARGS__), DIMS(__VA_ARGS__))

#define NET(body) "network n {\n    input x: fp16[1, 4, 8, 8]\n" body "\n}\n"
#define NET_OF(type, body) "network n {\n    input x: " type "\n" body "\n}\n"

/* ---- scanner ------------------------------------------------------------ */

static void assert_tokens(const char *text, const char *want) {
  Src s = mksrc(text);
  Diag d = diag_stderr();
  char *got = anetp_tokens(&s, &d);
  ck_assert_ptr_nonnull(got);
  ck_assert_str_eq(got, want);
  free(got);
}

START_TEST(lex_basic) {
  assert_tokens("network n {\n  input x: fp16[1, 4]\n}",
                "network IDENT(n) '{' NL input IDENT(x) ':' IDENT(fp16) '[' INT(1) ',' INT(4) "
                "']' NL '}'");
  assert_tokens("repeat sweep in const activations let from seed",
                "repeat sweep in const activations let from seed");
  assert_tokens("h = add h; relu", "IDENT(h) '=' IDENT(add) IDENT(h) ';' IDENT(relu)");
  assert_tokens("a+b-c*d/e", "IDENT(a) '+' IDENT(b) '-' IDENT(c) '*' IDENT(d) '/' IDENT(e)");
}
END_TEST

START_TEST(lex_newlines_and_comments) {
  /* newlines inside ( ) and [ ] continue the statement; comments vanish */
  assert_tokens("a [1,\n 2] # note\nb(\n3)\n\n",
                "IDENT(a) '[' INT(1) ',' INT(2) ']' NL CALLEE(b) '(' INT(3) ')' NL NL");
  assert_tokens("# only a comment", "");
}
END_TEST

START_TEST(lex_callee) {
  /* only a name written against '(' is a call */
  assert_tokens("uniform(1) uniform (1)",
                "CALLEE(uniform) '(' INT(1) ')' IDENT(uniform) '(' INT(1) ')'");
  assert_tokens("npy(\"w.npy\")", "CALLEE(npy) '(' STRING(w.npy) ')'");
}
END_TEST

START_TEST(lex_numbers) {
  assert_tokens("7 2.5 1e-5 .5 3. 9223372036854775807",
                "INT(7) FLOAT(2.5) FLOAT(1e-05) FLOAT(0.5) FLOAT(3) INT(9223372036854775807)");
  assert_tokens("-3", "'-' INT(3)");
}
END_TEST

static void assert_lex_error(const char *text, const char *want) {
  Src s = mksrc(text);
  Capture c;
  cap_open(&c);
  char *toks = anetp_tokens(&s, &c.d);
  char *out = cap_close(&c);
  ck_assert_ptr_null(toks);
  char *nl = strchr(out, '\n');
  ck_assert_ptr_nonnull(nl);
  *nl = '\0';
  ck_assert_str_eq(out, want);
  free(out);
}

START_TEST(lex_errors) {
  assert_lex_error("conv 12abc", "t.anet:1:6: error: malformed number '12abc'");
  assert_lex_error("a\n  b @", "t.anet:2:5: error: unexpected character '@'");
  assert_lex_error("x 99999999999999999999",
                   "t.anet:1:3: error: integer '99999999999999999999' is too large (the limit "
                   "is 2^63-1)");
  assert_lex_error("npy(\"w.npy",
                   "t.anet:1:5: error: unterminated string: expected '\"' before the end of the "
                   "line");
  assert_lex_error("a \x01", "t.anet:1:3: error: unexpected character 0x01");
  assert_lex_error("caf\xc3\xa9", "t.anet:1:4: error: unexpected non-ASCII characters");
}
END_TEST

/* ---- parser ------------------------------------------------------------- */

static void assert_sexpr(const char *text, const char *want) {
  Src s = mksrc(text);
  Diag d = diag_stderr();
  Node *n = anetp_parse(&s, &d);
  ck_assert_ptr_nonnull(n);
  char *got = ast_sexpr(n);
  ck_assert_str_eq(got, want);
  free(got);
  ast_free(n);
}

START_TEST(parse_expressions) {
  assert_sexpr("const a = 1 + 2 * -3 - 4 / 2", "(const a (- (+ 1 (* 2 (- 3))) (/ 4 2)))");
  assert_sexpr("const b = (1 + 2) * x", "(const b (* (+ 1 2) x))");
  assert_sexpr("const c = 0.5; const d = -c", "(const c 0.5) (const d (- c))");
}
END_TEST

START_TEST(parse_network) {
  assert_sexpr("# the seed\n"
               "network w {\n"
               "    input x: fp16[1, ch, 64, 64]\n"
               "    activations int8 scale=0.125\n"
               "    repeat depth {\n"
               "        conv ch kernel=1 weights=int8 init=uniform(-64, 63)\n"
               "    }\n"
               "}\n",
               "(network w (input x fp16 1 ch 64 64) (activations int8 scale=0.125) "
               "(repeat depth (conv ch kernel=1 weights=int8 init=(uniform (- 64) 63))))");
}
END_TEST

START_TEST(parse_statements) {
  /* names, branches, ';' as a separator, arguments as single terms */
  assert_sexpr("network r\n{\n  input a: fp16[2]; input b: fp16[2]\n  h = conv (2 * c) kernel=[3, 1]\n"
               "  let s; from a\n  add h\n  mul -1\n  seed 7\n}",
               "(network r (input a fp16 2) (input b fp16 2) (= h (conv (* 2 c) kernel=[3 1])) "
               "(let s) (from a) (add h) (mul (- 1)) (seed 7))");
  assert_sexpr("network e {}", "(network e)");
  assert_sexpr("network e {\n\n}\n\n", "(network e)");
  /* a weight declaration: dtype, dims, then arguments like a layer's */
  assert_sexpr("network w {\n  weight k: fp16[2, n] init=normal(0, 0.02) weights=lut4\n}",
               "(network w (weight k fp16 [2 n] init=(normal 0 0.02) weights=lut4))");
}
END_TEST

START_TEST(parse_sweep) {
  assert_sexpr("sweep ch in [512, 384], depth in [128, 64]",
               "(sweep (in (ch) [512 384]) (in (depth) [128 64]))");
  assert_sexpr("sweep (depth, ch) in [(128, 512),\n (96, 512)],\n  s in [1]",
               "(sweep (in (depth ch) [[128 512] [96 512]]) (in (s) [1]))");
}
END_TEST

START_TEST(parse_recovers) {
  /* errors are reported statement by statement, not just the first one */
  Src s = mksrc("network n {\n  conv 4 kernel=\n  input x fp16\n  relu\n}\nconst = 3\n");
  Capture c;
  cap_open(&c);
  ck_assert_ptr_null(anetp_parse(&s, &c.d));
  char *out = cap_close(&c);
  ck_assert_int_eq(c.d.nerrors, 3);
  ck_assert_ptr_nonnull(strstr(out, "t.anet:2:17: error: syntax error, unexpected end of line\n"));
  ck_assert_ptr_nonnull(strstr(out, "t.anet:3:11: error: syntax error, unexpected identifier 'fp16', "
                                    "expecting ':'\n"));
  ck_assert_ptr_nonnull(strstr(out, "t.anet:6:7: error: syntax error, unexpected '=', "
                                    "expecting identifier\n"));
  free(out);
}
END_TEST

START_TEST(parse_unclosed) {
  /* a '(' left open across lines is reported at its own place, the next
   * line is read as a statement again (its errors are found); the end of
   * the file inside brackets: the note points at the bracket left open */
  static const char *const src[] = {
    "const a = (1 + 2\nnetwork t {\n    input x: fp16[1, 4]\n}\n",
    "network t {\n  input x: fp16[1, 4]\n  conv (2\n  relu kernel=\n}\n",
    "network t {\n    input x: fp16[1, 4]\n    repeat 2 { relu }\n",
  };
  static const char *const want[] = {
    "t.anet:1:11: error: unclosed '('\n",
    "t.anet:1:17: note: expected ')' at the end of this line\n",
    "t.anet:3:8: error: unclosed '('\n",
    "t.anet:4:15: error: syntax error, unexpected end of line\n",
    "t.anet:4:1: error: syntax error, unexpected end of file\n",
    "t.anet:1:11: note: '{' opened here is not closed\n",
  };
  for (int i = 0; i < 3; i++) {
    Src s = mksrc(src[i]);
    Capture c;
    cap_open(&c);
    ck_assert_ptr_null(anetp_parse(&s, &c.d));
    char *out = cap_close(&c);
    ck_assert_ptr_nonnull(strstr(out, want[2 * i]));
    ck_assert_ptr_nonnull(strstr(out, want[2 * i + 1]));
    free(out);
  }
}
END_TEST

static char *repeat_str(const char *head, const char *unit, int n, const char *tail) {
  size_t len = strlen(head) + strlen(unit) * (size_t)n + strlen(tail) + 1;
  char *s = malloc(len), *p = s;
  p = stpcpy(p, head);
  for (int i = 0; i < n; i++)
    p = stpcpy(p, unit);
  strcpy(p, tail);
  return s;
}

START_TEST(parse_nesting_limits) {
  /* deep trees are cut off with an error, not a deep recursion */
  char *t = repeat_str("const a = ", "-", 300, "1");
  char *e = first_error(t);
  ck_assert_ptr_nonnull(strstr(e, "error: nesting is deeper than the limit of 200 levels"));
  free(e);
  free(t);
  t = repeat_str("const a = 1", "+1", 5000, "");
  e = first_error(t);
  ck_assert_ptr_nonnull(strstr(e, "error: nesting is deeper than the limit of 200 levels"));
  free(e);
  free(t);
  t = repeat_str("network n {\n", "repeat 2 {", 300, "");
  e = first_error(t);
  ck_assert_ptr_nonnull(strstr(e, "error: "));
  free(e);
  free(t);
  /* bison's own stack has a bound too */
  t = repeat_str("const a = ", "(", 20000, "1");
  e = first_error(t);
  ck_assert_int_eq(strncmp(e, "t.anet:1:", 9), 0);   /* where depends on bison's states */
  ck_assert_ptr_nonnull(strstr(e, ": error: memory exhausted"));
  free(e);
  free(t);
}
END_TEST

START_TEST(parse_long_lists) {
  /* siblings are a list, not nesting: 30000 statements parse and free */
  char *t = repeat_str("network n {\n input x: fp16[1, 2]\n", " relu\n", 30000, "}\n");
  Checked c;
  AnetNet *n = check_ok(&c, t);
  ck_assert_int_eq(n->nlayers, 30000);
  checked_free(&c);
  free(t);
}
END_TEST

/* ---- checks and shapes -------------------------------------------------- */

START_TEST(shape_conv_arith) {
  Checked c;
  AnetNet *n = check_ok(&c, "network c {\n input x: fp16[1, 3, 7, 9]\n"
                            " conv 8 kernel=3 stride=2 padding=same\n"
                            " conv 6 kernel=[4, 1] padding=same\n"
                            " conv 2 kernel=3 dilation=2 groups=2 padding=[1, 1, 0, 0]\n"
                            " conv 4 kernel=2 padding=[1, 2, 0, 1]\n"
                            " conv 4 kernel=1 stride=[1, 2] padding=2\n"
                            "}");
  ck_assert_int_eq(n->nlayers, 5);
  const AnetLayer *l = n->layers;
  /* same, stride 2: H out ceil(7/2) = 4, total pad (4-1)*2 + 3 - 7 = 2;
   * W out ceil(9/2) = 5, total (5-1)*2 + 3 - 9 = 2 */
  ASSERT_DIMS(&n->values[l[0].out], 1, 8, 4, 5);
  for (int i = 0; i < 4; i++)
    ck_assert_int_eq(l[0].pad[i], 1);
  /* same, kernel 4 x 1 on 4 x 5: total 3 rows, the odd one after; no columns */
  ASSERT_DIMS(&n->values[l[1].out], 1, 6, 4, 5);
  ck_assert_int_eq(l[1].pad[0], 1);
  ck_assert_int_eq(l[1].pad[1], 2);
  ck_assert_int_eq(l[1].pad[2], 0);
  ck_assert_int_eq(l[1].pad[3], 0);
  /* dilation 2: effective kernel 5; H 4 + 2 - 5 + 1 = 2, W 5 - 5 + 1 = 1 */
  ASSERT_DIMS(&n->values[l[2].out], 1, 2, 2, 1);
  ck_assert_int_eq(l[2].groups, 2);
  /* explicit pads: H 2 + 1 + 2 - 2 + 1 = 4, W 1 + 0 + 1 - 2 + 1 = 1 */
  ASSERT_DIMS(&n->values[l[3].out], 1, 4, 4, 1);
  /* 2 on every side, stride [1, 2]: H 4 + 4 - 1 + 1 = 8, W (1 + 4 - 1) / 2 + 1 = 3 */
  ASSERT_DIMS(&n->values[l[4].out], 1, 4, 8, 3);
  checked_free(&c);
}
END_TEST

START_TEST(shape_elementwise) {
  Checked c;
  AnetNet *n = check_ok(&c, "network e {\n"
                            " input x: fp16[1, 4, 8, 8]\n"
                            " input g: fp16[4, 1, 1]\n"
                            " h = sigmoid\n"
                            " mul g\n"         /* broadcast [1,4,8,8] with [4,1,1] */
                            " add h\n"
                            " softmax axis=-3\n"
                            " layer_norm axis=3\n"
                            " rms_norm\n"
                            " silu; tanh; relu; gelu\n"
                            "}");
  ck_assert_int_eq(n->nlayers, 10);
  for (int i = 0; i < n->nlayers; i++)
    ASSERT_DIMS(&n->values[n->layers[i].out], 1, 4, 8, 8);
  ck_assert_int_eq(n->layers[1].in2, n->inputs[1].value);
  ck_assert_int_eq(n->layers[2].in2, n->layers[0].out);
  ck_assert_int_eq(n->layers[3].axis, 1);
  ck_assert_int_eq(n->layers[4].axis, 3);
  ck_assert_int_eq(n->layers[5].axis, 1);
  ck_assert(n->layers[5].affine);
  ck_assert_double_eq(n->layers[5].eps, 1e-5);
  ck_assert_int_eq(n->output, n->layers[9].out);
  checked_free(&c);
}
END_TEST

START_TEST(shape_matmul) {
  Checked c;
  AnetNet *n = check_ok(&c, "network m {\n"
                            " input a: fp16[1, 64, 1, 10]\n"
                            " input b: fp16[3, 1, 20, 8]\n"
                            " linear 32\n"                       /* [1, 32, 1, 10] */
                            " reshape shape=[1, 2, -1, 8]\n"     /* 320 / 16 = 20: [1, 2, 20, 8] */
                            " transpose perm=[0, 1, 3, 2]\n"     /* [1, 2, 8, 20] */
                            " let t\n"
                            " from b\n"
                            " matmul t transpose_x=true transpose_y=true\n"
                            "}");
  ck_assert_int_eq(n->nlayers, 4);
  ASSERT_DIMS(&n->values[n->layers[0].out], 1, 32, 1, 10);
  ASSERT_DIMS(&n->values[n->layers[1].out], 1, 2, 20, 8);
  ck_assert_int_eq(n->layers[1].shape[2], 20);
  ASSERT_DIMS(&n->values[n->layers[2].out], 1, 2, 8, 20);
  /* b^T is [3, 1, 8, 20], t^T is [1, 2, 20, 8]: batch [3, 2], result 8 x 8 */
  ASSERT_DIMS(&n->values[n->layers[3].out], 3, 2, 8, 8);
  ck_assert_int_eq(n->layers[3].in, n->inputs[1].value);
  ck_assert_int_eq(n->layers[3].in2, n->layers[2].out);
  checked_free(&c);
}
END_TEST

START_TEST(check_quant_policy) {
  Checked c;
  /* int8 storage after every layer but the one that makes the output, and
   * only after the activations statement */
  AnetNet *n = check_ok(&c, "network q {\n input x: fp16[1, 4, 2, 2]\n relu\n"
                            " activations int8 scale=0.25\n"
                            " repeat 3 { conv 4 weights=int8 scale=0.5 }\n}");
  ck_assert_int_eq(n->nlayers, 4);
  ck_assert(!n->layers[0].quant);
  ck_assert(n->layers[1].quant && n->layers[2].quant);
  ck_assert(!n->layers[3].quant);
  ck_assert_double_eq(n->layers[1].qscale, 0.25);
  ck_assert_int_eq(n->layers[1].w.dtype, MIL_INT8);
  ck_assert_int_eq(n->layers[1].w.init, MIL_INIT_UNIFORM);
  ck_assert_double_eq(n->layers[1].w.a, -64);
  ck_assert_double_eq(n->layers[1].w.b, 63);
  checked_free(&c);
}
END_TEST

START_TEST(check_constants) {
  Checked c;
  /* integer arithmetic stays exact; '/' of two integers truncates */
  AnetNet *n = check_ok(&c, "const c = 7\nconst h = (c * 3 + 1) / 2\nconst k = h - 9\n"
                            "network k {\n input x: fp16[1, c, h, k]\n relu\n}");
  ASSERT_DIMS(&n->values[n->inputs[0].value], 1, 7, 11, 2);
  checked_free(&c);
}
END_TEST

START_TEST(check_repeat_and_names) {
  Checked c;
  /* a residual block repeated: each iteration rebinds skip */
  AnetNet *n = check_ok(&c, "network r {\n input x: fp16[1, 4, 4, 4]\n"
                            " repeat 3 {\n  let skip\n  conv 4 kernel=3 padding=same\n  relu\n"
                            "  add skip\n }\n}");
  ck_assert_int_eq(n->nlayers, 9);
  ck_assert_int_eq(n->layers[2].in2, n->inputs[0].value);
  ck_assert_int_eq(n->layers[5].in2, n->layers[2].out);
  ck_assert_int_eq(n->layers[8].in2, n->layers[5].out);
  ck_assert_int_eq(n->output, n->layers[8].out);
  checked_free(&c);
}
END_TEST

START_TEST(check_sweep_points) {
  Src s;
  AnetFile *f = parse_ok("const ch = 8\nconst depth = 1\nconst scale = 0.5\n"
                         "sweep ch in [8, 16, 32], (depth, scale) in [(1, 0.5), (2, 0.25)]\n"
                         "network p {\n input x: fp16[1, ch, 2, 2]\n"
                         " activations int8 scale=scale\n repeat depth { conv (ch / 2) }\n}", &s);
  ck_assert_int_eq(anet_npoints(f), 6);
  static const char *const names[] = {
    "p_ch8_depth1_scale0.5", "p_ch8_depth2_scale0.25", "p_ch16_depth1_scale0.5",
    "p_ch16_depth2_scale0.25", "p_ch32_depth1_scale0.5", "p_ch32_depth2_scale0.25",
  };
  for (int i = 0; i < 6; i++) {
    ck_assert_str_eq(anet_point_name(f, i), names[i]);
    Diag d = diag_stderr();
    AnetNet *n = anetc_check(f, i, &d);
    int64_t ch = i < 2 ? 8 : i < 4 ? 16 : 32;
    ck_assert_int_eq(n->nlayers, 1 + i % 2);
    ASSERT_DIMS(&n->values[n->output], 1, ch / 2, 2, 2);
    if (i % 2)
      ck_assert_double_eq(n->layers[0].qscale, 0.25);
    anetc_free(n);
  }
  ck_assert_ptr_null(anet_point_name(f, 6));
  ck_assert_str_eq(anet_network_name(f), "p");
  anet_free(f);
  /* without a sweep: one point, named "" */
  f = parse_ok(NET("relu"), &s);
  ck_assert_int_eq(anet_npoints(f), 1);
  ck_assert_str_eq(anet_point_name(f, 0), "");
  anet_free(f);
}
END_TEST

/* The largest sweep the limits allow (10,000 points, the fuzzer's slow
 * input while duplicates were found by comparing every pair): all distinct
 * is accepted; the same with its first value again at the far end is the
 * duplicate error, however far apart the two points are. */
START_TEST(check_sweep_many_points) {
  enum { N = 10000 };
  size_t cap = 64 + (size_t)N * 8, n = 0;
  char *text = malloc(cap);
  ck_assert_ptr_nonnull(text);
  n += (size_t)snprintf(text, cap, "const a = 1\nsweep a in [");
  for (int i = 0; i < N - 1; i++)
    n += (size_t)snprintf(text + n, cap - n, "%d, ", i);
  size_t end = n;
  snprintf(text + n, cap - n, "%d]\n" NET("    relu"), N - 1);
  Src s;
  AnetFile *f = parse_ok(text, &s);
  ck_assert_int_eq(anet_npoints(f), N);
  ck_assert_str_eq(anet_point_name(f, N - 1), "n_a9999");
  anet_free(f);
  snprintf(text + end, cap - end, "0]\n" NET("    relu"));
  char *err = first_error(text);
  ck_assert_str_eq(err, "t.anet:2:1: error: sweep point n_a0 appears twice");
  free(err);
  free(text);
}
END_TEST

START_TEST(check_sweep_error_note) {
  /* an error in one point says which point */
  Src s = mksrc("const g = 1\nsweep g in [1, 3]\nnetwork n {\n input x: fp16[1, 4, 2, 2]\n"
                " conv 4 groups=g\n}\n");
  Capture c;
  cap_open(&c);
  ck_assert_ptr_null(anet_parse(&s, &c.d));
  char *out = cap_close(&c);
  ck_assert_ptr_nonnull(strstr(out, "t.anet:5:16: error: input channels (4) are not divisible "
                                    "by groups (3)\n"));
  ck_assert_ptr_nonnull(strstr(out, "t.anet:2:1: note: in sweep point n_g3\n"));
  free(out);
}
END_TEST

START_TEST(dump_ir) {
  Src s;
  AnetFile *f = parse_ok("network d {\n input x: fp16[1, 4, 2, 2]\n activations int8 scale=0.5\n"
                         " conv 8 kernel=1 weights=int8 scale=0.125 init=uniform(-3, 3)\n"
                         " relu\n}", &s);
  char *buf = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&buf, &len);
  Diag d = diag_stderr();
  ck_assert_int_eq(anet_dump_ir(f, 0, out, &d), 0);
  fclose(out);
  ck_assert_str_eq(buf, "network d\nseed 0\ninput x: fp16[1, 4, 2, 2]\n"
                        "v1 = conv x -> fp16[1, 8, 2, 2] out=8 kernel=1x1 stride=1x1 "
                        "dilation=1x1 pad=0,0,0,0 groups=1 weights=int8(scale=0.125, "
                        "zero_point=0) uniform(-3, 3) | int8(scale=0.5)\n"
                        "v2 = relu v1 -> fp16[1, 8, 2, 2]\noutput v2\n");
  free(buf);
  anet_free(f);
}
END_TEST

/* ---- lowering ----------------------------------------------------------- */

static const MilOp *find_op(const MilFunc *fn, const char *out) {
  for (int i = 0; i < fn->nops; i++)
    if (fn->ops[i].nouts > 0 && strcmp(fn->ops[i].outs[0].name, out) == 0)
      return &fn->ops[i];
  return NULL;
}

static const char *ref(const MilOp *op, const char *arg) {
  const MilArg *a = mil_op_arg(op, arg);
  ck_assert_msg(a && a->bind.kind == MIL_BREF, "%s has no reference %s", op->op, arg);
  return a->bind.ref;
}

static void assert_type(const MilType *t, MilDtype dt, int rank, const int64_t *dim) {
  ck_assert_int_eq(t->kind, MIL_TENSOR);
  ck_assert_str_eq(mil_dtype_name(t->dtype), mil_dtype_name(dt));
  ck_assert_int_eq(t->rank, rank);
  for (int i = 0; i < rank; i++)
    ck_assert_int_eq(t->dim[i], dim[i]);
}

#define ASSERT_TYPE(t, dt, ...) assert_type((t), (dt), NDIMS(__VA_ARGS__), DIMS(__VA_ARGS__))

START_TEST(lower_conv_bias) {
  MilProg *p = lower_ok("network b {\n input x: fp16[1, 2, 4, 4]\n"
                        " conv 3 kernel=3 padding=1 bias=true\n}");
  const MilFunc *fn = &p->funcs[0];
  const MilOp *c = find_op(fn, "conv_0_conv"), *add = find_op(fn, "conv_0");
  ck_assert_ptr_nonnull(c);
  ck_assert_ptr_nonnull(add);
  ck_assert_str_eq(c->op, "conv");
  ck_assert_ptr_null(mil_op_arg(c, "bias"));   /* bias goes to a separate add */
  ck_assert_str_eq(add->op, "add");
  ck_assert_str_eq(ref(add, "x"), "conv_0_conv");
  const MilOp *b = find_op(fn, ref(add, "y"));
  ck_assert_str_eq(b->op, "const");
  const MilValue *v = mil_op_attr_get(b, "val")->val;
  ASSERT_TYPE(v->type, MIL_FP16, 1, 3, 1, 1);
  ck_assert_int_eq(v->kind, MIL_VDATA);   /* 3 elements: inline, default zeros */
  for (int i = 0; i < 3; i++)
    ck_assert_double_eq(v->f[i], 0);
  ck_assert_int_eq(p->nblobs, 1);          /* only the weight [3, 2, 3, 3] */
  ck_assert_int_eq(p->blobs[0].numel, 54);
  ck_assert_str_eq(fn->outputs[0], "conv_0");
  mil_free(p);
}
END_TEST

START_TEST(lower_inline_weights) {
  /* a weight under 10 elements is a literal made by the same initialiser */
  MilProg *p = lower_ok("network i {\n input x: fp16[1, 2, 1, 1]\n"
                        " conv 2 init=constant(0.25)\n"
                        " conv 3 weights=int8 scale=0.5 init=uniform(-3, 3)\n}");
  const MilFunc *fn = &p->funcs[0];
  const MilValue *w = mil_op_attr_get(find_op(fn, "conv_0_weight"), "val")->val;
  ck_assert_int_eq(w->kind, MIL_VDATA);
  ck_assert_int_eq(w->n, 4);
  for (int i = 0; i < 4; i++)
    ck_assert_double_eq(w->f[i], 0.25);
  const MilOp *q = find_op(fn, "conv_1_weight");
  ck_assert_str_eq(q->op, "constexpr_affine_dequantize");
  const MilValue *d = mil_op_attr_get(q, "quantized_data")->val;
  ck_assert_int_eq(d->kind, MIL_VDATA);
  ck_assert_int_eq(d->n, 6);
  for (int i = 0; i < 6; i++)
    ck_assert(d->i[i] >= -3 && d->i[i] <= 3);
  ck_assert_int_eq(p->nblobs, 0);
  mil_free(p);
}
END_TEST

START_TEST(lower_seeds) {
  /* every weight has its own PRNG stream; the network's seed moves them all */
  MilProg *a = lower_ok("network s {\n input x: fp16[1, 4, 1, 1]\n repeat 3 { conv 4 }\n}");
  MilProg *b = lower_ok("network s {\n input x: fp16[1, 4, 1, 1]\n repeat 3 { conv 4 }\n}");
  MilProg *c = lower_ok("network s {\n seed 7\n input x: fp16[1, 4, 1, 1]\n"
                        " repeat 3 { conv 4 }\n}");
  ck_assert_int_eq(a->nblobs, 3);
  for (int i = 0; i < 3; i++) {
    ck_assert_uint_eq(a->blobs[i].seed, b->blobs[i].seed);
    ck_assert_uint_ne(a->blobs[i].seed, c->blobs[i].seed);
    for (int j = 0; j < i; j++)
      ck_assert_uint_ne(a->blobs[i].seed, a->blobs[j].seed);
    /* the default fp16 init: normal(0, 1 / sqrt(fan_in)) with fan_in 4 */
    ck_assert_int_eq(a->blobs[i].init, MIL_INIT_NORMAL);
    ck_assert_double_eq(a->blobs[i].b, 0.5);
    ck_assert_int_eq(a->blobs[i].dtype, MIL_FP16);
  }
  mil_free(a);
  mil_free(b);
  mil_free(c);
}
END_TEST

START_TEST(lower_npy_path) {
  /* a relative .npy path is taken from the .anet file's directory */
  Src s = {"models/net.anet", "network n {\n input x: fp16[1, 4, 1, 1]\n"
           " conv 4 init=npy(\"w/c0.npy\")\n}\n", 0};
  s.len = strlen(s.text);
  Diag d = diag_stderr();
  AnetFile *f = anet_parse(&s, &d);
  ck_assert_ptr_nonnull(f);
  MilProg *p = anet_lower(f, 0, &d);
  ck_assert_int_eq(p->nblobs, 1);
  ck_assert_int_eq(p->blobs[0].init, MIL_INIT_NPY);
  ck_assert_str_eq(p->blobs[0].path, "models/w/c0.npy");
  mil_free(p);
  anet_free(f);
}
END_TEST

START_TEST(lower_pool_shared) {
  /* equal parameters share a const; a different value gets the next name */
  MilProg *p = lower_ok("network k {\n input x: fp16[1, 4, 8, 8]\n conv 4\n conv 4 stride=2\n"
                        " conv 4\n}");
  const MilFunc *fn = &p->funcs[0];
  ck_assert_str_eq(ref(find_op(fn, "conv_0"), "strides"), "c_strides_0");
  ck_assert_str_eq(ref(find_op(fn, "conv_1"), "strides"), "c_strides_1");
  ck_assert_str_eq(ref(find_op(fn, "conv_2"), "strides"), "c_strides_0");
  /* every pooled const comes before the first layer op */
  int first_layer = -1;
  for (int i = 0; i < fn->nops; i++)
    if (strcmp(fn->ops[i].op, "const") != 0) {
      first_layer = i;
      break;
    }
  ck_assert_int_eq(first_layer, 6 + 1);   /* 5 conv consts, strides [2, 2], conv_0_weight */
  ck_assert_str_eq(fn->ops[5].outs[0].name, "c_strides_1");
  mil_free(p);
}
END_TEST

START_TEST(lower_input_name_clash) {
  char *e = first_error("network n {\n input conv_0: fp16[1, 4, 1, 1]\n conv 4\n}\n");
  ck_assert_str_eq(e, "t.anet:2:8: error: input name 'conv_0' clashes with a name anetc "
                      "generates; rename the input");
  free(e);
}
END_TEST

/* ---- what the lowered ops compute (on the reference cpu backend) ---------- */

/* Runs a weight-blob-free program on x (fp16 [1, C, H, W], element i =
 * xs[i]) and returns its output; all weights must be small enough to be
 * inline. */
static Tensor run_cpu(const char *text, int rank, const int64_t *dim, const double *xs) {
  MilProg *p = lower_ok(text);
  ck_assert_int_eq(p->nblobs, 0);
  Model m = {"t", NULL, p, &p->funcs[0], NULL};
  BackendOpts o = {0};
  Diag d = diag_stderr();
  void *st;
  ck_assert_int_eq(cpu_backend.open(&m, &o, &st, &d), 0);
  Tensor x, y;
  ck_assert_int_eq(tensor_alloc(&x, MIL_FP16, rank, dim), 0);
  for (int64_t i = 0; i < tensor_numel(&x); i++)
    tensor_set(&x, i, xs[i]);
  double ms = 0;
  ck_assert_int_eq(cpu_backend.set_input(st, 0, &x, &d), 0);
  ck_assert_int_eq(cpu_backend.eval(st, &ms, &d), 0);
  ck_assert_int_eq(cpu_backend.get_output(st, 0, &y, &d), 0);
  cpu_backend.close(st);
  tensor_free(&x);
  mil_free(p);
  return y;
}

/* fp16-exact inputs in [-2.75, 2.75] */
static void test_inputs(double *x, int n) {
  for (int i = 0; i < n; i++)
    x[i] = (double)((i * 37) % 23 - 11) / 4;
}

START_TEST(numerics_norms_gelu) {
  enum { C = 8, S = 4 };
  double x[C * S];
  test_inputs(x, C * S);
  static const char *const nets[] = {
    "network a {\n input x: fp16[1, 8, 1, 4]\n layer_norm\n}",
    "network a {\n input x: fp16[1, 8, 1, 4]\n rms_norm\n}",
    "network a {\n input x: fp16[1, 8, 1, 4]\n gelu\n}",
    "network a {\n input x: fp16[1, 8, 1, 4]\n softmax axis=1\n}",
  };
  for (int k = 0; k < 4; k++) {
    Tensor y = run_cpu(nets[k], 4, DIMS(1, C, 1, S), x);
    ck_assert_int_eq(tensor_numel(&y), C * S);
    for (int s = 0; s < S; s++) {
      double mean = 0, ms = 0, var = 0, z = 0;
      for (int c = 0; c < C; c++) {
        mean += x[c * S + s] / C;
        ms += x[c * S + s] * x[c * S + s] / C;
        z += exp(x[c * S + s]);
      }
      for (int c = 0; c < C; c++)
        var += (x[c * S + s] - mean) * (x[c * S + s] - mean) / C;
      for (int c = 0; c < C; c++) {
        double v = x[c * S + s], want;
        switch (k) {
        case 0:  want = (v - mean) / sqrt(var + 1e-5); break;
        case 1:  want = v / sqrt(ms + 1e-5); break;
        case 2:  want = 0.5 * v * (1 + erf(v / sqrt(2))); break;   /* exact gelu */
        default: want = exp(v) / z; break;
        }
        double got = tensor_get(&y, c * S + s);
        ck_assert_msg(fabs(got - want) <= 4e-3 * (1 + fabs(want)),
                      "net %d, x = %g: got %g, want %g", k, v, got, want);
      }
    }
    tensor_free(&y);
  }
}
END_TEST

START_TEST(numerics_conv) {
  /* "same" padding of a 3x3 all-ones kernel over ones counts the window's
   * overlap with the image: 4 at corners, 6 on edges, 9 inside; then the
   * inline bias 0.5 */
  double ones[16];
  for (int i = 0; i < 16; i++)
    ones[i] = 1;
  Tensor y = run_cpu("network c {\n input x: fp16[1, 1, 4, 4]\n"
                     " conv 1 kernel=3 padding=same init=constant(1) bias=true "
                     "bias_init=constant(0.5)\n}", 4, DIMS(1, 1, 4, 4), ones);
  static const double want[16] = {4, 6, 6, 4, 6, 9, 9, 6, 6, 9, 9, 6, 4, 6, 6, 4};
  for (int i = 0; i < 16; i++)
    ck_assert_double_eq(tensor_get(&y, i), want[i] + 0.5);
  tensor_free(&y);
  /* stride 2, explicit padding [0, 1, 0, 1] on 3x3 -> 2x2 windows of 2x2 */
  double x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  y = run_cpu("network c {\n input x: fp16[1, 1, 3, 3]\n"
              " conv 1 kernel=2 stride=2 padding=[0, 1, 0, 1] init=constant(1)\n}",
              4, DIMS(1, 1, 3, 3), x);
  ck_assert_int_eq(tensor_numel(&y), 4);
  ck_assert_double_eq(tensor_get(&y, 0), 1 + 2 + 4 + 5);
  ck_assert_double_eq(tensor_get(&y, 1), 3 + 6);
  ck_assert_double_eq(tensor_get(&y, 2), 7 + 8);
  ck_assert_double_eq(tensor_get(&y, 3), 9);
  tensor_free(&y);
  /* W8A8: int8 weights 2 at scale 0.25 (= 0.5), activations stored int8 at
   * scale 0.5, so 1.3 * 0.5 = 0.65 is rounded to 0.5 before the second conv */
  double v[1] = {1.3};
  y = run_cpu("network q {\n input x: fp16[1, 1, 1, 1]\n activations int8 scale=0.5\n"
              " repeat 2 { conv 1 weights=int8 scale=0.25 init=constant(2) }\n}",
              4, DIMS(1, 1, 1, 1), v);
  ck_assert_double_eq(tensor_get(&y, 0), 0.25);
  tensor_free(&y);
}
END_TEST

/* ---- the seed benchmark --------------------------------------------------- */

static const MilValue *const_val(const MilOp *op) {
  ck_assert_str_eq(op->op, "const");
  ck_assert_int_eq(op->nargs, 0);
  return mil_op_attr_get(op, "val")->val;
}

static void assert_ints(const MilValue *v, int n, const int64_t *want) {
  ASSERT_TYPE(v->type, MIL_INT32, n);
  for (int i = 0; i < n; i++)
    ck_assert_int_eq(v->i[i], want[i]);
}

static void assert_str_const(const MilOp *op, const char *want) {
  const MilValue *v = const_val(op);
  ck_assert_int_eq(v->type->rank, 0);
  ck_assert_int_eq(v->type->dtype, MIL_STRING);
  ck_assert_str_eq(v->s[0], want);
}

static void assert_fp16_const(const MilValue *v, double want) {
  ck_assert_int_eq(v->type->rank, 0);
  ck_assert_int_eq(v->type->dtype, MIL_FP16);
  ck_assert_double_eq(v->f[0], want);
}

static void assert_args(const MilOp *op, const char *const *names) {
  int n = 0;
  while (names[n])
    ck_assert_ptr_nonnull(mil_op_arg(op, names[n++]));
  ck_assert_int_eq(op->nargs, n);
}

static void assert_build_info(const MilProg *p) {
  static const char *const kv[] = {
    "coremlc-component-MIL", "3510.2.1", "coremlc-version", "3505.4.1",
    "coremltools-component-milinternal", "", "coremltools-version", "9.0",
  };
  ck_assert_str_eq(p->version, "1.3");
  ck_assert_int_eq(p->nattrs, 1);
  ck_assert_str_eq(p->attrs[0].name, "buildInfo");
  const MilValue *v = p->attrs[0].val;
  ck_assert_int_eq(v->kind, MIL_VAGG);
  ck_assert_int_eq(v->type->kind, MIL_DICT);
  ck_assert_int_eq(v->nitems, 8);
  for (int i = 0; i < 8; i++)
    ck_assert_str_eq(v->items[i]->s[0], kv[i]);
}

/* What genMILInt8(ch, sp = 64, depth, batch = 1) builds, op by op (and the
 * fp16 variant: fp16 const weights, no quantize/dequantize, no q consts). */
static void assert_seed_program(const MilProg *p, int64_t ch, int depth, bool int8) {
  const int64_t sp = 64, cs = 64 + ch * ch * (int8 ? 1 : 2);
  assert_build_info(p);
  ck_assert_int_eq(p->nfuncs, 1);
  const MilFunc *fn = &p->funcs[0];
  ck_assert_str_eq(fn->name, "main");
  ck_assert_str_eq(fn->opset, "ios18");
  ck_assert_int_eq(fn->ninputs, 1);
  ASSERT_TYPE(fn->inputs[0].type, MIL_FP16, 1, ch, sp, sp);
  int nshared = int8 ? 8 : 5, per = int8 ? 4 : 2;
  ck_assert_int_eq(fn->nops, nshared + depth * per - (int8 ? 2 : 0));
  const MilOp *o = fn->ops;
  assert_str_const(&o[0], "valid");
  assert_ints(const_val(&o[1]), 2, DIMS(1, 1));
  assert_ints(const_val(&o[2]), 4, DIMS(0, 0, 0, 0));
  assert_ints(const_val(&o[3]), 2, DIMS(1, 1));
  const MilValue *g = const_val(&o[4]);
  ck_assert_int_eq(g->type->rank, 0);
  ck_assert_int_eq(g->type->dtype, MIL_INT32);
  ck_assert_int_eq(g->i[0], 1);
  if (int8) {
    assert_fp16_const(const_val(&o[5]), 0x1p-3);
    assert_str_const(&o[6], "int8");
    assert_fp16_const(const_val(&o[7]), 0x1p-3);
  }
  static const char *const conv_args[] = {"dilations", "groups", "pad", "pad_type", "strides",
                                          "weight", "x", NULL};
  const char *prev = fn->inputs[0].name;
  int k = nshared;
  for (int i = 0; i < depth; i++) {
    const MilOp *w = &o[k++], *c = &o[k++];
    ASSERT_TYPE(w->outs[0].type, MIL_FP16, ch, ch, 1, 1);
    const MilValue *data;
    if (int8) {
      ck_assert_str_eq(w->op, "constexpr_affine_dequantize");
      ck_assert_int_eq(w->nargs, 0);                       /* everything in attributes */
      ck_assert_int_eq(w->nattrs, 5);                      /* with name */
      const MilValue *axis = mil_op_attr_get(w, "axis")->val;
      ck_assert_int_eq(axis->type->dtype, MIL_INT32);
      ck_assert_int_eq(axis->i[0], 0);
      assert_fp16_const(mil_op_attr_get(w, "scale")->val, 0x1p-3);
      const MilValue *zp = mil_op_attr_get(w, "zero_point")->val;
      ck_assert_int_eq(zp->type->dtype, MIL_INT8);
      ck_assert_int_eq(zp->type->rank, 0);
      ck_assert_int_eq(zp->i[0], 0);
      data = mil_op_attr_get(w, "quantized_data")->val;
      ASSERT_TYPE(data->type, MIL_INT8, ch, ch, 1, 1);
    } else {
      data = const_val(w);
      ASSERT_TYPE(data->type, MIL_FP16, ch, ch, 1, 1);
    }
    ck_assert_int_eq(data->kind, MIL_VBLOB);
    ck_assert_str_eq(data->blob_path, "@model_path/weights/weight.bin");
    ck_assert_uint_eq(data->blob_offset, (uint64_t)(64 + i * cs));
    ck_assert_str_eq(c->op, "conv");
    assert_args(c, conv_args);
    ck_assert_str_eq(ref(c, "pad_type"), o[0].outs[0].name);
    ck_assert_str_eq(ref(c, "strides"), o[1].outs[0].name);
    ck_assert_str_eq(ref(c, "pad"), o[2].outs[0].name);
    ck_assert_str_eq(ref(c, "dilations"), o[3].outs[0].name);
    ck_assert_str_eq(ref(c, "groups"), o[4].outs[0].name);
    ck_assert_str_eq(ref(c, "weight"), w->outs[0].name);
    ck_assert_str_eq(ref(c, "x"), prev);
    ASSERT_TYPE(c->outs[0].type, MIL_FP16, 1, ch, sp, sp);
    prev = c->outs[0].name;
    if (!int8 || i == depth - 1)
      continue;
    const MilOp *q = &o[k++], *dq = &o[k++];
    ck_assert_str_eq(q->op, "quantize");
    assert_args(q, (const char *const[]){"input", "output_dtype", "scale", NULL});
    ck_assert_str_eq(ref(q, "input"), prev);
    ck_assert_str_eq(ref(q, "output_dtype"), o[6].outs[0].name);
    ck_assert_str_eq(ref(q, "scale"), o[5].outs[0].name);
    ASSERT_TYPE(q->outs[0].type, MIL_INT8, 1, ch, sp, sp);
    ck_assert_str_eq(dq->op, "dequantize");
    assert_args(dq, (const char *const[]){"input", "scale", NULL});
    ck_assert_str_eq(ref(dq, "input"), q->outs[0].name);
    ck_assert_str_eq(ref(dq, "scale"), o[7].outs[0].name);
    ASSERT_TYPE(dq->outs[0].type, MIL_FP16, 1, ch, sp, sp);
    prev = dq->outs[0].name;
  }
  ck_assert_int_eq(fn->noutputs, 1);
  ck_assert_str_eq(fn->outputs[0], prev);
  /* the weight sources blob.c will write */
  ck_assert_int_eq(p->nblobs, depth);
  for (int i = 0; i < depth; i++) {
    ck_assert_int_eq(p->blobs[i].dtype, int8 ? MIL_INT8 : MIL_FP16);
    ck_assert_int_eq(p->blobs[i].numel, ch * ch);
    ck_assert_int_eq(p->blobs[i].init, int8 ? MIL_INIT_UNIFORM : MIL_INIT_NORMAL);
    ck_assert_double_eq(p->blobs[i].a, int8 ? -64 : 0);
    ck_assert_double_eq(p->blobs[i].b, int8 ? 63 : 0.01);
  }
}

static const struct { const char *file; int depth, ch; bool int8; } seeds[] = {
  {"fp16_128x512", 128, 512, false}, {"fp16_96x512", 96, 512, false},
  {"fp16_64x512", 64, 512, false},   {"fp16_128x384", 128, 384, false},
  {"fp16_256x256", 256, 256, false}, {"fp16_128x256", 128, 256, false},
  {"w8a8_128x512", 128, 512, true},  {"w8a8_96x512", 96, 512, true},
  {"w8a8_64x512", 64, 512, true},    {"w8a8_128x384", 128, 384, true},
  {"w8a8_128x256", 128, 256, true},
};

START_TEST(seed_programs) {
  char path[512];
  snprintf(path, sizeof path, SEEDS "/%s.anet", seeds[_i].file);
  Diag d = diag_stderr();
  Src s;
  ck_assert_int_eq(src_read_file(&s, path, 1 << 20, &d), 0);
  AnetFile *f = anet_parse(&s, &d);
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(anet_npoints(f), 1);
  ck_assert_str_eq(anet_network_name(f), seeds[_i].file);
  MilProg *p = anet_lower(f, 0, &d);
  ck_assert_ptr_nonnull(p);
  assert_seed_program(p, seeds[_i].ch, seeds[_i].depth, seeds[_i].int8);
  mil_free(p);
  anet_free(f);
  src_free(&s);
}
END_TEST

/* ---- golden cases: tests/cases/anet/NAME.anet -> NAME.mil ---------------- */

static char *read_text(const char *path) {
  Diag d = diag_stderr();
  Src s;
  ck_assert_msg(src_read_file(&s, path, 1 << 22, &d) == 0, "cannot read %s", path);
  return (char *)s.text;
}

/* Indentation is not part of MIL; everything else is compared exactly. */
static char *strip_indent(const char *text) {
  char *out = malloc(strlen(text) + 1), *o = out;
  bool bol = true;
  for (const char *t = text; *t; t++) {
    if (bol && (*t == ' ' || *t == '\t'))
      continue;
    bol = *t == '\n';
    *o++ = *t;
  }
  *o = '\0';
  return out;
}

static int golden_one(const char *name) {
  char apath[600], mpath[600];
  snprintf(apath, sizeof apath, CASES "/%s", name);
  snprintf(mpath, sizeof mpath, CASES "/%.*s.mil", (int)(strlen(name) - 5), name);
  Diag d = diag_stderr();
  Src s;
  ck_assert_int_eq(src_read_file(&s, apath, 1 << 20, &d), 0);
  AnetFile *f = anet_parse(&s, &d);
  ck_assert_msg(f != NULL, "%s does not compile", name);
  MilProg *p = anet_lower(f, 0, &d);
  ck_assert_ptr_nonnull(p);
  char *text = mil_print_string(p);
  char *got = strip_indent(text), *raw = read_text(mpath), *want = strip_indent(raw);
  if (strcmp(got, want) != 0) {
    const char *g = got, *w = want;
    int line = 1;
    while (*g && *g == *w) {
      line += *g == '\n';
      g++, w++;
    }
    ck_abort_msg("%s: line %d differs:\n got: %.160s\nwant: %.160s", name, line, g, w);
  }
  /* and the MIL parser reads back the same program */
  Src ms = {"golden.mil", text, strlen(text)};
  MilProg *back = mil_parse(&ms, &d);
  ck_assert_msg(back && mil_prog_eq(p, back), "%s: the printed MIL does not parse back", name);
  mil_free(back);
  free(got);
  free(want);
  free(raw);
  free(text);
  mil_free(p);
  anet_free(f);
  src_free(&s);
  return 1;
}

START_TEST(golden_cases) {
  DIR *dir = opendir(CASES);
  ck_assert_ptr_nonnull(dir);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(dir))) {
    size_t len = strlen(e->d_name);
    if (len > 5 && strcmp(e->d_name + len - 5, ".anet") == 0)
      n += golden_one(e->d_name);
  }
  closedir(dir);
  ck_assert_int_ge(n, 8);
}
END_TEST

/* ---- diagnostics: the exact first line of each ----------------------------- */

static const struct { const char *src, *want; } diags[] = {
  /* unknown layer or parameter */
  {NET("    cnov 4"), "t.anet:3:5: error: unknown layer 'cnov'; did you mean 'conv'?"},
  {NET("    conv 4 kernal=3"),
   "t.anet:3:12: error: unknown parameter 'kernal' for conv; did you mean 'kernel'?"},
  {NET("    conv 4 qqq=3"),
   "t.anet:3:12: error: unknown parameter 'qqq' for conv; expected one of: kernel, stride, "
   "padding, dilation, groups, weights, scale, zero_point, init, bias, bias_init, sparsity"},
  {NET("    relu slope=0.1"),
   "t.anet:3:10: error: unknown parameter 'slope': relu takes no parameters"},
  {NET("    conv 4 kernel=1 kernel=3"), "t.anet:3:21: error: parameter 'kernel' is given twice"},
  {NET("    conv kernel=3"),
   "t.anet:3:5: error: conv needs the number of output channels before its parameters"},
  {NET("    conv 4 4"),
   "t.anet:3:12: error: conv takes one positional argument (the number of output channels); "
   "expected name=value here"},
  /* wrong types */
  {NET("    conv 4 kernel=1.5"), "t.anet:3:19: error: kernel must be an integer, got 1.5"},
  {NET("    conv 4.0"),
   "t.anet:3:10: error: the number of output channels must be an integer, got 4.0"},
  {NET("    conv 4 bias=yes"), "t.anet:3:17: error: bias must be true or false"},
  {NET("    conv 4 padding=full"),
   "t.anet:3:20: error: padding must be valid, same, an integer or a list of 2 or 4 integers, "
   "got 'full'"},
  {NET("    conv 4 init=7"),
   "t.anet:3:17: error: init must be uniform(lo, hi), normal(mean, std), constant(v) or "
   "npy(\"file.npy\")"},
  {NET("    conv 4 init=normal(0)"), "t.anet:3:17: error: normal() takes 2 arguments, got 1"},
  {NET("    conv 4 weights=int8 scale=0.1 init=normal(0, 1)"),
   "t.anet:3:40: error: int8 weights take uniform(lo, hi) or constant(v), not normal()"},
  {NET("    conv 4 weights=int8 scale=0.1 init=uniform(-200, 0)"),
   "t.anet:3:48: error: uniform must be an integer in [-128, 127] for int8 weights, got -200"},
  {NET("    conv 4 weights=int8"), "t.anet:3:20: error: int8 weights need a scale (scale=...)"},
  {NET("    conv 4 scale=0.5"),
   "t.anet:3:18: error: scale applies to int8 weights only (add weights=int8)"},
  {NET("    conv 4 weights=int8 scale=1e-9"),
   "t.anet:3:31: error: scale 1e-09 rounds to zero in fp16"},
  {NET("    add [1, 2]"), "t.anet:3:9: error: add must be a number, got a list"},
  {NET("    matmul 2"), "t.anet:3:12: error: matmul needs a named value to multiply by"},
  {NET("    linear 4 bias=1"), "t.anet:3:19: error: bias must be true or false"},
  /* shape mismatches */
  {NET("    conv 8\n    add x"),
   "t.anet:4:5: error: shape mismatch: cannot add fp16[1, 8, 8, 8] and fp16[1, 4, 8, 8] "
   "(dimension 1: 8 vs 4)"},
  {NET("    h = conv 4 stride=2\n    from x\n    mul h"),
   "t.anet:5:5: error: shape mismatch: cannot mul fp16[1, 4, 8, 8] and fp16[1, 4, 4, 4] "
   "(dimension 2: 8 vs 4)"},
  {NET("    reshape shape=[1, 4, 4, 16]\n    matmul x"),
   "t.anet:4:5: error: shape mismatch: matmul of fp16[1, 4, 4, 16] and fp16[1, 4, 8, 8]: inner "
   "dimensions differ (16 vs 8)"},
  {NET("    reshape shape=[1, 5, -1]"),
   "t.anet:3:19: error: shape mismatch: cannot reshape fp16[1, 4, 8, 8] (256 elements) to 3 "
   "dimensions of 5 x N elements"},
  {NET("    transpose perm=[0, 1, 2]"),
   "t.anet:3:20: error: perm must list the 4 axes of fp16[1, 4, 8, 8] in their new order"},
  {NET("    transpose perm=[0, 1, 1, 3]"), "t.anet:3:27: error: axis 1 appears twice in perm"},
  {NET("    conv 4 kernel=9"),
   "t.anet:3:5: error: conv output would be empty: the padded input height (8) is smaller than "
   "the dilated kernel (9)"},
  {NET("    conv 4 kernel=3 dilation=4"),
   "t.anet:3:5: error: conv output would be empty: the padded input height (8) is smaller than "
   "the dilated kernel (9)"},
  {"network n {\n    input x: fp16[1, 6, 8, 8]\n    conv 4 groups=4\n}\n",
   "t.anet:3:19: error: input channels (6) are not divisible by groups (4)"},
  {NET("    conv 6 groups=4"),
   "t.anet:3:19: error: output channels (6) are not divisible by groups (4)"},
  {"network n {\n    input x: fp16[1, 64]\n    conv 4\n}\n",
   "t.anet:3:5: error: conv expects a 4-d input [N, C, H, W], got fp16[1, 64]"},
  {"network n {\n    input x: fp16[1, 64, 10]\n    linear 4\n}\n",
   "t.anet:3:5: error: linear expects the ANE layout [B, C, 1, S], got fp16[1, 64, 10]"},
  {NET("    softmax axis=4"), "t.anet:3:18: error: axis must be at most 3, got 4"},
  /* zero, negative and overflowing sizes */
  {"network n {\n    input x: fp16[1, 0, 8, 8]\n    relu\n}\n",
   "t.anet:2:22: error: a dimension must be at least 1, got 0"},
  {NET("    conv 0"), "t.anet:3:10: error: the number of output channels must be at least 1, got 0"},
  {NET("    conv -4"),
   "t.anet:3:10: error: the number of output channels must be at least 1, got -4"},
  {NET("    repeat 0 { relu }"), "t.anet:3:12: error: the repeat count must be at least 1, got 0"},
  {NET("    conv 4 stride=0"), "t.anet:3:19: error: stride must be at least 1, got 0"},
  {NET("    reshape shape=[1, 0, 256]"),
   "t.anet:3:23: error: a dimension must be at least 1 (or -1 to infer it), got 0"},
  {"network n {\n    input x: fp16[65536, 65536, 65536, 65536]\n    relu\n}\n",
   "t.anet:2:5: error: the result fp16[65536, 65536, 65536, 65536] has more than 2^40 elements"},
  {"network n {\n    input x: fp16[1, 1048576, 2, 2]\n    conv 1048576 kernel=2\n}\n",
   "t.anet:3:5: error: the weight tensor [1048576, 1048576, 2, 2] has more than 2^40 elements"},
  {"const a = 9223372036854775807 + 1\n" NET("    relu"),
   "t.anet:1:11: error: integer overflow: the result does not fit in 64 bits"},
  {"const a = 4 / (2 - 2)\n" NET("    relu"), "t.anet:1:11: error: division by zero"},
  {NET("    repeat 1000000 { relu }"),
   "t.anet:3:12: error: the repeat count must be at most 131072, got 1000000"},
  {NET("    repeat 100000 { relu; relu }"),
   "t.anet:3:21: error: the network unrolls to more than 131072 layers"},
  {NET("    repeat 131072 { repeat 131072 { let h } }"),
   "t.anet:3:37: error: the network unrolls to more than 4194304 statements"},
  /* dtypes */
  {"network n {\n    input x: fp61[1, 4]\n    relu\n}\n",
   "t.anet:2:14: error: unknown dtype 'fp61'; expected fp16, fp32 or int32"},
  {"network n {\n    input x: int8[1, 4]\n    relu\n}\n",
   "t.anet:2:14: error: an input must be fp16, fp32 or int32, not int8"},
  {"network n {\n    input x: fp32[1, 4]\n    relu\n}\n",
   "t.anet:3:5: error: relu needs an fp16 input, got fp32[1, 4] (cast it first)"},
  {NET("    conv 4 weights=int9"), "t.anet:3:20: error: unknown weight format 'int9'; expected fp16, int8, TYPE_tensor, "
   "TYPE_channel, TYPE_blockN (TYPE int8, uint8, int4 or uint4), int8_channel_affine, "
   "uint8_channel_affine, lutB[_groupG][_vecV] (B 1, 2, 3, 4, 6 or 8), sparse_fp16, sparse_int8, "
   "sparse_uint8, sparse_lutB[_groupG]"},
  {NET("    conv 4 weights=uint8"),
   "t.anet:3:20: error: weights must be fp16 or int8, not uint8"},
  {NET("    activations bf17 scale=1"),
   "t.anet:3:17: error: unknown dtype 'bf17'; expected fp16 or int8"},
  {NET("    activations int8\n    relu"),
   "t.anet:3:5: error: int8 activations need a scale (scale=S or scale=auto)"},
  /* names, constants and sweeps */
  {"sweep ch in [1, 2]\n" NET("    relu"),
   "t.anet:1:7: error: the sweep names an undefined constant 'ch'; define it above the sweep "
   "(const ch = ...)"},
  {"sweep (a, ch) in [(1, 2)]\nconst ch = 4\n" NET("    relu"),
   "t.anet:1:8: error: the sweep names an undefined constant 'a'; define it above the sweep "
   "(const a = ...)"},
  {"const a = 1\nsweep a in [1], a in [2]\n" NET("    relu"),
   "t.anet:2:17: error: 'a' is swept twice"},
  {"const a = 1\nconst b = 2\nsweep (a, b) in [(1, 2), (3)]\n" NET("    relu"),
   "t.anet:3:26: error: expected 2 values in each point, got 1"},
  {"const a = 1\nsweep a in [1, 1]\n" NET("    relu"),
   "t.anet:2:1: error: sweep point n_a1 appears twice"},
  {"const a = 1\nsweep a in [1]\nsweep a in [2]\n" NET("    relu"),
   "t.anet:3:1: error: a file holds at most one sweep"},
  {"const a = 1\nconst a = 2\n" NET("    relu"), "t.anet:2:7: error: constant 'a' is defined twice"},
  {NET("    conv width"),
   "t.anet:3:10: error: 'width' is not defined: expected a number, a word or a constant "
   "defined above"},
  {NET("    add h"),
   "t.anet:3:9: error: 'h' is not defined: expected a named value or a number"},
  {NET("    from h\n    relu"), "t.anet:3:10: error: 'h' is not a named value; did you mean 'x'?"},
  {NET("    from hidden\n    relu"), "t.anet:3:10: error: 'hidden' is not a named value"},
  {"network n {\n    relu\n}\n",
   "t.anet:2:5: error: relu has no input: declare one first (input x: fp16[...])"},
  {"network n {\n    input x: fp16[2]\n}\n", "t.anet:1:9: error: network 'n' has no layers"},
  {NET("    let h\n    relu\n    from x"),
   "t.anet:1:9: error: network 'n' returns its input 'x' unchanged"},
  {NET("    relu") "network m {\n}\n",
   "t.anet:5:1: error: a file holds one network; 'm' is a second one"},
  {"const a = 1\n", "t.anet:2:1: error: expected a network (network NAME { ... })"},
  {"network n {\n    input x: fp16[1, 4]\n    input x: fp16[1, 4]\n    relu\n}\n",
   "t.anet:3:11: error: input 'x' is declared twice"},
  {NET("    conv 4 init=foo(1)"),
   "t.anet:3:17: error: unknown initialiser 'foo'; expected uniform, normal, constant or npy"},
  /* syntax */
  {"network n {\n    input x: fp16[1, 4]\n    relu\n",
   "t.anet:4:1: error: syntax error, unexpected end of file"},
  {"network n {\n    conv 4 kernel=\n}\n",
   "t.anet:2:19: error: syntax error, unexpected end of line"},
  {"network {\n}\n", "t.anet:1:9: error: syntax error, unexpected '{', expecting identifier"},
  {NET("    input y fp16[1]"),
   "t.anet:3:13: error: syntax error, unexpected identifier 'fp16', expecting ':'"},
};

START_TEST(diagnostic) {
  char *e = first_error(diags[_i].src);
  ck_assert_str_eq(e, diags[_i].want);
  free(e);
}
END_TEST

/* ---- suite --------------------------------------------------------------- */



/* ---- the language of real networks ----------------------------------------- */

/* Everything parsing, checking and lowering text reports, and the count. */
static char *all_errors(const char *text, int *nerrors) {
  Src s = mksrc(text);
  Capture c;
  cap_open(&c);
  AnetFile *f = anet_parse(&s, &c.d);
  if (f) {
    for (int i = 0; i < anet_npoints(f); i++)
      mil_free(anet_lower(f, i, &c.d));
    anet_free(f);
  }
  char *out = cap_close(&c);
  *nerrors = c.d.nerrors;
  return out;
}

START_TEST(parse_blocks_state_outputs) {
  assert_sexpr("block f(a, b) {\n  conv a\n}\nnetwork n {\n  state s: fp16[2]\n  h = f(4, x)\n"
               "  f()\n  p, q = split 2\n  output y = relu\n  output h\n  const k = 2\n}",
               "(block f [a b] (conv a)) (network n (state s fp16 2) (= h (use f 4 x)) (use f) "
               "(= (p q) (split 2)) (output y (relu)) (output h) (const k 2))");
  assert_sexpr("block g (x) {\n}\nnetwork n {}", "(block g [x]) (network n)");
}
END_TEST

START_TEST(parse_reserved_and_unclosed) {
  char *e = first_error("network n {\n    input seed: fp16[2]\n    relu\n}\n");
  ck_assert_str_eq(e, "t.anet:2:11: error: 'seed' is a reserved word and cannot be a name");
  free(e);
  e = first_error("network n {\n    input x: fp16[2]\n    let output\n}\n");
  ck_assert_str_eq(e, "t.anet:3:9: error: 'output' is a reserved word and cannot be a name");
  free(e);
  /* the repeat's '{' is the one left open: the network's '}' sits at the
   * network's indentation, not the repeat's */
  int n;
  char *out = all_errors("network n {\n    input x: fp16[2]\n    repeat 2 {\n        relu\n"
                         "}\n", &n);
  ck_assert_ptr_nonnull(strstr(out, "t.anet:3:14: note: '{' opened here is not closed"));
  free(out);
  out = all_errors("block b() {\n    relu\nnetwork n {\n    input x: fp16[2]\n    b()\n}\n", &n);
  ck_assert_ptr_nonnull(strstr(out, "t.anet:1:11: note: '{' opened here is not closed"));
  free(out);
}
END_TEST

START_TEST(check_words) {
  /* a word as a constant and as swept values: the weights follow it */
  Checked c;
  const char *text = "const wt = fp16\nsweep wt in [fp16, int8]\n"
                     "network n {\n    input x: fp16[1, 4, 2, 2]\n"
                     "    conv 4 weights=wt scale=(0.5)\n}\n";
  char *e = first_error(text);
  ck_assert_str_eq(e, "t.anet:5:30: error: scale applies to int8 weights only (add weights=int8)");
  free(e);
  text = "const wt = int8\nconst pad = same\nsweep wt in [int8]\n"
         "network n {\n    input x: fp16[1, 4, 3, 3]\n"
         "    conv 4 kernel=3 padding=pad weights=wt scale=0.5\n}\n";
  AnetNet *n = check_ok(&c, text);
  ck_assert_str_eq(anet_point_name(c.f, 0), "n_wtint8");
  ck_assert_int_eq(n->layers[0].w.dtype, MIL_INT8);
  ASSERT_DIMS(&n->values[n->output], 1, 4, 3, 3);   /* same padding */
  checked_free(&c);
  e = first_error("const a = fp16 + 1\n" NET("    relu"));
  ck_assert_str_eq(e, "t.anet:1:11: error: 'fp16' is a word, not a number");
  free(e);
  e = first_error("const a = fp61\n" NET("    relu"));
  ck_assert_str_eq(e, "t.anet:1:11: error: 'fp61' is not defined: expected a number, a word or a "
                      "constant defined above; did you mean 'fp16'?");
  free(e);
}
END_TEST

START_TEST(check_blocks) {
  Checked c;
  /* parameters as constants and values; the block's result flows on */
  AnetNet *n = check_ok(&c, "block res(ch, skip) {\n    conv ch kernel=3 padding=same\n    relu\n"
                            "    add skip\n}\nnetwork n {\n    input x: fp16[1, 4, 8, 8]\n"
                            "    h = res(4, x)\n    res(4, h)\n    conv 2\n}\n");
  ck_assert_int_eq(n->nlayers, 7);
  ck_assert_int_eq(n->layers[2].in2, n->inputs[0].value);   /* skip = x */
  ck_assert_int_eq(n->layers[5].in2, n->layers[2].out);      /* skip = h */
  ASSERT_DIMS(&n->values[n->output], 1, 2, 8, 8);
  checked_free(&c);
  /* an error inside a block names the line in the block and the use */
  int errs;
  char *out = all_errors("block b(k) {\n    conv 4 kernel=k\n}\nnetwork n {\n"
                         "    input x: fp16[1, 4, 2, 2]\n    b(3)\n}\n", &errs);
  ck_assert_ptr_nonnull(strstr(out, "t.anet:2:5: error: conv output would be empty"));
  ck_assert_ptr_nonnull(strstr(out, "t.anet:6:5: note: in block 'b' used here"));
  free(out);
  /* a block sees neither the caller's names nor itself */
  char *e = first_error("block b() {\n    add x\n}\n" NET("    b()"));
  ck_assert_str_eq(e, "t.anet:2:9: error: 'x' is not a named value (a block sees only its "
                      "parameters and its own names)");
  free(e);
  e = first_error("block b() {\n    b()\n}\n" NET("    b()"));
  ck_assert_str_eq(e, "t.anet:2:5: error: block 'b' uses itself");
  free(e);
  e = first_error("block b(a) {\n    relu\n}\n" NET("    b()"));
  ck_assert_str_eq(e, "t.anet:6:5: error: block 'b' takes 1 argument, got 0");
  free(e);
  e = first_error("block blk() {\n    relu\n}\n" NET("    bkl()"));
  ck_assert_str_eq(e, "t.anet:6:5: error: unknown block 'bkl'; did you mean 'blk'?");
  free(e);
}
END_TEST

START_TEST(check_many_errors) {
  /* three independent errors, each reported; what depends on a failed
   * layer stays silent */
  int n;
  char *out = all_errors(NET("    h = cnov 4\n    relu\n    add h\n    conv 4 kernal=3\n"
                             "    from x\n    softmax axis=9"), &n);
  ck_assert_int_eq(n, 3);
  ck_assert_ptr_nonnull(strstr(out, "t.anet:3:9: error: unknown layer 'cnov'"));
  ck_assert_ptr_nonnull(strstr(out, "t.anet:6:12: error: unknown parameter 'kernal'"));
  ck_assert_ptr_nonnull(strstr(out, "t.anet:8:18: error: axis must be at most 3, got 9"));
  free(out);
  /* a bad constant and an independent network error */
  out = all_errors("const a = 1 / 0\n" NET("    conv a\n    relu 3"), &n);
  ck_assert_int_eq(n, 2);
  ck_assert_ptr_nonnull(strstr(out, "t.anet:1:11: error: division by zero"));
  ck_assert_ptr_nonnull(strstr(out, "t.anet:5:10: error: relu takes no positional arguments"));
  free(out);
}
END_TEST

START_TEST(shape_new_layers) {
  Checked c;
  /* [1, 4, 8, 8]: concat 4 + 4 channels; split into 3 + 5; slice; pad;
   * pools (floor((8 - 3) / 2) + 1 = 3); upsample; reduce; global pool */
  AnetNet *n = check_ok(&c, NET("    a = concat x axis=1\n    p, q = split [3, 5]\n"
                                "    from q\n    slice begin=[0, 1, 2, 0] end=[1, -1, 8, 8] "
                                "stride=[1, 1, 3, 2]\n    from x\n    pad [1, 2, 3, 4] mode=reflect\n"
                                "    from x\n    max_pool kernel=3 stride=2\n    from x\n"
                                "    avg_pool kernel=2 padding=same\n    upsample [2, 3] mode=bilinear\n"
                                "    reduce_sum axes=[1, -1] keep_dims=false\n    from x\n"
                                "    global_max_pool"));
  ASSERT_DIMS(&n->values[n->layers[0].out], 1, 8, 8, 8);
  ASSERT_DIMS(&n->values[n->layers[1].outs[0]], 1, 3, 8, 8);
  ASSERT_DIMS(&n->values[n->layers[1].outs[1]], 1, 5, 8, 8);
  ASSERT_DIMS(&n->values[n->layers[2].out], 1, 3, 2, 4);   /* [1:4], [2:8:3], [0:8:2] */
  ASSERT_DIMS(&n->values[n->layers[3].out], 1, 4, 11, 15);
  ASSERT_DIMS(&n->values[n->layers[4].out], 1, 4, 3, 3);
  ASSERT_DIMS(&n->values[n->layers[5].out], 1, 4, 4, 4);
  ASSERT_DIMS(&n->values[n->layers[6].out], 1, 4, 8, 12);
  ASSERT_DIMS(&n->values[n->layers[7].out], 1, 8);
  ASSERT_DIMS(&n->values[n->layers[8].out], 1, 4, 1, 1);
  checked_free(&c);
  /* int32 indices, an embedding, a cast; attention with a mask */
  n = check_ok(&c, "network e {\n    input ids: int32[2, 5]\n    input m: fp16[1, 5]\n"
                   "    embedding 100 16\n    reshape shape=[1, 2, 5, 16]\n    let q\n"
                   "    scaled_dot_product_attention q q mask=m\n    cast fp32\n}\n");
  ASSERT_DIMS(&n->values[n->layers[0].out], 2, 5, 16);
  ASSERT_DIMS(&n->values[n->layers[2].out], 1, 2, 5, 16);
  ck_assert_int_eq(n->values[n->output].dtype, MIL_FP32);
  checked_free(&c);
  char *e = first_error(NET("    pad [9, 0] mode=reflect"));
  ck_assert_str_eq(e, "t.anet:3:10: error: a padding must be at most 7, got 9");
  free(e);
  e = first_error(NET("    concat [x, y]"));
  ck_assert_str_eq(e, "t.anet:3:16: error: 'y' is not a named value; did you mean 'x'?");
  free(e);
  e = first_error("network e {\n    input ids: int32[2]\n    relu\n}\n");
  ck_assert_str_eq(e, "t.anet:3:5: error: relu needs an fp16 input, got int32[2] (cast it first)");
  free(e);
}
END_TEST

START_TEST(lower_state_update) {
  MilProg *p = lower_ok("network s {\n    input x: fp16[1, 1, 2]\n    state c: fp16[1, 4, 2]\n"
                        "    read_state c\n    slice_update x begin=[0, 3, 0]\n    write_state c\n"
                        "    output y = relu\n}\n");
  const MilFunc *fn = &p->funcs[0];
  ck_assert_int_eq(fn->ninputs, 2);
  ck_assert_int_eq(fn->inputs[1].type->kind, MIL_STATE);
  const MilOp *su = find_op(fn, "slice_update_0");
  /* a constant begin: end = begin + the update's shape */
  assert_ints(const_val(find_op(fn, ref(su, "begin"))), 3, (int64_t[]){0, 3, 0});
  assert_ints(const_val(find_op(fn, ref(su, "end"))), 3, (int64_t[]){1, 4, 2});
  const MilOp *w = NULL;
  for (int i = 0; i < fn->nops; i++)
    if (strcmp(fn->ops[i].op, "write_state") == 0)
      w = &fn->ops[i];
  ck_assert_ptr_nonnull(w);
  ck_assert_int_eq(w->nouts, 0);
  ck_assert_str_eq(ref(w, "data"), "slice_update_0");
  ck_assert_str_eq(ref(w, "input"), "c");
  ck_assert_str_eq(fn->outputs[0], "y");
  ck_assert_str_eq(ref(find_op(fn, "y"), "x"), "slice_update_0");
  mil_free(p);
  char *e = first_error("network s {\n    input x: fp16[1, 2, 2]\n    state c: fp16[1, 4, 2]\n"
                        "    read_state c\n    slice_update x begin=[0, 3, 0]\n}\n");
  ck_assert_str_eq(e, "t.anet:5:30: error: a position must be at most 2, got 3");
  free(e);
}
END_TEST

START_TEST(numerics_new_layers) {
  /* x = [[1, -2], [3, 9]] as [1, 2, 1, 2]: clip to [-1, 4], concat with x
   * along the channels, then the sum over channels and width */
  const double xs[4] = {1, -2, 3, 9};
  Tensor y = run_cpu(NET_OF("fp16[1, 2, 1, 2]", "    clip min=-1 max=4\n    concat x axis=1\n"
                            "    reduce_sum axes=[1, 3]"),
                     4, DIMS(1, 2, 1, 2), xs);
  ck_assert_int_eq(tensor_numel(&y), 1);
  /* clipped: 1, -1, 3, 4 (sum 7); plus x: 1 - 2 + 3 + 9 = 11 */
  ck_assert_double_eq(tensor_get(&y, 0), 18);
  tensor_free(&y);
  y = run_cpu(NET_OF("fp16[1, 2, 1, 2]", "    slice begin=[0, 1, 0, 1]\n    sqrt"), 4,
              DIMS(1, 2, 1, 2), xs);
  ck_assert_int_eq(tensor_numel(&y), 1);
  ck_assert_double_eq(tensor_get(&y, 0), 3);
  tensor_free(&y);
}
END_TEST

/* ---- the sample networks: structure expected from the architectures ------ *
 * Each count below follows from the network's definition (layers per block,
 * blocks per stage) and from the MIL forms in FORMATS.md §2.4 and §3 and the
 * op definitions of coremltools (opset iOS15..iOS18); none is copied from
 * anetc's output. */

static MilProg *lower_sample(const char *name) {
  static char path[512];
  snprintf(path, sizeof path, SRCDIR "/samples/nets/%s.anet", name);
  static Src s;
  Diag d = diag_stderr();
  ck_assert_int_eq(src_read_file(&s, path, 1 << 22, &d), 0);
  AnetFile *f = anet_parse(&s, &d);
  ck_assert_ptr_nonnull(f);
  MilProg *p = anet_lower(f, 0, &d);
  ck_assert_ptr_nonnull(p);
  anet_free(f);
  return p;
}

static int count_ops(const MilFunc *fn, const char *op) {
  int n = 0;
  for (int i = 0; i < fn->nops; i++)
    n += strcmp(fn->ops[i].op, op) == 0;
  return n;
}

static const MilOp *nth_op(const MilFunc *fn, const char *op, int k) {
  for (int i = 0; i < fn->nops; i++)
    if (strcmp(fn->ops[i].op, op) == 0 && k-- == 0)
      return &fn->ops[i];
  ck_abort_msg("no %s op number %d", op, k);
  return NULL;
}

static const MilType *input_type(const MilFunc *fn, const char *name) {
  for (int i = 0; i < fn->ninputs; i++)
    if (strcmp(fn->inputs[i].name, name) == 0)
      return fn->inputs[i].type;
  ck_abort_msg("no input %s", name);
  return NULL;
}

static const MilValue *const_of(const MilFunc *fn, const char *name) {
  const MilOp *o = find_op(fn, name);
  ck_assert_msg(o && strcmp(o->op, "const") == 0, "%s is not a const", name);
  return mil_op_attr_get(o, "val")->val;
}

START_TEST(net_unet) {
  MilProg *p = lower_sample("unet_small");
  const MilFunc *fn = &p->funcs[0];
  /* 5 double_convs of 2 convs with bias (conv + add) and relu; the 1x1 head */
  ck_assert_int_eq(count_ops(fn, "conv"), 11);
  ck_assert_int_eq(count_ops(fn, "add"), 10);
  ck_assert_int_eq(count_ops(fn, "relu"), 10);
  ck_assert_int_eq(count_ops(fn, "max_pool"), 2);
  ck_assert_int_eq(count_ops(fn, "resize_nearest_neighbor"), 1);
  ck_assert_int_eq(count_ops(fn, "resize_bilinear"), 1);
  ck_assert_int_eq(count_ops(fn, "concat"), 2);
  /* 64 -> 32 -> 16, then 32 and 64 again */
  const MilOp *mp = nth_op(fn, "max_pool", 1);
  ASSERT_TYPE(mp->outs[0].type, MIL_FP16, 1, 32, 16, 16);
  assert_ints(const_val(find_op(fn, ref(mp, "kernel_sizes"))), 2, (int64_t[]){2, 2});
  assert_ints(const_val(find_op(fn, ref(mp, "strides"))), 2, (int64_t[]){2, 2});
  assert_str_const(find_op(fn, ref(mp, "pad_type")), "valid");
  const MilOp *up = nth_op(fn, "resize_nearest_neighbor", 0);
  ASSERT_TYPE(up->outs[0].type, MIL_FP16, 1, 64, 32, 32);
  assert_args(up, (const char *const[]){"target_size_height", "target_size_width", "x", NULL});
  const MilOp *bl = nth_op(fn, "resize_bilinear", 0);
  assert_str_const(find_op(fn, ref(bl, "sampling_mode")), "UNALIGN_CORNERS");
  /* the skip concatenated after the upsampled map, along the channels */
  const MilOp *cat = nth_op(fn, "concat", 0);
  const MilArg *vals = mil_op_arg(cat, "values");
  ck_assert_int_eq(vals->bind.kind, MIL_BLIST);
  ck_assert_int_eq(vals->bind.nitems, 2);
  ck_assert_str_eq(vals->bind.items[0].ref, up->outs[0].name);
  ASSERT_TYPE(cat->outs[0].type, MIL_FP16, 1, 96, 32, 32);     /* 64 + 32 */
  ASSERT_TYPE(nth_op(fn, "concat", 1)->outs[0].type, MIL_FP16, 1, 48, 64, 64);   /* 32 + 16 */
  ck_assert_int_eq(fn->noutputs, 1);
  ck_assert_str_eq(fn->outputs[0], "mask");
  ASSERT_TYPE(mil_value_type(fn, "mask", fn->nops), MIL_FP16, 1, 2, 64, 64);
  mil_free(p);
}
END_TEST

START_TEST(net_mobilenet) {
  MilProg *p = lower_sample("mobilenet_v2");
  const MilFunc *fn = &p->funcs[0];
  /* stem, the t=1 block's depthwise and projection, 16 inverted blocks of
   * 3 convs, the 1280 conv and the classifier */
  ck_assert_int_eq(count_ops(fn, "conv"), 1 + 2 + 16 * 3 + 2);
  ck_assert_int_eq(count_ops(fn, "relu6"), 1 + 1 + 16 * 2 + 1);
  ck_assert_int_eq(count_ops(fn, "add"), 10 + 1);   /* residuals, classifier bias */
  ck_assert_int_eq(count_ops(fn, "avg_pool"), 1);
  ASSERT_TYPE(input_type(fn, "image"), MIL_FP16, 1, 3, 224, 224);
  ASSERT_TYPE(nth_op(fn, "conv", 0)->outs[0].type, MIL_FP16, 1, 32, 112, 112);
  /* the last inverted block's depthwise conv: 6 * 160 channels at 7x7 */
  const MilOp *dw = nth_op(fn, "conv", 1 + 2 + 15 * 3 + 1);
  ASSERT_TYPE(dw->outs[0].type, MIL_FP16, 1, 960, 7, 7);
  ASSERT_TYPE(mil_value_type(fn, ref(dw, "weight"), fn->nops), MIL_FP16, 960, 1, 3, 3);
  ck_assert_int_eq(const_val(find_op(fn, ref(dw, "groups")))->i[0], 960);
  const MilOp *gp = nth_op(fn, "avg_pool", 0);
  assert_ints(const_val(find_op(fn, ref(gp, "kernel_sizes"))), 2, (int64_t[]){7, 7});
  ASSERT_TYPE(gp->outs[0].type, MIL_FP16, 1, 1280, 1, 1);
  ck_assert_str_eq(fn->outputs[0], "logits");
  ASSERT_TYPE(mil_value_type(fn, "logits", fn->nops), MIL_FP16, 1, 1000, 1, 1);
  mil_free(p);
}
END_TEST

START_TEST(net_bert) {
  MilProg *p = lower_sample("bert_encoder");
  const MilFunc *fn = &p->funcs[0];
  ASSERT_TYPE(input_type(fn, "ids"), MIL_INT32, 1, 128);
  ASSERT_TYPE(input_type(fn, "positions"), MIL_INT32, 1, 128);
  ck_assert_int_eq(count_ops(fn, "gather"), 2);
  const MilOp *g = nth_op(fn, "gather", 0);
  ck_assert_str_eq(ref(g, "indices"), "ids");
  assert_args(g, (const char *const[]){"axis", "batch_dims", "indices", "validate_indices", "x",
                                       NULL});
  ASSERT_TYPE(mil_value_type(fn, ref(g, "x"), fn->nops), MIL_FP16, 8192, 256);
  ASSERT_TYPE(g->outs[0].type, MIL_FP16, 1, 128, 256);
  /* per layer: q, k, v, out, 2 ffn linears (1x1 convs) and 2 matmuls */
  ck_assert_int_eq(count_ops(fn, "conv"), 2 * 6);
  ck_assert_int_eq(count_ops(fn, "matmul"), 2 * 2);
  ck_assert_int_eq(count_ops(fn, "softmax"), 2);
  ck_assert_int_eq(count_ops(fn, "erf"), 2);
  /* 6 layer_norms (input, 2 per layer, final), 2 reduce_sums each */
  ck_assert_int_eq(count_ops(fn, "reduce_sum"), 6 * 2);
  ck_assert_int_eq(count_ops(fn, "pow"), 6);
  const MilOp *mm = nth_op(fn, "matmul", 0);
  ASSERT_TYPE(mm->outs[0].type, MIL_FP16, 1, 4, 128, 128);
  /* two outputs in the order written: -> (hidden, first) */
  ck_assert_int_eq(fn->noutputs, 2);
  ck_assert_str_eq(fn->outputs[0], "hidden");
  ck_assert_str_eq(fn->outputs[1], "first");
  ASSERT_TYPE(mil_value_type(fn, "hidden", fn->nops), MIL_FP16, 1, 256, 1, 128);
  ASSERT_TYPE(mil_value_type(fn, "first", fn->nops), MIL_FP16, 1, 256, 1, 1);
  ck_assert_str_eq(find_op(fn, "first")->op, "slice_by_index");
  mil_free(p);
}
END_TEST

START_TEST(net_llama) {
  MilProg *p = lower_sample("llama_decoder");
  const MilFunc *fn = &p->funcs[0];
  ck_assert_int_eq(fn->ninputs, 5);
  ASSERT_TYPE(input_type(fn, "x"), MIL_FP16, 1, 512, 1, 1);
  ASSERT_TYPE(input_type(fn, "pos"), MIL_INT32, 1);
  const MilType *kc = input_type(fn, "k_cache");
  ck_assert_int_eq(kc->kind, MIL_STATE);   /* state<tensor<fp16, [1, 2, 256, 64]>> */
  ASSERT_TYPE(kc->sub[0], MIL_FP16, 1, 2, 256, 64);
  /* q, k, v, o, gate, up, down */
  ck_assert_int_eq(count_ops(fn, "conv"), 7);
  ASSERT_TYPE(nth_op(fn, "conv", 1)->outs[0].type, MIL_FP16, 1, 128, 1, 1);   /* 2 x 64 */
  ck_assert_int_eq(count_ops(fn, "gather"), 2);      /* the cos and sin rows */
  ck_assert_int_eq(count_ops(fn, "read_state"), 2);
  ck_assert_int_eq(count_ops(fn, "slice_update"), 2);
  ck_assert_int_eq(count_ops(fn, "write_state"), 2);
  ck_assert_int_eq(count_ops(fn, "silu"), 1);
  ck_assert_int_eq(count_ops(fn, "scaled_dot_product_attention"), 1);
  /* write_state(data = the updated cache, input = the state), no outputs */
  const MilOp *w = nth_op(fn, "write_state", 0), *su = nth_op(fn, "slice_update", 0);
  ck_assert_int_eq(w->nouts, 0);
  ck_assert_str_eq(ref(w, "input"), "k_cache");
  ck_assert_str_eq(ref(w, "data"), su->outs[0].name);
  ck_assert_str_eq(ref(su, "x"), nth_op(fn, "read_state", 0)->outs[0].name);
  ASSERT_TYPE(mil_value_type(fn, ref(su, "update"), fn->nops), MIL_FP16, 1, 2, 1, 64);
  /* begin = (0, 0, pos, 0) concatenated in int32, end = begin + [1, 2, 1, 64] */
  const MilOp *b = find_op(fn, ref(su, "begin"));
  ck_assert_str_eq(b->op, "concat");
  ASSERT_TYPE(b->outs[0].type, MIL_INT32, 4);
  ck_assert_str_eq(mil_op_arg(b, "values")->bind.items[2].ref, "pos");
  const MilOp *e = find_op(fn, ref(su, "end"));
  ck_assert_str_eq(e->op, "add");
  assert_ints(const_of(fn, ref(e, "y")), 4, (int64_t[]){1, 2, 1, 64});
  /* 8 query heads as 2 groups of 4 against the 2 key/value heads */
  const MilOp *a = nth_op(fn, "scaled_dot_product_attention", 0);
  ASSERT_TYPE(mil_value_type(fn, ref(a, "query"), fn->nops), MIL_FP16, 1, 2, 4, 64);
  ck_assert_str_eq(ref(a, "key"), su->outs[0].name);
  ck_assert_str_eq(ref(a, "attn_mask"), "mask");
  ASSERT_TYPE(a->outs[0].type, MIL_FP16, 1, 2, 4, 64);
  ck_assert_int_eq(fn->noutputs, 1);
  ck_assert_str_eq(fn->outputs[0], "y");
  mil_free(p);
}
END_TEST

static Suite *anet_suite(void) {
  Suite *s = suite_create("anet");
  TCase *t = tcase_create("lexer");
  tcase_add_test(t, lex_basic);
  tcase_add_test(t, lex_newlines_and_comments);
  tcase_add_test(t, lex_callee);
  tcase_add_test(t, lex_numbers);
  tcase_add_test(t, lex_errors);
  suite_add_tcase(s, t);

  t = tcase_create("parser");
  tcase_add_test(t, parse_expressions);
  tcase_add_test(t, parse_network);
  tcase_add_test(t, parse_statements);
  tcase_add_test(t, parse_sweep);
  tcase_add_test(t, parse_recovers);
  tcase_add_test(t, parse_unclosed);
  tcase_add_test(t, parse_nesting_limits);
  tcase_add_test(t, parse_long_lists);
  tcase_set_timeout(t, 60);   /* sanitizer builds on a busy machine */
  suite_add_tcase(s, t);

  t = tcase_create("check");
  tcase_set_timeout(t, 60);   /* 10000 sweep points on a busy machine */
  tcase_add_test(t, shape_conv_arith);
  tcase_add_test(t, shape_elementwise);
  tcase_add_test(t, shape_matmul);
  tcase_add_test(t, check_quant_policy);
  tcase_add_test(t, check_constants);
  tcase_add_test(t, check_repeat_and_names);
  tcase_add_test(t, check_sweep_points);
  tcase_add_test(t, check_sweep_many_points);
  tcase_add_test(t, check_sweep_error_note);
  tcase_add_test(t, dump_ir);
  suite_add_tcase(s, t);

  t = tcase_create("lower");
  tcase_add_test(t, lower_conv_bias);
  tcase_add_test(t, lower_inline_weights);
  tcase_add_test(t, lower_seeds);
  tcase_add_test(t, lower_npy_path);
  tcase_add_test(t, lower_pool_shared);
  tcase_add_test(t, lower_input_name_clash);
  suite_add_tcase(s, t);

  t = tcase_create("numerics");
  tcase_add_test(t, numerics_norms_gelu);
  tcase_add_test(t, numerics_conv);
  suite_add_tcase(s, t);

  t = tcase_create("seed");
  tcase_set_timeout(t, 120);
  tcase_add_loop_test(t, seed_programs, 0, (int)(sizeof seeds / sizeof seeds[0]));
  suite_add_tcase(s, t);

  t = tcase_create("golden");
  tcase_add_test(t, golden_cases);
  suite_add_tcase(s, t);

  t = tcase_create("language");
  tcase_add_test(t, parse_blocks_state_outputs);
  tcase_add_test(t, parse_reserved_and_unclosed);
  tcase_add_test(t, check_words);
  tcase_add_test(t, check_blocks);
  tcase_add_test(t, check_many_errors);
  tcase_add_test(t, shape_new_layers);
  tcase_add_test(t, lower_state_update);
  tcase_add_test(t, numerics_new_layers);
  suite_add_tcase(s, t);

  t = tcase_create("nets");
  tcase_set_timeout(t, 60);
  tcase_add_test(t, net_unet);
  tcase_add_test(t, net_mobilenet);
  tcase_add_test(t, net_bert);
  tcase_add_test(t, net_llama);
  suite_add_tcase(s, t);

  t = tcase_create("diagnostics");
  tcase_set_timeout(t, 60);   /* the unrolling limits run millions of steps */
  tcase_add_loop_test(t, diagnostic, 0, (int)(sizeof diags / sizeof diags[0]));
  suite_add_tcase(s, t);
  return s;
}

int main(void) { return ck_run(anet_suite()); }
