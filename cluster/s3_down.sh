#!/usr/bin/env bash
# Stop the weed server started by s3_up.sh for STATE_DIR (TERM, then KILL after 10 s). Data stays in STATE_DIR/data.
set -euo pipefail

STATE_DIR=${1:?usage: s3_down.sh STATE_DIR}
STATE_DIR=$(cd "$STATE_DIR" && pwd)
[[ -s $STATE_DIR/pids ]] || { echo "s3: nothing to stop (no $STATE_DIR/pids)"; exit 0; }
pid=$(cat "$STATE_DIR/pids")

# Only signal the process if it is still our weed (the PID may have been reused).
if kill -0 "$pid" 2>/dev/null && grep -qa "$STATE_DIR" "/proc/$pid/cmdline"; then
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"   # its own process group (setsid in s3_up)
  for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then
    echo "s3: weed $pid ignored TERM for 10 s, sending KILL"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"
  fi
  echo "s3: stopped weed (pid $pid)"
else
  echo "s3: weed (pid $pid) was not running"
fi
rm -f "$STATE_DIR/pids" "$STATE_DIR/env" "$STATE_DIR/filer.sock" "$STATE_DIR/s3.sock"
