# syntax=docker/dockerfile:1
#
# The image every workflow job runs in (`container:` in the suite configs):
# Python, the CUDA build of torch, dqn-harness with its pinned dependencies,
# `dqn` as the entry point, a non-root user.
#
#   docker build -t dqn-harness:0.1.0 \
#       --build-arg REVISION="$(git rev-parse HEAD)" .
#   docker run --rm --gpus all dqn-harness:0.1.0 train --preset nature-dqn --game Pong ...
#   apptainer build dqn-harness.sif docker-daemon://dqn-harness:0.1.0
#
# Build arguments:
#   BASE_IMAGE    any Debian/Ubuntu image with apt (default: CUDA 13.0 + cuDNN runtime,
#                 the CUDA release of PyPI's torch 2.13 wheels)
#   REQUIREMENTS  envs/requirements-cuda.txt (default) or envs/requirements-cpu.txt
#   VERSION, REVISION, SOURCE   image labels (package version, git commit, repository URL)

ARG BASE_IMAGE=nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04
FROM ${BASE_IMAGE}

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=https://github.com/dqn-harness/dqn-harness
LABEL org.opencontainers.image.title="dqn-harness" \
      org.opencontainers.image.description="Reproducible DQN-family benchmark harness on Atari (PyTorch, Snakemake, MLflow)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0"

# PYTHONUNBUFFERED: job logs arrive as they are written. GIT_PYTHON_REFRESH: MLflow
# probes git through GitPython, and the image has no git. MPLBACKEND: headless plots.
ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GIT_PYTHON_REFRESH=quiet \
    MPLBACKEND=Agg \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:${PATH}

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# Python and a virtual environment (Debian and Ubuntu mark the system Python as
# externally managed). libgl/libglib are not needed: OpenCV is the headless build.
# The apt packages follow the base image's release (DL3008: not pinned on purpose);
# everything Python is pinned in envs/.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv "${VIRTUAL_ENV}"

# Dependencies first, from the pinned files only, so that a change to the sources
# does not re-download torch and the CUDA wheels.
ARG REQUIREMENTS=envs/requirements-cuda.txt
COPY envs/requirements-cuda.txt envs/requirements-cpu.txt /tmp/envs/
RUN pip install --no-cache-dir -r "/tmp/${REQUIREMENTS}" \
    && rm -rf /tmp/envs

# The package itself, without touching the pinned dependencies.
COPY pyproject.toml README.md /src/
COPY dqn_core /src/dqn_core
RUN pip install --no-cache-dir --no-deps /src \
    && rm -rf /src \
    && dqn --version

# Jobs run as an unprivileged user; apptainer runs them as the calling user anyway.
RUN useradd --create-home --uid 10001 --shell /bin/bash dqn
USER 10001
WORKDIR /home/dqn/work

ENTRYPOINT ["dqn"]
CMD ["--help"]
