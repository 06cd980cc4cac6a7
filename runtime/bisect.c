/* bisect.c - binary search over op prefixes for the first op the compiler
 * refuses (see bisect.h).
 *
 * A prefix is a view of the program: the same ops, values and arena, a
 * shorter op list and its own outputs, so nothing is copied. Each compile
 * runs in a fork()ed child that reports its status and the compiler's
 * message through a pipe. */
#include "bisect.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static bool bind_reads(const MilBind *b, const char *name) {
  if (b->kind == MIL_BREF)
    return strcmp(b->ref, name) == 0;
  for (int i = 0; b->kind == MIL_BLIST && i < b->nitems; i++)
    if (bind_reads(&b->items[i], name))
      return true;
  return false;
}

/* Whether an op of fn[from, to) reads name. */
static bool read_in(const MilFunc *fn, int from, int to, const char *name) {
  for (int o = from; o < to; o++)
    for (int a = 0; a < fn->ops[o].nargs; a++)
      if (bind_reads(&fn->ops[o].args[a].bind, name))
        return true;
  return false;
}

static bool is_output(const MilFunc *fn, const char *name) {
  for (int i = 0; i < fn->noutputs; i++)
    if (strcmp(fn->outputs[i], name) == 0)
      return true;
  return false;
}

static bool is_const(const MilOp *op) { return strcmp(op->op, "const") == 0; }

/* Whether value `name`, defined by an op of the prefix ending at `last`,
 * is one of the prefix's outputs: a later op or fn's outputs read it. */
static bool live_after(const MilFunc *fn, int last, const char *name) {
  return read_in(fn, last + 1, fn->nops, name) || is_output(fn, name);
}

MilProg *bisect_prefix(const MilProg *p, const MilFunc *fn, int last) {
  int nout = 1;   /* at most every output of the prefix's ops, or the dead end's */
  for (int o = 0; o <= last; o++)
    nout += fn->ops[o].nouts;
  MilProg *q = calloc(1, sizeof *q);
  MilFunc *f = calloc(1, sizeof *f);
  MilOp *ops = calloc((size_t)last + 2, sizeof *ops);
  const char **outs = calloc((size_t)nout, sizeof *outs);
  if (!q || !f || !ops || !outs) {
    free(q), free(f), free(ops), free(outs);
    return NULL;
  }
  *q = *p;
  q->nfuncs = q->funccap = 1;
  q->funcs = f;
  *f = *fn;
  f->ops = ops;
  f->outputs = outs;
  f->nops = f->noutputs = 0;
  for (int o = 0; o <= last; o++) {
    const MilOp *op = &fn->ops[o];
    /* a const stays when an op of the prefix reads it */
    if (is_const(op) && op->nouts > 0 && !read_in(fn, o + 1, last + 1, op->outs[0].name))
      continue;
    f->ops[f->nops++] = *op;
    for (int k = 0; !is_const(op) && k < op->nouts; k++)
      if (live_after(fn, last, op->outs[k].name))
        outs[f->noutputs++] = op->outs[k].name;
  }
  if (f->noutputs == 0 && last >= 0 && fn->ops[last].nouts > 0)   /* a dead end: its own result */
    outs[f->noutputs++] = fn->ops[last].outs[0].name;
  return q;
}

void bisect_prefix_free(MilProg *q) {
  if (!q)
    return;
  free(q->funcs[0].ops);
  free(q->funcs[0].outputs);
  free(q->funcs);
  free(q);
}

/* One compile in a child: 0 compiles, 1 refused (msg set), -1 no child. */
static int compile_in_child(const Model *m, BisectCompile *compile, void *ctx, char *msg,
                            size_t size, Diag *d) {
  int fd[2];
  fflush(NULL);
  if (pipe(fd) != 0) {
    diag_file_error(d, m->name, "bisect: pipe: %s", strerror(errno));
    return -1;
  }
  pid_t pid = fork();
  if (pid < 0) {
    diag_file_error(d, m->name, "bisect: fork: %s", strerror(errno));
    close(fd[0]);
    close(fd[1]);
    return -1;
  }
  if (pid == 0) {
    close(fd[0]);
    char buf[1024] = "";
    int rc = compile(ctx, m, buf, sizeof buf);
    size_t n = strlen(buf);
    if (write(fd[1], buf, n) != (ssize_t)n)
      rc = 2;
    _exit(rc == 0 ? 0 : rc == 1 ? 1 : 2);
  }
  close(fd[1]);
  size_t n = 0;
  while (n < size - 1) {
    ssize_t got = read(fd[0], msg + n, size - 1 - n);
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      break;
    n += (size_t)got;
  }
  msg[n] = '\0';
  close(fd[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) {
      diag_file_error(d, m->name, "bisect: waitpid: %s", strerror(errno));
      return -1;
    }
  if (WIFEXITED(status) && WEXITSTATUS(status) <= 1)
    return WEXITSTATUS(status);
  if (WIFSIGNALED(status))
    diag_file_error(d, m->name, "bisect: the compiling child was killed by signal %d",
                    WTERMSIG(status));
  else
    diag_file_error(d, m->name, "bisect: the compile could not be tried: %.*s",
                    (int)strcspn(msg, "\n"), msg);
  return -1;
}

/* Compiles the prefix ending at op index `last` (last == nops-1: all). */
static int try_prefix(const Model *m, int last, BisectCompile *compile, void *ctx, Bisect *r,
                      char *msg, size_t size, Diag *d) {
  MilProg *q = bisect_prefix(m->prog, m->fn, last);
  if (!q) {
    diag_file_error(d, m->name, "bisect: out of memory");
    return -1;
  }
  Model pm = *m;
  pm.prog = q;
  pm.fn = &q->funcs[0];
  r->compiles++;
  int rc = compile_in_child(&pm, compile, ctx, msg, size, d);
  bisect_prefix_free(q);
  return rc;
}

int bisect_mil_line(const MilProg *p, const MilFunc *fn, int k) {
  if (k < 0 || k >= fn->nops)
    return 0;
  if (p->src && fn->ops[k].loc.end > fn->ops[k].loc.start) {
    int line, col;
    diag_linecol(p->src, fn->ops[k].loc.start, &line, &col);
    return line;
  }
  /* the printer: program line, buildInfo line, "{", then per function its
   * header, one line per op, its end (mil.h: one statement per line) */
  int line = 3 + (p->nattrs ? 1 : 0);
  for (int i = 0; i < p->nfuncs; i++) {
    if (&p->funcs[i] == fn)
      return line + 1 + k;   /* line is the function header's */
    line += p->funcs[i].nops + 2;
  }
  return 0;
}

int bisect_run(const Model *m, BisectCompile *compile, void *ctx, Bisect *r, Diag *d) {
  memset(r, 0, sizeof *r);
  r->bad = -1;
  const MilFunc *fn = m->fn;
  int *cand = calloc((size_t)fn->nops + 1, sizeof *cand);
  if (!cand) {
    diag_file_error(d, m->name, "bisect: out of memory");
    return -1;
  }
  for (int o = 0; o < fn->nops; o++)
    if (!is_const(&fn->ops[o]))
      cand[r->nops++] = o;
  char msg[sizeof r->msg];
  int rc = r->nops ? try_prefix(m, fn->nops - 1, compile, ctx, r, msg, sizeof msg, d) : 0;
  if (rc == 1) {
    snprintf(r->msg, sizeof r->msg, "%s", msg);
    int lo = 0, hi = r->nops;   /* prefixes of lo candidate ops compile, of hi do not */
    while (rc >= 0 && hi - lo > 1) {
      int mid = lo + (hi - lo) / 2;
      rc = try_prefix(m, cand[mid - 1], compile, ctx, r, msg, sizeof msg, d);
      if (rc == 1) {
        hi = mid;
        snprintf(r->msg, sizeof r->msg, "%s", msg);
      } else if (rc == 0) {
        lo = mid;
      }
    }
    r->bad = cand[hi - 1];
    r->mil_line = bisect_mil_line(m->prog, fn, r->bad);
  }
  free(cand);
  return rc < 0 ? -1 : 0;
}

int bisect_ane_compile(void *ctx, const Model *m, char *msg, size_t size) {
  const BisectAne *a = ctx;
  AneApi api;
  if (a->make(&api, a->arg) != 0) {
    snprintf(msg, size, "ane: no table");
    return 2;
  }
  char *text = NULL;
  size_t n = 0;
  FILE *out = open_memstream(&text, &n);
  if (!out) {
    snprintf(msg, size, "ane: out of memory");
    return 2;
  }
  Diag d = {out, 0};
  void *state = NULL;
  BackendOpts o = {.qos = (int)a->qos};
  int rc = ane_open_with(&api, m, &o, &state, &d);
  if (rc == 0)
    ane_close(state);
  fclose(out);
  snprintf(msg, size, "%s", text ? text : "");
  bool refused = text && strstr(text, "ane: compile failed: ") != NULL;
  free(text);
  return rc == 0 ? 0 : refused ? 1 : 2;
}

void bisect_print(FILE *out, const Model *m, const char *mil_file, ManifestSource from,
                  const Bisect *r) {
  if (r->bad < 0) {
    fprintf(out, "%s: the program compiles (%d compile): nothing to bisect\n", m->name,
            r->compiles);
    return;
  }
  const MilOp *op = &m->fn->ops[r->bad];
  int nth = 0;
  for (int o = 0; o <= r->bad; o++)
    nth += !is_const(&m->fn->ops[o]);
  fprintf(out, "%s: the first op the compiler refuses is '%s' (%s, op %d of %d)\n", m->name,
          op->nouts ? op->outs[0].name : "?", op->op, nth, r->nops);
  if (mil_file)
    fprintf(out, "%s:%d: the op's MIL statement\n", mil_file, r->mil_line);
  else
    fprintf(out, "  MIL line %d of the program as printed (anetc --emit=mil)\n", r->mil_line);
  if (from.file)
    fprintf(out, "%s:%d:%d: the .anet line it came from\n", from.file, from.line, from.col);
  const char *msg = strstr(r->msg, "compile failed: ");
  msg = msg ? msg + strlen("compile failed: ") : r->msg;
  fprintf(out, "  the compiler said: %.*s\n", (int)strcspn(msg, "\n"), msg);
  fprintf(out, "  %d compiles, each in a child process: the program, then %d op prefixes\n",
          r->compiles, r->compiles - 1);
}
