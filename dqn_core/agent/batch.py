"""A replay batch as the learner's tensors, checked once: names, dtypes and shapes.

The learner takes any object with a replay ``Batch``'s attributes (obs, action,
reward, discount, next_obs, weight); an error names the attribute and what was
expected.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor


class BatchTensors(NamedTuple):
    """One update's inputs on the learner's device."""

    obs: Tensor
    next_obs: Tensor
    action: Tensor
    reward: Tensor
    discount: Tensor
    weight: Tensor


def _tensor(batch: Any, name: str, device: torch.device, integer: bool) -> Tensor:
    value = getattr(batch, name, None)
    if value is None:
        raise ValueError(
            f"batch.{name}: missing (a replay Batch has obs, action, reward, "
            "discount, next_obs, weight)"
        )
    t = torch.as_tensor(value).to(device, non_blocking=True)
    if integer and t.dtype != torch.int64:
        raise TypeError(f"batch.{name}: expected int64, got {t.dtype}")
    if not integer and t.dtype != torch.float32:
        raise TypeError(f"batch.{name}: expected float32, got {t.dtype}")
    return t


def _observations(
    batch: Any, name: str, device: torch.device, obs_shape: tuple[int, ...]
) -> Tensor:
    value = getattr(batch, name, None)
    if value is None:
        raise ValueError(f"batch.{name}: missing")
    t = torch.as_tensor(value).to(device, non_blocking=True)
    if tuple(t.shape[1:]) != obs_shape:
        raise ValueError(
            f"batch.{name}: expected shape (B, {', '.join(map(str, obs_shape))}), "
            f"got {tuple(t.shape)}"
        )
    return t


def batch_tensors(batch: Any, device: torch.device, obs_shape: tuple[int, ...]) -> BatchTensors:
    """``batch``'s fields on ``device``, every one with the rows of ``batch.obs``."""
    out = BatchTensors(
        obs=_observations(batch, "obs", device, obs_shape),
        next_obs=_observations(batch, "next_obs", device, obs_shape),
        action=_tensor(batch, "action", device, integer=True),
        reward=_tensor(batch, "reward", device, integer=False),
        discount=_tensor(batch, "discount", device, integer=False),
        weight=_tensor(batch, "weight", device, integer=False),
    )
    size = out.obs.shape[0]
    for name in ("next_obs", "action", "reward", "discount", "weight"):
        t = getattr(out, name)
        if t.shape[0] != size or (name != "next_obs" and t.ndim != 1):
            raise ValueError(
                f"batch.{name}: expected {size} rows like batch.obs, got shape {tuple(t.shape)}"
            )
    return out
