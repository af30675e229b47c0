"""The TD maths of dqn_core.agent.targets against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dqn_core.agent.targets import (
    categorical_cross_entropy,
    categorical_kl,
    categorical_projection,
    double_q_value,
    greedy_action_value,
    huber_loss,
    importance_weighted_loss,
    mse_loss,
    td_target,
)
from dqn_core.replay import n_step_returns


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


# ------------------------------------------------------------------ TD targets
def test_one_step_target_masks_terminals() -> None:
    # r + gamma * V(s') where the transition continues; r alone where it ended.
    target = td_target(t(1.0, 2.0, -1.0), t(0.99, 0.0, 0.99), t(10.0, 10.0, 4.0))
    assert torch.allclose(target, t(1.0 + 9.9, 2.0, -1.0 + 3.96))


def test_n_step_target_equals_unrolled_one_step_targets() -> None:
    gamma = 0.9
    rewards = np.array([[0.5, -1.0, 2.0]])
    powers = gamma ** np.arange(4, dtype=np.float64)
    returns, discount = n_step_returns(rewards, np.array([3]), np.array([False]), powers)
    bootstrap = t(3.0)
    by_hand = 0.5 + gamma * (-1.0 + gamma * (2.0 + gamma * 3.0))
    target = td_target(torch.tensor(returns).float(), torch.tensor(discount).float(), bootstrap)
    assert target.item() == pytest.approx(by_hand, rel=1e-6)


def test_double_q_takes_the_online_argmax_and_the_target_value() -> None:
    online = torch.tensor([[1.0, 5.0, 3.0], [0.0, -1.0, 2.0]])
    target = torch.tensor([[10.0, 2.0, 30.0], [7.0, 8.0, 9.0]])
    # Row 0: online picks action 1 -> target's 2 (DQN's max would be 30).
    assert torch.equal(double_q_value(online, target), t(2.0, 9.0))
    assert torch.equal(greedy_action_value(target), t(30.0, 9.0))
    with pytest.raises(ValueError, match="shapes differ"):
        double_q_value(online, target[:, :2])


# ---------------------------------------------------------- categorical (C51)
SUPPORT = t(-1.0, 0.0, 1.0)


def test_projection_splits_mass_between_neighbouring_atoms() -> None:
    # Tz = 0.5 + 0.5 * [-1, 0, 1] = [0, 0.5, 1]: atom 0 keeps 0.2, 0.5 splits 0.3 evenly.
    m = categorical_projection(t(0.2, 0.3, 0.5)[None], t(0.5), t(0.5), SUPPORT)
    assert torch.allclose(m, t(0.0, 0.2 + 0.15, 0.15 + 0.5)[None], atol=1e-6)


def test_projection_keeps_mass_landing_exactly_on_an_atom() -> None:
    # Tz = 0 + 1 * z: every atom maps onto itself, the distribution is unchanged.
    p = t(0.1, 0.6, 0.3)[None]
    assert torch.allclose(categorical_projection(p, t(0.0), t(1.0), SUPPORT), p, atol=1e-6)
    # Tz = 1 + 0 * z (terminal, reward exactly v_max): all mass on the top atom.
    m = categorical_projection(p, t(1.0), t(0.0), SUPPORT)
    assert torch.allclose(m, t(0.0, 0.0, 1.0)[None], atol=1e-6)


def test_projection_clips_mass_outside_the_bounds_to_the_end_atoms() -> None:
    p = t(0.25, 0.25, 0.5)[None]
    # Tz = 2 + z = [1, 2, 3]: everything at or above v_max lands on the top atom.
    assert torch.allclose(categorical_projection(p, t(2.0), t(1.0), SUPPORT), t(0, 0, 1.0)[None])
    # Tz = -1.5 + 0.5 z = [-2, -1.5, -1]: everything at or below v_min on the bottom atom.
    m = categorical_projection(p, t(-1.5), t(0.5), SUPPORT)
    assert torch.allclose(m, t(1.0, 0, 0)[None], atol=1e-6)
    # Terminal with reward -0.25: a point mass between atoms -1 and 0 (1/4 and 3/4).
    m = categorical_projection(p, t(-0.25), t(0.0), SUPPORT)
    assert torch.allclose(m, t(0.25, 0.75, 0.0)[None], atol=1e-6)


def test_projection_is_batched_row_by_row() -> None:
    p = torch.tensor([[0.2, 0.3, 0.5], [0.1, 0.6, 0.3]])
    batched = categorical_projection(p, t(0.5, 0.0), t(0.5, 1.0), SUPPORT)
    for i in range(2):
        alone = categorical_projection(
            p[i : i + 1], t(0.5, 0.0)[i : i + 1], t(0.5, 1.0)[i : i + 1], SUPPORT
        )
        assert torch.allclose(batched[i], alone[0])


@settings(max_examples=60, deadline=None)
@given(
    logits=st.lists(st.floats(-5, 5), min_size=11, max_size=11),
    reward=st.floats(-3, 3),
    discount=st.sampled_from([0.0, 0.5, 0.9, 0.99, 1.0]),
)
def test_projection_conserves_mass_and_the_clipped_mean(
    logits: list[float], reward: float, discount: float
) -> None:
    support = torch.linspace(-10.0, 10.0, 11)
    p = torch.softmax(torch.tensor(logits), 0)[None]
    m = categorical_projection(p, t(reward), t(discount), support)
    assert (m >= 0).all()
    assert m.sum().item() == pytest.approx(1.0, abs=1e-5)
    # Linear interpolation between neighbours keeps the mean of the clipped shifted atoms.
    shifted = (reward + discount * support).clamp(-10.0, 10.0)
    assert (m @ support).item() == pytest.approx((p[0] @ shifted).item(), abs=1e-4)


def test_projection_rejects_mismatched_atoms() -> None:
    with pytest.raises(ValueError, match="next_probs"):
        categorical_projection(torch.ones(1, 4) / 4, t(0.0), t(1.0), SUPPORT)


def test_cross_entropy_and_kl_by_hand() -> None:
    m = t(0.0, 0.25, 0.75)[None]
    log_p = torch.log(t(0.5, 0.25, 0.25))[None]
    ce = -(0.25 * math.log(0.25) + 0.75 * math.log(0.25))
    entropy = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))
    assert categorical_cross_entropy(m, log_p).item() == pytest.approx(ce, rel=1e-6)
    assert categorical_kl(m, log_p).item() == pytest.approx(ce - entropy, rel=1e-5)
    assert categorical_kl(m, torch.log(m.clamp(min=1e-30))).item() == pytest.approx(0.0, abs=1e-6)


# ---------------------------------------------------------------------- losses
def test_huber_is_quadratic_inside_and_linear_outside() -> None:
    x = t(0.5, -0.5, 2.0, -3.0).requires_grad_()
    loss = huber_loss(x)
    assert torch.allclose(loss, t(0.125, 0.125, 1.5, 2.5))
    loss.sum().backward()
    assert x.grad is not None
    # Its gradient is the TD error clipped to [-1, 1] (Nature DQN's error clipping).
    assert torch.allclose(x.grad, t(0.5, -0.5, 1.0, -1.0))


def test_mse_is_half_the_square() -> None:
    x = t(0.5, -2.0).requires_grad_()
    loss = mse_loss(x)
    assert torch.allclose(loss, t(0.125, 2.0))
    loss.sum().backward()
    assert x.grad is not None and torch.allclose(x.grad, t(0.5, -2.0))


# --------------------------------------------------------- prioritized replay
def test_importance_weighted_loss_and_new_priorities() -> None:
    per_sample = t(1.0, 2.0, 3.0).requires_grad_()
    td = t(-1.0, 2.0, -3.0).requires_grad_()
    loss, priorities = importance_weighted_loss(per_sample, t(1.0, 0.5, 0.0), td)
    assert loss.item() == pytest.approx((1.0 + 1.0 + 0.0) / 3)
    assert torch.equal(priorities, t(1.0, 2.0, 3.0))
    assert not priorities.requires_grad
    loss.backward()
    assert per_sample.grad is not None
    assert torch.allclose(per_sample.grad, t(1.0, 0.5, 0.0) / 3)
    with pytest.raises(ValueError, match="per_sample_loss/weights"):
        importance_weighted_loss(per_sample, t(1.0, 1.0), td)
