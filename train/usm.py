"""Unsharp masking of the ground truth on the training device (Real-ESRGAN's ``usm_gt`` option).

Published settings: 51 x 51 Gaussian, sigma 8, weight 0.5, threshold 10/255 on |residual|; the mask
is softened with the same blur. The pixel and perceptual losses compare against the sharpened GT, the
GAN loss against the plain GT.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F


@functools.lru_cache(maxsize=8)
def _gaussian_1d(size: int, sigma: float) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    k = torch.exp(-(x * x) / (2 * sigma * sigma))
    return (k / k.sum()).float()


def gaussian_blur(img: torch.Tensor, size: int = 51, sigma: float = 8.0) -> torch.Tensor:
    """Separable Gaussian blur of an NCHW batch with reflect padding (the kernel sums to 1)."""
    n, c, h, w = img.shape
    pad = size // 2
    if pad >= h or pad >= w:
        # reflect padding needs the image larger than the pad: fall back to replicate for tiny crops
        mode = "replicate"
    else:
        mode = "reflect"
    k = _gaussian_1d(size, float(sigma)).to(img.device, img.dtype)
    flat = img.reshape(n * c, 1, h, w)
    flat = F.conv2d(F.pad(flat, (pad, pad, 0, 0), mode=mode), k.view(1, 1, 1, size))
    flat = F.conv2d(F.pad(flat, (0, 0, pad, pad), mode=mode), k.view(1, 1, size, 1))
    return flat.reshape(n, c, h, w)


def usm_sharpen(img: torch.Tensor, weight: float = 0.5, threshold: float = 10 / 255,
                size: int = 51, sigma: float = 8.0) -> torch.Tensor:
    """Sharpen an NCHW batch in [0, 1]: add ``weight`` x the residual where it exceeds ``threshold``."""
    blurred = gaussian_blur(img, size, sigma)
    residual = img - blurred
    mask = (residual.abs() > threshold).to(img.dtype)
    soft = gaussian_blur(mask, size, sigma)
    sharp = (img + weight * residual).clamp(0, 1)
    return soft * sharp + (1 - soft) * img
