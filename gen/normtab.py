#!/usr/bin/env python3
"""Writes gen/normtab.h: the piecewise polynomials of the normal quantile
that gen/blob.c's normal draws evaluate.

A normal draw is z = +-Q(w) with w in [2^-31, 1] and Q the quantile of
|Z|: P(|Z| > Q(w)) = w, i.e. Q(w) = -Phi^-1(w / 2). The range of w is cut
into 32 segments, and segment s maps w to x = A[s] w + B[s] in [0, 1]:
  s = 0        w in [3/4, 1]                 x = 4 - 4w
  s = 1        w in [1/2, 3/4)               x = 4w - 2
  s = 2..31    w in [2^-s, 2^(1-s))          x = 2^s w - 1
(the top octave is split: there Q is least like a polynomial). On each
segment Q is the polynomial of degree DEG interpolating it at the Chebyshev
nodes of x; on segment 0, where Q(w) -> 0 as x -> 0, the constant term is 0
and Q / x is interpolated, so that small draws keep their relative
accuracy. Coefficients are rounded to float.

Q comes from Python's statistics.NormalDist.inv_cdf (Wichura's AS241,
relative error about 1e-16). The script prints the largest relative error
of the float evaluation (gen/blob.c's Horner steps, fused multiply-adds,
whose exact result is rounded here through double) on a grid;
tests/test_blob checks the C code's draws against erfc.

Run: python3 gen/normtab.py > gen/normtab.h
"""
import math
import re
import struct
import sys
from fractions import Fraction
from statistics import NormalDist

DEG = 6
NSEG = 32
PHI = NormalDist()


def f32(x):
    return struct.unpack('<f', struct.pack('<f', x))[0]


def quantile(w):
    return -PHI.inv_cdf(w / 2) if w < 1 else 0.0


def segment(s):
    """(A, B): x = A w + B."""
    if s == 0:
        return -4.0, 4.0
    if s == 1:
        return 4.0, -2.0
    return 2.0 ** s, -1.0


def solve(m, v):
    """Gaussian elimination with partial pivoting."""
    n = len(v)
    a = [row[:] + [v[i]] for i, row in enumerate(m)]
    for c in range(n):
        p = max(range(c, n), key=lambda r: abs(a[r][c]))
        a[c], a[p] = a[p], a[c]
        for r in range(c + 1, n):
            f = a[r][c] / a[c][c]
            for k in range(c, n + 1):
                a[r][k] -= f * a[c][k]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (a[r][n] - sum(a[r][k] * x[k] for k in range(r + 1, n))) / a[r][r]
    return x


def fit(s):
    a, b = segment(s)
    n = DEG if s == 0 else DEG + 1
    nodes = [(1 - math.cos(math.pi * (2 * k + 1) / (2 * n))) / 2 for k in range(n)]
    vals = [quantile((x - b) / a) / (x if s == 0 else 1) for x in nodes]
    c = solve([[x ** j for j in range(n)] for x in nodes], vals)
    c = [f32(v) for v in c]
    return [0.0] + c if s == 0 else c


def horner(c, x):
    p = c[-1]
    for k in reversed(c[:-1]):
        p = f32(float(Fraction(p) * Fraction(x) + Fraction(k)))
    return p


def worst(s, c, m=2000):
    a, b = segment(s)
    e = 0.0
    for i in range(1, m + 1):
        x = f32(i / m)
        z = quantile((x - b) / a)
        e = max(e, abs(horner(c, x) - z) / z)
    return e


def hexf(v):
    """C99 hex float, shortest: 0x1.8p+1."""
    m = re.match(r'(-?0x[01])(?:\.([0-9a-f]*?)0*)?(p[-+]\d+)$', float(v).hex())
    return m.group(1) + ('.' + m.group(2) if m.group(2) else '') + m.group(3)


def row(vals, indent='    '):
    vals = [hexf(v) for v in vals]
    lines = [', '.join(vals[i:i + 4]) for i in range(0, len(vals), 4)]
    return '{\n' + indent + (',\n' + indent).join(lines) + '}'


def main():
    tab = [fit(s) for s in range(NSEG)]
    err = max(worst(s, tab[s]) for s in range(NSEG))
    print('max relative error %.3g' % err, file=sys.stderr)
    out = ['/* normtab.h - written by gen/normtab.py (python3 gen/normtab.py > gen/normtab.h);',
           ' * do not edit. The normal quantile |z| = Q(w) in 32 segments of w; segment',
           ' * s maps w to x = norm_a[s] w + norm_b[s] in [0, 1] and',
           ' * Q = sum over j of norm_c[j][s] x^j (see gen/normtab.py).',
           ' * Largest relative error of the float evaluation: %.2g. */' % err,
           'enum { NORM_DEG = %d, NORM_SEGS = %d };' % (DEG, NSEG),
           'static const float norm_a[NORM_SEGS] = %s;' % row(segment(s)[0] for s in range(NSEG)),
           'static const float norm_b[NORM_SEGS] = %s;' % row(segment(s)[1] for s in range(NSEG)),
           'static const float norm_c[NORM_DEG + 1][NORM_SEGS] = {']
    out += ['  %s,' % row((tab[s][j] for s in range(NSEG)), '      ') for j in range(DEG + 1)]
    out.append('};')
    print('\n'.join(out))


if __name__ == '__main__':
    main()
