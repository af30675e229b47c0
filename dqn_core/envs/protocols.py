"""The pinned protocols: their revisions, a run's effective settings, its deviations.

What a score means depends on the emulator settings it was measured under, so
each protocol is pinned once, as a frozen :class:`AtariSettings`, every revision
of it kept (:mod:`dqn_core.envs.protocol_table`, re-exported here;
``docs/protocols.md`` tabulates them, and a test keeps that table equal to
:data:`PROTOCOLS`). :func:`base_settings` picks a revision,
:func:`with_revision` records the current one in a new run's config,
:func:`protocol_settings` applies a run's config overrides,
:func:`protocol_deviations` lists them, and :func:`clip_reward` is the
protocols' learning reward.
"""

from __future__ import annotations

import dataclasses
from typing import Any, overload

import cv2
import numpy as np

from dqn_core.config import ConfigError, RunConfig
from dqn_core.envs.protocol_table import (
    PROTOCOL_HISTORY,
    PROTOCOLS,
    REVISION_CHANGES,
    AtariSettings,
)

__all__ = [
    "PROTOCOLS",
    "PROTOCOL_HISTORY",
    "REVISION_CHANGES",
    "AtariSettings",
    "base_settings",
    "clip_reward",
    "current_revision",
    "protocol_deviations",
    "protocol_label",
    "protocol_settings",
    "with_revision",
]


def current_revision(protocol: str) -> int:
    """The revision a new run of ``protocol`` gets."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"env.protocol: {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[protocol].revision


def with_revision(config: RunConfig) -> RunConfig:
    """``config`` with ``env.protocol_revision`` filled in (None becomes the current one).

    A new run records the revision it runs under, so that it is resumed,
    evaluated and tabulated by that revision whatever the protocol becomes.

    Raises:
        ConfigError: an unknown protocol or revision.
    """
    env = config.env
    base_settings(env.protocol, env.protocol_revision)  # validates both
    if env.protocol_revision is not None:
        return config
    revision = current_revision(env.protocol)
    return dataclasses.replace(config, env=dataclasses.replace(env, protocol_revision=revision))


def protocol_label(protocol: str, revision: int) -> str:
    """``atari100k-r1``: the name results use, with the revision where there are several."""
    if len(PROTOCOL_HISTORY.get(protocol, {})) > 1:
        return f"{protocol}-r{revision}"
    return protocol


def base_settings(protocol: str, revision: int | None = None) -> AtariSettings:
    """The pinned settings of ``protocol`` at ``revision`` (None: the current one).

    Raises:
        ConfigError: an unknown protocol or revision, naming the known ones.
    """
    if protocol not in PROTOCOLS:
        raise ConfigError(f"env.protocol: {protocol!r} is not one of {', '.join(PROTOCOLS)}")
    if revision is None:
        return PROTOCOLS[protocol]
    history = PROTOCOL_HISTORY[protocol]
    if revision not in history:
        known = ", ".join(str(r) for r in sorted(history))
        raise ConfigError(
            f"env.protocol_revision: protocol {protocol!r} has no revision {revision} "
            f"(revisions: {known}; docs/protocols.md lists what each changed)"
        )
    return history[revision]


# Config overrides (env.<field>) that may replace a protocol's value; None keeps it.
_OVERRIDES = (
    "repeat_action_probability",
    "noop_max",
    "terminal_on_life_loss",
    "max_episode_frames",
    "full_action_space",
    "fire_reset",
    "stack_reset_on_life_loss",
    "step_ends_at_life_loss",
)
_INTERPOLATIONS = {
    "INTER_AREA": cv2.INTER_AREA,
    "INTER_LINEAR": cv2.INTER_LINEAR,
    "INTER_NEAREST": cv2.INTER_NEAREST,
    "INTER_CUBIC": cv2.INTER_CUBIC,
}


def protocol_settings(config: RunConfig, *, evaluation: bool = False) -> AtariSettings:
    """The settings a run's environments use: its protocol plus the config's overrides.

    The protocol is taken at ``env.protocol_revision`` (None: the current
    revision). ``env.frame_skip`` and ``env.frame_stack`` always apply to Atari protocols;
    ``env.repeat_action_probability``, ``env.noop_max``,
    ``env.terminal_on_life_loss``, ``env.max_episode_frames`` and
    ``env.full_action_space``, ``env.fire_reset``, ``env.stack_reset_on_life_loss``,
    ``env.step_ends_at_life_loss`` replace the protocol's value unless None;
    ``eval.epsilon`` becomes ``eval_epsilon``. For evaluation, life loss is
    never terminal: evaluation scores are whole games.

    Args:
        config: the run's config.
        evaluation: settings for evaluation environments.

    Returns:
        The effective, validated :class:`AtariSettings`.

    Raises:
        ConfigError: an unknown protocol or revision, an override that does
            not apply to the protocol, or an episode cap too short for the reset
            frames.
    """
    env = config.env
    base = base_settings(env.protocol, env.protocol_revision)
    changes: dict[str, Any] = {"eval_epsilon": config.eval.epsilon}
    if base.is_atari:
        changes["frame_skip"] = env.frame_skip
        changes["frame_stack"] = env.frame_stack
        for name in _OVERRIDES:
            value = getattr(env, name)
            if value is not None:
                changes[name] = value
    else:
        atari_only = [
            n for n in _OVERRIDES if n != "max_episode_frames" and getattr(env, n) is not None
        ]
        if atari_only:
            raise ConfigError(
                f"env.{atari_only[0]}: only applies to Atari protocols "
                f"(nature2015, machado2018, atari100k), not to protocol 'classic'"
            )
        if env.max_episode_frames is not None:
            changes["max_episode_frames"] = env.max_episode_frames
    if evaluation:
        changes["terminal_on_life_loss"] = False
    settings = dataclasses.replace(base, **changes)
    _validate_settings(settings)
    return settings


def _validate_settings(s: AtariSettings) -> None:
    if not s.is_atari:
        return
    reset_frames = s.noop_max + int(s.fire_reset)
    if s.max_episode_frames <= reset_frames + s.frame_skip:
        raise ConfigError(
            f"env.max_episode_frames: {s.max_episode_frames} leaves no room for an agent step "
            f"after up to {reset_frames} reset frames (no-ops + FIRE); allowed: > "
            f"{reset_frames + s.frame_skip}"
        )
    if not s.grayscale:
        raise ConfigError("grayscale: the Atari pipeline produces grayscale stacks only (True)")
    if s.resize_interpolation not in _INTERPOLATIONS:
        raise ConfigError(
            f"resize_interpolation: {s.resize_interpolation!r} is not one of "
            f"{', '.join(_INTERPOLATIONS)}"
        )
    if s.reward_clipping not in ("sign", "none"):
        raise ConfigError(f"reward_clipping: {s.reward_clipping!r} is not one of sign, none")


def protocol_deviations(config: RunConfig) -> dict[str, tuple[Any, Any]]:
    """Where a run's training settings differ from its protocol's pinned values.

    Useful as run tags: a score measured with deviations is not comparable with
    the protocol's published numbers.

    Returns:
        ``{field: (protocol value, run value)}``, empty when the run is faithful.
    """
    base = base_settings(config.env.protocol, config.env.protocol_revision)
    run = protocol_settings(config)
    return {
        f.name: (getattr(base, f.name), getattr(run, f.name))
        for f in dataclasses.fields(AtariSettings)
        if getattr(base, f.name) != getattr(run, f.name)
    }


@overload
def clip_reward(reward: float) -> float: ...
@overload
def clip_reward(reward: np.ndarray) -> np.ndarray: ...
def clip_reward(reward: float | np.ndarray) -> float | np.ndarray:
    """The learning reward of DQN-family protocols: the sign of the raw reward.

    Args:
        reward: a raw reward or an array of them.

    Returns:
        -1, 0 or +1 (float, or a float32 array of the input's shape).
    """
    if isinstance(reward, np.ndarray):
        return np.sign(reward).astype(np.float32, copy=False)
    return float(np.sign(reward))
