"""A run's persistent state: its run directory's config, its checkpoints, and resuming from them.

A checkpoint holds the learner (nets, optimizer), the replay memory, every
random stream and the counters (see :class:`StateMixin`).
"""

from __future__ import annotations

import collections
import logging
import time
from pathlib import Path
from typing import IO, Any, cast

import torch

from dqn_core.agent.learner import Learner
from dqn_core.agent.schedules import LinearSchedule, beta_schedule
from dqn_core.config import ConfigError, RunConfig, load_run_config, resume_mismatches
from dqn_core.envs.protocols import with_revision
from dqn_core.fileio import atomic_open, atomic_write_text
from dqn_core.replay import ReplayMemory
from dqn_core.run.checkpoint import CheckpointError, CheckpointManager
from dqn_core.run.runlog import METRIC_COLUMNS
from dqn_core.run.sink import RunSink
from dqn_core.seeding import Seeds

log = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "dqn-harness/1"
#: Checkpoint key of an evaluation that a signal cut: ``None`` (or absent, in
#: checkpoints written before it existed) when nothing is owed, else
#: ``{"step": S, "row": {...}}`` with S the checkpoint's step and ``row`` the
#: metrics.csv row of S without its ``eval/*`` columns. Optional, so the format
#: string did not change.
EVAL_OWED_KEY = "eval_owed"
#: Checkpoint key of the agent steps over which PER's beta anneals: the
#: ``train.total_steps`` the run started with (absent in older checkpoints,
#: which annealed to the current budget).
BETA_STEPS_KEY = "beta_steps"


def prepare_run_dir(config: RunConfig, run_dir: Path) -> RunConfig:
    """Create the run directory or check that it belongs to this config.

    A run directory made by a different config (outside the fields that may
    change on resume, such as the step budget) is refused with the list of
    differences, before anything is written. The protocol revision is filled
    in (:func:`~dqn_core.envs.protocols.with_revision`), so a run directory
    made under an older revision is refused unless the command names that
    revision.

    Returns:
        The config as written to ``config.yaml``: ``config`` with its revision.
    """
    config = with_revision(config)
    cfg_path = run_dir / "config.yaml"
    if cfg_path.exists():
        try:
            saved = load_run_config(cfg_path)
        except ConfigError as exc:
            raise ConfigError(f"{cfg_path}: cannot read the run's config: {exc}") from None
        diffs = resume_mismatches(saved, config)
        if diffs:
            raise ConfigError(
                f"{run_dir} was created by a different config; refusing to resume it:\n  "
                + "\n  ".join(diffs)
                + "\nUse another --run-dir, or pass the same settings."
            )
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(cfg_path, config.to_yaml())
    return config


class StateMixin:
    """The :class:`~dqn_core.run.trainer.Trainer`'s checkpoint state, saving and resuming."""

    config: RunConfig
    run_dir: Path
    step: int
    evaluations: int
    episodes: int
    recent_returns: collections.deque[float]
    wall_time: float
    eval_owed: dict[str, Any] | None
    beta: LinearSchedule
    learner: Learner
    replay: ReplayMemory
    seeds: Seeds
    checkpoints: CheckpointManager
    sink: RunSink
    _t0: float

    def state_dict(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "evaluations": self.evaluations,
            "episodes": self.episodes,
            "recent_returns": list(self.recent_returns),
            "wall_time": self.wall_time + (time.perf_counter() - self._t0),
            "config_hash": self.config.config_hash(),
            "learner": self.learner.state_dict(),
            "replay": self.replay.state_dict(),
            "seeds": self.seeds.state_dict(),
            BETA_STEPS_KEY: self.beta.duration_steps,
            EVAL_OWED_KEY: self.eval_owed,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ConfigError(
                f"checkpoint: format {state.get('format')!r} is not {CHECKPOINT_FORMAT!r}"
            )
        if state["config_hash"] != self.config.config_hash():
            raise ConfigError(
                "checkpoint: it was written under a different config "
                f"(hash {state['config_hash']}, this run {self.config.config_hash()})"
            )
        try:  # first: it refuses streams of another key rule before anything is loaded
            self.seeds.load_state_dict(state["seeds"])
        except ValueError as exc:
            raise ConfigError(f"checkpoint: {exc}") from None
        self.step = int(state["step"])
        self.evaluations = int(state["evaluations"])
        self.episodes = int(state["episodes"])
        # Checkpoints from before train/return_last100 existed start it empty.
        self.recent_returns.clear()
        self.recent_returns.extend(float(r) for r in state.get("recent_returns", ()))
        self.wall_time = float(state["wall_time"])
        self.eval_owed = self._owed_from_state(state.get(EVAL_OWED_KEY), self.step)
        beta_steps = state.get(BETA_STEPS_KEY)
        if beta_steps is not None:
            self.beta = beta_schedule(self.config.replay, int(beta_steps))
        self.learner.load_state_dict(state["learner"])
        self.replay.load_state_dict(state["replay"])

    @staticmethod
    def _owed_from_state(owed: Any, step: int) -> dict[str, Any] | None:
        """Check a checkpoint's owed-evaluation record (None: nothing owed)."""
        if owed is None:
            return None
        row = owed.get("row") if isinstance(owed, dict) else None
        if (
            not isinstance(row, dict)
            or owed.get("step") != step
            or row.get("step") != step
            or not set(row) <= set(METRIC_COLUMNS)
        ):
            raise CheckpointError(
                f"checkpoint of step {step}: {EVAL_OWED_KEY} must be None or "
                f"{{'step': {step}, 'row': <metrics.csv row of step {step}>}}, got {owed!r}"
            )
        return owed

    def save_checkpoint(self) -> Path:
        t0 = time.perf_counter()
        path = self.checkpoints.save(
            self.state_dict(),
            self.step,
            extra_meta={
                "frames": self.config.steps_to_frames(self.step),
                "config_hash": self.config.config_hash(),
            },
        )
        log.info("checkpoint %s written in %.1f s", path.name, time.perf_counter() - t0)
        # MLflow gets the policy (networks, optimizer, counters: a few MB), not the
        # checkpoint, whose replay memory can be several GB; the run directory keeps both.
        # The last step's policy goes up once, as final.pt, when the run finishes.
        if self.step < self.config.train.total_steps:
            self.sink.log_artifact(self._save_policy("latest.pt"), "checkpoints")
        return path

    def _save_policy(self, name: str) -> Path:
        """Write ``policy/<name>``: the learner's state (weights-only loadable)."""
        path = self.run_dir / "policy" / name
        path.parent.mkdir(exist_ok=True)
        with atomic_open(path) as fh:
            torch.save(
                {"step": self.step, "learner": self.learner.state_dict()}, cast(IO[bytes], fh)
            )
        return path

    def _resume(self) -> None:
        found = self.checkpoints.latest()
        if found is None:
            return
        state, path = found
        self.load_state_dict(state)
        log.info(
            "resuming from %s at step %d (%d frames)",
            path.name,
            self.step,
            self.config.steps_to_frames(self.step),
        )
