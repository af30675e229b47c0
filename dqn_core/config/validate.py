"""Checks of a run config (:class:`~dqn_core.config.schema.RunConfig`) across its fields.

Each field's own rules (ranges, choices) are in its schema entry; these are the
rules between fields, run once when a config is created. Every error names the
fields, the values and what is allowed.
"""

from __future__ import annotations

import re
from typing import Any

from dqn_core.config.errors import ConfigError


def validate_cross(cfg: Any) -> None:
    """Raise :class:`ConfigError` where fields of ``cfg`` contradict each other."""
    a, r, t, e = cfg.agent, cfg.replay, cfg.train, cfg.env
    if a.v_min >= a.v_max:
        raise ConfigError(f"agent.v_min: {a.v_min} must be less than agent.v_max ({a.v_max})")
    if t.batch_size > r.capacity:
        raise ConfigError(
            f"train.batch_size: {t.batch_size} is larger than replay.capacity ({r.capacity})"
        )
    if a.epsilon_end > a.epsilon_start:
        raise ConfigError(
            f"agent.epsilon_end: {a.epsilon_end} is above agent.epsilon_start ({a.epsilon_start})"
        )
    if a.noisy_epsilon > 0 and not a.noisy:
        raise ConfigError(
            f"agent.noisy_epsilon: {a.noisy_epsilon} needs agent.noisy=true (without noisy "
            "layers, agent.epsilon_start/epsilon_end/epsilon_decay_steps set the exploration)"
        )
    if r.capacity < e.num_envs * (e.frame_stack + r.n_step + 1):
        raise ConfigError(
            f"replay.capacity: {r.capacity} is too small for {e.num_envs} envs "
            f"(needs at least num_envs x (frame_stack + n_step + 1) = "
            f"{e.num_envs * (e.frame_stack + r.n_step + 1)})"
        )
    if e.protocol == "classic" and a.network != "mlp":
        raise ConfigError(
            f"agent.network: classic-control envs need network=mlp, got {a.network!r} "
            "(nature_cnn, dopamine_cnn and der_cnn are for Atari pixels)"
        )
    if e.protocol != "classic" and a.network not in ("nature_cnn", "dopamine_cnn", "der_cnn"):
        raise ConfigError(
            f"agent.network: Atari protocol {e.protocol!r} needs network=nature_cnn, "
            f"dopamine_cnn or der_cnn, got {a.network!r}"
        )
    if a.augmentation != "none" and a.network == "mlp":
        raise ConfigError(
            f"agent.augmentation: {a.augmentation!r} shifts image frames; network=mlp has none"
        )
    if e.protocol == "classic" and e.backend != "python":
        raise ConfigError("env.backend: classic-control envs only have the python backend")
    if len(a.adam_betas) != 2:
        raise ConfigError(
            f"agent.adam_betas: expected two numbers (beta1, beta2), got {list(a.adam_betas)}"
        )
    dev = t.device
    if not (dev in ("auto", "cpu", "cuda", "mps") or re.fullmatch(r"cuda:\d+", dev)):
        raise ConfigError(f"train.device: {dev!r} is not one of auto, cpu, cuda, cuda:N, mps")
    if not cfg.preset or not all(c.isalnum() or c in "-_." for c in cfg.preset):
        raise ConfigError(
            f"preset: {cfg.preset!r} must be a non-empty name of letters, digits, -_."
        )
    if not e.game:
        raise ConfigError("env.game: must not be empty")
    if not 1 <= len(cfg.tracking.suite) <= 500 or cfg.tracking.suite.strip() != cfg.tracking.suite:
        raise ConfigError(
            f"tracking.suite: {cfg.tracking.suite[:40]!r} must be 1 to 500 characters without "
            "leading or trailing spaces (it names the MLflow experiment)"
        )
