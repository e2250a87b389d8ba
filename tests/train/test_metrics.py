"""PSNR / SSIM on Y (papers' convention) against values worked out by hand, and their invariants."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from srkit.train.metrics import bicubic_upscale, psnr, psnr_ssim_y, round_to_uint8, ssim, to_y


def test_psnr_of_a_constant_offset_by_hand():
    a = np.full((12, 12), 100, np.uint8)
    b = np.full((12, 12), 110, np.uint8)
    # MSE = 10^2 = 100 -> 10 log10(255^2 / 100) = 28.1308 dB
    p, _ = psnr_ssim_y(a, b)
    assert p == pytest.approx(10 * math.log10(255 ** 2 / 100), abs=1e-9)
    assert p == pytest.approx(28.130803608679102, abs=1e-9)


def test_ssim_of_two_constants_by_hand():
    # Flat 11 x 11 images: one valid window, variances and covariance 0, so
    # SSIM = (2 mu_a mu_b + C1) / (mu_a^2 + mu_b^2 + C1) with C1 = 2.55^2 = 6.5025.
    a = np.full((11, 11), 100, np.uint8)
    b = np.full((11, 11), 110, np.uint8)
    _, s = psnr_ssim_y(a, b)
    assert s == pytest.approx((22000 + 6.5025) / (22100 + 6.5025), abs=1e-12)


def test_y_channel_of_rgb_by_hand():
    red = np.zeros((2, 2, 3), np.uint8)
    red[..., 0] = 255
    assert to_y(red)[0, 0] == pytest.approx(16 + 65.481)
    white = np.full((1, 1, 3), 255, np.uint8)
    assert to_y(white)[0, 0] == pytest.approx(235.0)
    gray = np.full((3, 3), 77, np.uint8)
    assert (to_y(gray) == 77).all() and (to_y(gray[:, :, None]) == 77).all()


def test_border_is_shaved_before_measuring():
    a = np.full((20, 20), 50, np.uint8)
    b = a.copy()
    b[:4, :] = 0  # differences only in the 4 px border
    assert psnr_ssim_y(a, b, crop_border=4)[0] == math.inf
    assert psnr_ssim_y(a, b, crop_border=3)[0] < 40


def test_rejects_float_and_mismatched_images():
    with pytest.raises(TypeError):
        to_y(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="sizes differ"):
        psnr_ssim_y(np.zeros((12, 12), np.uint8), np.zeros((12, 13), np.uint8))


def test_bicubic_baseline_sizes_and_identity():
    lr = (np.arange(100, dtype=np.uint8).reshape(10, 10) * 2)
    up = bicubic_upscale(lr, (40, 40))
    assert up.shape == (40, 40) and up.dtype == np.uint8
    assert np.array_equal(bicubic_upscale(lr, (10, 10)), lr)  # scale 1: the LR is the baseline
    rgb = np.stack([lr, 255 - lr, lr // 2], axis=2)
    up_rgb = bicubic_upscale(rgb, (20, 30))
    assert up_rgb.shape == (30, 20, 3)
    assert np.array_equal(up_rgb[:, :, 0], bicubic_upscale(lr, (20, 30)))


def test_round_to_uint8_rounds():
    assert round_to_uint8(np.array([0.0, 0.5 / 255, 1.2, -0.1])).tolist() == [0, 0, 255, 0]


images = arrays(np.uint8, st.tuples(st.integers(11, 24), st.integers(11, 24)))


@settings(max_examples=40, deadline=None)
@given(images, st.data())
def test_metric_invariants(a, data):
    b = data.draw(arrays(np.uint8, a.shape))
    assert psnr_ssim_y(a, a)[0] == math.inf
    assert ssim(to_y(a), to_y(a)) == pytest.approx(1.0)
    p_ab, s_ab = psnr_ssim_y(a, b)
    p_ba, s_ba = psnr_ssim_y(b, a)
    assert p_ab == pytest.approx(p_ba) and s_ab == pytest.approx(s_ba)
    assert -1.0 <= s_ab <= 1.0 + 1e-12
    assert psnr(to_y(a), to_y(b)) == pytest.approx(p_ab)
