"""Manga-aware scores of an upscaled image (SR) against its original (HR): screentone kept, moiré,
line precision / recall / F1 and paper noise, computed from the pixels alone (no learned weights).

PSNR and SSIM barely see whether a dot screentone survived: they compare pixel by pixel, so dots
redrawn half a dot away score lower than the same area smeared into flat gray. These scores look at
what a reader looks at. All of
them work on the luma (0..255; a gray image as it is, RGB through the BT.601 luma of
``srkit.core.images.to_gray``) with ``border`` pixels shaved from every side, as PSNR / SSIM are.

- ``tone_kept`` (0..1): the HR is cut into ``WINDOW`` x ``WINDOW`` windows spread evenly over the
  image. A window holds screentone when the tile ``tone`` score on it (share of its non-DC spectral
  power in its 4 strongest frequency pairs with a period of 2 to 16 px) is at least
  ``TONE_WINDOW_MIN``, those peaks lie in directions at least ``TONE_MIN_SPREAD`` degrees apart (a
  dot screen, not parallel lines such as a panel's double border or hatching, which the line scores
  see) and it is not flat (standard deviation at least the tiles' flat limit). In
  each such window: the SR's power at the HR's 4 peak frequencies, each capped at the HR's, over the
  HR's power there. The mean over the windows: 1 = every dot pattern kept at full strength, 0 =
  smeared to flat gray.
- ``moire`` (0 and up): in the same windows, the SR's 4 strongest frequency pairs with a period of 2
  to ``MOIRE_MAX_PERIOD`` px that are not within one frequency bin of an HR peak; their power above
  the HR's at the same frequencies, over the HR's peak power. The mean over the windows: 0 = no
  false periodic pattern, 1 = false peaks as strong as the real screentone.
- ``line_precision``, ``line_recall``, ``line_f1`` (0..1): line maps are Canny edges (3 x 3 Sobel,
  L2 gradient, hysteresis ``LINE_LOW`` / ``LINE_HIGH``) of each image, outside the HR's screentone
  windows (there every dot is an edge; ``tone_kept`` scores those). An SR edge pixel is right when
  an HR edge pixel lies within 1 px (its 3 x 3 neighbourhood): precision is the share of SR edge
  pixels that are right, recall the share of HR edge pixels with an SR edge within 1 px, F1 their
  harmonic mean, as boundary benchmarks score edges.
- ``paper_noise`` (gray levels): where the HR is clean paper or solid ink (every pixel within
  ``PAPER_MARGIN`` px at least ``WHITE_LEVEL`` or at most ``BLACK_LEVEL``), the standard deviation of
  SR - HR around its mean, pooled over the two. 0 = the SR keeps them as clean as the HR; grain,
  noise and ringing raise it.

A score is NaN when the HR holds nothing it could measure (no screentone window, no line, no clean
paper); averages over images leave those out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from srkit.core.images import hwc, to_gray
from srkit.tiling.scores import (
    BLACK_LEVEL,
    DEFAULT_FLAT_STD,
    TONE_MIN_PERIOD,
    TONE_PEAKS,
    WHITE_LEVEL,
    pair_frequencies,
    patch_spectrum,
    tone_band,
)

SCORE_NAMES = ("tone_kept", "moire", "line_precision", "line_recall", "line_f1", "paper_noise")

# 64 px holds 4 to 32 periods of the screentones the tile score sees (2 to 16 px), enough for sharp
# peaks, and is small enough that a window seldom straddles a tone and plain paper.
WINDOW = 64
# The tile score's line between a regular tone (0.3 and above) and line art or noise (below 0.1).
TONE_WINDOW_MIN = 0.3
# Dots repeat in two directions (90 degrees apart on a square screen, 60 on a hexagonal one);
# parallel lines put every peak on one line through the origin.
TONE_MIN_SPREAD = 30.0
# Aliasing folds a fine screentone to long periods (a 3.5 px tone sampled every 4 px beats at 28 px).
MOIRE_MAX_PERIOD = 32.0
# The 3 x 3 Sobel gives 4 x a step's height: edges of 50 gray levels start a line, 25 continue it,
# far above the JPEG noise of scanned paper (a few levels), so grain on paper draws almost no lines.
LINE_LOW, LINE_HIGH = 100, 200
# Within 4 px of ink the halo of an edge belongs to the line (the line scores see it), not the paper.
PAPER_MARGIN = 4

_NEAR = np.ones((3, 3), np.uint8)


def luma(img: np.ndarray, border: int = 0) -> np.ndarray:
    """uint8 luma (H, W) of a gray or RGB uint8 image, ``border`` px shaved from every side."""
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise TypeError(f"scores take 8-bit images (round first), got {img.dtype}")
    img = hwc(img)
    gray = img[:, :, 0] if img.shape[2] == 1 else to_gray(img)
    if border > 0:
        if gray.shape[0] <= 2 * border or gray.shape[1] <= 2 * border:
            raise ValueError(f"image {gray.shape[1]}x{gray.shape[0]} too small to shave {border} px per side")
        gray = gray[border:-border, border:-border]
    return np.ascontiguousarray(gray)


def window_starts(length: int, size: int = WINDOW) -> list[int]:
    """Starts of the fewest ``size`` windows that cover ``length`` pixels, spread evenly."""
    if length < size:
        return []
    count = math.ceil(length / size)
    return [int(v) for v in np.linspace(0, length - size, count).round()]


@dataclass
class Reference:
    """What the HR contributes to every score, computed once and reused for each SR scored against it."""

    shape: tuple[int, int]
    border: int
    windows: list[tuple[int, int]]   # (y, x) of the screentone windows
    hr_power: np.ndarray             # (windows, pairs) spectral power of each window
    hr_peaks: np.ndarray             # (windows, TONE_PEAKS) indexes of each window's peak pairs
    near_peaks: np.ndarray           # (windows, pairs) bool: within one bin of a peak
    line_area: np.ndarray            # bool: where lines are scored (outside the screentone windows)
    hr_lines: np.ndarray             # bool: HR edges in the line area
    hr_lines_near: np.ndarray        # bool: within 1 px of an HR edge
    paper: list[tuple[np.ndarray, np.ndarray]]  # (mask, HR values) of clean paper, of solid ink


_TABLES: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def _tables(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For n x n windows: the tone band, the moiré band, and each pair's 3 x 3 neighbours (pair indexes)."""
    if n not in _TABLES:
        coords = pair_frequencies(n)
        radius = np.hypot(coords[:, 0], coords[:, 1]) / n
        moire_band = np.flatnonzero((radius >= 1.0 / MOIRE_MAX_PERIOD) & (radius <= 1.0 / TONE_MIN_PERIOD))
        index_of = np.empty((n, n), np.int64)  # every bin of the full spectrum -> its pair
        pairs = np.arange(len(coords))
        index_of[coords[:, 0] % n, coords[:, 1] % n] = pairs
        index_of[-coords[:, 0] % n, -coords[:, 1] % n] = pairs
        offsets = [(du, dv) for du in (-1, 0, 1) for dv in (-1, 0, 1)]
        neighbours = np.stack([index_of[(coords[:, 0] + du) % n, (coords[:, 1] + dv) % n]
                               for du, dv in offsets], axis=1)
        _TABLES[n] = (tone_band(n), moire_band, neighbours)
    return _TABLES[n]


def _spread(pairs: np.ndarray) -> float:
    """The widest angle, in degrees (0..90), between the directions of frequency pairs of a window."""
    coords = pair_frequencies(WINDOW)[pairs]
    angles = np.degrees(np.arctan2(coords[:, 0], coords[:, 1])) % 180.0
    diff = np.abs(angles[:, None] - angles[None, :])
    return float(np.minimum(diff, 180.0 - diff).max())


def _edges(gray: np.ndarray) -> np.ndarray:
    return cv2.Canny(gray, LINE_LOW, LINE_HIGH, L2gradient=True) > 0


def _near(mask: np.ndarray) -> np.ndarray:
    return cv2.dilate(mask.view(np.uint8), _NEAR) > 0


def reference(hr: np.ndarray, border: int = 0) -> Reference:
    """Analyse the HR once: its screentone windows and their peaks, its line map, its clean paper."""
    gray = luma(hr, border)
    h, w = gray.shape
    tone_idx, _, neighbours = _tables(WINDOW)
    windows, powers, peaks = [], [], []
    line_area = np.ones((h, w), bool)
    for y in window_starts(h):
        for x in window_starts(w):
            patch = gray[y:y + WINDOW, x:x + WINDOW]
            power, total = patch_spectrum(patch)
            if total <= 0 or float(patch.std()) < DEFAULT_FLAT_STD:
                continue
            inband = power[tone_idx]
            top = tone_idx[np.argpartition(inband, inband.size - TONE_PEAKS)[inband.size - TONE_PEAKS:]]
            if float(power[top].sum()) / total < TONE_WINDOW_MIN or _spread(top) < TONE_MIN_SPREAD:
                continue
            windows.append((y, x))
            powers.append(power)
            peaks.append(top)
            line_area[y:y + WINDOW, x:x + WINDOW] = False
    pairs = len(pair_frequencies(WINDOW))
    hr_power = np.asarray(powers, np.float32).reshape(len(windows), pairs)
    hr_peaks = np.asarray(peaks, np.int64).reshape(len(windows), TONE_PEAKS)
    near_peaks = np.zeros((len(windows), pairs), bool)
    if windows:
        rows = np.repeat(np.arange(len(windows)), TONE_PEAKS * neighbours.shape[1])
        near_peaks[rows, neighbours[hr_peaks].ravel()] = True
    hr_lines = _edges(gray) & line_area
    kernel = np.ones((2 * PAPER_MARGIN + 1,) * 2, np.uint8)
    white = cv2.erode(gray, kernel) >= WHITE_LEVEL
    black = cv2.dilate(gray, kernel) <= BLACK_LEVEL
    paper = [(mask, gray[mask].astype(np.float64)) for mask in (white, black)]
    return Reference((h, w), border, windows, hr_power, hr_peaks, near_peaks, line_area, hr_lines,
                     _near(hr_lines), paper)


def _tone_by_window(ref: Reference, gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``tone_kept`` and ``moire`` of each screentone window."""
    _, moire_idx, _ = _tables(WINDOW)
    sr_power = np.asarray([patch_spectrum(gray[y:y + WINDOW, x:x + WINDOW])[0] for y, x in ref.windows],
                          np.float32).reshape(ref.hr_power.shape)
    rows = np.arange(len(ref.windows))[:, None]
    hr_peak = ref.hr_power[rows, ref.hr_peaks].astype(np.float64)
    sr_peak = sr_power[rows, ref.hr_peaks].astype(np.float64)
    kept = np.minimum(sr_peak, hr_peak).sum(1) / hr_peak.sum(1)
    # The SR's strongest peaks away from the HR's: false patterns. Power above the HR's, so
    # content the HR has at those frequencies does not count.
    candidates = np.where(ref.near_peaks[:, moire_idx], -np.inf, sr_power[:, moire_idx])
    top = moire_idx[np.argpartition(candidates, -TONE_PEAKS, axis=1)[:, -TONE_PEAKS:]]
    excess = np.maximum(sr_power[rows, top].astype(np.float64) - ref.hr_power[rows, top], 0.0)
    return kept, excess.sum(1) / hr_peak.sum(1)


def _tone_scores(ref: Reference, gray: np.ndarray) -> tuple[float, float]:
    if not ref.windows:
        return math.nan, math.nan
    kept, moire = _tone_by_window(ref, gray)
    return float(kept.mean()), float(moire.mean())


def _line_maps(ref: Reference, gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The SR's edges in the line area, and where they are within 1 px."""
    sr_lines = _edges(gray) & ref.line_area
    return sr_lines, _near(sr_lines)


def _precision_recall_f1(hr_lines: np.ndarray, hr_near: np.ndarray, sr_lines: np.ndarray,
                         sr_near: np.ndarray) -> tuple[float, float, float]:
    n_sr, n_hr = int(np.count_nonzero(sr_lines)), int(np.count_nonzero(hr_lines))
    if n_hr == 0:
        return math.nan, math.nan, math.nan
    recall = np.count_nonzero(hr_lines & sr_near) / n_hr
    precision = np.count_nonzero(sr_lines & hr_near) / n_sr if n_sr else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return float(precision), float(recall), float(f1)


def _line_scores(ref: Reference, gray: np.ndarray) -> tuple[float, float, float]:
    return _precision_recall_f1(ref.hr_lines, ref.hr_lines_near, *_line_maps(ref, gray))


def _paper_noise(ref: Reference, gray: np.ndarray) -> float:
    squares, count = 0.0, 0
    for mask, hr_values in ref.paper:
        if hr_values.size == 0:
            continue
        diff = gray[mask].astype(np.float64) - hr_values
        squares += float(((diff - diff.mean()) ** 2).sum())
        count += diff.size
    return math.sqrt(squares / count) if count else math.nan


def score_against(ref: Reference, sr: np.ndarray) -> dict[str, float]:
    """The scores of ``sr`` (uint8, the HR's size) against the analysed HR, named as ``SCORE_NAMES``."""
    gray = luma(sr, ref.border)
    if gray.shape != ref.shape:
        raise ValueError(f"image sizes differ: SR {gray.shape} vs HR {ref.shape} (after shaving)")
    tone_kept, moire = _tone_scores(ref, gray)
    precision, recall, f1 = _line_scores(ref, gray)
    return {"tone_kept": tone_kept, "moire": moire, "line_precision": precision, "line_recall": recall,
            "line_f1": f1, "paper_noise": _paper_noise(ref, gray)}


def tone_kept_by_window(ref: Reference, sr: np.ndarray) -> dict[tuple[int, int], float]:
    """``tone_kept`` of each screentone window, by the (y, x) of its corner in ``sr`` (border included)."""
    if not ref.windows:
        return {}
    kept, _ = _tone_by_window(ref, luma(sr, ref.border))
    b = ref.border
    return {(y + b, x + b): float(v) for (y, x), v in zip(ref.windows, kept, strict=True)}


def line_f1_by_window(ref: Reference, sr: np.ndarray,
                      min_edges: int = WINDOW) -> dict[tuple[int, int], float]:
    """``line_f1`` in each ``WINDOW`` x ``WINDOW`` window holding at least ``min_edges`` HR edge pixels
    (about a line across it), by the (y, x) of its corner in ``sr`` (border included)."""
    sr_lines, sr_near = _line_maps(ref, luma(sr, ref.border))
    out = {}
    h, w = ref.shape
    for y in window_starts(h):
        for x in window_starts(w):
            part = np.s_[y:y + WINDOW, x:x + WINDOW]
            if np.count_nonzero(ref.hr_lines[part]) >= min_edges:
                f1 = _precision_recall_f1(ref.hr_lines[part], ref.hr_lines_near[part], sr_lines[part],
                                          sr_near[part])[2]
                out[(y + ref.border, x + ref.border)] = f1
    return out


def manga_scores(sr: np.ndarray, hr: np.ndarray, border: int = 0) -> dict[str, float]:
    """The scores of ``sr`` against ``hr`` (uint8, same size, gray or RGB), ``border`` px shaved."""
    return score_against(reference(hr, border), sr)
