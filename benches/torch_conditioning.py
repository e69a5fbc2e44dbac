#!/usr/bin/env python3
"""GPU anchor for `wideprobe run experiments/fig1_conditioning.yaml`: the plain torch
script a researcher would write for the same work, timed end to end on the device.

For every run of the grid (width x n x activation x renormalize x seed, one depth):
forward through `depth` bias-free dense layers (N(0, 1/fan_in) weights, normalised
activation), and at the input and after every layer the Gram matrix G = F F^T / w in
float64 and all its eigenvalues (torch.linalg.eigvalsh), kappa = lmax / lmin. Inputs are
the first n CIFAR-10 training images (data_batch_1.bin, scaled by 1/sqrt(3072)) when
--data is given, else Gaussian. No infinite-width kernels (run wideprobe with
`infinite_width: false` beside it).

    python3 benches/torch_conditioning.py --data DIR --width 1000 2000 5000 \
        --n 100 200 500 1000 --depth 30 --seeds 3
"""
import argparse
import itertools
import math
import os
import time

import numpy as np
import torch


def inputs(data, n, dev):
    if data:
        raw = np.fromfile(os.path.join(data, "data_batch_1.bin"), dtype=np.uint8)
        x = raw.reshape(-1, 3073)[:n, 1:].astype(np.float32) / 255.0
        x = x - x.mean(axis=1, keepdims=True)
        x = x / np.linalg.norm(x, axis=1, keepdims=True) * math.sqrt(x.shape[1])
        return torch.from_numpy(x).to(dev)
    return torch.randn(n, 3072, device=dev)


def activation(name):
    if name == "relu_normalized":
        mean, std = 1 / math.sqrt(2 * math.pi), math.sqrt(0.5 - 1 / (2 * math.pi))
        return lambda z: (torch.relu(z) - mean) / std
    std = 0.6279  # sqrt(E[tanh(z)^2]), z ~ N(0, 1)
    return lambda z: torch.tanh(z) / std


def run(x, width, depth, act, renormalize, seed, dev):
    gen = torch.Generator(device=dev).manual_seed(seed)
    kappas = []
    f = x / math.sqrt(x.shape[1])
    for layer in range(depth + 1):
        if layer > 0:
            w = torch.randn(width, f.shape[1], device=dev, generator=gen) / math.sqrt(f.shape[1])
            f = act(f @ w.T)
            if renormalize:
                f = f / f.norm(dim=1, keepdim=True) * math.sqrt(f.shape[1])
        f64 = f.double()
        g = f64 @ f64.T / f.shape[1]
        ev = torch.linalg.eigvalsh(g)
        kappas.append(ev[-1] / ev[0])
    return torch.stack(kappas).cpu()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", help="folder with CIFAR-10 data_batch_1.bin")
    p.add_argument("--width", type=int, nargs="+", default=[1000, 2000, 5000])
    p.add_argument("--n", type=int, nargs="+", default=[100, 200, 500, 1000])
    p.add_argument("--depth", type=int, default=30)
    p.add_argument("--activation", nargs="+", default=["relu_normalized", "tanh_normalized"])
    p.add_argument("--renormalize", nargs="+", default=["true", "false"])
    p.add_argument("--seeds", type=int, default=3)
    args = p.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = False
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    grid = list(itertools.product(args.width, args.n, args.activation, args.renormalize,
                                  range(args.seeds)))
    torch.linalg.eigvalsh(torch.eye(8, dtype=torch.float64, device=dev))  # warm-up
    start = time.perf_counter()
    for width, n, act, renorm, seed in grid:
        run(inputs(args.data, n, dev), width, args.depth, activation(act), renorm == "true",
            seed, dev)
    if dev == "cuda":
        torch.cuda.synchronize()
    total = time.perf_counter() - start
    name = torch.cuda.get_device_name() if dev == "cuda" else "cpu"
    print(f"torch conditioning on {name}: {len(grid)} runs, depth {args.depth}, "
          f"{total:.2f} s ({total / len(grid):.3f} s per run)")


if __name__ == "__main__":
    main()
