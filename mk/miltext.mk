# miltext component: the MIL text printer, parser and IR equality.
# The grammar's generated header must exist before the scanner compiles.
noinst_LIBRARIES += libmiltext.a
libmiltext_a_SOURCES = gen/milprint.c gen/mileq.c gen/mileq.h \
	grammar/milparse.y grammar/milscan.l grammar/milsema.c grammar/milpriv.h
BUILT_SOURCES += grammar/milparse.h

if HAVE_CHECK
check_PROGRAMS += tests/test_miltext
TESTS += tests/test_miltext
endif
tests_test_miltext_SOURCES = tests/test_miltext.c tests/check_main.h
tests_test_miltext_CFLAGS = $(TEST_CFLAGS)
tests_test_miltext_LDADD = libmiltext.a $(TEST_LIBS)
