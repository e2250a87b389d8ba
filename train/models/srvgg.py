"""SRVGGNetCompact: the small plain-conv generator of Real-ESRGAN's anime video models.

Layout (what spandrel detects as "Compact" from ``body.0.weight`` and ``body.1.weight``): ``body`` is a
flat list conv, PReLU, (conv, PReLU) x num_conv, conv to ``out_channels * scale**2``; then a
PixelShuffle(scale) and the nearest-upsampled input is added, so the convs only learn a residual.
An exported state dict loads in spandrel; community Compact weights load here via
``train.models.detect_arch_config``.

Initialisation (why it differs from PyTorch's default): the default init (uniform, variance
1 / (3 fan_in)) is not variance preserving through a PReLU, so the signal fades along the stack (for
64 features x 16 convs the activations after the last PReLU are ~13x weaker than after the first) and
so do the gradients reaching the early layers. In our CPU measurements (bench/FIGURES.md) that net
never left the "nearest + zero residual" solution in 850 CPU steps. We use kaiming-normal init with
the PReLU slope for every hidden conv (variance preserving) and scale the last conv by 0.1, so the
model starts close to nearest-neighbour upscaling while every layer receives gradient from step one.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

PRELU_INIT = 0.25  # nn.PReLU's initial slope; the kaiming gain uses the same value.
LAST_CONV_SCALE = 0.1


class SRVGGNetCompact(nn.Module):
    """Compact VGG-style SR generator (Real-ESRGAN "realesr-animevideov3" family).

    Loadable by spandrel (detected as Compact).

    Args:
        in_channels: image channels in.
        out_channels: image channels out; equal to ``in_channels``, or 3 from a 1-channel input (the
            upsampled gray input is then added to every output channel).
        scale: any positive integer (1 keeps the size: PixelShuffle(1) is the identity).
        num_feat: width (64 default).
        num_conv: hidden convs (16 default).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, scale: int = 4, num_feat: int = 64,
                 num_conv: int = 16) -> None:
        super().__init__()
        if scale < 1:
            raise ValueError(f"SRVGGNetCompact needs a scale >= 1, got {scale}")
        if out_channels != in_channels and in_channels != 1:
            raise ValueError(f"SRVGGNetCompact adds the upsampled input to the output, so out_channels "
                             f"({out_channels}) must equal in_channels ({in_channels}) unless the input is "
                             "1-channel")
        self.scale = scale
        layers: list[nn.Module] = [nn.Conv2d(in_channels, num_feat, 3, 1, 1), nn.PReLU(num_feat)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(num_feat, num_feat, 3, 1, 1), nn.PReLU(num_feat)]
        layers.append(nn.Conv2d(num_feat, out_channels * scale * scale, 3, 1, 1))
        self.body = nn.ModuleList(layers)
        self.upsampler = nn.PixelShuffle(scale)
        self._init_weights()

    def _init_weights(self) -> None:
        convs = [m for m in self.body if isinstance(m, nn.Conv2d)]
        for conv in convs:
            nn.init.kaiming_normal_(conv.weight, a=PRELU_INIT, mode="fan_in", nonlinearity="leaky_relu")
            nn.init.zeros_(conv.bias)
        convs[-1].weight.data.mul_(LAST_CONV_SCALE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        out = self.upsampler(out)
        base = x if self.scale == 1 else F.interpolate(x, scale_factor=self.scale, mode="nearest")
        return out + base


def compact_scale(last_conv_out: int, out_channels: int) -> int:
    """The scale implied by the last conv's output channels (``out_channels * scale**2``)."""
    scale = math.isqrt(last_conv_out // out_channels)
    if scale * scale * out_channels != last_conv_out:
        raise ValueError(f"last conv has {last_conv_out} outputs, not {out_channels} x a square scale")
    return scale
