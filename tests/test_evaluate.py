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


def test_a_budget_that_no_episode_fits_says_the_score_is_a_cut_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cfg = load_config("cartpole")
    with caplog.at_level(logging.WARNING, logger="dqn_core.run.evaluate"):
        results = evaluate_policy(always_left, cfg, index=0, episodes=2, max_steps=3)
    assert len(results) == 1 and results[0].truncated
    (record,) = caplog.records
    assert record.message.startswith("evaluation 0: no episode finished within eval.max_steps=3")


def left_on_env0_balance_elsewhere(
    obs: np.ndarray, epsilon: float, rng: np.random.Generator
) -> np.ndarray:
    """Env 0 falls over in ~10 steps; the others balance the pole (100s of steps)."""
    state = obs.reshape(len(obs), -1)[:, -4:]  # cart x, x', pole angle, angle'
    actions = (state[:, 2] + state[:, 3] > 0).astype(np.int64)
    actions[0] = 0
    return actions


def test_each_env_plays_its_share_so_short_games_are_not_favoured() -> None:
    """With several envs, the first episodes to finish are the short ones; each
    env therefore plays a fixed share (taking the first 10 to finish here gave 10
    short games and no long one)."""
    cfg = load_config("cartpole", sets=["eval.num_envs=3"])
    results = evaluate_policy(
        left_on_env0_balance_elsewhere, cfg, index=0, episodes=10, max_steps=100_000
    )
    scores = sorted(r.score for r in results)
    assert len(results) == 10
    # Env 0 (4 episodes: the remainder goes to the first env) plays short games,
    # envs 1 and 2 (3 each) long ones.
    assert max(scores[:4]) < 30 and min(scores[4:]) > 100, scores


def test_a_long_evaluation_logs_its_progress(caplog: pytest.LogCaptureFixture) -> None:
    """An evaluation can run for half an hour: it says how far it is, at most once a
    period, at an episode's end (period 0 here: every episode's end)."""
    cfg = load_config("cartpole")
    with caplog.at_level(logging.INFO, logger="dqn_core.run.evaluate"):
        results = evaluate_policy(
            always_left, cfg, index=0, episodes=3, max_steps=1000, progress_every_s=0.0
        )
    lines = [r.message for r in caplog.records]
    assert [m.split(",")[0] for m in lines] == [
        f"evaluation 0: {k} of 3 episodes" for k in (1, 2, 3)
    ]
    mean_of_3 = np.mean([r.score for r in results])
    assert lines[-1].endswith(f"mean score so far {mean_of_3:.1f}")


def test_progress_lines_wait_for_their_period(caplog: pytest.LogCaptureFixture) -> None:
    cfg = load_config("cartpole")
    with caplog.at_level(logging.INFO, logger="dqn_core.run.evaluate"):
        evaluate_policy(always_left, cfg, index=0, episodes=3, max_steps=1000)
    assert not caplog.records  # default period 60 s: a short evaluation stays quiet


def test_trained_learner_acts_as_the_learner_whose_state_it_was_given() -> None:
    import torch

    from dqn_core.agent.learner import Learner
    from dqn_core.experiment import trained_learner
    from dqn_core.seeding import Seeds

    cfg = load_config("cartpole")
    source = Learner(cfg, (4,), 2, torch.device("cpu"), Seeds(7))  # another seed: other weights
    loaded = trained_learner(cfg, {"learner": source.state_dict()}, (4,), 2)
    fresh = Learner(cfg, (4,), 2, torch.device("cpu"), Seeds(cfg.seed))
    obs = torch.randn(5, 4)
    with torch.no_grad():
        assert torch.equal(loaded.online(obs), source.online(obs))
        assert not torch.equal(fresh.online(obs), source.online(obs))
    assert not loaded.online.training
