"""Networks: shapes, initialisation from a given generator, dueling/noisy/categorical heads,
and the data-efficient Rainbow (DER) torso end to end on real Pong frames."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from dqn_core.agent.layers import NoisyLinear
from dqn_core.agent.learner import Learner
from dqn_core.agent.networks import QNetwork, build_network
from dqn_core.agent.schedules import beta_schedule
from dqn_core.agent.torsos import (
    DERTorso,
    MLPTorso,
    NatureTorso,
    der_conv_output,
    nature_conv_output,
)
from dqn_core.config import AgentConfig, ConfigError, from_dict, load_config
from dqn_core.envs import clip_reward, make_vec_env
from dqn_core.replay import make_replay
from dqn_core.seeding import Seeds


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def pixels(batch: int, shape: tuple[int, ...] = (4, 84, 84), seed: int = 0) -> torch.Tensor:
    return torch.randint(0, 256, (batch, *shape), dtype=torch.uint8, generator=gen(seed))


# ---------------------------------------------------------------------- torsos
def test_nature_cnn_shapes_and_parameter_count() -> None:
    torso = NatureTorso((4, 84, 84), gen())
    assert nature_conv_output((4, 84, 84)) == (64, 7, 7)
    assert torso(pixels(3)).shape == (3, 3136)
    net = build_network(AgentConfig(), (4, 84, 84), 6, gen())
    assert net(pixels(5)).shape == (5, 6)
    # Mnih et al. 2015: convs 8,224 + 32,832 + 36,928, then 3136x512 + 512 and 512x6 + 6.
    assert sum(p.numel() for p in net.parameters()) == 1_687_206


def test_nature_cnn_scales_uint8_inside_and_refuses_floats() -> None:
    torso = NatureTorso((4, 84, 84), gen(), channels_last=False)
    x = pixels(2)
    expected = torso.convs(x.float() / 255.0).flatten(1)
    assert torch.allclose(torso(x), expected, atol=1e-6)
    with pytest.raises(TypeError, match="uint8"):
        torso(x.float())


def test_channels_last_gives_the_same_values() -> None:
    a = build_network(AgentConfig(), (4, 84, 84), 4, gen(3), channels_last=True)
    b = build_network(AgentConfig(), (4, 84, 84), 4, gen(3), channels_last=False)
    x = pixels(4)
    assert torch.allclose(a(x), b(x), atol=1e-5)


def test_nature_cnn_rejects_small_or_flat_observations() -> None:
    with pytest.raises(ValueError, match="too small"):
        NatureTorso((4, 30, 30), gen())
    with pytest.raises(ValueError, match=r"\(frames, height, width\)"):
        NatureTorso((84, 84), gen())


def test_mlp_network_layout() -> None:
    agent = AgentConfig(network="mlp", mlp_hidden=(32, 16))
    net = build_network(agent, (4,), 2, gen())
    assert isinstance(net.torso, MLPTorso) and net.torso.output_dim == 32
    assert net(torch.zeros(7, 4)).shape == (7, 2)
    # One hidden width: the torso is just a flatten, the head holds the layer.
    single = build_network(AgentConfig(network="mlp", mlp_hidden=(8,)), (2, 3), 3, gen())
    assert single(torch.zeros(1, 2, 3)).shape == (1, 3)
    with pytest.raises(ValueError, match="mlp_hidden"):
        build_network(AgentConfig(network="mlp", mlp_hidden=()), (4,), 2, gen())


# -------------------------------------------------------------- initialisation
def test_initialisation_comes_from_the_generator_only() -> None:
    agent = AgentConfig(network="mlp", mlp_hidden=(16, 16), dueling=True)
    torch.manual_seed(1)
    a = build_network(agent, (4,), 3, gen(5))
    torch.manual_seed(2)  # the global RNG must not matter
    b = build_network(agent, (4,), 3, gen(5))
    c = build_network(agent, (4,), 3, gen(6))
    pairs = list(zip(a.parameters(), b.parameters(), c.parameters(), strict=True))
    assert all(torch.equal(pa, pb) for pa, pb, _ in pairs)
    assert not all(torch.equal(pa, pc) for pa, _, pc in pairs)


def test_weights_are_uniform_within_one_over_sqrt_fan_in() -> None:
    net = build_network(AgentConfig(), (4, 84, 84), 6, gen())
    layers = [m for m in net.modules() if isinstance(m, torch.nn.Linear | torch.nn.Conv2d)]
    assert len(layers) == 5
    for layer in layers:
        bound = 1.0 / math.sqrt(layer.weight[0].numel())
        for p in (layer.weight, layer.bias):
            assert p.abs().max().item() <= bound
        assert layer.weight.abs().max().item() > 0.9 * bound  # fills the range


# ----------------------------------------------------------------------- heads
def test_dueling_combines_value_and_mean_centred_advantage() -> None:
    agent = AgentConfig(network="mlp", mlp_hidden=(8, 8), dueling=True)
    net = build_network(agent, (3,), 4, gen())
    x = torch.randn(5, 3, generator=gen(1))
    assert net.value is not None
    features = net.torso(x)
    value, advantage = net.value(features), net.advantage(features)
    expected = value + advantage - advantage.mean(1, keepdim=True)
    q = net(x)
    assert torch.allclose(q, expected, atol=1e-6)
    # The mean over actions of Q is V itself (the identifiability constraint).
    assert torch.allclose(q.mean(1, keepdim=True), value, atol=1e-6)


def test_categorical_head_outputs_distributions_and_their_means() -> None:
    agent = AgentConfig(
        network="mlp",
        mlp_hidden=(8,),
        distributional=True,
        num_atoms=11,
        v_min=-2.0,
        v_max=3.0,
        dueling=True,
    )
    net = build_network(agent, (3,), 4, gen())
    x = torch.randn(6, 3, generator=gen(2))
    log_p = net.log_probs(x)
    assert log_p.shape == (6, 4, 11)
    assert torch.allclose(log_p.exp().sum(-1), torch.ones(6, 4), atol=1e-5)
    support = torch.linspace(-2.0, 3.0, 11)
    assert torch.allclose(net(x), (log_p.exp() * support).sum(-1), atol=1e-5)
    assert torch.allclose(net.q_from_log_probs(log_p), net(x), atol=1e-5)
    scalar = build_network(AgentConfig(network="mlp", mlp_hidden=(8,)), (3,), 4, gen())
    with pytest.raises(RuntimeError, match="scalar Q head"):
        scalar.log_probs(x)


# ------------------------------------------------------------------ noisy nets
def test_noisy_linear_initialisation() -> None:
    layer = NoisyLinear(16, 4, 0.5, gen())
    assert torch.allclose(layer.weight_sigma, torch.full((4, 16), 0.5 / 4))
    assert torch.allclose(layer.bias_sigma, torch.full((4,), 0.5 / 4))
    assert layer.weight_mu.abs().max().item() <= 0.25
    with pytest.raises(ValueError, match="sigma0"):
        NoisyLinear(4, 4, 0.0, gen())


def test_noisy_linear_equals_the_factorised_weight_formula() -> None:
    layer = NoisyLinear(5, 3, 0.5, gen())
    layer.reset_noise(gen(7))
    f = layer.eps_out[:, None] * layer.eps_in[None, :]
    weight = layer.weight_mu + layer.weight_sigma * f
    bias = layer.bias_mu + layer.bias_sigma * layer.eps_out
    x = torch.randn(4, 5, generator=gen(1))
    assert torch.allclose(layer(x), x @ weight.T + bias, atol=1e-6)
    # f(x) = sign(x) sqrt(|x|) of standard normals.
    raw = torch.randn(5, generator=gen(7))
    assert torch.allclose(layer.eps_in, raw.sign() * raw.abs().sqrt())


def test_noisy_linear_at_zero_noise_acts_with_its_mean_layer_exactly() -> None:
    """Acting at zero noise (evaluation) skips the noise product: the same values as the
    full formula; sigma still gets its (zero) gradient under autograd; and loaded
    noise buffers are used, not a stale 'zero' flag."""
    layer = NoisyLinear(6, 3, 0.5, gen())
    x = torch.randn(4, 6, generator=gen(1))
    layer.reset_noise(gen(2))
    noisy = layer(x).detach()
    state = {k: v.clone() for k, v in layer.state_dict().items()}
    layer.zero_noise()
    full = layer(x)  # autograd on: the full formula
    with torch.no_grad():
        assert torch.equal(layer(x), full.detach())
        assert torch.equal(layer(x), torch.nn.functional.linear(x, layer.weight_mu, layer.bias_mu))
    full.sum().backward()
    assert layer.weight_sigma.grad is not None and not layer.weight_sigma.grad.any()
    layer.load_state_dict(state)  # a checkpoint's noise
    with torch.no_grad():
        assert torch.equal(layer(x), noisy)


def test_noise_changes_only_on_reset_and_follows_the_generator() -> None:
    agent = AgentConfig(network="mlp", mlp_hidden=(8, 8), noisy=True)
    net = build_network(agent, (3,), 2, gen())
    x = torch.randn(4, 3, generator=gen(1))
    noise = gen(11)
    net.reset_noise(noise)
    first = net(x)
    assert torch.equal(net(x), first)  # no redraw inside forward
    net.reset_noise(noise)
    assert not torch.allclose(net(x), first)
    twin = build_network(agent, (3,), 2, gen())
    twin.reset_noise(gen(11))
    assert torch.equal(twin(x), first)
    # Noise lives in buffers, so it is part of the state dict (exact resume).
    assert any(k.endswith("eps_in") for k in net.state_dict())


def test_qnetwork_validates_its_arguments() -> None:
    torso = MLPTorso((3,), (), gen())
    with pytest.raises(ValueError, match="num_actions"):
        QNetwork(torso, 3, 0, 8, gen())
    with pytest.raises(ValueError, match="support"):
        QNetwork(torso, 3, 2, 8, gen(), support=torch.zeros(1))


# ------------------------------------------------------------------- DER torso
def der_agent(**head: Any) -> AgentConfig:
    return AgentConfig(network="der_cnn", hidden_size=256, **head)


def test_der_cnn_has_the_published_layers_and_576_features() -> None:
    torso = DERTorso((4, 84, 84), gen(), channels_last=False)
    assert der_conv_output((4, 84, 84)) == (64, 3, 3) and torso.output_dim == 576
    kinds = [type(m) for m in torso.convs]
    assert kinds == [torch.nn.Conv2d, torch.nn.ReLU, torch.nn.Conv2d, torch.nn.ReLU]
    convs = [m for m in torso.convs if isinstance(m, torch.nn.Conv2d)]
    assert [tuple(c.weight.shape) for c in convs] == [(32, 4, 5, 5), (64, 32, 5, 5)]
    assert all(c.stride == (5, 5) and c.padding == (0, 0) for c in convs)
    maps: list[tuple[int, ...]] = []
    for conv in convs:
        conv.register_forward_hook(lambda _m, _i, out: maps.append(tuple(out.shape)))
    assert torso(pixels(3)).shape == (3, 576)
    assert maps == []  # the fast path multiplies patches; the convolutions are its reference
    assert torso.reference_forward(pixels(3)).shape == (3, 576)
    assert maps == [(3, 32, 16, 16), (3, 64, 3, 3)]
    # 4x32x25 + 32 and 32x64x25 + 64.
    assert sum(p.numel() for p in torso.parameters()) == 3_232 + 51_264


def test_der_cnn_padding_is_valid() -> None:
    """Unpadded stride-5 layers see input rows/columns 0..74 only (conv2 reads conv1 rows 0..14)."""
    torso = DERTorso((4, 84, 84), gen(), channels_last=False)
    x = pixels(4)
    base = torso(x)
    unseen = x.clone()
    unseen[:, :, 75:, :] = 255 - unseen[:, :, 75:, :]
    unseen[:, :, :, 75:] = 255 - unseen[:, :, :, 75:]
    assert torch.equal(torso(unseen), base)
    for row, col in ((74, slice(None)), (slice(None), 74)):
        seen = x.clone()
        seen[:, :, row, col] = 255 - seen[:, :, row, col]
        assert not torch.allclose(torso(seen), base)


def test_der_cnn_scales_uint8_and_rejects_bad_inputs() -> None:
    torso = DERTorso((4, 84, 84), gen(), channels_last=False)
    x = pixels(2)
    assert torch.allclose(torso(x), torso.convs(x.float() / 255.0).flatten(1), atol=1e-6)
    with pytest.raises(TypeError, match="DER CNN takes uint8"):
        torso(x.float())
    with pytest.raises(ValueError, match="too small for the DER CNN \\(needs at least 25x25\\)"):
        DERTorso((4, 24, 24), gen())
    assert DERTorso((4, 25, 25), gen())(pixels(1, (4, 25, 25))).shape == (1, 64)
    with pytest.raises(ValueError, match=r"DER CNN needs \(frames, height, width\)"):
        DERTorso((84, 84), gen())


HEADS = {
    "plain": {},
    "dueling": {"dueling": True},
    "noisy": {"noisy": True, "noisy_sigma0": 0.1},
    "distributional": {"distributional": True},
    "rainbow": {"dueling": True, "noisy": True, "noisy_sigma0": 0.1, "distributional": True},
}


@pytest.mark.parametrize("head", HEADS)
def test_der_cnn_works_with_every_head(head: str) -> None:
    agent = der_agent(**HEADS[head])
    net = build_network(agent, (4, 84, 84), 6, gen())
    assert isinstance(net.torso, DERTorso)
    if agent.noisy:
        net.reset_noise(gen(1))
    x = pixels(5)
    q = net(x)
    assert q.shape == (5, 6) and torch.isfinite(q).all()
    if agent.distributional:
        log_p = net.log_probs(x)
        assert log_p.shape == (5, 6, 51)
        assert torch.allclose(log_p.exp().sum(-1), torch.ones(5, 6), atol=1e-5)
    q.sum().backward()
    conv1 = net.torso.convs[0]
    assert conv1.weight.grad is not None and conv1.weight.grad.abs().sum() > 0


def test_der_rainbow_network_parameter_count() -> None:
    net = build_network(der_agent(**HEADS["rainbow"]), (4, 84, 84), 6, gen())
    # Torso 54,496. Noisy layers hold mu and sigma for weight and bias: 2 (in x out + out).
    # Value 576->256->51, advantage 576->256->6x51.
    torso = 3_232 + 51_264
    value = 2 * (576 * 256 + 256) + 2 * (256 * 51 + 51)
    advantage = 2 * (576 * 256 + 256) + 2 * (256 * 306 + 306)
    assert torso + value + advantage == 828_842
    assert sum(p.numel() for p in net.parameters()) == 828_842


def test_der_cnn_initialisation_comes_from_the_generator_only() -> None:
    agent = der_agent(**HEADS["rainbow"])
    torch.manual_seed(1)
    a = build_network(agent, (4, 84, 84), 6, gen(5))
    torch.manual_seed(2)  # the global RNG must not matter
    b = build_network(agent, (4, 84, 84), 6, gen(5))
    c = build_network(agent, (4, 84, 84), 6, gen(6))
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert sa.keys() == sb.keys() == sc.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(a.torso.convs[0].weight, c.torso.convs[0].weight)
    assert not torch.equal(a.torso.convs[2].weight, c.torso.convs[2].weight)
    for conv in (a.torso.convs[0], a.torso.convs[2]):
        bound = 1.0 / math.sqrt(conv.weight[0].numel())
        assert conv.weight.abs().max().item() <= bound
        assert conv.weight.abs().max().item() > 0.9 * bound


@pytest.mark.parametrize("shape", [(4, 84, 84), (4, 25, 31), (3, 60, 52)])
def test_der_cnn_patch_path_equals_the_convolutions(shape: tuple[int, int, int]) -> None:
    """Outputs and gradients of the gather + matmul path equal nn.Conv2d's, to rounding."""
    torso = DERTorso(shape, gen(7))
    assert torso.patchwise and not NatureTorso((4, 84, 84), gen()).patchwise
    x = pixels(6, shape)
    fast = torso(x)
    fast_grads = torch.autograd.grad(fast.square().sum(), list(torso.parameters()))
    slow = torso.reference_forward(x)
    slow_grads = torch.autograd.grad(slow.square().sum(), list(torso.parameters()))
    assert fast.shape == slow.shape == (6, torso.output_dim)
    assert torch.allclose(fast, slow, atol=1e-5, rtol=1e-5)
    for a, b in zip(fast_grads, slow_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)
    # Any input memory layout gives the same features.
    assert torch.equal(torso(x.contiguous(memory_format=torch.channels_last)), fast)


@pytest.mark.parametrize("head", ["plain", "rainbow"])
def test_der_cnn_channels_last_and_contiguous_agree(head: str) -> None:
    agent = der_agent(**HEADS[head])
    nhwc = build_network(agent, (4, 84, 84), 6, gen(3), channels_last=True)
    nchw = build_network(agent, (4, 84, 84), 6, gen(3), channels_last=False)
    # The patch path views the weights as matrices: they stay contiguous either way.
    assert nhwc.torso.convs[0].weight.is_contiguous()
    assert nchw.torso.convs[0].weight.is_contiguous()
    for net in (nhwc, nchw):
        net.reset_noise(gen(4))
    x = pixels(8)
    expected = nchw(x)
    assert torch.allclose(nhwc(x), expected, atol=1e-5)
    # Either network takes either input layout.
    x_nhwc = x.contiguous(memory_format=torch.channels_last)
    assert torch.allclose(nhwc(x_nhwc), expected, atol=1e-5)
    assert torch.allclose(nchw(x_nhwc), expected, atol=1e-5)


@pytest.mark.parametrize("network", ["der_cnn", "nature_cnn", "mlp"])
def test_prepared_observations_give_exactly_the_same_outputs(network: str) -> None:
    """The learner prepares next_obs once for the target and online networks: the same
    values, bit for bit, as each network converting the frames itself."""
    if network == "mlp":
        agent = AgentConfig(network="mlp", mlp_hidden=(16, 8), dueling=True, noisy=True)
        shape: tuple[int, ...] = (5,)
        x = torch.randn(6, 5, generator=gen(2))
    else:
        agent = der_agent(**HEADS["rainbow"]) if network == "der_cnn" else AgentConfig()
        shape = (4, 84, 84)
        x = pixels(6)
    online = build_network(agent, shape, 4, gen(5))
    target = build_network(agent, shape, 4, gen(6))
    if agent.noisy:
        online.reset_noise(gen(7))
        target.reset_noise(gen(8))
    prepared = online.prepare(x)
    before = prepared.tensor.clone()
    for net in (online, target):
        assert torch.equal(net(prepared), net(x))
        if agent.distributional:
            assert torch.equal(net.log_probs(prepared), net.log_probs(x))
    assert torch.equal(prepared.tensor, before)  # the networks do not modify it
    if network != "mlp":
        with pytest.raises(ValueError, match=r"built for frames of shape \(4, 84, 84\)"):
            online.prepare(pixels(2, (4, 80, 80)))


# ------------------------------------------------------------------ the config
def test_config_accepts_der_cnn_for_atari_and_rejects_it_for_classic() -> None:
    for protocol in ("nature2015", "machado2018", "atari100k"):
        cfg = from_dict({"env": {"protocol": protocol}, "agent": {"network": "der_cnn"}})
        assert cfg.agent.network == "der_cnn"
    classic = {"game": "CartPole-v1", "protocol": "classic"}
    with pytest.raises(ConfigError, match=r"^agent\.network: classic.*'der_cnn'"):
        from_dict({"env": classic, "agent": {"network": "der_cnn"}})
    with pytest.raises(
        ConfigError, match=r"^agent\.network: Atari .*nature_cnn, dopamine_cnn or der_cnn"
    ):
        from_dict({"env": {"protocol": "atari100k"}, "agent": {"network": "mlp"}})
    with pytest.raises(ConfigError, match=r"agent\.network.*der_cnn"):
        from_dict({"agent": {"network": "der"}})


def test_der_preset_uses_the_der_torso() -> None:
    cfg = load_config("der")
    assert cfg.agent.network == "der_cnn" and cfg.agent.hidden_size == 256


# --------------------------------------------------------- end to end, real Pong
def test_der_preset_learner_updates_on_a_real_pong_replay_batch() -> None:
    """The der preset's learner on real Pong frames from the real replay memory."""
    # Small replay (the preset's 100k transitions would allocate ~700 MB); all else as shipped.
    cfg = load_config("der", overrides={"replay": {"capacity": 400}})
    seeds = Seeds(cfg.seed)
    env = make_vec_env(cfg, 1, seeds.int("env"))
    try:
        assert env.obs_shape == (4, 84, 84) and env.obs_dtype == np.uint8
        replay = make_replay(cfg, env.obs_shape, env.obs_dtype, 1, seeds.numpy("replay"), "cpu")
        rng = seeds.numpy("exploration")
        obs = env.reset()
        for _ in range(120):  # > n_step (20) + frame_stack, with a few episodes' worth of frames
            actions = rng.integers(0, env.num_actions, size=1)
            out = env.step(actions)
            reward = clip_reward(out.reward)  # atari100k clips rewards
            replay.add(
                obs,
                actions,
                reward,
                env.learning_terminal(out),
                out.terminated | out.truncated,
                out.next_obs,
            )
            obs = out.obs
        num_actions = env.num_actions
    finally:
        env.close()
    assert len(replay) > cfg.train.batch_size

    learner = Learner(cfg, env.obs_shape, num_actions, "cpu", seeds)
    assert isinstance(learner.online.torso, DERTorso) and learner.online.torso.output_dim == 576
    before = {k: v.clone() for k, v in learner.online.state_dict().items()}
    target_before = [p.detach().clone() for p in learner.target.parameters()]
    beta_at = beta_schedule(cfg.replay, cfg.train.total_steps)
    for step in range(3):
        beta = beta_at(step)
        batch = replay.sample(cfg.train.batch_size, beta=beta)
        assert batch.obs.dtype == torch.uint8 and batch.obs.shape == (32, 4, 84, 84)
        assert int(batch.obs.max()) > int(batch.obs.min())  # real frames, not blanks
        metrics, priorities = learner.update(batch)
        assert torch.isfinite(metrics["loss"]) and torch.isfinite(metrics["grad_norm"])
        assert priorities is not None and torch.isfinite(priorities).all()
        replay.update_priorities(batch.indices, priorities.detach().cpu().numpy())
    assert learner.updates == 3
    after = learner.online.state_dict()
    for name in ("torso.convs.0.weight", "torso.convs.2.weight", "advantage.0.weight_mu"):
        assert not torch.equal(after[name], before[name]), name
    # The target's weights move only on sync (its noise buffers are redrawn every update).
    target_after = list(learner.target.parameters())
    assert all(torch.equal(a, b) for a, b in zip(target_after, target_before, strict=True))
    learner.sync_target()
    assert torch.equal(learner.target.torso.convs[0].weight, learner.online.torso.convs[0].weight)


# ------------------------------------------------------------- initialisation
def _plain_layers(net: torch.nn.Module) -> list[torch.nn.Module]:
    return [m for m in net.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]


def test_xavier_init_is_flaxs_xavier_uniform_with_zero_biases() -> None:
    """Dopamine's FullRainbowNetwork: nn.Conv / nn.Dense with xavier_uniform(), zero biases."""
    cfg = load_config("drq-eps", sets=["agent.init=xavier"])
    net = build_network(cfg.agent, (4, 84, 84), 6, gen(0))
    fan_in_net = build_network(
        load_config("drq-eps", sets=["agent.init=fan_in"]).agent, (4, 84, 84), 6, gen(0)
    )
    layers = _plain_layers(net)
    # 3 convolutions, the shared 512-unit layer, the advantage and value outputs.
    assert [tuple(m.weight.shape) for m in layers] == [
        (32, 4, 8, 8), (64, 32, 4, 4), (64, 64, 3, 3), (512, 7744), (6, 512), (1, 512)
    ]  # fmt: skip
    # Flax's fans count the receptive field: conv1 256 in, 2,048 out.
    bounds = [math.sqrt(6.0 / (fi + fo)) for fi, fo in
              [(256, 2048), (512, 1024), (576, 576), (7744, 512), (512, 6), (512, 1)]]  # fmt: skip
    for layer, bound, old in zip(layers, bounds, _plain_layers(fan_in_net), strict=True):
        w = layer.weight.detach()
        assert float(w.abs().max()) <= bound
        assert torch.count_nonzero(layer.bias) == 0
        assert torch.count_nonzero(old.bias) == old.bias.numel()  # fan_in: U(+-1/sqrt(fan_in))
        if w.numel() > 10_000:  # uniform in +-bound: variance bound^2 / 3
            assert float(w.var()) == pytest.approx(bound**2 / 3, rel=0.05)
    # The dense layer's weights are ~2.4x those of the fan-in scheme (0.0270 against 0.0114).
    assert float(layers[3].weight.detach().abs().max()) > 2 * float(
        _plain_layers(fan_in_net)[3].weight.detach().abs().max()
    )


def test_xavier_init_leaves_noisy_layers_and_does_not_depend_on_the_memory_layout() -> None:
    der = load_config("der")
    xav = load_config("der", sets=["agent.init=xavier"])
    a = build_network(der.agent, (4, 84, 84), 6, gen(1))
    b = build_network(xav.agent, (4, 84, 84), 6, gen(1), channels_last=True)
    c = build_network(xav.agent, (4, 84, 84), 6, gen(1), channels_last=False)
    noisy_a = [m for m in a.modules() if isinstance(m, NoisyLinear)]
    noisy_b = [m for m in b.modules() if isinstance(m, NoisyLinear)]
    assert len(noisy_a) == 4
    for x, y in zip(noisy_a, noisy_b, strict=True):  # Fortunato et al.'s, as Dopamine's
        for name in ("weight_mu", "weight_sigma", "bias_mu", "bias_sigma"):
            assert torch.equal(getattr(x, name), getattr(y, name))
    convs_a, convs_b, convs_c = (_plain_layers(n) for n in (a, b, c))
    assert len(convs_b) == 2
    for x, y, z in zip(convs_a, convs_b, convs_c, strict=True):
        assert not torch.equal(x.weight, y.weight)
        assert torch.equal(y.weight, z.weight) and torch.count_nonzero(y.bias) == 0
    frames = pixels(4)
    assert torch.allclose(b(frames), c(frames), atol=1e-5)
