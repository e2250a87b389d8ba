"""Tone: black and white points, midtone gamma, and whether screentone survives.

- Black and white points: the image is median-filtered (5 x 5, which divides noise by about 4 and,
  unlike a blur, commutes with any increasing tone curve); the black point is the median of the
  *unfiltered* pixels in the darkest 1 % of the filtered image (solid black where there is any),
  the white point the median of the unfiltered pixels around the most common level of the light half
  (paper). Medians of unfiltered pixels are not moved by noise, even where it clips at 0 or 255. The
  white point is null when under 2 % of the image is light.
- Gamma: the median m of the midtones (median-filtered values between the two points, away from each
  by 1.5 % of the range or 1.5 noise sigmas) on the 0..1 scale between the points; gamma = log 0.5 / log m.
  Levels with gamma g (y = x^(1/g)) multiply it by about g (medians follow any increasing curve;
  only the pixels near the margins change sides),
  so the fit can compare it with the gamma of the user's HR tiles and apply the ratio. It is a
  statistic of the content as much as of the tone curve: compare it between images of the same kind.
- Tone: the tile scores' screentone measure (`srkit.tiling.scores.tone_score`: share of spectral power
  in the strongest peaks of period 2-16 px) averaged over up to 64 patches of 64 px that are not flat
  (std >= 8): about 0.3 and above where dot screens survive as a pattern, near 0 where they were
  blurred to gray.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from srkit.tiling.scores import tone_score

BLACK_SHARE = 0.01  # the darkest 1 % of the (filtered) image is its black
MIN_WHITE_SHARE = 0.02
MIN_MID_SHARE = 0.005
MID_MARGIN = 0.015  # midtones start 1.5 % of the range away from the black and white points
TONE_PATCH = 64
MAX_TONE_PATCHES = 64
FLAT_PATCH_STD = 8.0


@dataclass(frozen=True)
class LevelsEstimate:
    black: float | None
    white: float | None
    gamma: float | None


def _mode_median(gray: np.ndarray, blurred: np.ndarray, part: np.ndarray, halfwidth: float) -> float | None:
    """Median of the pixels whose filtered value lies within halfwidth of the filtered values' mode."""
    values = blurred[part]
    if values.size == 0:
        return None
    hist = np.bincount(np.clip(np.rint(values), 0, 255).astype(np.int64), minlength=256)
    mode = float(np.argmax(hist))
    near = part & (np.abs(blurred - mode) <= halfwidth)
    return float(np.median(gray[near])) if near.any() else None


def levels(gray: np.ndarray, noise: float | None) -> LevelsEstimate:
    """Black point, white point (0..255) and midtone gamma of a gray image; see the module docstring."""
    g = gray.astype(np.float32)
    u8 = gray if gray.dtype == np.uint8 else np.clip(np.rint(g), 0, 255).astype(np.uint8)
    blurred = cv2.medianBlur(u8, 5).astype(np.float32)
    n = g.size
    spread = 4.0 + (0.0 if noise is None else 2.0 * float(noise) / 5.0)
    light = blurred >= 128
    darkest = blurred <= np.quantile(blurred, BLACK_SHARE)
    black = float(np.median(g[darkest])) if darkest.any() else None
    white = None
    if np.count_nonzero(light) >= MIN_WHITE_SHARE * n:
        white = _mode_median(g, blurred, light, spread)
    b = 0.0 if black is None else black
    w = 255.0 if white is None else white
    span = w - b
    gamma = None
    if span >= 32.0:
        margin = max(MID_MARGIN * span, 1.5 * (0.0 if noise is None else float(noise)) + 1.0)
        mid = blurred[(blurred > b + margin) & (blurred < w - margin)]
        if mid.size >= MIN_MID_SHARE * n:
            m = min(max(float(np.median(mid) - b) / span, 0.03), 0.87)  # gamma within 0.2..5
            gamma = math.log(0.5) / math.log(m)
    return LevelsEstimate(black, white, gamma)


def tone(gray: np.ndarray) -> float:
    """Mean screentone score of the image's non-flat 64 px patches (0 when it has none)."""
    h, w = gray.shape
    size = min(TONE_PATCH, h, w) // 2 * 2
    if size < 16:
        return 0.0
    ys = sorted({*range(0, h - size + 1, size), h - size})
    xs = sorted({*range(0, w - size + 1, size), w - size})
    patches = [gray[y:y + size, x:x + size] for y in ys for x in xs]
    busy = [p for p in patches if float(np.std(p)) >= FLAT_PATCH_STD]
    if not busy:
        return 0.0
    if len(busy) > MAX_TONE_PATCHES:
        busy = [busy[i] for i in np.linspace(0, len(busy) - 1, MAX_TONE_PATCHES).astype(np.int64)]
    return float(np.mean([tone_score(p) for p in busy]))
