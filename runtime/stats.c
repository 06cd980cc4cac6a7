/* stats.c - min, median and nearest-rank percentiles of timings. */
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double stats_nearest_rank(const double *sorted, int n, double p) {
  /* The small epsilon keeps 0.9 * 10 from rounding up to rank 10 + 1. */
  double r = ceil(p / 100.0 * n - 1e-9);
  int rank = r < 1 ? 1 : r > n ? n : (int)r;
  return sorted[rank - 1];
}

static double median_sorted(const double *s, int n) {
  return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

int stats_summarise(const double *x, int n, Stats *s) {
  if (n < 1)
    return -1;
  double *v = malloc((size_t)n * sizeof *v);
  if (!v)
    return -1;
  memcpy(v, x, (size_t)n * sizeof *v);
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  s->n = n;
  s->min = v[0];
  s->median = median_sorted(v, n);
  s->p90 = stats_nearest_rank(v, n, 90);
  free(v);
  return 0;
}
