#!/usr/bin/env bash
# End-to-end check of a built image (cluster/image_build.sh):
#   cluster/image_check.sh [IMAGE]        # default mtrain:cpu
# 1. `mtrain --help`; 2. `mtrain validate recipes/digits_mlp.yaml`; 3. a 1-epoch run writing into a
# host folder mounted at /work/runs (its checkpoints/last.pt must appear on the host); 4. a Ray
# cluster of two containers on host networking (`mtrain ray-start` head and worker, one CPU each,
# loopback only, a token of their own) and a 2-trial digits study driven from the head
# (`podman exec`): both trials must complete, one on each node.
# Only the containers this script starts are stopped (named mtrain-check-<pid>-*); files stay in
# WORK_DIR (default a new /var/tmp/mtrain-image-check.XXXXXX). Prints each check's time.
# Exit: 0 all passed; 1 a check failed; 3 no engine or no image.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${1:-${IMAGE:-mtrain:cpu}}
if [[ -z ${ENGINE:-} ]]; then
  if command -v podman >/dev/null; then ENGINE=podman
  elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then ENGINE=docker
  else echo "image_check: no podman and no docker daemon" >&2; exit 3
  fi
fi
$ENGINE image inspect "$IMAGE" >/dev/null 2>&1 || {
  echo "image_check: no image $IMAGE (run cluster/image_build.sh)" >&2; exit 3; }
WORK_DIR=${WORK_DIR:-$(mktemp -d /var/tmp/mtrain-image-check.XXXXXX)}
mkdir -p "$WORK_DIR"
PREFIX=mtrain-check-$$
started=()
cleanup() {
  local name
  for name in "${started[@]}"; do
    $ENGINE stop -t 10 "$name" >/dev/null 2>&1 || true
    $ENGINE rm -f "$name" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

# Host networking (bridge networking leaves iptables chains behind on these VMs); /dev/shm
# large enough for Ray's object store.
RUN=($ENGINE run --rm --network host --shm-size=1g)
failed=0
results=()
now() { date +%s.%N; }
check() {  # check NAME COMMAND...: run it, time it, record PASS/FAIL
  local name=$1 t0 rc=0
  t0=$(now)
  shift
  echo "=== $name" >&2
  "$@" || rc=$?
  local took
  took=$(awk -v a="$t0" -v b="$(now)" 'BEGIN {printf "%.1f", b - a}')
  if [[ $rc -eq 0 ]]; then results+=("PASS  ${took}s  $name")
  else results+=("FAIL  ${took}s  $name (exit $rc)"); failed=1
  fi
}
fail() { echo "image_check: $*" >&2; return 1; }

check_help() {
  local out
  out=$("${RUN[@]}" "$IMAGE" --help) || return 1
  echo "$out" | head -25
  grep -q "run" <<<"$out" && grep -q "ray-start" <<<"$out" || fail "--help lists no run/ray-start"
}

check_validate() {
  "${RUN[@]}" "$IMAGE" validate recipes/digits_mlp.yaml
}

check_run() {
  local runs=$WORK_DIR/runs last
  mkdir -p "$runs"
  "${RUN[@]}" -v "$runs:/work/runs" "$IMAGE" \
    run recipes/digits_mlp.yaml train.epochs=1 output_dir=/work/runs || return 1
  last=$(find "$runs" -path '*/checkpoints/last.pt' | head -1)
  [[ -n $last ]] || fail "no checkpoints/last.pt under $runs"
  echo "on the host: $last ($(stat -c %s "$last") bytes)"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

nodes_alive() {  # the number of alive nodes the head's GCS knows (`ray status`: "Active:")
  # RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 for this CLI process only: without it Ray dials the
  # host's public address instead of 127.0.0.1 (see model_trainer/study/executors/ray_node.py).
  $ENGINE exec -e RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 "$PREFIX-head" \
    ray status --address="127.0.0.1:$PORT" 2>/dev/null \
    | awk '/^Active:/ {on = 1; next} /^[A-Z]/ {on = 0} on && / node_/ {n++} END {print n + 0}'
}

wait_nodes() {  # wait_nodes N SECONDS
  local deadline=$((SECONDS + $2))
  until [[ $(nodes_alive) -ge $1 ]]; do
    (( SECONDS < deadline )) || { fail "not $1 nodes after $2 s"; return 1; }
    $ENGINE container exists "$PREFIX-head" 2>/dev/null || [[ $ENGINE == docker ]] \
      || { fail "the head container is gone"; return 1; }
    sleep 2
  done
}

loopback_only() {  # every TCP socket the two nodes listen on is on 127.0.0.1 (host networking)
  if [[ $ENGINE != podman ]] || ! command -v ss >/dev/null; then
    echo "(listening addresses not checked: needs podman top and ss)"; return 0
  fi
  local pids
  pids=$(for c in "$PREFIX-head" "$PREFIX-worker"; do $ENGINE top "$c" hpid; done | grep -E '^[0-9]+$' | sort -u)
  ss -ltnpH | python3 -c '
import re, sys
pids = set(sys.argv[1].split())
found = sorted({line.split()[3] for line in sys.stdin
                if pids & set(re.findall(r"pid=([0-9]+),", line))})
others = [a for a in found if not a.startswith(("127.0.0.1:", "[::1]:", "[::ffff:127.0.0.1]:"))]
print(f"the nodes listen on {len(found)} TCP sockets, {len(others)} off loopback", *others)
sys.exit(1 if others or not found else 0)
' "$pids"
}

check_ray_cluster() {
  local runs=$WORK_DIR/cluster-runs ray=$WORK_DIR/ray t0
  mkdir -p "$runs" "$ray"
  PORT=$(free_port); local client_port; client_port=$(free_port)
  # The nodes' and the driver's token: one file, mounted read-only into every container.
  "${RUN[@]}" --entrypoint python "$IMAGE" -c \
    'from ray._private.authentication.authentication_token_generator import generate_new_authentication_token as g; print(g())' \
    >"$ray/auth_token" || return 1
  chmod 600 "$ray/auth_token"
  local common=(--network host --shm-size=1g -v "$ray:/ray:ro" -v "$runs:/work/runs"
                -e RAY_AUTH_MODE=token -e RAY_AUTH_TOKEN_PATH=/ray/auth_token
                -e RAY_USAGE_STATS_ENABLED=0)
  # --ray-client-server-port and --dashboard-agent-listen-port=0: Ray's fixed defaults (10001,
  # 52365) may be taken by other Ray processes on this host network.
  started+=("$PREFIX-head")
  $ENGINE run -d --name "$PREFIX-head" --hostname "$PREFIX-head" "${common[@]}" "$IMAGE" \
    ray-start --head --node-ip-address=127.0.0.1 --port="$PORT" --num-cpus=1 \
    --include-dashboard=false --ray-client-server-port="$client_port" \
    --dashboard-agent-listen-port=0 --object-store-memory=200000000 --block >/dev/null || return 1
  t0=$SECONDS
  wait_nodes 1 120 || { $ENGINE logs "$PREFIX-head" | tail -30; return 1; }
  echo "head up on 127.0.0.1:$PORT in $((SECONDS - t0)) s"
  started+=("$PREFIX-worker")
  $ENGINE run -d --name "$PREFIX-worker" --hostname "$PREFIX-worker" "${common[@]}" "$IMAGE" \
    ray-start --address="127.0.0.1:$PORT" --node-ip-address=127.0.0.1 --num-cpus=1 \
    --dashboard-agent-listen-port=0 --object-store-memory=200000000 --block >/dev/null || return 1
  t0=$SECONDS
  wait_nodes 2 120 || { $ENGINE logs "$PREFIX-worker" | tail -30; return 1; }
  echo "worker joined in $((SECONDS - t0)) s: $(nodes_alive) nodes"
  loopback_only || return 1
  # The driver runs on the head node (`podman exec`): a Ray driver talks to its node's raylet
  # through that node's /tmp/ray sockets, which a third container would not see.
  t0=$SECONDS
  $ENGINE exec "$PREFIX-head" \
    mtrain run recipes/digits_study.yaml "study.address=127.0.0.1:$PORT" study.concurrency=2 \
    train.epochs=1 'study.seeds=[0]' 'study.space.model.args.dropout={choice: [0.0]}' \
    output_dir=/work/runs || return 1
  echo "study ran in $((SECONDS - t0)) s"
  python3 - "$runs/digits-study" "$PREFIX" <<'EOF'
import json, sys
from datetime import datetime
from pathlib import Path
study, prefix = Path(sys.argv[1]), sys.argv[2]
trials = json.loads((study / "study_index.json").read_text())["trials"]
states = [t["state"] for t in trials]
hosts, spans = [], []
for t in trials:
    folder = study / t["trial_id"]
    hosts.append(json.loads((folder / "provenance.json").read_text()).get("host"))
    status = json.loads((folder / "status.json").read_text())
    began = datetime.fromisoformat(status["started_at"]).timestamp()
    spans.append((began, began + status["duration_s"]))
    assert (folder / "checkpoints" / "last.pt").exists(), f"{folder}: no checkpoints/last.pt"
print(f"trials: {len(trials)}, states: {states}, ran on: {hosts}")
overlap = spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1] if len(spans) == 2 else False
print(f"the two trials ran at the same time: {overlap}")
assert states == ["completed"] * 2, "expected exactly 2 completed trials"
assert sorted(hosts) == sorted([f"{prefix}-head", f"{prefix}-worker"]), \
    "expected one trial on each node (container)"
EOF
}

t_all=$SECONDS
echo "image_check: $IMAGE with $ENGINE, files in $WORK_DIR" >&2
check "mtrain --help" check_help
check "mtrain validate recipes/digits_mlp.yaml" check_validate
check "1-epoch run, checkpoints/last.pt on the host" check_run
check "2 containers as a Ray cluster, 2-trial study driven from the head" check_ray_cluster
cleanup
started=()
echo
echo "image_check: $IMAGE ($ENGINE), $((SECONDS - t_all)) s in all"
printf '%s\n' "${results[@]}"
exit $failed
