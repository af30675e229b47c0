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
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import torch

from dqn_core.config import ConfigError, RunConfig
from dqn_core.seeding import generator_state, set_generator_state

STATE_FORMAT = "dqn_core.replay/1"

#: Fraction of the available memory a replay memory may claim; the rest is left
#: for the networks, the environments, Python and the OS page cache.
MEMORY_FRACTION = 0.9

IntArray = npt.NDArray[np.int64]
ArraySpec = tuple[tuple[int, ...], np.dtype[Any]]


class ReplayMemoryError(ConfigError, MemoryError):
    """``replay.capacity`` does not fit in the memory available to this process."""


@dataclass
class Batch:
    """A sampled minibatch; tensors are on the memory's (learner's) device.

    Attributes:
        obs: (B, *obs_shape) stacked observations (uint8 for Atari, float32 vectors).
        action: int64 (B,) actions taken from ``obs``.
        reward: float32 (B,) n-step discounted sum of clipped learning rewards.
        discount: float32 (B,) ``gamma**k`` to apply to the bootstrap value,
            0 where a terminal cut the window.
        next_obs: (B, *obs_shape) the stack ``k`` steps later (bootstrap state).
        weight: float32 (B,) importance weights (ones for uniform sampling).
        indices: int64 (B,) slot ids, for ``update_priorities``.
    """

    obs: torch.Tensor
    action: torch.Tensor
    reward: torch.Tensor
    discount: torch.Tensor
    next_obs: torch.Tensor
    weight: torch.Tensor
    indices: npt.NDArray[np.int64]


# ------------------------------------------------------------------- memory check
def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text in ("", "max"):
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _cgroup_headroom() -> int | None:
    """Bytes left under this process's cgroup memory limit (None: no limit found)."""
    root = Path("/sys/fs/cgroup")
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    candidates: list[tuple[Path, str, str]] = []
    for line in lines:
        _, controllers, rel = line.split(":", 2)
        rel = rel.lstrip("/")
        if controllers == "":  # cgroup v2 (unified)
            for base in (root / rel, root):
                candidates.append((base, "memory.max", "memory.current"))
        elif "memory" in controllers.split(","):  # cgroup v1
            for base in (root / "memory" / rel, root / "memory"):
                candidates.append((base, "memory.limit_in_bytes", "memory.usage_in_bytes"))
    for base, limit_name, usage_name in candidates:
        limit = _read_int(base / limit_name)
        if limit is None or limit >= 1 << 60:  # "max" or the v1 "unlimited" sentinel
            continue
        usage = _read_int(base / usage_name) or 0
        return max(limit - usage, 0)
    return None


def available_memory_bytes() -> int | None:
    """Memory this process can still allocate: MemAvailable, capped by a cgroup limit.

    Returns:
        bytes, or None where neither ``/proc/meminfo`` nor a cgroup limit is readable
        (non-Linux systems): the caller then skips the check.
    """
    found: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
                break
    except (OSError, ValueError, IndexError):
        pass
    cgroup = _cgroup_headroom()
    if cgroup is not None:
        found.append(cgroup)
    return min(found) if found else None


def _gib(n: float) -> str:
    return f"{n / 2**30:.1f} GiB"


# ------------------------------------------------------------------------ memory
def n_step_returns(
    rewards: npt.NDArray[np.float64],
    lengths: IntArray,
    terminal: npt.NDArray[np.bool_],
    gamma_powers: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The n-step reward sum and bootstrap discount of each sampled transition.

    Row ``i`` uses its first ``lengths[i]`` rewards (the window is cut at the first
    terminal or episode end, so ``1 <= lengths[i] <= n``): ``sum_{m < k} gamma^m r_m``,
    and the discount ``gamma^k``, or 0 when the window ends in a terminal state
    (Sutton & Barto 2018, sec. 7.1; a truncated episode still bootstraps).

    Args:
        rewards: (B, n) rewards following each transition's action; entries at or
            after ``lengths[i]`` are ignored.
        lengths: int (B,) the window length k of each row.
        terminal: bool (B,) whether the step that produced the k-th reward ended in
            a terminal state.
        gamma_powers: (n + 1,) ``gamma ** arange(n + 1)``.

    Returns:
        ``(returns, discounts)``, float64 (B,) each.
    """
    n = rewards.shape[1]
    inside = np.arange(n) < lengths[:, None]
    returns = (np.where(inside, rewards, 0.0) * gamma_powers[:n]).sum(axis=1)
    discounts = np.where(terminal, 0.0, gamma_powers[lengths])
    return returns, discounts


class ReplayMemory:
    """Uniform replay over (time, env) storing each frame once; see the module doc.

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
        available = available_memory_bytes()
        if available is None:
            return
        usable = int(available * MEMORY_FRACTION)
        if self.nbytes <= usable:
            return
        per_transition = self.nbytes / self.capacity
        fits = int(usable / per_transition)
        fits = max(fits - fits % 10_000, 0) if fits > 100_000 else fits
        raise ReplayMemoryError(
            f"replay.capacity={self.capacity} needs {_gib(self.nbytes)} "
            f"({per_transition:,.0f} bytes a transition); {_gib(available)} available "
            f"(at most {MEMORY_FRACTION:.0%} of it is used): at most ~{fits} transitions fit. "
            "Lower replay.capacity or free memory."
        )

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

    # --------------------------------------------------------------------- add
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

    # ------------------------------------------------------------------- state
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


# ------------------------------------------------------------------- helpers
def _check_int(name: str, value: Any, lo: int, hi: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name}: expected an integer, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        allowed = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ValueError(f"{name}: {value!r} is out of range (allowed: {allowed})")


def _check_vector(name: str, x: npt.ArrayLike, n: int, kinds: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.shape != (n,):
        raise ValueError(f"{name}: shape {arr.shape}, expected (num_envs,) = ({n},)")
    if arr.dtype.kind not in kinds:
        allowed = {"b": "bool", "i": "int", "u": "uint", "f": "float"}
        names = " or ".join(allowed[c] for c in kinds)
        raise ValueError(f"{name}: dtype {arr.dtype}, expected {names}")
    return arr


def frame_stack_for(config: RunConfig, obs_shape: tuple[int, ...]) -> int:
    """Frames per observation: ``env.frame_stack`` for image stacks (3-D), else 1."""
    if len(obs_shape) == 3:
        stack = config.env.frame_stack
        if obs_shape[0] != stack:
            raise ConfigError(
                f"env.frame_stack: {stack}, but the environment's observations have shape "
                f"{tuple(obs_shape)} (expected ({stack}, height, width))"
            )
        return stack
    return 1


def make_replay(
    config: RunConfig,
    obs_shape: tuple[int, ...],
    obs_dtype: npt.DTypeLike,
    num_envs: int,
    rng: np.random.Generator,
    device: str | torch.device,
) -> ReplayMemory:
    """The replay memory a run's config asks for (uniform or prioritized).

    Args:
        config: the run config (``replay.*``, ``agent.gamma``, ``env.frame_stack``).
        obs_shape, obs_dtype: one observation's shape and dtype, from the env.
        num_envs: parallel training envs.
        rng: the run's ``replay`` generator.
        device: the learner's device (batches are delivered there).

    Raises:
        ReplayMemoryError: ``replay.capacity`` does not fit in the available memory.
    """
    r = config.replay
    common: dict[str, Any] = {
        "frame_stack": frame_stack_for(config, tuple(obs_shape)),
        "n_step": r.n_step,
        "gamma": config.agent.gamma,
        "rng": rng,
        "device": device,
    }
    if r.prioritized:
        # Imported here: prioritized.py builds on this module.
        from dqn_core.prioritized import PrioritizedReplayMemory

        return PrioritizedReplayMemory(
            r.capacity,
            tuple(obs_shape),
            obs_dtype,
            num_envs,
            alpha=r.priority_alpha,
            priority_eps=r.priority_eps,
            weight_norm=r.priority_weight_norm,
            **common,
        )
    return ReplayMemory(r.capacity, tuple(obs_shape), obs_dtype, num_envs, **common)


__all__ = [
    "MEMORY_FRACTION",
    "STATE_FORMAT",
    "Batch",
    "ReplayMemory",
    "ReplayMemoryError",
    "available_memory_bytes",
    "frame_stack_for",
    "make_replay",
]
