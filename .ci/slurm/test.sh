#!/usr/bin/env bash
# The Slurm end-to-end test: starts the local single-node cluster (installing Slurm
# and munge when missing), then runs the ignored test in tests/cluster.rs that submits
# a tiny sweep as a 4-task job array, cancels a task mid-run, resubmits it, waits for
# the merge job and compares the merged tables with a single-process run.
# Leaves the cluster running; .ci/slurm/stop.sh stops it. Needs root (or sudo).
set -euo pipefail
cd "$(dirname "$0")/../.."

export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
export CARGO_TERM_COLOR=never
export PATH="$PATH:/usr/sbin:/sbin"

.ci/slurm/start.sh

echo "== Slurm end-to-end test (tests/cluster.rs)"
WIDEPROBE_SLURM_TEST=1 cargo test --test cluster -- --ignored --nocapture 2>&1
