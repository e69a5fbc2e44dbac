#!/usr/bin/env bash
# A single-node Slurm cluster on localhost, for CI and the cluster tests.
#
# Installs Debian's slurm-wlm and munge when missing, creates a munge key, writes a
# minimal /etc/slurm/slurm.conf (no cgroups: proctrack/linuxproc, task/none) and starts
# munged, slurmctld and slurmd as plain daemons (no systemd needed), then waits until
# the node is idle. Safe to run twice: running daemons are kept, unless the config
# changed, in which case they are restarted. Stop them with .ci/slurm/stop.sh.
#
# Must run as root (or with passwordless sudo). Environment:
#   WIDEPROBE_SLURM_PARTITION  partition name (default: debug)
#   WIDEPROBE_SLURM_FORCE=1    overwrite a slurm.conf this script did not write
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=common.sh
. "$here/common.sh"
partition="${WIDEPROBE_SLURM_PARTITION:-debug}"
conf=/etc/slurm/slurm.conf
marker="# Written by wideprobe .ci/slurm/start.sh"
logdir=/var/log/slurm

require_root "$0" " (installs packages, starts daemons)" "$@"

# Package installation. A policy-rc.d keeps the packages' maintainer scripts from
# trying to start the services themselves (there may be no init system to do it).
install_packages() {
    local missing=()
    command -v munged >/dev/null || missing+=(munge)
    command -v slurmctld >/dev/null || missing+=(slurmctld)
    command -v slurmd >/dev/null || missing+=(slurmd)
    command -v sbatch >/dev/null || missing+=(slurm-client)
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "== installing ${missing[*]} (apt-get)"
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        made_policy=1
    fi
    local rc=0
    {
        apt-get update -qq &&
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                munge slurm-wlm slurmctld slurmd slurm-client >/dev/null
    } || rc=$?
    [ "$made_policy" -eq 1 ] && rm -f "$policy"
    if [ "$rc" -ne 0 ]; then
        echo "error: apt-get could not install munge and slurm-wlm (exit $rc); check the network to the Debian mirrors and 'apt-get install slurm-wlm munge' by hand" >&2
        exit 1
    fi
}

# A process named $2 whose pid is in file $1.
alive() {
    local pid
    [ -s "$1" ] || return 1
    pid="$(cat "$1")"
    [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ]
}

start_munge() {
    install -d -m 0700 -o munge -g munge /etc/munge /var/lib/munge /var/log/munge
    install -d -m 0755 -o munge -g munge /run/munge
    if [ ! -s /etc/munge/munge.key ]; then
        echo "== creating the munge key"
        if command -v mungekey >/dev/null; then
            mungekey --create --keyfile=/etc/munge/munge.key
        else
            dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
        fi
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
    if alive /run/munge/munged.pid munged && munge -n </dev/null | unmunge >/dev/null 2>&1; then
        return 0
    fi
    echo "== starting munged"
    rm -f /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do
        munge -n </dev/null | unmunge >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "error: munged does not answer; see /var/log/munge/munged.log" >&2
    exit 1
}

# The node's CPUs and memory as slurmd sees them (configuring more than the hardware
# has would drain the node), with a little memory kept back for the system.
write_conf() {
    local host cpus mem_mb gres_line="" gres_types=""
    host="$(hostname -s)"
    cpus="$(nproc --all)"
    mem_mb="$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.95 }' /proc/meminfo)"
    local gpus
    gpus="$(compgen -G '/dev/nvidia[0-9]*' | wc -l || true)"
    if [ "${gpus:-0}" -gt 0 ]; then
        gres_types="GresTypes=gpu"
        gres_line=" Gres=gpu:$gpus"
        {
            echo "$marker"
            echo "NodeName=$host Name=gpu File=/dev/nvidia[0-$((gpus - 1))]"
        } >"$rundir/gres.conf.new"
    fi
    cat >"$rundir/slurm.conf.new" <<EOF
$marker
ClusterName=wideprobe
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=60
MinJobAge=300
KillWait=10
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$rundir/slurmctld.pid
SlurmdPidFile=$rundir/slurmd.pid
SlurmctldLogFile=$logdir/slurmctld.log
SlurmdLogFile=$logdir/slurmd.log
$gres_types
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb$gres_line State=UNKNOWN
PartitionName=$partition Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

# Installs the new config; returns 0 when it changed.
install_conf() {
    if [ -e "$conf" ] && ! head -n1 "$conf" | grep -qxF "$marker" && [ "${WIDEPROBE_SLURM_FORCE:-0}" != 1 ]; then
        echo "error: $conf exists and was not written by this script; move it away or set WIDEPROBE_SLURM_FORCE=1 to replace it" >&2
        exit 1
    fi
    local changed=1
    cmp -s "$rundir/slurm.conf.new" "$conf" && changed=0
    mv "$rundir/slurm.conf.new" "$conf"
    if [ -e "$rundir/gres.conf.new" ]; then
        cmp -s "$rundir/gres.conf.new" /etc/slurm/gres.conf || changed=1
        mv "$rundir/gres.conf.new" /etc/slurm/gres.conf
    fi
    return $((1 - changed))
}

wait_idle() {
    local host state
    host="$(hostname -s)"
    for _ in $(seq 120); do
        state="$(sinfo -h -n "$host" -o '%T' 2>/dev/null | head -n1 || true)"
        case "$state" in
        idle | mixed | allocated | completing)
            echo "== slurm is up: node $host is $state (partition $partition)"
            return 0
            ;;
        drain* | down*)
            # Left over from an earlier run of the daemons: bring it back.
            scontrol update NodeName="$host" State=RESUME >/dev/null 2>&1 || true
            ;;
        esac
        sleep 0.5
    done
    echo "error: the node never became idle (last state: '${state:-no answer}'); see $logdir/slurmctld.log and $logdir/slurmd.log" >&2
    sinfo -R >&2 || true
    exit 1
}

install_packages
install -d -m 0755 /etc/slurm "$logdir" "$rundir" /var/spool/slurmctld /var/spool/slurmd
start_munge
write_conf
if install_conf; then
    echo "== slurm.conf changed: (re)starting the Slurm daemons"
    "$here/stop.sh" --slurm-only
fi
if ! alive "$rundir/slurmctld.pid" slurmctld; then
    echo "== starting slurmctld"
    slurmctld
fi
if ! alive "$rundir/slurmd.pid" slurmd; then
    echo "== starting slurmd"
    slurmd
fi
wait_idle
