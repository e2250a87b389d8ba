"""SRResNet: the SRGAN generator (Ledig et al.), with a configurable number of residual blocks.

Jin Huang's "Anime Super Resolution Using GANs" (Stanford report; SRGAN / SRWGAN-GP on anime) uses 8
residual blocks ("ResNet-8"); SRGAN uses 16.

Not loadable by spandrel: export the state dict together with ``model.arch_config`` and load it with
``train.models.model_from_state_dict``. The trunk is named ``blocks`` (never ``body``) because
spandrel takes any state dict with ``body.0`` / ``body.1`` keys for an SRVGGNetCompact.

Key layout: ``head.0`` (conv 9x9) + ``head.1`` (PReLU); ``blocks.{i}.{conv1,bn1,act,conv2,bn2}``;
``trunk.0`` (conv) + ``trunk.1`` (BN); ``upsample.{3k}`` conv, ``upsample.{3k+1}`` PixelShuffle(2),
``upsample.{3k+2}`` PReLU for each x2 step; ``tail`` (conv 9x9). With ``batch_norm=False`` the BN
layers are absent (EDSR-style blocks, better suited to small batches).
"""

from __future__ import annotations

import torch
from torch import nn

SCALES = (1, 2, 4, 8)


class ResidualBlock(nn.Module):
    """conv-BN-PReLU-conv-BN plus the identity."""

    def __init__(self, num_feat: int, batch_norm: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=not batch_norm)
        self.bn1 = nn.BatchNorm2d(num_feat) if batch_norm else nn.Identity()
        self.act = nn.PReLU(num_feat)
        self.conv2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=not batch_norm)
        self.bn2 = nn.BatchNorm2d(num_feat) if batch_norm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bn2(self.conv2(self.act(self.bn1(self.conv1(x)))))


class SRResNet(nn.Module):
    """SRGAN generator for scales 1, 2, 4, 8 (one conv -> PixelShuffle(2) -> PReLU stage per x2).

    Needs our own loader (``train.models.model_from_state_dict``); spandrel cannot load it.

    Args:
        in_channels, out_channels: image channels.
        scale: 1, 2, 4 or 8.
        num_feat: width (64).
        num_block: residual blocks (16 in SRGAN, 8 in Jin Huang's anime report).
        batch_norm: BatchNorm in the blocks and after the trunk conv, as SRGAN (default True).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, scale: int = 4, num_feat: int = 64,
                 num_block: int = 16, batch_norm: bool = True) -> None:
        super().__init__()
        if scale not in SCALES:
            raise ValueError(f"SRResNet supports scales {SCALES}, got {scale}")
        self.head = nn.Sequential(nn.Conv2d(in_channels, num_feat, 9, 1, 4), nn.PReLU(num_feat))
        self.blocks = nn.Sequential(*(ResidualBlock(num_feat, batch_norm) for _ in range(num_block)))
        self.trunk = nn.Sequential(nn.Conv2d(num_feat, num_feat, 3, 1, 1, bias=not batch_norm),
                                   nn.BatchNorm2d(num_feat) if batch_norm else nn.Identity())
        stages: list[nn.Module] = []
        for _ in range(scale.bit_length() - 1):
            stages += [nn.Conv2d(num_feat, num_feat * 4, 3, 1, 1), nn.PixelShuffle(2), nn.PReLU(num_feat)]
        self.upsample = nn.Sequential(*stages)
        self.tail = nn.Conv2d(num_feat, out_channels, 9, 1, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.head(x)
        feat = feat + self.trunk(self.blocks(feat))
        return self.tail(self.upsample(feat))
