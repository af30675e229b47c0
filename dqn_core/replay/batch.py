"""A sampled minibatch (:class:`Batch`) and the n-step return maths that fills it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

IntArray = npt.NDArray[np.int64]


@dataclass
class Batch:
    """A sampled minibatch; tensors are on the memory's (learner's) device.

    Attributes:
        obs: (B, *obs_shape) stacked observations (uint8 for Atari, float32 vectors).
        action: int64 (B,) actions taken from ``obs``.
        reward: float32 (B,) n-step discounted sum of clipped learning rewards.
        discount: float32 (B,) ``gamma**k`` to apply to the bootstrap value,
            0 where a terminal cut the window.
        next_obs: (B, *obs_shape) the stack ``k`` steps later (bootstrap state).
        weight: float32 (B,) importance weights (ones for uniform sampling).
        indices: int64 (B,) slot ids, for ``update_priorities``.
    """

    obs: torch.Tensor
    action: torch.Tensor
    reward: torch.Tensor
    discount: torch.Tensor
    next_obs: torch.Tensor
    weight: torch.Tensor
    indices: npt.NDArray[np.int64]


def n_step_returns(
    rewards: npt.NDArray[np.float64],
    lengths: IntArray,
    terminal: npt.NDArray[np.bool_],
    gamma_powers: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The n-step reward sum and bootstrap discount of each sampled transition.

    Row ``i`` uses its first ``lengths[i]`` rewards (the window is cut at the first
    terminal or episode end, so ``1 <= lengths[i] <= n``): ``sum_{m < k} gamma^m r_m``,
    and the discount ``gamma^k``, or 0 when the window ends in a terminal state
    (Sutton & Barto 2018, sec. 7.1; a truncated episode still bootstraps).

    Args:
        rewards: (B, n) rewards following each transition's action; entries at or
            after ``lengths[i]`` are ignored.
        lengths: int (B,) the window length k of each row.
        terminal: bool (B,) whether the step that produced the k-th reward ended in
            a terminal state.
        gamma_powers: (n + 1,) ``gamma ** arange(n + 1)``.

    Returns:
        ``(returns, discounts)``, float64 (B,) each.
    """
    n = rewards.shape[1]
    inside = np.arange(n) < lengths[:, None]
    returns = (np.where(inside, rewards, 0.0) * gamma_powers[:n]).sum(axis=1)
    discounts = np.where(terminal, 0.0, gamma_powers[lengths])
    return returns, discounts
