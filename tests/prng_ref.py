#!/usr/bin/env python3
"""Independent reference for the constants in tests/test_blob.c.

Re-implements, from their published definitions, splitmix64, xoshiro256**,
the 53-bit uniform, the ziggurat normals with the log series described in
gen/blob.c, and the per-block element streams, using Python's own integers
and IEEE doubles. Python's float +, -, *, / are correctly rounded, so the
bits must equal the C code's.

With --table it prints the ziggurat tables that gen/blob.c holds, computed
with 60-digit Decimal arithmetic (r solved by bisection so that the top
layer ends exactly at x = 0).
Run: python3 tests/prng_ref.py [--table]
"""
import math
import struct
from decimal import Decimal, getcontext

M = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15


def splitmix64(state):
    state = (state + GAMMA) & M
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return state, z ^ (z >> 31)


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & M


class Xoshiro:
    def __init__(self, seed):
        x = seed
        self.s = []
        for _ in range(4):
            x, v = splitmix64(x)
            self.s.append(v)

    def next(self):
        s = self.s
        out = (rotl((s[1] * 5) & M, 7) * 9) & M
        t = (s[1] << 17) & M
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return out

    def uniform(self):
        return (self.next() >> 11) * 2.0 ** -53


LN2_HI = float.fromhex('0x1.62e42fee00000p-1')
LN2_LO = float.fromhex('0x1.a39ef35793c76p-33')


def ln_pos(x):
    m, e = math.frexp(x)          # x = m * 2^e, m in [0.5, 1): exact
    m *= 2.0
    e -= 1
    if m > float.fromhex('0x1.6a09e667f3bcdp+0'):
        m *= 0.5
        e += 1
    f = m - 1.0
    t = f / (2.0 + f)
    w = t * t
    p = 1.0 / 21
    for k in (19, 17, 15, 13, 11, 9, 7, 5, 3):
        p = p * w + 1.0 / k
    lm = 2.0 * t + 2.0 * t * (w * p)
    return e * LN2_HI + (lm + e * LN2_LO)


# ---- the ziggurat tables (Marsaglia and Tsang 2000), 128 layers ----------

NLAYER = 128
PI = Decimal('3.14159265358979323846264338327950288419716939937510582097494459')


def d_erfc(z):
    # Maclaurin series of erf: 60 digits leave ~55 after the cancellation
    s, term, n = Decimal(0), z, 0
    while True:
        t = term / (2 * n + 1)
        s += t
        if abs(t) < Decimal(10) ** -58:
            break
        n += 1
        term = -term * z * z / n
    return 1 - 2 / PI.sqrt() * s


def d_f(x):
    return (-(x * x) / 2).exp()


def zig_layers(r):
    """x[0] = v/f(r) (base strip with the tail), x[1] = r, ... ; the
    closing error f(x[N-1]) + v/x[N-1] - 1, or None if it closed early."""
    v = r * d_f(r) + (PI / 2).sqrt() * d_erfc(r / Decimal(2).sqrt())
    x = [v / d_f(r), r]
    for i in range(1, NLAYER - 1):
        a = d_f(x[i]) + v / x[i]
        if a >= 1:
            return None, x
        x.append((-2 * a.ln()).sqrt())
    return d_f(x[NLAYER - 1]) + v / x[NLAYER - 1] - 1, x


def zig_tables():
    getcontext().prec = 60
    lo, hi = Decimal('3.3'), Decimal('3.6')
    for _ in range(200):
        mid = (lo + hi) / 2
        g, _ = zig_layers(mid)
        if g is None or g > 0:
            lo = mid
        else:
            hi = mid
    _, x = zig_layers(lo)
    x.append(Decimal(0))
    return [float(v) for v in x], [float(d_f(v)) for v in x]


ZX, ZF = zig_tables()


def zig_tail(r, neg):
    while True:
        a = -ln_pos(1.0 - r.uniform()) / ZX[1]
        b = -ln_pos(1.0 - r.uniform())
        if not (b + b < a * a):
            break
    return -(ZX[1] + a) if neg else ZX[1] + a


def normal(r):
    while True:
        b = r.next()
        i = b & (NLAYER - 1)
        u = 2.0 * ((b >> 11) * 2.0 ** -53) - 1.0
        x = u * ZX[i]
        if abs(x) < ZX[i + 1]:
            return x
        if i == 0:
            return zig_tail(r, u < 0)
        y = ZF[i] + r.uniform() * (ZF[i + 1] - ZF[i])
        if ln_pos(y) < -0.5 * x * x:
            return x


def block_rng(seed, b):
    _, bs = splitmix64((seed + b * GAMMA) & M)
    return Xoshiro(bs)


def fp16_bits(x):
    return struct.unpack('<H', struct.pack('<e', x))[0]


def print_tables():
    for name, t in (('ZX', ZX), ('ZF', ZF)):
        print('static const double %s[%d] = {' % (name, len(t)))
        for k in range(0, len(t), 3):
            print('  ' + ' '.join(v.hex() + ',' for v in t[k:k + 3]))
        print('};')


def main():
    r = Xoshiro(1234567)
    print('splitmix64(1234567) state:', [str(v) for v in r.s])
    for seed in (0, 42):
        r = Xoshiro(seed)
        print('seed %d next: %s' % (seed, ', '.join('0x%016x' % r.next() for _ in range(4))))
    r = Xoshiro(42)
    print('seed 42 uniform:', ', '.join(r.uniform().hex() for _ in range(3)))
    r = Xoshiro(42)
    print('seed 42 normals:', ', '.join(normal(r).hex() for _ in range(6)))
    # FNV-1a-style fold of the bits of the first 200000 normals of seed 1
    r = Xoshiro(1)
    h = 0xcbf29ce484222325
    for _ in range(200000):
        h = ((h ^ struct.unpack('<Q', struct.pack('<d', normal(r)))[0]) * 0x100000001b3) & M
    print('seed 1 fold of 200000 normals: 0x%016x' % h)
    # a stream that reaches the tail and the wedges: the first few of each
    r = Xoshiro(1)
    tails, wedges = [], []
    for k in range(200000):
        save = list(r.s)
        b = r.next()
        r.s = save
        i = b & (NLAYER - 1)
        x = normal(r)
        if abs(x) > ZX[1] and len(tails) < 2:
            tails.append((k, x.hex()))
        elif i > 0 and abs(x) >= ZX[i + 1] and len(wedges) < 2:
            wedges.append((k, x.hex()))
    print('seed 1 tail draws:', tails, 'wedge draws:', wedges)
    print('ln_pos:', [(x, ln_pos(x).hex()) for x in (0.5, 0.75, 1e-300, 3.0)])
    g = block_rng(7, 0)
    print('int8 uniform(-64,63) seed 7 elems 0..7:',
          [-64 + ((g.next() * 128) >> 64) for _ in range(8)])
    g = block_rng(7, 1)
    print('int8 uniform(-64,63) seed 7 elem 4096..4099:',
          [-64 + ((g.next() * 128) >> 64) for _ in range(4)])
    g = block_rng(9, 0)
    print('fp16 normal(0.5,2) seed 9 elems 0..3:',
          ['0x%04x' % fp16_bits(0.5 + 2.0 * normal(g)) for _ in range(4)])
    g = block_rng(9, 2)
    print('fp16 normal(0.5,2) seed 9 elems 8192..8195:',
          ['0x%04x' % fp16_bits(0.5 + 2.0 * normal(g)) for _ in range(4)])
    g = block_rng(3, 0)
    print('fp32 uniform(-1,1) seed 3 elems 0..2:',
          ['0x%08x' % struct.unpack('<I', struct.pack('<f', -1.0 + 2.0 * g.uniform()))[0]
           for _ in range(3)])


if __name__ == '__main__':
    import sys
    print_tables() if sys.argv[1:] == ['--table'] else main()
