#!/usr/bin/env bash
# Run by `snakemake --use-conda` inside the freshly created environment: install
# the package from the workflow's source tree (the Snakefile exports its
# directory as DQN_HARNESS_SOURCE). Editable, so the environment follows the
# source without being rebuilt; its dependencies are already pinned by
# environment.yaml.
set -euo pipefail
: "${DQN_HARNESS_SOURCE:?the Snakefile sets DQN_HARNESS_SOURCE to the workflow directory}"
python -m pip install --no-deps --editable "${DQN_HARNESS_SOURCE}"
