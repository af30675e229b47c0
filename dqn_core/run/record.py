"""What a run writes as it goes: metrics rows, evaluations and the final summary.

Each goes to the run directory first (``metrics.csv``, ``eval.csv``,
``summary.json``) and then to the run's sink (MLflow under the harness).
"""

from __future__ import annotations

import collections
import logging
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dqn_core import __version__
from dqn_core.agent.learner import Learner
from dqn_core.agent.schedules import LinearSchedule
from dqn_core.config import RunConfig
from dqn_core.envs import rom_md5
from dqn_core.fileio import atomic_write_json
from dqn_core.provenance import cpu_description, git_commit
from dqn_core.replay import ReplayMemory
from dqn_core.run.evaluate import evaluate_policy
from dqn_core.run.runlog import INDEX_COLUMNS, CsvLog
from dqn_core.run.sink import RunSink
from dqn_core.run.window import Window, plain

log = logging.getLogger(__name__)

#: ``score -> human-normalised score`` of a game, or None where the game has no
#: reference scores (the harness passes :func:`dqn_core.results.reference.game_hns`).
ScoreNormalizer = Callable[[str, float], float | None]


class NonFiniteError(RuntimeError):
    """The loss or the Q-values became NaN or infinite."""


class RecordMixin:
    """The :class:`~dqn_core.run.trainer.Trainer`'s metrics rows, evaluations and summary."""

    config: RunConfig
    run_dir: Path
    quiet: bool
    step: int
    evaluations: int
    episodes: int
    recent_returns: collections.deque[float]
    wall_time: float
    beta: LinearSchedule
    learner: Learner
    replay: ReplayMemory
    metrics_log: CsvLog
    eval_log: CsvLog
    sink: RunSink
    normalizer: ScoreNormalizer | None
    _t0: float

    if TYPE_CHECKING:

        def _save_policy(self, name: str) -> Path: ...  # StateMixin's

    def _log_point(
        self,
        window: Window,
        *,
        epsilon: float | None = None,
        extra: dict[str, float | None] | None = None,
    ) -> None:
        """Write the metrics row of the current step: the window's statistics and ``extra``."""
        self._write_row({**self._metrics_row(window, epsilon=epsilon), **(extra or {})})

    def _metrics_row(self, window: Window, *, epsilon: float | None = None) -> dict[str, Any]:
        """The current step's metrics.csv row without ``eval/*`` (NonFiniteError if poisoned).

        Values are plain Python scalars or None, so the row can go into a checkpoint.
        """
        cfg = self.config
        means = self._check_finite(window)
        w = window
        row: dict[str, Any] = {
            "step": self.step,
            "frames": cfg.steps_to_frames(self.step),
            "time_s": round(self.wall_time + time.perf_counter() - self._t0, 3),
            "train/episodes": self.episodes,
            "train/episode_return": float(np.mean(window.returns)) if window.returns else None,
            "train/return_last100": (
                float(np.mean(self.recent_returns)) if self.recent_returns else None
            ),
            "train/episode_frames": float(np.mean(window.lengths)) if window.lengths else None,
            "train/epsilon": epsilon if epsilon is not None else self.learner.epsilon(self.step),
            # Learning-phase and warm-up throughput apart: the fast random warm-up
            # would otherwise dwarf the learning phase on a chart.
            "train/steps_per_second": (
                round(w.learn_steps / max(w.learn_time, 1e-9), 2) if w.learn_steps else None
            ),
            "train/frames_per_second": (
                round(cfg.steps_to_frames(w.learn_steps) / max(w.learn_time, 1e-9), 2)
                if w.learn_steps
                else None
            ),
            "train/warmup_steps_per_second": (
                round(w.warmup_steps / max(w.warmup_time, 1e-9), 2) if w.warmup_steps else None
            ),
            "learn/updates": self.learner.updates,
            "learn/loss": means.get("loss"),
            "learn/q_mean": means.get("q_mean"),
            "learn/grad_norm": means.get("grad_norm"),
            "replay/size": len(self.replay),
            "replay/beta": (self.beta(self.step) if cfg.replay.prioritized else None),
            "replay/weight_mean": means.get("weight_mean"),
        }
        return {k: plain(v) for k, v in row.items()}

    def _write_row(self, row: dict[str, Any]) -> None:
        """Append ``row`` to metrics.csv, send it to MLflow and log a line."""
        cfg = self.config
        self.metrics_log.append([row])
        self._track(row)
        if self.quiet or not cfg.tracking.progress or not sys.stderr.isatty():
            speed = row["train/steps_per_second"] or row["train/warmup_steps_per_second"]
            log.info(
                "step %d (%d frames) %s steps/s return %s",
                self.step,
                row["frames"],
                "-" if speed is None else f"{speed:.0f}",
                "-"
                if row["train/episode_return"] is None
                else f"{row['train/episode_return']:.1f}",
            )

    def _check_finite(self, window: Window) -> dict[str, float]:
        """Means of the window's learner metrics; NonFiniteError if loss or Q is NaN/inf."""
        means = window.metric_means()
        for key in ("loss", "q_mean"):
            value = means.get(key)
            if value is not None and not math.isfinite(value):
                raise NonFiniteError(
                    f"learn/{key} became {value} between steps {window.start_step} "
                    f"and {self.step}; stopping (the last checkpoint is kept)"
                )
        return means

    def _track(self, row: dict[str, Any]) -> None:
        # step, frames and time_s index a row (MLflow's step and timestamp), as in
        # mlflow-sync; every other column is a metric.
        metrics = {
            k: float(v)
            for k, v in row.items()
            if k not in INDEX_COLUMNS
            and v is not None
            and not (isinstance(v, float) and math.isnan(v))
        }
        self.sink.log_metrics(metrics, step_frames=int(row["frames"]))
        self.sink.flush()

    def _evaluate(
        self, *, should_stop: Callable[[], bool] | None = None
    ) -> dict[str, float | None]:
        """Evaluate at the current step; append eval.csv and return the ``eval/*`` columns.

        Raises:
            EvaluationStopped: ``should_stop`` cut it; nothing was written and the
                evaluation counter (its seed) is unchanged, so it can be run again.
        """
        cfg = self.config
        frames = cfg.steps_to_frames(self.step)
        # Announced before it starts: an evaluation can take minutes.
        log.info(
            "evaluation %d at %d frames (step %d): started, %d episodes, at most %d agent steps",
            self.evaluations + 1,
            frames,
            self.step,
            cfg.eval.episodes,
            cfg.eval.max_steps,
        )
        self.learner.online.eval()
        try:
            results = evaluate_policy(
                self.learner.act, cfg, index=self.evaluations, should_stop=should_stop
            )
        finally:
            self.learner.online.train()
        self.evaluations += 1
        self.eval_log.append(
            {
                "step": self.step,
                "frames": frames,
                "episode": r.episode,
                "score": r.score,
                "length_frames": r.length_frames,
                "truncated": r.truncated,
            }
            for r in results
        )
        scores = np.array([r.score for r in results])
        row = {
            "eval/return_mean": float(scores.mean()),
            # One episode has no spread (a 0 would read as certainty): empty.
            "eval/return_std": float(scores.std()) if len(scores) > 1 else None,
            "eval/episodes": float(len(scores)),
        }
        self._last_eval = (float(scores.mean()), float(scores.std()), len(scores))
        log.info(
            "evaluation %d at %d frames: %.2f +- %.2f over %d episodes",
            self.evaluations,
            frames,
            *self._last_eval,
        )
        return row

    def _last_eval_on_disk(self) -> tuple[float, float, int]:
        """``(mean, std, episodes)`` of eval.csv's last evaluation (NaN, NaN, 0 if none).

        A run resumed from its final checkpoint (killed before summary.json) does
        not evaluate again in this process; its final evaluation is on disk.
        """
        rows = self.eval_log.read_rows()
        if not rows:
            return math.nan, math.nan, 0
        last = max(int(r["step"]) for r in rows)
        scores = np.array([float(r["score"]) for r in rows if int(r["step"]) == last])
        return float(scores.mean()), float(scores.std()), len(scores)

    def _finish(self) -> dict[str, Any]:
        cfg = self.config
        mean, std, n = getattr(self, "_last_eval", None) or self._last_eval_on_disk()
        summary = {
            "run_name": cfg.run_name,
            "preset": cfg.preset,
            "game": cfg.env.game,
            "seed": cfg.seed,
            "protocol": cfg.env.protocol,
            "steps": self.step,
            "frames": cfg.steps_to_frames(self.step),
            "episodes": self.episodes,
            "updates": self.learner.updates,
            "final_eval_mean": mean,
            "final_eval_std": std if n > 1 else None,
            "final_eval_episodes": n,
            "wall_time_s": round(self.wall_time + time.perf_counter() - self._t0, 3),
            "config_hash": cfg.config_hash(),
            "dqn_harness": __version__,
            # The code that finished the run (a table that grows across sessions
            # names, per run, the commit its numbers came from).
            "git_commit": git_commit()[0],
            # And the CPU it finished on (another CPU gives another trajectory).
            "cpu": cpu_description(),
            # And the ROM file the game was (another dump can be another game).
            "rom_md5": rom_md5(cfg),
        }
        hns = self.normalizer(cfg.env.game, mean) if self.normalizer is not None else None
        summary["final_hns"] = hns
        final = {"final/score": mean, "final/episodes": float(n)}
        if hns is not None:
            final["final/hns"] = hns
        self.sink.log_artifact(self._save_policy("final.pt"), "checkpoints")
        self.sink.log_artifact(self.run_dir / "eval.csv")
        # One model per run, named after it, carrying the final score.
        self.sink.log_model(
            self.learner.online,
            cfg.run_name,
            metrics=final,
            step_frames=cfg.steps_to_frames(self.step),
        )
        self.sink.flush()
        atomic_write_json(self.run_dir / "summary.json", summary)
        self.sink.log_artifact(self.run_dir / "summary.json")
        self.sink.log_artifact(self.run_dir / "metrics.csv")
        return summary
