"""The per-game table of one group: our final scores beside the published ones.

Per game: the mean, std and 95% Student-t interval over seeds of the final
score, its human-normalised score (HNS), and the published score of the
matching algorithm, protocol and frame budget beside it, with the difference
and whether the published value lies inside our interval.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from dqn_core.results import reference, stats
from dqn_core.results.load import SuiteData
from dqn_core.results.published import (
    FRAMES_TOLERANCE,
    Published,
    find_match,
    frames_label,
    frames_match,
    published_lookup,
    reference_runs_by_game,
    run_percentile,
)
from dqn_core.results.rom_editions import rom_note

__all__: list[str] = []


def _per_game_table(data: SuiteData, group: str, confidence: float) -> pd.DataFrame:
    runs = data.finished(group)
    first = data.runs[data.runs["group"] == group].iloc[0]
    preset, protocol, budget = (
        str(first["preset"]),
        str(first["protocol"]),
        int(first["budget_frames"]),
    )
    match = find_match(preset, protocol)
    table = reference.random_human()
    counts = runs["final_source"].value_counts()
    sources = ", ".join(f"{n} run(s) from {src}" for src, n in counts.items())
    notes = [
        f"preset {preset}, protocol {first['protocol_label']}, frame budget {frames_label(budget)} emulator "
        "frames (train.total_steps x env.frame_skip); final score = mean of the final "
        f"evaluation's episodes ({sources}; evaluation epsilon {first['eval_epsilon']:g}).",
        f"ci95_low/high: {confidence:.0%} Student-t interval of the mean over seeds "
        "(undefined with one seed).",
        reference.HNS_CONVENTION
        if (runs["game_key"] == "video_pinball").any()
        else reference.HNS_CONVENTION.split(" Video Pinball")[0],
    ]
    roms = rom_note(runs["game"].astype(str), str(first["roms_dir"]))
    if roms is not None:
        notes.append(roms)
    main: dict[str, Published] = {}
    extras: dict[str, dict[str, Published]] = {}
    per_run_scores: dict[str, dict[str, np.ndarray]] = {}
    frames_ok = False
    published_frames: int | None = None
    if match is None:
        notes.append(
            f"no published numbers are mapped to preset {preset!r} under protocol {protocol!r} "
            "(see dqn_core.results.PUBLISHED_MATCHES)."
        )
    else:
        main = published_lookup(match, match.algorithm, budget)
        extras = {alg: published_lookup(match, alg, budget) for alg in match.extras}
        per_run_scores = {alg: reference_runs_by_game(match, alg) for alg in match.per_run}
        pf = [p.frames for p in main.values() if p.frames is not None]
        published_frames = int(np.median(pf)) if pf else None
        frames_ok = published_frames is not None and frames_match(budget, published_frames)
        notes.append(f"published: {match.algorithm}: {match.citation}.")
        if not frames_ok:
            shown = frames_label(published_frames) if published_frames else "?"
            notes.append(
                f"frame budgets differ (ours {frames_label(budget)}, published {shown} frames): "
                "published scores are shown for reference only; no difference or interval "
                "check is computed."
            )
        elif not match.comparable:
            notes.append(f"not compared: {match.caveat}.")
        elif match.caveat:
            notes.append(f"labelled comparison: {match.caveat}.")
        if frames_ok and published_frames != budget:
            notes.append(
                f"published at {frames_label(published_frames or 0)} frames, counted as the same "
                f"budget as ours (within {FRAMES_TOLERANCE:.0%})."
            )
    compare = match is not None and frames_ok and match.comparable

    rows = []
    for game, g in runs.groupby("game", sort=True):
        key = g["game_key"].iloc[0]
        mean, std, low, high = stats.mean_confidence_interval(g["final_score"], confidence)
        row: dict[str, object] = {
            "game": game,
            "game_key": key,
            "runs": len(g),
            "score_mean": mean,
            "score_std": std,
            "ci95_low": low,
            "ci95_high": high,
            "hns": np.nan,
            "train_return": float(g["train_return"].mean()),
        }
        if isinstance(key, str) and key in table.index:
            row["hns"] = float(
                stats.human_normalized_score(
                    mean, table.loc[key, "random"], table.loc[key, "human"]
                )
            )
        if match is not None:
            pub = main.get(key) if isinstance(key, str) else None
            row["published_algorithm"] = match.algorithm
            row["published"] = pub.score if pub else np.nan
            row["published_std"] = pub.std if pub else np.nan
            row["published_frames"] = pub.frames if pub and pub.frames is not None else np.nan
            in_ci: object = pd.NA
            diff = np.nan
            if pub is None:
                comparison = "no published score for this game"
            elif not frames_ok:
                comparison = (
                    f"not compared: budget {frames_label(budget)} vs published "
                    f"{frames_label(pub.frames or 0)} frames"
                )
            elif not match.comparable:
                comparison = f"not compared: {match.caveat}"
            else:
                diff = mean - pub.score
                if math.isfinite(low):
                    in_ci = bool(low <= pub.score <= high)
                    comparison = "compared" + (
                        f" (labelled: {match.caveat})" if match.caveat else ""
                    )
                else:
                    comparison = "compared; one run: no interval"
            row["diff"] = diff
            row["published_in_ci"] = in_ci
            row["comparison"] = comparison
            for alg, lookup in extras.items():
                p = lookup.get(key) if isinstance(key, str) else None
                row[alg] = p.score if p else np.nan
            for alg, by_game in per_run_scores.items():
                published_runs = by_game.get(key) if isinstance(key, str) else None
                ours = theirs = np.nan
                if published_runs is not None and frames_ok:
                    ours = run_percentile(mean, published_runs)
                    # Where the published algorithm's own score sits among the same runs.
                    if pub is not None:
                        theirs = run_percentile(pub.score, published_runs)
                row[f"{alg} percentile"] = ours
                row[f"published {alg} percentile"] = theirs
        rows.append(row)
    df = pd.DataFrame(rows)
    if "published_in_ci" in df:
        df["published_in_ci"] = df["published_in_ci"].astype("boolean")
    if compare and len(df):
        inside = df["published_in_ci"].dropna()
        notes.append(
            f"{int(inside.sum())} of {len(inside)} published scores lie inside our "
            f"{confidence:.0%} interval."
        )
    excluded = data.runs[(data.runs["group"] == group) & ~data.runs["finished"]]
    if len(excluded):
        notes.append(f"{len(excluded)} unfinished run(s) left out (no summary.json).")
    df.attrs["title"] = (
        f"Per-game final scores: {preset}, {first['protocol_label']}, {frames_label(budget)} frames"
    )
    df.attrs["notes"] = notes
    df.attrs["group"] = group
    df.attrs["published_frames"] = published_frames
    df.attrs["budget_frames"] = budget
    df.attrs["extras"] = list(extras)
    df.attrs["percentiles"] = [a for a, by_game in per_run_scores.items() if by_game]
    if df.attrs["percentiles"] and frames_ok:
        notes.append(
            "percentile: the share of the published runs of that algorithm (rliable's "
            "per-run data, 100 runs a game for DrQ(eps) and SPR) that score below our mean "
            "on the game (ties count half); 0 or 100 means outside their whole spread. "
            "The published score's percentile, beside it, reads the same way: where both "
            "are low, a gap to those runs is the published algorithm's as much as ours."
        )
    df.attrs["measure"] = match.measure if match is not None else ""
    return df
