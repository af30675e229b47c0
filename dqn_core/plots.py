"""Figures of a suite: learning curves, aggregate IQM curves, performance profiles.

``plot_suite(results/<suite>)`` reads the run directories (through
:func:`dqn_core.aggregate.load_suite`, never MLflow) and writes PNG and SVG
files under ``results/<suite>/figures/``:

- ``curve_<group>_<Game>``: evaluation score against emulator frames for one
  game: each seed faint, the mean over seeds bold with its 95% Student-t band,
  and the reference where the protocol matches: Dopamine's DQN curve (training
  returns, its own 95% band over 5 runs) under ``machado2018``, or the published
  final scores as dashed levels when the frame budget matches; a published
  score at another budget is named in the title, not drawn;
- ``curves_<group>``: all games of a group on one page;
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
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter

from dqn_core import reference, stats
from dqn_core.aggregate import (
    SuiteData,
    find_match,
    frames_label,
    frames_match,
    hns_matrix,
    load_suite,
    published_lookup,
    reference_run_matrix,
)

__all__ = [
    "CURVE_REPS",
    "DPI",
    "FIGSIZE",
    "PROFILE_REPS",
    "grid_figsize",
    "plot_suite",
]

log = logging.getLogger(__name__)

DPI = 100
#: Size in inches of single-panel figures (640 x 400 pixels).
FIGSIZE = (6.4, 4.0)
#: Bootstrap resamples per point of the IQM curves and performance profiles
#: (rliable's create_performance_profile default: 2,000).
CURVE_REPS = 2_000
PROFILE_REPS = 2_000

# Any keys: matplotlib types rc_context with a Literal of every rc name.
_STYLE: dict[Any, Any] = {
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 9,
    "axes.titlesize": 10,
    "legend.fontsize": 7,
    "legend.framealpha": 0.8,
    "svg.hashsalt": "dqn-harness",
}
_OURS = "tab:blue"
_OURS_COLOURS = (_OURS, "tab:orange", "tab:cyan", "tab:olive", "tab:pink")
_REFERENCE_COLOURS = ("tab:red", "tab:green", "tab:purple", "tab:brown", "tab:gray")
_FRAMES_AXIS = "Emulator frames"


def grid_figsize(n_panels: int) -> tuple[float, float, int, int]:
    """Size of the all-games page: ``(width_in, height_in, rows, cols)``."""
    cols = min(4, max(1, n_panels))
    rows = math.ceil(max(1, n_panels) / cols)
    return 3.2 * cols, 2.4 * rows + 0.6, rows, cols


def _new_figure(size: tuple[float, float]) -> Figure:
    fig = Figure(figsize=size, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, out_dir: Path, stem: str) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / f"{stem}.png", out_dir / f"{stem}.svg"]
    fig.savefig(paths[0], dpi=DPI)
    fig.savefig(paths[1], metadata={"Date": None})
    return paths


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


def _draw_curve(ax: Axes, data: SuiteData, group: str, game: str, *, compact: bool) -> list[str]:
    """One game's learning curves on ``ax``; returns the published scores not drawn."""
    runs = _game_runs(data, group, game)
    first = runs.iloc[0]
    preset, protocol = str(first["preset"]), str(first["protocol"])
    budget = int(first["budget_frames"])
    ev = data.evals[data.evals["run_id"].isin(runs["run_id"])]
    wide = ev.pivot_table(index="frames", columns="run_id", values="score_mean")
    for i, run_id in enumerate(runs["run_id"]):
        if run_id in wide:
            col = wide[run_id].dropna()
            ax.plot(col.index, col.to_numpy(), color=_OURS, alpha=0.3, lw=0.8,
                    label="individual seeds" if i == 0 else None)  # fmt: skip
    complete = wide.dropna()  # frames every run of this game has reached
    n = complete.shape[1]
    if len(complete):
        mean, low, high = _t_band(complete.to_numpy().T)
        x = complete.index.to_numpy()
        label = f"{preset}: mean over seeds" if compact else f"{preset}: mean of {n} seeds"
        ax.plot(x, mean, color=_OURS, lw=2, marker="o", ms=3, label=label)
        if n > 1:
            ax.fill_between(x, low, high, color=_OURS, alpha=0.2, lw=0, label="95% CI of the mean")
    x_max = float(wide.index.max()) if len(wide) else float(budget)
    not_drawn = _draw_reference(
        ax, preset, protocol, budget, str(first["game_key"]), x_max, compact=compact
    )
    ax.set_xlabel(_FRAMES_AXIS)
    ax.set_ylabel("Evaluation score" if compact else "Evaluation score (raw game score)")
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    ax.set_xlim(left=0)
    if compact:
        ax.set_title(game)
    else:
        title = f"{game}: {preset}, {protocol} protocol, {frames_label(budget)} frames"
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
                f"{data.suite}: {first['preset']}, {first['protocol']} protocol, "
                f"{frames_label(int(first['budget_frames']))} frames (band: 95% CI over seeds)"
            )
            if skipped_refs:
                title += "\npublished scores at other frame budgets are not drawn"
            fig.suptitle(title)
            fig.legend(handles, labels, loc="outside lower center", ncols=min(4, len(labels)))
            paths += _save(fig, out_dir, f"curves_{group}")
    return paths


def _has_evals(data: SuiteData, group: str, game: str) -> bool:
    ids = _game_runs(data, group, game)["run_id"]
    return bool(data.evals["run_id"].isin(ids).any())


# ------------------------------------------------------ aggregate figures
def _comparable_sets(data: SuiteData) -> dict[tuple[str, int], list[str]]:
    """Groups with HNS-normalisable games, keyed by (protocol, budget frames)."""
    out: dict[tuple[str, int], list[str]] = {}
    for group in data.groups():
        finished = data.finished(group)
        if finished.empty or not hns_matrix(finished)[1]:
            continue
        first = finished.iloc[0]
        out.setdefault((str(first["protocol"]), int(first["budget_frames"])), []).append(group)
    return out


def _curve_tensor(data: SuiteData, group: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """HNS at every evaluation point all aggregate runs share: (points, runs, games)."""
    finished = data.finished(group)
    _, games, k, _ = hns_matrix(finished)
    table = reference.random_human()
    chosen = (
        finished[finished["game_key"].isin(games)].sort_values(["game_key", "seed"])
        .groupby("game_key").head(k)
    )  # fmt: skip
    ev = data.evals[data.evals["run_id"].isin(chosen["run_id"])]
    wide = ev.pivot_table(index="frames", columns="run_id", values="score_mean").dropna()
    frames = wide.index.to_numpy()
    cube = np.empty((len(frames), k, len(games)))
    for j, g in enumerate(games):
        ids = chosen.loc[chosen["game_key"] == g, "run_id"].tolist()
        raw = wide[ids].to_numpy()  # (points, k)
        cube[:, :, j] = stats.human_normalized_score(
            raw, table.loc[g, "random"], table.loc[g, "human"]
        )
    return frames, cube, games


def _dopamine_iqm(games: Sequence[str], max_frames: float) -> tuple[np.ndarray, np.ndarray] | None:
    curves = reference.dopamine_curves("legacy_dqn")
    table = reference.random_human()
    curves = curves[curves["frames"] <= max_frames * 1.001]
    if curves.empty or not set(games) <= set(curves["game"]):
        return None
    frames = np.sort(curves["frames"].unique())
    cube = np.empty((len(frames), 5, len(games)))
    for j, g in enumerate(games):
        rows = curves[curves["game"] == g].set_index("frames").loc[frames]
        raw = rows[[f"run{i}" for i in range(5)]].to_numpy(dtype=float)
        cube[:, :, j] = stats.human_normalized_score(
            raw, table.loc[g, "random"], table.loc[g, "human"]
        )
    return frames, cube


def _plot_iqm(
    data: SuiteData, sets: dict[tuple[str, int], list[str]], out_dir: Path, seed: int
) -> list[Path]:
    paths: list[Path] = []
    rng = np.random.default_rng(seed)
    for (protocol, budget), groups in sets.items():
        with mpl.rc_context(_STYLE):
            fig = _new_figure(FIGSIZE)
            ax = fig.add_subplot()
            n_games = 0
            for i, group in enumerate(groups):
                frames, cube, games = _curve_tensor(data, group)
                if not len(frames):
                    continue
                n_games = len(games)
                log.info("%s: IQM curve over %d points (%d resamples)", group, len(frames),
                         CURVE_REPS)  # fmt: skip
                iv = stats.interval_estimate(cube, stats.aggregate_iqm, reps=CURVE_REPS, rng=rng)
                colour = _OURS_COLOURS[i % len(_OURS_COLOURS)]
                preset = group.split(f"_{protocol}_")[0]
                ax.plot(frames, iv.point, color=colour, lw=2, marker="o", ms=3,
                        label=f"{preset}: {cube.shape[1]} runs x {len(games)} games")  # fmt: skip
                ax.fill_between(frames, iv.low, iv.high, color=colour, alpha=0.2, lw=0)
                match = find_match(preset, protocol)
                if match is not None and match.table == "dopamine_curve":
                    dop = _dopamine_iqm(games, float(frames.max()))
                    if dop is not None:
                        dframes, dcube = dop
                        div = stats.interval_estimate(
                            dcube, stats.aggregate_iqm, reps=CURVE_REPS, rng=rng
                        )
                        ax.plot(dframes, div.point, color=_REFERENCE_COLOURS[0], lw=1.5, ls="--",
                                label="Dopamine DQN (training returns), 5 runs")  # fmt: skip
                        ax.fill_between(dframes, div.low, div.high, color=_REFERENCE_COLOURS[0],
                                        alpha=0.12, lw=0)  # fmt: skip
            if not ax.lines:
                continue
            ax.axhline(1.0, color="0.4", lw=0.8, ls=":", label="human level (HNS = 1)")
            ax.set_ylim(bottom=min(0.0, ax.get_ylim()[0]))  # keep random level (0) in view
            ax.set_xlabel(_FRAMES_AXIS)
            ax.set_ylabel("IQM of human-normalised score")
            ax.xaxis.set_major_formatter(EngFormatter(sep=""))
            ax.set_xlim(left=0)
            ax.set_title(
                f"{data.suite}: IQM of human-normalised scores over {n_games} games\n"
                f"{protocol} protocol, {frames_label(budget)} frames; "
                "bands: 95% stratified bootstrap CI"
            )
            ax.legend(loc="best")
            paths += _save(fig, out_dir, f"iqm_{protocol}_{frames_label(budget)}")
    return paths


def _plot_profiles(
    data: SuiteData, sets: dict[tuple[str, int], list[str]], out_dir: Path, seed: int
) -> list[Path]:
    paths: list[Path] = []
    rng = np.random.default_rng(seed + 1)
    for (protocol, budget), groups in sets.items():
        entries: list[tuple[str, np.ndarray, bool]] = []  # (label, HNS runs x games, ours)
        for group in groups:
            matrix, games, k, _ = hns_matrix(data.finished(group))
            preset = group.split(f"_{protocol}_")[0]
            entries.append((f"{preset}: {k} runs x {len(games)} games", matrix, True))
            match = find_match(preset, protocol)
            if match is None:
                continue
            for alg in match.per_run:
                found = reference_run_matrix(match, alg, games, budget)
                if found is not None and frames_match(budget, found[1]):
                    kind = "training returns" if match.table == "dopamine_curve" else "published"
                    label = f"{alg} ({kind}, {found[0].shape[0]} runs)"
                    entries.append((label, found[0], False))
        pooled = np.concatenate([m.reshape(-1) for _, m, _ in entries])
        # Up to where 5% of runs remain, and past human level so its marker shows.
        tau_max = max(1.25, float(np.quantile(pooled, 0.95)))
        taus = np.linspace(0.0, tau_max, 101)
        with mpl.rc_context(_STYLE):
            fig = _new_figure(FIGSIZE)
            ax = fig.add_subplot()
            n_ours = n_ref = 0
            for label, matrix, ours in entries:
                point = stats.score_distribution(matrix, taus)
                reps = stats.stratified_bootstrap(
                    matrix, partial(stats.score_distribution, taus=taus), reps=PROFILE_REPS, rng=rng
                )
                low, high = stats.percentile_interval(reps)
                if ours:
                    colour, ls, lw = _OURS_COLOURS[n_ours % len(_OURS_COLOURS)], "-", 2.0
                    n_ours += 1
                else:
                    colour, ls, lw = _REFERENCE_COLOURS[n_ref % len(_REFERENCE_COLOURS)], "--", 1.5
                    n_ref += 1
                ax.plot(taus, point, color=colour, lw=lw, ls=ls, label=label)
                ax.fill_between(taus, low, high, color=colour, alpha=0.18, lw=0)
            ax.axvline(1.0, color="0.4", lw=0.8, ls=":", label="human level")
            ax.set_xlabel(r"Human-normalised score $\tau$")
            ax.set_ylabel(r"Fraction of runs with score $> \tau$")
            ax.set_ylim(-0.02, 1.02)
            ax.set_xlim(0.0, tau_max)
            ax.set_title(
                f"{data.suite}: performance profile (score distribution)\n"
                f"{protocol} protocol, {frames_label(budget)} frames; "
                "bands: 95% stratified bootstrap CI"
            )
            ax.legend(loc="upper right")
            paths += _save(fig, out_dir, f"profile_{protocol}_{frames_label(budget)}")
    return paths


# ------------------------------------------------------------------- entry
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
    sets = _comparable_sets(data)
    if not sets:
        log.warning("no finished run of a game with a human score: no IQM curve or profile")
    paths += _plot_iqm(data, sets, out, seed)
    paths += _plot_profiles(data, sets, out, seed)
    log.info("wrote %d figure files to %s", len(paths), out)
    return paths
