"""The training loop: act, store, learn, sync, evaluate, checkpoint, log.

See :mod:`dqn_core.run.train` for the step accounting, resume and signal
contracts this class implements.
"""

from __future__ import annotations

import collections
import logging
import math
import signal
import time
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from dqn_core.agent.device import resolve_device
from dqn_core.agent.learner import Learner
from dqn_core.agent.schedules import LinearSchedule, beta_schedule
from dqn_core.config import RunConfig
from dqn_core.envs import clip_reward, make_vec_env, protocol_settings
from dqn_core.replay import make_replay
from dqn_core.run.checkpoint import CheckpointManager
from dqn_core.run.cpu import configure_cpu, flush_denormal
from dqn_core.run.evaluate import EvaluationStopped
from dqn_core.run.progress import Progress
from dqn_core.run.record import RecordMixin, ScoreNormalizer
from dqn_core.run.runlog import EVAL_COLUMNS, METRIC_COLUMNS, CsvLog
from dqn_core.run.signals import Signals, TrainingInterrupted
from dqn_core.run.sink import NullSink, RunSink
from dqn_core.run.state import StateMixin, prepare_run_dir
from dqn_core.run.window import Window, crossed
from dqn_core.seeding import Seeds, int_seed, seed_global_libraries, set_determinism

log = logging.getLogger(__name__)

#: Episodes in train/return_last100 (as Stable-Baselines3's ep_rew_mean).
RECENT_EPISODES = 100


class Trainer(StateMixin, RecordMixin):
    """One run: owns the envs, replay, learner, logs and checkpoints."""

    def __init__(
        self,
        config: RunConfig,
        run_dir: Path,
        *,
        sink: RunSink | None = None,
        normalizer: ScoreNormalizer | None = None,
        quiet: bool = False,
    ) -> None:
        """Args:
        config: the run's config.
        run_dir: its run directory (created, or checked to belong to ``config``).
        sink: where metrics rows and files go besides the run directory (the harness
            passes the MLflow tracker); default: nowhere.
        normalizer: human-normalises the final score for ``summary.json`` (the
            harness passes the reference scores' ``game_hns``); default: no HNS.
        quiet: no progress bar.
        """
        # Checked before anything is written: a bad device must not leave a run directory.
        self.device = resolve_device(config.train.device)
        self.config = prepare_run_dir(config, Path(run_dir))
        self.run_dir = Path(run_dir)
        self.quiet = quiet
        t = config.train
        # Threads, subnormals, malloc: before any torch computation. run() gives the
        # calling thread back its subnormal mode when it ends.
        self._flushed_before = configure_cpu(t)
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
        self.sink: RunSink = sink if sink is not None else NullSink()
        self.normalizer = normalizer
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
        self.sink.start()
        progress = Progress(cfg, start_step, enabled=cfg.tracking.progress and not self.quiet)
        env = make_vec_env(
            cfg,
            self.num_envs,
            int_seed(cfg.seed, "env", start_step),
            thread_affinity_offset=cfg.env.thread_affinity_offset,
        )
        explore_rng = self.seeds.numpy("exploration")
        timers = self.timers
        clock = time.perf_counter
        window = Window(start_step=start_step)
        ep_return = np.zeros(self.num_envs, dtype=np.float64)
        ep_length = np.zeros(self.num_envs, dtype=np.int64)
        last_return = math.nan
        status = "FAILED"
        try:
            with Signals() as sig:
                if self.eval_owed is not None:
                    self._evaluate_owed(sig)
                    window = Window(start_step=self.step)  # the evaluation is not training time
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
                    if before >= t.learning_starts or t.warmup_policy == "agent":
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
                    self.replay.add(
                        obs, actions, reward, terminal, env.stream_break(out), out.next_obs
                    )
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
                        crossed(before, after, cfg.eval.every_steps) or after >= t.total_steps
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
                    if eval_due or crossed(before, after, t.log_every_steps):
                        self._log_point(window, epsilon=epsilon, extra=eval_row)
                        window = Window(start_step=after)
                    if crossed(before, after, t.checkpoint_every_steps) or after >= t.total_steps:
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
            self.sink.finish(status)
            flush_denormal(self._flushed_before)

    def _learn(self, before: int, after: int, window: Window) -> None:
        t, a = self.config.train, self.config.agent
        start = max(before, t.learning_starts - 1)
        timers, clock = self.timers, time.perf_counter
        for _ in range(crossed(start, after, t.train_frequency)):
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
        if crossed(start, after, a.target_update_steps):
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

    def _evaluate_owed(self, sig: Signals) -> None:
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
