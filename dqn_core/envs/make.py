"""Building a run's environments from its config, and its action set.

:func:`make_env` builds one env of the Python stack (:func:`make_atari_env`,
or :func:`make_classic_env` for CartPole); :func:`make_vec_env` builds
``num_envs`` of them on the config's backend; :func:`action_meanings` and
:func:`num_actions` read the run's action set without building an env.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
from pathlib import Path
from typing import Any, cast

import ale_py
import ale_py.roms
import gymnasium as gym
from ale_py.env import AtariEnv
from gymnasium import spaces

from dqn_core.config import ConfigError, RunConfig
from dqn_core.envs.games import GameInfo, classic_env_id, is_classic, resolve_game
from dqn_core.envs.protocols import AtariSettings, _validate_settings, protocol_settings
from dqn_core.envs.vector import NativeVecEnv, SyncVecEnv, VecEnv, env_seeds
from dqn_core.envs.wrappers import (
    AleSeed,
    FireReset,
    FrameStack,
    LifeLossInfo,
    MaxPoolActionRepeat,
    NoopReset,
    ResizeFrame,
    SeedOnFirstReset,
    noop_generator,
)
from dqn_core.seeding import int_seed

gym.register_envs(ale_py)
log = logging.getLogger(__name__)


def rom_file(game: str | GameInfo, roms_dir: str | Path | None = None) -> Path:
    """The ROM file a game plays: ale-py's own, or ``roms_dir/<rom_id>.bin``.

    The ALE picks a game's rules (rewards, lives, actions) by the file's name, so
    another dump of a game (atari-py 0.2.6's, say) must be named as ale-py's, and
    must be that game: another game's ROM under the name can hang the emulator
    while it loads (Pong's as ``breakout.bin`` does, waiting for Breakout's start).

    Raises:
        ConfigError: ale-py has no ROM for the game, or ``roms_dir`` has none.
    """
    game_info = game if isinstance(game, GameInfo) else resolve_game(game)
    if roms_dir is None:
        path = ale_py.roms.get_rom_path(game_info.rom_id)
        if path is None:
            raise ConfigError(f"env.game: ale-py has no ROM file for {game_info.name!r}")
        return Path(path)
    folder = Path(roms_dir).expanduser()
    if not folder.is_dir():
        raise ConfigError(f"env.roms_dir: {str(roms_dir)!r} is not a folder")
    path = folder / f"{game_info.rom_id}.bin"
    if not path.is_file():
        raise ConfigError(
            f"env.roms_dir: no {path.name} in {str(roms_dir)!r} (the ALE goes by the file "
            f"name: {game_info.name}'s ROM must be named {path.name})"
        )
    path = path.resolve()
    _warn_if_other_dump(game_info.name, str(path), str(rom_file(game_info)))
    return path


@functools.cache
def _file_md5(path: str) -> str:
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


@functools.cache
def _warn_if_other_dump(game: str, path: str, ale_pys: str) -> None:
    """Say once a process that a game plays another dump than the ALE supports."""
    ours, theirs = _file_md5(ale_pys), _file_md5(path)
    if ours != theirs:
        log.warning(
            "env.roms_dir: %s plays %s (MD5 %s), not the dump the ALE supports (MD5 %s). "
            "The emulator takes a cartridge's properties (controllers, screen lines) from "
            "Stella's catalogue by MD5, and another dump can be a PAL or a bootleg edition "
            "(docs/atari100k.md, Finding 9)",
            game,
            path,
            theirs,
            ours,
        )


def rom_md5(config: RunConfig) -> str | None:
    """MD5 of the ROM file the run's game plays (None: a classic-control env).

    Recorded with every run: the ROM set is part of what a score was measured on
    (atari-py 0.2.6 shipped other dumps than ale-py for 10 of the 26 Atari-100k
    games: docs/atari100k.md, Finding 9).
    """
    if is_classic(config.env.game):
        return None
    return _file_md5(str(rom_file(config.env.game, config.env.roms_dir)))


class RomFileAtariEnv(AtariEnv):
    """ale-py's ``AtariEnv`` playing a given ROM file instead of ale-py's own."""

    def __init__(self, *, rom_path: str | Path, **kwargs: Any) -> None:
        self._rom_path = str(rom_path)  # read by load_game, which __init__ calls
        super().__init__(**kwargs)

    def load_game(self) -> None:
        self.ale.loadROM(self._rom_path)
        if self._game_mode is not None:
            self.ale.setMode(self._game_mode)
        if self._game_difficulty is not None:
            self.ale.setDifficulty(self._game_difficulty)


def make_atari_env(
    game: str | GameInfo,
    settings: AtariSettings,
    seed: int,
    *,
    render_mode: str | None = None,
    roms_dir: str | Path | None = None,
    ale06_game_over: bool = False,
) -> gym.Env:
    """The Python wrapper stack for one Atari game under explicit settings.

    Layers, inside out: ``ALE/<Name>-v5`` (``frameskip=1``, the settings' sticky
    actions, action set, mode, difficulty and ``max_num_frames_per_episode``,
    grayscale screens) -> :class:`AleSeed` -> :class:`NoopReset` -> :class:`FireReset` (if
    ``fire_reset``) -> :class:`MaxPoolActionRepeat` -> :class:`LifeLossInfo` ->
    :class:`ResizeFrame` -> :class:`FrameStack` -> :class:`SeedOnFirstReset`.

    Args:
        game: any spelling :func:`~dqn_core.envs.games.resolve_game` accepts.
        settings: an Atari protocol's settings (see :func:`protocol_settings`).
        seed: in [0, 2**31); seeds the ALE (sticky actions) and the no-op
            generator at the first reset.
        render_mode: ``"rgb_array"`` to render full-colour frames (videos).
        roms_dir: play ``roms_dir/<rom_id>.bin`` instead of ale-py's ROM
            (see :func:`rom_file`).
        ale06_game_over: ChopperCommand only: end the game as ALE 0.6 did
            (:class:`MaxPoolActionRepeat`).

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
    if ale06_game_over and game_info.name != "ChopperCommand":
        raise ConfigError(
            f"env.ale06_game_over: only ChopperCommand's end differs between ALE 0.6 and "
            f"ale-py (of the Atari-100k games), not {game_info.name}'s"
        )
    spec: str | gym.envs.registration.EnvSpec = game_info.gym_id
    extra: dict[str, Any] = {}
    if roms_dir is not None:
        spec = dataclasses.replace(
            gym.spec(game_info.gym_id), entry_point=f"{__name__}:{RomFileAtariEnv.__name__}"
        )
        extra["rom_path"] = rom_file(game_info, roms_dir)
    env: gym.Env = gym.make(
        spec,
        **extra,
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
        env,
        settings.frame_skip,
        settings.max_pool,
        settings.full_action_space,
        settings.step_ends_at_life_loss,
        ale06_game_over,
    )
    env = LifeLossInfo(env)
    env = ResizeFrame(env, settings.screen_size, settings.resize_interpolation)
    env = FrameStack(env, settings.frame_stack, settings.stack_reset_on_life_loss)
    return SeedOnFirstReset(env, seed)


def make_classic_env(env_id: str, seed: int, max_episode_steps: int | None = None) -> gym.Env:
    """A classic-control env (``CartPole-v1``) with float32 observations.

    Args:
        env_id: one of :data:`~dqn_core.envs.games.CLASSIC_ENVS`.
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
        if config.env.roms_dir is not None:
            raise ConfigError("env.roms_dir: only applies to Atari games")
        if config.env.ale06_game_over:
            raise ConfigError("env.ale06_game_over: only applies to ChopperCommand")
        return make_classic_env(config.env.game, seed, settings.max_episode_frames)
    return make_atari_env(
        config.env.game,
        settings,
        seed,
        render_mode=render_mode,
        roms_dir=config.env.roms_dir,
        ale06_game_over=config.env.ale06_game_over,
    )


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
        if config.env.roms_dir is not None:
            raise ConfigError("env.roms_dir: only applies to Atari games")
        if config.env.ale06_game_over:
            raise ConfigError("env.ale06_game_over: only applies to ChopperCommand")
        if not is_classic(config.env.game):
            raise ConfigError(
                f"env.game: {config.env.game!r} is not a classic-control env; protocol "
                "'classic' supports CartPole-v1"
            )
        envs = [make_classic_env(config.env.game, s, settings.max_episode_frames) for s in seeds]
        return SyncVecEnv(envs, settings)
    game = resolve_game(config.env.game)
    if config.env.backend == "native":
        if config.env.roms_dir is not None:
            raise ConfigError(
                "env.roms_dir: the native backend loads ale-py's own ROMs; use env.backend=python"
            )
        if config.env.ale06_game_over:
            raise ConfigError(
                "env.ale06_game_over: the native backend steps the ALE in C++; "
                "use env.backend=python"
            )
        return NativeVecEnv(
            game,
            settings,
            num_envs,
            seeds,
            num_threads=config.env.num_threads,
            thread_affinity_offset=thread_affinity_offset,
        )
    envs = [
        make_atari_env(
            game,
            settings,
            s,
            roms_dir=config.env.roms_dir,
            ale06_game_over=config.env.ale06_game_over,
        )
        for s in seeds
    ]
    return SyncVecEnv(envs, settings)


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
    ale.loadROM(str(rom_file(config.env.game, config.env.roms_dir)))
    actions = ale.getLegalActionSet() if settings.full_action_space else ale.getMinimalActionSet()
    return [a.name for a in actions]


def num_actions(config: RunConfig) -> int:
    """Size of the run's discrete action set."""
    return len(action_meanings(config))
