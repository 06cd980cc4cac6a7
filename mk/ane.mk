# ane component: the Apple Neural Engine backend and the chip table
# (docs/ane.md).
#
# libane.a holds the backend logic, which builds and is tested everywhere;
# on Darwin it also holds the real platform table. Programs that link it
# put it before libmiltext.a and libanerun.a and add $(ANE_SYS_LIBS).
# chip.c goes into libanerun.a, whose report and sim code use it.
noinst_LIBRARIES += libane.a
libane_a_SOURCES = runtime/ane.c runtime/ane_api.h runtime/ane_probe.c runtime/bisect.c runtime/bisect.h
libanerun_a_SOURCES += runtime/chip.c runtime/chip.h
ANE_SYS_LIBS =
if ON_DARWIN
libane_a_SOURCES += runtime/ane_darwin.c
# One token each, so automake does not take a framework name for a file.
ANE_SYS_LIBS += -Wl,-framework,CoreFoundation -Wl,-framework,IOSurface -lobjc -ldl
endif

EXTRA_DIST += tests/darwin tests/test_darwin_syntax.sh tests/test_probe.sh
TESTS += tests/test_probe.sh

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

# test_anefake: runtime/ane_darwin.c itself, run off the Mac under ane.c,
# against GCC's Objective-C runtime (gobjc) and the fakes of the Apple
# pieces in tests/anefake/ (docs/ane.md). The glue and the fakes are built
# by the rules below: automake has no Objective-C without AC_PROG_OBJC, and
# the glue needs its own include path (tests/anefake/include first, the
# tests/darwin stand-ins after the system's).
if HAVE_CHECK
if HAVE_GNU_OBJC
check_PROGRAMS += tests/test_anefake
TESTS += tests/test_anefake
endif
endif
ANEFAKE_OBJS = tests/anefake/ane_darwin.$(OBJEXT) tests/anefake/fake.$(OBJEXT) \
	tests/anefake/msgsend.$(OBJEXT)
ANEFAKE_INCLUDES = -I$(srcdir)/tests/anefake/include -idirafter $(srcdir)/tests/darwin
tests_test_anefake_SOURCES = tests/test_anefake.c tests/anefake/anefake.h tests/check_main.h
tests_test_anefake_CFLAGS = $(TEST_CFLAGS)
tests_test_anefake_LDADD = $(ANEFAKE_OBJS) libane.a libcpu.a libmiltext.a libweights.a $(TEST_LIBS) \
	-lobjc
tests_test_anefake_DEPENDENCIES = $(ANEFAKE_OBJS) libane.a libcpu.a libmiltext.a libweights.a \
	libanerun.a libanet.a
CLEANFILES += $(ANEFAKE_OBJS)
EXTRA_DIST += tests/anefake/fake.m tests/anefake/msgsend.S tests/anefake/include

tests/anefake/ane_darwin.$(OBJEXT): $(srcdir)/runtime/ane_darwin.c $(srcdir)/runtime/ane_api.h \
	$(srcdir)/tests/anefake/include/dlfcn.h $(srcdir)/tests/anefake/include/objc/message.h \
	$(srcdir)/tests/anefake/include/CoreFoundation/CoreFoundation.h
	$(AM_V_CC)$(MKDIR_P) tests/anefake && $(CC) -D__APPLE__ $(ANEFAKE_INCLUDES) $(AM_CPPFLAGS) \
	  $(CPPFLAGS) $(WARN_CFLAGS) -Werror $(CFLAGS) -c -o $@ $(srcdir)/runtime/ane_darwin.c
tests/anefake/fake.$(OBJEXT): $(srcdir)/tests/anefake/fake.m $(srcdir)/tests/anefake/anefake.h
	$(AM_V_CC)$(MKDIR_P) tests/anefake && $(CC) -x objective-c -std=gnu11 $(ANEFAKE_INCLUDES) \
	  -Wall -Wextra -Wno-objc-root-class -Wno-unused-parameter $(CFLAGS) -c -o $@ \
	  $(srcdir)/tests/anefake/fake.m
tests/anefake/msgsend.$(OBJEXT): $(srcdir)/tests/anefake/msgsend.S
	$(AM_V_CC)$(MKDIR_P) tests/anefake && $(CC) $(CFLAGS) -c -o $@ $(srcdir)/tests/anefake/msgsend.S
