"""The replay memory a run's config asks for: :func:`make_replay`, the one factory."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from dqn_core.config import ConfigError, RunConfig
from dqn_core.replay.prioritized import PrioritizedReplayMemory
from dqn_core.replay.uniform import ReplayMemory


def frame_stack_for(config: RunConfig, obs_shape: tuple[int, ...]) -> int:
    """Frames per observation: ``env.frame_stack`` for image stacks (3-D), else 1."""
    if len(obs_shape) == 3:
        stack = config.env.frame_stack
        if obs_shape[0] != stack:
            raise ConfigError(
                f"env.frame_stack: {stack}, but the environment's observations have shape "
                f"{tuple(obs_shape)} (expected ({stack}, height, width))"
            )
        return stack
    return 1


def make_replay(
    config: RunConfig,
    obs_shape: tuple[int, ...],
    obs_dtype: npt.DTypeLike,
    num_envs: int,
    rng: np.random.Generator,
    device: str | torch.device,
) -> ReplayMemory:
    """The replay memory a run's config asks for (uniform or prioritized).

    Args:
        config: the run config (``replay.*``, ``agent.gamma``, ``env.frame_stack``).
        obs_shape, obs_dtype: one observation's shape and dtype, from the env.
        num_envs: parallel training envs.
        rng: the run's ``replay`` generator.
        device: the learner's device (batches are delivered there).

    Raises:
        ReplayMemoryError: ``replay.capacity`` does not fit in the available memory.
    """
    r = config.replay
    common: dict[str, Any] = {
        "frame_stack": frame_stack_for(config, tuple(obs_shape)),
        "n_step": r.n_step,
        "gamma": config.agent.gamma,
        "rng": rng,
        "device": device,
    }
    if r.prioritized:
        return PrioritizedReplayMemory(
            r.capacity,
            tuple(obs_shape),
            obs_dtype,
            num_envs,
            alpha=r.priority_alpha,
            priority_eps=r.priority_eps,
            weight_norm=r.priority_weight_norm,
            **common,
        )
    return ReplayMemory(r.capacity, tuple(obs_shape), obs_dtype, num_envs, **common)
