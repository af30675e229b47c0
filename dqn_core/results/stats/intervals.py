"""Confidence intervals: the stratified bootstrap, percentile intervals, Student-t.

The bootstrap resamples runs with replacement within each game independently
(games are never resampled), as rliable does. Randomness only comes from an
explicit ``numpy.random.Generator``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dqn_core.results.stats.metrics import (
    FloatArray,
    Statistic,
    _as_scores,
    probability_of_improvement,
)

__all__ = [
    "DEFAULT_POI_REPS",
    "DEFAULT_REPS",
    "Interval",
    "interval_estimate",
    "mean_confidence_interval",
    "percentile_interval",
    "probability_of_improvement_interval",
    "stratified_bootstrap",
    "stratified_bootstrap_indices",
]

#: rliable's default number of bootstrap replicates for aggregate intervals.
DEFAULT_REPS = 50_000
#: Replicates for probability-of-improvement intervals (rliable's examples use 2,000:
#: each replicate ranks every game's pooled runs, ~25x the cost of an IQM replicate).
DEFAULT_POI_REPS = 2_000

# Upper bound on the elements materialised per bootstrap chunk (float64: 8 bytes each),
# ~128 MiB. It only depends on the data shape, never on the machine, so the
# replicates drawn for a given generator state are the same everywhere.
_CHUNK_ELEMENTS = 1 << 24


# ---------------------------------------------------------------- bootstrap
def stratified_bootstrap_indices(
    num_runs: int, num_games: int, reps: int, rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """Run indices of ``reps`` stratified resamples: runs drawn within each game.

    Args:
        num_runs: runs per game.
        num_games: games.
        reps: replicates.
        rng: the generator to draw from.

    Returns:
        int64 array (reps, num_runs, num_games); column ``g`` of replicate ``b``
        lists the runs of game ``g`` that replicate uses.
    """
    for name, value in (("num_runs", num_runs), ("num_games", num_games), ("reps", reps)):
        if value < 1:
            raise ValueError(f"{name}: must be at least 1, got {value}")
    return rng.integers(0, num_runs, size=(reps, num_runs, num_games), dtype=np.int64)


def _resample(scores: FloatArray, idx: npt.NDArray[np.int64]) -> FloatArray:
    """Apply (B, runs, games) indices to (..., runs, games) scores: (B, ..., runs, games)."""
    games = np.arange(scores.shape[-1])
    picked = scores[..., idx, games]  # (..., B, runs, games)
    return np.moveaxis(picked, scores.ndim - 2, 0)


def _check_rng(rng: np.random.Generator) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"rng: expected a numpy.random.Generator (e.g. np.random.default_rng(0)), "
            f"got {type(rng).__name__}"
        )


def stratified_bootstrap(
    scores: npt.ArrayLike,
    statistic: Statistic,
    *,
    reps: int,
    rng: np.random.Generator,
) -> FloatArray:
    """Bootstrap replicates of ``statistic`` under stratified resampling of runs.

    Each replicate draws, for every game independently, ``num_runs`` runs with
    replacement from that game's runs (rliable's ``StratifiedBootstrap`` with
    ``task_bootstrap=False``). Leading batch axes of ``scores`` (e.g. evaluation
    points of a learning curve) share the same resampled runs.

    Args:
        scores: shape (..., runs, games).
        statistic: maps (B, ..., runs, games) to (B, ...) (any metric of this module).
        reps: number of replicates.
        rng: explicit generator; the same state gives the same replicates.

    Returns:
        array (reps, ...) of replicate statistics.
    """
    arr = _as_scores(scores)
    _check_rng(rng)
    runs, games = arr.shape[-2:]
    chunk = max(1, _CHUNK_ELEMENTS // arr.size)
    out: list[FloatArray] = []
    for start in range(0, reps, chunk):
        n = min(chunk, reps - start)
        idx = stratified_bootstrap_indices(runs, games, n, rng)
        out.append(np.asarray(statistic(_resample(arr, idx)), dtype=np.float64))
    if not out:
        raise ValueError(f"reps: must be at least 1, got {reps}")
    return np.concatenate(out, axis=0)


def percentile_interval(
    replicates: npt.ArrayLike, confidence: float = 0.95
) -> tuple[FloatArray, FloatArray]:
    """Percentile bootstrap interval of replicates along axis 0.

    Args:
        replicates: shape (reps, ...).
        confidence: coverage in (0, 1).

    Returns:
        (low, high), each of shape (...): the (1-c)/2 and (1+c)/2 quantiles
        (linear interpolation, numpy's default).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: must be in (0, 1), got {confidence}")
    arr = np.asarray(replicates, dtype=np.float64)
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(arr, [tail, 100.0 - tail], axis=0)
    return np.asarray(low), np.asarray(high)


@dataclass(frozen=True)
class Interval:
    """A point estimate with its confidence interval (arrays for batched input)."""

    point: FloatArray
    low: FloatArray
    high: FloatArray


def interval_estimate(
    scores: npt.ArrayLike,
    statistic: Statistic,
    *,
    reps: int = DEFAULT_REPS,
    rng: np.random.Generator,
    confidence: float = 0.95,
) -> Interval:
    """Point estimate and stratified-bootstrap percentile interval of a metric.

    Args:
        scores: shape (..., runs, games).
        statistic: a metric such as :func:`aggregate_iqm`.
        reps: bootstrap replicates (rliable: 50,000).
        rng: explicit generator.
        confidence: interval coverage.

    Returns:
        :class:`Interval` whose fields have shape (...).
    """
    arr = _as_scores(scores)
    point = np.asarray(statistic(arr), dtype=np.float64)
    low, high = percentile_interval(
        stratified_bootstrap(arr, statistic, reps=reps, rng=rng), confidence
    )
    return Interval(point=point, low=low, high=high)


def probability_of_improvement_interval(
    scores_x: npt.ArrayLike,
    scores_y: npt.ArrayLike,
    *,
    reps: int = DEFAULT_POI_REPS,
    rng: np.random.Generator,
    confidence: float = 0.95,
) -> Interval:
    """P(X > Y) with an interval from resampling X's and Y's runs independently per game.

    This is rliable's ``StratifiedIndependentBootstrap``: X and Y may have
    different numbers of runs.

    Args:
        scores_x: shape (runs_x, games).
        scores_y: shape (runs_y, games).
        reps: bootstrap replicates.
        rng: explicit generator.
        confidence: interval coverage.

    Returns:
        scalar :class:`Interval`.
    """
    x = _as_scores(scores_x, "scores_x")
    y = _as_scores(scores_y, "scores_y")
    _check_rng(rng)
    point = probability_of_improvement(x, y)
    (rx, games), ry = x.shape[-2:], y.shape[-2]
    chunk = max(1, _CHUNK_ELEMENTS // (8 * (rx + ry) * games))  # ranks need a few copies
    out: list[FloatArray] = []
    for start in range(0, reps, chunk):
        n = min(chunk, reps - start)
        xs = _resample(x, stratified_bootstrap_indices(rx, games, n, rng))
        ys = _resample(y, stratified_bootstrap_indices(ry, games, n, rng))
        out.append(probability_of_improvement(xs, ys))
    if not out:
        raise ValueError(f"reps: must be at least 1, got {reps}")
    low, high = percentile_interval(np.concatenate(out), confidence)
    return Interval(point=point, low=low, high=high)


def mean_confidence_interval(
    values: npt.ArrayLike, confidence: float = 0.95
) -> tuple[float, float, float, float]:
    """Mean, sample std and Student-t interval of the mean of a few values.

    Used per game over seeds (2-10 values), where a bootstrap interval would be
    far too narrow; with one value the interval is undefined (NaN).

    Args:
        values: 1-D finite values.
        confidence: coverage in (0, 1).

    Returns:
        ``(mean, std, low, high)``; ``std`` uses ``ddof=1`` (NaN for one value).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: must be in (0, 1), got {confidence}")
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size == 0 or not np.all(np.isfinite(v)):
        raise ValueError(f"values: need at least one finite value, got {v.tolist()}")
    mean = float(v.mean())
    if v.size == 1:
        return mean, float("nan"), float("nan"), float("nan")
    std = float(v.std(ddof=1))
    # Imported here: scipy.stats takes ~1 s to import, and every `dqn train` process
    # imports this package (for the human-normalised score) without needing it.
    import scipy.stats

    half = float(scipy.stats.t.ppf(0.5 + confidence / 2.0, df=v.size - 1)) * std / np.sqrt(v.size)
    return mean, std, mean - half, mean + half
