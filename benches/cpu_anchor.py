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
"""
import argparse
import json
import os
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
    args = p.parse_args()

    print(f"{'n':>6} {'numpy s':>10} {'wideprobe s':>12} {'process s':>10} "
          f"{'ratio':>8} {'ratio(proc)':>11} {'method':>8} {'sub/read':>9} {'|dlmin|/lmax':>13}")
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


if __name__ == "__main__":
    main()
