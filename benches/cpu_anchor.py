#!/usr/bin/env python3
"""CPU anchor for `wideprobe spectrum`: numpy (OpenBLAS/LAPACK) eigvalsh on the same
matrices, and the ratios.

For each order n: a symmetric matrix Q diag(lambda) Q^T with eigenvalues geometrically
spaced from 1 down to 1/kappa is written as .npy; numpy.linalg.eigvalsh is timed (best
of --repeat) and so is `wideprobe spectrum FILE --method M --precision P --json`, both
as the solver's own time (the JSON `seconds`: upload, GPU work, readbacks, host
tridiagonal) and as the whole process (start, adapter, pipelines included).

    python3 benches/cpu_anchor.py --bin target/release/wideprobe --n 300 1000 \
        --method dense --precision f64

Then, for the dense solver, its arithmetic rate beside the best f64 matmul rate our own
kernels reach on the same machine (`bench matmul --precision f64`, tiled and broadcast
variants, same run), and the
floors a one-stage Householder reduction cannot go below here: its memory traffic at the
measured copy peak, and its launches at the measured no-op launch cost.

With --quick, instead: `wideprobe run` of experiments/quick.yaml's grid on synthetic
data without infinite-width kernels (24 runs, 9 Gram spectra each), whole process,
beside a numpy script doing the same work (f32 forward of each run's network, every
layer's Gram matrix in f64 and all its eigenvalues).

    python3 benches/cpu_anchor.py --bin target/release/wideprobe --quick
"""
import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np


def matrix(n, kappa, seed):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = kappa ** (-np.arange(n) / max(n - 1, 1))
    a = (q * lam) @ q.T
    return (a + a.T) / 2, np.sort(lam)


def best_of(repeat, f):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t)
    return best, out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bin", default="target/release/wideprobe")
    p.add_argument("--n", type=int, nargs="+", default=[300, 1000])
    p.add_argument("--kappa", type=float, default=1e4)
    p.add_argument("--method", default="auto")
    p.add_argument("--precision", default="f64")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-rates", action="store_true",
                   help="skip the rate and floor lines (our f64 matmul, copy peak, launches)")
    p.add_argument("--quick", action="store_true",
                   help="time experiments/quick.yaml (synthetic, no infinite width) instead")
    args = p.parse_args()
    if args.quick:
        return quick(args)

    print(f"{'n':>6} {'numpy s':>10} {'wideprobe s':>12} {'process s':>10} "
          f"{'ratio':>8} {'ratio(proc)':>11} {'method':>8} {'sub/read':>9} {'|dlmin|/lmax':>13}")
    rates = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.n:
            a, lam = matrix(n, args.kappa, args.seed)
            path = os.path.join(tmp, f"a{n}.npy")
            np.save(path, a)
            t_np, ev = best_of(args.repeat, lambda: np.linalg.eigvalsh(a))
            cmd = [args.bin, "spectrum", path, "--method", args.method,
                   "--precision", args.precision, "--json"]

            def run():
                r = subprocess.run(cmd, capture_output=True, text=True)
                if r.returncode != 0:
                    sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr}")
                return json.loads(r.stdout)

            t_proc, res = best_of(args.repeat, run)
            solver = min(run()["seconds"] for _ in range(args.repeat))
            err = abs(res["smallest"][0]["value"] - ev[0]) / ev[-1]
            print(f"{n:>6} {t_np:>10.4f} {solver:>12.4f} {t_proc:>10.3f} "
                  f"{solver / t_np:>8.1f} {t_proc / t_np:>11.1f} {res['method']:>8} "
                  f"{res['submissions']:>4}/{res['readbacks']:<4} {err:>13.1e}")
            rates.append((n, t_np, solver, res["method"]))
    if not args.no_rates:
        print_rates(args, rates)


def print_rates(args, rates):
    """Where the dense solver stands against the machine: its arithmetic rate beside the
    best f64 matmul rate our own kernels reach here (same run), and the floors that the
    memory traffic and the launches of a one-stage Householder reduction put under its
    time. The reduction does 4n^3/3 useful flops; the wide one reads and writes each
    trailing-matrix element once per column (n^3/3 elements), and launches twice per
    column. Even a blocked (LAPACK dsytrd) one reads the trailing matrix once per column
    for its matrix-vector product (n^3/3 elements read)."""
    dense = [r for r in rates if r[3] == "dense"]
    if not dense:
        return
    n_mm = max(r[0] for r in dense)
    # The best of our variants: broadcast needs subgroups (absent on some adapters).
    runs = {}
    for variant in ["tiled", "broadcast"]:
        cmd = [args.bin, "bench", "matmul", "--precision", args.precision, "--m", str(n_mm),
               "--n", str(n_mm), "--k", str(n_mm), "--variant", variant, "--repeat", "3",
               "--json"]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            if variant == "tiled":
                sys.exit(f"{' '.join(cmd)} failed:\n{r.stderr}")
            print(f"(no {variant} matmul here: {r.stderr.strip()})")
            continue
        runs[variant] = json.loads(r.stdout)
    best = max(runs, key=lambda v: runs[v]["gflops_median"])
    mm = runs[best]
    element = 8 if args.precision != "f32" else 4
    peak = mm["baseline"]["copy_gbs"] * 1e9
    launch = mm["baseline"]["noop_launch"]["median_s"]
    rates_mm = ", ".join(f"{v} {runs[v]['gflops_median']:.2f}" for v in runs)
    print(f"\nour {args.precision} matmul {n_mm}^3 (GFLOP/s): {rates_mm}; the best, {best}, "
          f"below; copy peak {peak / 1e9:.2f} GB/s; no-op launch {launch * 1e6:.0f} us")
    print(f"{'n':>6} {'numpy GF/s':>11} {'solver GF/s':>12} {'of matmul':>10} "
          f"{'at matmul rate':>15} {'wide traffic':>13} {'blocked traffic':>16} "
          f"{'launches':>9}   (times in s; ratios to numpy in brackets)")
    for n, t_np, solver, _ in dense:
        flops = 4 * n**3 / 3
        at_mm = flops / (mm["gflops_median"] * 1e9)
        wide = n**3 / 3 * 2 * element / peak
        blocked = n**3 / 3 * element / peak
        launches = 2 * n * launch

        def cell(t, width):
            return f"{t:.3f} ({t / t_np:.1f}x)".rjust(width)

        print(f"{n:>6} {flops / t_np / 1e9:>11.2f} {flops / solver / 1e9:>12.2f} "
              f"{flops / solver / 1e9 / mm['gflops_median']:>9.0%} {cell(at_mm, 15)} "
              f"{cell(wide, 13)} {cell(blocked, 16)} {cell(launches, 9)}")


QUICK = """kind: conditioning_at_init
dataset: synthetic
precision: auto
input_norm: sqrt_fan_in
infinite_width: false
grid:
  width: [128, 384]
  depth: 8
  n: [32, 96]
  activation: relu_normalized
  renormalize: [true, false]
  seed: [0, 1, 2]
"""


def numpy_quick():
    """The same work as QUICK in numpy: f32 forward, f64 Gram per layer, eigvalsh."""
    mean, std = 1 / np.sqrt(2 * np.pi), np.sqrt(0.5 - 1 / (2 * np.pi))
    for width, n, renorm, seed in itertools.product([128, 384], [32, 96], [True, False],
                                                    [0, 1, 2]):
        rng = np.random.default_rng(seed)
        f = rng.standard_normal((n, 3072)).astype(np.float32) / np.float32(np.sqrt(3072))
        for layer in range(9):
            if layer > 0:
                w = (rng.standard_normal((width, f.shape[1])) / np.sqrt(f.shape[1]))
                f = (np.maximum(f @ w.astype(np.float32).T, 0) - mean) / std
                if renorm:
                    f = f / np.linalg.norm(f, axis=1, keepdims=True) * np.sqrt(width)
            g = f.astype(np.float64) @ f.astype(np.float64).T / f.shape[1]
            np.linalg.eigvalsh(g)


def quick(args):
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "quick.yaml")
        with open(config, "w") as fh:
            fh.write(QUICK)
        t_np, _ = best_of(args.repeat, numpy_quick)

        def run():
            out = os.path.join(tmp, "out")
            shutil.rmtree(out, ignore_errors=True)
            r = subprocess.run([args.bin, "run", config, "--out", out],
                               capture_output=True, text=True)
            if r.returncode != 0:
                sys.exit(f"wideprobe run failed:\n{r.stderr}")

        t_wp, _ = best_of(args.repeat, run)
    print(f"quick.yaml (synthetic, no infinite width, 24 runs): numpy {t_np:.3f} s, "
          f"wideprobe {t_wp:.3f} s (whole process, figures included), ratio {t_wp / t_np:.1f}")


if __name__ == "__main__":
    main()
