/* calib.c - activation scales from a calibration input (calib.h). The
 * probe program runs on the cpu backend through its public interface
 * (backend.h), as anerun would run it; nothing of the backend's inside is
 * used here. */
#include "calib.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "blob.h"
#include "fp16.h"
#include "outfile.h"

int calib_add(Calib *c, const char *arg, int *usage, Diag *d) {
  const char *eq = strchr(arg, '=');
  *usage = !eq || eq == arg || !eq[1];
  if (*usage)
    return -1;
  Tensor t;
  if (npy_read(eq + 1, &t, d) != 0)
    return -1;
  AnetCalInput *in = realloc(c->inputs, (size_t)(c->n + 1) * sizeof *in);
  Tensor *data = in ? realloc(c->data, (size_t)(c->n + 1) * sizeof *data) : NULL;
  if (in)
    c->inputs = in;
  if (!data) {
    tensor_free(&t);
    diag_file_error(d, eq + 1, "out of memory");
    return -1;
  }
  c->data = data;
  char *name = strndup(arg, (size_t)(eq - arg));
  if (!name) {
    tensor_free(&t);
    diag_file_error(d, eq + 1, "out of memory");
    return -1;
  }
  c->data[c->n] = t;
  c->inputs[c->n] = (AnetCalInput){name, eq + 1, t.dtype, t.rank, NULL};
  c->n++;
  for (int i = 0; i < c->n; i++)   /* data may have moved */
    c->inputs[i].dim = c->data[i].dim;
  return 0;
}

void calib_free(Calib *c) {
  for (int i = 0; i < c->n; i++) {
    free((char *)c->inputs[i].name);
    tensor_free(&c->data[i]);
  }
  free(c->inputs);
  free(c->data);
  *c = (Calib){0};
}

double calib_scale(double absmax) {
  if (absmax == 0)
    return 1;
  double s = fp16_round(absmax / 127);
  return s < 0x1p-24 ? 0x1p-24 : s;
}

/* Input i of fn as the backend wants it: the calibration data converted to
 * the input's dtype, or zeros for a state. */
static int make_input(const MilFunc *fn, int i, const Calib *c, Tensor *t) {
  const MilType *ty = fn->inputs[i].type;
  if (ty->kind == MIL_STATE && ty->nsub == 1)
    return tensor_alloc(t, ty->sub[0]->dtype, ty->sub[0]->rank, ty->sub[0]->dim);
  const Tensor *src = NULL;
  for (int k = 0; k < c->n && !src; k++)
    if (strcmp(c->inputs[k].name, fn->inputs[i].name) == 0)
      src = &c->data[k];
  if (!src || tensor_alloc(t, ty->dtype, ty->rank, ty->dim) != 0)
    return -1;
  for (int64_t j = 0; j < tensor_numel(t); j++)
    tensor_set(t, j, tensor_get(src, j));
  return 0;
}

/* Runs the probe on the cpu backend: the largest |value| of each probe
 * output, then its scale, into scale[0..nprobe). */
static int measure(const MilProg *p, const char *dir, int nprobe, const Calib *c, double *scale,
                   Diag *d) {
  const MilFunc *fn = &p->funcs[0];
  Model m = {"calibration", dir, (MilProg *)p, fn, p->nblobs ? wstore_new(dir) : NULL};
  BackendOpts o = {0};
  void *st = NULL;
  double ms = 0;
  int rc = cpu_backend.open(&m, &o, &st, d);
  for (int i = 0; rc == 0 && i < fn->ninputs; i++) {
    Tensor t;
    if ((rc = make_input(fn, i, c, &t)) != 0) {
      diag_file_error(d, NULL, "calibration: out of memory");
      break;
    }
    rc = cpu_backend.set_input(st, i, &t, d);
    tensor_free(&t);
  }
  if (rc == 0)
    rc = cpu_backend.eval(st, &ms, d);
  for (int k = 0; rc == 0 && k < nprobe; k++) {
    int out = fn->noutputs - nprobe + k;
    Tensor y;
    if ((rc = cpu_backend.get_output(st, out, &y, d)) != 0)
      break;
    double mx = 0;
    bool finite = true;
    for (int64_t j = 0; j < tensor_numel(&y); j++) {
      double v = tensor_get(&y, j);
      finite &= isfinite(v) != 0;
      mx = fmax(mx, fabs(v));
    }
    tensor_free(&y);
    if (!finite) {
      diag_file_error(d, NULL, "calibration: '%s' is not finite on the calibration input, so "
                      "scale=auto has no scale for it", fn->outputs[out]);
      rc = -1;
    }
    scale[k] = calib_scale(mx);
  }
  if (st)
    cpu_backend.close(st);
  wstore_free(m.weights);
  return rc;
}

/* The probe's weights in a temporary model directory, then measure(). */
static int run_probe(MilProg *p, int nprobe, const Calib *c, double *scale, Diag *d) {
  const char *tmpdir = getenv("TMPDIR");
  char *dir = outdir_join(tmpdir && *tmpdir ? tmpdir : "/tmp", "anetc-calib.XXXXXX");
  if (!dir || !mkdtemp(dir)) {
    diag_file_error(d, dir, "cannot make a calibration directory: %s", strerror(errno));
    free(dir);
    return -1;
  }
  char *wdir = outdir_join(dir, "weights");
  char *wpath = wdir ? outdir_join(wdir, "weight.bin") : NULL;
  int rc = -1;
  if (wpath && (!p->nblobs || (outdir_mkdirs(wdir, d) == 0 && blob_write(p, wpath, d) == 0)))
    rc = measure(p, dir, nprobe, c, scale, d);
  free(wdir);
  free(wpath);
  outdir_abort(dir);   /* removes it and frees dir */
  return rc;
}

MilProg *calib_lower(const AnetFile *f, int point, const Calib *c, Diag *d) {
  if (!c || c->n == 0)
    return anet_lower(f, point, d);
  AnetCalib cal = {c->n, c->inputs, true, 0, 0, NULL};
  MilProg *p = anet_lower_calib(f, point, &cal, d);
  if (!p || cal.nprobe == 0)
    return p;   /* no auto layers: the probe is the program */
  double *scale = malloc((size_t)cal.nprobe * sizeof *scale);
  int rc = scale ? run_probe(p, cal.nprobe, c, scale, d) : -1;
  if (!scale)
    diag_file_error(d, NULL, "calibration: out of memory");
  mil_free(p);
  p = NULL;
  if (rc == 0) {
    cal.probe = false;
    cal.nscale = cal.nprobe;
    cal.scale = scale;
    p = anet_lower_calib(f, point, &cal, d);
  }
  free(scale);
  return p;
}
