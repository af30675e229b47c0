"""The maths of DQN-family updates as pure functions of tensors.

Nothing here owns state or touches a network: each function maps tensors to
tensors, so each is tested against values computed by hand
(tests/test_targets.py). Names follow the time-indexed convention: a transition
is ``(obs, action, reward, discount, next_obs)`` where ``reward`` is the
(n-step) discounted reward sum and ``discount`` the multiplier of the
bootstrap value: ``gamma^k`` after ``k`` steps, 0 where a terminal cut the
return (terminal masking lives in the discount, nowhere else).

References: Mnih et al. 2015 (one-step target, Huber loss as error clipping),
van Hasselt et al. 2016 (double DQN), Sutton & Barto 2018 sec. 7.1 (n-step
returns), Bellemare et al. 2017 (categorical projection), Schaul et al. 2016
(importance-weighted loss of prioritized replay). The n-step sums themselves
are computed where the replay gathers them (``replay.n_step_returns``), and
PER's weights where it samples (``prioritized.importance_weights``): one
implementation each, the one training runs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def td_target(reward: Tensor, discount: Tensor, next_value: Tensor) -> Tensor:
    """``reward + discount * next_value`` (one-step or n-step, per the discount given).

    Args:
        reward: float (B,) the (n-step) discounted reward sum.
        discount: float (B,) gamma^k, 0 at terminals.
        next_value: float (B,) value of the bootstrap state.
    """
    return torch.addcmul(reward, discount, next_value)


def greedy_action_value(next_q_target: Tensor) -> Tensor:
    """DQN's bootstrap value: ``max_a Q_target(s', a)`` (Mnih et al. 2015). (B, A) -> (B,)."""
    return next_q_target.amax(dim=1)


def double_q_value(next_q_online: Tensor, next_q_target: Tensor) -> Tensor:
    """Double DQN's bootstrap value: ``Q_target(s', argmax_a Q_online(s', a))``.

    Args:
        next_q_online: (B, A) online-network values of the next states (choose the action).
        next_q_target: (B, A) target-network values of the next states (evaluate it).

    Returns:
        float (B,).
    """
    if next_q_online.shape != next_q_target.shape:
        raise ValueError(
            f"next_q_online/next_q_target: shapes differ: {tuple(next_q_online.shape)} vs "
            f"{tuple(next_q_target.shape)}"
        )
    best = next_q_online.argmax(dim=1, keepdim=True)
    return next_q_target.gather(1, best).squeeze(1)


def categorical_projection(
    next_probs: Tensor, reward: Tensor, discount: Tensor, support: Tensor
) -> Tensor:
    """Project the shifted distribution ``reward + discount * Z`` back onto ``support``.

    Bellemare et al. 2017, Algorithm 1, written as a triangular kernel: atom ``j``
    receives ``p_i * max(0, 1 - |Tz_i - z_j| / dz)`` from every source atom
    ``i``, where ``Tz_i`` is clipped to ``[v_min, v_max]``. Mass landing exactly on
    an atom goes wholly to that atom, mass beyond the bounds to the end atom,
    and the whole computation is one batched matmul (deterministic on every
    device, unlike scatter-add).

    Args:
        next_probs: float (B, atoms) probabilities of the bootstrap distribution.
        reward: float (B,) (n-step) reward sums.
        discount: float (B,) gamma^k, 0 at terminals.
        support: float (atoms,) evenly spaced atoms z_0 < ... < z_{atoms-1}.

    Returns:
        float (B, atoms) the projected target probabilities (rows sum to 1).
    """
    atoms = support.numel()
    if support.ndim != 1 or atoms < 2:
        raise ValueError(
            f"support: expected a 1-D tensor of >= 2 atoms, got {tuple(support.shape)}"
        )
    if next_probs.ndim != 2 or next_probs.shape[1] != atoms:
        raise ValueError(f"next_probs: expected shape (B, {atoms}), got {tuple(next_probs.shape)}")
    v_min, v_max = support[0], support[-1]
    delta = (v_max - v_min) / (atoms - 1)
    shifted = torch.addcmul(reward.unsqueeze(1), discount.unsqueeze(1), support.unsqueeze(0))
    shifted = torch.maximum(torch.minimum(shifted, v_max), v_min)  # (B, atoms_src)
    distance = (shifted.unsqueeze(2) - support.view(1, 1, atoms)).abs_().div_(delta)
    kernel = (1.0 - distance).clamp_(min=0.0)  # (B, atoms_src, atoms_dst)
    return torch.bmm(next_probs.unsqueeze(1), kernel).squeeze(1)


def huber_loss(td_error: Tensor, delta: float = 1.0) -> Tensor:
    """Elementwise Huber loss: quadratic within ``delta``, linear outside.

    With ``delta = 1`` its gradient is the TD error clipped to [-1, 1], the
    "error clipping" of Mnih et al. 2015.
    """
    return F.huber_loss(td_error, torch.zeros_like(td_error), reduction="none", delta=delta)


def mse_loss(td_error: Tensor) -> Tensor:
    """Elementwise ``0.5 * td_error^2`` (the 0.5 makes the gradient the TD error itself,
    equal to the Huber loss inside its quadratic region)."""
    return 0.5 * td_error.square()


def categorical_cross_entropy(target_probs: Tensor, log_probs: Tensor) -> Tensor:
    """Per-sample cross-entropy ``-sum_j m_j log p_j`` (Bellemare et al. 2017). (B, atoms) -> (B,)."""
    return -(target_probs * log_probs).sum(dim=-1)


def categorical_kl(target_probs: Tensor, log_probs: Tensor) -> Tensor:
    """Per-sample ``KL(m || p)``: the priority of a C51 transition (Hessel et al. 2018).

    Equals the cross-entropy minus the target's entropy (0 log 0 = 0), so it
    shares the loss's gradient; clamped at 0 against rounding.
    """
    neg_entropy = torch.xlogy(target_probs, target_probs).sum(dim=-1)
    return (categorical_cross_entropy(target_probs, log_probs) + neg_entropy).clamp_(min=0.0)


def importance_weighted_loss(
    per_sample_loss: Tensor, weights: Tensor, priorities: Tensor
) -> tuple[Tensor, Tensor]:
    """The batch loss under prioritized replay, and the transitions' new priorities.

    Args:
        per_sample_loss: float (B,) loss of each sampled transition.
        weights: float (B,) importance weights (ones under uniform replay).
        priorities: float (B,) the quantity to prioritize by: |TD error| for a
            scalar head, the KL loss for C51 (the replay adds its epsilon and
            exponent alpha).

    Returns:
        ``(loss, new_priorities)``: the scalar mean of ``weights * loss``, and the
        detached absolute priorities.
    """
    if per_sample_loss.shape != weights.shape or per_sample_loss.ndim != 1:
        raise ValueError(
            f"per_sample_loss/weights: expected matching (B,) shapes, got "
            f"{tuple(per_sample_loss.shape)} and {tuple(weights.shape)}"
        )
    return (weights * per_sample_loss).mean(), priorities.detach().abs()
