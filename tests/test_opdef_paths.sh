#!/bin/sh
# test_opdef_paths.sh - the op definitions (gen/opdef.c) are the one place a
# bad op is judged: for every tests/bad/mil/opdef_* case, `anerun --dry-run`,
# a sim run and a cpu run print the same first error line, the one its
# .expect holds (written by hand), and exit with status 1.
srcdir=${srcdir:-.}
bad=$srcdir/tests/bad/mil
ANERUN=${ANERUN:-./anerun}
fails=0 n=0
first() { "$ANERUN" "$@" 2>&1 >/dev/null | grep -m1 ': error: ' | sed 's|^[^:]*/||'; }
for d in "$bad"/opdef_*/; do
  c=$(basename "$d")
  want=$(sed -n 1p "$bad/$c.expect")
  for mode in "--dry-run" "--backend sim --iters 1" "--backend cpu --warmup 0 --iters 1"; do
    # shellcheck disable=SC2086
    got=$(first $mode "$d")
    # shellcheck disable=SC2086
    "$ANERUN" $mode "$d" >/dev/null 2>&1
    rc=$?
    n=$((n + 1))
    if [ "$got" != "$want" ] || [ "$rc" -ne 1 ]; then
      echo "FAIL: $c ($mode): exit $rc, '$got', expected '$want'"
      fails=$((fails + 1))
    fi
  done
done
[ "$n" -ge 3 ] || { echo "FAIL: no opdef_* cases under $bad"; exit 1; }
echo "$n runs, $fails failed"
[ "$fails" -eq 0 ]
