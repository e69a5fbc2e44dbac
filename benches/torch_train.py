"""Reference timing of one full-batch gradient-descent step in PyTorch (fp32, TF32 off),
for docs/PERFORMANCE.md beside `wideprobe bench train` on the same machine.

    python3 benches/torch_train.py --depth 6 --width 500 --n 500 --repeat 20

Same network as wideprobe's: bias-free dense layers, relu_normalized, N(0, 1/fan_in)
init, MSE on logits (h = (1/2n) sum ||f - y||^2), synthetic inputs with d = 3072.
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
    print(json.dumps({
        "device": torch.cuda.get_device_name() if dev == "cuda" else "cpu",
        "depth": args.depth, "width": args.width, "n": args.n,
        "step_seconds_median": times[len(times) // 2],
    }))


if __name__ == "__main__":
    main()
