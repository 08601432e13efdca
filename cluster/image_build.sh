#!/usr/bin/env bash
# Build the project's image from the current working tree with podman (docker where podman is
# missing and a docker daemon answers), on a machine that cannot pull public base images:
#   cluster/image_build.sh                       # -> mtrain:cpu (torch's CPU build, or a failed build)
#   TORCH_VARIANT=cuda cluster/image_build.sh    # -> mtrain:cuda (PyPI's CUDA build of torch)
# Steps: install podman/runc/debootstrap with apt if missing; configure podman for this VM (runc,
# ulimits, host network) if not done; make a Debian bookworm base with debootstrap and
# `podman import` it as $BASE_IMAGE once (cached); `podman build` with that base, this machine's
# CA bundle, pip configuration and local wheel folders mounted read-only into the build, so pip
# installs from the registries this machine reaches. Prints the build time and the image size.
# Env: TORCH_VARIANT (cpu|cuda, default cpu); IMAGE (default mtrain:$TORCH_VARIANT);
#      BASE_IMAGE (default localhost/mtrain-base:bookworm; built here only when it is ours and
#      missing); DEBIAN_MIRROR (default: apt's Debian mirror); TORCH_CPU_INDEX (default PyTorch's
#      CPU index; empty: none); TORCH_WHEELS (a host folder with torch/torchvision +cpu wheels:
#      mounted and used as find-links); ENGINE (podman|docker).
# Exit: 0 built; 1 build failed (e.g. no CPU build of torch reachable); 3 no engine/base possible.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VARIANT=${TORCH_VARIANT:-cpu}
IMAGE=${IMAGE:-mtrain:$TORCH_VARIANT}
OUR_BASE=localhost/mtrain-base:bookworm
BASE_IMAGE=${BASE_IMAGE:-$OUR_BASE}
TORCH_CPU_INDEX=${TORCH_CPU_INDEX-https://download.pytorch.org/whl/cpu}
TORCH_WHEELS=${TORCH_WHEELS:-}
log() { echo "image_build: $*" >&2; }

apt_install() {
  log "installing $* with apt"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"; } >&2
}

# --- engine -------------------------------------------------------------------------------------
ENGINE=${ENGINE:-}
if [[ -z $ENGINE ]]; then
  if command -v podman >/dev/null; then ENGINE=podman
  elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then ENGINE=docker
  elif apt_install podman runc; then ENGINE=podman
  else log "no podman (apt-get install podman failed) and no docker daemon"; exit 3
  fi
fi

if [[ $ENGINE == podman ]]; then
  command -v runc >/dev/null || apt_install runc || { log "cannot install runc"; exit 3; }
  # This VM: crun refuses its cgroup layout; the default ulimits exceed its hard limits; bridge
  # networking leaves iptables chains and ip_forward=1 behind. A drop-in, written once.
  conf=/etc/containers/containers.conf.d/50-mtrain.conf
  if [[ ! -e $conf ]] && ! grep -qs '^[[:space:]]*default_ulimits' /etc/containers/containers.conf; then
    log "configuring podman: $conf (runc, nofile/nproc 16384, host network)"
    mkdir -p "$(dirname "$conf")"
    cat >"$conf" <<'EOF'
# Written by model_trainer's cluster/image_build.sh for this VM (see the script).
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=16384:16384"]
netns = "host"

[engine]
runtime = "runc"
EOF
  fi
  if [[ $(podman info --format '{{.Host.OCIRuntime.Name}}' 2>/dev/null) != runc ]]; then
    log "podman does not use runc: put runtime = \"runc\" under [engine] in /etc/containers/containers.conf"
    exit 3
  fi
fi

# --- base image ---------------------------------------------------------------------------------
if [[ $BASE_IMAGE == "$OUR_BASE" ]] && ! $ENGINE image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || apt_install debootstrap || { log "cannot install debootstrap"; exit 3; }
  mirror=${DEBIAN_MIRROR:-$(grep -hsE '^[[:space:]]*(URIs:|deb[[:space:]])' /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources \
    | tr ' \t' '\n\n' | grep -E '^(https?|file)://.*/debian/?$' | head -1 || true)}
  mirror=${mirror:-http://deb.debian.org/debian}
  rootfs=$(mktemp -d /var/tmp/mtrain-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  log "debootstrap bookworm from $mirror into $rootfs"
  t0=$SECONDS
  debootstrap --variant=minbase --include=python3.11-venv,python3-distutils,ca-certificates \
    bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || { tail -20 "$rootfs.log" >&2; log "debootstrap failed"; exit 3; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs.log"
  tar -C "$rootfs" -c . | $ENGINE import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"; trap - EXIT
  log "base $BASE_IMAGE made in $((SECONDS - t0)) s"
fi

# --- what pip in the build may use --------------------------------------------------------------
# This machine's pip settings (files and PIP_* variables, as `pip config list` merges them) go
# into one pip.conf mounted at /etc/pip.conf; every local folder or file they name (find-links,
# file:// indexes, constraints, the CA bundle) is mounted read-only at the same path.
build_args=(--build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "TORCH_VARIANT=$TORCH_VARIANT"
            --build-arg "TORCH_CPU_INDEX=$TORCH_CPU_INDEX")
mounts=()
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mount_ro() {  # once per path
  [[ -e $1 && " ${mounts[*]} " != *" $1:$1:ro "* ]] && mounts+=(-v "$1:$1:ro") || true
}
hostpy=$(command -v python3 || true)
if [[ -n $hostpy ]] && "$hostpy" -m pip --version >/dev/null 2>&1; then
  "$hostpy" -m pip config list 2>/dev/null | "$hostpy" -c '
import configparser, re, sys
conf = configparser.ConfigParser(interpolation=None)
env = {}
for line in sys.stdin:
    m = re.match(r"(:env:|[a-z_-]+)\.([a-z0-9_-]+)=(.*)$", line.strip())
    if not m:
        continue
    section, key, value = m.groups()
    value = value.strip("\x27\"")
    if section == ":env:":
        env[key] = value
    else:
        conf.setdefault(section, {})[key] = value
for key, value in env.items():          # PIP_* variables win, as in pip
    conf.setdefault("global", {})[key] = value
conf.write(open(sys.argv[1], "w"))
for values in (v for s in conf.sections() for v in conf[s].values()):
    for value in values.split():        # local paths: print them, to be mounted
        if value.startswith(("/", "file:///")):
            print(value.removeprefix("file://"))
' "$tmp/pip.conf" >"$tmp/paths"
  mounts+=(-v "$tmp/pip.conf:/etc/pip.conf:ro")
  while read -r path; do
    [[ $path == */simple || $path == */simple/ ]] && path=$(dirname "${path%/}")  # files beside simple/
    mount_ro "$path"
  done < <(sort -u "$tmp/paths")
  log "pip settings for the build: $(grep -vc '^\s*$' "$tmp/pip.conf") lines from this machine's pip config"
fi
mount_ro /etc/ssl/certs/ca-certificates.crt
if [[ -n $TORCH_WHEELS ]]; then
  [[ -d $TORCH_WHEELS ]] || { log "TORCH_WHEELS=$TORCH_WHEELS is no folder"; exit 3; }
  mounts+=(-v "$(cd "$TORCH_WHEELS" && pwd):/opt/torch-wheels:ro")
  build_args+=(--build-arg TORCH_FIND_LINKS=/opt/torch-wheels)
fi
if [[ $ENGINE == docker && ${#mounts[@]} -gt 0 ]]; then
  log "docker build cannot mount folders: pip in the build uses its defaults (PyPI, TORCH_CPU_INDEX)"
  mounts=()
fi

# --- build --------------------------------------------------------------------------------------
log "$ENGINE build -t $IMAGE (TORCH_VARIANT=$TORCH_VARIANT, BASE_IMAGE=$BASE_IMAGE)"
t0=$(date +%s)
rc=0
$ENGINE build --network host -f Dockerfile -t "$IMAGE" "${build_args[@]}" "${mounts[@]}" . || rc=$?
build_s=$(( $(date +%s) - t0 ))
if [[ $rc -ne 0 ]]; then
  log "FAILED after ${build_s} s (exit $rc): $IMAGE was not built"
  [[ $TORCH_VARIANT == cpu ]] && log "where no CPU build of torch can be had (see above): set" \
    "TORCH_CPU_INDEX=URL or TORCH_WHEELS=DIR, or build the CUDA one on purpose:" \
    "TORCH_VARIANT=cuda cluster/image_build.sh"
  exit 1
fi
size=$($ENGINE image inspect --format '{{.Size}}' "$IMAGE")
torch=$($ENGINE run --rm --network host --entrypoint python "$IMAGE" -c \
  'import torch; print(torch.__version__, "cuda", torch.version.cuda)')
echo "built $IMAGE: torch $torch"
echo "build time: ${build_s} s ($((build_s / 60)) min $((build_s % 60)) s)"
echo "image size: $size bytes ($(numfmt --to=iec --suffix=B "$size"))"
