"""PSNR and SSIM the way SR papers report them, and the bicubic baseline to report beside them.

Convention (as the SR papers and BasicSR measure): both images rounded to 8 bit, converted to
the Y channel of BT.601 YCbCr (``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` with RGB in [0, 1]; a gray
image's value is its Y), ``crop_border`` pixels shaved from every side, float64 on the 0..255 scale.
SSIM: 11 x 11 Gaussian window, sigma 1.5, C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2, valid region only.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from srkit.core.images import hwc


def to_y(img: np.ndarray) -> np.ndarray:
    """float64 Y (0..255 scale, [16, 235] for RGB) of a uint8 gray (H, W) / (H, W, 1) or RGB image."""
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise TypeError(f"metrics take 8-bit images (round first), got {img.dtype}")
    img = hwc(img)
    if img.shape[2] == 1:
        return img[:, :, 0].astype(np.float64)
    rgb = img.astype(np.float64) / 255.0
    return 16.0 + 65.481 * rgb[:, :, 0] + 128.553 * rgb[:, :, 1] + 24.966 * rgb[:, :, 2]


def _shave(y: np.ndarray, border: int) -> np.ndarray:
    if border <= 0:
        return y
    if y.shape[0] <= 2 * border or y.shape[1] <= 2 * border:
        raise ValueError(f"image {y.shape[1]}x{y.shape[0]} too small to shave {border} px per side")
    return y[border:-border, border:-border]


def psnr(a: np.ndarray, b: np.ndarray, max_value: float = 255.0) -> float:
    """PSNR in dB of two float64 arrays (inf when identical)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    if mse == 0:
        return float("inf")
    return 10.0 * np.log10(max_value * max_value / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two float64 single-channel arrays on the 0..255 scale (valid region only)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    g = cv2.getGaussianKernel(11, 1.5)
    window = g @ g.T
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    if min(a.shape) < 11:
        raise ValueError(f"SSIM needs at least 11x11 pixels after shaving, got {a.shape[1]}x{a.shape[0]}")

    def filt(x: np.ndarray) -> np.ndarray:
        return cv2.filter2D(x, -1, window)[5:-5, 5:-5]

    mu_a, mu_b = filt(a), filt(b)
    var_a = filt(a * a) - mu_a ** 2
    var_b = filt(b * b) - mu_b ** 2
    cov = filt(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2)
    return float(np.mean(num / den))


def psnr_ssim_y(img: np.ndarray, ref: np.ndarray, crop_border: int = 0) -> tuple[float, float]:
    """(PSNR dB, SSIM) on Y between two uint8 images of the same size, ``crop_border`` px shaved."""
    if hwc(img).shape[:2] != hwc(ref).shape[:2]:
        raise ValueError(f"image sizes differ: {hwc(img).shape[:2]} vs {hwc(ref).shape[:2]}")
    a = _shave(to_y(img), crop_border)
    b = _shave(to_y(ref), crop_border)
    return psnr(a, b), ssim(a, b)


def bicubic_upscale(lr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """MATLAB-like bicubic resize of a uint8 image to ``size`` = (width, height), channel by channel."""
    img = hwc(lr)
    if (img.shape[1], img.shape[0]) == tuple(size):
        return lr.copy()
    planes = [np.asarray(Image.fromarray(np.ascontiguousarray(img[:, :, c])).resize(size, Image.BICUBIC))
              for c in range(img.shape[2])]
    out = np.stack(planes, axis=2)
    return out[:, :, 0] if lr.ndim == 2 else out


def round_to_uint8(x: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8, rounded in float64 (the 8-bit image the metrics see; unlike the degrade
    stage's ``to_uint8``, which rounds float32 input in float32)."""
    return np.clip(np.rint(np.asarray(x, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)
