"""The pinned protocols: every emulator and preprocessing setting of each, with its citation.

What a score means depends on the emulator settings it was measured under, so
each protocol is pinned here once, as a frozen :class:`AtariSettings`
(``docs/protocols.md`` tabulates them; a test keeps that table equal to
:data:`PROTOCOLS`). :func:`protocol_settings` applies a run's config overrides,
:func:`protocol_deviations` lists them, and :func:`clip_reward` is the
protocols' learning reward.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, overload

import cv2
import numpy as np

from dqn_core.config import ConfigError, RunConfig


@dataclass(frozen=True)
class AtariSettings:
    """Every emulator and preprocessing argument of one protocol, explicit.

    Lengths name their unit: ``*_frames`` are emulator frames. The same record
    describes the classic-control protocol, where the image fields are unused.
    """

    protocol: str
    """Protocol name (a key of :data:`PROTOCOLS`)."""
    revision: int
    """Which version of the protocol: a change to any setting makes a new revision
    (:data:`PROTOCOL_HISTORY`), and a run records the revision it ran under, so that
    results of two revisions never pool."""
    citation: str
    """The paper (and implementation) whose settings these are."""
    frame_skip: int
    """Action repeat: emulator frames per agent step (the action is held for all of them)."""
    repeat_action_probability: float
    """Sticky actions: per emulator frame, the probability the ALE repeats the previous action."""
    full_action_space: bool
    """All 18 joystick actions (True) or the game's minimal action set (False)."""
    noop_max: int
    """No-op starts: each episode begins with 1..noop_max no-op frames (0 disables)."""
    terminal_on_life_loss: bool
    """Training only: a lost life is a learning terminal (the game itself goes on)."""
    fire_reset: bool
    """Press FIRE for one frame at each game start, in games whose action set has FIRE."""
    max_pool: bool
    """Observation frame = pixel-wise max of the last two emulator frames of the step."""
    step_ends_at_life_loss: bool
    """A lost life ends the step at its frame, unread: the observation pools the two frames
    read last (Dopamine's 2021 ``AtariPreprocessing`` with ``terminal_on_life_loss``)."""
    grayscale: bool
    """ALE luminance (grayscale palette) screens; always True here (the CNN takes stacks)."""
    screen_size: tuple[int, int] | None
    """(height, width) of the resized frame; None for vector observations."""
    resize_interpolation: str
    """OpenCV interpolation used to resize the 210x160 screen (INTER_AREA: pixel-area average)."""
    frame_stack: int
    """Consecutive processed frames per observation (zero frames before the episode's first)."""
    stack_reset_on_life_loss: bool
    """A lost life zeroes the frames before the newest, as at an episode start (Dopamine's
    ``labs/atari_100k`` agents); the replay starts a new stream there, so learning sees
    the stacks the agent acted on."""
    max_episode_frames: int
    """Episode cap in emulator frames, reset frames included; reaching it truncates."""
    reward_clipping: str
    """Learning reward: 'sign' (clip to -1/0/+1) or 'none'; scores are always raw."""
    eval_epsilon: float
    """Epsilon of the evaluation policy."""
    game_mode: int | None
    """ALE game mode (None: the ROM's default mode)."""
    game_difficulty: int | None
    """ALE difficulty switch (None: the ROM's default difficulty)."""

    @property
    def is_atari(self) -> bool:
        return self.protocol != "classic"

    @property
    def obs_shape(self) -> tuple[int, ...]:
        """Shape of one observation for Atari protocols: ``(frame_stack, height, width)``."""
        if self.screen_size is None:
            raise ValueError(f"protocol {self.protocol!r} has no image observations")
        return (self.frame_stack, *self.screen_size)


_MNIH2015 = (
    "Mnih et al. 2015, Human-level control through deep reinforcement learning, "
    "Nature 518:529-533 (Methods, Extended Data Table 1)"
)
_MACHADO2018 = (
    "Machado et al. 2018, Revisiting the Arcade Learning Environment, JAIR 61:523-562; "
    "as run by Dopamine (Castro et al. 2018): atari_lib.create_atari_environment"
    "(sticky_actions=True), AtariPreprocessing, dqn.gin"
)
_KAISER2020 = (
    "Kaiser et al. 2020, Model-Based Reinforcement Learning for Atari, ICLR (the 100k "
    "benchmark); settings of DER (van Hasselt et al. 2019) and DrQ(eps) (Agarwal et al. "
    "2021) in Dopamine labs/atari_100k/configs/DER.gin and DrQ_eps.gin"
)

#: The pinned protocols, each at its current revision. ``docs/protocols.md`` renders
#: this table; a test parses it back.
PROTOCOLS: dict[str, AtariSettings] = {
    "nature2015": AtariSettings(
        protocol="nature2015",
        revision=1,
        citation=_MNIH2015,
        frame_skip=4,
        repeat_action_probability=0.0,
        full_action_space=False,
        noop_max=30,
        terminal_on_life_loss=True,
        fire_reset=True,
        max_pool=True,
        step_ends_at_life_loss=False,
        grayscale=True,
        screen_size=(84, 84),
        resize_interpolation="INTER_AREA",
        frame_stack=4,
        stack_reset_on_life_loss=False,
        max_episode_frames=108_000,
        reward_clipping="sign",
        eval_epsilon=0.05,
        game_mode=None,
        game_difficulty=None,
    ),
    "machado2018": AtariSettings(
        protocol="machado2018",
        revision=1,
        citation=_MACHADO2018,
        frame_skip=4,
        repeat_action_probability=0.25,
        full_action_space=False,
        noop_max=0,
        terminal_on_life_loss=False,
        fire_reset=False,
        max_pool=True,
        step_ends_at_life_loss=False,
        grayscale=True,
        screen_size=(84, 84),
        resize_interpolation="INTER_AREA",
        frame_stack=4,
        stack_reset_on_life_loss=False,
        max_episode_frames=108_000,
        reward_clipping="sign",
        eval_epsilon=0.001,
        game_mode=None,
        game_difficulty=None,
    ),
    "atari100k": AtariSettings(
        protocol="atari100k",
        revision=2,
        citation=_KAISER2020,
        frame_skip=4,
        repeat_action_probability=0.0,
        full_action_space=False,
        # Dopamine's atari_100k runners (the code behind rliable's DrQ(eps) and SPR
        # runs) start every training and evaluation episode with up to 30 no-ops;
        # without them the evaluation replays one game (docs/atari100k.md, Finding 4).
        noop_max=30,
        terminal_on_life_loss=True,
        fire_reset=False,
        max_pool=True,
        step_ends_at_life_loss=False,
        grayscale=True,
        screen_size=(84, 84),
        resize_interpolation="INTER_AREA",
        frame_stack=4,
        stack_reset_on_life_loss=False,
        max_episode_frames=108_000,
        reward_clipping="sign",
        eval_epsilon=0.001,
        game_mode=None,
        game_difficulty=None,
    ),
    "classic": AtariSettings(
        protocol="classic",
        revision=1,
        citation="Barto, Sutton & Anderson 1983 cart-pole; gymnasium CartPole-v1 (500-step limit)",
        frame_skip=1,
        repeat_action_probability=0.0,
        full_action_space=False,
        noop_max=0,
        terminal_on_life_loss=False,
        fire_reset=False,
        max_pool=False,
        step_ends_at_life_loss=False,
        grayscale=False,
        screen_size=None,
        resize_interpolation="none",
        frame_stack=1,
        stack_reset_on_life_loss=False,
        max_episode_frames=500,
        reward_clipping="none",
        eval_epsilon=0.0,
        game_mode=None,
        game_difficulty=None,
    ),
}

#: What changed in each revision after the first (``docs/protocols.md``, Revisions).
REVISION_CHANGES: dict[tuple[str, int], str] = {
    ("atari100k", 2): (
        "no-op starts: noop_max 0 -> 30, as Dopamine's atari_100k runners "
        "(docs/atari100k.md, Finding 4); from commit 276bab4"
    ),
}

#: Every revision of every protocol: ``{name: {revision: settings}}``. Old revisions
#: stay here so that a run made under one is resumed, evaluated and tabulated by it.
PROTOCOL_HISTORY: dict[str, dict[int, AtariSettings]] = {
    name: {settings.revision: settings} for name, settings in PROTOCOLS.items()
}
PROTOCOL_HISTORY["atari100k"][1] = dataclasses.replace(
    PROTOCOLS["atari100k"], revision=1, noop_max=0
)


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
