"""Loading a suite: every run directory under ``results/<suite>/runs`` into pandas.

A run directory is ``runs/<preset>/<game>/seed<k>/`` (``config.yaml``,
``eval.csv``, ``metrics.csv``, ``summary.json``); MLflow is never read.

Definitions. The *final score* of a run is the mean score of its final
evaluation: the episodes of ``evaluate.csv`` (written by ``dqn evaluate`` on
the final checkpoint, the workflow's last step per run) when present, else the
episodes at the largest ``frames`` in ``eval.csv``; the ``runs`` table says
which. Only finished runs (``summary.json`` present) enter the tables. The
*frame budget* of a run is ``train.total_steps x env.frame_skip`` emulator
frames. Runs group by (preset, protocol revision, frame budget): the group name
``<preset>_<protocol label>_<frames>`` carries the revision where a protocol
has more than one (``der_atari100k-r2_400k``), so runs of two revisions never
pool; a run folder whose config.yaml names no revision ran under revision 1.
The runs of one group must share every result-changing setting but the game and
the seed (the fields outside ``RESUME_SAFE_FIELDS``): a folder that mixes them,
say runs of a preset before and after it changed, is refused by name rather
than pooled.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dqn_core.config import ConfigError, RunConfig, load_run_config, setting_differences
from dqn_core.envs.games import game_key
from dqn_core.envs.protocols import protocol_label
from dqn_core.results.published import frames_label

__all__ = ["FINAL_EVAL_FILE", "RUN_LAYOUT", "SuiteData", "load_suite"]

log = logging.getLogger(__name__)

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
            protocol_revision, protocol_label, frame_skip, total_steps, budget_frames, group, eval_epsilon,
            eval_episodes, finished, final_frames, final_score, final_episodes,
            final_source, train_return, wall_time_s, config_hash, git_commit, cpu,
            path`` (``git_commit`` and ``cpu`` as summary.json records them, ``""``
            where it does not: unfinished runs, and runs from before it recorded
            the CPU).
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
        """Group names (``preset_protocollabel_frames``) in a stable order."""
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


def _provenance(summary: Path) -> dict[str, str]:
    """The code commit and CPU a finished run records in its summary.json."""
    try:
        data = json.loads(summary.read_text(encoding="utf-8"))
    except FileNotFoundError:
        data = {}
    except (OSError, ValueError) as exc:
        raise ValueError(f"{summary}: not readable as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{summary}: expected a JSON object, got {type(data).__name__}")
    return {key: str(data.get(key) or "") for key in ("git_commit", "cpu")}


def _load_config(path: Path) -> RunConfig:
    try:
        return load_run_config(path)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _check_groups_share_settings(configs: dict[str, tuple[str, RunConfig]]) -> None:
    """Refuse a group whose runs differ in a result-changing setting (by run id)."""
    first: dict[str, tuple[str, RunConfig]] = {}
    for run_id, (group, cfg) in configs.items():
        if group not in first:
            first[group] = (run_id, cfg)
            continue
        other_id, other = first[group]
        # The game and the seed vary inside a group by design.
        same_run = dataclasses.replace(
            cfg, seed=other.seed, env=dataclasses.replace(cfg.env, game=other.env.game)
        )
        differ = setting_differences(other, same_run)
        if differ:
            shown = "; ".join(
                f"{k}: {a!r} in {other_id}, {b!r} in {run_id}"
                for k, (a, b) in list(differ.items())[:4]
            )
            more = f" (and {len(differ) - 4} more)" if len(differ) > 4 else ""
            raise ConfigError(
                f"group {group}: its runs differ in settings that change results, so they "
                f"cannot pool: {shown}{more}. Keep each configuration in its own results folder."
            )


def load_suite(results_dir: Path) -> SuiteData:
    """Read every run directory under ``results_dir/runs``.

    Args:
        results_dir: ``results/<suite>``.

    Returns:
        :class:`SuiteData`.

    Raises:
        FileNotFoundError: no ``runs`` folder or no run in it.
        ConfigError: a config.yaml is invalid, or the runs of one group differ in a
            result-changing setting (naming the setting and two of the runs).
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
    configs: dict[str, tuple[str, RunConfig]] = {}
    for cfg_path in config_paths:
        run_dir = cfg_path.parent
        run_id = run_dir.relative_to(runs_root).as_posix()
        cfg = _load_config(cfg_path)
        budget = cfg.steps_to_frames(cfg.train.total_steps)
        revision = cfg.env.protocol_revision
        assert revision is not None  # load_run_config reads a missing one as LEGACY_REVISION
        label = protocol_label(cfg.env.protocol, revision)
        row: dict[str, object] = {
            "run_id": run_id,
            "preset": cfg.preset,
            "game": cfg.env.game,
            "game_key": game_key(cfg.env.game),  # classic envs get a key without reference rows
            "seed": cfg.seed,
            "protocol": cfg.env.protocol,
            "protocol_revision": revision,
            "protocol_label": label,
            "frame_skip": cfg.frames_per_step,
            "total_steps": cfg.train.total_steps,
            "budget_frames": budget,
            "group": f"{cfg.preset}_{label}_{frames_label(budget)}",
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
            "roms_dir": cfg.env.roms_dir or "",
            **_provenance(run_dir / "summary.json"),
            "path": str(run_dir),
        }
        configs[run_id] = (str(row["group"]), cfg)
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

    _check_groups_share_settings(configs)
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
