"""Shared test settings.

``DQN_TEST_TORCH_THREADS``: torch intra-op threads for the learning checks
(``train.torch_threads`` of their runs; unset: each preset's own value). A
different thread count changes the order of floating-point reductions, which
stands in for another CPU: ``DQN_TEST_TORCH_THREADS=1 make test`` and
``DQN_TEST_TORCH_THREADS=2 make test`` must both pass.
"""

from __future__ import annotations

import os


def learning_threads_overrides() -> list[str]:
    """``["train.torch_threads=N"]`` from DQN_TEST_TORCH_THREADS, or [] when it is unset."""
    value = os.environ.get("DQN_TEST_TORCH_THREADS", "").strip()
    if not value:
        return []
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"DQN_TEST_TORCH_THREADS: expected a positive integer, got {value!r}")
    return [f"train.torch_threads={int(value)}"]
