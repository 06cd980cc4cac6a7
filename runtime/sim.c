/* sim.c - the sim backend: a roofline cost model per chip, evaluated once
 * at open; eval() hands back the modelled time. It computes no outputs.
 *
 * The model and where it is known to be wrong: docs/cost-model.md. Compute
 * runs at the chip's fitted fp16 rate, W8A8 layers at twice it (twice the
 * MACs per cycle); weights and the function's inputs and outputs cross DRAM
 * at the SoC's published bandwidth, other activations only when they exceed
 * the chip's on-chip memory (target.c's row; unknown: never); a fitted cost
 * per op and per evaluation stands for dispatch. */
#include "sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend.h"
#include "target.h"

enum { SIM_DEFAULT_BW = 100 };

/* W8A8 rate over fp16: 512 int8 vs 256 fp16 MACs per NE per cycle (751K
 * M6 study; the seed gist's "INT8 peak (if native)" is the same 2x). The
 * measured ratio is 1.85-1.95 (ANE_NOTES 3.6): the model is ~5 % fast on
 * W8A8 chains. */
static const double sim_int8_factor = 2.0;

/* What anerun --sim-validate data/ane_conv_chains.csv fits (rate in TFLOPS,
 * per-op and per-evaluation cost in us); tests/test_sim.c refits and checks
 * these. M4 and M5 Max have two rows each, too few for three parameters: only
 * the rate is fitted, the op and evaluation costs are the M5's. */
static const SimFit fits[] = {
    {"M5", 18.288, 0.39, 196.2},
    {"M4", 18.749, 0.39, 196.2},
    {"M5 Max", 19.247, 0.39, 196.2},
};

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

const SimFit *sim_fit_find(const char *chip) {
  for (size_t i = 0; i < sizeof fits / sizeof fits[0]; i++)
    if (chip && strcasecmp(chip, fits[i].chip) == 0)
      return &fits[i];
  return NULL;
}

/* The chip's on-chip activation budget from the target table; 0 unknown. */
static double sram_bytes(const char *chip) {
  Target t;
  char err[8];
  if (target_parse(chip, &t, err, sizeof err) != 0 || !t.tc || isnan(t.tc->sram_mib))
    return 0;
  return t.tc->sram_mib * 1048576;
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
  const SimFit *fit = sim_fit_find(p->chip->name);
  const SimFit *m5 = sim_fit_find("M5");
  /* Without a fit, the measured peak with the M5's overheads. */
  p->fitted = fit != NULL;
  p->peak_tflops = fit ? fit->rate_tflops : p->chip->fp16_peak_tflops;
  if (!(p->peak_tflops > 0)) {
    diag_file_error(d, "anerun",
                    "chip %s has no measured fp16 peak, so the sim backend cannot model it; "
                    "try --chip M4 or M5",
                    p->chip->name);
    return -1;
  }
  p->int8_factor = sim_int8_factor;
  p->bw_gbs = published_bw(p->chip->name);
  p->bw_published = p->bw_gbs > 0;
  if (!p->bw_published)
    p->bw_gbs = SIM_DEFAULT_BW;
  p->op_us = fit ? fit->op_us : m5->op_us;
  p->eval_us = fit ? fit->eval_us : m5->eval_us;
  p->sram_bytes = sram_bytes(p->chip->name);
  return 0;
}

/* ---- the profile --------------------------------------------------------- */

static bool gemm_like(FlopsClass c) {
  return c == FLOPS_CONV || c == FLOPS_CONVT || c == FLOPS_MATMUL || c == FLOPS_LINEAR;
}

double sim_op_ms(const SimParams *p, const OpCost *c, double *comp, double *mem) {
  double rate = p->peak_tflops * (c->int8_act && gemm_like(c->cls) ? p->int8_factor : 1);
  double inner = c->act_bytes - c->io_bytes;   /* activations not crossing the function */
  double spill = p->sram_bytes > 0 && inner > p->sram_bytes ? inner : 0;
  *comp = c->flops / (rate * 1e12) * 1e3;
  *mem = (c->io_bytes + c->weight_bytes + spill) / (p->bw_gbs * 1e9) * 1e3;
  return fmax(*comp, *mem) + p->op_us / 1e3;
}

static void op_time(const SimParams *p, const OpCost *c, SimRow *r) {
  double comp, mem;
  r->ms += sim_op_ms(p, c, &comp, &mem);
  r->count++;
  r->unknown += !c->known;
  r->gflop += c->flops / 1e9;
  r->compute_ms += comp;
  r->memory_ms += mem;
}

/* One op of a measured chain: bytes are fp16 activations unless int8. */
static OpCost chain_op(FlopsClass cls, double flops, double in_b, double out_b, double w_b,
                       double io_b, bool int8) {
  OpCost c = {.cls = cls, .flops = flops, .act_bytes = in_b + out_b, .io_bytes = io_b,
              .weight_bytes = w_b, .known = true, .int8_act = int8};
  return c;
}

int sim_chain_ops(int n, int ch, int h, int w, bool int8, OpCost *ops) {
  double s = (double)h * w, act = (double)ch * s, wt = (double)ch * ch * (int8 ? 1 : 2);
  int k = 0;
  for (int i = 0; i < n; i++) {
    double io = (i == 0 ? 2 * act : 0) + (i == n - 1 ? 2 * act : 0);
    /* The first conv reads the fp16 input, not a dequantize: fp16 rate. */
    ops[k++] = chain_op(FLOPS_CONV, 2 * act * ch, 2 * act, 2 * act, wt, io, int8 && i > 0);
    if (int8 && i < n - 1) {
      ops[k++] = chain_op(FLOPS_ELEM, act, 2 * act, act, 0, 0, false);   /* quantize */
      ops[k++] = chain_op(FLOPS_ELEM, act, act, 2 * act, 0, 0, false);   /* dequantize */
    }
  }
  return k;
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
  fprintf(out, "  chip %s: fp16 rate %.2f TFLOPS (%s), W8A8 x%.0f, memory %.2f GB/s (%s),\n",
          p->chip->name, p->peak_tflops,
          p->fitted ? "fitted to measurements" : "measured peak, not fitted", p->int8_factor,
          p->bw_gbs, p->bw_published ? "published SoC figure" : "assumed default");
  fprintf(out, "  %.1f us per op, %.0f us per evaluation%s", p->op_us, p->eval_us,
          p->fitted ? " (fitted)" : " (the M5's fit)");
  if (p->sram_bytes > 0)
    fprintf(out, ", activations over %.0f MiB spill to DRAM", p->sram_bytes / 1048576);
  fputc('\n', out);
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
