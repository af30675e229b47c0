"""Atari protocols, the reference Python wrapper stack, the native vector path, CartPole.

What a score means depends on the emulator settings it was measured under, so
each protocol is pinned here once, as a frozen :class:`AtariSettings` with every
ALE and preprocessing argument explicit and a citation
(``docs/protocols.md`` tabulates them, with each protocol's deviations from its
paper; a test keeps that table equal to :data:`PROTOCOLS`):

* ``nature2015``: Mnih et al. 2015 (no sticky actions, 1-30 no-op starts, life
  loss ends a training episode, evaluation epsilon 0.05);
* ``machado2018``: Machado et al. 2018 as Dopamine runs it (sticky actions
  p=0.25, no no-op starts, no life-loss terminal, evaluation epsilon 0.001);
* ``atari100k``: Kaiser et al. 2020's benchmark with the DER / DrQ(eps)
  settings of Dopamine's ``labs/atari_100k`` (no sticky actions, life loss
  terminal, no no-op starts, evaluation epsilon 0.001);
* ``classic``: gymnasium's CartPole-v1 for fast tests.

Two implementations of the Atari pipeline share those settings:

* the **Python stack** (:func:`make_env`, backend ``python``): gymnasium 1.x
  wrappers over ``ALE/<Name>-v5`` created with ``frameskip=1``, so that no-op
  starts, FIRE, action repeat with max-pooling, resizing, stacking, life
  tracking and the episode cap are all done (and tested) here. It is the
  reference; every random draw comes from a seeded ``numpy.random.Generator``
  or the ALE's own seeded generator, never a global one.
* the **native path** (backend ``native``): ale-py's C++
  ``AtariVectorEnv``, several times faster, configured from the same settings.
  Its few unavoidable differences are listed in ``docs/protocols.md``
  ("Backends") and its agreement with the Python stack is tested.

Observations are ``uint8`` stacks of shape ``(frame_stack, 84, 84)`` with values
0..255 (not scaled to [0, 1]: the network divides by 255, and replay stores
bytes). Rewards are returned raw; learning code clips them with
:func:`clip_reward`. "Terminated" (game over), "truncated" (episode frame cap)
and "life lost" are three separate flags: a lost life never resets the game,
and :meth:`VecEnv.learning_terminal` combines the flags the way the run's
protocol asks.
"""

from __future__ import annotations

import abc
import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, SupportsFloat, cast, overload

import ale_py
import ale_py.roms
import cv2
import gymnasium as gym
import numpy as np
from gymnasium import spaces

from dqn_core.config import ConfigError, RunConfig
from dqn_core.games import GameInfo, classic_env_id, is_classic, resolve_game
from dqn_core.seeding import int_seed, stream_seed

gym.register_envs(ale_py)

__all__ = [
    "PROTOCOLS",
    "AtariSettings",
    "VecEnv",
    "VecStep",
    "action_meanings",
    "clip_reward",
    "make_env",
    "make_vec_env",
    "num_actions",
    "protocol_deviations",
    "protocol_settings",
]


# --------------------------------------------------------------------------- protocols
@dataclass(frozen=True)
class AtariSettings:
    """Every emulator and preprocessing argument of one protocol, explicit.

    Lengths name their unit: ``*_frames`` are emulator frames. The same record
    describes the classic-control protocol, where the image fields are unused.
    """

    protocol: str
    """Protocol name (a key of :data:`PROTOCOLS`)."""
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
    grayscale: bool
    """ALE luminance (grayscale palette) screens; always True here (the CNN takes stacks)."""
    screen_size: tuple[int, int] | None
    """(height, width) of the resized frame; None for vector observations."""
    resize_interpolation: str
    """OpenCV interpolation used to resize the 210x160 screen (INTER_AREA: pixel-area average)."""
    frame_stack: int
    """Consecutive processed frames per observation (zero frames before the episode's first)."""
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

#: The pinned protocols. ``docs/protocols.md`` renders this table; a test parses it back.
PROTOCOLS: dict[str, AtariSettings] = {
    "nature2015": AtariSettings(
        protocol="nature2015",
        citation=_MNIH2015,
        frame_skip=4,
        repeat_action_probability=0.0,
        full_action_space=False,
        noop_max=30,
        terminal_on_life_loss=True,
        fire_reset=True,
        max_pool=True,
        grayscale=True,
        screen_size=(84, 84),
        resize_interpolation="INTER_AREA",
        frame_stack=4,
        max_episode_frames=108_000,
        reward_clipping="sign",
        eval_epsilon=0.05,
        game_mode=None,
        game_difficulty=None,
    ),
    "machado2018": AtariSettings(
        protocol="machado2018",
        citation=_MACHADO2018,
        frame_skip=4,
        repeat_action_probability=0.25,
        full_action_space=False,
        noop_max=0,
        terminal_on_life_loss=False,
        fire_reset=False,
        max_pool=True,
        grayscale=True,
        screen_size=(84, 84),
        resize_interpolation="INTER_AREA",
        frame_stack=4,
        max_episode_frames=108_000,
        reward_clipping="sign",
        eval_epsilon=0.001,
        game_mode=None,
        game_difficulty=None,
    ),
    "atari100k": AtariSettings(
        protocol="atari100k",
        citation=_KAISER2020,
        frame_skip=4,
        repeat_action_probability=0.0,
        full_action_space=False,
        noop_max=0,
        terminal_on_life_loss=True,
        fire_reset=False,
        max_pool=True,
        grayscale=True,
        screen_size=(84, 84),
        resize_interpolation="INTER_AREA",
        frame_stack=4,
        max_episode_frames=108_000,
        reward_clipping="sign",
        eval_epsilon=0.001,
        game_mode=None,
        game_difficulty=None,
    ),
    "classic": AtariSettings(
        protocol="classic",
        citation="Barto, Sutton & Anderson 1983 cart-pole; gymnasium CartPole-v1 (500-step limit)",
        frame_skip=1,
        repeat_action_probability=0.0,
        full_action_space=False,
        noop_max=0,
        terminal_on_life_loss=False,
        fire_reset=False,
        max_pool=False,
        grayscale=False,
        screen_size=None,
        resize_interpolation="none",
        frame_stack=1,
        max_episode_frames=500,
        reward_clipping="none",
        eval_epsilon=0.0,
        game_mode=None,
        game_difficulty=None,
    ),
}

# Config overrides (env.<field>) that may replace a protocol's value; None keeps it.
_OVERRIDES = (
    "repeat_action_probability",
    "noop_max",
    "terminal_on_life_loss",
    "max_episode_frames",
    "full_action_space",
    "fire_reset",
)
_INTERPOLATIONS = {
    "INTER_AREA": cv2.INTER_AREA,
    "INTER_LINEAR": cv2.INTER_LINEAR,
    "INTER_NEAREST": cv2.INTER_NEAREST,
    "INTER_CUBIC": cv2.INTER_CUBIC,
}


def protocol_settings(config: RunConfig, *, evaluation: bool = False) -> AtariSettings:
    """The settings a run's environments use: its protocol plus the config's overrides.

    ``env.frame_skip`` and ``env.frame_stack`` always apply to Atari protocols;
    ``env.repeat_action_probability``, ``env.noop_max``,
    ``env.terminal_on_life_loss``, ``env.max_episode_frames`` and
    ``env.full_action_space``, ``env.fire_reset`` replace the protocol's value unless None;
    ``eval.epsilon`` becomes ``eval_epsilon``. For evaluation, life loss is
    never terminal: evaluation scores are whole games.

    Args:
        config: the run's config.
        evaluation: settings for evaluation environments.

    Returns:
        The effective, validated :class:`AtariSettings`.

    Raises:
        ConfigError: an override that does not apply to the protocol, or an
            episode cap too short for the reset frames.
    """
    env = config.env
    if env.protocol not in PROTOCOLS:
        raise ConfigError(f"env.protocol: {env.protocol!r} is not one of {', '.join(PROTOCOLS)}")
    base = PROTOCOLS[env.protocol]
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
    base = PROTOCOLS[config.env.protocol]
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


# ----------------------------------------------------------------- the Python stack
class AleSeed(gym.Wrapper):
    """Seed the ALE with the integer seed itself, as ale-py's C++ vector env does.

    ``AtariEnv.reset(seed=s)`` would seed the emulator with a word derived from
    ``SeedSequence(s)``; seeding it with ``s`` instead makes the emulator's
    random draws (sticky actions) the same in both backends for the same seed.
    Must wrap the base ``AtariEnv`` directly.
    """

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        if seed is not None:
            if not 0 <= seed < 2**31:
                raise ValueError(f"seed: expected an integer in [0, 2**31), got {seed}")
            base = self.env.unwrapped
            base.ale.setInt("random_seed", int(seed))  # type: ignore[attr-defined]
            base.load_game()  # type: ignore[attr-defined]  # a new seed takes effect on load
        return self.env.reset(options=options)


class NoopReset(gym.Wrapper):
    """Start each episode with a random number of no-op frames in [1, noop_max].

    The count comes from this wrapper's own ``numpy.random.Generator``:
    reseeded by ``reset(seed=...)``, so a seed fixes every start. Wraps the
    single-frame base env (one no-op = one emulator frame). ``info["noops"]``
    reports the count.
    """

    def __init__(self, env: gym.Env, noop_max: int, rng: np.random.Generator) -> None:
        super().__init__(env)
        if noop_max < 0:
            raise ValueError(f"noop_max: expected >= 0, got {noop_max}")
        meanings = env.unwrapped.get_action_meanings()  # type: ignore[attr-defined]
        if noop_max > 0 and meanings[0] != "NOOP":
            raise ValueError(f"no-op starts need action 0 to be NOOP, got {meanings[0]!r}")
        self.noop_max = noop_max
        self.rng = rng

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        if seed is not None:
            self.rng = noop_generator(seed)
        obs, info = self.env.reset(seed=seed, options=options)
        noops = int(self.rng.integers(1, self.noop_max + 1)) if self.noop_max > 0 else 0
        for _ in range(noops):
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:  # a game that ends while idle: start over
                obs, info = self.env.reset()
        info["noops"] = noops
        return obs, info


def noop_generator(seed: int) -> np.random.Generator:
    """The no-op-start generator of an env seeded with ``seed`` (independent of the ALE's)."""
    return np.random.Generator(np.random.PCG64(stream_seed(seed, "noop_starts")))


class FireReset(gym.Wrapper):
    """Press FIRE for one emulator frame at each game start (games that have FIRE).

    Some games (Breakout, ...) wait for FIRE before play begins; a random
    policy finds it, but a near-greedy one can stall. Only the game start is
    handled: after a lost life the agent presses FIRE itself, since the game is
    not reset then.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        meanings = env.unwrapped.get_action_meanings()  # type: ignore[attr-defined]
        self.fire_action = meanings.index("FIRE") if "FIRE" in meanings else None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        if self.fire_action is None:
            return obs, info
        for _ in range(_MAX_RESET_ATTEMPTS):
            noops = info.get("noops")
            obs, _, terminated, truncated, info = self.env.step(self.fire_action)
            if not (terminated or truncated):
                if noops is not None:
                    info["noops"] = noops
                info["fire_reset"] = True
                return obs, info
            obs, info = self.env.reset()  # the game ended at once: start over
        raise RuntimeError(f"the game ends at FIRE after {_MAX_RESET_ATTEMPTS} resets")


_MAX_RESET_ATTEMPTS = 10


class MaxPoolActionRepeat(gym.Wrapper):
    """Repeat the action for ``frame_skip`` frames; observe the max of the last two.

    Drives the ALE directly (one ``act`` per frame, screens read only for the
    frames that are pooled), sums the raw rewards, and stops early at a game
    over or at the episode cap, which it never overshoots: the last step of an
    episode holds the action only for the frames left. The observation is the
    210x160 grayscale screen, max-pooled over the step's last two emulator
    frames (the frame before a step's first frame is the previous step's last
    one). At a game over before the last two frames of the step, the frame
    before the final one was not read and the observation is the final frame
    alone; a terminal observation is never bootstrapped from.

    ``terminated`` is the game's own end; ``truncated`` is the episode cap
    (``max_episode_frames``, counted by the ALE from the game start, no-op and
    FIRE frames included).
    """

    def __init__(
        self, env: gym.Env, frame_skip: int, max_pool: bool, full_action_space: bool
    ) -> None:
        super().__init__(env)
        if frame_skip < 1:
            raise ValueError(f"frame_skip: expected >= 1, got {frame_skip}")
        self.frame_skip = frame_skip
        self.max_pool = max_pool
        self._ale = env.unwrapped.ale  # type: ignore[attr-defined]
        self._actions = (
            self._ale.getLegalActionSet() if full_action_space else self._ale.getMinimalActionSet()
        )
        self._cap = int(self._ale.getInt("max_num_frames_per_episode")) or None
        height, width = self._ale.getScreenDims()
        self._frames = np.zeros((2, height, width), dtype=np.uint8)
        self._slot = 0
        self.observation_space = spaces.Box(0, 255, (height, width), np.uint8)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        _, info = self.env.reset(seed=seed, options=options)
        # The first observation is the current screen alone (its partner frame is
        # blank), as in Dopamine, gymnasium's AtariPreprocessing and ale-py's C++ path.
        self._slot = 0
        self._frames[1].fill(0)
        self._ale.getScreenGrayscale(self._frames[0])
        info.update(self._info())
        return self._frames[0].copy(), info

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        ale = self._ale
        ale_action = self._actions[int(action)]
        if ale.game_over(with_truncation=True):
            raise RuntimeError("step() after the episode ended (game over or frame cap); reset()")
        n = self.frame_skip
        if self._cap is not None:
            n = min(n, self._cap - ale.getEpisodeFrameNumber())
        reward = 0.0
        terminated = False
        partner_is_previous = True  # does the other slot hold the frame before the newest?
        for i in range(n):
            reward += ale.act(ale_action)
            terminated = ale.game_over(with_truncation=False)
            if terminated or i >= n - 2:
                partner_is_previous = i == 0 or i - 1 >= n - 2
                self._slot ^= 1
                ale.getScreenGrayscale(self._frames[self._slot])
            if terminated:
                break
        if self.max_pool and partner_is_previous:
            frame = np.maximum(self._frames[0], self._frames[1])
        else:
            frame = self._frames[self._slot].copy()
        truncated = (not terminated) and ale.game_truncated()
        return frame, reward, terminated, truncated, self._info()

    def _info(self) -> dict[str, Any]:
        return {
            "lives": self._ale.lives(),
            "episode_frame_number": self._ale.getEpisodeFrameNumber(),
            "frame_number": self._ale.getFrameNumber(),
        }


class LifeLossInfo(gym.Wrapper):
    """Report ``info["life_lost"]`` (lives went down this step) without ending anything.

    Whether a lost life is a learning terminal is the protocol's business
    (:meth:`VecEnv.learning_terminal`); the game, the frame stack and the
    episode score all go on.
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self._ale = env.unwrapped.ale  # type: ignore[attr-defined]
        self.lives = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self.lives = self._ale.lives()
        info["life_lost"] = False
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        lives = self._ale.lives()
        info["life_lost"] = lives < self.lives
        self.lives = lives
        return obs, reward, terminated, truncated, info


class ResizeFrame(gym.ObservationWrapper):
    """Resize a 2-D uint8 frame to ``(height, width)`` with OpenCV (INTER_AREA by default)."""

    def __init__(
        self, env: gym.Env, size: tuple[int, int], interpolation: str = "INTER_AREA"
    ) -> None:
        super().__init__(env)
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(
                f"interpolation: {interpolation!r} is not one of {', '.join(_INTERPOLATIONS)}"
            )
        self.size = size
        self._interpolation = _INTERPOLATIONS[interpolation]
        self.observation_space = spaces.Box(0, 255, size, np.uint8)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        height, width = self.size
        return cv2.resize(observation, (width, height), interpolation=self._interpolation)


class FrameStack(gym.Wrapper):
    """Stack the last ``k`` frames into a ``(k, height, width)`` uint8 observation (0..255).

    At an episode start the frames before the first are zeros (as in ale-py's
    C++ path and in Dopamine's replay), so the stack never mixes two episodes.
    Each returned observation is a fresh array.
    """

    def __init__(self, env: gym.Env, k: int) -> None:
        super().__init__(env)
        if k < 1:
            raise ValueError(f"frame_stack: expected >= 1, got {k}")
        shape = cast(tuple[int, int], env.observation_space.shape)
        self._stack = np.zeros((k, *shape), dtype=np.uint8)
        self.observation_space = spaces.Box(0, 255, (k, *shape), np.uint8)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._stack.fill(0)
        self._stack[-1] = obs
        return self._stack.copy(), info

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._stack[:-1] = self._stack[1:]
        self._stack[-1] = obs
        return self._stack.copy(), reward, terminated, truncated, info


class SeedOnFirstReset(gym.Wrapper):
    """Use the construction seed at the first ``reset()`` that is given none.

    Later resets continue the seeded random streams (gymnasium semantics); an
    explicit ``reset(seed=s)`` reseeds everything below.
    """

    def __init__(self, env: gym.Env, seed: int) -> None:
        super().__init__(env)
        self._pending_seed: int | None = seed

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        if seed is None:
            seed = self._pending_seed
        self._pending_seed = None
        return self.env.reset(seed=seed, options=options)


def make_atari_env(
    game: str | GameInfo,
    settings: AtariSettings,
    seed: int,
    *,
    render_mode: str | None = None,
) -> gym.Env:
    """The Python wrapper stack for one Atari game under explicit settings.

    Layers, inside out: ``ALE/<Name>-v5`` (``frameskip=1``, the settings' sticky
    actions, action set, mode, difficulty and ``max_num_frames_per_episode``,
    grayscale screens) -> :class:`AleSeed` -> :class:`NoopReset` -> :class:`FireReset` (if
    ``fire_reset``) -> :class:`MaxPoolActionRepeat` -> :class:`LifeLossInfo` ->
    :class:`ResizeFrame` -> :class:`FrameStack` -> :class:`SeedOnFirstReset`.

    Args:
        game: any spelling :func:`~dqn_core.games.resolve_game` accepts.
        settings: an Atari protocol's settings (see :func:`protocol_settings`).
        seed: in [0, 2**31); seeds the ALE (sticky actions) and the no-op
            generator at the first reset.
        render_mode: ``"rgb_array"`` to render full-colour frames (videos).

    Returns:
        A gymnasium env with observation space ``Box(0, 255, (stack, 84, 84),
        uint8)``, raw float rewards, and ``info`` keys ``lives``, ``life_lost``,
        ``episode_frame_number``, ``frame_number`` (``noops`` after reset).
    """
    game_info = game if isinstance(game, GameInfo) else resolve_game(game)
    if not 0 <= seed < 2**31:
        raise ValueError(
            f"seed: expected an integer in [0, 2**31) (the ALE takes 31-bit seeds; derive one "
            f"with dqn_core.seeding.int_seed), got {seed}"
        )
    if not settings.is_atari or settings.screen_size is None:
        raise ConfigError(f"env.protocol: {settings.protocol!r} is not an Atari protocol")
    _validate_settings(settings)
    env: gym.Env = gym.make(
        game_info.gym_id,
        frameskip=1,
        repeat_action_probability=settings.repeat_action_probability,
        full_action_space=settings.full_action_space,
        max_num_frames_per_episode=settings.max_episode_frames,
        mode=settings.game_mode,
        difficulty=settings.game_difficulty,
        obs_type="grayscale",
        render_mode=render_mode,
    )
    env = AleSeed(env)
    env = NoopReset(env, settings.noop_max, noop_generator(seed))
    if settings.fire_reset:
        env = FireReset(env)
    env = MaxPoolActionRepeat(
        env, settings.frame_skip, settings.max_pool, settings.full_action_space
    )
    env = LifeLossInfo(env)
    env = ResizeFrame(env, settings.screen_size, settings.resize_interpolation)
    env = FrameStack(env, settings.frame_stack)
    return SeedOnFirstReset(env, seed)


def make_classic_env(env_id: str, seed: int, max_episode_steps: int | None = None) -> gym.Env:
    """A classic-control env (``CartPole-v1``) with float32 observations.

    Args:
        env_id: one of :data:`~dqn_core.games.CLASSIC_ENVS`.
        seed: seed of the first reset.
        max_episode_steps: replaces gymnasium's time limit (which truncates).
    """
    kwargs: dict[str, Any] = {}
    if max_episode_steps is not None:
        kwargs["max_episode_steps"] = max_episode_steps
    env = gym.make(classic_env_id(env_id), **kwargs)
    env.action_space.seed(int_seed(seed, "action_space"))
    return SeedOnFirstReset(env, seed)


def make_env(
    config: RunConfig,
    seed: int,
    *,
    evaluation: bool = False,
    render_mode: str | None = None,
) -> gym.Env:
    """One environment of a run, built by the Python stack.

    Args:
        config: the run's config (game, protocol and overrides).
        seed: seed of this environment (the first reset uses it).
        evaluation: build it with the evaluation settings.
        render_mode: ``"rgb_array"`` to render frames (evaluation videos).

    Returns:
        Atari: observations ``Box(0, 255, (frame_stack, 84, 84), uint8)``;
        CartPole: ``Box((4,), float32)``. Rewards are raw.
    """
    settings = protocol_settings(config, evaluation=evaluation)
    if not settings.is_atari:
        return make_classic_env(config.env.game, seed, settings.max_episode_frames)
    return make_atari_env(config.env.game, settings, seed, render_mode=render_mode)


# --------------------------------------------------------------------- vector envs
@dataclass
class VecStep:
    """One batched step of a :class:`VecEnv` (see docs/architecture.md)."""

    next_obs: np.ndarray
    """(N, *obs_shape): the real observation after the action (the final one where an
    episode ended)."""
    obs: np.ndarray
    """(N, *obs_shape): what to act on next: ``next_obs``, except where an episode ended:
    the first observation of the new episode (auto-reset)."""
    reward: np.ndarray
    """float32 (N,): raw game reward (unclipped; the loop clips)."""
    terminated: np.ndarray
    """bool (N,): game over: no bootstrap."""
    truncated: np.ndarray
    """bool (N,): episode frame cap reached: bootstrap from ``next_obs``."""
    life_lost: np.ndarray
    """bool (N,): a life was lost this step (the game goes on unless terminated)."""
    lives: np.ndarray | None = None
    """int32 (N,): lives left after the step (before any auto-reset); 0 for games without."""
    episode_frames: np.ndarray | None = None
    """int64 (N,): emulator frames of the episode so far, this step and reset frames
    included (the ended episode's length where one ended)."""

    @property
    def episode_end(self) -> np.ndarray:
        """bool (N,): the episode (the game) ended: ``terminated | truncated``."""
        return self.terminated | self.truncated


class VecEnv(abc.ABC):
    """N environments stepped together, with auto-reset (see docs/architecture.md).

    Attributes:
        num_envs: N.
        num_actions: size of the discrete action set.
        obs_shape: one observation's shape ((4, 84, 84) Atari, (4,) CartPole).
        obs_dtype: uint8 (Atari, values 0..255) or float32 (CartPole).
        action_meanings: ALE action names (``NOOP``, ``FIRE``, ...) or ``"0"``, ``"1"``.
        settings: the effective :class:`AtariSettings`.
        frames_per_step: emulator frames per agent step of one env.
    """

    num_envs: int
    num_actions: int
    obs_shape: tuple[int, ...]
    obs_dtype: np.dtype
    action_meanings: list[str]
    settings: AtariSettings

    @property
    def frames_per_step(self) -> int:
        return self.settings.frame_skip

    @abc.abstractmethod
    def reset(self) -> np.ndarray:
        """Start every env; the first call uses the construction seeds.

        Returns:
            (N, *obs_shape) first observations.
        """

    @abc.abstractmethod
    def step(self, actions: np.ndarray) -> VecStep:
        """Act in every env; ended episodes restart at once (``VecStep.obs``)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the emulators."""

    def learning_terminal(self, step: VecStep) -> np.ndarray:
        """The no-bootstrap flag for learning under this env's protocol.

        ``terminated``, or ``terminated | life_lost`` where the settings make a
        lost life terminal (never for evaluation envs).
        """
        if self.settings.terminal_on_life_loss:
            return step.terminated | step.life_lost
        return step.terminated.copy()

    def _check_actions(self, actions: np.ndarray) -> np.ndarray:
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,) or not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(
                f"actions: expected an integer array of shape ({self.num_envs},), "
                f"got {actions.dtype} {actions.shape}"
            )
        if actions.size and (actions.min() < 0 or actions.max() >= self.num_actions):
            raise ValueError(
                f"actions: values must be in [0, {self.num_actions}), "
                f"got min {actions.min()} max {actions.max()}"
            )
        return actions.astype(np.int64, copy=False)

    def __enter__(self) -> VecEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SyncVecEnv(VecEnv):
    """The ``python`` backend: single envs of the Python stack stepped in turn."""

    def __init__(self, envs: Sequence[gym.Env], settings: AtariSettings) -> None:
        if not envs:
            raise ValueError("num_envs: expected at least one env")
        self.envs = list(envs)
        self.settings = settings
        self.num_envs = len(self.envs)
        first = self.envs[0]
        space = first.observation_space
        action_space = first.action_space
        if not isinstance(space, spaces.Box) or not isinstance(action_space, spaces.Discrete):
            raise TypeError("SyncVecEnv needs Box observations and Discrete actions")
        self.obs_shape = tuple(space.shape)
        self.obs_dtype = np.dtype(space.dtype)
        self.num_actions = int(action_space.n)
        unwrapped = first.unwrapped
        if hasattr(unwrapped, "get_action_meanings"):
            self.action_meanings = list(unwrapped.get_action_meanings())
        else:
            self.action_meanings = [str(a) for a in range(self.num_actions)]
        self._atari = settings.is_atari
        self._frames = np.zeros(self.num_envs, dtype=np.int64)

    def reset(self) -> np.ndarray:
        obs = np.empty((self.num_envs, *self.obs_shape), dtype=self.obs_dtype)
        for i, env in enumerate(self.envs):
            obs[i], info = env.reset()
            self._frames[i] = self._reset_frames(info)
        return obs

    def _reset_frames(self, info: dict[str, Any]) -> int:
        return int(info["episode_frame_number"]) if self._atari else 0

    def step(self, actions: np.ndarray) -> VecStep:
        actions = self._check_actions(actions)
        n = self.num_envs
        next_obs = np.empty((n, *self.obs_shape), dtype=self.obs_dtype)
        reward = np.empty(n, dtype=np.float32)
        terminated = np.zeros(n, dtype=bool)
        truncated = np.zeros(n, dtype=bool)
        life_lost = np.zeros(n, dtype=bool)
        lives = np.zeros(n, dtype=np.int32)
        episode_frames = np.empty(n, dtype=np.int64)
        ended: list[int] = []
        for i, env in enumerate(self.envs):
            o, r, term, trunc, info = env.step(int(actions[i]))
            next_obs[i] = o
            reward[i] = float(r)
            terminated[i] = term
            truncated[i] = trunc and not term
            if self._atari:
                life_lost[i] = info["life_lost"]
                lives[i] = info["lives"]
                self._frames[i] = info["episode_frame_number"]
            else:
                self._frames[i] += 1
            episode_frames[i] = self._frames[i]
            if term or trunc:
                ended.append(i)
        obs = next_obs
        if ended:
            obs = next_obs.copy()
            for i in ended:
                obs[i], info = self.envs[i].reset()
                self._frames[i] = self._reset_frames(info)
        return VecStep(
            next_obs=next_obs,
            obs=obs,
            reward=reward,
            terminated=terminated,
            truncated=truncated,
            life_lost=life_lost,
            lives=lives,
            episode_frames=episode_frames,
        )

    def close(self) -> None:
        for env in self.envs:
            env.close()


class NativeVecEnv(VecEnv):
    """The ``native`` backend: ale-py's C++ ``AtariVectorEnv`` under the same settings.

    Configured with ``reward_clipping=False`` (raw rewards), ``episodic_life=False``
    and no life-loss terminal (lives are tracked here from ``info["lives"]``, so
    a lost life is reported without resetting), and ``NextStep`` auto-reset:
    a step that ends an episode returns its true final observation, and this
    class then restarts exactly those envs with a masked ``reset`` so that
    ``VecStep.obs`` holds the new episodes' first observations. The episode cap
    is applied here from the emulator's own frame count, so that it counts
    reset frames as the Python stack does (see docs/protocols.md, "Backends").
    """

    def __init__(
        self,
        game: GameInfo,
        settings: AtariSettings,
        num_envs: int,
        seeds: Sequence[int],
        *,
        num_threads: int = 0,
        thread_affinity_offset: int = -1,
    ) -> None:
        from ale_py.vector_env import AtariVectorEnv

        if settings.screen_size is None or not settings.is_atari:
            raise ConfigError(
                f"env.backend: native needs an Atari protocol, not {settings.protocol}"
            )
        if settings.resize_interpolation != "INTER_AREA":
            raise ConfigError(
                "resize_interpolation: the native backend always uses INTER_AREA, "
                f"got {settings.resize_interpolation!r}"
            )
        if len(seeds) != num_envs:
            raise ValueError(f"seeds: expected {num_envs} seeds, got {len(seeds)}")
        self.settings = settings
        self.num_envs = num_envs
        self._seeds = np.asarray(seeds, dtype=np.int64)
        self._seeded = False
        threads = num_threads or min(num_envs, os.cpu_count() or 1)
        # ale-py draws its no-op count from [0, noop_max - 1] and counts the FIRE
        # frame among them; noop_max + 1 makes the longest start noop_max frames.
        native_noop_max = settings.noop_max + 1 if settings.noop_max > 0 else 0
        reset_frames = native_noop_max + int(settings.fire_reset)
        height, width = settings.screen_size
        self._env = AtariVectorEnv(
            game.rom_id,
            num_envs,
            num_threads=threads,
            thread_affinity_offset=thread_affinity_offset,
            # The cap is enforced in step() from episode_frame_number (reset frames
            # included); ale-py's own counter only backs it up, a step later.
            max_num_frames_per_episode=settings.max_episode_frames
            + reset_frames
            + settings.frame_skip,
            repeat_action_probability=settings.repeat_action_probability,
            full_action_space=settings.full_action_space,
            autoreset_mode="NextStep",
            img_height=height,
            img_width=width,
            grayscale=True,
            stack_num=settings.frame_stack,
            frameskip=settings.frame_skip,
            maxpool=settings.max_pool,
            noop_max=native_noop_max,
            episodic_life=False,
            life_loss_info=False,
            reward_clipping=False,
            use_fire_reset=settings.fire_reset,
        )
        action_set = self._env.ale.get_action_set()
        self.action_meanings = [a.name for a in action_set]
        self.num_actions = len(action_set)
        self.obs_shape = settings.obs_shape
        self.obs_dtype = np.dtype(np.uint8)
        self._lives = np.zeros(num_envs, dtype=np.int32)
        self._cap = settings.max_episode_frames

    def reset(self) -> np.ndarray:
        if self._seeded:
            obs, info = self._env.reset()
        else:
            obs, info = self._env.reset(seed=self._seeds)
            self._seeded = True
        self._lives = np.asarray(info["lives"], dtype=np.int32).copy()
        return np.asarray(obs)

    def step(self, actions: np.ndarray) -> VecStep:
        actions = self._check_actions(actions)
        next_obs, reward, terminated, truncated, info = self._env.step(actions)
        next_obs = np.asarray(next_obs)
        terminated = np.asarray(terminated, dtype=bool)
        lives = np.asarray(info["lives"], dtype=np.int32)
        episode_frames = np.asarray(info["episode_frame_number"], dtype=np.int64)
        life_lost = lives < self._lives
        truncated = ~terminated & (
            np.asarray(truncated, dtype=bool) | (episode_frames >= self._cap)
        )
        self._lives = lives.copy()
        ended = terminated | truncated
        obs = next_obs
        if ended.any():
            new_obs, new_info = self._env.reset(options={"reset_mask": ended})
            obs = next_obs.copy()
            obs[ended] = np.asarray(new_obs)[ended]
            self._lives[ended] = np.asarray(new_info["lives"], dtype=np.int32)[ended]
        return VecStep(
            next_obs=next_obs,
            obs=obs,
            reward=np.asarray(reward, dtype=np.float32),
            terminated=terminated,
            truncated=truncated,
            life_lost=life_lost,
            lives=lives,
            episode_frames=episode_frames,
        )

    def close(self) -> None:
        self._env.close()


def env_seeds(seed: int, num_envs: int) -> list[int]:
    """Per-env seeds of a vector env built from ``seed`` (the same for both backends)."""
    return [int_seed(seed, "vec_env", i) for i in range(num_envs)]


def make_vec_env(
    config: RunConfig,
    num_envs: int,
    seed: int,
    *,
    evaluation: bool = False,
    thread_affinity_offset: int = -1,
) -> VecEnv:
    """``num_envs`` environments of a run, on the config's backend.

    Args:
        config: the run's config (``env.backend``: python or native).
        num_envs: how many envs (training: ``env.num_envs``; evaluation:
            ``eval.num_envs``).
        seed: root of the envs' seeds (env ``i`` gets ``env_seeds(seed, n)[i]``).
        evaluation: build them with the evaluation settings.
        thread_affinity_offset: native backend: pin worker threads to cores
            starting here (-1: no pinning, the safe default when several runs
            share a machine).

    Returns:
        A :class:`VecEnv`; call ``reset()`` first.
    """
    if num_envs < 1:
        raise ConfigError(f"num_envs: {num_envs} is below the minimum 1")
    settings = protocol_settings(config, evaluation=evaluation)
    seeds = env_seeds(seed, num_envs)
    if not settings.is_atari:
        if not is_classic(config.env.game):
            raise ConfigError(
                f"env.game: {config.env.game!r} is not a classic-control env; protocol "
                "'classic' supports CartPole-v1"
            )
        envs = [make_classic_env(config.env.game, s, settings.max_episode_frames) for s in seeds]
        return SyncVecEnv(envs, settings)
    game = resolve_game(config.env.game)
    if config.env.backend == "native":
        return NativeVecEnv(
            game,
            settings,
            num_envs,
            seeds,
            num_threads=config.env.num_threads,
            thread_affinity_offset=thread_affinity_offset,
        )
    return SyncVecEnv([make_atari_env(game, settings, s) for s in seeds], settings)


# ------------------------------------------------------------------ action sets
def action_meanings(config: RunConfig) -> list[str]:
    """The action names of the run's game under its protocol (``["NOOP", "FIRE", ...]``).

    CartPole's actions are named ``"0"`` (push left) and ``"1"`` (push right).
    """
    settings = protocol_settings(config)
    if not settings.is_atari:
        env = gym.make(classic_env_id(config.env.game))
        try:
            return [str(a) for a in range(int(cast(spaces.Discrete, env.action_space).n))]
        finally:
            env.close()
    ale = ale_py.ALEInterface()
    ale.setLoggerMode(ale_py.LoggerMode.Error)
    game = resolve_game(config.env.game)
    rom_path = ale_py.roms.get_rom_path(game.rom_id)
    if rom_path is None:
        raise ConfigError(f"env.game: ale-py has no ROM file for {game.name!r}")
    ale.loadROM(rom_path)
    actions = ale.getLegalActionSet() if settings.full_action_space else ale.getMinimalActionSet()
    return [a.name for a in actions]


def num_actions(config: RunConfig) -> int:
    """Size of the run's discrete action set."""
    return len(action_meanings(config))
