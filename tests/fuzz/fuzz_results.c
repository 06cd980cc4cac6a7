/* fuzz_results.c - libFuzzer harness for the --compare reader of results
 * files (JSON lines). Rows it accepts have terminated names. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "results.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Diag d = fuzz_diag();
  Src src = {"fuzz.jsonl", (const char *)data, size};
  ResultRow *rows = NULL;
  int n = 0;
  if (results_parse(&src, &rows, &n, &d) == 0)
    for (int i = 0; i < n; i++)
      if (strlen(rows[i].model) >= sizeof rows[i].model || rows[i].line < 1)
        abort();
  free(rows);
  return 0;
}
