/* opdef.h - op definitions shared by the MIL checker (grammar/milsema.c),
 * --dry-run, the sim backend and the cpu backend, so every path refuses a
 * bad program with the same located message.
 *
 * One row per op (gen/opdef.c, the table defs[]) gives its operands in a
 * compact spec: each operand's name, whether it is required, its dtype
 * class (the op's T list, float, integer, bool, string or any), whether it
 * must be a constant, and its default. A check refuses an operand the row
 * does not list, a missing operand, an operand of a dtype its class does
 * not allow, a parameter that must be constant but is not; then the row's function checks the parameters with
 * coremltools' conditions, infers the output types and verifies the
 * declared ones. docs/ops.md marks the ops with a row (153 of the 169
 * coremltools ops: every op the cpu backend runs but const, and
 * non_zero). A check whose
 * operands are not known (a '?' dim, a value computed at run time) is
 * skipped; the backend checks what it runs. */
#ifndef ANET_OPDEF_H
#define ANET_OPDEF_H

#include <stdbool.h>
#include <stddef.h>

#include "mil.h"

/* Checks f->ops[opi] against its definition: 0, or -1 with the reason in
 * msg (without the op's name or location, which the caller adds). */
int opdef_check(const MilFunc *f, int opi, char *msg, size_t n);

/* Whether op has a row. */
bool opdef_defined(const char *op);

#endif
