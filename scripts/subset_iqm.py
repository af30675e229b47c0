"""Aggregates of HNS over the games of a suite that have at least N runs, beside the DER paper's.

The suite's aggregate table (``dqn aggregate``) needs the same number of runs on
every game (rliable's stratified bootstrap), so while a campaign is under way it
keeps one run a game. This script answers the other question: on the games that
already have N seeds, what are IQM, median and mean of HNS with their 95%
intervals (stratified bootstrap, 50,000 replicates, numpy generator seed 0, as
the tables), and what do the published per-game scores give on those games?

Usage, from the repository root, after ``dqn aggregate``::

    python scripts/subset_iqm.py results/atari100k --runs 2
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from dqn_core.results import reference
from dqn_core.results.stats import intervals, metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="results/<suite>, with its tables/")
    parser.add_argument("--runs", type=int, default=2, help="games with at least this many runs")
    parser.add_argument("--group", default="der_atari100k-r2_400k", help="per_game_<group>.csv")
    args = parser.parse_args()

    tables = args.results / "tables"
    runs = pd.read_csv(tables / "runs.csv")
    per_game = pd.read_csv(tables / f"per_game_{args.group}.csv").set_index("game")
    counts = runs.groupby("game")["seed"].count()
    games = sorted(counts[counts >= args.runs].index)
    if not games:
        raise SystemExit(f"no game has {args.runs} runs in {tables / 'runs.csv'}")

    def hns(game: str, score: float) -> float:
        random, human = reference.normalizer(str(per_game.loc[game, "game_key"]))
        return (score - random) / (human - random)

    # (runs, games): the first N seeds of each game.
    columns = []
    for g in games:
        scores = runs[runs["game"] == g].sort_values("seed")["final_score"].head(args.runs)
        columns.append([hns(g, float(s)) for s in scores])
    ours = np.array(columns).T
    published = np.array([[hns(g, float(per_game.loc[g, "published"])) for g in games]])
    print(f"games with {args.runs} runs: {', '.join(games)}")
    print("HNS per run (rows: seeds):", np.round(ours, 3).tolist())
    for name, stat in (
        ("IQM", metrics.aggregate_iqm),
        ("median", metrics.aggregate_median),
        ("mean", metrics.aggregate_mean),
    ):
        est = intervals.interval_estimate(ours, stat, reps=50_000, rng=np.random.default_rng(0))
        print(
            f"{name}: ours {float(est.point):.3f} [{float(est.low):.3f}, {float(est.high):.3f}]"
            f", published ({per_game['published_algorithm'].iloc[0]}) "
            f"{float(stat(published)):.3f}"
        )


if __name__ == "__main__":
    main()
