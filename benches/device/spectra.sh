#!/usr/bin/env bash
# Device check for issue 11 (dense spectra on a GPU): wideprobe beside torch in one run.
# Carried: .gl (../shared/tools/gpu-prep), .gpubin/wideprobe (release build), .gpudata
# (CIFAR-10 data_batch_1.bin).   source .gl/activate; bash benches/device/spectra.sh
set -u
. "$(dirname "$0")/common.sh"
LIMIT=150 step python3 benches/torch_spectrum.py --n 1000 2000 5000 --dtype float64 --repeat 3 --bin $B --method dense
LIMIT=60 step python3 benches/torch_spectrum.py --n 1000 5000 --dtype float32 --repeat 3 --bin $B --method dense
# The two-stage reduction (full -> band on the GPU, band -> tridiagonal on the host),
# which auto takes on CPU adapters only until this comparison says otherwise; it takes
# orders up to 5734 (two_stage::MAX_ORDER, from lavapipe's loop cap), hence 4000.
WIDEPROBE_DENSE_REDUCTION=two-stage LIMIT=90 step python3 benches/torch_spectrum.py --n 1000 2000 4000 --dtype float64 --repeat 3 --bin $B --method dense
step $B bench spectrum --n 2000 --kappa 1e4 --method lanczos
# Lanczos's products with rows per workgroup (the CPU adapters' choice) beside the default.
WIDEPROBE_GEMV=rows step $B bench spectrum --n 2000 --kappa 1e4 --method lanczos
step $B bench matmul --m 2048 --n 2048 --k 2048 --precision f64 --repeat 10
step $B bench matmul --m 96 --n 384 --k 3072 --layout nt --repeat 20
slice 2000 30 1000 relu_normalized true 0
LIMIT=60 step python3 benches/torch_conditioning.py --data .gpudata --width 2000 --n 1000 --depth 30 --activation relu_normalized --renormalize true --seeds 1
slice 2000 30 "100, 200, 500, 1000" relu_normalized true "0, 1"
cp /tmp/slice/layers.csv "$OUT/slice_layers.csv" 2>/dev/null
LIMIT=60 step python3 benches/torch_conditioning.py --data .gpudata --width 2000 --n 100 200 500 1000 --depth 30 --activation relu_normalized --renormalize true --seeds 2
true
