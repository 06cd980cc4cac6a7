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

#include "backend.h"
#include "diag.h"
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
 * const nothing reads. A new program sharing nothing with p. */
MilProg *bisect_prefix(const MilProg *p, const MilFunc *fn, int last);

/* Searches m (whose fn is the function to compile). 0 with *r filled, or
 * -1 after reporting on d when a child could not run. */
int bisect_run(const Model *m, BisectCompile *compile, void *ctx, Bisect *r, Diag *d);

/* The 1-based line of op `k` of fn in p's printed MIL text; 0 unknown. */
int bisect_mil_line(const MilProg *p, const MilFunc *fn, int k);

#endif
