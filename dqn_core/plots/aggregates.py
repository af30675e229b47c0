"""Aggregate figures of human-normalised scores: IQM curves and performance profiles.

Both carry 95% stratified-bootstrap bands and compare only groups of the same
protocol and frame budget, with published per-run data where the budget matches.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import matplotlib as mpl
import numpy as np
from matplotlib.ticker import EngFormatter

from dqn_core.plots.canvas import (
    _FRAMES_AXIS,
    _OURS_COLOURS,
    _REFERENCE_COLOURS,
    _STYLE,
    FIGSIZE,
    _new_figure,
    _save,
)
from dqn_core.results import (
    SuiteData,
    find_match,
    frames_label,
    frames_match,
    hns_matrix,
    reference,
    reference_run_matrix,
    stats,
)

__all__ = ["CURVE_REPS", "PROFILE_REPS"]

log = logging.getLogger(__name__)

#: Bootstrap resamples per point of the IQM curves and performance profiles
#: (rliable's create_performance_profile default: 2,000).
CURVE_REPS = 2_000
PROFILE_REPS = 2_000


def _comparable_sets(data: SuiteData) -> dict[tuple[str, str, int], list[str]]:
    """Groups with HNS-normalisable games, keyed by (protocol label, protocol, budget frames).

    The label carries the protocol revision where there are several, so that
    runs of two revisions are drawn apart.
    """
    out: dict[tuple[str, str, int], list[str]] = {}
    for group in data.groups():
        finished = data.finished(group)
        if finished.empty or not hns_matrix(finished)[1]:
            continue
        first = finished.iloc[0]
        key = (str(first["protocol_label"]), str(first["protocol"]), int(first["budget_frames"]))
        out.setdefault(key, []).append(group)
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
    data: SuiteData, sets: dict[tuple[str, str, int], list[str]], out_dir: Path, seed: int
) -> list[Path]:
    paths: list[Path] = []
    rng = np.random.default_rng(seed)
    for (plabel, protocol, budget), groups in sets.items():
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
                preset = group.split(f"_{plabel}_")[0]
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
                f"{plabel} protocol, {frames_label(budget)} frames; "
                "bands: 95% stratified bootstrap CI"
            )
            ax.legend(loc="best")
            paths += _save(fig, out_dir, f"iqm_{plabel}_{frames_label(budget)}")
    return paths


def _plot_profiles(
    data: SuiteData, sets: dict[tuple[str, str, int], list[str]], out_dir: Path, seed: int
) -> list[Path]:
    paths: list[Path] = []
    rng = np.random.default_rng(seed + 1)
    for (plabel, protocol, budget), groups in sets.items():
        entries: list[tuple[str, np.ndarray, bool]] = []  # (label, HNS runs x games, ours)
        for group in groups:
            matrix, games, k, _ = hns_matrix(data.finished(group))
            preset = group.split(f"_{plabel}_")[0]
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
                f"{plabel} protocol, {frames_label(budget)} frames; "
                "bands: 95% stratified bootstrap CI"
            )
            ax.legend(loc="upper right")
            paths += _save(fig, out_dir, f"profile_{plabel}_{frames_label(budget)}")
    return paths
