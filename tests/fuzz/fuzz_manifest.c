/* fuzz_manifest.c - libFuzzer harness for the reader of anet.json, the
 * manifest anetc writes beside a model. What it accepts holds terminated,
 * non-empty names and lines and columns that are both 0 or both positive. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "manifest.h"

static void check_name(const char *s, size_t size, int empty_ok) {
  size_t n = strnlen(s, size);
  if (n == size || (n == 0 && !empty_ok))
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Diag d = fuzz_diag();
  Src src = {"anet.json", (const char *)data, size};
  Manifest m;
  if (manifest_parse(&src, &m, &d) != 0) {
    if (m.ops || m.nops)
      abort();
    return 0;
  }
  check_name(m.network, sizeof m.network, 0);
  check_name(m.point, sizeof m.point, 1);
  check_name(m.source, sizeof m.source, 0);
  if (m.nops < 0 || m.nops > MANIFEST_MAX_OPS || (m.nops && !m.ops))
    abort();
  for (int i = 0; i < m.nops; i++) {
    const ManifestOp *op = &m.ops[i];
    if (!op->name || !op->op)
      abort();
    check_name(op->name, MANIFEST_NAME, 0);
    check_name(op->op, MANIFEST_NAME, 0);
    if (op->line < 0 || op->col < 0 || (op->line == 0) != (op->col == 0) ||
        manifest_find(&m, op->name) == NULL)
      abort();
  }
  manifest_free(&m);
  return 0;
}
