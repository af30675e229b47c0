"""Suite tables: our scores per game and in aggregate, beside the published ones.

``aggregate_suite(results/<suite>)`` reads every run directory
(:func:`dqn_core.results.load.load_suite`; never MLflow) and writes, under
``results/<suite>/tables/``, each table as CSV (raw numbers), Markdown and
LaTeX (formatted, with the table's notes; :mod:`dqn_core.results.render`):

- ``runs``: one row per run: its final score, frames, wall time;
- ``per_game_<preset>_<protocol>_<frames>``: per game, our scores beside the
  published ones (:mod:`dqn_core.results.per_game`);
- ``aggregate`` and ``probability_of_improvement``: HNS aggregates with 95%
  stratified-bootstrap intervals and P(X > Y) (:mod:`dqn_core.results.aggregates`);
- ``aggregate_meta.json``: the bootstrap seed and resample counts.

Runs group by (preset, protocol, frame budget); nothing is compared across
groups that differ in protocol or budget: such comparisons are refused (left
out) or labelled, and the table notes say which and why. HNS uses one
convention, described in :mod:`dqn_core.results.reference` (Video Pinball
included).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from dqn_core.results import stats
from dqn_core.results.aggregates import _aggregate_table, _poi_table
from dqn_core.results.load import SuiteData, load_suite
from dqn_core.results.per_game import _per_game_table
from dqn_core.results.render import _write_table

__all__ = ["aggregate_suite"]

log = logging.getLogger(__name__)


def _runs_table(data: SuiteData) -> pd.DataFrame:
    cols = [
        "preset", "protocol", "protocol_revision", "game", "seed", "budget_frames", "final_frames", "final_score",
        "final_episodes", "final_source", "eval_epsilon", "train_return", "wall_time_s",
        "finished", "git_commit", "cpu", "run_id",
    ]  # fmt: skip
    df = (
        data.runs[cols]
        .sort_values(["preset", "protocol", "protocol_revision", "game", "seed"])
        .reset_index(drop=True)
    )
    df.attrs["title"] = f"Runs of suite {data.suite}"
    df.attrs["notes"] = [
        "final_score: mean score of the run's final evaluation (final_source: evaluate.csv from "
        "`dqn evaluate` on the final checkpoint, else the last evaluation in eval.csv) at "
        "final_frames emulator frames; budget_frames = train.total_steps x env.frame_skip.",
        "train_return: last logged average training-episode return (metrics.csv).",
        "git_commit, cpu: the code and the CPU that finished the run, as its summary.json records "
        "them (empty where it does not: runs from before the CPU was recorded).",
        *data.skipped,
    ]
    return df


def aggregate_suite(
    results_dir: Path,
    out_dir: Path | None = None,
    *,
    seed: int = 0,
    reps: int = stats.DEFAULT_REPS,
    poi_reps: int = stats.DEFAULT_POI_REPS,
    confidence: float = 0.95,
) -> dict[str, pd.DataFrame]:
    """Build and write every table of a suite.

    Args:
        results_dir: ``results/<suite>`` (holding ``runs/``).
        out_dir: where the tables go (default ``results_dir/tables``).
        seed: seed of the bootstrap generator (``np.random.default_rng(seed)``).
        reps: bootstrap resamples of the aggregate intervals (rliable: 50,000).
        poi_reps: bootstrap resamples of the probability-of-improvement intervals.
        confidence: coverage of every interval.

    Returns:
        Tables by name (``runs``, ``per_game_<group>``..., ``aggregate``,
        ``probability_of_improvement``); each DataFrame's ``attrs`` hold its
        ``title`` and ``notes``. Each is written as ``<name>.csv|.md|.tex``.
    """
    if reps < 1 or poi_reps < 1:
        raise ValueError(f"reps, poi_reps: must be at least 1, got {reps}, {poi_reps}")
    results_dir = Path(results_dir)
    out = Path(out_dir) if out_dir is not None else results_dir / "tables"
    data = load_suite(results_dir)
    rng = np.random.default_rng(seed)
    tables: dict[str, pd.DataFrame] = {"runs": _runs_table(data)}
    for group in data.groups():
        if data.finished(group).empty:
            log.warning("%s: no finished run with an evaluation; no per-game table", group)
            continue
        tables[f"per_game_{group}"] = _per_game_table(data, group, confidence)
    agg, matrices = _aggregate_table(data, reps, rng, seed)
    tables["aggregate"] = agg
    tables["probability_of_improvement"] = _poi_table(data, matrices, poi_reps, rng)
    for name, df in tables.items():
        _write_table(out, name, df)
    # Per-game tables of groups no longer in the suite would read as current results.
    for stale in sorted(out.glob("per_game_*.*")):
        if stale.stem not in tables and stale.suffix in (".csv", ".md", ".tex"):
            log.info("removing %s: its group is no longer in the suite", stale)
            stale.unlink()
    (out / "aggregate_meta.json").write_text(
        json.dumps(
            {"seed": seed, "reps": reps, "poi_reps": poi_reps, "confidence": confidence}, indent=2
        )
        + "\n",
        encoding="utf-8",
    )
    log.info("wrote %d tables to %s", len(tables), out)
    return tables
