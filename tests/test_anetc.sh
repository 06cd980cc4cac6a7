#!/bin/sh
# test_anetc.sh - anetc end to end: a seed sample compiles to model.mil and
# a weight file of the size MILBlob v2 gives; a sweep gives one directory per
# point; a bad file exits 1 and leaves an existing output directory as it
# was; usage errors exit 2.
#
# Run from the build directory (make check does); $srcdir locates samples.
set -u
srcdir=${srcdir:-.}
ANETC=${ANETC:-./anetc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/anetc-test.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fails=0

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

size_of() { wc -c <"$1" | tr -d ' '; }

# --- a seed sample: 128 x (1x1 conv, 256 channels), int8 weights -------------
out=$tmp/w8a8
expect_status 0 "seed sample" "$ANETC" "$srcdir/samples/seed/w8a8_128x256.anet" -o "$out"
[ -f "$out/model.mil" ] || fail "no $out/model.mil"
[ -f "$out/weights/weight.bin" ] || fail "no $out/weights/weight.bin"
# 64-byte header, then per layer 64 bytes of metadata and 256 * 256 int8
want=$((64 + 128 * (64 + 256 * 256)))
[ "$(size_of "$out/weights/weight.bin")" -eq "$want" ] ||
  fail "weight.bin is $(size_of "$out/weights/weight.bin") bytes, expected $want"
[ "$(head -n 1 "$out/model.mil")" = "program(1.3)" ] || fail "model.mil does not start with program(1.3)"
[ "$(grep -c ' = conv(' "$out/model.mil")" -eq 128 ] || fail "expected 128 convs"
[ "$(grep -c ' = quantize(' "$out/model.mil")" -eq 127 ] || fail "expected 127 quantize ops"
[ "$(grep -c ' = dequantize(' "$out/model.mil")" -eq 127 ] || fail "expected 127 dequantize ops"
# the same file compiles to the same bytes
expect_status 0 "second compile" "$ANETC" "$srcdir/samples/seed/w8a8_128x256.anet" -o "$tmp/again"
cmp -s "$out/weights/weight.bin" "$tmp/again/weights/weight.bin" || fail "weights differ between runs"
cmp -s "$out/model.mil" "$tmp/again/model.mil" || fail "model.mil differs between runs"
# --emit=mil prints what -o writes
expect_status 0 "--emit=mil" "$ANETC" --emit=mil "$srcdir/samples/seed/w8a8_128x256.anet"
cmp -s "$tmp/stdout" "$out/model.mil" || fail "--emit=mil differs from model.mil"

# --- a sweep: one subdirectory per point ---------------------------------------
cat >"$tmp/sweep.anet" <<'EOF'
const ch = 8
const depth = 1
sweep ch in [8, 16], depth in [1, 2]
network sw {
    input x: fp16[1, ch, 4, 4]
    repeat depth { conv ch }
}
EOF
expect_status 0 "sweep" "$ANETC" "$tmp/sweep.anet" -o "$tmp/sweep"
for p in sw_ch8_depth1 sw_ch8_depth2 sw_ch16_depth1 sw_ch16_depth2; do
  [ -f "$tmp/sweep/$p/model.mil" ] && [ -f "$tmp/sweep/$p/weights/weight.bin" ] ||
    fail "sweep point $p is missing"
done
expect_status 0 "--list-points" "$ANETC" --list-points "$tmp/sweep.anet"
[ "$(cat "$tmp/stdout")" = "sw_ch8_depth1
sw_ch8_depth2
sw_ch16_depth1
sw_ch16_depth2" ] || fail "--list-points printed: $(cat "$tmp/stdout")"
expect_status 0 "--point" "$ANETC" --point=sw_ch16_depth2 "$tmp/sweep.anet" -o "$tmp/one"
[ -f "$tmp/one/model.mil" ] || fail "--point -o did not write the point into the directory"
# fp16 weights: 16 x 16 x 2 bytes twice, each after 64 bytes of metadata
[ "$(size_of "$tmp/one/weights/weight.bin")" -eq $((64 + 2 * (64 + 512))) ] ||
  fail "--point weight.bin has the wrong size"

# --- bad input: exit 1, the existing output directory untouched -------------------
printf 'network n {\n    input x: fp16[1, 4, 8, 8]\n    cnov 4\n}\n' >"$tmp/bad.anet"
ls -lR "$out" >"$tmp/before"
expect_status 1 "bad file" "$ANETC" "$tmp/bad.anet" -o "$out"
head -n 1 "$tmp/stderr" | grep -q "bad.anet:3:5: error: unknown layer 'cnov'" ||
  fail "unexpected diagnostic: $(head -n 1 "$tmp/stderr")"
ls -lR "$out" >"$tmp/after"
cmp -s "$tmp/before" "$tmp/after" || fail "a failed compile changed $out"
cmp -s "$out/model.mil" "$tmp/again/model.mil" || fail "a failed compile changed model.mil"
ls -d "$out".tmp.* >/dev/null 2>&1 && fail "a staging directory was left behind"
# an error in a later sweep point must not leave the earlier ones behind
cat >"$tmp/badsweep.anet" <<'EOF'
const g = 1
sweep g in [1, 3]
network n {
    input x: fp16[1, 4, 2, 2]
    conv 4 groups=g
}
EOF
expect_status 1 "bad sweep point" "$ANETC" "$tmp/badsweep.anet" -o "$tmp/badsweep"
[ -e "$tmp/badsweep" ] && fail "a failed sweep created its output directory"

# --- every sample compiles (all its sweep points are checked) -----------------
for f in "$srcdir"/samples/*.anet "$srcdir"/samples/seed/*.anet; do
  expect_status 0 "sample $f" "$ANETC" --list-points "$f"
done
expect_status 0 "--dump-ir" "$ANETC" --dump-ir "$srcdir/samples/transformer.anet"
grep -q '^output v' "$tmp/stdout" || fail "--dump-ir printed no output line"

# --- usage ----------------------------------------------------------------------
expect_status 0 "--help" "$ANETC" --help
grep -q "^usage: anetc" "$tmp/stdout" || fail "--help prints no usage"
expect_status 0 "--version" "$ANETC" --version
grep -q "^anetc (anet) [0-9]" "$tmp/stdout" || fail "--version: $(cat "$tmp/stdout")"
expect_status 2 "no arguments" "$ANETC"
expect_status 2 "unknown option" "$ANETC" --frobnicate "$tmp/sweep.anet"
expect_status 2 "bad --emit" "$ANETC" --emit=onnx "$tmp/sweep.anet"
# a misspelt option: the nearest known one is suggested
expect_status 2 "misspelt option" "$ANETC" --lst-points "$tmp/sweep.anet"
grep -q "unknown option '--lst-points'; did you mean '--list-points'?" "$tmp/stderr" ||
  fail "no suggestion for --lst-points: $(cat "$tmp/stderr")"
expect_status 2 "nothing to do" "$ANETC" "$tmp/sweep.anet"
expect_status 2 "--emit=mil of a sweep" "$ANETC" --emit=mil "$tmp/sweep.anet"
expect_status 2 "unknown point" "$ANETC" --point=nope --emit=mil "$tmp/sweep.anet"
expect_status 1 "missing file" "$ANETC" --emit=mil "$tmp/no-such-file.anet"

if [ "$fails" -ne 0 ]; then
  echo "$fails failure(s)"
  exit 1
fi
echo "all anetc checks passed"
exit 0
