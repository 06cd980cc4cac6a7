#!/bin/sh
# test_calibrate.sh - `activations int8 scale=auto` with anetc --calibrate:
# the scales absmax/127 gives on a tiny network and input, worked out by
# hand, the program's outputs on the cpu backend worked out by hand, and
# the errors (no --calibrate, an unknown input, a shape that does not fit).
#
# Run from the build directory (make check does).
set -u
srcdir=${srcdir:-.}
. "$srcdir/tests/testlib.sh"
scratch calib-test

cat >"$tmp/cal.anet" <<'EOT'
network cal {
    input x: fp16[1, 4, 1, 1]
    activations int8 scale=auto
    mul 3
    add 1
    relu
    mul 0.5
}
EOT
# x = [-2, 0.5, 1, 4]: fp32 0xc0000000 0x3f000000 0x3f800000 0x40800000
npy_f4 "$tmp/x.npy" "(1, 4, 1, 1)" '\0\0\0\300\0\0\0\077\0\0\200\077\0\0\200\100'
npy_f4 "$tmp/x3.npy" "(1, 3, 1, 1)" '\0\0\0\0\0\0\0\0\0\0\0\0'

# The probe keeps fp16 activations: mul 3 gives [-6, 1.5, 3, 12] (absmax 12),
# add 1 [-5, 2.5, 4, 13] and relu [0, 2.5, 4, 13] (13). 12/127 = 0.09449
# rounds to fp16 1548/1024 * 2^-4 = 0x1.83p-4; 13/127 = 0.10236 to
# 1677/1024 * 2^-4 = 0x1.a34p-4. The output layer is not quantised.
expect_status 0 "calibrated compile" "$ANETC" --calibrate x="$tmp/x.npy" --emit=mil "$tmp/cal.anet"
grep -o 'q_scale_[0-9] = const()\[name = string("q_scale_[0-9]"), val = fp16([^)]*)' \
  "$tmp/stdout" | sed 's/ = const.*fp16(/ /;s/)$//' >"$tmp/scales"
printf 'q_scale_0 0x1.83p-4\nq_scale_1 0x1.a34p-4\n' >"$tmp/want"
cmp -s "$tmp/scales" "$tmp/want" || { fail "scales:"; cat "$tmp/scales"; }
for l in mul_0 add_0 relu_0; do
  grep -q "$l"'_q = quantize(input = '"$l"', output_dtype = q_dtype_0, scale = q_scale_' \
    "$tmp/stdout" || fail "$l is not quantised"
done
grep -q 'mul_1_q' "$tmp/stdout" && fail "the output layer is quantised"

# Run on the cpu backend with x. q = rne(v / s) in [-128, 127], then q * s
# rounded to fp16: mul_0 [-64, 16, 32, 127] -> [-6.046875, 1.51171875,
# 3.0234375, 12]; add 1, then q [-49, 25, 39, 127] -> [-5.015625, 2.55859375,
# 3.9921875, 13]; relu keeps them (q [0, 25, 39, 127]); * 0.5 =
# [0, 1.279296875, 1.99609375, 6.5] = fp16 0x0000 0x3d1e 0x3ffc 0x4680.
expect_status 0 "calibrated model" "$ANETC" --calibrate x="$tmp/x.npy" -o "$tmp/m" "$tmp/cal.anet"
expect_status 0 "calibrated run" "$ANERUN" --backend cpu --iters 1 --warmup 0 \
  --input x="$tmp/x.npy" --output-dir "$tmp/y" "$tmp/m"
expect_f2 "$tmp/y/mul_1.npy" 0000 3d1e 3ffc 4680

# The same bytes on a second compile.
expect_status 0 "second compile" "$ANETC" --calibrate x="$tmp/x.npy" -o "$tmp/m2" "$tmp/cal.anet"
cmp -s "$tmp/m/model.mil" "$tmp/m2/model.mil" || fail "two calibrated compiles differ"

# --- errors ----------------------------------------------------------------
expect_error() {   # expect_error WANT_STATUS MESSAGE args...
  st=$1 msg=$2
  shift 2
  expect_status "$st" "$msg" "$ANETC" "$@"
  grep -qF -- "$msg" "$tmp/stderr" || { fail "expected '$msg' in:"; cat "$tmp/stderr"; }
}
expect_error 1 "cal.anet:3:28: error: scale=auto needs a calibration input: anetc --calibrate x=FILE.npy" \
  --emit=mil "$tmp/cal.anet"
expect_error 1 "cal.anet:1:9: error: --calibrate y=$tmp/x.npy: network 'cal' has no input 'y'" \
  --calibrate y="$tmp/x.npy" --emit=mil "$tmp/cal.anet"
expect_error 1 "cal.anet:2:11: error: calibration input $tmp/x3.npy has shape fp32[1, 3, 1, 1], but input 'x' is fp16[1, 4, 1, 1]" \
  --calibrate x="$tmp/x3.npy" --emit=mil "$tmp/cal.anet"
expect_error 2 "--calibrate wants NAME=FILE.npy, not 'x'" --calibrate x --emit=mil "$tmp/cal.anet"
expect_error 1 "$tmp/none.npy: error: cannot open" --calibrate x="$tmp/none.npy" --emit=mil "$tmp/cal.anet"
# a second input without calibration data
sed 's/^    input x: fp16\[1, 4, 1, 1\]$/&\n    input z: fp16[1, 4, 1, 1]/' "$tmp/cal.anet" >"$tmp/two.anet"
expect_error 1 "two.anet:3:11: error: input 'z' has no calibration input (--calibrate z=FILE.npy)" \
  --calibrate x="$tmp/x.npy" --emit=mil "$tmp/two.anet"
# a failed calibration writes nothing
expect_status 1 "no output on error" "$ANETC" -o "$tmp/none" "$tmp/cal.anet"
[ -e "$tmp/none" ] && fail "a failed compile left $tmp/none"
# scale=auto is not a constant named auto, and fp16 takes no scale unless its
# dtype comes from a constant (so one sweep covers fp16 and int8)
printf 'network f {\n    input x: fp16[1, 4, 1, 1]\n    activations fp16 scale=0.5\n    relu\n}\n' >"$tmp/f.anet"
expect_error 1 "f.anet:3:28: error: fp16 activations take no scale" --emit=mil "$tmp/f.anet"
printf 'const a = fp16\nsweep a in [fp16, int8]\nnetwork f {\n    input x: fp16[1, 4, 1, 1]\n    activations a scale=0.5\n    relu\n    relu\n}\n' >"$tmp/s.anet"
expect_status 0 "swept activations" "$ANETC" -o "$tmp/s" "$tmp/s.anet"
[ "$(grep -c quantize "$tmp/s/f_afp16/model.mil")" -eq 0 ] || fail "fp16 point is quantised"
[ "$(grep -c ' = quantize(' "$tmp/s/f_aint8/model.mil")" -eq 1 ] || fail "int8 point: not one quantize"

finish test_calibrate
