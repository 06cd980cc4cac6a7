#!/usr/bin/env python3
"""conv_accuracy.py - how far the cpu backend's 3x3 convs are from a conv
computed in float64 from the same inputs (numpy, the definition written
out), for fp32 tensors (Winograd F(2x2, 3x3)) and fp16 ones (F(4x4, 3x3),
outputs rounded to fp16). Not a test: a measurement, for docs/cpu-speed.md.
Usage: conv_accuracy.py ANERUN [ANERUN...]"""
import os
import subprocess
import sys
import tempfile

import numpy as np


def ref_conv(x, w, b, pads):
    n, c, h, wd = x.shape
    ho, wo = h + pads[0] + pads[1] - 2, wd + pads[2] + pads[3] - 2
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pads[0], pads[1]), (pads[2], pads[3])))
    y = np.zeros((n, w.shape[0], ho, wo))
    for i in range(3):
        for j in range(3):
            y += np.einsum("oc,nchw->nohw", w[:, :, i, j].astype(np.float64), xp[:, :, i:i + ho, j:j + wo])
    return y + b.astype(np.float64)[None, :, None, None]


def measure(anerun, d, dt, c, hw, pads):
    rng = np.random.default_rng(5)
    npdt = np.float32 if dt == "fp32" else np.float16
    w = rng.normal(0, 1 / np.sqrt(9 * c), (c, c, 3, 3)).astype(npdt)
    b = rng.normal(0, 0.1, (c,)).astype(npdt)
    x = rng.normal(0, 1, (1, c, hw, hw)).astype(npdt)
    ref = ref_conv(x, w, b, pads)
    ho, wo = ref.shape[2:]
    for n, a in (("x", x), ("w", w), ("b", b)):
        np.save(os.path.join(d, n + ".npy"), a)
    with open(os.path.join(d, "model.mil"), "w") as f:
        f.write("program(1.3)\n{\n  func main<ios18>(tensor<%s, [1, %d, %d, %d]> x, tensor<%s, [%d, %d, 3, 3]> w, "
                "tensor<%s, [%d]> b) {\n    tensor<%s, [1, %d, %d, %d]> y = conv(bias = b, pad = tensor<int32, [4]>"
                "([%d, %d, %d, %d]), pad_type = string(\"custom\"), weight = w, x = x);\n  } -> (y);\n}\n"
                % (dt, c, hw, hw, dt, c, c, dt, c, dt, c, ho, wo, *pads))
    args = [anerun, "--backend", "cpu", "--iters", "1", "--warmup", "0", "--output-dir", os.path.join(d, "out")]
    for n in "xwb":
        args += ["--input", "%s=%s" % (n, os.path.join(d, n + ".npy"))]
    subprocess.run(args + [d], check=True, capture_output=True)
    y = np.load(os.path.join(d, "out", "y.npy")).astype(np.float64)
    e, top = np.abs(y - ref), np.abs(ref).max()
    line = "max %.1e  rms %.1e" % (e.max() / top, np.sqrt((e ** 2).mean()) / top)
    if dt == "fp16":
        off = (y != ref.astype(np.float16).astype(np.float64)).mean()
        line += "  not correctly rounded %.2f%%" % (100 * off)
    return line


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    print("error / max|float64 conv|, 3x3 conv, pad 1, random normal x, weights normal(0, 1/sqrt(9 C))")
    with tempfile.TemporaryDirectory() as d:
        for dt in ("fp32", "fp16"):
            for c, hw in ((128, 56), (256, 28), (512, 14)):
                for exe in sys.argv[1:]:
                    print("%s %3d ch %dx%d  %-14s %s" % (dt, c, hw, hw, os.path.basename(exe),
                                                         measure(exe, d, dt, c, hw, (1, 1, 1, 1))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
