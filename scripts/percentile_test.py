"""Are our runs drawn from the published runs' distribution? A permutation test on percentiles.

Each run directory given (``config.yaml`` and ``evaluate.csv``, the final
evaluation of ``dqn evaluate``) is placed among the published runs of its game
(rliable's per-run Atari-100k data, 100 runs a game) as a percentile: the share
of published runs below its score, ties counting one half
(``dqn_core.results.published.run_percentile``, as the per-game tables). If our
implementation and the published one were the same agent, our runs would be
exchangeable with theirs: percentiles spread evenly over 0-100, mean ~50.

The test statistic is the mean percentile of our runs. Its null distribution
comes from permutations within each game: pool our k runs of the game with the
n published ones, draw k of the n + k as "ours" and place them among the other
n, for every game at once. It prints each run's percentile, the mean, and the
share of permutations whose mean is at least as far from 50 (two-sided) and at
least as high (one-sided, upward).

Usage, from the repository root::

    python scripts/percentile_test.py results/probes/drq-per-sample/runs/drq-eps/*/seed* \\
        --algorithm 'DrQ(eps)'
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from dqn_core.config import load_run_config
from dqn_core.envs.games import game_key
from dqn_core.results import reference
from dqn_core.results.published import run_percentile


def final_score(run: Path) -> float:
    """Mean score of the run's ``evaluate.csv`` (its protocol's final evaluation)."""
    path = run / "evaluate.csv"
    if not path.is_file():
        raise SystemExit(f"{run}: no evaluate.csv (run `dqn evaluate` on the finished run)")
    return float(pd.read_csv(path)["score"].mean())


def permutation_test(
    ours: dict[str, list[float]], published: dict[str, np.ndarray], permutations: int, seed: int
) -> tuple[list[float], float, float, float]:
    """(our percentiles in game order, their mean, two-sided p, one-sided upward p)."""
    observed = [run_percentile(s, published[g]) for g, scores in ours.items() for s in scores]
    stat = float(np.mean(observed))
    rng = np.random.default_rng(seed)
    pools = {g: np.concatenate([published[g], scores]) for g, scores in ours.items()}
    sims = np.empty(permutations)
    for i in range(permutations):
        drawn = []
        for g, scores in ours.items():
            pool = pools[g][rng.permutation(pools[g].size)]
            k = len(scores)
            drawn += [run_percentile(s, pool[k:]) for s in pool[:k]]
        sims[i] = np.mean(drawn)
    eps = 1e-9
    two_sided = float(np.mean(np.abs(sims - 50.0) >= abs(stat - 50.0) - eps))
    upward = float(np.mean(sims >= stat - eps))
    return observed, stat, two_sided, upward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+", help="run directories")
    parser.add_argument("--algorithm", default="DrQ(eps)", help="published per-run algorithm")
    parser.add_argument("--permutations", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0, help="numpy generator seed")
    args = parser.parse_args()

    try:
        table = reference.atari100k_runs(args.algorithm)
    except ValueError as err:  # an algorithm without per-run data
        raise SystemExit(f"--algorithm: {err}") from None
    ours: dict[str, list[float]] = defaultdict(list)
    names: dict[str, list[str]] = defaultdict(list)
    for run in sorted(args.runs):
        key = game_key(load_run_config(run / "config.yaml").env.game)
        ours[key].append(final_score(run))
        names[key].append(str(run))
    published = {g: table.loc[table["game"] == g, "score"].to_numpy(float) for g in ours}
    missing = sorted(g for g, runs in published.items() if runs.size == 0)
    if missing:
        raise SystemExit(f"no published {args.algorithm} runs for: {', '.join(missing)}")
    percentiles, stat, two_sided, upward = permutation_test(
        ours, published, args.permutations, args.seed
    )
    print(f"| run | score | percentile among {args.algorithm}'s runs (n) |")
    print("| --- | ---: | ---: |")
    flat = [(n, s, g) for g in ours for n, s in zip(names[g], ours[g], strict=True)]
    for (name, score, g), pct in zip(flat, percentiles, strict=True):
        print(f"| {name} | {score:,.1f} | {pct:.1f} ({published[g].size}) |")
    print()
    runs = f"{len(percentiles)} run{'s' if len(percentiles) != 1 else ''}"
    games = f"{len(ours)} game{'s' if len(ours) != 1 else ''}"
    print(
        f"{runs} on {games}: mean percentile {stat:.1f} (50 if drawn "
        f"from the published runs' distribution); permutation test ({args.permutations:,} "
        f"permutations within games, seed {args.seed}): two-sided p = {two_sided:.4f}, "
        f"upward p = {upward:.4f}"
    )


if __name__ == "__main__":
    main()
