"""scripts/percentile_test.py: our runs' percentiles among the published runs, and the permutation test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from dqn_core.config import load_config
from dqn_core.results import reference

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from percentile_test import permutation_test  # noqa: E402


def test_the_null_distribution_is_exact_on_a_small_pool() -> None:
    # Pool {1, 2, 3, 10}, one run of ours: under the null it is any of the four, placed
    # among the other three at percentile 0, 33.3, 66.7 or 100.
    pcts, stat, two_sided, upward = permutation_test(
        {"g": [10.0]}, {"g": np.array([1.0, 2.0, 3.0])}, permutations=20_000, seed=1
    )
    assert pcts == [100.0] and stat == 100.0
    assert upward == pytest.approx(0.25, abs=0.015)
    assert two_sided == pytest.approx(0.5, abs=0.015)


def run_dir(root: Path, game: str, seed: int, scores: list[float]) -> Path:
    run = root / game / f"seed{seed}"
    run.mkdir(parents=True)
    cfg = load_config("drq-eps", sets=[f"env.game={game}", f"seed={seed}"])
    (run / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict()))
    rows = "".join(f"100000,400000,{i},{s},1000,0\n" for i, s in enumerate(scores))
    (run / "evaluate.csv").write_text("step,frames,episode,score,length_frames,truncated\n" + rows)
    return run


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "percentile_test.py"), *args],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip


def script(*args: str) -> str:
    proc = run_script(*args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_runs_above_every_published_run_are_flagged_and_median_runs_are_not(tmp_path) -> None:
    table = reference.atari100k_runs("DrQ(eps)")
    games = {"Assault": "assault", "Boxing": "boxing", "Krull": "krull"}
    high, mid = [], []
    for game, key in games.items():
        runs = table.loc[table["game"] == key, "score"].to_numpy(float)
        for seed in range(2):
            high.append(run_dir(tmp_path / "high", game, seed, [runs.max() + 1 + seed]))
            mid.append(run_dir(tmp_path / "mid", game, seed, [float(np.median(runs))]))
    out = script(*map(str, high), "--permutations", "4000")
    assert "| 100.0 (100) |" in out
    assert "6 runs on 3 games: mean percentile 100.0" in out
    assert "two-sided p = 0.0000, upward p = 0.0000" in out
    out = script(*map(str, mid), "--permutations", "4000")
    assert "mean percentile 50.0" in out
    p = float(out.split("two-sided p = ")[1].split(",")[0])
    assert p > 0.9
    out = script(high[0], "--permutations", "100")
    assert "1 run on 1 game: mean percentile 100.0" in out


def test_a_run_without_its_final_evaluation_is_refused(tmp_path) -> None:
    run = run_dir(tmp_path, "Assault", 0, [500.0])
    (run / "evaluate.csv").unlink()
    out = run_script(str(run))
    assert out.returncode != 0 and "no evaluate.csv" in out.stderr


def test_an_algorithm_without_per_run_data_is_refused(tmp_path) -> None:
    run = run_dir(tmp_path, "Assault", 0, [500.0])
    out = run_script(str(run), "--algorithm", "DER")
    assert out.returncode != 0 and "--algorithm: " in out.stderr and "DrQ(eps)" in out.stderr


def test_runs_needed_follows_the_normal_approximation() -> None:
    from percentile_test import runs_needed

    # A uniform percentile spreads by 100 / sqrt(12) = 28.87: against a true mean of 65,
    # ((1.96 + 0.84) * 28.87 / 15) ** 2 = 29.07 runs, so 30; symmetric below 50.
    assert runs_needed(100 / np.sqrt(12), 65.0) == 30
    assert runs_needed(100 / np.sqrt(12), 35.0) == 30
    assert runs_needed(100 / np.sqrt(12), 70.0) == 17
    assert runs_needed(10.0, 60.0) < runs_needed(20.0, 60.0)


def test_the_power_line_brackets_50_and_narrows_with_more_runs(tmp_path) -> None:
    table = reference.atari100k_runs("DrQ(eps)")
    runs = table.loc[table["game"] == "krull", "score"].to_numpy(float)
    few = [run_dir(tmp_path / "few", "Krull", s, [float(np.median(runs))]) for s in range(2)]
    many = [run_dir(tmp_path / "many", "Krull", s, [float(np.median(runs))]) for s in range(8)]

    def reach(out: str) -> tuple[float, float, list[int]]:
        line = next(x for x in out.splitlines() if x.startswith("Power:"))
        low, high = line.split("outside [")[1].split("]")[0].split(", ")
        needed = [int(part.split(": ")[1]) for part in line.split("mean percentile of ")[1]
                  .split(" (normal")[0].split(", ")]  # fmt: skip
        return float(low), float(high), needed

    low2, high2, needed2 = reach(
        script(*map(str, few), "--permutations", "4000", "--power", "60", "75")
    )
    low8, high8, needed8 = reach(
        script(*map(str, many), "--permutations", "4000", "--power", "60", "75")
    )
    assert low2 < low8 < 50.0 < high8 < high2
    assert high2 - 50.0 == pytest.approx(50.0 - low2, abs=1e-6)
    assert needed2[0] > needed2[1] and needed2 == pytest.approx(needed8, rel=0.25)


def test_power_refuses_a_true_mean_of_50(tmp_path) -> None:
    run = run_dir(tmp_path, "Krull", 0, [1000.0])
    proc = run_script(str(run), "--power", "50")
    assert proc.returncode == 2 and "--power" in proc.stderr
