#!/usr/bin/env python3
"""GPU anchor for `wideprobe spectrum`: torch.linalg.eigvalsh on the device (CUDA)
on the same matrices as benches/cpu_anchor.py (eigenvalues geometrically spaced from
1 to 1/kappa), timed with CUDA events after a warm-up, beside `wideprobe spectrum`
when --bin is given, and the ratios.

    python3 benches/torch_spectrum.py --n 300 1000 5000 --dtype float64 \
        --bin target/release/wideprobe --method dense
"""
import argparse
import json
import os
import subprocess
import tempfile

import numpy as np
import torch


def matrix(n, kappa, seed):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    lam = kappa ** (-np.arange(n) / max(n - 1, 1))
    a = (q * lam) @ q.T
    return (a + a.T) / 2


def time_eigvalsh(a, repeat):
    torch.linalg.eigvalsh(a)  # warm-up: cusolver handles, workspace
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeat):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        ev = torch.linalg.eigvalsh(a)
        end.record()
        torch.cuda.synchronize()
        best = min(best, start.elapsed_time(end) / 1e3)
    return best, ev


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, nargs="+", default=[300, 1000])
    p.add_argument("--kappa", type=float, default=1e4)
    p.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bin", help="wideprobe binary to compare with")
    p.add_argument("--method", default="auto")
    args = p.parse_args()
    dtype = getattr(torch, args.dtype)
    precision = "f64" if args.dtype == "float64" else "f32"
    print(f"device {torch.cuda.get_device_name()}, {args.dtype}")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.n:
            host = matrix(n, args.kappa, args.seed)
            a = torch.tensor(host, dtype=dtype, device="cuda")
            t, ev = time_eigvalsh(a, args.repeat)
            line = f"n={n:>5}: torch eigvalsh {t * 1e3:9.3f} ms"
            if args.bin:
                path = os.path.join(tmp, f"a{n}.npy")
                np.save(path, host)
                cmd = [args.bin, "spectrum", path, "--method", args.method,
                       "--precision", precision, "--json"]
                runs = [json.loads(subprocess.run(cmd, capture_output=True, text=True,
                                                  check=True).stdout)
                        for _ in range(args.repeat)]
                best = min(r["seconds"] for r in runs)
                r = runs[0]
                err = abs(r["smallest"][0]["value"] - ev[0].item()) / ev[-1].item()
                line += (f", wideprobe {r['method']} {best * 1e3:9.3f} ms "
                         f"(ratio {best / t:6.1f}, {r['submissions']} submissions, "
                         f"{r['readbacks']} readbacks), |dlmin|/lmax {err:.1e}")
            print(line)


if __name__ == "__main__":
    main()
