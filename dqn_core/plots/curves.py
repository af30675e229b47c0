"""Learning curves: evaluation score against emulator frames, per game and per group.

Each seed faint, the mean over seeds bold with its 95% Student-t band, each
seed's training return (the acting policy's whole games) thin and grey, and the
published reference where the protocol matches (Dopamine's DQN curve, or
published final scores as dashed levels when the frame budget matches).
"""

from __future__ import annotations

import logging
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import EngFormatter

from dqn_core.plots.canvas import (
    _FRAMES_AXIS,
    _OURS,
    _REFERENCE_COLOURS,
    _STYLE,
    _TRAIN,
    FIGSIZE,
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
    reference,
    stats,
)

log = logging.getLogger(__name__)


def _t_band(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over axis 0 and its 95% Student-t band (NaN band with one row)."""
    mean = values.mean(axis=0)
    if values.shape[0] < 2:
        nan = np.full_like(mean, np.nan)
        return mean, nan, nan
    bounds = [stats.mean_confidence_interval(col)[2:] for col in values.T]
    low, high = (np.array(b) for b in zip(*bounds, strict=True))
    return mean, low, high


# ---------------------------------------------------------- learning curves
def _game_runs(data: SuiteData, group: str, game: str) -> pd.DataFrame:
    r = data.runs
    return r[(r["group"] == group) & (r["game"] == game)].sort_values("seed")


#: The metrics.csv column drawn as the training curve: the mean return of the
#: episodes that ended in each log window (whole games, the acting policy).
TRAIN_RETURN = "train/episode_return"


def _draw_training(ax: Axes, data: SuiteData, run_ids: pd.Series) -> None:
    """Each run's training return against frames, thin and grey (one legend entry)."""
    m = data.metrics
    if TRAIN_RETURN not in m.columns:
        return
    label: str | None = "training episodes (acting policy), per seed"
    for run_id in run_ids:
        rows = m[m["run_id"] == run_id].dropna(subset=[TRAIN_RETURN]).sort_values("frames")
        if rows.empty:
            continue
        ax.plot(rows["frames"].to_numpy(), rows[TRAIN_RETURN].to_numpy(dtype=float),
                color=_TRAIN, alpha=0.7, lw=0.7, label=label)  # fmt: skip
        label = None


def _draw_curve(ax: Axes, data: SuiteData, group: str, game: str, *, compact: bool) -> list[str]:
    """One game's learning curves on ``ax``; returns the published scores not drawn."""
    runs = _game_runs(data, group, game)
    first = runs.iloc[0]
    preset, protocol = str(first["preset"]), str(first["protocol"])
    budget = int(first["budget_frames"])
    # Under the evaluation curves: a budget with one evaluation (Atari-100k) shows
    # how the run got there, and Dopamine's published curves are training returns.
    _draw_training(ax, data, runs["run_id"])
    ev = data.evals[data.evals["run_id"].isin(runs["run_id"])]
    wide = ev.pivot_table(index="frames", columns="run_id", values="score_mean")
    for i, run_id in enumerate(runs["run_id"]):
        if run_id in wide:
            col = wide[run_id].dropna()
            # A marker too: with one evaluation (Atari-100k) a seed is a single point.
            ax.plot(col.index, col.to_numpy(), color=_OURS, alpha=0.4, lw=0.8, marker=".",
                    ms=4, label="evaluation, individual seeds" if i == 0 else None)  # fmt: skip
    complete = wide.dropna()  # frames every run of this game has reached
    n = complete.shape[1]
    if len(complete):
        mean, low, high = _t_band(complete.to_numpy().T)
        x = complete.index.to_numpy()
        seeds = f"{n} seed" if n == 1 else f"{n} seeds"
        label = (
            f"{preset}: mean over seeds" if compact else f"{preset}: evaluation, mean of {seeds}"
        )
        ax.plot(x, mean, color=_OURS, lw=2, marker="o", ms=3, label=label)
        if n > 1 and len(x) > 1:  # one point has no band to draw (the tables give its CI)
            ax.fill_between(x, low, high, color=_OURS, alpha=0.2, lw=0, label="95% CI of the mean")
    x_max = float(wide.index.max()) if len(wide) else float(budget)
    not_drawn = _draw_reference(
        ax, preset, protocol, budget, str(first["game_key"]), x_max, compact=compact
    )
    ax.set_xlabel(_FRAMES_AXIS)
    ax.set_ylabel("Score" if compact else "Score (raw game score)")
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    ax.set_xlim(left=0)
    if compact:
        ax.set_title(game)
    else:
        label = str(first["protocol_label"])
        title = f"{game}: {preset}, {label} protocol, {frames_label(budget)} frames"
        if not_drawn:
            title += "\npublished at another budget, not drawn: " + "; ".join(not_drawn)
        ax.set_title(title)
        ax.legend(loc="best")
    return not_drawn


def _draw_reference(
    ax: Axes, preset: str, protocol: str, budget: int, key: str, x_max: float, *, compact: bool
) -> list[str]:
    """Draw the published reference of one game; returns what was not drawn and why."""
    match = find_match(preset, protocol)
    if match is None:
        return []
    if match.table == "dopamine_curve":
        curves = reference.dopamine_curves("legacy_dqn")
        g = curves[(curves["game"] == key) & (curves["frames"] <= max(x_max, budget) * 1.001)]
        if g.empty:
            return ["Dopamine DQN curve (starts at 1M frames)"]
        runs = g[[f"run{i}" for i in range(5)]].to_numpy(dtype=float).T
        mean, low, high = _t_band(runs)
        x = g["frames"].to_numpy()
        colour = _REFERENCE_COLOURS[0]
        ax.plot(x, mean, color=colour, lw=1.5, ls="--",
                label="Dopamine DQN (training returns), 5 runs")  # fmt: skip
        ax.fill_between(x, low, high, color=colour, alpha=0.12, lw=0)
        return []
    not_drawn = []
    for i, alg in enumerate((match.algorithm, *match.extras)):
        pub = published_lookup(match, alg, budget).get(key)
        if pub is None or pub.frames is None:
            continue
        if not frames_match(budget, pub.frames):
            not_drawn.append(f"{alg} {pub.score:,.1f} at {frames_label(pub.frames)} frames")
            continue
        label = f"{alg} (published, {frames_label(pub.frames)} frames)"
        if not compact:
            label += f": {pub.score:,.1f}"
        if not match.comparable and alg == match.algorithm:
            label += " [human starts]"
        ax.axhline(pub.score, color=_REFERENCE_COLOURS[i % len(_REFERENCE_COLOURS)], ls="--",
                   lw=1.2, label=label)  # fmt: skip
    return not_drawn


def _plot_curves(data: SuiteData, out_dir: Path) -> list[Path]:
    paths: list[Path] = []
    for group in data.groups():
        in_group = data.runs[data.runs["group"] == group]
        games = sorted(g for g in in_group["game"].unique() if _has_evals(data, group, g))
        if not games:
            log.warning("%s: no evaluation yet, no learning curves", group)
            continue
        log.info("%s: learning curves of %d games", group, len(games))
        with mpl.rc_context(_STYLE):
            for game in games:
                fig = _new_figure(FIGSIZE)
                _draw_curve(fig.add_subplot(), data, group, game, compact=False)
                paths += _save(fig, out_dir, f"curve_{group}_{game}")
            width, height, rows, cols = grid_figsize(len(games))
            fig = _new_figure((width, height))
            axes = fig.subplots(rows, cols, squeeze=False)
            skipped_refs = False
            for ax, game in zip(axes.flat, games, strict=False):
                skipped_refs |= bool(_draw_curve(ax, data, group, game, compact=True))
            for ax in list(axes.flat)[len(games) :]:
                ax.set_visible(False)
            handles, labels = axes.flat[0].get_legend_handles_labels()
            first = in_group.iloc[0]
            title = (
                f"{data.suite}: {first['preset']}, {first['protocol_label']} protocol, "
                f"{frames_label(int(first['budget_frames']))} frames (band: 95% CI over seeds)"
            )
            if skipped_refs:
                title += "\npublished scores at other frame budgets are not drawn"
            fig.suptitle(wrap_title(title, width))
            fig.legend(handles, labels, loc="outside lower center", ncols=min(cols, 4, len(labels)))
            paths += _save(fig, out_dir, f"curves_{group}")
    return paths


def _has_evals(data: SuiteData, group: str, game: str) -> bool:
    ids = _game_runs(data, group, game)["run_id"]
    return bool(data.evals["run_id"].isin(ids).any())
