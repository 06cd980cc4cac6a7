#!/bin/sh
# test_nets.sh - the sample networks of samples/nets compile with anetc and
# run one evaluation on the cpu backend. While the cpu backend lacks an op a
# sample uses (or cannot read a MIL form it writes), that sample is a SKIP
# that names the op; the suite exits 77 when every sample is skipped.
#
# Run from the build directory (make check does); $srcdir locates samples.
set -u
srcdir=${srcdir:-.}
ANETC=${ANETC:-./anetc}
ANERUN=${ANERUN:-./anerun}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/anet-nets.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
pass=0 skip=0 fail=0

for f in "$srcdir"/samples/nets/*.anet; do
  name=$(basename "$f" .anet)
  out=$tmp/$name
  if ! "$ANETC" "$f" -o "$out" 2>"$tmp/err"; then
    echo "FAIL: $name: anetc failed"; cat "$tmp/err"; fail=$((fail + 1)); continue
  fi
  if "$ANERUN" --backend cpu --warmup 0 --iters 1 "$out" >"$tmp/log" 2>"$tmp/err"; then
    echo "PASS: $name"; pass=$((pass + 1)); continue
  fi
  op=$(sed -n 's/.*error: \([a-z_0-9]*\): op not supported by the cpu backend.*/\1/p' "$tmp/err" | head -n 1)
  if [ -z "$op" ] && grep -q 'write_state' "$tmp/err"; then
    op="write_state (a statement without outputs)"
  fi
  if [ -n "$op" ]; then
    echo "SKIP: $name: the cpu backend does not run $op yet"; skip=$((skip + 1))
  else
    echo "FAIL: $name: anerun failed"; cat "$tmp/err"; fail=$((fail + 1))
  fi
done

echo "nets: $pass passed, $skip skipped, $fail failed"
[ "$fail" -eq 0 ] || exit 1
[ "$pass" -eq 0 ] && [ "$skip" -gt 0 ] && exit 77
exit 0
