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
cat > /tmp/fig1_slice.yaml <<'YAML'
kind: conditioning_at_init
dataset: cifar10
precision: auto
input_norm: sqrt_fan_in
infinite_width: false
grid:
  width: 2000
  depth: 30
  n: 1000
  activation: relu_normalized
  renormalize: true
  seed: 0
YAML
LIMIT=150 step $B run /tmp/fig1_slice.yaml --out /tmp/fig1_slice --offline
cp /tmp/fig1_slice/runs/*/layers.csv "$OUT/fig1_slice_layers.csv" 2>/dev/null
true
