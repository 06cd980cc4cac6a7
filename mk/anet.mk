# anet component: the .anet compiler (grammar, checks, lowering) and anetc.
# libanetc.a needs libweights.a (blob_fill, for weights small enough to be
# written inline) and libanet.a after it.
noinst_LIBRARIES += libanetc.a
libanetc_a_SOURCES = grammar/anetparse.y grammar/anetscan.l \
	gen/ast.c gen/ast.h gen/check.c gen/lower.c gen/anet.h
BUILT_SOURCES += grammar/anetparse.h

bin_PROGRAMS += anetc
anetc_SOURCES = gen/anetc.c
anetc_LDADD = libanetc.a libmiltext.a libweights.a libanet.a $(OPENBLAS_LIBS) -lm

if HAVE_CHECK
check_PROGRAMS += tests/test_anet
TESTS += tests/test_anet
endif
tests_test_anet_SOURCES = tests/test_anet.c
tests_test_anet_CFLAGS = $(TEST_CFLAGS)
tests_test_anet_LDADD = libanetc.a libmiltext.a libweights.a $(TEST_LIBS)
EXTRA_DIST += tests/cases/anet
