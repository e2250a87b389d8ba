"""Blur kernels against their closed forms (computed here independently), borders, and the kernel sampler."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from scipy.special import jv

from srkit.degrade.ops import OPS, Context
from srkit.degrade.ops.blur import (
    DFT_MIN_SIZE,
    dft_correlate,
    dft_size,
    filter_image,
    gaussian_1d,
    kernel_from_params,
    separable_filter,
)

CTX = Context((64, 64, 3), (64, 64, 3), 4)


def near(fraction: float, p: float, n: int) -> bool:
    """Within 4.5 binomial standard deviations (fails a correct sampler with negligible probability)."""
    return abs(fraction - p) <= 4.5 * math.sqrt(p * (1 - p) / n) + 1e-12


def formula_kernel(kind: str, size: int, sx: float, sy: float, theta: float, beta: float = 1.0) -> np.ndarray:
    """Element by element from the published definitions, with the inverse covariance written out."""
    c, s = math.cos(theta), math.sin(theta)
    a = c * c * sx * sx + s * s * sy * sy  # covariance R diag(sx^2, sy^2) R^T = [[a, b], [b, d]]
    b = c * s * (sx * sx - sy * sy)
    d = s * s * sx * sx + c * c * sy * sy
    det = a * d - b * b
    half = size // 2
    out = np.empty((size, size))
    for i in range(size):
        for j in range(size):
            x, y = j - half, i - half  # x: column offset, y: row offset
            q = (d * x * x - 2 * b * x * y + a * y * y) / det
            if kind == "gauss":
                out[i, j] = math.exp(-0.5 * q)
            elif kind == "generalized":
                out[i, j] = math.exp(-0.5 * q**beta)
            else:
                out[i, j] = 1.0 / (q**beta + 1.0)
    return out / out.sum()


@pytest.mark.parametrize(
    "params, family",
    [
        ({"kind": "iso", "size": 7, "sigma_x": 1.3, "sigma_y": 1.3, "theta": 0.0}, "gauss"),
        ({"kind": "aniso", "size": 21, "sigma_x": 2.9, "sigma_y": 0.4, "theta": 0.7}, "gauss"),
        ({"kind": "aniso", "size": 13, "sigma_x": 0.3, "sigma_y": 2.2, "theta": -2.5}, "gauss"),
        (
            {
                "kind": "generalized_iso",
                "size": 11,
                "sigma_x": 1.1,
                "sigma_y": 1.1,
                "theta": 0.0,
                "beta": 0.6,
            },
            "generalized",
        ),
        (
            {
                "kind": "generalized_aniso",
                "size": 15,
                "sigma_x": 2.0,
                "sigma_y": 0.9,
                "theta": 1.2,
                "beta": 3.1,
            },
            "generalized",
        ),
        (
            {"kind": "plateau_iso", "size": 9, "sigma_x": 1.5, "sigma_y": 1.5, "theta": 0.0, "beta": 1.0},
            "plateau",
        ),
        (
            {"kind": "plateau_aniso", "size": 19, "sigma_x": 2.5, "sigma_y": 0.7, "theta": -0.4, "beta": 1.7},
            "plateau",
        ),
    ],
)
def test_kernels_match_closed_forms(params, family):
    k = kernel_from_params(params)
    expected = formula_kernel(
        family, params["size"], params["sigma_x"], params["sigma_y"], params["theta"], params.get("beta", 1.0)
    )
    assert k.shape == (params["size"], params["size"])
    assert abs(k.sum() - 1.0) < 1e-12
    np.testing.assert_allclose(k, expected, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(k, k[::-1, ::-1], atol=1e-15)  # point-symmetric: correlation == convolution


def test_anisotropic_kernel_orientation():
    wide_x = kernel_from_params({"kind": "aniso", "size": 11, "sigma_x": 3.0, "sigma_y": 0.5, "theta": 0.0})
    assert wide_x[5, 8] > 100 * wide_x[8, 5]  # spread along columns (x), not rows
    turned = kernel_from_params(
        {"kind": "aniso", "size": 11, "sigma_x": 3.0, "sigma_y": 0.5, "theta": math.pi / 2}
    )
    np.testing.assert_allclose(turned, wide_x.T, atol=1e-12)


@pytest.mark.parametrize("size, omega", [(7, math.pi / 3), (13, 2.0), (21, math.pi / 5), (21, math.pi)])
def test_sinc_kernel_formula_and_centre(size, omega):
    k = kernel_from_params({"kind": "sinc", "size": size, "omega_c": omega})
    c = (size - 1) / 2
    raw = np.empty((size, size))
    for i in range(size):
        for j in range(size):
            r = math.hypot(i - c, j - c)
            raw[i, j] = omega**2 / (4 * math.pi) if r == 0 else omega * jv(1, omega * r) / (2 * math.pi * r)
    assert abs(k.sum() - 1.0) < 1e-12
    np.testing.assert_allclose(k, raw / raw.sum(), rtol=1e-9, atol=1e-15)
    # the centre value is the limit of the formula at r -> 0
    eps = 1e-6
    assert abs(omega * jv(1, omega * eps) / (2 * math.pi * eps) - omega**2 / (4 * math.pi)) < 1e-9
    mid = size // 2
    assert abs(k[mid, mid] / k.sum() - raw[mid, mid] / raw.sum()) < 1e-12


def reflect_correlate(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Reference: mirror padding without repeating the edge (numpy/torch "reflect"), then correlation."""
    half = kernel.shape[0] // 2
    pad = np.pad(
        img.astype(np.float64), [(half, half), (half, half)] + [(0, 0)] * (img.ndim - 2), mode="reflect"
    )
    out = np.zeros(img.shape, dtype=np.float64)
    for i in range(kernel.shape[0]):
        for j in range(kernel.shape[1]):
            out += kernel[i, j] * pad[i : i + img.shape[0], j : j + img.shape[1]]
    return out


@pytest.mark.parametrize(
    "params",
    [
        {"kind": "aniso", "size": 9, "sigma_x": 2.0, "sigma_y": 0.6, "theta": 0.5},
        {"kind": "sinc", "size": 15, "omega_c": 1.3},
        {"kind": "plateau_aniso", "size": 21, "sigma_x": 2.0, "sigma_y": 1.0, "theta": 2.0, "beta": 1.5},
    ],
)
def test_filter_uses_reflect_borders(params):
    rng = np.random.default_rng(3)
    img = rng.random((23, 30, 3), dtype=np.float32)
    k = kernel_from_params(params)
    got = OPS["realesrgan_blur"].apply(img, params)
    want = np.clip(reflect_correlate(img, k), 0, 1)
    np.testing.assert_allclose(got, want, atol=2e-5)


def test_reflect_101_is_torch_reflect_pad():
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    rng = np.random.default_rng(4)
    img = rng.random((17, 25), dtype=np.float32)
    params = {
        "kind": "generalized_aniso",
        "size": 11,
        "sigma_x": 2.5,
        "sigma_y": 0.8,
        "theta": 0.3,
        "beta": 2.0,
    }
    k = kernel_from_params(params).astype(np.float32)
    x = F.pad(torch.from_numpy(img)[None, None], (5, 5, 5, 5), mode="reflect")
    want = F.conv2d(x, torch.from_numpy(k)[None, None])[0, 0].numpy()
    np.testing.assert_allclose(filter_image(img, k), want, atol=1e-5)


def test_iso_separable_path_equals_2d_kernel():
    rng = np.random.default_rng(5)
    img = rng.random((40, 33, 3), dtype=np.float32)
    for size, sigma in ((7, 0.3), (21, 3.0), (13, 1.7)):
        k2 = kernel_from_params(
            {"kind": "iso", "size": size, "sigma_x": sigma, "sigma_y": sigma, "theta": 0.0}
        )
        np.testing.assert_allclose(
            separable_filter(img, gaussian_1d(size, sigma)), filter_image(img, k2), atol=2e-6
        )


def test_gaussian_blur_is_the_gaussian_kernel():
    rng = np.random.default_rng(6)
    img = rng.random((30, 30), dtype=np.float32)
    params = OPS["gaussian_blur"].sample(rng, {"sigma": 1.4}, CTX)
    assert params == {"sigma": 1.4, "kernel_size": 2 * math.ceil(3 * 1.4) + 1}
    k = formula_kernel("gauss", params["kernel_size"], 1.4, 1.4, 0.0)
    np.testing.assert_allclose(OPS["gaussian_blur"].apply(img, params), reflect_correlate(img, k), atol=2e-6)


def _sample_many(spec: dict, n: int, seed: int = 0) -> list[dict]:
    op = OPS["realesrgan_blur"]
    op.check(spec)
    rng = np.random.default_rng(seed)
    return [op.sample(rng, spec, CTX) for _ in range(n)]


def test_plateau_beta_is_exactly_one_half_the_time():
    n = 4000
    draws = _sample_many(
        {"kernel_list": ["plateau_iso", "plateau_aniso"], "kernel_prob": [1, 1], "sinc_prob": 0.0}, n
    )
    betas = np.array([d["beta"] for d in draws])
    assert near(float(np.mean(betas == 1.0)), 0.5, n)
    assert ((betas >= 1.0) & (betas <= 2.0)).all()
    others = betas[betas != 1.0]
    assert near(float(np.mean(others < 1.5)), 0.5, others.size)  # the other half is U(1, 2)


def test_generalized_beta_split_and_clean_variant():
    n = 4000
    split = np.array(
        [
            d["beta"]
            for d in _sample_many(
                {"kernel_list": ["generalized_iso"], "kernel_prob": [1], "sinc_prob": 0.0}, n
            )
        ]
    )
    assert near(float(np.mean(split < 1.0)), 0.5, n)  # U(0.5, 1) half the time, U(1, 4) otherwise
    clean = np.array(
        [
            d["beta"]
            for d in _sample_many(
                {"kernel_list": ["plateau_iso"], "kernel_prob": [1], "sinc_prob": 0.0, "beta_split": False}, n
            )
        ]
    )
    assert not (clean == 1.0).any()
    assert near(float(np.mean(clean < 1.5)), 0.5, n)


def test_stage_sampler_follows_published_probabilities():
    n = 6000
    draws = _sample_many({}, n, seed=1)
    sinc = [d for d in draws if d["kind"] == "sinc"]
    assert near(len(sinc) / n, 0.1, n)
    for d in sinc:
        low = math.pi / 3 if d["size"] < 13 else math.pi / 5
        assert low <= d["omega_c"] <= math.pi and set(d) == {"kind", "size", "omega_c"}
    mixed = [d for d in draws if d["kind"] != "sinc"]
    for kind, p in zip(
        ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso"),
        (0.45, 0.25, 0.12, 0.03, 0.12, 0.03),
        strict=True,
    ):
        assert near(sum(d["kind"] == kind for d in mixed) / len(mixed), p, len(mixed)), kind
    sizes = [d["size"] for d in draws]
    assert set(sizes) == set(range(7, 22, 2))
    for d in mixed:
        assert 0.2 <= d["sigma_x"] <= 3.0 and 0.2 <= d["sigma_y"] <= 3.0
        if d["kind"].endswith("_iso") or d["kind"] == "iso":
            assert d["sigma_y"] == d["sigma_x"] and d["theta"] == 0.0
        else:
            assert -math.pi <= d["theta"] <= math.pi
        assert ("beta" in d) == (d["kind"] not in ("iso", "aniso"))
    aniso = np.array([[d["sigma_x"], d["sigma_y"]] for d in mixed if d["kind"] == "aniso"])
    assert abs(np.corrcoef(aniso.T)[0, 1]) < 0.15  # the two axes are drawn independently


def test_sinc_op_sampler():
    op = OPS["sinc"]
    rng = np.random.default_rng(2)
    draws = [op.sample(rng, {}, CTX) for _ in range(500)]
    assert all(math.pi / 3 <= d["omega_c"] <= math.pi for d in draws)  # whatever the size
    assert {d["size"] for d in draws} == set(range(7, 22, 2))


def test_filters_do_not_depend_on_cv2_thread_count():
    img = np.random.default_rng(8).random((160, 150, 3), dtype=np.float32)
    cases = [("realesrgan_blur", {"kind": "aniso", "size": 21, "sigma_x": 2.0, "sigma_y": 0.6, "theta": 0.5}),
             ("sinc", {"kind": "sinc", "size": 15, "omega_c": 1.1}),
             ("usm", {"weight": 0.5, "kernel_size": 51, "sigma": 8.0, "threshold": 10.0})]
    threads = cv2.getNumThreads()
    try:
        for name, params in cases:
            outs = set()
            for n in (1, 2, 3):
                cv2.setNumThreads(n)
                outs.add(OPS[name].apply(img, params).tobytes())
            assert len(outs) == 1, name
    finally:
        cv2.setNumThreads(threads)


def test_own_kernel_list_defaults_to_equal_weights():
    n = 3000
    draws = _sample_many({"kernel_list": ["aniso", "plateau_iso"], "sinc_prob": 0.0}, n, seed=3)
    assert near(sum(d["kind"] == "aniso" for d in draws) / n, 0.5, n)


@pytest.mark.parametrize("shape", [(1, 1), (5, 5, 3), (23, 30, 3), (64, 81), (130, 97, 3)])
@pytest.mark.parametrize(
    "params",
    [
        {"kind": "aniso", "size": 13, "sigma_x": 2.0, "sigma_y": 0.6, "theta": 0.5},
        {"kind": "sinc", "size": 21, "omega_c": 1.3},
        {"kind": "plateau_iso", "size": 17, "sigma_x": 1.2, "sigma_y": 1.2, "theta": 0.0, "beta": 1.0},
    ],
)
def test_dft_path_is_the_reflect_101_correlation(shape, params):
    img = np.random.default_rng(7).random(shape, dtype=np.float32)
    k = kernel_from_params(params)
    got = dft_correlate(img, k)
    assert got.dtype == np.float32 and got.shape == img.shape and got.flags.c_contiguous
    np.testing.assert_allclose(got, reflect_correlate(img, k), atol=1e-6)
    # float images take it from DFT_MIN_SIZE on (clipped to [0, 1]); uint8 images keep filter2D
    assert np.array_equal(filter_image(img, k), np.clip(got, 0, 1))
    u8 = (img * 255).astype(np.uint8)
    assert np.array_equal(filter_image(u8, k), cv2.filter2D(u8, -1, k.astype(np.float32),
                                                            borderType=cv2.BORDER_REFLECT_101))


def test_small_kernels_keep_the_direct_filter():
    img = np.random.default_rng(8).random((40, 50, 3), dtype=np.float32)
    k = kernel_from_params({"kind": "aniso", "size": DFT_MIN_SIZE - 2, "sigma_x": 2.0, "sigma_y": 0.6,
                            "theta": 0.5})
    assert np.array_equal(filter_image(img, k), cv2.filter2D(img, -1, k.astype(np.float32),
                                                             borderType=cv2.BORDER_REFLECT_101))


def _fast_length(n: int) -> bool:
    powers = []
    for p in (2, 3, 5):
        e = 0
        while n % p == 0:
            n //= p
            e += 1
        powers.append(e)
    return n == 1 and powers[0] >= 3 and powers[1] <= 3 and powers[2] <= 1


def test_dft_lengths_are_the_smallest_fast_ones():
    for n in range(13, 2500, 7):
        m = dft_size(n)
        assert m >= n and _fast_length(m)
        assert not any(_fast_length(j) for j in range(n, m))


@pytest.mark.parametrize("shape", [(64, 64), (100, 100), (40, 50, 3)])
def test_dft_path_stays_in_the_unit_range_on_flat_black_and_white(shape):
    # The DFT rounds a flat area to a few ulps around its value: -1e-7 under black, 1 + 1e-7 over white.
    img = np.zeros(shape, np.float32)
    img[: shape[0] // 2] = 1.0
    k = kernel_from_params({"kind": "aniso", "size": 21, "sigma_x": 3.0, "sigma_y": 1.0, "theta": 0.7})
    assert k.min() >= 0 and k.shape[0] >= DFT_MIN_SIZE
    for image in (img, np.ones(shape, np.float32)):
        out = filter_image(image, k)
        assert out.min() >= 0.0 and out.max() <= 1.0
