"""Presets: every shipped YAML loads, validates, cites its paper and builds a working learner."""

from __future__ import annotations

from importlib import resources

import numpy as np
import pytest
import torch

from dqn_core.agent.learner import Learner
from dqn_core.config import ConfigError, describe_presets, load_config, preset_names
from dqn_core.replay import Batch
from dqn_core.seeding import Seeds

EXPECTED = [
    "c51",
    "cartpole",
    "der",
    "double-dqn",
    "drq-eps",
    "dueling-ddqn",
    "nature-dqn",
    "prioritized-ddqn",
    "rainbow",
]
ATARI = [name for name in EXPECTED if name != "cartpole"]


def preset_text(name: str) -> str:
    return (resources.files("dqn_core") / "presets" / f"{name}.yaml").read_text()


def test_the_issue_presets_are_shipped() -> None:
    assert preset_names() == EXPECTED


def test_describe_presets_gives_one_line_each() -> None:
    described = dict(describe_presets())
    assert sorted(described) == EXPECTED
    for name, text in described.items():
        assert text and "\n" not in text and len(text) <= 100, name


@pytest.mark.parametrize("name", EXPECTED)
def test_preset_loads_cites_and_documents_its_deviations(name: str) -> None:
    cfg = load_config(name)
    assert cfg.preset == name
    assert cfg.description and cfg.citation
    text = preset_text(name)
    header = text.split("\ndescription:")[0]
    assert header.startswith(f"# {name}:"), "header comment must open the file"
    assert "Deviations" in header or name == "cartpole"
    assert "agent steps" in text  # lengths say their unit


@pytest.mark.parametrize("name", ATARI)
def test_atari_preset_builds_a_learner_that_updates(name: str) -> None:
    cfg = load_config(name)
    agent = Learner(cfg, (4, 84, 84), 6, "cpu", Seeds(0))
    gen = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 256, (2, 4, 4, 84, 84), dtype=torch.uint8, generator=gen)
    batch = Batch(
        frames[0],
        torch.tensor([0, 1, 2, 5]),
        torch.tensor([0.0, 1.0, -1.0, 0.0]),
        torch.tensor([0.99, 0.0, 0.99, 0.99]),
        frames[1],
        torch.ones(4),
        np.arange(4),
    )
    metrics, priorities = agent.update(batch)
    assert torch.isfinite(metrics["loss"])
    assert (priorities is not None) == cfg.replay.prioritized
    actions = agent.act(frames[0].numpy(), agent.epsilon(0), np.random.default_rng(0))
    assert actions.shape == (4,)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # The values that define each paper's method (the rest is documented in the YAML).
        (
            "nature-dqn",
            {
                "agent.optimizer": "rmsprop",
                "agent.learning_rate": 2.5e-4,
                "agent.target_update_steps": 10_000,
                "replay.capacity": 1_000_000,
                "train.learning_starts": 50_000,
                "eval.epsilon": 0.05,
                "env.protocol": "nature2015",
                "train.total_steps": 50_000_000,
            },
        ),
        (
            "double-dqn",
            {
                "agent.double": True,
                "agent.target_update_steps": 30_000,
                "agent.epsilon_end": 0.01,
                "eval.epsilon": 0.001,
            },
        ),
        (
            "dueling-ddqn",
            {"agent.dueling": True, "agent.double": True, "agent.learning_rate": 6.25e-5},
        ),
        (
            "prioritized-ddqn",
            {
                "replay.prioritized": True,
                "replay.priority_alpha": 0.6,
                "replay.priority_beta_start": 0.4,
                "agent.learning_rate": 6.25e-5,
            },
        ),
        (
            "c51",
            {
                "agent.distributional": True,
                "agent.num_atoms": 51,
                "agent.v_min": -10.0,
                "agent.optimizer": "adam",
                "agent.optimizer_eps": 0.01 / 32,
            },
        ),
        (
            "rainbow",
            {
                "agent.noisy": True,
                "agent.distributional": True,
                "agent.dueling": True,
                "agent.double": True,
                "replay.prioritized": True,
                "replay.n_step": 3,
                "replay.priority_alpha": 0.5,
                "agent.learning_rate": 6.25e-5,
                "agent.optimizer_eps": 1.5e-4,
                "agent.target_update_steps": 8_000,
                "train.learning_starts": 20_000,
            },
        ),
        (
            "der",
            {
                "replay.n_step": 20,
                "train.train_frequency": 1,
                "agent.target_update_steps": 2_000,
                "agent.learning_rate": 1e-4,
                "train.learning_starts": 1_600,
                "train.total_steps": 100_000,
                "env.protocol": "atari100k",
                "agent.hidden_size": 256,
                "agent.noisy_sigma0": 0.1,
            },
        ),
        (
            # Dopamine's labs/atari_100k/configs/DrQ_eps.gin
            "drq-eps",
            {
                "replay.n_step": 10,
                # Dopamine's "uniform" replay: its prioritized buffer at priority 1, stratified
                "replay.prioritized": True,
                "replay.priority_alpha": 0.0,
                "train.train_frequency": 1,
                "agent.target_update_steps": 1,
                "agent.learning_rate": 1e-4,
                "agent.optimizer_eps": 1.5e-4,
                "agent.max_grad_norm": None,
                "agent.double": True,
                "agent.dueling": True,
                "agent.noisy": False,
                "agent.distributional": False,
                "agent.epsilon_end": 0.01,
                "agent.epsilon_decay_start": 1_600,
                "agent.epsilon_decay_steps": 5_000,
                "agent.augmentation": "drq_batch_shift",  # Dopamine's code of 2021
                "agent.init": "xavier",
                "env.stack_reset_on_life_loss": True,
                "env.step_ends_at_life_loss": True,
                "agent.network": "dopamine_cnn",
                "agent.head_hidden": "shared",
                "agent.hidden_size": 512,
                "eval.epsilon": 0.001,
                "train.learning_starts": 1_600,
                "train.total_steps": 100_000,
                "env.protocol": "atari100k",
            },
        ),
        (
            "cartpole",
            {
                "env.game": "CartPole-v1",
                "env.protocol": "classic",
                "agent.network": "mlp",
                "train.total_steps": 50_000,
            },
        ),
    ],
)
def test_preset_carries_its_papers_defining_values(name: str, expected: dict[str, object]) -> None:
    flat = load_config(name).flatten()
    assert {k: flat[k] for k in expected} == expected


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"agent": {"learning_rate": -1.0}}, r"agent\.learning_rate: -1\.0 must be greater than 0"),
        ({"agent": {"optimizer": "sgd"}}, r"agent\.optimizer: 'sgd' is not one of rmsprop, adam"),
        ({"replay": {"n_step": 0}}, r"replay\.n_step: 0 is below the minimum 1"),
        ({"agent": {"learning_rat": 0.1}}, r"agent\.learning_rat: unknown field; did you mean"),
    ],
)
def test_bad_values_fail_on_load_naming_field_value_and_range(
    override: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config("rainbow", overrides=override)


def test_cartpole_preset_trains_with_small_overrides() -> None:
    """A few hundred steps of the real preset through the test loop: it runs and learns."""
    import gymnasium as gym

    cfg = load_config("cartpole", overrides={"train": {"learning_starts": 64, "batch_size": 32}})
    seeds = Seeds(cfg.seed)
    agent = Learner(cfg, (4,), 2, "cpu", seeds)
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=0)
    rng = seeds.numpy("exploration")
    data: list[tuple[np.ndarray, int, float, float, np.ndarray]] = []
    losses = []
    for step in range(400):
        action = int(agent.act(obs[None], agent.epsilon(step), rng)[0])
        nxt, reward, terminated, truncated, _ = env.step(action)
        data.append((obs, action, float(reward), 0.0 if terminated else cfg.agent.gamma, nxt))
        obs = env.reset()[0] if terminated or truncated else nxt
        if step >= cfg.train.learning_starts:
            idx = rng.integers(0, len(data), cfg.train.batch_size)
            o, a, r, d, n = (np.array(x) for x in zip(*(data[i] for i in idx), strict=True))
            metrics, _ = agent.update(
                Batch(
                    torch.from_numpy(o.astype(np.float32)),
                    torch.from_numpy(a.astype(np.int64)),
                    torch.from_numpy(r.astype(np.float32)),
                    torch.from_numpy(d.astype(np.float32)),
                    torch.from_numpy(n.astype(np.float32)),
                    torch.ones(cfg.train.batch_size),
                    idx,
                )
            )
            losses.append(metrics["loss"])
    assert agent.updates == 400 - cfg.train.learning_starts
    assert torch.isfinite(torch.stack(losses)).all()
    # Q-values move towards the returns of a +1-per-step task.
    with torch.no_grad():
        assert agent.online(torch.from_numpy(obs[None])).max().item() > 1.0
