"""Aggregate metrics and the stratified bootstrap against hand-computed values and rliable.

rliable itself cannot be imported with pandas 3 (docs: platform facts), so the
reference for "rliable's numbers" is ``rliable_atari100k_aggregates.csv``,
computed by the real rliable 1.2.0 (50,000 resamples) on the shipped DrQ(eps)
and SPR per-run data.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dqn_core.results import reference, stats

# ------------------------------------------------------------- hand values


def test_human_normalized_score_by_hand() -> None:
    assert stats.human_normalized_score(15.0, 10.0, 20.0) == pytest.approx(0.5)
    # Pong: random -20.7, human 14.6 -> a score of 18.9 is (18.9 + 20.7) / 35.3.
    assert stats.human_normalized_score(18.9, -20.7, 14.6) == pytest.approx(39.6 / 35.3)
    out = stats.human_normalized_score([[0.0, 5.0], [10.0, 20.0]], [0.0, 0.0], [10.0, 20.0])
    np.testing.assert_allclose(out, [[0.0, 0.25], [1.0, 1.0]])
    with pytest.raises(ValueError, match="human - random must be non-zero"):
        stats.human_normalized_score(1.0, 2.0, 2.0)


def test_mean_and_median_are_over_per_game_means() -> None:
    # 2 runs x 3 games; per-game means 1.5, 3.5, 10.
    scores = np.array([[1.0, 3.0, 0.0], [2.0, 4.0, 20.0]])
    assert stats.aggregate_mean(scores) == pytest.approx((1.5 + 3.5 + 10.0) / 3)
    assert stats.aggregate_median(scores) == pytest.approx(3.5)


def test_iqm_by_hand() -> None:
    # 8 scores: int(0.25 * 8) = 2 cut at each end -> mean of 3, 4, 5, 6.
    scores = np.array([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 100.0]])
    assert stats.aggregate_iqm(scores) == pytest.approx(4.5)
    # 5 scores: int(1.25) = 1 cut at each end -> mean of the middle three.
    assert stats.aggregate_iqm([[9.0, 1.0, 5.0, 3.0, 7.0]]) == pytest.approx(5.0)
    # 3 scores: nothing is cut.
    assert stats.aggregate_iqm([[1.0], [2.0], [9.0]]) == pytest.approx(4.0)


def test_optimality_gap_by_hand() -> None:
    # min(., 1) = 0.5, 1, 0, 1 -> mean 0.625 -> gap 0.375.
    assert stats.aggregate_optimality_gap([[0.5, 1.5], [0.0, 2.0]]) == pytest.approx(0.375)
    assert stats.aggregate_optimality_gap([[0.5, 1.5]], gamma=2.0) == pytest.approx(1.0)


def test_probability_of_improvement_by_hand() -> None:
    # One game; pairs (1,2) (1,2) (3,2) (3,2): two wins of four.
    assert stats.probability_of_improvement([[1.0], [3.0]], [[2.0], [2.0]]) == pytest.approx(0.5)
    # Ties count one half: (2,2)=.5, (2,1)=1, (3,2)=1, (3,1)=1 -> 3.5 / 4.
    assert stats.probability_of_improvement([[2.0], [3.0]], [[2.0], [1.0]]) == pytest.approx(0.875)
    # Averaged over games: game 1 always better (1), game 2 always worse (0).
    x = np.array([[5.0, 0.0], [6.0, 1.0]])
    y = np.array([[1.0, 7.0], [2.0, 8.0], [3.0, 9.0]])
    assert stats.probability_of_improvement(x, y) == pytest.approx(0.5)
    assert stats.probability_of_improvement(x, x) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="same games"):
        stats.probability_of_improvement(x, y[:, :1])


def test_score_distribution_by_hand() -> None:
    scores = np.array([[0.0, 0.5], [1.0, 2.0]])
    out = stats.score_distribution(scores, [-1.0, 0.0, 0.5, 1.5, 3.0])
    np.testing.assert_allclose(out, [1.0, 0.75, 0.5, 0.25, 0.0])


def test_mean_confidence_interval_by_hand() -> None:
    mean, std, low, high = stats.mean_confidence_interval([1.0, 2.0, 3.0])
    half = 4.302652729911275 / np.sqrt(3.0)  # t_{0.975, 2} x std 1 / sqrt(3)
    assert (mean, std) == pytest.approx((2.0, 1.0))
    assert (low, high) == pytest.approx((2.0 - half, 2.0 + half))
    one = stats.mean_confidence_interval([4.0])
    assert one[0] == 4.0 and all(np.isnan(one[1:]))
    with pytest.raises(ValueError, match="confidence"):
        stats.mean_confidence_interval([1.0, 2.0], confidence=1.5)


def test_percentile_interval_by_hand() -> None:
    low, high = stats.percentile_interval(np.arange(101.0))
    assert (float(low), float(high)) == pytest.approx((2.5, 97.5))
    low, high = stats.percentile_interval(np.arange(101.0), confidence=0.5)
    assert (float(low), float(high)) == pytest.approx((25.0, 75.0))


# ---------------------------------------------------------------- bootstrap


def test_bootstrap_resamples_runs_within_each_game_only() -> None:
    # Game g holds the values 100 g + run: a resample may only reuse its own game's values.
    scores = np.arange(4)[:, None] + 100.0 * np.arange(3)[None, :]
    idx = stats.stratified_bootstrap_indices(4, 3, 500, np.random.default_rng(0))
    assert idx.shape == (500, 4, 3) and idx.min() == 0 and idx.max() == 3
    reps = stats.stratified_bootstrap(
        scores, lambda s: s.reshape(s.shape[0], -1), reps=500, rng=np.random.default_rng(0)
    ).reshape(500, 4, 3)
    for g in range(3):
        assert set(np.unique(reps[:, :, g])) <= set(scores[:, g])
        assert len(np.unique(reps[:, :, g])) == 4  # every run is drawn somewhere
    # The replicates are exactly the drawn indices applied column by column.
    np.testing.assert_array_equal(reps, np.take_along_axis(scores[None], idx, axis=1))


def test_bootstrap_is_deterministic_under_an_explicit_generator() -> None:
    scores = np.random.default_rng(3).normal(size=(5, 7))

    def run(seed: int) -> np.ndarray:
        return stats.stratified_bootstrap(
            scores, stats.aggregate_iqm, reps=300, rng=np.random.default_rng(seed)
        )

    np.testing.assert_array_equal(run(1), run(1))
    assert not np.array_equal(run(1), run(2))
    with pytest.raises(TypeError, match=r"numpy\.random\.Generator"):
        stats.stratified_bootstrap(scores, stats.aggregate_iqm, reps=3, rng=1)  # type: ignore[arg-type]


def test_bootstrap_shares_resamples_across_leading_axes() -> None:
    """Learning-curve points are resampled with the same runs (rliable's 3-D scores)."""
    base = np.random.default_rng(4).normal(size=(6, 3))
    curve = np.stack([base, 2.0 * base])  # (points, runs, games)
    reps = stats.stratified_bootstrap(
        curve, stats.aggregate_mean, reps=200, rng=np.random.default_rng(0)
    )
    assert reps.shape == (200, 2)
    np.testing.assert_allclose(reps[:, 1], 2.0 * reps[:, 0])


def test_interval_of_constant_scores_is_a_point() -> None:
    iv = stats.interval_estimate(
        np.full((3, 4), 0.7), stats.aggregate_iqm, reps=100, rng=np.random.default_rng(0)
    )
    assert float(iv.point) == float(iv.low) == float(iv.high) == pytest.approx(0.7)


def test_bad_scores_fail_loudly() -> None:
    with pytest.raises(ValueError, match="NaN or infinite"):
        stats.aggregate_iqm([[1.0, np.nan]])
    with pytest.raises(ValueError, match=r"shape \(\.\.\., num_runs, num_games\)"):
        stats.aggregate_mean([1.0, 2.0])
    with pytest.raises(ValueError, match="at least one run"):
        stats.aggregate_median(np.empty((0, 3)))
    with pytest.raises(ValueError, match="reps: must be at least 1"):
        stats.stratified_bootstrap(
            [[1.0]], stats.aggregate_mean, reps=0, rng=np.random.default_rng()
        )


# --------------------------------------------------------------- properties
_matrices = arrays(
    np.float64,
    st.tuples(st.integers(1, 6), st.integers(1, 5)),
    elements=st.floats(-5, 5, allow_nan=False).map(lambda v: round(v, 1)),  # ties happen
)


@settings(max_examples=60, deadline=None)
@given(_matrices)
def test_iqm_equals_scipy_trim_mean(scores: np.ndarray) -> None:
    expected = scipy.stats.trim_mean(scores, proportiontocut=0.25, axis=None)
    assert stats.aggregate_iqm(scores) == pytest.approx(expected, abs=1e-12)
    assert scores.min() - 1e-12 <= stats.aggregate_iqm(scores) <= scores.max() + 1e-12


@settings(max_examples=60, deadline=None)
@given(_matrices, st.integers(1, 6))
def test_probability_of_improvement_equals_mann_whitney(x: np.ndarray, ry: int) -> None:
    y = np.round(np.random.default_rng(ry).normal(size=(ry, x.shape[1])), 1)
    expected = np.mean(
        [
            scipy.stats.mannwhitneyu(x[:, g], y[:, g], alternative="greater").statistic
            / (x.shape[0] * ry)
            for g in range(x.shape[1])
        ]
    )
    assert stats.probability_of_improvement(x, y) == pytest.approx(expected, abs=1e-12)
    assert stats.probability_of_improvement(x, y) + stats.probability_of_improvement(
        y, x
    ) == pytest.approx(1.0)


# --------------------------------------------------------- against rliable
def _hns_runs(algorithm: str) -> np.ndarray:
    runs = reference.atari100k_runs(algorithm).pivot(index="run", columns="game", values="score")
    rh = reference.random_human()
    return stats.human_normalized_score(
        runs.to_numpy(), rh.loc[runs.columns, "random"], rh.loc[runs.columns, "human"]
    )


@pytest.mark.parametrize("algorithm", ["DrQ(eps)", "SPR"])
def test_matches_rliable_on_the_atari100k_per_run_data(algorithm: str) -> None:
    """Points to 1e-4 (the CSV keeps 4 decimals); interval ends within 0.003.

    The test uses 4,000 resamples instead of rliable's 50,000: over seeds 0-4,
    2,000 resamples put every interval end within 0.0016 of rliable's (10,000:
    within 0.0007), so 0.003 leaves room for Monte-Carlo noise on both sides
    while still catching a wrong definition (a pooled, non-stratified bootstrap
    moves the IQM interval ends by about 0.009, resampling games too by over 0.1).
    """
    hns = _hns_runs(algorithm)
    assert hns.shape == (100, 26)
    expected = reference.rliable_aggregates()
    expected = expected[expected["algorithm"] == algorithm].set_index("metric")
    rng = np.random.default_rng(2024)
    for metric, fn in stats.METRICS.items():
        iv = stats.interval_estimate(hns, fn, reps=4000, rng=rng)
        row = expected.loc[metric]
        assert float(iv.point) == pytest.approx(row["point"], abs=1e-4), metric
        assert float(iv.low) == pytest.approx(row["ci_low"], abs=3e-3), metric
        assert float(iv.high) == pytest.approx(row["ci_high"], abs=3e-3), metric


def test_probability_of_improvement_interval_on_published_runs() -> None:
    spr, drq = _hns_runs("SPR"), _hns_runs("DrQ(eps)")
    iv = stats.probability_of_improvement_interval(spr, drq, reps=500, rng=np.random.default_rng(0))
    assert float(iv.point) == pytest.approx(stats.probability_of_improvement(spr, drq))
    assert 0.5 < float(iv.low) <= float(iv.point) <= float(iv.high) < 0.7
    # Different run counts are allowed (independent resampling of each side).
    small = stats.probability_of_improvement_interval(
        spr[:7], drq, reps=50, rng=np.random.default_rng(0)
    )
    assert 0.0 <= float(small.low) <= float(small.high) <= 1.0
