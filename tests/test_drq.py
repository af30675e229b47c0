"""DrQ(eps): the replay-batch augmentation, the delayed epsilon decay, Dopamine's network.

The augmentation is checked against a numpy reference of Dopamine's
``drq_image_augmentation`` (edge padding, a crop at offset 0..2*pad-1, an
intensity factor), the schedule against Dopamine's ``linearly_decaying_epsilon``
formula, and the SAME-padded torso against explicit zero padding.
"""

from __future__ import annotations

import csv
import io
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from dqn_core.agent.augment import DrQAugmentation
from dqn_core.agent.learner import Learner
from dqn_core.agent.networks import build_network
from dqn_core.agent.schedules import LinearSchedule
from dqn_core.agent.torsos import DERTorso, DopamineTorso, NatureTorso, same_pads
from dqn_core.config import ConfigError, load_config
from dqn_core.experiment import train
from dqn_core.run import Trainer
from dqn_core.run.checkpoint import CheckpointManager
from dqn_core.seeding import Seeds


def _reference_shift(obs: np.ndarray, rows: np.ndarray, cols: np.ndarray, pad: int) -> np.ndarray:
    """Dopamine's shift: pad every frame by ``pad`` repeating the edge, crop at (row, col)."""
    _, _, h, w = obs.shape
    padded = np.pad(obs, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="edge")
    return np.stack(
        [
            padded[i, :, r : r + h, c : c + w]
            for i, (r, c) in enumerate(zip(rows, cols, strict=True))
        ]
    )


@settings(max_examples=40, deadline=None)
@given(
    batch=st.integers(1, 6),
    channels=st.integers(1, 4),
    size=st.integers(1, 12),
    pad=st.integers(0, 5),
    seed=st.integers(0, 2**31 - 1),
)
def test_shift_is_edge_padding_then_a_crop_at_the_drawn_offset(
    batch: int, channels: int, size: int, pad: int, seed: int
) -> None:
    obs = np.random.default_rng(seed).integers(0, 256, (batch, channels, size, size + 1), np.uint8)
    aug = DrQAugmentation(torch.Generator().manual_seed(seed), pad=pad)
    shifted = aug.shift(torch.from_numpy(obs)).numpy()
    # The same generator state draws the same offsets: rows first, then columns.
    g = torch.Generator().manual_seed(seed)
    if pad:
        rows, cols = torch.randint(0, 2 * pad, (2, batch), generator=g).numpy()
    else:
        rows = cols = np.zeros(batch, np.int64)
    assert shifted.dtype == np.uint8
    np.testing.assert_array_equal(shifted, _reference_shift(obs, rows, cols, pad))


def test_shift_offsets_cover_0_to_2pad_minus_1_like_dopamine() -> None:
    """Dopamine draws randint(0, padded - size): offsets 0..7 for pad 4 (-4..+3 pixels), never 8."""
    rows = torch.arange(84, dtype=torch.uint8)
    obs = torch.zeros((2000, 2, 84, 84), dtype=torch.uint8)
    obs[:, 0] = rows.view(84, 1)  # frame 0 holds its row index, frame 1 its column index
    obs[:, 1] = rows.view(1, 84)
    shifted = DrQAugmentation(torch.Generator().manual_seed(1)).shift(obs)
    # Output pixel (4, 4) reads input pixel (4 + row offset - 4, 4 + column offset - 4).
    row_offsets, col_offsets = shifted[:, 0, 4, 4], shifted[:, 1, 4, 4]
    assert set(row_offsets.tolist()) == set(range(8)) == set(col_offsets.tolist())
    # One offset per sample for all its frames: frame 0 moves by whole rows only.
    np.testing.assert_array_equal(
        shifted[:, 0, 10, :].numpy(), np.repeat(row_offsets.numpy()[:, None] + 6, 84, axis=1)
    )


@settings(max_examples=30, deadline=None)
@given(batch=st.integers(1, 6), pad=st.integers(1, 5), seed=st.integers(0, 2**31 - 1))
def test_a_batch_shift_cuts_every_sample_at_one_offset_like_dopamine_of_2021(
    batch: int, pad: int, seed: int
) -> None:
    """``per_sample=False`` (agent.augmentation=drq_batch_shift): Dopamine's ``_random_crop``
    before 1bb064b, ``img[:, x:x + w, y:y + h]`` with scalar x, y drawn by randint(0, 2 pad)."""
    obs = np.random.default_rng(seed).integers(0, 256, (batch, 3, 10, 11), np.uint8)
    aug = DrQAugmentation(torch.Generator().manual_seed(seed), pad=pad, per_sample=False)
    shifted = aug.shift(torch.from_numpy(obs)).numpy()
    g = torch.Generator().manual_seed(seed)
    row, col = torch.randint(0, 2 * pad, (2, 1), generator=g).numpy()[:, 0]
    expected = _reference_shift(obs, np.full(batch, row), np.full(batch, col), pad)
    np.testing.assert_array_equal(shifted, expected)
    # It used two draws of the generator, not 2 B: the intensity draws come next.
    torch.testing.assert_close(aug.intensity(4, torch.device("cpu")), _next_factors(g, 4))


def _next_factors(g: torch.Generator, n: int) -> torch.Tensor:
    return torch.randn(n, generator=g).clamp_(-2.0, 2.0).mul_(0.05).add_(1.0)


def test_a_batch_shift_moves_the_whole_batch_and_still_covers_every_offset() -> None:
    obs = torch.zeros((16, 1, 84, 84), dtype=torch.uint8)
    obs[:, 0] = torch.arange(84, dtype=torch.uint8).view(84, 1)  # each pixel holds its row
    aug = DrQAugmentation(torch.Generator().manual_seed(3), per_sample=False)
    seen = set()
    for _ in range(200):
        offsets = aug.shift(obs)[:, 0, 4, 4]
        assert offsets.unique().numel() == 1  # one offset for all 16 samples
        seen.add(int(offsets[0]))
    assert seen == set(range(8))


def test_intensity_factors_are_clipped_normal_around_one() -> None:
    aug = DrQAugmentation(torch.Generator().manual_seed(0))
    f = aug.intensity(100_000, torch.device("cpu"))
    assert f.dtype == torch.float32
    assert float(f.min()) == pytest.approx(0.9) and float(f.max()) == pytest.approx(1.1)
    assert abs(float(f.mean()) - 1.0) < 1e-3
    # Clipped at 2 sigma: ~2.3% of the draws sit at each bound.
    assert 0.015 < float((f >= 1.1 - 1e-7).float().mean()) < 0.03


@pytest.mark.parametrize("torso_cls", [NatureTorso, DERTorso, DopamineTorso])
def test_scaling_the_prepared_input_scales_each_sample_frames(torso_cls: type) -> None:
    """``scale_samples_`` on ``prepare``'s output (any layout) = the frames times the factor."""
    torso = torso_cls((4, 84, 84), torch.Generator().manual_seed(0))
    obs = torch.randint(0, 256, (3, 4, 84, 84), dtype=torch.uint8)
    scale = torch.tensor([0.9, 1.0, 1.1])
    x = torso.prepare(obs)
    torso.scale_samples_(x, scale)
    frames = obs.to(torch.float32) / 255.0 * scale.view(3, 1, 1, 1)
    expected = torch.flatten(torso.convs(frames), 1)
    torch.testing.assert_close(torso.body(x), expected, rtol=1e-5, atol=1e-5)


def test_augmented_batches_differ_between_obs_and_next_obs_and_reach_the_update() -> None:
    """The learner augments obs and next_obs with independent draws; acting does not."""
    cfg = load_config("drq-eps")
    learner = Learner(cfg, (4, 84, 84), 4, "cpu", Seeds(0))
    obs = torch.randint(0, 256, (8, 4, 84, 84), dtype=torch.uint8)
    assert learner._augment is not None
    a = learner._augment(learner.online, obs).tensor
    b = learner._augment(learner.online, obs).tensor
    assert not torch.equal(a, b)
    plain = learner.online.prepare(obs).tensor
    assert not torch.equal(a, plain)
    # Acting reads the frames as they are: two calls give the same actions.
    learner.online.eval()
    np.testing.assert_array_equal(
        learner.greedy_actions(obs.numpy()), learner.greedy_actions(obs.numpy())
    )


@pytest.mark.parametrize(
    ("augmentation", "per_sample"), [("drq", True), ("drq_batch_shift", False)]
)
def test_the_learner_shifts_per_sample_or_per_batch_as_configured(
    augmentation: str, per_sample: bool
) -> None:
    cfg = load_config("drq-eps", sets=[f"agent.augmentation={augmentation}"])
    learner = Learner(cfg, (4, 84, 84), 4, "cpu", Seeds(0))
    assert learner._augment is not None and learner._augment.per_sample is per_sample
    obs = torch.zeros((32, 4, 84, 84), dtype=torch.uint8)
    obs[:, :] = torch.arange(84, dtype=torch.uint8).view(84, 1)
    rows = learner._augment.shift(obs)[:, 0, 4, 4]
    assert (rows.unique().numel() == 1) is not per_sample  # 32 draws of 8 all alike: ~1e-28


def _batch(rng: np.random.Generator, size: int = 16) -> SimpleNamespace:
    return SimpleNamespace(
        obs=rng.integers(0, 256, (size, 4, 84, 84), dtype=np.uint8),
        next_obs=rng.integers(0, 256, (size, 4, 84, 84), dtype=np.uint8),
        action=rng.integers(0, 4, size).astype(np.int64),
        reward=rng.standard_normal(size).astype(np.float32),
        discount=np.full(size, 0.99**10, np.float32),
        weight=np.ones(size, np.float32),
    )


def test_a_restored_learner_continues_the_augmentation_stream() -> None:
    """Checkpoint after 2 updates, restore into a fresh learner: the next updates are the same."""
    torch.set_num_threads(1)
    cfg = load_config("drq-eps")
    rng = np.random.default_rng(0)
    batches = [_batch(rng) for _ in range(4)]
    straight = Learner(cfg, (4, 84, 84), 4, "cpu", Seeds(3))
    for b in batches[:2]:
        straight.update(b)
        straight.sync_target()
    # Through bytes, as a checkpoint file: state_dict() shares the live tensors.
    buffer = io.BytesIO()
    torch.save(straight.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    assert state["augment_rng"] is not None
    resumed = Learner(cfg, (4, 84, 84), 4, "cpu", Seeds(3))
    resumed.load_state_dict(state)
    for b in batches[2:]:
        for learner in (straight, resumed):
            learner.update(b)
            learner.sync_target()
    for p, q in zip(straight.online.parameters(), resumed.online.parameters(), strict=True):
        assert torch.equal(p, q)
    # Without restoring the stream the updates differ: the check can fail.
    other = Learner(cfg, (4, 84, 84), 4, "cpu", Seeds(3))
    buffer.seek(0)
    other_state = torch.load(buffer, weights_only=True)
    other.load_state_dict({**other_state, "augment_rng": Seeds(4).torch("augment").get_state()})
    other.update(batches[2])
    resumed_again = Learner(cfg, (4, 84, 84), 4, "cpu", Seeds(3))
    buffer.seek(0)
    resumed_again.load_state_dict(torch.load(buffer, weights_only=True))
    resumed_again.update(batches[2])
    assert not all(
        torch.equal(p, q)
        for p, q in zip(other.online.parameters(), resumed_again.online.parameters(), strict=True)
    )


def test_a_checkpoint_without_augmentation_is_refused_by_an_augmenting_learner() -> None:
    plain = Learner(
        load_config("drq-eps", sets=["agent.augmentation=none"]), (4, 84, 84), 4, "cpu", Seeds(0)
    )
    drq = Learner(load_config("drq-eps"), (4, 84, 84), 4, "cpu", Seeds(0))
    with pytest.raises(ValueError, match=r"agent\.augmentation differs"):
        drq.load_state_dict(plain.state_dict())


def test_augmentation_needs_image_frames() -> None:
    with pytest.raises(ConfigError, match=r"agent\.augmentation: 'drq'"):
        load_config("cartpole", sets=["agent.augmentation=drq"])


def _dopamine_epsilon(decay_period: int, step: int, warmup_steps: int, epsilon: float) -> float:
    """dopamine.jax.agents.dqn.dqn_agent.linearly_decaying_epsilon, in plain Python."""
    steps_left = decay_period + warmup_steps - step
    bonus = (1.0 - epsilon) * steps_left / decay_period
    return epsilon + min(max(bonus, 0.0), 1.0 - epsilon)


@settings(max_examples=200, deadline=None)
@given(
    decay=st.integers(1, 10_000),
    warmup=st.integers(0, 5_000),
    step=st.integers(0, 20_000),
    end=st.floats(0.0, 1.0),
)
def test_the_delayed_decay_is_dopamines_linearly_decaying_epsilon(
    decay: int, warmup: int, step: int, end: float
) -> None:
    schedule = LinearSchedule(1.0, end, decay, warmup)
    assert schedule(step) == pytest.approx(_dopamine_epsilon(decay, step, warmup, end), abs=1e-12)


def test_a_schedule_without_delay_is_unchanged() -> None:
    s = LinearSchedule(1.0, 0.1, 100)
    assert [s(0), s(50), s(100), s(1_000)] == [1.0 + f * (0.1 - 1.0) for f in (0, 0.5, 1, 1)]
    with pytest.raises(ValueError, match="start_step"):
        LinearSchedule(1.0, 0.1, 100, -1)


def test_drq_eps_explores_like_dopamine() -> None:
    learner = Learner(load_config("drq-eps"), (4, 84, 84), 4, "cpu", Seeds(0))
    for step in (0, 1_600, 2_000, 4_100, 6_600, 50_000):
        assert learner.epsilon(step) == pytest.approx(_dopamine_epsilon(5_000, step, 1_600, 0.01))


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "pads"),
    [
        (84, 8, 4, (2, 2)),
        (21, 4, 2, (1, 2)),
        (11, 3, 1, (1, 1)),
        (5, 5, 5, (0, 0)),
        (3, 1, 2, (0, 0)),
    ],
)
def test_same_pads_give_ceil_size_over_stride(
    size: int, kernel: int, stride: int, pads: tuple[int, int]
) -> None:
    assert same_pads(size, kernel, stride) == pads
    out = (size + sum(pads) - kernel) // stride + 1
    assert out == -(-size // stride)


def test_dopamine_torso_is_the_nature_cnn_with_same_padding() -> None:
    torso = DopamineTorso((4, 84, 84), torch.Generator().manual_seed(0))
    assert torso.output_dim == 64 * 11 * 11 == 7_744
    obs = torch.randint(0, 256, (2, 4, 84, 84), dtype=torch.uint8)
    x = obs.to(torch.float32) / 255.0
    convs = [m for m in torso.convs if isinstance(m, torch.nn.Conv2d)]
    for conv, pad in zip(convs, [(2, 2, 2, 2), (1, 2, 1, 2), (1, 1, 1, 1)], strict=True):
        x = torch.relu(conv(F.pad(x, pad)))
    torch.testing.assert_close(torso(obs), torch.flatten(x, 1))


def test_the_shared_hidden_dueling_head_is_dopamines() -> None:
    cfg = load_config("drq-eps")
    net = build_network(cfg.agent, (4, 84, 84), 6, torch.Generator().manual_seed(0))
    head = sum(p.numel() for n, p in net.named_parameters() if not n.startswith("torso"))
    assert head == (7_744 * 512 + 512) + (512 * 6 + 6) + (512 + 1)
    per_stream = build_network(
        load_config("drq-eps", sets=["agent.head_hidden=per_stream"]).agent,
        (4, 84, 84),
        6,
        torch.Generator().manual_seed(0),
    )
    assert per_stream.shared is None and net.shared is not None
    q = net(torch.randint(0, 256, (3, 4, 84, 84), dtype=torch.uint8))
    assert q.shape == (3, 6)


def test_drq_eps_trains_on_a_real_rom_and_resumes_its_augmentation_stream(tmp_path) -> None:
    """Breakout, the real preset on a small budget; a resumed trainer has the checkpoint's state.

    (A resumed run restarts its in-flight episodes, so it is not the straight run
    step for step; what it must restore exactly is the learner, augmentation
    stream included: the learner-level test above shows the updates then match.)
    """
    sets = [
        "env.game=Breakout",
        "train.learning_starts=80",
        "agent.epsilon_decay_start=80",
        "agent.epsilon_decay_steps=100",
        "train.log_every_steps=60",
        "train.checkpoint_every_steps=240",
        "eval.every_steps=240",
        "eval.episodes=1",
        "eval.max_steps=200",
        "replay.capacity=1000",
        "tracking.mlflow=false",
        "tracking.progress=false",
        "train.torch_threads=1",
    ]

    def config(steps: int):
        return load_config("drq-eps", sets=[*sets, f"train.total_steps={steps}"])

    summary = train(config(240), tmp_path / "r", quiet=True)
    assert summary["steps"] == 240 and summary["updates"] == 161
    with (tmp_path / "r" / "metrics.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == [60, 120, 180, 240]
    for r in rows:  # epsilon as Dopamine's schedule gives it at the row's last step
        step = int(r["step"]) - 1
        assert float(r["train/epsilon"]) == pytest.approx(_dopamine_epsilon(100, step, 80, 0.01))
    assert all(math.isfinite(float(r["learn/loss"])) for r in rows[1:])
    state, _ = CheckpointManager(tmp_path / "r" / "checkpoints", keep=2).latest()
    resumed = Trainer(config(480), tmp_path / "r", quiet=True)
    resumed._resume()
    restored = resumed.learner.state_dict()
    assert torch.equal(restored["augment_rng"], state["learner"]["augment_rng"])
    for k, v in state["learner"]["online"].items():
        assert torch.equal(restored["online"][k], v)


@pytest.mark.parametrize("double", [True, False])
def test_a_target_synced_every_update_reuses_the_online_pass_with_the_same_values(
    double: bool,
) -> None:
    """target_update_steps = 1: the TD target skips the target network, bit for bit the same."""
    torch.set_num_threads(1)
    cfg = load_config("drq-eps", sets=[f"agent.double={str(double).lower()}"])
    rng = np.random.default_rng(1)
    batches = [_batch(rng) for _ in range(4)]
    fast, slow = (Learner(cfg, (4, 84, 84), 4, "cpu", Seeds(5)) for _ in range(2))
    calls = {"fast": 0, "slow": 0}
    for name, learner in (("fast", fast), ("slow", slow)):
        learner.target.register_forward_hook(
            lambda *_, name=name: calls.__setitem__(name, calls[name] + 1)
        )
    for b in batches:
        for learner in (fast, slow):
            learner.sync_target()
        slow._target_is_online = False  # as if the sync were of another network
        metrics = [learner.update(b)[0] for learner in (fast, slow)]
        assert all(torch.equal(metrics[0][k], metrics[1][k]) for k in metrics[0])
    assert calls == {"fast": 0, "slow": 4}
    for p, q in zip(fast.online.parameters(), slow.online.parameters(), strict=True):
        assert torch.equal(p, q)
    # After an update without a sync, the target is read again.
    fast.update(batches[0])
    assert calls["fast"] == 1
