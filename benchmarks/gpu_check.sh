#!/usr/bin/env bash
# The GPU check: one prepared script for a lent GPU machine (docs/throughput.md, "On a GPU").
#
# Installs the carried wheels the machine lacks (gymnasium, ale-py; see
# benchmarks/gpu_wheels.sh), records the machine, then runs the measurements of
# benchmarks/gpu_bench.py section by section into $OUT (results.jsonl as each
# section ends, summary.md, machine.json, nvidia-smi.txt, log.txt). Every
# section has its own time limit and the whole run a budget (default 420 s), so
# it ends within ~8 minutes and keeps what it measured.
#
#   OUT=/tmp/gpu bash benchmarks/gpu_check.sh                  # on the GPU machine
#   OUT=/tmp/gpu bash benchmarks/gpu_check.sh --device cpu --tiny   # dry run here
#
# Extra arguments go to benchmarks/gpu_bench.py (--budget-s, --envs, --only ...).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:?set OUT to the folder that receives the results}
mkdir -p "$OUT"
PYTHON=${PYTHON:-python3}

if ! "$PYTHON" -c "import gymnasium, ale_py" 2>/dev/null; then
    if ! ls .whl/*.whl >/dev/null 2>&1; then
        echo "gpu_check: gymnasium/ale-py are missing and no wheels in .whl/ (run benchmarks/gpu_wheels.sh here and carry .whl)" >&2
        exit 2
    fi
    site=$(mktemp -d)
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi

if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || true
else
    echo "nvidia-smi: not found" >"$OUT/nvidia-smi.txt"
fi
{ lscpu 2>/dev/null | grep -E "Model name|^CPU\(s\)|Flags" | cut -c1-300 || true; } >>"$OUT/nvidia-smi.txt"

set -o pipefail
PYTHONUNBUFFERED=1 "$PYTHON" benchmarks/gpu_bench.py --out "$OUT" "$@" 2>&1 | tee "$OUT/log.txt"
