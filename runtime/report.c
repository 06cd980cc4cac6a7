/* report.c - printing run results: a table for people, JSON and CSV for
 * scripts. The fields and their units are in docs/report-schema.md. */
#include "report.h"

#include <math.h>
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
  r->pct_peak = r->est_mhz = NAN;
  r->tol = NAN;
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

static int name_width(const Report *r, int n) {
  int w = 28;
  for (int i = 0; i < n; i++) {
    int len = (int)strlen(r[i].model);
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
 * than printing as 0.000. */
static void put_num(FILE *out, int width, int prec, double v) {
  if (!isfinite(v))
    fprintf(out, " %*s", width, "-");
  else if (v != 0 && fabs(v) < 0.1)
    fprintf(out, " %*.3g", width, v);
  else
    fprintf(out, " %*.*f", width, prec, v);
}

static void put_pct(FILE *out, double v) {
  if (isfinite(v))
    fprintf(out, " %5.1f%%", v);
  else
    fprintf(out, " %6s", "-");
}

static void table_header(FILE *out, const Report *r, int w) {
  int len = fprintf(out, "%-*s %8s %10s", w, "Model", "W(MB)", "GFLOP");
  if (r->estimated)
    len += fprintf(out, " %10s %11s", "est. ms", "est. TFLOPS");
  else if (measured_on_ane(r))
    len += fprintf(out, " %10s %10s %10s %8s %6s %8s", "min ms", "med ms", "p90 ms", "TFLOPS",
                   "%peak", "Est.MHz");
  else
    len += fprintf(out, " %10s %10s %10s %10s", "min ms", "med ms", "p90 ms", "GFLOP/s");
  fputc('\n', out);
  rule(out, len);
}

static void table_row(FILE *out, const Report *r, int w) {
  fprintf(out, "%-*.*s", w, w, r->model);
  put_num(out, 8, 1, weight_mb(r));
  put_num(out, 9, 3, r->gflop);
  fputc(r->gflop_partial ? '+' : ' ', out);
  if (r->estimated) {
    put_num(out, 10, 3, r->ms_median);
    put_num(out, 11, 2, r->tflops);
  } else {
    put_num(out, 10, 3, r->ms_min);
    put_num(out, 10, 3, r->ms_median);
    put_num(out, 10, 3, r->ms_p90);
    if (measured_on_ane(r)) {
      put_num(out, 8, 2, r->tflops);
      put_pct(out, r->pct_peak);
      put_num(out, 8, 0, r->est_mhz);
    } else {
      put_num(out, 10, 2, r->tflops * 1000);
    }
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

static void table_notes(FILE *out, const Report *r, int n) {
  bool partial = false;
  for (int i = 0; i < n; i++)
    partial |= r[i].gflop_partial;
  if (partial)
    fputs("+ lower bound: ops with unknown shapes are not counted\n", out);
  if (r->estimated)
    fprintf(out, "est. = estimated by the sim cost model for %s; nothing was measured\n",
            r->chip[0] ? r->chip : "the default chip");
  else if (!measured_on_ane(r))
    fputs("GFLOP/s = GFLOP / median ms, measured on this machine's CPU\n", out);
}

static void print_table(FILE *out, const Report *r, int n) {
  int w = name_width(r, n);
  table_header(out, r, w);
  for (int i = 0; i < n; i++)
    table_row(out, &r[i], w);
  table_notes(out, r, n);
  for (int i = 0; i < n; i++)
    table_checks(out, &r[i]);
}

/* ---- JSON ---------------------------------------------------------------- */

static void json_str(FILE *out, const char *s) {
  fputc('"', out);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      fprintf(out, "\\%c", *p);
    else if (*p < 0x20)
      fprintf(out, "\\u%04x", *p);
    else
      fputc(*p, out);
  }
  fputc('"', out);
}

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

static void json_checks(FILE *out, const Report *r) {
  if (r->nchecks == 0)
    return;
  fputs(",\n   \"check\": {\"reference\": \"cpu\"", out);
  json_num_field(out, "tol", r->tol);
  fputs(", \"outputs\": [", out);
  for (int i = 0; i < r->nchecks; i++) {
    fputs(i ? ", " : "", out);
    json_check(out, &r->checks[i]);
  }
  fputs("]}", out);
}

static void json_row(FILE *out, const Report *r) {
  fputs("  {", out);
  json_key(out, "model", true);
  json_str(out, r->model);
  json_key(out, "backend", false);
  json_str(out, r->backend);
  json_key(out, "chip", false);
  r->chip[0] ? json_str(out, r->chip) : (void)fputs("null", out);
  fprintf(out, ", \"estimated\": %s,\n   \"warmup\": %d, \"iters\": %d",
          r->estimated ? "true" : "false", r->warmup, r->iters);
  fprintf(out, ", \"weight_bytes\": %llu", (unsigned long long)r->weight_bytes);
  json_num_field(out, "weight_mb", weight_mb(r));
  json_num_field(out, "gflop", r->gflop);
  fprintf(out, ", \"gflop_partial\": %s,\n   ", r->gflop_partial ? "true" : "false");
  json_key(out, "ms_min", true);
  json_num(out, r->ms_min);
  json_num_field(out, "ms_median", r->ms_median);
  json_num_field(out, "ms_p90", r->ms_p90);
  json_num_field(out, "tflops", r->tflops);
  json_num_field(out, "pct_peak", r->pct_peak);
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
  json_checks(out, r);
  fputs("}", out);
}

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
  fprintf(out, ",%s,%d,%d,%llu", r->estimated ? "true" : "false", r->warmup, r->iters,
          (unsigned long long)r->weight_bytes);
  csv_num(out, weight_mb(r));
  csv_num(out, r->gflop);
  fprintf(out, ",%s", r->gflop_partial ? "true" : "false");
  csv_num(out, r->ms_min);
  csv_num(out, r->ms_median);
  csv_num(out, r->ms_p90);
  csv_num(out, r->tflops);
  csv_num(out, r->pct_peak);
  csv_num(out, r->est_mhz);
  fputc('\n', out);
}

static void print_csv(FILE *out, const Report *r, int n) {
  fputs("model,backend,chip,estimated,warmup,iters,weight_bytes,weight_mb,gflop,gflop_partial,"
        "ms_min,ms_median,ms_p90,tflops,pct_peak,est_mhz\n",
        out);
  for (int i = 0; i < n; i++)
    csv_row(out, &r[i]);
}

void report_print(FILE *out, ReportFormat fmt, const Report *r, int n) {
  if (fmt == REPORT_JSON)
    print_json(out, r, n);
  else if (fmt == REPORT_CSV)
    print_csv(out, r, n);
  else if (n > 0)
    print_table(out, r, n);
}
