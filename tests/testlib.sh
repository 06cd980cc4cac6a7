# testlib.sh - what the shell tests share, sourced after they set $tmp
# (a scratch directory) and fails=0: fail counts a failure, expect_status
# runs a command and checks its exit status, npy_f4 writes a small .npy.

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

# npy_f4 FILE SHAPE BYTES: a version 1.0 .npy of little-endian fp32, its
# header (magic, version, 2-byte length, dict, spaces, newline) a multiple
# of 64 bytes long; BYTES in printf octal escapes.
npy_f4() {
  hdr="{'descr': '<f4', 'fortran_order': False, 'shape': $2, }"
  total=$(( (10 + ${#hdr} + 1 + 63) / 64 * 64 ))
  len=$((total - 10))
  { printf '\223NUMPY\001\000'; printf "\\$(printf %o "$len")\\000"
    printf '%s' "$hdr"; printf "%$((len - ${#hdr} - 1))s\n" ""; printf "$3"; } >"$1"
}
