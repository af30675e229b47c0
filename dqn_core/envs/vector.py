"""N environments stepped together: the :class:`VecEnv` interface and its two backends.

* :class:`SyncVecEnv` (backend ``python``): single envs of the Python wrapper
  stack, stepped in turn; the reference.
* :class:`NativeVecEnv` (backend ``native``): ale-py's C++ ``AtariVectorEnv``,
  several times faster, configured from the same :class:`AtariSettings`. Its few
  unavoidable differences are listed in ``docs/protocols.md`` ("Backends").
"""

from __future__ import annotations

import abc
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from dqn_core.config import ConfigError
from dqn_core.envs.games import GameInfo
from dqn_core.envs.protocols import AtariSettings
from dqn_core.seeding import int_seed


@dataclass
class VecStep:
    """One batched step of a :class:`VecEnv` (see docs/architecture.md)."""

    next_obs: np.ndarray
    """(N, *obs_shape): the real observation after the action (the final one where an
    episode ended)."""
    obs: np.ndarray
    """(N, *obs_shape): what to act on next: ``next_obs``, except where an episode ended:
    the first observation of the new episode (auto-reset), and where a lost life reset
    the frame stack (``stack_reset_on_life_loss``): the newest frame after zeros."""
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

    def stream_break(self, step: VecStep) -> np.ndarray:
        """Where the replay's frame streams must restart: the next ``obs`` does not
        continue the stack of ``next_obs``.

        ``episode_end``, and a lost life where the settings reset the frame stack
        there (``stack_reset_on_life_loss``).
        """
        if self.settings.stack_reset_on_life_loss:
            return step.episode_end | step.life_lost
        return step.episode_end

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
        restarted: list[tuple[int, np.ndarray]] = []  # a stack reset at a lost life
        for i, env in enumerate(self.envs):
            o, r, term, trunc, info = env.step(int(actions[i]))
            if "life_loss_obs" in info:  # the stack was reset (FrameStack)
                restarted.append((i, o))
                o = info["life_loss_obs"]
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
        if ended or restarted:
            obs = next_obs.copy()
            for i in ended:
                obs[i], info = self.envs[i].reset()
                self._frames[i] = self._reset_frames(info)
            for i, o in restarted:
                obs[i] = o
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
        if settings.stack_reset_on_life_loss:
            raise ConfigError(
                "env.stack_reset_on_life_loss: the native backend stacks frames in C++ and "
                "cannot reset the stack at a lost life; use env.backend=python"
            )
        if settings.step_ends_at_life_loss:
            raise ConfigError(
                "env.step_ends_at_life_loss: the native backend repeats actions in C++ and "
                "cannot end a step at a lost life; use env.backend=python"
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
