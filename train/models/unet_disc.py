"""U-Net discriminator with spectral normalisation, as Real-ESRGAN uses.

It outputs a realness logit per pixel (same size as the input), which gives the generator local
feedback. Layout: conv0 (plain), three stride-2 4x4 downsampling convs, three bilinear x2 upsamplings
each followed by a conv with a skip connection from the matching encoder level, two more convs and a
final 1-channel conv; LeakyReLU 0.2 throughout; spectral norm on every conv but the first and last.

We use ``torch.nn.utils.spectral_norm`` (parameters ``weight_orig``, ``weight_u``, ``weight_v``), the
layout of Real-ESRGAN's released discriminator weights, so those can seed a fine-tune. Upsampling goes
to the skip tensor's size, so any input size works (not only multiples of 8).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, negative_slope=0.2)


def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=False)


class UNetDiscriminatorSN(nn.Module):
    """Per-pixel U-Net discriminator with spectral norm (raw logits, shape N x 1 x H x W).

    Args:
        in_channels: image channels.
        num_feat: base width (64).
        skip_connection: add the encoder features to the decoder (True in Real-ESRGAN).
    """

    def __init__(self, in_channels: int = 3, num_feat: int = 64, skip_connection: bool = True) -> None:
        super().__init__()
        self.skip_connection = skip_connection
        nf = num_feat
        self.conv0 = nn.Conv2d(in_channels, nf, 3, 1, 1)
        self.conv1 = spectral_norm(nn.Conv2d(nf, nf * 2, 4, 2, 1, bias=False))
        self.conv2 = spectral_norm(nn.Conv2d(nf * 2, nf * 4, 4, 2, 1, bias=False))
        self.conv3 = spectral_norm(nn.Conv2d(nf * 4, nf * 8, 4, 2, 1, bias=False))
        self.conv4 = spectral_norm(nn.Conv2d(nf * 8, nf * 4, 3, 1, 1, bias=False))
        self.conv5 = spectral_norm(nn.Conv2d(nf * 4, nf * 2, 3, 1, 1, bias=False))
        self.conv6 = spectral_norm(nn.Conv2d(nf * 2, nf, 3, 1, 1, bias=False))
        self.conv7 = spectral_norm(nn.Conv2d(nf, nf, 3, 1, 1, bias=False))
        self.conv8 = spectral_norm(nn.Conv2d(nf, nf, 3, 1, 1, bias=False))
        self.conv9 = nn.Conv2d(nf, 1, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) < 8:
            raise ValueError(f"UNetDiscriminatorSN needs inputs of at least 8x8, got {tuple(x.shape[-2:])}")
        x0 = _lrelu(self.conv0(x))
        x1 = _lrelu(self.conv1(x0))
        x2 = _lrelu(self.conv2(x1))
        x3 = _lrelu(self.conv3(x2))
        x4 = _lrelu(self.conv4(_up(x3, x2)))
        if self.skip_connection:
            x4 = x4 + x2
        x5 = _lrelu(self.conv5(_up(x4, x1)))
        if self.skip_connection:
            x5 = x5 + x1
        x6 = _lrelu(self.conv6(_up(x5, x0)))
        if self.skip_connection:
            x6 = x6 + x0
        out = _lrelu(self.conv7(x6))
        out = _lrelu(self.conv8(out))
        return self.conv9(out)
