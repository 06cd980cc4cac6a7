#!/bin/sh
# test_install.sh - `make install DESTDIR=...` puts README.md, every page of
# docs/, every file of samples/ (subdirectories kept) under $(docdir) and the
# man pages under $(mandir)/man1, byte for byte; `make uninstall` removes
# every file it installed. Run from the build directory (make check does).
set -u
srcdir=${srcdir:-.}
MAKE=${MAKE:-make}
. "$srcdir/tests/testlib.sh"
scratch install-test

dest=$tmp/dest
$MAKE -s install DESTDIR="$dest" >"$tmp/log" 2>&1 || { cat "$tmp/log"; fail "make install failed"; exit 1; }
readme=$(find "$dest" -path '*/doc/*/README.md')
[ -n "$readme" ] || { fail "no README.md under a doc directory"; exit 1; }
docdir=${readme%/README.md}
cmp -s "$srcdir/README.md" "$readme" || fail "README.md differs"
n=0
for f in $(cd "$srcdir" && find docs samples -type f ! -name '.*' \( -path 'docs/*.md' -o -path 'docs/*.svg' -o -path 'samples/*' \)); do
  n=$((n + 1))
  cmp -s "$srcdir/$f" "$docdir/$f" || fail "$f is not installed as $docdir/$f"
done
# samples/nets and samples/quant as well as samples/seed
for d in samples/nets samples/quant samples/seed; do
  [ -n "$(ls "$docdir/$d" 2>/dev/null)" ] || fail "nothing installed in $d"
done
for m in anetc anerun; do
  man=$(find "$dest" -path "*/man1/$m.1")
  [ -n "$man" ] && cmp -s "$srcdir/man/$m.1" "$man" || fail "man page $m.1 not installed"
done
[ "$n" -gt 30 ] || fail "only $n files of docs/ and samples/ were checked"

$MAKE -s uninstall DESTDIR="$dest" >"$tmp/log" 2>&1 || { cat "$tmp/log"; fail "make uninstall failed"; }
left=$(find "$dest" -type f)
[ -z "$left" ] || fail "make uninstall left: $left"
echo "install: README.md, $n files of docs/ and samples/, 2 man pages"
finish test_install
