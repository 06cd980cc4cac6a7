/* check_main.h - the end of every Check test program: run its suite and
 * turn the result into main's exit status. Header-only. */
#ifndef ANET_CHECK_MAIN_H
#define ANET_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

/* Runs every test in s (freeing it); EXIT_FAILURE if any failed. */
static inline int ck_run(Suite *s) {
  SRunner *r = srunner_create(s);
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
