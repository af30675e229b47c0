"""Prioritized replay: sum-tree invariants, sampling frequencies, importance weights,
priority updates, beta annealing, and equivalence with the naive reference."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_replay import (
    STEP,
    TERMINATED,
    NaiveMemory,
    Streams,
    assert_matches,
    memory_for,
    run,
    sampleable_actions,
    scenarios,
)

from dqn_core.agent.schedules import LinearSchedule
from dqn_core.replay.prioritized import PrioritizedReplayMemory, importance_weights
from dqn_core.replay.sumtree import SumTree, tree_leaves, tree_nbytes

# ---------------------------------------------------------------- sum tree
updates = st.lists(
    st.tuples(
        st.lists(st.integers(0, 10_000), min_size=1, max_size=20),
        st.one_of(st.just(0.0), st.floats(1e-3, 10.0)),
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=80, deadline=None)
@given(size=st.integers(1, 300), ops=updates)
def test_sum_tree_invariants_hold_under_random_updates(
    size: int, ops: list[tuple[list[int], float]]
) -> None:
    tree = SumTree(size)
    ref = np.zeros(size)
    for raw, value in ops:
        leaves = np.array(sorted({i % size for i in raw}))
        tree.set(leaves, value)
        ref[leaves] = value
        tree.check_invariants()
        np.testing.assert_array_equal(tree.values(), ref)
        assert tree.total() == pytest.approx(ref.sum(), rel=1e-12, abs=0)
        positive = ref[ref > 0]
        assert tree.min() == (positive.min() if positive.size else np.inf)
        if positive.size:
            # the middle of every positive leaf's interval finds that leaf
            start = np.concatenate([[0.0], np.cumsum(ref)[:-1]])
            nz = np.flatnonzero(ref)
            np.testing.assert_array_equal(tree.find(start[nz] + ref[nz] / 2), nz)
            # interval edges and the very top never land on an empty leaf
            edges = np.concatenate([start, [np.nextafter(tree.total(), 0)]])
            assert (ref[tree.find(np.clip(edges, 0, None))] > 0).all()


def test_rebuild_gives_the_same_nodes_as_incremental_updates() -> None:
    rng = np.random.default_rng(3)
    tree = SumTree(1000)
    for _ in range(50):
        leaves = rng.choice(1000, size=17, replace=False)
        tree.set(leaves, rng.random(17) * (rng.random(17) > 0.3))
    tree.total()
    sums, mins = tree.sums.copy(), tree.mins.copy()
    tree.rebuild()
    np.testing.assert_array_equal(tree.sums, sums)
    np.testing.assert_array_equal(tree.mins, mins)


def test_sum_tree_rejects_bad_input() -> None:
    tree = SumTree(10)
    with pytest.raises(IndexError, match=r"\[0, 10\)"):
        tree.set([10], 1.0)
    with pytest.raises(ValueError, match="non-negative"):
        tree.set([1], -1.0)
    with pytest.raises(ValueError, match="every leaf is zero"):
        tree.find([0.0])
    assert tree_leaves(1000) == 1024 and tree_nbytes(1000) == 2 * 2 * 1024 * 8


# ------------------------------------------------------------- the memory
def filled(
    m: int = 40, alpha: float = 0.6, eps: float = 1e-6, seed: int = 0
) -> PrioritizedReplayMemory:
    """A prioritized memory of vector observations holding ``m`` sampleable transitions."""
    s = Streams(1, 1, vector=True)
    mem = memory_for(s, m + 1, 1, 0.9, alpha=alpha, priority_eps=eps)  # 1 slot: newest frame
    assert isinstance(mem, PrioritizedReplayMemory)
    mem._rng = np.random.default_rng(seed)
    run(s, mem, [[STEP]] * (m + 10), [1.0] * (m + 10))
    assert len(mem) == m
    return mem


def test_sampling_frequencies_match_p_alpha_over_the_sum() -> None:
    """Tolerance: every frequency within 4.5 binomial standard deviations of
    p_i^alpha / sum_j p_j^alpha (stratified draws only lower the variance)."""
    mem = filled(40, alpha=0.6)
    valid = mem.valid_indices()
    td = np.random.default_rng(1).exponential(1.0, size=valid.size)
    td[:3] = [0.0, 20.0, 1e-4]
    mem.update_priorities(valid, td)
    p = (np.abs(td) + 1e-6) ** 0.6
    expected = p / p.sum()
    counts = np.zeros(mem.num_slots)
    batches, batch = 3000, 32
    for _ in range(batches):
        np.add.at(counts, mem.sample(batch, beta=0.5).indices, 1)
    draws = batches * batch
    assert (
        counts.sum() == draws and counts[np.setdiff1d(np.arange(mem.num_slots), valid)].sum() == 0
    )
    freq = counts[valid] / draws
    sd = np.sqrt(expected * (1 - expected) / draws)
    assert np.all(np.abs(freq - expected) <= 4.5 * sd + 1e-5), np.abs(freq - expected) / sd


def filled_with(
    norm: str, m: int = 30, alpha: float = 0.7, eps: float = 0.01
) -> PrioritizedReplayMemory:
    s = Streams(1, 1, vector=True)
    mem = memory_for(s, m + 1, 1, 0.9, alpha=alpha, priority_eps=eps, weight_norm=norm)
    assert isinstance(mem, PrioritizedReplayMemory)
    run(s, mem, [[STEP]] * (m + 10), [1.0] * (m + 10))
    return mem


@pytest.mark.parametrize("norm", ["batch", "memory"])
@pytest.mark.parametrize("beta", [0.0, 0.4, 1.0])
def test_importance_weights_match_the_formula(beta: float, norm: str) -> None:
    mem = filled_with(norm)
    valid = mem.valid_indices()
    td = np.linspace(0.0, 3.0, valid.size)
    mem.update_priorities(valid, td)
    batch = mem.sample(64, beta=beta)
    # w_i = (M P(i))^-beta / max_j (M P(j))^-beta, written out in full; the max
    # over the sampled batch or over all M sampleable transitions
    p_all = (td + 0.01) ** 0.7
    prob = dict(zip(valid.tolist(), p_all / p_all.sum(), strict=True))
    m = valid.size
    over = batch.indices.tolist() if norm == "batch" else prob
    max_w = max((m * prob[i]) ** -beta for i in over)
    expected = [(m * prob[i]) ** -beta / max_w for i in batch.indices.tolist()]
    np.testing.assert_allclose(batch.weight.numpy(), expected, rtol=1e-6)
    assert float(batch.weight.max()) <= 1.0
    if norm == "batch":
        assert float(batch.weight.max()) == pytest.approx(1.0)


def test_batch_normalised_weights_do_not_collapse_when_priorities_span_decades() -> None:
    """The case that stalled DER: a few transitions with near-zero priority (C51's
    KL of a well-fit transition) drag every memory-normalised weight down; the
    batch-normalised ones keep their scale."""
    means = {}
    for norm in ("batch", "memory"):
        mem = filled_with(norm, m=200, alpha=0.5, eps=1e-6)
        valid = mem.valid_indices()
        td = np.full(valid.size, 0.2)
        td[:5] = 0.0  # five transitions fit perfectly: p = eps
        mem.update_priorities(valid, td)
        means[norm] = float(mem.sample(32, beta=1.0).weight.mean())
    # memory: (0.2 / 1e-6)^(-0.5) ~ 0.0022 for the others; batch: ~1 unless a
    # near-zero one is drawn (probability ~5 * 1e-3 / 200 * 0.45 per draw)
    assert means["memory"] < 0.01 < 0.5 < means["batch"], means


def test_weight_norm_is_checked() -> None:
    with pytest.raises(ValueError, match="weight_norm"):
        filled_with("global")


def test_new_transitions_enter_at_the_running_max_priority() -> None:
    s = Streams(1, 4)
    mem = memory_for(s, 64, 1, 0.9, alpha=0.5, priority_eps=1e-6)
    assert isinstance(mem, PrioritizedReplayMemory)
    run(s, mem, [[STEP]] * 5, [0.0] * 5)
    np.testing.assert_allclose(mem.priorities(mem.valid_indices()), 1.0)  # before any update
    valid = mem.valid_indices()
    mem.update_priorities(valid, [0.1, 8.0, 0.2, 0.3, 0.0])
    mem.update_priorities(valid[:1], [2.0])  # a lower value does not lower the max
    before = set(valid.tolist())
    mem.add(*s.step([STEP], [0.0]))
    new = [i for i in mem.valid_indices().tolist() if i not in before]
    assert len(new) == 1
    assert mem.priorities(new)[0] == pytest.approx((8.0 + 1e-6) ** 0.5)
    assert mem.max_priority == pytest.approx(8.0 + 1e-6)


def test_slots_that_cannot_be_sampled_have_zero_priority() -> None:
    s = Streams(2, 4)
    mem = memory_for(s, 2 * 16, 2, 0.9, alpha=0.6, priority_eps=1e-6)
    assert isinstance(mem, PrioritizedReplayMemory)
    for t in range(60):  # wraps the ring several times, episodes of varied length
        mem.add(*s.step([STEP if t % 7 else TERMINATED, STEP if t % 3 else TERMINATED], [1, 0]))
        if len(mem):
            b = mem.sample(4)
            mem.update_priorities(b.indices, np.abs(np.sin(b.indices + t)))
        positive = np.flatnonzero(mem.tree.values() > 0)
        np.testing.assert_array_equal(positive, mem.valid_indices())
    mem.tree.check_invariants()


def test_update_priorities_checks_input_skips_stale_slots_and_keeps_the_last_repeat() -> None:
    mem = filled(20, alpha=1.0, eps=0.5)
    valid = mem.valid_indices()
    mem.update_priorities([valid[0], valid[1], valid[0]], [1.0, 2.0, 3.0])
    assert mem.priorities([valid[0], valid[1]]).tolist() == [3.5, 2.5]
    not_valid = np.setdiff1d(np.arange(mem.num_slots), valid)[0]
    mem.update_priorities([not_valid], [100.0])
    assert mem.priorities([not_valid])[0] == 0.0 and mem.max_priority == 3.5
    with pytest.raises(ValueError, match="2 indices but 1 priorities"):
        mem.update_priorities(valid[:2], [1.0])
    with pytest.raises(ValueError, match="non-finite"):
        mem.update_priorities(valid[:1], [np.nan])
    with pytest.raises(IndexError, match="slot ids"):
        mem.update_priorities([mem.num_slots], [1.0])
    with pytest.raises(ValueError, match="beta"):
        mem.sample(4, beta=1.5)


def test_beta_anneals_linearly_over_the_run() -> None:
    from dqn_core.agent.schedules import beta_schedule
    from dqn_core.config import ReplayConfig

    beta = beta_schedule(ReplayConfig(priority_beta_start=0.4, priority_beta_end=1.0), 1000)
    assert isinstance(beta, LinearSchedule)
    assert beta(0) == pytest.approx(0.4)
    assert beta(500) == pytest.approx(0.7)
    assert beta(1000) == pytest.approx(1.0)
    assert beta(5000) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="step"):
        beta(-5)


def test_importance_weights_by_hand() -> None:
    """The weight formula training runs (PrioritizedReplayMemory._weights)."""
    p = np.array([0.1, 0.2, 0.4])  # stored p^alpha; the memory's smallest is 0.1
    np.testing.assert_allclose(importance_weights(p, 0.1, 1.0), [1.0, 0.5, 0.25])
    np.testing.assert_allclose(importance_weights(p, 0.1, 0.5), [1.0, 0.5**0.5, 0.5])
    np.testing.assert_allclose(importance_weights(p, 0.1, 0.0), [1.0, 1.0, 1.0])
    # Normalised by the largest weight in the memory, not in the batch.
    np.testing.assert_allclose(importance_weights(p, 0.05, 1.0), [0.5, 0.25, 0.125])
    with pytest.raises(ValueError, match="beta"):
        importance_weights(p, 0.1, 1.5)
    with pytest.raises(ValueError, match="min_priority"):
        importance_weights(p, 0.0, 1.0)


# ------------------------------------------------------------- reference
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sc=scenarios(),
    alpha=st.sampled_from([0.0, 0.5, 1.0]),
    seed=st.integers(0, 2**16),
    norm=st.sampled_from(["batch", "memory"]),
)
def test_prioritized_samples_equal_the_naive_reference(
    sc: dict[str, Any], alpha: float, seed: int, norm: str
) -> None:
    """Obs, action, reward, discount, next_obs as in the reference, weights from the
    reference's own priority book-keeping: new entries at the running max,
    updates applied to the sampled entries."""
    eps = 0.01
    streams = Streams(sc["num_envs"], sc["stack"], sc["vector"], sc["init_style"])
    capacity = sc["slots"] * sc["num_envs"] + sc["spare"]
    mem = memory_for(
        streams, capacity, sc["n"], sc["gamma"], alpha=alpha, priority_eps=eps, weight_norm=norm
    )
    ref = NaiveMemory(sc["num_envs"], sc["slots"], streams.stack, sc["n"], sc["gamma"])
    rng = np.random.default_rng(seed)
    prio: dict[int, float] = {}  # action -> p^alpha
    max_p = 1.0
    for events, rewards, cut in sc["steps"]:
        args = streams.step(events, rewards)
        mem.add(*args)
        ref.add(*args)
        if cut == 0:
            mem.cut_streams()
            ref.cut()
            streams.reset_all()
        live = ref.sampleable()
        for a in live - set(prio):
            prio[a] = max_p**alpha
        assert sampleable_actions(mem) == live
        if not live:
            continue
        beta = float(rng.uniform(0, 1))
        batch = mem.sample(8, beta=beta)
        assert_matches(batch, ref)
        low = min(prio[a] for a in (live if norm == "memory" else batch.action.tolist()))
        expected = [(prio[a] / low) ** -beta for a in batch.action.tolist()]
        np.testing.assert_allclose(batch.weight.numpy(), expected, rtol=1e-5)
        td = rng.exponential(1.0, size=8)
        mem.update_priorities(batch.indices, td)
        last: dict[int, float] = {}
        for a, d in zip(batch.action.tolist(), td, strict=True):
            last[a] = abs(d) + eps
        for a, p in last.items():
            prio[a] = p**alpha
            max_p = max(max_p, p)


def test_alpha_zero_is_dopamines_uniform_scheme_stratified_with_unit_weights() -> None:
    """Dopamine's ``replay_scheme = 'uniform'`` (DrQ(eps)) stores priority 1 for every
    transition in its prioritized buffer and samples the sum tree stratified; here that is
    ``replay.prioritized: true`` with ``priority_alpha: 0``: whatever the TD errors, every
    transition keeps ``p^0 = 1``, each batch takes one transition from each of its B equal
    segments (in slot order), and every importance weight is 1."""
    mem = filled(64, alpha=0.0)
    valid = np.sort(mem.valid_indices())
    mem.update_priorities(valid, np.random.default_rng(2).exponential(5.0, size=valid.size))
    np.testing.assert_array_equal(mem.priorities(valid), 1.0)
    for _ in range(50):
        batch = mem.sample(32, beta=0.4)
        np.testing.assert_array_equal(batch.weight, 1.0)
        rank = np.searchsorted(valid, np.sort(batch.indices))
        np.testing.assert_array_equal(rank // 2, np.arange(32))  # 64 slots, 2 a segment
