#!/usr/bin/env python3
"""Rounding of the f32 forward pass, wideprobe's against numpy's (issue 14, item 2).

For each run folder of a conditioning sweep written with `save_tensors: true`, rebuild
the network from its saved inputs and weights, run the forward pass in f64 (the
reference) and in f32 with numpy (OpenBLAS sgemm), and compare with the reference the
normalised Gram matrices Ĝ_l = F_l F_lᵀ / w of every layer: wideprobe's (gram_<l>.npy,
from its f32 features) and numpy's f32 ones. Prints, per run and layer, the relative
Frobenius error ‖Ĝ − Ĝ_ref‖_F / ‖Ĝ_ref‖_F of each and their ratio.

    python3 benches/forward_accuracy.py OUT/runs/*/            # every run of a sweep
    python3 benches/forward_accuracy.py --layers 10,20,30 OUT/runs/w1000_*
"""

import argparse
import json
import math
import pathlib
import re
import sys

import numpy as np

RELU_NORMALIZED_MEAN = 0.3989422804014327
RELU_NORMALIZED_STD = 0.5838193701035489
TANH_NORMALIZED_DIVISOR = 0.627928730349107


def activation(name, z):
    if name == "relu":
        return np.maximum(z, 0)
    if name == "tanh":
        return np.tanh(z)
    if name == "relu_normalized":
        return (np.maximum(z, 0) - z.dtype.type(RELU_NORMALIZED_MEAN)) / z.dtype.type(
            RELU_NORMALIZED_STD
        )
    if name == "tanh_normalized":
        return np.tanh(z) / z.dtype.type(TANH_NORMALIZED_DIVISOR)
    raise ValueError(f"unknown activation {name}")


def grams(x, weights, act, renormalize, dtype):
    """Ĝ of every hidden layer (1-based), computed in f64 from features in `dtype`."""
    a = x.astype(dtype)
    out = {}
    for l, w in enumerate(weights[:-1], start=1):
        z = a @ w.astype(dtype).T
        a = activation(act, z)
        if renormalize:
            norms = np.sqrt((a.astype(np.float64) ** 2).sum(axis=1, keepdims=True))
            a = (a / norms.astype(dtype) * dtype(math.sqrt(a.shape[1]))).astype(dtype)
        f = a.astype(np.float64)
        out[l] = f @ f.T / f.shape[1]
    return out


def rel(g, ref):
    return float(np.linalg.norm(g - ref) / np.linalg.norm(ref))


def run_settings(run_dir):
    result = json.loads((run_dir / "result.json").read_text())
    settings = result.get("settings", {})
    point = settings.get("run", settings)
    act = point.get("activation")
    renorm = point.get("renormalize")
    if act is None or renorm is None:  # fall back on the run id
        m = re.search(r"_(relu|tanh)(_normalized)?_(renorm|plain)_", run_dir.name)
        act = m.group(1) + (m.group(2) or "")
        renorm = m.group(3) == "renorm"
    return act, bool(renorm)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=pathlib.Path)
    p.add_argument("--layers", help="comma-separated layers to print (default: all)")
    args = p.parse_args()
    show = {int(s) for s in args.layers.split(",")} if args.layers else None
    print("run\tlayer\twideprobe_f32\tnumpy_f32\tratio")
    worst = 0.0
    for run_dir in args.runs:
        tensors = run_dir / "tensors"
        if not (tensors / "inputs.npy").exists():
            print(f"{run_dir}: no tensors/ (run with save_tensors: true)", file=sys.stderr)
            continue
        act, renorm = run_settings(run_dir)
        x = np.load(tensors / "inputs.npy")
        weights = []
        while (tensors / f"weights_{len(weights) + 1}.npy").exists():
            weights.append(np.load(tensors / f"weights_{len(weights) + 1}.npy"))
        ref = grams(x, weights, act, renorm, np.float64)
        ours32 = grams(x, weights, act, renorm, np.float32)
        for l in sorted(ref):
            path = tensors / f"gram_{l}.npy"
            if not path.exists() or (show and l not in show):
                continue
            e_wp = rel(np.load(path), ref[l])
            e_np = rel(ours32[l], ref[l])
            ratio = e_wp / e_np if e_np > 0 else float("inf")
            worst = max(worst, ratio)
            print(f"{run_dir.name}\t{l}\t{e_wp:.2e}\t{e_np:.2e}\t{ratio:.2f}")
    print(f"# worst ratio wideprobe/numpy: {worst:.2f}")


if __name__ == "__main__":
    main()
