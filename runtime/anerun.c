/* anerun - run a MIL model (or every point of a .anet sweep) on a backend
 * and report ms/eval, GFLOP and the rate; see man/anerun.1. */
#include <math.h>
#include <stdio.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "chip.h"
#include "config.h"
#include "run.h"
#include "runopts.h"
#include "simfit.h"

static void print_nan(FILE *out, int width, int prec, double v) {
  if (isfinite(v))
    fprintf(out, " %*.*f", width, prec, v);
  else
    fprintf(out, " %*s", width, "unknown");
}

static void list_chips(FILE *out) {
  int n = 0;
  const Chip *c = chip_table(&n);
  fprintf(out, "%-14s %-6s %7s %9s %11s %11s %8s\n", "chip", "hgen", "cores", "adv.TOPS",
          "fp16 TFLOPS", "int8 TOPS", "MHz");
  for (int i = 0; i < n; i++) {
    fprintf(out, "%-14s %-6s", c[i].name, c[i].hgen ? c[i].hgen : "-");
    print_nan(out, 7, 0, c[i].ne_cores > 0 ? c[i].ne_cores : NAN);   /* 0: not published */
    print_nan(out, 9, 1, c[i].adv_tops);
    print_nan(out, 11, 2, c[i].fp16_peak_tflops);
    print_nan(out, 11, 2, c[i].int8_peak_tops);
    print_nan(out, 8, 0, c[i].mhz);
    fputc('\n', out);
  }
}

/* glibc raises its mmap threshold to the size of each large block freed:
 * after a model's anet.json text is read and freed, the MIL reader's
 * multi-MiB blocks come from the heap, whose freed holes stay resident
 * (measured: 59.6 MiB peak for a 13.1 MB program, 48.1 MiB with a fixed
 * threshold). A fixed threshold returns every large block to the system. */
static void fix_mmap_threshold(void) {
#ifdef M_MMAP_THRESHOLD
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
}

int main(int argc, char **argv) {
  fix_mmap_threshold();
  Diag d = diag_stderr();
  RunOpts o;
  int status = runopts_parse(argc, argv, &o, &d);
  if (status == 0) {
    switch (o.mode) {
    case RUN_HELP: runopts_usage(stdout); break;
    case RUN_VERSION: printf("anerun (%s) %s\n", PACKAGE_NAME, PACKAGE_VERSION); break;
    case RUN_LIST_CHIPS: list_chips(stdout); break;
    case RUN_DRY: status = run_dry(&o, stdout, &d); break;
    case RUN_BENCH: status = run_all(&o, stdout, &d); break;
    case RUN_PROBE: status = run_probe(&o, stdout, &d); break;
    case RUN_COMPARE: status = run_compare(&o, stdout, &d); break;
    case RUN_SIM_VALIDATE: status = simfit_validate(stdout, o.path, &d); break;
    }
  }
  runopts_free(&o);
  if (fflush(stdout) != 0 && status == 0)
    status = 1;
  return status;
}
