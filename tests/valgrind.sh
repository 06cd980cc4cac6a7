#!/bin/sh
# valgrind.sh - anetc and anerun under valgrind's memcheck on small samples,
# their error paths included. Any invalid read or write, use of an
# uninitialised value, bad free, or definitely or indirectly lost block
# fails. Not part of make check (it takes about a minute): run it with
# make valgrind.
#
# Run from the build directory; $srcdir locates the samples. VALGRIND,
# ANETC and ANERUN override the programs. Exits 77 (skip) when valgrind is
# not installed.
set -u
srcdir=${srcdir:-.}
VALGRIND=${VALGRIND:-valgrind}
ANETC=${ANETC:-./anetc}
ANERUN=${ANERUN:-./anerun}
if ! command -v "$VALGRIND" >/dev/null 2>&1; then
  echo "valgrind.sh: SKIP: '$VALGRIND' not found (Debian: apt-get install valgrind)"
  exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/anet-valgrind.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
samples=$srcdir/samples
bad=$srcdir/tests/bad
fails=0
runs=0

# vg WANT CMD...: CMD under memcheck must exit with status WANT. A memcheck
# error makes it exit 3, a status neither tool uses.
vg() {
  want=$1
  shift
  runs=$((runs + 1))
  log=$tmp/memcheck.$runs
  "$VALGRIND" -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --error-exitcode=3 --log-file="$log" "$@" >"$tmp/out" 2>"$tmp/err"
  got=$?
  if [ "$got" -eq "$want" ]; then
    echo "ok: $*"
    return
  fi
  fails=$((fails + 1))
  echo "FAIL: $* (exit status $got, expected $want)"
  head -n 60 "$log" "$tmp/err"
}

m=$tmp/models
# anetc: writing models, a sweep, the printers, an input error, a usage error
vg 0 "$ANETC" "$samples/transformer.anet" -o "$m/transformer"
vg 0 "$ANETC" "$samples/quick_w8a8.anet" -o "$m/quick"
vg 0 "$ANETC" "$samples/resnet_blocks.anet" -o "$m/resnet"
vg 0 "$ANETC" --list-points --dump-ir --emit=mil --point=resnet_blocks_ch64 \
  "$samples/resnet_blocks.anet"
vg 1 "$ANETC" "$bad/anet/conv_groups.anet" -o "$m/bad"
vg 1 "$ANETC" "$bad/anet/unclosed_paren.anet" -o "$m/bad"
vg 2 "$ANETC" --emit=mil "$samples/seed_w8a8.anet"

# anerun: a model directory, a .anet sweep compiled in-process, a sweep
# directory as anetc writes it, the cost model, the readers' error paths
vg 0 "$ANERUN" --dry-run "$m/quick"
vg 0 "$ANERUN" --backend cpu --warmup 0 --iters 2 --output-dir "$m/out" "$m/transformer"
# add_3 is the transformer's output, of the same shape as its input x
vg 0 "$ANERUN" --backend cpu --warmup 0 --iters 1 --format json \
  --input "x=$m/out/add_3.npy" "$samples/transformer.anet"
vg 0 "$ANERUN" --backend sim --format csv "$samples/resnet_blocks.anet"
vg 0 "$ANERUN" --backend sim --format json "$m/resnet"
vg 0 "$ANERUN" --dry-run "$samples/seed_w8a8.anet"
vg 1 "$ANERUN" --dry-run "$bad/mil/undefined_reference"
vg 1 "$ANERUN" --dry-run "$bad/mil/unterminated_block"
printf 'not an npy file' >"$tmp/bad.npy"
vg 1 "$ANERUN" --backend cpu --iters 1 --input "x=$tmp/bad.npy" "$m/transformer"
rm -f "$m/quick/weights/weight.bin"
vg 1 "$ANERUN" --backend cpu "$m/quick"
# anerun's study: many PATHs, profile, results, compare, plots
vg 0 "$ANERUN" --backend sim --profile --plot "$tmp/s.svg" --results "$tmp/r.jsonl" \
  "$samples/seed" "$samples/transformer.anet"
vg 0 "$ANERUN" --backend cpu --warmup 0 --iters 1 --profile --plot "$tmp/c.svg" "$m/transformer"
vg 0 "$ANERUN" --backend sim --plot-kind roofline --plot "$tmp/r.svg" "$m/resnet"
vg 0 "$ANERUN" --compare "$tmp/r.jsonl" "$tmp/r.jsonl"
printf '{"model": [}\n' >"$tmp/bad.jsonl"
vg 1 "$ANERUN" --compare "$tmp/bad.jsonl" "$tmp/r.jsonl"

# The lint and the cost model's fit (docs/lint.md, docs/cost-model.md)
lint=$srcdir/tests/cases/lint
vg 1 "$ANETC" --target M1 -o "$m/wide" "$lint/wide_kernel.anet"
vg 1 "$ANETC" --lint=json "$lint/wide_kernel.anet"
vg 1 "$ANERUN" --dry-run --lint=text --target M4 "$lint/concat3.mil"
vg 0 "$ANERUN" --sim-validate "$srcdir/data/ane_conv_chains.csv"

echo "valgrind: $((runs - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
