# Targets and the lint (issue 14): the per-chip target table and the checks
# of known ANE limits, in libanet.a so that anetc and anerun both have them.
libanet_a_SOURCES += gen/target.c gen/target.h gen/lint.c gen/lint.h gen/dialect.c gen/dialect.h

if HAVE_CHECK
check_PROGRAMS += tests/test_lint
TESTS += tests/test_lint
endif
tests_test_lint_SOURCES = tests/test_lint.c tests/check_main.h
tests_test_lint_CFLAGS = $(TEST_CFLAGS)
tests_test_lint_LDADD = libmiltext.a libanet.a $(TEST_LIBS)
TESTS += tests/test_lint.sh
EXTRA_DIST += tests/test_lint.sh

# The sim cost model's fit to published measurements (anerun --sim-validate).
libanerun_a_SOURCES += runtime/simfit.c runtime/simfit.h
EXTRA_DIST += data

if HAVE_CHECK
check_PROGRAMS += tests/test_sim
TESTS += tests/test_sim
endif
tests_test_sim_SOURCES = tests/test_sim.c tests/check_main.h
tests_test_sim_CFLAGS = $(TEST_CFLAGS)
tests_test_sim_LDADD = $(ANERUN_LIBS) $(TEST_LIBS)
tests_test_sim_LDFLAGS = $(ANE_SYS_LIBS)

# The program(1.0) dialect against the corpus's Apple-compiled files, and
# what anetc lowers for M1/M2 read back by the MIL parser.
if HAVE_CHECK
check_PROGRAMS += tests/test_dialect
TESTS += tests/test_dialect
endif
tests_test_dialect_SOURCES = tests/test_dialect.c tests/check_main.h
tests_test_dialect_CFLAGS = $(TEST_CFLAGS)
tests_test_dialect_LDADD = libanetc.a libmiltext.a libweights.a $(TEST_LIBS)
