# Sourced by the device scripts: the binary, $OUT, the data, and `step` (a command
# with its exit status and wall time, stopped after $LIMIT seconds, default 90).
B=${B:-./.gpubin/wideprobe}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
export WIDEPROBE_DATA=$PWD/.gpudata PYTHONUNBUFFERED=1
step() { echo "== $*"; local t0=$(date +%s%N); timeout "${LIMIT:-90}" "$@"; echo "rc $? wall $(( ($(date +%s%N) - t0) / 1000000 )) ms"; }
date -u; nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
# A conditioning sweep on CIFAR-10 without infinite-width kernels, timed, into /tmp/slice:
#   slice WIDTH DEPTH "N, N, ..." ACTIVATION RENORMALIZE "SEED, ..."
slice() {  # width depth n-list activation renormalize seeds
cat > /tmp/slice.yaml <<YAML
kind: conditioning_at_init
dataset: cifar10
precision: auto
input_norm: sqrt_fan_in
infinite_width: false
grid:
  width: $1
  depth: $2
  n: [$3]
  activation: $4
  renormalize: $5
  seed: [$6]
YAML
rm -rf /tmp/slice; LIMIT=150 step $B run /tmp/slice.yaml --out /tmp/slice --offline
}
