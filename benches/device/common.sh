# Sourced by the device scripts: the binary, $OUT, the data, and `step` (a command
# with its exit status and wall time, stopped after $LIMIT seconds, default 90).
B=${B:-./.gpubin/wideprobe}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
export WIDEPROBE_DATA=$PWD/.gpudata PYTHONUNBUFFERED=1
step() { echo "== $*"; local t0=$(date +%s%N); timeout "${LIMIT:-90}" "$@"; echo "rc $? wall $(( ($(date +%s%N) - t0) / 1000000 )) ms"; }
date -u; nvidia-smi --query-gpu=name,driver_version,clocks.max.sm --format=csv,noheader
