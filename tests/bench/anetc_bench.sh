#!/bin/sh
# anetc_bench.sh - anetc's speed and memory, against the project's goals:
#   * compiling samples/seed/fp16_128x512.anet (64 MiB of fp16 weights) takes
#     at most 1.5 times as long as cp of its weight.bin on the same disk;
#   * a model with 1 GiB of weights compiles in at most 64 MiB of RSS.
# Run by `make bench` from the build directory. Exits 1 if a goal is missed.
#
# Environment: ANETC (./anetc), PEAKRSS (./tests/bench/peakrss), SRCDIR (.),
# BENCH_DIR (where the scratch directory goes: the build directory, so the
# copies land on the same disk as anetc's output), RUNS (5).
set -eu

ANETC=${ANETC:-./anetc}
PEAKRSS=${PEAKRSS:-./tests/bench/peakrss}
SRCDIR=${SRCDIR:-.}
RUNS=${RUNS:-5}
sample=$SRCDIR/samples/seed/fp16_128x512.anet

for f in "$ANETC" "$PEAKRSS" "$sample"; do
    [ -e "$f" ] || { echo "anetc_bench: missing $f" >&2; exit 2; }
done

work=$(mktemp -d "${BENCH_DIR:-.}/bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# measure CMD...: runs CMD under peakrss; sets $secs and $kib
measure() {
    "$PEAKRSS" -o "$work/res" "$@" >/dev/null ||
        { echo "anetc_bench: failed: $*" >&2; exit 2; }
    read -r secs kib <"$work/res"
}

# best OUTVAR SETUP CMD...: the lowest wall time of $RUNS runs, each after
# running the shell snippet SETUP
best() {
    var=$1 setup=$2
    shift 2
    b=
    i=0
    while [ "$i" -lt "$RUNS" ]; do
        eval "$setup"
        measure "$@"
        b=$(awk -v a="$secs" -v b="${b:-1e99}" 'BEGIN { print (a < b) ? a : b }')
        i=$((i + 1))
    done
    eval "$var=\$b"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
verdict() { awk -v v="$1" -v g="$2" 'BEGIN { print (v <= g) ? "ok" : "MISSED" }'; }

echo "anetc benchmark (best of $RUNS; scratch in $work)"

# ---- speed -------------------------------------------------------------------
# Both start with nothing at their output: cp makes a new file, anetc a new
# directory. Replacing an existing output also frees the old file's pages.
best t_anetc 'rm -rf "$work/out"' "$ANETC" "$sample" -o "$work/out"
wbin=$work/out/weights/weight.bin
bytes=$(wc -c <"$wbin" | tr -d ' ')
best t_cp 'rm -f "$work/copy.bin"' cp "$wbin" "$work/copy.bin"
best t_replace ':' "$ANETC" "$sample" -o "$work/out"
best t_cpsync 'rm -f "$work/copy.bin"' sh -c 'cp "$1" "$2" && sync' sh "$wbin" "$work/copy.bin"
best t_sync 'rm -rf "$work/out"' "$ANETC" --sync "$sample" -o "$work/out"
rm -rf "$work/out" "$work/copy.bin"
r=$(ratio "$t_anetc" "$t_cp")
v1=$(verdict "$r" 1.5)
awk -v b="$bytes" 'BEGIN { printf "  %s: %.1f MiB of weights\n", "fp16_128x512.anet", b / 1048576 }'
printf '    %-22s %8.3f s\n' "anetc" "$t_anetc" "cp weight.bin" "$t_cp"
printf '    %-22s %8.3f s   (not part of the goal)\n' "anetc, replacing" "$t_replace"
printf '    %-22s %8.3f s   (durable: not part of the goal)\n' "anetc --sync" "$t_sync" \
    "cp + sync" "$t_cpsync"
printf '    %-22s %8sx   goal <= 1.5x   %s\n' "anetc / cp" "$r" "$v1"

# ---- memory ------------------------------------------------------------------
# 8 x 1x1 conv, 8192 -> 8192 channels, fp16: 8 * 8192 * 8192 * 2 B = 1 GiB
cat >"$work/big.anet" <<'ANET'
network bench_1gib {
    input x: fp16[1, 8192, 1, 1]
    repeat 8 {
        conv 8192 kernel=1 init=normal(0, 0.01)
    }
}
ANET
measure "$ANETC" "$work/big.anet" -o "$work/big"
bytes=$(wc -c <"$work/big/weights/weight.bin" | tr -d ' ')
rm -rf "$work/big"
mib=$(awk -v k="$kib" 'BEGIN { printf "%.1f", k / 1024 }')
v2=$(verdict "$mib" 64)
awk -v b="$bytes" 'BEGIN { printf "  8 x conv 8192 1x1 fp16: %.3f GiB of weights\n", b / 1073741824 }'
printf '    %-22s %8.3f s\n' "anetc" "$secs"
printf '    %-22s %8s MiB goal <= 64 MiB %s\n' "peak RSS" "$mib" "$v2"

[ "$v1" = ok ] && [ "$v2" = ok ]
