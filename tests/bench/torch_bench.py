"""torch_bench.py - the cpu backend against PyTorch's CPU backend on the same
networks, the same weights and the same input.

Usage: torch_bench.py ANERUN WORKDIR THREADS

Each case's weights and input are drawn once by numpy (seeded) into .npy
files: the .anet reads them with npy("..."), anerun gets the input with
--input, and torch loads the same files. fp16 cases store fp16-rounded
weights, so torch (fp32 throughout) multiplies by the very values anet
holds. The two sides take turns, ROUNDS times, so both see the same load
on a shared machine: one anerun (the median of ITERS evaluations after
WARMUP) then as many torch forward passes (their median). Per side the
table gives the best and the median of the rounds' figures (wall time), and
the CPU time of one evaluation (all threads; anerun's from its process's
CPU time less that of a one-evaluation run, torch's from process_time), the
best round's. The goal is on the best wall times: anet / torch <= GOAL on
every case. The "diff" column, max|anet - torch| / max|torch| over the
output, is a check that both ran the same network (fp16 storage on one
side, fp32 on the other), not a goal; the W8A8 chain has none, since torch
runs it with the dequantized fp32 weights and fp32 activations (torch's CPU
backend has no int8 conv to match anet's int8 weights and activations).
Exit 1 when a case misses the goal, 2 when something failed to run."""
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

WARMUP, ITERS = 1, 5
ROUNDS = int(os.environ.get("ROUNDS", "5"))
ONLY = os.environ.get("CASES", "")   # a substring: only the cases whose names hold it
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


def anet_cmd(anerun, dir, name, src, x, warmup, iters):
    path = os.path.join(dir, name + ".anet")
    with open(path, "w") as f:
        f.write(src)
    xin = os.path.join(dir, name + "_x.npy")
    np.save(xin, x)
    out = os.path.join(dir, name + "_out")
    return [anerun, "--backend", "cpu", "--format", "json", "--warmup", str(warmup),
            "--iters", str(iters), "--input", "x=" + xin, "--output-dir", out, path], out


def child_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (r.ru_utime + r.ru_stime) * 1e3


def run_anet(cmd):
    """(median ms, CPU ms of the whole process, the first output)."""
    c0 = child_cpu()
    r = subprocess.run(cmd[0], capture_output=True, text=True)
    cpu = child_cpu() - c0
    if r.returncode != 0:   # exit 2, not the 1 of SystemExit(message): 1 is a missed goal
        sys.stderr.write(r.stderr + "torch_bench: anerun failed on %s\n" % cmd[0][-1])
        sys.exit(2)
    ms = json.loads(r.stdout)[0]["ms_median"]
    outs = [f for f in os.listdir(cmd[1]) if f.endswith(".npy")]
    return ms, cpu, np.load(os.path.join(cmd[1], outs[0])).astype(np.float32)


def run_torch(fn, x):
    """(median wall ms, median CPU ms of a forward pass, the output)."""
    t = torch.from_numpy(x.astype(np.float32))
    with torch.inference_mode():
        for _ in range(WARMUP):
            y = fn(t)
        times, cpus = [], []
        for _ in range(ITERS):
            c0, t0 = time.process_time(), time.perf_counter()
            y = fn(t)
            times.append((time.perf_counter() - t0) * 1e3)
            cpus.append((time.process_time() - c0) * 1e3)
    return float(np.median(times)), float(np.median(cpus)), y.numpy()


def main():
    anerun, dir, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    torch.set_num_threads(threads)
    print("cpu backend (anerun --backend cpu, fp16 storage) against PyTorch %s CPU (fp32), "
          "%d threads each;\n%d rounds, anet and torch taking turns; a round's figure is the "
          "median of %d evaluations" % (torch.__version__, threads, ROUNDS, ITERS))
    print("load average %.2f at the start (the machine may be shared)" % os.getloadavg()[0])
    print("goal: anet / torch <= %.2f on every case, on the best wall times\n" % GOAL)
    print("%-27s %17s %17s %6s %15s %9s" % ("", "anet wall ms", "torch wall ms", "ratio",
                                            "cpu ms/eval", ""))
    print("%-27s %8s %8s %8s %8s %6s %7s %7s %9s" % ("case", "best", "median", "best", "median",
                                                   "best", "anet", "torch", "diff"))
    missed = 0
    for label, make in CASES:
        if ONLY not in label:
            continue
        src, fn, x, check = make(dir)
        name = src.split()[1]
        cmd = anet_cmd(anerun, dir, name, src, x, WARMUP, ITERS)
        one = anet_cmd(anerun, dir, name, src, x, 0, 1)
        base = min(run_anet(one)[1] for _ in range(2))   # open() and one evaluation
        am, tm, ac, tc = [], [], [], []
        for _ in range(ROUNDS):
            a, c, ay = run_anet(cmd)
            am.append(a)
            ac.append(max(c - base, 0) / (WARMUP + ITERS - 1))
            t, c, ty = run_torch(fn, x)
            tm.append(t)
            tc.append(c)
        diff = "%9.2e" % (np.abs(ay - ty).max() / np.abs(ty).max()) if check else "%9s" % "-"
        ratio = min(am) / min(tm)
        ok = ratio <= GOAL
        missed += not ok
        print("%-27s %8.2f %8.2f %8.2f %8.2f %6.2f %7.1f %7.1f %s  %s" % (
            label, min(am), np.median(am), min(tm), np.median(tm), ratio,
            ac[am.index(min(am))], tc[tm.index(min(tm))], diff, "ok" if ok else "MISSED"))
        sys.stdout.flush()
    print("\nload average %.2f at the end" % os.getloadavg()[0])
    print("w8a8: torch runs the dequantized fp32 weights with fp32 activations (no int8 conv "
          "on torch's CPU backend), so it has no diff")
    print("goal: anet / torch <= %.2f on every case   %s" % (GOAL, "MISSED" if missed else "ok"))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
