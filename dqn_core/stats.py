"""Aggregate metrics over runs and games, with stratified-bootstrap intervals.

The definitions are rliable's (Agarwal et al. 2021, "Deep Reinforcement
Learning at the Edge of the Statistical Precipice"), so numbers computed here
can stand beside the ones papers report:

- mean / median: of the per-game means over runs;
- IQM: the 25%-trimmed mean of *all* run x game scores pooled
  (``scipy.stats.trim_mean(x, 0.25, axis=None)``);
- optimality gap: ``gamma - mean(min(score, gamma))`` over all run x game scores;
- probability of improvement P(X > Y): for each game the Mann-Whitney U
  statistic of X's runs against Y's runs divided by ``n_x * n_y`` (ties count
  one half), averaged over games;
- 95% intervals: percentile intervals of a *stratified* bootstrap, which
  resamples runs with replacement within each game independently (games are
  never resampled), 50,000 replicates by default as in rliable.

rliable itself is not a dependency: version 1.2.0 fails to import with pandas
3 (through its ``arch<8`` pin), so the maths is re-implemented here in numpy
and tested against the aggregates the real rliable computed on the shipped
Atari-100k per-run data (``dqn_core/reference/rliable_atari100k_aggregates.csv``).

Array convention: a score matrix has shape ``(..., num_runs, num_games)``.
Leading axes are batch axes (bootstrap replicates, evaluation points); every
metric reduces the last two axes, so one vectorised call evaluates thousands of
bootstrap replicates. Randomness only comes from an explicit
``numpy.random.Generator`` argument; nothing here touches global random state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import scipy.stats

__all__ = [
    "DEFAULT_POI_REPS",
    "DEFAULT_REPS",
    "METRICS",
    "Interval",
    "aggregate_iqm",
    "aggregate_mean",
    "aggregate_median",
    "aggregate_optimality_gap",
    "human_normalized_score",
    "interval_estimate",
    "mean_confidence_interval",
    "percentile_interval",
    "probability_of_improvement",
    "probability_of_improvement_interval",
    "score_distribution",
    "stratified_bootstrap",
    "stratified_bootstrap_indices",
]

FloatArray = npt.NDArray[np.float64]
Statistic = Callable[[FloatArray], FloatArray]

#: rliable's default number of bootstrap replicates for aggregate intervals.
DEFAULT_REPS = 50_000
#: Replicates for probability-of-improvement intervals (rliable's examples use 2,000:
#: each replicate ranks every game's pooled runs, ~25x the cost of an IQM replicate).
DEFAULT_POI_REPS = 2_000

# Upper bound on the elements materialised per bootstrap chunk (float64: 8 bytes each),
# ~128 MiB. It only depends on the data shape, never on the machine, so the
# replicates drawn for a given generator state are the same everywhere.
_CHUNK_ELEMENTS = 1 << 24


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
    half = float(scipy.stats.t.ppf(0.5 + confidence / 2.0, df=v.size - 1)) * std / np.sqrt(v.size)
    return mean, std, mean - half, mean + half
