"""Reference timing of one full-batch gradient-descent step in PyTorch (fp32, TF32 off),
for docs/PERFORMANCE.md beside `wideprobe bench train` on the same machine.

    python3 benches/torch_train.py --depth 6 --width 500 --n 500 --repeat 20

Same network as wideprobe's: bias-free dense layers, relu_normalized, N(0, 1/fan_in)
init, MSE on logits (h = (1/2n) sum ||f - y||^2), synthetic inputs with d = 3072.
Like `wideprobe bench train` it also reports the step's GB/s of modelled compulsory
traffic, 4 (n d + 6 params + 2 activations) bytes, against a measured copy of two
64 MiB buffers, and a no-op baseline (an empty timed region).
"""
import argparse
import json
import math
import time

import torch


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--depth", type=int, default=6)
    p.add_argument("--width", type=int, default=500)
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--repeat", type=int, default=20)
    args = p.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    d, k = 3072, 10
    gen = torch.Generator(device="cpu").manual_seed(0)
    x = torch.randn(args.n, d, generator=gen).to(dev)
    y = torch.nn.functional.one_hot(torch.arange(args.n) % k, k).float().to(dev)
    shapes = [(args.width, d)] + [(args.width, args.width)] * (args.depth - 1) + [(k, args.width)]
    ws = [(torch.randn(o, i, generator=gen) / math.sqrt(i)).to(dev).requires_grad_() for o, i in shapes]
    mean, std = 1 / math.sqrt(2 * math.pi), math.sqrt(0.5 - 1 / (2 * math.pi))

    def step(lr=0.0):
        a = x
        for w in ws[:-1]:
            a = (torch.relu(a @ w.T) - mean) / std
        f = a @ ws[-1].T
        h = 0.5 * ((f - y) ** 2).sum() / args.n
        grads = torch.autograd.grad(h, ws)
        with torch.no_grad():
            for w, g in zip(ws, grads):
                w.sub_(lr * g)
        if dev == "cuda":
            torch.cuda.synchronize()

    step()
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    times.sort()
    median = times[len(times) // 2]
    params = sum(o * i for o, i in shapes)
    activations = args.n * (args.width * args.depth + k)
    step_bytes = 4 * (args.n * d + 6 * params + 2 * activations)
    noop_s, copy_gbs = baseline(dev, args.repeat)
    print(json.dumps({
        "device": torch.cuda.get_device_name() if dev == "cuda" else "cpu",
        "depth": args.depth, "width": args.width, "n": args.n,
        "step_seconds_median": median,
        "step_gbs": step_bytes / median * 1e-9,
        "step_fraction_of_copy_peak": step_bytes / median * 1e-9 / copy_gbs,
        "noop_seconds_median": noop_s,
        "copy_gbs": copy_gbs,
    }))


def baseline(dev, repeat):
    """Median seconds of an empty timed region, and GB/s of copying 64 MiB."""
    src = torch.empty(16 << 20, device=dev)
    dst = torch.empty_like(src)

    def median_seconds(launch):
        samples = []
        for _ in range(max(repeat, 1)):
            if dev == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            launch()
            if dev == "cuda":
                torch.cuda.synchronize()
            samples.append(time.perf_counter() - t)
        return sorted(samples)[len(samples) // 2]

    noop = median_seconds(lambda: None)
    copy = median_seconds(lambda: dst.copy_(src))
    return noop, 2 * src.numel() * 4 / copy * 1e-9


if __name__ == "__main__":
    main()
