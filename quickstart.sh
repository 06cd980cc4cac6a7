#!/usr/bin/env bash
# Sets a fresh machine up and runs the main job: install the build
# dependencies (on Debian, also what make check needs), bootstrap,
# configure, build, compile a sample with anetc and run it with anerun on
# the default backend (ane on a Mac, cpu elsewhere).
#   ./quickstart.sh [SAMPLE.anet]
# The default sample is the seed's W8A8 peak on a Mac, and a scaled-down
# copy of it elsewhere: the full one takes about 1.6 s per evaluation on an
# idle 2-core x86-64 CPU (4.5 s of CPU time each), so anerun's default 11
# evaluations, plus generating 32 MB of weights, take 20-30 s.
set -euo pipefail
cd "$(dirname "$0")"
case "$(uname -s)" in
  Darwin) sample=${1:-samples/seed/w8a8_128x512.anet} ;;
  *) sample=${1:-samples/quick_w8a8.anet} ;;
esac

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

case "$(uname -s)" in
  Linux)
    if command -v apt-get >/dev/null; then
      # python3-numpy and gobjc are for make check: the cpu backend against
      # numpy (tests/ref/) and the Darwin glue against its fakes
      # (tests/anefake/) are skipped without them. make bench needs python3.
      pkgs="build-essential autoconf automake pkg-config flex bison check libopenblas-dev"
      pkgs="$pkgs python3-numpy gobjc"
      # shellcheck disable=SC2086
      if ! dpkg -s $pkgs >/dev/null 2>&1; then
        as_root apt-get update -qq
        # shellcheck disable=SC2086
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $pkgs
      fi
    fi ;;
  Darwin)
    # Apple ships bison 2.3; Homebrew's bison and flex must come first.
    brew install autoconf automake pkg-config flex bison check openblas
    PATH="$(brew --prefix bison)/bin:$(brew --prefix flex)/bin:$PATH"
    PKG_CONFIG_PATH="$(brew --prefix openblas)/lib/pkgconfig:${PKG_CONFIG_PATH:-}"
    export PKG_CONFIG_PATH ;;
esac

[ -x configure ] || autoreconf -fi
[ -f Makefile ] || ./configure -q
make -j"$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)"

out="out/$(basename "$sample" .anet)"
./anetc "$sample" -o "$out"
./anerun "$out"
