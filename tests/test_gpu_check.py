"""The GPU check (benchmarks/gpu_check.sh) dry-runs on the CPU with tiny budgets.

The script is meant for a lent GPU machine, where device time is scarce: this
test runs every section of it here (``--device cpu --tiny``), so a broken path
shows before a GPU is spent on it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_tiny(
    out: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``gpu_bench.py --out OUT --device cpu --tiny ARGS`` in a subprocess."""
    return subprocess.run(
        [
            *(sys.executable, str(ROOT / "benchmarks" / "gpu_bench.py"), "--out", str(out)),
            *("--device", "cpu", "--tiny", *args),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_gpu_check_dry_run_on_the_cpu_records_every_section(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out), "PYTHON": sys.executable}
    proc = subprocess.run(
        [
            *("bash", str(ROOT / "benchmarks" / "gpu_check.sh")),
            *("--device", "cpu", "--tiny", "--envs", "2"),  # n=1 runs the same code
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == [
        "log.txt",
        "machine.json",
        "nvidia-smi.txt",
        "results.jsonl",
        "summary.md",
    ]
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    by_name = {r["section"]: r for r in results}
    assert list(by_name) == [
        "copy",
        "learner-nature-none",
        "learner-der-none",
        "nature-none-n2",
        "der-none",
        "drq-none",
        "par2-der-none",
    ]
    assert all(r["status"] == "ok" for r in results), results
    assert by_name["copy"]["pageable_ms"] > 0
    for name in ("learner-nature-none", "learner-der-none"):
        assert by_name[name]["updates_per_s"] > 0
    for name in ("nature-none-n2",):
        r = by_name[name]
        # The Nature replay ratio: one update per 4 agent steps, whatever the env count.
        assert 0.24 <= r["updates"] / (r["steps"] / 2) <= 0.26  # tiny: learning from steps/2
        assert set(r["split"]) == {"act", "env", "store", "sample", "learn"}
        assert abs(sum(r["split"].values()) - 1) < 1e-6
        assert set(r["learn_ms"]) == {"noise", "forward", "backward", "optimizer"}
        assert r["cpu_cores"] > 0 and r["gpu_util_mean"] is None
    for name in ("der-none", "drq-none"):
        r = by_name[name]
        # One update per agent step of the learning phase (and one at its first step).
        assert abs(r["updates"] - r["steps"] / 2) <= 1
    par = by_name["par2-der-none"]  # two der runs at once, each with half the cores
    assert len(par["per_run_agent_steps_per_s"]) == 2
    assert par["agent_steps_per_s"] == pytest.approx(sum(par["per_run_agent_steps_per_s"]))
    assert par["torch_threads"] == 1  # tiny: one thread whatever the share
    assert "der-none" in (out / "summary.md").read_text()
    assert json.loads((out / "machine.json").read_text())["device"] == "cpu"


def test_gpu_check_keeps_going_past_a_failing_section_and_says_so(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_tiny(out, "--only", "copy,no-such-section,copy")
    assert proc.returncode == 1
    results = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["status"] for r in results][::2] == ["ok", "ok"]
    assert "unknown section 'no-such-section'" in results[1]["status"]


def test_gpu_check_needs_out() -> None:
    env = {k: v for k, v in os.environ.items() if k != "OUT"}
    proc = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh")], capture_output=True, text=True, env=env
    )
    assert proc.returncode != 0 and "OUT" in proc.stderr


def test_sections_keep_the_callers_pythonpath(tmp_path: Path) -> None:
    """gpu_check.sh installs the carried wheels into a folder on PYTHONPATH; the sections
    (subprocesses) must still see it. A sitecustomize there marks each section it reaches."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import os, sys\n"
        "if '--section' in sys.argv:\n"
        "    open(os.environ['GPU_CHECK_MARKER'], 'a').write(sys.argv[sys.argv.index('--section') + 1])\n"
    )
    marker = tmp_path / "marker"
    env = {**os.environ, "PYTHONPATH": str(site), "GPU_CHECK_MARKER": str(marker)}
    proc = run_tiny(tmp_path, "--only", "copy", env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert marker.read_text() == "copy"


def test_a_section_past_its_limit_is_killed_with_the_copies_it_started(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_tiny(out, "--only", "par2-der-none", "--section-s", "6")
    assert proc.returncode == 1
    (result,) = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert result["status"] == "timed out (6 s)"
    left = subprocess.run(
        ["pgrep", "-f", "gpu_bench.py --section der-none"], capture_output=True, text=True
    )
    assert left.stdout.strip() == "", "copies of the timed-out section are still running"
