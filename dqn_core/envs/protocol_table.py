"""The pinned protocols' settings, every revision of each, with their citations.

:class:`AtariSettings` names every emulator and preprocessing argument;
:data:`PROTOCOLS` pins each protocol at its current revision and
:data:`PROTOCOL_HISTORY` keeps the earlier ones (``docs/protocols.md`` renders
both; a test parses the table back). :mod:`dqn_core.envs.protocols` reads them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


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
