# hardening component: the malformed-input suite and the fuzz harnesses.
# tests/run_bad.sh drives tests/bad/ against ./anetc and ./anerun.
TESTS += tests/run_bad.sh
EXTRA_DIST += tests/run_bad.sh tests/fuzz/run.sh tests/fuzz/fuzz_anet.c \
	tests/fuzz/fuzz_mil.c tests/fuzz/fuzz_wfile.c tests/fuzz/fuzz_npy.c tests/fuzz/fuzz.h \
	tests/valgrind.sh tests/fuzz/fuzz_results.c tests/fuzz/fuzz_manifest.c tests/fuzz/fuzz_simfit.c

# `make fuzz`: builds the libFuzzer harnesses with clang and runs each for
# FUZZ_SECONDS (60 by default) seconds, from the environment or the make
# command line; output goes to tests/fuzz/ in the build directory. See docs/hardening.md.
.PHONY: fuzz
fuzz: all
	FUZZ_SECONDS='$(FUZZ_SECONDS)' FUZZERS='$(FUZZERS)' \
	  $(SHELL) $(srcdir)/tests/fuzz/run.sh $(abs_top_builddir)

# `make valgrind`: anetc and anerun under memcheck on small samples; fails on
# any memory error or definite/indirect leak. Not part of `make check`; says
# so and succeeds when valgrind is not installed (the script exits 77).
.PHONY: valgrind
valgrind: all
	@srcdir='$(srcdir)' $(SHELL) $(srcdir)/tests/valgrind.sh; rc=$$?; \
	  if [ $$rc -eq 77 ]; then echo "make valgrind: skipped: valgrind is not installed"; rc=0; fi; \
	  exit $$rc
