"""Runs as the harness makes them: the training loop and ``dqn evaluate``, recorded in MLflow.

The run loop (:mod:`dqn_core.run`) knows no MLflow: it writes to a
:class:`~dqn_core.run.sink.RunSink`. This module is where the harness plugs the
MLflow :class:`~dqn_core.tracking.Tracker` (plus system metrics) into it and
human-normalises final scores with the reference tables. ``dqn train`` and
``dqn evaluate`` call :func:`train` and :func:`evaluate_run`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from dqn_core.agent.device import resolve_device
from dqn_core.agent.learner import Learner
from dqn_core.config import ConfigError, RunConfig, load_run_config
from dqn_core.envs import make_vec_env
from dqn_core.envs.protocols import with_revision
from dqn_core.fileio import atomic_write_text
from dqn_core.results.reference import game_hns
from dqn_core.run.checkpoint import CheckpointManager
from dqn_core.run.cpu import configure_cpu, flush_denormal
from dqn_core.run.evaluate import evaluate_policy
from dqn_core.run.runlog import EVAL_COLUMNS
from dqn_core.run.sink import RunSink
from dqn_core.run.train import train as train_run
from dqn_core.run.video import record_video
from dqn_core.seeding import Seeds, int_seed
from dqn_core.system_metrics import SystemSampler
from dqn_core.tracking import Tracker, log_evaluation

log = logging.getLogger(__name__)


class SystemMetricsSink:
    """A sink that adds ``system/*`` metrics (CPU, memory, GPU) to every metrics row of another.

    Sampled by the loop's own calls, so the values share the row's step; MLflow's
    system-metrics thread would keep its own step counter.
    """

    def __init__(self, inner: Tracker, sampler: SystemSampler) -> None:
        self.inner = inner
        self.sampler = sampler

    def start(self) -> str | None:
        return self.inner.start()

    def log_metrics(self, metrics: Mapping[str, float], step_frames: int) -> None:
        self.inner.log_metrics({**metrics, **self.sampler.sample()}, step_frames=step_frames)

    def flush(self) -> None:
        self.inner.flush()

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> bool:
        return self.inner.log_artifact(path, artifact_path)

    def log_model(
        self,
        module: torch.nn.Module,
        name: str = "policy",
        *,
        input_example: Any = None,
        metrics: Mapping[str, float] | None = None,
        step_frames: int = 0,
    ) -> str | None:
        return self.inner.log_model(
            module, name, input_example=input_example, metrics=metrics, step_frames=step_frames
        )

    def finish(self, status: str = "FINISHED") -> None:
        self.inner.finish(status)


def mlflow_sink(config: RunConfig, run_dir: Path, *, tracking_uri: str | None = None) -> RunSink:
    """The MLflow tracker of a run (off when ``tracking.mlflow`` is false), with system metrics.

    Raises:
        ConfigError: ``train.device`` names a device that is absent (checked first:
            a bad device must not leave a run directory).
    """
    device = resolve_device(config.train.device)
    tracker = Tracker(
        config, Path(run_dir), uri=tracking_uri, enabled=config.tracking.mlflow, device=str(device)
    )
    if config.tracking.mlflow and config.tracking.system_metrics:
        return SystemMetricsSink(tracker, SystemSampler(device))
    return tracker


def train(
    config: RunConfig,
    run_dir: Path,
    *,
    tracking_uri: str | None = None,
    quiet: bool = False,
) -> dict[str, Any]:
    """``dqn train``: train (or resume) one run, recorded in MLflow; returns its summary.

    :func:`dqn_core.run.train.train` with the MLflow sink and the human
    normalisation of the reference scores.
    """
    config = with_revision(config)  # MLflow's params record the revision the run uses
    sink = mlflow_sink(config, Path(run_dir), tracking_uri=tracking_uri)
    return train_run(config, Path(run_dir), sink=sink, normalizer=game_hns, quiet=quiet)


def trained_learner(
    config: RunConfig,
    state: Mapping[str, Any],
    obs_shape: tuple[int, ...],
    num_actions: int,
) -> Learner:
    """The learner a checkpoint's ``state`` holds, on the CPU, its online network in eval mode.

    ``dqn evaluate`` acts with it, and so do the probes in ``scripts/``.
    """
    learner = Learner(config, obs_shape, num_actions, torch.device("cpu"), Seeds(config.seed))
    learner.load_state_dict(state["learner"])
    learner.online.eval()
    return learner


def evaluate_run(
    run_dir: Path,
    *,
    checkpoint: Path | None = None,
    episodes: int | None = None,
    out: Path | None = None,
    video: Path | None = None,
    sets: list[str] | tuple[str, ...] = (),
) -> Path:
    """``dqn evaluate``: evaluate a run's checkpoint by its protocol.

    Loads ``run_dir/config.yaml`` and the newest valid checkpoint (or
    ``checkpoint``), plays ``episodes`` evaluation episodes and writes them to
    ``out`` (default ``run_dir/evaluate.csv``, same columns as ``eval.csv``).
    ``sets`` (``eval.<field>=<value>`` items) change the evaluation itself, e.g.
    ``eval.epsilon=0.05``; such an evaluation is not the protocol's, so it needs
    an ``out`` other than ``evaluate.csv``, the file the tables read.
    """
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.exists():
        raise ConfigError(
            f"--run-dir: {run_dir} has no config.yaml (not a dqn-harness run directory)"
        )
    for item in sets:
        if not item.partition("=")[0].strip().startswith("eval."):
            raise ConfigError(
                f"--set {item!r}: only eval.<field> can change at evaluation "
                "(the network, environment and protocol are the run's)"
            )
    if sets and (out is None or out.resolve() == (run_dir / "evaluate.csv").resolve()):
        raise ConfigError(
            "--set changes the evaluation, so its scores are not the protocol's: write them "
            "with --out to a file other than evaluate.csv (the file the tables read)"
        )
    config = load_run_config(cfg_path, sets)  # the run's protocol revision, not today's
    manager = CheckpointManager(run_dir / "checkpoints", keep=config.train.keep_checkpoints)
    if checkpoint is not None:
        state = manager.load(checkpoint)
    else:
        found = manager.latest()
        if found is None:
            raise ConfigError(f"--run-dir: {run_dir} has no checkpoint to evaluate yet")
        state, checkpoint = found
    # As training does: a suite gives each job one core, and torch's default of one
    # thread per core made evaluations beside other jobs crawl (OpenMP threads
    # spinning for cores the other jobs hold); the run's subnormal mode.
    flushed_before = configure_cpu(config.train)
    try:
        probe = make_vec_env(config, 1, int_seed(config.seed, "probe"))
        learner = trained_learner(config, state, probe.obs_shape, probe.num_actions)
        probe.close()
        step = int(state["step"])
        log.info(
            "dqn evaluate of the step-%d checkpoint (%s): %d episodes, at most %d agent steps",
            step,
            checkpoint,
            config.eval.episodes if episodes is None else episodes,
            config.eval.max_steps,
        )
        # Its own seed streams (index), apart from the in-run evaluations' 0, 1, ...
        results = evaluate_policy(
            learner.act,
            config,
            index=1_000_000 + step,
            episodes=episodes,
            name=f"dqn evaluate of the step-{step} checkpoint",
        )
        frames = config.steps_to_frames(step)
        lines = [",".join(EVAL_COLUMNS)]
        lines += [
            f"{step},{frames},{r.episode},{r.score!r},{r.length_frames},{int(r.truncated)}"
            for r in results
        ]
        default_out = run_dir / "evaluate.csv"
        out = out if out is not None else default_out
        atomic_write_text(out, "\n".join(lines) + "\n")
        if video is not None:
            record_video(learner.act, config, video)
    finally:
        flush_denormal(flushed_before)  # the caller's thread computes as before
    if config.tracking.mlflow and results and out.resolve() == default_out.resolve():
        # The run's final evaluation (the workflow's): onto its MLflow run too.
        scores = [float(r.score) for r in results]
        hns = game_hns(config.env.game, sum(scores) / len(scores))
        files = [out] + ([video] if video is not None and video.is_file() else [])
        log_evaluation(run_dir, scores, frames, files, hns)
    return out
