"""Blur ops: `gaussian_blur`, `realesrgan_blur` (one Real-ESRGAN stage kernel) and `sinc`.

Kernels follow the published Real-ESRGAN definitions (Wang et al., "Real-ESRGAN: Training Real-World
Blind Super-Resolution with Pure Synthetic Data", ICCV Workshops 2021; its code in BasicSR 1.4.2,
`basicsr/data/degradations.py`): grid offsets -(k//2)..k//2, covariance R diag(sx^2, sy^2) R^T,
q = x^T S^-1 x with x = (column, row) offset; Gaussian exp(-q/2), generalized Gaussian exp(-q^beta/2),
plateau 1/(q^beta + 1), sinc wc J1(wc r)/(2 pi r); each normalised to sum 1. Params hold kernel
parameters only; `apply` rebuilds the kernel. Convolution: cv2.filter2D with BORDER_REFLECT_101, which
is torch's F.pad(mode="reflect") (mirror without repeating the edge pixel), or for float images and
kernels from 13 x 13 the same correlation through one DFT of the padded image; isotropic Gaussians
are separable and go through cv2.sepFilter2D. All kernels are point-symmetric, so correlation equals
convolution.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np
from scipy.special import j1

from srkit.degrade.ops.base import Context, Op, check_image
from srkit.degrade.ops.schema import OpSchema, Param
from srkit.degrade.ops.value_specs import SpecError, draw_uniform

BORDER = cv2.BORDER_REFLECT_101
KERNEL_KINDS = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
DEFAULT_SIZES = (7, 9, 11, 13, 15, 17, 19, 21)
DEFAULT_KERNEL_PROB = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
PI = math.pi


# ---- kernels (float64, normalised to sum 1) -----------------------------------------------------------


@lru_cache(maxsize=32)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    ax = np.arange(-(size // 2), size // 2 + 1, dtype=np.float64)
    xx, yy = np.meshgrid(ax, ax)  # xx: column offset, yy: row offset
    xx.flags.writeable = yy.flags.writeable = False  # shared by every kernel of this size
    return xx, yy


def mahalanobis_q(size: int, sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    """q = x^T S^-1 x on the size x size grid, S = R diag(sx^2, sy^2) R^T."""
    c, s = math.cos(theta), math.sin(theta)
    rot = np.array([[c, -s], [s, c]])
    cov = rot @ np.diag([sigma_x**2, sigma_y**2]) @ rot.T
    inv = np.linalg.inv(cov)
    xx, yy = _grid(size)
    return inv[0, 0] * xx * xx + (inv[0, 1] + inv[1, 0]) * xx * yy + inv[1, 1] * yy * yy


def gaussian_kernel(size: int, sigma_x: float, sigma_y: float, theta: float) -> np.ndarray:
    k = np.exp(-0.5 * mahalanobis_q(size, sigma_x, sigma_y, theta))
    return k / k.sum()


def generalized_kernel(size: int, sigma_x: float, sigma_y: float, theta: float, beta: float) -> np.ndarray:
    k = np.exp(-0.5 * np.power(mahalanobis_q(size, sigma_x, sigma_y, theta), beta))
    return k / k.sum()


def plateau_kernel(size: int, sigma_x: float, sigma_y: float, theta: float, beta: float) -> np.ndarray:
    k = 1.0 / (np.power(mahalanobis_q(size, sigma_x, sigma_y, theta), beta) + 1.0)
    return k / k.sum()


def sinc_kernel(size: int, omega_c: float) -> np.ndarray:
    """Circular low-pass kernel wc J1(wc r) / (2 pi r), centre wc^2 / (4 pi), normalised to sum 1."""
    c = (size - 1) / 2
    idx = np.arange(size, dtype=np.float64) - c
    r = np.hypot(idx[None, :], idx[:, None])
    with np.errstate(divide="ignore", invalid="ignore"):
        k = omega_c * j1(omega_c * r) / (2 * PI * r)
    k[r == 0] = omega_c**2 / (4 * PI)
    return k / k.sum()


def kernel_from_params(params: dict) -> np.ndarray:
    """Rebuild the (size x size, float64, sum 1) kernel of a realesrgan_blur / sinc params dict."""
    kind, size = params["kind"], int(params["size"])
    if kind == "sinc":
        return sinc_kernel(size, float(params["omega_c"]))
    sx, sy, th = float(params["sigma_x"]), float(params["sigma_y"]), float(params["theta"])
    if kind in ("iso", "aniso"):
        return gaussian_kernel(size, sx, sy, th)
    if kind.startswith("generalized"):
        return generalized_kernel(size, sx, sy, th, float(params["beta"]))
    if kind.startswith("plateau"):
        return plateau_kernel(size, sx, sy, th, float(params["beta"]))
    raise ValueError(f"unknown kernel kind {kind!r}; known: {list(KERNEL_KINDS) + ['sinc']}")


# From this kernel size up, OpenCV's filter2D itself switches float images to a blockwise DFT (kernel
# area >= 130), which costs 2-3x one DFT of the whole padded image; below it, its direct sum is faster.
DFT_MIN_SIZE = 13


def filter_image(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlate (= convolve, kernels are symmetric) with reflect-101 borders; same dtype and layout out.

    Float images with kernels of DFT_MIN_SIZE and up go through one DFT of the whole padded image
    (`dft_correlate`), the same correlation up to float rounding. Float results of that path and of
    kernels with negative lobes (sinc) are clipped to [0, 1].
    """
    check_image(img)
    dft = img.dtype == np.float32 and kernel.shape[0] >= DFT_MIN_SIZE
    if dft:
        out = dft_correlate(img, kernel)
    else:
        out = cv2.filter2D(img, -1, kernel.astype(np.float32), borderType=BORDER)
    # The DFT's rounding leaves flat black or white areas a few ulps outside [0, 1] (about 1e-7).
    if img.dtype == np.float32 and (dft or (kernel < 0).any()):
        np.clip(out, 0.0, 1.0, out=out)
    return out


# DFT lengths 2^a 3^b 5^c with a >= 3, b <= 3, c <= 1: OpenCV transforms these about twice as fast per
# sample as the other 5-smooth lengths getOptimalDFTSize may return (625, 675, 729, 250, 270, ...).
_DFT_SIZES = tuple(sorted(2**a * 3**b * 5**c for a in range(3, 25) for b in range(4) for c in range(2)))


def dft_size(n: int) -> int:
    """The DFT length used for a padded side of n samples (a pure function of n: it fixes the rounding)."""
    i = bisect.bisect_left(_DFT_SIZES, n)
    return _DFT_SIZES[i] if i < len(_DFT_SIZES) else cv2.getOptimalDFTSize(n)


def dft_correlate(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """float32 (H, W) / (H, W, 3) correlated with an odd square kernel, reflect-101 borders, via the DFT.

    Each plane is padded by the kernel radius (reflect-101, as filter2D pads) up to a size the DFT is
    fast at; the kernel sits in the top-left corner of a zero plane of that size. The circular
    correlation of the two, read at [0:H, 0:W], is the filter's output: its window never wraps.
    """
    h, w = img.shape[:2]
    size = kernel.shape[0]
    r = size // 2
    rows, cols = dft_size(h + 2 * r), dft_size(w + 2 * r)
    padded_kernel = np.zeros((rows, cols), np.float32)
    padded_kernel[:size, :size] = kernel
    spectrum = cv2.dft(padded_kernel)
    planes = [img] if img.ndim == 2 else cv2.split(img)
    out = []
    for plane in planes:
        padded = cv2.copyMakeBorder(plane, r, rows - h - r, r, cols - w - r, BORDER)
        product = cv2.mulSpectrums(cv2.dft(padded), spectrum, 0, conjB=True)
        out.append(cv2.idft(product, flags=cv2.DFT_SCALE | cv2.DFT_REAL_OUTPUT)[:h, :w])
    return np.ascontiguousarray(out[0]) if img.ndim == 2 else cv2.merge(out)


def gaussian_1d(size: int, sigma: float) -> np.ndarray:
    ax = np.arange(-(size // 2), size // 2 + 1, dtype=np.float64)
    g = np.exp(-0.5 * (ax / sigma) ** 2)
    return g / g.sum()


def separable_filter(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    check_image(img)
    g32 = g.astype(np.float32)
    return cv2.sepFilter2D(img, -1, g32, g32, borderType=BORDER)


def _apply_kernel_params(img: np.ndarray, params: dict) -> np.ndarray:
    if params["kind"] == "iso":
        # exp(-(x^2 + y^2) / 2s^2) = g(x) g(y): the separable filter is the same kernel, several x faster.
        return separable_filter(img, gaussian_1d(int(params["size"]), float(params["sigma_x"])))
    return filter_image(img, kernel_from_params(params))


# ---- gaussian_blur --------------------------------------------------------------------------------------


def auto_kernel_size(sigma: float) -> int:
    return 2 * math.ceil(3 * sigma) + 1


GAUSSIAN_BLUR = OpSchema("gaussian_blur", (
    Param.value_spec("sigma", "float", [0.2, 3.0], 0.05, 50.0),
    Param.integer("kernel_size", 0, 3, 201, odd=True, auto=0),
))


def sample_gaussian_blur(rng: np.random.Generator, spec: dict, ctx: Context) -> dict:
    """Draws sigma."""
    sigma = GAUSSIAN_BLUR.draw(rng, spec, "sigma")
    ks = int(GAUSSIAN_BLUR.value(spec, "kernel_size")) or auto_kernel_size(sigma)
    return {"sigma": sigma, "kernel_size": ks}


def apply_gaussian_blur(img: np.ndarray, params: dict) -> np.ndarray:
    return separable_filter(img, gaussian_1d(int(params["kernel_size"]), float(params["sigma"])))


# ---- realesrgan_blur ----------------------------------------------------------------------------------

PI_BOUND = PI + 1e-9  # bounds at pi admit pi written out as a decimal in a recipe


def _betas_contain_one(spec: dict) -> None:
    if not REALESRGAN_BLUR.value(spec, "beta_split"):
        return
    for key in ("betag", "betap"):
        beta = REALESRGAN_BLUR.value(spec, key)
        if not beta[0] <= 1.0 <= beta[1]:
            raise SpecError(key, f"with beta_split = true (U(lo, 1) or U(1, hi), p 0.5 each) the range must "
                                 f"contain 1, got {beta!r}; set beta_split = false for U(lo, hi)")


# Defaults: the published stage-1 settings (stage 2 differs only in sigma = [0.2, 1.5]).
REALESRGAN_BLUR = OpSchema("realesrgan_blur", (
    Param.int_list("kernel_sizes", DEFAULT_SIZES, 3, 31, odd=True),
    Param.prob("sinc_prob", 0.1),
    Param.names("kernel_list", KERNEL_KINDS, KERNEL_KINDS),
    Param.weights("kernel_prob", DEFAULT_KERNEL_PROB, of="kernel_list"),
    Param.float_range("sigma", [0.2, 3.0], 0.0, 20.0, positive=True),
    Param.float_range("rotation", [-PI, PI], -PI_BOUND, PI_BOUND),
    Param.float_range("betag", [0.5, 4.0], 0.0, 16.0, positive=True),
    Param.float_range("betap", [1.0, 2.0], 0.0, 16.0, positive=True),
    Param.flag("beta_split", True),
    Param.float_range("sinc_omega_small", [PI / 3, PI], 0.0, PI_BOUND, positive=True),
    Param.float_range("sinc_omega_large", [PI / 5, PI], 0.0, PI_BOUND, positive=True),
    Param.integer("sinc_small_below", 13, 0, 1000),
), rule=_betas_contain_one)


def _draw_beta(rng: np.random.Generator, beta_range: Sequence[float], split: bool, key: str) -> float:
    lo, hi = float(beta_range[0]), float(beta_range[1])
    if not split:
        return draw_uniform(rng, [lo, hi], key)
    # The published sampler: half the time U(lo, 1), else U(1, hi);
    # so plateau [1, 2] gives beta = 1 exactly half the time.
    if rng.random() < 0.5:
        return draw_uniform(rng, [lo, 1.0], key)
    return draw_uniform(rng, [1.0, hi], key)


def sample_realesrgan_blur(rng: np.random.Generator, spec: dict, ctx: Context) -> dict:
    """Draws, in order: size, sinc-or-not; sinc: omega_c; else kind, sigma_x, (aniso) sigma_y, theta, beta."""
    schema = REALESRGAN_BLUR
    size = schema.draw(rng, spec, "kernel_sizes")
    if schema.chance(rng, spec, "sinc_prob"):
        small = size < int(schema.value(spec, "sinc_small_below"))
        omega_c = schema.draw(rng, spec, "sinc_omega_small" if small else "sinc_omega_large")
        return {"kind": "sinc", "size": size, "omega_c": omega_c}
    kind = schema.draw(rng, spec, "kernel_list")  # weighted by kernel_prob
    sigma_x = schema.draw(rng, spec, "sigma")
    if kind.endswith("aniso"):
        sigma_y = schema.draw(rng, spec, "sigma")
        theta = schema.draw(rng, spec, "rotation")
    else:
        sigma_y, theta = sigma_x, 0.0
    params = {"kind": kind, "size": size, "sigma_x": sigma_x, "sigma_y": sigma_y, "theta": theta}
    split = bool(schema.value(spec, "beta_split"))
    for family, key in (("generalized", "betag"), ("plateau", "betap")):
        if kind.startswith(family):
            params["beta"] = _draw_beta(rng, schema.value(spec, key), split, key)
    return params


# ---- sinc ---------------------------------------------------------------------------------------------


SINC = OpSchema("sinc", (
    Param.int_list("kernel_sizes", DEFAULT_SIZES, 3, 31, odd=True),
    Param.float_range("omega", [PI / 3, PI], 0.0, PI_BOUND, positive=True),
))


def sample_sinc(rng: np.random.Generator, spec: dict, ctx: Context) -> dict:
    """Draws, in order: size, omega_c."""
    size = SINC.draw(rng, spec, "kernel_sizes")
    omega_c = SINC.draw(rng, spec, "omega")
    return {"kind": "sinc", "size": size, "omega_c": omega_c}


OPS = {op.name: op for op in (
    Op(GAUSSIAN_BLUR, sample_gaussian_blur, apply_gaussian_blur,
       "Isotropic Gaussian blur by sigma (separable, reflect-101 borders)."),
    Op(REALESRGAN_BLUR, sample_realesrgan_blur, _apply_kernel_params,
       "Real-ESRGAN stage blur: mixed Gaussian / generalized / plateau or sinc kernel."),
    Op(SINC, sample_sinc, _apply_kernel_params,
       "Circular low-pass (sinc) blur, e.g. Real-ESRGAN's final sinc (its p is the step's p)."),
)}
