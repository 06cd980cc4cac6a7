#!/bin/sh
# test_nets.sh - every sample network of samples/nets compiles with anetc,
# runs one evaluation on the cpu backend, and (when python3 with numpy is
# at hand) gives finite outputs. Their MIL structure is checked in
# test_anet.c against counts worked out from the architectures.
#
# Run from the build directory (make check does); $srcdir locates samples.
set -u
srcdir=${srcdir:-.}
ANETC=${ANETC:-./anetc}
ANERUN=${ANERUN:-./anerun}
. "$srcdir/tests/testlib.sh"
scratch anet-nets
pass=0
py=
for p in python3 /usr/bin/python3; do
  "$p" -c 'import numpy' 2>/dev/null && { py=$p; break; }
done

for f in "$srcdir"/samples/nets/*.anet; do
  name=$(basename "$f" .anet)
  out=$tmp/$name
  if ! "$ANETC" "$f" -o "$out" 2>"$tmp/err"; then
    fail "$name: anetc failed"; cat "$tmp/err"; continue
  fi
  if ! "$ANERUN" --backend cpu --warmup 0 --iters 1 --output-dir "$out/y" "$out" \
       >"$tmp/log" 2>"$tmp/err"; then
    fail "$name: anerun failed"; cat "$tmp/err"; continue
  fi
  if [ -n "$py" ] && ! "$py" -c 'import numpy as np, sys
for f in sys.argv[1:]:
    assert np.isfinite(np.load(f).astype(np.float64)).all(), f' "$out"/y/*.npy; then
    fail "$name: an output is not finite"; continue
  fi
  echo "PASS: $name"; pass=$((pass + 1))
done

[ "$pass" -gt 0 ] || fail "no sample network under $srcdir/samples/nets"
echo "nets: $pass passed"
finish test_nets
