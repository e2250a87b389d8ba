"""DySample: upsampling by learned point sampling (Liu, Lu, Fu and Cao, "Learning to Upsample by Learning
to Sample", ICCV 2023), as RealPLKSR uses it in place of a PixelShuffle.

Each output pixel bilinearly samples the input at its regular position plus a learned offset. The
offsets come from a 1x1 conv, damped by a learned per-pixel "scope" (``sigmoid(scope) * 0.5``); the
channels are split into ``groups`` that each get their own offsets. A final 1x1 conv maps the upsampled
channels to the image. Key layout (what spandrel reads): ``offset``, ``scope`` (no bias),
``end_conv`` and the buffer ``init_pos`` (the sub-pixel positions of a plain upsampling).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DySample(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, scale: int, groups: int) -> None:
        super().__init__()
        if in_channels % groups:
            raise ValueError(f"DySample: {in_channels} channels do not split into {groups} groups")
        self.scale = scale
        self.groups = groups
        offsets = 2 * groups * scale * scale
        self.offset = nn.Conv2d(in_channels, offsets, 1)
        self.scope = nn.Conv2d(in_channels, offsets, 1, bias=False)
        nn.init.trunc_normal_(self.offset.weight, std=0.02)
        nn.init.zeros_(self.scope.weight)  # starts as a plain bilinear upsampling, offsets damped by half
        self.end_conv = nn.Conv2d(in_channels, out_channels, 1)
        # The centres of the scale x scale sub-pixels of an input pixel, in input-pixel units:
        # (x, y) pairs laid out as (2, groups * scale * scale) like the offsets.
        steps = (torch.arange(scale) - (scale - 1) / 2) / scale
        grid_y, grid_x = torch.meshgrid(steps, steps, indexing="ij")
        init = torch.stack([grid_x, grid_y]).reshape(2, 1, scale * scale)
        self.register_buffer("init_pos", init.repeat(1, groups, 1).reshape(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        s, g = self.scale, self.groups
        offset = self.offset(x) * torch.sigmoid(self.scope(x)) * 0.5 + self.init_pos
        offset = offset.view(n, 2, g * s * s, h, w)
        # Pixel centres in input-pixel units, (x, y), then normalised to grid_sample's [-1, 1].
        ys = torch.arange(h, device=x.device).to(x.dtype) + 0.5  # integer ranges: ONNX has no fp16 Range
        xs = torch.arange(w, device=x.device).to(x.dtype) + 0.5
        centres = torch.stack([xs.view(1, w).expand(h, w), ys.view(h, 1).expand(h, w)])
        size = torch.stack([xs[-1] + 0.5, ys[-1] + 0.5]).view(1, 2, 1, 1, 1)  # (w, h), traced as sizes
        coords = 2 * (centres.view(1, 2, 1, h, w) + offset) / size - 1
        coords = F.pixel_shuffle(coords.reshape(n, -1, h, w), s).view(n, 2, g, s * h, s * w)
        coords = coords.permute(0, 2, 3, 4, 1).reshape(n * g, s * h, s * w, 2)
        sampled = F.grid_sample(x.reshape(n * g, -1, h, w), coords, mode="bilinear", align_corners=False,
                                padding_mode="border")
        return self.end_conv(sampled.view(n, -1, s * h, s * w))
