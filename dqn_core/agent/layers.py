"""Layers and initialisation shared by the Q-networks: fan-in uniform init, noisy linear layers.

Initialisation draws from an explicit generator (the ``init`` stream), never
from torch's global RNG: weights and biases are uniform in +-1/sqrt(fan_in),
which is both Lua-Torch's default (what the Nature DQN used) and PyTorch's.
Noise draws come from the generator passed to :meth:`NoisyLinear.reset_noise`.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def uniform_fan_in_(weight: Tensor, bias: Tensor | None, generator: torch.Generator) -> None:
    """Initialise a layer's weight and bias uniformly in +-1/sqrt(fan_in).

    Args:
        weight: (out, in, ...) weight, filled in place.
        bias: (out,) bias or None, filled in place.
        generator: the CPU generator to draw from.
    """
    fan_in = weight[0].numel()
    bound = 1.0 / math.sqrt(fan_in)
    with torch.no_grad():
        weight.uniform_(-bound, bound, generator=generator)
        if bias is not None:
            bias.uniform_(-bound, bound, generator=generator)


def xavier_uniform_(weight: Tensor, bias: Tensor | None, generator: torch.Generator) -> None:
    """Xavier-uniform weight, zero bias: Flax's ``xavier_uniform()`` kernels, default biases.

    The weight is uniform in +-sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010),
    fans counting the kernel's receptive field as Flax does: ``in x kh x kw`` and
    ``out x kh x kw`` for a convolution. Dopamine's ``FullRainbowNetwork``
    (the DrQ(eps), DER and SPR code base) initialises its convolutions and plain
    dense layers this way.

    Args:
        weight: (out, in, ...) weight, filled in place.
        bias: (out,) bias or None, zeroed in place.
        generator: the CPU generator to draw from.
    """
    receptive = weight[0][0].numel() if weight.ndim > 2 else 1
    fan_in, fan_out = weight.shape[1] * receptive, weight.shape[0] * receptive
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    with torch.no_grad():
        # Drawn in the logical (out, in, ...) order whatever the weight's memory layout
        # (channels-last convolutions), so the values do not depend on it.
        draw = torch.empty(weight.shape, dtype=weight.dtype).uniform_(
            -bound, bound, generator=generator
        )
        weight.copy_(draw)
        if bias is not None:
            bias.zero_()


def _scaled_noise(n: int, generator: torch.Generator, device: torch.device) -> Tensor:
    """f(x) = sign(x) sqrt(|x|) of standard normal draws (Fortunato et al. 2018, eq. 11)."""
    x = torch.randn(n, generator=generator, device=device)
    return x.sign() * x.abs().sqrt()


class NoisyLinear(nn.Module):
    """Linear layer with factorised Gaussian parameter noise (Fortunato et al. 2018).

    ``y = (mu_W + sigma_W * (eps_out eps_in^T)) x + mu_b + sigma_b * eps_out``,
    computed without forming the noisy weight matrix:
    ``y = mu_W x + ((x * eps_in) sigma_W^T) * eps_out + mu_b + sigma_b * eps_out``.
    The noise lives in buffers (so it is checkpointed) and changes only when
    :meth:`reset_noise` is called.
    """

    def __init__(
        self, in_features: int, out_features: int, sigma0: float, generator: torch.Generator
    ) -> None:
        """Args:
        in_features: input width.
        out_features: output width.
        sigma0: initial noise scale; sigma starts at sigma0 / sqrt(in_features).
        generator: CPU generator for the initial mu.
        """
        super().__init__()
        if sigma0 <= 0:
            raise ValueError(f"sigma0: {sigma0!r} must be > 0")
        self.in_features = in_features
        self.out_features = out_features
        self.sigma0 = sigma0
        self.weight_mu = nn.Parameter(torch.empty(out_features, in_features))
        self.weight_sigma = nn.Parameter(torch.empty(out_features, in_features))
        self.bias_mu = nn.Parameter(torch.empty(out_features))
        self.bias_sigma = nn.Parameter(torch.empty(out_features))
        self.register_buffer("eps_in", torch.zeros(in_features))
        self.register_buffer("eps_out", torch.zeros(out_features))
        self.eps_in: Tensor
        self.eps_out: Tensor
        # True while both noise buffers hold zeros (as built, after zero_noise): then a
        # forward pass without autograd is the mean layer alone (see forward).
        self._noise_is_zero = True
        self.reset_parameters(generator)

    def reset_parameters(self, generator: torch.Generator) -> None:
        """mu ~ U(+-1/sqrt(in)), sigma = sigma0/sqrt(in) (Fortunato et al. 2018, sec. 3.2)."""
        uniform_fan_in_(self.weight_mu, self.bias_mu, generator)
        with torch.no_grad():
            self.weight_sigma.fill_(self.sigma0 / math.sqrt(self.in_features))
            self.bias_sigma.fill_(self.sigma0 / math.sqrt(self.in_features))

    def reset_noise(self, generator: torch.Generator) -> None:
        """Draw fresh factorised noise (in_features + out_features normals)."""
        device = self.eps_in.device
        self.eps_in.copy_(_scaled_noise(self.in_features, generator, device))
        self.eps_out.copy_(_scaled_noise(self.out_features, generator, device))
        self._noise_is_zero = False

    def zero_noise(self) -> None:
        """Set the noise to zero: the layer computes with its mean weights ``mu``."""
        self.eps_in.zero_()
        self.eps_out.zero_()
        self._noise_is_zero = True

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        super()._load_from_state_dict(state_dict, prefix, *args)
        # The loaded noise buffers decide (a checkpoint holds the noise of its step).
        self._noise_is_zero = not (bool(self.eps_in.any()) or bool(self.eps_out.any()))

    def forward(self, x: Tensor) -> Tensor:
        if self._noise_is_zero and not torch.is_grad_enabled():
            # Acting with the mean weights (evaluation): the noise terms are exact
            # zeros, so skip their product (half of the layer's work at batch 1).
            # Not under autograd: there sigma must still get its (zero) gradient.
            return F.linear(x, self.weight_mu, self.bias_mu)
        bias = torch.addcmul(self.bias_mu, self.bias_sigma, self.eps_out)
        mean = F.linear(x, self.weight_mu, bias)
        return torch.addcmul(mean, F.linear(x * self.eps_in, self.weight_sigma), self.eps_out)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, sigma0={self.sigma0}"


def linear_layer(
    in_features: int, out_features: int, noisy: bool, sigma0: float, generator: torch.Generator
) -> nn.Module:
    if noisy:
        return NoisyLinear(in_features, out_features, sigma0, generator)
    layer = nn.Linear(in_features, out_features)
    uniform_fan_in_(layer.weight, layer.bias, generator)
    return layer
