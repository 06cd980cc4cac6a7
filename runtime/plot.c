/* plot.c - SVG charts of a run: throughput bars, a roofline, op shares. */
#include "plot.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "outfile.h"
#include "sim.h"

/* The canvas and the plot area inside it, in SVG user units (px). */
enum { W = 960, H = 560, LEFT = 90, RIGHT = 190, TOP = 64, BOTTOM = 110 };
enum { PLOT_MAX_SERIES = 8 };

static const char *const palette[] = {"#4472c4", "#ed7d31", "#70ad47", "#a5a5a5",
                                      "#ffc000", "#17becf", "#9e480e", "#8e44ad"};

typedef struct Area {
  double x0, y0, x1, y1;   /* left, top, right, bottom */
} Area;

static Area plot_area(void) { return (Area){LEFT, TOP, W - RIGHT, H - BOTTOM}; }

/* ---- SVG primitives ------------------------------------------------------- */

static void xml_text(FILE *out, const char *s) {
  for (; *s; s++) {
    if (*s == '<')
      fputs("&lt;", out);
    else if (*s == '>')
      fputs("&gt;", out);
    else if (*s == '&')
      fputs("&amp;", out);
    else if (*s == '"')
      fputs("&quot;", out);
    else if ((unsigned char)*s >= 0x20)
      fputc(*s, out);
  }
}

/* anchor: "start", "middle" or "end"; rotate: degrees about (x, y). */
static void text_at(FILE *out, double x, double y, const char *anchor, int size, double rotate,
                    const char *s) {
  fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" font-size=\"%d\"", x, y, anchor,
          size);
  if (rotate != 0)
    fprintf(out, " transform=\"rotate(%.0f %.1f %.1f)\"", rotate, x, y);
  fputs(">", out);
  xml_text(out, s);
  fputs("</text>\n", out);
}

static void line_at(FILE *out, double x0, double y0, double x1, double y1, const char *color,
                    double width, const char *dash) {
  fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
          "stroke-width=\"%.1f\"%s%s%s/>\n", x0, y0, x1, y1, color, width,
          dash ? " stroke-dasharray=\"" : "", dash ? dash : "", dash ? "\"" : "");
}

static void rect_at(FILE *out, const char *cls, double x, double y, double w, double h,
                    const char *color, const char *title) {
  fprintf(out, "<rect class=\"%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
          "fill=\"%s\">", cls, x, y, w > 0 ? w : 0, h > 0 ? h : 0, color);
  if (title) {
    fputs("<title>", out);
    xml_text(out, title);
    fputs("</title>", out);
  }
  fputs("</rect>\n", out);
}

static void legend(FILE *out, int i, const char *color, const char *label) {
  double x = W - RIGHT + 16, y = TOP + 10 + 22 * i;
  rect_at(out, "key", x, y - 11, 14, 14, color, NULL);
  text_at(out, x + 20, y + 1, "start", 13, 0, label);
}

/* ---- titles and axes ------------------------------------------------------ */

static void begin(FILE *out, const char *what, const Report *r) {
  char title[512];
  const char *how = r->estimated ? ", estimated by the cost model, not measured"
                    : strcmp(r->backend, "ane") == 0 ? ", measured" : ", measured on the CPU";
  snprintf(title, sizeof title, "%s%s%s (%s backend%s)", what, r->chip[0] ? " on " : "",
           r->chip, r->backend, how);
  fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
          "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
          "viewBox=\"0 0 %d %d\" font-family=\"Helvetica, Arial, sans-serif\">\n",
          W, H, W, H);
  fprintf(out, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"white\"/>\n", W, H);
  fputs("<title>", out);
  xml_text(out, title);
  fputs("</title>\n", out);
  text_at(out, W / 2.0, 30, "middle", 17, 0, title);
}

static void end(FILE *out) { fputs("</svg>\n", out); }

/* A round step (1, 2 or 5 x 10^k) giving about five ticks up to top. */
static double nice_step(double top) {
  double raw = top / 5, mag = pow(10, floor(log10(raw)));
  double f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

static void linear_y_axis(FILE *out, Area a, double top, const char *label) {
  double step = nice_step(top);
  for (double v = 0; v <= top * (1 + 1e-9); v += step) {
    double y = a.y1 - v / top * (a.y1 - a.y0);
    char buf[32];
    snprintf(buf, sizeof buf, "%g", v);
    line_at(out, a.x0, y, a.x1, y, "#dddddd", 1, NULL);
    text_at(out, a.x0 - 8, y + 4, "end", 12, 0, buf);
  }
  line_at(out, a.x0, a.y0, a.x0, a.y1, "black", 1, NULL);
  line_at(out, a.x0, a.y1, a.x1, a.y1, "black", 1, NULL);
  text_at(out, 24, (a.y0 + a.y1) / 2, "middle", 13, -90, label);
}

/* ---- throughput ----------------------------------------------------------- */

/* Distinct values of key(i) in order of first appearance; idx[i] is row i's. */
typedef struct Groups {
  int n;
  char (*name)[REPORT_NAME];
  int *idx;
} Groups;

static int group_of(Groups *g, const char *name) {
  for (int k = 0; k < g->n; k++)
    if (strcmp(g->name[k], name) == 0)
      return k;
  snprintf(g->name[g->n], REPORT_NAME, "%s", name);
  return g->n++;
}

/* "_128x512" -> "128x512": the key without the separators around the
 * format token it lost. */
static void trim_key(char *s) {
  size_t n = strlen(s);
  while (n > 0 && strchr("_-. ", s[n - 1]))
    s[--n] = '\0';
  size_t k = strspn(s, "_-. ");
  memmove(s, s + k, n - k + 1);
  char *dbl = strstr(s, "__");
  if (dbl)
    memmove(dbl, dbl + 1, strlen(dbl));
}

static int groups_make(Groups *cfg, Groups *prec, const Report *r, int n) {
  cfg->name = calloc((size_t)n + 1, sizeof *cfg->name);
  prec->name = calloc((size_t)n + 1, sizeof *prec->name);
  cfg->idx = calloc((size_t)n + 1, sizeof *cfg->idx);
  prec->idx = calloc((size_t)n + 1, sizeof *prec->idx);
  if (!cfg->name || !prec->name || !cfg->idx || !prec->idx)
    return -1;
  for (int i = 0; i < n; i++) {
    char key[REPORT_NAME];
    report_config_key(r[i].model, key);
    trim_key(key);
    cfg->idx[i] = group_of(cfg, key[0] ? key : r[i].model);
    prec->idx[i] = group_of(prec, r[i].precision);
  }
  return 0;
}

static void groups_free(Groups *g) {
  free(g->name);
  free(g->idx);
}

static double max_tflops(const Report *r, int n) {
  double m = 0;
  for (int i = 0; i < n; i++)
    if (isfinite(r[i].tflops) && r[i].tflops > m)
      m = r[i].tflops;
  return m > 0 ? m : 1;
}

static void bar(FILE *out, Area a, const Report *r, double x, double w, double top,
                const char *color) {
  double v = isfinite(r->tflops) ? r->tflops : 0;
  double h = v / top * (a.y1 - a.y0);
  char title[REPORT_NAME + 64], val[32];
  snprintf(title, sizeof title, "%s: %.3g %s, %.3f ms", r->model, v,
           strcmp(r->precision, "w8a8") == 0 ? "TOPS" : "TFLOPS", r->ms_median);
  rect_at(out, "bar", x, a.y1 - h, w, h, color, title);
  snprintf(val, sizeof val, v >= 10 ? "%.1f" : "%.2g", v);
  text_at(out, x + w / 2, a.y1 - h - 4, "middle", 10, 0, val);
}

/* Over each group with an fp16 and a W8A8 bar, how much faster W8A8 ran. */
static void group_speedups(FILE *out, Area a, const Report *r, int n, const Groups *cfg,
                           double gw, double top) {
  for (int i = 0; i < n; i++) {
    for (int j = 0; strcmp(r[i].precision, "w8a8") == 0 && j < n; j++) {
      if (cfg->idx[j] != cfg->idx[i] || strcmp(r[j].precision, "fp16") != 0 ||
          !(r[i].ms_median > 0))
        continue;
      char buf[32];
      double hi = fmax(r[i].tflops, r[j].tflops);
      snprintf(buf, sizeof buf, "%.2fx", r[j].ms_median / r[i].ms_median);
      text_at(out, a.x0 + gw * (cfg->idx[i] + 0.5), a.y1 - hi / top * (a.y1 - a.y0) - 20,
              "middle", 13, 0, buf);
      break;
    }
  }
}

static void throughput(FILE *out, const Report *r, int n) {
  Groups cfg = {0}, prec = {0};
  Area a = plot_area();
  if (groups_make(&cfg, &prec, r, n) < 0) {
    groups_free(&cfg);
    groups_free(&prec);
    return;
  }
  double top = max_tflops(r, n) * 1.2;
  top = ceil(top / nice_step(top)) * nice_step(top);
  begin(out, "Throughput per configuration", r);
  linear_y_axis(out, a, top, "TFLOPS (fp16), TOPS (W8A8)");
  double gw = (a.x1 - a.x0) / cfg.n, bw = gw * 0.8 / prec.n;
  for (int i = 0; i < n; i++) {
    double x = a.x0 + gw * cfg.idx[i] + gw * 0.1 + bw * prec.idx[i];
    bar(out, a, &r[i], x, bw, top, palette[prec.idx[i] % PLOT_MAX_SERIES]);
  }
  group_speedups(out, a, r, n, &cfg, gw, top);
  for (int k = 0; k < cfg.n; k++)
    text_at(out, a.x0 + gw * (k + 0.5), a.y1 + 18, cfg.n > 8 ? "end" : "middle", 12,
            cfg.n > 8 ? -35 : 0, cfg.name[k]);
  text_at(out, (a.x0 + a.x1) / 2, H - 24, "middle", 13, 0,
          "configuration (point name without its format)");
  for (int k = 0; k < prec.n; k++)
    legend(out, k, palette[k % PLOT_MAX_SERIES],
           strcmp(prec.name[k], "w8a8") == 0 ? "W8A8" : prec.name[k]);
  if (prec.n > 1) {
    double y = TOP + 10 + 22 * prec.n + 8;
    text_at(out, W - RIGHT + 16, y, "start", 11, 0, "N.NNx over a pair: W8A8");
    text_at(out, W - RIGHT + 16, y + 14, "start", 11, 0, "speed-up, fp16 / W8A8 ms");
  }
  end(out);
  groups_free(&cfg);
  groups_free(&prec);
}

/* ---- roofline ------------------------------------------------------------- */

typedef struct Log2D {
  Area a;
  double lx0, lx1, ly0, ly1;   /* log10 of the axis ranges */
} Log2D;

static double px(const Log2D *g, double x) {
  return g->a.x0 + (log10(x) - g->lx0) / (g->lx1 - g->lx0) * (g->a.x1 - g->a.x0);
}

static double py(const Log2D *g, double y) {
  return g->a.y1 - (log10(y) - g->ly0) / (g->ly1 - g->ly0) * (g->a.y1 - g->a.y0);
}

static void widen(double *lo, double *hi, double v) {
  if (!(v > 0) || !isfinite(v))
    return;
  *lo = fmin(*lo, v);
  *hi = fmax(*hi, v);
}

/* 10^e as a tick label in one style along an axis: 0.01, 1, 100, 1k,
 * 100k, 1M, 1G, and 1e-5 or 1e15 past those. */
static void log_label(char *buf, size_t size, int e) {
  static const char *const suffix[] = {"k", "M", "G", "T"};
  if (e >= 3 && e < 15)
    snprintf(buf, size, "%g%s", pow(10, e % 3), suffix[e / 3 - 1]);
  else if (e >= -4 && e < 3)
    snprintf(buf, size, "%g", pow(10, e));
  else
    snprintf(buf, size, "1e%d", e);
}

static void log_axes(FILE *out, const Log2D *g) {
  for (int e = (int)ceil(g->lx0); e <= (int)floor(g->lx1); e++) {
    char buf[32];
    double x = px(g, pow(10, e));
    log_label(buf, sizeof buf, e);
    line_at(out, x, g->a.y0, x, g->a.y1, "#dddddd", 1, NULL);
    text_at(out, x, g->a.y1 + 18, "middle", 12, 0, buf);
  }
  for (int e = (int)ceil(g->ly0); e <= (int)floor(g->ly1); e++) {
    char buf[32];
    double y = py(g, pow(10, e));
    log_label(buf, sizeof buf, e);
    line_at(out, g->a.x0, y, g->a.x1, y, "#dddddd", 1, NULL);
    text_at(out, g->a.x0 - 8, y + 4, "end", 12, 0, buf);
  }
  line_at(out, g->a.x0, g->a.y0, g->a.x0, g->a.y1, "black", 1, NULL);
  line_at(out, g->a.x0, g->a.y1, g->a.x1, g->a.y1, "black", 1, NULL);
  text_at(out, (g->a.x0 + g->a.x1) / 2, H - 50, "middle", 13, 0,
          "arithmetic intensity (FLOP per byte of memory traffic, log)");
  text_at(out, 24, (g->a.y0 + g->a.y1) / 2, "middle", 13, -90, "TFLOPS (TOPS for W8A8), log");
}

/* The roofs of r's chip: its measured peaks and its memory bandwidth. */
typedef struct Roof {
  bool known;
  double fp16, int8, bw_gbs;
} Roof;

static Roof roof_of(const Report *r) {
  Roof f = {false, NAN, NAN, NAN};
  const Chip *c = r->chip[0] ? chip_find(r->chip) : NULL;
  SimParams p;
  Diag d = diag_stderr();
  if (!c || !isfinite(c->fp16_peak_tflops) || sim_params(c->name, &p, &d) < 0)
    return f;
  return (Roof){true, c->fp16_peak_tflops, c->int8_peak_tops, p.bw_gbs};
}

static double intensity(double gflop, double bytes) {
  return bytes > 0 ? gflop * 1e9 / bytes : NAN;
}

static void roof_line(FILE *out, const Log2D *g, double peak, double bw, const char *label,
                      const char *color) {
  double ridge = peak * 1e12 / (bw * 1e9), x0 = pow(10, g->lx0), x1 = pow(10, g->lx1);
  double yl = x0 * bw * 1e9 / 1e12;
  line_at(out, px(g, x0), py(g, fmax(yl, pow(10, g->ly0))), px(g, ridge), py(g, peak), color,
          2, NULL);
  line_at(out, px(g, ridge), py(g, peak), px(g, x1), py(g, peak), color, 2, NULL);
  char buf[96];
  snprintf(buf, sizeof buf, "%s %.1f", label, peak);
  text_at(out, px(g, x1) - 4, py(g, peak) - 6, "end", 12, 0, buf);
}

static void roof_point(FILE *out, const Log2D *g, double ai, double tflops, double r,
                       const char *color, const char *title) {
  if (!(ai > 0) || !(tflops > 0) || !isfinite(ai) || !isfinite(tflops))
    return;
  fprintf(out, "<circle class=\"point\" cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\" "
          "fill-opacity=\"0.8\"><title>", px(g, ai), py(g, tflops), r, color);
  xml_text(out, title);
  fputs("</title></circle>\n", out);
}

static Log2D roof_ranges(const Report *r, int n, const Roof *f) {
  double xlo = INFINITY, xhi = 0, ylo = INFINITY, yhi = 0;
  for (int i = 0; i < n; i++) {
    widen(&xlo, &xhi, intensity(r[i].gflop, r[i].dram_bytes));
    widen(&ylo, &yhi, r[i].tflops);
    for (int k = 0; r[i].estimated && k < r[i].nops; k++) {
      widen(&xlo, &xhi, intensity(r[i].ops[k].gflop, r[i].ops[k].bytes));
      widen(&ylo, &yhi, r[i].ops[k].ms > 0 ? r[i].ops[k].gflop / r[i].ops[k].ms : NAN);
    }
  }
  if (f->known) {
    widen(&ylo, &yhi, fmax(f->fp16, isfinite(f->int8) ? f->int8 : 0));
    widen(&xlo, &xhi, f->fp16 * 1e12 / (f->bw_gbs * 1e9));
  }
  if (!(xhi > 0))
    xlo = 1, xhi = 1000;
  if (!(yhi > 0))
    ylo = 0.1, yhi = 100;
  return (Log2D){plot_area(), floor(log10(xlo)) - 0.3, ceil(log10(xhi)) + 0.3,
                 floor(log10(ylo)) - 0.3, ceil(log10(yhi)) + 0.2};
}

static void roofline(FILE *out, const Report *r, int n) {
  Roof f = roof_of(r);
  Log2D g = roof_ranges(r, n, &f);
  begin(out, "Roofline", r);
  log_axes(out, &g);
  int key = 0;
  if (f.known) {
    roof_line(out, &g, f.fp16, f.bw_gbs, "fp16 peak", "#333333");
    legend(out, key++, "#333333", "fp16 roof");
    if (isfinite(f.int8)) {
      roof_line(out, &g, f.int8, f.bw_gbs, "int8 peak", "#999999");
      legend(out, key++, "#999999", "int8 roof");
    }
  } else {
    text_at(out, (g.a.x0 + g.a.x1) / 2, TOP + 16, "middle", 12, 0,
            "no roof: no chip with a measured peak applies to this backend");
  }
  bool ops = false, has[2] = {false, false};
  for (int i = 0; i < n; i++) {
    char title[REPORT_NAME + 64];
    bool w8a8 = strcmp(r[i].precision, "w8a8") == 0;
    const char *color = palette[w8a8];
    for (int k = 0; r[i].estimated && k < r[i].nops; k++, ops = true) {
      const OpShare *s = &r[i].ops[k];
      snprintf(title, sizeof title, "%s: %s x%d", r[i].model, s->op, s->count);
      roof_point(out, &g, intensity(s->gflop, s->bytes), s->ms > 0 ? s->gflop / s->ms : NAN, 3,
                 palette[2], title);
    }
    snprintf(title, sizeof title, "%s: %.3g %s", r[i].model, r[i].tflops,
             w8a8 ? "TOPS" : "TFLOPS");
    roof_point(out, &g, intensity(r[i].gflop, r[i].dram_bytes), r[i].tflops, 6, color, title);
    has[w8a8] = true;
  }
  if (has[0])
    legend(out, key++, palette[0], "fp16 model");
  if (has[1])
    legend(out, key++, palette[1], "W8A8 model");
  if (ops)
    legend(out, key, palette[2], "op type (sim)");
  end(out);
}

/* ---- op shares ------------------------------------------------------------ */

/* Op types over all rows, by total share, the first PLOT_MAX_SERIES - 1
 * kept and the rest drawn as "other". */
static int op_types(const Report *r, int n, char names[][32], double *weight) {
  int nt = 0;
  for (int i = 0; i < n; i++) {
    double total = 0;
    for (int k = 0; k < r[i].nops; k++)
      total += r[i].ops[k].ms;
    for (int k = 0; k < r[i].nops && total > 0; k++) {
      int t = 0;
      while (t < nt && strcmp(names[t], r[i].ops[k].op) != 0)
        t++;
      if (t == nt && nt < REPORT_MAX_OPS * 4) {
        snprintf(names[nt], 32, "%s", r[i].ops[k].op);
        weight[nt++] = 0;
      }
      if (t < nt)
        weight[t] += r[i].ops[k].ms / total;
    }
  }
  return nt;
}

static int type_rank(char names[][32], const double *weight, int nt, const char *op) {
  int t = 0, rank = 0;
  while (t < nt && strcmp(names[t], op) != 0)
    t++;
  for (int u = 0; u < nt && t < nt; u++)
    rank += weight[u] > weight[t] || (weight[u] == weight[t] && u < t);
  return rank < PLOT_MAX_SERIES - 1 ? rank : PLOT_MAX_SERIES - 1;
}

static void share_row(FILE *out, Area a, const Report *r, double y, double h,
                      char names[][32], const double *weight, int nt) {
  double total = 0, x = a.x0;
  for (int k = 0; k < r->nops; k++)
    total += r->ops[k].ms;
  fputs("<g class=\"row\">\n", out);
  text_at(out, a.x0 - 6, y + h / 2 + 4, "end", 11, 0, r->model);
  for (int k = 0; k < r->nops && total > 0; k++) {
    double w = r->ops[k].ms / total * (a.x1 - a.x0);
    char title[128];
    snprintf(title, sizeof title, "%s: %.1f%%, %.4f ms", r->ops[k].op,
             100 * r->ops[k].ms / total, r->ops[k].ms);
    rect_at(out, "bar", x, y, w, h, palette[type_rank(names, weight, nt, r->ops[k].op)], title);
    x += w;
  }
  fputs("</g>\n", out);
}

static void shares(FILE *out, const Report *r, int n) {
  char (*names)[32] = calloc(REPORT_MAX_OPS * 4, sizeof *names);
  double *weight = calloc(REPORT_MAX_OPS * 4, sizeof *weight);
  Area a = plot_area();
  a.x0 = LEFT + 150;
  if (!names || !weight) {
    free(names);
    free(weight);
    return;
  }
  int nt = op_types(r, n, names, weight);
  begin(out, "Time per op type", r);
  double rh = (a.y1 - a.y0) / (n > 0 ? n : 1);
  for (int i = 0; i < n; i++)
    share_row(out, a, &r[i], a.y0 + rh * i + rh * 0.15, rh * 0.7, names, weight, nt);
  for (int p = 0; p <= 100; p += 20) {
    char buf[16];
    double x = a.x0 + p / 100.0 * (a.x1 - a.x0);
    snprintf(buf, sizeof buf, "%d%%", p);
    line_at(out, x, a.y1, x, a.y1 + 5, "black", 1, NULL);
    text_at(out, x, a.y1 + 20, "middle", 12, 0, buf);
  }
  line_at(out, a.x0, a.y1, a.x1, a.y1, "black", 1, NULL);
  text_at(out, (a.x0 + a.x1) / 2, H - 50, "middle", 13, 0,
          "share of one evaluation's time in ops (%)");
  for (int t = 0; t < nt; t++) {
    int rank = type_rank(names, weight, nt, names[t]);
    if (rank < PLOT_MAX_SERIES - 1 || (rank == PLOT_MAX_SERIES - 1 && nt == PLOT_MAX_SERIES))
      legend(out, rank, palette[rank], names[t]);
  }
  if (nt > PLOT_MAX_SERIES)
    legend(out, PLOT_MAX_SERIES - 1, palette[PLOT_MAX_SERIES - 1], "other");
  end(out);
  free(names);
  free(weight);
}

/* ---- entry points --------------------------------------------------------- */

void plot_svg(FILE *out, PlotKind kind, bool profile, const Report *r, int n) {
  if (kind == PLOT_ROOFLINE)
    roofline(out, r, n);
  else if (profile && r[0].nops > 0)
    shares(out, r, n);
  else
    throughput(out, r, n);
}

int plot_write(const char *path, PlotKind kind, bool profile, const Report *r, int n, Diag *d) {
  OutFile f;
  if (outfile_open(&f, path, d) < 0)
    return -1;
  plot_svg(f.f, kind, profile, r, n);
  return outfile_commit(&f, d);
}
