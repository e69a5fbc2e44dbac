#!/usr/bin/env bash
# One prepared device check (the `device` tool's GPU machine): wideprobe's benches
# beside their torch anchors in the same run. Needs, carried: .gl (../shared/tools/gpu-prep),
# .gpubin/wideprobe (a release build), .gpudata (CIFAR-10 data_batch_1.bin).
#   source .gl/activate; bash benches/device/baseline.sh      (writes $OUT/*.log)
set -u
. "$(dirname "$0")/common.sh"
$B info 2>&1 | head -20
step $B bench matmul --m 4096 --n 4096 --k 4096 --variant tiled --repeat 20
step python3 benches/torch_matmul.py 4096 4096 4096 20
step $B bench train --depth 6 --width 500 --n 500 --repeat 20
step python3 benches/torch_train.py --depth 6 --width 500 --n 500 --repeat 20
step $B bench lanczos --n 1000 --kappa 1e4
LIMIT=150 step python3 benches/torch_spectrum.py --n 1000 --dtype float64 --bin $B --method dense
slice 2000 30 1000 relu_normalized true 0
cp /tmp/slice/layers.csv "$OUT/fig1_slice_layers.csv" 2>/dev/null
true
