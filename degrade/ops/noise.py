"""Noise ops: `gaussian_noise`, `poisson_noise` (Real-ESRGAN's definition) and `realesrgan_noise`.

Params never hold noise arrays: `sample` draws `noise_seed` (an int in [0, 2^53), JSON-safe) and `apply`
regenerates the noise from `np.random.Generator(np.random.PCG64(noise_seed))`. Noise is added in float32
on the 0..1 scale and the result clipped to [0, 1]; uint8 input comes back rounded to uint8.
"""

from __future__ import annotations

import math
import sys
from functools import lru_cache

import cv2
import numpy as np
from scipy.special import gammaln

from srkit.degrade.ops.base import Context, Op, check_image, like, to_float
from srkit.degrade.ops.schema import OpSchema, Param

SEED_LIMIT = 2**53
# torchvision's rgb_to_grayscale weights (0.2989, not BT.601's 0.299), which BasicSR's gray Poisson noise uses
_LUMA = np.array([0.2989, 0.587, 0.114], dtype=np.float32)


def noise_rng(params: dict) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(int(params["noise_seed"])))


def draw_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, SEED_LIMIT))


def luminance(x: np.ndarray) -> np.ndarray:
    """0.2989 R + 0.587 G + 0.114 B of a float32 (H, W, 3) image (torchvision's rgb_to_grayscale)."""
    return x[:, :, 0] * _LUMA[0] + x[:, :, 1] * _LUMA[1] + x[:, :, 2] * _LUMA[2]


def _add_noise(img: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """x + noise clipped to [0, 1], in img's dtype; `noise` (owned by the caller, discarded) is reused."""
    x = to_float(img)
    if noise.shape == x.shape:
        noise += x
        out = noise
    else:  # one gray plane for the three channels
        out = x + noise[:, :, None]
    np.clip(out, 0.0, 1.0, out=out)
    return like(out, img)


# ---- Gaussian -----------------------------------------------------------------------------------------


def gaussian_noise_array(shape: tuple[int, ...], sigma: float, gray: bool,
                         rng: np.random.Generator) -> np.ndarray:
    """float32 N(0, (sigma/255)^2) of shape (H, W) when gray or 1-channel, else (H, W, 3)."""
    plane = shape[:2] if gray or len(shape) == 2 else shape
    noise = rng.standard_normal(plane, dtype=np.float32)
    noise *= np.float32(sigma / 255.0)
    return noise


def apply_gaussian(img: np.ndarray, params: dict) -> np.ndarray:
    check_image(img)
    noise = gaussian_noise_array(img.shape, float(params["sigma"]), bool(params["gray"]), noise_rng(params))
    return _add_noise(img, noise)


GAUSSIAN_NOISE = OpSchema("gaussian_noise", (
    Param.value_spec("sigma", "float", [1.0, 30.0], 0.0, 255.0),
    Param.prob("gray_prob", 0.0),
))


def sample_gaussian_noise(rng: np.random.Generator, spec: dict, ctx: Context) -> dict:
    """Draws, in order: sigma, gray, noise_seed."""
    sigma = GAUSSIAN_NOISE.draw(rng, spec, "sigma")
    gray = GAUSSIAN_NOISE.chance(rng, spec, "gray_prob")
    return {"sigma": sigma, "gray": gray, "noise_seed": draw_seed(rng)}


# ---- Poisson ------------------------------------------------------------------------------------------


_GUIDE_BITS = 11
_GUIDE = 1 << _GUIDE_BITS  # guide-table buckets per level for the Poisson sampler
_HIGH_WORD = 1 if sys.byteorder == "little" else 0  # the uint32 half holding a uint64's top bits


@lru_cache(maxsize=16)
def _poisson_tables(vals: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Inverse-CDF tables of Poisson(level / 255 * vals) for the 256 quantised levels.

    Returns (cdf, guide, K): cdf is 256 x K float64 with the last column set to inf (the tail beyond K
    has probability below 1e-25 and is folded into the last entry); guide[level, m] is the smallest k
    with cdf > m / _GUIDE, stored as is when every u in bucket m maps to it, else as -(k + 1). The
    guide only speeds the search up: its size never changes which k a draw gets.
    """
    lam = np.arange(256, dtype=np.float64) * (vals / 255.0)
    top = float(lam[-1])
    K = int(math.ceil(top + 14.0 * math.sqrt(top) + 40.0))
    k = np.arange(K, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        logpmf = k[None, :] * np.log(lam[:, None]) - lam[:, None] - gammaln(k + 1.0)[None, :]
    logpmf[0, :] = -np.inf
    logpmf[0, 0] = 0.0  # Poisson(0) is 0 with probability 1
    cdf = np.cumsum(np.exp(logpmf), axis=1)
    cdf[:, -1] = np.inf
    edges = np.arange(_GUIDE + 1, dtype=np.float64) / _GUIDE
    # int16 halves the table the gather walks through (K stays far below 2^15 for vals <= 256)
    guide = np.empty((256, _GUIDE), dtype=np.int16 if K < 2**15 else np.int32)
    for lvl in range(256):
        first = np.searchsorted(cdf[lvl], edges[:-1], side="right")
        exact = cdf[lvl][first] >= edges[1:]  # the bucket's whole interval [m/G, (m+1)/G) maps to `first`
        guide[lvl] = np.where(exact, first, -(first + 1))
    cdf, guide = np.ascontiguousarray(cdf), np.ascontiguousarray(guide)
    cdf.flags.writeable = guide.flags.writeable = False  # read by every call (and thread) in the process
    return cdf, guide, K


def poisson_counts(levels: np.ndarray, vals: int, rng: np.random.Generator) -> np.ndarray:
    """Exact Poisson(levels / 255 * vals) variates (int16, or int32 for huge vals) for uint8 `levels`.

    By inverse CDF, one 64-bit random word per pixel: u = (word >> 11) / 2^53 (numpy's uniform double),
    whose top _GUIDE_BITS bits pick the guide bucket. The answer is the smallest k with CDF(k) > u; most
    buckets hold a single k, the rest are resolved by a few forward steps, then bisection for the far
    tail. Same distribution as rng.poisson, several times faster.
    """
    cdf, guide, K = _poisson_tables(vals)
    flat_levels = levels.reshape(-1)
    word = rng.bit_generator.random_raw(flat_levels.size)
    # The bucket index in 32-bit arithmetic: the level, then the word's top bits (= the top bits of u).
    idx = flat_levels.astype(np.uint32)
    idx <<= np.uint32(_GUIDE_BITS)
    idx |= word.view(np.uint32)[_HIGH_WORD::2] >> np.uint32(32 - _GUIDE_BITS)
    k = guide.take(idx)
    todo = np.flatnonzero(k < 0)
    if todo.size:
        kt = -k[todo].astype(np.int64) - 1
        u = (word[todo] >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
        base = flat_levels[todo].astype(np.int64) * K
        cdf_flat = cdf.reshape(-1)
        live = np.flatnonzero(cdf_flat[base + kt] <= u)
        for _ in range(4):  # nearly every draw is resolved within a few steps
            if not live.size:
                break
            kt[live] += 1
            live = live[cdf_flat[base[live] + kt[live]] <= u[live]]
        if live.size:  # the few far-tail draws (the widest buckets): bisection on (kt, K - 1]
            lo, hi = kt[live] + 1, np.full(live.size, K - 1, dtype=kt.dtype)
            row, ul = base[live], u[live]
            while (lo < hi).any():
                mid = (lo + hi) // 2
                below = cdf_flat[row + mid] <= ul
                lo = np.where(below, mid + 1, lo)
                hi = np.where(below, hi, mid)
            kt[live] = lo
        k[todo] = kt
    return k.reshape(levels.shape)


def distinct_levels(levels: np.ndarray) -> int:
    """How many of the 256 values occur in a uint8 array (a histogram, no int64 copy of the pixels)."""
    hist = cv2.calcHist([levels.reshape(levels.shape[0], -1)], [0], None, [256], [0, 256])
    return int(np.count_nonzero(hist))


def poisson_noise_array(x: np.ndarray, scale: float, gray: bool, rng: np.random.Generator) -> np.ndarray:
    """Real-ESRGAN Poisson noise of a float32 image x in [0, 1]; (H, W) when gray or 1-channel."""
    src = luminance(x) if (gray and x.ndim == 3) else x
    q = src * np.float32(255.0)
    np.rint(q, out=q)
    np.clip(q, 0, 255, out=q)
    levels = q.astype(np.uint8)
    vals = 2 ** math.ceil(math.log2(distinct_levels(levels)))
    noise = poisson_counts(levels, vals, rng).astype(np.float32)
    # q = level / 255; noise = (Poisson(q * vals) / vals - q) * scale
    noise /= np.float32(vals)
    np.divide(q, np.float32(255.0), out=q)
    noise -= q
    noise *= np.float32(scale)
    return noise


def apply_poisson(img: np.ndarray, params: dict) -> np.ndarray:
    check_image(img)
    x = to_float(img)
    noise = poisson_noise_array(x, float(params["scale"]), bool(params["gray"]), noise_rng(params))
    return _add_noise(img, noise)


POISSON_NOISE = OpSchema("poisson_noise", (
    Param.value_spec("scale", "float", [0.05, 3.0], 0.0, 20.0),
    Param.prob("gray_prob", 0.0),
))


def sample_poisson_noise(rng: np.random.Generator, spec: dict, ctx: Context) -> dict:
    """Draws, in order: scale, gray, noise_seed."""
    scale = POISSON_NOISE.draw(rng, spec, "scale")
    gray = POISSON_NOISE.chance(rng, spec, "gray_prob")
    return {"scale": scale, "gray": gray, "noise_seed": draw_seed(rng)}


# ---- realesrgan_noise ---------------------------------------------------------------------------------


REALESRGAN_NOISE = OpSchema("realesrgan_noise", (
    Param.prob("gaussian_prob", 0.5),
    Param.float_range("sigma", [1.0, 30.0], 0.0, 255.0),
    Param.float_range("poisson_scale", [0.05, 3.0], 0.0, 20.0),
    Param.prob("gray_prob", 0.4),
))


def sample_realesrgan_noise(rng: np.random.Generator, spec: dict, ctx: Context) -> dict:
    """Draws, in order: kind (gaussian with gaussian_prob), sigma or scale, gray, noise_seed."""
    schema = REALESRGAN_NOISE
    if schema.chance(rng, spec, "gaussian_prob"):
        sigma = schema.draw(rng, spec, "sigma")
        gray = schema.chance(rng, spec, "gray_prob")
        return {"kind": "gaussian", "sigma": sigma, "gray": gray, "noise_seed": draw_seed(rng)}
    scale = schema.draw(rng, spec, "poisson_scale")
    gray = schema.chance(rng, spec, "gray_prob")
    return {"kind": "poisson", "scale": scale, "gray": gray, "noise_seed": draw_seed(rng)}


def apply_realesrgan_noise(img: np.ndarray, params: dict) -> np.ndarray:
    if params["kind"] == "gaussian":
        return apply_gaussian(img, params)
    if params["kind"] == "poisson":
        return apply_poisson(img, params)
    raise ValueError(f"unknown noise kind {params['kind']!r}; expected \"gaussian\" or \"poisson\"")


OPS = {op.name: op for op in (
    Op(GAUSSIAN_NOISE, sample_gaussian_noise, apply_gaussian,
       "Additive Gaussian noise, sigma on the 0..255 scale, color or gray."),
    Op(POISSON_NOISE, sample_poisson_noise, apply_poisson,
       "Real-ESRGAN Poisson noise (8-bit quantised levels, 2^ceil(log2 #unique)), scaled."),
    Op(REALESRGAN_NOISE, sample_realesrgan_noise, apply_realesrgan_noise,
       "Real-ESRGAN noise stage: Gaussian or Poisson (p 0.5), gray with p 0.4."),
)}
