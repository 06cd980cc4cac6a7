/* model.c - opening what anerun is pointed at and loading one model of it. */
#include "model.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blob.h"
#include "dialect.h"
#include "manifest.h"
#include "outfile.h"

enum {
  MODEL_MAX_TEXT = 512 << 20,
  MODEL_MAX_POINTS = 10000,   /* as many as one .anet sweep may have */
};

static char *dupstr(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The last component of a path, trailing slashes ignored ("a/b/" -> "b"). */
static char *last_component(const char *path) {
  char *s = dupstr(path);
  if (!s)
    return NULL;
  size_t n = strlen(s);
  while (n > 1 && s[n - 1] == '/')
    s[--n] = '\0';
  char *slash = strrchr(s, '/');
  if (slash && slash[1])
    memmove(s, slash + 1, strlen(slash + 1) + 1);
  return s;
}

/* "x/model.mil" -> "x"; "model.mil" -> ".". */
static char *parent_dir(const char *path) {
  char *s = dupstr(path);
  char *slash = s ? strrchr(s, '/') : NULL;
  if (!s)
    return NULL;
  if (!slash) {
    free(s);
    return dupstr(".");
  }
  if (slash == s)
    slash[1] = '\0';
  else
    *slash = '\0';
  return s;
}

/* ---- opening ------------------------------------------------------------- */

static int open_anet(ModelPath *mp, Diag *d) {
  mp->is_anet = true;
  if (src_read_file(&mp->src, mp->path, MODEL_MAX_TEXT, d) < 0)
    return -1;
  mp->anet = anet_parse(&mp->src, d);
  if (!mp->anet)
    return -1;
  mp->npoints = anet_npoints(mp->anet);
  return 0;
}

/* The report name of a model directory: its last component, or the
 * working directory's when the user wrote ".". */
static char *dir_name(const char *dir) {
  char *base = last_component(dir), cwd[4096];
  if (!base || strcmp(base, ".") != 0 || !getcwd(cwd, sizeof cwd))
    return base;
  free(base);
  return last_component(cwd);
}

/* The report name of the model in dir: the point or network its anet.json
 * names (anetc wrote one), else fallback (taken). NULL after reporting. */
static char *model_name(const char *dir, char *fallback, Diag *d) {
  Manifest m;
  int rc = fallback ? manifest_load_head(dir, &m, d) : 0;
  if (rc == 0 && fallback)
    return fallback;
  free(fallback);
  char *name = rc > 0 ? dupstr(manifest_model_name(&m)) : NULL;
  if (rc > 0)
    manifest_free(&m);
  if (rc >= 0 && !name)
    diag_file_error(d, dir, "out of memory");
  return name;
}

static int open_mil(ModelPath *mp, const char *mil, Diag *d) {
  mp->npoints = 1;
  mp->file = dupstr(mil);
  if (!mp->file) {
    diag_file_error(d, mil, "out of memory");
    return -1;
  }
  mp->base = model_name(mp->dir, dir_name(mp->dir), d);
  if (!mp->base)
    return -1;
  return src_read_file(&mp->src, mp->file, MODEL_MAX_TEXT, d);
}

static bool is_file(const char *path) {
  struct stat st;
  return path && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Names in natural order: runs of digits compare as numbers, so point
 * net_ch64 comes before net_ch128, as in the sweep. */
static int cmp_natural(const void *pa, const void *pb) {
  const char *a = *(char *const *)pa, *b = *(char *const *)pb;
  while (*a && *b) {
    if (isdigit((unsigned char)*a) && isdigit((unsigned char)*b)) {
      while (*a == '0')
        a++;
      while (*b == '0')
        b++;
      size_t na = strspn(a, "0123456789"), nb = strspn(b, "0123456789");
      int c = na != nb ? (na < nb ? -1 : 1) : strncmp(a, b, na);
      if (c)
        return c;
      a += na;
      b += nb;
    } else if (*a != *b) {
      return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
    } else {
      a++;
      b++;
    }
  }
  return strcmp(a, b);
}

/* Appends name to mp->points; -1 when out of memory. */
static int add_point(ModelPath *mp, int *cap, const char *name) {
  if (mp->npoints == *cap) {
    *cap = 2 * *cap + 8;
    char **grown = realloc(mp->points, (size_t)*cap * sizeof *grown);
    if (!grown)
      return -1;
    mp->points = grown;
  }
  if (!(mp->points[mp->npoints] = dupstr(name)))
    return -1;
  mp->npoints++;
  return 0;
}

/* The subdirectories of root that hold a model.mil, in natural order; -1 if there
 * are none, after reporting. */
static int find_points(ModelPath *mp, Diag *d) {
  DIR *dir = opendir(mp->root);
  if (!dir) {
    diag_file_error(d, mp->path, "cannot read the directory: %s", strerror(errno));
    return -1;
  }
  int cap = 0, oom = 0;
  for (struct dirent *e; !oom && mp->npoints < MODEL_MAX_POINTS && (e = readdir(dir));) {
    char *sub = e->d_name[0] != '.' ? outdir_join(mp->root, e->d_name) : NULL;
    char *mil = sub ? outdir_join(sub, "model.mil") : NULL;
    if (is_file(mil))
      oom = add_point(mp, &cap, e->d_name);
    free(mil);
    free(sub);
  }
  closedir(dir);
  if (oom || mp->npoints == 0) {
    diag_file_error(d, mp->path, oom ? "out of memory" :
                    "not a model directory: it has no model.mil, nor subdirectories that hold "
                    "one (anerun takes a model directory, a sweep directory, a model.mil file, "
                    "or a .anet file)");
    return -1;
  }
  qsort(mp->points, (size_t)mp->npoints, sizeof *mp->points, cmp_natural);
  mp->names = calloc((size_t)mp->npoints, sizeof *mp->names);
  if (!mp->names) {
    diag_file_error(d, mp->path, "out of memory");
    return -1;
  }
  for (int i = 0; i < mp->npoints; i++) {
    char *dir = outdir_join(mp->root, mp->points[i]);
    mp->names[i] = dir ? model_name(dir, dupstr(mp->points[i]), d) : NULL;
    if (!dir)
      diag_file_error(d, mp->path, "out of memory");
    free(dir);
    if (!mp->names[i])
      return -1;
  }
  return 0;
}

static int open_dir(ModelPath *mp, Diag *d) {
  char *mil = outdir_join(mp->path, "model.mil");
  int rc;
  if (!mil) {
    diag_file_error(d, mp->path, "out of memory");
    rc = -1;
  } else if (is_file(mil)) {
    mp->dir = dupstr(mp->path);
    rc = mp->dir ? open_mil(mp, mil, d) : -1;
  } else {
    mp->root = dupstr(mp->path);
    rc = mp->root ? find_points(mp, d) : -1;
  }
  free(mil);
  return rc;
}

/* Makes point i of a sweep directory the current model (dir, base, src). */
static int select_point(ModelPath *mp, int i, Diag *d) {
  free(mp->dir);
  free(mp->base);
  free(mp->file);
  src_free(&mp->src);
  mp->dir = outdir_join(mp->root, mp->points[i]);
  mp->base = dupstr(mp->names[i]);
  mp->file = mp->dir ? outdir_join(mp->dir, "model.mil") : NULL;
  if (!mp->dir || !mp->base || !mp->file) {
    diag_file_error(d, mp->path, "out of memory");
    return -1;
  }
  return src_read_file(&mp->src, mp->file, MODEL_MAX_TEXT, d);
}

const char *model_point_name(const ModelPath *mp, int i) {
  if (mp->anet)
    return anet_point_name(mp->anet, i);
  return mp->points ? mp->names[i] : mp->base;
}

int model_open(const char *path, ModelPath *mp, Diag *d) {
  memset(mp, 0, sizeof *mp);
  mp->path = dupstr(path);
  struct stat st;
  if (!mp->path) {
    diag_file_error(d, path, "out of memory");
    return -1;
  }
  if (stat(path, &st) != 0) {
    diag_file_error(d, path, "cannot open: %s", strerror(errno));
    return -1;
  }
  if (S_ISDIR(st.st_mode))
    return open_dir(mp, d);
  if (ends_with(path, ".anet"))
    return open_anet(mp, d);
  mp->dir = parent_dir(path);
  if (!mp->dir)
    return -1;
  return open_mil(mp, path, d);
}

/* The .anet files of dir, in natural order; none when dir holds a model
 * (model.mil, or a subdirectory with one). */
static int anet_files(const char *dir, ModelPath *list, Diag *d) {
  DIR *dp = opendir(dir);
  if (!dp) {
    diag_file_error(d, dir, "cannot read the directory: %s", strerror(errno));
    return -1;
  }
  int cap = 0, oom = 0;
  bool model = false;
  for (struct dirent *e; !oom && list->npoints < MODEL_MAX_POINTS && (e = readdir(dp));) {
    char *sub = e->d_name[0] != '.' ? outdir_join(dir, e->d_name) : NULL;
    char *mil = sub ? outdir_join(sub, "model.mil") : NULL;
    model |= is_file(mil) || strcmp(e->d_name, "model.mil") == 0;
    if (ends_with(e->d_name, ".anet") && is_file(sub))
      oom = add_point(list, &cap, e->d_name);
    free(mil);
    free(sub);
  }
  closedir(dp);
  if (oom) {
    diag_file_error(d, dir, "out of memory");
    return -1;
  }
  if (model || list->npoints == 0)
    return 0;
  qsort(list->points, (size_t)list->npoints, sizeof *list->points, cmp_natural);
  return list->npoints;
}

/* dir/name without doubling a slash dir ends with ("seed/" + "a.anet"). */
static char *join_under(const char *dir, const char *name) {
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/')
    n--;
  char *s = malloc(n + strlen(name) + 2);
  if (s)
    sprintf(s, "%.*s/%s", (int)n, dir, name);
  return s;
}

int model_expand(const char *path, char ***out, int *n, Diag *d) {
  ModelPath list;
  struct stat st;
  memset(&list, 0, sizeof list);
  int found = stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? anet_files(path, &list, d) : 0;
  if (found < 0) {
    model_close(&list);
    return -1;
  }
  *n = found > 0 ? found : 1;
  *out = calloc((size_t)*n, sizeof **out);
  for (int i = 0; *out && i < *n; i++)
    (*out)[i] = found > 0 ? join_under(path, list.points[i]) : dupstr(path);
  bool oom = !*out;
  for (int i = 0; !oom && i < *n; i++)
    oom = !(*out)[i];
  model_close(&list);
  if (oom) {
    for (int i = 0; *out && i < *n; i++)
      free((*out)[i]);
    free(*out);
    *out = NULL;
    diag_file_error(d, path, "out of memory");
    return -1;
  }
  return 0;
}

void model_close(ModelPath *mp) {
  if (mp->anet)
    anet_free(mp->anet);
  src_free(&mp->src);
  for (int i = 0; mp->points && i < mp->npoints; i++)
    free(mp->points[i]);
  for (int i = 0; mp->names && i < mp->npoints; i++)
    free(mp->names[i]);
  free(mp->points);
  free(mp->names);
  free(mp->root);
  free(mp->path);
  free(mp->dir);
  free(mp->base);
  free(mp->file);
  memset(mp, 0, sizeof *mp);
}

/* ---- the private directory of a .anet point ------------------------------ */

char *model_workdir_new(Diag *d) {
  const char *tmp = getenv("TMPDIR");
  char *dir = outdir_join(tmp && *tmp ? tmp : "/tmp", "anerun-XXXXXX");
  if (!dir || !mkdtemp(dir)) {
    diag_file_error(d, dir, "cannot make a private directory for the weights: %s",
                    strerror(errno));
    free(dir);
    return NULL;
  }
  return dir;
}

static void remove_in(const char *dir, const char *name, bool is_dir) {
  char *p = outdir_join(dir, name);
  if (p && is_dir)
    rmdir(p);
  else if (p)
    unlink(p);
  free(p);
}

static void workdir_clear(const char *dir) {
  remove_in(dir, "weights/weight.bin", false);
  remove_in(dir, "weights", true);
  remove_in(dir, "model.mil", false);
}

void model_workdir_remove(const char *dir) {
  if (!dir)
    return;
  workdir_clear(dir);
  rmdir(dir);
}

static int write_mil(const MilProg *p, const char *dir, Diag *d) {
  char *path = outdir_join(dir, "model.mil");
  FILE *f = path ? fopen(path, "w") : NULL;
  int rc = f ? mil_print(p, f) : -1;
  if (f && fclose(f) != 0)
    rc = -1;
  if (rc < 0)
    diag_file_error(d, path, "cannot write the program: %s", strerror(errno));
  free(path);
  return rc < 0 ? -1 : 0;
}

/* model.mil and weights/weight.bin of a lowered point, in dir. */
static int write_point(MilProg *p, const char *dir, Diag *d) {
  char *wdir = outdir_join(dir, "weights");
  char *bin = outdir_join(dir, "weights/weight.bin");
  int rc = -1;
  if (!wdir || !bin)
    diag_file_error(d, dir, "out of memory");
  else if (mkdir(wdir, 0700) != 0 && errno != EEXIST)
    diag_file_error(d, wdir, "cannot make the directory: %s", strerror(errno));
  else if (blob_write(p, bin, d) == 0 && write_mil(p, dir, d) == 0)
    rc = 0;
  free(wdir);
  free(bin);
  return rc;
}

/* ---- loading ------------------------------------------------------------- */

/* "first, second" (shortened when long). */
static void function_names(const MilProg *p, char *buf, size_t size) {
  size_t n = 0;
  buf[0] = '\0';
  for (int i = 0; i < p->nfuncs && n + 4 < size; i++)
    n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? ", " : "", p->funcs[i].name);
  if (n >= size)
    snprintf(buf + size - 4, 4, "...");
}

static void no_function(const ModelPath *mp, const MilProg *p, const char *want, Diag *d) {
  char names[256];
  function_names(p, names, sizeof names);
  if (p->nfuncs == 0)
    diag_file_error(d, mp->path, "the program has no function");
  else if (p->src)
    diag_error(d, p->src, p->funcs[0].loc,
               "the program has no function '%s' (it has: %s); choose one with --function",
               want, names);
  else
    diag_file_error(d, mp->path, "the program has no function '%s' (it has: %s)", want, names);
}

/* The function to run: mp->function, else main. Without --function a
 * program lacking main still loads (fn NULL) so --dry-run can describe it. */
static int find_function(const ModelPath *mp, Loaded *l, Diag *d) {
  const char *want = mp->function ? mp->function : "main";
  l->m.fn = mil_find_func(l->m.prog, want);
  if (l->m.fn || !mp->function)
    return 0;
  no_function(mp, l->m.prog, want, d);
  return -1;
}

int model_require_function(const ModelPath *mp, const Loaded *l, Diag *d) {
  if (l->m.fn)
    return 0;
  no_function(mp, l->m.prog, mp->function ? mp->function : "main", d);
  return -1;
}

/* Checks the weights the program names against dir; keeps the store when
 * the program has blobs. */
static int attach_weights(Loaded *l, const char *dir, Diag *d) {
  WStore *w = wstore_new(dir);
  if (!w) {
    diag_file_error(d, dir, "out of memory");
    return -1;
  }
  bool missing = false;
  l->nchecked = wstore_check_prog(w, l->m.prog, &missing, d);
  l->weights_missing = missing;
  l->has_blobs = l->nchecked > 0 || missing;
  if (l->nchecked < 0 || !l->has_blobs) {
    wstore_free(w);
    return l->nchecked < 0 ? -1 : 0;
  }
  l->m.weights = w;
  return 0;
}

static int load_mil(ModelPath *mp, int i, bool weights, Loaded *l, Diag *d) {
  if (mp->points && select_point(mp, i, d) < 0)
    return -1;
  l->name = dupstr(mp->base);
  l->m.prog = mil_parse(&mp->src, d);
  if (!l->name || !l->m.prog || find_function(mp, l, d) < 0)
    return -1;
  l->m.name = l->name;
  l->m.dir = mp->dir;
  if (attach_weights(l, mp->dir, d) < 0)
    return -1;
  if (weights && l->weights_missing) {
    diag_file_error(d, mp->dir,
                    "the program reads weights from weights/weight.bin, which is absent "
                    "(published model.mil files often come without it); --dry-run and --backend sim "
                    "still work");
    return -1;
  }
  return 0;
}

static char *point_name(const ModelPath *mp, int i) {
  const char *n = anet_point_name(mp->anet, i);
  return dupstr(n && *n ? n : anet_network_name(mp->anet));
}

static int load_anet(ModelPath *mp, int i, bool weights, const char *workdir, Loaded *l,
                     Diag *d) {
  l->name = point_name(mp, i);
  l->m.prog = anet_lower(mp->anet, i, d);
  if (l->m.prog && mp->target && mil_dialect(l->m.prog, mp->target, &mp->src, d) > 0)
    return -1;
  if (!l->name || !l->m.prog || find_function(mp, l, d) < 0)
    return -1;
  l->m.name = l->name;
  l->has_blobs = l->m.prog->nblobs > 0;
  if (!weights)
    return 0;
  l->own_workdir = !workdir;
  l->workdir = workdir ? dupstr(workdir) : model_workdir_new(d);
  if (!l->workdir || write_point(l->m.prog, l->workdir, d) < 0)
    return -1;
  l->m.dir = l->workdir;
  return attach_weights(l, l->workdir, d);
}

int model_load(ModelPath *mp, int i, bool weights, const char *workdir, Loaded *l, Diag *d) {
  memset(l, 0, sizeof *l);
  int rc = mp->is_anet ? load_anet(mp, i, weights, workdir, l, d) : load_mil(mp, i, weights, l, d);
  if (rc < 0)
    model_unload(l);
  return rc;
}

void model_unload(Loaded *l) {
  if (l->m.weights)
    wstore_free(l->m.weights);
  if (l->m.prog)
    mil_free(l->m.prog);
  if (l->workdir) {
    if (l->own_workdir)
      model_workdir_remove(l->workdir);
    else
      workdir_clear(l->workdir);
  }
  free(l->workdir);
  free(l->name);
  memset(l, 0, sizeof *l);
}
