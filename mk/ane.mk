# ane component: the Apple Neural Engine backend and the chip table
# (docs/ane.md).
#
# libane.a holds the backend logic, which builds and is tested everywhere;
# on Darwin it also holds the real platform table. Programs that link it
# put it before libmiltext.a and libanerun.a and add $(ANE_SYS_LIBS).
# chip.c goes into libanerun.a, whose report and sim code use it.
noinst_LIBRARIES += libane.a
libane_a_SOURCES = runtime/ane.c runtime/ane_api.h
libanerun_a_SOURCES += runtime/chip.c runtime/chip.h
ANE_SYS_LIBS =
if ON_DARWIN
libane_a_SOURCES += runtime/ane_darwin.c
# One token each, so automake does not take a framework name for a file.
ANE_SYS_LIBS += -Wl,-framework,CoreFoundation -Wl,-framework,IOSurface -lobjc -ldl
endif

EXTRA_DIST += tests/darwin tests/test_darwin_syntax.sh

if HAVE_CHECK
check_PROGRAMS += tests/test_ane
TESTS += tests/test_ane
endif
tests_test_ane_SOURCES = tests/test_ane.c tests/check_main.h
tests_test_ane_CFLAGS = $(TEST_CFLAGS)
tests_test_ane_LDADD = libane.a libmiltext.a libweights.a $(TEST_LIBS)

# check-darwin: compile the Darwin sources without running them. Off the
# Mac they are checked against the declarations in tests/darwin/; on the
# Mac against the SDK.
if ON_DARWIN
ANE_SYNTAX_FLAGS = $(AM_CPPFLAGS) $(CPPFLAGS) $(WARN_CFLAGS) -Werror
else
ANE_SYNTAX_FLAGS = -D__APPLE__ -I$(abs_top_srcdir)/tests/darwin $(AM_CPPFLAGS) $(CPPFLAGS) \
	$(WARN_CFLAGS) -Werror
endif

# Listed in TESTS, so the harness builds it with the rule below.
TESTS += tests/test_darwin_syntax
CLEANFILES += tests/test_darwin_syntax

# The test harness passes no make variables, so they are written into a
# small wrapper around the script.
tests/test_darwin_syntax: $(srcdir)/tests/test_darwin_syntax.sh Makefile
	$(AM_V_GEN)$(MKDIR_P) tests && { \
	  echo '#!/bin/sh'; \
	  echo "ANE_CC='$(CC)'"; \
	  echo "ANE_SYNTAX_FLAGS='$(ANE_SYNTAX_FLAGS)'"; \
	  echo "ANE_SRCDIR='$(abs_top_srcdir)'"; \
	  echo 'export ANE_CC ANE_SYNTAX_FLAGS ANE_SRCDIR'; \
	  echo 'exec $(SHELL) "$$ANE_SRCDIR/tests/test_darwin_syntax.sh"'; \
	} >$@.tmp && chmod +x $@.tmp && mv $@.tmp $@

check-darwin: tests/test_darwin_syntax
	./tests/test_darwin_syntax
.PHONY: check-darwin
