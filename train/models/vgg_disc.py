"""VGG-style discriminator (SRGAN / ESRGAN) and, without BatchNorm, a WGAN-GP critic.

Five stages of (3x3 conv, 4x4 stride-2 conv), widths nf, 2nf, 4nf, 8nf, 8nf, LeakyReLU 0.2, then two
linear layers (100 units, then 1). ESRGAN sizes the first linear layer for 128 px inputs (4 x 4 after
five halvings); an adaptive average pool to 4 x 4 keeps that layer while accepting any input of at
least 32 px. The output is one raw logit per image (no Sigmoid): the GAN losses in
``train.losses`` take logits, and a WGAN critic must not squash its output.

``batch_norm=False`` gives the SRWGAN-GP critic of Jin Huang, "Anime Super Resolution Using GANs"
(Stanford report): BatchNorm couples the samples of a batch, which breaks the per-sample gradient
penalty, so it must be off for WGAN-GP.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MIN_SIZE = 32
POOLED = 4


class VGGDiscriminator(nn.Module):
    """VGG-style image discriminator; returns logits of shape (N, 1).

    Args:
        in_channels: image channels.
        num_feat: base width (64).
        batch_norm: BatchNorm after every conv but the first (True as SRGAN/ESRGAN; False for WGAN-GP).
    """

    def __init__(self, in_channels: int = 3, num_feat: int = 64, batch_norm: bool = True) -> None:
        super().__init__()
        widths = [num_feat, num_feat * 2, num_feat * 4, num_feat * 8, num_feat * 8]
        layers: list[nn.Module] = []
        prev = in_channels
        for stage, width in enumerate(widths):
            # The first conv sees raw pixels: no normalisation there (as in SRGAN).
            norm_first = batch_norm and stage > 0
            layers += [nn.Conv2d(prev, width, 3, 1, 1, bias=not norm_first)]
            if norm_first:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.LeakyReLU(0.2))
            layers += [nn.Conv2d(width, width, 4, 2, 1, bias=not batch_norm)]
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.LeakyReLU(0.2))
            prev = width
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(POOLED)
        self.linear1 = nn.Linear(prev * POOLED * POOLED, 100)
        self.linear2 = nn.Linear(100, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) < MIN_SIZE:
            raise ValueError(f"VGGDiscriminator needs inputs of at least {MIN_SIZE}x{MIN_SIZE}, "
                             f"got {tuple(x.shape[-2:])}")
        feat = self.pool(self.features(x)).flatten(1)
        return self.linear2(F.leaky_relu(self.linear1(feat), 0.2))
