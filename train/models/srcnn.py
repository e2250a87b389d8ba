"""SRCNN and m-SRCNN as configured in Intaniyom, Thananporn and Woraratpanya, "Enhancement of Anime
Imaging Enlargement using Modified Super-Resolution CNN" (tables I and II): enlargement on the Y channel.

Both work on the "down-up" input: the LR image already interpolated (bilinear or bicubic) to the HR
size, so they are scale-1 models; they accept ``scale`` only as 1 and output as many channels as they
read. Every conv uses "same" padding and a bias; hidden layers use LeakyReLU and the output a Sigmoid
(so outputs lie in [0, 1]). The paper (Keras) does not state the LeakyReLU slope; we use 0.2 (the
value of ``tf.nn.leaky_relu``) and offer it as ``negative_slope``.

Not loadable by spandrel: export the state dict with ``model.arch_config`` and load it with
``train.models.model_from_state_dict``. Parameter names avoid ``body.`` (spandrel would take it for Compact).
"""

from __future__ import annotations

import torch
from torch import nn


def _check_scale(name: str, scale: int) -> None:
    if scale != 1:
        raise ValueError(f"{name} works on the interpolated (down-up) input, already at HR size, so it is a "
                         f"scale-1 model: got scale {scale}. Use a down-up recipe (srcnn_*) whose store "
                         "scale is 1, or choose an upscaling arch (rrdbnet, compact, srresnet)")


def _check_channels(name: str, in_channels: int, out_channels: int | None) -> int:
    if out_channels is not None and out_channels != in_channels:
        raise ValueError(f"{name} outputs as many channels as it reads: "
                         f"got in {in_channels}, out {out_channels}")
    return in_channels


class SRCNN(nn.Module):
    """Table I: 128@9x9 LeakyReLU, 64@3x3 LeakyReLU, C@5x5 Sigmoid. Needs our own loader."""

    def __init__(self, in_channels: int = 1, out_channels: int | None = None, scale: int = 1,
                 negative_slope: float = 0.2) -> None:
        super().__init__()
        _check_scale("SRCNN", scale)
        channels = _check_channels("SRCNN", in_channels, out_channels)
        self.conv1 = nn.Conv2d(channels, 128, 9, padding="same")
        self.conv2 = nn.Conv2d(128, 64, 3, padding="same")
        self.conv3 = nn.Conv2d(64, channels, 5, padding="same")
        self.act = nn.LeakyReLU(negative_slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.conv1(x))
        x = self.act(self.conv2(x))
        return torch.sigmoid(self.conv3(x))


class MSRCNN(nn.Module):
    """Table II (m-SRCNN): 64@5x5, 64@5x5, 16@3x3, ConvTranspose 32@3x3, ConvTranspose 32@3x3 (stride 1,
    shape-preserving), all LeakyReLU, then C@1x1 Sigmoid. Needs our own loader."""

    def __init__(self, in_channels: int = 1, out_channels: int | None = None, scale: int = 1,
                 negative_slope: float = 0.2) -> None:
        super().__init__()
        _check_scale("m-SRCNN", scale)
        channels = _check_channels("m-SRCNN", in_channels, out_channels)
        self.conv1 = nn.Conv2d(channels, 64, 5, padding="same")
        self.conv2 = nn.Conv2d(64, 64, 5, padding="same")
        self.conv3 = nn.Conv2d(64, 16, 3, padding="same")
        # Stride 1 with padding 1 keeps the size, the transposed equivalent of "same".
        self.deconv1 = nn.ConvTranspose2d(16, 32, 3, stride=1, padding=1)
        self.deconv2 = nn.ConvTranspose2d(32, 32, 3, stride=1, padding=1)
        self.conv_out = nn.Conv2d(32, channels, 1)
        self.act = nn.LeakyReLU(negative_slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in (self.conv1, self.conv2, self.conv3, self.deconv1, self.deconv2):
            x = self.act(layer(x))
        return torch.sigmoid(self.conv_out(x))
