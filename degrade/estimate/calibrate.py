"""What the estimators read on known images: the blur an enlargement alone leaves behind, and how far
a tone curve moves the gamma reading.

- A fitted recipe that enlarges must not add back the softness the enlargement itself makes, so the
  fit asks how sharp a perfectly sharp page looks after our own chain: a synthetic page of solid black
  rectangles on white (drawn at 8x, downscaled with `bicubic_aa`), reduced by the factor and enlarged
  back with the raw's kernel, then measured by `edges.blur_sigma`. Computed once per (factor, kernel).
- The gamma reading (`levels.midtone_gamma`) moves by less than the gamma of a levels step, by how
  much depending on how densely the pages are drawn; `gamma_response` measures it on the user's own
  pages (their HR tiles, downscaled): each is put through levels with each of GAMMAS and read again.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from srkit.degrade.estimate.edges import blur_sigma
from srkit.degrade.estimate.levels import levels
from srkit.degrade.ops.resize import resize_image
from srkit.degrade.ops.scan import apply_levels

SIZE = 320
SUPER = 8
GAMMAS = (0.5, 0.7, 0.85, 1.2, 1.4, 1.7, 2.0, 2.5)  # levels gammas the response is measured at


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


def gamma_response(pages: list[np.ndarray]) -> tuple[tuple[float, float], ...]:
    """(levels gamma g, median over `pages` of their gamma reading after levels g over their reading
    before) for g = 1 (ratio 1) and each of GAMMAS; a page without a reading does not count. Empty when
    no page has one."""
    before = [(page, levels(page, None).gamma) for page in pages]
    before = [(page, g0) for page, g0 in before if g0]
    if not before:
        return ()
    rows = [(1.0, 1.0)]
    for g in GAMMAS:
        after = [(levels(apply_levels(page, {"black": 0.0, "white": 255.0, "gamma": g}), None).gamma, g0)
                 for page, g0 in before]
        ratios = [g1 / g0 for g1, g0 in after if g1]
        if ratios:
            rows.append((g, round(float(np.median(ratios)), 4)))
    return tuple(sorted(rows))
