#!/usr/bin/env bash
# Stops the local cluster that .ci/slurm/start.sh started: slurmd, slurmctld, then
# munged (kept with --slurm-only). Each daemon is found by its pid file, never by name.
# The packages, config and munge key stay, so start.sh brings it back quickly.
set -euo pipefail

# shellcheck source=common.sh
. "$(cd "$(dirname "$0")" && pwd)/common.sh"

require_root "$0" "" "$@"

# stop PIDFILE NAME: SIGTERM, wait up to 10 s, then SIGKILL.
stop() {
    local pid
    [ -s "$1" ] || return 0
    pid="$(cat "$1")"
    if [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]; then
        echo "== stopping $2 ($pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 100); do
            [ -d "/proc/$pid" ] || break
            sleep 0.1
        done
        if [ -d "/proc/$pid" ]; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$1"
}

stop "$rundir/slurmd.pid" slurmd
stop "$rundir/slurmctld.pid" slurmctld
if [ "${1:-}" != "--slurm-only" ]; then
    stop /run/munge/munged.pid munged
fi
