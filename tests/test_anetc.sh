#!/bin/sh
# test_anetc.sh - anetc end to end: a seed sample compiles to model.mil and
# a weight file of the size MILBlob v2 gives; a sweep gives one directory per
# point; a bad file exits 1 and leaves an existing output directory as it
# was; usage errors exit 2.
#
# Run from the build directory (make check does); $srcdir locates samples.
set -u
srcdir=${srcdir:-.}
. "$srcdir/tests/testlib.sh"
scratch anetc-test

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

# --- the manifest, anet.json: network, point, source, each op's layer ----------
# Lines and columns counted by hand: the conv on line 5 at column 5, the relu
# on line 6 at column 3; the convolution's scalar settings (c_*) are shared
# constants of no one layer (0, 0).
printf 'const c = 8\nsweep c in [8, 16]\nnetwork tiny {\n    input x: fp16[1, c, 4, 32]\n    conv c kernel=1 init=constant(0.5)\n  relu\n}\n' >"$tmp/tiny.anet"
expect_status 0 "manifest sweep" "$ANETC" "$tmp/tiny.anet" -o "$tmp/tiny"
expect_status 0 "manifest one point" "$ANETC" --point=tiny_c16 "$tmp/tiny.anet" -o "$tmp/tiny1"
sed 1,2d "$tmp/tiny.anet" >"$tmp/plain.anet"
sed -i 's/, c,/, 8,/; s/conv c/conv 8/' "$tmp/plain.anet"
expect_status 0 "manifest no sweep" "$ANETC" "$tmp/plain.anet" -o "$tmp/plain"
ls "$tmp"/tiny.tmp.* "$tmp"/tiny/*/anet.json.tmp.* >/dev/null 2>&1 && fail "manifest staging files left"
if command -v python3 >/dev/null 2>&1; then
  python3 - "$tmp" <<'PY' || fail "manifest: see above"
import json, re, sys
t = sys.argv[1]
want = {"conv_0_weight": ("const", 5, 5), "conv_0": ("conv", 5, 5), "relu_0": ("relu", 6, 3)}
for d, point, src, line_shift in [("tiny/tiny_c8", "tiny_c8", "tiny.anet", 0),
                                  ("tiny/tiny_c16", "tiny_c16", "tiny.anet", 0),
                                  ("tiny1", "tiny_c16", "tiny.anet", 0),
                                  ("plain", None, "plain.anet", -2)]:
    m = json.load(open(f"{t}/{d}/anet.json"))
    assert m["schema"] == "anet-manifest" and m["schema_version"] == 1, m
    assert m["network"] == "tiny" and m["point"] == point, (d, m["network"], m["point"])
    assert m["source"] == f"{t}/{src}", (d, m["source"])
    ops = {o["name"]: (o["op"], o["line"], o["col"]) for o in m["ops"]}
    # every op of model.mil, in its order, and nothing else
    mil = open(f"{t}/{d}/model.mil").read()
    names = re.findall(r'\[name = string\("([^"]+)"\)', mil)
    assert [o["name"] for o in m["ops"]] == names, (d, names)
    for n, (op, line, col) in want.items():
        assert ops[n] == (op, line + line_shift, col), (d, n, ops[n])
    for n, v in ops.items():
        if n.startswith("c_"):
            assert v[0] == "const" and v[1:] == (0, 0), (d, n, v)
    assert len(ops) == 8, (d, sorted(ops))
PY
fi

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

finish test_anetc
