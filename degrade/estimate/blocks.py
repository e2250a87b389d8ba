"""The 8 x 8 block DCT of a decoded image, the JPEG block grid it sits on, and the quality its
coefficients betray.

JPEG stores each 8 x 8 block as orthonormal DCT-II coefficients of (pixel - 128), each divided by its
table entry T and rounded. A decoded image (saved again losslessly, e.g. as PNG) keeps that mark: on
the right grid, coefficient k lies on multiples of T_k, off by little more than the decoder's rounding
(about 0.3). Method (the classic histogram-periodicity test of quantisation-table estimation):

- Grid: JPEG's block edges make the mean absolute step between neighbouring pixels larger at one of
  the 8 column phases (and row phases) than at the other seven; the phase with the largest excess
  is the grid. `aligned` means the grid starts at the image's top-left pixel (a crop moves it).
- Quality: for each candidate IJG quality q (its libjpeg tables, see jpeg_tables.py) and each of the
  low and middle frequencies, the mean of cos(2 pi c / T_q,k) over the coefficients c that are not
  zero. It is near 1 where the coefficients sit on multiples of T (the true table, or one whose
  entries divide it) and near 0 or below otherwise. The consistency of q is the count-weighted mean
  over frequencies with T >= 2; the estimate is the coarsest quality whose consistency reaches most of
  the best one's (finer tables that divide the true ones score as well, coarser ones do not).
  Qualities above about 95 leave too few entries >= 2 to be told apart from no JPEG at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.fft

from srkit.degrade.estimate.jpeg_tables import QUALITIES, standard_tables

# Zigzag-like selection: frequencies (u, v) with u + v <= 7 hold most of the nonzero coefficients.
_FREQS = np.array([u * 8 + v for u in range(8) for v in range(8) if u + v <= 7 and u + v > 0])
MAX_COEFFS = 600  # nonzero coefficients kept per frequency (evenly spaced): enough for the test
MAX_BLOCKS = 3000  # blocks read for the quality (evenly spaced over the image)
GRID_PIXELS = 100_000  # pixels read per axis to find the grid
MIN_COEFFS = 24  # a frequency with fewer nonzero coefficients says nothing
CONSISTENT = 0.2  # consistency a JPEG quality needs at least (no JPEG: 0 +- 0.05)
NEAR_BEST = 0.85  # the coarsest quality within this share of the best consistency is the estimate


@dataclass(frozen=True)
class BlockEstimate:
    quality: int | None  # None: no sign of JPEG compression on this grid
    consistency: float  # of the chosen quality (0..1)
    grid: tuple[int, int]  # (row, column) offset of the 8 x 8 grid
    grid_strength: float  # block-edge step over the other phases' (1.0: no grid)

    @property
    def aligned(self) -> bool:
        return self.grid == (0, 0)


@lru_cache(maxsize=1)
def dct_basis() -> np.ndarray:
    """(64, 64) matrix taking a flattened 8 x 8 block (row-major) to its orthonormal 2D DCT-II."""
    d = scipy.fft.dct(np.eye(8), norm="ortho", axis=0)
    return np.kron(d, d).astype(np.float32)


def block_view(gray: np.ndarray, grid: tuple[int, int] = (0, 0), count: int | None = None) -> np.ndarray:
    """(n_blocks, 64) float32 view of the whole 8 x 8 blocks on the grid (row by row), pixel values minus
    128; with `count`, at most that many of them, evenly spaced (picked before anything is converted)."""
    dy, dx = grid
    h = (gray.shape[0] - dy) // 8 * 8
    w = (gray.shape[1] - dx) // 8 * 8
    blocks = gray[dy:dy + h, dx:dx + w].reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3)
    n = blocks.shape[0] * blocks.shape[1]
    if count is not None and n > count:
        pick = np.linspace(0, n - 1, count).astype(np.int64)
        blocks = blocks[pick // blocks.shape[1], pick % blocks.shape[1]]
    return blocks.reshape(-1, 64).astype(np.float32) - np.float32(128.0)


def block_dct(blocks: np.ndarray) -> np.ndarray:
    """Orthonormal DCT-II of (n, 64) blocks (row-major frequencies: index u * 8 + v)."""
    return blocks @ dct_basis().T


def grid_phase(gray: np.ndarray) -> tuple[tuple[int, int], float]:
    """The (row, column) offset of the JPEG block grid and its strength (about 1 without one).

    Along each axis, every run of 8 pixels is taken to a 1D DCT at each of the 8 phases. Among runs
    with some low-frequency content, JPEG leaves many whose three highest frequencies are all below 1
    (the quantiser zeroed them), but only on its own grid: a run straddling two blocks gets high
    frequencies from the step between them. The phase with the largest share of such quiet runs is the
    grid; the strength is that share over the median of the other phases' (1 for an image without
    JPEG history).
    """
    g = gray.astype(np.float32)
    basis = scipy.fft.dct(np.eye(8), norm="ortho", axis=0).T.astype(np.float32)  # run @ basis = DCT
    offsets, strengths = [], []
    for lines in (g.T, g):  # the row phase from runs down the columns, then the column phase
        lines = lines[:: max(1, lines.size // GRID_PIXELS)]  # evenly spaced lines say enough
        n = lines.shape[1]
        share = np.zeros(8)
        for phase in range(8):
            m = (n - phase) // 8
            if m < 1:
                return (0, 0), 1.0
            runs = np.abs(lines[:, phase:phase + 8 * m].reshape(-1, 8) @ basis)
            textured = (runs[:, 1] > 4.0) | (runs[:, 2] > 4.0)
            quiet = (runs[:, 5] < 1.0) & (runs[:, 6] < 1.0) & (runs[:, 7] < 1.0)
            share[phase] = np.count_nonzero(quiet & textured) / max(1, np.count_nonzero(textured))
        best = int(np.argmax(share))
        offsets.append(best)
        strengths.append(float(share[best] / max(float(np.median(np.delete(share, best))), 1e-3)))
    return (offsets[0], offsets[1]), float(min(strengths))


def quality_consistency(coeffs: np.ndarray) -> np.ndarray:
    """Consistency (see the module docstring) of each quality 1..100 with these DCT coefficients.

    For a table entry T only coefficients with |c| >= T / 2 count (those T did not round to zero):
    a coarse T would otherwise look consistent with the many small coefficients of any image.
    """
    luma = standard_tables()[:, 0][:, _FREQS]  # (100, n_freqs)
    scores = np.zeros(luma.shape, np.float64)
    weight = np.zeros(luma.shape, np.float64)
    for j, k in enumerate(_FREQS):
        c = coeffs[:, k]
        c = np.abs(c[np.abs(c) >= 1.0]).astype(np.float32)
        if c.size < MIN_COEFFS:
            continue
        if c.size > MAX_COEFFS:
            c = c[np.linspace(0, c.size - 1, MAX_COEFFS).astype(np.int64)]
        steps, rows = np.unique(luma[:, j], return_inverse=True)  # the qualities sharing each entry
        usable = steps >= 2
        if not usable.any():
            continue
        t = steps[usable]
        # float32: a cosine good to 1e-4 is plenty, and its vector loop runs several times faster
        counted = c[:, None] >= (t / 2.0).astype(np.float32)[None, :]  # (n, m)
        cosines = np.cos(c[:, None] * (2.0 * np.pi / t).astype(np.float32)[None, :])
        cosines[~counted] = 0.0
        n = counted.sum(axis=0)
        mean = np.zeros(steps.size)
        mean[usable] = cosines.sum(axis=0, dtype=np.float64) / np.maximum(n, 1)
        count = np.zeros(steps.size)
        count[usable] = np.where(n >= MIN_COEFFS, n, 0)
        scores[:, j] = mean[rows]
        weight[:, j] = count[rows]
    total = weight.sum(axis=1)
    return np.where(total > 0, (scores * weight).sum(axis=1) / np.maximum(total, 1e-9), 0.0)


def estimate_from_blocks(gray: np.ndarray) -> BlockEstimate:
    """The JPEG quality an already decoded gray image (uint8 or float) was compressed with, if any."""
    grid, strength = grid_phase(gray)
    blocks = block_view(gray, grid, MAX_BLOCKS)
    if blocks.shape[0] < 4:
        return BlockEstimate(None, 0.0, grid, strength)
    consistency = quality_consistency(block_dct(blocks))
    best = float(consistency.max())
    if best < CONSISTENT:
        return BlockEstimate(None, best, grid, strength)
    chosen = int(np.flatnonzero(consistency >= NEAR_BEST * best)[0])
    return BlockEstimate(QUALITIES[chosen], float(consistency[chosen]), grid, strength)
