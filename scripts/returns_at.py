"""Training returns of runs side by side at chosen agent steps (for the probes of the docs' Findings).

For each run directory given (``metrics.csv``; ``evaluate.csv`` when the run
has had its final ``dqn evaluate``), prints one row: the training return
``train/return_last100`` (the mean of the last 100 training episodes, epsilon
and noise as in training) at each of ``--at`` agent steps, taken from the last
log row at or before that step (blank where the run has not logged that
step yet), and the mean score of ``evaluate.csv``. Rows
come in the order given, so arms can be read against each other.

Usage, from the repository root::

    python scripts/returns_at.py results/probes/drq-per-sample/runs/drq-eps/Assault/seed* \\
        results/probes/drq-init/xavier/Assault/seed* --at 20000 50000 100000
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

METRIC = "train/return_last100"


def returns_at(run: Path, steps: list[int]) -> list[float | None]:
    """``train/return_last100`` of ``run`` at each step (the last logged row at or before it;
    None where the run's log stops short of the step)."""
    path = run / "metrics.csv"
    if not path.is_file():
        raise SystemExit(f"{run}: no metrics.csv (not a run directory)")
    logged = pd.read_csv(path, usecols=["step", METRIC]).sort_values("step", kind="stable")
    last = int(logged["step"].iloc[-1]) if not logged.empty else -1  # rows without a return count
    rows = logged.dropna()
    out: list[float | None] = []
    for step in steps:
        before = rows[rows["step"] <= step]
        out.append(float(before[METRIC].iloc[-1]) if last >= step and not before.empty else None)
    return out


def evaluate_mean(run: Path) -> float | None:
    """Mean score of the run's ``evaluate.csv``, or None before its final evaluation."""
    path = run / "evaluate.csv"
    return float(pd.read_csv(path)["score"].mean()) if path.is_file() else None


def table(runs: list[Path], steps: list[int]) -> pd.DataFrame:
    """One row a run: its training return at each step and its final evaluation."""
    records = []
    for run in runs:
        record: dict[str, object] = {"run": str(run)}
        for step, value in zip(steps, returns_at(run, steps), strict=True):
            record[f"return@{step}"] = value
        record["evaluate"] = evaluate_mean(run)
        records.append(record)
    return pd.DataFrame.from_records(records)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories")
    parser.add_argument(
        "--at", nargs="+", type=int, default=[20_000, 50_000, 100_000], help="agent steps"
    )
    args = parser.parse_args(argv)
    if any(step <= 0 for step in args.at):
        parser.error("--at: agent steps must be positive")
    print(table(args.runs, args.at).to_string(index=False, float_format=lambda x: f"{x:.1f}"))


if __name__ == "__main__":
    main()
