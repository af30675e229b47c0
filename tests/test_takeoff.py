"""scripts/takeoff.py: the first log row whose training return reaches the threshold, per arm."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from takeoff import first_takeoff  # noqa: E402

HEADER = "step,train/episode_return,train/return_last100\n"


def run_folder(root: Path, seed: int, returns: list[str]) -> None:
    folder = root / f"seed{seed}"
    folder.mkdir(parents=True)
    rows = "".join(f"{2000 * (i + 1)},{r},0\n" for i, r in enumerate(returns))
    (folder / "metrics.csv").write_text(HEADER + rows)
    summary = {"final_eval_mean": 1234.5, "final_eval_episodes": 10, "git_commit": "abcdef0123"}
    (folder / "summary.json").write_text(json.dumps(summary))


def test_first_takeoff_skips_windows_without_episodes(tmp_path: Path) -> None:
    run_folder(tmp_path, 0, ["300", "", "2500", "900"])
    assert first_takeoff(tmp_path / "seed0" / "metrics.csv", 2000) == (6000, 2500.0, 8000)
    assert first_takeoff(tmp_path / "seed0" / "metrics.csv", 3000) == (None, 2500.0, 8000)


def test_script_counts_runs_per_arm(tmp_path: Path) -> None:
    for seed, returns in enumerate([["100", "2100"], ["100", "400"], ["2000", ""]]):
        run_folder(tmp_path / "preset", seed, returns)
    for seed in range(3):
        run_folder(tmp_path / "other", seed, ["100", "5000"])
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "takeoff.py"),
            str(tmp_path / "preset"),
            str(tmp_path / "other"),
            "--threshold",
            "2000",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "| preset | 1 | - | 400 | 1,234 (10 ep.) | abcdef0 |" in out
    assert "preset: 2 of 3 runs took off (window return >= 2,000) by step 4,000" in out
    assert "other: 3 of 3 runs took off" in out
    assert "p = 1.000" in out  # 2 of 3 against 3 of 3
    for seed in range(3):
        run_folder(tmp_path / "never", seed, ["100", "400"])
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "takeoff.py"),
            str(tmp_path / "never"),
            str(tmp_path / "other"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "p = 0.100" in out  # 0 of 3 against 3 of 3: the two extreme tables, 2 x 1/20
