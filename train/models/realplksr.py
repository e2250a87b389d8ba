"""RealPLKSR: the partial large kernel network (Lee, Yun and Ro, "Partial Large Kernel CNNs for Efficient
Super-Resolution", 2024) in the "Real" form the community trains for real-world degradations
(traiNNer-redux's ``realplksr``: GroupNorm or layer norm, element-wise attention, optional DySample).

The network: a 3x3 conv to ``num_feat`` features, ``num_block`` blocks, a 3x3 conv to
``channels * scale**2``, plus the input repeated ``scale**2`` times per channel (so the untrained net is
a nearest-neighbour upscale), then a PixelShuffle or DySample to the image. A block: (layer norm), a
channel mixer (3x3 conv to twice the features, Mish, 3x3 conv back), a large ``kernel_size`` conv on
the first ``split_ratio`` of the channels only (the partial large kernel: long-range context at a
fraction of the cost), element-wise attention (x * sigmoid(conv(x))), a 1x1 refinement, (GroupNorm
when there is no layer norm) and the block's input added back.

Key layout (what spandrel detects as RealPLKSR): ``feats.0`` (first conv), ``feats.{1..n}`` blocks
(``channel_mixer.{0,2}``, ``lk.conv``, ``attn.f.0``, ``refine``, ``norm`` or ``layer_norm``),
``feats.{n+1}`` (a dropout in the published code: no weights, but it takes an index), ``feats.{n+2}``
(last conv), and with DySample ``to_img.{offset,scope,end_conv,init_pos}``.

Gray images: spandrel builds RealPLKSR with three channels whatever the file holds. A 1-channel model
here therefore keeps its weights in the RGB layout: the first conv reads each of R, G, B with a third
of the gray weight and the last conv (and DySample's last conv) writes the gray output to all three
channels, so spandrel's RGB model computes exactly this gray model on a gray image (R = G = B) and
returns it in three equal channels. The state-dict hooks below expand and contract those tensors.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from srkit.train.models.dysample import DySample

RGB = 3


class ChannelLayerNorm(nn.Module):
    """Layer norm over the channels of an NCHW tensor, with a per-channel scale and shift."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = x - x.mean(1, keepdim=True)
        x = centred * torch.rsqrt(centred.pow(2).mean(1, keepdim=True) + self.eps)
        return x * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class PartialLargeKernel(nn.Module):
    """A ``kernel_size`` conv over the first ``channels`` channels; the others pass unchanged."""

    def __init__(self, channels: int, kernel_size: int) -> None:
        super().__init__()
        self.channels = channels
        self.conv = nn.Conv2d(channels, channels, kernel_size, padding=kernel_size // 2)
        nn.init.trunc_normal_(self.conv.weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head, tail = torch.split(x, [self.channels, x.shape[1] - self.channels], dim=1)
        return torch.cat([self.conv(head), tail], dim=1)


class ElementAttention(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.f = nn.Sequential(nn.Conv2d(dim, dim, 3, padding=1), nn.Sigmoid())
        nn.init.trunc_normal_(self.f[0].weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.f(x)


class PLKBlock(nn.Module):
    def __init__(self, dim: int, kernel_size: int, split_ratio: float, use_ea: bool, norm_groups: int,
                 layer_norm: bool) -> None:
        super().__init__()
        self.layer_norm = ChannelLayerNorm(dim) if layer_norm else nn.Identity()
        self.channel_mixer = nn.Sequential(nn.Conv2d(dim, dim * 2, 3, padding=1), nn.Mish(),
                                           nn.Conv2d(dim * 2, dim, 3, padding=1))
        nn.init.trunc_normal_(self.channel_mixer[-1].weight, std=0.02)
        self.lk = PartialLargeKernel(int(dim * split_ratio), kernel_size)
        self.attn = ElementAttention(dim) if use_ea else nn.Identity()
        self.refine = nn.Conv2d(dim, dim, 1)
        nn.init.trunc_normal_(self.refine.weight, std=0.02)
        self.norm = nn.Identity() if layer_norm else nn.GroupNorm(norm_groups, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.channel_mixer(self.layer_norm(x))
        y = self.refine(self.attn(self.lk(y)))
        return self.norm(y) + x


class RealPLKSR(nn.Module):
    """RealPLKSR generator; loadable by spandrel (detected as RealPLKSR, "LayerNorm" / "DySample" tags).

    Args:
        in_channels, out_channels: 1 or 3, equal (1-channel weights are kept in the RGB layout).
        scale: 1, 2, 3, 4, 8, ... (DySample: 2 or more).
        num_feat: features (64; traiNNer-redux's ``realplksr``), num_block: blocks (28; its
            ``realplksr_tiny``: 12 blocks, kernel 13, no attention).
        kernel_size: the large kernel (17), split_ratio: share of channels it sees (0.25).
        use_ea: element-wise attention; norm_groups: GroupNorm groups when ``layer_norm`` is off.
        layer_norm: a layer norm at the start of each block instead of a GroupNorm at the end (True, as
            traiNNer-redux trains it; older community models use GroupNorm).
        dysample: DySample instead of PixelShuffle for the last upsampling.
    """

    def __init__(self, in_channels: int = 3, out_channels: int = 3, scale: int = 4, num_feat: int = 64,
                 num_block: int = 28, kernel_size: int = 17, split_ratio: float = 0.25, use_ea: bool = True,
                 norm_groups: int = 4, layer_norm: bool = True, dysample: bool = False) -> None:
        super().__init__()
        if in_channels != out_channels or in_channels not in (1, RGB):
            raise ValueError(f"RealPLKSR maps 1 or 3 channels to as many, got in {in_channels}, "
                             f"out {out_channels}")
        if scale < 1 or dysample and scale < 2:
            raise ValueError(f"RealPLKSR needs a scale >= 1 (>= 2 with DySample), got {scale}")
        self.channels, self.scale = in_channels, scale
        blocks = [PLKBlock(num_feat, kernel_size, split_ratio, use_ea, norm_groups, layer_norm)
                  for _ in range(num_block)]
        first = nn.Conv2d(in_channels, num_feat, 3, padding=1)
        last = nn.Conv2d(num_feat, in_channels * scale * scale, 3, padding=1)
        self.feats = nn.Sequential(first, *blocks, nn.Identity(), last)  # Identity: the dropout's index
        nn.init.trunc_normal_(first.weight, std=0.02)
        nn.init.trunc_normal_(last.weight, std=0.02)
        self.last_index = num_block + 2
        self.to_img: nn.Module = nn.PixelShuffle(scale)
        if dysample:
            # Always the RGB layout's channels and groups: a gray model feeds it its features three times.
            self.to_img = DySample(RGB * scale * scale, in_channels, scale, groups=RGB if scale % 2 else 4)
        if in_channels == 1:
            self.register_state_dict_post_hook(_gray_to_rgb_layout)
            self.register_load_state_dict_pre_hook(_rgb_to_gray_layout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.feats(x) + torch.repeat_interleave(x, self.scale * self.scale, dim=1)
        if isinstance(self.to_img, DySample) and self.channels == 1:
            out = out.repeat(1, RGB, 1, 1)  # the R, G and B blocks of the RGB layout, all gray
        return self.to_img(out)

    def rgb_layout_keys(self) -> dict[str, str]:
        """The gray tensors the RGB layout stores expanded: key -> how (``"in"`` or ``"out"``)."""
        keys = {"feats.0.weight": "in", f"feats.{self.last_index}.weight": "out",
                f"feats.{self.last_index}.bias": "out"}
        if isinstance(self.to_img, DySample):
            keys.update({"to_img.end_conv.weight": "out", "to_img.end_conv.bias": "out"})
        return keys


def _gray_to_rgb_layout(module: RealPLKSR, state_dict: dict[str, Any], prefix: str, _meta: Any) -> None:
    for key, how in module.rgb_layout_keys().items():
        gray = state_dict[prefix + key]
        if isinstance(gray, nn.Parameter):
            continue  # state_dict(keep_vars=True) asks for the live parameters (tracing, ONNX), not a file
        if how == "in":  # a third of the weight on each of R, G, B: the same response to R = G = B
            state_dict[prefix + key] = (gray / RGB).repeat(1, RGB, 1, 1)
        else:             # the gray output written to each colour's block of output channels
            state_dict[prefix + key] = gray.repeat(RGB, *([1] * (gray.ndim - 1)))


def _rgb_to_gray_layout(module: RealPLKSR, state_dict: dict[str, Any], prefix: str, *_: Any) -> None:
    own = dict(module.named_parameters())
    for key, how in module.rgb_layout_keys().items():
        rgb = state_dict.get(prefix + key)
        if rgb is None or rgb.shape == own[key].shape:
            continue  # missing or already gray: load_state_dict reports what does not fit
        if how == "in":
            state_dict[prefix + key] = rgb.sum(1, keepdim=True)
        else:
            state_dict[prefix + key] = rgb.unflatten(0, (RGB, -1)).mean(0)
