"""Frame-deduplicated replay memory over (time, env), with n-step returns.

Why this shape: a stacked Atari observation is 4 x 84 x 84 uint8 = 28,224
bytes, and a memory that keeps ``obs`` and ``next_obs`` per transition needs
56 KB a transition, 53 GiB at the usual 1M capacity. Consecutive stacks share
three of their four frames, so this memory stores every 84 x 84 frame once
(7,056 bytes) and rebuilds stacks with one fancy-index gather at sample time:
about 7.1 KB a transition with every index and flag included.

Layout. Each of the ``num_envs`` environments owns an equal share of the ring,
``slots_per_env = capacity // num_envs`` slots (``capacity % num_envs`` slots
are left unused), written in order by that env alone. A slot holds one frame
(the newest frame of a stack; the whole observation when ``frame_stack == 1``)
plus the data of the transition taken from the stack ending at it (action,
clipped reward, terminal flag, n-step length). An env's stream of slots:

- at a stream start (first ``add``, or the first after an episode end) the
  whole initial stack ``obs[0..stack-1]`` is written: ``stack - 1`` history
  slots and the slot of the first transition, so the stack rebuilt at sample
  time is exactly what the environment showed the agent;
- every ``add`` then writes one slot, the newest frame of ``next_obs``: the
  next transition's slot, or, where the episode ended, the final frame, kept
  so that a truncated transition bootstraps from its real next observation;
- an episode of ``L`` steps therefore takes ``L + frame_stack`` slots, and
  these extra history/final slots count against ``capacity``.

``terminal`` (no bootstrap; under ``nature2015`` also set at a life loss) and
``episode_end`` (the game restarts, so the stream restarts) are separate: at a
life loss the stream and the frame stack go on, so the next stack legitimately
holds frames from before the loss.

n-step returns. The transition at slot ``q`` with n-step length ``k`` has
``reward = sum_{m<k} gamma^m r[q+m]``, ``next_obs`` = the stack ending at slot
``q+k`` and ``discount = 0`` if slot ``q+k-1`` is terminal else ``gamma^k``.
``k = n`` normally; it is shorter where a terminal (``k`` counts up to and
including the terminal step) or an episode end (a truncation: bootstrap with
``gamma^k`` from the real final observation) came within ``n`` steps. ``k`` is
fixed incrementally on ``add``, once the window is complete, and ``k == 0``
marks every slot that must not be sampled (history and final slots, windows
still open near the write cursor, transitions whose oldest frame the cursor
has overwritten). That array is the validity mask; a dense list of the valid
slots is kept beside it (swap-remove on invalidation, append on completion), so
uniform sampling is one integer draw and one gather: no scan, no rejection.

Only new frames are stored, so ``add`` checks that each continuing env's
``obs`` really continues its stream (its newest frame is the stored newest
frame of the previous ``next_obs``) and refuses the step otherwise. Where the
environments restart without an episode end reaching the memory (a run
resumed from a checkpoint with fresh envs), call :meth:`ReplayMemory.cut_streams`
first: the open streams end as truncations, losing nothing.

Everything random is drawn from the generator passed in; ``state_dict`` holds
the storage (as tensors sharing memory with it, no copies), the cursors and
that generator's state, so a resumed run samples what an uninterrupted one
would have.

Modules: :mod:`~dqn_core.replay.uniform` (:class:`ReplayMemory`: layout,
allocation, uniform sampling), :mod:`~dqn_core.replay.streams` (its write
side: ``add``, the valid set), :mod:`~dqn_core.replay.state` (checkpoint
state), :mod:`~dqn_core.replay.batch` (:class:`Batch`, :func:`n_step_returns`),
:mod:`~dqn_core.replay.memory_check` (does a capacity fit in memory),
:mod:`~dqn_core.replay.prioritized` and :mod:`~dqn_core.replay.sumtree`
(proportional PER), :mod:`~dqn_core.replay.make` (:func:`make_replay`, the one
factory).
"""

from __future__ import annotations

from dqn_core.replay.batch import Batch, IntArray, n_step_returns
from dqn_core.replay.make import frame_stack_for, make_replay
from dqn_core.replay.memory_check import (
    MEMORY_FRACTION,
    ReplayMemoryError,
    available_memory_bytes,
)
from dqn_core.replay.prioritized import PrioritizedReplayMemory, importance_weights
from dqn_core.replay.state import STATE_FORMAT
from dqn_core.replay.uniform import ArraySpec, ReplayMemory

__all__ = [
    "MEMORY_FRACTION",
    "STATE_FORMAT",
    "ArraySpec",
    "Batch",
    "IntArray",
    "PrioritizedReplayMemory",
    "ReplayMemory",
    "ReplayMemoryError",
    "available_memory_bytes",
    "frame_stack_for",
    "importance_weights",
    "make_replay",
    "n_step_returns",
]
