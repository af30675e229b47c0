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
Atari-100k per-run data (``dqn_core/results/data/rliable_atari100k_aggregates.csv``).

Array convention: a score matrix has shape ``(..., num_runs, num_games)``.
Leading axes are batch axes (bootstrap replicates, evaluation points); every
metric reduces the last two axes, so one vectorised call evaluates thousands of
bootstrap replicates. Randomness only comes from an explicit
``numpy.random.Generator`` argument; nothing here touches global random state.

The point metrics live in :mod:`.metrics`, the intervals (stratified bootstrap,
percentile and Student-t) in :mod:`.intervals`; both are re-exported here.
"""

from dqn_core.results.stats.intervals import (
    DEFAULT_POI_REPS,
    DEFAULT_REPS,
    Interval,
    interval_estimate,
    mean_confidence_interval,
    percentile_interval,
    probability_of_improvement_interval,
    stratified_bootstrap,
    stratified_bootstrap_indices,
)
from dqn_core.results.stats.metrics import (
    METRICS,
    aggregate_iqm,
    aggregate_mean,
    aggregate_median,
    aggregate_optimality_gap,
    human_normalized_score,
    probability_of_improvement,
    score_distribution,
)

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
