#!/bin/sh
# Runs INSIDE the image build (the Dockerfile copies it to /usr/local/bin/mtrain-image-install).
#   mtrain-image-install torch cpu|cuda   torch + torchvision as pyproject.toml pins them, that build
#   mtrain-image-install deps             the project's other dependencies (not the project)
#   mtrain-image-install check cpu|cuda   fail unless the installed torch is that build
# cpu asks pip for "torch==V+cpu" (PyTorch's CPU wheels; PyPI's Linux wheels are the CUDA build)
# from $TORCH_CPU_INDEX and/or $TORCH_FIND_LINKS: where neither has them, the build fails here
# instead of falling back to the CUDA build.
set -eu

pins() {  # the project's dependencies: `torch` -> only torch/torchvision, `other` -> the rest
  python - "$1" <<'EOF'
import re, sys, tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
name = lambda d: re.split(r"[\s\[<>=!~;]", d, maxsplit=1)[0].lower()
torch = [d for d in deps if name(d) in ("torch", "torchvision")]
if sys.argv[1] == "torch":
    bad = [d for d in torch if not re.fullmatch(r"[a-z]+==[0-9][0-9.]*", d.replace(" ", ""))]
    if len(torch) != 2 or bad:
        sys.exit(f"error: pyproject.toml must pin torch and torchvision exactly (name==X.Y.Z): {torch}")
    print(" ".join(d.replace(" ", "") for d in torch))
else:
    print("\n".join(d for d in deps if d not in torch))
EOF
}

check() {
  python - "$1" <<'EOF'
import sys
from importlib import metadata
import torch, torchvision
variant = sys.argv[1]
cuda = torch.version.cuda
nvidia = sorted(d.metadata["Name"] for d in metadata.distributions()
                if (d.metadata["Name"] or "").lower().startswith(("nvidia-", "cuda-")))
print(f"torch {torch.__version__} (CUDA {cuda}), torchvision {torchvision.__version__}, "
      f"{len(nvidia)} nvidia/cuda packages")
if variant == "cpu" and (cuda is not None or nvidia or "+cpu" not in torch.__version__):
    sys.exit(f"error: TORCH_VARIANT=cpu but torch {torch.__version__} is a CUDA build "
             f"(torch.version.cuda={cuda}; {' '.join(nvidia) or 'no nvidia packages'})")
if variant == "cuda" and cuda is None:
    sys.exit(f"error: TORCH_VARIANT=cuda but torch {torch.__version__} has no CUDA")
EOF
}

case ${1:-} in
torch)
  variant=${2:?cpu or cuda}
  pins=$(pins torch)
  case $variant in
  cpu)
    reqs=""
    for p in $pins; do reqs="$reqs $p+cpu"; done
    set --
    [ -n "${TORCH_CPU_INDEX:-}" ] && set -- "$@" --extra-index-url "$TORCH_CPU_INDEX"
    [ -n "${TORCH_FIND_LINKS:-}" ] && set -- "$@" --find-links "$TORCH_FIND_LINKS"
    echo "installing$reqs (CPU build) from: ${TORCH_CPU_INDEX:-} ${TORCH_FIND_LINKS:-} + pip's configured index"
    # shellcheck disable=SC2086
    if ! pip install -q "$@" $reqs; then
      echo "error: no CPU build of$reqs could be installed (TORCH_CPU_INDEX='${TORCH_CPU_INDEX:-}'," \
           "TORCH_FIND_LINKS='${TORCH_FIND_LINKS:-}'). Refusing to fall back to the CUDA build:" \
           "give a reachable CPU wheel index (--build-arg TORCH_CPU_INDEX=URL) or a folder with" \
           "the two +cpu wheels (--build-arg TORCH_FIND_LINKS=DIR, mounted into the build)," \
           "or build TORCH_VARIANT=cuda on purpose." >&2
      exit 1
    fi
    ;;
  cuda)
    echo "installing $pins (CUDA build)"
    # shellcheck disable=SC2086
    pip install -q $pins
    ;;
  *) echo "error: TORCH_VARIANT must be cpu or cuda, not '$variant'" >&2; exit 2 ;;
  esac
  check "$variant"
  ;;
deps)
  pins other | xargs pip install -q
  ;;
check)
  check "${2:?cpu or cuda}"
  ;;
*)
  echo "usage: $0 torch|check cpu|cuda, or $0 deps" >&2; exit 2 ;;
esac
