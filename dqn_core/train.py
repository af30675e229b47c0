"""The training loop: act, store, learn, sync, evaluate, checkpoint, log.

One call of :func:`train` runs one (preset, game, seed) run in a run
directory, or resumes it from its newest valid checkpoint. Everything the run
produces lands in the run directory first (the source of truth) and is sent to
MLflow in batches when tracking is on.

Step accounting: ``step`` counts agent steps summed over the ``N`` parallel
environments, so one vector step adds ``N``. Every schedule (learning starts,
updates, target syncs, logging, evaluation, checkpoints) fires when ``step``
crosses a multiple of its period, which keeps the replay ratio (one update per
``train.train_frequency`` agent steps) independent of ``N``.

Resume: a checkpoint holds the learner (nets, optimizer), the replay memory,
every random stream and the counters. Episodes in flight when the checkpoint
was written are restarted on resume (environments are re-seeded from the step),
so a resumed run is a valid continuation, not a bit-exact replay of the
uninterrupted one; the learner, replay and random streams are exact.

Signals: SIGTERM/SIGINT set a flag that the loop polls once per iteration and
that an evaluation polls once per vector step, so a pre-empted run stops within
one loop iteration or one evaluation step plus one checkpoint write, not after
an evaluation of minutes. A signal inside the evaluation of step S abandons it
(nothing of it is written anywhere) and writes the checkpoint of step S with
the evaluation marked as owed, together with the training part of the log row
of S, which is complete. A resume from that checkpoint runs the owed evaluation
first (the same evaluation index, hence the same games on the same weights),
writes its eval.csv rows and the row of S once, checkpoints S again without the
mark and only then trains on; this holds for the final evaluation too.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import math
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any, NoReturn, cast

import numpy as np
import torch

from dqn_core import __version__
from dqn_core.checkpoint import CheckpointError, CheckpointManager
from dqn_core.config import ConfigError, RunConfig, from_dict, load_yaml, resume_mismatches
from dqn_core.envs import clip_reward, make_vec_env, protocol_settings
from dqn_core.evaluate import EvaluationStopped, evaluate_policy
from dqn_core.fileio import atomic_open, atomic_write_json, atomic_write_text
from dqn_core.learner import Learner, resolve_device
from dqn_core.replay import make_replay
from dqn_core.runlog import EVAL_COLUMNS, METRIC_COLUMNS, CsvLog
from dqn_core.schedules import LinearSchedule, beta_schedule
from dqn_core.seeding import Seeds, int_seed, seed_global_libraries, set_determinism
from dqn_core.system_metrics import SystemSampler
from dqn_core.tracking import CSV_INDEX_COLUMNS, Tracker, git_commit

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
#: Episodes in train/return_last100 (as Stable-Baselines3's ep_rew_mean).
RECENT_EPISODES = 100


class TrainingInterrupted(Exception):
    """SIGTERM or SIGINT arrived; a checkpoint was written before raising."""

    def __init__(self, signum: int, step: int) -> None:
        super().__init__(f"stopped by signal {signal.Signals(signum).name} at step {step}")
        self.signum = signum
        self.step = step


class NonFiniteError(RuntimeError):
    """The loss or the Q-values became NaN or infinite."""


def prepare_run_dir(config: RunConfig, run_dir: Path) -> RunConfig:
    """Create the run directory or check that it belongs to this config.

    A run directory made by a different config (outside the fields that may
    change on resume, such as the step budget) is refused with the list of
    differences, before anything is written.
    """
    cfg_path = run_dir / "config.yaml"
    if cfg_path.exists():
        try:
            saved = from_dict(load_yaml(cfg_path))
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


@dataclass
class _Window:
    """Statistics accumulated between two log points."""

    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    metrics: dict[str, list[torch.Tensor]] = field(default_factory=dict)
    start_step: int = 0
    # Agent steps and loop seconds of the window, before and after learning starts
    # (evaluations are not counted: throughput is of training alone).
    warmup_steps: int = 0
    warmup_time: float = 0.0
    learn_steps: int = 0
    learn_time: float = 0.0

    def add_time(self, steps: int, seconds: float, *, learning: bool) -> None:
        if learning:
            self.learn_steps += steps
            self.learn_time += seconds
        else:
            self.warmup_steps += steps
            self.warmup_time += seconds

    def add_metrics(self, metrics: dict[str, torch.Tensor]) -> None:
        for k, v in metrics.items():
            self.metrics.setdefault(k, []).append(v)

    def metric_means(self) -> dict[str, float]:
        out = {}
        for k, vs in self.metrics.items():
            out[k] = float(torch.stack([v.float() for v in vs]).mean().item())
        return out


class _Signals:
    """Turn SIGTERM/SIGINT into a flag the loop polls once per iteration and an
    evaluation once per vector step."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._old: dict[int, Any] = {}

    def pending(self) -> bool:
        """Whether a signal arrived (the ``should_stop`` of evaluations)."""
        return self.received is not None

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C stops at once
        self.received = signum

    def __enter__(self) -> _Signals:
        for s in (signal.SIGTERM, signal.SIGINT):
            # signal.signal raises ValueError outside the main thread (e.g. a test runner
            # thread); the loop then simply has no graceful-stop handler.
            with contextlib.suppress(ValueError):
                self._old[s] = signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)


def _plain(value: Any) -> Any:
    """A metrics value as a plain Python scalar (numpy scalars cannot go into a checkpoint)."""
    if value is None or type(value) in (int, float):
        return value
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    return float(value)


def _crossed(before: int, after: int, period: int) -> int:
    """How many multiples of ``period`` lie in ``(before, after]``."""
    return after // period - before // period


class Trainer:
    """One run: owns the envs, replay, learner, logs and checkpoints."""

    def __init__(
        self,
        config: RunConfig,
        run_dir: Path,
        *,
        tracking_uri: str | None = None,
        quiet: bool = False,
    ) -> None:
        # Checked before anything is written: a bad device must not leave a run directory.
        self.device = resolve_device(config.train.device)
        self.config = prepare_run_dir(config, Path(run_dir))
        self.run_dir = Path(run_dir)
        self.quiet = quiet
        t = config.train
        if t.torch_threads:
            torch.set_num_threads(t.torch_threads)
        set_determinism(t.deterministic)
        seed_global_libraries(config.seed)
        self.seeds = Seeds(config.seed)
        self.settings = protocol_settings(config)
        self.clip_rewards = self.settings.reward_clipping == "sign"
        self.num_envs = config.env.num_envs
        # A throwaway env tells the shapes; the real ones are built (and seeded) in run().
        probe = make_vec_env(config, 1, int_seed(config.seed, "probe"))
        self.obs_shape, self.obs_dtype = probe.obs_shape, probe.obs_dtype
        self.num_actions = probe.num_actions
        probe.close()
        self.learner = Learner(config, self.obs_shape, self.num_actions, self.device, self.seeds)
        self.replay = make_replay(
            config,
            self.obs_shape,
            self.obs_dtype,
            self.num_envs,
            self.seeds.numpy("replay"),
            self.device,
        )
        self.checkpoints = CheckpointManager(self.run_dir / "checkpoints", keep=t.keep_checkpoints)
        self.metrics_log = CsvLog(self.run_dir / "metrics.csv", METRIC_COLUMNS)
        self.eval_log = CsvLog(self.run_dir / "eval.csv", EVAL_COLUMNS)
        self.tracker = Tracker(
            config,
            self.run_dir,
            uri=tracking_uri,
            enabled=config.tracking.mlflow,
            device=str(self.device),
        )
        self.system = (
            SystemSampler(self.device)
            if config.tracking.mlflow and config.tracking.system_metrics
            else None
        )
        self.step = 0
        # PER's beta anneals over the budget the run was started with, kept by its
        # checkpoints: extending a run (a larger train.total_steps on resume) leaves the
        # schedule its first steps followed, and beta stays at its end value after it.
        self.beta: LinearSchedule = beta_schedule(config.replay, t.total_steps)
        self.evaluations = 0
        self.episodes = 0
        # Returns of the last episodes (train/return_last100), kept by checkpoints.
        self.recent_returns: collections.deque[float] = collections.deque(maxlen=RECENT_EPISODES)
        self.wall_time = 0.0  # seconds of training before this process (from the checkpoint)
        # The evaluation of ``step`` that a signal cut, owed before any further training
        # (see EVAL_OWED_KEY); None when nothing is owed.
        self.eval_owed: dict[str, Any] | None = None
        # Seconds spent in each part of the loop by this process (benchmarks/ reads them).
        self.timers: dict[str, float] = dict.fromkeys(
            ("act", "env", "store", "sample", "learn"), 0.0
        )

    # ------------------------------------------------------------- checkpoints
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
            self.tracker.log_artifact(self._save_policy("latest.pt"), "checkpoints")
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

    # -------------------------------------------------------------------- loop
    def run(self) -> dict[str, Any]:
        """Train to ``train.total_steps`` and return the run summary."""
        cfg = self.config
        t = cfg.train
        self._t0 = time.perf_counter()
        self._resume()
        start_step = self.step
        # Rows of an owed evaluation's step can only come from a process that ran it
        # after this checkpoint and died before checkpointing again: they are redone.
        keep = start_step - 1 if self.eval_owed is not None else start_step
        self.metrics_log.open(keep_until_step=keep)
        self.eval_log.open(keep_until_step=keep)
        self.tracker.start()
        progress = _Progress(cfg, start_step, enabled=cfg.tracking.progress and not self.quiet)
        env = make_vec_env(
            cfg,
            self.num_envs,
            int_seed(cfg.seed, "env", start_step),
            thread_affinity_offset=cfg.env.thread_affinity_offset,
        )
        explore_rng = self.seeds.numpy("exploration")
        timers = self.timers
        clock = time.perf_counter
        window = _Window(start_step=start_step)
        ep_return = np.zeros(self.num_envs, dtype=np.float64)
        ep_length = np.zeros(self.num_envs, dtype=np.int64)
        last_return = math.nan
        status = "FAILED"
        try:
            with _Signals() as sig:
                if self.eval_owed is not None:
                    self._evaluate_owed(sig)
                    window = _Window(start_step=self.step)  # the evaluation is not training time
                obs = env.reset()
                # Episodes in flight at the checkpoint restart: the replay's streams
                # must not stitch the new episodes onto the old ones.
                self.replay.cut_streams()
                while self.step < t.total_steps:
                    if sig.received is not None:
                        # Statistics of the unfinished log window are dropped, like
                        # in-flight episodes: metrics.csv stays on its step grid.
                        self._check_finite(window)  # never checkpoint poisoned weights
                        self._stop_at_signal(sig.received)
                    before = self.step
                    t_start = clock()
                    if before >= t.learning_starts:
                        epsilon = self.learner.epsilon(before)
                        actions = self.learner.act(obs, epsilon, explore_rng)
                    else:
                        epsilon = 1.0
                        actions = explore_rng.integers(0, self.num_actions, size=self.num_envs)
                    t_act = clock()
                    out = env.step(actions)
                    t_env = clock()
                    reward = clip_reward(out.reward) if self.clip_rewards else out.reward
                    episode_end = out.terminated | out.truncated
                    terminal = env.learning_terminal(out)
                    self.replay.add(obs, actions, reward, terminal, episode_end, out.next_obs)
                    obs = out.obs
                    timers["act"] += t_act - t_start
                    timers["env"] += t_env - t_act
                    timers["store"] += clock() - t_env
                    ep_return += out.reward
                    ep_length += 1
                    for i in np.flatnonzero(episode_end):
                        window.returns.append(float(ep_return[i]))
                        window.lengths.append(
                            int(out.episode_frames[i])
                            if out.episode_frames is not None
                            else int(ep_length[i]) * cfg.frames_per_step
                        )
                        last_return = float(ep_return[i])
                        self.recent_returns.append(last_return)
                        ep_return[i] = 0.0
                        ep_length[i] = 0
                        self.episodes += 1
                    self.step = after = before + self.num_envs
                    if after >= t.learning_starts:
                        self._learn(before, after, window)
                    window.add_time(
                        after - before, clock() - t_start, learning=before >= t.learning_starts
                    )
                    eval_due = (
                        _crossed(before, after, cfg.eval.every_steps) or after >= t.total_steps
                    )
                    eval_row: dict[str, float | None] = {}
                    if eval_due:
                        try:
                            eval_row = self._evaluate(should_stop=sig.pending)
                        except EvaluationStopped as stop:
                            # The training part of this step's log row is complete (and
                            # checked finite here); only the evaluation is owed.
                            row = self._metrics_row(window, epsilon=epsilon)
                            self.eval_owed = {"step": after, "row": row}
                            self._stop_at_signal(sig.received, stop)
                    # One metrics row per log point, and one at every evaluation (so each
                    # step appears once and evaluations share the row of their step).
                    if eval_due or _crossed(before, after, t.log_every_steps):
                        self._log_point(window, epsilon=epsilon, extra=eval_row)
                        window = _Window(start_step=after)
                    if _crossed(before, after, t.checkpoint_every_steps) or after >= t.total_steps:
                        self._check_finite(window)  # never checkpoint poisoned weights
                        self.save_checkpoint()
                    progress.update(after, last_return, epsilon)
            summary = self._finish()
            status = "FINISHED"
            return summary
        except TrainingInterrupted:
            status = "KILLED"
            raise
        finally:
            progress.close()
            env.close()
            self.metrics_log.close()
            self.eval_log.close()
            self.tracker.finish(status)

    def _learn(self, before: int, after: int, window: _Window) -> None:
        t, a = self.config.train, self.config.agent
        start = max(before, t.learning_starts - 1)
        timers, clock = self.timers, time.perf_counter
        for _ in range(_crossed(start, after, t.train_frequency)):
            t0 = clock()
            beta = self.beta(after)
            batch = self.replay.sample(t.batch_size, beta=beta)
            t1 = clock()
            metrics, priorities = self.learner.update(batch)
            if priorities is not None:
                self.replay.update_priorities(batch.indices, priorities.detach().cpu().numpy())
                metrics["weight_mean"] = batch.weight.mean()
            window.add_metrics(metrics)
            timers["sample"] += t1 - t0
            timers["learn"] += clock() - t1
        if _crossed(start, after, a.target_update_steps):
            self.learner.sync_target()

    def _stop_at_signal(
        self, signum: int | None, stop: EvaluationStopped | None = None
    ) -> NoReturn:
        """Checkpoint the current step (with ``eval_owed`` as set) and raise TrainingInterrupted.

        The caller has run the finiteness check: no checkpoint carries poisoned weights.
        """
        assert signum is not None  # only called once the flag is set
        if stop is not None:
            log.warning(
                "evaluation %d at step %d stopped by %s after %d agent steps (%d of %d "
                "episodes complete); nothing of it was written, it runs first on resume",
                self.evaluations + 1,
                self.step,
                signal.Signals(signum).name,
                stop.steps,
                stop.episodes_done,
                stop.episodes,
            )
        self.save_checkpoint()
        raise TrainingInterrupted(signum, self.step)

    def _evaluate_owed(self, sig: _Signals) -> None:
        """Run the evaluation that a signal cut, before any training (on resume).

        Its eval.csv rows and the metrics row of its step (the stored training part
        plus the evaluation) are written once; then the step is checkpointed again
        without the debt, so a later resume does not redo it. A signal cuts it as
        it would have cut the original: the same checkpoint, still owing it.
        """
        assert self.eval_owed is not None
        log.info("the evaluation of step %d was cut by a signal; running it first", self.step)
        try:
            eval_row = self._evaluate(should_stop=sig.pending)
        except EvaluationStopped as stop:
            self._stop_at_signal(sig.received, stop)
        row = {
            **self.eval_owed["row"],
            "time_s": round(self.wall_time + time.perf_counter() - self._t0, 3),
            **eval_row,
        }
        self.eval_owed = None
        self._write_row(row)
        self.save_checkpoint()

    def _log_point(
        self,
        window: _Window,
        *,
        epsilon: float | None = None,
        extra: dict[str, float | None] | None = None,
    ) -> None:
        """Write the metrics row of the current step: the window's statistics and ``extra``."""
        self._write_row({**self._metrics_row(window, epsilon=epsilon), **(extra or {})})

    def _metrics_row(self, window: _Window, *, epsilon: float | None = None) -> dict[str, Any]:
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
        return {k: _plain(v) for k, v in row.items()}

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

    def _check_finite(self, window: _Window) -> dict[str, float]:
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
            if k not in CSV_INDEX_COLUMNS
            and v is not None
            and not (isinstance(v, float) and math.isnan(v))
        }
        if self.system is not None:
            metrics.update(self.system.sample())
        self.tracker.log_metrics(metrics, step_frames=int(row["frames"]))
        self.tracker.flush()

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
        }
        from dqn_core.results.reference import game_hns  # pandas: only when a run finishes

        hns = game_hns(cfg.env.game, mean)
        summary["final_hns"] = hns
        final = {"final/score": mean, "final/episodes": float(n)}
        if hns is not None:
            final["final/hns"] = hns
        self.tracker.log_artifact(self._save_policy("final.pt"), "checkpoints")
        self.tracker.log_artifact(self.run_dir / "eval.csv")
        # One model per run, named after it, carrying the final score.
        self.tracker.log_model(
            self.learner.online,
            cfg.run_name,
            metrics=final,
            step_frames=cfg.steps_to_frames(self.step),
        )
        self.tracker.flush()
        atomic_write_json(self.run_dir / "summary.json", summary)
        self.tracker.log_artifact(self.run_dir / "summary.json")
        self.tracker.log_artifact(self.run_dir / "metrics.csv")
        return summary


class _Progress:
    """tqdm bar over agent steps showing frames, steps/s, ETA, return and epsilon."""

    def __init__(self, config: RunConfig, start: int, *, enabled: bool) -> None:
        self.bar = None
        self.config = config
        self.last = start
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(
                total=config.train.total_steps,
                initial=start,
                unit="step",
                dynamic_ncols=True,
                desc=config.run_name,
                mininterval=0.5,
            )

    def update(self, step: int, last_return: float, epsilon: float) -> None:
        if self.bar is None or step - self.last < 200:
            return
        self.bar.update(step - self.last)
        self.last = step
        self.bar.set_postfix(
            frames=self.config.steps_to_frames(step),
            ret="-" if math.isnan(last_return) else f"{last_return:.1f}",
            eps=f"{epsilon:.3f}",
            refresh=False,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def train(
    config: RunConfig,
    run_dir: Path,
    *,
    tracking_uri: str | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """Train (or resume) one run; returns the summary written to ``summary.json``.

    A run directory whose ``summary.json`` already covers ``train.total_steps``
    is finished: its summary is returned and nothing is retrained. With a larger
    budget the run continues from its last checkpoint.
    """
    run_dir = Path(run_dir)
    summary_path = run_dir / "summary.json"
    if summary_path.exists():
        prepare_run_dir(config, run_dir)
        summary: dict[str, Any] = json.loads(summary_path.read_text())
        if int(summary.get("steps", -1)) >= config.train.total_steps:
            log.info("%s already finished at step %d", run_dir, summary["steps"])
            return summary
        summary_path.unlink()  # an extended run is unfinished until it reaches the new budget
    return Trainer(config, run_dir, tracking_uri=tracking_uri, quiet=quiet).run()
