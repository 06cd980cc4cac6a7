#!/usr/bin/env python3
"""ops_ref.py - the cpu backend against numpy, op by op.

Each case is a small MIL program, its inputs and the outputs numpy computes
from the op's definition (coremltools' op docs, written out here with
numpy; never anerun's output). The script writes each case to a directory,
runs `anerun --backend cpu` on it and compares. Usage:
    ops_ref.py ANERUN [CASE...]
Exit 0 when every case matches, 1 otherwise, 77 (skip) without numpy."""
import math
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("numpy not installed: skipped")
    sys.exit(77)

DT = {np.dtype(np.float32): "fp32", np.dtype(np.float16): "fp16",
      np.dtype(np.int32): "int32", np.dtype(np.bool_): "bool", np.dtype(np.int8): "int8"}
CASES = []
OPSET = {}   # case name -> the function's opset when not ios18
rng = np.random.default_rng(13)


def f32(*shape, lo=-3.0, hi=3.0):
    return rng.uniform(lo, hi, size=shape).astype(np.float32)


def ttype(a):
    return "tensor<%s, [%s]>" % (DT[a.dtype], ", ".join(str(d) for d in a.shape))


def ints(v):
    """An int32 vector literal."""
    return "tensor<int32, [%d]>([%s])" % (len(v), ", ".join(str(i) for i in v))


def case(name, inputs, body, outputs, tol=1e-5):
    """inputs: [(name, array)]; body: MIL statements, {T:name} is replaced by
    the type of output `name`; outputs: [(name, expected array)], where a
    name starting with _ only gives its statement's type (an inner value,
    neither returned nor compared)."""
    CASES.append((name, inputs, body, outputs, tol))


def unary(op, fn, x=None, params="", tol=1e-5):
    x = f32(2, 3, 4) if x is None else x
    case(op, [("x", x)], "y = %s(x = x%s);" % (op, params), [("y", fn(x).astype(x.dtype))], tol)


def binary(op, fn, x, y, params="", name=None):
    case(name or op, [("x", x), ("y", y)], "z = %s(x = x, y = y%s);" % (op, params),
         [("z", np.asarray(fn(x, y)))])


def program(c):
    name, inputs, body, outputs, _ = c
    lines = []
    outs = dict(outputs)
    for st in body.split(";"):
        st = st.strip()
        if not st:
            continue
        lhs, rhs = st.split("=", 1)
        lhs = lhs.strip()
        if lhs.startswith("!"):          # a statement with no output (write_state)
            lines.append("    %s;" % rhs.strip())
            continue
        names = [n.strip() for n in lhs.split(",")]
        lines.append("    %s = %s;" % (", ".join("%s %s" % (ttype(outs[n]), n) for n in names),
                                       rhs.strip()))
    sig = ", ".join("%s %s" % (ttype(a), n) for n, a in inputs)
    return ("program(1.3)\n{\n  func main<%s>(%s) {\n%s\n  } -> (%s);\n}\n"
            % (OPSET.get(name, "ios18"), sig, "\n".join(lines),
               ", ".join(n for n, _ in outputs if not n.startswith("_"))))


def run(anerun, c, root):
    name, inputs, _, outputs, tol = c
    d = os.path.join(root, name)
    os.makedirs(d)
    with open(os.path.join(d, "model.mil"), "w") as f:
        f.write(program(c))
    args = [anerun, "--backend", "cpu", "--warmup", "0", "--iters", "1",
            "--output-dir", os.path.join(d, "out")]
    for n, a in inputs:
        np.save(os.path.join(d, n + ".npy"), a)
        args += ["--input", "%s=%s" % (n, os.path.join(d, n + ".npy"))]
    r = subprocess.run(args + [d], capture_output=True, text=True)
    if r.returncode != 0:
        return "anerun failed: " + r.stderr.strip()[:800]
    for n, want in outputs:
        if n.startswith("_"):   # typed for the program, not one of its outputs
            continue
        got = np.load(os.path.join(d, "out", n + ".npy"))
        if got.shape != want.shape:
            return "%s: shape %s, want %s" % (n, got.shape, want.shape)
        if want.dtype.kind in "fc":
            w = want.astype(np.float64)
            g = got.astype(np.float64)
            ok = np.allclose(g, w, rtol=tol, atol=tol, equal_nan=True)
        else:
            ok = np.array_equal(got.astype(np.int64), want.astype(np.int64))
        if not ok:
            return "%s: got %s, want %s" % (n, got.ravel()[:8], want.ravel()[:8])
    return None


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    anerun = sys.argv[1]
    only = set(sys.argv[2:])
    bad = 0
    with tempfile.TemporaryDirectory() as root:
        for c in CASES:
            if only and c[0] not in only:
                continue
            err = run(anerun, c, root)
            if err:
                bad += 1
                print("FAIL %s: %s" % (c[0], err))
    print("%d of %d cases match numpy" % (len([c for c in CASES if not only or c[0] in only]) - bad,
                                           len([c for c in CASES if not only or c[0] in only])))
    return 1 if bad else 0


# ---- cases ----------------------------------------------------------------

# ---- cases: elementwise ------------------------------------------------------

def sigmoid(x):
    return 1 / (1 + np.exp(-x.astype(np.float64)))


erf = np.vectorize(math.erf)
pos = f32(2, 3, 4, lo=0.1, hi=4.0)
unit = f32(2, 3, 4, lo=-0.9, hi=0.9)
unary("abs", np.abs)
unary("ceil", np.ceil)
unary("floor", np.floor)
unary("round", np.round, x=np.array([0.5, 1.5, 2.5, -0.5, -1.5, 1.2, -2.7, 3.5], np.float32))
unary("sign", np.sign, x=np.array([-2, 0, 3, -0.5], np.float32))
unary("exp", np.exp)
unary("exp2", np.exp2)
unary("log", np.log, x=pos)
unary("sqrt", np.sqrt, x=pos)
unary("rsqrt", lambda x: 1 / np.sqrt(x + 1e-12), x=pos)
unary("inverse", lambda x: 1 / (x + 1e-4), x=pos)
unary("sin", np.sin)
unary("cos", np.cos)
unary("tan", np.tan, x=unit)
unary("asin", np.arcsin, x=unit)
unary("acos", np.arccos, x=unit)
unary("atan", np.arctan)
unary("sinh", np.sinh)
unary("cosh", np.cosh)
unary("atanh", np.arctanh, x=unit)
unary("tanh", np.tanh)
unary("erf", erf)
unary("square", np.square)
unary("relu", lambda x: np.maximum(x, 0))
unary("relu6", lambda x: np.clip(x, 0, 6), x=f32(3, 5, lo=-2, hi=9))
unary("sigmoid", sigmoid)
unary("silu", lambda x: x * sigmoid(x))
unary("softplus", lambda x: np.log1p(np.exp(x.astype(np.float64))))
unary("softsign", lambda x: x / (1 + np.abs(x)))
unary("clip", lambda x: np.clip(x, -1, 0.5), params=", alpha = fp32(-1), beta = fp32(0.5)")
unary("threshold", lambda x: np.maximum(x, 0.25), params=", alpha = fp32(0.25)")
unary("thresholded_relu", lambda x: np.where(x >= 0.5, x, 0), params=", alpha = fp32(0.5)")
unary("elu", lambda x: np.where(x > 0, x, 0.7 * np.expm1(x)), params=", alpha = fp32(0.7)")
unary("leaky_relu", lambda x: np.where(x >= 0, x, 0.1 * x), params=", alpha = fp32(0.1)")
unary("sigmoid_hard", lambda x: np.clip(0.2 * x + 0.5, 0, 1),
      params=", alpha = fp32(0.2), beta = fp32(0.5)")
unary("scaled_tanh", lambda x: 2 * np.tanh(0.5 * x), params=", alpha = fp32(2), beta = fp32(0.5)")
unary("linear_activation", lambda x: 3 * x - 1, params=", alpha = fp32(3), beta = fp32(-1)")
unary("clamped_relu", lambda x: np.minimum(np.where(x >= 0, x, 0.5 * x), 2),
      params=", alpha = fp32(0.5), beta = fp32(2)")
unary("gelu", lambda x: 0.5 * x * (1 + erf(x / math.sqrt(2))))
case("gelu_tanh", [("x", pos - 2)], 'y = gelu(mode = string("TANH_APPROXIMATION"), x = x);',
     [("y", (0.5 * (pos - 2) * (1 + np.tanh(math.sqrt(2 / math.pi) *
             ((pos - 2) + 0.044715 * (pos - 2) ** 3)))).astype(np.float32))])
case("gelu_sigmoid", [("x", pos - 2)], 'y = gelu(mode = string("SIGMOID_APPROXIMATION"), x = x);',
     [("y", ((pos - 2) * sigmoid(1.702 * (pos - 2))).astype(np.float32))])

a, b = f32(2, 3, 4), f32(3, 1)
binary("add", np.add, a, b)
binary("sub", np.subtract, a, b)
binary("mul", np.multiply, a, b)
binary("real_div", np.divide, a, b + 4)
binary("pow", np.power, np.abs(a) + 0.5, b)
binary("maximum", np.maximum, a, b)
binary("minimum", np.minimum, a, b)
binary("floor_div", np.floor_divide, a, b)
binary("mod", np.mod, a, b)
for op, fn in [("equal", np.equal), ("not_equal", np.not_equal), ("less", np.less),
               ("less_equal", np.less_equal), ("greater", np.greater),
               ("greater_equal", np.greater_equal)]:
    ia = rng.integers(-3, 3, size=(2, 5)).astype(np.int32)
    ib = rng.integers(-3, 3, size=(5,)).astype(np.int32)
    binary(op, fn, ia.astype(np.float32), ib.astype(np.float32))
    binary(op, fn, ia, ib, name=op + "_int32")
p_, q_ = rng.integers(0, 2, (2, 4)).astype(np.bool_), rng.integers(0, 2, (4,)).astype(np.bool_)
binary("logical_and", np.logical_and, p_, q_)
binary("logical_or", np.logical_or, p_, q_)
binary("logical_xor", np.logical_xor, p_, q_)
case("logical_not", [("x", p_)], "y = logical_not(x = x);", [("y", ~p_)])

# int32 held exactly: values beyond 2^24, where fp32 would round
big = np.array([16777217, -16777219, 2147483000, 7], np.int32)
one = np.array([1, -2, 600, -3], np.int32)
case("int32_add", [("x", big), ("y", one)], "z = add(x = x, y = y);", [("z", big + one)])
case("int32_mul_wraps", [("x", big), ("y", one)], "z = mul(x = x, y = y);",
     [("z", (big.astype(np.int64) * one).astype(np.int32))])
case("int32_floor_div_mod", [("x", big), ("y", one)],
     "q = floor_div(x = x, y = y); r = mod(x = x, y = y);",
     [("q", big // one), ("r", big % one)])
case("int32_less", [("x", big), ("y", big - one)], "z = less(x = x, y = y);",
     [("z", big < big - one)])
case("cast_int32_fp32_bool", [("x", np.array([1.7, -1.7, 3e9, -0.0], np.float32))],
     'i = cast(dtype = string("int32"), x = x); b = cast(dtype = string("bool"), x = x);',
     [("i", np.array([1, -1, 2147483647, 0], np.int32)), ("b", np.array([1, 1, 1, 0], np.bool_))])

# ---- cases: tensor movement ---------------------------------------------------

m = f32(2, 3, 4)
for mode, npm in [("constant", "constant"), ("reflect", "reflect"), ("replicate", "edge")]:
    kw = {"constant_values": 1.5} if mode == "constant" else {}
    case("pad_" + mode, [("x", m)],
         'y = pad(constant_val = fp32(1.5), mode = string("%s"), pad = %s, x = x);'
         % (mode, ints([1, 2, 3, 1])), [("y", np.pad(m, ((0, 0), (1, 2), (3, 1)), npm, **kw))])
h16 = np.array([[1, 2], [3, 4]], np.float16)
case("pad_fp16_constant_rounds", [("x", h16)],
     'y = pad(constant_val = fp32(0.1), mode = string("constant"), pad = %s, x = x);' % ints([0, 1]),
     [("y", np.pad(h16, ((0, 0), (0, 1)), constant_values=np.float16(0.1)))], tol=0)
case("tile", [("x", m)], "y = tile(reps = %s, x = x);" % ints([2, 1, 3]), [("y", np.tile(m, (2, 1, 3)))])
case("reverse", [("x", m)], "y = reverse(axes = %s, x = x);" % ints([0, 2]),
     [("y", m[::-1, :, ::-1].copy())])
case("slice_by_size", [("x", m)], "y = slice_by_size(begin = %s, size = %s, x = x);"
     % (ints([1, 0, 1]), ints([1, -1, 2])), [("y", m[1:2, :, 1:3].copy())])
case("slice_by_index", [("x", m)], "y = slice_by_index(begin = %s, end = %s, stride = %s, x = x);"
     % (ints([0, 2, 3]), ints([2, 0, 0]), ints([1, -1, -2])), [("y", m[0:2, 2:0:-1, 3:0:-2].copy())])
s4 = f32(1, 8, 2, 3)


def d2s(x, b):   # DCR: depth [b, b, C'] to space
    n, c, h, w = x.shape
    return x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2).reshape(n, c // (b * b), h * b, w * b)


def shuf(x, b):  # CRD: depth [C', b, b] to space
    n, c, h, w = x.shape
    return x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3).reshape(n, c // (b * b), h * b, w * b)


case("depth_to_space", [("x", s4)], "y = depth_to_space(block_size = int32(2), x = x);",
     [("y", d2s(s4, 2))])
case("pixel_shuffle", [("x", s4)], "y = pixel_shuffle(upscale_factor = int32(2), x = x);",
     [("y", shuf(s4, 2))])
sp = d2s(s4, 2)
case("space_to_depth", [("x", sp)], "y = space_to_depth(block_size = int32(2), x = x);", [("y", s4)])
case("pixel_unshuffle", [("x", shuf(s4, 2))], "y = pixel_unshuffle(downscale_factor = int32(2), x = x);",
     [("y", s4)])
bp = f32(2, 4, 5)
case("band_part", [("x", bp)], "y = band_part(lower = int32(1), upper = int32(2), x = x);",
     [("y", np.where((np.arange(5)[None, :] - np.arange(4)[:, None] <= 2) &
                     (np.arange(4)[:, None] - np.arange(5)[None, :] <= 1), bp, 0).astype(np.float32))])
up = f32(1, 2, 2, 3)
case("upsample_nearest_neighbor", [("x", up)],
     "y = upsample_nearest_neighbor(scale_factor_height = fp32(2), scale_factor_width = fp32(3), x = x);",
     [("y", up.repeat(2, axis=2).repeat(3, axis=3))])
def s2b_ref(x, bh, bw, pads):
    n, c_, H, W = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), pads[0], pads[1]))
    Hp, Wp = xp.shape[2] // bh, xp.shape[3] // bw
    # TensorFlow's order: [n, C, Hp, bh, Wp, bw] -> [bh, bw, n, C, Hp, Wp]
    return xp.reshape(n, c_, Hp, bh, Wp, bw).transpose(3, 5, 0, 1, 2, 4).reshape(bh * bw * n, c_, Hp, Wp)


sbx = f32(2, 3, 3, 4)
sb = s2b_ref(sbx, 2, 3, ((1, 0), (1, 1)))
case("space_to_batch", [("x", sbx)],
     "y = space_to_batch(block_shape = %s, paddings = tensor<int32, [2, 2]>([[1, 0], [1, 1]]), x = x);" % ints([2, 3]),
     [("y", sb)])
case("batch_to_space", [("x", sb)],
     "y = batch_to_space(block_shape = %s, crops = tensor<int32, [2, 2]>([[1, 0], [1, 1]]), x = x);" % ints([2, 3]),
     [("y", sbx)])
rn = f32(1, 2, 3, 4)
case("resize_nearest_neighbor", [("x", rn)],
     "y = resize_nearest_neighbor(target_size_height = int32(5), target_size_width = int32(3), x = x);",
     [("y", rn[:, :, (np.arange(5) * 3) // 5][:, :, :, (np.arange(3) * 4) // 3])])
case("stack", [("x", m), ("y", m + 1)], "z = stack(axis = int32(1), values = (x, y));",
     [("z", np.stack([m, m + 1], axis=1))])
case("concat_interleave", [("x", m), ("y", m + 1)],
     "z = concat(axis = int32(1), interleave = bool(true), values = (x, y));",
     [("z", np.stack([m, m + 1], axis=2).reshape(2, 6, 4))])
case("flatten2d", [("x", m)], "y = flatten2d(axis = int32(2), x = x);", [("y", m.reshape(6, 4))])
case("transpose_int32", [("x", big.reshape(2, 2))], "y = transpose(perm = %s, x = x);" % ints([1, 0]),
     [("y", big.reshape(2, 2).T.copy())])

gi = np.array([[2, 0], [-1, 1]], np.int32)
case("gather", [("x", m), ("i", gi)], "y = gather(axis = int32(2), indices = i, x = x);",
     [("y", np.take(m, np.where(gi < 0, gi + 4, gi), axis=2))])
bi = np.array([[1, 0, 2], [3, 3, 0]], np.int32)
case("gather_batch_dims", [("x", m), ("i", bi)],
     "y = gather(axis = int32(2), batch_dims = int32(1), indices = i, x = x);",
     [("y", np.stack([m[k][:, bi[k]] for k in range(2)]))])
ai = rng.integers(0, 3, size=(2, 2, 4)).astype(np.int32)
case("gather_along_axis", [("x", m), ("i", ai)], "y = gather_along_axis(axis = int32(1), indices = i, x = x);",
     [("y", np.take_along_axis(m, ai, axis=1))])
ni = np.array([[1, 2], [0, 0], [1, 1]], np.int32)
case("gather_nd", [("x", m), ("i", ni)], "y = gather_nd(indices = i, x = x);",
     [("y", np.stack([m[1, 2], m[0, 0], m[1, 1]]))])
upd = f32(2, 2, 4)
si = np.array([2, 0], np.int32)
want = m.copy()
for j, t in enumerate(si):
    want[:, t, :] += upd[:, j, :]
case("scatter_add", [("x", m), ("i", si), ("u", upd)],
     'y = scatter(axis = int32(1), data = x, indices = i, mode = string("add"), updates = u);',
     [("y", want)])
want = m.copy()
np.put_along_axis(want, ai, upd, axis=1) if False else None
sa = np.array([[[0, 1, 2, 0]], [[2, 2, 1, 0]]], np.int32)
ua = f32(2, 1, 4)
want = m.copy()
for a0 in range(2):
    for a2 in range(4):
        want[a0, sa[a0, 0, a2], a2] = ua[a0, 0, a2]
case("scatter_along_axis", [("x", m), ("i", sa), ("u", ua)],
     'y = scatter_along_axis(axis = int32(1), data = x, indices = i, mode = string("update"), updates = u);',
     [("y", want)])
un = f32(2, 4)
want = m.copy()
want[1, 2] *= un[0]
want[0, 1] *= un[1]
case("scatter_nd_mul", [("x", m), ("i", np.array([[1, 2], [0, 1]], np.int32)), ("u", un)],
     'y = scatter_nd(data = x, indices = i, mode = string("mul"), updates = u);', [("y", want)])
sc, sa_, sb = rng.integers(0, 2, (3, 1)).astype(np.bool_), f32(3, 4), f32(4)
case("select", [("c", sc), ("a", sa_), ("b", sb)], "y = select(a = a, b = b, cond = c);",
     [("y", np.where(sc, sa_, sb))])
oh = np.array([[0, 3], [-1, 2]], np.int32)
case("one_hot", [("i", oh)],
     "y = one_hot(axis = int32(1), indices = i, off_value = fp32(-1), on_value = fp32(2), one_hot_vector_size = int32(4));",
     [("y", np.where(np.arange(4)[None, :, None] == np.where(oh < 0, oh + 4, oh)[:, None, :], 2, -1).astype(np.float32))])
tk = np.array([[3, 1, 4, 1, 5], [9, 2, 6, 5, 3]], np.float32)
case("topk", [("x", tk)], "v, i = topk(k = int32(3), x = x);",
     [("v", -np.sort(-tk, axis=1)[:, :3]), ("i", np.argsort(-tk, axis=1, kind="stable")[:, :3].astype(np.int32))])
case("argsort_ascending", [("x", tk)], "y = argsort(ascending = bool(true), axis = int32(1), x = x);",
     [("y", np.argsort(tk, axis=1, kind="stable").astype(np.int32))])
case("cumsum", [("x", m)], "y = cumsum(axis = int32(1), exclusive = bool(true), reverse = bool(true), x = x);",
     [("y", (np.flip(np.cumsum(np.flip(m, 1), 1), 1) - m).astype(np.float32))], tol=1e-5)
case("fill", [("x", m)], "y = fill(shape = %s, value = fp32(2.5)); z = add(x = x, y = y);" % ints([3, 4]),
     [("y", np.full((3, 4), 2.5, np.float32)), ("z", m + 2.5)])
case("shape", [("x", m)], "y = shape(x = x);", [("y", np.array([2, 3, 4], np.int32))])
case("range_1d", [("x", m)], "y = range_1d(end = int32(10), start = int32(1), step = int32(3)); z = identity(x = x);",
     [("y", np.arange(1, 10, 3).astype(np.int32)), ("z", m)])

# ---- cases: pooling, resizing, normalisation ---------------------------------------

px = f32(1, 2, 5, 6)


def pool_ref(x, k, st, pads, fn, ceil=False, count_pad=True):
    """x [N, C, spatial...]; pads (before, after) per spatial dim; fn 'max',
    'avg', 'l2'. ceil_mode as PyTorch: the last window starts inside the
    input or its left padding."""
    nsp, sp = x.ndim - 2, x.shape[2:]
    pw = tuple((pads[2 * i], pads[2 * i + 1]) for i in range(nsp))
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0)) + pw, constant_values=-np.inf if fn == "max" else 0)
    real = np.pad(np.ones(sp), pw)
    out = []
    for i in range(nsp):
        span = sp[i] + pads[2 * i] + pads[2 * i + 1] - k[i]
        o = (span + st[i] - 1) // st[i] + 1 if ceil else span // st[i] + 1
        if ceil and (o - 1) * st[i] >= sp[i] + pads[2 * i]:
            o -= 1
        out.append(o)
    y = np.zeros(x.shape[:2] + tuple(out))
    ax = tuple(range(2, 2 + nsp))
    for o in np.ndindex(*out):
        sl = tuple(slice(o[i] * st[i], o[i] * st[i] + k[i]) for i in range(nsp))
        win = xp[(slice(None), slice(None)) + sl]
        at = (slice(None), slice(None)) + o
        if fn == "max":
            y[at] = win.max(axis=ax)
        elif fn == "l2":
            y[at] = np.sqrt((win ** 2).sum(axis=ax))
        else:   # the divisor: positions of the padded input the window covers, or real ones
            y[at] = win.sum(axis=ax) / (real[sl].size if count_pad else real[sl].sum())
    return y.astype(np.float32)


case("max_pool", [("x", px)],
     'y = max_pool(kernel_sizes = %s, pad = %s, pad_type = string("custom"), strides = %s, x = x);'
     % (ints([2, 3]), ints([1, 0, 1, 1]), ints([2, 2])),
     [("y", pool_ref(px, (2, 3), (2, 2), (1, 0, 1, 1), "max"))])
case("avg_pool_same", [("x", px)],
     'y = avg_pool(exclude_padding_from_average = bool(true), kernel_sizes = %s, pad_type = string("same"), strides = %s, x = x);'
     % (ints([3, 3]), ints([1, 1])),
     [("y", pool_ref(px, (3, 3), (1, 1), (1, 1, 1, 1), "avg", count_pad=False))])
case("avg_pool_count_pad", [("x", px)],
     'y = avg_pool(kernel_sizes = %s, pad = %s, pad_type = string("custom"), strides = %s, x = x);'
     % (ints([2, 2]), ints([1, 1, 1, 1]), ints([2, 2])),
     [("y", pool_ref(px, (2, 2), (2, 2), (1, 1, 1, 1), "avg"))])
case("l2_pool", [("x", px)],
     'y = l2_pool(kernel_sizes = %s, pad_type = string("valid"), strides = %s, x = x);'
     % (ints([2, 2]), ints([1, 2])), [("y", pool_ref(px, (2, 2), (1, 2), (0, 0, 0, 0), "l2"))])
gp = f32(1, 3, 4, 4)
case("global_pool_reduce_mean", [("x", gp)],
     "y = reduce_mean(axes = %s, keep_dims = bool(true), x = x);" % ints([-2, -1]),
     [("y", gp.mean(axis=(2, 3), keepdims=True))])


def bilinear(x, oh, ow, grid_fn):
    H, W = x.shape[-2:]
    y = np.zeros(x.shape[:-2] + (oh, ow))
    for i in range(oh):
        gh = grid_fn(i, H, oh)
        h0 = int(np.floor(gh)); h1 = min(h0 + 1, H - 1); fh = gh - h0
        for j in range(ow):
            gw = grid_fn(j, W, ow)
            w0 = int(np.floor(gw)); w1 = min(w0 + 1, W - 1); fw = gw - w0
            top = x[..., h0, w0] * (1 - fw) + x[..., h0, w1] * fw
            bot = x[..., h1, w0] * (1 - fw) + x[..., h1, w1] * fw
            y[..., i, j] = top * (1 - fh) + bot * fh
    return y.astype(np.float32)


def g_align(i, n, o):
    return min(n - 1, max(0, i * (n - 1) / (o - 1)))


def g_unalign(i, n, o):
    return min(n - 1, max(0, i * n / o + 0.5 * n / o - 0.5))


def g_default(i, n, o):
    return min(n - 1, max(0, i * (n - n / o) / (o - 1)))


bx = f32(1, 2, 3, 4)
case("upsample_bilinear_align", [("x", bx)],
     "y = upsample_bilinear(align_corners = bool(true), scale_factor_height = fp32(2), scale_factor_width = fp32(1.5), x = x);",
     [("y", bilinear(bx, 6, 6, g_align))])
case("upsample_bilinear_half_pixel", [("x", bx)],
     "y = upsample_bilinear(align_corners = bool(false), scale_factor_height = fp32(2), scale_factor_width = fp32(2), x = x);",
     [("y", bilinear(bx, 6, 8, g_unalign))])
case("resize_bilinear_default", [("x", bx)],
     "y = resize_bilinear(target_size_height = int32(5), target_size_width = int32(7), x = x);",
     [("y", bilinear(bx, 5, 7, g_default))])
nx = f32(2, 3, 4, 5)
mu, var, ga, be = f32(3), f32(3, lo=0.5, hi=2), f32(3), f32(3)
case("batch_norm", [("x", nx), ("m", mu), ("v", var), ("g", ga), ("b", be)],
     "y = batch_norm(beta = b, epsilon = fp32(0.001), gamma = g, mean = m, variance = v, x = x);",
     [("y", ((nx - mu[:, None, None]) / np.sqrt(var[:, None, None] + 1e-3) * ga[:, None, None] + be[:, None, None]).astype(np.float32))])
im = nx.mean(axis=(2, 3), keepdims=True)
iv = nx.var(axis=(2, 3), keepdims=True)
case("instance_norm", [("x", nx), ("g", ga), ("b", be)],
     "y = instance_norm(beta = b, gamma = g, x = x);",
     [("y", ((nx - im) / np.sqrt(iv + 1e-5) * ga[:, None, None] + be[:, None, None]).astype(np.float32))])
case("l2_norm", [("x", nx)], "y = l2_norm(x = x);",
     [("y", (nx / np.sqrt((nx.astype(np.float64) ** 2).sum(axis=(1, 2, 3), keepdims=True) + 1e-6)).astype(np.float32))])
sq = np.pad(nx.astype(np.float64) ** 2, ((0, 0), (1, 1), (0, 0), (0, 0)))
win = sq[:, 0:3] + sq[:, 1:4] + sq[:, 2:5]
case("local_response_norm", [("x", nx)],
     "y = local_response_norm(alpha = fp32(0.01), beta = fp32(0.5), k = fp32(2), size = int32(3), x = x);",
     [("y", (nx / (2 + 0.01 / 3 * win) ** 0.5).astype(np.float32))])
lx = f32(4, 1, 6)
case("layer_norm", [("x", lx)], "y = layer_norm(axes = %s, epsilon = fp32(0.00001), x = x);" % ints([-1]),
     [("y", ((lx - lx.mean(-1, keepdims=True)) / np.sqrt(lx.var(-1, keepdims=True) + 1e-5)).astype(np.float32))])
case("softmax", [("x", lx)], "y = softmax(axis = int32(0), x = x);",
     [("y", (np.exp(lx) / np.exp(lx).sum(0, keepdims=True)).astype(np.float32))])

# ---- cases: recurrent -----------------------------------------------------------------

S_, B_, I_, H_ = 3, 2, 4, 5
rx, h0, c0 = f32(S_, B_, I_, lo=-1, hi=1), f32(B_, H_, lo=-1, hi=1), f32(B_, H_, lo=-1, hi=1)
wih, whh, rb = f32(4 * H_, I_, lo=-.5, hi=.5), f32(4 * H_, H_, lo=-.5, hi=.5), f32(4 * H_, lo=-.5, hi=.5)


def lstm_ref(x, h, c, wi, wh, b):
    ys = []
    x, h, c = x.astype(np.float64), h.astype(np.float64), c.astype(np.float64)
    for t in range(x.shape[0]):
        g = x[t] @ wi.T + h @ wh.T + b
        i, f, o, z = (g[:, k * H_:(k + 1) * H_] for k in range(4))
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(z)
        h = sigmoid(o) * np.tanh(c)
        ys.append(h)
    return np.stack(ys).astype(np.float32), h.astype(np.float32), c.astype(np.float32)


ly, lh, lc = lstm_ref(rx, h0, c0, wih, whh, rb)
case("lstm", [("x", rx), ("h", h0), ("c", c0), ("wi", wih), ("wh", whh), ("b", rb)],
     "y, ho, co = lstm(bias = b, initial_c = c, initial_h = h, output_sequence = bool(true), weight_hh = wh, weight_ih = wi, x = x);",
     [("y", ly), ("ho", lh), ("co", lc)])
# bidirectional: the backward direction runs x from the end with the *_back
# weights; outputs hold [forward | backward] along the last dim, the
# backward sequence in x's time order, its final state the one after t = 0
wib, whb, rbb = f32(4 * H_, I_, lo=-.5, hi=.5), f32(4 * H_, H_, lo=-.5, hi=.5), f32(4 * H_, lo=-.5, hi=.5)
h0b, c0b = f32(B_, H_, lo=-1, hi=1), f32(B_, H_, lo=-1, hi=1)
by_, bh_, bc_ = lstm_ref(rx[::-1], h0b, c0b, wib, whb, rbb)
bidi_in = [("x", rx), ("h", np.concatenate([h0, h0b], 1)), ("c", np.concatenate([c0, c0b], 1)),
           ("wi", wih), ("wh", whh), ("b", rb), ("wib", wib), ("whb", whb), ("bb", rbb)]
fy_, fh_, fc_ = lstm_ref(rx, h0, c0, wih, whh, rb)
bidi_h, bidi_c = np.concatenate([fh_, bh_], 1), np.concatenate([fc_, bc_], 1)
for seq in (True, False):
    case("lstm_bidirectional_%s" % ("seq" if seq else "last"), bidi_in,
         'y, ho, co = lstm(bias = b, bias_back = bb, direction = string("bidirectional"), initial_c = c, '
         'initial_h = h, output_sequence = bool(%s), weight_hh = wh, weight_hh_back = whb, weight_ih = wi, '
         'weight_ih_back = wib, x = x);' % ("true" if seq else "false"),
         [("y", np.concatenate([fy_, by_[::-1]], 2) if seq else bidi_h[None]), ("ho", bidi_h), ("co", bidi_c)])
# scaled_tanh as a recurrent activation has no alpha, beta: their defaults (1, 1) make it tanh
case("lstm_scaled_tanh", [("x", rx), ("h", h0), ("c", c0), ("wi", wih), ("wh", whh), ("b", rb)],
     'y, ho, co = lstm(activation = string("scaled_tanh"), bias = b, cell_activation = string("scaled_tanh"), initial_c = c, '
     'initial_h = h, output_sequence = bool(true), weight_hh = wh, weight_ih = wi, x = x);',
     [("y", ly), ("ho", lh), ("co", lc)])
gi_, gh_, gb = wih[:3 * H_], whh[:3 * H_], rb[:3 * H_]


def gru_ref(x, h, wi, wh, b):
    x, h = x.astype(np.float64), h.astype(np.float64)
    for t in range(x.shape[0]):
        ax, ah = x[t] @ wi.T, h @ wh.T
        r = sigmoid(ax[:, :H_] + ah[:, :H_] + b[:H_])
        z = sigmoid(ax[:, 2 * H_:] + ah[:, 2 * H_:] + b[2 * H_:])
        o = np.tanh(ax[:, H_:2 * H_] + b[H_:2 * H_] + r * ah[:, H_:2 * H_])
        h = (1 - z) * o + z * h
    return h.astype(np.float32)


gh1 = gru_ref(rx, h0, gi_, gh_, gb)
case("gru", [("x", rx), ("h", h0), ("wi", gi_), ("wh", gh_), ("b", gb)],
     "y, ho = gru(bias = b, initial_h = h, weight_hh = wh, weight_ih = wi, x = x);",
     [("y", gh1[None]), ("ho", gh1)])
ri_, rh_, rbb = wih[:H_], whh[:H_], rb[:H_]
hh = h0.astype(np.float64)
for t in reversed(range(S_)):
    hh = np.maximum(rx[t] @ ri_.T + hh @ rh_.T + rbb, 0)
case("rnn_reverse_relu", [("x", rx), ("h", h0), ("wi", ri_), ("wh", rh_), ("b", rbb)],
     'y, ho = rnn(activation = string("relu"), bias = b, direction = string("reverse"), initial_h = h, weight_hh = wh, weight_ih = wi, x = x);',
     [("y", hh.astype(np.float32)[None]), ("ho", hh.astype(np.float32))])

# ---- cases: constexpr and state-like ops ----------------------------------------------

dense = np.array([[0, 1.5, 0, 0], [2, 0, 0, -3], [0, 0, 4, 0]], np.float32)
bits = (dense.ravel() != 0).astype(np.uint8)
mbytes = np.packbits(np.pad(bits, (0, 4)), bitorder="little")
case("constexpr_sparse_to_dense", [("x", dense)],
     "w = constexpr_sparse_to_dense()[mask = tensor<uint8, [2]>([%d, %d]), nonzero_data = tensor<fp32, [4]>([1.5, 2, -3, 4]), shape = tensor<uint32, [2]>([3, 4])]; y = add(x = x, y = w);"
     % (mbytes[0], mbytes[1]), [("w", dense), ("y", dense * 2)])
case("constexpr_cast", [("x", dense)],
     "w = constexpr_cast(output_dtype = string(\"fp32\"), source_val = tensor<fp16, [2]>([0.333, 2])); y = identity(x = x);",
     [("w", np.array([0.333, 2], np.float16).astype(np.float32)), ("y", dense)])
uq = np.array([[-128, 0, 5], [127, 3, -1]], np.int8)
case("constexpr_affine_dequantize_axis", [("x", dense)],
     "w = constexpr_affine_dequantize()[axis = int32(0), quantized_data = tensor<int8, [2, 3]>([[-128, 0, 5], [127, 3, -1]]), scale = tensor<fp32, [2]>([0.5, 0.25]), zero_point = tensor<int8, [2]>([1, -2])]; y = identity(x = x);",
     [("w", ((uq.astype(np.float32) - np.array([[1], [-2]])) * np.array([[0.5], [0.25]])).astype(np.float32)), ("y", dense)])
su_x, su_u = f32(3, 4), f32(2, 2)
want = su_x.copy()
want[0:3:2, 1:3] = su_u
case("slice_update", [("x", su_x), ("u", su_u)],
     "y = slice_update(begin = %s, end = %s, stride = %s, update = u, x = x);" % (ints([0, 1]), ints([3, 3]), ints([2, 1])),
     [("y", want)])

# begin given at run time (a decode step's cache position): the update's
# shape is the window, end is not read; -2 counts from the end of axis 2
kv, row = f32(1, 2, 6, 4), f32(1, 2, 1, 4)
for at in (3, -2):
    want = kv.copy()
    want[:, :, at:at + 1 if at != -1 else None, :] = row
    case("slice_update_runtime_begin_%d" % (at % 6), [("x", kv), ("u", row), ("b", np.array([0, 0, at, 0], np.int32))],
         "y = slice_update(begin = b, end = %s, update = u, x = x);" % ints([1, 2, 0, 4]),
         [("y", want)])

# ---- cases: conv_transpose, attention, per-channel activations ------------------------

def conv_t_ref(x, w, st, pads, groups=1, bias=None, dil=None):
    """conv_transpose by its definition, over any number of spatial dims: input
    pixel p adds x[p] * w[tap] at p * stride + tap * dilation of the full
    output, then pads (before, after per dim) are cut from it."""
    nsp = x.ndim - 2
    ci, cog, k = x.shape[1], w.shape[1], w.shape[2:]
    dil = dil or (1,) * nsp
    full = np.zeros(x.shape[:1] + (cog * groups,) +
                    tuple((x.shape[2 + i] - 1) * st[i] + dil[i] * (k[i] - 1) + 1 for i in range(nsp)))
    for c_ in range(ci):
        g = c_ // (ci // groups)
        for p in np.ndindex(*x.shape[2:]):
            for t in np.ndindex(*k):
                o = tuple(p[i] * st[i] + t[i] * dil[i] for i in range(nsp))
                full[(slice(None), slice(g * cog, (g + 1) * cog)) + o] += \
                    x[(slice(None), c_) + p][:, None] * w[(c_, slice(None)) + t][None]
    sl = tuple(slice(pads[2 * i], full.shape[2 + i] - pads[2 * i + 1]) for i in range(nsp))
    out = full[(slice(None), slice(None)) + sl]
    if bias is not None:
        out = out + bias.reshape((1, -1) + (1,) * nsp)
    return out.astype(np.float32)


tx, tw, tb = f32(1, 4, 3, 3), f32(4, 3, 2, 3), f32(6)
case("conv_transpose", [("x", tx), ("w", tw), ("b", tb)],
     'y = conv_transpose(bias = b, groups = int32(2), pad = %s, pad_type = string("custom"), strides = %s, weight = w, x = x);'
     % (ints([1, 0, 0, 2]), ints([2, 2])), [("y", conv_t_ref(tx, tw, (2, 2), (1, 0, 0, 2), 2, tb))])
# 1-d, dilation 2 and stride 3: full = (5 - 1) * 3 + 2 * (3 - 1) + 1 = 17, cut 2 before, 1 after
# (the review's cases draw from a stream of their own, so the cases after
# them keep their data)
own = np.random.default_rng(577)
t1x, t1w = [own.uniform(-3, 3, sh).astype(np.float32) for sh in ((2, 2, 5), (2, 3, 3))]
case("conv_transpose_1d_dilated", [("x", t1x), ("w", t1w)],
     'y = conv_transpose(dilations = %s, pad = %s, pad_type = string("custom"), strides = %s, weight = w, x = x);'
     % (ints([2]), ints([2, 1]), ints([3])), [("y", conv_t_ref(t1x, t1w, (3,), (2, 1), dil=(2,)))])
# 3-d, dilation along every dim (the taps past the output found per pixel)
t3dx, t3dw = [own.uniform(-3, 3, sh).astype(np.float32) for sh in ((1, 2, 3, 4, 3), (2, 2, 2, 3, 2))]
case("conv_transpose3d_dilated", [("x", t3dx), ("w", t3dw)],
     'y = conv_transpose(dilations = %s, pad = %s, pad_type = string("custom"), strides = %s, weight = w, x = x);'
     % (ints([3, 2, 2]), ints([2, 1, 0, 3, 1, 1]), ints([1, 2, 2])),
     [("y", conv_t_ref(t3dx, t3dw, (1, 2, 2), (2, 1, 0, 3, 1, 1), dil=(3, 2, 2)))], tol=1e-5)
qq, kq, vq = f32(2, 3, 4, lo=-1, hi=1), f32(2, 5, 4, lo=-1, hi=1), f32(2, 5, 6)
mq = rng.integers(0, 2, (3, 5)).astype(np.bool_)
mq[:, 0] = True


def sdpa_ref(q, k, v, mask=None):
    s_ = q.astype(np.float64) @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    if mask is not None and mask.dtype == np.bool_:
        s_ = np.where(mask, s_, -np.inf)
    elif mask is not None:
        s_ = s_ + mask
    p_ = np.exp(s_ - s_.max(-1, keepdims=True))
    return (p_ / p_.sum(-1, keepdims=True) @ v).astype(np.float32)


case("scaled_dot_product_attention", [("q", qq), ("k", kq), ("v", vq)],
     "y = scaled_dot_product_attention(key = k, query = q, value = v);", [("y", sdpa_ref(qq, kq, vq))])
case("sdpa_bool_mask", [("q", qq), ("k", kq), ("v", vq), ("m", mq)],
     "y = scaled_dot_product_attention(attn_mask = m, key = k, query = q, value = v);",
     [("y", sdpa_ref(qq, kq, vq, mq))])
fm = f32(5, lo=-2, hi=0)
case("sdpa_float_mask", [("q", qq), ("k", kq), ("v", vq), ("m", fm)],
     "y = scaled_dot_product_attention(attn_mask = m, key = k, query = q, value = v);",
     [("y", sdpa_ref(qq, kq, vq, fm))])
pr, pa, pb = f32(2, 3, 4), f32(3, lo=0, hi=1), f32(3, lo=0.5, hi=2)
case("prelu", [("x", pr), ("a", pa)], "y = prelu(alpha = a, x = x);",
     [("y", np.where(pr >= 0, pr, pa[:, None] * pr).astype(np.float32))])
case("softplus_parametric", [("x", pr), ("a", pa), ("b", pb)], "y = softplus_parametric(alpha = a, beta = b, x = x);",
     [("y", (pa[:, None] * np.log1p(np.exp(pb[:, None] * pr))).astype(np.float32))])
case("crop", [("x", px)], "y = crop(crop_height = %s, crop_width = %s, x = x);" % (ints([1, 2]), ints([0, 3])),
     [("y", px[:, :, 1:3, 0:3].copy())])
case("fill_like", [("x", pr)], "y = fill_like(ref_tensor = x, value = fp32(-2));",
     [("y", np.full(pr.shape, -2, np.float32))])
case("precision_fp16_rounds", [("x", np.array([1, 2, 3], np.float16))], "y = mul(x = x, y = fp16(0.1));",
     [("y", (np.array([1, 2, 3], np.float16) * np.float16(0.1)).astype(np.float16))], tol=0)

# ---- cases: reductions --------------------------------------------------------

r = f32(2, 3, 4)
for op, fn in [("reduce_sum", np.sum), ("reduce_mean", np.mean), ("reduce_max", np.max),
               ("reduce_min", np.min), ("reduce_prod", np.prod),
               ("reduce_l1_norm", lambda v, axis, keepdims: np.sum(np.abs(v), axis, keepdims=keepdims)),
               ("reduce_l2_norm", lambda v, axis, keepdims: np.sqrt(np.sum(v * v, axis, keepdims=keepdims))),
               ("reduce_sum_square", lambda v, axis, keepdims: np.sum(v * v, axis, keepdims=keepdims)),
               ("reduce_log_sum_exp", lambda v, axis, keepdims: np.log(np.sum(np.exp(v), axis, keepdims=keepdims)))]:
    case(op, [("x", r)], "y = %s(axes = %s, keep_dims = bool(true), x = x);" % (op, ints([0, 2])),
         [("y", fn(r, axis=(0, 2), keepdims=True).astype(np.float32))])
case("reduce_log_sum", [("x", pos)], "y = reduce_log_sum(axes = %s, x = x);" % ints([1]),
     [("y", np.log(np.sum(pos, axis=1)).astype(np.float32))])
case("reduce_sum_int32", [("x", big.reshape(2, 2))], "y = reduce_sum(axes = %s, x = x);" % ints([1]),
     [("y", np.array([16777217 - 16777219, 2147483007], np.int32))])
am = np.array([[1, 5, 5, 2], [7, 0, -1, 7], [0, 0, 0, 0]], np.float32)
case("reduce_argmax", [("x", am)], "y = reduce_argmax(axis = int32(1), x = x);",
     [("y", np.argmax(am, axis=1).astype(np.int32))])
case("reduce_argmin", [("x", am)], "y = reduce_argmin(axis = int32(0), keep_dims = bool(true), x = x);",
     [("y", np.argmin(am, axis=0, keepdims=True).astype(np.int32))])

# ---- cases: image sampling, einsum, windows (image.c, einsum.c, reorder.c) -------------


def bilinear_padded(img, py, px, mode, value=0.0, m=8):
    """img [H, W] padded by m pixels as the definition's 1-d examples show
    (np.pad: constant, edge = border, reflect = reflection, symmetric), then
    bilinear (or nearest) at pixel (py, px) of the unpadded image."""
    npm = {"constant": "constant", "border": "edge", "reflection": "reflect", "symmetric": "symmetric"}[mode]
    kw = {"constant_values": value} if mode == "constant" else {}
    P = np.pad(img.astype(np.float64), m, mode=npm, **kw)
    y, x = py + m, px + m
    y0, x0 = math.floor(y), math.floor(x)
    fy, fx = y - y0, x - x0
    return ((P[y0, x0] * (1 - fx) + P[y0, x0 + 1] * fx) * (1 - fy)
            + (P[y0 + 1, x0] * (1 - fx) + P[y0 + 1, x0 + 1] * fx) * fy)


def unnorm(c, d, cmode, align):
    if cmode == "unnormalized":
        return c
    if cmode == "normalized_zero_to_one":
        c = 2 * c - 1
    return (c + 1) / 2 * (d - 1) if align else ((c + 1) * d - 1) / 2


def resample_ref(x, co, smode, pmode, pval, cmode, align):
    B, C, H, W = x.shape
    out = np.zeros((B, C) + co.shape[1:3], np.float64)
    for b in range(B):
        for i in range(co.shape[1]):
            for j in range(co.shape[2]):
                px = unnorm(float(co[b, i, j, 0]), W, cmode, align)
                py = unnorm(float(co[b, i, j, 1]), H, cmode, align)
                for c in range(C):
                    if smode == "nearest":
                        out[b, c, i, j] = bilinear_padded(x[b, c], float(np.round(py)), float(np.round(px)), pmode, pval)
                    else:
                        out[b, c, i, j] = bilinear_padded(x[b, c], py, px, pmode, pval)
    return out.astype(np.float32)


rx = f32(2, 2, 4, 5)
for k, (smode, pmode, cmode, align, lo, hi) in enumerate([
        ("bilinear", "constant", "unnormalized", False, -2.5, 6.5),
        ("bilinear", "border", "normalized_minus_one_to_one", True, -1.6, 1.6),
        ("bilinear", "reflection", "normalized_minus_one_to_one", False, -1.5, 1.5),
        ("bilinear", "symmetric", "normalized_zero_to_one", True, -0.4, 1.4),
        ("nearest", "constant", "normalized_zero_to_one", False, -0.3, 1.3),
        ("nearest", "symmetric", "unnormalized", False, -3.3, 7.2)]):
    co = f32(2, 3, 4, 2, lo=lo, hi=hi)
    if smode == "nearest":   # keep clear of rounding ties
        co = np.where(np.abs(co * 8 - np.round(co * 8)) < 1e-3, co + 0.01, co).astype(np.float32)
    case("resample_%d_%s_%s" % (k, smode, pmode), [("x", rx), ("c", co)],
         'y = resample(align_corners = bool(%s), coordinates = c, coordinates_mode = string("%s"), '
         'padding_mode = string("%s"), padding_value = fp32(0.75), sampling_mode = string("%s"), x = x);'
         % ("true" if align else "false", cmode, pmode, smode),
         [("y", resample_ref(rx, co, smode, pmode, 0.75, cmode, align))], tol=1e-4)


def affine_ref(x, t, ho, wo, align):
    B, C, H, W = x.shape
    def base(n):   # torch.nn.functional.affine_grid's base grid
        v = np.linspace(-1, 1, n)
        return v if align else v * (n - 1) / n
    u, v = base(wo), base(ho)
    out = np.zeros((B, C, ho, wo))
    for b in range(B):
        m = t[0 if t.shape[0] == 1 else b].astype(np.float64)
        for i in range(ho):
            for j in range(wo):
                px = unnorm(m[0] * u[j] + m[1] * v[i] + m[2], W, "normalized_minus_one_to_one", align)
                py = unnorm(m[3] * u[j] + m[4] * v[i] + m[5], H, "normalized_minus_one_to_one", align)
                for c in range(C):
                    out[b, c, i, j] = bilinear_padded(x[b, c], py, px, "constant")
    return out.astype(np.float32)


for align in (True, False):
    at = np.array([[0.8, -0.3, 0.1, 0.2, 1.1, -0.2], [1.2, 0.1, -0.3, 0.0, 0.7, 0.4]], np.float32)
    case("affine_%s" % align, [("x", rx), ("t", at)],
         'y = affine(align_corners = bool(%s), coordinates_mode = string("normalized_minus_one_to_one"), '
         'output_height = int32(3), output_width = int32(6), padding_mode = string("constant"), '
         'padding_value = fp32(0), sampling_mode = string("bilinear"), transform_matrix = t, x = x);'
         % ("true" if align else "false"), [("y", affine_ref(rx, at, 3, 6, align))], tol=1e-4)
case("affine_one_matrix", [("x", rx), ("t", at[:1])],
     'y = affine(align_corners = bool(true), coordinates_mode = string("normalized_minus_one_to_one"), '
     'output_height = int32(1), output_width = int32(4), padding_mode = string("constant"), '
     'padding_value = fp32(0), sampling_mode = string("bilinear"), transform_matrix = t, x = x);',
     [("y", affine_ref(rx, at[:1], 1, 4, True))], tol=1e-4)


def box_points(mode, lo, hi, n):
    """NeuralNetwork.proto's SamplingMode grids with the box [lo, hi] as an
    image of X = hi - lo + 1 pixels starting at lo."""
    X = hi - lo + 1
    if mode == "STRICT_ALIGN_CORNERS":
        return np.linspace(lo, hi, n)
    if mode == "ALIGN_CORNERS":
        return np.array([(lo + hi) / 2]) if n == 1 else np.linspace(lo, hi, n)
    if mode == "DEFAULT":
        return np.minimum(hi, np.linspace(lo, lo + X - X / n, n))
    if mode == "OFFSET_CORNERS":
        sp = max(1, X - 1) / n
        return np.minimum(hi, np.linspace(lo + 0.5 * sp, lo + 0.5 * sp + (n - 1) * sp, n))
    return lo + np.clip((np.arange(n) + 0.5) * X / n - 0.5, 0, X - 1)


def crop_resize_ref(x, roi, th, tw, norm, scale, bmode, smode, pad, pmode="constant"):
    B, C, H, W = x.shape
    out = np.zeros((roi.shape[0], B, C, th, tw))
    for n in range(roi.shape[0]):
        v = roi[n, 0, -4:, 0, 0].astype(np.float64) * scale
        if bmode == "CORNERS_HEIGHT_FIRST":
            h1, w1, h2, w2 = v
        elif bmode == "CORNERS_WIDTH_FIRST":
            w1, h1, w2, h2 = v
        elif bmode == "CENTER_SIZE_HEIGHT_FIRST":
            h1, h2, w1, w2 = v[0] - v[2] / 2, v[0] + v[2] / 2, v[1] - v[3] / 2, v[1] + v[3] / 2
        else:
            w1, w2, h1, h2 = v[0] - v[2] / 2, v[0] + v[2] / 2, v[1] - v[3] / 2, v[1] + v[3] / 2
        if norm:
            h1, h2, w1, w2 = h1 * (H - 1), h2 * (H - 1), w1 * (W - 1), w2 * (W - 1)
        gy, gx = box_points(smode, h1, h2, th), box_points(smode, w1, w2, tw)
        for b in range(B):
            for c in range(C):
                for i in range(th):
                    for j in range(tw):
                        out[n, b, c, i, j] = bilinear_padded(x[b, c], gy[i], gx[j], pmode, pad)
    return out.astype(np.float32)


cx = f32(2, 3, 6, 7)
croi = np.array([[0.5, 1.0, 4.0, 5.5], [0, 0, 5, 6], [1.2, 0.3, 2.2, 4.8]], np.float32).reshape(3, 1, 4, 1, 1)
for k, (bmode, smode, th, tw) in enumerate([
        ("CORNERS_HEIGHT_FIRST", "DEFAULT", 3, 4), ("CORNERS_WIDTH_FIRST", "STRICT_ALIGN_CORNERS", 2, 5),
        ("CENTER_SIZE_HEIGHT_FIRST", "ALIGN_CORNERS", 1, 3), ("CENTER_SIZE_WIDTH_FIRST", "OFFSET_CORNERS", 4, 2),
        ("CORNERS_HEIGHT_FIRST", "UNALIGN_CORNERS", 3, 3)]):
    case("crop_resize_%d_%s" % (k, smode), [("x", cx), ("r", croi)],
         'y = crop_resize(box_coordinate_mode = string("%s"), pad_value = fp32(-0.5), roi = r, '
         'sampling_mode = string("%s"), target_height = int32(%d), target_width = int32(%d), x = x);'
         % (bmode, smode, th, tw),
         [("y", crop_resize_ref(cx, croi, th, tw, False, 1.0, bmode, smode, -0.5))], tol=1e-4)
nroi = np.array([[0, 0.1, 0.2, 0.9, 1.3], [0, -0.2, 0.3, 0.6, 0.7]], np.float32).reshape(2, 1, 5, 1, 1)
case("crop_resize_normalized_index", [("x", cx[:1]), ("r", nroi)],
     'y = crop_resize(normalized_coordinates = bool(true), roi = r, sampling_mode = string("ALIGN_CORNERS"), '
     'spatial_scale = fp32(0.8), target_height = int32(3), target_width = int32(3), x = x);',
     [("y", crop_resize_ref(cx[:1], nroi, 3, 3, True, 0.8, "CORNERS_HEIGHT_FIRST", "ALIGN_CORNERS", 0.0))],
     tol=1e-4)

# before iOS 17 there is no pad_value: points outside x take the edge pixel
croi2 = np.array([[-1.5, -2.0, 7.5, 8.0]], np.float32).reshape(1, 1, 4, 1, 1)
OPSET["crop_resize_ios16_edge"] = "ios16"
case("crop_resize_ios16_edge", [("x", cx), ("r", croi2)],
     'y = crop_resize(roi = r, sampling_mode = string("OFFSET_CORNERS"), target_height = int32(4), target_width = int32(5), x = x);',
     [("y", crop_resize_ref(cx, croi2, 4, 5, False, 1.0, "CORNERS_HEIGHT_FIRST", "OFFSET_CORNERS", 0, "border"))],
     tol=1e-4)
case("crop_resize_outside_pad", [("x", cx), ("r", croi2)],
     'y = crop_resize(pad_value = fp32(2.5), roi = r, sampling_mode = string("STRICT_ALIGN_CORNERS"), target_height = int32(4), target_width = int32(5), x = x);',
     [("y", crop_resize_ref(cx, croi2, 4, 5, False, 1.0, "CORNERS_HEIGHT_FIRST", "STRICT_ALIGN_CORNERS", 2.5))],
     tol=1e-4)

def resize17_ref(x, shape, rd, interp, smode):
    """iOS 17 resize: the last rd dims from shape (0 keeps x's), each output
    point at the sampling mode's grid over the whole dim (box_points with
    the box [0, X - 1]); LINEAR interpolates, NEAREST_NEIGHBOR takes the
    pixel at floor of the point."""
    odim = list(x.shape)
    for i in range(rd):
        t = shape[len(shape) - rd + i]
        if t:
            odim[x.ndim - rd + i] = t
    lead = x.shape[:x.ndim - rd]
    X = x.reshape(lead + (1,) * (2 - rd) + x.shape[x.ndim - rd:]).astype(np.float64)
    Ho, Wo = (odim[-2] if rd == 2 else 1), (odim[-1] if rd >= 1 else 1)
    H, W = X.shape[-2], X.shape[-1]
    gy, gx = box_points(smode, 0, H - 1, Ho), box_points(smode, 0, W - 1, Wo)
    if interp == "NEAREST_NEIGHBOR":
        gy, gx = np.floor(gy), np.floor(gx)
    flat = X.reshape(-1, H, W)
    out = np.zeros((flat.shape[0], Ho, Wo))
    for k in range(flat.shape[0]):
        for i in range(Ho):
            for j in range(Wo):
                out[k, i, j] = bilinear_padded(flat[k], gy[i], gx[j], "border")
    return out.reshape(odim).astype(np.float32)


rzx = f32(2, 3, 4, 5)
for k, (shape, rd, interp, smode) in enumerate([
        ([1, 7, 3], 2, "LINEAR", "DEFAULT"), ([6, 8], 2, "LINEAR", "ALIGN_CORNERS"),
        ([0, 9], 2, "LINEAR", "STRICT_ALIGN_CORNERS"), ([3, 2], 2, "LINEAR", "OFFSET_CORNERS"),
        ([8, 0], 2, "LINEAR", "UNALIGN_CORNERS"), ([4, 11], 1, "LINEAR", "DEFAULT"),
        ([7, 9], 2, "NEAREST_NEIGHBOR", "DEFAULT"), ([2, 3], 2, "NEAREST_NEIGHBOR", "ALIGN_CORNERS")]):
    case("resize_%d_%s_%s" % (k, interp, smode), [("x", rzx)],
         'y = resize(interpolation_mode = string("%s"), resized_dims = uint32(%d), sampling_mode = string("%s"), shape = %s, x = x);'
         % (interp, rd, smode, ints(shape)), [("y", resize17_ref(rzx, shape, rd, interp, smode))], tol=1e-4)

e4x, e4y = f32(2, 3, 4, 5), f32(1, 5, 4, 6)
case("einsum_rank4", [("x", e4x), ("y", e4y)], 'z = einsum(equation = string("nchw,nwhu->nchu"), values = (x, y));',
     [("z", np.einsum("nchw,nwhu->nchu", e4x, np.broadcast_to(e4y, (2, 5, 4, 6))).astype(np.float32))], tol=1e-4)
e3x, e3y = f32(3, 1, 5), f32(5, 4, 2)
case("einsum_rank3_renamed", [("x", e3x), ("y", e3y)], 'z = einsum(equation = string("abc,cbd->abd"), values = (x, y));',
     [("z", np.einsum("abc,cbd->abd", np.broadcast_to(e3x, (3, 4, 5)), e3y).astype(np.float32))], tol=1e-4)
# einsum runs as cpu_gemm's batched products: fp16 (rounded once, after the
# sum), B broadcast from x and H from y; then C and U past a GEMM tile (512
# rows, 256 columns). Their own generator, so the cases after keep their values.
erng = np.random.default_rng(29)
e16x = erng.uniform(-3, 3, (1, 3, 4, 5)).astype(np.float16)
e16y = erng.uniform(-3, 3, (2, 5, 1, 6)).astype(np.float16)
case("einsum_fp16_broadcast_both", [("x", e16x), ("y", e16y)],
     'z = einsum(equation = string("nchw,nwhu->nchu"), values = (x, y));',
     [("z", np.einsum("nchw,nwhu->nchu", np.broadcast_to(e16x.astype(np.float64), (2, 3, 4, 5)),
                      np.broadcast_to(e16y.astype(np.float64), (2, 5, 4, 6))).astype(np.float16))], tol=2e-3)
ebx = erng.uniform(-3, 3, (1, 520, 2, 8)).astype(np.float32)
eby = erng.uniform(-3, 3, (2, 8, 2, 260)).astype(np.float32)
case("einsum_past_tiles", [("x", ebx), ("y", eby)],
     'z = einsum(equation = string("nchw,nwhu->nchu"), values = (x, y));',
     [("z", np.einsum("nchw,nwhu->nchu", np.broadcast_to(ebx.astype(np.float64), (2, 520, 2, 8)),
                      eby.astype(np.float64)).astype(np.float32))], tol=1e-5)

sw = f32(2, 9, 3)
for size, stride in ((4, 1), (3, 2), (9, 5)):
    want = np.stack([sw[:, i * stride:i * stride + size] for i in range((9 - size) // stride + 1)], axis=1)
    case("sliding_windows_%d_%d" % (size, stride), [("x", sw)],
         "y = sliding_windows(axis = int32(-2), size = int32(%d), stride = int32(%d), x = x);" % (size, stride),
         [("y", want)], tol=0)

rsx = f32(5, 3, 2)
rsl = np.array([5, 0, 2], np.int32)
want = rsx.copy()
for b, l in enumerate(rsl):   # tf.reverse_sequence: the first lengths[b] along seq_axis, per batch
    want[:l, b] = rsx[:l, b][::-1]
case("reverse_sequence", [("x", rsx), ("l", rsl)],
     "y = reverse_sequence(batch_axis = int32(1), lengths = l, seq_axis = int32(0), x = x);", [("y", want)], tol=0)
rsi = rng.integers(-9, 9, (2, 4, 3)).astype(np.int32)
rsl2 = np.array([3, 1], np.int32)
want = rsi.copy()
for b, l in enumerate(rsl2):
    want[b, :, :l] = rsi[b, :, :l][:, ::-1]
case("reverse_sequence_int_last_axis", [("x", rsi), ("l", rsl2)],
     "y = reverse_sequence(batch_axis = int32(0), lengths = l, seq_axis = int32(-1), x = x);", [("y", want)])

rlx, rla, rlb = f32(2, 15), f32(4, 3, 7), f32(5, 2)
case("reshape_like_end_mask", [("x", rlx), ("a", rla), ("b", rlb)],
     "y = reshape_like(begins = (int32(1), int32(0)), end_masks = (bool(false), bool(true)), "
     "ends = (int32(2), int32(0)), ref_tensors = (a, b), x = x);",
     [("y", rlx.reshape(rla.shape[1:2] + rlb.shape[0:]))], tol=0)
case("reshape_like_negative_end", [("x", rlx[:, :12].copy()), ("a", rla), ("b", rlb)],
     "y = reshape_like(begins = (int32(0), int32(1)), end_masks = (bool(false), bool(false)), "
     "ends = (int32(-1), int32(2)), ref_tensors = (a, b), x = x);",
     [("y", rlx[:, :12].reshape(rla.shape[0:-1] + rlb.shape[1:2]))], tol=0)

# ---- cases: the GEMM paths (conv 1x1, linear, matmul) ---------------------------------
# cpu_gemm cuts C in tiles of up to 512 rows and 256 columns, one sgemm and one
# bias-and-rounding pass each: these sizes cross both limits, unevenly and at
# counts not multiples of 16, with batches and groups. fp16 cases take the exact
# (float64) result rounded to fp16, within one fp16 step.

def conv1x1_ref(x, w, groups=1, bias=None):
    n, ci, h, wd = x.shape
    co = w.shape[0]
    xg = x.astype(np.float64).reshape(n, groups, ci // groups, h * wd)
    wg = w.astype(np.float64).reshape(groups, co // groups, ci // groups)
    y = np.einsum("goc,ngcs->ngos", wg, xg).reshape(n, co, h, wd)
    if bias is not None:
        y += bias.astype(np.float64)[None, :, None, None]
    return y.astype(x.dtype)


def mm_ref(x, y, tx=False, ty=False, bias=None):
    a, b = x.astype(np.float64), y.astype(np.float64)
    if tx:
        a = np.swapaxes(a, -1, -2)
    if ty:
        b = np.swapaxes(b, -1, -2)
    r = np.matmul(a, b)
    if bias is not None:
        r += bias.astype(np.float64)
    return r.astype(x.dtype)


for name, dt, xs, ws, groups, bias in [
        ("conv1x1_fp16_tiles_bias", np.float16, (2, 6, 17, 19), (1030, 3, 1, 1), 2, True),
        ("conv1x1_fp32_tiles", np.float32, (1, 5, 9, 31), (7, 5, 1, 1), 1, False),
        ("conv1x1_fp16_nobias", np.float16, (1, 4, 16, 33), (9, 4, 1, 1), 1, False)]:
    gx, gw = f32(*xs).astype(dt), f32(*ws, lo=-1, hi=1).astype(dt)
    gb = f32(ws[0]).astype(dt)
    ins = [("x", gx), ("w", gw)] + ([("b", gb)] if bias else [])
    case(name, ins, "y = conv(%sgroups = int32(%d), weight = w, x = x);" % ("bias = b, " if bias else "", groups),
         [("y", conv1x1_ref(gx, gw, groups, gb if bias else None))], tol=2e-3 if dt == np.float16 else 1e-5)

# sgemm.c (x86 with AVX2/FMA) takes the 1x1 convs of 64 columns or more: 6 x 16
# kernel tiles, passes of up to 512 rows of K (w8a8_conv_k1025_sgemm below takes
# three), blocks of 64 or 128 columns. Weights constant (packed at open()) or
# inputs (packed at each run); sizes off all of those; K = 1; 63 columns stays
# on cpu_gemm.
def wconst(w):
    def nested(a):
        return "[" + ", ".join(nested(v) for v in a) + "]" if isinstance(a, np.ndarray) else repr(float(a))
    return "_W = const()[val = tensor<%s, [%s]>(%s)]; " % (
        DT[w.dtype], ", ".join(str(d) for d in w.shape), nested(w.astype(np.float32)))


for name, dt, xs, ws, groups, bias, const in [
        ("conv1x1_sgemm_const_fp16_bias", np.float16, (2, 37, 9, 29), (13, 37, 1, 1), 1, True, True),
        ("conv1x1_sgemm_const_fp32_deep", np.float32, (1, 260, 5, 17), (199, 260, 1, 1), 1, False, True),
        ("conv1x1_sgemm_const_k1", np.float32, (1, 1, 8, 9), (5, 1, 1, 1), 1, True, True),
        ("conv1x1_sgemm_input_groups", np.float16, (2, 10, 8, 10), (14, 5, 1, 1), 2, True, False),
        ("conv1x1_gemm_63_columns", np.float16, (1, 6, 7, 9), (8, 6, 1, 1), 1, False, True)]:
    gx, gw = f32(*xs).astype(dt), f32(*ws, lo=-1, hi=1).astype(dt)
    gb = f32(ws[0]).astype(dt)
    ins = [("x", gx)] + ([] if const else [("w", gw)]) + ([("b", gb)] if bias else [])
    case(name, ins, (wconst(gw) if const else "") + "y = conv(%sgroups = int32(%d), weight = %s, x = x);"
         % ("bias = b, " if bias else "", groups, "_W" if const else "w"),
         [("y", conv1x1_ref(gx, gw, groups, gb if bias else None))] + ([("_W", gw)] if const else []),
         tol=2e-3 if dt == np.float16 else 1e-5)

# Chains of sgemm convs (each output read only by the next) run as one step, a
# block of columns through every conv: numpy takes them one at a time, each
# rounded to the dtype. First K of 600 (two passes), an inner value of 512
# rows (the most a chain keeps), batches, cut tiles and panels, 18 convs (more
# than one chain holds); in "_open" the first conv's output is also returned,
# so the chain starts after it; in "_shared" it is read twice (the add), so
# no chain crosses it.
def conv_chain(name, dt, n, hw, chans, bias, show=(), add=False):
    x = f32(n, chans[0], *hw).astype(dt)
    body, outs, v = "", [], x
    for i in range(len(chans) - 1):
        w = f32(chans[i + 1], chans[i], 1, 1, lo=-1, hi=1).astype(dt) / np.sqrt(chans[i]).astype(dt)
        b = f32(chans[i + 1]).astype(dt) if bias else None
        c = "y" if i == len(chans) - 2 else ("c%d" % i if i in show else "_c%d" % i)
        body += wconst(w).replace("_W", "_W%d" % i)
        if b is not None:
            body += wconst(b).replace("_W", "_b%d" % i)
        body += "%s = conv(%sweight = _W%d, x = %s); " % (c, "bias = _b%d, " % i if bias else "", i,
                                                       "x" if i == 0 else prev)
        v = conv1x1_ref(v, w, 1, b)
        outs += [("_W%d" % i, w)] + ([("_b%d" % i, b)] if bias else []) + [(c, v)]
        if add and i == 0:
            body += "%s = add(x = %s, y = %s); " % ("_s", c, c)
            outs.append(("_s", (v.astype(np.float64) * 2).astype(dt)))
        prev = c
    case(name, [("x", x)], body, outs, tol=2e-3 if dt == np.float16 else 1e-5)


conv_chain("conv1x1_sgemm_chain_fp16", np.float16, 2, (9, 29), [600, 512, 37, 7], True)
conv_chain("conv1x1_sgemm_chain_fp32", np.float32, 1, (8, 10), [20, 13, 40, 3], False)
conv_chain("conv1x1_sgemm_chain_open", np.float16, 1, (8, 9), [16, 24, 8, 5], True, show=(0,))
conv_chain("conv1x1_sgemm_chain_shared", np.float16, 1, (8, 9), [16, 24, 8], False, add=True)
conv_chain("conv1x1_sgemm_chain_18", np.float16, 1, (8, 8), [8] * 19, True)

for name, dt, xs, ws, bias in [
        ("linear_fp16_tiles_bias", np.float16, (2, 300, 7), (263, 7), True),
        ("linear_fp32_rank1", np.float32, (37,), (5, 37), False),
        ("linear_fp32_bias_threads", np.float32, (700, 40), (300, 40), True)]:
    lx, lw, lb = f32(*xs).astype(dt), f32(*ws, lo=-1, hi=1).astype(dt), f32(ws[0]).astype(dt)
    ins = [("x", lx), ("w", lw)] + ([("b", lb)] if bias else [])
    case(name, ins, "y = linear(%sweight = w, x = x);" % ("bias = b, " if bias else ""),
         [("y", mm_ref(lx, lw, ty=True, bias=lb if bias else None))], tol=2e-3 if dt == np.float16 else 1e-5)

for name, dt, xs, ys, tx, ty in [
        ("matmul_fp32_broadcast", np.float32, (3, 1, 20, 7), (4, 7, 300), False, False),
        ("matmul_fp16_transposes", np.float16, (2, 7, 20), (2, 300, 7), True, True),
        ("matmul_fp16_merged", np.float16, (3, 520, 5), (5, 9), False, False),
        ("matmul_fp32_tx", np.float32, (3, 6, 17), (6, 5), True, False)]:
    mx, my = f32(*xs).astype(dt), f32(*ys, lo=-1, hi=1).astype(dt)
    case(name, [("x", mx), ("y", my)],
         "z = matmul(transpose_x = bool(%s), transpose_y = bool(%s), x = x, y = y);"
         % (str(tx).lower(), str(ty).lower()),
         [("z", mm_ref(mx, my, tx, ty))], tol=2e-3 if dt == np.float16 else 1e-5)

mv_x, mv_y = f32(7), f32(7, 300)
case("matmul_fp32_vector_x", [("x", mv_x), ("y", mv_y)], "z = matmul(x = x, y = y);",
     [("z", mm_ref(mv_x[None], mv_y)[0])])
mv_a, mv_b = f32(4, 7), f32(7)
case("matmul_fp32_vector_y", [("x", mv_a), ("y", mv_b)], "z = matmul(x = x, y = y);",
     [("z", mm_ref(mv_a, mv_b[:, None])[:, 0])])


# W8A8: conv(dequantize(quantize(x)), constexpr_affine_dequantize(int8 weights)) with
# power-of-two scales, which igemm.c runs as an exact int8 GEMM on AVX512-VNNI
# (elsewhere, sgemm): fp16 of the exact sum. Sizes off its 8 x 32 blocks, 256-column
# tiles and 4-deep groups; saturating activations; K = 1024 (the most it takes) at
# the extremes of int8; K = 1025 goes to sgemm.

def nested(a):
    return "[" + ", ".join(nested(v) for v in a) + "]" if isinstance(a, np.ndarray) else str(a)


def w8a8_case(name, n, ci, co, h, w, xs, bias, qw=None, x=None, escale=None, tol=1e-6):
    x = (f32(n, ci, h, w, lo=-xs, hi=xs) if x is None else x).astype(np.float16)
    qw = rng.integers(-128, 128, (co, ci, 1, 1)) if qw is None else qw
    esc = rng.integers(-6, 2, co) if escale is None else escale
    sc = np.ldexp(1.0, esc).astype(np.float16)
    b = f32(co).astype(np.float16)
    q = np.clip(np.rint(x.astype(np.float64) / 0.125), -128, 127)
    wd = qw.astype(np.float64) * sc.astype(np.float64)[:, None, None, None]
    y = np.einsum("oc,ncs->nos", wd[:, :, 0, 0], (q * 0.125).reshape(n, ci, h * w)).reshape(n, co, h, w)
    if bias:
        y += b.astype(np.float64)[None, :, None, None]
    wt = "tensor<int8, [%d, %d, 1, 1]>(%s)" % (co, ci, nested(qw))
    body = ('q = quantize(input = x, output_dtype = string("int8"), scale = fp16(0.125)); '
            'xd = dequantize(input = q, scale = fp16(0.125)); '
            'W = constexpr_affine_dequantize()[axis = int32(0), quantized_data = %s, scale = %s, '
            'zero_point = tensor<int8, [%d]>(%s)]; y = conv(%sweight = W, x = xd);'
            % (wt, "tensor<fp16, [%d]>(%s)" % (co, nested(sc.astype(np.float32))), co, nested(np.zeros(co, np.int64)),
               "bias = b, " if bias else ""))
    ins = [("x", x)] + ([("b", b)] if bias else [])
    outs = [("y", y.astype(np.float16)), ("q", q.astype(np.int8)), ("xd", (q * 0.125).astype(np.float16)),
            ("W", wd.astype(np.float16))]
    CASES.append((name, ins, body, outs, tol))


def w8a8_chain(name, hide):
    """x -> quantize -> dequantize -> conv (int8 weights) -> quantize -> dequantize ->
    conv: igemm.c fuses the middle quantize into the first conv and, when nothing
    else reads them, skips the dequantizes; hide keeps the inner values inside."""
    x = f32(1, 12, 7, 41, lo=-12, hi=12).astype(np.float16)
    qa, qb = rng.integers(-128, 128, (20, 12, 1, 1)), rng.integers(-128, 128, (6, 20, 1, 1))
    sa, sb = np.ldexp(1.0, rng.integers(-9, -5, 20)), np.ldexp(1.0, rng.integers(-6, -2, 6))
    q1 = np.clip(np.rint(x.astype(np.float64) / 0.125), -128, 127)
    c1 = np.einsum("oc,ncs->nos", qa[:, :, 0, 0] * sa[:, None], (q1 * 0.125).reshape(1, 12, -1))
    c1 = c1.reshape(1, 20, 7, 41).astype(np.float16)
    q2 = np.clip(np.rint(c1.astype(np.float64) / 0.25), -128, 127)
    y = np.einsum("oc,ncs->nos", qb[:, :, 0, 0] * sb[:, None], (q2 * 0.25).reshape(1, 20, -1)).reshape(1, 6, 7, 41)

    def wdecl(n, q, sc):
        co = q.shape[0]
        return ("%s = constexpr_affine_dequantize()[axis = int32(0), quantized_data = tensor<int8, [%d, %d, 1, 1]>(%s), "
                "scale = tensor<fp16, [%d]>(%s), zero_point = tensor<int8, [%d]>(%s)]; "
                % (n, co, q.shape[1], nested(q), co, nested(sc), co, nested(np.zeros(co, np.int64))))
    h = "_" if hide else ""
    body = ('%sq1 = quantize(input = x, output_dtype = string("int8"), scale = fp16(0.125)); '
            '%sd1 = dequantize(input = %sq1, scale = fp16(0.125)); ' % (h, h, h) + wdecl("_wa", qa, sa) +
            '%sc1 = conv(weight = _wa, x = %sd1); ' % (h, h) +
            '%sq2 = quantize(input = %sc1, output_dtype = string("int8"), scale = fp16(0.25)); ' % (h, h) +
            '%sd2 = dequantize(input = %sq2, scale = fp16(0.25)); ' % (h, h) + wdecl("_wb", qb, sb) +
            'y = conv(weight = _wb, x = %sd2);' % h)
    outs = [(h + "q1", q1.astype(np.int8)), (h + "d1", (q1 * 0.125).astype(np.float16)),
            ("_wa", (qa * sa[:, None, None, None]).astype(np.float16)), (h + "c1", c1),
            (h + "q2", q2.astype(np.int8)), (h + "d2", (q2 * 0.25).astype(np.float16)),
            ("_wb", (qb * sb[:, None, None, None]).astype(np.float16)), ("y", y.astype(np.float16))]
    CASES.append((name, [("x", x)], body, outs, 1e-6))


w8a8_chain("w8a8_chain_fused", True)
w8a8_chain("w8a8_chain_all_outputs", False)
w8a8_case("w8a8_conv_tiles_bias", 2, 37, 13, 9, 37, 20.0, True)
w8a8_case("w8a8_conv_nobias", 1, 8, 16, 4, 8, 3.0, False)
ext = rng.integers(-128, 128, (9, 1024, 1, 1))
ext[0], ext[1] = -128, 127
ext_x = np.full((1, 1024, 1, 40), -16.0)
ext_x[:, :, :, 20:] = 15.875
w8a8_case("w8a8_conv_k1024_extremes", 1, 1024, 9, 1, 40, 0, False, qw=ext, x=ext_x,
          escale=np.full(9, -10))
w8a8_case("w8a8_conv_k1025_sgemm", 1, 1025, 3, 1, 5, 4.0, True, tol=2e-3)


# ---- cases: 3-d windows over rank-5 tensors (conv3d.c) --------------------------------


def same_pads(inp, k, st, lower=False):
    """The definition's same padding: output ceil(in / stride), the total
    padding split evenly, the odd one after (before for same_lower)."""
    pads = []
    for i in range(len(inp)):
        out = -(-inp[i] // st[i])
        tot = max((out - 1) * st[i] + k[i] - inp[i], 0)
        pads += [tot - tot // 2, tot // 2] if lower else [tot // 2, tot - tot // 2]
    return pads


def conv3d_ref(x, w, st, dil, pads, groups=1, bias=None):
    n, ci = x.shape[:2]
    co, cig = w.shape[:2]
    k = w.shape[2:]
    keff = [(k[i] - 1) * dil[i] + 1 for i in range(3)]
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0)) + tuple((pads[2 * i], pads[2 * i + 1]) for i in range(3)))
    out = [(xp.shape[2 + i] - keff[i]) // st[i] + 1 for i in range(3)]
    y = np.zeros((n, co) + tuple(out))
    cog = co // groups
    for o in range(co):
        g = o // cog
        for a in range(out[0]):
            for b_ in range(out[1]):
                for c_ in range(out[2]):
                    win = xp[:, g * cig:(g + 1) * cig,
                             a * st[0]:a * st[0] + keff[0]:dil[0],
                             b_ * st[1]:b_ * st[1] + keff[1]:dil[1],
                             c_ * st[2]:c_ * st[2] + keff[2]:dil[2]]
                    y[:, o, a, b_, c_] = (win * w[o][None]).sum(axis=(1, 2, 3, 4))
    if bias is not None:
        y += bias[None, :, None, None, None]
    return y.astype(np.float32)


c3x, c3w, c3b = f32(2, 4, 5, 6, 4), f32(6, 2, 2, 3, 2, lo=-1, hi=1), f32(6)
for name, pt, st, dil, custom in [("valid", "valid", (1, 2, 1), (1, 1, 2), None),
                                  ("same", "same", (2, 2, 1), (1, 1, 1), None),
                                  ("same_lower", "same_lower", (2, 1, 3), (1, 2, 1), None),
                                  ("custom", "custom", (1, 1, 2), (2, 1, 1), [1, 0, 2, 1, 0, 3])]:
    keff = [(c3w.shape[2 + i] - 1) * dil[i] + 1 for i in range(3)]
    pads = custom if custom else [0] * 6 if pt == "valid" else same_pads(c3x.shape[2:], keff, st, pt == "same_lower")
    case("conv3d_" + name, [("x", c3x), ("w", c3w), ("b", c3b)],
         'y = conv(bias = b, dilations = %s, groups = int32(2), pad = %s, pad_type = string("%s"), strides = %s, weight = w, x = x);'
         % (ints(dil), ints(custom or [0] * 6), pt, ints(st)),
         [("y", conv3d_ref(c3x, c3w, st, dil, pads, 2, c3b))], tol=1e-4)


t3x, t3w, t3b = f32(1, 4, 3, 2, 3), f32(4, 3, 2, 3, 2, lo=-1, hi=1), f32(6)
case("conv_transpose3d_custom", [("x", t3x), ("w", t3w), ("b", t3b)],
     'y = conv_transpose(bias = b, groups = int32(2), pad = %s, pad_type = string("custom"), strides = %s, weight = w, x = x);'
     % (ints([1, 0, 0, 2, 1, 1]), ints([2, 1, 2])),
     [("y", conv_t_ref(t3x, t3w, (2, 1, 2), (1, 0, 0, 2, 1, 1), 2, t3b))], tol=1e-4)
# same: the output is in * stride, the extra (full - in * stride) split evenly, the odd one after
t3full = [(t3x.shape[2 + i] - 1) * (2, 2, 1)[i] + t3w.shape[2 + i] for i in range(3)]
t3pads = []
for i in range(3):
    tot = max(t3full[i] - t3x.shape[2 + i] * (2, 2, 1)[i], 0)
    t3pads += [tot // 2, tot - tot // 2]
case("conv_transpose3d_same", [("x", t3x), ("w", t3w)],
     'y = conv_transpose(groups = int32(2), pad_type = string("same"), strides = %s, weight = w, x = x);' % ints([2, 2, 1]),
     [("y", conv_t_ref(t3x, t3w, (2, 2, 1), t3pads, 2))], tol=1e-4)
case("conv_transpose3d_valid", [("x", t3x), ("w", t3w)],
     'y = conv_transpose(groups = int32(2), pad_type = string("valid"), weight = w, x = x);',
     [("y", conv_t_ref(t3x, t3w, (1, 1, 1), [0] * 6, 2))], tol=1e-4)


p3 = f32(2, 3, 5, 4, 6)
case("max_pool3d_custom", [("x", p3)],
     'y = max_pool(kernel_sizes = %s, pad = %s, pad_type = string("custom"), strides = %s, x = x);'
     % (ints([2, 3, 2]), ints([1, 0, 1, 1, 0, 1]), ints([2, 2, 1])),
     [("y", pool_ref(p3, (2, 3, 2), (2, 2, 1), (1, 0, 1, 1, 0, 1), "max"))])
case("avg_pool3d_same_exclude", [("x", p3)],
     'y = avg_pool(exclude_padding_from_average = bool(true), kernel_sizes = %s, pad_type = string("same"), strides = %s, x = x);'
     % (ints([3, 2, 3]), ints([2, 1, 2])),
     [("y", pool_ref(p3, (3, 2, 3), (2, 1, 2), same_pads((5, 4, 6), (3, 2, 3), (2, 1, 2)), "avg", count_pad=False))],
     tol=1e-5)
case("avg_pool3d_ceil_count_pad", [("x", p3)],
     'y = avg_pool(ceil_mode = bool(true), kernel_sizes = %s, pad = %s, pad_type = string("custom"), strides = %s, x = x);'
     % (ints([2, 2, 4]), ints([1, 1, 0, 0, 1, 0]), ints([2, 3, 3])),
     [("y", pool_ref(p3, (2, 2, 4), (2, 3, 3), (1, 1, 0, 0, 1, 0), "avg", ceil=True))], tol=1e-5)
case("l2_pool3d_same_lower", [("x", p3)],
     'y = l2_pool(kernel_sizes = %s, pad_type = string("same_lower"), strides = %s, x = x);' % (ints([2, 2, 2]), ints([2, 2, 2])),
     [("y", pool_ref(p3, (2, 2, 2), (2, 2, 2), same_pads((5, 4, 6), (2, 2, 2), (2, 2, 2), True), "l2"))], tol=1e-5)
case("max_pool3d_valid", [("x", p3)],
     'y = max_pool(kernel_sizes = %s, pad_type = string("valid"), strides = %s, x = x);' % (ints([3, 1, 2]), ints([1, 2, 3])),
     [("y", pool_ref(p3, (3, 1, 2), (1, 2, 3), [0] * 6, "max"))])
# 1-d and 2-d pools run as 3-d windows with unit leading dims: ceil_mode and
# the average's padded divisor there
p1 = own.uniform(-3, 3, (2, 3, 7)).astype(np.float32)
case("avg_pool1d_ceil_count_pad", [("x", p1)],
     'y = avg_pool(ceil_mode = bool(true), kernel_sizes = %s, pad = %s, pad_type = string("custom"), strides = %s, x = x);'
     % (ints([3]), ints([1, 0]), ints([2])),
     [("y", pool_ref(p1, (3,), (2,), (1, 0), "avg", ceil=True))])
case("max_pool2d_ceil", [("x", px)],
     'y = max_pool(ceil_mode = bool(true), kernel_sizes = %s, pad_type = string("valid"), strides = %s, x = x);'
     % (ints([2, 2]), ints([2, 2])),
     [("y", pool_ref(px, (2, 2), (2, 2), [0] * 4, "max", ceil=True))])


def lit(a, dt):
    """An inline tensor literal: type(nested values)."""
    body = np.array2string(a, separator=", ", threshold=1 << 30, max_line_width=1 << 30).replace("\n", "")
    return "tensor<%s, [%s]>(%s)" % (dt, ", ".join(str(d) for d in a.shape), body)


# conv_quantized "linear": W = W_q * quant_scale + quant_bias (a scalar or one per
# output channel), then conv; a 2-d conv is the 3-d one with a unit depth
qx = f32(1, 4, 5, 6)
qw = rng.integers(0, 16, (6, 2, 3, 2)).astype(np.uint8)
qs, qbias = np.array([0.1, -0.2, 0.05, 0.3, 0.15, -0.1], np.float32), np.array([-0.5, 0.2, 0.0, -0.3, 0.1, 0.4], np.float32)
qwf = qw * qs[:, None, None, None] + qbias[:, None, None, None]
case("conv_quantized_per_channel", [("x", qx)],
     'y = conv_quantized(groups = int32(2), nbits = int32(4), pad_type = string("same"), quant_bias = %s, quant_scale = %s, '
     'quantization_type = string("linear"), strides = %s, weight = %s, x = x);'
     % (lit(qbias, "fp32"), lit(qs, "fp32"), ints([2, 1]), lit(qw, "uint8")),
     [("y", conv3d_ref(qx[:, :, None], qwf[:, :, None], (1, 2, 1), (1, 1, 1),
                       [0, 0] + same_pads((5, 6), (3, 2), (2, 1)), 2)[:, :, 0])], tol=1e-4)
q1x, q1w = f32(2, 3, 7), rng.integers(0, 256, (2, 3, 3)).astype(np.uint8)
case("conv_quantized_scalar_1d", [("x", q1x)],
     'y = conv_quantized(dilations = %s, quant_bias = %s, quant_scale = %s, quantization_type = string("linear"), weight = %s, x = x);'
     % (ints([2]), lit(np.array([-1.0], np.float32), "fp32"), lit(np.array([0.01], np.float32), "fp32"), lit(q1w, "uint8")),
     [("y", conv3d_ref(q1x[:, :, None, None], (q1w * 0.01 - 1.0)[:, :, None, None], (1, 1, 1), (1, 1, 2), [0] * 6)[:, :, 0, 0])],
     tol=1e-4)

# ---- cases: 3x3 convs of stride 1, one group (winograd.c's F(2x2, 3x3)) ----------------
# Tile rows wider than the 64 tiles transformed at a time (output width
# > 128), odd output sizes (partial tiles), batch 2 (blocks of tiles that
# span images), channel counts of no blocking (at least 8, and 20 tiles, or
# im2col runs them); weights as an input (made at eval()) and inline (made
# at open()). fp32 takes F(2x2, 3x3), fp16 F(4x4, 3x3) (with 20 tiles).
def conv2d_ref(x, w, pads, bias=None):
    return conv3d_ref(x[:, :, None], w[:, :, None], (1, 1, 1), (1, 1, 1), [0, 0] + pads, 1, bias)[:, :, 0]


wx, ww, wb = f32(2, 9, 13, 150, lo=-1, hi=1), f32(7, 9, 3, 3, lo=-1, hi=1), f32(7)
for name, pt, custom in [("same", "same", None), ("same_lower", "same_lower", None),
                         ("valid", "valid", None), ("custom", "custom", [2, 0, 1, 3])]:
    pads = custom or ([0] * 4 if pt == "valid" else same_pads((13, 150), (3, 3), (1, 1), pt == "same_lower"))
    case("conv3x3_" + name, [("x", wx), ("w", ww), ("b", wb)],
         'y = conv(bias = b, pad = %s, pad_type = string("%s"), weight = w, x = x);' % (ints(custom or [0] * 4), pt),
         [("y", conv2d_ref(wx, ww, pads, wb))], tol=1e-4)
# inline weights of eighths (exact in the literal), fp16 x and y, no bias:
# the fp16 result is the exact sum rounded once (9 tiles of 4x4: F(2x2, 3x3))
hx = (rng.integers(-64, 65, (1, 17, 10, 11)) / 32).astype(np.float16)
hw = (rng.integers(-8, 9, (3, 17, 3, 3)) / 8).astype(np.float32)
case("conv3x3_fp16_inline", [("x", hx)],
     'y = conv(pad = %s, pad_type = string("custom"), weight = %s, x = x);' % (ints([0, 1, 2, 0]), lit(hw.astype(np.float16), "fp16")),
     [("y", conv2d_ref(hx, hw, [0, 1, 2, 0]).astype(np.float16))], tol=2e-3)
# fp16 (F(4x4, 3x3)): the wide batch-2 input, asymmetric pads, weights
# as an input
wx16, ww16 = wx.astype(np.float16), ww.astype(np.float16)
case("conv3x3_fp16_custom", [("x", wx16), ("w", ww16)],
     'y = conv(pad = %s, pad_type = string("custom"), weight = w, x = x);' % ints([2, 0, 1, 3]),
     [("y", conv2d_ref(wx16, ww16, [2, 0, 1, 3]).astype(np.float16))], tol=2e-3)
# a 1-pixel-wide output (one partial tile per row), and a 2x2 input that
# padding alone makes big enough (on im2col: 2 channels)
nx, nw = f32(2, 8, 41, 3, lo=-1, hi=1), f32(4, 8, 3, 3, lo=-1, hi=1)
case("conv3x3_narrow", [("x", nx), ("w", nw)], 'y = conv(pad_type = string("valid"), weight = w, x = x);',
     [("y", conv2d_ref(nx, nw, [0] * 4))], tol=1e-4)
tx = f32(1, 2, 2, 2, lo=-1, hi=1)
case("conv3x3_tiny", [("x", tx), ("w", nw[:, :2].copy())], 'y = conv(pad = %s, pad_type = string("custom"), weight = w, x = x);' % ints([1, 0, 0, 1]),
     [("y", conv2d_ref(tx, nw[:, :2], [1, 0, 0, 1]))], tol=1e-4)

if __name__ == "__main__":
    sys.exit(main())
