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
  terminal, 1-30 no-op starts as its runners, evaluation epsilon 0.001);
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

Modules: :mod:`~dqn_core.envs.protocols` (the settings table),
:mod:`~dqn_core.envs.wrappers` (the Python stack), :mod:`~dqn_core.envs.vector`
(:class:`VecEnv` and its two backends), :mod:`~dqn_core.envs.make` (a run's envs
from its config), :mod:`~dqn_core.envs.games` (the game catalogue).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dqn_core.envs.make import (
        action_meanings,
        make_atari_env,
        make_classic_env,
        make_env,
        make_vec_env,
        num_actions,
        rom_file,
        rom_md5,
    )
    from dqn_core.envs.protocols import (
        PROTOCOLS,
        AtariSettings,
        clip_reward,
        protocol_deviations,
        protocol_settings,
    )
    from dqn_core.envs.vector import (
        NativeVecEnv,
        SyncVecEnv,
        VecEnv,
        VecStep,
        env_seeds,
    )
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

# Loaded on first use: ``dqn_core.envs.games`` (the catalogue the workflow and the
# tables read) must not pay for torch and OpenCV, which the env stack imports.
_EXPORTS: dict[str, str] = {
    "AleSeed": "dqn_core.envs.wrappers",
    "AtariSettings": "dqn_core.envs.protocols",
    "FireReset": "dqn_core.envs.wrappers",
    "FrameStack": "dqn_core.envs.wrappers",
    "LifeLossInfo": "dqn_core.envs.wrappers",
    "MaxPoolActionRepeat": "dqn_core.envs.wrappers",
    "NativeVecEnv": "dqn_core.envs.vector",
    "NoopReset": "dqn_core.envs.wrappers",
    "PROTOCOLS": "dqn_core.envs.protocols",
    "ResizeFrame": "dqn_core.envs.wrappers",
    "SeedOnFirstReset": "dqn_core.envs.wrappers",
    "SyncVecEnv": "dqn_core.envs.vector",
    "VecEnv": "dqn_core.envs.vector",
    "VecStep": "dqn_core.envs.vector",
    "action_meanings": "dqn_core.envs.make",
    "clip_reward": "dqn_core.envs.protocols",
    "env_seeds": "dqn_core.envs.vector",
    "make_atari_env": "dqn_core.envs.make",
    "make_classic_env": "dqn_core.envs.make",
    "make_env": "dqn_core.envs.make",
    "make_vec_env": "dqn_core.envs.make",
    "noop_generator": "dqn_core.envs.wrappers",
    "num_actions": "dqn_core.envs.make",
    "protocol_deviations": "dqn_core.envs.protocols",
    "protocol_settings": "dqn_core.envs.protocols",
    "rom_file": "dqn_core.envs.make",
    "rom_md5": "dqn_core.envs.make",
}

__all__ = [
    "PROTOCOLS",
    "AleSeed",
    "AtariSettings",
    "FireReset",
    "FrameStack",
    "LifeLossInfo",
    "MaxPoolActionRepeat",
    "NativeVecEnv",
    "NoopReset",
    "ResizeFrame",
    "SeedOnFirstReset",
    "SyncVecEnv",
    "VecEnv",
    "VecStep",
    "action_meanings",
    "clip_reward",
    "env_seeds",
    "make_atari_env",
    "make_classic_env",
    "make_env",
    "make_vec_env",
    "noop_generator",
    "num_actions",
    "protocol_deviations",
    "protocol_settings",
    "rom_file",
    "rom_md5",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
