"""What the estimators read on a known, clean image: the blur an enlargement alone leaves behind.

A fitted recipe that enlarges must not add back the softness the enlargement itself makes, so the
fit asks how sharp a perfectly sharp page looks after our own chain: a synthetic page of solid black
rectangles on white (drawn at 8x, downscaled with `bicubic_aa`), reduced by the factor and enlarged
back with the raw's kernel, then measured by `edges.blur_sigma`. Computed once per (factor, kernel).
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from srkit.degrade.estimate.edges import blur_sigma
from srkit.degrade.ops.resize import resize_image

SIZE = 320
SUPER = 8


@lru_cache(maxsize=1)
def sharp_page() -> np.ndarray:
    """A SIZE x SIZE gray page of axis-aligned black rectangles on white, edges at sub-pixel positions."""
    rng = np.random.default_rng(2024)
    big = np.full((SIZE * SUPER, SIZE * SUPER), 255, np.uint8)
    for _ in range(40):
        x0, y0 = (int(v) for v in rng.integers(0, SIZE * SUPER - 320, 2))
        w, h = (int(v) for v in rng.integers(100, 320, 2))
        cv2.rectangle(big, (x0, y0), (x0 + w, y0 + h), 0, -1)
    return resize_image(big, SIZE, SIZE, "bicubic_aa")


@lru_cache(maxsize=64)
def enlargement_blur(factor: float, mode: str) -> float:
    """blur_sigma of the sharp page reduced by `factor` (bicubic_aa) and enlarged back with `mode`."""
    page = sharp_page()
    small = max(8, int(round(SIZE / factor)))
    back = resize_image(resize_image(page, small, small, "bicubic_aa"), SIZE, SIZE, mode)
    found = blur_sigma(back, 0.0, 255.0, 0.0).sigma
    return 0.0 if found is None else float(found)
