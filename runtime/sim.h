/* sim.h - the sim backend's cost model (docs/report-schema.md, "The sim
 * cost model").
 *
 * Each op that runs (const and constexpr ops are folded at compile time and
 * cost nothing) takes
 *     max(flops / (peak * rate), dram_bytes / bandwidth) + op_us
 * where rate is the chip's measured int8/fp16 ratio for a conv, matmul or
 * linear whose x comes from a dequantize (W8A8), else 1, and dram_bytes
 * counts the stored weights it reads and the function inputs and outputs
 * it touches (intermediates are assumed to stay on chip); an evaluation
 * adds eval_us once. Every number it produces is an estimate. */
#ifndef ANET_SIM_H
#define ANET_SIM_H

#include <stdbool.h>
#include <stdio.h>

#include "chip.h"
#include "diag.h"
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

#endif
