"""The write side of the replay memory: each env's stream of frames, and the valid set.

Each env writes its own share of the ring in order (see "Layout" in the
:mod:`dqn_core.replay` package doc); :meth:`StreamWriter.add` stores one step of
every env and completes the n-step windows that a step closes, and the valid
set (the n-step length array, with a dense list of the sampleable slots beside
it) is kept up to date on every write.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from dqn_core.replay.batch import IntArray


class StreamWriter:
    """Mixin of :class:`~dqn_core.replay.uniform.ReplayMemory`: ``add``, ``cut_streams``
    and the valid set. It owns no storage: ``ReplayMemory.__init__`` sets every
    attribute declared here.
    """

    num_envs: int
    obs_shape: tuple[int, ...]
    obs_dtype: np.dtype[Any]
    frame_stack: int
    n_step: int
    slots_per_env: int
    _frames: np.ndarray
    _actions: np.ndarray
    _rewards: np.ndarray
    _terminals: np.ndarray
    _nstep: np.ndarray
    _valid_list: np.ndarray
    _valid_pos: np.ndarray
    _count: int
    _written: list[int]
    _pending: list[int]
    _open: list[bool]
    _validated: list[int]
    _invalidated: list[int]

    def add(
        self,
        obs: np.ndarray,
        action: npt.ArrayLike,
        reward: npt.ArrayLike,
        terminal: npt.ArrayLike,
        episode_end: npt.ArrayLike,
        next_obs: np.ndarray,
    ) -> None:
        """Store one step of every env.

        Args:
            obs: (N, *obs_shape) the observations acted on.
            action: (N,) non-negative integer actions.
            reward: (N,) clipped learning rewards.
            terminal: (N,) bool, no bootstrap from this step on (game over, or a
                life loss where the protocol makes it terminal).
            episode_end: (N,) bool, the episode ended (terminated or truncated):
                the env's next ``obs`` starts a new episode.
            next_obs: (N, *obs_shape) the real observation after the action (the
                final one where the episode ended).

        Raises:
            ValueError: on a wrong shape or dtype, or where ``obs`` does not
                continue the env's stream (its newest frame is not the newest
                frame of the previous ``next_obs``): pass ``episode_end`` where an
                episode ended, or call ``cut_streams()`` after environments were
                reset outside the memory's knowledge (e.g. on resume).
        """
        n_env = self.num_envs
        obs = self._check_obs("obs", obs)
        next_obs = self._check_obs("next_obs", next_obs)
        action_a = _check_vector("action", action, n_env, "iu")
        reward_a = _check_vector("reward", reward, n_env, "fiu").astype(np.float32, copy=False)
        terminal_a = _check_vector("terminal", terminal, n_env, "b")
        end_a = _check_vector("episode_end", episode_end, n_env, "b")
        if action_a.min() < 0 or action_a.max() >= 2**31:
            raise ValueError(f"action: expected integers in [0, 2**31), got {action_a.tolist()}")
        if not np.isfinite(reward_a).all():
            raise ValueError(f"reward: expected finite values, got {reward_a.tolist()}")
        newest, newest_next = self._newest(obs), self._newest(next_obs)
        S, n = self.slots_per_env, self.n_step
        written, pending, is_open = self._written, self._pending, self._open

        # Continuity is checked for every env before anything is written, so a
        # refused add changes nothing.
        broken = [
            e
            for e in range(n_env)
            if is_open[e] and not (self._frames[e * S + (written[e] - 1) % S] == newest[e]).all()
        ]
        if broken:
            raise ValueError(
                f"add: obs of env(s) {broken} does not continue the stream stored for them: "
                "its newest frame differs from the newest frame of that env's previous "
                "next_obs. Pass episode_end=True where an episode ended, or call "
                "cut_streams() after the environments were reset outside the replay memory "
                "(for example after resuming from a checkpoint)."
            )

        # Per-env scalar bookkeeping: a handful of integer operations per env is far
        # cheaper than the fixed cost of numpy calls on arrays of N elements.
        actions, rewards = action_a.tolist(), reward_a.tolist()
        terminals, ends = terminal_a.tolist(), end_a.tolist()
        for e in range(n_env):
            if not is_open[e]:  # stream start: the whole initial stack, oldest first
                for j in range(self.frame_stack):
                    self._write_frame(e, obs[e, j] if self.frame_stack > 1 else obs[e])
                is_open[e] = True
            # The transition lives in the slot holding obs's newest frame; the
            # newest frame of next_obs goes into the next slot.
            slot = e * S + (written[e] - 1) % S
            self._actions[slot] = actions[e]
            self._rewards[slot] = rewards[e]
            self._terminals[slot] = terminals[e]
            self._write_frame(e, newest_next[e])
            pending[e] += 1
            if terminals[e] or ends[e]:  # closes every open window of this env
                self._complete_stream(e)
                if ends[e]:
                    is_open[e] = False
            elif pending[e] == n:  # n steps without a terminal: the oldest completes
                self._make_valid(e * S + (written[e] - 1 - n) % S, n)
                pending[e] -= 1
        self._run_hooks()

    def cut_streams(self) -> None:
        """End every running stream as if its episode had been truncated at the last step.

        Call this when the environments were reset without the memory seeing an
        episode end, e.g. when a run resumes from a checkpoint with fresh envs.
        Nothing is lost: the open n-step windows complete with fewer steps and
        bootstrap from the last stored ``next_obs``, which is a real observation.
        """
        for e in range(self.num_envs):
            if self._open[e]:
                self._complete_stream(e)
                self._open[e] = False
        self._run_hooks()

    def _newest(self, obs: np.ndarray) -> np.ndarray:
        return obs[:, -1] if self.frame_stack > 1 else obs

    def _check_obs(self, name: str, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{name}: expected a numpy array, got {type(x).__name__}")
        expected = (self.num_envs, *self.obs_shape)
        if x.shape != expected:
            raise ValueError(
                f"{name}: shape {x.shape}, expected (num_envs, *obs_shape) = {expected}"
            )
        if x.dtype != self.obs_dtype:
            raise ValueError(f"{name}: dtype {x.dtype}, expected {self.obs_dtype}")
        return x

    def _write_frame(self, e: int, frame: np.ndarray) -> None:
        """Append one frame to env ``e``'s stream, invalidating what it overwrites."""
        S = self.slots_per_env
        pos = self._written[e]
        # Writing position p overwrites the oldest frame of the transition at
        # p - S + stack - 1, so that transition can no longer be rebuilt. Every
        # transition older than it was invalidated by an earlier write.
        doomed = e * S + (pos + self.frame_stack - 1) % S
        if self._nstep[doomed]:
            self._make_invalid(doomed)
        # The slot's action/reward/terminal are left as they are: they are only
        # read inside complete windows, whose slots were all written as
        # transitions of the current stream (history and final slots never are).
        self._frames[e * S + pos % S] = frame
        self._written[e] = pos + 1

    def _complete_stream(self, e: int) -> None:
        """Close every open window of env ``e`` at its last written slot."""
        p = self._pending[e]
        last = self._written[e] - 1
        for q in range(last - p, last):
            self._make_valid(e * self.slots_per_env + q % self.slots_per_env, last - q)
        self._pending[e] = 0

    # ----------------------------------------------------------- valid set
    def _make_valid(self, slot: int, k: int) -> None:
        """Mark ``slot`` sampleable with n-step length ``k`` (append to the dense list)."""
        self._nstep[slot] = k
        self._valid_list[self._count] = slot
        self._valid_pos[slot] = self._count
        self._count += 1
        self._validated.append(slot)

    def _make_invalid(self, slot: int) -> None:
        """Remove a sampleable slot: the last entry of the dense list takes its place."""
        self._nstep[slot] = 0
        hole = self._valid_pos[slot]
        self._count -= 1
        moved = self._valid_list[self._count]
        self._valid_list[hole] = moved
        self._valid_pos[moved] = hole
        self._invalidated.append(slot)

    def _run_hooks(self) -> None:
        """Hand this call's changes of the valid set to the hooks, in one batch each.

        Invalidations go first: a slot can lose its old transition and gain a
        new one in the same call, never the other way round.
        """
        if self._invalidated:
            self._on_invalid(np.array(self._invalidated, dtype=np.int64))
            self._invalidated.clear()
        if self._validated:
            self._on_valid(np.array(self._validated, dtype=np.int64))
            self._validated.clear()

    def _on_valid(self, slots: IntArray) -> None:
        """Hook: slots became sampleable (prioritized replay sets their priority)."""

    def _on_invalid(self, slots: IntArray) -> None:
        """Hook: slots stopped being sampleable."""


def _check_vector(name: str, x: npt.ArrayLike, n: int, kinds: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.shape != (n,):
        raise ValueError(f"{name}: shape {arr.shape}, expected (num_envs,) = ({n},)")
    if arr.dtype.kind not in kinds:
        allowed = {"b": "bool", "i": "int", "u": "uint", "f": "float"}
        names = " or ".join(allowed[c] for c in kinds)
        raise ValueError(f"{name}: dtype {arr.dtype}, expected {names}")
    return arr
