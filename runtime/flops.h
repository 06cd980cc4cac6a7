/* flops.h - the work in a MIL function: FLOP per op by the counting rules
 * of docs/report-schema.md, bytes moved per op, stored bytes of constants.
 *
 * Counting never fails on a well-formed IR: an op whose count needs a shape
 * that is unknown ('?', a missing argument, a list) counts 0 and is marked
 * unknown, so callers can say the total is a lower bound. */
#ifndef ANET_FLOPS_H
#define ANET_FLOPS_H

#include <stdbool.h>
#include <stdint.h>

#include "mil.h"

typedef enum FlopsClass {
  FLOPS_CONST,   /* const, constexpr_*: folded before run time, 0 */
  FLOPS_CONV,    /* 2 * numel(out) * prod(weight.dim[1..]) */
  FLOPS_CONVT,   /* 2 * numel(x) * prod(weight.dim[1..]) */
  FLOPS_MATMUL,  /* 2 * numel(out) * K */
  FLOPS_LINEAR,  /* 2 * numel(out) * Din */
  FLOPS_ATTN,    /* the two matmuls of attention */
  FLOPS_RNN,     /* 2 * T * B * numel(each weight matrix) */
  FLOPS_POOL,    /* numel(out) * prod(kernel_sizes) */
  FLOPS_REDUCE,  /* numel(x) */
  FLOPS_MOVE,    /* copies or rearranges data: 0 */
  FLOPS_ELEM,    /* every other op: numel of its outputs */
} FlopsClass;

typedef struct OpCost {
  FlopsClass cls;
  double flops;
  double act_bytes;     /* non-constant tensors read, plus outputs written */
  double io_bytes;      /* the part of act_bytes that are function inputs or outputs */
  double weight_bytes;  /* stored bytes of the constants the op reads */
  bool known;           /* false: a shape was unknown, flops is 0 */
  bool int8_act;        /* x comes from a dequantize: int8 between layers */
} OpCost;

typedef struct FuncCost {
  int nops;
  double flops;
  uint64_t const_bytes;  /* stored bytes of every constant tensor */
  int nblobs;            /* BLOBFILE values among them */
  uint64_t blob_bytes;
  int unknown;           /* ops left out of flops (see OpCost.known) */
} FuncCost;

/* Name lookups for one function; NULL when out of memory. */
typedef struct FlopsIndex FlopsIndex;
FlopsIndex *flops_index(const MilFunc *f);
void flops_index_free(FlopsIndex *ix);

FlopsClass flops_class(const char *op);
void flops_op(const FlopsIndex *ix, int op, OpCost *c);
/* Totals over f; 0, or -1 when out of memory. */
int flops_func(const MilFunc *f, FuncCost *fc);

/* Bytes a value occupies as stored (blob or inline); 0 for strings. */
uint64_t flops_value_bytes(const MilValue *v);
/* The constant behind a binding: an inline value, or the val of the const
 * op a reference names; NULL otherwise. */
const MilValue *flops_const_value(const FlopsIndex *ix, const MilBind *b);
/* The type a binding has; NULL for lists and unknown names. */
const MilType *flops_bind_type(const FlopsIndex *ix, const MilBind *b);

#endif
