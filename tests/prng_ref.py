#!/usr/bin/env python3
"""Independent reference for the constants in tests/test_blob.c.

Re-implements, from their published definitions and the stream rules in
docs/language.md, splitmix64, xoshiro256**, the 53-bit uniform, the block
streams and the single-precision normals (the tables of gen/normtab.h read
as data), with Python's own integers and floats. Python's float operations
are IEEE double, correctly rounded; f32() rounds a result to single
precision. A sum, product, quotient or square root of two floats, done in
double and then rounded to float, is the correctly rounded float operation
(double has more than 2 * 24 + 2 bits), and a fused multiply-add is the
exact a * b + c (fractions) rounded once, so these values must equal the C
code's bit for bit.

Run: python3 tests/prng_ref.py
"""
import os
import re
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


def fma32(a, b, c):
    """fmaf: a * b + c computed exactly, then rounded once to float."""
    return f32_exact(Fraction(a) * Fraction(b) + Fraction(c))


def load_normtab():
    """The tables of gen/normtab.h (data: read, not re-fitted, so that the
    check is of the steps below)."""
    here = os.path.dirname(os.path.abspath(__file__))
    text = open(os.path.join(here, '..', 'gen', 'normtab.h')).read()
    deg = int(re.search(r'NORM_DEG = (\d+)', text).group(1))

    def rows(name):
        body = re.search(name + r'[^=]*=\s*\{(.*?)\};', text, re.S).group(1)
        nums = [float.fromhex(t) for t in re.findall(r'-?0x[0-9a-f.]+p[-+]\d+', body)]
        return [nums[i:i + 32] for i in range(0, len(nums), 32)]
    return rows('norm_a')[0], rows('norm_b')[0], rows('norm_c'), deg


NORM_A, NORM_B, NORM_C, NORM_DEG = load_normtab()


def normal_of_draw(d, mean, sd):
    """The element of the 32-bit draw d, step by step as docs/language.md
    gives it."""
    w = f32(float(2 * (d & 0x3FFFFFFF) + 1)) * 2.0 ** -31
    e = bits_f32(w) >> 23
    s = max(127 - e, 1) - (1 if w >= 0.75 else 0)
    x = f32(f32(NORM_A[s] * w) + NORM_B[s])
    q = NORM_C[NORM_DEG][s]
    for j in range(NORM_DEG - 1, -1, -1):
        q = fma32(q, x, NORM_C[j][s])
    if d >> 31:
        q = -q
    return fma32(f32(sd), q, f32(mean))


def block_normals(seed, b, mean, sd):
    """mean + sd * z for the 4096 elements of a normal block: element j
    from draw j, draw 2m being the low half of word m."""
    words = block_words(seed, b, BLOCK // 2)
    d = []
    for w in words:
        d += [w & 0xFFFFFFFF, w >> 32]
    return [normal_of_draw(x, mean, sd) for x in d]


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
