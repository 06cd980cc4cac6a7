/* fuzz_mil.c - libFuzzer harness for the MIL text parser and printer.
 * Whatever parses must print, the printed text must parse again, and
 * printing that parse must give the same text (print is a fixed point):
 * anything else is a printer or parser bug, so it aborts. Whatever parses
 * is also linted, for the default target and for M1 (whose caps differ). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "lint.h"
#include "mil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  Src src = {"fuzz.mil", (const char *)data, size};
  Diag d = fuzz_diag();
  MilProg *p = mil_parse(&src, &d);
  if (!p)
    return 0;
  FILE *null = fopen("/dev/null", "w");
  const char *targets[] = {"ios18", "M1"};
  for (int i = 0; i < 2 && null; i++) {
    LintOpts o;
    char err[256];
    lint_opts_init(&o);
    target_parse(targets[i], &o.target, err, sizeof err);
    o.strict = true;
    o.json = true;
    o.json_out = null;
    Diag quiet = {null, 0};
    lint_prog(p, &src, &o, &quiet);
  }
  if (null)
    fclose(null);
  char *text = mil_print_string(p);
  if (!text) {
    fputs("fuzz_mil: mil_print_string failed on a parsed program\n", stderr);
    abort();
  }
  Src again = {"reprint.mil", text, strlen(text)};
  Diag loud = diag_stderr();
  MilProg *q = mil_parse(&again, &loud);
  if (!q) {
    fprintf(stderr, "fuzz_mil: the reprinted program does not parse:\n%s\n", text);
    abort();
  }
  char *text2 = mil_print_string(q);
  if (!text2 || strcmp(text, text2) != 0) {
    fprintf(stderr, "fuzz_mil: printing the reparsed program changes the text:\n%s\n---\n%s\n",
            text, text2 ? text2 : "(print failed)");
    abort();
  }
  free(text2);
  mil_free(q);
  free(text);
  mil_free(p);
  return 0;
}
