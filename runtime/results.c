/* results.c - the JSON-lines results file: writing a run's rows with the
 * machine they ran on, reading them back, and comparing two sets. */
#include "results.h"
#include "json.h"
#include "jread.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#ifdef __APPLE__
#include <sys/sysctl.h>
#endif

#include "config.h"

#ifndef ANET_GIT_COMMIT
#define ANET_GIT_COMMIT "unknown"
#endif

enum { RESULTS_MAX_TEXT = 256 << 20 };

/* ---- the machine --------------------------------------------------------- */

/* The CPU's marketing name: Apple's brand string, or /proc/cpuinfo's. */
static void cpu_name(char *buf, size_t size) {
  snprintf(buf, size, "unknown");
#ifdef __APPLE__
  size_t n = size;
  if (sysctlbyname("machdep.cpu.brand_string", buf, &n, NULL, 0) != 0)
    snprintf(buf, size, "unknown");
#else
  FILE *f = fopen("/proc/cpuinfo", "r");
  char line[512];
  while (f && fgets(line, sizeof line, f)) {
    char *colon = strchr(line, ':');
    if (strncmp(line, "model name", 10) != 0 || !colon)
      continue;
    colon += 1 + (colon[1] == ' ');
    colon[strcspn(colon, "\n")] = '\0';
    snprintf(buf, size, "%s", colon);
    break;
  }
  if (f)
    fclose(f);
#endif
}

static void os_name(char *buf, size_t size) {
  struct utsname u;
  if (uname(&u) != 0) {
    snprintf(buf, size, "unknown");
    return;
  }
#ifdef __APPLE__
  char ver[64];
  size_t n = sizeof ver;
  if (sysctlbyname("kern.osproductversion", ver, &n, NULL, 0) == 0) {
    snprintf(buf, size, "macOS %s (%s %s)", ver, u.sysname, u.release);
    return;
  }
#endif
  snprintf(buf, size, "%s %s %s", u.sysname, u.release, u.machine);
}


static void machine_json(FILE *out, const char *date) {
  char cpu[256], os[256];
  cpu_name(cpu, sizeof cpu);
  os_name(os, sizeof os);
  fputs("\"machine\": {\"cpu\": ", out);
  json_str(out, cpu);
  fprintf(out, ", \"cores\": %ld, \"os\": ", sysconf(_SC_NPROCESSORS_ONLN));
  json_str(out, os);
  fputs(", \"anet_version\": ", out);
  json_str(out, PACKAGE_VERSION);
  fputs(", \"git_commit\": ", out);
  json_str(out, ANET_GIT_COMMIT);
  fprintf(out, "}, \"date\": \"%s\"", date);
}

/* ---- writing ------------------------------------------------------------- */

static void line_json(FILE *out, const RunOpts *o, const Report *r, const char *date) {
  fprintf(out, "{\"schema\": \"anet-report\", \"schema_version\": %d, ", RESULTS_SCHEMA_VERSION);
  report_json_line(out, r);
  fprintf(out, ", \"seed\": %llu, ", (unsigned long long)o->seed);
  machine_json(out, date);
  fputs("}\n", out);
}

int results_append(const char *path, const RunOpts *o, const Report *r, int n, Diag *d) {
  char *text = NULL, date[32];
  size_t len = 0;
  time_t now = time(NULL);
  struct tm tm;
  strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
  /* Built in memory first: one write, so a failure leaves no half line. */
  FILE *mem = open_memstream(&text, &len);
  if (!mem) {
    diag_file_error(d, path, "out of memory");
    return -1;
  }
  for (int i = 0; i < n; i++)
    line_json(mem, o, &r[i], date);
  int rc = fclose(mem) == 0 ? 0 : -1;
  FILE *f = rc == 0 ? fopen(path, "a") : NULL;
  if (!f || fwrite(text, 1, len, f) != len)
    rc = -1;
  if (f && fclose(f) != 0)
    rc = -1;
  if (rc < 0)
    diag_file_error(d, path, "cannot append the results: %s", strerror(errno));
  free(text);
  return rc;
}

/* ---- reading ------------------------------------------------------------- */

/* A string or null (""). */
static void string_or_null(JRead *j, char *buf, size_t size) {
  if (jread_word(j, "null"))
    buf[0] = '\0';
  else
    jread_string(j, buf, size);
}

static double number_or_null(JRead *j) { return jread_word(j, "null") ? NAN : jread_number(j); }

enum { HAS_MODEL = 1, HAS_BACKEND = 2, HAS_MS = 4, HAS_VERSION = 8 };

static int read_member(JRead *j, ResultRow *row) {
  char key[64];
  jread_string(j, key, sizeof key);
  jread_expect(j, ':');
  if (j->failed)
    return 0;
  if (strcmp(key, "model") == 0)
    return jread_string(j, row->model, sizeof row->model), HAS_MODEL;
  if (strcmp(key, "backend") == 0)
    return jread_string(j, row->backend, sizeof row->backend), HAS_BACKEND;
  if (strcmp(key, "chip") == 0)
    return string_or_null(j, row->chip, sizeof row->chip), 0;
  if (strcmp(key, "ms_median") == 0)
    return row->ms_median = number_or_null(j), HAS_MS;
  if (strcmp(key, "schema_version") == 0) {
    jread_peek(j);
    size_t at = j->pos;   /* the error points at the value, as the manifest's does */
    double v = jread_number(j);
    if (!j->failed && v != RESULTS_SCHEMA_VERSION)
      jread_fail_at(j, at, "schema_version %g; this anerun reads version %d", v,
                    RESULTS_SCHEMA_VERSION);
    return HAS_VERSION;
  }
  jread_skip(j);
  return 0;
}

static void read_line(JRead *j, ResultRow *row) {
  int has = 0;
  jread_expect(j, '{');
  if (!j->failed && !jread_accept(j, '}')) {
    do
      has |= read_member(j, row);
    while (!j->failed && jread_accept(j, ','));
    jread_expect(j, '}');
  }
  jread_end(j);
  if (!j->failed && has != (HAS_MODEL | HAS_BACKEND | HAS_MS | HAS_VERSION))
    jread_fail(j, "the line lacks %s",
               !(has & HAS_VERSION) ? "schema_version" : !(has & HAS_MODEL) ? "model"
               : !(has & HAS_BACKEND) ? "backend" : "ms_median");
}

static int add_row(ResultRow **rows, int *n, int *cap) {
  if (*n < *cap)
    return 0;
  *cap = 2 * *cap + 16;
  ResultRow *g = realloc(*rows, (size_t)*cap * sizeof *g);
  if (!g)
    return -1;
  *rows = g;
  return 0;
}

int results_parse(const Src *src, ResultRow **rows, int *n, Diag *d) {
  int cap = 0, line = 0;
  *rows = NULL;
  *n = 0;
  for (size_t pos = 0; pos < src->len; line++) {
    const char *nl = memchr(src->text + pos, '\n', src->len - pos);
    size_t end = nl ? (size_t)(nl - src->text) : src->len;
    JRead j = {src, pos, end, d, "results file", false};
    pos = end + 1;
    if (jread_peek(&j) < 0)
      continue;
    if (add_row(rows, n, &cap) < 0) {
      diag_file_error(d, src->name, "out of memory");
      return -1;
    }
    ResultRow *row = &(*rows)[*n];
    memset(row, 0, sizeof *row);
    row->ms_median = NAN;
    row->line = line + 1;
    read_line(&j, row);
    if (j.failed)
      return -1;
    (*n)++;
  }
  return 0;
}

int results_read(const char *path, ResultRow **rows, int *n, Diag *d) {
  Src src;
  *rows = NULL;
  *n = 0;
  if (src_read_file(&src, path, RESULTS_MAX_TEXT, d) < 0)
    return -1;
  int rc = results_parse(&src, rows, n, d);
  src_free(&src);
  if (rc < 0) {
    free(*rows);
    *rows = NULL;
    *n = 0;
  }
  return rc;
}

void results_from_report(const Report *r, ResultRow *row) {
  memset(row, 0, sizeof *row);
  snprintf(row->model, sizeof row->model, "%s", r->model);
  snprintf(row->backend, sizeof row->backend, "%s", r->backend);
  snprintf(row->chip, sizeof row->chip, "%s", r->chip);
  row->ms_median = r->ms_median;
}

/* ---- comparing ----------------------------------------------------------- */

static bool same_point(const ResultRow *a, const ResultRow *b) {
  return strcmp(a->model, b->model) == 0 && strcmp(a->backend, b->backend) == 0 &&
         strcmp(a->chip, b->chip) == 0;
}

/* The last row of r[0..n) for the point p, or NULL. */
static const ResultRow *last_of(const ResultRow *r, int n, const ResultRow *p) {
  for (int i = n - 1; i >= 0; i--)
    if (same_point(&r[i], p))
      return &r[i];
  return NULL;
}

/* Whether r[i] is the last row of its point (each point once). */
static bool is_last(const ResultRow *r, int n, int i) { return last_of(r, n, &r[i]) == &r[i]; }

int results_compare(FILE *out, const ResultRow *old, int nold, const ResultRow *cur, int ncur,
                    double threshold) {
  int flagged = 0, matched = 0;
  fprintf(out, "%-32s %-4s %-6s %10s %10s %8s\n", "Model", "on", "chip", "old ms", "new ms",
          "change");
  for (int i = 0; i < ncur; i++) {
    if (!is_last(cur, ncur, i))
      continue;
    const ResultRow *o = last_of(old, nold, &cur[i]);
    fprintf(out, "%-32.32s %-4s %-6s", cur[i].model, cur[i].backend,
            cur[i].chip[0] ? cur[i].chip : "-");
    if (!o || !(o->ms_median > 0) || !isfinite(cur[i].ms_median)) {
      fprintf(out, " %10s %10.3f %8s\n", "-", cur[i].ms_median, o ? "-" : "new only");
      continue;
    }
    matched++;
    double change = (cur[i].ms_median / o->ms_median - 1) * 100;
    if (fabs(change) < 0.05)
      change = 0;   /* no "-0.0%" */
    bool worse = change > threshold;
    flagged += worse;
    fprintf(out, " %10.3f %10.3f %+7.1f%%%s\n", o->ms_median, cur[i].ms_median, change,
            worse ? "  REGRESSED" : "");
  }
  for (int i = 0; i < nold; i++)
    if (is_last(old, nold, i) && !last_of(cur, ncur, &old[i]))
      fprintf(out, "%-32.32s %-4s %-6s %10.3f %10s %8s\n", old[i].model, old[i].backend,
              old[i].chip[0] ? old[i].chip : "-", old[i].ms_median, "-", "old only");
  fprintf(out, "%d of %d points compared slower by more than %g%% (change = new / old - 1 of "
          "the median ms)\n", flagged, matched, threshold);
  return flagged;
}
