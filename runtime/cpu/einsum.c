/* einsum.c - the cpu backend's einsum: the two equations the opset allows
 * (coremltools' iOS15 linear.py), "nchw,nwhu->nchu" and "chw,whr->chr" up to
 * renaming the letters: a matrix product over dims -1 of x and -3 of y,
 * every other dim a batch, B and H broadcast from 1. */
#include <stdlib.h>
#include <string.h>

#include "cpu.h"

/* The equation's letters numbered by first appearance (x, then y, then the
 * result), as the definition's parse_einsum_equation; false when it has not
 * exactly two operands and one result. */
static bool einsum_parse(const char *eq, int v[3][8], int n[3]) {
  int map[256], next = 0, part = 0;
  memset(map, -1, sizeof map);
  memset(n, 0, 3 * sizeof *n);
  for (const char *c = eq; *c; c++) {
    if (*c == ',' && part == 0) {
      part = 1;
    } else if (c[0] == '-' && c[1] == '>' && part == 1) {
      part = 2;
      c++;
    } else {
      unsigned char u = (unsigned char)*c;
      if (n[part] == 8 || *c == ',' || *c == '-' || *c == '>')
        return false;
      if (map[u] < 0)
        map[u] = next++;
      v[part][n[part]++] = map[u];
    }
  }
  return part == 2;
}

static bool same(const int *a, int n, const int *want, int nw) {
  return n == nw && memcmp(a, want, (size_t)n * sizeof *a) == 0;
}

/* k: 0 B, 1 C, 2 H, 3 W (summed), 4 U; 5 x's B, 6 x's H, 7 y's B, 8 y's H.
 * tab[0], tab[1]: where x's [C, W] and y's [W, U] matrix of each (b, h)
 * start, b-major. */
static int prep_einsum(CpuBuild *b, CpuStep *s) {
  static const int x4[] = {0, 1, 2, 3}, y4[] = {0, 3, 2, 4}, o4[] = {0, 1, 2, 4};
  static const int x3[] = {0, 1, 2}, y3[] = {2, 1, 3}, o3[] = {0, 1, 3};
  int *vals = NULL, v[3][8], n[3];
  const char *eq;
  int nv = cpu_input_list(b, "values", &vals);
  if (nv < 0)
    return -1;
  if (nv != 2) {
    free(vals);
    return cpu_error(b, "values must hold 2 tensors; it has %d", nv);
  }
  s->in[0] = vals[0];
  s->in[1] = vals[1];
  free(vals);
  CpuSlot x = cpu_slot(b, s->in[0]), y = cpu_slot(b, s->in[1]);
  if (cpu_param_str(b, "equation", NULL, &eq) < 0 || cpu_need_float(b, &x, "values[0]") < 0 ||
      cpu_need_float(b, &y, "values[1]") < 0)
    return -1;
  if (x.dtype != y.dtype || x.rank != y.rank || (x.rank != 3 && x.rank != 4))
    return cpu_error(b, "values must be two tensors of one dtype and of rank 3 or 4 both");
  bool ok = einsum_parse(eq, v, n);
  if (!ok || !(x.rank == 4 ? same(v[0], n[0], x4, 4) && same(v[1], n[1], y4, 4) && same(v[2], n[2], o4, 4)
                           : same(v[0], n[0], x3, 3) && same(v[1], n[1], y3, 3) && same(v[2], n[2], o3, 3)))
    return cpu_error(b, "unsupported einsum equation \"%s\" (the opset allows \"nchw,nwhu->nchu\" "
                        "and \"chw,whr->chr\", up to renaming)", eq);
  int r = x.rank;
  int64_t xb = r == 4 ? x.dim[0] : 1, yb = r == 4 ? y.dim[0] : 1;
  int64_t xh = x.dim[r - 2], yh = y.dim[r - 2];
  if (x.dim[r - 1] != y.dim[r - 3])
    return cpu_error(b, "values[0]'s last dim (%lld) differs from values[1]'s dim -3 (%lld)",
                     (long long)x.dim[r - 1], (long long)y.dim[r - 3]);
  if ((xh != yh && xh != 1 && yh != 1) || (xb != yb && xb != 1 && yb != 1))
    return cpu_error(b, "the batch dims (B and H) differ and neither is 1");
  int64_t B = xb > yb ? xb : yb, H = xh > yh ? xh : yh;
  int64_t kv[9] = {B, x.dim[r - 3], H, x.dim[r - 1], y.dim[r - 1], xb, xh, yb, yh};
  memcpy(s->k, kv, sizeof kv);
  int64_t C = kv[1], W = kv[3], U = kv[4];
  if (!(s->tab[0] = cpu_step_alloc(b, B * H, sizeof(int64_t))) ||
      !(s->tab[1] = cpu_step_alloc(b, B * H, sizeof(int64_t))))
    return -1;
  for (int64_t bi = 0; bi < B; bi++)
    for (int64_t h = 0; h < H; h++) {
      s->tab[0][bi * H + h] = ((xb > 1 ? bi : 0) * C * xh + (xh > 1 ? h : 0)) * W;
      s->tab[1][bi * H + h] = ((yb > 1 ? bi : 0) * W * yh + (yh > 1 ? h : 0)) * U;
    }
  s->ntab[0] = s->ntab[1] = B * H;
  s->rounds = x.dtype == MIL_FP16;   /* by cpu_gemm, tile by tile */
  int64_t odim[4] = {B, kv[1], H, kv[4]};
  return cpu_one_out(b, x.dtype, r, r == 4 ? odim : odim + 1);
}

/* For each b, the H products [C, W] x [W, U] of its (b, h) as one batched
 * GEMM: x's rows are xh * W apart, y's yh * U, the result's H * U. */
static void run_einsum(const CpuPlan *p, const CpuStep *s) {
  const int64_t *k = s->k;
  int64_t B = k[0], C = k[1], H = k[2], W = k[3], U = k[4];
  for (int64_t bi = 0; bi < B; bi++) {
    CpuGemm g = {.M = C, .N = U, .K = W, .lda = k[6] * W, .ldb = k[8] * U, .ldc = H * U,
                 .a = cpu_data(p, s->in[0]), .b = cpu_data(p, s->in[1]),
                 .c = cpu_data(p, s->out[0]) + bi * C * H * U, .batches = H, .cstride = U,
                 .aoff = s->tab[0] + bi * H, .boff = s->tab[1] + bi * H,
                 .round = s->rounds && !p->fp32};
    cpu_gemm(p, &g);
  }
}

const CpuOpDef cpu_ops_einsum[] = {
  {"einsum", prep_einsum, run_einsum, 0, false, false},
  {NULL, NULL, NULL, 0, false, false},
};
