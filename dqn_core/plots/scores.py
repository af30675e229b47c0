"""Per-game final scores beside the published runs: ``scores_<group>``.

One panel a game, on the all-games grid of the learning curves: our runs'
final scores (a dot each, their mean a bar) above each published per-run
algorithm's runs (DrQ(eps) and SPR under ``atari100k``, 100 runs a game): the
runs faint, a box from the first to the third quartile with the median, a line
from the lowest to the highest run. The matched algorithm's published
per-game score (the DER paper's for ``der``) is a dashed line. Raw game
scores, so each panel has its own scale; the panel's title gives our mean's
percentile among the first per-run algorithm's runs (as the per-game table
does). Drawn only where a published score or run matches the group's protocol
and frame budget: where the per-game table compares.
"""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

from dqn_core.plots.canvas import (
    _OURS,
    _REFERENCE_COLOURS,
    _STYLE,
    _new_figure,
    _save,
    grid_figsize,
    wrap_title,
)
from dqn_core.results import (
    SuiteData,
    find_match,
    frames_label,
    frames_match,
    published_lookup,
    reference_runs_by_game,
    run_percentile,
)

__all__: list[str] = []

log = logging.getLogger(__name__)


def _draw_runs(ax: Axes, y: float, runs: np.ndarray, colour: str) -> None:
    """One published algorithm's runs on row ``y``: faint dots, quartile box, min-max line."""
    jitter = np.linspace(-0.18, 0.18, len(runs))  # fixed, so redrawn figures are identical
    ax.scatter(runs, y + jitter, s=4, color=colour, alpha=0.25, lw=0)
    q1, med, q3 = np.percentile(runs, [25, 50, 75])
    ax.plot([runs.min(), runs.max()], [y, y], color=colour, lw=0.8)
    ax.add_patch(Rectangle((q1, y - 0.22), q3 - q1, 0.44, fc="none", ec=colour, lw=1.2))
    ax.plot([med, med], [y - 0.22, y + 0.22], color=colour, lw=1.6)


def _draw_game(
    ax: Axes,
    game: str,
    ours: np.ndarray,
    refs: list[tuple[str, np.ndarray]],
    paper: float | None,
) -> None:
    rows = len(refs) + 1
    top = rows - 1
    for i, (_, runs) in enumerate(refs):
        _draw_runs(ax, top - 1 - i, runs, _REFERENCE_COLOURS[(i + 1) % len(_REFERENCE_COLOURS)])
    ax.scatter(ours, np.full(len(ours), float(top)), s=22, color=_OURS, zorder=3)
    mean = float(np.mean(ours))
    ax.plot([mean, mean], [top - 0.3, top + 0.3], color=_OURS, lw=2.2, zorder=3)
    if paper is not None:
        ax.axvline(paper, color=_REFERENCE_COLOURS[0], ls="--", lw=1.2)
    ax.set_yticks(range(rows), [alg for alg, _ in reversed(refs)] + [f"ours ({len(ours)})"])
    ax.set_ylim(-0.6, rows - 0.4)
    ax.grid(axis="y", visible=False)
    title = game
    if refs:
        title += f": ours at {run_percentile(mean, refs[0][1]):.0f}% of {refs[0][0]}"
    ax.set_title(title)


def _plot_scores(data: SuiteData, out_dir: Path) -> list[Path]:
    paths: list[Path] = []
    for group in data.groups():
        finished: pd.DataFrame = data.finished(group)
        if finished.empty:
            continue
        first = finished.iloc[0]
        budget = int(first["budget_frames"])
        match = find_match(str(first["preset"]), str(first["protocol"]))
        if match is None:
            continue
        algorithm = match.algorithm
        lookup = {
            g: p
            for g, p in published_lookup(match, algorithm, budget).items()
            if p.frames is not None and frames_match(budget, p.frames)
        }
        per_run = (
            {alg: reference_runs_by_game(match, alg) for alg in match.per_run}
            if match.frames is not None and frames_match(budget, match.frames)
            else {}
        )  # Atari-100k runs only: reference_runs_by_game gives {} for other tables
        games = sorted(finished["game"].unique())
        keyed = {g: str(finished.loc[finished["game"] == g, "game_key"].iloc[0]) for g in games}
        if not any(keyed[g] in lookup or any(keyed[g] in r for r in per_run.values())
                   for g in games):  # fmt: skip
            continue  # nothing published at this protocol and budget: the curves say so
        log.info("%s: final scores beside the published runs, %d games", group, len(games))
        with mpl.rc_context(_STYLE):
            width, height, rows, cols = grid_figsize(len(games))
            fig = _new_figure((width, height))
            axes = fig.subplots(rows, cols, squeeze=False)
            for ax, game in zip(axes.flat, games, strict=False):
                key = keyed[game]
                ours = finished.loc[finished["game"] == game, "final_score"].to_numpy(float)
                refs = [(alg, runs[key]) for alg, runs in per_run.items() if key in runs]
                pub = lookup.get(key)
                _draw_game(ax, game, ours, refs, pub.score if pub is not None else None)
            for ax in list(axes.flat)[len(games) :]:
                ax.set_visible(False)
            refs_text = ", ".join(f"{alg}'s runs" for alg in per_run) or "no per-run data"
            title = (
                f"{data.suite}: {first['preset']}, {first['protocol_label']} protocol, "
                f"{frames_label(budget)} frames: final scores (raw)\n"
                f"ours: a dot a run, bar = mean; {refs_text}: box = quartiles and median, "
                f"line = lowest to highest; dashed: {algorithm} (published per-game score)"
            )
            if not match.comparable:  # e.g. human starts: drawn, not compared (per-game table)
                title += f"; not compared: {match.caveat}"
            fig.suptitle(wrap_title(title, width))
            paths += _save(fig, out_dir, f"scores_{group}")
    return paths
