"""Blur from the profiles of strong, isolated edges (manga line art and solid blacks hold many).

Method:
- Edges: pixels where the central difference along x (or y) is large, the other direction's small
  (edges within about 14 degrees of vertical or horizontal, so a profile along the axis is not
  stretched) and largest among its neighbours along the profile. The 13-sample profile across the edge
  must rise (or fall) monotonically between two plateaus, flat over their three outer samples, near
  the image's black and white points (within 20 % of the range: the bottom of a thin stroke is not a
  plateau and would pass for a sharper edge); tolerances widen with the measured noise. Up to
  MAX_EDGES profiles are kept.
- Blur: each profile, normalised by its plateaus, is matched (least squares) to a bank of model
  profiles: a sharp step at one of 21 sub-pixel positions, downscaled with the antialiased bicubic
  resize (our `bicubic_aa` op, at 20x) and blurred with our `gaussian_blur` op at sigma 0..3 px in
  steps of 0.05. The image's `blur_sigma` is the median sigma of its edges: the Gaussian that, after a
  sharp antialiased bicubic downscale, gives the same edge sharpness.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from srkit.degrade.ops.blur import apply_gaussian_blur, auto_kernel_size
from srkit.degrade.ops.resize import resize_image

HALF = 6  # samples on each side of the edge pixel: 13-sample profiles
SIGMAS = np.round(np.arange(0.0, 3.0001, 0.05), 2)
OFFSETS = np.arange(-10, 11) / 20.0  # sub-pixel position of the step, in pixels
SUPER = 20  # the model step is drawn at 20x and downscaled
MAX_EDGES = 2000
SCAN_PIXELS = 300_000  # pixels per direction searched for edges (every k-th line of a large image)
MIN_EDGES = 8
MIN_HEIGHT = 0.6  # of the black-white range
FULL = 0.2  # plateaus within 20 % of the range from the black and the white point


@dataclass(frozen=True)
class EdgeEstimate:
    sigma: float | None
    edges: int  # profiles used


@lru_cache(maxsize=1)
def edge_bank() -> tuple[np.ndarray, np.ndarray]:
    """(models, sigma of each model): normalised 13-sample rising step profiles, see the docstring."""
    margin = 10  # LR pixels on each side, so borders do not reach the profile
    n = 2 * HALF + 1 + 2 * margin
    models, sigmas = [], []
    for offset in OFFSETS:
        hr = np.zeros((4, n * SUPER), np.float32)
        edge = int(round((margin + HALF + 0.5 + offset) * SUPER))  # LR pixel i is centred at (i + 0.5) F
        hr[:, edge:] = 1.0
        lr = resize_image(hr, 1, n, "bicubic_aa")
        lr = np.repeat(lr, 5, axis=0)
        for sigma in SIGMAS:
            blurred = lr if sigma == 0 else apply_gaussian_blur(
                lr, {"sigma": float(sigma), "kernel_size": auto_kernel_size(float(sigma))})
            models.append(_normalise(blurred[2, margin:margin + 2 * HALF + 1][None, :])[0])
            sigmas.append(float(sigma))
    return np.asarray(models, np.float32), np.asarray(sigmas, np.float32)


def _normalise(profiles: np.ndarray) -> np.ndarray:
    """Profiles scaled so the mean of their two first samples is 0 and of their two last is 1."""
    lo = profiles[:, :2].mean(axis=1, keepdims=True)
    hi = profiles[:, -2:].mean(axis=1, keepdims=True)
    return (profiles - lo) / np.maximum(hi - lo, 1e-6)


def _match(profiles: np.ndarray) -> np.ndarray:
    """Index into the bank of the nearest model (least squares) of each normalised profile."""
    models, _ = edge_bank()
    u = np.clip(profiles, 0.0, 1.0).astype(np.float32)
    dist = (models * models).sum(axis=1)[None, :] - 2.0 * (u @ models.T)
    return np.argmin(dist, axis=1)


def edge_profiles(gray: np.ndarray, black: float, white: float, noise: float) -> np.ndarray:
    """Rising 13-sample profiles (0..255 values) across strong isolated near-axis edges."""
    g = gray.astype(np.float32)
    span = max(float(white) - float(black), 32.0)
    out = []
    for img in (g, g.T):  # profiles along x, then along y
        h, w = img.shape
        if w < 2 * HALF + 3 or h < 3:
            continue
        # Edges run over many lines: on a large image every k-th line finds plenty of them.
        stride = max(1, h * w // SCAN_PIXELS)
        lines = np.arange(1, h - 1, stride)
        img = np.ascontiguousarray(img[np.concatenate([lines - 1, lines, lines + 1])].reshape(3, -1, w))
        prev, img, nxt = img[0], img[1], img[2]
        h = img.shape[0]
        d_along = np.zeros_like(img)
        d_along[:, 1:-1] = img[:, 2:] - img[:, :-2]
        d_across = nxt - prev
        strong = np.abs(d_along)
        peak = strong >= 0.3 * span
        peak[:, 1:-1] &= (strong[:, 1:-1] >= strong[:, :-2]) & (strong[:, 1:-1] > strong[:, 2:])
        peak &= np.abs(d_across) <= 0.25 * strong
        peak[:, :HALF] = False
        peak[:, w - HALF:] = False
        ys, xs = np.nonzero(peak)
        if ys.size > 4 * MAX_EDGES:
            keep = np.linspace(0, ys.size - 1, 4 * MAX_EDGES).astype(np.int64)
            ys, xs = ys[keep], xs[keep]
        prof = img[ys[:, None], xs[:, None] + np.arange(-HALF, HALF + 1)[None, :]]
        falling = prof[:, -1] < prof[:, 0]
        prof[falling] = prof[falling, ::-1]
        out.append(prof)
    if not out:
        return np.empty((0, 2 * HALF + 1), np.float32)
    prof = np.concatenate(out)
    lo = prof[:, :2].mean(axis=1)
    hi = prof[:, -2:].mean(axis=1)
    height = hi - lo
    slack = 3.0 * float(noise)  # noise moves a sample by up to about 3 sigma
    ok = height >= max(MIN_HEIGHT * span, 4.0 * slack)
    # Full-contrast steps only: a plateau that is the bottom of a thin stroke would pass for a sharper edge.
    ok &= (lo <= float(black) + FULL * span) & (hi >= float(white) - FULL * span)
    tol = np.maximum(0.06 * height, slack)
    ok &= np.abs(prof[:, 2] - prof[:, 0]) <= tol
    ok &= np.abs(prof[:, -1] - prof[:, -3]) <= tol
    ok &= (np.diff(prof, axis=1) >= -tol[:, None]).all(axis=1)
    ok &= (prof.min(axis=1) >= lo - tol) & (prof.max(axis=1) <= hi + tol)
    prof = prof[ok]
    if prof.shape[0] > MAX_EDGES:
        prof = prof[np.linspace(0, prof.shape[0] - 1, MAX_EDGES).astype(np.int64)]
    return prof


def blur_sigma(gray: np.ndarray, black: float | None, white: float | None,
               noise: float | None) -> EdgeEstimate:
    """Blur sigma of a gray image (0..255), given its black and white points and noise sigma."""
    b = 0.0 if black is None else float(black)
    w = 255.0 if white is None else float(white)
    prof = edge_profiles(gray, b, w, 0.0 if noise is None else float(noise))
    if prof.shape[0] < MIN_EDGES:
        return EdgeEstimate(None, int(prof.shape[0]))
    _, sigmas = edge_bank()
    matched = _match(_normalise(prof))
    return EdgeEstimate(float(np.median(sigmas[matched])), int(prof.shape[0]))
