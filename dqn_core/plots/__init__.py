"""Figures of a suite: learning curves, final scores, IQM curves, performance profiles.

``plot_suite(results/<suite>)`` reads the run directories (through
:func:`dqn_core.results.load_suite`, never MLflow) and writes PNG and SVG
files under ``results/<suite>/figures/``:

- ``curve_<group>_<Game>``: evaluation score against emulator frames for one
  game: each seed faint, the mean over seeds bold with its 95% Student-t band,
  each seed's training return (metrics.csv ``train/episode_return``: the mean
  of the episodes that ended in each log window) thin and grey, and the reference where the protocol matches: Dopamine's DQN curve (training
  returns, its own 95% band over 5 runs) under ``machado2018``, or the published
  final scores as dashed levels when the frame budget matches; a published
  score at another budget is named in the title, not drawn;
- ``curves_<group>``: all games of a group on one page;
- ``scores_<group>``: each game's final scores (ours, a dot a run) beside the
  published runs (DrQ(eps) and SPR under ``atari100k``: quartile boxes, lowest
  to highest) and the published per-game score, where protocol and budget
  match;
- ``iqm_<protocol>_<frames>``: IQM of human-normalised scores against frames
  for every group of that protocol and budget, with 95% stratified-bootstrap
  bands (and Dopamine's DQN IQM curve on the same games under ``machado2018``);
- ``profile_<protocol>_<frames>``: performance profiles (fraction of runs x
  games with HNS above tau) with 95% bootstrap bands, including published
  per-run data (DrQ(eps) and SPR; Dopamine DQN's 5 runs under ``machado2018``)
  where the budget matches.

Figures are drawn on ``matplotlib.figure.Figure`` objects with the Agg canvas:
no pyplot, no display, no global figure state. Sizes are fixed (pixels =
inches x 100 dpi) so tests can check them; SVGs carry no date and a fixed hash
salt so regenerated figures only change when the data do.

The figures are drawn by :mod:`.curves` (learning curves), :mod:`.scores`
(final scores beside the published runs) and :mod:`.aggregates` (IQM curves,
performance profiles) on the canvas of :mod:`.canvas`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from dqn_core.plots.aggregates import (
    CURVE_REPS,
    PROFILE_REPS,
    _comparable_sets,
    _plot_iqm,
    _plot_profiles,
)
from dqn_core.plots.canvas import DPI, FIGSIZE, grid_figsize
from dqn_core.plots.curves import _plot_curves
from dqn_core.plots.scores import _plot_scores
from dqn_core.results import load_suite

__all__ = [
    "CURVE_REPS",
    "DPI",
    "FIGSIZE",
    "PROFILE_REPS",
    "grid_figsize",
    "plot_suite",
]

log = logging.getLogger(__name__)


def plot_suite(results_dir: Path, out_dir: Path | None = None, *, seed: int = 0) -> list[Path]:
    """Draw every figure of a suite as PNG and SVG.

    Args:
        results_dir: ``results/<suite>`` (holding ``runs/``).
        out_dir: where the figures go (default ``results_dir/figures``).
        seed: seed of the bootstrap generator of the bands.

    Returns:
        The files written, PNG and SVG of each figure, in drawing order.
    """
    results_dir = Path(results_dir)
    out = Path(out_dir) if out_dir is not None else results_dir / "figures"
    data = load_suite(results_dir)
    paths = _plot_curves(data, out)
    paths += _plot_scores(data, out)
    sets = _comparable_sets(data)
    if not sets:
        log.warning("no finished run of a game with a human score: no IQM curve or profile")
    paths += _plot_iqm(data, sets, out, seed)
    paths += _plot_profiles(data, sets, out, seed)
    log.info("wrote %d figure files to %s", len(paths), out)
    return paths
