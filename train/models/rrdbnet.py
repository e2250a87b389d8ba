"""RRDBNet: the ESRGAN / Real-ESRGAN generator (residual-in-residual dense blocks).

The parameter names follow the layout the community tools detect (spandrel, hence chaiNNer and
ComfyUI): ``conv_first``, ``body.{i}.rdb{1,2,3}.conv{1..5}``, ``conv_body``, ``conv_up1``, ``conv_up2``,
``conv_hr``, ``conv_last`` (and ``conv_up3`` at x8). A state dict exported from this module therefore
loads in spandrel as an ESRGAN model, and Real-ESRGAN community weights load here (see
``train.models.detect_arch_config``).

The network upsamples x4 (two nearest x2 steps, each followed by a conv), or x8 with ESRGAN's third
step (``conv_up3``). Scales 2 and 1 fold the input with a pixel-unshuffle (by 2 or 4) first, so the
same trunk serves them and the convention stays the one spandrel recognises: ``conv_first`` sees
``in_channels * 4`` or ``* 16``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SCALES = (1, 2, 4, 8)
# Scale 1 and 2 reach the common x4 trunk through a pixel-unshuffle by this factor.
UNSHUFFLE = {1: 4, 2: 2, 4: 1, 8: 1}
RESIDUAL_SCALE = 0.2


def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, negative_slope=0.2)


class ResidualDenseBlock(nn.Module):
    """Five 3x3 convs, each seeing the block input and every earlier output (dense connections)."""

    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(num_feat, num_grow_ch, 3, 1, 1)
        self.conv2 = nn.Conv2d(num_feat + num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv3 = nn.Conv2d(num_feat + 2 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv4 = nn.Conv2d(num_feat + 3 * num_grow_ch, num_grow_ch, 3, 1, 1)
        self.conv5 = nn.Conv2d(num_feat + 4 * num_grow_ch, num_feat, 3, 1, 1)
        # A deep stack of residual blocks only trains stably when each branch starts small:
        # kaiming init scaled by 0.1, as ESRGAN does.
        for conv in (self.conv1, self.conv2, self.conv3, self.conv4, self.conv5):
            nn.init.kaiming_normal_(conv.weight, a=0.0, mode="fan_in", nonlinearity="relu")
            conv.weight.data.mul_(0.1)
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = _lrelu(self.conv1(x))
        x2 = _lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = _lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = _lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x + RESIDUAL_SCALE * x5


class RRDB(nn.Module):
    """Three dense blocks in sequence with an outer residual connection."""

    def __init__(self, num_feat: int, num_grow_ch: int) -> None:
        super().__init__()
        self.rdb1 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb2 = ResidualDenseBlock(num_feat, num_grow_ch)
        self.rdb3 = ResidualDenseBlock(num_feat, num_grow_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + RESIDUAL_SCALE * self.rdb3(self.rdb2(self.rdb1(x)))


class RRDBNet(nn.Module):
    """ESRGAN / Real-ESRGAN generator for scales 1, 2, 4 and 8.

    Loadable by spandrel (an exported state dict is recognised as ESRGAN); also rebuilt here from any
    state dict with this key layout by ``train.models.detect_arch_config``.

    Args:
        in_channels: image channels in (1 for gray manga, 3 for RGB).
        out_channels: image channels out.
        scale: 1, 2, 4 or 8.
        num_feat: trunk width (64 in ESRGAN).
        num_block: number of RRDB blocks (23 in ESRGAN, 6 in the Real-ESRGAN anime model).
        num_grow_ch: growth channels of the dense blocks (32; spandrel expects 32).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, scale: int = 4, num_feat: int = 64,
                 num_block: int = 23, num_grow_ch: int = 32) -> None:
        super().__init__()
        if scale not in SCALES:
            raise ValueError(f"RRDBNet supports scales {SCALES}, got {scale}")
        self.scale = scale
        self.unshuffle = UNSHUFFLE[scale]
        self.conv_first = nn.Conv2d(in_channels * self.unshuffle ** 2, num_feat, 3, 1, 1)
        self.body = nn.Sequential(*(RRDB(num_feat, num_grow_ch) for _ in range(num_block)))
        self.conv_body = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up1 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_up2 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        if scale == 8:
            self.conv_up3 = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_hr = nn.Conv2d(num_feat, num_feat, 3, 1, 1)
        self.conv_last = nn.Conv2d(num_feat, out_channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.unshuffle > 1:
            h, w = x.shape[-2:]
            if h % self.unshuffle or w % self.unshuffle:
                raise ValueError(f"RRDBNet at scale {self.scale} needs input sides divisible by "
                                 f"{self.unshuffle}, got {h}x{w}: pad or crop the input")
            x = F.pixel_unshuffle(x, self.unshuffle)
        feat = self.conv_first(x)
        feat = feat + self.conv_body(self.body(feat))
        feat = _lrelu(self.conv_up1(F.interpolate(feat, scale_factor=2, mode="nearest")))
        feat = _lrelu(self.conv_up2(F.interpolate(feat, scale_factor=2, mode="nearest")))
        if self.scale == 8:
            feat = _lrelu(self.conv_up3(F.interpolate(feat, scale_factor=2, mode="nearest")))
        return self.conv_last(_lrelu(self.conv_hr(feat)))
