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
      np.dtype(np.int32): "int32", np.dtype(np.bool_): "bool"}
CASES = []
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
    the type of output `name`; outputs: [(name, expected array)]."""
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
    return ("program(1.3)\n{\n  func main<ios18>(%s) {\n%s\n  } -> (%s);\n}\n"
            % (sig, "\n".join(lines), ", ".join(n for n, _ in outputs)))


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

if __name__ == "__main__":
    sys.exit(main())
