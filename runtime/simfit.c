/* simfit.c - the sim model's fit to published measurements.
 *
 * The measured chains are compute bound (their weights stream in well under
 * their compute time), so the model is linear in its free parameters:
 *     ms = G / rate + ops * op_us / 1000 + eval_us / 1000
 * with G the chain's GFLOP, each W8A8 conv's counted at half (twice the
 * rate). Rows are weighted by 1 / ms so that every row's relative error
 * counts alike. Predictions then go through the full model (sim_op_ms), so
 * a row where memory would bind is predicted as the sim would. */
#include "simfit.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { MAX_CSV = 1 << 20, NFIELDS = 8 };

/* ---- loading ------------------------------------------------------------- */

typedef struct Field {
  const char *s;
  size_t n;
} Field;

static int bad(Diag *d, const Src *src, size_t at, size_t end, const char *what) {
  diag_error(d, src, (Loc){at, end > at ? end : at + 1}, "%s", what);
  return -1;
}

static int parse_int(const Field *f, int lo, int hi, int *out) {
  char buf[32], *end;
  if (f->n == 0 || f->n >= sizeof buf)
    return -1;
  memcpy(buf, f->s, f->n);
  buf[f->n] = '\0';
  errno = 0;
  long v = strtol(buf, &end, 10);
  if (*end || errno || v < lo || v > hi)
    return -1;
  *out = (int)v;
  return 0;
}

static int parse_ms(const Field *f, double *out) {
  char buf[32], *end;
  if (f->n == 0 || f->n >= sizeof buf)
    return -1;
  memcpy(buf, f->s, f->n);
  buf[f->n] = '\0';
  errno = 0;
  double v = strtod(buf, &end);
  if (*end || errno || !isfinite(v) || v <= 0 || v > 1e7)
    return -1;
  *out = v;
  return 0;
}

/* Splits a line into 8 fields; the last (the source) keeps its commas. */
static int split(const char *s, size_t n, Field *f) {
  int k = 0;
  size_t start = 0;
  for (size_t i = 0; i <= n && k < NFIELDS - 1; i++)
    if (i == n || s[i] == ',') {
      f[k++] = (Field){s + start, i - start};
      start = i + 1;
    }
  if (k < NFIELDS - 1 || start > n)
    return -1;
  f[k] = (Field){s + start, n - start};
  return 0;
}

static int parse_row(const Src *src, size_t bol, size_t eol, int line, SimMeas *m, Diag *d) {
  Field f[NFIELDS];
  const char *s = src->text + bol;
  if (split(s, eol - bol, f) < 0)
    return bad(d, src, bol, eol, "expected 8 comma-separated fields: chip, precision, convs, "
               "channels, height, width, ms, source");
  size_t at[NFIELDS];
  for (int i = 0; i < NFIELDS; i++)
    at[i] = (size_t)(f[i].s - src->text);
  memset(m, 0, sizeof *m);
  m->line = line;
  if (f[0].n == 0 || f[0].n >= sizeof m->chip)
    return bad(d, src, at[0], at[0] + f[0].n, "chip name empty or longer than 15 characters");
  memcpy(m->chip, f[0].s, f[0].n);
  if (f[1].n == 4 && strncmp(f[1].s, "fp16", 4) == 0)
    m->int8 = false;
  else if (f[1].n == 4 && strncmp(f[1].s, "int8", 4) == 0)
    m->int8 = true;
  else
    return bad(d, src, at[1], at[1] + f[1].n, "precision must be fp16 or int8");
  int *ints[4] = {&m->convs, &m->ch, &m->h, &m->w};
  int hi[4] = {SIMFIT_MAX_CONVS, 65536, 65536, 65536};
  for (int i = 0; i < 4; i++)
    if (parse_int(&f[2 + i], 1, hi[i], ints[i]) < 0)
      return bad(d, src, at[2 + i], at[2 + i] + f[2 + i].n,
                 "convs, channels, height and width must be positive integers (at most 65536)");
  if (parse_ms(&f[6], &m->ms) < 0)
    return bad(d, src, at[6], at[6] + f[6].n, "ms must be a positive number");
  if (f[7].n == 0)
    return bad(d, src, at[7], at[7] + 1, "every row needs its source");
  return 0;
}

static bool skip_line(const char *s, size_t n, bool *header_seen) {
  if (n == 0 || s[0] == '#')
    return true;
  if (!*header_seen && n >= 5 && strncmp(s, "chip,", 5) == 0)
    return (*header_seen = true);
  return false;
}

int simfit_parse(const Src *src, SimData *data, Diag *d) {
  memset(data, 0, sizeof *data);
  data->rows = calloc(SIMFIT_MAX_ROWS, sizeof *data->rows);
  int rc = data->rows ? 0 : -1;
  bool header = false;
  size_t bol = 0;
  for (int line = 1; rc == 0 && bol < src->len; line++) {
    size_t eol = bol;
    while (eol < src->len && src->text[eol] != '\n')
      eol++;
    size_t end = eol > bol && src->text[eol - 1] == '\r' ? eol - 1 : eol;
    if (!skip_line(src->text + bol, end - bol, &header)) {
      if (data->n == SIMFIT_MAX_ROWS)
        rc = bad(d, src, bol, end, "too many rows");
      else
        rc = parse_row(src, bol, end, line, &data->rows[data->n++], d);
    }
    bol = eol + 1;
  }
  if (rc == 0 && data->n == 0)
    rc = (diag_file_error(d, src->name, "no measurements"), -1);
  if (rc != 0)
    simfit_free(data);
  return rc;
}

int simfit_load(const char *path, SimData *data, Diag *d) {
  Src src;
  memset(data, 0, sizeof *data);
  if (src_read_file(&src, path, MAX_CSV, d) != 0)
    return -1;
  int rc = simfit_parse(&src, data, d);
  src_free(&src);
  return rc;
}

void simfit_free(SimData *data) {
  free(data->rows);
  data->rows = NULL;
  data->n = 0;
}

/* ---- the fit ------------------------------------------------------------- */

/* The chain's GFLOP at the fp16 rate (W8A8 convs at half) and op count. */
static void features(const SimMeas *m, double *g, double *nops) {
  OpCost *ops = malloc(3 * (size_t)m->convs * sizeof *ops);
  *g = *nops = 0;
  if (!ops)
    return;
  int n = sim_chain_ops(m->convs, m->ch, m->h, m->w, m->int8, ops);
  for (int i = 0; i < n; i++)
    *g += ops[i].flops / 1e9 / (ops[i].int8_act ? 2 : 1);
  *nops = n;
  free(ops);
}

/* Solves the 3x3 system a x = b by Gaussian elimination with pivoting. */
static int solve3(double a[3][3], double b[3], double x[3]) {
  for (int c = 0; c < 3; c++) {
    int p = c;
    for (int r = c + 1; r < 3; r++)
      if (fabs(a[r][c]) > fabs(a[p][c]))
        p = r;
    if (fabs(a[p][c]) < 1e-300)
      return -1;
    for (int k = 0; k < 3; k++) {
      double t = a[c][k];
      a[c][k] = a[p][k];
      a[p][k] = t;
    }
    double t = b[c];
    b[c] = b[p];
    b[p] = t;
    for (int r = c + 1; r < 3; r++) {
      double f = a[r][c] / a[c][c];
      for (int k = c; k < 3; k++)
        a[r][k] -= f * a[c][k];
      b[r] -= f * b[c];
    }
  }
  for (int c = 2; c >= 0; c--) {
    double s = b[c];
    for (int k = c + 1; k < 3; k++)
      s -= a[c][k] * x[k];
    x[c] = s / a[c][c];
  }
  return 0;
}

static bool uses(const SimData *data, int i, const char *chip, int skip) {
  return i != skip && strcasecmp(data->rows[i].chip, chip) == 0;
}

/* Three parameters: needs 4 rows (so that one can be left out) with at
 * least 3 distinct (GFLOP, ops) points. */
static int fit3(const SimData *data, const char *chip, int skip, SimFit *out) {
  double a[3][3] = {{0}}, b[3] = {0}, x[3];
  int n = 0;
  for (int i = 0; i < data->n; i++) {
    if (!uses(data, i, chip, skip))
      continue;
    double g, k, w = 1 / data->rows[i].ms;
    features(&data->rows[i], &g, &k);
    double f[3] = {g * w, k * w, w}, y = data->rows[i].ms * w;
    for (int r = 0; r < 3; r++) {
      for (int c = 0; c < 3; c++)
        a[r][c] += f[r] * f[c];
      b[r] += f[r] * y;
    }
    n++;
  }
  if (n < 4 || solve3(a, b, x) < 0 || !(x[0] > 0))
    return -1;
  *out = (SimFit){chip, 1 / x[0], x[1] * 1e3, x[2] * 1e3};
  return 0;
}

static int fit1(const SimData *data, const char *chip, int skip, const SimFit *base, SimFit *out) {
  double num = 0, den = 0;
  for (int i = 0; i < data->n && base; i++) {
    if (!uses(data, i, chip, skip))
      continue;
    double g, k, w = 1 / data->rows[i].ms;
    features(&data->rows[i], &g, &k);
    double rest = data->rows[i].ms - k * base->op_us / 1e3 - base->eval_us / 1e3;
    num += g * w * rest * w;
    den += g * w * g * w;
  }
  if (!(den > 0) || !(num > 0))
    return -1;
  *out = (SimFit){chip, den / num, base->op_us, base->eval_us};
  return 0;
}

int simfit_fit(const SimData *data, const char *chip, int skip, const SimFit *base, SimFit *out) {
  return fit3(data, chip, skip, out) == 0 ? 0 : fit1(data, chip, skip, base, out);
}

double simfit_predict(const SimFit *fit, const SimMeas *m) {
  SimParams p;
  Diag quiet = {NULL, 0};
  FILE *null = fopen("/dev/null", "w");
  quiet.out = null ? null : stderr;
  int rc = sim_params(m->chip, &p, &quiet);
  if (null)
    fclose(null);
  OpCost *ops = malloc(3 * (size_t)m->convs * sizeof *ops);
  if (rc < 0 || !ops) {
    free(ops);
    return NAN;
  }
  p.peak_tflops = fit->rate_tflops;
  p.op_us = fit->op_us;
  p.eval_us = fit->eval_us;
  int n = sim_chain_ops(m->convs, m->ch, m->h, m->w, m->int8, ops);
  double ms = p.eval_us / 1e3, comp, mem;
  for (int i = 0; i < n; i++)
    ms += sim_op_ms(&p, &ops[i], &comp, &mem);
  free(ops);
  return ms;
}

/* ---- anerun --sim-validate ----------------------------------------------- */

static double mac_peak(const char *chip) {
  const Chip *c = chip_find(chip);
  return chip_peak_tops(c, CHIP_FP16);
}

static void print_fit(FILE *out, const SimFit *f, int n, bool three) {
  double peak = mac_peak(f->chip);
  fprintf(out, "%s: %d rows; rate %.3f TFLOPS", f->chip, n, f->rate_tflops);
  if (peak > 0)
    fprintf(out, " (%.1f %% of 16 x 2048 MACs at its clock)", f->rate_tflops / peak * 100);
  fprintf(out, ", %.2f us per op, %.1f us per evaluation%s\n", f->op_us, f->eval_us,
          three ? "" : " (the M5's: too few rows for three parameters)");
}

/* Every row of chip left out in turn: refit, predict it. */
static void print_loo(FILE *out, const SimData *data, const char *chip, const SimFit *base) {
  double sum = 0, worst = 0;
  int n = 0;
  for (int i = 0; i < data->n; i++) {
    SimFit f;
    const SimMeas *m = &data->rows[i];
    if (!uses(data, i, chip, -1) || simfit_fit(data, chip, i, base, &f) < 0)
      continue;
    double pred = simfit_predict(&f, m), err = (pred - m->ms) / m->ms * 100;
    fprintf(out, "  line %3d  %s %4d x conv %5dch %4dx%-4d  measured %8.3f ms  est. %8.3f ms  %+6.1f %%\n",
            m->line, m->int8 ? "int8" : "fp16", m->convs, m->ch, m->h, m->w, m->ms, pred, err);
    sum += fabs(err);
    worst = fmax(worst, fabs(err));
    n++;
  }
  if (n)
    fprintf(out, "  leave-one-out |error|: mean %.1f %%, max %.1f %% over %d rows\n", sum / n,
            worst, n);
  else
    fputs("  leave-one-out: no row can be predicted from the others\n", out);
}

int simfit_validate(FILE *out, const char *path, Diag *d) {
  SimData data;
  if (simfit_load(path, &data, d) < 0)
    return 1;
  fprintf(out, "sim cost model fit to %s (estimates checked against measurements)\n", path);
  SimFit base, f;
  bool have_base = simfit_fit(&data, "M5", -1, NULL, &base) == 0;
  const char *done[SIMFIT_MAX_ROWS];
  int ndone = 0;
  for (int i = 0; i < data.n; i++) {
    const char *chip = data.rows[i].chip;
    bool seen = false;
    for (int k = 0; k < ndone; k++)
      seen |= strcasecmp(done[k], chip) == 0;
    if (seen)
      continue;
    done[ndone++] = chip;
    int n = 0;
    for (int k = 0; k < data.n; k++)
      n += uses(&data, k, chip, -1);
    if (!chip_find(chip)) {
      fprintf(out, "%s: not in the chip table; %d rows skipped\n", chip, n);
      continue;
    }
    bool three = fit3(&data, chip, -1, &f) == 0;
    if (!three && fit1(&data, chip, -1, have_base ? &base : NULL, &f) < 0) {
      fprintf(out, "%s: %d rows, nothing to fit\n", chip, n);
      continue;
    }
    print_fit(out, &f, n, three);
    print_loo(out, &data, chip, have_base ? &base : NULL);
  }
  simfit_free(&data);
  return 0;
}
