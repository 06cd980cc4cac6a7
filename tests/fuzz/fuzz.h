/* fuzz.h - what the libFuzzer harnesses share. Header-only: run.sh builds
 * each harness from its one .c file. */
#ifndef ANET_FUZZ_H
#define ANET_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "diag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Diagnostics for the inputs, most of them malformed: to /dev/null, opened
 * once per process (the harness's only state). */
static inline Diag fuzz_diag(void) {
  static FILE *f;
  if (!f)
    f = fopen("/dev/null", "w");
  return (Diag){f, 0};
}

#endif
