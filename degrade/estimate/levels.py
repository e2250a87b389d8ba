"""Tone: black and white points, midtone gamma, and whether screentone survives.

- Black and white points: solid black is where a pixel's whole 3 x 3 neighbourhood is dark: the
  black point is the median of the pixels whose neighbourhood maximum is within 24 levels (plus 3
  noise sigmas) of the darkest such maximum; the white point likewise with the neighbourhood minimum
  and paper. Thin strokes and edges do not count, so a tile without solid black has no black point
  (null: the darkest neighbourhood is lighter than 80, or covers under 0.1 % of the image) instead of
  a gray one. Medians of the pixels themselves are not moved by noise, even where it clips at 0 or
  255.
- Gamma: the image is median-filtered (5 x 5: noise / 4; unlike a blur, it commutes with any increasing
  tone curve). The median m of the midtones (filtered values between the two points, away from each
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

MIN_REGION = 0.001  # a black (white) region must cover 0.1 % of the image
DARKEST = 80.0  # a "black" lighter than this is no solid black (a "white" darker than 175: no paper)
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


def _median_u8(values: np.ndarray) -> float:
    """Median of uint8 values by counting (a large selection's median without sorting it)."""
    counts = np.cumsum(np.bincount(values, minlength=256))
    return float(np.searchsorted(counts, (counts[-1] + 1) // 2))


def _core_level(gray: np.ndarray, core: np.ndarray, darkest: bool, slack: float) -> float | None:
    """Median of the pixels whose 5 x 5 core level is within `slack` of the extreme core level."""
    extreme = float(core.min() if darkest else core.max())
    if (darkest and extreme > DARKEST) or (not darkest and extreme < 255.0 - DARKEST):
        return None  # no solid black (paper) at all
    near = core <= extreme + slack if darkest else core >= extreme - slack
    if np.count_nonzero(near) < MIN_REGION * gray.size:
        return None
    return _median_u8(gray[near])


def levels(gray: np.ndarray, noise: float | None) -> LevelsEstimate:
    """Black point, white point (0..255) and midtone gamma of a gray image; see the module docstring."""
    u8 = gray if gray.dtype == np.uint8 else np.clip(np.rint(gray), 0, 255).astype(np.uint8)
    sigma = 0.0 if noise is None else float(noise)
    box = np.ones((3, 3), np.uint8)
    slack = 24.0 + 3.0 * sigma
    black = _core_level(u8, cv2.dilate(u8, box), True, slack)
    white = _core_level(u8, cv2.erode(u8, box), False, slack)
    filtered = cv2.medianBlur(u8, 5)
    b = 0.0 if black is None else black
    w = 255.0 if white is None else white
    span = w - b
    gamma = None
    if span >= 32.0:
        margin = max(MID_MARGIN * span, 1.5 * sigma + 1.0)
        mid = filtered[(filtered > b + margin) & (filtered < w - margin)]
        if mid.size >= MIN_MID_SHARE * u8.size:
            m = min(max((_median_u8(mid) - b) / span, 0.03), 0.87)  # gamma within 0.2..5
            gamma = math.log(0.5) / math.log(m)
    return LevelsEstimate(black, white, gamma)


def tone(gray: np.ndarray) -> float:
    """Mean screentone score of the image's non-flat 64 px patches (0 when it has none)."""
    h, w = gray.shape
    size = min(TONE_PATCH, h, w) // 2 * 2
    if size < 16:
        return 0.0
    ny, nx = h // size, w // size
    grid = gray[:ny * size, :nx * size].astype(np.float32).reshape(ny, size, nx, size)
    stds = grid.std(axis=(1, 3))  # one per patch of the regular grid
    busy = np.argwhere(stds >= FLAT_PATCH_STD)
    if busy.size == 0:
        return 0.0
    if len(busy) > MAX_TONE_PATCHES:
        busy = busy[np.linspace(0, len(busy) - 1, MAX_TONE_PATCHES).astype(np.int64)]
    scores = [tone_score(gray[y * size:(y + 1) * size, x * size:(x + 1) * size]) for y, x in busy]
    return float(np.mean(scores))
