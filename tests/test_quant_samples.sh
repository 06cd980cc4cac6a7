#!/bin/sh
# test_quant_samples.sh - the weight formats from the command line:
# samples/quant compile to weight files of the size MILBlob v2's layout
# gives (FORMATS.md §1.6) and run on the cpu backend; anetc --quant-report
# measures palettes at the known optimum for Gaussian weights.
#
# Every sample must compile and run: no op of theirs is left unsupported.
# Run from the build directory (make check does).
set -u
srcdir=${srcdir:-.}
. "$srcdir/tests/testlib.sh"
scratch quant-test

# --- every sample compiles and runs ------------------------------------------
for f in "$srcdir"/samples/quant/*.anet; do
  name=$(basename "$f" .anet)
  if ! "$ANETC" -o "$tmp/$name" "$f" >"$tmp/out" 2>"$tmp/err"; then
    fail "$name does not compile"; cat "$tmp/err"
    continue
  fi
  # study is 128 layers at 64x64 per point: checked, not run, here
  run="--iters 1 --warmup 0"
  [ "$name" = study ] && run=--dry-run
  if ! "$ANERUN" --backend cpu $run "$tmp/$name" >"$tmp/out" 2>"$tmp/err"; then
    fail "$name does not run on the cpu backend"; cat "$tmp/err"
  fi
done

# --- weight file sizes by the layout rules -----------------------------------
# int4_block32, per layer: 64 B metadata + int4[256, 256] = 32768 B, then
# 64 B + fp16 scales [256, 8, 1, 1] = 4096 B; all 64-aligned already.
# 64 + 16 * 36992 = 591936
if [ -f "$tmp/int4_block32/weights/weight.bin" ]; then
  got=$(size_of "$tmp/int4_block32/weights/weight.bin")
  [ "$got" -eq 591936 ] || fail "int4_block32: weight.bin is $got bytes, expected 591936"
fi
# lut4, per layer: 64 + uint4[256, 256] = 32768, then 64 + fp16[16] = 32 B,
# padded to 64 except after the last: 64 + 15 * 32960 + 32928 = 527392
if [ -f "$tmp/lut4/weights/weight.bin" ]; then
  got=$(size_of "$tmp/lut4/weights/weight.bin")
  [ "$got" -eq 527392 ] || fail "lut4: weight.bin is $got bytes, expected 527392"
fi
# sparse_int8, per layer: uint1 mask [256, 256] = 8192 B, int8 kept values
# 32768 B, fp16 scales 512 B: 64 + 8192 + 64 + 32768 + 64 + 512 = 41664,
# every part a multiple of 64: 64 + 16 * 41664 = 666688
if [ -f "$tmp/sparse_int8/weights/weight.bin" ]; then
  got=$(size_of "$tmp/sparse_int8/weights/weight.bin")
  [ "$got" -eq 666688 ] || fail "sparse_int8: weight.bin is $got bytes, expected 666688"
fi

# --- --quant-report ------------------------------------------------------------
# Per-tensor palettes of a million N(0, 1/32^2) weights: k-means reaches the
# Lloyd-Max quantiser of the Gaussian, whose SNR is 4.40, 9.30 and 14.62 dB
# for 1, 2 and 3 bits (Max, 1960); the palette's fp16 rounding costs nothing
# visible at this size.
cat >"$tmp/lm.anet" <<'EOT'
network lm {
    input x: fp16[1, 1024, 1, 1]
    conv 1024 weights=lut1
    conv 1024 weights=lut2
    conv 1024 weights=lut3
}
EOT
if "$ANETC" --quant-report "$tmp/lm.anet" >"$tmp/report" 2>"$tmp/err"; then
  awk 'NR > 1 { print $3, $6 }' "$tmp/report" >"$tmp/snr"
  for want in "lut1 4.40" "lut2 9.30" "lut3 14.62"; do
    set -- $want
    got=$(awk -v f="$1" '$1 == f { print $2 }' "$tmp/snr")
    awk -v g="$got" -v w="$2" 'BEGIN { exit !(g - w < 0.05 && w - g < 0.05) }' ||
      fail "$1: SNR $got dB, expected $2 +- 0.05"
  done
else
  fail "--quant-report"; cat "$tmp/err"
fi
# JSON: one object per weight; an exact format (constant weights) has SNR null
cat >"$tmp/exact.anet" <<'EOT'
network exact {
    input x: fp16[1, 64, 1, 1]
    conv 64 weights=int8_channel init=constant(0.5)
    conv 64 weights=lut2
}
EOT
if "$ANETC" --quant-report=json "$tmp/exact.anet" >"$tmp/json" 2>"$tmp/err"; then
  n=$(grep -c '"weight"' "$tmp/json")
  [ "$n" -eq 2 ] || fail "--quant-report=json: $n objects, expected 2"
  grep -q '"weight": "conv_0_weight", "format": "int8_channel", "elements": 4096, "max_abs_err": 0, "snr_db": null' \
    "$tmp/json" || { fail "--quant-report=json: constant weights not exact"; cat "$tmp/json"; }
  [ "$(head -n 1 "$tmp/json")" = "[" ] && [ "$(tail -n 1 "$tmp/json")" = "]" ] ||
    fail "--quant-report=json: not one JSON array"
else
  fail "--quant-report=json"; cat "$tmp/err"
fi
"$ANETC" --quant-report=xml "$tmp/exact.anet" >/dev/null 2>&1
[ $? -eq 2 ] || fail "--quant-report=xml is not a usage error"

finish test_quant_samples
