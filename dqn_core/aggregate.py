"""Suite tables: our scores per game and in aggregate, beside the published ones.

``aggregate_suite(results/<suite>)`` reads every run directory
(``runs/<preset>/<game>/seed<k>/``: ``config.yaml``, ``eval.csv``,
``metrics.csv``, ``summary.json``; never MLflow) and writes, under
``results/<suite>/tables/``, each table as CSV (raw numbers), Markdown and
LaTeX (formatted, with the table's notes):

- ``runs``: one row per run: its final score, frames, wall time;
- ``per_game_<preset>_<protocol>_<frames>``: per game, the mean, std and 95%
  interval over seeds of the final score, its human-normalised score (HNS),
  and the published score of the matching algorithm, protocol and frame
  budget beside it, with the difference and whether the published value lies
  inside our interval;
- ``aggregate``: median, IQM, mean and optimality gap of HNS with 95%
  stratified-bootstrap intervals (rliable's definitions, :mod:`dqn_core.stats`),
  for our presets and for published per-run data on the same games;
- ``probability_of_improvement``: P(X > Y) between presets (and published
  per-run data) measured under the same protocol and frame budget;
- ``aggregate_meta.json``: the bootstrap seed and resample counts.

Definitions. The *final score* of a run is the mean score of its final
evaluation: the episodes of ``evaluate.csv`` (written by ``dqn evaluate`` on
the final checkpoint, the workflow's last step per run) when present, else the
episodes at the largest ``frames`` in ``eval.csv``; the ``runs`` table says
which. Only finished runs (``summary.json`` present) enter the tables. The
*frame budget* of a run is ``train.total_steps x env.frame_skip`` emulator
frames. Runs group by (preset, protocol, frame budget); nothing is compared
across groups that differ in protocol or budget: such comparisons are refused
(left out) or labelled, and the table notes say which and why. HNS uses one
convention, described in :mod:`dqn_core.reference` (Video Pinball included).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dqn_core import reference, stats
from dqn_core.config import ConfigError, RunConfig, from_dict, load_yaml
from dqn_core.envs.games import game_key

__all__ = [
    "FRAMES_TOLERANCE",
    "PUBLISHED_MATCHES",
    "Published",
    "PublishedMatch",
    "SuiteData",
    "aggregate_suite",
    "find_match",
    "frames_label",
    "frames_match",
    "hns_matrix",
    "load_suite",
    "published_lookup",
    "reference_run_matrix",
    "table_to_latex",
    "table_to_markdown",
]

log = logging.getLogger(__name__)

#: Relative difference between our frame budget and a published one that still
#: counts as the same budget: Dopamine's legacy curves end at 199M frames
#: (iteration 198), one iteration short of the 200M they stand for.
FRAMES_TOLERANCE = 0.01


# ------------------------------------------------------------------- mapping
@dataclass(frozen=True)
class PublishedMatch:
    """Which published numbers a (preset, protocol) of ours is compared with.

    Attributes:
        preset: our preset name.
        protocol: our ``env.protocol``.
        algorithm: the published algorithm label in the reference table.
        table: ``published`` (``published_scores.csv``), ``atari100k``
            (``atari100k_scores.csv``) or ``dopamine_curve`` (the legacy DQN
            curve of ``dopamine_dqn_curves.csv``, read at our frame budget).
        frames: emulator frames of training behind the published numbers
            (None for ``dopamine_curve``: every 1M frames are available).
        start: for paper rows of ``published_scores.csv`` (given per start
            condition), the one the protocol text must name (``No-op start`` or
            ``Human start``); reproduction rows have a single protocol each.
        comparable: whether the published protocol is ours. False shows the
            number for reference without a difference or an in-interval verdict.
        caveat: a label printed with the comparison ("" when like for like).
        extras: further published algorithms (same table and protocol) shown as
            reference columns.
        per_run: algorithms with per-run data (``atari100k_runs.csv``, or the 5
            runs of the Dopamine curve) that also get aggregate intervals,
            probabilities of improvement and performance profiles.
        citation: where the published numbers come from.
        measure: what the published number measures (``evaluation scores`` or
            ``training returns``), shown beside it whenever it is not evaluation.
    """

    preset: str
    protocol: str
    algorithm: str
    table: str
    frames: int | None
    start: str = "No-op start"
    comparable: bool = True
    caveat: str = ""
    extras: tuple[str, ...] = ()
    per_run: tuple[str, ...] = ()
    citation: str = ""
    measure: str = "evaluation scores"

    def source_label(self, kind: str) -> str:
        """``published (per-run data)``, with the measure when it is not evaluation."""
        extra = f", {self.measure}" if self.measure != "evaluation scores" else ""
        return f"published ({kind}{extra})"


_NOOP = "No-op start"
_200M = 200_000_000

#: The one table mapping our (preset, protocol) to published numbers. A match
#: also needs the frame budget to agree (within FRAMES_TOLERANCE); otherwise the
#: published value is shown with both budgets in its label and not compared.
PUBLISHED_MATCHES: tuple[PublishedMatch, ...] = (
    PublishedMatch(
        "nature-dqn", "nature2015", "DQN (Nature)", "published", _200M,
        extras=("DQN (PFRL reproduction)",),
        citation="Mnih et al. 2015, Extended Data Table 2 (no-op starts)",
    ),
    PublishedMatch(
        "double-dqn", "nature2015", "Double DQN", "published", _200M,
        citation="van Hasselt et al. 2016 (no-op starts, 49 games)",
    ),
    PublishedMatch(
        "dueling-ddqn", "nature2015", "Dueling DDQN", "published", _200M,
        citation="Wang et al. 2016 (no-op starts)",
    ),
    PublishedMatch(
        "prioritized-ddqn", "nature2015", "Prioritized DDQN (proportional, tuned)", "published",
        _200M, start="Human start", comparable=False,
        caveat="published with human starts, ours with no-op starts: shown, not compared",
        citation="Schaul et al. 2016 (human starts; the paper has no no-op table)",
    ),
    PublishedMatch(
        "c51", "nature2015", "C51", "published", _200M,
        citation="Bellemare et al. 2017 (no-op starts)",
    ),
    PublishedMatch(
        "rainbow", "nature2015", "Rainbow", "published", _200M,
        extras=("Rainbow (PFRL reproduction)",),
        citation="Hessel et al. 2018 (no-op starts, 54 games)",
    ),
    PublishedMatch(
        "der", "atari100k", "DER", "atari100k", 400_000,
        extras=("DrQ(eps)", "SPR"), per_run=("DrQ(eps)", "SPR"),
        citation="van Hasselt et al. 2019 (DER); DrQ(eps) and SPR from rliable's per-run data",
    ),
    PublishedMatch(
        "nature-dqn", "machado2018", "DQN (Dopamine)", "dopamine_curve", None,
        per_run=("DQN (Dopamine)",),
        caveat="Dopamine reports average training-episode returns (epsilon 0.01), "
        "ours are evaluation scores",
        citation="Dopamine legacy DQN baseline, 5 runs (sticky actions)",
        measure="training returns",
    ),
)  # fmt: skip


def find_match(preset: str, protocol: str) -> PublishedMatch | None:
    """The :data:`PUBLISHED_MATCHES` entry of a (preset, protocol), or None."""
    for m in PUBLISHED_MATCHES:
        if m.preset == preset and m.protocol == protocol:
            return m
    return None


def frames_label(frames: int | float) -> str:
    """Compact frame count: 400000 -> ``400k``, 200000000 -> ``200M``, 12345 -> ``12345``."""
    n = int(frames)
    if n and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def frames_match(ours: int, published: int) -> bool:
    """Whether two frame budgets count as the same (within :data:`FRAMES_TOLERANCE`)."""
    return abs(ours - published) <= FRAMES_TOLERANCE * max(ours, published)


# ---------------------------------------------------------------- loading
RUN_LAYOUT = "runs/<preset>/<game>/seed<k>/"
#: Written by `dqn evaluate` (the workflow's final evaluation); same columns as eval.csv.
FINAL_EVAL_FILE = "evaluate.csv"


@dataclass
class SuiteData:
    """Every run of a suite, read from its run directories.

    Attributes:
        suite: suite name (the results folder's name).
        results_dir: ``results/<suite>``.
        runs: one row per run: ``run_id, preset, game, game_key, seed, protocol,
            frame_skip, total_steps, budget_frames, group, eval_epsilon,
            eval_episodes, finished, final_frames, final_score, final_episodes,
            final_source, train_return, wall_time_s, config_hash, path``.
        evals: one row per (run, evaluation point): ``run_id, step, frames,
            score_mean, score_std, episodes``.
        metrics: every metrics.csv row with its ``run_id``.
        skipped: run folders that could not be used, with the reason.
    """

    suite: str
    results_dir: Path
    runs: pd.DataFrame
    evals: pd.DataFrame
    metrics: pd.DataFrame
    skipped: list[str] = field(default_factory=list)

    def groups(self) -> list[str]:
        """Group names (``preset_protocol_frames``) in a stable order."""
        return sorted(self.runs["group"].unique().tolist())

    def finished(self, group: str) -> pd.DataFrame:
        """Finished runs of one group that have a final score."""
        r = self.runs
        sel = (r["group"] == group) & r["finished"] & r["final_score"].notna()
        return r[sel].sort_values(["game", "seed"]).reset_index(drop=True)


def _read_csv(path: Path, required: Sequence[str]) -> pd.DataFrame:
    try:
        df = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame(columns=list(required))
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing} (has {list(df.columns)})")
    for col in required:
        if len(df) and not pd.api.types.is_numeric_dtype(df[col]):
            bad = df[col][pd.to_numeric(df[col], errors="coerce").isna()].iloc[0]
            raise ValueError(f"{path}: column {col!r} must be numeric, found {bad!r}")
    return df


def _eval_points(path: Path, run_id: str) -> pd.DataFrame | None:
    """Evaluation episodes of one file summarised per evaluation point, or None if none."""
    if not path.is_file():
        return None
    ev = _read_csv(path, ("step", "frames", "episode", "score"))
    if not len(ev):
        return None
    points = (
        ev.groupby(["step", "frames"], as_index=False)["score"]
        .agg(score_mean="mean", score_std="std", episodes="count")
        .sort_values("frames")
        .reset_index(drop=True)
    )
    points.insert(0, "run_id", run_id)
    return points


def _load_config(path: Path) -> RunConfig:
    try:
        return from_dict(load_yaml(path))
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def load_suite(results_dir: Path) -> SuiteData:
    """Read every run directory under ``results_dir/runs``.

    Args:
        results_dir: ``results/<suite>``.

    Returns:
        :class:`SuiteData`.

    Raises:
        FileNotFoundError: no ``runs`` folder or no run in it.
    """
    results_dir = Path(results_dir)
    runs_root = results_dir / "runs"
    if not runs_root.is_dir():
        raise FileNotFoundError(
            f"{runs_root}: not found; expected run folders {results_dir}/{RUN_LAYOUT}"
        )
    config_paths = sorted(runs_root.glob("*/*/seed*/config.yaml"))
    if not config_paths:
        raise FileNotFoundError(f"{runs_root}: no run folders ({RUN_LAYOUT}config.yaml)")
    log.info("reading %d run folders under %s", len(config_paths), runs_root)

    rows: list[dict[str, object]] = []
    eval_frames: list[pd.DataFrame] = []
    metric_frames: list[pd.DataFrame] = []
    skipped: list[str] = []
    for cfg_path in config_paths:
        run_dir = cfg_path.parent
        run_id = run_dir.relative_to(runs_root).as_posix()
        cfg = _load_config(cfg_path)
        budget = cfg.steps_to_frames(cfg.train.total_steps)
        row: dict[str, object] = {
            "run_id": run_id,
            "preset": cfg.preset,
            "game": cfg.env.game,
            "game_key": game_key(cfg.env.game),  # classic envs get a key without reference rows
            "seed": cfg.seed,
            "protocol": cfg.env.protocol,
            "frame_skip": cfg.frames_per_step,
            "total_steps": cfg.train.total_steps,
            "budget_frames": budget,
            "group": f"{cfg.preset}_{cfg.env.protocol}_{frames_label(budget)}",
            "eval_epsilon": cfg.eval.epsilon,
            "eval_episodes": cfg.eval.episodes,
            "finished": (run_dir / "summary.json").is_file(),
            "final_frames": np.nan,
            "final_score": np.nan,
            "final_episodes": 0,
            "final_source": "",
            "train_return": np.nan,
            "wall_time_s": np.nan,
            "config_hash": cfg.config_hash(),
            "path": str(run_dir),
        }
        points = _eval_points(run_dir / "eval.csv", run_id)
        final = _eval_points(run_dir / FINAL_EVAL_FILE, run_id)
        if points is not None:
            eval_frames.append(points)
        else:
            skipped.append(f"{run_id}: no evaluation in eval.csv yet")
        # The dedicated final evaluation (`dqn evaluate` on the final checkpoint, usually
        # more episodes) is the run's score when present; else the last periodic one.
        for source, table in ((FINAL_EVAL_FILE, final), ("eval.csv", points)):
            if table is not None:
                last = table.iloc[-1]
                row.update(
                    final_frames=int(last["frames"]),
                    final_score=float(last["score_mean"]),
                    final_episodes=int(last["episodes"]),
                    final_source=source,
                )
                break
        metrics_path = run_dir / "metrics.csv"
        if metrics_path.is_file():
            m = _read_csv(metrics_path, ("step", "frames"))
            if len(m):
                m.insert(0, "run_id", run_id)
                metric_frames.append(m)
                if "time_s" in m:
                    row["wall_time_s"] = float(m["time_s"].max())
                if "train/episode_return" in m:
                    ret = m["train/episode_return"].dropna()
                    if len(ret):
                        row["train_return"] = float(ret.iloc[-1])
        if not row["finished"] and row["final_episodes"]:
            skipped.append(f"{run_id}: not finished (no summary.json); left out of the tables")
        rows.append(row)

    runs = pd.DataFrame(rows)
    evals = (
        pd.concat(eval_frames, ignore_index=True)
        if eval_frames
        else pd.DataFrame(
            columns=["run_id", "step", "frames", "score_mean", "score_std", "episodes"]
        )
    )
    metrics = (
        pd.concat(metric_frames, ignore_index=True)
        if metric_frames
        else pd.DataFrame(columns=["run_id", "step", "frames"])
    )
    for line in skipped:
        log.warning("%s", line)
    return SuiteData(results_dir.name, results_dir, runs, evals, metrics, skipped)


# -------------------------------------------------------- normalised scores
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


def reference_run_matrix(
    match: PublishedMatch, algorithm: str, games: Sequence[str], budget: int
) -> tuple[np.ndarray, int] | None:
    """Published per-run HNS of one algorithm on ``games``.

    Args:
        match: the mapping entry; ``algorithm`` must be in ``match.per_run``.
        algorithm: ``DrQ(eps)``/``SPR`` (Atari-100k runs) or the Dopamine DQN label
            (the 5 legacy runs at the curve point nearest ``budget``).
        games: game keys, in column order.
        budget: our frame budget.

    Returns:
        ``(matrix (runs, games), published frames)``, or None when a game has no data.
    """
    table = reference.random_human()
    if match.table == "dopamine_curve":
        curves = reference.dopamine_curves("legacy_dqn")
        cols = []
        frames = 0
        for g in games:
            rows = curves[curves["game"] == g]
            if rows.empty:
                return None
            row = rows.iloc[int(np.argmin(np.abs(rows["frames"].to_numpy() - budget)))]
            frames = int(row["frames"])
            cols.append(row[[f"run{i}" for i in range(5)]].to_numpy(dtype=float))
        raw = np.stack(cols, axis=1)
    else:
        runs = reference.atari100k_runs(algorithm)
        wide = runs.pivot(index="run", columns="game", values="score")
        if not set(games) <= set(wide.columns):
            return None
        raw = wide[list(games)].to_numpy(dtype=float)
        frames = int(match.frames or 0)
    hns = stats.human_normalized_score(
        raw, table.loc[list(games), "random"].to_numpy(), table.loc[list(games), "human"].to_numpy()
    )
    return hns, frames


def run_percentile(score: float, runs: np.ndarray) -> float:
    """Where ``score`` falls among published runs: % of runs below it (ties count 1/2).

    0 means below every published run, 100 above every one; NaN without runs.
    """
    runs = np.asarray(runs, dtype=float)
    runs = runs[np.isfinite(runs)]
    if not runs.size or not math.isfinite(score):
        return math.nan
    below = float(np.sum(runs < score)) + 0.5 * float(np.sum(runs == score))
    return 100.0 * below / runs.size


def reference_runs_by_game(match: PublishedMatch, algorithm: str) -> dict[str, np.ndarray]:
    """Raw per-run published scores of one Atari-100k algorithm, by game key ({} otherwise)."""
    if match.table != "atari100k" or algorithm not in match.per_run:
        return {}
    runs = reference.atari100k_runs(algorithm)
    return {str(g): part["score"].to_numpy(dtype=float) for g, part in runs.groupby("game")}


# --------------------------------------------------------- published lookup
@dataclass(frozen=True)
class Published:
    """One published score of one game: value, std (NaN if none), training frames, source."""

    score: float
    std: float
    frames: int | None
    source: str


def published_lookup(match: PublishedMatch, algorithm: str, budget: int) -> dict[str, Published]:
    """Published scores of one algorithm under a match's protocol, by game key.

    Args:
        match: the mapping entry (which table, start condition).
        algorithm: ``match.algorithm`` or one of ``match.extras``.
        budget: our frame budget (picks the point of a Dopamine curve).

    Returns:
        ``{game_key: Published}``.
    """
    out: dict[str, Published] = {}
    if match.table == "published":
        df = reference.published_scores()
        # Paper rows (rldb) exist per start condition; reproductions have one protocol each.
        paper = df["protocol"].str.startswith("paper;")
        start_ok = df["protocol"].str.contains(match.start, regex=False)
        df = df[(df["algorithm"] == algorithm) & (~paper | start_ok)]
        for r in df.itertuples(index=False):
            out[str(r.game)] = Published(
                float(r.score), float(r.score_std), int(r.frames), str(r.source)
            )
    elif match.table == "atari100k":
        df = reference.atari100k_scores()
        df = df[df["algorithm"] == algorithm]
        for r in df.itertuples(index=False):
            out[str(r.game)] = Published(
                float(r.score), float(r.score_std), match.frames, str(r.source)
            )
    elif match.table == "dopamine_curve":
        curves = reference.dopamine_curves("legacy_dqn")
        for game, g in curves.groupby("game"):
            i = int(np.argmin(np.abs(g["frames"].to_numpy() - budget)))
            r = g.iloc[i]
            out[str(game)] = Published(
                float(r["mean_return"]),
                float(r["std_return"]),
                int(r["frames"]),
                "Dopamine legacy DQN baseline (training returns)",
            )
    else:  # pragma: no cover - guarded by the PUBLISHED_MATCHES test
        raise ValueError(f"table: unknown reference table {match.table!r}")
    return out


# ------------------------------------------------------------------ tables
def _runs_table(data: SuiteData) -> pd.DataFrame:
    cols = [
        "preset", "protocol", "game", "seed", "budget_frames", "final_frames", "final_score",
        "final_episodes", "final_source", "eval_epsilon", "train_return", "wall_time_s",
        "finished", "run_id",
    ]  # fmt: skip
    df = data.runs[cols].sort_values(["preset", "protocol", "game", "seed"]).reset_index(drop=True)
    df.attrs["title"] = f"Runs of suite {data.suite}"
    df.attrs["notes"] = [
        "final_score: mean score of the run's final evaluation (final_source: evaluate.csv from "
        "`dqn evaluate` on the final checkpoint, else the last evaluation in eval.csv) at "
        "final_frames emulator frames; budget_frames = train.total_steps x env.frame_skip.",
        "train_return: last logged average training-episode return (metrics.csv).",
        *data.skipped,
    ]
    return df


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
        f"preset {preset}, protocol {protocol}, frame budget {frames_label(budget)} emulator "
        "frames (train.total_steps x env.frame_skip); final score = mean of the final "
        f"evaluation's episodes ({sources}; evaluation epsilon {first['eval_epsilon']:g}).",
        f"ci95_low/high: {confidence:.0%} Student-t interval of the mean over seeds "
        "(undefined with one seed).",
        reference.HNS_CONVENTION
        if (runs["game_key"] == "video_pinball").any()
        else reference.HNS_CONVENTION.split(" Video Pinball")[0],
    ]
    main: dict[str, Published] = {}
    extras: dict[str, dict[str, Published]] = {}
    per_run_scores: dict[str, dict[str, np.ndarray]] = {}
    frames_ok = False
    published_frames: int | None = None
    if match is None:
        notes.append(
            f"no published numbers are mapped to preset {preset!r} under protocol {protocol!r} "
            "(see aggregate.PUBLISHED_MATCHES)."
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
                row[f"{alg} percentile"] = (
                    run_percentile(mean, published_runs)
                    if published_runs is not None and frames_ok
                    else np.nan
                )
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
        f"Per-game final scores: {preset}, {protocol}, {frames_label(budget)} frames"
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
            "on the game (ties count half); 0 or 100 means outside their whole spread."
        )
    df.attrs["measure"] = match.measure if match is not None else ""
    return df


def _interval_rows(
    matrix: np.ndarray, base: dict[str, object], reps: int, rng: np.random.Generator
) -> list[dict[str, object]]:
    rows = []
    for metric, fn in stats.METRICS.items():
        iv = stats.interval_estimate(matrix, fn, reps=reps, rng=rng)
        rows.append(
            {
                **base,
                "metric": metric,
                "point": float(iv.point),
                "ci_low": float(iv.low),
                "ci_high": float(iv.high),
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
        base = {
            "group": group,
            "preset": preset,
            "protocol": protocol,
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
            info = {**base, "source": src, "algorithm": alg, "runs_per_game": ref.shape[0]}
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
        meta[name] = (label, protocol, int(first["budget_frames"]))
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


# -------------------------------------------------------------- rendering
def _score_digits(reference_value: float) -> int:
    """Decimals for a score of this magnitude: 1234 -> 0, 12.3 -> 1, 1.23 -> 2."""
    a = abs(reference_value) if math.isfinite(reference_value) else 0.0
    return 0 if a >= 1000 else 1 if a >= 10 else 2


def _fmt_num(value: object, digits: int | None = None) -> str:
    """One table cell: ``–`` for missing, yes/no, thousands separators, fixed decimals."""
    if value is None or value is pd.NA:
        return "–"
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        v = float(value)
        if not math.isfinite(v):
            return "–"
        if digits is None:
            if v.is_integer():
                return f"{int(v):,}"
            digits = _score_digits(v)
        text = f"{v:,.{digits}f}"
        # "-0.000" reads as a sign that is not there.
        return (
            text[1:] if text.startswith("-") and not any(c in "123456789" for c in text) else text
        )
    return str(value)


def _display_per_game(df: pd.DataFrame) -> pd.DataFrame:
    digits = [_score_digits(float(m)) for m in df["score_mean"]]

    def scores(column: str) -> list[str]:
        """Our numbers share the decimals of the row's mean, so they line up."""
        return [_fmt_num(v, d) for v, d in zip(df[column], digits, strict=True)]

    def published(column: str) -> list[str]:
        """Published numbers keep their own precision (often another scale than ours)."""
        return [_fmt_num(v) for v in df[column]]

    out = pd.DataFrame(
        {
            "Game": df["game"],
            "Runs": df["runs"].map(_fmt_num),
            "Ours (mean ± std)": [
                f"{m} ± {s}" if s != "–" else m
                for m, s in zip(scores("score_mean"), scores("score_std"), strict=True)
            ],
            "95% CI": [
                f"[{lo}, {hi}]" if lo != "–" else "–"
                for lo, hi in zip(scores("ci95_low"), scores("ci95_high"), strict=True)
            ],
            "HNS": df["hns"].map(lambda v: _fmt_num(v, 3)),
        }
    )
    if "published" in df:
        alg = str(df["published_algorithm"].iloc[0]) if len(df) else "published"
        pf = df.attrs.get("published_frames")
        budget = df.attrs.get("budget_frames", 0)
        measure = str(df.attrs.get("measure", ""))
        if measure == "training returns":
            # The like-for-like number beside a published training return.
            out["Ours, training return"] = scores("train_return")
        kind = f", {measure}" if measure and measure != "evaluation scores" else ""
        head = f"{alg} ({frames_label(pf)} frames{kind})" if pf else alg
        if pf and not frames_match(int(budget), int(pf)):
            head = f"{alg} (published at {frames_label(pf)} frames; ours {frames_label(budget)})"
        out[head] = published("published")
        out["Ours − published"] = scores("diff")
        out["Published in our CI"] = df["published_in_ci"].map(_fmt_num)
        for alg_x in df.attrs.get("extras", []):
            label = f"{alg_x} ({frames_label(pf)} frames)" if pf else alg_x
            out[label] = published(alg_x)
        for alg_x in df.attrs.get("percentiles", []):
            out[f"Percentile in {alg_x} runs"] = df[f"{alg_x} percentile"].map(
                lambda v: _fmt_num(v, 0)
            )
    return out


_METRIC_LABELS = {
    "median": "Median",
    "iqm": "IQM",
    "mean": "Mean",
    "optimality_gap": "Optimality gap",
}


def _display_aggregate(df: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (_g, src, alg), part in df.groupby(["group", "source", "algorithm"], sort=False):
        first = part.iloc[0]
        row = {
            "Algorithm": alg,
            "Source": src,
            "Protocol": first["protocol"],
            "Frames": frames_label(first["frames"]),
            "Games": _fmt_num(first["games"]),
            "Runs/game": _fmt_num(first["runs_per_game"]),
        }
        for metric, label in _METRIC_LABELS.items():
            hit = part[part["metric"] == metric]
            if hit.empty:
                row[label] = "–"
                continue
            h = hit.iloc[0]
            text = _fmt_num(h["point"], 3)
            if math.isfinite(h["ci_low"]):
                text += f" [{_fmt_num(h['ci_low'], 3)}, {_fmt_num(h['ci_high'], 3)}]"
            row[label] = text
        rows.append(row)
    return pd.DataFrame(rows)


def _display_poi(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "X": df["x"],
            "Y": df["y"],
            "Protocol": df["protocol"],
            "Frames": df["frames"].map(frames_label),
            "Games": df["games"].map(_fmt_num),
            "P(X > Y) [95% CI]": [
                f"{p:.3f} [{lo:.3f}, {hi:.3f}]"
                for p, lo, hi in zip(df["p_x_better"], df["ci_low"], df["ci_high"], strict=True)
            ],
        }
    )


def _display_runs(df: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Preset": df["preset"],
            "Protocol": df["protocol"],
            "Game": df["game"],
            "Seed": df["seed"].map(str),
            "Frames": [
                f"{frames_label(f)} / {frames_label(b)}"
                if math.isfinite(f)
                else f"– / {frames_label(b)}"
                for f, b in zip(df["final_frames"], df["budget_frames"], strict=True)
            ],
            "Final score": df["final_score"].map(_fmt_num),
            "Episodes": df["final_episodes"].map(_fmt_num),
            "Wall time (s)": df["wall_time_s"].map(lambda v: _fmt_num(v, 0)),
            "Finished": df["finished"].map(_fmt_num),
        }
    )


def _display(name: str, df: pd.DataFrame) -> pd.DataFrame:
    if name.startswith("per_game_"):
        return _display_per_game(df)
    if name == "aggregate":
        return _display_aggregate(df)
    if name == "probability_of_improvement":
        return _display_poi(df)
    if name == "runs":
        return _display_runs(df)
    return df.astype(str)


def table_to_markdown(display: pd.DataFrame, title: str = "", notes: Iterable[str] = ()) -> str:
    """A GitHub-flavoured Markdown table (cells already formatted), with notes below.

    Args:
        display: DataFrame of strings.
        title: optional bold line above the table.
        notes: lines printed as a list under the table.

    Returns:
        Markdown text ending in a newline.
    """

    def cell(v: object) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    lines = [f"**{title}**", ""] if title else []
    cols = [str(c) for c in display.columns]
    if len(display):
        lines.append("| " + " | ".join(cell(c) for c in cols) + " |")
        lines.append("| " + " | ".join("---" for _ in cols) + " |")
        for row in display.itertuples(index=False):
            lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    else:
        lines.append("_No rows._")
    note_list = list(notes)
    if note_list:
        lines += ["", *[f"- {n}" for n in note_list]]
    return "\n".join(lines) + "\n"


_LATEX_ESCAPES = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "±": r"$\pm$", "−": "$-$", "–": "--", "≥": r"$\geq$", "×": r"$\times$",
}  # fmt: skip


def _latex_escape(text: object) -> str:
    return "".join(_LATEX_ESCAPES.get(ch, ch) for ch in str(text))


def table_to_latex(display: pd.DataFrame, title: str = "", notes: Iterable[str] = ()) -> str:
    """A booktabs LaTeX table (cells already formatted), notes in the caption.

    Args:
        display: DataFrame of strings.
        title: caption text.
        notes: sentences appended to the caption.

    Returns:
        LaTeX source of a ``table`` environment (needs ``\\usepackage{booktabs}``).
    """
    cols = [str(c) for c in display.columns]
    align = "l" * min(1, len(cols)) + "r" * max(0, len(cols) - 1)
    caption = " ".join([f"{title}." if title else "", *notes]).strip()
    lines = [
        r"\begin{table}[ht]",
        r"\centering",
        r"\small",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(_latex_escape(c) for c in cols) + r" \\",
        r"\midrule",
    ]
    for row in display.itertuples(index=False):
        lines.append(" & ".join(_latex_escape(v) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines.append(rf"\caption{{{_latex_escape(caption)}}}")
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def _write_table(out_dir: Path, name: str, df: pd.DataFrame) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    df.to_csv(out_dir / f"{name}.csv", index=False)
    display = _display(name, df)
    title = str(df.attrs.get("title", name))
    notes = [str(n) for n in df.attrs.get("notes", [])]
    (out_dir / f"{name}.md").write_text(table_to_markdown(display, title, notes), encoding="utf-8")
    (out_dir / f"{name}.tex").write_text(table_to_latex(display, title, notes), encoding="utf-8")


# ------------------------------------------------------------------- entry
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
