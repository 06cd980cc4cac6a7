#!/bin/sh
# run_bad.sh - the malformed-input suite: every case under tests/bad/ must
# make the tool exit with status 1 (never a signal, never a sanitizer
# report), print the expected first error line, and leave every file and
# directory it was given, and its working directory, unchanged.
#
#   anet/NAME.anet + NAME.expect   anetc NAME.anet -o OUT   (OUT must not appear)
#   mil/NAME/model.mil + NAME.expect    anerun --dry-run NAME
#                                       (NAME.args, if present, replaces --dry-run)
#   wbin/NAME.expect, npy/NAME.expect   binary cases written by gen_binary.sh
#
# An .expect holds the first "error:" line with the directory removed from
# its path, e.g. "unknown_layer.anet:3:5: error: unknown layer 'convv'":
# the line must start with its location and contain its message. Cases named valid_* must succeed: they show
# that the bad cases differ from a good file only where they mean to.
# NAME.stderr, if present, holds the whole expected output (every error,
# note and source line) and must match exactly.
# tests/bad/KNOWN_FAILURES lists "KIND/NAME reason" lines: such a case is
# reported as XFAIL and does not fail the suite.
#
# Run from the build directory (make check does); $srcdir locates the cases.
# ANETC and ANERUN override the programs.
set -u
srcdir=${srcdir:-.}
bad=$(cd "$srcdir/tests/bad" && pwd)
build=$(pwd)
ANETC=${ANETC:-$build/anetc}
ANERUN=${ANERUN:-$build/anerun}
# A sanitizer report must not pass for the clean exit status 1.
ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}exitcode=99"
UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}halt_on_error=1:exitcode=98"
export ASAN_OPTIONS UBSAN_OPTIONS
to=""
command -v timeout >/dev/null 2>&1 && to="timeout 60"

top=$(mktemp -d "${TMPDIR:-/tmp}/anet-bad.XXXXXX") || exit 99
trap 'rm -rf "$top"' EXIT
gen=$top/gen
tmp=$top/run
mkdir -p "$tmp"
sh "$bad/gen_binary.sh" "$gen" || { echo "run_bad: gen_binary.sh failed"; exit 99; }

npass=0 nfail=0 nxfail=0 nxpass=0 nskip=0

known() { # known ID: prints the reason if ID is a known failure
  [ -f "$bad/KNOWN_FAILURES" ] || return 1
  awk -v id="$1" '$1 == id { $1 = ""; sub(/^ /, ""); print; found = 1 } END { exit !found }' \
    "$bad/KNOWN_FAILURES"
}

# Every path and checksum under the directories given.
snap() {
  for d in "$@"; do
    (cd "$d" && find . -print | LC_ALL=C sort && find . -type f -exec cksum {} + | LC_ALL=C sort)
  done
}

# verdict ID PROBLEM: PROBLEM is empty when the case behaved.
verdict() {
  id=$1 problem=$2
  if reason=$(known "$id"); then
    if [ -n "$problem" ]; then
      echo "XFAIL: $id: $problem (known: $reason)"; nxfail=$((nxfail + 1))
    else
      echo "XPASS: $id: now passes; remove it from KNOWN_FAILURES"; nxpass=$((nxpass + 1))
    fi
  elif [ -n "$problem" ]; then
    echo "FAIL: $id: $problem"; nfail=$((nfail + 1))
    sed -n '1,6s/^/    | /p' "$top/err" 2>/dev/null
  else
    echo "PASS: $id"; npass=$((npass + 1))
  fi
}

# run ID WANT EXPECTFILE PROG ARGS...: runs in an empty working directory
# and checks status, first error line and that nothing under $tmp changed.
run() {
  id=$1 want=$2 expect=$3
  shift 3
  mkdir -p "$tmp/cwd"
  before=$(snap "$tmp")
  (cd "$tmp/cwd" && $to "$@") >"$top/stdout" 2>"$top/err" </dev/null
  rc=$?
  after=$(snap "$tmp")
  problem=""
  if grep -q -e 'Sanitizer' -e 'runtime error:' "$top/err"; then
    problem="sanitizer report"
  elif [ "$rc" -ne "$want" ]; then
    if [ "$rc" -eq 124 ] && [ -n "$to" ]; then problem="timed out"
    elif [ "$rc" -gt 128 ]; then problem="killed by signal $((rc - 128))"
    else problem="exit status $rc, expected $want"; fi
  elif [ "$before" != "$after" ]; then
    problem="files changed: $(printf '%s\n' "$before" >"$top/b"; printf '%s\n' "$after" | diff "$top/b" - | sed -n '2,3p' | tr '\n' ' ')"
  elif [ -n "$expect" ]; then
    first=$(grep -m1 ': error: ' "$top/err" | sed 's|^[^:]*/||')
    exp=$(sed -n 1p "$expect")
    # The location must match exactly, the message by a substring.
    exp_loc=${exp%%: error: *}": error: "
    exp_msg=${exp#*: error: }
    case $first in
      "$exp_loc"*"$exp_msg"*) ;;
      *) problem="first error line is '$first', expected '$exp'" ;;
    esac
    # NAME.stderr, when present, is the whole diagnostic output, exactly.
    full=${expect%.expect}.stderr
    if [ -z "$problem" ] && [ -f "$full" ]; then
      sed "s|$tmp/in/||g" "$top/err" >"$top/got"
      cmp -s "$full" "$top/got" ||
        problem="output differs from $(basename "$full"): $(diff "$full" "$top/got" | sed -n 2p)"
    fi
  fi
  verdict "$id" "$problem"
}

fresh() { rm -rf "$tmp/in" "$tmp/out" "$tmp/cwd"; mkdir -p "$tmp/in" "$tmp/out"; echo keep >"$tmp/out/marker"; }

have() { [ -x "$1" ] || { echo "SKIP: $2 cases: $1 is not built"; return 1; }; }

if have "$ANETC" anet; then
  for f in "$bad"/anet/*.anet; do
    n=$(basename "$f" .anet)
    [ -f "$bad/anet/$n.expect" ] || { verdict "anet/$n" "no $n.expect"; continue; }
    fresh; cp "$f" "$tmp/in/"
    run "anet/$n" 1 "$bad/anet/$n.expect" "$ANETC" "$tmp/in/$n.anet" -o "$tmp/out/model"
  done
else nskip=$((nskip + 1)); fi

if have "$ANERUN" "mil, wbin and npy"; then
  for d in "$bad"/mil/*/; do
    n=$(basename "$d")
    [ -f "$bad/mil/$n.expect" ] || { verdict "mil/$n" "no $n.expect"; continue; }
    fresh; cp -R "$d" "$tmp/in/$n"
    opts=--dry-run
    [ -f "$bad/mil/$n.args" ] && opts=$(cat "$bad/mil/$n.args")
    # shellcheck disable=SC2086
    run "mil/$n" 1 "$bad/mil/$n.expect" "$ANERUN" $opts "$tmp/in/$n"
  done
  for d in "$gen"/wbin/*/; do
    n=$(basename "$d")
    fresh; cp -R "$d" "$tmp/in/$n"
    case $n in
      valid_*) run "wbin/$n" 0 "" "$ANERUN" --dry-run "$tmp/in/$n" ;;
      *) if [ -f "$bad/wbin/$n.expect" ]; then
           run "wbin/$n" 1 "$bad/wbin/$n.expect" "$ANERUN" --dry-run "$tmp/in/$n"
         else verdict "wbin/$n" "no $n.expect"; fi ;;
    esac
  done
  for f in "$gen"/npy/*.npy; do
    n=$(basename "$f" .npy)
    fresh; cp -R "$gen/npy/model" "$tmp/in/model"; cp "$f" "$tmp/in/"
    set -- "$ANERUN" "$tmp/in/model" --backend cpu --iters 1 --input "x=$tmp/in/$n.npy"
    case $n in
      valid_*) run "npy/$n" 0 "" "$@" ;;
      *) if [ -f "$bad/npy/$n.expect" ]; then run "npy/$n" 1 "$bad/npy/$n.expect" "$@"
         else verdict "npy/$n" "no $n.expect"; fi ;;
    esac
  done
else nskip=$((nskip + 1)); fi

echo "run_bad: $npass passed, $nfail failed, $nxfail expected failures, $nxpass unexpected passes"
[ "$nfail" -eq 0 ] || exit 1
[ "$nskip" -lt 2 ] || exit 77
exit 0
