"""Unsharp masks: `usm` as Real-ESRGAN sharpens its GT (HR side; not part of the LR chain) and `sharpen`
as image editors and scanlation tools apply it to the page (LR side, with the halos it leaves).

usm: blur = G(x), r = x - blur, mask = |r| * 255 > threshold, soft = G(mask),
out = soft * clip(x + weight * r, 0, 1) + (1 - soft) * x, G a Gaussian (51 x 51, sigma 8 by default)
with reflect-101 borders. cv2.GaussianBlur is separable, so the 51 x 51 kernel stays cheap.

sharpen: r = x - G_radius(x), out = clip(x + amount * r) where |r| * 255 >= threshold, else x
(GIMP's and Photoshop's unsharp mask: `radius` is the Gaussian's standard deviation in pixels,
`amount` 1.0 is "100 %", the threshold is a hard per-pixel cut). It is a separate op, not a mode of
`usm`: `usm` blends through a *blurred* threshold mask and clips before blending, so its edges stay
soft, while tools leave the full overshoot (the light and dark halos a model must learn to remove);
and `usm`'s params are Real-ESRGAN's, pinned so logged plans replay unchanged.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from srkit.degrade.ops.base import Context, Op, check_image, like, to_float
from srkit.degrade.ops.blur import BORDER
from srkit.degrade.ops.schema import OpSchema, Param


def unsharp_mask(img: np.ndarray, weight: float, kernel_size: int, sigma: float,
                 threshold: float) -> np.ndarray:
    check_image(img)
    x = to_float(img)
    ksize = (kernel_size, kernel_size)
    blur = cv2.GaussianBlur(x, ksize, sigma, sigmaY=sigma, borderType=BORDER)
    residual = x - blur
    mask = (np.abs(residual) * np.float32(255.0) > np.float32(threshold)).astype(np.float32)
    soft = cv2.GaussianBlur(mask, ksize, sigma, sigmaY=sigma, borderType=BORDER)
    sharp = x + np.float32(weight) * residual
    np.clip(sharp, 0.0, 1.0, out=sharp)
    out = soft * sharp + (np.float32(1.0) - soft) * x
    return like(out, img)


USM = OpSchema("usm", (
    Param.value_spec("weight", "float", 0.5, 0.0, 4.0),
    Param.integer("kernel_size", 51, 3, 201, odd=True),
    Param.value_spec("sigma", "float", 8.0, 0.1, 100.0),
    Param.value_spec("threshold", "float", 10.0, 0.0, 255.0),
))


def sample_usm(rng: np.random.Generator, spec: dict, ctx: Context) -> dict:
    """Draws, in order: weight, sigma, threshold (each fixed unless given as a range or choice)."""
    return USM.draw_all(rng, spec)


def apply_usm(img: np.ndarray, params: dict) -> np.ndarray:
    return unsharp_mask(img, float(params["weight"]), int(params["kernel_size"]), float(params["sigma"]),
                        float(params["threshold"]))


SHARPEN = OpSchema("sharpen", (
    Param.value_spec("radius", "float", [0.5, 1.5], 0.1, 10.0),
    Param.value_spec("amount", "float", [0.5, 1.5], 0.0, 5.0),
    Param.value_spec("threshold", "float", 0.0, 0.0, 255.0),
))


def sample_sharpen(rng: np.random.Generator, spec: dict, ctx: Context) -> dict:
    """Draws, in order: radius, amount, threshold."""
    return SHARPEN.draw_all(rng, spec)


def apply_sharpen(img: np.ndarray, params: dict) -> np.ndarray:
    check_image(img)
    x = to_float(img)
    radius = float(params["radius"])
    size = 2 * math.ceil(3 * radius) + 1
    residual = x - cv2.GaussianBlur(x, (size, size), radius, sigmaY=radius, borderType=BORDER)
    threshold = float(params["threshold"])
    if threshold > 0:
        residual[np.abs(residual) * np.float32(255.0) < np.float32(threshold)] = 0.0
    out = x + np.float32(float(params["amount"])) * residual
    np.clip(out, 0.0, 1.0, out=out)
    return like(out, img)


OPS = {op.name: op for op in (
    Op(USM, sample_usm, apply_usm,
       "Unsharp mask, Real-ESRGAN GT sharpening (51 x 51 Gaussian, sigma 8, weight 0.5, thresh 10)."),
    Op(SHARPEN, sample_sharpen, apply_sharpen,
       "Unsharp mask as editors apply it (radius, amount, hard threshold), halos kept."),
)}
