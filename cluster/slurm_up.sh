#!/usr/bin/env bash
# Start a one-node SLURM cluster (own munged, slurmctld, slurmd) whose config, state, logs and PIDs
# live in STATE_DIR. Idempotent: if this STATE_DIR's cluster is already up, only print the export line.
# Last line printed: export SLURM_CONF=STATE_DIR/slurm.conf
# Env: SLURM_CRED_EXPIRE (default 30): seconds a requeued job is held before it may start again
#      (Slurm's default is 120); MIN_JOB_AGE (default 3600): seconds finished jobs stay in scontrol/squeue;
#      SLURM_NO_CGROUP=1: skip the cgroup plugins (then --mem is accounted but not enforced).
set -euo pipefail

STATE_DIR=${1:?usage: slurm_up.sh STATE_DIR}
mkdir -p "$STATE_DIR"
STATE_DIR=$(cd "$STATE_DIR" && pwd)
CONF=$STATE_DIR/slurm.conf
export SLURM_CONF=$CONF
MUNGE_DIR=$STATE_DIR/munge
MUNGE_SOCK=$MUNGE_DIR/munge.socket
# A node name of its own per STATE_DIR: slurmd's cgroups (/sys/fs/cgroup/*/slurm_<node>) and the
# node then never collide with another cluster started by this script on the same machine.
NODE=mt-$(printf %s "$STATE_DIR" | md5sum | cut -c1-8)

alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null && grep -qa "$STATE_DIR" "/proc/$1/cmdline"; }
pid_of() { [[ -s $STATE_DIR/pids ]] && awk -v n="$1" '$1 == n {print $2}' "$STATE_DIR/pids"; }
node_up() { [[ $(timeout 5 sinfo --responding -h -n "$NODE" -o %T 2>/dev/null) =~ ^(idle|mixed|allocated|completing) ]]; }
healthy() { alive "$(pid_of slurmctld)" && alive "$(pid_of slurmd)" && node_up; }

if healthy; then
  echo "slurm: already running for $STATE_DIR ($(cat "$STATE_DIR/plugins"))"
  echo "export SLURM_CONF=$CONF"; exit 0
fi
if [[ -s $STATE_DIR/pids ]]; then   # half-up leftovers from an earlier run: clear them first
  "$(dirname "$0")/slurm_down.sh" "$STATE_DIR" >&2 || true
fi

# --- install ---------------------------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
  echo "slurm: installing slurm-wlm and munge with apt" >&2
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurm-wlm munge; } >&2; then
    echo "slurm: cannot install slurm-wlm/munge with apt-get (no root? no apt mirror?)" >&2; exit 3
  fi
fi
command -v slurmctld >/dev/null || { echo "slurm: slurmctld still missing after apt-get install" >&2; exit 3; }

# --- munge: a munged of our own, socket/pid/log in STATE_DIR/munge ----------------------------------
(( ${#MUNGE_SOCK} < 100 )) || { echo "slurm: STATE_DIR path too long for a unix socket: $MUNGE_SOCK" >&2; exit 2; }
if [[ ! -s /etc/munge/munge.key ]]; then
  mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key; chmod 600 /etc/munge/munge.key
fi
mkdir -p "$MUNGE_DIR"; chown munge:munge "$MUNGE_DIR"; chmod 755 "$MUNGE_DIR"
if ! munge -S "$MUNGE_SOCK" -n >/dev/null 2>&1; then   # not already running for this STATE_DIR
  runuser -u munge -- munged --socket="$MUNGE_SOCK" --pid-file="$MUNGE_DIR/munged.pid" \
    --log-file="$MUNGE_DIR/munged.log" --seed-file="$MUNGE_DIR/munged.seed"
fi
munge -S "$MUNGE_SOCK" -n | unmunge -S "$MUNGE_SOCK" >/dev/null

# --- slurm.conf ----------------------------------------------------------------------------------
read -r CTLD_PORT SLURMD_PORT < <(python3 -c '
import socket; a, b = socket.socket(), socket.socket(); a.bind(("127.0.0.1", 0)); b.bind(("127.0.0.1", 0))
print(a.getsockname()[1], b.getsockname()[1])')
MEM_MB=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
mkdir -p "$STATE_DIR/ctld" "$STATE_DIR/spool"

write_conf() {  # $1 = ProctrackType, $2 = TaskPlugin
  cat > "$CONF" <<EOF
ClusterName=mtrain
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCK,cred_expire=${SLURM_CRED_EXPIRE:-30}
StateSaveLocation=$STATE_DIR/ctld
SlurmdSpoolDir=$STATE_DIR/spool
SlurmctldPidFile=$STATE_DIR/slurmctld.pid
SlurmdPidFile=$STATE_DIR/slurmd.pid
SlurmctldLogFile=$STATE_DIR/slurmctld.log
SlurmdLogFile=$STATE_DIR/slurmd.log
MailProg=/bin/true
MpiDefault=none
CommunicationParameters=NoInAddrAny
ProctrackType=$1
TaskPlugin=$2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$(( MEM_MB / $(nproc) ))
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=5,bf_interval=5
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
KillWait=10
MinJobAge=${MIN_JOB_AGE:-3600}
ReturnToService=2
JobRequeue=1
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
NodeName=$NODE NodeHostname=$(hostname -s) NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$MEM_MB State=UNKNOWN
PartitionName=low Nodes=$NODE Default=YES PriorityTier=1 MaxTime=INFINITE State=UP
PartitionName=high Nodes=$NODE PriorityTier=10 MaxTime=INFINITE State=UP
EOF
  cat > "$STATE_DIR/cgroup.conf" <<EOF
ConstrainCores=yes
ConstrainRAMSpace=yes
EOF
}

# Start both daemons in the foreground (-D) in their own sessions, so their PIDs are ours to record.
start_daemons() {
  setsid slurmctld -D -f "$CONF" > "$STATE_DIR/slurmctld.out" 2>&1 < /dev/null &
  echo "slurmctld $!" >> "$STATE_DIR/pids"
  setsid slurmd -D -N "$NODE" -f "$CONF" > "$STATE_DIR/slurmd.out" 2>&1 < /dev/null &
  echo "slurmd $!" >> "$STATE_DIR/pids"
  for _ in $(seq 60); do   # 30 s
    node_up && return 0
    alive "$(pid_of slurmctld)" && alive "$(pid_of slurmd)" || return 1
    sleep 0.5
  done
  return 1
}

echo "munged $(cat "$MUNGE_DIR/munged.pid")" > "$STATE_DIR/pids"
t0=$EPOCHREALTIME
PLUGINS="proctrack/cgroup task/cgroup"
write_conf proctrack/cgroup task/cgroup
if [[ ${SLURM_NO_CGROUP:-0} == 1 ]] || ! start_daemons; then
  if [[ ${SLURM_NO_CGROUP:-0} != 1 ]]; then
    echo "slurm: daemons did not come up with cgroup plugins, falling back to linuxproc + task/none" >&2
    tail -5 "$STATE_DIR/slurmd.log" >&2 || true
  fi
  "$(dirname "$0")/slurm_down.sh" --keep-munge "$STATE_DIR" >&2 || true
  PLUGINS="proctrack/linuxproc task/none (no --mem enforcement)"
  write_conf proctrack/linuxproc task/none
  start_daemons || { echo "slurm: node not idle after 30 s; see $STATE_DIR/*.log" >&2; sinfo >&2 || true; exit 1; }
fi
echo "$PLUGINS" > "$STATE_DIR/plugins"
echo "slurm: up in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.1f", b - a}') s: node $NODE, $(nproc) CPUs, ${MEM_MB} MB, $PLUGINS, ctld port $CTLD_PORT"
echo "export SLURM_CONF=$CONF"
