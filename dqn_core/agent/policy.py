"""Batched epsilon-greedy action selection.

One call picks actions for all ``N`` environments. The random draws do not
depend on the action values: every call takes exactly ``N`` uniforms and then
``N`` random actions from the given generator, so the exploration stream
advances identically whatever the network outputs, and a resumed run (or a run
on another device) draws the same numbers. Drawing first also lets the caller
skip the forward pass when every environment explores (epsilon near 1).
"""

from __future__ import annotations

import numpy as np


def exploration_draws(
    n: int, num_actions: int, epsilon: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The random part of one batched epsilon-greedy step.

    Args:
        n: number of environments.
        num_actions: size of the discrete action space.
        epsilon: exploration probability in [0, 1].
        rng: the exploration generator (advanced by ``n`` uniforms, then ``n`` integers).

    Returns:
        ``(explore, random_actions)``: bool (n,) where to act randomly, int64 (n,)
        the random actions to take there.
    """
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon: {epsilon!r} must be in [0, 1]")
    if num_actions < 1:
        raise ValueError(f"num_actions: {num_actions!r} must be >= 1")
    explore = rng.random(n) < epsilon
    random_actions = rng.integers(0, num_actions, size=n, dtype=np.int64)
    return explore, random_actions


def epsilon_greedy(
    greedy_actions: np.ndarray, num_actions: int, epsilon: float, rng: np.random.Generator
) -> np.ndarray:
    """Replace each greedy action by a uniformly random one with probability ``epsilon``.

    Args:
        greedy_actions: int (N,) the argmax action of each environment.
        num_actions: size of the discrete action space.
        epsilon: exploration probability in [0, 1].
        rng: the exploration generator (see :func:`exploration_draws`).

    Returns:
        int64 (N,) the actions to take.
    """
    greedy_actions = np.asarray(greedy_actions)
    if greedy_actions.ndim != 1:
        raise ValueError(f"greedy_actions: expected shape (N,), got {greedy_actions.shape}")
    explore, random_actions = exploration_draws(greedy_actions.shape[0], num_actions, epsilon, rng)
    return np.where(explore, random_actions, greedy_actions.astype(np.int64, copy=False))
