"""Replay memory: equivalence with a naive stacked-transition memory, n-step maths,
episode boundaries, validity near the write cursor, resume, memory check.

The reference (`NaiveMemory`) keeps whole stacked (obs, next_obs) pairs per
transition, exactly as the loop hands them over, and computes n-step returns
by walking forward through them; the frame-deduplicated memory must give the
same values for the same transition. Transitions are identified by their
action, which the simulated streams make unique.
"""

from __future__ import annotations

import dataclasses
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dqn_core.config import ConfigError, RunConfig, from_dict
from dqn_core.replay import (
    STATE_FORMAT,
    Batch,
    ReplayMemory,
    ReplayMemoryError,
    available_memory_bytes,
    make_replay,
)
from dqn_core.replay.prioritized import PrioritizedReplayMemory

# ---------------------------------------------------------------- streams
STEP, LIFE_LOSS, TERMINATED, TRUNCATED = range(4)


@dataclass
class Streams:
    """N environments producing frame stacks whose every new frame is unique.

    ``frame_shape`` (2, 2) uint8 frames encode a 32-bit frame id; with
    ``vector=True`` the observation is a float32 vector (stack 1), CartPole-like.
    """

    num_envs: int
    stack: int
    vector: bool = False
    init_style: int = 0  # 0: distinct frames, 1: reset frame repeated, 2: zero padding
    next_id: int = 1
    next_action: int = 0
    obs: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.obs = np.stack([self._initial() for _ in range(self.num_envs)])

    @property
    def obs_shape(self) -> tuple[int, ...]:
        return (3,) if self.vector else (self.stack, 2, 2)

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.dtype(np.float32 if self.vector else np.uint8)

    def _frame(self) -> np.ndarray:
        fid = self.next_id
        self.next_id += 1
        if self.vector:
            return np.array([fid, -fid, 0.25 * fid], dtype=np.float32)
        return np.frombuffer(fid.to_bytes(4, "little"), dtype=np.uint8).reshape(2, 2).copy()

    def _initial(self) -> np.ndarray:
        if self.vector:
            return self._frame()
        newest = self._frame()
        if self.init_style == 0:
            older = [self._frame() for _ in range(self.stack - 1)]
        elif self.init_style == 1:
            older = [newest] * (self.stack - 1)
        else:
            older = [np.zeros_like(newest)] * (self.stack - 1)
        return np.stack([*older, newest])

    def step(self, events: list[int], rewards: list[float]) -> tuple[np.ndarray, ...]:
        """One vector step; returns the arguments of ``add`` and advances ``obs``."""
        obs = self.obs.copy()
        nxt = np.empty_like(obs)
        for e in range(self.num_envs):
            f = self._frame()
            nxt[e] = f if self.vector else np.concatenate([obs[e, 1:], f[None]])
        action = np.arange(self.next_action, self.next_action + self.num_envs, dtype=np.int64)
        self.next_action += self.num_envs
        ev = np.asarray(events)
        terminal = (ev == LIFE_LOSS) | (ev == TERMINATED)
        end = (ev == TERMINATED) | (ev == TRUNCATED)
        self.obs = nxt.copy()
        for e in np.flatnonzero(end):
            self.obs[e] = self._initial()
        return obs, action, np.asarray(rewards, np.float32), terminal, end, nxt

    def reset_all(self) -> None:
        """Fresh episodes in every env without an episode end (as after a resume)."""
        self.obs = np.stack([self._initial() for _ in range(self.num_envs)])


# -------------------------------------------------------------- reference
@dataclass
class RefTransition:
    obs: np.ndarray
    action: int
    reward: float
    terminal: bool
    end: bool
    next_obs: np.ndarray
    slot: int  # position of its slot in the env's stream (documented layout)


class NaiveMemory:
    """Stores whole stacked transitions; n-step by walking forward; no frame sharing."""

    def __init__(self, num_envs: int, slots: int, stack: int, n: int, gamma: float) -> None:
        self.slots, self.stack, self.n, self.gamma = slots, stack, n, gamma
        self.envs: list[list[RefTransition]] = [[] for _ in range(num_envs)]
        self.written = [0] * num_envs
        self.open = [False] * num_envs
        self.where: dict[int, tuple[int, int]] = {}  # action -> (env, index)

    def add(self, obs, action, reward, terminal, end, next_obs):
        for e in range(len(self.envs)):
            if not self.open[e]:
                self.written[e] += self.stack  # the initial stack
                self.open[e] = True
            slot = self.written[e] - 1
            self.written[e] += 1  # the newest frame of next_obs
            lst = self.envs[e]
            self.where[int(action[e])] = (e, len(lst))
            lst.append(
                RefTransition(
                    obs[e].copy(),
                    int(action[e]),
                    float(reward[e]),
                    bool(terminal[e]),
                    bool(end[e]),
                    next_obs[e].copy(),
                    slot,
                )
            )
            if end[e]:
                self.open[e] = False

    def cut(self) -> None:
        """What ``cut_streams`` means: the open episodes were truncated at their last step."""
        for e, lst in enumerate(self.envs):
            if self.open[e]:
                lst[-1].end = True
                self.open[e] = False

    def expected(self, action: int) -> tuple[np.ndarray, float, float, np.ndarray] | None:
        """(obs, n-step reward, discount, next_obs) or None while the window is open."""
        e, i = self.where[action]
        lst = self.envs[e]
        ret = 0.0
        for m in range(self.n):
            if i + m >= len(lst):
                return None
            tr = lst[i + m]
            ret += self.gamma**m * tr.reward
            if tr.terminal:
                return lst[i].obs, ret, 0.0, tr.next_obs
            if tr.end or m == self.n - 1:
                return lst[i].obs, ret, self.gamma ** (m + 1), tr.next_obs
        raise AssertionError("unreachable")

    def sampleable(self) -> set[int]:
        """Complete transitions whose oldest frame the write cursor has not overwritten."""
        out = set()
        for e, lst in enumerate(self.envs):
            oldest_kept = self.written[e] - self.slots
            for tr in lst:
                if tr.slot - (self.stack - 1) >= oldest_kept and self.expected(tr.action):
                    out.add(tr.action)
        return out


# ---------------------------------------------------------------- helpers
def memory_for(streams: Streams, capacity: int, n: int, gamma: float, **kw: Any) -> ReplayMemory:
    cls = PrioritizedReplayMemory if "alpha" in kw else ReplayMemory
    return cls(
        capacity,
        streams.obs_shape,
        streams.dtype,
        streams.num_envs,
        frame_stack=1 if streams.vector else streams.stack,
        n_step=n,
        gamma=gamma,
        rng=np.random.default_rng(7),
        **kw,
    )


def assert_matches(batch: Batch, ref: NaiveMemory) -> None:
    """Every row of ``batch`` equals the reference's view of the same transition."""
    for row in range(len(batch.indices)):
        action = int(batch.action[row])
        exp = ref.expected(action)
        assert exp is not None, f"transition {action} sampled before its window completed"
        obs, ret, discount, next_obs = exp
        np.testing.assert_array_equal(batch.obs[row].numpy(), obs, err_msg=f"obs of {action}")
        np.testing.assert_array_equal(
            batch.next_obs[row].numpy(), next_obs, err_msg=f"next {action}"
        )
        assert float(batch.reward[row]) == pytest.approx(ret, rel=1e-5, abs=1e-5), action
        assert float(batch.discount[row]) == pytest.approx(discount, rel=1e-6, abs=1e-7), action


def sampleable_actions(mem: ReplayMemory) -> set[int]:
    idx = mem.valid_indices()
    return set(mem.gather(idx).action.tolist()) if idx.size else set()


def check_against_reference(mem: ReplayMemory, ref: NaiveMemory, full: bool) -> None:
    expected = ref.sampleable()
    assert sampleable_actions(mem) == expected
    assert len(mem) == len(expected)
    if full and len(mem):
        assert_matches(mem.gather(mem.valid_indices()), ref)
        batch = mem.sample(16)
        assert_matches(batch, ref)
        assert torch.equal(batch.weight, torch.ones(16))


# ---------------------------------------------------------- property test
@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    num_envs = draw(st.integers(1, 3))
    vector = draw(st.booleans()) and draw(st.booleans())
    stack = 1 if vector else draw(st.sampled_from([1, 2, 4]))
    n = draw(st.integers(1, 4))
    slots = draw(st.integers(stack + n + 1, stack + n + 25))
    event = st.sampled_from([STEP, STEP, STEP, STEP, LIFE_LOSS, TERMINATED, TRUNCATED])
    steps = draw(
        st.lists(
            st.tuples(
                st.lists(event, min_size=num_envs, max_size=num_envs),
                st.lists(
                    st.sampled_from([-1.0, 0.0, 0.5, 1.0, 3.0]),
                    min_size=num_envs,
                    max_size=num_envs,
                ),
                st.integers(0, 24),  # 0: cut every stream after this step (resume)
            ),
            min_size=10,
            max_size=80,
        )
    )
    return {
        "num_envs": num_envs,
        "vector": vector,
        "stack": stack,
        "n": n,
        "gamma": draw(st.sampled_from([0.0, 0.5, 0.9, 1.0])),
        "slots": slots,
        "spare": draw(st.integers(0, num_envs - 1)),  # capacity % num_envs (unused)
        "init_style": draw(st.integers(0, 2)),
        "steps": steps,
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_every_sample_equals_the_naive_reference(sc: dict[str, Any]) -> None:
    streams = Streams(sc["num_envs"], sc["stack"], sc["vector"], sc["init_style"])
    capacity = sc["slots"] * sc["num_envs"] + sc["spare"]
    mem = memory_for(streams, capacity, sc["n"], sc["gamma"])
    assert mem.slots_per_env == sc["slots"]
    ref = NaiveMemory(sc["num_envs"], sc["slots"], streams.stack, sc["n"], sc["gamma"])
    for t, (events, rewards, cut) in enumerate(sc["steps"]):
        args = streams.step(events, rewards)
        mem.add(*args)
        ref.add(*args)
        if cut == 0:
            mem.cut_streams()
            ref.cut()
            streams.reset_all()
        check_against_reference(mem, ref, full=t % 10 == 9 or t == len(sc["steps"]) - 1)


# ------------------------------------------------------- hand-built cases
def run(
    streams: Streams, mem: ReplayMemory, events: list[list[int]], rewards: list[float]
) -> NaiveMemory:
    ref = NaiveMemory(streams.num_envs, mem.slots_per_env, mem.frame_stack, mem.n_step, mem.gamma)
    for ev, r in zip(events, rewards, strict=True):
        args = streams.step(ev, [r] * streams.num_envs)
        mem.add(*args)
        ref.add(*args)
    return ref


def by_action(mem: ReplayMemory) -> dict[int, dict[str, Any]]:
    b = mem.gather(mem.valid_indices())
    return {
        int(a): {
            "reward": float(b.reward[i]),
            "discount": float(b.discount[i]),
            "obs": b.obs[i].numpy(),
            "next_obs": b.next_obs[i].numpy(),
        }
        for i, a in enumerate(b.action.tolist())
    }


def test_n_step_returns_equal_hand_computed_values() -> None:
    # n=3, gamma=0.5; rewards 1, 2, 4, 8, 16; step 2 (0-based) is a life loss
    # (terminal, the game goes on), step 4 a truncation.
    s = Streams(1, 4)
    mem = memory_for(s, 64, 3, 0.5)
    ev = [[STEP], [STEP], [LIFE_LOSS], [STEP], [TRUNCATED]]
    run(s, mem, ev, [1, 2, 4, 8, 16])
    got = by_action(mem)
    assert got[0]["reward"] == pytest.approx(1 + 0.5 * 2 + 0.25 * 4)
    assert got[0]["discount"] == 0.0  # cut by the life loss at step 2
    assert got[1]["reward"] == pytest.approx(2 + 0.5 * 4)
    assert got[1]["discount"] == 0.0
    assert got[2]["reward"] == pytest.approx(4.0) and got[2]["discount"] == 0.0
    # After the life loss: truncated within n steps, bootstrap with gamma^k.
    assert got[3]["reward"] == pytest.approx(8 + 0.5 * 16)
    assert got[3]["discount"] == pytest.approx(0.25)
    assert got[4]["reward"] == pytest.approx(16.0) and got[4]["discount"] == pytest.approx(0.5)


def test_full_window_discount_is_gamma_to_the_n_and_next_obs_is_n_steps_later() -> None:
    s = Streams(1, 4)
    mem = memory_for(s, 64, 3, 0.9)
    ref = run(s, mem, [[STEP]] * 6, [1.0] * 6)
    got = by_action(mem)
    assert sorted(got) == [0, 1, 2, 3]  # steps 4 and 5 still wait for their 3rd step
    assert got[0]["reward"] == pytest.approx(1 + 0.9 + 0.81)
    assert got[0]["discount"] == pytest.approx(0.9**3)
    np.testing.assert_array_equal(got[0]["next_obs"], ref.envs[0][2].next_obs)
    np.testing.assert_array_equal(got[1]["obs"], ref.envs[0][0].next_obs)


def test_stacks_at_episode_start_are_what_the_env_showed() -> None:
    for style in (0, 1, 2):  # distinct frames, reset frame repeated, zero padding
        s = Streams(1, 4, init_style=style)
        first = s.obs[0].copy()
        mem = memory_for(s, 64, 1, 0.99)
        ref = run(s, mem, [[STEP], [TERMINATED], [STEP], [STEP]], [0.0] * 4)
        got = by_action(mem)
        np.testing.assert_array_equal(got[0]["obs"], first)
        # the second episode starts from the env's reset stack, not from a stack
        # continued from the previous episode's frames
        np.testing.assert_array_equal(got[2]["obs"], ref.envs[0][2].obs)
        assert not np.array_equal(got[2]["obs"][:3], got[1]["next_obs"][1:])


def test_truncated_transition_bootstraps_from_its_real_final_observation() -> None:
    s = Streams(2, 4)
    mem = memory_for(s, 64, 1, 0.99)
    ref = run(s, mem, [[STEP, STEP], [TRUNCATED, TERMINATED], [STEP, STEP]], [1.0] * 3)
    got = by_action(mem)
    # env 0 truncated at its step 1 (action 2): bootstrap from the final frame.
    np.testing.assert_array_equal(got[2]["next_obs"], ref.envs[0][1].next_obs)
    assert got[2]["discount"] == pytest.approx(0.99)
    # env 1 terminated (action 3): no bootstrap.
    assert got[3]["discount"] == 0.0
    # the final frame is kept beside the next episode's first stack
    assert not np.array_equal(got[2]["next_obs"][-1], ref.envs[0][2].obs[-1])


def test_life_loss_is_terminal_but_the_stack_goes_on() -> None:
    s = Streams(1, 4)
    mem = memory_for(s, 64, 1, 0.99)
    ref = run(s, mem, [[STEP], [LIFE_LOSS], [STEP], [STEP]], [0.0, -1.0, 0.0, 0.0])
    got = by_action(mem)
    assert got[1]["discount"] == 0.0 and got[1]["reward"] == -1.0
    # the transition after the loss starts from the stack the env showed, which
    # holds frames from before the loss
    np.testing.assert_array_equal(got[2]["obs"], ref.envs[0][1].next_obs)
    np.testing.assert_array_equal(got[2]["obs"][:3], ref.envs[0][1].obs[1:])
    assert got[2]["discount"] == pytest.approx(0.99)


def test_open_windows_near_the_cursor_are_not_sampled_and_the_ring_forgets_in_order() -> None:
    s = Streams(1, 2)
    mem = memory_for(s, 10, 2, 0.9)  # 10 slots: stack 2 + steps
    for t in range(30):
        mem.add(*s.step([STEP], [1.0]))
        got = sorted(by_action(mem)) if len(mem) else []
        newest_complete = t - 1  # transition t-1's 2-step window ended at step t
        assert got[-1:] == [newest_complete][: len(got)]
        # 10 slots: a transition needs the frame before it (stack 2) and the
        # frames up to 2 steps ahead, so 10 - 1 - 2 = 7 stay sampleable once
        # the ring wrapped: the newest 7 complete ones, in order
        assert got == list(range(max(0, t - 7), newest_complete + 1))


def test_cut_streams_completes_open_windows_and_restarts_the_streams() -> None:
    s = Streams(1, 4)
    mem = memory_for(s, 64, 3, 0.5)
    run(s, mem, [[STEP]] * 4, [1.0] * 4)
    assert sorted(by_action(mem)) == [0, 1]
    s.reset_all()
    with pytest.raises(ValueError, match="does not continue the stream"):
        mem.add(*s.step([STEP], [1.0]))
    mem.cut_streams()
    got = by_action(mem)
    assert sorted(got) == [0, 1, 2, 3]
    assert got[3]["reward"] == pytest.approx(1.0) and got[3]["discount"] == pytest.approx(0.5)
    assert got[2]["reward"] == pytest.approx(1.5) and got[2]["discount"] == pytest.approx(0.25)
    s.reset_all()
    mem.add(*s.step([STEP], [1.0]))  # a new stream: accepted


def test_vector_envs_each_get_an_equal_share_of_the_ring() -> None:
    s = Streams(3, 4)
    mem = memory_for(s, 3 * 20 + 2, 1, 0.9)
    assert mem.slots_per_env == 20 and mem.num_slots == 60
    run(s, mem, [[STEP, TERMINATED, STEP]] * 50, [1.0] * 50)
    per_env = np.bincount(mem.valid_indices() // 20, minlength=3)
    # envs 0 and 2 (one long episode): 20 slots less 3 history frames of the
    # oldest stack and the newest frame, which only serves as a next_obs: 16.
    # env 1 spends 3 history + 1 transition + 1 final slot per 1-step episode:
    # 20 // 5 = 4 episodes kept.
    assert per_env.tolist() == [16, 4, 16]


# -------------------------------------------------------------- batches
def test_batch_dtypes_and_shapes() -> None:
    s = Streams(2, 4)
    mem = memory_for(s, 64, 2, 0.99)
    run(s, mem, [[STEP, STEP]] * 10, [1.0] * 10)
    b = mem.sample(8)
    assert b.obs.shape == b.next_obs.shape == (8, 4, 2, 2)
    assert b.obs.dtype == torch.uint8 and b.next_obs.dtype == torch.uint8
    assert b.action.dtype == torch.int64
    assert b.reward.dtype == b.discount.dtype == b.weight.dtype == torch.float32
    assert b.indices.dtype == np.int64 and b.indices.shape == (8,)
    v = Streams(1, 1, vector=True)
    vmem = memory_for(v, 32, 1, 0.99)
    run(v, vmem, [[STEP]] * 5, [1.0] * 5)
    vb = vmem.sample(4)
    assert vb.obs.shape == (4, 3) and vb.obs.dtype == torch.float32


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_batches_land_on_the_cuda_device() -> None:  # pragma: no cover - GPU only
    s = Streams(1, 4)
    mem = ReplayMemory(
        64, s.obs_shape, s.dtype, 1, frame_stack=4, n_step=1, gamma=0.9,
        rng=np.random.default_rng(0), device="cuda",
    )  # fmt: skip
    ref = run(s, mem, [[STEP]] * 10, [1.0] * 10)
    b = mem.sample(8)
    assert b.obs.is_cuda and b.reward.is_cuda and b.action.is_cuda and b.weight.is_cuda
    on_cpu = {f.name: getattr(b, f.name) for f in dataclasses.fields(Batch)}
    on_cpu = {k: v.cpu() if isinstance(v, torch.Tensor) else v for k, v in on_cpu.items()}
    assert_matches(Batch(**on_cpu), ref)


def test_same_seed_same_samples() -> None:
    draws = []
    for _ in range(2):
        s = Streams(2, 4)
        mem = memory_for(s, 64, 2, 0.99)
        run(s, mem, [[STEP, TRUNCATED]] * 20, [1.0] * 20)
        draws.append([mem.sample(8).indices.tolist() for _ in range(5)])
    assert draws[0] == draws[1]


def test_sampling_is_uniform_over_sampleable_transitions() -> None:
    s = Streams(2, 2)
    mem = memory_for(s, 2 * 30, 1, 0.99)
    run(s, mem, [[STEP, TERMINATED]] * 40, [1.0] * 40)
    valid = mem.valid_indices()
    counts = np.zeros(mem.num_slots)
    for _ in range(1500):
        np.add.at(counts, mem.sample(32).indices, 1)
    assert set(np.flatnonzero(counts)) == set(valid.tolist())
    expected = counts.sum() / len(valid)
    # 48,000 draws over ~37 slots: binomial sd ~ 36; 5 sd tolerance
    assert np.abs(counts[valid] - expected).max() < 5 * np.sqrt(expected)


# ------------------------------------------------------------ validation
def test_add_rejects_wrong_shapes_dtypes_and_values() -> None:
    s = Streams(2, 4)
    mem = memory_for(s, 64, 1, 0.99)
    obs, action, reward, term, end, nxt = s.step([STEP, STEP], [0.0, 0.0])
    with pytest.raises(ValueError, match=r"obs: shape \(1, 4, 2, 2\)"):
        mem.add(obs[:1], action, reward, term, end, nxt)
    with pytest.raises(ValueError, match="next_obs: dtype float32, expected uint8"):
        mem.add(obs, action, reward, term, end, nxt.astype(np.float32))
    with pytest.raises(ValueError, match="terminal: dtype float64, expected bool"):
        mem.add(obs, action, reward, term.astype(float), end, nxt)
    with pytest.raises(ValueError, match="action: expected integers"):
        mem.add(obs, -action - 1, reward, term, end, nxt)
    with pytest.raises(ValueError, match="reward: expected finite"):
        mem.add(obs, action, np.array([np.nan, 0], np.float32), term, end, nxt)
    assert len(mem) == 0 and sum(mem._written) == 0  # nothing was stored
    with pytest.raises(ValueError, match="no transition can be sampled yet"):
        mem.sample(4)
    with pytest.raises(TypeError, match="samples uniformly"):
        mem.update_priorities(np.array([0]), np.array([1.0]))


def test_constructor_rejects_bad_layouts() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError, match="too small for 2 envs"):
        ReplayMemory(12, (4, 2, 2), np.uint8, 2, frame_stack=4, n_step=3, gamma=0.9, rng=rng)
    with pytest.raises(ValueError, match="does not start with frame_stack=4"):
        ReplayMemory(64, (3, 2, 2), np.uint8, 1, frame_stack=4, n_step=1, gamma=0.9, rng=rng)
    with pytest.raises(ValueError, match="gamma"):
        ReplayMemory(64, (4,), np.float32, 1, frame_stack=1, n_step=1, gamma=1.5, rng=rng)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            ReplayMemory(
                64, (4,), np.float32, 1, frame_stack=1, n_step=1, gamma=0.9, rng=rng, device="cuda"
            )


# ------------------------------------------------------------ make_replay
def cfg(**replay: Any) -> RunConfig:
    return from_dict({"replay": {"capacity": 1000, **replay}, "train": {"batch_size": 32}})


def test_make_replay_follows_the_config() -> None:
    rng = np.random.default_rng(0)
    mem = make_replay(cfg(n_step=3), (4, 84, 84), np.uint8, 2, rng, "cpu")
    assert type(mem) is ReplayMemory
    assert (mem.frame_stack, mem.n_step, mem.slots_per_env) == (4, 3, 500)
    assert mem.gamma == RunConfig().agent.gamma
    per = make_replay(
        cfg(prioritized=True, priority_alpha=0.5), (4, 84, 84), np.uint8, 1, rng, "cpu"
    )
    assert isinstance(per, PrioritizedReplayMemory) and per.alpha == 0.5
    cart = from_dict(
        {
            "env": {"game": "CartPole-v1", "protocol": "classic"},
            "agent": {"network": "mlp"},
            "replay": {"capacity": 100},
        }
    )
    vec = make_replay(cart, (4,), np.float32, 1, rng, torch.device("cpu"))
    assert vec.frame_stack == 1 and vec.frame_shape == (4,)
    with pytest.raises(ConfigError, match=r"env\.frame_stack: 4"):
        make_replay(cfg(), (3, 84, 84), np.uint8, 1, rng, "cpu")


def test_atari_memory_costs_under_7200_bytes_a_transition() -> None:
    rng = np.random.default_rng(0)
    for prioritized in (False, True):
        mem = make_replay(
            cfg(capacity=100_000, prioritized=prioritized), (4, 84, 84), np.uint8, 1, rng, "cpu"
        )
        assert 84 * 84 < mem.nbytes / mem.capacity < 7200
        assert mem.nbytes == sum(a.nbytes for a in mem._arrays.values())


def test_capacity_beyond_available_memory_fails_before_allocating() -> None:
    avail = available_memory_bytes()
    assert avail is None or avail > 0
    if avail is None:
        pytest.skip("no /proc/meminfo on this system")
    capacity = int(avail / 7000 * 4)  # about four times what fits
    with pytest.raises(ReplayMemoryError) as info:
        make_replay(
            cfg(capacity=capacity), (4, 84, 84), np.uint8, 1, np.random.default_rng(0), "cpu"
        )
    msg = str(info.value)
    assert f"replay.capacity={capacity} needs" in msg and "GiB available" in msg
    assert "transitions fit" in msg
    fits = int(msg.split("at most ~")[1].split()[0])
    assert 0 < fits < capacity / 3
    assert isinstance(info.value, MemoryError) and isinstance(info.value, ConfigError)


# ------------------------------------------------------------------ state
def assert_safe_types(obj: Any, path: str = "state") -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert isinstance(k, str), path
            assert_safe_types(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            assert_safe_types(v, f"{path}[{i}]")
    else:
        assert isinstance(obj, torch.Tensor | int | float | str | bool | type(None)), path


def round_trip(state: dict[str, Any]) -> dict[str, Any]:
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    loaded: dict[str, Any] = torch.load(buf, weights_only=True)
    return loaded


@pytest.mark.parametrize("kind", ["uniform", "prioritized"])
def test_save_load_round_trip_is_exact_sampling_included(kind: str) -> None:
    kw: dict[str, Any] = {"alpha": 0.6, "priority_eps": 1e-3} if kind == "prioritized" else {}
    s = Streams(2, 4)
    mem = memory_for(s, 2 * 40, 3, 0.9, **kw)
    events = [[STEP, STEP], [LIFE_LOSS, STEP], [STEP, TRUNCATED], [TERMINATED, STEP]] * 15
    run(s, mem, events, [1.0] * len(events))
    for _ in range(3):  # move the RNG and the priorities away from their start
        b = mem.sample(8, beta=0.5)
        if kind == "prioritized":
            mem.update_priorities(b.indices, np.linspace(0.0, 2.0, 8))
    state = mem.state_dict()
    assert state["format"] == STATE_FORMAT and state["kind"] == kind
    assert_safe_types(state)
    assert state["arrays"]["frames"].data_ptr() == mem._frames.ctypes.data  # no copy
    restored = memory_for(s, 2 * 40, 3, 0.9, **kw)
    restored._rng = np.random.default_rng(12345)  # loading must restore the stream
    restored.load_state_dict(round_trip(state))
    for name, arr in mem._arrays.items():
        np.testing.assert_array_equal(restored._arrays[name], arr, err_msg=name)
    # both continue identically: sampling, priority updates, more adds
    for t in range(12):
        a, b = mem.sample(8, beta=0.7), restored.sample(8, beta=0.7)
        np.testing.assert_array_equal(a.indices, b.indices)
        for f in ("obs", "next_obs", "reward", "discount", "weight", "action"):
            assert torch.equal(getattr(a, f), getattr(b, f)), f
        if kind == "prioritized":
            mem.update_priorities(a.indices, np.full(8, t + 0.5))
            restored.update_priorities(b.indices, np.full(8, t + 0.5))
        args = s.step([STEP, TERMINATED if t % 5 == 4 else STEP], [0.5, 0.5])
        mem.add(*args)
        restored.add(*args)
    assert len(mem) == len(restored)


def test_load_refuses_a_state_of_another_layout() -> None:
    s = Streams(1, 4)
    mem = memory_for(s, 64, 3, 0.9)
    other = memory_for(s, 80, 2, 0.9)
    with pytest.raises(ValueError, match=r"capacity: saved 80, this memory 64; n_step: saved 2"):
        mem.load_state_dict(other.state_dict())
    per = memory_for(s, 64, 3, 0.9, alpha=0.5, priority_eps=1e-6)
    with pytest.raises(ValueError, match="kind: saved 'prioritized'"):
        mem.load_state_dict(per.state_dict())


# ------------------------------------------------------------- real ROMs
@pytest.mark.integration
@pytest.mark.parametrize(
    ("backend", "num_envs", "protocol", "stack_reset"),
    [
        ("python", 1, "nature2015", None),
        ("native", 2, "nature2015", None),
        ("python", 2, "machado2018", None),
        ("python", 2, "nature2015", True),
    ],
)
def test_real_atari_stream_matches_the_naive_reference(
    backend: str, num_envs: int, protocol: str, stack_reset: bool | None
) -> None:
    """The project's envs (real Breakout ROM) fed exactly as the training loop does:
    their stacks shift as the memory assumes across life losses, truncations and
    resets (and restart at a lost life with ``stack_reset_on_life_loss``), and every
    transition equals the naive reference's, i.e. the stack the agent acted on."""
    from dqn_core.envs import clip_reward, make_vec_env

    config = from_dict(
        {
            "env": {
                "game": "Breakout",
                "backend": backend,
                "num_envs": num_envs,
                "protocol": protocol,
                "max_episode_frames": 400,  # 100 agent steps: truncations come quickly
                "stack_reset_on_life_loss": stack_reset,
            },
            "replay": {"capacity": 600, "n_step": 3},
            "train": {"batch_size": 32},
        }
    )
    env = make_vec_env(config, num_envs, 0)
    mem = make_replay(
        config, env.obs_shape, env.obs_dtype, num_envs, np.random.default_rng(0), "cpu"
    )
    ref = NaiveMemory(num_envs, mem.slots_per_env, mem.frame_stack, 3, config.agent.gamma)
    rng = np.random.default_rng(0)
    ends = life_losses = 0
    try:
        obs = env.reset()
        for t in range(400):
            out = env.step(rng.integers(0, env.num_actions, size=num_envs))
            end = out.terminated | out.truncated
            terminal = env.learning_terminal(out)  # what training stores
            ids = np.arange(t * num_envs, (t + 1) * num_envs)  # unique ids stand in for actions
            restart = env.stream_break(out)
            assert np.array_equal(restart, end | out.life_lost if stack_reset else end)
            args = (obs, ids, clip_reward(out.reward), terminal, restart, out.next_obs)
            mem.add(*args)
            ref.add(*args)
            obs = out.obs
            ends += int(end.sum())
            life_losses += int((out.life_lost & ~end).sum())
            for e in np.flatnonzero(out.life_lost & ~end):
                # Acting sees the reset stack (zeros before the newest) only with the option.
                assert (out.obs[e, :-1] == 0).all() == bool(stack_reset), e
            if t % 100 == 99:
                check_against_reference(mem, ref, full=True)
    finally:
        env.close()
    assert ends >= 3 and life_losses >= 3  # the stream really crossed boundaries


def test_n_step_returns_discount_and_stop_at_the_first_terminal() -> None:
    """The n-step maths training runs (ReplayMemory._batch), by hand."""
    from dqn_core.replay import n_step_returns

    gamma = 0.5
    powers = gamma ** np.arange(4, dtype=np.float64)
    rewards = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 9.0], [1.0, 2.0, 4.0], [0.0, 0.0, 8.0]])
    lengths = np.array([3, 2, 1, 3])
    terminal = np.array([False, True, True, True])
    returns, discounts = n_step_returns(rewards, lengths, terminal, powers)
    # Row 0: 1 + 0.5 + 0.25, bootstrap gamma^3. Row 1: the window ends after 2 steps in a
    # terminal: 1 + 0.5, the 9 belongs to the next episode. Row 2: terminal at once.
    # Row 3: the terminal step's own reward counts: 0.25 * 8.
    np.testing.assert_allclose(returns, [1.75, 1.5, 1.0, 2.0])
    np.testing.assert_allclose(discounts, [0.125, 0.0, 0.0, 0.0])
    # A window cut by a truncation (not terminal) still bootstraps with gamma^k.
    returns, discounts = n_step_returns(rewards[:1], np.array([2]), np.array([False]), powers)
    np.testing.assert_allclose((returns, discounts), ([1.5], [0.25]))
