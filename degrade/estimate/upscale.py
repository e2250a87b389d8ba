"""Upscaled or native: whether an image was enlarged from a smaller one, by how much, with which kernel.

Method, in two steps:
1. Candidates (resampling periodicity, after Gallagher 2005): an image enlarged by f interpolates
   each pixel at a position that repeats every f pixels, so the mean absolute difference between
   neighbouring columns, averaged down the rows, is periodic with period f. Its spectrum peaks at
   k / f (folded into 0..0.5); each of the strongest peaks phi proposes f = 1 / phi, 2 / phi and
   1 / (1 - phi) between MIN_FACTOR and MAX_FACTOR, beside the usual factors 1.5, 2, 3 and 4 (a
   JPEG grid also makes peaks at multiples of 1/8: step 2 sorts them out).
2. Check (the idea of getnative: descale exactly, not approximately): for a candidate native width
   w, an image enlarged from w columns lies, up to rounding, in the span of the kernel's copies
   centred at (j + 0.5) W / w - 0.5. On windows along the most detailed rows, the least-squares
   residual of that span is at the rounding / compression floor for the true w and the true kernel,
   and far above it one column off. The kernels are the enlargement modes of our `resize` op
   (`bicubic_aa`, `bilinear_aa`, `lanczos`); their weights are read from the op itself, by enlarging
   combs of unit impulses 8 samples apart; pixels clipped at 0 or 255 are left out. A candidate is
   accepted when its best kernel's residual is below DIP times that of the neighbours w +- 1 (which
   must miss by MIN_MISFIT levels^2 at least). Windows are WINDOW pixels, longer for factors below 2
   so that each fit keeps DOF samples beyond its unknowns.
`upscaled_by` is W / w (1.0 for native); `kernel` names the mode family with the lowest residual.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from srkit.degrade.ops.resize import resize_image

MIN_FACTOR = 1.2
MAX_FACTOR = 4.5
KERNELS = ("bicubic_aa", "bilinear_aa", "lanczos")
FAMILY = {"bicubic_aa": "bicubic", "bilinear_aa": "bilinear", "lanczos": "lanczos"}
WINDOW = 64  # pixels per window at factors >= 2; longer below, so every fit keeps DOF spare samples
DOF = 16
MARGIN = 4  # pixels kept from the borders, where resizers differ
N_WINDOWS = 8
N_PEAKS = 3
PEAK = 2.5  # a spectral peak stands this far above the median
COMMON = (2.0, 1.5, 3.0, 4.0)  # always tried: the usual enlargements
SCREEN = 0.75  # with the first kernel, a dip at least this deep is worth a closer look
MIN_MISFIT = 4.0  # a width one off must miss by this much (levels^2): else the windows are too flat
DIP = 0.35  # the true width leaves at most this share of its neighbours' residual
COMB = 8  # impulses 8 samples apart: wider than any kernel's reach (lanczos: 3)


@dataclass(frozen=True)
class UpscaleEstimate:
    factor: float  # 1.0 for native
    kernel: str | None  # "bicubic", "bilinear" or "lanczos" when enlarged


def _candidates(img: np.ndarray) -> list[float]:
    """Enlargement factors proposed by the periodicity of the column differences."""
    h, w = img.shape
    rows = img[:: max(1, h // 256)].astype(np.float32)
    s = np.abs(np.diff(rows, axis=1)).mean(axis=0)
    s = (s - s.mean()) * np.hanning(s.size)
    n = 8192
    spec = np.abs(np.fft.rfft(s, n))
    freq = np.fft.rfftfreq(n)
    band = (freq >= 0.03) & (freq <= 0.5)
    spec_band = np.where(band, spec, 0.0)
    peaks = np.flatnonzero((spec_band[1:-1] > spec_band[:-2]) & (spec_band[1:-1] >= spec_band[2:])) + 1
    if spec_band[-1] > spec_band[-2]:
        peaks = np.append(peaks, spec.size - 1)  # Nyquist: f = 2
    floor = float(np.median(spec[band])) + 1e-9
    peaks = [p for p in peaks if spec[p] > PEAK * floor]
    peaks = sorted(peaks, key=lambda p: -spec[p])[:N_PEAKS]
    out: list[float] = list(COMMON)
    for p in peaks:
        phi = float(freq[p])
        for f in (1.0 / phi, 2.0 / phi, 1.0 / max(1e-9, 1.0 - phi)):
            if MIN_FACTOR <= f <= MAX_FACTOR and all(abs(f - g) > 0.01 * g for g in out):
                out.append(f)
    return out


@lru_cache(maxsize=64)  # the raws of a folder mostly share one width: the same matrices for each
def _design(width_lr: int, width_hr: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(weights (width_hr, COMB), first LR column (width_hr,)): row x of the enlargement matrix
    (read-only: shared between calls)."""
    # Impulses of 0.25 on a 0.5 pedestal: the float resize clips to [0, 1], which would cut the
    # negative lobes of bicubic and lanczos; the kernels sum to 1, so the pedestal passes unchanged.
    combs = np.full((COMB, width_lr), 0.5, np.float32)
    for p in range(COMB):
        combs[p, p::COMB] = 0.75
    out = (resize_image(combs, COMB, width_hr, mode).astype(np.float64) - 0.5) / 0.25  # (COMB, width_hr)
    centre = (np.arange(width_hr) + 0.5) * width_lr / width_hr - 0.5
    first = np.floor(centre).astype(np.int64) - COMB // 2 + 1  # columns first .. first + COMB - 1
    cols = first[:, None] + np.arange(COMB)[None, :]
    weights = out[cols % COMB, np.arange(width_hr)[:, None]]
    weights[(cols < 0) | (cols >= width_lr)] = 0.0
    weights.flags.writeable = False
    first.flags.writeable = False
    return weights, first


def window_for(factor: float) -> int:
    """Window length leaving at least DOF samples beyond the about length / factor + COMB unknowns."""
    return max(WINDOW, int(np.ceil((DOF + COMB) / (1.0 - 1.0 / factor))))


def _residual(rows: np.ndarray, starts: np.ndarray, length: int, width_lr: int, mode: str) -> float:
    """Mean squared residual of the windows' projection on the span of the enlargement from width_lr
    (nan when the windows leave no spare samples). All windows are solved at once (normal equations,
    a tiny ridge for the columns a window does not reach); clipped pixels get weight 0."""
    width_hr = rows.shape[1]
    weights, first = _design(width_lr, width_hr, mode)
    xs = starts[:, None] + np.arange(length)[None, :]  # (n, length)
    lo = first[xs[:, 0]]
    span = int((first[xs[:, -1]] - lo).max()) + COMB
    a = np.zeros((starts.size, length, span))
    cols = (first[xs] - lo[:, None])[:, :, None] + np.arange(COMB)[None, None, :]
    np.put_along_axis(a, cols, weights[xs], axis=2)
    y = np.take_along_axis(rows, xs, axis=1)
    keep = ((y > 0.5) & (y < 254.5)).astype(np.float64)  # clipping at 0 / 255 is not linear: left out
    aw = a * keep[:, :, None]
    awt = aw.transpose(0, 2, 1)
    gram = awt @ a + 1e-9 * np.eye(span)[None]
    coef = np.linalg.solve(gram, awt @ y[:, :, None])
    resid = (y - (a @ coef)[:, :, 0]) * keep
    unknowns = (np.abs(aw).sum(axis=1) > 1e-9).sum(axis=1)
    spare = keep.sum(axis=1) - unknowns
    ok = spare >= DOF // 2
    if not ok.any():
        return float("nan")
    return float(np.square(resid[ok]).sum() / spare[ok].sum())


def _detailed_windows(img: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """The N_WINDOWS (row, start) windows of `length` with the most detail, away from the borders."""
    h, w = img.shape
    starts = np.arange(MARGIN, w - length - MARGIN + 1, max(1, length // 2))
    rows_idx = np.arange(0, h, max(1, h // 96))
    if starts.size == 0:
        return np.empty((0, w)), starts
    detail = np.abs(np.diff(img[rows_idx].astype(np.float32), axis=1))
    csum = np.concatenate([np.zeros((rows_idx.size, 1), np.float32), np.cumsum(detail, axis=1)], axis=1)
    energy = csum[:, starts + length - 1] - csum[:, starts]
    best = np.argsort(energy, axis=None)[::-1][:N_WINDOWS]
    r, s = np.unravel_index(best, energy.shape)
    return img[rows_idx[r]].astype(np.float64), starts[s]


def _along_rows(img: np.ndarray) -> UpscaleEstimate | None:
    h, w = img.shape
    if h < 8:
        return None
    best: tuple[float, int, str] | None = None
    windows: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for f in _candidates(img):
        length = window_for(f)
        if length > w - 2 * MARGIN:
            continue
        if length not in windows:
            windows[length] = _detailed_windows(img, length)
        rows, starts = windows[length]
        if rows.shape[0] == 0:
            continue
        low = int(round(w / f))
        widths = [low - 2, low - 1, low, low + 1, low + 2]
        first = [_residual(rows, starts, length, lr, KERNELS[0]) for lr in widths]
        if not np.isfinite(first).all():
            continue
        i = 1 + int(np.argmin(first[1:4]))
        if first[i] > SCREEN * min(first[i - 1], first[i + 1]):
            continue  # no dip even for the first kernel: native at this factor
        lr = widths[i]
        scores = {KERNELS[0]: first[i]} | {m: _residual(rows, starts, length, lr, m) for m in KERNELS[1:]}
        mode = min(scores, key=scores.get)
        around = (min(first[i - 1], first[i + 1]) if mode == KERNELS[0]
                  else min(_residual(rows, starts, length, lr + d, mode) for d in (-1, 1)))
        ratio = scores[mode] / max(around, 1e-9)
        if around >= MIN_MISFIT and ratio < DIP and (best is None or ratio < best[0]):
            best = (ratio, lr, mode)
    if best is None:
        return None
    return UpscaleEstimate(w / best[1], FAMILY[best[2]])


def upscaled_by(gray: np.ndarray) -> UpscaleEstimate:
    """The enlargement factor of a gray image (1.0 when native) and its kernel family."""
    return _along_rows(gray) or UpscaleEstimate(1.0, None)
