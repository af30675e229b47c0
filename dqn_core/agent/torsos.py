"""Torsos of the Q-networks: the Nature and DER CNNs for stacked uint8 frames, an MLP for vectors.

The CNNs take uint8 pixels (0..255) and scale them inside, in one fused
conversion to float32 in channels-last memory layout (faster convolutions on
CPU; see benchmarks/learner.py). Their convolutions are unpadded ("VALID"), but
for :class:`DopamineTorso`'s, padded as Dopamine's ("SAME").
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dqn_core.agent.layers import linear_layer, uniform_fan_in_

#: Convolution layers as (out_channels, kernel, stride), all unpadded.
ConvSpec = tuple[tuple[int, int, int], ...]

#: Nature CNN layers (Mnih et al. 2015, Methods).
NATURE_CONVS: ConvSpec = ((32, 8, 4), (64, 4, 2), (64, 3, 1))

#: Data-efficient Rainbow (DER) layers (van Hasselt, Hessel & Aslanides 2019; see DERTorso).
DER_CONVS: ConvSpec = ((32, 5, 5), (64, 5, 5))


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """Zero padding (before, after) of TensorFlow's and Flax's ``SAME``: ceil(size / stride) out.

    The odd pixel goes after, as there: 21 columns, kernel 4, stride 2 pad (1, 2).
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _conv_output(
    obs_shape: Sequence[int], convs: ConvSpec, name: str, same: bool = False
) -> tuple[int, int, int]:
    """(channels, height, width) after convolutions ``convs``, unpadded unless ``same``.

    Raises:
        ValueError: ``obs_shape`` is not (frames, height, width), or the frames are
            too small for the convolutions.
    """
    if len(obs_shape) != 3:
        raise ValueError(
            f"obs_shape: the {name} needs (frames, height, width), got {tuple(obs_shape)}"
        )
    _, h, w = obs_shape
    for _, kernel, stride in convs:
        if same:
            h, w = -(-h // stride), -(-w // stride)
            continue
        h = (h - kernel) // stride + 1
        w = (w - kernel) // stride + 1
        if h < 1 or w < 1:
            # Smallest input that leaves one output pixel: walk the layers backwards.
            least = 1
            for _, k, s in reversed(convs):
                least = (least - 1) * s + k
            raise ValueError(
                f"obs_shape: frames of {obs_shape[1]}x{obs_shape[2]} are too small for the "
                f"{name} (needs at least {least}x{least})"
            )
    return convs[-1][0], h, w


def nature_conv_output(obs_shape: Sequence[int]) -> tuple[int, int, int]:
    """(channels, height, width) after the Nature CNN's convolutions: (64, 7, 7) for 84x84.

    Raises:
        ValueError: the frames are too small for the three convolutions.
    """
    return _conv_output(obs_shape, NATURE_CONVS, NatureTorso.name)


def der_conv_output(obs_shape: Sequence[int]) -> tuple[int, int, int]:
    """(channels, height, width) after the DER CNN's convolutions: (64, 3, 3) for 84x84.

    Raises:
        ValueError: the frames are too small for the two convolutions.
    """
    return _conv_output(obs_shape, DER_CONVS, DERTorso.name)


def _patch_index(obs_shape: Sequence[int], kernel: int) -> Tensor:
    """Flat indices into one (C, H, W) observation that list its kernel x kernel patches.

    Row-major over (i, j, c, kh, kw): output pixel (i, j), then the patch in the
    (c, kh, kw) order of a conv weight ``(out, c, kh, kw)`` viewed as a matrix.
    Rows and columns past the last whole patch are never read (VALID padding).
    """
    c, h, w = (int(s) for s in obs_shape)
    out_h, out_w = (h - kernel) // kernel + 1, (w - kernel) // kernel + 1
    i = torch.arange(out_h).view(-1, 1, 1, 1, 1)
    j = torch.arange(out_w).view(1, -1, 1, 1, 1)
    ch = torch.arange(c).view(1, 1, -1, 1, 1)
    kh = torch.arange(kernel).view(1, 1, 1, -1, 1)
    kw = torch.arange(kernel).view(1, 1, 1, 1, -1)
    return (ch * (h * w) + (kernel * i + kh) * w + kernel * j + kw).reshape(-1)


class ConvTorso(nn.Module):
    """Unpadded convolutions with a ReLU after each, on uint8 frames scaled by 1/255 inside.

    Subclasses name the layers (:attr:`convs_spec`) and the network (:attr:`name`,
    for error messages).
    """

    convs_spec: ClassVar[ConvSpec]
    name: ClassVar[str]
    #: Zero-pad each convolution's input as TensorFlow's and Flax's ``SAME`` does.
    same_padding: ClassVar[bool] = False

    def __init__(
        self, obs_shape: Sequence[int], generator: torch.Generator, channels_last: bool = True
    ) -> None:
        """Args:
        obs_shape: (frames, height, width), e.g. (4, 84, 84).
        generator: CPU generator for the initial weights.
        channels_last: run the convolutions in NHWC layout (faster on CPU).
        """
        super().__init__()
        c, h, w = _conv_output(obs_shape, self.convs_spec, self.name, self.same_padding)
        self.output_dim = c * h * w
        self.obs_shape = tuple(int(s) for s in obs_shape)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        layers: list[nn.Module] = []
        in_channels, h, w = self.obs_shape
        for out_channels, kernel, stride in self.convs_spec:
            if self.same_padding:
                (top, bottom), (left, right) = (
                    same_pads(h, kernel, stride),
                    same_pads(w, kernel, stride),
                )
                layers.append(nn.ZeroPad2d((left, right, top, bottom)))
                h, w = -(-h // stride), -(-w // stride)
            conv = nn.Conv2d(in_channels, out_channels, kernel, stride)  # padding 0: VALID
            uniform_fan_in_(conv.weight, conv.bias, generator)
            layers += [conv, nn.ReLU(inplace=True)]
            in_channels = out_channels
        # Kernel == stride everywhere: the patches do not overlap, and each layer is one
        # matrix product over gathered patches (see _patch_forward).
        self.patchwise = not self.same_padding and all(
            kernel == stride for _, kernel, stride in self.convs_spec
        )
        if self.patchwise:
            self.memory_format = torch.contiguous_format  # weights are viewed as matrices
            self.register_buffer(
                "_gather", _patch_index(self.obs_shape, self.convs_spec[0][1]), persistent=False
            )
            self._gather: Tensor
        # torch's type stubs omit Module.to's memory_format keyword.
        self.convs = nn.Sequential(*layers).to(memory_format=self.memory_format)  # type: ignore[call-overload]
        # For the patch path: the conv layers in order, and the first layer's output size.
        self._conv_layers = [m for m in self.convs if isinstance(m, nn.Conv2d)]
        self._first_map = _conv_output(
            self.obs_shape, self.convs_spec[:1], self.name, self.same_padding
        )[1:]

    def forward(self, obs: Tensor) -> Tensor:
        return self.body(self.prepare(obs))

    def prepare(self, obs: Tensor) -> Tensor:
        """The first layer's float input from uint8 frames: what :meth:`body` reads.

        For the patch path, the first layer's patches as a (B x patches, k x k x c)
        matrix; otherwise the frames in float32, in the convolutions' memory layout.
        Either way scaled to [0, 1]. Two networks with the same torso shape can share
        it: the learner prepares ``next_obs`` once for the target and online networks.
        """
        if obs.dtype != torch.uint8:
            raise TypeError(
                f"obs: the {self.name} takes uint8 pixels (0..255) and scales them itself, "
                f"got {obs.dtype}"
            )
        if tuple(obs.shape[1:]) != self.obs_shape:
            raise ValueError(
                f"obs: the {self.name} was built for frames of shape {self.obs_shape}, "
                f"got a batch of shape {tuple(obs.shape)}"
            )
        if not self.patchwise:
            return self._float_frames(obs)
        # The first layer's patches, gathered from the uint8 frames with one precomputed
        # index (in the weight's (c, kh, kw) order) and converted to float once.
        batch = obs.shape[0]
        x = torch.gather(obs.reshape(batch, -1), 1, self._gather.expand(batch, -1))
        return (
            x.view(-1, self._conv_layers[0].weight[0].numel()).to(torch.float32).mul_(1.0 / 255.0)
        )

    def body(self, x: Tensor) -> Tensor:
        """(B, features) from :meth:`prepare`'s output (which it does not modify)."""
        if self.patchwise:
            return self._patch_forward(x)
        return torch.flatten(self.convs(x), 1)

    def scale_samples_(self, x: Tensor, scale: Tensor) -> None:
        """Multiply each sample of :meth:`prepare`'s output by its entry of (B,) ``scale``, in place."""
        batch = scale.shape[0]
        if self.patchwise:  # (B x patches, k x k x c), one sample's patches together
            x.view(batch, -1).mul_(scale.view(batch, 1))
        else:
            x.mul_(scale.view(batch, 1, 1, 1))

    def _float_frames(self, obs: Tensor) -> Tensor:
        """One copy: uint8 -> float32 in the conv layout; the scale is applied in place."""
        return obs.to(dtype=torch.float32, memory_format=self.memory_format).mul_(1.0 / 255.0)

    def reference_forward(self, obs: Tensor) -> Tensor:
        """The torso as a stack of ``nn.Conv2d`` calls (what :meth:`_patch_forward` equals)."""
        return torch.flatten(self.convs(self._float_frames(obs)), 1)

    def _patch_forward(self, patches: Tensor) -> Tensor:
        """Non-overlapping convolutions as matrix products over gathered patches.

        With kernel == stride, output pixel (i, j) of a layer reads one k x k patch
        that no other output pixel reads, so the layer is ``patches @ W^T + b`` with
        one row per output pixel. The first layer's patches come from
        :meth:`prepare`; later layers read their input in (h, w, c)
        order, a view plus one copy, against the weight permuted to (kh, kw, c).
        Same parameters, same features in the same (c, h, w) order as
        :meth:`reference_forward`; only the summation order differs (float
        rounding). It skips mkldnn's layout conversions of a 4-channel, stride-5
        input: 1.09x the DER agent steps/s in the training loop on the 2-core CPUs
        here (benchmarks/der_throughput.py).
        """
        first, *rest = self._conv_layers
        height, width = self._first_map
        batch = patches.shape[0] // (height * width)
        h = torch.relu_(F.linear(patches, first.weight.view(first.out_channels, -1), first.bias))
        for conv, (_, k, _) in zip(rest, self.convs_spec[1:], strict=True):
            channels = conv.in_channels
            out_h, out_w = (height - k) // k + 1, (width - k) // k + 1
            grid = h.view(batch, height, width, channels)[:, : out_h * k, : out_w * k]
            patches = (
                grid.reshape(batch, out_h, k, out_w, k * channels)
                .permute(0, 1, 3, 2, 4)
                .reshape(batch * out_h * out_w, k * k * channels)
            )
            weight = conv.weight.permute(0, 2, 3, 1).reshape(conv.out_channels, -1)
            h = torch.relu_(F.linear(patches, weight, conv.bias))
            height, width = out_h, out_w
        # (b, h, w, c) rows to the (c, h, w) feature order of the reference.
        return h.view(batch, height * width, -1).transpose(1, 2).reshape(batch, -1)


class NatureTorso(ConvTorso):
    """The three convolutions of Mnih et al. 2015 on uint8 frames, scaled by 1/255 inside.

    84x84 frames: 20x20x32, 9x9x64, 7x7x64 = 3,136 features.
    """

    convs_spec = NATURE_CONVS
    name = "Nature CNN"


class DopamineTorso(ConvTorso):
    """The Nature CNN's three convolutions with ``SAME`` padding, as Dopamine's JAX networks.

    Flax's ``nn.Conv`` pads ``SAME`` by default, and Dopamine's
    ``FullRainbowNetwork`` (the network of its ``labs/atari_100k`` DER, DrQ and
    DrQ(eps) agents, whose runs make the published DrQ(eps) and SPR rows) keeps
    that default: 84x84 frames give 21x21x32, 11x11x64, 11x11x64 = 7,744
    features, where the unpadded Nature CNN gives 3,136.
    """

    convs_spec = NATURE_CONVS
    name = "Nature CNN with SAME padding (Dopamine)"
    same_padding = True


class DERTorso(ConvTorso):
    """The two convolutions of data-efficient Rainbow (van Hasselt et al. 2019), on uint8 frames.

    32 filters 5x5 stride 5, then 64 filters 5x5 stride 5, a ReLU after each, no
    padding: 84x84 frames give 16x16x32, then 3x3x64 = 576 features (Rainbow's
    head follows, with ``agent.hidden_size`` = 256 units per stream in the paper).
    With no padding the first layer never sees the last 4 rows and columns of an
    84x84 frame (84 = 16 x 5 + 4), and the second the last row and column of the
    16x16 map, as in any VALID-padded stride-5 stack.

    Sources: the paper's appendix (arXiv:1906.05243) was not reachable when this
    was written; the layer list, the padding and the 576 features follow
    Kaixhin/Rainbow ``model.py``, whose README gives ``--architecture
    data-efficient`` as the way to run DER: two ``Conv2d`` 5x5 stride 5 (32, then
    64 filters, a ReLU after each) with ``padding=0`` and ``conv_output_size =
    576``; the same README notes that DeepMind's networks use "valid" (no)
    padding. A SAME-padded stack would give 17x17, then 4x4 (1,024 features).
    Dopamine's ``labs/atari_100k`` DER config does not use this torso: its
    ``Atari100kRainbowAgent`` builds ``FullRainbowNetwork``, whose torso is the
    Nature CNN.
    """

    convs_spec = DER_CONVS
    name = "DER CNN"


class MLPTorso(nn.Module):
    """Fully connected ReLU layers on flattened float observations."""

    def __init__(
        self, obs_shape: Sequence[int], hidden: Sequence[int], generator: torch.Generator
    ) -> None:
        """Args:
        obs_shape: observation shape (flattened to one vector).
        hidden: widths of the torso's layers (may be empty: the torso is a flatten).
        generator: CPU generator for the initial weights.
        """
        super().__init__()
        in_features = math.prod(obs_shape)
        if in_features < 1:
            raise ValueError(f"obs_shape: {tuple(obs_shape)} has no elements")
        layers: list[nn.Module] = []
        for width in hidden:
            layers += [
                linear_layer(in_features, width, False, 1.0, generator),
                nn.ReLU(inplace=True),
            ]
            in_features = width
        self.layers = nn.Sequential(*layers)
        self.output_dim = in_features

    def forward(self, obs: Tensor) -> Tensor:
        return self.body(self.prepare(obs))

    def prepare(self, obs: Tensor) -> Tensor:
        """The observations flattened to float32 (what :meth:`body` reads)."""
        return torch.flatten(obs, 1).to(torch.float32)

    def body(self, x: Tensor) -> Tensor:
        """(B, features) from :meth:`prepare`'s output."""
        return self.layers(x)

    def scale_samples_(self, x: Tensor, scale: Tensor) -> None:
        """Multiply each row of :meth:`prepare`'s output by its entry of (B,) ``scale``, in place."""
        x.mul_(scale.view(-1, 1))
