"""What printing and scanning do to a page: `levels` (washed-out or dark tones), `paper` (paper grain)
and `ink_spread` (strokes that grow and soften as ink bleeds into the paper).

Each works on float values in [0, 1] (uint8 input is converted and the result rounded back) and
returns the input's dtype and layout; colour images get the same treatment on every channel.
"""

from __future__ import annotations

import cv2
import numpy as np

from srkit.degrade.ops.base import Context, Op, check_image, like, to_float
from srkit.degrade.ops.blur import auto_kernel_size, gaussian_1d
from srkit.degrade.ops.noise import draw_seed, noise_rng
from srkit.degrade.ops.schema import OpSchema, Param
from srkit.degrade.ops.value_specs import SpecError

BORDER = cv2.BORDER_REFLECT_101


def _gaussian(x: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of a float32 image (kernel 2 ceil(3 sigma) + 1, reflect-101 borders)."""
    g = gaussian_1d(auto_kernel_size(sigma), sigma).astype(np.float32)
    return cv2.sepFilter2D(x, -1, g, g, borderType=BORDER)


# ---- levels -------------------------------------------------------------------------------------------


def _spec_range(value: object) -> tuple[float, float]:
    """Smallest and largest value a (checked) numeric value spec can draw."""
    if isinstance(value, dict):
        choices = [float(v) for v in value["choices"]]
        return min(choices), max(choices)
    if isinstance(value, (list, tuple)):
        return float(value[0]), float(value[1])
    return float(value), float(value)


def _black_below_white(spec: dict) -> None:
    black = _spec_range(LEVELS.value(spec, "black"))
    white = _spec_range(LEVELS.value(spec, "white"))
    if black[1] >= white[0]:
        raise SpecError("white", f"every white ({white[0]:g} and up) must lie above every black "
                                 f"(up to {black[1]:g}), on the 0..255 scale")


LEVELS = OpSchema("levels", (
    Param.value_spec("black", "float", 0.0, 0.0, 255.0),
    Param.value_spec("white", "float", 255.0, 0.0, 255.0),
    Param.value_spec("gamma", "float", 1.0, 0.1, 10.0),
), rule=_black_below_white)


def sample_levels(rng: np.random.Generator, spec: dict, ctx: Context) -> dict:
    """Draws, in order: black, white, gamma."""
    return LEVELS.draw_all(rng, spec)


def apply_levels(img: np.ndarray, params: dict) -> np.ndarray:
    check_image(img)
    black = np.float32(float(params["black"]) / 255.0)
    white = np.float32(float(params["white"]) / 255.0)
    x = to_float(img)
    out = np.power(x, np.float32(1.0 / float(params["gamma"])), dtype=np.float32)
    out *= white - black
    out += black
    return like(out, img)


# ---- paper --------------------------------------------------------------------------------------------


PAPER = OpSchema("paper", (
    Param.value_spec("sigma", "float", [2.0, 6.0], 0.0, 64.0),
    Param.value_spec("scale", "float", [1.0, 3.0], 0.3, 16.0),
))


def sample_paper(rng: np.random.Generator, spec: dict, ctx: Context) -> dict:
    """Draws, in order: sigma, scale, noise_seed."""
    params = PAPER.draw_all(rng, spec)
    params["noise_seed"] = draw_seed(rng)
    return params


def grain(shape: tuple[int, int], scale: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian-filtered white noise with unit standard deviation, correlated over `scale` pixels."""
    white = rng.standard_normal(shape, dtype=np.float32)
    g = gaussian_1d(auto_kernel_size(scale), scale)
    # Filtered unit white noise has std sqrt(sum k^2) = sum g^2 for the separable kernel k = g g^T.
    return _gaussian(white, scale) / np.float32(np.square(g).sum())


def apply_paper(img: np.ndarray, params: dict) -> np.ndarray:
    check_image(img)
    x = to_float(img)
    g = grain(x.shape[:2], float(params["scale"]), noise_rng(params))
    g *= np.float32(float(params["sigma"]) / 255.0)
    if x.ndim == 3:
        g = g[:, :, None]
    out = x + g * x  # the grain is in the paper's reflectance: full on paper, none under solid ink
    np.clip(out, 0.0, 1.0, out=out)
    return like(out, img)


# ---- ink_spread ---------------------------------------------------------------------------------------


INK_SPREAD = OpSchema("ink_spread", (
    Param.value_spec("radius", "float", [0.3, 1.0], 0.05, 8.0),
    Param.value_spec("gain", "float", 1.0, 0.0, 8.0),
))


def sample_ink_spread(rng: np.random.Generator, spec: dict, ctx: Context) -> dict:
    """Draws, in order: radius, gain."""
    return INK_SPREAD.draw_all(rng, spec)


def apply_ink_spread(img: np.ndarray, params: dict) -> np.ndarray:
    check_image(img)
    ink = np.float32(1.0) - to_float(img)
    bled = _gaussian(np.ascontiguousarray(ink), float(params["radius"]))
    bled *= np.float32(1.0 + float(params["gain"]))
    np.clip(bled, 0.0, 1.0, out=bled)
    out = np.float32(1.0) - np.maximum(ink, bled)
    return like(out, img)


OPS = {op.name: op for op in (
    Op(LEVELS, sample_levels, apply_levels,
       "Tone curve of a washed-out or dark scan: 0..1 to black..white with a midtone gamma."),
    Op(PAPER, sample_paper, apply_paper,
       "Paper grain: spatially correlated noise in the paper's reflectance (hidden under solid ink)."),
    Op(INK_SPREAD, sample_ink_spread, apply_ink_spread,
       "Ink bleeding into paper: dark strokes grow by about radius and soften."),
)}
