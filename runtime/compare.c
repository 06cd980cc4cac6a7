/* compare.c - error measures between an output and its reference. */
#include "compare.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static bool same_shape(const Tensor *a, const Tensor *b) {
  if (a->rank != b->rank)
    return false;
  for (int i = 0; i < a->rank; i++)
    if (a->dim[i] != b->dim[i])
      return false;
  return true;
}

typedef struct Acc {
  double max_abs, max_rel, max_ref, sig, noise;
} Acc;

static void accumulate(Acc *a, double o, double r) {
  if (isnan(o) || isnan(r) || isinf(o) || isinf(r)) {
    bool same = (isnan(o) && isnan(r)) || o == r;
    if (!same)
      a->max_abs = a->max_rel = a->noise = INFINITY;
    return;
  }
  double e = fabs(o - r), m = fabs(r);
  a->max_abs = fmax(a->max_abs, e);
  a->max_rel = fmax(a->max_rel, e / fmax(m, 1e-6));
  a->max_ref = fmax(a->max_ref, m);
  a->sig += r * r;
  a->noise += e * e;
}

static double snr_db(const Acc *a) {
  if (a->noise == 0)
    return INFINITY;
  return 10 * log10(a->sig / a->noise);
}

static void shape_text(const Tensor *t, char *buf, size_t size) {
  size_t n = (size_t)snprintf(buf, size, "[");
  for (int i = 0; i < t->rank && n < size; i++)
    n += (size_t)snprintf(buf + n, size - n, "%s%lld", i ? ", " : "", (long long)t->dim[i]);
  if (n < size)
    snprintf(buf + n, size - n, "]");
}

int compare_tensors(const char *name, const Tensor *out, const Tensor *ref, Compare *c, Diag *d) {
  if (!same_shape(out, ref)) {
    char a[160], b[160];
    shape_text(out, a, sizeof a);
    shape_text(ref, b, sizeof b);
    diag_file_error(d, "anerun", "output '%s': the shapes differ: %s against the reference %s", name,
                    a, b);
    return -1;
  }
  Acc a;
  memset(&a, 0, sizeof a);
  int64_t n = tensor_numel(ref);
  for (int64_t i = 0; i < n; i++)
    accumulate(&a, tensor_get(out, i), tensor_get(ref, i));
  c->n = n;
  c->max_abs = a.max_abs;
  c->max_rel = a.max_rel;
  c->snr_db = snr_db(&a);
  c->norm = a.max_ref > 0 ? a.max_abs / a.max_ref : a.max_abs;
  return 0;
}

bool compare_ok(const Compare *c, double tol) { return c->norm <= tol; }
