#!/usr/bin/env python3
"""Independent reference for the constants in tests/test_blob.c.

Re-implements, from their published definitions and the stream rules in
docs/language.md, splitmix64, xoshiro256**, the 53-bit uniform, the block
streams and the single-precision Box-Muller normals, with Python's own
integers and floats. Python's float operations are IEEE double, correctly
rounded; f32() rounds a result to single precision. A sum, product,
quotient or square root of two floats, done in double and then rounded to
float, is the correctly rounded float operation (double has more than
2 * 24 + 2 bits), so these values must equal the C code's bit for bit.

Run: python3 tests/prng_ref.py
"""
import math
import struct
from fractions import Fraction

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


LANES = 8
BLOCK = 4096


def block_words(seed, b, n=BLOCK):
    """The first n words of block b. The block's key is splitmix64 output
    number b + 1 of a stream started at the seed; eight xoshiro256** lanes
    are seeded by successive splitmix64 outputs of a stream started at the
    key; word j is output j // 8 of lane j % 8."""
    _, st = splitmix64((seed + b * GAMMA) & M)
    lanes = []
    for _ in range(LANES):
        st, v = splitmix64(st)
        lanes.append(Xoshiro(v))
    words = [0] * n
    for j in range(0, n, LANES):
        for lane in range(LANES):
            words[j + lane] = lanes[lane].next()
    return words


# ---- single precision ------------------------------------------------------

def f32(x):
    """x rounded to single precision (to nearest, ties even)."""
    return struct.unpack('<f', struct.pack('<f', x))[0]


def f32_exact(q):
    """The float nearest to the rational q (ties even), for the constants
    the C compiler folds (1.0f / 9 and the like)."""
    x = f32(float(q))
    bits = struct.unpack('<I', struct.pack('<f', x))[0]
    cands = [x] + [struct.unpack('<f', struct.pack('<I', bits + d))[0] for d in (-1, 1)]
    return min(cands, key=lambda c: (abs(Fraction(c) - q),
                                     struct.unpack('<I', struct.pack('<f', c))[0] & 1))


def bits_f32(x):
    return struct.unpack('<I', struct.pack('<f', x))[0]


def f32_bits(b):
    return struct.unpack('<f', struct.pack('<I', b & 0xFFFFFFFF))[0]


SQRT2 = float.fromhex('0x1.6a09e6p+0')
LN2_HI = float.fromhex('0x1.62e4p-1')
LN2_LO = float.fromhex('0x1.7f7d1cp-20')
PIO2_24 = float.fromhex('0x1.921fb6p-24')
INV = {k: f32_exact(Fraction(1, k)) for k in (3, 5, 6, 7, 9, 24, 120, 720, 5040, 40320,
                                             362880, 3628800, 39916800, 479001600)}


def ln32(x):
    """ln x for x in (0, 1), step by step as gen/blob.c's ln8."""
    b = bits_f32(x)
    e = (b >> 23) - 127
    m = f32_bits((b & 0x7FFFFF) | 0x3F800000)
    if m > SQRT2:
        m *= 0.5
        e += 1
    f = f32(m - 1.0)
    t = f32(f / f32(2.0 + f))
    w = f32(t * t)
    p = f32(f32(w * INV[9]) + INV[7])
    p = f32(f32(p * w) + INV[5])
    p = f32(f32(p * w) + INV[3])
    lm = f32(f32(2.0 * t) + f32(f32(2.0 * t) * f32(w * p)))
    return f32(f32(e * LN2_HI) + f32(lm + f32(e * LN2_LO)))


def sin32(phi, z):
    # phi + phi*z*(-1/6 + z*(1/120 + z*(-1/5040 + z*(1/362880 + z*(-1/39916800)))))
    p = f32(z * -INV[39916800])
    p = f32(INV[362880] + p)
    p = f32(z * p)
    p = f32(-INV[5040] + p)
    p = f32(z * p)
    p = f32(INV[120] + p)
    p = f32(z * p)
    p = f32(-INV[6] + p)
    return f32(phi + f32(f32(phi * z) * p))


def cos32(z):
    # 1 + z*(-0.5 + z*(1/24 + z*(-1/720 + z*(1/40320 + z*(-1/3628800 + z*(1/479001600))))))
    p = f32(z * INV[479001600])
    p = f32(-INV[3628800] + p)
    p = f32(z * p)
    p = f32(INV[40320] + p)
    p = f32(z * p)
    p = f32(-INV[720] + p)
    p = f32(z * p)
    p = f32(INV[24] + p)
    p = f32(z * p)
    p = f32(-0.5 + p)
    return f32(1.0 + f32(z * p))


def block_normals(seed, b, mean, sd):
    """mean + sd * x for the 4096 elements of a normal block: Box-Muller on
    32-bit draws (draw 2m is the low half of word m); in each group of 16,
    lane l pairs draw l (radius) with draw 8 + l (angle) and gives elements
    l (cosine) and 8 + l (sine)."""
    words = block_words(seed, b, BLOCK // 2)
    d = []
    for w in words:
        d += [w & 0xFFFFFFFF, w >> 32]
    m32, s32 = f32(mean), f32(sd)
    out = [0.0] * BLOCK
    for g in range(0, BLOCK, 16):
        for lane in range(8):
            a, c = d[g + lane], d[g + 8 + lane]
            u = float((a >> 9) * 2 + 1) * 2.0 ** -24
            r = f32(math.sqrt(f32(-2.0 * ln32(u))))
            phi = f32(float((c >> 6) & 0xFFFFFF) * PIO2_24)
            z = f32(phi * phi)
            sn, cs = sin32(phi, z), cos32(z)
            q = c >> 30
            cv, sv = (sn, cs) if q & 1 else (cs, sn)
            if (q + 1) & 2:
                cv = -cv
            if q & 2:
                sv = -sv
            out[g + lane] = f32(m32 + f32(s32 * f32(r * cv)))
            out[g + 8 + lane] = f32(m32 + f32(s32 * f32(r * sv)))
    return out


def fp16_bits(x):
    return struct.unpack('<H', struct.pack('<e', x))[0]


def main():
    r = Xoshiro(1234567)
    print('splitmix64(1234567) state:', [str(v) for v in r.s])
    for seed in (0, 42):
        r = Xoshiro(seed)
        print('seed %d next: %s' % (seed, ', '.join('0x%016x' % r.next() for _ in range(4))))
    r = Xoshiro(42)
    print('seed 42 uniform:', ', '.join(r.uniform().hex() for _ in range(3)))
    words = block_words(7, 0)
    print('int8 uniform(-64,63) seed 7 elems 0..7:',
          [-64 + ((w * 128) >> 64) for w in words[:8]])
    words = block_words(7, 1)
    print('int8 uniform(-64,63) seed 7 elem 4096..4099:',
          [-64 + ((w * 128) >> 64) for w in words[:4]])
    words = block_words(3, 0)
    print('fp32 uniform(-1,1) seed 3 elems 0..2:',
          ['0x%08x' % bits_f32(-1.0 + 2.0 * ((w >> 11) * 2.0 ** -53)) for w in words[:3]])
    z = block_normals(9, 0, 0.5, 2.0)
    print('fp16 normal(0.5,2) seed 9 elems 0..3:', ['0x%04x' % fp16_bits(v) for v in z[:4]])
    print('fp16 normal(0.5,2) seed 9 elems 8..9:', ['0x%04x' % fp16_bits(v) for v in z[8:10]])
    z = block_normals(9, 2, 0.5, 2.0)
    print('fp16 normal(0.5,2) seed 9 elems 8192..8195:',
          ['0x%04x' % fp16_bits(v) for v in z[:4]])
    z = block_normals(5, 0, 0.0, 0.01)
    print('fp32 normal(0,0.01) seed 5 elems 0..2:', ['0x%08x' % bits_f32(v) for v in z[:3]])
    z = block_normals(1, 0, 0.0, 1.0)
    h = 0xCBF29CE484222325
    for v in z:
        h = ((h ^ bits_f32(v)) * 0x100000001B3) & M
    print('fp32 normal(0,1) seed 1 block 0: fold of the bits: 0x%016x' % h)


if __name__ == '__main__':
    main()
