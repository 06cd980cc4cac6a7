/* bisect.h - anerun --bisect: the first op whose addition makes a program
 * fail to compile.
 *
 * The program's leading op prefixes (each prefix's live values as its
 * outputs) are compiled in child processes, one compile each (the compiler
 * leaks: a process has a budget of about 119 compiles, FORMATS.md 2.10),
 * and a binary search finds the shortest prefix that fails. It assumes a
 * prefix of a compiling prefix compiles. */
#ifndef ANET_BISECT_H
#define ANET_BISECT_H

#include <stddef.h>

#include "ane_api.h"
#include "backend.h"
#include "diag.h"
#include "manifest.h"
#include "mil.h"

/* Compiles m: 0 when it compiles, 1 when the compiler refuses it, with
 * its message in msg. Runs in a child process. */
typedef int BisectCompile(void *ctx, const Model *m, char *msg, size_t size);

typedef struct Bisect {
  int nops;          /* ops the search ranges over (every op but const) */
  int bad;           /* index in fn->ops of the first failing op; -1: the program compiles */
  int compiles;      /* compiles done, the whole program's included */
  int mil_line;      /* the bad op's line in the program's MIL text; 0 unknown */
  char msg[1024];    /* what the compiler said about the shortest failing prefix */
} Bisect;

/* The program made of fn's ops up to and including op `last`, the values
 * they define that later ops or fn's outputs read as its outputs, and no
 * const nothing reads: a view sharing p's ops, values and arena (free it
 * with bisect_prefix_free, before p). NULL when out of memory. */
MilProg *bisect_prefix(const MilProg *p, const MilFunc *fn, int last);
void bisect_prefix_free(MilProg *q);

/* Searches m (whose fn is the function to compile). 0 with *r filled, or
 * -1 after reporting on d when a child could not run. */
int bisect_run(const Model *m, BisectCompile *compile, void *ctx, Bisect *r, Diag *d);

/* A BisectCompile through the ane backend (ctx a BisectAne): the model
 * opened and closed over the table make() fills. 1 when the compile step
 * failed, 2 when an earlier or later step did (not the compiler's answer). */
typedef struct BisectAne {
  int (*make)(AneApi *api, void *arg);
  void *arg;
  unsigned qos;
} BisectAne;
int bisect_ane_compile(void *ctx, const Model *m, char *msg, size_t size);

/* The result for m: the op, its MIL line in mil_file (the model.mil the
 * program came from, or NULL: the printed program), the .anet place it
 * came from when known, the compiler's message, the compiles. */
void bisect_print(FILE *out, const Model *m, const char *mil_file, ManifestSource from,
                  const Bisect *r);

/* The 1-based line of op `k` of fn in p's printed MIL text; 0 unknown. */
int bisect_mil_line(const MilProg *p, const MilFunc *fn, int k);

#endif
