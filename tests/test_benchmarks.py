"""The DER update benchmark runs and attributes the update's time (tiny counts)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _benchmark(script: str, *args: str) -> str:
    """What ``benchmarks/<script>`` prints (it must exit 0)."""
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout


@pytest.mark.parametrize("precision", ["float32", "bf16"])
def test_der_update_profile_groups_the_update(precision: str) -> None:
    out = _benchmark(
        "der_update.py",
        *("--threads", "1", "--updates", "3", "--rounds", "1", "--profiled", "2"),
        *(["--bf16"] if precision == "bf16" else []),
    )
    assert ("; bfloat16 autocast;" in out) == (precision == "bf16")
    rows = dict(re.findall(r"^\| ([a-z ]+) \| ([\d.]+) \|", out, re.M))
    assert set(rows) == {"matrix products", "optimizer kernel", "patch gather", "everything else"}
    # The der update: 3 forward passes and a backward of conv-as-matmul torso + noisy head.
    calls = re.search(r"^\| matrix products \| [\d.]+ \| \d+% \| (\d+) \|", out, re.M)
    assert calls is not None and int(calls.group(1)) >= 30
    assert all(float(ms) > 0 for ms in rows.values())
    update = float(re.search(r"^update: ([\d.]+) ms", out, re.M).group(1))  # type: ignore[union-attr]
    floor = float(re.search(r"^floor \(.*\): ([\d.]+) ms", out, re.M).group(1))  # type: ignore[union-attr]
    assert 0 < floor < update * 2  # profiled groups carry the profiler's overhead
    mflop, rate, peak = map(
        float,
        re.search(  # type: ignore[union-attr]
            r"^matrix products: (\d+) MFLOP an update at ([\d.]+) GFLOP/s .*: ([\d.]+) GFLOP/s",
            out,
            re.M,
        ).groups(),
    )
    # Three forward passes of ~1.8M multiply-adds a sample (batch 32), and a backward.
    assert 350 < mflop < 2000 and rate > 0 and peak > 0


def test_product_flops_reads_each_product_kind() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from der_update import product_flops

    assert product_flops("aten::mm", [[32, 576], [576, 256]]) == 2 * 32 * 576 * 256
    assert product_flops("aten::addmm", [[256], [32, 576], [576, 256], [], []]) == (
        2 * 32 * 576 * 256
    )
    assert product_flops("aten::bmm", [[32, 1, 51], [32, 51, 7]]) == 2 * 32 * 51 * 7
    assert product_flops("aten::baddbmm", [[32, 1, 7], [32, 1, 51], [32, 51, 7], [], []]) == (
        2 * 32 * 51 * 7
    )


def test_target_shortcut_benchmark_times_both_ways() -> None:
    out = _benchmark("target_shortcut.py", "--threads", "1", "--updates", "2", "--rounds", "1")
    assert "preset drq-eps; 1 torch threads" in out
    slow = float(re.search(r"target's own pass: ([\d.]+) ms", out)[1])  # type: ignore[index]
    fast = float(re.search(r"online pass reused: ([\d.]+) ms", out)[1])  # type: ignore[index]
    ratio = float(re.search(r"ratio: ([\d.]+)x", out)[1])  # type: ignore[index]
    assert slow > 0 and fast > 0 and ratio == pytest.approx(slow / fast, abs=0.01)
