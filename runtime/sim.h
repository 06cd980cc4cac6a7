/* sim.h - the sim backend's cost model (docs/cost-model.md).
 *
 * Each op that runs (const and constexpr ops are folded at compile time and
 * cost nothing) takes
 *     max(flops / (rate * int8), dram_bytes / bandwidth) + op_us
 * where rate is the chip's fitted fp16 rate (its MAC arrays at its clock
 * times a fitted efficiency, or the rate itself where the clock is
 * unpublished), int8 is 2 for a conv, matmul or linear whose x comes from a
 * dequantize (W8A8: twice the MACs per cycle) and 1 otherwise, and
 * dram_bytes counts the stored weights it reads, the function inputs and
 * outputs it touches, and its other activations only when they exceed the
 * chip's on-chip memory; an evaluation adds eval_us once. op_us and eval_us
 * are fitted too (data/ane_conv_chains.csv). Every number it produces is an
 * estimate. */
#ifndef ANET_SIM_H
#define ANET_SIM_H

#include <stdbool.h>
#include <stdio.h>

#include "chip.h"
#include "diag.h"
#include "flops.h"
#include "mil.h"

#define SIM_DEFAULT_CHIP "M4"

typedef struct SimParams {
  const Chip *chip;
  double peak_tflops;   /* the chip's measured fp16 conv-chain peak */
  double int8_factor;   /* int8 peak / fp16 peak; 1 when int8 was never measured */
  double bw_gbs;        /* assumed memory bandwidth, GB/s */
  bool bw_published;    /* bw_gbs is the SoC's published figure, not the default */
  double op_us;         /* fixed cost per op */
  double eval_us;       /* fixed cost per evaluation */
  double sram_bytes;    /* activations beyond this go through DRAM; 0: always on chip */
  bool fitted;          /* rate, op_us, eval_us come from a fit to measurements */
} SimParams;

typedef struct SimRow {
  const char *op;       /* op type, owned by the program */
  int count, unknown;   /* ops; ops whose shapes were unknown */
  double gflop, ms, compute_ms, memory_ms;
} SimRow;

typedef struct SimProfile {
  SimParams p;
  int nrows, nconst;    /* nconst: const ops folded, not in rows */
  SimRow *rows;         /* by op type, in order of first appearance */
  double total_ms;      /* sum of rows plus eval_us */
} SimProfile;

/* The parameters for chip (NULL: SIM_DEFAULT_CHIP); -1 after reporting an unknown chip
 * or one without a measured fp16 peak. */
int sim_params(const char *chip, SimParams *p, Diag *d);
int sim_profile(const MilFunc *f, const SimParams *p, SimProfile *s, Diag *d);
void sim_profile_free(SimProfile *s);
/* The per-op table: count, GFLOP, est. ms, share, compute or memory bound. */
void sim_print_profile(FILE *out, const char *model, const SimProfile *s);

/* The modelled time of one op in ms; *comp and *mem get its compute and
 * memory times. */
double sim_op_ms(const SimParams *p, const OpCost *c, double *comp, double *mem);

/* A chain of n 1x1 convs of ch channels on h x w, fp16 or W8A8 (int8
 * weights, quantize + dequantize between convs), as the measurements of
 * data/ane_conv_chains.csv ran it; ops[] gets its 3n - 2 (W8A8) or n op
 * costs. Returns the number of ops. */
int sim_chain_ops(int n, int ch, int h, int w, bool int8, OpCost *ops);

/* Free parameters fitted per chip (the values sim_params uses); NULL for a
 * chip without measurements. */
typedef struct SimFit {
  const char *chip;
  double rate_tflops, op_us, eval_us;
} SimFit;
const SimFit *sim_fit_find(const char *chip);

#endif
