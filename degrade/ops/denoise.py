"""Denoisers: `nlmeans` (OpenCV fast non-local means) and `bilateral` (OpenCV bilateral filter).

The m-SRCNN paper (Intaniyom, Thananporn and Woraratpanya, "Enhancement of Anime Imaging Enlargement
using Modified Super-Resolution CNN") denoises its HR images before pairing and offers both filters
as post-processing; it names the OpenCV functions but not their parameters, so the defaults here are
ours: gentle enough to keep manga screentone dots (h 5 on the 0..255 scale; a 7 px template and a
21 px search window, OpenCV's recommended sizes; bilateral over 5 px with sigma 25 levels / 5 px).

Both are local: an output pixel depends on the input within ``search // 2 + template // 2`` px
(nlmeans) or ``d // 2`` px (bilateral), so they tile without seams given that much context.
Non-local means works on 8 bit: float input is rounded with `to_uint8` first and the result returned
as float32 (k / 255). The bilateral filter runs on float input as it is (sigma_color / 255).
"""

from __future__ import annotations

import cv2
import numpy as np

from srkit.degrade.ops.base import Context, Op, check_image, like, to_float, to_uint8
from srkit.degrade.ops.schema import OpSchema, Param


def nlmeans(img: np.ndarray, h: float, template: int, search: int) -> np.ndarray:
    """Fast non-local means of a uint8 or float32 gray / RGB image (RGB: OpenCV's colored variant,
    luma and chroma both with strength ``h``)."""
    check_image(img)
    u8 = np.ascontiguousarray(to_uint8(img))
    if u8.ndim == 2:
        out = cv2.fastNlMeansDenoising(u8, None, h=float(h), templateWindowSize=template,
                                       searchWindowSize=search)
    else:
        out = cv2.fastNlMeansDenoisingColored(u8, None, float(h), float(h), template, search)
    return to_float(out) if img.dtype == np.float32 else np.ascontiguousarray(out)


def bilateral(img: np.ndarray, d: int, sigma_color: float, sigma_space: float) -> np.ndarray:
    """Bilateral filter; ``sigma_color`` is on the 0..255 scale for uint8 and float input alike."""
    check_image(img)
    src = np.ascontiguousarray(img)
    scale = 1.0 if img.dtype == np.uint8 else 1.0 / 255.0
    out = cv2.bilateralFilter(src, d=int(d), sigmaColor=float(sigma_color) * scale,
                              sigmaSpace=float(sigma_space))
    if img.dtype == np.float32:
        np.clip(out, 0.0, 1.0, out=out)
    return like(out, img) if img.dtype == np.float32 else np.ascontiguousarray(out)


def nlmeans_reach(params: dict) -> int:
    """How far (px) an nlmeans output pixel looks: half the search window plus half the template."""
    return int(params["search"]) // 2 + int(params["template"]) // 2


NLMEANS = OpSchema("nlmeans", (
    Param.value_spec("h", "float", 5.0, 0.5, 100.0),
    Param.integer("template", 7, 3, 21, odd=True),
    Param.integer("search", 21, 3, 63, odd=True),
))
BILATERAL = OpSchema("bilateral", (
    Param.integer("d", 5, 1, 31),
    Param.value_spec("sigma_color", "float", 25.0, 0.1, 255.0),
    Param.value_spec("sigma_space", "float", 5.0, 0.1, 100.0),
))


def sample_nlmeans(rng: np.random.Generator, spec: dict, ctx: Context) -> dict:
    """Draws h (fixed unless given as a range or choice); template and search are fixed."""
    return NLMEANS.draw_all(rng, spec)


def sample_bilateral(rng: np.random.Generator, spec: dict, ctx: Context) -> dict:
    """Draws, in order: sigma_color, sigma_space; d is fixed."""
    return BILATERAL.draw_all(rng, spec)


def apply_nlmeans(img: np.ndarray, params: dict) -> np.ndarray:
    return nlmeans(img, float(params["h"]), int(params["template"]), int(params["search"]))


def apply_bilateral(img: np.ndarray, params: dict) -> np.ndarray:
    return bilateral(img, int(params["d"]), float(params["sigma_color"]), float(params["sigma_space"]))


OPS = {op.name: op for op in (
    Op(NLMEANS, sample_nlmeans, apply_nlmeans,
       "Non-local means denoising (OpenCV fastNlMeans; h 5, 7 px template, 21 px search)."),
    Op(BILATERAL, sample_bilateral, apply_bilateral,
       "Bilateral filter (OpenCV; d 5 px, sigma 25 levels in value, 5 px in space)."),
)}
