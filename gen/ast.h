/* ast.h - the .anet front end's inner structures: the syntax tree the
 * parser builds (anetp_), the layer IR the checker derives from it for one
 * sweep point (anetc_), and the entry points that connect the stages.
 *
 *   Node *root = anetp_parse(src, d);                  syntax only
 *   AnetNet *net = anetc_check(file, point, d);        names, values, shapes
 *   MilProg *p = anet_lower(file, point, d);           (anet.h) MIL ops
 *
 * Users of the compiler want anet.h; this header is for the stages and
 * their tests. */
#ifndef ANET_AST_H
#define ANET_AST_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "anet.h"
#include "diag.h"
#include "mil.h"
#include "quant.h"

enum {
  ANET_MAX_NEST = 200,               /* expression and block nesting */
  ANET_MAX_LAYERS = 1 << 17,         /* layers after unrolling every repeat */
  ANET_MAX_POINTS = 10000,           /* models one sweep may describe */
  ANET_MAX_ERRORS = 20,              /* syntax errors before giving up */
};
#define ANET_MAX_ELEMS ((int64_t)1 << 40)  /* elements of any one tensor */

/* ---- syntax tree ------------------------------------------------------- */

typedef enum NodeKind {
  /* expressions and argument values */
  N_INT, N_FLOAT, N_STR, N_IDENT, N_NEG, N_CALL, N_LIST,
  N_BIN,       /* ival: the operator character; kids: the two operands */
  /* layer arguments: name (NULL when positional), a = value */
  N_ARG,
  /* top level */
  N_CONST,     /* name = a */
  N_SWEEP,     /* kids: N_FACTOR */
  N_FACTOR,    /* kids: N_IDENT names; a: N_LIST of values (or of N_LIST tuples) */
  N_NETWORK,   /* name, kids: body */
  /* network body */
  N_INPUT,     /* name, a: the dtype (N_IDENT), kids: dims */
  N_ACT,       /* a: dtype word, kids: N_ARG */
  N_SEED,      /* a */
  N_REPEAT,    /* a: count, kids: body */
  N_LAYER,     /* name: layer, bind: "h" in "h = conv ...", kids: N_ARG */
  N_LET,       /* name */
  N_FROM,      /* name */
  N_BLOCK,     /* top level: name, a: N_LIST of parameter N_IDENTs, kids: body */
  N_USE,       /* a block used like a layer: name, bind/binds, kids: argument exprs */
  N_STATE,     /* name, a: the dtype (N_IDENT), kids: dims */
  N_OUTPUT,    /* name; a: the N_LAYER or N_USE whose result it is, or NULL */
  N_WEIGHT,    /* name, a: N_LIST of dims whose a is the dtype (N_IDENT), kids: N_ARG */
} NodeKind;

typedef struct Node Node;
struct Node {
  NodeKind kind;
  Loc loc;
  char *name;      /* identifiers, strings, statement names */
  char *bind;      /* N_LAYER */
  int64_t ival;    /* N_INT; N_BIN: the operator character */
  double fval;     /* N_FLOAT */
  Node *a;         /* the one child most kinds have */
  Node *kids;      /* a list, linked by next */
  Node *next;
  Node *binds;     /* N_LAYER: "a, b = split ...", N_IDENTs */
  Loc name_loc;    /* where name (or bind) is written */
  int depth;       /* nesting below this node, bounded by ANET_MAX_NEST */
};

Node *ast_new(NodeKind k, Loc loc);
void ast_free(Node *n);                 /* n, its children and its successors */
int ast_count(const Node *list);
/* The tree as an s-expression ("(network n (input x fp16 1 4 8 8) ...)"),
 * malloc'd; the parser tests compare it with hand-written text. */
char *ast_sexpr(const Node *list);

/* Parses src into a list of top-level statements (N_CONST, N_SWEEP,
 * N_NETWORK). NULL after reporting every syntax error (up to ANET_MAX_ERRORS). */
Node *anetp_parse(const Src *src, Diag *d);
/* The token stream, for the scanner tests: "network IDENT(n) '{' NL ...",
 * malloc'd; NULL after reporting a lexical error. */
char *anetp_tokens(const Src *src, Diag *d);

/* ---- layer IR ---------------------------------------------------------- */

typedef enum LayerKind {
  L_CONV, L_LINEAR, L_MATMUL, L_ADD, L_MUL,
  L_RELU, L_SIGMOID, L_TANH, L_SILU, L_GELU,
  L_SOFTMAX, L_LAYER_NORM, L_RMS_NORM, L_RESHAPE, L_TRANSPOSE,
  /* joining and cutting */
  L_CONCAT, L_SPLIT, L_SLICE, L_PAD,
  /* pooling and resizing */
  L_AVG_POOL, L_MAX_POOL, L_GLOBAL_AVG_POOL, L_GLOBAL_MAX_POOL, L_UPSAMPLE,
  L_EMBEDDING,
  /* activations with parameters, elementwise math */
  L_CLIP, L_RELU6, L_HARD_SIGMOID, L_HARD_SWISH, L_LEAKY_RELU, L_ELU,
  L_EXP, L_LOG, L_SQRT, L_RSQRT, L_ABS, L_NEG,
  L_REDUCE_SUM, L_REDUCE_MEAN, L_REDUCE_MAX, L_CAST,
  L_SDPA,
  /* state (iOS18) */
  L_READ_STATE, L_WRITE_STATE, L_SLICE_UPDATE,
  /* a constant tensor named by a weight declaration */
  L_WEIGHT,
  L_NKINDS
} LayerKind;

enum { ANET_MAX_INS = 16 };   /* values one concat joins, pieces one split makes */

const char *anetc_layer_name(LayerKind k);

/* A value flowing between layers: fp16 unless an input, a cast or an
 * int32 index says otherwise. */
typedef struct AnetValue {
  MilDtype dtype;
  int rank;
  int64_t dim[MIL_MAX_RANK];
  const char *mil_name;      /* set by the lowering */
} AnetValue;

/* How one weight tensor is stored and initialised. */
typedef struct AnetWeight {
  MilDtype dtype;            /* fp16, or int8 (constexpr_affine_dequantize) */
  double scale;              /* int8 */
  int64_t zero_point;        /* int8 */
  MilInitKind init;
  double a, b;
  char *path;                /* MIL_INIT_NPY, resolved against the .anet file */
  /* weights=<format word> (gen/wformat.h): the values above, made fp32,
   * are quantised by anetc into fmt; dtype stays fp16 */
  bool quantised;
  QuantFmt fmt;
  const char *fmt_word;      /* points into the syntax tree */
} AnetWeight;

typedef struct AnetLayer {
  LayerKind kind;
  Loc loc;
  int in, in2;               /* value indices; in2 = -1 unless binary */
  int out;
  /* conv and linear */
  int64_t cout, kernel[2], stride[2], dilation[2], pad[4], groups;
  bool has_bias;
  AnetWeight w, bias;
  /* add and mul with a number instead of a value */
  bool has_scalar;
  double scalar;
  /* matmul */
  bool transpose_x, transpose_y;
  /* softmax, norms */
  int axis;
  double eps;
  bool affine;
  AnetWeight gamma, beta;
  /* reshape and transpose */
  int nshape;
  int64_t shape[MIL_MAX_RANK];
  /* concat: ins[0..nins) (ins[0] == in); split: outs[0..nouts) */
  int nins, ins[ANET_MAX_INS];
  int nouts, outs[ANET_MAX_INS];
  /* slice, slice_update: begin, end (exclusive), stride per axis; for
   * slice_update a begin element may be an int32 value (begin_val >= 0) */
  int64_t begin[MIL_MAX_RANK], end[MIL_MAX_RANK], step[MIL_MAX_RANK];
  int begin_val[MIL_MAX_RANK];
  /* pad: pads[2 * nshape] for the last nshape axes; pooling, upsample, cast */
  const char *mode;          /* "constant", "nearest", "erf", a dtype name ... */
  double alpha, alpha2;      /* clip (min, max), hard_sigmoid, leaky_relu, elu, pad value */
  bool keep_dims;            /* reduce */
  int state;                 /* read_state, write_state: index in net->states */
  const char *wname;         /* weight: the declared name (its MIL name's suffix) */
  int mask;                  /* sdpa: value index or -1; in2 = key, in3 = value */
  int in3;
  /* activation storage: quantize + dequantize after this layer; qscale 0
   * is scale=auto (at qloc), which the lowering takes from a calibration */
  bool quant;
  double qscale;
  Loc qloc;
} AnetLayer;

typedef struct AnetInput {
  const char *name;          /* in the syntax tree */
  Loc loc;
  int value;
} AnetInput;

/* A state (iOS18): a function input of type state<tensor<...>>. */
typedef struct AnetState {
  const char *name;
  Loc loc;
  MilDtype dtype;
  int rank;
  int64_t dim[MIL_MAX_RANK];
} AnetState;

/* A named output, in the order written. */
typedef struct AnetOutput {
  const char *name;          /* NULL: the MIL name of the value */
  Loc loc;
  int value;
} AnetOutput;

typedef struct AnetNet {
  const char *name;
  uint64_t seed;
  int ninputs;  AnetInput *inputs;
  int nstates;  AnetState *states;
  int noutputs; AnetOutput *outputs;
  int nvalues, valcap;  AnetValue *values;
  int nlayers, laycap;  AnetLayer *layers;
  int output;                /* value index of the first output */
} AnetNet;

/* A constant's value: integers stay exact; a word ("fp16", "same") is a
 * symbol, which is neither. */
typedef struct AnetNum {
  bool is_int;
  int64_t i;
  double f;                  /* also set (approximately) for integers */
  const char *sym;           /* a recognised word, in the syntax tree; else NULL */
} AnetNum;

/* The checked file anet.h hands out. */
struct AnetFile {
  const Src *src;
  Node *root;
  const Node *network;       /* the one N_NETWORK */
  const Node *sweep;         /* NULL without one */
  int npoints;
  int nvars;                 /* swept constants */
  const Node **vars;         /* their N_IDENT nodes in the sweep */
  AnetNum *values;           /* point i, variable j at [i * nvars + j] */
  char **point_names;
};

/* Checks point `point` of f and returns its layer IR (every repeat
 * unrolled, every shape known); NULL after reporting. */
AnetNet *anetc_check(const AnetFile *f, int point, Diag *d);
void anetc_free(AnetNet *n);

/* "fp16[1, 64, 8, 8]" into buf. */
const char *anetc_shape_str(char *buf, size_t size, MilDtype dt, int rank, const int64_t *dim);

#endif
