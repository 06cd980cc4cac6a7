/* fuzz_npy.c - libFuzzer harness for the .npy reader. A tensor it accepts
 * is read whole so that AddressSanitizer checks its size. */
#include "fuzz.h"
#include "tensor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Diag d = fuzz_diag();
  Tensor t = {0};
  if (npy_read_mem("fuzz.npy", data, size, &t, &d) != 0)
    return 0;
  int64_t n = tensor_numel(&t);
  double sum = 0;
  for (int64_t i = 0; i < n; i++)
    sum += tensor_get(&t, i);
  const volatile uint8_t *b = t.data;
  if (t.nbytes)
    (void)b[t.nbytes - 1];
  tensor_free(&t);
  volatile double keep = sum;
  (void)keep;
  return 0;
}
