"""Per-tile scores, computed cheaply from whole-page arrays, and the rejection rules that use them.

Scores (all on the gray luma of the page, 0..255 levels):

- ``std``: standard deviation of the tile's pixels. Blank paper and solid black are near 0.
- ``lap``: mean absolute 4-neighbour Laplacian (as ``cv2.Laplacian`` ksize 1) over the tile, from
  one Laplacian of the whole page. How much fine detail (lines, dots, texture) the tile holds.
- ``white`` / ``black``: fraction of pixels at or above ``WHITE_LEVEL`` / at or below ``BLACK_LEVEL``.
- ``tone``: screentone score in 0..1: on the central ``TONE_PATCH`` x ``TONE_PATCH`` patch
  (Hann-windowed, mean removed), the share of the non-DC spectral power held by the
  ``TONE_PEAKS`` strongest frequency pairs (a frequency and its mirror image: 8 spectrum bins)
  with a period of 2 to 16 px. A regular dot or line tone puts its power in a few sharp peaks
  (0.3 and above); line art, noise and flat areas spread it (below about 0.1).
"""

from __future__ import annotations

import cv2
import numpy as np

from srkit.tiling.grid import Box

WHITE_LEVEL = 240
BLACK_LEVEL = 16
TONE_PATCH = 128
TONE_PEAKS = 4  # conjugate pairs: 8 frequencies of the full spectrum
TONE_MIN_PERIOD = 2.0
TONE_MAX_PERIOD = 16.0

# Defaults tuned on the `dev` manga pages (see tiling/run.py's docstring for the measurements).
DEFAULT_FLAT_STD = 4.0
DEFAULT_MIN_LAP = 3.0

SCORE_NAMES = ("std", "lap", "white", "black", "tone")

_TONE_CACHE: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def _tone_tables(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hann window, the indexes of the 2-16 px band and the frequency of every entry of
    ``_pair_powers``'s layout, for an n x n patch."""
    if n not in _TONE_CACHE:
        h = n // 2
        hann = cv2.createHanningWindow((n, n), cv2.CV_32F)
        rows = np.rint(np.fft.fftfreq(n) * n).astype(np.int64)
        mid = np.stack(np.broadcast_arrays(rows[:, None], np.arange(1, h)[None, :]), -1).reshape(-1, 2)
        edge = np.arange(h + 1)  # columns 0 and h: rows 0..h (the rest are their mirror images)
        col_0 = np.stack([edge, np.zeros_like(edge)], -1)
        col_h = np.stack([edge, np.full_like(edge, h)], -1)
        coords = np.concatenate([mid, col_0, col_h])
        radius = np.hypot(coords[:, 0], coords[:, 1]) / n
        band = np.flatnonzero((radius >= 1.0 / TONE_MAX_PERIOD) & (radius <= 1.0 / TONE_MIN_PERIOD))
        coords.setflags(write=False)
        _TONE_CACHE[n] = (hann, band, coords)
    return _TONE_CACHE[n]


def _pair_powers(ccs: np.ndarray) -> tuple[np.ndarray, float]:
    """Spectral power per conjugate pair of frequencies, from OpenCV's packed (CCS) real DFT.

    Returns one value per pair (a frequency and its mirror image, which a real patch gives equal
    power) and the total non-DC power of the full spectrum.
    """
    n = ccs.shape[0]
    h = n // 2
    mid = ccs[:, 1:n - 1:2] ** 2 + ccs[:, 2:n - 1:2] ** 2
    edges = []
    for col in (ccs[:, 0], ccs[:, n - 1]):  # columns 0 and n/2 are packed along the rows too
        p = np.empty(h + 1, np.float32)
        p[0], p[h] = col[0] ** 2, col[n - 1] ** 2
        p[1:h] = col[1:n - 1:2] ** 2 + col[2:n - 1:2] ** 2
        edges.append(p)
    p0, ph = edges
    pairs = np.concatenate([2 * mid.ravel(), 2 * p0, 2 * ph])
    # Bins that are their own mirror image (rows 0 and n/2 of columns 0 and n/2) count once.
    m = mid.size
    for i in (m, m + h, m + h + 1, m + 2 * h + 1):
        pairs[i] /= 2
    pairs[m] = 0.0  # DC
    return pairs, float(pairs.sum())


def patch_spectrum(patch: np.ndarray) -> tuple[np.ndarray, float]:
    """Spectral power per conjugate pair of frequencies of a square gray patch of even side (its mean
    removed, Hann-windowed), and the total non-DC power.

    The pairs are laid out as ``pair_frequencies(n)`` gives their frequencies.
    """
    n = patch.shape[0]
    patch = patch.astype(np.float32)
    patch -= float(patch.mean())
    hann, _, _ = _tone_tables(n)
    return _pair_powers(cv2.dft(patch * hann))


def pair_frequencies(n: int) -> np.ndarray:
    """(row, column) frequency, in cycles per patch, of each pair of ``patch_spectrum`` for an n x n
    patch (read-only; the mirror image of each is its negative)."""
    return _tone_tables(n)[2]


def tone_band(n: int) -> np.ndarray:
    """Indexes of the pairs of ``patch_spectrum`` with a period of 2 to 16 px, for an n x n patch."""
    return _tone_tables(n)[1]


def tone_score(gray_tile: np.ndarray) -> float:
    """Screentone score of a gray tile (see the module docstring); 0 for tiny or flat tiles."""
    h, w = gray_tile.shape[:2]
    n = min(TONE_PATCH, h, w) // 2 * 2
    if n < 16:
        return 0.0
    y0, x0 = (h - n) // 2, (w - n) // 2
    pairs, total = patch_spectrum(gray_tile[y0:y0 + n, x0:x0 + n])
    if total <= 1e-6 * n * n:
        return 0.0
    inband = pairs[tone_band(n)]
    k = min(TONE_PEAKS, inband.size)
    peaks = np.partition(inband, inband.size - k)[inband.size - k:]
    return min(1.0, float(peaks.sum()) / total)


def _round(value: float) -> float:
    return float(f"{value:.4g}")


def score_tile(gray_tile: np.ndarray, lap_tile: np.ndarray) -> dict[str, float]:
    """Scores of one tile from its gray pixels and its part of the page's Laplacian (int16)."""
    n = gray_tile.shape[0] * gray_tile.shape[1]
    _, std = cv2.meanStdDev(gray_tile)
    return {
        "std": _round(float(std[0, 0])),
        "lap": _round(cv2.norm(lap_tile, cv2.NORM_L1) / n),
        "white": _round(np.count_nonzero(gray_tile >= WHITE_LEVEL) / n),
        "black": _round(np.count_nonzero(gray_tile <= BLACK_LEVEL) / n),
        "tone": _round(tone_score(gray_tile)),
    }


_LAPLACIAN_4 = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32)


def page_laplacian(gray: np.ndarray) -> np.ndarray:
    """The 4-neighbour Laplacian of a whole gray page, int16 (exact: integer taps, |value| <= 1020).

    ``filter2D`` gives the same values as ``cv2.Laplacian(ksize=1)`` (same kernel and border) about
    four times faster.
    """
    return cv2.filter2D(gray, cv2.CV_16S, _LAPLACIAN_4)


def pad_tile(img: np.ndarray, box: Box) -> np.ndarray:
    """The pixels of ``box``; a box past the border is padded with white."""
    part = img[box.y:box.y + box.true_h, box.x:box.x + box.true_w]
    if not box.padded:
        return part
    out = np.full((box.h, box.w) + img.shape[2:], 255, np.uint8)
    out[:box.true_h, :box.true_w] = part
    return out


def score_boxes(gray: np.ndarray, boxes: list[Box]) -> list[dict[str, float]]:
    """Scores of every box of a page (boxes in row order, as ``grid`` gives them).

    The Laplacian is computed once per row of tiles, on that band of the page plus one row above
    and below: the same values as a Laplacian of the whole page, in a fraction of its memory.
    """
    out = []
    height = gray.shape[0]
    band_y, lap = -1, np.empty((0, 0), np.int16)
    for box in boxes:
        if box.padded:
            tile = pad_tile(gray, box)
            out.append(score_tile(tile, page_laplacian(tile)))
            continue
        if box.y != band_y:
            top, bottom = max(0, box.y - 1), min(height, box.y + box.h + 1)
            lap = page_laplacian(gray[top:bottom])[box.y - top:box.y - top + box.h]
            band_y = box.y
        out.append(score_tile(gray[box.y:box.y + box.h, box.x:box.x + box.w], lap[:, box.x:box.x + box.w]))
    return out


def rejection_reason(scores: dict[str, float], flat_std: float, min_lap: float) -> str | None:
    """Why a tile is rejected (``flat``, ``low_detail``) or None when it is kept."""
    if scores["std"] < flat_std:
        return "flat"
    if scores["lap"] < min_lap:
        return "low_detail"
    return None
