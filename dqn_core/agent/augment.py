"""DrQ's image augmentation of replay batches (Kostrikov et al. 2020, as Dopamine runs it).

DrQ(eps) (Agarwal et al. 2021), whose 100 runs a game make the published
DrQ(eps) rows of the Atari-100k tables, is DQN with this augmentation of every
replay batch, as Dopamine's ``labs/atari_100k`` agents apply it
(``drq_image_augmentation``, with ``data_augmentation = True``):

* a random shift: each sample's frames are padded by 4 pixels on every side,
  repeating the edge pixels, and an 84 x 84 window is cut at a random offset,
  the same for the sample's stacked frames. Dopamine draws each offset from
  ``randint(0, 2 * pad)``, i.e. 0 to 7 (a shift of -4 to +3 pixels), and so do
  we;
* an intensity change: each sample's pixels, scaled to [0, 1], are multiplied
  by ``1 + 0.05 * clip(z, -2, 2)`` with ``z`` standard normal.

With ``per_sample=False`` (``agent.augmentation: drq_batch_shift``) one offset
is drawn for the whole batch instead, as Dopamine's code drew it until
2022-02-04 (commit 1bb064b, "Jit data augmentation functions", made the crop
per image): its ``_random_crop`` cut every sample of a batch at one offset,
in the code of the time the published DrQ(eps) runs were made (2021). The
intensity stays per sample in both.

``obs`` and ``next_obs`` get independent draws, and only the learner's update
sees them: acting, in training and in evaluation, reads the frames as they are.
The shift is one gather on the uint8 frames (``padded[i] = x[clamp(i - pad)]``,
so no padded copy is made); the intensity multiplies the network's prepared
float input in place.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dqn_core.agent.networks import Prepared, QNetwork

#: Pixels of edge padding (the largest shift).
PAD = 4
#: Standard deviation of the intensity factor, before the clip at two of them.
INTENSITY_SCALE = 0.05


class DrQAugmentation:
    """Random shift and intensity for batches of uint8 frames, from one generator.

    Every call draws, in this order, B row offsets, B column offsets (one of
    each with ``per_sample=False``) and B normal variates from ``generator``:
    the same generator state gives the same augmentation on every run (the
    learner checkpoints it).
    """

    def __init__(
        self,
        generator: torch.Generator,
        pad: int = PAD,
        scale: float = INTENSITY_SCALE,
        per_sample: bool = True,
    ):
        if pad < 0:
            raise ValueError(f"pad: {pad} must be >= 0 pixels")
        self.generator = generator
        self.pad = int(pad)
        self.scale = float(scale)
        self.per_sample = bool(per_sample)

    def shift(self, obs: Tensor) -> Tensor:
        """(B, C, H, W) frames shifted by a drawn offset (each sample its own, or one for
        the batch), edges repeated."""
        if obs.ndim != 4:
            raise ValueError(f"obs: expected (B, C, H, W) frames, got shape {tuple(obs.shape)}")
        batch, channels, height, width = obs.shape
        device = obs.device
        draws = batch if self.per_sample else 1
        offsets = (
            torch.randint(0, 2 * self.pad, (2, draws), generator=self.generator, device=device)
            if self.pad
            else torch.zeros((2, draws), dtype=torch.int64, device=device)
        ).expand(2, batch)
        rows = (torch.arange(height, device=device) + offsets[0, :, None] - self.pad).clamp_(
            0, height - 1
        )
        cols = (torch.arange(width, device=device) + offsets[1, :, None] - self.pad).clamp_(
            0, width - 1
        )
        index = (
            torch.arange(batch, device=device).view(batch, 1, 1, 1),
            torch.arange(channels, device=device).view(1, channels, 1, 1),
            rows.view(batch, 1, height, 1),
            cols.view(batch, 1, 1, width),
        )
        return obs[index]

    def intensity(self, batch: int, device: torch.device) -> Tensor:
        """(B,) float32 factors ``1 + scale * clip(z, -2, 2)``."""
        z = torch.randn(batch, generator=self.generator, device=device)
        return z.clamp_(-2.0, 2.0).mul_(self.scale).add_(1.0)

    def __call__(self, network: QNetwork, obs: Tensor) -> Prepared:
        """``network``'s prepared input of the augmented ``obs`` (uint8 frames)."""
        prepared = network.prepare(self.shift(obs))
        network.torso.scale_samples_(prepared.tensor, self.intensity(obs.shape[0], obs.device))
        return prepared
