#!/usr/bin/env python3
"""The torch/cuBLAS anchor for `wideprobe bench matmul`: fp32 matmul with TF32 off,
timed with CUDA events, same shapes. Run in the same session as the wideprobe bench
and record both in docs/PERFORMANCE.md. Like `wideprobe bench matmul`, it reports a
no-op baseline (an empty event pair), GB/s of compulsory traffic (A, B read once, C
written once), and that as a fraction of a measured copy of two 64 MiB buffers.

usage: python3 benches/torch_matmul.py 4096 4096 4096 [repeats]
"""
import sys

import torch

m, n, k = (int(x) for x in sys.argv[1:4])
repeats = int(sys.argv[4]) if len(sys.argv) > 4 else 20
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
a = torch.rand(m, k, device="cuda") * 2 - 1
b = torch.rand(k, n, device="cuda") * 2 - 1
for _ in range(3):
    a @ b
torch.cuda.synchronize()


def timed(launch):
    """Seconds of each of `repeats` launches, sorted."""
    samples = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        launch()
        end.record()
        torch.cuda.synchronize()
        samples.append(start.elapsed_time(end) / 1e3)
    return sorted(samples)


times = timed(lambda: a @ b)
median = times[len(times) // 2]
noop = timed(lambda: None)
src = torch.empty(16 << 20, device="cuda")  # 64 MiB of f32, as in wideprobe's baseline
dst = torch.empty_like(src)
copy = timed(lambda: dst.copy_(src))
copy_gbs = 2 * src.numel() * 4 / copy[len(copy) // 2] * 1e-9
gbs = 4 * (m * k + k * n + m * n) / median * 1e-9
print(f"torch fp32 (TF32 off) {m}x{n}x{k} on {torch.cuda.get_device_name()}: "
      f"median {median*1e3:.3f} ms, min {times[0]*1e3:.3f} ms, "
      f"{2*m*n*k/median*1e-9:.1f} GFLOP/s median, {2*m*n*k/times[0]*1e-9:.1f} GFLOP/s best")
print(f"  {gbs:.2f} GB/s median ({100 * gbs / copy_gbs:.1f}% of the measured copy peak)")
print(f"  baseline: no-op {noop[len(noop) // 2]*1e6:.1f} us median; copy {copy_gbs:.1f} GB/s median")
