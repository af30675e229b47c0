"""The learner: acting, one update step by hand, optimizers, target sync, state, determinism,
and convergence to Q* on a small chain MDP."""

from __future__ import annotations

import copy
import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import torch

from dqn_core.agent.learner import Learner
from dqn_core.agent.optim import DQNRMSprop
from dqn_core.agent.policy import epsilon_greedy, exploration_draws
from dqn_core.config import RunConfig, from_dict
from dqn_core.replay import Batch, n_step_returns
from dqn_core.seeding import Seeds

OBS = (5,)


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny networks: one thread is faster, and immune to a busy machine's other jobs."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def config(seed: int = 0, replay: dict[str, Any] | None = None, **agent: Any) -> RunConfig:
    base = {
        "network": "mlp",
        "mlp_hidden": [16, 16],
        "optimizer": "adam",
        "learning_rate": 1e-3,
        "optimizer_eps": 1e-8,
    }
    return from_dict(
        {
            "seed": seed,
            "env": {"game": "CartPole-v1", "protocol": "classic", "frame_stack": 1},
            "agent": {**base, **agent},
            "replay": replay or {},
            "train": {"deterministic": True},
        }
    )


def learner(cfg: RunConfig, num_actions: int = 3) -> Learner:
    return Learner(cfg, OBS, num_actions, "cpu", Seeds(cfg.seed))


def random_batch(rng: np.random.Generator, size: int = 8, num_actions: int = 3) -> Batch:
    return Batch(
        obs=torch.from_numpy(rng.standard_normal((size, *OBS), dtype=np.float32)),
        action=torch.from_numpy(rng.integers(0, num_actions, size)),
        reward=torch.from_numpy(rng.standard_normal(size, dtype=np.float32)),
        discount=torch.from_numpy(np.where(rng.random(size) < 0.2, 0.0, 0.99).astype(np.float32)),
        next_obs=torch.from_numpy(rng.standard_normal((size, *OBS), dtype=np.float32)),
        weight=torch.from_numpy(rng.uniform(0.1, 1.0, size).astype(np.float32)),
        indices=np.arange(size),
    )


def params(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


# ---------------------------------------------------------------------- acting
def test_act_is_greedy_at_epsilon_zero_and_batched() -> None:
    agent = learner(config())
    obs = np.random.default_rng(0).standard_normal((6, *OBS)).astype(np.float32)
    actions = agent.act(obs, 0.0, np.random.default_rng(1))
    assert actions.dtype == np.int64 and actions.shape == (6,)
    with torch.no_grad():
        expected = agent.online(torch.from_numpy(obs)).argmax(1).numpy()
    assert np.array_equal(actions, expected)


def test_act_draws_like_epsilon_greedy_whatever_the_values() -> None:
    agent = learner(config())
    obs = np.random.default_rng(0).standard_normal((64, *OBS)).astype(np.float32)
    greedy = agent.act(obs, 0.0, np.random.default_rng(9))
    got = agent.act(obs, 0.3, np.random.default_rng(5))
    assert np.array_equal(got, epsilon_greedy(greedy, 3, 0.3, np.random.default_rng(5)))
    assert 0 < np.sum(got != greedy) < 64
    # Same generator state: same stream position afterwards, explored or not.
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    agent.act(obs, 1.0, rng_a)
    exploration_draws(64, 3, 1.0, rng_b)
    assert rng_a.random() == rng_b.random()


def test_act_explores_uniformly_at_epsilon_one() -> None:
    agent = learner(config())
    obs = np.zeros((3000, *OBS), np.float32)
    counts = np.bincount(agent.act(obs, 1.0, np.random.default_rng(0)), minlength=3)
    assert counts.min() > 900


def test_act_rejects_unbatched_or_misshaped_observations() -> None:
    agent = learner(config())
    with pytest.raises(ValueError, match=r"obs: expected a batch of shape \(N, 5\)"):
        agent.act(np.zeros(OBS, np.float32), 0.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="epsilon"):
        agent.act(np.zeros((1, *OBS), np.float32), 1.5, np.random.default_rng(0))


def test_act_accepts_read_only_arrays() -> None:
    obs = np.zeros((2, *OBS), np.float32)
    obs.flags.writeable = False
    assert learner(config()).act(obs, 0.0, np.random.default_rng(0)).shape == (2,)


def test_epsilon_schedule_in_agent_steps_and_zero_for_noisy_nets() -> None:
    agent = learner(config(epsilon_start=1.0, epsilon_end=0.1, epsilon_decay_steps=1000))
    assert agent.epsilon(0) == 1.0
    assert agent.epsilon(500) == pytest.approx(0.55)
    assert agent.epsilon(1000) == pytest.approx(0.1)
    assert agent.epsilon(10**9) == pytest.approx(0.1)
    assert learner(config(noisy=True)).epsilon(0) == 0.0


def noisy_learner(eval_noisy: bool) -> Learner:
    cfg = config(noisy=True, noisy_sigma0=2.0, dueling=True)
    cfg = from_dict({**cfg.to_dict(), "eval": {"noisy": eval_noisy}})
    return learner(cfg, num_actions=4)


def test_noisy_nets_evaluate_with_their_mean_weights_by_default() -> None:
    agent = noisy_learner(eval_noisy=False)
    obs = np.random.default_rng(0).standard_normal((64, *OBS), dtype=np.float32)
    noise_state = agent._noise.get_state()  # type: ignore[union-attr]
    agent.online.eval()
    actions = agent.greedy_actions(obs)
    assert torch.equal(agent._noise.get_state(), noise_state)  # type: ignore[union-attr]
    mean_net = copy.deepcopy(agent.online)
    for module in mean_net.modules():
        if hasattr(module, "weight_mu"):  # the mean weights, by hand
            module.eps_in.zero_()
            module.eps_out.zero_()
    with torch.no_grad():
        expected = mean_net(torch.from_numpy(obs)).argmax(dim=1).numpy()
    np.testing.assert_array_equal(actions, expected)
    np.testing.assert_array_equal(agent.greedy_actions(obs), actions)  # no noise: stable
    agent.online.train()
    agent.greedy_actions(obs)  # training: fresh noise from the training stream
    assert not torch.equal(agent._noise.get_state(), noise_state)  # type: ignore[union-attr]


def test_eval_noisy_draws_evaluation_noise_never_the_training_stream() -> None:
    obs = np.random.default_rng(0).standard_normal((256, *OBS), dtype=np.float32)
    a, b = noisy_learner(eval_noisy=True), noisy_learner(eval_noisy=True)
    noise_state = a._noise.get_state()  # type: ignore[union-attr]
    for agent in (a, b):
        agent.online.eval()
    first = a.greedy_actions(obs)
    assert torch.equal(a._noise.get_state(), noise_state)  # type: ignore[union-attr]
    np.testing.assert_array_equal(b.greedy_actions(obs), first)  # same seed and weights
    mean = noisy_learner(eval_noisy=False)
    mean.online.eval()
    assert not np.array_equal(mean.greedy_actions(obs), first)  # really noisy
    assert not np.array_equal(a.greedy_actions(obs), first)  # fresh noise every pass


# -------------------------------------------------------------------- updating
def td_by_hand(agent: Learner, batch: Batch, double: bool) -> torch.Tensor:
    with torch.no_grad():
        next_t = agent.target(batch.next_obs)
        best = agent.online(batch.next_obs).argmax(1) if double else next_t.argmax(1)
        target = batch.reward + batch.discount * next_t[torch.arange(len(best)), best]
        q = agent.online(batch.obs)[torch.arange(len(best)), batch.action]
    return target - q


@pytest.mark.parametrize("double", [False, True])
def test_update_metrics_and_priorities_match_a_hand_computation(double: bool) -> None:
    agent = learner(config(double=double, loss="huber"))
    rng = np.random.default_rng(0)
    for _ in range(30):  # let online and target drift apart, so double matters
        agent.update(random_batch(rng))
    batch = random_batch(rng)
    td = td_by_hand(agent, batch, double)
    huber = torch.where(td.abs() <= 1, 0.5 * td**2, td.abs() - 0.5)
    with torch.no_grad():
        q = agent.online(batch.obs)[torch.arange(8), batch.action]
    metrics, priorities = agent.update(batch)
    assert priorities is None  # uniform replay
    assert set(metrics) == {"loss", "q_mean", "target_mean", "grad_norm"}
    assert all(v.ndim == 0 and not v.requires_grad for v in metrics.values())
    assert metrics["loss"].item() == pytest.approx((batch.weight * huber).mean().item(), rel=1e-5)
    assert metrics["q_mean"].item() == pytest.approx(q.mean().item(), rel=1e-5, abs=1e-6)
    assert agent.updates == 31


def test_double_and_plain_targets_differ_where_the_argmaxes_differ() -> None:
    agent = learner(config())
    rng = np.random.default_rng(1)
    for _ in range(50):
        agent.update(random_batch(rng))
    batch = random_batch(rng, size=64)
    with torch.no_grad():
        disagree = (
            agent.online(batch.next_obs).argmax(1) != agent.target(batch.next_obs).argmax(1)
        ) & (batch.discount > 0)
    assert disagree.any()
    plain, double = td_by_hand(agent, batch, False), td_by_hand(agent, batch, True)
    assert torch.allclose(plain[~disagree], double[~disagree])
    assert (plain[disagree] > double[disagree]).all()  # max over the target is an upper bound


def test_prioritized_update_returns_absolute_td_errors() -> None:
    agent = learner(config(loss="mse"), num_actions=3)
    prio_agent = learner(config(loss="mse", replay={"prioritized": True}), num_actions=3)
    batch = random_batch(np.random.default_rng(2))
    td = td_by_hand(prio_agent, batch, double=False)
    _, priorities = prio_agent.update(batch)
    assert priorities is not None and priorities.shape == (8,)
    assert torch.allclose(priorities, td.abs(), atol=1e-6)
    # Importance weights scale each sample's loss: mse = mean(w * td^2 / 2).
    metrics, _ = agent.update(batch)
    assert metrics["loss"].item() == pytest.approx(
        (batch.weight * td**2 / 2).mean().item(), rel=1e-5
    )


def test_categorical_update_returns_kl_priorities() -> None:
    cfg = config(
        distributional=True,
        num_atoms=11,
        v_min=-5.0,
        v_max=5.0,
        double=True,
        dueling=True,
        noisy=True,
        replay={"prioritized": True, "n_step": 3},
    )
    agent = learner(cfg)
    metrics, priorities = agent.update(random_batch(np.random.default_rng(3)))
    assert priorities is not None and (priorities >= 0).all() and priorities.shape == (8,)
    assert torch.isfinite(metrics["loss"]) and metrics["loss"].item() > 0


def test_gradient_norm_is_reported_before_clipping_and_clipped() -> None:
    agent = learner(config(max_grad_norm=1e-3))
    metrics, _ = agent.update(random_batch(np.random.default_rng(4)))
    after = torch.linalg.vector_norm(
        torch.stack(
            [
                torch.linalg.vector_norm(p.grad)
                for p in agent.online.parameters()
                if p.grad is not None
            ]
        )
    )
    assert metrics["grad_norm"].item() > 1e-3
    assert after.item() <= 1e-3 * 1.0001


def test_update_rejects_malformed_batches() -> None:
    agent = learner(config())
    batch = random_batch(np.random.default_rng(5))
    batch.action = batch.action.int()
    with pytest.raises(TypeError, match=r"batch\.action: expected int64"):
        agent.update(batch)
    batch = random_batch(np.random.default_rng(5))
    batch.reward = batch.reward[:4]
    with pytest.raises(ValueError, match=r"batch\.reward: expected 8 rows"):
        agent.update(batch)
    batch = random_batch(np.random.default_rng(5))
    batch.obs = batch.obs[:, :4]
    with pytest.raises(ValueError, match=r"batch\.obs: expected shape \(B, 5\)"):
        agent.update(batch)


def test_target_changes_only_on_sync() -> None:
    agent = learner(config())
    before = params(agent.target)
    rng = np.random.default_rng(6)
    for _ in range(5):
        agent.update(random_batch(rng))
    assert all(torch.equal(a, b) for a, b in zip(before, agent.target.parameters(), strict=True))
    assert not all(
        torch.equal(a, b)
        for a, b in zip(agent.online.parameters(), agent.target.parameters(), strict=True)
    )
    agent.sync_target()
    assert all(
        torch.equal(a, b)
        for a, b in zip(agent.online.parameters(), agent.target.parameters(), strict=True)
    )
    assert all(not p.requires_grad for p in agent.target.parameters())


# ------------------------------------------------------------------ optimizers
def test_adam_is_fused_on_cpu() -> None:
    agent = learner(config())
    assert isinstance(agent.optimizer, torch.optim.Adam)
    assert agent.optimizer.param_groups[0]["fused"] is True
    assert agent.optimizer.param_groups[0]["betas"] == (0.9, 0.999)


def test_adam_betas_come_from_the_config_and_change_the_step() -> None:
    rng = np.random.default_rng(0)
    batch = random_batch(rng)
    default, custom = learner(config()), learner(config(adam_betas=[0.5, 0.9]))
    assert custom.optimizer.param_groups[0]["betas"] == (0.5, 0.9)
    for agent in (default, custom):
        for _ in range(3):
            agent.update(batch)
    assert any(
        not torch.equal(a, b)
        for a, b in zip(params(default.online), params(custom.online), strict=True)
    )


@pytest.mark.parametrize("centered", [True, False])
def test_dqn_rmsprop_puts_epsilon_inside_the_root(centered: bool) -> None:
    p = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = DQNRMSprop([p], lr=0.1, alpha=0.9, eps=0.01, centered=centered)
    grads = [torch.tensor([0.5, 1.0]), torch.tensor([-0.5, 3.0])]
    square, mean, expected = torch.zeros(2), torch.zeros(2), p.detach().clone()
    for g in grads:
        p.grad = g.clone()
        opt.step()
        square = 0.9 * square + 0.1 * g**2
        mean = 0.9 * mean + 0.1 * g
        variance = square - mean**2 if centered else square
        expected -= 0.1 * g / torch.sqrt(variance + 0.01)
    assert torch.allclose(p.detach(), expected, atol=1e-6)


def test_rmsprop_learner_uses_the_config() -> None:
    agent = learner(
        config(
            optimizer="rmsprop",
            learning_rate=2.5e-4,
            optimizer_eps=0.01,
            rmsprop_alpha=0.95,
            rmsprop_centered=True,
        )
    )
    assert isinstance(agent.optimizer, DQNRMSprop)
    group = agent.optimizer.param_groups[0]
    assert (group["lr"], group["alpha"], group["eps"], group["centered"]) == (
        2.5e-4,
        0.95,
        0.01,
        True,
    )
    with pytest.raises(ValueError, match="alpha"):
        DQNRMSprop([torch.nn.Parameter(torch.zeros(1))], lr=0.1, alpha=1.0)


# ------------------------------------------------------------ state and resume
def roundtrip(state: dict[str, Any]) -> dict[str, Any]:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize(
    "flags",
    [
        {"optimizer": "adam"},
        {
            "optimizer": "rmsprop",
            "noisy": True,
            "distributional": True,
            "num_atoms": 7,
            "dueling": True,
        },
    ],
)
def test_resume_from_state_dict_continues_bit_exactly(flags: dict[str, Any]) -> None:
    cfg = config(seed=3, replay={"prioritized": True}, **flags)
    rng = np.random.default_rng(0)
    batches = [random_batch(rng) for _ in range(40)]
    obs = rng.standard_normal((4, *OBS)).astype(np.float32)

    straight = learner(cfg)
    for b in batches[:20]:
        straight.update(b)
    state = roundtrip(straight.state_dict())
    assert state["updates"] == 20
    for b in batches[20:]:
        straight.update(b)
    straight.sync_target()

    resumed = learner(cfg)
    resumed.load_state_dict(state)
    for b in batches[20:]:
        resumed.update(b)
    resumed.sync_target()
    assert resumed.updates == 40
    assert all(
        torch.equal(a, b)
        for a, b in zip(
            straight.online.state_dict().values(), resumed.online.state_dict().values(), strict=True
        )
    )
    # Acting draws noise from the restored generator too.
    assert np.array_equal(
        straight.act(obs, 0.0, np.random.default_rng(1)),
        resumed.act(obs, 0.0, np.random.default_rng(1)),
    )


def test_load_state_dict_rejects_another_network() -> None:
    state = learner(config()).state_dict()
    with pytest.raises(ValueError, match="4 actions"):
        learner(config(), num_actions=4).load_state_dict(state)
    with pytest.raises(ValueError, match="noisy"):
        learner(config(noisy=True)).load_state_dict(state)


@pytest.mark.parametrize(
    "flags",
    [
        {"optimizer": "adam", "double": True},
        {
            "optimizer": "rmsprop",
            "noisy": True,
            "distributional": True,
            "num_atoms": 5,
            "dueling": True,
        },
    ],
)
def test_same_seed_gives_bit_identical_weights_after_2000_updates(flags: dict[str, Any]) -> None:
    def train(seed: int) -> list[torch.Tensor]:
        agent = learner(config(seed=seed, max_grad_norm=10.0, **flags))
        rng = np.random.default_rng(42)  # the same data for every learner
        for i in range(2000):
            agent.update(random_batch(rng, size=4))
            if i % 100 == 99:
                agent.sync_target()
        return params(agent.online)

    first, second, other = train(7), train(7), train(8)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert not all(torch.equal(a, c) for a, c in zip(first, other, strict=True))


def test_cnn_learner_is_deterministic_and_channels_last() -> None:
    cfg = from_dict(
        {
            "agent": {"optimizer": "adam", "hidden_size": 32, "double": True},
            "train": {"deterministic": True},
        }
    )

    def train() -> list[torch.Tensor]:
        agent = Learner(cfg, (4, 36, 36), 4, "cpu", Seeds(1))
        conv = agent.online.torso.convs[0]  # type: ignore[index]
        assert conv.weight.is_contiguous(memory_format=torch.channels_last)
        gen = torch.Generator().manual_seed(0)
        for _ in range(100):
            frames = torch.randint(0, 256, (2, 8, 4, 36, 36), dtype=torch.uint8, generator=gen)
            agent.update(
                Batch(
                    frames[0],
                    torch.randint(0, 4, (8,), generator=gen),
                    torch.rand(8, generator=gen),
                    torch.full((8,), 0.99),
                    frames[1],
                    torch.ones(8),
                    np.arange(8),
                )
            )
        return params(agent.online)

    assert all(torch.equal(a, b) for a, b in zip(train(), train(), strict=True))


# ------------------------------------------------------------------ chain MDP
# A deterministic 5-state chain: actions left (0) / right (1); entering state 4 pays 1 and
# ends the episode. Q* comes from value iteration; the learner trains on every (s, a) pair.
STATES, GOAL, GAMMA = 5, 4, 0.9
TOLERANCE = 0.01  # max |Q - Q*| over the 8 state-action pairs, Q* in [0.59, 1]


def chain_step(s: int, a: int) -> tuple[int, float, bool]:
    s2 = max(s - 1, 0) if a == 0 else s + 1
    return s2, float(s2 == GOAL), s2 == GOAL


def chain_q_star() -> np.ndarray:
    q = np.zeros((STATES, 2))
    for _ in range(100):
        v = q.max(1)
        for s in range(GOAL):
            for a in range(2):
                s2, r, terminal = chain_step(s, a)
                q[s, a] = r + (0.0 if terminal else GAMMA * v[s2])
    return q[:GOAL]


def chain_dataset(n: int) -> Batch:
    """Every (s, a) once, with its n-step return; after the first action the optimal
    policy (right) is followed, so the n-step targets have Q* as their fixed point."""
    obs, actions, rewards, terminals, last = [], [], [], [], []
    for s in range(GOAL):
        for a in range(2):
            state, rs, ts = s, [], []
            for k in range(n):
                if ts and ts[-1]:  # past the end of the episode: padding, ignored
                    rs.append(0.0)
                    ts.append(True)
                    continue
                state, r, terminal = chain_step(state, a if k == 0 else 1)
                rs.append(r)
                ts.append(terminal)
            obs.append(s)
            actions.append(a)
            rewards.append(rs)
            terminals.append(ts)
            last.append(state)
    # The replay's n-step maths: each window ends at its first terminal.
    done = np.array(terminals)
    lengths = np.where(done.any(axis=1), done.argmax(axis=1) + 1, n)
    powers = GAMMA ** np.arange(n + 1, dtype=np.float64)
    ret64, disc64 = n_step_returns(np.array(rewards), lengths, done.any(axis=1), powers)
    ret, discount = (
        torch.tensor(ret64, dtype=torch.float32),
        torch.tensor(disc64, dtype=torch.float32),
    )
    one_hot = torch.eye(STATES)
    return Batch(
        one_hot[obs],
        torch.tensor(actions),
        ret,
        discount,
        one_hot[last],
        torch.ones(len(obs)),
        np.arange(len(obs)),
    )


def test_chain_q_star_by_hand() -> None:
    q = chain_q_star()
    assert q[3, 1] == pytest.approx(1.0) and q[0, 1] == pytest.approx(0.9**3)
    assert q[0, 0] == pytest.approx(0.9**4) and q[3, 0] == pytest.approx(0.9**2)


@pytest.mark.parametrize(
    "name, flags, n",
    [
        ("dqn", {}, 1),
        ("double", {"double": True}, 1),
        ("n-step", {}, 3),
        ("c51", {"distributional": True, "num_atoms": 11, "v_min": 0.0, "v_max": 1.0}, 1),
    ],
)
def test_learner_converges_to_q_star_on_a_chain(name: str, flags: dict[str, Any], n: int) -> None:
    """800 full-batch updates bring Q within TOLERANCE of Q*.

    Measured (2026-12-02, Intel Xeon, seeds 0-9, torch threads 1 and 2): with Adam
    at lr 1e-3 every seed of every variant is within 0.0025 at 800 updates (4x
    inside the tolerance); at lr 3e-3, used before, Adam's steps made the one-step
    variants oscillate around Q* and 2 of 10 seeds missed 0.01 at 800 updates, so
    the check depended on the initialisation draw. False-failure chance: 0 of 10
    seeds per variant failed (thread counts counted once), which bounds it below
    26% (one-sided 95%, from the runs alone); no draw came within 4x of the bar,
    so on a CPU that rounds differently we read it as near 0
    (docs/learning-checks.md).
    """
    cfg = config(mlp_hidden=[32, 32], learning_rate=1e-3, gamma=GAMMA, loss="mse", **flags)
    agent = Learner(cfg, (STATES,), 2, "cpu", Seeds(0))
    data = chain_dataset(n)
    for i in range(800):
        agent.update(data)
        if i % 25 == 24:
            agent.sync_target()
    with torch.no_grad():
        q = agent.online(torch.eye(STATES)[:GOAL]).numpy()
    assert np.abs(q - chain_q_star()).max() < TOLERANCE, (name, q)


# ------------------------------------------------------------------ compile
COMPILED_FLAGS = [
    pytest.param({}, id="dqn"),
    pytest.param(
        {"double": True, "dueling": True, "noisy": True, "distributional": True},
        id="rainbow",
    ),
]


@pytest.mark.slow
@pytest.mark.ci
@pytest.mark.parametrize("flags", COMPILED_FLAGS)
def test_compiled_update_matches_the_eager_one(flags: dict[str, Any]) -> None:
    """train.compile=default runs the same maths: same metrics, priorities and weights."""
    torch._dynamo.reset()
    replay = {"prioritized": True}

    def build(mode: str) -> Learner:
        cfg = config(replay=replay, **flags)
        cfg = from_dict({**cfg.to_dict(), "train": {**cfg.to_dict()["train"], "compile": mode}})
        return learner(cfg)

    eager, compiled = build("none"), build("default")
    assert compiled._loss is not compiled._loss_eager  # really handed to torch.compile
    rng = np.random.default_rng(3)
    for _ in range(4):
        batch = random_batch(rng)
        m_eager, p_eager = eager.update(batch)
        m_compiled, p_compiled = compiled.update(batch)
        for key in m_eager:
            assert torch.allclose(m_eager[key], m_compiled[key], rtol=1e-4, atol=1e-6), key
        assert p_eager is not None and p_compiled is not None
        assert torch.allclose(p_eager, p_compiled, rtol=1e-4, atol=1e-6)
    for a, b in zip(params(eager.online), params(compiled.online), strict=True):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6)


def test_noisy_nets_explore_with_noisy_epsilon_on_top() -> None:
    """agent.noisy_epsilon: a constant epsilon on top of the noise (Dopamine's DER: 0.01)."""
    agent = learner(config(noisy=True, noisy_epsilon=0.01))
    assert agent.epsilon(0) == agent.epsilon(10**6) == 0.01
