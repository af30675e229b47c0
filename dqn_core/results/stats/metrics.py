"""Aggregate metrics of score matrices (rliable's definitions), without intervals.

Shapes follow the package convention: ``(..., num_runs, num_games)`` in, the
leading batch shape ``(...)`` out (see :mod:`dqn_core.results.stats`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

__all__ = [
    "METRICS",
    "aggregate_iqm",
    "aggregate_mean",
    "aggregate_median",
    "aggregate_optimality_gap",
    "human_normalized_score",
    "probability_of_improvement",
    "score_distribution",
]

FloatArray = npt.NDArray[np.float64]
Statistic = Callable[[FloatArray], FloatArray]


# ---------------------------------------------------------------- validation
def _as_scores(scores: npt.ArrayLike, name: str = "scores") -> FloatArray:
    """A float64 array of shape (..., runs, games) with at least one finite entry each."""
    arr = np.asarray(scores, dtype=np.float64)
    if arr.ndim < 2:
        raise ValueError(
            f"{name}: expected an array of shape (..., num_runs, num_games), got shape {arr.shape}"
        )
    if arr.shape[-2] == 0 or arr.shape[-1] == 0:
        raise ValueError(f"{name}: needs at least one run and one game, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(
            f"{name}: contains NaN or infinite values (every run x game needs a score)"
        )
    return arr


# ------------------------------------------------------------------ metrics
def human_normalized_score(
    score: npt.ArrayLike, random: npt.ArrayLike, human: npt.ArrayLike
) -> FloatArray:
    """Human-normalised score ``(score - random) / (human - random)``.

    Args:
        score: raw game scores; broadcasts against ``random`` and ``human``
            (e.g. shape (runs, games) with (games,) normalisers).
        random: random-agent score(s).
        human: human score(s).

    Returns:
        float64 array: 0 at the random score, 1 at the human score.
    """
    s = np.asarray(score, dtype=np.float64)
    r = np.asarray(random, dtype=np.float64)
    h = np.asarray(human, dtype=np.float64)
    span = h - r
    if np.any(span == 0):
        raise ValueError("human, random: human - random must be non-zero for every game")
    return np.asarray((s - r) / span, dtype=np.float64)


def aggregate_mean(scores: npt.ArrayLike) -> FloatArray:
    """Mean over games of the per-game mean over runs.

    Args:
        scores: shape (..., runs, games).

    Returns:
        shape (...).
    """
    arr = _as_scores(scores)
    return np.asarray(arr.mean(axis=-2).mean(axis=-1))


def aggregate_median(scores: npt.ArrayLike) -> FloatArray:
    """Median over games of the per-game mean over runs.

    Args:
        scores: shape (..., runs, games).

    Returns:
        shape (...).
    """
    arr = _as_scores(scores)
    return np.asarray(np.median(arr.mean(axis=-2), axis=-1))


def aggregate_iqm(scores: npt.ArrayLike) -> FloatArray:
    """Interquartile mean: the 25%-trimmed mean of all run x game scores pooled.

    Exactly ``scipy.stats.trim_mean(x, 0.25, axis=None)``: with ``n`` scores,
    ``int(0.25 * n)`` are cut from each end and the rest averaged.

    Args:
        scores: shape (..., runs, games).

    Returns:
        shape (...).
    """
    arr = _as_scores(scores)
    flat = arr.reshape(*arr.shape[:-2], -1)
    n = flat.shape[-1]
    low = int(0.25 * n)
    high = n - low
    # Partitioning at both cut points puts every kept score between them, in O(n).
    part = np.partition(flat, (low, high - 1), axis=-1)
    return np.asarray(part[..., low:high].mean(axis=-1))


def aggregate_optimality_gap(scores: npt.ArrayLike, gamma: float = 1.0) -> FloatArray:
    """How far scores fall short of ``gamma``: ``gamma - mean(min(score, gamma))``.

    Args:
        scores: shape (..., runs, games), usually human-normalised.
        gamma: the target; scores above it count as ``gamma`` (1.0 = human level).

    Returns:
        shape (...); lower is better.
    """
    arr = _as_scores(scores)
    return np.asarray(gamma - np.minimum(arr, gamma).mean(axis=(-2, -1)))


def probability_of_improvement(scores_x: npt.ArrayLike, scores_y: npt.ArrayLike) -> FloatArray:
    """P(X > Y): per game, the chance a random run of X beats one of Y; mean over games.

    Per game this is the Mann-Whitney U statistic of X against Y divided by
    ``n_x * n_y`` (a tie counts one half), which is what rliable computes with
    ``scipy.stats.mannwhitneyu(..., alternative="greater")``.

    Args:
        scores_x: shape (..., runs_x, games).
        scores_y: shape (..., runs_y, games); same games in the same order.

    Returns:
        shape (...), in [0, 1]; 0.5 means no difference.
    """
    x = _as_scores(scores_x, "scores_x")
    y = _as_scores(scores_y, "scores_y")
    if x.shape[-1] != y.shape[-1]:
        raise ValueError(
            f"scores_x, scores_y: need the same games, got {x.shape[-1]} and {y.shape[-1]} columns"
        )
    rx, ry = x.shape[-2], y.shape[-2]
    lead = np.broadcast_shapes(x.shape[:-2], y.shape[:-2])
    both = np.concatenate(
        [np.broadcast_to(x, (*lead, *x.shape[-2:])), np.broadcast_to(y, (*lead, *y.shape[-2:]))],
        axis=-2,
    )
    # U of X = (sum of X's midranks in the pooled sample) - rx (rx + 1) / 2, which equals
    # #(x > y) + 0.5 #(x == y) over all pairs, in O(n log n) instead of O(rx ry).
    u = _midranks(both)[..., :rx, :].sum(axis=-2) - rx * (rx + 1) / 2.0
    per_game = u / (rx * ry)
    return np.asarray(per_game.mean(axis=-1))


def _midranks(values: FloatArray) -> FloatArray:
    """1-based ranks along axis -2, ties sharing the mean of their ranks (scipy's "average")."""
    v = np.moveaxis(values, -2, -1)
    order = np.argsort(v, axis=-1, kind="stable")
    ordered = np.take_along_axis(v, order, axis=-1)
    n = ordered.shape[-1]
    pos = np.broadcast_to(np.arange(n), ordered.shape)
    first = np.ones(ordered.shape, dtype=bool)
    first[..., 1:] = ordered[..., 1:] != ordered[..., :-1]
    last = np.ones(ordered.shape, dtype=bool)
    last[..., :-1] = first[..., 1:]
    # Each position's tie group runs from the latest group start to the next group end.
    start = np.maximum.accumulate(np.where(first, pos, 0), axis=-1)
    end = np.flip(np.minimum.accumulate(np.flip(np.where(last, pos, n - 1), -1), axis=-1), -1)
    ranks = np.empty(ordered.shape, dtype=np.float64)
    np.put_along_axis(ranks, order, (start + end) / 2.0 + 1.0, axis=-1)
    return np.moveaxis(ranks, -1, -2)


def score_distribution(scores: npt.ArrayLike, taus: npt.ArrayLike) -> FloatArray:
    """Performance profile: the fraction of run x game scores above each threshold.

    Args:
        scores: shape (..., runs, games).
        taus: thresholds, shape (T,).

    Returns:
        shape (..., T), non-increasing in tau.
    """
    arr = _as_scores(scores)
    t = np.asarray(taus, dtype=np.float64).reshape(-1)
    flat = np.sort(arr.reshape(*arr.shape[:-2], -1), axis=-1)
    n = flat.shape[-1]
    # count(score > tau) = n - count(score <= tau), via a sorted search per batch row.
    rows = flat.reshape(-1, n)
    above = np.stack([n - np.searchsorted(row, t, side="right") for row in rows])
    return np.asarray((above / n).reshape(*arr.shape[:-2], t.size))


#: The aggregate metrics of a score matrix, by table name (all rliable definitions).
METRICS: dict[str, Statistic] = {
    "median": aggregate_median,
    "iqm": aggregate_iqm,
    "mean": aggregate_mean,
    "optimality_gap": aggregate_optimality_gap,
}
