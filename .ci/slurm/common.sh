# Sourced by start.sh and stop.sh: what both need before they do anything.
# shellcheck shell=bash

export PATH="$PATH:/usr/sbin:/sbin"
rundir=/run/wideprobe-slurm

# require_root SCRIPT REASON ARGS...: carries on as root, re-running SCRIPT with ARGS
# through passwordless sudo where that is how root is had; otherwise says so and exits.
require_root() {
    local script="$1" reason="$2"
    shift 2
    [ "$(id -u)" -eq 0 ] && return 0
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        exec sudo -n -E "$script" "$@"
    fi
    echo "error: .ci/slurm/$(basename "$script") must run as root$reason; run it with sudo" >&2
    exit 1
}
