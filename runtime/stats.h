/* stats.h - summaries of the timed iterations.
 *
 * min, median (the mean of the two middle values when n is even) and p90 by
 * the nearest-rank rule: the ceil(0.9 * n)-th smallest value. */
#ifndef ANET_STATS_H
#define ANET_STATS_H

typedef struct Stats {
  int n;
  double min, median, p90;
} Stats;

/* Summarises x[0..n); x is left as it was. 0, or -1 when n < 1 or out of
 * memory. */
int stats_summarise(const double *x, int n, Stats *s);

/* The nearest-rank p-th percentile (0 < p <= 100) of sorted[0..n), n >= 1. */
double stats_nearest_rank(const double *sorted, int n, double p);

#endif
