/* report.c - printing run results: a table for people, JSON and CSV for
 * scripts. The fields and their units are in docs/report-schema.md. */
#include "report.h"
#include "json.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void copy_str(char *dst, size_t size, const char *src) {
  snprintf(dst, size, "%s", src ? src : "");
}

void report_init(Report *r, const char *model, const char *backend, bool estimated) {
  memset(r, 0, sizeof *r);
  copy_str(r->model, sizeof r->model, model);
  copy_str(r->backend, sizeof r->backend, backend);
  r->estimated = estimated;
  r->ms_min = r->ms_median = r->ms_p90 = r->tflops = NAN;
  r->pct_peak = r->est_mhz = r->pct_int8 = NAN;
  r->dram_bytes = NAN;
  r->tol = NAN;
  copy_str(r->precision, sizeof r->precision, "fp16");
}

void report_set_times(Report *r, const Stats *s) {
  r->ms_min = s->min;
  r->ms_median = s->median;
  r->ms_p90 = s->p90;
  /* GFLOP per millisecond is TFLOP per second. */
  r->tflops = s->median > 0 ? r->gflop / s->median : NAN;
}

static bool measured_on_ane(const Report *r) {
  return !r->estimated && strcmp(r->backend, "ane") == 0;
}

void report_set_chip(Report *r, const Chip *c) {
  if (!c)
    return;
  copy_str(r->chip, sizeof r->chip, c->name);
  if (!measured_on_ane(r))
    return;
  r->pct_peak = chip_pct_peak(c, CHIP_FP16, r->tflops);
  if (strcmp(r->precision, "w8a8") == 0)
    r->pct_int8 = chip_pct_peak(c, CHIP_INT8, r->tflops);
  r->est_mhz = chip_est_mhz(c, r->tflops);
}

bool report_checks_ok(const Report *r) {
  for (int i = 0; i < r->nchecks; i++)
    if (!r->checks[i].ok)
      return false;
  return true;
}

static double weight_mb(const Report *r) { return (double)r->weight_bytes / (1024.0 * 1024.0); }

/* ---- table --------------------------------------------------------------- */

int report_name_width(const char *const *names, int n) {
  int w = 24;
  for (int i = 0; i < n; i++) {
    int len = names[i] ? (int)strlen(names[i]) : 0;
    if (len > w)
      w = len < 60 ? len : 60;
  }
  return w;
}

static void rule(FILE *out, int width) {
  for (int i = 0; i < width; i++)
    fputc('-', out);
  fputc('\n', out);
}

/* One right-aligned column of `width` characters after a space; "-" when
 * the value is unknown. Values below 0.1 keep 3 significant digits rather
 * than printing as 0.000, in fewer (2.8e-04) when 3 would not fit. */
static void put_num(FILE *out, int width, int prec, double v) {
  char buf[64];
  if (!isfinite(v))
    fprintf(out, " %*s", width, "-");
  else if (v != 0 && fabs(v) < 0.1 && snprintf(buf, sizeof buf, "%.3g", v) > width)
    fprintf(out, " %*.*e", width, width > 6 + (v < 0) ? width - 6 - (v < 0) : 0, v);
  else if (v != 0 && fabs(v) < 0.1)
    fprintf(out, " %*s", width, buf);
  else
    fprintf(out, " %*.*f", width, prec, v);
}

static void put_pct(FILE *out, double v) {
  if (isfinite(v))
    fprintf(out, " %6.1f%%", v);
  else
    fprintf(out, " %7s", "-");
}

static bool is_w8a8(const Report *r) { return strcmp(r->precision, "w8a8") == 0; }

/* How many times faster r is than its baseline. */
static double speedup(const Report *r, const Report *base) {
  if (!base || !(r->ms_median > 0) || !isfinite(base->ms_median))
    return NAN;
  return base->ms_median / r->ms_median;
}

void report_table_begin(FILE *out, ReportTable *t, const Report *first, int name_width,
                        bool ratio) {
  t->width = name_width;
  t->ratio = ratio;
  t->estimated = first->estimated;
  t->ane = measured_on_ane(first);
  int len = fprintf(out, "%-*s %-5s %7s %9s", t->width, "Model", "Prec", "W(MB)", "GFLOP");
  if (t->estimated)
    len += fprintf(out, " %9s %11s", "est. ms", "est. TFLOPS");
  else if (t->ane)
    len += fprintf(out, " %9s %9s %9s %7s %7s %7s %7s", "min ms", "med ms", "p90 ms", "TFLOPS",
                   "%fp16", "%int8", "Est.MHz");
  else
    len += fprintf(out, " %9s %9s %9s %9s", "min ms", "med ms", "p90 ms", "GFLOP/s");
  if (t->ratio)
    len += fprintf(out, " %8s", "speed-up");
  fputc('\n', out);
  rule(out, len);
}

void report_table_row(FILE *out, const ReportTable *t, const Report *r, const Report *base) {
  fprintf(out, "%-*.*s %-5s", t->width, t->width, r->model, r->precision);
  put_num(out, 7, 1, weight_mb(r));
  put_num(out, 8, 2, r->gflop);
  fputc(r->gflop_partial ? '+' : ' ', out);
  if (t->estimated) {
    put_num(out, 9, 3, r->ms_median);
    put_num(out, 11, 2, r->tflops);
  } else {
    put_num(out, 9, 3, r->ms_min);
    put_num(out, 9, 3, r->ms_median);
    put_num(out, 9, 3, r->ms_p90);
    if (t->ane) {
      put_num(out, 7, 2, r->tflops);
      put_pct(out, r->pct_peak);
      put_pct(out, r->pct_int8);
      put_num(out, 7, 0, r->est_mhz);
    } else {
      put_num(out, 9, 2, r->tflops * 1000);
    }
  }
  if (t->ratio) {
    double x = speedup(r, base);
    if (isfinite(x))
      fprintf(out, " %7.2fx", x);
    else
      fprintf(out, " %8s", "-");
  }
  fputc('\n', out);
}

static void table_checks(FILE *out, const Report *r) {
  if (r->nchecks == 0)
    return;
  fprintf(out, "check %s against cpu (tol %g on max abs err / max |ref|):\n", r->model, r->tol);
  for (int i = 0; i < r->nchecks; i++) {
    const CheckRow *c = &r->checks[i];
    fprintf(out, "  %-24s max abs %-10.4g max rel %-10.4g SNR %6.1f dB  %s\n", c->output,
            c->c.max_abs, c->c.max_rel, c->c.snr_db, c->ok ? "ok" : "FAIL");
  }
}

/* The speed-ups once more, one line per pair, with their geometric mean:
 * the answer to the seed's question whichever order the rows ran in. */
static void table_pairs(FILE *out, const Report *r, int n, const int *base) {
  double logsum = 0;
  int pairs = 0;
  for (int i = 0; i < n; i++) {
    double x = base && base[i] >= 0 ? speedup(&r[i], &r[base[i]]) : NAN;
    if (!isfinite(x) || base[i] == i)
      continue;
    if (pairs++ == 0)
      fputs("speed-up (baseline ms / ms):\n", out);
    fprintf(out, "  %-28s vs %-28s %6.2fx\n", r[i].model, r[base[i]].model, x);
    logsum += log(x);
  }
  if (pairs > 1)
    fprintf(out, "  geometric mean of %d pairs: %.2fx\n", pairs, exp(logsum / pairs));
}

void report_table_end(FILE *out, const ReportTable *t, const Report *r, int n, const int *base) {
  bool partial = false, w8a8 = false;
  for (int i = 0; i < n; i++) {
    partial |= r[i].gflop_partial;
    w8a8 |= is_w8a8(&r[i]);
  }
  if (partial)
    fputs("+ lower bound: ops with unknown shapes are not counted\n", out);
  if (w8a8)
    fprintf(out, "w8a8 rows count int8 operations: read GFLOP as GOP and %s\n",
            t->estimated || t->ane ? "TFLOPS as TOPS" : "GFLOP/s as GOP/s");
  if (n > 0 && t->estimated)
    fprintf(out, "est. = estimated by the sim cost model for %s; nothing was measured\n",
            r->chip[0] ? r->chip : "the default chip");
  else if (n > 0 && !t->ane)
    fputs("GFLOP/s = GFLOP / median ms, measured on this machine's CPU\n", out);
  table_pairs(out, r, n, base);
  for (int i = 0; i < n; i++)
    table_checks(out, &r[i]);
}

static void print_table(FILE *out, const Report *r, int n, const int *base) {
  const char **names = malloc((size_t)n * sizeof *names);
  for (int i = 0; names && i < n; i++)
    names[i] = r[i].model;
  ReportTable t;
  bool ratio = false;
  for (int i = 0; base && i < n; i++)
    ratio |= base[i] >= 0;
  report_table_begin(out, &t, r, report_name_width(names, names ? n : 0), ratio);
  free(names);
  for (int i = 0; i < n; i++)
    report_table_row(out, &t, &r[i], base && base[i] >= 0 ? &r[base[i]] : NULL);
  report_table_end(out, &t, r, n, base);
}

/* ---- baselines ----------------------------------------------------------- */

/* The tokens that name a model's number format in a sweep's point names. */
static const char *const format_tokens[] = {"fp16", "fp32", "w8a8", "int8", "w8", "w4"};

static bool word_char(char c) { return isalnum((unsigned char)c); }

/* Where a format token stands alone (between non-alphanumerics) in name,
 * and which one; NULL when none does. */
static const char *find_format(const char *name, size_t *len) {
  for (const char *p = name; *p; p++) {
    if (p > name && word_char(p[-1]))
      continue;
    for (size_t k = 0; k < sizeof format_tokens / sizeof *format_tokens; k++) {
      size_t n = strlen(format_tokens[k]);
      if (strncmp(p, format_tokens[k], n) == 0 && !word_char(p[n])) {
        *len = n;
        return p;
      }
    }
  }
  return NULL;
}

const char *report_config_key(const char *name, char *buf) {
  size_t len = 0;
  const char *f = find_format(name, &len);
  if (!f)
    return copy_str(buf, REPORT_NAME, name), buf;
  snprintf(buf, REPORT_NAME, "%.*s%s", (int)(f - name), name, f + len);
  return buf;
}

static bool is_fp16_name(const char *name) {
  size_t len = 0;
  const char *f = find_format(name, &len);
  return f && strncmp(f, "fp16", 4) == 0;
}

static int pair_by_format(const char *const *r, int n, int *base) {
  int found = 0;
  char ki[REPORT_NAME], kj[REPORT_NAME];
  for (int i = 0; i < n; i++) {
    base[i] = -1;
    size_t len;
    if (!find_format(r[i], &len) || is_fp16_name(r[i]))
      continue;
    report_config_key(r[i], ki);
    for (int j = 0; j < n && base[i] < 0; j++)
      if (j != i && is_fp16_name(r[j]) && strcmp(report_config_key(r[j], kj), ki) == 0)
        base[i] = j;
    found += base[i] >= 0;
  }
  return found;
}

int report_baselines(const char *const *r, int n, const char *sel, int *base) {
  if (!sel)
    return pair_by_format(r, n, base);
  int b = -1;
  for (int i = 0; i < n && b < 0 && strcmp(sel, "none") != 0; i++)
    if (strcmp(r[i], sel) == 0)
      b = i;
  for (int i = 0; i < n; i++)
    base[i] = b;
  if (b < 0 && strcmp(sel, "none") != 0)
    return -1;
  return b < 0 ? 0 : n;
}

/* ---- JSON ---------------------------------------------------------------- */


/* JSON has no NaN or infinity: those are null. */
static void json_num(FILE *out, double v) {
  if (isfinite(v))
    fprintf(out, "%.9g", v);
  else
    fputs("null", out);
}

static void json_key(FILE *out, const char *key, bool first) {
  fprintf(out, "%s\"%s\": ", first ? "" : ", ", key);
}

static void json_num_field(FILE *out, const char *key, double v) {
  json_key(out, key, false);
  json_num(out, v);
}

static void json_check(FILE *out, const CheckRow *c) {
  fputs("{\"output\": ", out);
  json_str(out, c->output);
  json_num_field(out, "max_abs_err", c->c.max_abs);
  json_num_field(out, "max_rel_err", c->c.max_rel);
  json_num_field(out, "snr_db", c->c.snr_db);
  json_num_field(out, "norm_err", c->c.norm);
  fprintf(out, ", \"ok\": %s}", c->ok ? "true" : "false");
}

static void json_checks(FILE *out, const Report *r, const char *nl) {
  if (r->nchecks == 0)
    return;
  fprintf(out, ",%s\"check\": {\"reference\": \"cpu\"", nl);
  json_num_field(out, "tol", r->tol);
  fputs(", \"outputs\": [", out);
  for (int i = 0; i < r->nchecks; i++) {
    fputs(i ? ", " : "", out);
    json_check(out, &r->checks[i]);
  }
  fputs("]}", out);
}

static void json_profile(FILE *out, const Report *r, const char *nl) {
  if (r->nops == 0)
    return;
  fprintf(out, ",%s\"profile\": [", nl);
  for (int i = 0; i < r->nops; i++) {
    fputs(i ? ", " : "", out);
    fputs("{\"op\": ", out);
    json_str(out, r->ops[i].op);
    fprintf(out, ", \"count\": %d", r->ops[i].count);
    json_num_field(out, "gflop", r->ops[i].gflop);
    json_num_field(out, "ms", r->ops[i].ms);
    fputs("}", out);
  }
  fputs("]", out);
}

/* An estimate ran nothing: no warm-up or iteration count to claim. */
static void json_count(FILE *out, const char *key, bool first, const Report *r, int v) {
  json_key(out, key, first);
  if (r->estimated)
    fputs("null", out);
  else
    fprintf(out, "%d", v);
}

/* The fields of r; nl separates the groups ("\n   " or " "). */
static void json_fields(FILE *out, const Report *r, const char *nl) {
  json_key(out, "model", true);
  json_str(out, r->model);
  json_key(out, "backend", false);
  json_str(out, r->backend);
  json_key(out, "chip", false);
  r->chip[0] ? json_str(out, r->chip) : (void)fputs("null", out);
  json_key(out, "precision", false);
  json_str(out, r->precision);
  fprintf(out, ", \"estimated\": %s,%s", r->estimated ? "true" : "false", nl);
  json_count(out, "warmup", true, r, r->warmup);
  json_count(out, "iters", false, r, r->iters);
  fprintf(out, ", \"weight_bytes\": %llu", (unsigned long long)r->weight_bytes);
  json_num_field(out, "weight_mb", weight_mb(r));
  json_num_field(out, "gflop", r->gflop);
  fprintf(out, ", \"gflop_partial\": %s,%s", r->gflop_partial ? "true" : "false", nl);
  json_key(out, "ms_min", true);
  json_num(out, r->ms_min);
  json_num_field(out, "ms_median", r->ms_median);
  json_num_field(out, "ms_p90", r->ms_p90);
  json_num_field(out, "tflops", r->tflops);
  json_num_field(out, "pct_peak", r->pct_peak);
  json_num_field(out, "pct_int8", r->pct_int8);
  json_num_field(out, "est_mhz", r->est_mhz);
  if (r->binding[0]) { /* how the ane backend bound inputs and outputs (docs/ane.md) */
    json_key(out, "binding", false);
    json_str(out, r->binding);
  }
  if (measured_on_ane(r)) { /* _ANEPerformanceStats' times; null when it gave none */
    json_num_field(out, "hw_ms_min", r->hw_ok ? r->hw_ms_min : NAN);
    json_num_field(out, "hw_ms_median", r->hw_ok ? r->hw_ms_median : NAN);
    json_num_field(out, "hw_ms_p90", r->hw_ok ? r->hw_ms_p90 : NAN);
  }
  json_num_field(out, "dram_bytes", r->dram_bytes);
  json_checks(out, r, nl);
  json_profile(out, r, nl);
}

static void json_row(FILE *out, const Report *r) {
  fputs("  {", out);
  json_fields(out, r, "\n   ");
  fputs("}", out);
}

void report_json_line(FILE *out, const Report *r) { json_fields(out, r, " "); }

static void print_json(FILE *out, const Report *r, int n) {
  fputs("[\n", out);
  for (int i = 0; i < n; i++) {
    json_row(out, &r[i]);
    fputs(i + 1 < n ? ",\n" : "\n", out);
  }
  fputs("]\n", out);
}

/* ---- CSV (RFC 4180) ------------------------------------------------------ */

static void csv_str(FILE *out, const char *s) {
  if (!strpbrk(s, ",\"\r\n")) {
    fputs(s, out);
    return;
  }
  fputc('"', out);
  for (; *s; s++) {
    if (*s == '"')
      fputc('"', out);
    fputc(*s, out);
  }
  fputc('"', out);
}

/* Unknown numbers are empty fields. */
static void csv_num(FILE *out, double v) {
  fputc(',', out);
  if (isfinite(v))
    fprintf(out, "%.9g", v);
}

static void csv_row(FILE *out, const Report *r) {
  csv_str(out, r->model);
  fputc(',', out);
  csv_str(out, r->backend);
  fputc(',', out);
  csv_str(out, r->chip);
  fprintf(out, ",%s,%s", r->precision, r->estimated ? "true" : "false");
  if (r->estimated)
    fputs(",,", out);   /* nothing ran: no counts */
  else
    fprintf(out, ",%d,%d", r->warmup, r->iters);
  fprintf(out, ",%llu", (unsigned long long)r->weight_bytes);
  csv_num(out, weight_mb(r));
  csv_num(out, r->gflop);
  fprintf(out, ",%s", r->gflop_partial ? "true" : "false");
  csv_num(out, r->ms_min);
  csv_num(out, r->ms_median);
  csv_num(out, r->ms_p90);
  csv_num(out, r->tflops);
  csv_num(out, r->pct_peak);
  csv_num(out, r->pct_int8);
  csv_num(out, r->est_mhz);
  fputc('\n', out);
}

static void print_csv(FILE *out, const Report *r, int n) {
  fputs("model,backend,chip,precision,estimated,warmup,iters,weight_bytes,weight_mb,gflop,"
        "gflop_partial,ms_min,ms_median,ms_p90,tflops,pct_peak,pct_int8,est_mhz\n",
        out);
  for (int i = 0; i < n; i++)
    csv_row(out, &r[i]);
}

void report_print(FILE *out, ReportFormat fmt, const Report *r, int n, const int *base) {
  if (fmt == REPORT_JSON)
    print_json(out, r, n);
  else if (fmt == REPORT_CSV)
    print_csv(out, r, n);
  else if (n > 0)
    print_table(out, r, n, base);
}
