"""Statistics of a log window (the agent steps between two metrics rows) and their row."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


@dataclass
class Window:
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


def plain(value: Any) -> Any:
    """A metrics value as a plain Python scalar (numpy scalars cannot go into a checkpoint)."""
    if value is None or type(value) in (int, float):
        return value
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    return float(value)


def crossed(before: int, after: int, period: int) -> int:
    """How many multiples of ``period`` lie in ``(before, after]``."""
    return after // period - before // period
