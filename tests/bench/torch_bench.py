"""torch_bench.py - the cpu backend against PyTorch's CPU backend on the same
networks, the same weights and the same input.

Usage: torch_bench.py ANERUN WORKDIR THREADS

Each case's weights and input are drawn once by numpy (seeded) into .npy
files: the .anet reads them with npy("..."), anerun gets the input with
--input, and torch loads the same files. fp16 cases store fp16-rounded
weights, so torch (fp32 throughout) multiplies by the very values anet
holds. The two sides take turns, ROUNDS times: one anerun (its median of
ITERS evals after WARMUP) then as many torch forward passes (their median);
each side's figure is its best round, as the machine is shared. The goal: anet time / torch time
<= 1 on every case. The "diff" column, max|anet - torch| / max|torch| over
the output, is a check that both ran the same network (fp16 storage on one
side, fp32 on the other), not a goal; the W8A8 chain has none, since torch
runs it with the dequantized fp32 weights and fp32 activations (torch's CPU
backend has no int8 conv to match anet's int8 weights and activations).
Exit 1 when a case misses the goal, 2 when something failed to run."""
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

WARMUP, ITERS, ROUNDS = 1, 5, 5
GOAL = 1.0


def save(path, a):
    np.save(path, a)
    return os.path.basename(path)


def fp16(a):
    """fp16-rounded, kept as fp16 so anetc reads the exact values."""
    return a.astype(np.float16)


# ---- the networks: each returns (anet source, torch function, input, check) --


def chain(dir, name, ch, hw, depth, w8a8):
    """The seed's chain (samples/seed/): depth 1x1 convs of ch channels, no
    bias; fp16 weights normal(0, 0.01), or int8 uniform(-64, 63) with scale
    2^-3 and int8 activations (scale 2^-3) between layers."""
    rng = np.random.default_rng(1)
    lines = ["network %s {" % name, "    input x: fp16[1, %d, %d, %d]" % (ch, hw, hw)]
    if w8a8:
        lines.append("    activations int8 scale=0.125")
    ws = []
    for i in range(depth):
        if w8a8:   # fp32 values q / 8: anetc quantises them back to q exactly
            w = (rng.integers(-64, 64, (ch, ch, 1, 1)) * 0.125).astype(np.float32)
            f = save(os.path.join(dir, "%s_w%d.npy" % (name, i)), w)
            lines.append('    conv %d kernel=1 weights=int8 scale=0.125 init=npy("%s")' % (ch, f))
        else:
            w = fp16(rng.normal(0, 0.01, (ch, ch, 1, 1)))
            f = save(os.path.join(dir, "%s_w%d.npy" % (name, i)), w)
            lines.append('    conv %d kernel=1 init=npy("%s")' % (ch, f))
        ws.append(torch.from_numpy(w.astype(np.float32)))
    lines.append("}")
    x = fp16(rng.normal(0, 1, (1, ch, hw, hw)))

    def run(t):
        for w in ws:
            t = F.conv2d(t, w)
        return t

    return "\n".join(lines) + "\n", run, x, not w8a8


def conv3x3(dir, name, ch, hw, depth):
    """A stack of 3x3 convs (padding same, bias) each followed by relu."""
    rng = np.random.default_rng(2)
    lines = ["network %s {" % name, "    input x: fp16[1, %d, %d, %d]" % (ch, hw, hw)]
    ps = []
    for i in range(depth):
        w = fp16(rng.normal(0, 1 / np.sqrt(9 * ch), (ch, ch, 3, 3)))
        b = fp16(rng.normal(0, 0.1, (ch,)))
        fw = save(os.path.join(dir, "%s_w%d.npy" % (name, i)), w)
        fb = save(os.path.join(dir, "%s_b%d.npy" % (name, i)), b)
        lines.append('    conv %d kernel=3 padding=same bias=true init=npy("%s") '
                     'bias_init=npy("%s")' % (ch, fw, fb))
        lines.append("    relu")
        ps.append((torch.from_numpy(w.astype(np.float32)), torch.from_numpy(b.astype(np.float32))))
    lines.append("}")
    x = fp16(rng.normal(0, 1, (1, ch, hw, hw)))

    def run(t):
        for w, b in ps:
            t = F.relu(F.conv2d(t, w, b, padding=1))
        return t

    return "\n".join(lines) + "\n", run, x, True


def encoder(dir, name, d, seq, heads):
    """One BERT-style post-norm encoder block on the ANE layout [1, d, 1, seq]:
    multi-head self-attention (linear q, k, v with bias, softmax(q k^T / 8) v,
    linear out), add, layer_norm, linear 4d, gelu (tanh form), linear d, add,
    layer_norm. Torch runs it on [seq, d]."""
    rng = np.random.default_rng(3)
    hd = d // heads
    W = {}

    def lin(key, dout, din):
        w = fp16(rng.normal(0, 1 / np.sqrt(din), (dout, din)))
        b = fp16(rng.normal(0, 0.02, (dout,)))
        W[key] = (torch.from_numpy(w.astype(np.float32)), torch.from_numpy(b.astype(np.float32)))
        fw = save(os.path.join(dir, "%s_%s_w.npy" % (name, key)), w)
        fb = save(os.path.join(dir, "%s_%s_b.npy" % (name, key)), b)
        return 'linear %d bias=true init=npy("%s") bias_init=npy("%s")' % (dout, fw, fb)

    proj = "".join("""    from x0
    %s
    reshape shape=[1, %d, %d, %d]
    transpose perm=[0, 1, 3, 2]
    let %s
""" % (lin(n, d, d), heads, hd, seq, n) for n in "qkv")
    src = """network %(name)s {
    input x: fp16[1, %(d)d, 1, %(seq)d]
    let x0
%(proj)s    from q
    matmul k transpose_y=true
    mul %(scale)r
    softmax axis=-1
    matmul v
    transpose perm=[0, 1, 3, 2]
    reshape shape=[1, %(d)d, 1, %(seq)d]
    %(o)s
    add x0
    layer_norm eps=1e-5
    let h
    %(f1)s
    gelu
    %(f2)s
    add h
    layer_norm eps=1e-5
}
""" % dict(name=name, d=d, seq=seq, proj=proj, scale=1 / np.sqrt(hd), o=lin("o", d, d),
           f1=lin("f1", 4 * d, d), f2=lin("f2", d, 4 * d))
    x = fp16(rng.normal(0, 1, (1, d, 1, seq)))

    def split(t):   # [seq, d] -> [heads, seq, hd]
        return t.view(seq, heads, hd).transpose(0, 1)

    def run(t):
        t = t.view(d, seq).t()
        q, k, v = (split(F.linear(t, *W[n])) for n in "qkv")
        a = torch.softmax(torch.matmul(q, k.transpose(1, 2)) * (1 / np.sqrt(hd)), dim=-1)
        a = torch.matmul(a, v).transpose(0, 1).reshape(seq, d)
        t = F.layer_norm(t + F.linear(a, *W["o"]), (d,), eps=1e-5)
        f = F.linear(F.gelu(F.linear(t, *W["f1"]), approximate="tanh"), *W["f2"])
        t = F.layer_norm(t + f, (d,), eps=1e-5)
        return t.t().reshape(1, d, 1, seq)

    return src, run, x, True


CASES = [
    ("encoder d768 seq512", lambda d: encoder(d, "encoder", 768, 512, 12)),
    ("conv3x3 128ch 56x56 x4", lambda d: conv3x3(d, "conv3x3", 128, 56, 4)),
    ("seed chain 512ch 32x32 x8", lambda d: chain(d, "chain32", 512, 32, 8, False)),
    ("seed chain 512ch 64x64 x8", lambda d: chain(d, "chain64", 512, 64, 8, False)),
    ("w8a8 chain 512ch 64x64 x8", lambda d: chain(d, "w8a8_64", 512, 64, 8, True)),
]


def run_anet(anerun, dir, name, src, x):
    path = os.path.join(dir, name + ".anet")
    with open(path, "w") as f:
        f.write(src)
    xin = os.path.join(dir, name + "_x.npy")
    np.save(xin, x)
    out = os.path.join(dir, name + "_out")
    r = subprocess.run([anerun, "--backend", "cpu", "--format", "json", "--warmup", str(WARMUP),
                        "--iters", str(ITERS), "--input", "x=" + xin, "--output-dir", out, path],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        raise SystemExit("torch_bench: anerun failed on %s" % path)
    ms = json.loads(r.stdout)[0]["ms_median"]
    outs = [f for f in os.listdir(out) if f.endswith(".npy")]
    return ms, np.load(os.path.join(out, outs[0])).astype(np.float32)


def run_torch(fn, x):
    t = torch.from_numpy(x.astype(np.float32))
    with torch.inference_mode():
        for _ in range(WARMUP):
            y = fn(t)
        times = []
        for _ in range(ITERS):
            t0 = time.perf_counter()
            y = fn(t)
            times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times)), y.numpy()


def main():
    anerun, dir, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(threads)
    print("cpu backend (anerun --backend cpu, fp16 storage) against PyTorch %s CPU (fp32), "
          "%d threads each,\nbest of %d rounds of the median of %d runs" % (torch.__version__, threads,
                                                                ROUNDS, ITERS))
    print("load average %.2f at the start (the machine may be shared)" % os.getloadavg()[0])
    print("goal: anet / torch <= %.2f on every case\n" % GOAL)
    print("%-28s %10s %10s %7s %9s  %s" % ("case", "anet ms", "torch ms", "ratio", "diff", ""))
    missed = 0
    for label, make in CASES:
        src, fn, x, check = make(dir)
        name = src.split()[1]
        ams = tms = float("inf")
        for _ in range(ROUNDS):
            a, ay = run_anet(anerun, dir, name, src, x)
            t, ty = run_torch(fn, x)
            ams, tms = min(ams, a), min(tms, t)
        diff = "%9.2e" % (np.abs(ay - ty).max() / np.abs(ty).max()) if check else "%9s" % "-"
        ratio = ams / tms
        ok = ratio <= GOAL
        missed += not ok
        print("%-28s %10.2f %10.2f %7.2f %s  %s" % (label, ams, tms, ratio, diff,
                                                    "ok" if ok else "MISSED"))
        sys.stdout.flush()
    print("\nw8a8: torch runs the dequantized fp32 weights with fp32 activations (no int8 conv "
          "on torch's CPU backend), so it has no diff")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
