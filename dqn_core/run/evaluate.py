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
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dqn_core.config import RunConfig
from dqn_core.envs import make_vec_env
from dqn_core.seeding import int_seed

log = logging.getLogger(__name__)

#: ``policy(obs_batch, epsilon, rng) -> actions``; the learner's ``act``.
Policy = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]

#: Seconds between an evaluation's progress lines in the log (at most one a period).
PROGRESS_EVERY_S = 60.0


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
    progress_every_s: float = PROGRESS_EVERY_S,
    name: str | None = None,
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
        progress_every_s: an INFO line (episodes done, agent steps, mean score so
            far) at most this often, at an episode's end: an evaluation can run for
            half an hour (Breakout's 100 episodes at the 108,000-frame cap).
        name: what the log lines call this evaluation (default ``evaluation <index>``).

    Returns:
        The completed episodes in order of completion; with ``eval.num_envs``
        environments, each plays its own share (``episodes / num_envs``, the
        first ``episodes % num_envs`` one more) so that long games count as
        often as short ones. If the step cap ends the
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
    name = name if name is not None else f"evaluation {index}"
    env = make_vec_env(config, num_envs, int_seed(config.seed, "eval_env", index), evaluation=True)
    rng = np.random.default_rng(int_seed(config.seed, "eval_policy", index))
    fps = config.frames_per_step
    results: list[EpisodeResult] = []
    returns = np.zeros(num_envs, dtype=np.float64)
    lengths = np.zeros(num_envs, dtype=np.int64)
    # Each environment plays a fixed share of the episodes. Taking the first
    # ``episodes`` to finish on any environment would favour short games (several
    # short ones end on one environment while a long one is still running on
    # another), and short games usually score less.
    quota = np.full(num_envs, episodes // num_envs, dtype=np.int64)
    quota[: episodes % num_envs] += 1
    try:
        obs = env.reset()
        steps = 0
        next_report = time.monotonic() + progress_every_s
        while len(results) < episodes and steps < max_steps:
            if should_stop is not None and should_stop():
                raise EvaluationStopped(index, steps, len(results), episodes)
            actions = policy(obs, epsilon, rng)
            out = env.step(actions)
            returns += out.reward
            lengths += 1
            steps += int(np.count_nonzero(quota))  # envs whose share is done idle along
            ended = np.flatnonzero(out.terminated | out.truncated)
            for i in ended.tolist():
                if quota[i] > 0:
                    quota[i] -= 1
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
            if len(ended) and results and time.monotonic() >= next_report:
                log.info(
                    "%s: %d of %d episodes, %d agent steps, mean score so far %.1f",
                    name,
                    len(results),
                    episodes,
                    steps,
                    float(np.mean([r.score for r in results])),
                )
                next_report = time.monotonic() + progress_every_s
            obs = out.obs
        if not results:
            j = int(np.argmax(lengths))
            results.append(EpisodeResult(0, float(returns[j]), int(lengths[j]) * fps, True))
            log.warning(
                "%s: no episode finished within eval.max_steps=%d agent steps; the score "
                "is the return so far of the longest unfinished one (raise eval.max_steps)",
                name,
                max_steps,
            )
        elif len(results) < episodes:
            # Never silent: a score from fewer episodes than asked has a wider spread
            # (and one cut episode is not a whole game).
            log.warning(
                "%s: %d of %d episodes finished within eval.max_steps=%d agent "
                "steps; the score is the mean of those (raise eval.max_steps for all)",
                name,
                len(results),
                episodes,
                max_steps,
            )
    finally:
        env.close()
    return results
