#!/bin/sh
# mil_bench.sh - the MIL text parser's speed and memory, against the goals:
#   * mil_parse reads at least 150 MB/s of MIL text (MB = 10^6 bytes);
#   * anerun --dry-run on that text peaks at no more than 4 times the
#     text's size in RSS.
# The text is generated: anetc lowers a 1500-block transformer (d = 32,
# so the weights stay small), about 13 MB of MIL of the kind anetc and
# coremltools write. Speed is the best of $RUNS parses by mil_bench, in CPU
# time (the machine this runs on may be shared; wall time is printed too).
# Run by `make bench` from the build directory. Exits 1 if a goal is missed.
#
# Environment: ANETC (./anetc), ANERUN (./anerun), PEAKRSS
# (./tests/bench/peakrss), MILBENCH (./tests/bench/mil_bench), BENCH_DIR
# (where the scratch directory goes: .), RUNS (5), BLOCKS (1500), KEEP (set: keep
# the scratch directory, model.mil in it, for timing mil_bench by hand).
set -eu

ANETC=${ANETC:-./anetc}
ANERUN=${ANERUN:-./anerun}
PEAKRSS=${PEAKRSS:-./tests/bench/peakrss}
MILBENCH=${MILBENCH:-./tests/bench/mil_bench}
RUNS=${RUNS:-5}
BLOCKS=${BLOCKS:-1500}

for f in "$ANETC" "$ANERUN" "$PEAKRSS" "$MILBENCH"; do
    [ -e "$f" ] || { echo "mil_bench: missing $f" >&2; exit 2; }
done

work=$(mktemp -d "${BENCH_DIR:-.}/bench.XXXXXX")
if [ -n "${KEEP:-}" ]; then echo "scratch directory kept: $work"; else trap 'rm -rf "$work"' EXIT; fi
trap 'exit 130' INT TERM

# Pre-norm transformer blocks, as samples/transformer.anet writes them.
cat >"$work/gen.anet" <<ANET
const d = 32
const seq = 8
network mil_bench {
    input x: fp16[1, d, 1, seq]
    repeat $BLOCKS {
        let skip
        rms_norm
        let h
        q = linear d
        from h
        k = linear d
        from h
        v = linear d
        from q
        reshape shape=[1, d, seq]
        transpose perm=[0, 2, 1]
        let qt
        from k
        reshape shape=[1, d, seq]
        let kt
        from qt
        matmul kt
        mul 0.0625
        softmax
        let att
        from v
        reshape shape=[1, d, seq]
        matmul att transpose_y=true
        reshape shape=[1, d, 1, seq]
        linear d
        add skip
        let skip2
        layer_norm
        linear (4 * d)
        gelu
        linear d
        add skip2
    }
}
ANET
"$ANETC" "$work/gen.anet" -o "$work/gen" >/dev/null ||
    { echo "mil_bench: anetc failed" >&2; exit 2; }
mil=$work/gen/model.mil

# ---- speed -------------------------------------------------------------------
read -r wall cpu bytes <<EOF2
$("$MILBENCH" "$mil" "$RUNS")
EOF2
rate=$(awk -v b="$bytes" -v t="$cpu" 'BEGIN { printf "%.0f", b / 1e6 / t }')
wrate=$(awk -v b="$bytes" -v t="$wall" 'BEGIN { printf "%.0f", b / 1e6 / t }')
v1=$(awk -v r="$rate" 'BEGIN { print (r >= 150) ? "ok" : "MISSED" }')

# ---- memory and the whole dry run ----------------------------------------------
"$PEAKRSS" -o "$work/res" "$ANERUN" --dry-run "$mil" >/dev/null ||
    { echo "mil_bench: anerun --dry-run failed" >&2; exit 2; }
read -r dsecs kib <"$work/res"
ratio=$(awk -v k="$kib" -v b="$bytes" 'BEGIN { printf "%.2f", k * 1024 / b }')
v2=$(awk -v r="$ratio" 'BEGIN { print (r <= 4) ? "ok" : "MISSED" }')

echo "MIL parser benchmark (best of $RUNS; $BLOCKS transformer blocks from anetc)"
awk -v b="$bytes" 'BEGIN { printf "  model.mil: %.1f MB of MIL text\n", b / 1e6 }'
printf '    %-24s %8.3f s  %5s MB/s   goal >= 150 MB/s   %s\n' "mil_parse, CPU time" "$cpu" \
    "$rate" "$v1"
printf '    %-24s %8.3f s  %5s MB/s   (not part of the goal)\n' "mil_parse, wall time" "$wall" \
    "$wrate"
printf '    %-24s %8.3f s             (one run, wall; not part of the goal)\n' \
    "anerun --dry-run" "$dsecs"
awk -v k="$kib" 'BEGIN { printf "    %-24s %8.1f MiB", "anerun --dry-run peak RSS", k / 1024 }'
printf '  %sx the text   goal <= 4x   %s\n' "$ratio" "$v2"

[ "$v1" = ok ] && [ "$v2" = ok ]
