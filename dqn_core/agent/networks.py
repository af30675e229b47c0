"""Q-networks of the DQN family: a torso (:mod:`.torsos`) and a head.

A :class:`QNetwork` is a torso (a CNN for stacked uint8 frames: the Nature CNN
or the smaller data-efficient Rainbow CNN; or an MLP for vector observations)
followed by a head:

* plain Q head (Mnih et al. 2015): ``Linear(F, H) -> ReLU -> Linear(H, A)``;
* dueling head (Wang et al. 2016): a value and an advantage stream, each
  ``Linear(F, H) -> ReLU -> Linear``, combined as ``V + A - mean_a A``;
* categorical head (Bellemare et al. 2017, C51): ``num_atoms`` logits per action,
  a softmax over atoms gives the return distribution on a fixed support;
  with dueling, the combination is applied to the logits as in Rainbow
  (Hessel et al. 2018);
* noisy layers (Fortunato et al. 2018, factorised Gaussian) replace the head's
  linear layers (the torso stays deterministic, as in Rainbow).

``H`` is ``agent.hidden_size`` after the CNN, or the last entry of
``agent.mlp_hidden`` for the MLP (whose other entries form the torso).

Initialisation draws from an explicit generator (the ``init`` stream), never
from torch's global RNG: weights and biases are uniform in +-1/sqrt(fan_in),
which is both Lua-Torch's default (what the Nature DQN used) and PyTorch's;
``agent.init: xavier`` redraws the convolutions and plain linear layers as Flax
initialises Dopamine's networks (Xavier-uniform weights, zero biases).
Noise draws come from the generator passed to :meth:`QNetwork.reset_noise`.

The CNNs take uint8 pixels (0..255) and scale them inside, in one fused
conversion to float32 in channels-last memory layout (faster convolutions on
CPU; see benchmarks/learner.py). All their convolutions are unpadded ("VALID").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

from dqn_core.agent.layers import NoisyLinear, linear_layer, xavier_uniform_
from dqn_core.agent.torsos import (
    ConvTorso,
    DERTorso,
    DopamineTorso,
    MLPTorso,
    NatureTorso,
)
from dqn_core.config import AgentConfig


class Prepared(NamedTuple):
    """A batch of observations already converted for a torso (:meth:`QNetwork.prepare`).

    The learner prepares ``next_obs`` once and hands it to the target and online
    networks: the uint8-to-float conversion (and the DER torso's patch gather) is
    then paid once, with the same values as two separate conversions.
    """

    tensor: Tensor


class QNetwork(nn.Module):
    """Torso + (dueling) (noisy) (categorical) head.

    ``forward(obs)`` returns Q-values (B, A) in every configuration (the mean of
    the return distribution for C51); :meth:`log_probs` returns the (B, A, atoms)
    log-probabilities of a categorical network.
    """

    support: Tensor  # (atoms,) buffer of categorical networks

    def __init__(
        self,
        torso: ConvTorso | MLPTorso,
        feature_dim: int,
        num_actions: int,
        hidden: int,
        generator: torch.Generator,
        *,
        dueling: bool = False,
        noisy: bool = False,
        sigma0: float = 0.5,
        support: Tensor | None = None,
        shared_hidden: bool = False,
    ) -> None:
        """Args:
        torso: maps observations to (B, feature_dim) features.
        feature_dim: torso output width.
        num_actions: number of discrete actions.
        hidden: width of the head's hidden layer (per stream).
        generator: CPU generator for the initial weights.
        dueling: separate value and advantage streams.
        noisy: factorised-Gaussian noisy linear layers in the head.
        sigma0: initial noise scale of noisy layers.
        support: (atoms,) evenly spaced return atoms for a categorical head,
            None for a scalar Q head.
        shared_hidden: one hidden layer that the value and advantage outputs
            share (Dopamine's ``FullRainbowNetwork``), instead of one per stream
            (Wang et al. 2016).
        """
        super().__init__()
        if num_actions < 1:
            raise ValueError(f"num_actions: {num_actions!r} must be >= 1")
        if hidden < 1:
            raise ValueError(f"hidden: {hidden!r} must be >= 1")
        self.torso = torso
        self.num_actions = num_actions
        self.dueling = dueling
        self.noisy = noisy
        self.distributional = support is not None
        self.num_atoms = 1 if support is None else int(support.numel())
        if support is not None:
            if support.ndim != 1 or support.numel() < 2:
                raise ValueError(
                    f"support: expected a 1-D tensor of >= 2 atoms, got {support.shape}"
                )
            self.register_buffer("support", support.to(torch.float32).clone(), persistent=False)

        self.shared: nn.Sequential | None = None
        if shared_hidden:
            self.shared = nn.Sequential(
                linear_layer(feature_dim, hidden, noisy, sigma0, generator), nn.ReLU(inplace=True)
            )

        def stream(out: int) -> nn.Module:
            if shared_hidden:
                return linear_layer(hidden, out, noisy, sigma0, generator)
            return nn.Sequential(
                linear_layer(feature_dim, hidden, noisy, sigma0, generator),
                nn.ReLU(inplace=True),
                linear_layer(hidden, out, noisy, sigma0, generator),
            )

        self.advantage = stream(num_actions * self.num_atoms)
        self.value = stream(self.num_atoms) if dueling else None
        # Listed once: acting draws (or zeroes) the noise at every agent step.
        self._noisy_layers = [m for m in self.modules() if isinstance(m, NoisyLinear)]

    def prepare(self, obs: Tensor) -> Prepared:
        """Observations converted once for this network's torso (and any copy of it)."""
        return Prepared(self.torso.prepare(obs))

    def _head(self, obs: Tensor | Prepared) -> Tensor:
        """(B, A, atoms) logits, or (B, A, 1) Q-values."""
        features = self.torso.body(obs.tensor) if isinstance(obs, Prepared) else self.torso(obs)
        if self.shared is not None:
            features = self.shared(features)
        out = self.advantage(features).view(-1, self.num_actions, self.num_atoms)
        if self.value is not None:
            value = self.value(features).view(-1, 1, self.num_atoms)
            out = value + out - out.mean(dim=1, keepdim=True)
        return out

    def forward(self, obs: Tensor | Prepared) -> Tensor:
        """Q-values (B, A) of observations (or of :meth:`prepare`'s output)."""
        out = self._head(obs)
        if not self.distributional:
            return out.squeeze(-1)
        return torch.softmax(out, dim=-1) @ self.support

    def log_probs(self, obs: Tensor | Prepared) -> Tensor:
        """Log-probabilities (B, A, atoms) of the return distribution (categorical nets only)."""
        if not self.distributional:
            raise RuntimeError("log_probs: this network has a scalar Q head (distributional=false)")
        return torch.log_softmax(self._head(obs), dim=-1)

    def q_from_log_probs(self, log_probs: Tensor) -> Tensor:
        """Mean of the return distribution: (B, A, atoms) log-probs to (B, A) Q-values."""
        return log_probs.exp() @ self.support

    def reset_noise(self, generator: torch.Generator) -> None:
        """Draw fresh noise in every noisy layer (no-op without noisy layers)."""
        for layer in self._noisy_layers:
            layer.reset_noise(generator)

    def zero_noise(self) -> None:
        """Zero the noise of every noisy layer: the network acts with its mean weights."""
        for layer in self._noisy_layers:
            layer.zero_noise()


def categorical_support(agent: AgentConfig) -> Tensor:
    """The C51 atoms: ``num_atoms`` evenly spaced values from ``v_min`` to ``v_max``."""
    return torch.linspace(agent.v_min, agent.v_max, agent.num_atoms, dtype=torch.float32)


def build_network(
    agent: AgentConfig,
    obs_shape: Sequence[int],
    num_actions: int,
    generator: torch.Generator,
    *,
    channels_last: bool = True,
) -> QNetwork:
    """The Q-network described by ``agent`` (on the CPU; move it with ``.to(device)``).

    Args:
        agent: network, hidden sizes, dueling/noisy/distributional switches.
        obs_shape: one observation's shape: (frames, H, W) for the CNNs, (D,) for the MLP.
        num_actions: number of discrete actions.
        generator: CPU generator for the initial weights (the ``init`` stream).
        channels_last: NHWC convolutions (CNNs only).

    Returns:
        The network, initialised from ``generator``.
    """
    torso: ConvTorso | MLPTorso
    if agent.network == "nature_cnn":
        torso = NatureTorso(obs_shape, generator, channels_last=channels_last)
        hidden = agent.hidden_size
    elif agent.network == "dopamine_cnn":
        torso = DopamineTorso(obs_shape, generator, channels_last=channels_last)
        hidden = agent.hidden_size
    elif agent.network == "der_cnn":
        torso = DERTorso(obs_shape, generator, channels_last=channels_last)
        hidden = agent.hidden_size
    elif agent.network == "mlp":
        if not agent.mlp_hidden:
            raise ValueError("agent.mlp_hidden: needs at least one layer width, got []")
        if len(obs_shape) < 1:
            raise ValueError(f"obs_shape: {tuple(obs_shape)} has no elements")
        torso = MLPTorso(obs_shape, agent.mlp_hidden[:-1], generator)
        hidden = agent.mlp_hidden[-1]
    else:
        raise ValueError(
            f"agent.network: {agent.network!r} is not one of nature_cnn, dopamine_cnn, der_cnn, mlp"
        )
    net = QNetwork(
        torso,
        torso.output_dim,
        num_actions,
        hidden,
        generator,
        dueling=agent.dueling,
        noisy=agent.noisy,
        sigma0=agent.noisy_sigma0,
        support=categorical_support(agent) if agent.distributional else None,
        shared_hidden=agent.head_hidden == "shared",
    )
    if agent.init == "xavier":
        # Drawn after the fan-in initialisation, layer by layer in module order, so the
        # noisy layers (which keep Fortunato et al.'s initialisation, as Dopamine's do)
        # hold the same values under either scheme.
        for module in net.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                xavier_uniform_(module.weight, module.bias, generator)
    elif agent.init != "fan_in":
        raise ValueError(f"agent.init: {agent.init!r} is not one of fan_in, xavier")
    return net
