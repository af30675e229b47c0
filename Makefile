# Set-up and the two jobs of the README. Everything runs in ./.venv.
#   make smoke   install, then run the smoke suite through Snakemake (embedded MLflow store)
#   make test    install, then lint, type-check and run the tests (what .ci/run calls)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CORES ?= 2
# torch 2.13.0: the CPU wheel where no NVIDIA GPU is present, the default (CUDA) wheel otherwise.
TORCH_VERSION ?= 2.13.0
TORCH_INDEX_CPU ?= https://download.pytorch.org/whl/cpu

.PHONY: venv install smoke test lint typecheck workflow-lint pytest pytest-slow-ci slow bench container-test clean

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
	$(BIN)/snakemake --cores $(CORES) --profile workflows/profiles/default --configfile workflows/config/smoke.yaml

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy dqn_core

workflow-lint: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake --lint --configfile workflows/config/smoke.yaml

pytest: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/pytest -q

# One seed of one slow learning check: the short version CI runs.
pytest-slow-ci: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/pytest -q -m "slow and ci"

test: lint typecheck workflow-lint pytest pytest-slow-ci

slow: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/pytest -q -m slow

bench: install
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/env_throughput.py --quick
	$(BIN)/python benchmarks/replay.py --quick
	$(BIN)/python benchmarks/learner.py --quick

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .snakemake
