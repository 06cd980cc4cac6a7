# anerun component (see Makefile.am)
libanerun_a_SOURCES += runtime/backend.h runtime/tensor.h runtime/wfile.h
# libanerun.a: everything of anerun but main(). Link order: libanerun.a
# libane.a libcpu.a libanetc.a libmiltext.a libweights.a, then libanerun.a
# again (libane.a uses its chip table) and libanet.a.
libanerun_a_SOURCES += runtime/stats.c runtime/stats.h runtime/flops.c runtime/flops.h \
	runtime/compare.c runtime/compare.h runtime/report.c runtime/report.h \
	runtime/sim.c runtime/sim.h runtime/model.c runtime/model.h \
	runtime/dryrun.c runtime/dryrun.h runtime/runopts.c runtime/runopts.h \
	runtime/run.c runtime/run.h
libanerun_a_SOURCES += runtime/results.c runtime/results.h runtime/plot.c runtime/plot.h \
	runtime/jread.c runtime/jread.h runtime/manifest.c runtime/manifest.h
ANERUN_LIBS = libanerun.a libane.a libcpu.a libanetc.a libmiltext.a libweights.a libanerun.a

bin_PROGRAMS += anerun
anerun_SOURCES = runtime/anerun.c
anerun_LDADD = $(ANERUN_LIBS) libanet.a $(OPENBLAS_LIBS) -lm
anerun_LDFLAGS = $(ANE_SYS_LIBS)
dist_man_MANS += man/anerun.1

if HAVE_CHECK
check_PROGRAMS += tests/test_anerun
TESTS += tests/test_anerun
endif
tests_test_anerun_SOURCES = tests/test_anerun.c tests/check_main.h
tests_test_anerun_CFLAGS = $(TEST_CFLAGS)
tests_test_anerun_LDADD = $(ANERUN_LIBS) $(TEST_LIBS)
tests_test_anerun_LDFLAGS = $(ANE_SYS_LIBS)

# The end-to-end test runs ./anerun and ./anetc, which `make check` builds
# first (they are in bin_PROGRAMS).
TESTS += tests/test_anerun.sh
EXTRA_DIST += tests/test_anerun.sh tests/anerun
