"""The Python stack's gymnasium wrappers, one preprocessing step each.

:func:`~dqn_core.envs.make.make_atari_env` layers them over ``ALE/<Name>-v5``
(created with ``frameskip=1``), so that no-op starts, FIRE, action repeat with
max-pooling, resizing, stacking, life tracking and the episode cap are all done
(and tested) here. Every random draw comes from a seeded
``numpy.random.Generator`` or the ALE's own seeded generator, never a global one.
"""

from __future__ import annotations

from typing import Any, SupportsFloat, cast

import cv2
import gymnasium as gym
import numpy as np
from gymnasium import spaces

from dqn_core.envs.protocols import _INTERPOLATIONS
from dqn_core.seeding import stream_seed


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


#: ChopperCommand's console RAM byte (0xC2, as an index into the 128 bytes from 0x80)
#: that is 1 while the chopper faces right: ALE 0.6 ended the game only then.
CHOPPER_FACING_RIGHT = 0xC2 - 0x80


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

    With ``stop_at_life_loss`` a lost life also ends the step at its frame, and that
    frame's screen is not read: the observation pools the two frames read last (the
    previous step's last two, or the step's third and the previous step's last),
    which is what Dopamine's ``AtariPreprocessing`` of 2021 returns with
    ``terminal_on_life_loss`` (it checked for the end before reading the screen).

    ``terminated`` is the game's own end; ``truncated`` is the episode cap
    (``max_episode_frames``, counted by the ALE from the game start, no-op and
    FIRE frames included).

    With ``ale06_chopper`` (ChopperCommand only) the game ends as ALE 0.6 ended it
    (atari-py's emulator; the ALE changed it in v0.7.4, commit 0d3b786): at the last
    life only if the chopper faces right then (console RAM 0xC2 == 1). Lost facing
    left, the game stays over in ale-py, which emulates no further, while ALE 0.6
    ran on with nothing left to play: the episode goes on here too, every step
    showing the last screen for no reward, until the episode cap truncates it.
    """

    def __init__(
        self,
        env: gym.Env,
        frame_skip: int,
        max_pool: bool,
        full_action_space: bool,
        stop_at_life_loss: bool = False,
        ale06_chopper: bool = False,
    ) -> None:
        super().__init__(env)
        if frame_skip < 1:
            raise ValueError(f"frame_skip: expected >= 1, got {frame_skip}")
        self.frame_skip = frame_skip
        self.max_pool = max_pool
        self.stop_at_life_loss = stop_at_life_loss
        self.ale06_chopper = ale06_chopper
        self._ale = env.unwrapped.ale  # type: ignore[attr-defined]
        self._actions = (
            self._ale.getLegalActionSet() if full_action_space else self._ale.getMinimalActionSet()
        )
        self._cap = int(self._ale.getInt("max_num_frames_per_episode")) or None
        if ale06_chopper and self._cap is None:
            raise ValueError("ale06_chopper: needs an episode cap (max_num_frames_per_episode)")
        self._frozen_at: int | None = None  # ale06_chopper: the frame ale-py's game stopped at
        self._frozen_frames = 0  # ... and the frames ALE 0.6 would have run since
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
        self._frozen_at, self._frozen_frames = None, 0
        self._ale.getScreenGrayscale(self._frames[0])
        info.update(self._info())
        return self._frames[0].copy(), info

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        ale = self._ale
        ale_action = self._actions[int(action)]
        if self._frozen_at is not None:
            return self._frozen_step()
        if ale.game_over(with_truncation=True):
            raise RuntimeError("step() after the episode ended (game over or frame cap); reset()")
        n = self.frame_skip
        if self._cap is not None:
            n = min(n, self._cap - ale.getEpisodeFrameNumber())
        reward = 0.0
        terminated = False
        partner_is_previous = True  # does the other slot hold the frame before the newest?
        lives = ale.lives() if self.stop_at_life_loss else 0
        for i in range(n):
            reward += ale.act(ale_action)
            terminated = ale.game_over(with_truncation=False)
            if terminated and self.ale06_chopper and ale.getRAM()[CHOPPER_FACING_RIGHT] != 1:
                # ALE 0.6 runs on (the class docstring): the rest of this step's frames count
                self._frozen_at = ale.getEpisodeFrameNumber()
                self._frozen_frames = n - i - 1
            if self.stop_at_life_loss and not terminated:
                now = ale.lives()  # frame by frame, as Dopamine (a bonus life can come first)
                if now < lives:
                    partner_is_previous = True  # both slots hold the two frames read last
                    break
                lives = now
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
        if self._frozen_at is not None:
            terminated = False
            truncated = self._frozen_at + self._frozen_frames >= (self._cap or 0)
        else:
            truncated = (not terminated) and ale.game_truncated()
        return frame, reward, terminated, truncated, self._info()

    def _frozen_step(self) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict[str, Any]]:
        """A step of a ChopperCommand game that ALE 0.6 would not have ended: the last screen."""
        assert self._frozen_at is not None and self._cap is not None
        left = self._cap - self._frozen_at - self._frozen_frames
        if left <= 0:
            raise RuntimeError("step() after the episode ended (frame cap); reset()")
        self._frozen_frames += min(self.frame_skip, left)
        truncated = self._frozen_at + self._frozen_frames >= self._cap
        return self._frames[self._slot].copy(), 0.0, False, truncated, self._info()

    def _info(self) -> dict[str, Any]:
        return {
            "lives": self._ale.lives(),
            "episode_frame_number": self._ale.getEpisodeFrameNumber() + self._frozen_frames,
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
    With ``reset_on_life_loss`` a lost life that does not end the game
    (``info["life_lost"]``, from :class:`LifeLossInfo` below) does the same:
    the frame after it comes with zeros before it, as Dopamine's
    ``labs/atari_100k`` agents see it, and ``info["life_loss_obs"]`` holds the
    stack as it would have continued (the step's final observation, as
    gymnasium's ``final_obs`` at an episode end). Each returned observation is
    a fresh array.
    """

    def __init__(self, env: gym.Env, k: int, reset_on_life_loss: bool = False) -> None:
        super().__init__(env)
        if k < 1:
            raise ValueError(f"frame_stack: expected >= 1, got {k}")
        self.reset_on_life_loss = reset_on_life_loss
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
        ended = terminated or truncated  # the game is over: reset() starts the next stack
        if self.reset_on_life_loss and info.get("life_lost", False) and not ended:
            info["life_loss_obs"] = self._stack.copy()
            self._stack[:-1] = 0
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
