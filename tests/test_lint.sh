#!/bin/sh
# test_lint.sh - the lint end to end: anetc reports at the .anet line and
# refuses on errors, anerun --dry-run at the MIL line; -W no-RULE silences
# a rule, --lint=json prints the findings; --list-targets and --target;
# anerun --sim-validate.
#
# Run from the build directory (make check does); $srcdir locates the cases.
set -u
srcdir=${srcdir:-.}
cases=$srcdir/tests/cases/lint
. "$srcdir/tests/testlib.sh"
scratch lint-test

# A 16-wide conv kernel: refused on every ANE (ANEForge: kW <= 15). With a
# target asked for, an error at the conv's .anet line 5, column 5, and
# nothing written; without one (the program may be meant for the cpu
# backend), the same finding as a warning, and the model is written.
expect_status 1 "anetc wide kernel" ./anetc --target ios18 -o "$tmp/wk" "$cases/wide_kernel.anet"
has_line "$tmp/stderr" "wide_kernel.anet:5:5: error: conv_0: kernel width 16 exceeds 15" "anetc location"
has_line "$tmp/stderr" "[ane-kernel-width]" "anetc rule name"
[ ! -e "$tmp/wk" ] || fail "anetc wrote output despite a lint error"
expect_status 0 "anetc wide kernel, no target" ./anetc -o "$tmp/wk0" "$cases/wide_kernel.anet"
has_line "$tmp/stderr" "wide_kernel.anet:5:5: warning: conv_0: kernel width 16 exceeds 15" "anetc warning"
[ -f "$tmp/wk0/model.mil" ] || fail "anetc without --target: no model.mil"
expect_status 0 "anetc -W no-ane-kernel-width" ./anetc -W no-ane-kernel-width -o "$tmp/wk" \
  "$cases/wide_kernel.anet"
[ -f "$tmp/wk/model.mil" ] || fail "anetc -W no-...: no model.mil"
expect_status 0 "anetc -Wno-ane-kernel-width" ./anetc -Wno-ane-kernel-width --emit=mil "$cases/wide_kernel.anet"
expect_status 2 "anetc -W unknown" ./anetc -W no-ane-nonesuch --emit=mil "$cases/wide_kernel.anet"
has_line "$tmp/stderr" "-W wants no-RULE" "anetc -W unknown"

# M1: 13 at most; anetc prints M1's program(1.0), so the dialect rule is
# satisfied.
expect_status 1 "anetc --target M1" ./anetc --target M1 --emit=mil "$cases/wide_kernel.anet"
has_line "$tmp/stderr" "kernel width 16 exceeds 13" "M1 kernel cap"
! grep -q "ane-dialect" "$tmp/stderr" || fail "M1 program reported ane-dialect"
# An op the target's opset lacks, at the layer's line: quantize is ios17
# (coremltools), macOS 13 takes ios16.
expect_status 1 "anetc --target M4:macos13" ./anetc --target M4:macos13 --emit=mil \
  "$srcdir/samples/quick_w8a8.anet"
has_line "$tmp/stderr" "quick_w8a8.anet:11:9: error: 'quantize' exists from <ios17>; target M4:macos13 has <ios16> (program(1.0))" "opset"
expect_status 0 "anetc --target M4:macos14" ./anetc --target M4:macos14 --emit=mil \
  "$srcdir/samples/quick_w8a8.anet"
has_line "$tmp/stdout" "func main<ios17>(" "macos14 opset"
expect_status 2 "anetc --target M9" ./anetc --target M9 --emit=mil "$cases/wide_kernel.anet"
has_line "$tmp/stderr" "unknown target 'M9'" "unknown target"

# JSON: one finding with the rule, severity and .anet location.
expect_status 1 "anetc --lint=json" ./anetc --lint=json "$cases/wide_kernel.anet"
has_line "$tmp/stdout" '"rule": "ane-kernel-width", "severity": "error", "file": ' "anetc json"
has_line "$tmp/stdout" '"line": 5, "col": 5, "op": "conv_0"' "anetc json location"

# A sweep: --lint=json wants one point (one JSON array).
expect_status 2 "anetc --lint=json sweep" ./anetc --lint=json "$srcdir/samples/resnet_blocks.anet"
has_line "$tmp/stderr" "choose it with --point=NAME" "json sweep"
expect_status 0 "anetc --lint=json --point" ./anetc --lint=json --point=resnet_blocks_ch64 \
  "$srcdir/samples/resnet_blocks.anet"
has_line "$tmp/stdout" '"rule": "ane-io-width", "severity": "warning"' "json sweep point"

# The seed samples are clean for the default target.
for s in quick_w8a8 transformer depthwise seed_fp16:seed_fp16_depth128_ch512 \
         seed_w8a8:seed_w8a8_depth128_ch512; do
  f=${s%%:*} p=${s#*:}
  [ "$p" = "$s" ] && p= || p=--point=$p
  expect_status 0 "anetc --lint=json $s" ./anetc --lint=json $p "$srcdir/samples/$f.anet"
  grep -q '"rule"' "$tmp/stdout" && { fail "$s has findings"; cat "$tmp/stdout"; }
done

# anerun --dry-run: a MIL file, the finding at its MIL line 6.
expect_status 0 "anerun --dry-run without lint" ./anerun --dry-run "$cases/concat3.mil"
expect_status 1 "anerun --dry-run concat3" ./anerun --dry-run --lint=text "$cases/concat3.mil"
has_line "$tmp/stderr" "concat3.mil:6:2: error: y: concat of 3 inputs is refused" "anerun location"
has_line "$tmp/stdout" "ops: 3 (const 2, concat 1)" "dry run still describes the model"
expect_status 0 "anerun -W no-ane-concat" ./anerun --dry-run -W no-ane-concat "$cases/concat3.mil"
expect_status 1 "anerun --lint=json" ./anerun --lint=json "$cases/concat3.mil"
has_line "$tmp/stdout" '"rule": "ane-concat", "severity": "error"' "anerun json"
has_line "$tmp/stdout" '"line": 6, "col": 2' "anerun json location"
expect_status 2 "anerun --target bad" ./anerun --dry-run --target M4:macos9 "$cases/concat3.mil"

# --list-targets: every chip of the table, the OS names.
expect_status 0 "anetc --list-targets" ./anetc --list-targets
for t in M1 M2 M3 M4 M5 M6 A14 A15 A16 "A17 Pro" A18 "A18 Pro" macos14; do
  has_line "$tmp/stdout" "$t" "--list-targets"
done

# program(1.0) for M1: the same weights and, on the cpu backend, the same
# outputs as the ios18 program; the dry run's lint passes it. A weight
# format the opset lacks: an error at the layer's line, nothing written.
cat >"$tmp/m1.anet" <<'EOF'
network m1 {
    input x: fp16[1, 32, 8, 8]
    conv 32 kernel=1 weights=int8_channel
    conv 32 kernel=3 padding=same weights=int8 scale=0.125
    relu
}
EOF
expect_status 0 "anetc --target M1" ./anetc --target M1 -o "$tmp/m1" "$tmp/m1.anet"
expect_status 0 "anetc ios18" ./anetc -o "$tmp/m18" "$tmp/m1.anet"
has_line "$tmp/m1/model.mil" "program(1.0)" "M1 dialect"
has_line "$tmp/m1/model.mil" "func main<ios16>(" "M1 opset"
cmp -s "$tmp/m1/weights/weight.bin" "$tmp/m18/weights/weight.bin" || fail "M1 weight.bin differs"
expect_status 0 "anerun M1 program" ./anerun --backend cpu --iters 1 --output-dir "$tmp/o1" "$tmp/m1"
expect_status 0 "anerun ios18 program" ./anerun --backend cpu --iters 1 --output-dir "$tmp/o18" "$tmp/m18"
for f in "$tmp"/o18/*.npy; do
  cmp -s "$f" "$tmp/o1/${f##*/}" || fail "M1 output ${f##*/} differs from ios18"
done
expect_status 0 "anerun --dry-run M1 program" ./anerun --dry-run --target M1 "$tmp/m1"
sed 's/weights=int8_channel/weights=lut4/' "$tmp/m1.anet" >"$tmp/lut.anet"
expect_status 1 "anetc lut4 for M1" ./anetc --target M1 -o "$tmp/lut" "$tmp/lut.anet"
has_line "$tmp/stderr" "lut.anet:3:5: error: this weight format lowers to the <ios18> form of 'constexpr_lut_to_dense'" "lut4 on M1"
[ ! -e "$tmp/lut" ] || fail "anetc wrote output despite a dialect error"

# Every program(1.0) file of the corpus whose weights are there (or that
# needs none) runs on the cpu backend, as a program(1.3) one does.
corpus=$srcdir/../shared/mil-corpus
n10=0
for d in "$corpus"/*/; do
  [ -f "$d/model.mil" ] && head -1 "$d/model.mil" | grep -qF 'program(1.0)' || continue
  grep -q BLOBFILE "$d/model.mil" && [ ! -f "$d/weights/weight.bin" ] && continue
  expect_status 0 "cpu run of $d" ./anerun --backend cpu --iters 1 --warmup 0 "$d"
  n10=$((n10 + 1))
done
[ ! -d "$corpus" ] || [ "$n10" -ge 5 ] || fail "only $n10 program(1.0) corpus files ran"

# --bisect needs the ane backend (tests/test_ane.c runs its search).
if ! ./anerun --help | grep -q "backend cpu|sim|ane.*default: ane"; then
  expect_status 2 "anerun --bisect off the Mac" ./anerun --bisect "$tmp/m18"
  has_line "$tmp/stderr" "--bisect searches what the ANE compiler refuses; it needs --backend ane" "--bisect"
fi

# The sim model's fit: every chip of the data, its leave-one-out error.
expect_status 0 "anerun --sim-validate" ./anerun --sim-validate "$srcdir/data/ane_conv_chains.csv"
for c in "M5: 11 rows" "M4: 2 rows" "M5 Max: 2 rows" "leave-one-out |error|: mean"; do
  has_line "$tmp/stdout" "$c" "--sim-validate"
done
expect_status 2 "anerun --sim-validate without a file" ./anerun --sim-validate
expect_status 1 "anerun --sim-validate missing file" ./anerun --sim-validate "$tmp/none.csv"

finish test_lint
