"""Noise: the standard deviation (0..255 scale) of the noise in an image's flat regions.

Method: the image's 8 x 8 blocks (on its JPEG grid when it has one) are taken to the DCT, where
white noise of standard deviation sigma gives every AC coefficient the same N(0, sigma^2) while the
content of a flat block lives in the lowest frequencies and a textured one (screentone) anywhere.
Blocks with more than two clipped pixels (noise on white paper at 255 loses its upper half) are left
out, and of the rest the flat ones are kept: those whose AC coefficients are no larger than noise
alone would make them (two passes: a first estimate from the quietest tenth of the blocks, then
every block whose AC rms is within 1.3 sigma, plus half the quantiser's step where there is one). The other 58
frequencies each give an estimate:
- no quantisation (a lossless image, or a table entry of 1): sigma = 1.4826 * median |c| (the
  median absolute deviation, robust to the odd textured block), less the decoder's rounding;
- a JPEG table entry T >= 2 (the file's table, or the one the block artifacts gave): the encoder
  rounded c / T, so the share p0 of coefficients left at zero is P(|N(0, sigma^2)| < T / 2), and
  sigma = T / (2 * Phi^-1((1 + p0) / 2)), read where p0 is between 0.2 and 0.9 (sigma between 0.3 T
  and 2 T; outside, p0 hardly moves with sigma). This measures the noise *before* compression, which
  a plain high-pass of the decoded image underestimates once JPEG has removed part of it. What
  compression leaves of a page's fine texture reads as a little noise too (1 to 3 levels at quality
  80 to 95 on the test pages): the fit measures that floor on the user's own HR tiles and takes it off.
The estimate is the median over the frequencies whose own estimate is informative, provided they agree
as white noise's do (upper quartile within twice the lower: a screentone that survived the reduction
reads as strong "noise" at a few frequencies only; then there is no estimate). `fraction` is the
share of the image's pixels in the blocks it used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtri

from srkit.degrade.estimate.blocks import block_dct, block_view

MAX_BLOCKS = 6000  # flat-candidate blocks read (evenly spaced): the estimate is a median, this is plenty
MIN_BLOCKS = 12  # fewer flat blocks than this: no estimate
QUIET_SHARE = 0.1  # the first estimate reads the quietest tenth of the blocks
FLAT_BOUND = 1.3  # flat: AC rms within 1.3 sigma (nearly all pure-noise blocks pass)
LOW = np.array([1, 8, 9, 2, 16])  # the five lowest AC frequencies (row-major u * 8 + v): content
HIGH = np.array([k for k in range(1, 64) if k not in set(LOW.tolist())])
ROUNDING_VAR = 1.0 / 12.0  # the decoder rounds each pixel: variance 1/12 in every coefficient
CLIP_LO, CLIP_HI = 2.0 - 128.0, 253.0 - 128.0  # block values (minus 128) that count as clipped
WHITE = 2.0  # white noise reads alike at every frequency: quartiles of the estimates within 2x
MAX_CLIPPED = 2  # clipped pixels a block may hold (noise on light paper clips now and then)


@dataclass(frozen=True)
class NoiseEstimate:
    sigma: float | None
    fraction: float  # share of the image's pixels in the flat blocks used


def _sigma_per_frequency(coeffs: np.ndarray, steps: np.ndarray | None) -> np.ndarray:
    """One sigma estimate per HIGH frequency (nan where that frequency says nothing)."""
    out = np.full(HIGH.size, np.nan)
    if coeffs.shape[0] == 0:
        return out
    for j, k in enumerate(HIGH):
        c = np.abs(coeffs[:, k].astype(np.float64))
        t = 1.0 if steps is None else float(steps[k])
        if t < 2.0:
            mad = 1.4826 * float(np.median(c))
            out[j] = np.sqrt(max(mad * mad - ROUNDING_VAR, 0.0))
            continue
        p0 = float(np.count_nonzero(c < t / 2.0)) / c.size
        if 0.2 < p0 < 0.9:  # sigma between 0.3 T and 2 T: outside, p0 hardly moves with sigma
            out[j] = t / (2.0 * float(ndtri((1.0 + p0) / 2.0)))
    return out


def _estimate(coeffs: np.ndarray, steps: np.ndarray | None) -> float | None:
    """The median of the frequencies' estimates; None unless they agree as white noise's do."""
    per_freq = _sigma_per_frequency(coeffs, steps)
    good = per_freq[np.isfinite(per_freq)]
    if good.size < 5:
        return None
    q25, q50, q75 = np.quantile(good, (0.25, 0.5, 0.75))
    if q75 > WHITE * max(q25, 1e-6):
        return None  # the "noise" is far stronger at some frequencies than others: texture, not noise
    return float(q50)


def noise_sigma(gray: np.ndarray, table: np.ndarray | None = None,
                grid: tuple[int, int] = (0, 0)) -> NoiseEstimate:
    """Noise sigma of a gray image (uint8 or float, 0..255), see the module docstring.

    ``table``: the (8, 8) luminance quantisation table the image was JPEG-compressed with on ``grid``
    (None for a lossless image or an unknown grid).
    """
    blocks = block_view(gray, grid)
    total = blocks.shape[0]
    if total < MIN_BLOCKS:
        return NoiseEstimate(None, 0.0)
    clipped = np.count_nonzero((blocks <= CLIP_LO) | (blocks >= CLIP_HI), axis=1)
    unclipped = clipped <= MAX_CLIPPED
    blocks = blocks[unclipped]
    candidates = blocks.shape[0]
    if candidates > MAX_BLOCKS:
        blocks = blocks[np.linspace(0, candidates - 1, MAX_BLOCKS).astype(np.int64)]
    if blocks.shape[0] < MIN_BLOCKS:
        return NoiseEstimate(None, 0.0)
    coeffs = block_dct(blocks)
    steps = None if table is None else np.asarray(table, np.float64).reshape(64)
    activity = np.sqrt(np.square(coeffs[:, 1:]).mean(axis=1))  # all 63 AC: texture is not quiet
    quiet = coeffs[activity <= np.quantile(activity, QUIET_SHARE)]
    first = _estimate(quiet, steps) if quiet.shape[0] >= MIN_BLOCKS else None
    if first is None:
        return NoiseEstimate(None, 0.0)
    # A flat block's AC rms is noise alone: within FLAT_BOUND sigma (plus half the quantiser's step).
    bound = FLAT_BOUND * max(first, 0.5) + (0.0 if steps is None else float(steps[LOW].max()) / 2.0)
    flat = coeffs[activity <= bound]
    if flat.shape[0] < MIN_BLOCKS:
        flat = quiet
    share = flat.shape[0] / blocks.shape[0] * candidates * 64 / (gray.shape[0] * gray.shape[1])
    return NoiseEstimate(_estimate(flat, steps), float(min(1.0, share)))
