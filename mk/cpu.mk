# cpu component: the reference backend (runtime/cpu/), GEMMs on OpenBLAS.
# libcpu.a needs libweights.a (tensor_alloc, wstore_blob) and libanet.a
# after it, and $(OPENBLAS_LIBS).
noinst_LIBRARIES += libcpu.a
libcpu_a_SOURCES = runtime/cpu/cpu.c runtime/cpu/kit.c runtime/cpu/elementwise.c \
  runtime/cpu/reduce.c runtime/cpu/conv.c runtime/cpu/movement.c runtime/cpu/gather.c \
  runtime/cpu/pool.c runtime/cpu/recurrent.c runtime/cpu/state.c \
  runtime/cpu/quant.c runtime/cpu/image.c runtime/cpu/reorder.c runtime/cpu/einsum.c runtime/cpu/conv3d.c \
  runtime/cpu/winograd.c \
  runtime/cpu/cpu.h
libcpu_a_SOURCES += runtime/cpu/igemm.c runtime/cpu/sgemm.c
libcpu_a_CFLAGS = $(AM_CFLAGS) $(OPENBLAS_CFLAGS) -fno-strict-aliasing

if HAVE_CHECK
check_PROGRAMS += tests/test_cpu
TESTS += tests/test_cpu
endif
tests_test_cpu_SOURCES = tests/test_cpu.c tests/check_main.h
tests_test_cpu_CFLAGS = $(TEST_CFLAGS) -I$(srcdir)/runtime/cpu
tests_test_cpu_LDADD = libcpu.a libmiltext.a libweights.a $(TEST_LIBS)

# The benchmark is built by `make check` but is not a test; `make bench-cpu`
# runs it.
check_PROGRAMS += tests/bench/cpu_bench
tests_bench_cpu_bench_SOURCES = tests/bench/cpu_bench.c
tests_bench_cpu_bench_CFLAGS = $(AM_CFLAGS) $(OPENBLAS_CFLAGS) -I$(srcdir)/runtime/cpu
tests_bench_cpu_bench_LDADD = libcpu.a libweights.a libanet.a $(OPENBLAS_LIBS) -lm

.PHONY: bench-cpu
bench-cpu: tests/bench/cpu_bench$(EXEEXT)
	./tests/bench/cpu_bench$(EXEEXT)

# Every op against numpy (python3-numpy); runs ./anerun.
TESTS += tests/test_cpu_ref.sh tests/test_opdef_paths.sh
EXTRA_DIST += tests/test_cpu_ref.sh tests/test_opdef_paths.sh tests/ref/ops_ref.py \
  tests/ref/conv_accuracy.py

# `make bench-torch`: the cpu backend against PyTorch's CPU backend on the
# same networks and weights (skipped when python3-torch is not installed).
EXTRA_DIST += tests/bench/torch_bench.sh tests/bench/torch_bench.py
.PHONY: bench-torch
bench-torch: anerun$(EXEEXT)
	ANERUN=./anerun$(EXEEXT) SRCDIR=$(srcdir) $(SHELL) $(srcdir)/tests/bench/torch_bench.sh
