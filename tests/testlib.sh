# testlib.sh - what the shell tests share. A test sets srcdir, sources this
# file and calls `scratch NAME`; it ends with `finish NAME`. ANETC and
# ANERUN name the programs under test (./anetc and ./anerun unless set).
#   scratch     a scratch directory $tmp, removed on exit; fails=0
#   fail        counts a failure
#   expect_status  runs a command, its output in $tmp/stdout and $tmp/stderr,
#               and checks its exit status
#   has_line    a line of a file contains a text
#   size_of     a file's size in bytes
#   npy_f4      writes a small .npy
#   expect_f2   the last values of an fp16 .npy, as bits
#   finish      the summary line and the exit status make check reads

ANETC=${ANETC:-./anetc}
ANERUN=${ANERUN:-./anerun}

scratch() {   # scratch NAME
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX") || exit 99
  trap 'rm -rf "$tmp"' EXIT
  fails=0
}

fail() {
  echo "FAIL: $*"
  fails=$((fails + 1))
}

expect_status() {   # expect_status WANT DESCRIPTION command...
  want=$1 what=$2
  shift 2
  "$@" >"$tmp/stdout" 2>"$tmp/stderr"
  got=$?
  [ "$got" -eq "$want" ] || { fail "$what: exit status $got, expected $want"; cat "$tmp/stderr"; }
}

has_line() {   # has_line FILE TEXT [DESCRIPTION]: FILE is shown when it fails
  grep -qF -- "$2" "$1" || { fail "${3:-$1}: no line with '$2' in $1:"; cat "$1"; }
}

# npy_f4 FILE SHAPE BYTES: a version 1.0 .npy of little-endian fp32, its
# header (magic, version, 2-byte length, dict, spaces, newline) a multiple
# of 64 bytes long; BYTES in printf octal escapes.
size_of() { wc -c <"$1" | tr -d ' '; }

# shellcheck disable=SC2059 # the length byte and BYTES are printf escapes
npy_f4() {
  hdr="{'descr': '<f4', 'fortran_order': False, 'shape': $2, }"
  total=$(( (10 + ${#hdr} + 1 + 63) / 64 * 64 ))
  len=$((total - 10))
  { printf '\223NUMPY\001\000'; printf "\\$(printf %o "$len")\\000"
    printf '%s' "$hdr"; printf "%$((len - ${#hdr} - 1))s\n" ""; printf "$3"; } >"$1"
}

# expect_f2 FILE HEX...: FILE (an fp16 .npy) ends with these values, each
# as the 4 hex digits of its bits (little-endian hosts: od reads host order).
expect_f2() {
  f=$1
  shift
  [ -f "$f" ] || { fail "no output $f"; return; }
  got=$(tail -c $((2 * $#)) "$f" | od -An -tx2 -v | xargs)
  [ "$got" = "$*" ] || fail "$f: $got, expected $*"
}

finish() {   # finish NAME
  if [ "$fails" -ne 0 ]; then
    echo "$1: $fails failure(s)"
    exit 1
  fi
  echo "$1: all passed"
  exit 0
}
