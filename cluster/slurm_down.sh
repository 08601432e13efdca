#!/usr/bin/env bash
# Stop the cluster that slurm_up.sh started for STATE_DIR: cancel its jobs, then TERM (KILL after 10 s)
# slurmd, slurmctld and munged by the PIDs in STATE_DIR/pids. --keep-munge leaves munged running.
set -euo pipefail

KEEP_MUNGE=0
[[ ${1:-} == --keep-munge ]] && { KEEP_MUNGE=1; shift; }
STATE_DIR=${1:?usage: slurm_down.sh [--keep-munge] STATE_DIR}
STATE_DIR=$(cd "$STATE_DIR" && pwd)
export SLURM_CONF=$STATE_DIR/slurm.conf
[[ -s $STATE_DIR/pids ]] || { echo "slurm: nothing to stop (no $STATE_DIR/pids)"; exit 0; }

pid_of() { awk -v n="$1" '$1 == n {print $2}' "$STATE_DIR/pids"; }
ours() {  # still the daemon we started? (guards against PID reuse)
  [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null && grep -qa -e "$STATE_DIR" "/proc/$1/cmdline"
}
stop() {  # $1 = name in the pids file
  local pid; pid=$(pid_of "$1")
  ours "$pid" || { echo "slurm: $1 was not running"; return 0; }
  kill -TERM "$pid"
  for _ in $(seq 20); do ours "$pid" || break; sleep 0.5; done
  if ours "$pid"; then echo "slurm: $1 ($pid) ignored TERM for 10 s, sending KILL"; kill -KILL "$pid"; fi
  echo "slurm: stopped $1 ($pid)"
}

# Cancel every job of this cluster and wait (up to KillWait + 10 s) until none is running or completing.
if ours "$(pid_of slurmctld)" && ours "$(pid_of slurmd)"; then
  jobs=$(timeout 10 squeue -h -o %A 2>/dev/null | tr '\n' ' ') || true
  [[ -n ${jobs// } ]] && { echo "slurm: cancelling jobs $jobs"; timeout 10 scancel $jobs || true; }
  for _ in $(seq 40); do
    [[ -z $(timeout 5 squeue -h -t RUNNING,COMPLETING,CONFIGURING,SUSPENDED -o %i 2>/dev/null) ]] && break
    sleep 0.5
  done
fi

stop slurmd
stop slurmctld
if (( KEEP_MUNGE )); then
  grep '^munged ' "$STATE_DIR/pids" > "$STATE_DIR/pids.tmp" || true; mv "$STATE_DIR/pids.tmp" "$STATE_DIR/pids"
else
  stop munged
  rm -f "$STATE_DIR/pids"
fi
