/* mil_bench.c - how fast the MIL text parser reads a file, apart from
 * everything anerun does after it.
 *
 *   mil_bench FILE [RUNS]
 *
 * reads FILE once, parses it RUNS times (default 5) and prints the best
 * times as "WALL_SECONDS CPU_SECONDS BYTES". CPU time is the process's own
 * (CLOCK_PROCESS_CPUTIME_ID): on a shared machine it leaves out the time
 * spent waiting for a core. Exits 1 if the file does not parse. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mil.h"

static double now(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 3) {
    fputs("usage: mil_bench FILE [RUNS]\n", stderr);
    return 2;
  }
  int runs = argc == 3 ? atoi(argv[2]) : 5;
  Diag d = diag_stderr();
  Src src;
  if (src_read_file(&src, argv[1], (size_t)1 << 31, &d) < 0)
    return 1;
  double wall = 1e99, cpu = 1e99;
  for (int i = 0; i < (runs > 0 ? runs : 1); i++) {
    double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
    MilProg *p = mil_parse(&src, &d);
    double c = now(CLOCK_PROCESS_CPUTIME_ID) - c0, w = now(CLOCK_MONOTONIC) - w0;
    if (!p)
      return 1;
    mil_free(p);
    wall = w < wall ? w : wall;
    cpu = c < cpu ? c : cpu;
  }
  printf("%.6f %.6f %zu\n", wall, cpu, src.len);
  src_free(&src);
  return 0;
}
