"""The suite-level tables of human-normalised scores (HNS): aggregates and P(X > Y).

- ``aggregate``: median, IQM, mean and optimality gap of HNS with 95%
  stratified-bootstrap intervals (rliable's definitions,
  :mod:`dqn_core.results.stats`), for our presets and for published per-run
  data on the same games;
- ``probability_of_improvement``: P(X > Y) between presets (and published
  per-run data) measured under the same protocol and frame budget; other pairs
  are refused and the notes say why.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from dqn_core.results import reference, stats
from dqn_core.results.load import SuiteData
from dqn_core.results.published import (
    find_match,
    frames_label,
    frames_match,
    published_lookup,
    reference_run_matrix,
)

__all__ = ["hns_matrix"]

log = logging.getLogger(__name__)


def hns_matrix(
    finished: pd.DataFrame, column: str = "final_score"
) -> tuple[np.ndarray, list[str], int, list[str]]:
    """Runs x games matrix of human-normalised scores for the aggregate metrics.

    rliable's metrics need the same number of runs for every game; games with
    more runs than the smallest count keep their first runs by seed (the rest
    are listed in the returned notes, never silently dropped).

    Args:
        finished: rows of finished runs (``game_key``, ``seed``, ``column``).
        column: the score column.

    Returns:
        ``(matrix (runs, games), game keys, runs per game, notes)``; an empty
        matrix when no game has a reference score.
    """
    notes: list[str] = []
    table = reference.random_human()
    known = finished["game_key"].isin(table.index)
    unknown = sorted(set(finished.loc[~known, "game"]))
    if unknown:
        notes.append(f"no human/random reference score, left out: {', '.join(unknown)}")
    usable = finished[known].sort_values(["game_key", "seed"])
    if usable.empty:
        return np.empty((0, 0)), [], 0, notes
    counts = usable.groupby("game_key")["seed"].count()
    k = int(counts.min())
    extra = counts[counts > k]
    if len(extra):
        notes.append(
            f"aggregate uses {k} run(s) per game (rliable needs equal counts); extra runs of "
            + ", ".join(f"{g} ({n - k})" for g, n in extra.items())
            + " appear in the per-game table only"
        )
    games = counts.index.tolist()
    cols = []
    for g in games:
        scores = usable.loc[usable["game_key"] == g, column].to_numpy(dtype=float)[:k]
        rnd, hum = table.loc[g, "random"], table.loc[g, "human"]
        cols.append(stats.human_normalized_score(scores, rnd, hum))
    return np.stack(cols, axis=1), games, k, notes


def _interval_rows(
    matrix: np.ndarray, base: dict[str, object], reps: int, rng: np.random.Generator
) -> list[dict[str, object]]:
    # One run a game: resampling runs within each game gives back the same runs, so the
    # interval would be the point itself; it is left out (NaN, shown as no interval). The
    # bootstrap still runs, so the generator's stream (and the other rows) stay the same.
    single = matrix.shape[0] < 2
    rows = []
    for metric, fn in stats.METRICS.items():
        iv = stats.interval_estimate(matrix, fn, reps=reps, rng=rng)
        rows.append(
            {
                **base,
                "metric": metric,
                "point": float(iv.point),
                "ci_low": np.nan if single else float(iv.low),
                "ci_high": np.nan if single else float(iv.high),
                "reps": reps,
            }
        )
    return rows


def _aggregate_table(
    data: SuiteData, reps: int, rng: np.random.Generator, seed: int
) -> tuple[pd.DataFrame, dict[str, tuple[np.ndarray, list[str]]]]:
    rows: list[dict[str, object]] = []
    notes: list[str] = [
        "HNS aggregates with rliable's definitions: median and mean of per-game means; IQM = "
        "25%-trimmed mean of all runs x games; optimality gap = 1 - mean(min(HNS, 1)). "
        "For published per-game means (one number a game, no runs) the IQM is the "
        "25%-trimmed mean over the games.",
        f"95% intervals: percentile, stratified bootstrap over runs within each game, {reps} "
        f"resamples, numpy generator seed {seed}.",
        reference.HNS_CONVENTION,
    ]
    if not (data.runs["game_key"] == "video_pinball").any():
        notes[-1] = notes[-1].split(" Video Pinball")[0]
    matrices: dict[str, tuple[np.ndarray, list[str]]] = {}
    for group in data.groups():
        finished = data.finished(group)
        if finished.empty:
            notes.append(f"{group}: no finished run, no aggregate.")
            continue
        first = finished.iloc[0]
        preset, protocol = str(first["preset"]), str(first["protocol"])
        budget = int(first["budget_frames"])
        matrix, games, k, mnotes = hns_matrix(finished)
        notes.extend(f"{group}: {n}" for n in mnotes)
        if not games:
            continue
        matrices[group] = (matrix, games)
        if k == 1:
            notes.append(
                f"{group}: one run a game, so no interval: a bootstrap over runs within "
                "each game has nothing to resample."
            )
        base = {
            "group": group,
            "preset": preset,
            "protocol": str(first["protocol_label"]),  # with the revision where there are several
            "frames": budget,
            "source": "ours",
            "algorithm": preset,
            "games": len(games),
            "runs_per_game": k,
        }
        log.info(
            "%s: bootstrap of 4 metrics over %d runs x %d games (%d resamples)",
            group,
            k,
            len(games),
            reps,
        )
        rows.extend(_interval_rows(matrix, base, reps, rng))

        match = find_match(preset, protocol)
        if match is None:
            continue
        for alg in match.per_run:
            found = reference_run_matrix(match, alg, games, budget)
            if found is None:
                notes.append(f"{group}: {alg} has no per-run data for some of our games.")
                continue
            ref, ref_frames = found
            if not frames_match(budget, ref_frames):
                notes.append(
                    f"{group}: {alg} per-run data are at {frames_label(ref_frames)} frames; "
                    "not aggregated beside ours."
                )
                continue
            matrices[f"published:{alg}@{group}"] = (ref, games)
            src = match.source_label("per-run data")
            if match.caveat:
                notes.append(f"{group}: {alg}: {match.caveat}.")
            info = {
                **base,
                "protocol": protocol,  # published under the protocol, not our revision of it
                "source": src,
                "algorithm": alg,
                "runs_per_game": ref.shape[0],
            }
            rows.extend(_interval_rows(ref, info, reps, rng))
        # Published per-game means: median, mean and the IQM over games (the 25%-trimmed
        # mean of one value a game); the optimality gap is left to per-run data.
        for alg in (match.algorithm, *match.extras):
            if alg in match.per_run:
                continue
            lookup = published_lookup(match, alg, budget)
            have = [g for g in games if g in lookup]
            frames = next((p.frames for p in lookup.values() if p.frames is not None), None)
            if not have or frames is None:
                continue
            if not frames_match(budget, frames):
                notes.append(
                    f"{group}: {alg} is published at {frames_label(frames)} frames; its "
                    f"aggregate is not put beside ours ({frames_label(budget)} frames)."
                )
                continue
            if not match.comparable:
                notes.append(f"{group}: {alg}: {match.caveat}; no aggregate beside ours.")
                continue
            table = reference.random_human()
            hns = stats.human_normalized_score(
                [lookup[g].score for g in have], table.loc[have, "random"], table.loc[have, "human"]
            ).reshape(1, -1)
            src = match.source_label("per-game means")
            # One value a game: IQM here trims over games, not over runs x games.
            for metric in ("median", "iqm", "mean"):
                rows.append(
                    {
                        **base,
                        "protocol": protocol,
                        "source": src,
                        "algorithm": alg,
                        "games": len(have),
                        "runs_per_game": np.nan,
                        "metric": metric,
                        "point": float(stats.METRICS[metric](hns)),
                        "ci_low": np.nan,
                        "ci_high": np.nan,
                        "reps": 0,
                    }
                )
            if len(have) < len(games):
                notes.append(
                    f"{group}: {alg} published on {len(have)} of our {len(games)} games; "
                    "its median/mean use those games only."
                )
    cols = [
        "group", "preset", "protocol", "frames", "source", "algorithm", "games",
        "runs_per_game", "metric", "point", "ci_low", "ci_high", "reps",
    ]  # fmt: skip
    df = pd.DataFrame(rows, columns=cols)
    df.attrs["title"] = f"Aggregate human-normalised scores of suite {data.suite}"
    df.attrs["notes"] = notes
    return df, matrices


def _poi_table(
    data: SuiteData,
    matrices: dict[str, tuple[np.ndarray, list[str]]],
    reps: int,
    rng: np.random.Generator,
) -> pd.DataFrame:
    notes = [
        "P(X > Y): per game, the probability that a run of X scores above a run of Y "
        "(Mann-Whitney U / (n_x n_y), ties count 1/2), averaged over the games both have; "
        f"95% interval from {reps} independent stratified resamples of X's and Y's runs.",
    ]
    meta = {}
    for name in matrices:
        group = name.split("@")[-1]
        first = data.runs[data.runs["group"] == group].iloc[0]
        preset, protocol = str(first["preset"]), str(first["protocol"])
        label = preset
        if "@" in name:
            label = name.split("@")[0].removeprefix("published:")
            match = find_match(preset, protocol)
            if match is not None and match.measure != "evaluation scores":
                label += f" ({match.measure})"
        meta[name] = (label, str(first["protocol_label"]), int(first["budget_frames"]))
    rows = []
    names = list(matrices)
    for i, x in enumerate(names):
        for y in names[i + 1 :]:
            lx, px, fx = meta[x]
            ly, py, fy = meta[y]
            if x.startswith("published:") and y.startswith("published:"):
                continue  # published vs published is not this suite's business
            if (px, fx) != (py, fy):
                notes.append(
                    f"refused: {lx} ({px}, {frames_label(fx)}) vs {ly} ({py}, {frames_label(fy)}): "
                    "different protocol or frame budget."
                )
                continue
            (mx, gxs), (my, gys) = matrices[x], matrices[y]
            common = [g for g in gxs if g in gys]
            if not common:
                notes.append(f"refused: {lx} vs {ly}: no game in common.")
                continue
            sx = mx[:, [gxs.index(g) for g in common]]
            sy = my[:, [gys.index(g) for g in common]]
            iv = stats.probability_of_improvement_interval(sx, sy, reps=reps, rng=rng)
            rows.append(
                {
                    "x": lx,
                    "y": ly,
                    "protocol": px,
                    "frames": fx,
                    "games": len(common),
                    "runs_x": sx.shape[0],
                    "runs_y": sy.shape[0],
                    "p_x_better": float(iv.point),
                    "ci_low": float(iv.low),
                    "ci_high": float(iv.high),
                    "reps": reps,
                }
            )
    if len(matrices) < 2:
        notes.append(
            "fewer than two score sets with the same protocol and budget: nothing to compare."
        )
    cols = ["x", "y", "protocol", "frames", "games", "runs_x", "runs_y", "p_x_better",
            "ci_low", "ci_high", "reps"]  # fmt: skip
    df = pd.DataFrame(rows, columns=cols)
    df.attrs["title"] = "Probability of improvement P(X > Y) on human-normalised scores"
    df.attrs["notes"] = notes
    return df
