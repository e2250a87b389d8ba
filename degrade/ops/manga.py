"""Print-like ops for manga: `halftone` (dot screen), `dither` (Bayer / Floyd-Steinberg), `quantize`.

Each works per channel on float values in [0, 1] and returns the input's dtype and layout.
"""

from __future__ import annotations

import math

import numpy as np

from srkit.degrade.ops.base import Context, Op, check_image, like, to_float
from srkit.degrade.ops.schema import OpSchema, Param

SHAPES = ("round", "square", "line")
DITHER_METHODS = ("bayer", "floyd_steinberg")
BAYER_SIZES = (2, 4, 8)


def _planes(x: np.ndarray) -> np.ndarray:
    return x[:, :, None] if x.ndim == 2 else x


# ---- halftone -----------------------------------------------------------------------------------------


def _coverage(spot: np.ndarray, shape: str) -> np.ndarray:
    """Fraction of a unit cell whose spot value is below `spot` (so ink coverage equals darkness)."""
    if shape == "line":  # spot = |v|, uniform on [0, 1/2]
        return np.minimum(2.0 * spot, 1.0)
    if shape == "square":  # spot = max(|u|, |v|)
        return np.minimum(4.0 * spot * spot, 1.0)
    # round: spot = distance to the cell centre; disc area, minus the four caps outside the cell past 1/2
    s2 = spot * spot
    area = math.pi * s2
    outside = spot > 0.5
    so = np.where(outside, spot, 1.0)
    caps = so * so * np.arccos(np.minimum(0.5 / so, 1.0)) - 0.5 * np.sqrt(np.maximum(so * so - 0.25, 0.0))
    return np.minimum(np.where(outside, area - 4.0 * caps, area), 1.0)


def screen_thresholds(h: int, w: int, pitch: float, angle: float, shape: str) -> np.ndarray:
    """Threshold map in [0, 1] of a dot screen: a pixel is inked where its darkness exceeds it."""
    a = math.radians(angle)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64) + 0.5
    u = (xx * math.cos(a) + yy * math.sin(a)) / pitch
    v = (-xx * math.sin(a) + yy * math.cos(a)) / pitch
    fu = u - np.floor(u) - 0.5
    fv = v - np.floor(v) - 0.5
    if shape == "round":
        spot = np.hypot(fu, fv)
    elif shape == "square":
        spot = np.maximum(np.abs(fu), np.abs(fv))
    elif shape == "line":
        spot = np.abs(fv)
    else:
        raise ValueError(f"unknown halftone shape {shape!r}; known: {list(SHAPES)}")
    return _coverage(spot, shape).astype(np.float32)


def apply_halftone(img: np.ndarray, params: dict) -> np.ndarray:
    check_image(img)
    x = to_float(img)
    t = screen_thresholds(x.shape[0], x.shape[1], float(params["pitch"]), float(params["angle"]),
                          str(params["shape"]))
    if x.ndim == 3:
        t = t[:, :, None]
    out = np.where(np.float32(1.0) - x > t, np.float32(0.0), np.float32(1.0))
    return like(out, img)


HALFTONE = OpSchema("halftone", (
    Param.value_spec("pitch", "float", [4.0, 8.0], 2.0, 64.0),
    Param.value_spec("angle", "float", 45.0, -180.0, 180.0),
    Param.value_spec("shape", "str", "round", allowed=SHAPES),
))


def sample_halftone(rng: np.random.Generator, spec: dict, ctx: Context) -> dict:
    """Draws, in order: pitch, angle, shape."""
    return HALFTONE.draw_all(rng, spec)


# ---- dither -------------------------------------------------------------------------------------------


def bayer_matrix(n: int) -> np.ndarray:
    """The n x n Bayer index matrix (values 0..n*n-1), n a power of two."""
    m = np.zeros((1, 1), dtype=np.int64)
    while m.shape[0] < n:
        m = np.block([[4 * m, 4 * m + 2], [4 * m + 3, 4 * m + 1]])
    return m


def bayer_dither(x: np.ndarray, levels: int, size: int) -> np.ndarray:
    h, w = x.shape[:2]
    t = (bayer_matrix(size).astype(np.float32) + np.float32(0.5)) / np.float32(size * size)
    t = np.tile(t, (h // size + 1, w // size + 1))[:h, :w]
    if x.ndim == 3:
        t = t[:, :, None]
    q = np.floor(x * np.float32(levels - 1) + t)
    np.clip(q, 0, levels - 1, out=q)
    return q / np.float32(levels - 1)


def floyd_steinberg(x: np.ndarray, levels: int) -> np.ndarray:
    """Exact Floyd-Steinberg error diffusion (raster order, 7/16 3/16 5/16 1/16) to `levels` levels.

    Pixel (y, x) depends only on pixels with a smaller x + 2y, so each anti-diagonal wavefront
    x + 2y = t is processed at once (W + 2H numpy steps instead of W * H Python steps).
    """
    planes = _planes(x)
    h, w, c = planes.shape
    wp = w + 2
    buf = np.zeros((h + 1, wp, c), dtype=np.float64)
    buf[:h, 1:w + 1] = planes
    buf = buf.reshape(-1, c)
    out = np.empty((h * w, c), dtype=np.float32)
    step = levels - 1
    for t in range(w + 2 * (h - 1)):
        ys = np.arange(max(0, (t - w + 2) // 2), min(h - 1, t // 2) + 1)
        xs = t - 2 * ys
        p = ys * wp + xs + 1
        old = buf[p]
        new = np.clip(np.rint(old * step), 0, step) / step
        err = old - new
        out[ys * w + xs] = new
        buf[p + 1] += err * (7 / 16)
        buf[p + wp - 1] += err * (3 / 16)
        buf[p + wp] += err * (5 / 16)
        buf[p + wp + 1] += err * (1 / 16)
    out = out.reshape(h, w, c)
    return out[:, :, 0] if x.ndim == 2 else out


def apply_dither(img: np.ndarray, params: dict) -> np.ndarray:
    check_image(img)
    x = to_float(img)
    levels = int(params["levels"])
    if params["method"] == "bayer":
        out = bayer_dither(x, levels, int(params["bayer_size"]))
    elif params["method"] == "floyd_steinberg":
        out = floyd_steinberg(x, levels)
    else:
        raise ValueError(f"unknown dither method {params['method']!r}; known: {list(DITHER_METHODS)}")
    return like(out, img)


DITHER = OpSchema("dither", (
    Param.value_spec("method", "str", "floyd_steinberg", allowed=DITHER_METHODS),
    Param.value_spec("levels", "int", 2, 2, 256),
    Param.option("bayer_size", 4, BAYER_SIZES),
))


def sample_dither(rng: np.random.Generator, spec: dict, ctx: Context) -> dict:
    """Draws, in order: method, levels; bayer_size (fixed) is kept for bayer only."""
    params = DITHER.draw_all(rng, spec)
    if params["method"] != "bayer":
        del params["bayer_size"]
    return params


# ---- quantize -----------------------------------------------------------------------------------------


def apply_quantize(img: np.ndarray, params: dict) -> np.ndarray:
    check_image(img)
    step = np.float32(int(params["levels"]) - 1)
    out = np.rint(to_float(img) * step) / step
    return like(out, img)


QUANTIZE = OpSchema("quantize", (Param.value_spec("levels", "int", [4, 16], 2, 256),))


def sample_quantize(rng: np.random.Generator, spec: dict, ctx: Context) -> dict:
    """Draws levels."""
    return QUANTIZE.draw_all(rng, spec)


OPS = {op.name: op for op in (
    Op(HALFTONE, sample_halftone, apply_halftone,
       "Binary dot screen (round / square / line) with pitch and angle; coverage = darkness."),
    Op(DITHER, sample_dither, apply_dither,
       "Ordered (Bayer) or Floyd-Steinberg error-diffusion dithering to N levels, per channel."),
    Op(QUANTIZE, sample_quantize, apply_quantize, "Posterise to N evenly spaced levels."),
)}
