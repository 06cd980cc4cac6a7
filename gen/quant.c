/* quant.c - weight quantisation (see quant.h).
 *
 * Linear formats: a scale per tensor, per output channel or per block of
 * input channels (one block per (o, c / B, spatial position), the shape
 * [cout, cin / B, kh, kw] constexpr_blockwise_shift_scale wants). Signed
 * types are symmetric: scale = fp16(absmax / qmax), q = clip(rne(w / scale)).
 * Unsigned types span [min(w, 0), max(w, 0)]: scale = fp16((hi - lo) /
 * (2^b - 1)), zero point z = clip(rne(-lo / scale)), q = clip(rne(w / scale)
 * + z). rne rounds half to even (coremltools' np.around). The scale is
 * rounded to fp16 before q is computed, so q is the best fit for the scale
 * actually stored. An all-zero block gets scale 1.
 *
 * Palettes: 1-D k-means per palette (per tensor or per group of output
 * channels) on the values sorted ascending (-0 taken as +0). Lloyd runs
 * twice: from centroid i at the sorted value of rank floor((2i + 1) m / 2K)
 * (the middle of the i-th of K equal slices of the data), and from
 * min + (max - min)(2i + 1) / 2K (of the range); the run with the smaller
 * squared error wins (the first on a tie). Each Lloyd step assigns every
 * value to its nearest centroid (ties to the lower one), which for sorted
 * values is a split into K runs found by binary search, and moves each
 * centroid to the mean of its run from prefix sums in double (an empty run
 * keeps its centroid); it stops when no run changes, or after 1000 steps.
 * The palette
 * is the centroids rounded to fp16, sorted; then every weight takes the
 * index of its nearest palette entry (ties to the lower index). With at
 * most K distinct values the palette is those values. Only comparisons
 * and IEEE double additions and divisions in a fixed order are used, so
 * the bytes are the same on every machine (the library is built with
 * -ffp-contract=off).
 *
 * Vector palettes (vec V > 1): entries are vectors of V values along the
 * output channels; vector (o, c, s) holds w[o V + v, c, s], v < V. k-means
 * in V dimensions per palette: the vectors are ordered by the sum of their
 * values (ties by index) and centroid i starts as the mean of the i-th of K
 * equal slices of that order; each Lloyd step gives every vector its
 * nearest centroid by squared distance (ties to the lower index) and moves
 * each centroid to the mean of its vectors, summed in index order (an
 * empty one stays); it stops when no vector changes centroid, or after 100
 * steps. The entries are the centroids rounded to fp16, in that order, and
 * every vector then takes its nearest entry (ties to the lower index).
 *
 * Sparse: the floor(sparsity * n) elements of smallest |w| become zero,
 * ties broken by the lower flat index; the rest are stored as fp16, int8 /
 * uint8 per channel or per tensor (scales from the kept values only), or
 * palette indices. */
#include "quant.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp16.h"

enum { KMEANS_STEPS = 1000, KMEANS_VEC_STEPS = 100 };

int quant_bits(MilDtype dt) { return mil_dtype_bits(dt); }

static bool is_lut_index(MilDtype dt) {
  return dt == MIL_UINT1 || dt == MIL_UINT2 || dt == MIL_UINT3 || dt == MIL_UINT4 ||
         dt == MIL_UINT6 || dt == MIL_UINT8;
}

static bool is_affine(MilDtype dt) {
  return dt == MIL_INT8 || dt == MIL_UINT8 || dt == MIL_INT4 || dt == MIL_UINT4;
}

const char *quant_check(const QuantFmt *f, int64_t cout, int64_t cin, int64_t k, char *msg,
                        size_t msgn) {
  if (cout < 1 || cin < 1 || k < 1)
    return "the weight is empty";
  if (f->sparse && !(f->sparsity >= 0 && f->sparsity < 1))
    return "sparsity must be in [0, 1)";
  if (f->kind == QK_AFFINE) {
    if (!is_affine(f->dtype))
      return "linear weight formats store int8, uint8, int4 or uint4";
    if (f->sparse && f->block > 0)
      return "sparse weights take per-channel or per-tensor scales, not blocks";
    if (f->block > 0 && cin % f->block != 0) {
      snprintf(msg, msgn, "block size %lld does not divide the %lld input channels",
               (long long)f->block, (long long)cin);
      return msg;
    }
    if (f->block < QUANT_PER_TENSOR)
      return "block size must be positive";
  }
  if (f->kind == QK_LUT) {
    if (!is_lut_index(f->dtype))
      return "palettes have 1, 2, 3, 4, 6 or 8 bits";
    if (f->group < 0 || (f->group > 0 && cout % f->group != 0)) {
      snprintf(msg, msgn, "palette group of %lld output channels does not divide the %lld "
               "output channels", (long long)f->group, (long long)cout);
      return msg;
    }
    if (f->vec > 1 && f->sparse)
      return "vector palettes are not sparse";
    if (f->vec > 1 && cout % f->vec != 0) {
      snprintf(msg, msgn, "vectors of %lld output channels do not divide the %lld output "
               "channels", (long long)f->vec, (long long)cout);
      return msg;
    }
    if (f->vec > 1 && f->group % f->vec != 0) {
      snprintf(msg, msgn, "vectors of %lld output channels do not divide the palette group of "
               "%lld", (long long)f->vec, (long long)f->group);
      return msg;
    }
  }
  if (f->kind == QK_FP16 && !f->sparse)
    return "fp16 weights are not quantised";
  return NULL;
}

/* ---- rounding ----------------------------------------------------------- */

/* Round half to even: nearbyint in the default rounding mode, which
 * nothing here changes. */
static double rne(double x) { return nearbyint(x); }

static double clip(double x, double lo, double hi) { return x < lo ? lo : x > hi ? hi : x; }

static void int_range(MilDtype dt, double *lo, double *hi) {
  int b = mil_dtype_bits(dt);
  if (mil_dtype_is_signed(dt)) {
    *lo = -ldexp(1, b - 1);
    *hi = ldexp(1, b - 1) - 1;
  } else {
    *lo = 0;
    *hi = ldexp(1, b) - 1;
  }
}

/* ---- linear formats ----------------------------------------------------- */

/* The scale index of element (o, c, s). */
static int64_t scale_at(const QuantOut *o, int64_t oc, int64_t c, int64_t s) {
  int64_t b = o->fmt.block;
  if (b == QUANT_PER_TENSOR)
    return 0;
  if (b == QUANT_PER_CHANNEL)
    return oc;
  return (oc * (o->cin / b) + c / b) * o->k + s;
}

static int64_t scale_count(const QuantOut *o) {
  int64_t b = o->fmt.block;
  return b == QUANT_PER_TENSOR ? 1 : b == QUANT_PER_CHANNEL ? o->cout
                                                            : o->cout * (o->cin / b) * o->k;
}

/* Scales (and zero points) from the range of the kept elements of each
 * block, then q for every kept element. */
static int affine(QuantOut *o, const float *w) {
  double lo, hi;
  int_range(o->fmt.dtype, &lo, &hi);
  bool sgn = mil_dtype_is_signed(o->fmt.dtype);
  o->nscale = scale_count(o);
  double *mn = calloc((size_t)o->nscale, sizeof *mn), *mx = calloc((size_t)o->nscale, sizeof *mx);
  o->scale = malloc((size_t)o->nscale * sizeof *o->scale);
  o->offset = sgn ? NULL : malloc((size_t)o->nscale * sizeof *o->offset);
  o->q = malloc((size_t)(o->nnz ? o->nnz : 1) * sizeof *o->q);
  if (!mn || !mx || !o->scale || (!sgn && !o->offset) || !o->q) {
    free(mn);
    free(mx);
    return -1;
  }
  int64_t i = 0;
  for (int64_t oc = 0; oc < o->cout; oc++)
    for (int64_t c = 0; c < o->cin; c++)
      for (int64_t s = 0; s < o->k; s++, i++) {
        if (o->mask && !o->mask[i])
          continue;
        int64_t j = scale_at(o, oc, c, s);
        mn[j] = fmin(mn[j], w[i]);
        mx[j] = fmax(mx[j], w[i]);
      }
  for (int64_t j = 0; j < o->nscale; j++) {
    double span = sgn ? fmax(-mn[j], mx[j]) / hi : (mx[j] - mn[j]) / hi;
    double sc = fp16_round(span);
    if (span > 0 && sc == 0)
      sc = 0x1p-24;   /* the smallest fp16 */
    if (span == 0 || !isfinite(sc))
      sc = sc == 0 ? 1 : 65504;
    o->scale[j] = (float)sc;
    if (!sgn)
      o->offset[j] = (int32_t)clip(rne(-mn[j] / sc), lo, hi);
  }
  int64_t at = 0;
  i = 0;
  for (int64_t oc = 0; oc < o->cout; oc++)
    for (int64_t c = 0; c < o->cin; c++)
      for (int64_t s = 0; s < o->k; s++, i++) {
        if (o->mask && !o->mask[i])
          continue;
        int64_t j = scale_at(o, oc, c, s);
        double z = sgn ? 0 : o->offset[j];
        o->q[at++] = (int16_t)clip(rne(w[i] / o->scale[j]) + z, lo, hi);
      }
  free(mn);
  free(mx);
  return 0;
}

/* ---- palettes ----------------------------------------------------------- */

/* The bits of finite v as a key whose unsigned order is v's order (-0 and
 * +0 apart: callers make -0 +0). */
static uint32_t float_key(float v) {
  uint32_t u;
  memcpy(&u, &v, sizeof u);
  return u & 0x80000000u ? ~u : u | 0x80000000u;
}

static float key_float(uint32_t k) {
  uint32_t u = k & 0x80000000u ? k & 0x7fffffffu : ~k;
  float v;
  memcpy(&v, &u, sizeof v);
  return v;
}

/* Sorts k[0..n) ascending: LSD radix, four byte passes through t. */
static void radix_sort(uint32_t *k, uint32_t *t, int64_t n) {
  for (int shift = 0; shift < 32; shift += 8) {
    int64_t at[257] = {0};
    for (int64_t i = 0; i < n; i++)
      at[((k[i] >> shift) & 255) + 1]++;
    for (int b = 0; b < 256; b++)
      at[b + 1] += at[b];
    for (int64_t i = 0; i < n; i++)
      t[at[(k[i] >> shift) & 255]++] = k[i];
    uint32_t *x = k;
    k = t;
    t = x;
  }   /* an even number of passes: the result is back in the caller's k */
}

/* Prefix sums of sorted v in double, kept every 64th value: sum(i) is
 * ck[i / 64] plus the values from there on, added in order, which is the
 * same arithmetic as a full prefix array in an eighth of the memory. */
typedef struct Prefix {
  const float *v;
  double *ck;
} Prefix;

static double prefix(const Prefix *p, int64_t i) {
  double s = p->ck[i / 64];
  for (int64_t j = i / 64 * 64; j < i; j++)
    s += p->v[j];
  return s;
}

/* The first index in v[0..m) whose value exceeds t. */
static int64_t upper(const float *v, int64_t m, double t) {
  int64_t lo = 0, hi = m;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if ((double)v[mid] > t)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

/* Runs of sorted v for centroids c[0..K): run i is [end[i-1], end[i]). */
static bool split(const float *v, int64_t m, const double *c, int K, int64_t *end) {
  bool changed = false;
  for (int i = 0; i < K; i++) {
    int64_t e = i == K - 1 ? m : upper(v, m, (c[i] + c[i + 1]) / 2);
    if (i > 0 && e < end[i - 1])
      e = end[i - 1];
    changed |= e != end[i];
    end[i] = e;
  }
  return changed;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Lloyd steps from centroids c (sorted) over sorted v; returns the squared
 * error of the final runs, summed in order. */
static double lloyd(const Prefix *p, int64_t m, int K, double *c) {
  int64_t end[256] = {0};
  for (int step = 0; step < KMEANS_STEPS; step++) {
    if (!split(p->v, m, c, K, end) && step > 0)
      break;
    for (int i = 0; i < K; i++) {
      int64_t s = i ? end[i - 1] : 0;
      if (end[i] > s)
        c[i] = (prefix(p, end[i]) - prefix(p, s)) / (double)(end[i] - s);
    }
    qsort(c, (size_t)K, sizeof *c, cmp_double);
  }
  split(p->v, m, c, K, end);
  double sse = 0;
  for (int i = 0, j = 0; i < K; i++)
    for (; j < end[i]; j++)
      sse += ((double)p->v[j] - c[i]) * ((double)p->v[j] - c[i]);
  return sse;
}

/* K centroids for sorted v[0..m) with more than K distinct values. */
static int centroids(const float *v, int64_t m, int K, double *c) {
  Prefix p = {v, malloc((size_t)(m / 64 + 1) * sizeof *p.ck)};
  if (!p.ck)
    return -1;
  double s = 0, u[256];
  for (int64_t i = 0; i < m; i++) {
    if (i % 64 == 0)
      p.ck[i / 64] = s;
    s += v[i];
  }
  if (m % 64 == 0)
    p.ck[m / 64] = s;
  for (int i = 0; i < K; i++) {
    c[i] = v[(2 * (int64_t)i + 1) * m / (2 * K)];
    u[i] = v[0] + ((double)v[m - 1] - v[0]) * (2 * i + 1) / (2 * K);
  }
  if (lloyd(&p, m, K, u) < lloyd(&p, m, K, c))
    memcpy(c, u, (size_t)K * sizeof *c);
  free(p.ck);
  return 0;
}

/* K fp16 palette entries (sorted) for w[0..m); v receives w sorted, with
 * k and t as scratch (m each). */
static int kmeans(const float *w, int64_t m, float *v, uint32_t *k, uint32_t *t, int K,
                  float *pal) {
  for (int64_t i = 0; i < m; i++)
    k[i] = float_key(w[i] + 0.0f);   /* -0 becomes +0: one value */
  radix_sort(k, t, m);
  for (int64_t i = 0; i < m; i++)
    v[i] = key_float(k[i]);
  double c[256];
  int distinct = 0;
  for (int64_t i = 0; i < m && distinct <= K; i++)
    if (i == 0 || v[i] != v[i - 1])
      distinct++;
  if (distinct <= K) {
    int n = 0;
    for (int64_t i = 0; i < m; i++)
      if (i == 0 || v[i] != v[i - 1])
        c[n++] = v[i];
    for (; n < K; n++)
      c[n] = n ? c[n - 1] : 0;
  } else if (centroids(v, m, K, c) != 0) {
    return -1;
  }
  for (int i = 0; i < K; i++)
    c[i] = fp16_round(c[i]);
  qsort(c, (size_t)K, sizeof *c, cmp_double);
  for (int i = 0; i < K; i++)
    pal[i] = (float)c[i];
  return 0;
}

/* The index of the palette entry nearest x (ties to the lower index):
 * the number of midpoints mid[0..K-1) between neighbours that x exceeds.
 * Small palettes count without branches; larger ones search. */
static int32_t nearest(const double *mid, int K, float x) {
  if (K <= 16) {
    int32_t n = 0;
    for (int i = 0; i < K - 1; i++)
      n += (double)x > mid[i];
    return n;
  }
  int lo = 0, hi = K - 1;
  while (lo < hi) {
    int m = (lo + hi) / 2;
    if ((double)x <= mid[m])
      hi = m;
    else
      lo = m + 1;
  }
  return lo;
}

/* kv[0..nnz): the kept values in order; row r's start in kv is rs[r]. */
static int palettes(QuantOut *o, const float *kv, const int64_t *rs) {
  int K = 1 << quant_bits(o->fmt.dtype);
  int64_t g = o->fmt.group ? o->fmt.group : o->cout;
  o->npal = o->cout / g;
  o->lut = malloc((size_t)(o->npal * K) * sizeof *o->lut);
  size_t n = (size_t)(o->nnz ? o->nnz : 1);
  o->q = malloc(n * sizeof *o->q);
  float *sorted = malloc(n * sizeof *sorted);
  uint32_t *k = malloc(n * sizeof *k), *t = malloc(n * sizeof *t);
  int rc = o->lut && o->q && sorted && k && t ? 0 : -1;
  for (int64_t p = 0; rc == 0 && p < o->npal; p++) {
    int64_t s = rs[p * g], e = rs[(p + 1) * g];
    float *pal = o->lut + p * K;
    rc = kmeans(kv + s, e - s, sorted, k, t, K, pal);
    double mid[255];
    for (int i = 0; i < K - 1; i++)
      mid[i] = ((double)pal[i] + pal[i + 1]) / 2;
    for (int64_t i = s; rc == 0 && i < e; i++)
      o->q[i] = (int16_t)nearest(mid, K, kv[i]);
  }
  free(sorted);
  free(k);
  free(t);
  return rc;
}

/* ---- vector palettes ---------------------------------------------------- */

typedef struct VecSet {
  const float *w;
  int64_t cin, k;
  int V;
  int64_t first, m;        /* vectors first..first+m-1 of the tensor */
} VecSet;

/* The set's vectors gathered once, x[j V + v] value v of vector j (flat
 * vector index first + j): every Lloyd step reads them all K times, and
 * in place each read cost a division. */
static void vec_gather(const VecSet *vs, float *x) {
  int64_t row = vs->cin * vs->k;
  for (int64_t j = 0; j < vs->m; j++) {
    int64_t f = vs->first + j;
    for (int v = 0; v < vs->V; v++)
      x[j * vs->V + v] = vs->w[(f / row * vs->V + v) * row + f % row];
  }
}

static double vec_dist(const float *x, const double *c, int V) {
  double d = 0;
  for (int v = 0; v < V; v++) {
    double e = x[v] - c[v];
    d += e * e;
  }
  return d;
}

static int32_t vec_nearest(const float *x, const double *c, int K, int V) {
  int32_t best = 0;
  double bd = vec_dist(x, c, V);
  for (int i = 1; i < K; i++) {
    double d = vec_dist(x, c + i * V, V);
    if (d < bd) {
      bd = d;
      best = i;
    }
  }
  return best;
}

typedef struct VecKey { double sum; int64_t j; } VecKey;

static int cmp_veckey(const void *a, const void *b) {
  const VecKey *x = a, *y = b;
  if (x->sum != y->sum)
    return (x->sum > y->sum) - (x->sum < y->sum);
  return (x->j > y->j) - (x->j < y->j);
}

/* Centroids c[K * V] of the set's vectors, then each vector's index in q
 * (against the fp16-rounded centroids, which become pal). */
static int vec_kmeans(const VecSet *vs, int K, int16_t *q, float *pal) {
  int V = vs->V;
  VecKey *key = malloc((size_t)vs->m * sizeof *key);
  int32_t *as = malloc((size_t)vs->m * sizeof *as);
  double *c = calloc((size_t)K * (size_t)V, sizeof *c), *sum = malloc((size_t)K * V * sizeof *sum);
  int64_t *cnt = malloc((size_t)K * sizeof *cnt);
  float *x = malloc((size_t)vs->m * V * sizeof *x);
  int rc = key && as && c && sum && cnt && x ? 0 : -1;
  if (rc == 0)
    vec_gather(vs, x);
  for (int64_t j = 0; rc == 0 && j < vs->m; j++) {
    key[j].j = j;
    key[j].sum = 0;
    for (int v = 0; v < V; v++)
      key[j].sum += x[j * V + v];
    as[j] = -1;
  }
  if (rc == 0)
    qsort(key, (size_t)vs->m, sizeof *key, cmp_veckey);
  for (int i = 0; rc == 0 && i < K; i++) {
    int64_t s = i * vs->m / K, e = (i + 1) * vs->m / K;
    for (int64_t t = s; t < e; t++)
      for (int v = 0; v < V; v++)
        c[i * V + v] += x[key[t].j * V + v];
    for (int v = 0; e > s && v < V; v++)
      c[i * V + v] /= (double)(e - s);
  }
  for (int step = 0; rc == 0 && step < KMEANS_VEC_STEPS; step++) {
    bool changed = false;
    for (int64_t j = 0; j < vs->m; j++) {
      int32_t n = vec_nearest(x + j * V, c, K, V);
      changed |= n != as[j];
      as[j] = n;
    }
    if (!changed)
      break;
    memset(sum, 0, (size_t)K * V * sizeof *sum);
    memset(cnt, 0, (size_t)K * sizeof *cnt);
    for (int64_t j = 0; j < vs->m; j++) {
      cnt[as[j]]++;
      for (int v = 0; v < V; v++)
        sum[as[j] * V + v] += x[j * V + v];
    }
    for (int i = 0; i < K; i++)
      for (int v = 0; cnt[i] && v < V; v++)
        c[i * V + v] = sum[i * V + v] / (double)cnt[i];
  }
  for (int i = 0; rc == 0 && i < K * V; i++) {
    c[i] = fp16_round(c[i]);
    pal[i] = (float)c[i];
  }
  for (int64_t j = 0; rc == 0 && j < vs->m; j++)
    q[j] = (int16_t)vec_nearest(x + j * V, c, K, V);
  free(key);
  free(as);
  free(c);
  free(sum);
  free(cnt);
  free(x);
  return rc;
}

static int vec_palettes(QuantOut *o, const float *w) {
  int K = 1 << quant_bits(o->fmt.dtype), V = (int)o->fmt.vec;
  int64_t g = o->fmt.group ? o->fmt.group : o->cout, row = o->cin * o->k;
  o->npal = o->cout / g;
  o->nnz = o->n / V;
  o->lut = malloc((size_t)(o->npal * K * V) * sizeof *o->lut);
  o->q = malloc((size_t)o->nnz * sizeof *o->q);
  int rc = o->lut && o->q ? 0 : -1;
  for (int64_t p = 0; rc == 0 && p < o->npal; p++) {
    VecSet vs = {w, o->cin, o->k, V, p * (g / V) * row, g / V * row};
    rc = vec_kmeans(&vs, K, o->q + vs.first, o->lut + p * K * V);
  }
  return rc;
}

/* ---- sparsity ----------------------------------------------------------- */

/* mask: the floor(sparsity * n) smallest |w| zero, ties by lower index. */
static int prune(QuantOut *o, const float *w) {
  o->mask = malloc((size_t)o->n);
  if (!o->mask)
    return -1;
  memset(o->mask, 1, (size_t)o->n);
  o->nnz = quant_kept(&o->fmt, o->n);
  int64_t nz = o->n - o->nnz;
  if (nz == 0)
    return 0;
  /* |w| as keys: the bits of a non-negative float order like the float */
  uint32_t *k = malloc((size_t)o->n * sizeof *k), *tmp = malloc((size_t)o->n * sizeof *tmp);
  if (!k || !tmp) {
    free(k);
    free(tmp);
    return -1;
  }
  for (int64_t i = 0; i < o->n; i++)
    k[i] = float_key(fabsf(w[i]));
  radix_sort(k, tmp, o->n);
  float t = key_float(k[nz - 1]);
  free(k);
  free(tmp);
  int64_t left = nz;
  for (int64_t i = 0; i < o->n; i++)
    if (fabsf(w[i]) < t) {
      o->mask[i] = 0;
      left--;
    }
  for (int64_t i = 0; i < o->n && left > 0; i++)
    if (fabsf(w[i]) == t) {
      o->mask[i] = 0;
      left--;
    }
  return 0;
}

/* ---- entry points ------------------------------------------------------- */

int64_t quant_kept(const QuantFmt *f, int64_t n) {
  return f->sparse ? n - (int64_t)floor(f->sparsity * (double)n) : n;
}

void quant_free(QuantOut *o) {
  free(o->mask);
  free(o->q);
  free(o->vals);
  free(o->scale);
  free(o->offset);
  free(o->lut);
  memset(o, 0, sizeof *o);
}

/* The kept values (a copy only when some are dropped) and where each row
 * starts among them. */
static int gather(const QuantOut *o, const float *w, float **kv, int64_t **rs) {
  *kv = o->mask ? malloc((size_t)(o->nnz ? o->nnz : 1) * sizeof **kv) : NULL;
  *rs = malloc((size_t)(o->cout + 1) * sizeof **rs);
  if ((o->mask && !*kv) || !*rs)
    return -1;
  int64_t at = 0, row = o->cin * o->k;
  for (int64_t r = 0; r <= o->cout; r++)
    (*rs)[r] = r * row;
  for (int64_t i = 0; o->mask && i < o->n; i++) {
    if (i % row == 0)
      (*rs)[i / row] = at;
    if (o->mask[i])
      (*kv)[at++] = w[i];
  }
  if (o->mask)
    (*rs)[o->cout] = at;
  return 0;
}

int quant_run(const QuantFmt *f, const float *w, int64_t cout, int64_t cin, int64_t k,
              QuantOut *o) {
  memset(o, 0, sizeof *o);
  o->fmt = *f;
  o->cout = cout;
  o->cin = cin;
  o->k = k;
  o->n = o->nnz = cout * cin * k;
  for (int64_t i = 0; i < o->n; i++)
    if (!isfinite(w[i]))
      return -1;
  if (f->sparse && prune(o, w) != 0)
    goto fail;
  if (f->kind == QK_AFFINE)
    return affine(o, w) == 0 ? 0 : (quant_free(o), -1);
  if (f->kind == QK_LUT && f->vec > 1)
    return vec_palettes(o, w) == 0 ? 0 : (quant_free(o), -1);
  float *kv = NULL;
  int64_t *rs = NULL;
  int rc = gather(o, w, &kv, &rs);
  if (rc == 0 && f->kind == QK_LUT)
    rc = palettes(o, kv ? kv : w, rs);
  if (rc == 0 && f->kind == QK_FP16) {
    for (int64_t i = 0; i < o->nnz; i++)
      kv[i] = (float)fp16_round(kv[i]);
    o->vals = kv;
    kv = NULL;
  }
  free(kv);
  free(rs);
  if (rc == 0)
    return 0;
fail:
  quant_free(o);
  return -1;
}

static int64_t vec_len(const QuantFmt *f) { return f->vec > 1 ? f->vec : 1; }

int64_t quant_part_numel(const QuantOut *o, QuantPart part, MilDtype *dt) {
  const QuantFmt *f = &o->fmt;
  *dt = f->dtype;
  switch (part) {
  case QP_DATA:    return f->kind == QK_AFFINE ? o->nnz : 0;
  case QP_SCALE:   *dt = MIL_FP16; return f->kind == QK_AFFINE ? o->nscale : 0;
  case QP_OFFSET:  return f->kind == QK_AFFINE && o->offset ? o->nscale : 0;
  case QP_INDICES: return f->kind == QK_LUT ? o->nnz : 0;
  case QP_LUT:     *dt = MIL_FP16;
                   return f->kind == QK_LUT ? (o->npal << quant_bits(f->dtype)) * vec_len(f) : 0;
  case QP_MASK:    *dt = MIL_UINT1; return f->sparse ? o->n : 0;
  case QP_VALUES:  *dt = MIL_FP16; return f->kind == QK_FP16 ? o->nnz : 0;
  default:         return 0;
  }
}

void quant_part_values(const QuantOut *o, QuantPart part, int64_t first, int64_t n, double *v) {
  for (int64_t i = 0; i < n; i++) {
    int64_t j = first + i;
    switch (part) {
    case QP_DATA: case QP_INDICES: v[i] = o->q[j]; break;
    case QP_SCALE:  v[i] = o->scale[j]; break;
    case QP_OFFSET: v[i] = o->offset[j]; break;
    case QP_LUT:    v[i] = o->lut[j]; break;
    case QP_MASK:   v[i] = o->mask[j]; break;
    default:        v[i] = o->vals[j]; break;
    }
  }
}

/* As the ops define it: scale * (q - offset) in fp32, rounded to fp16
 * (exact before rounding: an fp16 times a small integer); lut[index]. */
void quant_dequant(const QuantOut *o, float *out) {
  int64_t at = 0, i = 0, K = o->fmt.kind == QK_LUT ? 1 << quant_bits(o->fmt.dtype) : 0;
  int64_t g = o->fmt.group ? o->fmt.group : o->cout, V = vec_len(&o->fmt);
  for (int64_t oc = 0; oc < o->cout; oc++)
    for (int64_t c = 0; c < o->cin; c++)
      for (int64_t s = 0; s < o->k; s++, i++) {
        if (V > 1) {   /* index (oc / V, c, s), entry element oc % V */
          int64_t j = ((oc / V) * o->cin + c) * o->k + s;
          out[i] = o->lut[((oc / g) * K + o->q[j]) * V + oc % V];
          continue;
        }
        if (o->mask && !o->mask[i]) {
          out[i] = 0;
          continue;
        }
        if (o->fmt.kind == QK_AFFINE) {
          int64_t j = scale_at(o, oc, c, s);
          double z = o->offset ? o->offset[j] : 0;
          out[i] = (float)fp16_round((double)o->scale[j] * ((double)o->q[at] - z));
        } else if (o->fmt.kind == QK_LUT) {
          out[i] = o->lut[(oc / g) * K + o->q[at]];
        } else {
          out[i] = o->vals[at];
        }
        at++;
      }
}

void quant_error(const float *w, const float *y, int64_t n, double *max_abs, double *snr_db) {
  double mx = 0, sig = 0, err = 0;
  for (int64_t i = 0; i < n; i++) {
    double e = (double)y[i] - (double)w[i];
    mx = fmax(mx, fabs(e));
    sig += (double)w[i] * w[i];
    err += e * e;
  }
  *max_abs = mx;
  *snr_db = err == 0 ? INFINITY : 10 * log10(sig / err);
}
