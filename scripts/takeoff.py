"""When did each run's training return take off? For probes of Findings 5 and 6.

A run "takes off" at the first log row (``train.log_every_steps``, 2,000 agent
steps for ``der``) whose training return (the mean of the episodes that ended
in that window, noisy policy) reaches ``--threshold``. Each folder given holds
run folders ``seed<N>/`` (metrics.csv, summary.json); the script
prints one row a run and, per folder, how many took off by the last step, and,
for two folders, Fisher's exact test of their take-off counts (two-sided).

Usage, from the repository root::

    python scripts/takeoff.py results/probes/kungfumaster-30k/preset \\
        results/probes/kungfumaster-30k/dopamine --threshold 2000
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path

from scipy.stats import fisher_exact


def first_takeoff(metrics: Path, threshold: float) -> tuple[int | None, float, int]:
    """(first step whose window return >= threshold or None, best window return, last step)."""
    first, best, last = None, -math.inf, 0
    with metrics.open(newline="") as fh:
        for row in csv.DictReader(fh):
            step = int(row["step"])
            last = max(last, step)
            value = row.get("train/episode_return", "")
            if value == "":
                continue  # no episode ended in this window
            ret = float(value)
            best = max(best, ret)
            if first is None and ret >= threshold:
                first = step
    return first, best, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+", help="folders of seed<N>/ run folders")
    parser.add_argument(
        "--threshold", type=float, default=2000.0, help="training return that counts as take-off"
    )
    args = parser.parse_args()

    print("| arm | seed | took off at step | best window return | final evaluation | commit |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    counts: list[tuple[str, int, int, int]] = []
    for folder in args.folders:
        runs = sorted(folder.glob("seed*/metrics.csv"), key=lambda p: int(p.parent.name[4:]))
        if not runs:
            raise SystemExit(f"{folder}: no seed*/metrics.csv")
        took, last_steps = 0, set()
        for metrics in runs:
            first, best, last = first_takeoff(metrics, args.threshold)
            last_steps.add(last)
            summary = json.loads((metrics.parent / "summary.json").read_text())
            took += first is not None
            print(
                f"| {folder.name} | {metrics.parent.name[4:]} | "
                f"{first if first is not None else '-'} | {best:,.0f} | "
                f"{summary['final_eval_mean']:,.0f} ({summary['final_eval_episodes']} ep.) | "
                f"{summary['git_commit'][:7]} |"
            )
        counts.append((folder.name, took, len(runs), max(last_steps)))
    print()
    for name, took, n, last in counts:
        print(
            f"{name}: {took} of {n} runs took off (window return >= {args.threshold:,.0f}) by step {last:,}"
        )
    if len(counts) == 2:
        (_, a, n1, _), (_, c, n2, _) = counts
        p = fisher_exact([[a, n1 - a], [c, n2 - c]]).pvalue
        print(f"Fisher's exact test, two-sided: p = {p:.3f}")


if __name__ == "__main__":
    main()
