/* dialect.h - a lowered program (program(1.3), <ios18>) put in the MIL
 * dialect of a target: program(1.0) with <ios16>/<ios17> for the targets
 * that take no newer opset (FORMATS.md §2.1, §2.4), where constexpr
 * parameters are attributes. The printer spells the scalars verbosely
 * from p->version. */
#ifndef ANET_DIALECT_H
#define ANET_DIALECT_H

#include "diag.h"
#include "mil.h"
#include "target.h"

/* Rewrites p for t. An op or weight format the target's opset lacks is an
 * error at the op's loc in src. Returns the number of errors (p is then
 * not to be printed). */
int mil_dialect(MilProg *p, const Target *t, const Src *src, Diag *d);

#endif
