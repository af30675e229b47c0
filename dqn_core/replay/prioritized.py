"""Proportional prioritized replay (Schaul et al. 2016, "Prioritized Experience Replay").

Transition ``i`` is drawn with probability ``P(i) = p_i^alpha / sum_j p_j^alpha``
where ``p_i = |TD error_i| + eps`` (the learner hands raw ``|TD error|`` to
:meth:`PrioritizedReplayMemory.update_priorities`; eps and alpha are applied
here). A transition enters at the running maximum priority, so it is likely to
be replayed at least once before its error is known. The bias of
non-uniform sampling is corrected with importance weights

    w_i = (M * P(i))^-beta / max_j (M * P(j))^-beta = (p_i^alpha / min_j p_j^alpha)^-beta

so weights only ever scale an update down. ``replay.priority_weight_norm``
says where the max is taken: ``batch`` (the default) over the sampled batch,
as Dopamine's Rainbow and Kaixhin/Rainbow do; ``memory`` over the ``M``
sampleable transitions, a literal reading of the paper (and OpenAI
baselines). With C51's KL priorities the memory-wide max collapses the
weights: in our first full-budget Atari-100k run (``der``, RoadRunner) the
stored ``p^alpha`` spanned 1.4e-3 to 2.7 after 100k steps, so the mean
sampled weight was 0.006 at beta = 1 (0.28 with the batch max), the gradients
fell far below Adam's epsilon (docs/atari100k.md).
``beta`` is annealed linearly from ``replay.priority_beta_start`` to
``replay.priority_beta_end``
over the run (:func:`dqn_core.agent.schedules.beta_schedule`, over the budget the
run started with). :func:`importance_weights` is the weight formula.

Storage, n-step windows and validity are those of
:class:`~dqn_core.replay.ReplayMemory`; the only addition is a
:class:`~dqn_core.replay.sumtree.SumTree` over the slots whose leaves hold
``p^alpha`` for sampleable transitions and 0 for every other slot, so a slot
that cannot be rebuilt is never drawn. A batch is drawn stratified: the total
is cut into ``B`` equal segments and one prefix value is drawn uniformly in
each, which keeps every draw's marginal probability ``P(i)`` and lowers the
variance of the batch.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
import torch

from dqn_core.replay.batch import IntArray
from dqn_core.replay.sumtree import SumTree, tree_leaves
from dqn_core.replay.uniform import ArraySpec, ReplayMemory


def importance_weights(
    priorities: npt.ArrayLike, min_priority: float, beta: float
) -> npt.NDArray[np.float64]:
    """Importance-sampling weights of prioritized replay (Schaul et al. 2016, sec. 3.4).

    ``w_i = (M P(i))^-beta / max_j (M P(j))^-beta = (p_i / p_min)^-beta`` with
    ``p = priority^alpha`` as stored in the tree: the largest weight over the
    whole memory is 1, so updates are only ever scaled down.

    Args:
        priorities: (B,) stored ``p^alpha`` of the sampled transitions (> 0).
        min_priority: the smallest stored ``p^alpha`` over the sampleable transitions (> 0).
        beta: exponent in [0, 1] (0: no correction, 1: full correction).

    Returns:
        float64 (B,) weights in (0, 1].
    """
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta: {beta!r} must be in [0, 1]")
    if not min_priority > 0:
        raise ValueError(f"min_priority: {min_priority!r} must be > 0")
    ratio = np.asarray(priorities, dtype=np.float64) / min_priority
    return np.asarray(ratio ** (-beta), dtype=np.float64)


#: Where the importance weights' normaliser ``max_j w_j`` is taken (``replay.priority_weight_norm``).
WEIGHT_NORMS = ("batch", "memory")


class PrioritizedReplayMemory(ReplayMemory):
    """Replay memory with proportional prioritized sampling; see the module doc.

    Args:
        alpha: priority exponent (0 = uniform).
        priority_eps: added to ``|TD error|`` so no transition gets probability 0.
        weight_norm: ``"batch"`` or ``"memory"``: where the importance weights'
            normalising max is taken (see the module doc).
        The other arguments are those of :class:`~dqn_core.replay.ReplayMemory`.
    """

    kind: ClassVar[str] = "prioritized"

    def __init__(
        self,
        capacity: int,
        obs_shape: tuple[int, ...],
        obs_dtype: npt.DTypeLike,
        num_envs: int,
        *,
        alpha: float,
        priority_eps: float,
        frame_stack: int,
        weight_norm: str = "batch",
        n_step: int,
        gamma: float,
        rng: np.random.Generator,
        device: str | torch.device = "cpu",
        check_memory: bool = True,
    ) -> None:
        if not 0.0 <= float(alpha) <= 1.0:
            raise ValueError(f"alpha: {alpha!r} must lie in [0, 1]")
        if not float(priority_eps) > 0.0:
            raise ValueError(f"priority_eps: {priority_eps!r} must be > 0")
        if weight_norm not in WEIGHT_NORMS:
            raise ValueError(f"weight_norm: {weight_norm!r} must be one of {WEIGHT_NORMS}")
        self.alpha = float(alpha)
        self.weight_norm = weight_norm
        self.priority_eps = float(priority_eps)
        # Largest p = |TD| + eps seen so far; new transitions enter with it.
        self.max_priority = 1.0
        super().__init__(
            capacity,
            obs_shape,
            obs_dtype,
            num_envs,
            frame_stack=frame_stack,
            n_step=n_step,
            gamma=gamma,
            rng=rng,
            device=device,
            check_memory=check_memory,
        )
        self.tree = SumTree(
            self.num_slots, sums=self._arrays["tree_sums"], mins=self._arrays["tree_mins"]
        )

    def _array_specs(self) -> dict[str, ArraySpec]:
        specs = super()._array_specs()
        nodes = 2 * tree_leaves(self.num_slots)
        specs["tree_sums"] = ((nodes,), np.dtype(np.float64))
        specs["tree_mins"] = ((nodes,), np.dtype(np.float64))
        return specs

    # ---------------------------------------------------------------- hooks
    def _on_valid(self, slots: IntArray) -> None:
        self.tree.set_unchecked(slots, self.max_priority**self.alpha)

    def _on_invalid(self, slots: IntArray) -> None:
        self.tree.set_unchecked(slots, 0.0)

    def _draw(self, batch_size: int) -> IntArray:
        total = self.tree.total()
        prefix = (np.arange(batch_size) + self._rng.random(batch_size)) * (total / batch_size)
        # Keep the last segment's draw strictly below the total despite rounding.
        np.minimum(prefix, np.nextafter(total, 0.0), out=prefix)
        return self.tree.find(prefix)

    def _weights(self, indices: IntArray, beta: float) -> npt.NDArray[np.float64]:
        stored = self.tree.get(indices)
        smallest = stored.min() if self.weight_norm == "batch" else self.tree.min()
        return importance_weights(stored, smallest, beta)

    # ------------------------------------------------------------ priorities
    def update_priorities(self, indices: npt.ArrayLike, priorities: npt.ArrayLike) -> None:
        """Set the priorities of sampled transitions from their new ``|TD error|``.

        Args:
            indices: ``Batch.indices`` of the batch the errors belong to.
            priorities: (B,) ``|TD error|`` (sign ignored); ``(|x| + eps)^alpha`` is stored.

        Slots that stopped holding a sampleable transition since they were
        sampled are skipped; where an index repeats, its last priority wins.
        Call it before the next ``add`` (the learner's update does).
        """
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        pri = np.asarray(priorities, dtype=np.float64).reshape(-1)
        if idx.shape != pri.shape:
            raise ValueError(f"update_priorities: {idx.size} indices but {pri.size} priorities")
        if idx.size == 0:
            return
        if idx.min() < 0 or idx.max() >= self.num_slots:
            raise IndexError(f"indices: expected slot ids in [0, {self.num_slots})")
        if not np.isfinite(pri).all():
            raise ValueError("priorities: non-finite |TD error| (the learner diverged?)")
        p = np.abs(pri) + self.priority_eps
        # Last occurrence of each repeated index: unique over the reversed arrays.
        _, first_in_reversed = np.unique(idx[::-1], return_index=True)
        keep = idx.size - 1 - first_in_reversed
        idx, p = idx[keep], p[keep]
        live = self._nstep[idx] > 0
        idx, p = idx[live], p[live]
        if idx.size:
            self.tree.set(idx, p**self.alpha)
            self.max_priority = max(self.max_priority, float(p.max()))

    def priorities(self, indices: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Stored ``p^alpha`` of the given slots (0 where not sampleable)."""
        return self.tree.get(np.asarray(indices, dtype=np.int64))

    # ----------------------------------------------------------------- state
    def _meta(self) -> dict[str, Any]:
        return {**super()._meta(), "alpha": self.alpha}

    def _extra_state(self) -> dict[str, Any]:
        self.tree.total()  # recompute pending ancestors so the saved arrays are consistent
        return {"max_priority": self.max_priority}

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        self.max_priority = float(state["max_priority"])
        self.tree.rebuild()
