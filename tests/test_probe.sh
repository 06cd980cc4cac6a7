#!/bin/sh
# anerun --probe off macOS: exit 2 with one line that names macOS, nothing
# written; --output belongs to --probe. Run from the build directory.
set -u
srcdir=${srcdir:-.}
. "$srcdir/tests/testlib.sh"
scratch anet-probe
expect() { # expect STATUS MESSAGE ARGS...
  want=$1 msg=$2
  shift 2
  "$ANERUN" "$@" >"$tmp/out" 2>"$tmp/err"
  got=$?
  if [ "$got" -ne "$want" ] || [ "$(cat "$tmp/err")" != "$msg" ] || [ -s "$tmp/out" ]; then
    fail "anerun $*: status $got, stderr: $(cat "$tmp/err")"
  else
    echo "ok: anerun $*"
  fi
}
if [ "$(uname -s)" = Darwin ]; then
  echo "SKIP: on macOS --probe talks to the ANE"
  exit 77
fi
macos='anerun: error: --probe reports on the Apple Neural Engine and runs only on macOS; this system is not macOS'
expect 2 "$macos" --probe
expect 2 "$macos" --probe --output "$tmp/probe.json"
[ ! -e "$tmp/probe.json" ] || fail "$tmp/probe.json written"
expect 2 'anerun: error: --output FILE.json goes with --probe' --output "$tmp/p.json" model.mil
expect 2 "anerun: error: --probe runs its own models, not 'model.mil'" --probe model.mil
finish test_probe
