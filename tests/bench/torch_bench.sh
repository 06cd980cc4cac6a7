#!/bin/sh
# torch_bench.sh - `make bench-torch`: the cpu backend against PyTorch's CPU
# backend on the same networks, weights and input (see torch_bench.py).
# Skipped, with a note and exit 0, when no python3 with torch and numpy is
# found (Debian: apt-get install python3-torch). Both sides run THREADS
# threads (2): OpenBLAS's through OPENBLAS_NUM_THREADS, torch's through
# torch.set_num_threads.
#
# Environment: ANERUN (./anerun), SRCDIR (.), PYTHON (the first of python3
# and /usr/bin/python3 that imports torch), THREADS (2), BENCH_DIR (.),
# ROUNDS (5), CASES (a substring of the case names to run; all).
set -eu

ANERUN=${ANERUN:-./anerun}
SRCDIR=${SRCDIR:-.}
THREADS=${THREADS:-2}
[ -x "$ANERUN" ] || { echo "torch_bench: missing $ANERUN" >&2; exit 2; }

py=
for p in ${PYTHON:-python3 /usr/bin/python3}; do
    if "$p" -c 'import torch, numpy' 2>/dev/null; then py=$p; break; fi
done
if [ -z "$py" ]; then
    echo "torch_bench: skipped: no python3 with torch and numpy (Debian: apt-get install python3-torch)"
    exit 0
fi

work=$(mktemp -d "${BENCH_DIR:-.}/tbench.XXXXXX")
if [ -n "${KEEP:-}" ]; then echo "scratch directory kept: $work"; else trap 'rm -rf "$work"' EXIT; fi
trap 'exit 130' INT TERM
OPENBLAS_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS ANET_THREADS=$THREADS \
    "$py" "$SRCDIR/tests/bench/torch_bench.py" "$ANERUN" "$work" "$THREADS"
