# miltext component: the MIL text printer, parser and IR equality.
# The grammar's generated header must exist before the scanner compiles.
noinst_LIBRARIES += libmiltext.a
libmiltext_a_SOURCES = gen/milprint.c gen/mileq.c gen/mileq.h \
	grammar/milparse.y grammar/millex.c grammar/milsema.c grammar/milpriv.h
BUILT_SOURCES += grammar/milparse.h
# BUILT_SOURCES covers `make`, `make check` and `make install`, not a named
# target: `make -j2 anerun` on a clean tree compiled the scanner first.
grammar/millex.$(OBJEXT): grammar/milparse.h

if HAVE_CHECK
check_PROGRAMS += tests/test_miltext
TESTS += tests/test_miltext
endif
tests_test_miltext_SOURCES = tests/test_miltext.c tests/check_main.h
tests_test_miltext_CFLAGS = $(TEST_CFLAGS)
tests_test_miltext_LDADD = libmiltext.a $(TEST_LIBS)

# `make bench-mil`: the parser's speed and memory against the goals (see the
# script). mil_bench times mil_parse alone; it is built by `make check`.
check_PROGRAMS += tests/bench/mil_bench
tests_bench_mil_bench_SOURCES = tests/bench/mil_bench.c
tests_bench_mil_bench_LDADD = libmiltext.a libanet.a
EXTRA_DIST += tests/bench/mil_bench.sh
bench-mil: anetc$(EXEEXT) anerun$(EXEEXT) tests/bench/peakrss$(EXEEXT) tests/bench/mil_bench$(EXEEXT)
	ANETC=./anetc$(EXEEXT) ANERUN=./anerun$(EXEEXT) PEAKRSS=./tests/bench/peakrss$(EXEEXT) \
	  MILBENCH=./tests/bench/mil_bench$(EXEEXT) \
	  $(SHELL) $(srcdir)/tests/bench/mil_bench.sh
.PHONY: bench-mil
# The MIL fuzz harness's own seeds and dictionary (tests/fuzz/run.sh).
EXTRA_DIST += tests/fuzz/mil.dict tests/fuzz/mil-seeds
