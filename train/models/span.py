"""SPAN: the Swift Parameter-free Attention Network (Wan et al., "Swift Parameter-free Attention Network
for Efficient Super-Resolution", CVPR Workshops 2024; first in both the overall and the runtime track of
the NTIRE 2024 efficient-SR challenge).

The network: a re-parameterisable 3x3 conv to ``num_feat`` features, six attention blocks, a
re-parameterisable conv on the last block's output, a 1x1 conv over four concatenated feature maps
(the first conv's, the conv's after the last block, the first block's, and the activated first conv
of the last block) and a 3x3 conv + PixelShuffle to the output. A block is three re-parameterisable
convs with SiLU between them, and its "parameter-free attention" is ``sigmoid(y) - 0.5`` of its own
last output ``y``, multiplying ``y`` plus the block input: no weights are spent on attention.

Re-parameterisation: while training, each such conv is a 1x1 expansion (x2 channels), a 3x3 conv, a 1x1
projection, plus a 1x1 skip conv, all linear, so at inference they fold into one 3x3 conv
(``eval_conv``), which is what runs in eval mode (and in ONNX exports).

Key layout (what spandrel detects as SPAN): ``conv_1``, ``block_{1..6}.c{1,2,3}_r``, ``conv_2``, each
re-parameterisable conv holding ``sk``, ``conv.{0,1,2}`` and ``eval_conv``; ``conv_cat``;
``upsampler.0``. Without input normalisation the state dict also carries a ``no_norm`` marker, as
traiNNer-redux writes it; spandrel reads the marker to build the same network.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NUM_BLOCKS = 6          # fixed by the published network, and by the layout spandrel reads
EXPANSION = 2           # channel expansion inside a re-parameterisable conv
RGB_MEAN = (0.4488, 0.4371, 0.4040)  # DIV2K's mean, subtracted when ``norm`` is on
IMG_RANGE = 255.0


class RepConv3x3(nn.Module):
    """A 3x3 conv trained as (1x1 expand -> 3x3 -> 1x1 project) + 1x1 skip and run as one 3x3 conv.

    The expanded branch zero-pads its input before the first 1x1 conv, so it is exactly the linear map
    that the folded 3x3 conv with zero padding computes (including at the image border).
    """

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        wide_in, wide_out = c_in * EXPANSION, c_out * EXPANSION
        self.sk = nn.Conv2d(c_in, c_out, 1)
        self.conv = nn.Sequential(nn.Conv2d(c_in, wide_in, 1), nn.Conv2d(wide_in, wide_out, 3),
                                  nn.Conv2d(wide_out, c_out, 1))
        self.eval_conv = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.eval_conv.requires_grad_(False)  # derived from the branches, never trained itself
        self.register_load_state_dict_post_hook(lambda module, _: module.fold())

    @torch.no_grad()
    def folded(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The 3x3 weight and bias equal to the training branches."""
        expand, middle, project = self.conv
        w1, w2, w3 = expand.weight[:, :, 0, 0], middle.weight, project.weight[:, :, 0, 0]
        weight = torch.einsum("om,mnhw,ni->oihw", w3, w2, w1)
        bias = w3 @ (torch.einsum("mnhw,n->m", w2, expand.bias) + middle.bias) + project.bias
        weight = weight + F.pad(self.sk.weight, (1, 1, 1, 1))
        return weight, bias + self.sk.bias

    @torch.no_grad()
    def fold(self) -> None:
        weight, bias = self.folded()
        self.eval_conv.weight.copy_(weight)
        self.eval_conv.bias.copy_(bias)

    def train(self, mode: bool = True) -> RepConv3x3:
        super().train(mode)
        if not mode:
            self.fold()  # the branches may have changed since the last fold
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return self.conv(F.pad(x, (1, 1, 1, 1))) + self.sk(x)
        return self.eval_conv(x)


class SPAB(nn.Module):
    """Swift parameter-free attention block; returns its output and its first conv's activated output
    (the published code's SiLU works in place, so that is what reaches the concatenation)."""

    def __init__(self, num_feat: int) -> None:
        super().__init__()
        self.c1_r = RepConv3x3(num_feat, num_feat)
        self.c2_r = RepConv3x3(num_feat, num_feat)
        self.c3_r = RepConv3x3(num_feat, num_feat)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        first = F.silu(self.c1_r(x))
        y = self.c3_r(F.silu(self.c2_r(first)))
        attention = torch.sigmoid(y) - 0.5
        return (y + x) * attention, first


class SPAN(nn.Module):
    """SPAN generator for any integer scale (PixelShuffle); loadable by spandrel (detected as SPAN).

    Args:
        in_channels, out_channels: image channels (equal).
        scale: 1, 2, 3, 4, 8, ...
        num_feat: feature channels: 52 is traiNNer-redux's ``span``, 48 its ``span_s``.
        norm: subtract DIV2K's RGB mean and scale by 255 before the first conv, as the published
            network does (some community weights need it). Off by default, as traiNNer-redux trains it;
            RGB only (spandrel's mean has three channels).
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, scale: int = 4, num_feat: int = 52,
                 norm: bool = False) -> None:
        super().__init__()
        if in_channels != out_channels:
            raise ValueError(f"SPAN maps an image to one of the same channels, got in {in_channels}, "
                             f"out {out_channels}")
        if scale < 1:
            raise ValueError(f"SPAN needs a scale >= 1, got {scale}")
        if norm and in_channels != 3:
            raise ValueError("SPAN's norm subtracts an RGB mean: use norm = false for "
                             f"{in_channels}-channel images")
        self.norm = norm
        if norm:
            self.register_buffer("mean", torch.tensor(RGB_MEAN).view(1, 3, 1, 1), persistent=False)
        else:
            self.register_buffer("no_norm", torch.zeros(1))  # the marker spandrel and traiNNer read
        self.conv_1 = RepConv3x3(in_channels, num_feat)
        for i in range(1, NUM_BLOCKS + 1):
            self.add_module(f"block_{i}", SPAB(num_feat))
        self.conv_cat = nn.Conv2d(num_feat * 4, num_feat, 1)
        self.conv_2 = RepConv3x3(num_feat, num_feat)
        self.upsampler = nn.Sequential(nn.Conv2d(num_feat, out_channels * scale * scale, 3, padding=1),
                                       nn.PixelShuffle(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.norm:
            x = (x - self.mean) * IMG_RANGE
        first = self.conv_1(x)
        out, _ = self.block_1(first)
        after_first_block = out
        for i in range(2, NUM_BLOCKS):
            out, _ = getattr(self, f"block_{i}")(out)
        out, last_block_inner = getattr(self, f"block_{NUM_BLOCKS}")(out)
        out = self.conv_2(out)
        mixed = self.conv_cat(torch.cat([first, out, after_first_block, last_block_inner], 1))
        return self.upsampler(mixed)
