"""Manga print ops (halftone, dither, quantize) and the HR-side unsharp mask vs independent references."""

from __future__ import annotations

import math

import numpy as np
import pytest

from srkit.degrade.ops import OPS, Context, SpecError, to_float
from srkit.degrade.ops.manga import _coverage, bayer_matrix, floyd_steinberg

CTX = Context((64, 64), (64, 64), 2)


def naive_floyd_steinberg(img: np.ndarray, levels: int) -> np.ndarray:
    """Textbook raster-order error diffusion, one pixel at a time."""
    buf = img.astype(np.float64).copy()
    h, w = buf.shape[:2]
    step = levels - 1
    for y in range(h):
        for x in range(w):
            old = buf[y, x].copy()
            new = np.clip(np.rint(old * step), 0, step) / step
            buf[y, x] = new
            err = old - new
            if x + 1 < w:
                buf[y, x + 1] += err * 7 / 16
            if y + 1 < h:
                if x > 0:
                    buf[y + 1, x - 1] += err * 3 / 16
                buf[y + 1, x] += err * 5 / 16
                if x + 1 < w:
                    buf[y + 1, x + 1] += err * 1 / 16
    return buf


@pytest.mark.parametrize("shape, levels", [((13, 17), 2), ((9, 21, 3), 4), ((1, 8), 2), ((12, 1), 3)])
def test_floyd_steinberg_equals_the_textbook_loop(shape, levels):
    img = np.random.default_rng(0).random(shape, dtype=np.float32)
    np.testing.assert_allclose(floyd_steinberg(img, levels), naive_floyd_steinberg(img, levels), atol=1e-6)


def test_floyd_steinberg_preserves_mean_tone():
    img = np.full((64, 64), 0.3, np.float32)
    out = OPS["dither"].apply(img, {"method": "floyd_steinberg", "levels": 2})
    assert set(np.unique(out)) <= {0.0, 1.0}
    assert abs(out.mean() - 0.3) < 0.02


def test_bayer_dither():
    m = bayer_matrix(4)
    assert sorted(m.ravel()) == list(range(16))
    for tone in (0.25, 0.5, 0.8125):
        out = OPS["dither"].apply(
            np.full((16, 16), tone, np.float32), {"method": "bayer", "levels": 2, "bayer_size": 4}
        )
        assert abs(out.mean() - tone) < 1 / 16 + 1e-6
    ramp = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (8, 1))
    out = OPS["dither"].apply(ramp, {"method": "bayer", "levels": 5, "bayer_size": 8})
    assert set(np.round(np.unique(out) * 4, 5)) <= {0, 1, 2, 3, 4}


def test_halftone_coverage_tracks_tone():
    # the closed-form coverage of the round dot against a Monte-Carlo estimate
    rng = np.random.default_rng(0)
    pts = rng.random((200_000, 2)) - 0.5
    dist = np.hypot(pts[:, 0], pts[:, 1])
    for s in (0.2, 0.45, 0.55, 0.65, 0.7):
        assert abs(_coverage(np.array(s), "round") - np.mean(dist < s)) < 0.005
    for shape in ("round", "square", "line"):
        for tone in (0.2, 0.5, 0.85):
            img = np.full((240, 240), tone, np.float32)
            out = OPS["halftone"].apply(img, {"pitch": 6.0, "angle": 30.0, "shape": shape})
            assert set(np.unique(out)) <= {0.0, 1.0}
            assert abs(out.mean() - tone) < 0.03, (shape, tone)
    u8 = OPS["halftone"].apply(
        np.full((32, 32, 3), 128, np.uint8), {"pitch": 5.0, "angle": 45.0, "shape": "round"}
    )
    assert set(np.unique(u8)) <= {0, 255} and u8.shape == (32, 32, 3)


def test_quantize():
    img = np.random.default_rng(1).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    out = OPS["quantize"].apply(img, {"levels": 5})
    assert len(np.unique(out)) <= 5
    assert np.array_equal(OPS["quantize"].apply(out, {"levels": 5}), out)
    assert np.array_equal(OPS["quantize"].apply(img, {"levels": 256}), img)


def gauss_reflect(x: np.ndarray, size: int, sigma: float) -> np.ndarray:
    ax = np.arange(size) - size // 2
    g = np.exp(-0.5 * (ax / sigma) ** 2)
    g /= g.sum()
    half = size // 2
    pad = np.pad(x.astype(np.float64), half, mode="reflect")
    rows = sum(g[i] * pad[i : i + x.shape[0], :] for i in range(size))
    return sum(g[j] * rows[:, j : j + x.shape[1]] for j in range(size))


def test_usm_matches_the_published_formula():
    rng = np.random.default_rng(2)
    img = np.clip(np.cumsum(rng.normal(0, 0.05, (60, 70)), axis=1) + 0.5, 0, 1).astype(np.float32)
    params = OPS["usm"].sample(rng, {}, CTX)
    assert params == {"weight": 0.5, "kernel_size": 51, "sigma": 8.0, "threshold": 10.0}
    blur = gauss_reflect(img, 51, 8.0)
    residual = img - blur
    mask = (np.abs(residual) * 255 > 10).astype(np.float64)
    soft = gauss_reflect(mask, 51, 8.0)
    want = soft * np.clip(img + 0.5 * residual, 0, 1) + (1 - soft) * img
    np.testing.assert_allclose(OPS["usm"].apply(img, params), want, atol=1e-4)


def test_manga_specs():
    for name, spec, key, allowed in (
        ("halftone", {"shape": "star"}, "shape", "round"),
        ("halftone", {"pitch": 1.0}, "pitch", "64"),
        ("dither", {"method": "atkinson"}, "method", "floyd_steinberg"),
        ("dither", {"bayer_size": 3}, "bayer_size", "8"),
        ("quantize", {"levels": 1}, "levels", "256"),
        ("usm", {"kernel_size": 50}, "kernel_size", "odd"),
    ):
        with pytest.raises(SpecError) as err:
            OPS[name].check(spec)
        assert err.value.key == key and allowed in err.value.message, (name, err.value)
    rng = np.random.default_rng(3)
    draws = [
        OPS["halftone"].sample(rng, {"angle": {"choices": [45.0, 0.0], "weights": [3, 1]}}, CTX)
        for _ in range(2000)
    ]
    frac = sum(d["angle"] == 45.0 for d in draws) / 2000
    assert abs(frac - 0.75) < 4.5 * math.sqrt(0.75 * 0.25 / 2000)
    assert OPS["dither"].sample(rng, {"method": "bayer"}, CTX) == {
        "method": "bayer",
        "levels": 2,
        "bayer_size": 4,
    }


def test_float_and_uint8_agree():
    img = np.random.default_rng(4).integers(0, 256, (24, 24), dtype=np.uint8)
    for name, params in (
        ("halftone", {"pitch": 4.0, "angle": 15.0, "shape": "square"}),
        ("dither", {"method": "floyd_steinberg", "levels": 3}),
        ("quantize", {"levels": 7}),
    ):
        u8 = OPS[name].apply(img, params)
        fl = OPS[name].apply(to_float(img), params)
        assert np.array_equal(u8, np.clip(np.rint(fl * 255), 0, 255).astype(np.uint8))
