"""The denoisers: what OpenCV computes, noise actually removed, and local (so they tile)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from srkit.degrade.ops import OPS, Context, to_float
from srkit.degrade.ops.denoise import nlmeans_reach


def _noisy(shape, seed=0):
    rng = np.random.default_rng(seed)
    flat = np.full(shape, 128.0)
    flat[:, : shape[1] // 2] = 40.0  # one edge, which a denoiser must keep
    return np.clip(flat + rng.normal(0, 12, shape), 0, 255).astype(np.uint8)


def _params(name: str, img: np.ndarray) -> dict:
    op = OPS[name]
    return op.sample(np.random.default_rng(0), {}, Context(img.shape, img.shape, 1))


def test_nlmeans_is_opencv_with_the_documented_defaults():
    img = _noisy((48, 52))
    params = _params("nlmeans", img)
    assert params == {"h": 5.0, "template": 7, "search": 21}
    expected = cv2.fastNlMeansDenoising(img, None, h=5.0, templateWindowSize=7, searchWindowSize=21)
    assert np.array_equal(OPS["nlmeans"].apply(img, params), expected)
    rgb = np.dstack([img, img[::-1], img[:, ::-1]])
    expected = cv2.fastNlMeansDenoisingColored(rgb, None, 5.0, 5.0, 7, 21)
    assert np.array_equal(OPS["nlmeans"].apply(rgb, params), expected)


@pytest.mark.parametrize("name", ["nlmeans", "bilateral"])
def test_denoisers_remove_noise_and_keep_the_edge(name):
    img = _noisy((64, 64))
    params = dict(_params(name, img), **({"h": 15.0} if name == "nlmeans" else {"sigma_color": 60.0}))
    out = OPS[name].apply(img, params).astype(float)
    flat_before = img[:, 40:].astype(float).std()
    assert out[:, 40:].std() < 0.6 * flat_before
    assert out[:, :24].mean() < 60 and out[:, 40:].mean() > 110  # the edge is still there


def test_bilateral_on_float_matches_uint8_within_a_level():
    img = _noisy((40, 40), seed=2)
    params = _params("bilateral", img)
    u8 = OPS["bilateral"].apply(img, params).astype(float)
    f32 = OPS["bilateral"].apply(to_float(img), params) * 255.0
    assert np.abs(u8 - f32).max() <= 1.0


def test_nlmeans_is_local_so_a_crop_with_context_gives_the_same_centre():
    img = _noisy((80, 90), seed=3)
    params = _params("nlmeans", img)
    reach = nlmeans_reach(params)
    whole = OPS["nlmeans"].apply(img, params)
    y0, y1, x0, x1 = 30, 50, 35, 60
    crop = img[y0 - reach:y1 + reach, x0 - reach:x1 + reach]
    part = OPS["nlmeans"].apply(crop, params)[reach:-reach, reach:-reach]
    assert np.array_equal(part, whole[y0:y1, x0:x1])
