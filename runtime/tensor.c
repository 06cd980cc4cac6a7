/* tensor.c - host tensors and .npy files.
 *
 * Tensors hold their elements in host byte order. .npy files are always
 * little-endian; they are read and written byte by byte, so the code does
 * not depend on the host's byte order. Written headers are padded with
 * spaces so the data start at a multiple of 64 bytes, as current NumPy
 * writes them (older versions aligned to 16; readers accept either). */
#include "tensor.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fp16.h"
#include "npyhdr.h"
#include "outfile.h"

/* Bytes per element of the dtypes a Tensor can hold; 0 for the others
 * (sub-byte, bf16, string). */
static size_t elem_size(MilDtype dt) {
  switch (dt) {
  case MIL_BOOL: case MIL_INT8: case MIL_UINT8: return 1;
  case MIL_FP16: case MIL_INT16: case MIL_UINT16: return 2;
  case MIL_FP32: case MIL_INT32: case MIL_UINT32: return 4;
  case MIL_FP64: case MIL_INT64: case MIL_UINT64: return 8;
  default: return 0;
  }
}

int64_t tensor_numel(const Tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++)
    n *= t->dim[i];
  return n;
}

int tensor_alloc(Tensor *t, MilDtype dt, int rank, const int64_t *dim) {
  memset(t, 0, sizeof *t);
  size_t es = elem_size(dt);
  if (!es || rank < 0 || rank > MIL_MAX_RANK)
    return -1;
  uint64_t n = 1;
  for (int i = 0; i < rank; i++) {
    if (dim[i] < 0 || (dim[i] && n > (uint64_t)INT64_MAX / (uint64_t)dim[i]))
      return -1;
    n *= (uint64_t)dim[i];
  }
  if (n > SIZE_MAX / es)
    return -1;
  /* calloc(0) may return NULL; a zero-element tensor still gets a pointer */
  void *data = calloc(n ? n : 1, es);
  if (!data)
    return -1;
  t->dtype = dt;
  t->rank = rank;
  for (int i = 0; i < rank; i++)
    t->dim[i] = dim[i];
  t->data = data;
  t->nbytes = (size_t)n * es;
  return 0;
}

void tensor_free(Tensor *t) {
  free(t->data);
  memset(t, 0, sizeof *t);
}

double tensor_get(const Tensor *t, int64_t i) {
  const void *p = (const char *)t->data + (size_t)i * elem_size(t->dtype);
  switch (t->dtype) {
  case MIL_BOOL: case MIL_UINT8: return *(const uint8_t *)p;
  case MIL_INT8: return *(const int8_t *)p;
  case MIL_FP16: return fp16_to_float(*(const uint16_t *)p);
  case MIL_INT16: return *(const int16_t *)p;
  case MIL_UINT16: return *(const uint16_t *)p;
  case MIL_FP32: return *(const float *)p;
  case MIL_INT32: return *(const int32_t *)p;
  case MIL_UINT32: return *(const uint32_t *)p;
  case MIL_FP64: return *(const double *)p;
  case MIL_INT64: return (double)*(const int64_t *)p;
  case MIL_UINT64: return (double)*(const uint64_t *)p;
  default: return 0;
  }
}

/* x rounded to an integer, ties to even; |x| >= 2^52 is already one. */
static double round_even(double x) {
  if (!(x > -0x1p52 && x < 0x1p52))
    return x;
  double t = (double)(int64_t)x;    /* toward zero, exact */
  double frac = x - t;              /* exact */
  if (frac > 0.5 || (frac == 0.5 && fmod(t, 2) != 0))
    t += 1;
  else if (frac < -0.5 || (frac == -0.5 && fmod(t, 2) != 0))
    t -= 1;
  return t;
}

/* Rounds half to even and saturates to the type's range; NaN gives 0. */
static void set_int(void *p, MilDtype dt, double v) {
  int bits = (int)elem_size(dt) * 8;
  bool sgn = mil_dtype_is_signed(dt);
  double lo = sgn ? -ldexp(1, bits - 1) : 0;
  double top = ldexp(1, sgn ? bits - 1 : bits);     /* first value out of range */
  uint64_t max = sgn ? ((uint64_t)1 << (bits - 1)) - 1 : UINT64_MAX >> (64 - bits);
  uint64_t min = sgn ? (uint64_t)0 - ((uint64_t)1 << (bits - 1)) : 0;
  uint64_t u;
  double r = round_even(v);
  if (v != v)
    u = 0;
  else if (r >= top)
    u = max;
  else if (r <= lo)
    u = min;
  else
    u = sgn ? (uint64_t)(int64_t)r : (uint64_t)r;
  switch (bits) {
  case 8: { uint8_t x = (uint8_t)u; memcpy(p, &x, 1); break; }
  case 16: { uint16_t x = (uint16_t)u; memcpy(p, &x, 2); break; }
  case 32: { uint32_t x = (uint32_t)u; memcpy(p, &x, 4); break; }
  default: memcpy(p, &u, 8); break;
  }
}

void tensor_set(Tensor *t, int64_t i, double v) {
  void *p = (char *)t->data + (size_t)i * elem_size(t->dtype);
  switch (t->dtype) {
  case MIL_BOOL: *(uint8_t *)p = v != 0; break;
  case MIL_FP16: *(uint16_t *)p = fp16_from_double(v); break;
  case MIL_FP32: *(float *)p = (float)v; break;
  case MIL_FP64: *(double *)p = v; break;
  default:
    if (mil_dtype_is_int(t->dtype) && elem_size(t->dtype))
      set_int(p, t->dtype, v);
    break;
  }
}

/* ---- .npy ---------------------------------------------------------------- */

/* Little-endian file bytes to host elements, in place. */
static void from_le(void *data, size_t n, int es) {
  uint8_t *b = data;
  for (size_t i = 0; i < n; i++, b += es) {
    if (es == 2) {
      uint16_t v = (uint16_t)(b[0] | b[1] << 8);
      memcpy(b, &v, 2);
    } else if (es == 4) {
      uint32_t v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                   (uint32_t)b[3] << 24;
      memcpy(b, &v, 4);
    }
  }
}

static int alloc_for(const char *name, const NpyHeader *h, Tensor *out, Diag *d) {
  if (tensor_alloc(out, h->dtype, h->rank, h->dim) != 0) {
    diag_file_error(d, name, "the array (%" PRIu64 " bytes) is too large", h->data_bytes);
    return -1;
  }
  return 0;
}

int npy_read_mem(const char *name, const void *buf, size_t len, Tensor *out, Diag *d) {
  memset(out, 0, sizeof *out);
  NpyHeader h;
  if (npyhdr_parse(name, buf, len, &h, d) != 0)
    return -1;
  uint64_t have = len - h.data_offset;
  if (have != h.data_bytes)
    return npyhdr_wrong_length(name, &h, have, d);
  if (alloc_for(name, &h, out, d) != 0)
    return -1;
  memcpy(out->data, (const uint8_t *)buf + h.data_offset, out->nbytes);
  from_le(out->data, (size_t)h.numel, npyhdr_elem_size(h.dtype));
  return 0;
}

int npy_read(const char *path, Tensor *out, Diag *d) {
  memset(out, 0, sizeof *out);
  NpyHeader h;
  FILE *f = npyhdr_open(path, &h, d);
  if (!f)
    return -1;
  int rc = alloc_for(path, &h, out, d);
  if (rc == 0 && fread(out->data, 1, out->nbytes, f) != out->nbytes) {
    diag_file_error(d, path, "cannot read the data: %s",
                    ferror(f) ? strerror(errno) : "unexpected end of file");
    tensor_free(out);
    rc = -1;
  }
  if (rc == 0)
    from_le(out->data, (size_t)h.numel, npyhdr_elem_size(h.dtype));
  fclose(f);
  return rc;
}

int npy_write(const char *path, const Tensor *t, Diag *d) {
  uint8_t head[1024];
  size_t hl = npyhdr_format(head, sizeof head, t->dtype, t->rank, t->dim);
  if (!hl) {
    diag_file_error(d, path, "cannot store %s in a .npy file (supported: fp16 fp32 int8 uint8 int32 bool)",
                    mil_dtype_name(t->dtype));
    return -1;
  }
  OutFile o;
  if (outfile_open(&o, path, d) != 0)
    return -1;
  bool ok = fwrite(head, 1, hl, o.f) == hl;
  int es = npyhdr_elem_size(t->dtype);
  size_t n = (size_t)tensor_numel(t);
  const uint8_t *src = t->data;
  uint8_t buf[4096];
  for (size_t i = 0; ok && i < n;) {
    size_t m = n - i < sizeof buf / 4 ? n - i : sizeof buf / 4;
    for (size_t j = 0; j < m; j++) {
      uint32_t v = 0;
      if (es == 1)
        v = src[i + j];
      else if (es == 2) {
        uint16_t h;
        memcpy(&h, src + 2 * (i + j), 2);
        v = h;
      } else
        memcpy(&v, src + 4 * (i + j), 4);
      for (int k = 0; k < es; k++)
        buf[j * (size_t)es + (size_t)k] = (uint8_t)(v >> (8 * k));
    }
    ok = fwrite(buf, (size_t)es, m, o.f) == m;
    i += m;
  }
  if (!ok) {
    diag_file_error(d, path, "cannot write: %s", strerror(errno));
    outfile_abort(&o);
    return -1;
  }
  return outfile_commit(&o, d);
}

void tensor_shape_str(char *buf, size_t n, int rank, const int64_t *dim) {
  size_t used = (size_t)snprintf(buf, n, "[");
  for (int k = 0; k < rank && used < n; k++)
    used += (size_t)snprintf(buf + used, n - used, "%s%lld", k ? ", " : "", (long long)dim[k]);
  if (used < n)
    snprintf(buf + used, n - used, "]");
}
