#!/usr/bin/env bash
# Download the cp312 manylinux wheels the GPU machine lacks into .whl/ (git-ignored),
# to be carried with the run: `run(command="OUT=$OUT bash benchmarks/gpu_check.sh",
# carry=[".whl"])`. The GPU image has torch, numpy, opencv, pyyaml, tqdm and
# cloudpickle; dqn_core's training loop also needs gymnasium (and its
# farama-notifications) and ale-py (which ships the ROMs). About 3.6 MB.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl \
    gymnasium==1.4.0 ale-py==0.12.1 farama-notifications==0.0.6
ls -l .whl
