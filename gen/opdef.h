/* opdef.h - op definitions shared by the MIL checker (grammar/milsema.c)
 * and the cpu backend (so --dry-run, the sim backend and a cpu run refuse
 * the same program with the same message): the checks on an op's
 * parameters and operand shapes that make a program invalid whatever runs
 * it. Started with the ops whose bad parameters only a cpu run used to
 * refuse: conv (groups), transpose (perm), softmax (axis), matmul (inner
 * dims); the elementwise ops, transpose and softmax also have their
 * declared output type verified against the one they compute (and binary
 * ops their operands' broadcast). A check whose operands are not known (a
 * '?' dim, a parameter that is not a constant, a dtype the op does not
 * take) is skipped; the backend checks what it runs. */
#ifndef ANET_OPDEF_H
#define ANET_OPDEF_H

#include <stddef.h>

#include "mil.h"

/* Checks f->ops[opi] against its definition: 0, or -1 with the reason in
 * msg (without the op's name or location, which the caller adds). */
int opdef_check(const MilFunc *f, int opi, char *msg, size_t n);

#endif
