#!/bin/sh
# quant_bench.sh - anetc quantising real weights: a 64 MiB fp32 .npy
# (a [4096, 4096, 1, 1] conv weight, normal with std 1/64) compiled as fp16,
# as 4-bit palettes (lut4) and as int4 with a scale per 32 input channels
# (int4_block32). Prints wall time and peak RSS of each; the goal is memory
# O(one tensor): quantising holds the fp32 tensor and a few arrays of its
# size, so peak RSS stays under 6 times the .npy (the fp16 compile streams
# and stays small). Run by `make bench`; exits 1 if the goal is missed.
#
# Environment: ANETC (./anetc), PEAKRSS (./tests/bench/peakrss), BENCH_DIR
# (.), PYTHON (python3: writes the .npy once, kept as BENCH_DIR/quant_w.npy).
set -eu

ANETC=${ANETC:-./anetc}
PEAKRSS=${PEAKRSS:-./tests/bench/peakrss}
PYTHON=${PYTHON:-python3}
dir=${BENCH_DIR:-.}
npy=$dir/quant_w.npy

for f in "$ANETC" "$PEAKRSS"; do
    [ -e "$f" ] || { echo "quant_bench: missing $f" >&2; exit 2; }
done
if [ ! -f "$npy" ]; then
    "$PYTHON" - "$npy" <<'PY' || { echo "quant_bench: cannot write $npy" >&2; exit 2; }
import array, random, struct, sys
random.seed(1)
n, rows = 4096 * 4096, 64
hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (4096, 4096, 1, 1), }"
hdr += ' ' * (64 - (10 + len(hdr) + 1) % 64) + '\n'
with open(sys.argv[1] + '.tmp', 'wb') as f:
    f.write(b'\x93NUMPY\x01\x00' + struct.pack('<H', len(hdr)) + hdr.encode())
    g = random.gauss
    for _ in range(rows):
        f.write(array.array('f', [g(0, 1 / 64) for _ in range(n // rows)]).tobytes())
import os
os.replace(sys.argv[1] + '.tmp', sys.argv[1])
PY
fi

work=$(mktemp -d "$dir/qbench.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
absnpy=$(cd "$(dirname "$npy")" && pwd)/$(basename "$npy")
npybytes=$(wc -c <"$npy" | tr -d ' ')

echo "anetc quantising a 64 MiB fp32 .npy ([4096, 4096, 1, 1])"
ok=ok
for fmt in fp16 lut4 int4_block32; do
    printf 'network q {\n    input x: fp16[1, 4096, 1, 1]\n    conv 4096 weights=%s init=npy("%s")\n}\n' \
        "$fmt" "$absnpy" >"$work/$fmt.anet"
    "$PEAKRSS" -o "$work/res" "$ANETC" -W no-ane-io-width "$work/$fmt.anet" -o "$work/out" >/dev/null ||
        { echo "quant_bench: anetc failed on $fmt" >&2; exit 2; }
    read -r secs kib <"$work/res"
    rm -rf "$work/out"
    x=$(awk -v k="$kib" -v b="$npybytes" 'BEGIN { printf "%.1f", k * 1024 / b }')
    v=$(awk -v x="$x" -v f="$fmt" 'BEGIN { print (f == "fp16" || x <= 6) ? "ok" : "MISSED" }')
    [ "$v" = ok ] || ok=MISSED
    printf '    %-14s %8.3f s  peak RSS %7.1f MiB (%sx the .npy) %s\n' "$fmt" "$secs" \
        "$(awk -v k="$kib" 'BEGIN { printf "%.1f", k / 1024 }')" "$x" "$v"
done
echo "    goal: quantising in at most 6x the tensor's size   $ok"
[ "$ok" = ok ]
