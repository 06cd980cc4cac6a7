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
        if " " in lhs:                   # an explicit type
            lines.append("    %s = %s;" % (lhs, rhs.strip()))
        else:
            lines.append("    %s %s = %s;" % (ttype(outs[lhs]), lhs, rhs.strip()))
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
