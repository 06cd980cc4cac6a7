/* sim.c - the sim backend: a roofline cost model per chip, evaluated once
 * at open; eval() hands back the modelled time. It computes no outputs.
 *
 * Assumptions (docs/report-schema.md): the compute peak is the chip's
 * measured fp16 conv-chain rate from chip.h; W8A8 layers run faster by the
 * measured int8/fp16 ratio; weights and the function's inputs and outputs
 * cross DRAM at the SoC's published bandwidth while intermediate tensors
 * stay in the ANE's on-chip memory (optimistic for tensors too large for
 * it); a fixed cost per op and per evaluation stands for dispatch. */
#include "sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend.h"
#include "flops.h"

enum { SIM_DEFAULT_BW = 100 };

/* A fixed cost per op: what the seed's 128-conv chains leave over their
 * compute time, about 1-2 us per conv; per evaluation: the request
 * dispatch, 70-190 us in the direct-API projects (ANE_NOTES 3.5). */
static const double sim_op_us = 1.0, sim_eval_us = 100.0;

typedef struct Bandwidth {
  const char *chip;
  double gbs;
} Bandwidth;

/* Apple's published unified-memory bandwidth for the base M chips. */
static const Bandwidth bandwidths[] = {
    {"M1", 68.25}, {"M2", 100}, {"M3", 100}, {"M4", 120}, {"M5", 153},
};

static double published_bw(const char *chip) {
  for (size_t i = 0; i < sizeof bandwidths / sizeof bandwidths[0]; i++)
    if (chip && strcasecmp(chip, bandwidths[i].chip) == 0)
      return bandwidths[i].gbs;
  return 0;
}

int sim_params(const char *name, SimParams *p, Diag *d) {
  memset(p, 0, sizeof *p);
  if (!name)
    name = SIM_DEFAULT_CHIP;
  p->chip = chip_find(name);
  if (!p->chip) {
    diag_file_error(d, "anerun", "unknown chip '%s' (anerun --list-chips shows the known ones)", name);
    return -1;
  }
  p->peak_tflops = p->chip->fp16_peak_tflops;
  if (!(p->peak_tflops > 0)) {
    diag_file_error(d, "anerun",
                    "chip %s has no measured fp16 peak, so the sim backend cannot model it; "
                    "try --chip M4 or M5",
                    p->chip->name);
    return -1;
  }
  double i8 = p->chip->int8_peak_tops;
  p->int8_factor = i8 > 0 ? i8 / p->peak_tflops : 1;
  p->bw_gbs = published_bw(p->chip->name);
  p->bw_published = p->bw_gbs > 0;
  if (!p->bw_published)
    p->bw_gbs = SIM_DEFAULT_BW;
  p->op_us = sim_op_us;
  p->eval_us = sim_eval_us;
  return 0;
}

/* ---- the profile --------------------------------------------------------- */

static bool gemm_like(FlopsClass c) {
  return c == FLOPS_CONV || c == FLOPS_CONVT || c == FLOPS_MATMUL || c == FLOPS_LINEAR;
}

static void op_time(const SimParams *p, const OpCost *c, SimRow *r) {
  double rate = p->peak_tflops * (c->int8_act && gemm_like(c->cls) ? p->int8_factor : 1);
  double comp = c->flops / (rate * 1e12) * 1e3;
  double mem = (c->io_bytes + c->weight_bytes) / (p->bw_gbs * 1e9) * 1e3;
  r->count++;
  r->unknown += !c->known;
  r->gflop += c->flops / 1e9;
  r->compute_ms += comp;
  r->memory_ms += mem;
  r->ms += fmax(comp, mem) + p->op_us / 1e3;
}

static SimRow *row_for(SimProfile *s, const char *op) {
  for (int i = 0; i < s->nrows; i++)
    if (strcmp(s->rows[i].op, op) == 0)
      return &s->rows[i];
  SimRow *r = &s->rows[s->nrows++];
  r->op = op;
  return r;
}

int sim_profile(const MilFunc *f, const SimParams *p, SimProfile *s, Diag *d) {
  memset(s, 0, sizeof *s);
  s->p = *p;
  FlopsIndex *ix = flops_index(f);
  s->rows = calloc((size_t)f->nops + 1, sizeof *s->rows);
  if (!ix || !s->rows) {
    flops_index_free(ix);
    sim_profile_free(s);
    diag_file_error(d, "anerun", "out of memory modelling %d ops", f->nops);
    return -1;
  }
  for (int i = 0; i < f->nops; i++) {
    OpCost c;
    flops_op(ix, i, &c);
    if (c.cls == FLOPS_CONST)
      s->nconst++;
    else
      op_time(p, &c, row_for(s, f->ops[i].op));
  }
  flops_index_free(ix);
  s->total_ms = p->eval_us / 1e3;
  for (int i = 0; i < s->nrows; i++)
    s->total_ms += s->rows[i].ms;
  return 0;
}

void sim_profile_free(SimProfile *s) {
  free(s->rows);
  s->rows = NULL;
  s->nrows = 0;
}

static void print_params(FILE *out, const SimParams *p) {
  fprintf(out, "  chip %s: fp16 peak %.2f TFLOPS (measured), int8 rate x%.2f%s, memory %.2f GB/s (%s),\n",
          p->chip->name, p->peak_tflops, p->int8_factor,
          p->chip->int8_peak_tops > 0 ? " (measured)" : " (no int8 measurement: assumed 1)",
          p->bw_gbs, p->bw_published ? "published SoC figure" : "assumed default");
  fprintf(out, "  %.1f us per op, %.0f us per evaluation\n", p->op_us, p->eval_us);
}

static void print_row(FILE *out, const SimRow *r, double total) {
  fprintf(out, "  %-32s %6d %10.4f %10.4f %6.1f%% %s%s\n", r->op, r->count, r->gflop, r->ms,
          total > 0 ? r->ms / total * 100 : 0.0, r->compute_ms >= r->memory_ms ? "Comp" : "Mem",
          r->unknown ? " (shapes unknown)" : "");
}

void sim_print_profile(FILE *out, const char *model, const SimProfile *s) {
  fprintf(out, "sim cost model for %s (ESTIMATES, not measurements)\n", model);
  print_params(out, &s->p);
  fprintf(out, "  %-32s %6s %10s %10s %7s %s\n", "Op type", "Count", "GFLOP", "est. ms", "Share",
          "Bound");
  for (int i = 0; i < s->nrows; i++)
    print_row(out, &s->rows[i], s->total_ms);
  fprintf(out, "  %-32s %6s %10s %10.4f %6.1f%%\n", "(evaluation dispatch)", "", "",
          s->p.eval_us / 1e3, s->total_ms > 0 ? s->p.eval_us / 1e3 / s->total_ms * 100 : 0.0);
  fprintf(out, "  est. total %.4f ms; %d const ops folded at compile time\n\n", s->total_ms,
          s->nconst);
}

/* ---- the backend --------------------------------------------------------- */

typedef struct SimState {
  const MilFunc *fn;
  double ms;
} SimState;

static int sim_open(const Model *m, const BackendOpts *o, void **state, Diag *d) {
  SimParams p;
  SimProfile s;
  if (sim_params(o ? o->chip : NULL, &p, d) < 0 || sim_profile(m->fn, &p, &s, d) < 0)
    return -1;
  SimState *st = malloc(sizeof *st);
  if (!st) {
    sim_profile_free(&s);
    diag_file_error(d, "anerun", "out of memory");
    return -1;
  }
  st->fn = m->fn;
  st->ms = s.total_ms;
  sim_profile_free(&s);
  *state = st;
  return 0;
}

static int sim_set_input(void *state, int i, const Tensor *t, Diag *d) {
  SimState *st = state;
  if (i < 0 || i >= st->fn->ninputs) {
    diag_file_error(d, "anerun", "sim: no input %d", i);
    return -1;
  }
  return 0;
}

static int sim_eval(void *state, double *ms, Diag *d) {
  *ms = ((SimState *)state)->ms;
  return 0;
}

static int sim_get_output(void *state, int i, Tensor *t, Diag *d) {
  diag_file_error(d, "anerun", "the sim backend models time only and computes no outputs");
  return -1;
}

static void sim_close(void *state) { free(state); }

const Backend sim_backend = {
    .name = "sim",
    .estimated = true,
    .open = sim_open,
    .set_input = sim_set_input,
    .eval = sim_eval,
    .get_output = sim_get_output,
    .close = sim_close,
};
