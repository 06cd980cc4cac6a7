# blob component (see Makefile.am): weight files and arrays.
# libweights.a: the MILBlob v2 writer and PRNG (gen/blob.c), .npy headers
# (gen/npyhdr.c), host tensors and .npy files (runtime/tensor.c), the checked
# weight-file reader (runtime/wfile.c). Link it before libanet.a. The writer
# uses POSIX threads (in libc with glibc >= 2.34 and on Darwin).
noinst_LIBRARIES += libweights.a
libweights_a_SOURCES = gen/blob.c gen/blob.h gen/normtab.h gen/npyhdr.c gen/npyhdr.h \
	runtime/tensor.c runtime/tensor.h runtime/wfile.c runtime/wfile.h
# The PRNG's values must be bit-identical everywhere: no contraction into
# fused multiply-adds (the normals call fmaf where they want one, which
# sets no errno and so can be one instruction)
# (sqrt is correctly rounded either way).
libweights_a_CFLAGS = $(AM_CFLAGS) -ffp-contract=off -fno-math-errno

if HAVE_CHECK
check_PROGRAMS += tests/test_blob tests/test_blob_portable tests/test_blob_avx2 tests/test_wfile \
	tests/test_npy
TESTS += tests/test_blob tests/test_blob_portable tests/test_blob_avx2 tests/test_wfile tests/test_npy
endif
tests_test_blob_SOURCES = tests/test_blob.c tests/check_main.h tests/wtest.h
tests_test_blob_CFLAGS = $(TEST_CFLAGS)
tests_test_blob_LDADD = libweights.a $(TEST_LIBS)
# The same tests against gen/blob.c built without its per-CPU code (the
# code a machine without AVX2 runs), and without its AVX-512 code (what an
# AVX2 machine runs). Their own gen/blob.c comes before libweights.a.
tests_test_blob_portable_SOURCES = tests/test_blob.c gen/blob.c tests/check_main.h tests/wtest.h
tests_test_blob_portable_CFLAGS = $(TEST_CFLAGS) -ffp-contract=off -fno-math-errno -DBLOB_PORTABLE
tests_test_blob_portable_LDADD = libweights.a $(TEST_LIBS)
tests_test_blob_avx2_SOURCES = $(tests_test_blob_portable_SOURCES)
tests_test_blob_avx2_CFLAGS = $(TEST_CFLAGS) -ffp-contract=off -fno-math-errno -DBLOB_NO_AVX512
tests_test_blob_avx2_LDADD = libweights.a $(TEST_LIBS)
tests_test_wfile_SOURCES = tests/test_wfile.c tests/check_main.h tests/wtest.h
tests_test_wfile_CFLAGS = $(TEST_CFLAGS)
tests_test_wfile_LDADD = libweights.a $(TEST_LIBS)
tests_test_npy_SOURCES = tests/test_npy.c tests/check_main.h tests/wtest.h
tests_test_npy_CFLAGS = $(TEST_CFLAGS)
tests_test_npy_LDADD = libweights.a $(TEST_LIBS)
# the independent reference for test_blob's PRNG constants, and the script
# that fits gen/normtab.h
EXTRA_DIST += tests/prng_ref.py gen/normtab.py

# `make bench`: anetc's speed and memory against the goals (see the script).
# peakrss is built with the check programs but is not a test.
check_PROGRAMS += tests/bench/peakrss
tests_bench_peakrss_SOURCES = tests/bench/peakrss.c
EXTRA_DIST += tests/bench/anetc_bench.sh
bench-anetc: anetc$(EXEEXT) tests/bench/peakrss$(EXEEXT)
	ANETC=./anetc$(EXEEXT) PEAKRSS=./tests/bench/peakrss$(EXEEXT) SRCDIR=$(srcdir) \
	  $(SHELL) $(srcdir)/tests/bench/anetc_bench.sh
.PHONY: bench-anetc
