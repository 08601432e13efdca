# model_trainer in a container. CPU by default; for CUDA:
#   docker build --build-arg TORCH_VARIANT=cuda \
#     --build-arg BASE_IMAGE=nvidia/cuda:12.8.1-runtime-ubuntu24.04 -t mtrain:cuda .
# (run it with --gpus all; the NVIDIA driver comes from the host)
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}
ARG TORCH_VARIANT=cpu

# RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER stays unset: at 0 it turns multi-node Ray off, so
# containers on host networking could not form a cluster.
ENV PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
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
COPY pyproject.toml README.md ./
COPY model_trainer ./model_trainer
RUN if [ "$TORCH_VARIANT" = "cpu" ]; then \
      pip install --extra-index-url https://download.pytorch.org/whl/cpu -e .; \
    else \
      pip install -e .; \
    fi
COPY recipes ./recipes

ENTRYPOINT ["mtrain"]
CMD ["--help"]
