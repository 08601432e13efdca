# model_trainer in a container: torch's CPU build by default, never a silent CUDA one.
#   cluster/image_build.sh                          # podman, a Debian base of its own -> mtrain:cpu
#   docker build -t mtrain:cpu .                    # where download.pytorch.org is reachable
# torch and torchvision are the versions pyproject.toml pins. TORCH_VARIANT=cpu installs their
# "+cpu" builds (from TORCH_CPU_INDEX, or from TORCH_FIND_LINKS: a folder or page with the
# wheels) and the build FAILS when only a CUDA build could be had. For CUDA:
#   docker build --build-arg TORCH_VARIANT=cuda \
#     --build-arg BASE_IMAGE=nvidia/cuda:12.8.1-runtime-ubuntu24.04 -t mtrain:cuda .
# (run it with --gpus all; the NVIDIA driver comes from the host)
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
ARG TORCH_VARIANT=cpu
ARG TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu
ARG TORCH_FIND_LINKS=

# RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER stays unset: at 0 it turns multi-node Ray off, so
# containers on host networking could not form a cluster.
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1 LANG=C.UTF-8
# CUDA base images ship no Python 3.11: install it (and venv) when it is missing.
RUN if ! command -v python3.11 >/dev/null; then \
      apt-get update && apt-get install -y --no-install-recommends software-properties-common \
      && add-apt-repository -y ppa:deadsnakes/ppa && apt-get update \
      && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
      && rm -rf /var/lib/apt/lists/*; \
    fi \
    && python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /work
# Layers from the slowest and least often changed to the fastest: torch (checked at once, so
# a CPU build that cannot be had fails in the first minute), the other dependencies, the code.
COPY cluster/image_install.sh /usr/local/bin/mtrain-image-install
COPY pyproject.toml ./
RUN pip install -q --upgrade pip \
    && mtrain-image-install torch "$TORCH_VARIANT"
RUN mtrain-image-install deps
COPY README.md ./
COPY model_trainer ./model_trainer
RUN pip install -q --no-deps -e . \
    && mtrain-image-install check "$TORCH_VARIANT"
COPY recipes ./recipes

ENTRYPOINT ["mtrain"]
CMD ["--help"]
