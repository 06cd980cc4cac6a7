# anet component: the .anet compiler (grammar, checks, lowering) and anetc.
# libanetc.a needs libweights.a (blob_fill, for weights small enough to be
# written inline) and libanet.a after it. The scanner includes the parser's
# generated header, so that header is built first.
noinst_LIBRARIES += libanetc.a
libanetc_a_SOURCES = grammar/anetparse.y grammar/anetscan.l \
	gen/ast.c gen/ast.h gen/check.c gen/lower.c gen/anet.h
BUILT_SOURCES += grammar/anetparse.h
grammar/anetscan.$(OBJEXT): grammar/anetparse.h

bin_PROGRAMS += anetc
# gen/calib.c runs a calibration input through the cpu backend (libcpu.a),
# in anetc itself: the library is not part of libanetc.a, whose lowering
# stays free of any backend.
anetc_SOURCES = gen/anetc.c gen/calib.c gen/calib.h
anetc_LDADD = libcpu.a libanetc.a libmiltext.a libweights.a libanet.a $(OPENBLAS_LIBS) -lm
dist_man_MANS += man/anetc.1

# Unit, golden (tests/cases/anet) and seed tests, and what lowered programs
# compute on the cpu backend; then anetc end to end.
if HAVE_CHECK
check_PROGRAMS += tests/test_anet
TESTS += tests/test_anet
endif
tests_test_anet_SOURCES = tests/test_anet.c tests/check_main.h
tests_test_anet_CFLAGS = $(TEST_CFLAGS)
tests_test_anet_LDADD = libanetc.a libcpu.a libmiltext.a libweights.a $(TEST_LIBS)
TESTS += tests/test_anetc.sh
EXTRA_DIST += tests/test_anetc.sh tests/testlib.sh

# The sample networks of samples/nets and the small samples of samples/
# compile and run on the cpu backend.
TESTS += tests/test_nets.sh
EXTRA_DIST += tests/test_nets.sh
