"""Array-backed sum tree (with a min tree beside it) in vectorized numpy.

Proportional prioritized replay needs three things fast: draw leaf ``i`` with
probability ``value_i / total``, change a batch of leaf values, and know the
smallest non-zero value (to normalise importance weights). A complete binary
tree stored in one array does all three with one numpy operation per tree
level, whatever the batch size:

- node 1 is the root, node ``j`` has children ``2j`` and ``2j + 1``, and the
  leaves are nodes ``L .. 2L - 1`` with ``L`` the smallest power of two
  ``>= size`` (padding leaves stay at zero and are never drawn);
- ``sums[j]`` is recomputed as ``sums[2j] + sums[2j + 1]`` from the children,
  never updated by adding deltas, so rounding errors do not accumulate: after
  any sequence of updates every node holds exactly the float64 sum of its
  children;
- ``mins[j]`` holds the smallest *positive* leaf below ``j`` (``inf`` where all
  are zero), so zero leaves (transitions that cannot be sampled) do not hide
  the real minimum.

Leaf writes are cheap and the ancestors are recomputed lazily, once, before
the next query (``total``, ``min``, ``find``): a replay memory writes a few
leaves on every ``add`` but queries only when it samples, so several adds
share one pass up the tree.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def tree_leaves(size: int) -> int:
    """Number of leaves of the tree for ``size`` values: the next power of two."""
    if size < 1:
        raise ValueError(f"size: expected a positive number of leaves, got {size}")
    return 1 << (size - 1).bit_length()


def tree_nbytes(size: int) -> int:
    """Bytes the sum and min arrays of a tree over ``size`` values take."""
    return 2 * 2 * tree_leaves(size) * np.dtype(np.float64).itemsize


class SumTree:
    """Sums and positive minima over ``size`` non-negative leaf values.

    Args:
        size: number of leaves that can hold a value (indices ``0 .. size-1``).
        sums, mins: optional preallocated float64 arrays of length
            ``2 * tree_leaves(size)`` to build the tree in (they are reset);
            lets a caller account for and own the memory (e.g. to save it).
    """

    def __init__(
        self, size: int, *, sums: FloatArray | None = None, mins: FloatArray | None = None
    ) -> None:
        self.size = int(size)
        self.leaf0 = tree_leaves(self.size)
        self.depth = self.leaf0.bit_length() - 1
        n = 2 * self.leaf0
        self.sums = np.zeros(n, np.float64) if sums is None else sums
        self.mins = np.full(n, np.inf) if mins is None else mins
        for name, arr in (("sums", self.sums), ("mins", self.mins)):
            if arr.shape != (n,) or arr.dtype != np.float64:
                raise ValueError(
                    f"{name}: expected float64 array of shape ({n},), got {arr.dtype} {arr.shape}"
                )
        self.sums.fill(0.0)
        self.mins.fill(np.inf)
        self._dirty: list[IntArray] = []

    # ------------------------------------------------------------- updates
    def set(self, leaves: npt.ArrayLike, values: npt.ArrayLike) -> None:
        """Set leaf values (non-negative, finite); a zero leaf is never drawn.

        Duplicate leaves in one call must carry equal values (the caller
        deduplicates otherwise: numpy does not order duplicate writes).
        """
        idx = np.asarray(leaves, dtype=np.int64).reshape(-1)
        val = np.broadcast_to(np.asarray(values, dtype=np.float64), idx.shape)
        if idx.size == 0:
            return
        if idx.min() < 0 or idx.max() >= self.size:
            raise IndexError(
                f"leaves: indices must lie in [0, {self.size}), got {idx.min()}..{idx.max()}"
            )
        if not np.all(np.isfinite(val)) or val.min() < 0:
            raise ValueError("values: leaf values must be finite and non-negative")
        self.set_unchecked(idx, val)

    def set_unchecked(self, leaves: IntArray, values: FloatArray | float) -> None:
        """``set`` without the argument checks, for callers that guarantee them
        (int64 leaves in range, finite non-negative values)."""
        nodes = leaves + self.leaf0
        self.sums[nodes] = values
        self.mins[nodes] = np.where(np.asarray(values) > 0, values, np.inf)
        self._dirty.append(nodes)

    def _flush(self) -> None:
        """Recompute the ancestors of every leaf written since the last query."""
        if not self._dirty:
            return
        nodes = np.unique(np.concatenate(self._dirty)) >> 1
        self._dirty.clear()
        # Row j of the (n/2, 2) views holds the children 2j and 2j+1 of node j.
        sums2, mins2 = self.sums.reshape(-1, 2), self.mins.reshape(-1, 2)
        # All leaves sit at the same depth, so each pass handles one level. Nodes
        # repeated in `nodes` are recomputed from the same children: harmless.
        for _ in range(self.depth):
            self.sums[nodes] = sums2[nodes].sum(axis=1)
            self.mins[nodes] = mins2[nodes].min(axis=1)
            nodes = nodes >> 1

    def rebuild(self) -> None:
        """Recompute every internal node from the leaves (after loading saved arrays).

        Gives bit-identical nodes to the incremental updates: both compute each
        node as the float64 sum of the same two children.
        """
        self._dirty.clear()
        leaves = self.sums[self.leaf0 :]
        self.mins[self.leaf0 :] = np.where(leaves > 0, leaves, np.inf)
        lo = self.leaf0 >> 1
        while lo >= 1:
            nodes = slice(lo, 2 * lo)
            self.sums[nodes] = self.sums[2 * lo : 4 * lo : 2] + self.sums[2 * lo + 1 : 4 * lo : 2]
            self.mins[nodes] = np.minimum(
                self.mins[2 * lo : 4 * lo : 2], self.mins[2 * lo + 1 : 4 * lo : 2]
            )
            lo >>= 1

    # ------------------------------------------------------------- queries
    def get(self, leaves: npt.ArrayLike) -> FloatArray:
        """Current values of the given leaves."""
        idx = np.asarray(leaves, dtype=np.int64)
        return self.sums[idx + self.leaf0]

    def values(self) -> FloatArray:
        """All ``size`` leaf values (a view)."""
        return self.sums[self.leaf0 : self.leaf0 + self.size]

    def total(self) -> float:
        """Sum of all leaves."""
        self._flush()
        return float(self.sums[1])

    def min(self) -> float:
        """Smallest positive leaf value (``inf`` when every leaf is zero)."""
        self._flush()
        return float(self.mins[1])

    def find(self, prefix: npt.ArrayLike) -> IntArray:
        """Leaves whose cumulative-sum interval contains each prefix value.

        Args:
            prefix: values in ``[0, total())``; leaf ``i`` is returned for values
                in ``[sum(v[:i]), sum(v[:i+1]))``.

        Returns:
            int64 leaf indices, always of leaves with a positive value: the
            descent only turns right into a subtree whose sum is positive, so a
            prefix that rounding pushes past a boundary still lands on a
            drawable leaf.
        """
        self._flush()
        if not self.sums[1] > 0:
            raise ValueError("find: every leaf is zero, nothing can be drawn")
        v = np.array(prefix, dtype=np.float64, copy=True).reshape(-1)
        node = np.ones(v.shape, dtype=np.int64)
        pairs = self.sums.reshape(-1, 2)  # row j: sums of node j's two children
        for _ in range(self.depth):
            children = pairs[node]
            left_sum = children[:, 0]
            right = (v >= left_sum) & (children[:, 1] > 0)
            v -= np.where(right, left_sum, 0.0)
            node = 2 * node + right
        return node - self.leaf0

    def check_invariants(self) -> None:
        """Raise AssertionError unless every node equals its children's sum/min.

        O(size); for tests and diagnostics, not for the hot path.
        """
        self._flush()
        for lo in (1 << d for d in range(self.depth)):
            nodes = np.arange(lo, 2 * lo)
            if not np.array_equal(
                self.sums[nodes], self.sums[2 * nodes] + self.sums[2 * nodes + 1]
            ):
                raise AssertionError(
                    f"sum tree: node level {lo.bit_length() - 1} is not the sum of its children"
                )
            if not np.array_equal(
                self.mins[nodes], np.minimum(self.mins[2 * nodes], self.mins[2 * nodes + 1])
            ):
                raise AssertionError(
                    f"min tree: node level {lo.bit_length() - 1} is not the min of its children"
                )
        leaves = self.sums[self.leaf0 :]
        if leaves[self.size :].any():
            raise AssertionError("sum tree: a padding leaf beyond size is non-zero")
        if not np.array_equal(self.mins[self.leaf0 :], np.where(leaves > 0, leaves, np.inf)):
            raise AssertionError("min tree: leaf minima disagree with leaf values")
