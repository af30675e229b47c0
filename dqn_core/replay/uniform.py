"""Uniform replay: :class:`ReplayMemory`, the frame-deduplicated memory over (time, env).

The layout, the n-step windows and the validity mask are described in the
:mod:`dqn_core.replay` package doc. This module holds the memory's
construction (layout, allocation, memory check) and its uniform sampling; the
write side is :class:`~dqn_core.replay.streams.StreamWriter`, the checkpoint
state :class:`~dqn_core.replay.state.ReplayState`.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import torch

from dqn_core.config import ConfigError
from dqn_core.replay.batch import Batch, IntArray, n_step_returns
from dqn_core.replay.memory_check import check_fits
from dqn_core.replay.state import ReplayState
from dqn_core.replay.streams import StreamWriter

ArraySpec = tuple[tuple[int, ...], np.dtype[Any]]


class ReplayMemory(StreamWriter, ReplayState):
    """Uniform replay over (time, env) storing each frame once; see the :mod:`dqn_core.replay` package doc.

    Args:
        capacity: transitions kept over all envs together (``replay.capacity``);
            each env gets ``capacity // num_envs`` slots.
        obs_shape: shape of one observation, e.g. (4, 84, 84) or (4,).
        obs_dtype: its dtype (uint8 for Atari frames, float32 for vectors).
        num_envs: parallel environments feeding ``add``.
        frame_stack: frames per observation; > 1 needs ``obs_shape[0] == frame_stack``
            and stores ``obs_shape[1:]`` frames; 1 stores whole observations.
        n_step: return length ``n``.
        gamma: discount per agent step.
        rng: the generator every sample is drawn from (its state is saved).
        device: where batches go; with a CUDA device they are gathered into
            pinned host memory and copied without blocking.
        check_memory: refuse (``ReplayMemoryError``) a capacity whose arrays
            would not fit in the available memory. Arrays are allocated lazily
            by the OS, so without this check an oversized memory fails hours
            later, when it fills up.
    """

    kind: ClassVar[str] = "uniform"

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        obs_dtype: npt.DTypeLike,
        num_envs: int,
        *,
        frame_stack: int,
        n_step: int,
        gamma: float,
        rng: np.random.Generator,
        device: str | torch.device = "cpu",
        check_memory: bool = True,
    ) -> None:
        _check_int("capacity", capacity, 1)
        _check_int("num_envs", num_envs, 1)
        _check_int("frame_stack", frame_stack, 1)
        _check_int("n_step", n_step, 1, 255)  # the n-step length is stored as uint8
        if not 0.0 <= float(gamma) <= 1.0:
            raise ValueError(f"gamma: {gamma!r} must lie in [0, 1]")
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng: expected a numpy.random.Generator, got {type(rng).__name__}")
        self.obs_shape = tuple(int(d) for d in obs_shape)
        if not self.obs_shape or min(self.obs_shape) < 1:
            raise ValueError(f"obs_shape: expected positive dimensions, got {obs_shape!r}")
        if frame_stack > 1 and (len(self.obs_shape) < 2 or self.obs_shape[0] != frame_stack):
            raise ValueError(
                f"obs_shape: {self.obs_shape} does not start with frame_stack={frame_stack} "
                "(stacked observations are (frame_stack, *frame_shape))"
            )
        self.obs_dtype = np.dtype(obs_dtype)
        self.capacity = int(capacity)
        self.num_envs = int(num_envs)
        self.frame_stack = int(frame_stack)
        self.frame_shape = self.obs_shape[1:] if frame_stack > 1 else self.obs_shape
        self.n_step = int(n_step)
        self.gamma = float(gamma)
        self.slots_per_env = self.capacity // self.num_envs
        need = self.frame_stack + self.n_step + 1
        if self.slots_per_env < need:
            raise ConfigError(
                f"replay.capacity: {capacity} is too small for {num_envs} envs "
                f"(needs at least num_envs x (frame_stack + n_step + 1) = {num_envs * need})"
            )
        self.num_slots = self.slots_per_env * self.num_envs
        self.device = torch.device(device)
        self._pin = self.device.type == "cuda"
        if self._pin and not torch.cuda.is_available():
            raise ValueError(f"device: {device!r} asked for, but CUDA is not available here")
        self._rng = rng
        self._index_dtype = np.dtype(np.int32 if self.num_slots < 2**31 else np.int64)

        specs = self._array_specs()
        self.nbytes = sum(math.prod(shape) * dtype.itemsize for shape, dtype in specs.values())
        if check_memory:
            self._check_memory()
        self._arrays: dict[str, np.ndarray] = {
            name: np.zeros(shape, dtype) for name, (shape, dtype) in specs.items()
        }
        a = self._arrays
        self._frames = a["frames"]
        self._actions = a["actions"]
        self._rewards = a["rewards"]
        self._terminals = a["terminals"]
        self._nstep = a["nstep"]
        self._valid_list = a["valid_list"]
        self._valid_pos = a["valid_pos"]
        self._count = 0
        # Per-env stream state (tiny; plain lists keep the per-step bookkeeping cheap).
        self._written = [0] * self.num_envs  # slots ever written
        self._pending = [0] * self.num_envs  # trailing transitions with open windows
        self._open = [False] * self.num_envs  # stream running (no episode end since)
        self._validated: list[int] = []  # slots made valid / invalid during this call
        self._invalidated: list[int] = []

        # Constants of the index arithmetic, computed once.
        self._stack_offsets = np.arange(1 - self.frame_stack, 1, dtype=np.int64)
        self._step_offsets = np.arange(self.n_step, dtype=np.int64)
        self._gamma_powers = self.gamma ** np.arange(self.n_step + 1, dtype=np.float64)
        self._torch_obs_dtype = torch.from_numpy(np.zeros(0, self.obs_dtype)).dtype

    # ------------------------------------------------------------------ layout
    def _array_specs(self) -> dict[str, ArraySpec]:
        """Every array the memory allocates: name -> (shape, dtype)."""
        s, idx = self.num_slots, self._index_dtype
        return {
            "frames": ((s, *self.frame_shape), self.obs_dtype),
            "actions": ((s,), np.dtype(np.int32)),
            "rewards": ((s,), np.dtype(np.float32)),
            "terminals": ((s,), np.dtype(np.bool_)),
            "nstep": ((s,), np.dtype(np.uint8)),  # n-step length k; 0 = not sampleable
            "valid_list": ((s,), idx),  # the valid slots, dense, first `count` entries
            "valid_pos": ((s,), idx),  # where each valid slot sits in valid_list
        }

    def _check_memory(self) -> None:
        check_fits(self.nbytes, self.capacity)

    # -------------------------------------------------------------- properties
    def __len__(self) -> int:
        """Transitions that can be sampled now (complete n-step windows)."""
        return self._count

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(capacity={self.capacity}, num_envs={self.num_envs}, "
            f"obs_shape={self.obs_shape}, dtype={self.obs_dtype}, frame_stack={self.frame_stack}, "
            f"n_step={self.n_step}, len={len(self)}, nbytes={self.nbytes})"
        )

    def valid_indices(self) -> IntArray:
        """Sorted slot ids of every sampleable transition (diagnostics and tests)."""
        return np.sort(self._valid_list[: self._count].astype(np.int64))

    # ------------------------------------------------------------------ sample
    def sample(self, batch_size: int, beta: float = 1.0) -> Batch:
        """Draw ``batch_size`` transitions uniformly (with replacement).

        Args:
            batch_size: B >= 1.
            beta: importance-weight exponent; used by prioritized replay only.

        Returns:
            a :class:`Batch` on the memory's device; ``weight`` is all ones.
        """
        _check_int("batch_size", batch_size, 1)
        if not 0.0 <= beta <= 1.0:
            raise ValueError(f"beta: {beta!r} must lie in [0, 1]")
        if self._count == 0:
            raise ValueError(
                "sample: no transition can be sampled yet (len(memory) == 0): its n-step "
                "window completes one to n_step adds after it was stored"
            )
        indices = self._draw(batch_size)
        return self._batch(indices, self._weights(indices, beta))

    def gather(self, indices: npt.ArrayLike) -> Batch:
        """The batch of the given sampleable slots, weights one (diagnostics and tests)."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size == 0 or idx.min() < 0 or idx.max() >= self.num_slots:
            raise IndexError(f"indices: expected slot ids in [0, {self.num_slots})")
        if not (self._nstep[idx] > 0).all():
            raise ValueError("indices: some slots hold no sampleable transition")
        return self._batch(idx, np.ones(idx.size))

    def _draw(self, batch_size: int) -> IntArray:
        u = self._rng.integers(0, self._count, size=batch_size)
        return self._valid_list[u].astype(np.int64)

    def _weights(self, indices: IntArray, beta: float) -> npt.NDArray[np.float64]:
        return np.ones(indices.size)

    def _batch(self, g: IntArray, weights: npt.NDArray[np.floating[Any]]) -> Batch:
        B, S = g.size, self.slots_per_env
        base = g - g % S
        s = g % S
        k = self._nstep[g].astype(np.int64)
        # One gather for both stacks: B obs stacks, then B next_obs stacks.
        rows = np.concatenate([s, s + k])[:, None] + self._stack_offsets
        frame_idx = (np.concatenate([base, base])[:, None] + rows % S).reshape(-1)
        stacks = torch.empty(
            (2 * B, *self.obs_shape), dtype=self._torch_obs_dtype, pin_memory=self._pin
        )
        # numpy's take copies on one thread, straight into the tensor's memory. A
        # multi-threaded gather (torch.index_select) was 3x faster on two idle cores
        # but 15x slower on oversubscribed ones (10 ms vs 0.6 ms a batch at load 8):
        # a memory-bound copy of ~1.8 MB is not worth that risk.
        out = stacks.numpy().reshape(frame_idx.size, *self.frame_shape)
        np.take(self._frames, frame_idx, axis=0, out=out, mode="clip")

        step = s[:, None] + self._step_offsets
        rewards = self._rewards[base[:, None] + step % S].astype(np.float64)
        terminal = self._terminals[base + (s + k - 1) % S]
        floats = np.empty((3, B), dtype=np.float32)
        floats[0], floats[1] = n_step_returns(rewards, k, terminal, self._gamma_powers)
        floats[2] = weights
        action = torch.from_numpy(self._actions[g].astype(np.int64))
        scalars = torch.from_numpy(floats)
        if self.device.type != "cpu":
            if self._pin:
                scalars = scalars.pin_memory()
                action = action.pin_memory()
            stacks = stacks.to(self.device, non_blocking=self._pin)
            scalars = scalars.to(self.device, non_blocking=self._pin)
            action = action.to(self.device, non_blocking=self._pin)
        return Batch(
            obs=stacks[:B],
            action=action,
            reward=scalars[0],
            discount=scalars[1],
            next_obs=stacks[B:],
            weight=scalars[2],
            indices=g,
        )

    def update_priorities(self, indices: npt.ArrayLike, priorities: npt.ArrayLike) -> None:
        """Prioritized replay only; uniform replay has no priorities."""
        raise TypeError(
            "update_priorities: this replay memory samples uniformly "
            "(set replay.prioritized=true for prioritized replay)"
        )


def _check_int(name: str, value: Any, lo: int, hi: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name}: expected an integer, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        allowed = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ValueError(f"{name}: {value!r} is out of range (allowed: {allowed})")
