#!/usr/bin/env bash
# Stops the local cluster that .ci/slurm/start.sh started: slurmd, slurmctld, then
# munged (kept with --slurm-only). Each daemon is found by its pid file, never by name.
# The packages, config and munge key stay, so start.sh brings it back quickly.
set -euo pipefail

export PATH="$PATH:/usr/sbin:/sbin"
rundir=/run/wideprobe-slurm

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        exec sudo -n -E "$0" "$@"
    fi
    echo "error: .ci/slurm/stop.sh must run as root; run it with sudo" >&2
    exit 1
fi

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
