"""Networks: shapes, initialisation from a given generator, dueling/noisy/categorical heads."""

from __future__ import annotations

import math

import pytest
import torch

from dqn_core.config import AgentConfig
from dqn_core.networks import (
    MLPTorso,
    NatureTorso,
    NoisyLinear,
    QNetwork,
    build_network,
    nature_conv_output,
)


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
