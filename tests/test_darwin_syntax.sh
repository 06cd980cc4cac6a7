#!/bin/sh
# Compiles the ane backend's Darwin sources with -fsyntax-only, so they
# cannot rot on machines without a Mac. Run through the wrapper that
# `make check` writes (tests/test_darwin_syntax), which sets:
#   ANE_CC            the configured compiler
#   ANE_SYNTAX_FLAGS  include paths, warnings, and off the Mac -D__APPLE__
#                     with tests/darwin/ standing in for the Apple headers
#   ANE_SRCDIR        the source tree
# When clang is installed and is not the configured compiler it checks too:
# Apple builds with clang, whose warnings differ from GCC's.
set -u
: "${ANE_CC:?run this through tests/test_darwin_syntax}"
status=0
check() {
  for src in runtime/ane_darwin.c runtime/ane.c runtime/run.c runtime/runopts.c gen/target.c; do
    # shellcheck disable=SC2086 # the flags are a word list
    if $1 -fsyntax-only $ANE_SYNTAX_FLAGS "$ANE_SRCDIR/$src"; then
      echo "ok: $1 -fsyntax-only $src"
    else
      echo "FAIL: $1 -fsyntax-only $src"
      status=1
    fi
  done
}
check "$ANE_CC"
case $ANE_CC in
*clang*) ;;
*) if command -v clang >/dev/null 2>&1; then check clang; fi ;;
esac
exit $status
