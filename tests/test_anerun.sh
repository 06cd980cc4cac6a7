#!/bin/sh
# anerun end to end: exit statuses, --dry-run on every file of the MIL
# corpus (skipped when ../shared is absent), cpu and sim runs of a .anet
# sweep, of a model directory and of a sweep directory anetc wrote, the JSON and CSV reports, the
# output files, and the private weight directory being removed.
set -u
srcdir=${srcdir:-.}
anerun=./anerun
anetc=./anetc
. "$srcdir/tests/testlib.sh"
scratch test_anerun

# status WANT CMD...: runs CMD with its output in $tmp/out and $tmp/err.
status() {
  want=$1
  shift
  "$@" >"$tmp/out" 2>"$tmp/err"
  got=$?
  [ "$got" -eq "$want" ] || fail "'$*' exited $got, wanted $want: $(head -c 600 "$tmp/err")"
}

has() {
  grep -q -- "$1" "$tmp/${2:-out}" || fail "no '$1' in ${2:-out}: $(head -c 600 "$tmp/${2:-out}")"
}

# The keys docs/report-schema.md promises, in every object; $1 = objects.
json_keys() {
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$tmp/out" "$1" <<'EOF' || fail "JSON report: see above"
import json, sys
rows = json.load(open(sys.argv[1]))
assert len(rows) == int(sys.argv[2]), "%d rows" % len(rows)
keys = ["model", "backend", "chip", "estimated", "warmup", "iters", "weight_bytes",
        "weight_mb", "gflop", "gflop_partial", "ms_min", "ms_median", "ms_p90", "tflops",
        "pct_peak", "est_mhz"]
for r in rows:
    missing = [k for k in keys if k not in r]
    assert not missing, "missing %s" % missing
    assert r["ms_min"] <= r["ms_median"] <= r["ms_p90"], r
    assert r["gflop"] > 0 and r["tflops"] > 0, r
EOF
  else
    for k in model backend estimated iters ms_min ms_median ms_p90 gflop tflops; do
      has "\"$k\": "
    done
  fi
}

# ---- usage and input errors ------------------------------------------------

status 2 $anerun
status 2 $anerun --iters 0 m
status 2 $anerun --bogus m
status 2 $anerun --format xml m
status 2 $anerun --backend cpu --check m
status 2 $anerun --backend sim --output-dir o m
status 1 $anerun a b
has '^a: error: cannot open' err
has '^b: error: cannot open' err
status 2 $anerun --backend cpu --chip Z80 m
has "unknown chip 'Z80'" err
if [ "$(uname)" != Darwin ]; then
  status 2 $anerun --backend ane m
  has 'needs macOS' err
fi
status 0 $anerun --help
has '^usage: anerun'
status 0 $anerun --version
has '^anerun'
status 0 $anerun --list-chips
has '^M4 '
# M6's core count is not published: unknown, never 0
has '^M6 *h18 *unknown '
status 1 $anerun --backend cpu "$tmp/nonexistent"
status 1 $anerun --dry-run "$tmp/nonexistent"
has 'cannot open' err

mkdir "$tmp/bad"
printf 'program(1.3)\n{\n    func main<ios18>(tensor<fp16, [1]> x) {\n        y = relu(x = x);\n' \
  >"$tmp/bad/model.mil"
status 1 $anerun --dry-run "$tmp/bad"
has 'model.mil:[0-9]*:[0-9]*: error: ' err

# ---- the corpus ----------------------------------------------------------

corpus=$srcdir/../shared/mil-corpus
if [ -d "$corpus" ]; then
  n=0
  for d in "$corpus"/*/; do
    [ -f "$d/model.mil" ] || continue
    status 0 $anerun --dry-run "$d"
    has '^function '
    has '^  GFLOP: '
    if [ -f "$d/weights/weight.bin" ]; then
      has '^weights: weights/weight.bin present'
    else
      grep -q '^weights: \(none\|ABSENT\)' "$tmp/out" || fail "$d: weights line"
    fi
    n=$((n + 1))
  done
  [ "$n" -gt 0 ] || fail "no model in $corpus"
  echo "dry-run: $n corpus models"
  # The sim backend needs no weights, so a published model.mil runs on it.
  status 0 $anerun --backend sim "$corpus/pdfsearch-bert-embedding"
  has 'est. TFLOPS'
  status 1 $anerun --backend cpu "$corpus/pdfsearch-bert-embedding"
  has 'weights/weight.bin, which is absent' err
  # Two functions and no main: the first runs, named on stderr; --function
  # picks one; --list-functions lists them; a '?' input takes the default
  # shape of FlexibleShapeInformation.
  multi=$corpus/mlmodelc-export-multifunction
  status 0 $anerun --backend sim "$multi"
  has "no function 'main'; running 'first', the first" err
  status 0 $anerun --backend sim --function second --format csv "$multi"
  has '^mlmodelc-export-multifunction,sim,M4,fp16,true,'
  status 0 $anerun --backend cpu --function first "$multi"
  has "input 'input' takes the function's default shape" err
  status 1 $anerun --backend cpu --function third "$multi"
  has "no function 'third'" err
  status 0 $anerun --list-functions "$multi"
  has '^first<ios18>(input)$'
  has '^second<ios18>(input)$'
  # Every corpus model that ships its weights or needs none runs on the cpu
  # backend, and its outputs are finite (checked when numpy is at hand).
  py=
  for p in python3 /usr/bin/python3; do
    "$p" -c 'import numpy' 2>/dev/null && { py=$p; break; }
  done
  ran=0
  for d in "$corpus"/*/; do
    [ -f "$d/weights/weight.bin" ] || ! grep -q BLOBFILE "$d/model.mil" || continue
    out=$tmp/corpus/$(basename "$d")
    status 0 $anerun --backend cpu --warmup 0 --iters 1 --output-dir "$out" "$d"
    ran=$((ran + 1))
    [ -z "$py" ] || "$py" -c 'import numpy as np, sys
for f in sys.argv[1:]:
    a = np.load(f)
    assert np.isfinite(a.astype(np.float64)).all(), f' "$out"/*.npy || fail "$d: an output is not finite"
  done
  [ "$ran" -ge 17 ] || fail "only $ran corpus models ran on the cpu backend"
  echo "cpu: $ran corpus models ran${py:+, outputs finite}"
  # A '?' input takes its shape from --input.
  if [ -n "$py" ]; then
    "$py" -c 'import numpy as np; np.save("'"$tmp"'/idx.npy", np.array([[0, -1, 2]], np.int32))'
    status 0 $anerun --backend cpu --iters 1 --input indices="$tmp/idx.npy" --output-dir "$tmp/g" \
      "$corpus/mlmodelc-export-flexible-gather"
    "$py" -c 'import numpy as np; a = np.load("'"$tmp"'/g/output.npy"); assert a.shape == (1, 3, 2), a.shape' ||
      fail "flexible-gather: the output's shape does not follow --input"
    # ... within the function's RangeDims and EnumeratedShapes, else refused at the function
    "$py" -c 'import numpy as np; np.save("'"$tmp"'/idx3.npy", np.zeros((3, 1), np.int32))
np.save("'"$tmp"'/e2.npy", np.ones(2, np.float32)); np.save("'"$tmp"'/e3.npy", np.ones(3, np.float32))
np.save("'"$tmp"'/x2049.npy", np.ones((1, 2049, 1), np.float16))'
    status 1 $anerun --backend cpu --iters 1 --input indices="$tmp/idx3.npy" "$corpus/mlmodelc-export-flexible-gather"
    has "model.mil:4:21: error: input 'indices' from $tmp/idx3.npy has shape \[3, 1\]: dim 0 (3) is outside the function's range \[0, 2\]" err
    status 1 $anerun --backend cpu --iters 1 --input x="$tmp/x2049.npy" "$corpus/fluidaudio-transpose-encoder"
    has "dim 1 (2049) is outside the function's range \[1, 2048\]" err
    status 0 $anerun --backend cpu --iters 1 --input input="$tmp/e2.npy" --output-dir "$tmp/e" \
      "$corpus/mlmodelc-export-flexible-enumerated"
    "$py" -c 'import numpy as np; a = np.load("'"$tmp"'/e/output.npy"); assert a.shape == (2,), a.shape' ||
      fail "flexible-enumerated: the output's shape does not follow --input"
    status 1 $anerun --backend cpu --iters 1 --input input="$tmp/e3.npy" "$corpus/mlmodelc-export-flexible-enumerated"
    has "model.mil:4:21: error: input 'input' from $tmp/e3.npy has shape \[3\], which is not one of the function's enumerated shapes" err
  fi
else
  echo "SKIP: $corpus is absent: no corpus dry-runs"
fi

# ---- a .anet sweep --------------------------------------------------------

sweep=$srcdir/tests/anerun/tiny_sweep.anet
mkdir "$tmp/private"
status 0 env TMPDIR="$tmp/private" $anerun --backend cpu --iters 2 --format json "$sweep"
json_keys 2
has '"model": "tiny_ch8"'
has '"model": "tiny_ch16"'
has '"backend": "cpu", "chip": null, "precision": "fp16", "estimated": false'
# 2 * 8 * 8 * 64 FLOP per conv, two convs, 512 for the relu.
has '"gflop": 1.6896e-05'
[ -z "$(ls -A "$tmp/private")" ] || fail "the private weight directory was left: $(ls "$tmp/private")"

status 0 $anerun --backend cpu --iters 2 "$sweep"
has 'GFLOP/s'
has '^tiny_ch16 '
status 0 $anerun --backend cpu --iters 2 --format csv "$sweep"
[ "$(wc -l <"$tmp/out")" -eq 3 ] || fail "CSV: want a header and 2 rows"
has '^model,backend,chip,precision,estimated,warmup,iters,'
has '^tiny_ch8,cpu,,fp16,false,1,2,'

status 0 $anerun --backend sim --format json "$sweep"
json_keys 2
has '"estimated": true'
status 0 $anerun --backend sim --profile --chip M5 "$sweep"
has 'ESTIMATES'
has 'est. ms'
status 1 $anerun --backend sim --chip M2 "$sweep"
has 'no measured fp16 peak' err

# ---- a model directory anetc wrote ----------------------------------------

status 0 $anetc -o "$tmp/model" "$sweep"
dir=$tmp/model/tiny_ch8
status 0 $anerun --backend cpu --iters 2 --format json --output-dir "$tmp/o1" "$dir"
json_keys 1
has '"model": "tiny_ch8"'
[ -f "$tmp/o1/relu_0.npy" ] || fail "no $tmp/o1/relu_0.npy"

# The sweep compiled in-process gives the same weights, so the same outputs.
status 0 $anerun --backend cpu --iters 1 --output-dir "$tmp/o2" "$sweep"
cmp -s "$tmp/o1/relu_0.npy" "$tmp/o2/tiny_ch8/relu_0.npy" ||
  fail "outputs differ between the model directory and the .anet"
[ -f "$tmp/o2/tiny_ch16/relu_0.npy" ] || fail "no output of the second point"

# An output of the right shape is a valid input; one of another shape is not.
status 0 $anerun --backend cpu --iters 1 --input "x=$tmp/o1/relu_0.npy" "$dir"
status 1 $anerun --backend cpu --iters 1 --input "x=$tmp/o2/tiny_ch16/relu_0.npy" "$dir"
has 'does not fit input' err
status 1 $anerun --backend cpu --input "nosuch=$tmp/o1/relu_0.npy" "$dir"
has "has no input 'nosuch'" err

# The sweep directory anetc wrote runs every point, in natural name order
# (8 before 16), with the outputs the .anet gave.
status 0 $anerun --backend cpu --iters 1 --format csv --output-dir "$tmp/o3" "$tmp/model"
[ "$(sed -n '2s/,.*//p;3s/,.*//p' "$tmp/out" | tr '\n' ' ')" = "tiny_ch8 tiny_ch16 " ] ||
  fail "sweep directory: want rows tiny_ch8, tiny_ch16: $(cat "$tmp/out")"
cmp -s "$tmp/o2/tiny_ch16/relu_0.npy" "$tmp/o3/tiny_ch16/relu_0.npy" ||
  fail "outputs differ between the sweep directory and the .anet"
status 0 $anerun --dry-run "$tmp/model"
has '2 sweep points'
mkdir "$tmp/empty"
status 1 $anerun --backend cpu "$tmp/empty"
has 'nor subdirectories that hold one' err

# The same directory without its weights.
mkdir "$tmp/nowt"
cp "$dir/model.mil" "$tmp/nowt/"
status 0 $anerun --dry-run "$tmp/nowt"
has '^weights: ABSENT'
status 1 $anerun --backend cpu "$tmp/nowt"

# Named after the network or point its anet.json gives, not the directory
# anetc -o was pointed at; a MIL model without one after its directory; a
# broken manifest is a located error.
status 0 $anetc --point=tiny_ch16 -o "$tmp/m/out" "$sweep"
printf 'network plain {\n    input x: fp16[1, 8, 8, 8]\n    relu\n}\n' >"$tmp/plain.anet"
status 0 $anetc -o "$tmp/plainout" "$tmp/plain.anet"
mkdir "$tmp/fromelsewhere"
cp "$tmp/plainout/model.mil" "$tmp/fromelsewhere/"
status 0 $anerun --backend sim --format csv "$tmp/m/out" "$tmp/plainout" "$tmp/fromelsewhere"
[ "$(sed -n '2,4s/,.*//p' "$tmp/out" | tr '\n' ' ')" = "tiny_ch16 plain fromelsewhere " ] ||
  fail "manifest names: want tiny_ch16 plain fromelsewhere: $(cat "$tmp/out")"
cp -r "$tmp/plainout" "$tmp/badman"
sed -i 's/"point": null/"point": 7/' "$tmp/badman/anet.json"
status 1 $anerun --backend sim "$tmp/badman"
has "badman/anet.json:2:31: error: manifest: expected '\"'" err

# ---- the seed's study in one command ----------------------------------------

seed=$srcdir/samples/seed
status 0 $anerun --backend sim "$seed/"
[ ! -s "$tmp/err" ] || fail "progress written to stderr that is not a terminal: $(cat "$tmp/err")"
# A directory of .anet files: every file, natural order (64 before 128).
want='fp16_64x512 fp16_96x512 fp16_128x256 fp16_128x384 fp16_128x512 fp16_256x256 w8a8_64x512 w8a8_96x512 w8a8_128x256 w8a8_128x384 w8a8_128x512 '
[ "$(sed -n '3,13s/ .*//p' "$tmp/out" | tr '\n' ' ')" = "$want" ] ||
  fail "seed rows: $(cat "$tmp/out")"
has 'speed-up$'
has 'geometric mean of 5 pairs'
# Each W8A8 row's speed-up is its fp16 twin's est. ms over its own.
awk '$2 == "fp16" { ms[substr($1, 6)] = $5 }
     $2 == "w8a8" { k = substr($1, 6); want = ms[k] / $5; got = $7; sub(/x$/, "", got)
                    if (got - want > 0.006 || want - got > 0.006) { print "bad", $0; bad = 1 }; n++ }
     END { exit bad || n != 5 }' "$tmp/out" || fail "speed-ups: $(cat "$tmp/out")"
status 0 $anerun --dry-run "$seed"
[ "$(grep -c '^function ' "$tmp/out")" -eq 11 ] || fail "dry-run of the seed directory"

# A bad file in a directory of .anet files is reported; the others still run.
mkdir "$tmp/dir"
cp "$seed/fp16_64x512.anet" "$tmp/dir/"
printf 'network x {\n  input x: fp16[1, 8, 4, 4]\n  bad\n}\n' >"$tmp/dir/bad.anet"
status 1 $anerun --backend sim "$tmp/dir/"
has "^$tmp/dir/bad.anet:3:3: error: unknown layer 'bad'" err
has '^fp16_64x512 '

# On a terminal, progress on stderr: point k of n, elapsed, time left.
if command -v script >/dev/null 2>&1; then
  script -qc "$anerun --backend sim $seed/fp16_64x512.anet $seed/w8a8_64x512.anet" /dev/null \
    >"$tmp/pty" 2>&1
  has '\[1/2\] fp16_64x512  [0-9.]* s elapsed' pty
  has '\[2/2\] w8a8_64x512  [0-9.]* s elapsed, about [0-9.]* s left' pty
fi

# PATHs in the order given; a pair whose baseline runs later is still listed.
status 0 $anerun --backend sim "$seed/w8a8_64x512.anet" "$seed/fp16_64x512.anet"
[ "$(sed -n '3,4s/ .*//p' "$tmp/out" | tr '\n' ' ')" = "w8a8_64x512 fp16_64x512 " ] ||
  fail "order: $(cat "$tmp/out")"
has 'w8a8_64x512  *vs fp16_64x512 '
status 0 $anerun --backend sim --baseline fp16_128x512 "$seed"
has '^fp16_128x512 .* 1.00x$'
status 1 $anerun --backend sim --baseline nosuch "$seed"
has "no point is named 'nosuch'" err
status 0 $anerun --backend sim --baseline none "$seed"
grep -q 'speed-up' "$tmp/out" && fail "--baseline none printed speed-ups"

# Per-op tables only with --profile, and not with --summary.
grep -q '^sim cost model for' "$tmp/out" && fail "per-op table without --profile"
status 0 $anerun --backend sim --profile "$seed/fp16_64x512.anet"
has 'sim cost model for fp16_64x512'
status 0 $anerun --backend sim --profile --summary "$seed/fp16_64x512.anet"
grep -q '^sim cost model for' "$tmp/out" && fail "--summary printed a per-op table"
status 0 $anerun --backend cpu --iters 2 --profile "$sweep"
has '^cpu time per op type for tiny_ch8 (measured, mean of 2 evaluations)'
has '^  conv  *2 '
has '^  relu  *1 '
# ... and each op, slowest first, at the line it came from: the convs of the
# repeat on line 9 (column 9), the relu on line 11 (column 5) of the .anet,
# from the .anet itself or from the manifest of a model directory anetc wrote;
# a model.mil without one points into itself (its lines found by grep).
has '^cpu time per op for tiny_ch8: the 3 slowest of 3 (measured, mean of 2 evaluations)'
has '^  conv_0  *conv  .*tiny_sweep.anet:9:9$'
has '^  relu_0  *relu  .*tiny_sweep.anet:11:5$'
status 0 $anerun --backend cpu --iters 2 --profile "$tmp/model/tiny_ch16"
has '^  conv_1  *conv  .*tests/anerun/tiny_sweep.anet:9:9$'
has '^  relu_0  *relu  .*tests/anerun/tiny_sweep.anet:11:5$'
mkdir "$tmp/nomanifest"
cp -r "$tmp/model/tiny_ch8/model.mil" "$tmp/model/tiny_ch8/weights" "$tmp/nomanifest/"
status 0 $anerun --backend cpu --iters 2 --profile "$tmp/nomanifest"
line=$(grep -n ' = relu(' "$tmp/nomanifest/model.mil" | cut -d: -f1)
has "^  relu_0  *relu  .*nomanifest/model.mil:$line:9\$"

# ---- results files and --compare -------------------------------------------

status 0 $anerun --backend sim --results "$tmp/r.jsonl" "$seed"
status 0 $anerun --backend cpu --iters 1 --results "$tmp/r.jsonl" "$sweep"
[ "$(wc -l <"$tmp/r.jsonl")" -eq 13 ] || fail "results: want 13 lines"
if command -v python3 >/dev/null 2>&1; then
  python3 - "$tmp/r.jsonl" "$tmp/slow.jsonl" <<'PY' || fail "results file: see above"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for r in rows:
    assert r["schema"] == "anet-report" and r["schema_version"] == 1, r
    m = r["machine"]
    for k in ["cpu", "cores", "os", "anet_version", "git_commit"]:
        assert k in m, (k, m)
    assert m["cores"] >= 1
    assert len(r["date"]) == 20 and r["date"].endswith("Z"), r["date"]
    assert r["precision"] in ("fp16", "w8a8"), r
    if r["backend"] == "sim":
        # nothing ran: no counts claimed
        assert r["warmup"] is None and r["iters"] is None, r
        assert r["profile"] and r["profile"][0]["op"], r
    else:
        assert r["warmup"] == 1 and r["iters"] == 1, r
assert [r["precision"] for r in rows[:11]] == ["fp16"] * 6 + ["w8a8"] * 5
# an older run where every point was twice as fast
with open(sys.argv[2], "w") as f:
    for r in rows[:11]:
        r["ms_median"] /= 2
        f.write(json.dumps(r) + "\n")
PY
  status 3 $anerun --compare "$tmp/slow.jsonl" "$tmp/r.jsonl"
  has 'fp16_64x512 .* +100.0%  REGRESSED$'
  has '^11 of 11 points compared slower by more than 15%'
  # Against a run instead of a file.
  status 3 $anerun --compare "$tmp/slow.jsonl" --backend sim "$seed/fp16_64x512.anet"
  has '^1 of 1 points'
fi
status 0 $anerun --compare "$tmp/r.jsonl" "$tmp/r.jsonl"
has '^0 of 13 points compared'
status 0 $anerun --compare "$tmp/r.jsonl" --backend sim "$seed"
status 2 $anerun --compare "$tmp/r.jsonl"
printf '{"schema_version": 1, "model": "a", "backend": "sim", "ms_median": 1}\n{"model": }\n' \
  >"$tmp/bad.jsonl"
status 1 $anerun --compare "$tmp/bad.jsonl" "$tmp/r.jsonl"
has 'bad.jsonl:2:11: error: ' err

# ---- --plot ------------------------------------------------------------------

status 0 $anerun --backend sim --plot "$tmp/seed.svg" "$seed"
status 0 $anerun --backend sim --plot "$tmp/roof.svg" --plot-kind roofline "$seed"
status 0 $anerun --backend cpu --iters 1 --profile --plot "$tmp/ops.svg" "$sweep"
if command -v python3 >/dev/null 2>&1; then
  python3 - "$tmp" <<'PY' || fail "SVG: see above"
import sys, xml.etree.ElementTree as ET
ns = "{http://www.w3.org/2000/svg}"
def load(name):
    root = ET.parse(sys.argv[1] + "/" + name).getroot()
    assert root.tag == ns + "svg", root.tag
    texts = ["".join(t.itertext()) for t in root.iter(ns + "text")]
    return root, texts
def marks(root, tag, cls):
    return [e for e in root.iter(ns + tag) if e.get("class") == cls]
root, texts = load("seed.svg")
assert len(marks(root, "rect", "bar")) == 11
title = texts[0]
assert "M4" in title and "sim backend" in title and "estimated" in title, title
for label in ["fp16", "W8A8", "64x512", "256x256", "TFLOPS (fp16), TOPS (W8A8)"]:
    assert label in texts, label
assert sum(t.endswith("x") and t[0].isdigit() for t in texts) == 5, texts  # 5 speed-ups
root, texts = load("roof.svg")
models = [c for c in marks(root, "circle", "point") if c.get("r") == "6.0"]
assert len(models) == 11, len(models)
assert "fp16 peak 18.6" in texts and "int8 peak 35.1" in texts, texts
root, texts = load("ops.svg")
assert "measured on the CPU" in texts[0], texts[0]
assert len([g for g in root.iter(ns + "g") if g.get("class") == "row"]) == 2
assert "conv" in texts and "relu" in texts, texts
PY
fi
status 2 $anerun --compare "$tmp/r.jsonl" --plot "$tmp/x.svg" "$tmp/r.jsonl"

finish test_anerun
