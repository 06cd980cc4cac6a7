/* fuzz_anet.c - libFuzzer harness for the .anet front end: parse, then
 * lower and dump every sweep point. Nothing is written to disk. */
#include "anet.h"
#include "fuzz.h"

/* Large sweeps are legal; lowering a few points covers the code paths and
 * keeps each input fast. */
enum { FUZZ_MAX_POINTS = 4 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Src src = {"fuzz.anet", (const char *)data, size};
  Diag d = fuzz_diag();
  AnetFile *f = anet_parse(&src, &d);
  if (!f)
    return 0;
  int n = anet_npoints(f);
  for (int i = 0; i < n && i < FUZZ_MAX_POINTS; i++) {
    (void)anet_point_name(f, i);
    MilProg *p = anet_lower(f, i, &d);
    if (p)
      mil_free(p);
    anet_dump_ir(f, i, d.out, &d);
  }
  anet_free(f);
  return 0;
}
