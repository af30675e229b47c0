"""Shared test settings.

``DQN_TEST_TORCH_THREADS``: torch intra-op threads for the learning checks
(``train.torch_threads`` of their runs; unset: each preset's own value). A
different thread count changes the order of floating-point reductions, which
stands in for another CPU: ``DQN_TEST_TORCH_THREADS=1 make test`` and
``DQN_TEST_TORCH_THREADS=2 make test`` must both pass.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


def learning_threads_overrides() -> list[str]:
    """``["train.torch_threads=N"]`` from DQN_TEST_TORCH_THREADS, or [] when it is unset."""
    value = os.environ.get("DQN_TEST_TORCH_THREADS", "").strip()
    if not value:
        return []
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"DQN_TEST_TORCH_THREADS: expected a positive integer, got {value!r}")
    return [f"train.torch_threads={int(value)}"]


@pytest.fixture(autouse=True)
def _subnormals_computed_after_each_test() -> Iterator[None]:
    """Give each test a thread that computes subnormal floats (IEEE's default).

    A run flushes them while it trains (``train.flush_denormal``) and gives the
    thread its mode back when ``run()`` ends; a Trainer built but never run keeps
    the flushing mode, and hypothesis refuses to draw floats in such a thread.
    """
    yield
    from dqn_core.run.cpu import flush_denormal, subnormals_flushed

    if subnormals_flushed():
        flush_denormal(False)
