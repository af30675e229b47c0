"""scripts/returns_at.py: training returns of runs side by side at chosen steps."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from returns_at import returns_at, table  # noqa: E402


def run_dir(root: Path, name: str, rows: list[tuple[int, float | None]], scores=None) -> Path:
    run = root / name
    run.mkdir(parents=True)
    lines = ["step,frames,train/return_last100,eval/return_mean"]
    lines += [f"{s},{4 * s},{'' if r is None else r}," for s, r in rows]
    (run / "metrics.csv").write_text("\n".join(lines) + "\n")
    if scores is not None:
        body = "".join(f"{rows[-1][0]},0,{i},{x},100,0\n" for i, x in enumerate(scores))
        (run / "evaluate.csv").write_text(
            "step,frames,episode,score,length_frames,truncated\n" + body
        )
    return run


def test_each_step_reads_the_last_logged_row_at_or_before_it(tmp_path: Path) -> None:
    run = run_dir(tmp_path, "a", [(2000, None), (4000, 10.0), (6000, 20.0), (8000, 30.0)])
    # 2,000: no return logged yet (no episode ended); 5,000 reads 4,000's row; 8,000 itself
    assert returns_at(run, [2000, 5000, 8000]) == [None, 10.0, 30.0]


def test_a_step_past_the_end_of_the_log_is_blank_not_the_last_value(tmp_path: Path) -> None:
    run = run_dir(tmp_path, "a", [(2000, 5.0), (4000, 6.0)])
    assert returns_at(run, [4000, 6000]) == [6.0, None]
    # a last row without a return (no game ended in its window) still counts as logged
    late = run_dir(tmp_path, "b", [(2000, 5.0), (4000, None)])
    assert returns_at(late, [4000]) == [5.0]


def test_the_table_has_a_row_a_run_with_its_final_evaluation(tmp_path: Path) -> None:
    done = run_dir(tmp_path, "done", [(2000, 5.0), (4000, 6.0)], scores=[1.0, 3.0])
    going = run_dir(tmp_path, "going", [(2000, 7.0)])
    df = table([done, going], [2000, 4000])
    assert list(df.columns) == ["run", "return@2000", "return@4000", "evaluate"]
    assert df["return@2000"].tolist() == [5.0, 7.0]
    assert df["evaluate"].iloc[0] == pytest.approx(2.0)
    assert df["return@4000"].isna().iloc[1] and df["evaluate"].isna().iloc[1]


def test_the_command_names_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "returns_at.py"), str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0 and "no metrics.csv" in proc.stderr


def test_the_command_prints_the_committed_drq_runs(tmp_path: Path) -> None:
    runs = sorted((ROOT / "results/probes/drq-per-sample/runs/drq-eps/Assault").glob("seed*"))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "returns_at.py"), *map(str, runs)],
        capture_output=True,
        text=True,
        check=True,
    )
    # Finding 8 quotes these: 543 and 547 at 100k, evaluations 690.4 and 635.8
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["run", "return@20000", "return@50000", "return@100000", "evaluate"]
    assert lines[1].split()[-2:] == ["543.0", "690.4"]
    assert lines[2].split()[-2:] == ["547.0", "635.8"]
