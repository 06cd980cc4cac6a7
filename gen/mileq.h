/* mileq.h - structural equality of MIL programs (for round-trip tests and
 * tools that compare what they read with what they wrote).
 *
 * Everything that reaches the text counts: version, attributes, functions,
 * inputs, ops, arguments, outputs, types and values, floats bit for bit,
 * blob paths and offsets. Argument and attribute order does not (the text
 * sorts them); source locations and blob sources do not. */
#ifndef ANET_MILEQ_H
#define ANET_MILEQ_H

#include <stdbool.h>

#include "mil.h"

bool mil_prog_eq(const MilProg *a, const MilProg *b);
bool mil_value_eq(const MilValue *a, const MilValue *b);

#endif
