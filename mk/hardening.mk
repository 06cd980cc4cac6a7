# hardening component: the malformed-input suite and the fuzz harnesses.
# tests/run_bad.sh drives tests/bad/ against ./anetc and ./anerun.
TESTS += tests/run_bad.sh
EXTRA_DIST += tests/run_bad.sh tests/fuzz/run.sh tests/fuzz/fuzz_anet.c \
	tests/fuzz/fuzz_mil.c tests/fuzz/fuzz_wfile.c tests/fuzz/fuzz_npy.c

# `make fuzz`: builds the libFuzzer harnesses with clang and runs each for
# FUZZ_SECONDS (60 by default) seconds, from the environment or the make
# command line; output goes to tests/fuzz/ in the build directory. See docs/hardening.md.
.PHONY: fuzz
fuzz: all
	FUZZ_SECONDS='$(FUZZ_SECONDS)' FUZZERS='$(FUZZERS)' \
	  $(SHELL) $(srcdir)/tests/fuzz/run.sh $(abs_top_builddir)
