/* fuzz_wfile.c - libFuzzer harness for the weight.bin checks.
 *
 * Input layout: 2 bytes little-endian n, then n bytes of MIL text, then
 * the image of a weight file. Every blob value the program names is
 * checked against the image; when a check passes, the whole data range is
 * read so that AddressSanitizer sees any range the check let through. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mil.h"
#include "wfile.h"

typedef struct Image {
  const uint8_t *buf;
  uint64_t len;
  Diag *d;
  unsigned sum;   /* keeps the reads of the data from being optimised away */
} Image;

static void check_value(Image *im, const MilValue *v, int depth) {
  if (!v || depth > 64)
    return;
  if (v->kind == MIL_VAGG) {
    for (int i = 0; i < v->nitems; i++)
      check_value(im, v->items[i], depth + 1);
    return;
  }
  if (v->kind != MIL_VBLOB || !v->type || v->type->kind != MIL_TENSOR)
    return;
  int64_t numel = mil_type_numel(v->type);
  const uint8_t *p = wfile_check_blob("weight.bin", im->buf, im->len, v->blob_offset,
                                      v->type->dtype, numel, im->d);
  if (!p)
    return;
  uint64_t nbytes = mil_blob_nbytes(v->type->dtype, numel);
  for (uint64_t i = 0; i < nbytes; i++)
    im->sum += p[i];
}

static void check_bind(Image *im, const MilBind *b, int depth) {
  if (depth > 64)
    return;
  if (b->kind == MIL_BVAL)
    check_value(im, b->val, 0);
  else if (b->kind == MIL_BLIST)
    for (int i = 0; i < b->nitems; i++)
      check_bind(im, &b->items[i], depth + 1);
}

static void check_prog(Image *im, const MilProg *p) {
  for (int a = 0; a < p->nattrs; a++)
    check_value(im, p->attrs[a].val, 0);
  for (int f = 0; f < p->nfuncs; f++) {
    const MilFunc *fn = &p->funcs[f];
    for (int a = 0; a < fn->nattrs; a++)
      check_value(im, fn->attrs[a].val, 0);
    for (int o = 0; o < fn->nops; o++) {
      const MilOp *op = &fn->ops[o];
      for (int a = 0; a < op->nargs; a++)
        check_bind(im, &op->args[a].bind, 0);
      for (int a = 0; a < op->nattrs; a++)
        check_value(im, op->attrs[a].val, 0);
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  size_t n = (size_t)data[0] | (size_t)data[1] << 8;
  if (n > size - 2)
    n = size - 2;
  Src src = {"fuzz.mil", (const char *)data + 2, n};
  Diag d = fuzz_diag();
  MilProg *p = mil_parse(&src, &d);
  if (!p)
    return 0;
  /* A copy of exactly the image's size, so a read past its end is caught. */
  uint64_t len = size - 2 - n;
  uint8_t *img = malloc(len ? len : 1);
  if (!img) {
    mil_free(p);
    return 0;
  }
  memcpy(img, data + 2 + n, len);
  Image im = {img, len, &d, 0};
  check_prog(&im, p);
  free(img);
  mil_free(p);
  volatile unsigned keep = im.sum;
  (void)keep;
  return 0;
}
