"""evaluate_policy: the episodes it plays, and that a cut evaluation is never silent."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from dqn_core.config import load_config
from dqn_core.run.evaluate import evaluate_policy


def always_left(obs: np.ndarray, epsilon: float, rng: np.random.Generator) -> np.ndarray:
    return np.zeros(len(obs), dtype=np.int64)  # CartPole falls over in ~10 steps


def test_all_episodes_within_the_budget_log_nothing(caplog: pytest.LogCaptureFixture) -> None:
    cfg = load_config("cartpole")
    with caplog.at_level(logging.WARNING, logger="dqn_core.run.evaluate"):
        results = evaluate_policy(always_left, cfg, index=0, episodes=3, max_steps=1000)
    assert len(results) == 3 and not caplog.records


def test_a_budget_that_cuts_episodes_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    cfg = load_config("cartpole")
    with caplog.at_level(logging.WARNING, logger="dqn_core.run.evaluate"):
        results = evaluate_policy(always_left, cfg, index=0, episodes=50, max_steps=30)
    assert 1 <= len(results) < 50
    (record,) = caplog.records
    assert f"{len(results)} of 50 episodes finished within eval.max_steps=30" in record.message
