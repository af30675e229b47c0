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
least as high (one-sided, upward). Then the test's reach: the mean percentiles
that these runs would flag at two-sided p < 0.05, and how many runs it would
take to flag a true mean percentile of 60, 65 or 70 (``--power``) four times in
five, by the normal approximation with one run's spread under the null.

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


def null_means(
    ours: dict[str, list[float]], published: dict[str, np.ndarray], permutations: int, seed: int
) -> np.ndarray:
    """Mean percentile of each permutation: our runs pooled with the published ones per game."""
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
    return sims


def published_runs(table: pd.DataFrame, games: list[str]) -> dict[str, np.ndarray]:
    """Each game's published per-run scores, by the name given (a game's name or its key)."""
    return {g: table.loc[table["game"] == game_key(g), "score"].to_numpy(float) for g in games}


def percentiles_of(ours: dict[str, list[float]], published: dict[str, np.ndarray]) -> list[float]:
    """Each of our runs' percentile among its game's published runs, in game order."""
    return [run_percentile(s, published[g]) for g, scores in ours.items() for s in scores]


def permutation_test(
    ours: dict[str, list[float]], published: dict[str, np.ndarray], permutations: int, seed: int
) -> tuple[list[float], float, float, float]:
    """(our percentiles in game order, their mean, two-sided p, one-sided upward p)."""
    observed = percentiles_of(ours, published)
    stat = float(np.mean(observed))
    two_sided, upward = p_values(stat, null_means(ours, published, permutations, seed))
    return observed, stat, two_sided, upward


def p_values(stat: float, sims: np.ndarray) -> tuple[float, float]:
    """(two-sided, upward) share of the null's means at least as extreme as ``stat``."""
    eps = 1e-9
    two_sided = float(np.mean(np.abs(sims - 50.0) >= abs(stat - 50.0) - eps))
    upward = float(np.mean(sims >= stat - eps))
    return two_sided, upward


# Two-sided 5% test, 80% power: the normal quantiles 0.975 and 0.8.
Z_TEST, Z_POWER = 1.959964, 0.841621


def runs_needed(run_sd: float, true_mean: float) -> int:
    """Runs for which a two-sided 5% test of mean percentile 50 has 80% power against
    ``true_mean``, by the normal approximation, taking one run's percentile to spread by
    ``run_sd`` under the alternative as under the null."""
    return int(np.ceil(((Z_TEST + Z_POWER) * run_sd / (true_mean - 50.0)) ** 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+", help="run directories")
    parser.add_argument("--algorithm", default="DrQ(eps)", help="published per-run algorithm")
    parser.add_argument("--permutations", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0, help="numpy generator seed")
    parser.add_argument(
        "--power", type=float, nargs="+", default=[60.0, 65.0, 70.0], metavar="MEAN",
        help="true mean percentiles to size the test against (default: 60 65 70)",
    )  # fmt: skip
    args = parser.parse_args()
    if any(m == 50.0 or not 0.0 <= m <= 100.0 for m in args.power):
        parser.error("--power: true mean percentiles in [0, 100], other than 50")

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
    published = published_runs(table, list(ours))
    missing = sorted(g for g, runs in published.items() if runs.size == 0)
    if missing:
        raise SystemExit(f"no published {args.algorithm} runs for: {', '.join(missing)}")
    percentiles = percentiles_of(ours, published)
    stat = float(np.mean(percentiles))
    sims = null_means(ours, published, args.permutations, args.seed)
    two_sided, upward = p_values(stat, sims)
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
    reach = float(np.quantile(np.abs(sims - 50.0), 0.95))  # two-sided p < 0.05 beyond it
    low, high = 50.0 - reach, 50.0 + reach
    run_sd = float(np.std(sims)) * np.sqrt(len(percentiles))
    needed = ", ".join(f"{m:g}: {runs_needed(run_sd, m)}" for m in args.power)
    print(
        f"Power: with these {runs}, the two-sided 5% test flags a mean percentile outside "
        f"[{low:.1f}, {high:.1f}] (one run's percentile spreads by {run_sd:.1f} under the "
        f"null). Runs needed for 80% power against a true mean percentile of "
        f"{needed} (normal approximation, that spread)."
    )


if __name__ == "__main__":
    main()
