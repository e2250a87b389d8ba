"""Tone: black and white points, midtone gamma, and whether screentone survives.

- Black and white points: solid black is where a pixel's whole 3 x 3 neighbourhood is dark: the
  black point is the median of the pixels whose neighbourhood maximum is within 24 levels (plus 3
  noise sigmas) of the darkest such maximum; the white point likewise with the neighbourhood minimum
  and paper. Thin strokes and edges do not count, so a tile without solid black has no black point
  (null: the darkest neighbourhood is lighter than 80, or covers under 0.1 % of the image) instead of
  a gray one. Medians of the pixels themselves are not moved by noise, even where it clips at 0 or
  255.
- Gamma: how light the drawn parts are between the two points. The image is put on the 0..1 scale
  between the points; its drawn parts are the pixels that, smoothed (Gaussian, sigma 1 px, so noise
  does not count and thin strokes do), are neither paper nor solid black (3 % of the range, or 3
  sigmas of the smoothed noise, from either point), widened by DRAWN_REACH = 3 px. m is the mean of
  the pixels of that region and gamma = log 0.5 / log m. Blur, resizing, JPEG and noise move ink
  around (or add zero-mean error) but keep how much of it there is, and the ink they spread stays
  within the widened region, so they leave the reading alone (within a few %); a tone curve applied
  after them (levels with gamma g: y = x^(1/g)) lightens every mixed pixel and raises it, and moves
  no pixel across the region's edges (paper and solid black are its fixed points), so the reading
  grows with g. Paper inside the region does not follow the curve, so the reading moves by less
  than g (about g^0.6 on manga pages, depending on how densely they are drawn): the fit calibrates
  that on the user's own HR tiles (`calibrate.gamma_response`). The reading also says how densely a
  page is drawn (hatching reads lighter than solid shading): compare it between images of the same
  kind, as the fit and compare do. (A median of the midtone pixels themselves moves by the full g,
  but blur and JPEG move it as much: they make and unmake midtone pixels.)
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
MASK_SIGMA = 1.0  # px: the smoothing the drawn parts are found on
SMOOTHED_NOISE = 0.28  # what is left of a noise sigma after that smoothing (1 / (2 sqrt(pi) sigma))
PAPER_MARGIN = 0.03  # of the range: paper and solid black end this close to their points
DRAWN_REACH = 3  # px around the drawn parts, where a blur of sigma up to about 1 px puts their ink
MIN_SPAN = 32.0  # black and white points closer than this: no midtones to read
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


def midtone_gamma(gray: np.ndarray, black: float | None, white: float | None,
                  noise: float | None = None) -> float | None:
    """Gamma of a uint8 gray image's drawn parts between its points (see the module docstring); None
    when the points are too close or under 0.5 % of the image is drawn."""
    b = 0.0 if black is None else float(black)
    w = 255.0 if white is None else float(white)
    span = w - b
    if span < MIN_SPAN:
        return None
    # On the uint8 levels throughout: the mask within half a level of a float one, at a third of the cost.
    smooth = cv2.GaussianBlur(gray, (0, 0), MASK_SIGMA, borderType=cv2.BORDER_REFLECT_101)
    margin = max(PAPER_MARGIN * span, 3.0 * SMOOTHED_NOISE * (noise or 0.0) + 1.0)
    drawn = cv2.inRange(smooth, math.floor(b + margin) + 1, math.ceil(w - margin) - 1)  # strictly inside
    if cv2.countNonZero(drawn) < MIN_MID_SHARE * gray.size:
        return None
    reach = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * DRAWN_REACH + 1, 2 * DRAWN_REACH + 1))
    counts = cv2.calcHist([gray], [0], cv2.dilate(drawn, reach), [256], [0, 256]).ravel()
    scale = np.clip((np.arange(256) - b) / span, 0.0, 1.0)  # each level between the points
    m = float(counts @ scale / counts.sum())
    m = min(max(m, 0.03), 0.87)  # gamma within 0.2..5
    return math.log(0.5) / math.log(m)


def levels(gray: np.ndarray, noise: float | None) -> LevelsEstimate:
    """Black point, white point (0..255) and midtone gamma of a gray image; see the module docstring."""
    u8 = gray if gray.dtype == np.uint8 else np.clip(np.rint(gray), 0, 255).astype(np.uint8)
    sigma = 0.0 if noise is None else float(noise)
    box = np.ones((3, 3), np.uint8)
    slack = 24.0 + 3.0 * sigma
    black = _core_level(u8, cv2.dilate(u8, box), True, slack)
    white = _core_level(u8, cv2.erode(u8, box), False, slack)
    return LevelsEstimate(black, white, midtone_gamma(u8, black, white, sigma))


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
