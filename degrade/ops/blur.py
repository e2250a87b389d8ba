"""Blur ops: `gaussian_blur`, `realesrgan_blur` (one Real-ESRGAN stage kernel) and `sinc`.

Kernels follow the published Real-ESRGAN definitions (../shared/reference/realesrgan_degradation.md):
grid offsets -(k//2)..k//2, covariance R diag(sx^2, sy^2) R^T, q = x^T S^-1 x with x = (column, row)
offset; Gaussian exp(-q/2), generalized Gaussian exp(-q^beta/2), plateau 1/(q^beta + 1), sinc
wc J1(wc r)/(2 pi r); each normalised to sum 1. Params hold kernel parameters only; `apply` rebuilds the
kernel. Convolution: cv2.filter2D with BORDER_REFLECT_101, which is torch's F.pad(mode="reflect") (mirror
without repeating the edge pixel). All kernels are point-symmetric, so correlation equals convolution.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from scipy.special import j1

from srkit.degrade.ops.base import Context, Op, SpecError, check_image
from srkit.degrade.ops.draw import (
    check_bool,
    check_choice_list,
    check_int,
    check_int_list,
    check_keys,
    check_prob,
    check_range,
    check_value,
    check_weights,
    draw_uniform,
    draw_value,
    get,
    pick_index,
)

BORDER = cv2.BORDER_REFLECT_101
KERNEL_KINDS = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")
DEFAULT_SIZES = [7, 9, 11, 13, 15, 17, 19, 21]
DEFAULT_KERNEL_PROB = [0.45, 0.25, 0.12, 0.03, 0.12, 0.03]
PI = math.pi


# ---- kernels (float64, normalised to sum 1) -----------------------------------------------------------


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    ax = np.arange(-(size // 2), size // 2 + 1, dtype=np.float64)
    xx, yy = np.meshgrid(ax, ax)  # xx: column offset, yy: row offset
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


def filter_image(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlate (= convolve, kernels are symmetric) with reflect-101 borders; same dtype and layout out.

    Float results of kernels with negative lobes (sinc) are clipped to [0, 1].
    """
    check_image(img)
    out = cv2.filter2D(img, -1, kernel.astype(np.float32), borderType=BORDER)
    if img.dtype == np.float32 and (kernel < 0).any():
        np.clip(out, 0.0, 1.0, out=out)
    return out


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


def check_gaussian_blur(spec: dict) -> None:
    check_keys(spec, ("sigma", "kernel_size"), "gaussian_blur")
    check_value(get(spec, "sigma", [0.2, 3.0]), "sigma", "float", 0.05, 50.0)
    ks = get(spec, "kernel_size", 0)
    if ks != 0:
        check_int(ks, "kernel_size", 3, 201, odd=True)


def sample_gaussian_blur(rng: np.random.Generator, spec: dict, ctx: Context) -> dict:
    """Draws sigma."""
    sigma = float(draw_value(rng, get(spec, "sigma", [0.2, 3.0]), "sigma", "float"))
    ks = int(get(spec, "kernel_size", 0)) or auto_kernel_size(sigma)
    return {"sigma": sigma, "kernel_size": ks}


def apply_gaussian_blur(img: np.ndarray, params: dict) -> np.ndarray:
    return separable_filter(img, gaussian_1d(int(params["kernel_size"]), float(params["sigma"])))


# ---- realesrgan_blur ----------------------------------------------------------------------------------

_RB_KEYS = ("kernel_sizes", "sinc_prob", "kernel_list", "kernel_prob", "sigma", "rotation", "betag", "betap",
            "beta_split", "sinc_omega_small", "sinc_omega_large", "sinc_small_below")


def check_realesrgan_blur(spec: dict) -> None:
    check_keys(spec, _RB_KEYS, "realesrgan_blur")
    check_int_list(get(spec, "kernel_sizes", DEFAULT_SIZES), "kernel_sizes", 3, 31, odd=True)
    check_prob(get(spec, "sinc_prob", 0.1), "sinc_prob")
    kinds = get(spec, "kernel_list", list(KERNEL_KINDS))
    check_choice_list(kinds, "kernel_list", KERNEL_KINDS)
    if "kernel_prob" in spec:
        check_weights(spec["kernel_prob"], "kernel_prob", len(kinds))
    sigma = get(spec, "sigma", [0.2, 3.0])
    check_range(sigma, "sigma", 0.0, 20.0)
    if sigma[0] <= 0:
        raise SpecError("sigma", f"sigma must be > 0, got {sigma!r}")
    check_range(get(spec, "rotation", [-PI, PI]), "rotation", -PI - 1e-9, PI + 1e-9)
    split = get(spec, "beta_split", True)
    check_bool(split, "beta_split")
    for key, default in (("betag", [0.5, 4.0]), ("betap", [1.0, 2.0])):
        beta = get(spec, key, default)
        check_range(beta, key, 0.0, 16.0)
        if beta[0] <= 0:
            raise SpecError(key, f"beta must be > 0, got {beta!r}")
        if split and not beta[0] <= 1.0 <= beta[1]:
            raise SpecError(key, f"with beta_split = true (U(lo, 1) or U(1, hi), p 0.5 each) the range must "
                                 f"contain 1, got {beta!r}; set beta_split = false for U(lo, hi)")
    for key, default in (("sinc_omega_small", [PI / 3, PI]), ("sinc_omega_large", [PI / 5, PI])):
        omega = get(spec, key, default)
        check_range(omega, key, 0.0, PI + 1e-9)
        if omega[0] <= 0:
            raise SpecError(key, f"the cutoff must be > 0, got {omega!r}")
    check_int(get(spec, "sinc_small_below", 13), "sinc_small_below", 0, 1000)


def _draw_beta(rng: np.random.Generator, beta_range: list, split: bool, key: str) -> float:
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
    sizes = get(spec, "kernel_sizes", DEFAULT_SIZES)
    size = int(sizes[pick_index(rng, None, len(sizes))])
    if rng.random() < float(get(spec, "sinc_prob", 0.1)):
        small = size < int(get(spec, "sinc_small_below", 13))
        omega = get(spec, "sinc_omega_small", [PI / 3, PI]) if small else get(spec, "sinc_omega_large",
                                                                                [PI / 5, PI])
        return {"kind": "sinc", "size": size, "omega_c": draw_uniform(rng, list(omega), "sinc_omega")}
    kinds = get(spec, "kernel_list", list(KERNEL_KINDS))
    # default weights: the published ones for the default list, equal ones for a list of the recipe's own
    weights = get(spec, "kernel_prob", None if "kernel_list" in spec else DEFAULT_KERNEL_PROB)
    kind = str(kinds[pick_index(rng, weights, len(kinds))])
    sigma = list(get(spec, "sigma", [0.2, 3.0]))
    sigma_x = draw_uniform(rng, sigma, "sigma")
    if kind.endswith("aniso"):
        sigma_y = draw_uniform(rng, sigma, "sigma")
        theta = draw_uniform(rng, list(get(spec, "rotation", [-PI, PI])), "rotation")
    else:
        sigma_y, theta = sigma_x, 0.0
    params = {"kind": kind, "size": size, "sigma_x": sigma_x, "sigma_y": sigma_y, "theta": theta}
    split = bool(get(spec, "beta_split", True))
    if kind.startswith("generalized"):
        params["beta"] = _draw_beta(rng, list(get(spec, "betag", [0.5, 4.0])), split, "betag")
    elif kind.startswith("plateau"):
        params["beta"] = _draw_beta(rng, list(get(spec, "betap", [1.0, 2.0])), split, "betap")
    return params


# ---- sinc ---------------------------------------------------------------------------------------------


def check_sinc(spec: dict) -> None:
    check_keys(spec, ("kernel_sizes", "omega"), "sinc")
    check_int_list(get(spec, "kernel_sizes", DEFAULT_SIZES), "kernel_sizes", 3, 31, odd=True)
    omega = get(spec, "omega", [PI / 3, PI])
    check_range(omega, "omega", 0.0, PI + 1e-9)
    if omega[0] <= 0:
        raise SpecError("omega", f"the cutoff must be > 0, got {omega!r}")


def sample_sinc(rng: np.random.Generator, spec: dict, ctx: Context) -> dict:
    """Draws, in order: size, omega_c."""
    sizes = get(spec, "kernel_sizes", DEFAULT_SIZES)
    size = int(sizes[pick_index(rng, None, len(sizes))])
    omega_c = draw_uniform(rng, list(get(spec, "omega", [PI / 3, PI])), "omega")
    return {"kind": "sinc", "size": size, "omega_c": omega_c}


OPS = {
    "gaussian_blur": Op("gaussian_blur", sample_gaussian_blur, apply_gaussian_blur, check_gaussian_blur,
                        "Isotropic Gaussian blur by sigma (separable, reflect-101 borders)."),
    "realesrgan_blur": Op("realesrgan_blur", sample_realesrgan_blur, _apply_kernel_params,
                          check_realesrgan_blur,
                          "Real-ESRGAN stage blur: mixed Gaussian / generalized / plateau or sinc kernel."),
    "sinc": Op("sinc", sample_sinc, _apply_kernel_params, check_sinc,
               "Circular low-pass (sinc) blur, e.g. Real-ESRGAN's final sinc (its p is the step's p)."),
}
