# quant component: weight quantisation (gen/quant.c) for the weight formats
# of the language. It goes into libweights.a, whose flags keep its floating
# point free of contraction (the palettes must be the same bytes everywhere).
libweights_a_SOURCES += gen/quant.c gen/quant.h

if HAVE_CHECK
check_PROGRAMS += tests/test_quant
TESTS += tests/test_quant
endif
tests_test_quant_SOURCES = tests/test_quant.c tests/check_main.h
tests_test_quant_CFLAGS = $(TEST_CFLAGS)
tests_test_quant_LDADD = libweights.a $(TEST_LIBS)

# The weight formats of the language and their lowering (gen/wformat.c).
libanetc_a_SOURCES += gen/wformat.c gen/wformat.h

# Formats end to end: .anet with .npy weights -> quantised blobs -> the cpu
# backend; and the format words and their errors.
if HAVE_CHECK
check_PROGRAMS += tests/test_wformat
TESTS += tests/test_wformat
endif
tests_test_wformat_SOURCES = tests/test_wformat.c tests/check_main.h tests/wtest.h
tests_test_wformat_CFLAGS = $(TEST_CFLAGS)
tests_test_wformat_LDADD = $(ANERUN_LIBS) $(TEST_LIBS)

# samples/quant compile and run; --quant-report (needs anetc and anerun).
TESTS += tests/test_quant_samples.sh
EXTRA_DIST += tests/test_quant_samples.sh

# `make bench` runs this too: quantising a 64 MiB fp32 .npy (time and memory).
# The script keeps the .npy it writes for the next run; make clean removes it.
EXTRA_DIST += tests/bench/quant_bench.sh
CLEANFILES += quant_w.npy
bench-quant: anetc$(EXEEXT) tests/bench/peakrss$(EXEEXT)
	ANETC=./anetc$(EXEEXT) PEAKRSS=./tests/bench/peakrss$(EXEEXT) \
	  $(SHELL) $(srcdir)/tests/bench/quant_bench.sh
.PHONY: bench-quant

# activations int8 scale=auto: anetc --calibrate (gen/calib.c, in anetc)
# against hand-computed scales and outputs (needs anetc and anerun).
TESTS += tests/test_calibrate.sh
EXTRA_DIST += tests/test_calibrate.sh

# weight NAME: fp16[dims] ... weights=FORMAT: constant tensors as values
TESTS += tests/test_weight_decl.sh
EXTRA_DIST += tests/test_weight_decl.sh
