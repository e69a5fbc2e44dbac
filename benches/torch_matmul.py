#!/usr/bin/env python3
"""The torch/cuBLAS anchor for `wideprobe bench matmul`: fp32 matmul with TF32 off,
timed with CUDA events, same shapes. Run in the same session as the wideprobe bench
and record both in docs/PERFORMANCE.md.

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
times = []
for _ in range(repeats):
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    a @ b
    end.record()
    torch.cuda.synchronize()
    times.append(start.elapsed_time(end) / 1e3)
times.sort()
median = times[len(times) // 2]
print(f"torch fp32 (TF32 off) {m}x{n}x{k} on {torch.cuda.get_device_name()}: "
      f"median {median*1e3:.3f} ms, min {times[0]*1e3:.3f} ms, "
      f"{2*m*n*k/median*1e-9:.1f} GFLOP/s median, {2*m*n*k/times[0]*1e-9:.1f} GFLOP/s best")
