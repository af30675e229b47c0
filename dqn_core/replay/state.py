"""A replay memory's checkpoint state: contents, cursors and RNG state.

Everything random is drawn from the generator passed to the memory; the state
holds the storage (as tensors sharing memory with it, no copies), the cursors
and that generator's state, so a resumed run samples what an uninterrupted one
would have.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from dqn_core.seeding import generator_state, set_generator_state

STATE_FORMAT = "dqn_core.replay/1"


class ReplayState:
    """Mixin of :class:`~dqn_core.replay.uniform.ReplayMemory`: ``state_dict`` and
    ``load_state_dict``, with hooks for subclass state. ``ReplayMemory.__init__``
    sets every attribute declared here.
    """

    kind: ClassVar[str]
    capacity: int
    num_envs: int
    obs_shape: tuple[int, ...]
    obs_dtype: np.dtype[Any]
    frame_stack: int
    n_step: int
    _arrays: dict[str, np.ndarray]
    _count: int
    _written: list[int]
    _pending: list[int]
    _open: list[bool]
    _rng: np.random.Generator

    def _meta(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "capacity": self.capacity,
            "num_envs": self.num_envs,
            "obs_shape": list(self.obs_shape),
            "obs_dtype": self.obs_dtype.str,
            "frame_stack": self.frame_stack,
            "n_step": self.n_step,
        }

    def state_dict(self) -> dict[str, Any]:
        """Contents, cursors and RNG state; tensors share memory with the storage.

        Save it (``torch.save``) before the next ``add``: the tensors are views.
        Loads with ``torch.load(weights_only=True)``.
        """
        return {
            "format": STATE_FORMAT,
            **self._meta(),
            "count": self._count,
            "written": list(self._written),
            "pending": list(self._pending),
            "open": list(self._open),
            "arrays": {name: torch.from_numpy(arr) for name, arr in self._arrays.items()},
            "rng": generator_state(self._rng),
            **self._extra_state(),
        }

    def _extra_state(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what ``state_dict`` saved into this (same-layout) memory.

        Raises:
            ValueError: the state comes from a memory of another layout; the
                message names each differing field.
        """
        if state.get("format") != STATE_FORMAT:
            raise ValueError(
                f"replay state: format {state.get('format')!r} is not {STATE_FORMAT!r}"
            )
        diffs = [
            f"{key}: saved {state.get(key)!r}, this memory {value!r}"
            for key, value in self._meta().items()
            if state.get(key) != value
        ]
        if diffs:
            raise ValueError("replay state: layout differs: " + "; ".join(diffs))
        arrays = state["arrays"]
        if set(arrays) != set(self._arrays):
            raise ValueError(
                f"replay state: arrays {sorted(arrays)} differ from {sorted(self._arrays)}"
            )
        for name, dst in self._arrays.items():
            src = arrays[name]
            src_np = src.numpy() if isinstance(src, torch.Tensor) else np.asarray(src)
            if src_np.shape != dst.shape or src_np.dtype != dst.dtype:
                raise ValueError(
                    f"replay state: array {name} is {src_np.dtype}{list(src_np.shape)}, "
                    f"expected {dst.dtype}{list(dst.shape)}"
                )
            if src_np.ctypes.data != dst.ctypes.data:  # loading a memory's own state is a no-op
                np.copyto(dst, src_np)
        self._count = int(state["count"])
        for name in ("written", "pending", "open"):
            values = list(state[name])
            if len(values) != self.num_envs:
                raise ValueError(
                    f"replay state: {name} has {len(values)} entries, expected {self.num_envs}"
                )
        self._written = [int(v) for v in state["written"]]
        self._pending = [int(v) for v in state["pending"]]
        self._open = [bool(v) for v in state["open"]]
        set_generator_state(self._rng, state["rng"])
        self._load_extra_state(state)

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        """Hook for subclass state (called after the arrays are restored)."""
