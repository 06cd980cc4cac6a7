#!/bin/sh
# run.sh - builds the libFuzzer harnesses and runs each for FUZZ_SECONDS.
#
#   tests/fuzz/run.sh [BUILDDIR]      (make fuzz runs it for the build dir)
#
# The harnesses are compiled with clang -fsanitize=fuzzer,address,undefined
# straight from the sources: gen/*.c (minus the programs' main files),
# the parsers bison and flex generated in BUILDDIR/grammar (run make first),
# and the runtime readers (runtime/wfile.c, the .npy reader, results files and
# manifests, the sim model's measurements). Seed corpora
# come from samples/, tests/cases/, tests/bad/, tests/fuzz/mil-seeds/,
# ../shared/mil-corpus (when present) and the binary cases
# tests/bad/gen_binary.sh writes; tests/fuzz/NAME.dict, when there is one,
# is the harness's dictionary.
#
# Environment: FUZZ_SECONDS (60) per harness, FUZZERS (all seven), CC (clang),
# FUZZ_TIMEOUT (30 seconds per input). Crashes, leaks and timeouts are
# saved under BUILDDIR/tests/fuzz/crashes/ and make the script exit 1.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=$(cd "${1:-.}" && pwd)
CC=${CC:-clang}
case $CC in *clang*) ;; *) CC=clang ;; esac
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
FUZZERS=${FUZZERS:-"anet mil wfile npy results manifest simfit"}
out=$build/tests/fuzz
obj=$out/obj
mkdir -p "$obj" "$out/crashes"

command -v "$CC" >/dev/null 2>&1 || {
  echo "run.sh: $CC not found (Debian: apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }
ls "$build"/grammar/*parse.c >/dev/null 2>&1 || {
  echo "run.sh: no generated parsers in $build/grammar: run make there first" >&2; exit 2; }

flags="-g -O1 -std=c11 -ffp-contract=off -fno-omit-frame-pointer -D_POSIX_C_SOURCE=200809L -DHAVE_CONFIG_H
  -I$build -I$src/gen -I$src/runtime -I$build/grammar -I$src/grammar"
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"

# The library sources: everything in gen/ and grammar/ (written and
# generated) but the programs'
# main files, and the two runtime readers.
srcs=""
for f in "$src"/gen/*.c "$src"/grammar/*.c "$build"/grammar/*.c "$src"/runtime/wfile*.c "$src"/runtime/tensor*.c \
         "$src"/runtime/npy*.c "$src"/runtime/results.c "$src"/runtime/report.c \
         "$src"/runtime/jread.c "$src"/runtime/manifest.c "$src"/runtime/simfit.c \
         "$src"/runtime/sim.c "$src"/runtime/flops.c \
         "$src"/runtime/chip.c; do
  [ -f "$f" ] || continue
  grep -q '^int main' "$f" && continue
  srcs="$srcs $f"
done

# Rebuilt every time: a changed header must never meet a stale object.
rm -f "$obj"/*.o
objs=""
for f in $srcs; do
  o=$obj/$(echo "$f" | sed "s|^$src/||; s|^$build/||; s|/|_|g; s|\.c$|.o|")
  # shellcheck disable=SC2086
  "$CC" $flags $san -fsanitize=fuzzer-no-link -c "$f" -o "$o"
  objs="$objs $o"
done
rm -f "$obj/libfuzzsrc.a"
# shellcheck disable=SC2086
ar cr "$obj/libfuzzsrc.a" $objs

# Seeds: one file per input, named after where it came from.
seed() { # seed NAME PATTERN DIR...: copies the files under DIRs that match
  n=$1 pat=$2
  shift 2
  mkdir -p "$out/seeds/$n"
  for d in "$@"; do
    [ -d "$d" ] || continue
    find "$d" -type f -name "$pat" | while IFS= read -r f; do
      cp "$f" "$out/seeds/$n/$(echo "$f" | sed "s|^$src/||; s|^$build/||; s|/|_|g")"
    done
  done
}
rm -rf "$out/seeds" "$out/gen"
sh "$src/tests/bad/gen_binary.sh" "$out/gen"
seed anet '*.anet' "$src/samples" "$src/tests/cases" "$src/tests/bad/anet"
seed mil '*.mil' "$src/tests/cases" "$src/tests/bad/mil" "$out/gen" "$src/../shared/mil-corpus" \
  "$here/mil-seeds"
seed npy '*.npy' "$src/tests/cases" "$out/gen/npy"
seed results '*.jsonl' "$src/tests/anerun"
# manifests: what anetc writes for the small golden cases
for f in "$src"/tests/cases/anet/*.anet; do
  "$build/anetc" -o "$out/gen/manifest/$(basename "$f" .anet)" "$f" 2>/dev/null || true
done
seed manifest 'anet.json' "$out/gen/manifest"
seed simfit '*.csv' "$src/data"
# wfile inputs: 2-byte little-endian length, the MIL text, the weight file.
mkdir -p "$out/seeds/wfile"
for d in "$out"/gen/wbin/*/; do
  m=$d/model.mil
  len=$(wc -c <"$m")
  # shellcheck disable=SC2059
  { printf "\\$(printf %03o $((len & 255)))\\$(printf %03o $((len >> 8 & 255)))"
    cat "$m" "$d/weights/weight.bin"; } >"$out/seeds/wfile/$(basename "$d")"
done

status=0
for z in $FUZZERS; do
  exe=$out/fuzz_$z
  # shellcheck disable=SC2086
  "$CC" $flags $san -fsanitize=fuzzer "$here/fuzz_$z.c" "$obj/libfuzzsrc.a" -lm -o "$exe"
  corpus=$out/corpus/$z
  mkdir -p "$corpus"
  echo "== fuzz_$z for ${FUZZ_SECONDS}s"
  dict=
  [ -f "$here/$z.dict" ] && dict=-dict=$here/$z.dict
  # shellcheck disable=SC2086
  if ! "$exe" "$corpus" "$out/seeds/$z" $dict -max_total_time="$FUZZ_SECONDS" -timeout="${FUZZ_TIMEOUT:-30}" \
       -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
       -artifact_prefix="$out/crashes/$z-" >"$out/fuzz_$z.log" 2>&1; then
    echo "run.sh: fuzz_$z found a problem; see $out/fuzz_$z.log and $out/crashes/" >&2
    tail -n 30 "$out/fuzz_$z.log" >&2
    status=1
  else
    grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$out/fuzz_$z.log" | tail -n 2
  fi
done
exit $status
