/* json.h - the one JSON string writer (reports, results files, lint
 * findings, the ANE probe): quotes and backslashes escaped, control
 * characters as \u00XX, everything else (UTF-8 included) as it is. */
#ifndef ANET_JSON_H
#define ANET_JSON_H

#include <stdio.h>

void json_str(FILE *out, const char *s);

#endif
