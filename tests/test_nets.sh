#!/bin/sh
# test_nets.sh - every sample network of samples/nets, and the small
# samples of samples/, compile with anetc, run one evaluation on the cpu
# backend (every point of a sweep), and (when python3 with numpy is at
# hand) give finite outputs. The nets' MIL structure is checked in
# test_anet.c against counts worked out from the architectures. The
# seed-sized samples (samples/seed_*.anet, samples/seed/) are compiled by
# test_anetc.sh and run on the sim by test_anerun.sh; samples/quant is
# test_quant_samples.sh's.
#
# Run from the build directory (make check does); $srcdir locates samples.
set -u
srcdir=${srcdir:-.}
. "$srcdir/tests/testlib.sh"
scratch anet-nets
pass=0
py=
for p in python3 /usr/bin/python3; do
  "$p" -c 'import numpy' 2>/dev/null && { py=$p; break; }
done

for f in "$srcdir"/samples/nets/*.anet "$srcdir"/samples/depthwise.anet \
    "$srcdir"/samples/quick_w8a8.anet "$srcdir"/samples/resnet_blocks.anet \
    "$srcdir"/samples/transformer.anet; do
  name=$(basename "$f" .anet)
  out=$tmp/$name
  if ! "$ANETC" "$f" -o "$out" 2>"$tmp/err"; then
    fail "$name: anetc failed"; cat "$tmp/err"; continue
  fi
  if ! "$ANERUN" --backend cpu --warmup 0 --iters 1 --output-dir "$out/y" "$out" \
       >"$tmp/log" 2>"$tmp/err"; then
    fail "$name: anerun failed"; cat "$tmp/err"; continue
  fi
  npys=$(find "$out/y" -name '*.npy')
  [ -n "$npys" ] || { fail "$name: no output .npy"; continue; }
  # shellcheck disable=SC2086 # the paths have no spaces: $tmp and sample names
  if [ -n "$py" ] && ! "$py" -c 'import numpy as np, sys
for f in sys.argv[1:]:
    assert np.isfinite(np.load(f).astype(np.float64)).all(), f' $npys; then
    fail "$name: an output is not finite"; continue
  fi
  echo "PASS: $name"; pass=$((pass + 1))
done

[ "$pass" -ge 8 ] || fail "only $pass samples ran"
echo "nets: $pass passed"
finish test_nets
