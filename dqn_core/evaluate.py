"""Evaluation by the protocol of the run's preset.

An evaluation plays full games (life loss is never terminal here) on their own
environments, seeded from the ``eval_env`` stream and the evaluation's index,
with an epsilon-greedy policy whose random stream is also derived from that
index. Evaluating therefore never draws from the training streams, so a run
that evaluates, or is resumed, makes the same training decisions as one that
does not.

An evaluation can be long (``eval.max_steps`` is 125,000 agent steps at Atari
scale: minutes), longer than a scheduler's grace period after SIGTERM. The
caller may therefore pass ``should_stop``, polled before every vector step;
when it returns True the evaluation is abandoned and :class:`EvaluationStopped`
is raised. An exception rather than a marker value, because a partial
evaluation is not a result: its episodes would bias the score towards short
games, so no caller may record it by accident. Nothing of the evaluation
survives it, and because the environments and the policy stream are seeded
from ``index`` alone, running the same evaluation again later (same weights,
same index) plays exactly the same games.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dqn_core.config import RunConfig
from dqn_core.envs import make_env, make_vec_env
from dqn_core.seeding import int_seed

log = logging.getLogger(__name__)

#: ``policy(obs_batch, epsilon, rng) -> actions``; the learner's ``act``.
Policy = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]


class EvaluationStopped(Exception):
    """``should_stop()`` returned True: the evaluation was abandoned unfinished.

    Its partial results are discarded (see the module docstring); the attributes
    only say how far it got, for the log.
    """

    def __init__(self, index: int, steps: int, episodes_done: int, episodes: int) -> None:
        super().__init__(
            f"evaluation (index {index}) stopped after {steps} agent steps "
            f"({episodes_done} of {episodes} episodes complete)"
        )
        self.index = index
        self.steps = steps
        self.episodes_done = episodes_done
        self.episodes = episodes


@dataclass(frozen=True)
class EpisodeResult:
    """One evaluation episode: raw game score and length in emulator frames."""

    episode: int
    score: float
    length_frames: int
    truncated: bool


def evaluate_policy(
    policy: Policy,
    config: RunConfig,
    *,
    index: int,
    episodes: int | None = None,
    epsilon: float | None = None,
    max_steps: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[EpisodeResult]:
    """Play ``episodes`` evaluation episodes and return their raw scores.

    Args:
        policy: batched action selection, e.g. ``learner.act``.
        config: the run's config (protocol, eval settings).
        index: which evaluation this is (seeds its envs and policy stream).
        episodes: episodes to complete (default ``config.eval.episodes``).
        epsilon: exploration of the evaluation policy (default ``config.eval.epsilon``).
        max_steps: cap on agent steps over all episodes (default ``config.eval.max_steps``).
        should_stop: polled before every vector step (and so at least once per
            ``eval.num_envs`` agent steps); True abandons the evaluation. It
            must be cheap, e.g. a read of a flag that a signal handler sets.

    Returns:
        The completed episodes in order of completion. If the step cap ends the
        evaluation before any episode completes, the unfinished episode is
        returned with ``truncated=True`` so that an evaluation never yields
        nothing.

    Raises:
        EvaluationStopped: ``should_stop()`` returned True; the environments
            are closed and nothing of the evaluation is returned.
    """
    episodes = config.eval.episodes if episodes is None else episodes
    epsilon = config.eval.epsilon if epsilon is None else epsilon
    max_steps = config.eval.max_steps if max_steps is None else max_steps
    num_envs = min(config.eval.num_envs, episodes)
    env = make_vec_env(config, num_envs, int_seed(config.seed, "eval_env", index), evaluation=True)
    rng = np.random.default_rng(int_seed(config.seed, "eval_policy", index))
    fps = config.frames_per_step
    results: list[EpisodeResult] = []
    returns = np.zeros(num_envs, dtype=np.float64)
    lengths = np.zeros(num_envs, dtype=np.int64)
    try:
        obs = env.reset()
        steps = 0
        while len(results) < episodes and steps < max_steps:
            if should_stop is not None and should_stop():
                raise EvaluationStopped(index, steps, len(results), episodes)
            actions = policy(obs, epsilon, rng)
            out = env.step(actions)
            returns += out.reward
            lengths += 1
            steps += num_envs
            ended = np.flatnonzero(out.terminated | out.truncated)
            for i in ended.tolist():
                if len(results) < episodes:
                    results.append(
                        EpisodeResult(
                            episode=len(results),
                            score=float(returns[i]),
                            length_frames=(
                                int(out.episode_frames[i])
                                if out.episode_frames is not None
                                else int(lengths[i]) * fps
                            ),
                            truncated=bool(out.truncated[i]),
                        )
                    )
                returns[i] = 0.0
                lengths[i] = 0
            obs = out.obs
        if not results:
            j = int(np.argmax(lengths))
            results.append(EpisodeResult(0, float(returns[j]), int(lengths[j]) * fps, True))
        if len(results) < episodes:
            # Never silent: a score from fewer episodes than asked has a wider spread
            # (and one cut episode is not a whole game).
            log.warning(
                "evaluation %d: %d of %d episodes finished within eval.max_steps=%d agent "
                "steps; the score is the mean of those (raise eval.max_steps for all)",
                index,
                len(results),
                episodes,
                max_steps,
            )
    finally:
        env.close()
    return results


def record_video(
    policy: Policy,
    config: RunConfig,
    path: Path,
    *,
    epsilon: float | None = None,
    max_steps: int = 4500,
    fps: int = 15,
) -> Path:
    """Record one evaluation episode (the emulator's RGB screen) to ``path``.

    The container is chosen by the suffix: ``.mp4`` (mp4v) or ``.avi`` (MJPG),
    written with OpenCV so no extra dependency is needed. One frame per agent
    step, at most ``max_steps`` steps (default: 5 minutes at 15 fps).
    """
    import cv2

    if config.env.protocol == "classic":
        raise ValueError("video: only Atari games can be recorded (classic envs have no screen)")
    suffix = path.suffix.lower()
    codecs = {".mp4": "mp4v", ".avi": "MJPG"}
    if suffix not in codecs:
        raise ValueError(f"video: {path.name}: use a .mp4 or .avi file name")
    epsilon = config.eval.epsilon if epsilon is None else epsilon
    env = make_env(config, int_seed(config.seed, "video"), evaluation=True)
    rng = np.random.default_rng(int_seed(config.seed, "video_policy"))
    ale = env.unwrapped.ale  # type: ignore[attr-defined]
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    try:
        obs, _ = env.reset()
        for _ in range(max_steps):
            frame = ale.getScreenRGB()
            if writer is None:
                h, w = frame.shape[:2]
                fourcc = cv2.VideoWriter.fourcc(*codecs[suffix])
                writer = cv2.VideoWriter(str(path), fourcc, fps, (w * 2, h * 2))
                if not writer.isOpened():
                    raise OSError(f"video: OpenCV cannot write {path}")
            big = cv2.resize(
                frame, (frame.shape[1] * 2, frame.shape[0] * 2), interpolation=cv2.INTER_NEAREST
            )
            writer.write(cv2.cvtColor(big, cv2.COLOR_RGB2BGR))
            action = policy(np.asarray(obs)[None], epsilon, rng)
            obs, _, terminated, truncated, _ = env.step(int(action[0]))
            if terminated or truncated:
                break
    finally:
        if writer is not None:
            writer.release()
        env.close()
    return path


def evaluate_run(
    run_dir: Path,
    *,
    checkpoint: Path | None = None,
    episodes: int | None = None,
    out: Path | None = None,
    video: Path | None = None,
) -> Path:
    """``dqn evaluate``: evaluate a run's checkpoint by its protocol.

    Loads ``run_dir/config.yaml`` and the newest valid checkpoint (or
    ``checkpoint``), plays ``episodes`` evaluation episodes and writes them to
    ``out`` (default ``run_dir/evaluate.csv``, same columns as ``eval.csv``).
    """
    import torch

    from dqn_core.checkpoint import CheckpointManager
    from dqn_core.config import ConfigError, from_dict, load_yaml
    from dqn_core.fileio import atomic_write_text
    from dqn_core.learner import Learner
    from dqn_core.runlog import EVAL_COLUMNS
    from dqn_core.seeding import Seeds

    cfg_path = run_dir / "config.yaml"
    if not cfg_path.exists():
        raise ConfigError(
            f"--run-dir: {run_dir} has no config.yaml (not a dqn-harness run directory)"
        )
    config = from_dict(load_yaml(cfg_path))
    manager = CheckpointManager(run_dir / "checkpoints", keep=config.train.keep_checkpoints)
    if checkpoint is not None:
        state = manager.load(checkpoint)
    else:
        found = manager.latest()
        if found is None:
            raise ConfigError(f"--run-dir: {run_dir} has no checkpoint to evaluate yet")
        state, checkpoint = found
    probe = make_vec_env(config, 1, int_seed(config.seed, "probe"))
    learner = Learner(
        config, probe.obs_shape, probe.num_actions, torch.device("cpu"), Seeds(config.seed)
    )
    probe.close()
    learner.load_state_dict(state["learner"])
    learner.online.eval()
    step = int(state["step"])
    results = evaluate_policy(learner.act, config, index=1_000_000 + step, episodes=episodes)
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
    if config.tracking.mlflow and results and out.resolve() == default_out.resolve():
        # The run's final evaluation (the workflow's): onto its MLflow run too.
        from dqn_core.results import reference
        from dqn_core.tracking import log_evaluation

        scores = [float(r.score) for r in results]
        hns = reference.game_hns(config.env.game, sum(scores) / len(scores))
        files = [out] + ([video] if video is not None and video.is_file() else [])
        log_evaluation(run_dir, scores, frames, files, hns)
    return out
