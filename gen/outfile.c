/* outfile.c - temporary names, flush (and fsync if asked) and rename. */
#include "outfile.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *xstrdup(const char *s) {
  char *d = malloc(strlen(s) + 1);
  if (d)
    strcpy(d, s);
  return d;
}

static char *tmp_sibling(const char *path) {
  size_t n = strlen(path);
  while (n > 1 && path[n - 1] == '/')   /* "out/" names the same as "out" */
    n--;
  char *t = malloc(n + 16);
  if (t) {
    memcpy(t, path, n);
    strcpy(t + n, ".tmp.XXXXXX");
  }
  return t;
}

int outfile_open(OutFile *o, const char *path, Diag *d) {
  memset(o, 0, sizeof *o);
  o->path = xstrdup(path);
  o->tmp = tmp_sibling(path);
  int fd = o->tmp ? mkstemp(o->tmp) : -1;
  if (fd < 0 || !(o->f = fdopen(fd, "wb"))) {
    diag_file_error(d, path, "cannot create a temporary file: %s", strerror(errno));
    if (fd >= 0) {
      close(fd);
      unlink(o->tmp);
    }
    free(o->path);
    free(o->tmp);
    memset(o, 0, sizeof *o);
    return -1;
  }
  return 0;
}

static void outfile_release(OutFile *o) {
  free(o->path);
  free(o->tmp);
  memset(o, 0, sizeof *o);
}

static bool sync_outputs;

void outfile_set_sync(bool on) { sync_outputs = on; }

int outfile_commit(OutFile *o, Diag *d) {
  int bad = fflush(o->f) != 0 || ferror(o->f) || (sync_outputs && fsync(fileno(o->f)) != 0);
  int err = errno;
  bad |= fclose(o->f) != 0;
  o->f = NULL;
  /* mkstemp gives 0600; outputs are ordinary files */
  mode_t um = umask(0);
  umask(um);
  chmod(o->tmp, 0666 & ~um);
  if (bad || rename(o->tmp, o->path) != 0) {
    diag_file_error(d, o->path, "cannot write: %s", strerror(bad ? err : errno));
    unlink(o->tmp);
    outfile_release(o);
    return -1;
  }
  outfile_release(o);
  return 0;
}

void outfile_abort(OutFile *o) {
  if (o->f)
    fclose(o->f);
  if (o->tmp)
    unlink(o->tmp);
  outfile_release(o);
}

int outdir_begin(const char *path, char **tmp, Diag *d) {
  *tmp = tmp_sibling(path);
  if (!*tmp || !mkdtemp(*tmp)) {
    diag_file_error(d, path, "cannot create a temporary directory: %s", strerror(errno));
    free(*tmp);
    *tmp = NULL;
    return -1;
  }
  chmod(*tmp, 0755);
  return 0;
}

static void remove_tree(const char *path) {
  DIR *dir = opendir(path);
  if (dir) {
    struct dirent *e;
    while ((e = readdir(dir))) {
      if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
        continue;
      size_t n = strlen(path) + strlen(e->d_name) + 2;
      char *sub = malloc(n);
      if (!sub)
        continue;
      snprintf(sub, n, "%s/%s", path, e->d_name);
      struct stat st;
      if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
        remove_tree(sub);
      else
        unlink(sub);
      free(sub);
    }
    closedir(dir);
  }
  rmdir(path);
}

int outdir_commit(const char *tmp, const char *path, Diag *d) {
  struct stat st;
  char *old = NULL;
  if (lstat(path, &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      diag_file_error(d, path, "exists and is not a directory");
      return -1;
    }
    /* move the old tree aside first, so a failure can put it back */
    old = tmp_sibling(path);
    if (!old || !mkdtemp(old) || rmdir(old) != 0 || rename(path, old) != 0) {
      diag_file_error(d, path, "cannot replace: %s", strerror(errno));
      free(old);
      return -1;
    }
  }
  if (rename(tmp, path) != 0) {
    diag_file_error(d, path, "cannot create: %s", strerror(errno));
    if (old) {
      rename(old, path);
      free(old);
    }
    return -1;
  }
  if (old) {
    remove_tree(old);
    free(old);
  }
  return 0;
}

void outdir_abort(char *tmp) {
  if (tmp)
    remove_tree(tmp);
  free(tmp);
}

int outdir_mkdirs(const char *path, Diag *d) {
  char *p = xstrdup(path);
  if (!p)
    return -1;
  for (char *s = p + 1; ; s++) {
    if (*s == '/' || *s == '\0') {
      char c = *s;
      *s = '\0';
      if (mkdir(p, 0755) != 0 && errno != EEXIST) {
        diag_file_error(d, p, "cannot create directory: %s", strerror(errno));
        free(p);
        return -1;
      }
      *s = c;
      if (!c)
        break;
    }
  }
  free(p);
  return 0;
}

char *outdir_join(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *s = malloc(n);
  if (s)
    snprintf(s, n, "%s%s%s", dir, *name ? "/" : "", name);
  return s;
}
