"""Estimators of `sr-data fit`: synthetic images with known parameters, then the accuracy the issue asks
for on raws made from the real dev pages (skipped without them). bench/fit_accuracy.py prints the full
error tables."""

from __future__ import annotations

import io
import math

import cv2
import numpy as np
import pytest
from PIL import Image
from raws_fixtures import RawSpec, make_raw

from srkit.degrade.estimate.blocks import block_view, estimate_from_blocks, grid_phase
from srkit.degrade.estimate.calibrate import gamma_response, sharp_page
from srkit.degrade.estimate.edges import blur_sigma
from srkit.degrade.estimate.jpeg_tables import jpeg_file_info, nearest_quality, standard_tables
from srkit.degrade.estimate.levels import levels, tone
from srkit.degrade.estimate.measure import measure_array
from srkit.degrade.estimate.noise import noise_sigma
from srkit.degrade.estimate.upscale import upscaled_by
from srkit.degrade.fit_recipe import Baseline
from srkit.degrade.ops import OPS
from srkit.degrade.ops.compress import jpeg_bytes
from srkit.degrade.ops.resize import resize_image
from srkit.demo.pages import manga_page

SCAN = (16.0, 224.0, 1.0)


@pytest.fixture(scope="module")
def page() -> np.ndarray:
    return resize_image(manga_page(1600, 1131, seed=3), 400, 283, "bicubic_aa")


def decoded(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)


@pytest.mark.parametrize("quality", [1, 17, 50, 63, 75, 88, 95, 100])
def test_quality_from_tables_is_exact_gray_and_colour(page, quality):
    gray = jpeg_file_info(jpeg_bytes(page, quality))
    assert (gray.quality, gray.standard, gray.subsampling, gray.progressive) == (quality, True, "gray", False)
    rgb = np.stack([page, page, 255 - page], axis=2)
    for code, name in (("420", "4:2:0"), ("422", "4:2:2"), ("444", "4:4:4")):
        info = jpeg_file_info(jpeg_bytes(rgb, quality, code))
        assert (info.quality, info.subsampling) == (quality, name)


def test_progressive_and_non_standard_tables_are_flagged(page):
    buf = io.BytesIO()
    Image.fromarray(page).save(buf, "JPEG", quality=80, progressive=True)
    assert jpeg_file_info(buf.getvalue()).progressive
    tables = standard_tables()[79, 0].copy()
    tables[::7] += 1  # another encoder's tweak of quality 80
    assert nearest_quality(tables) == (80, False)
    assert jpeg_file_info(b"not a jpeg") is None


@pytest.mark.parametrize("quality", [60, 75, 90])
def test_quality_from_block_artifacts_and_the_grid(page, quality):
    img = decoded(jpeg_bytes(page, quality))
    found = estimate_from_blocks(img)
    assert found.quality is not None and abs(found.quality - quality) <= 5 and found.aligned
    cropped = estimate_from_blocks(np.ascontiguousarray(img[3:, 5:]))
    assert cropped.grid == (5, 3) and not cropped.aligned and abs(cropped.quality - quality) <= 5
    assert estimate_from_blocks(page).quality is None  # never compressed
    assert grid_phase(page)[1] < 1.5 < grid_phase(img)[1]


def test_block_view_picks_evenly_spaced_blocks_before_converting():
    img = np.random.default_rng(0).integers(0, 256, (203, 150), dtype=np.uint8)
    for grid in ((0, 0), (3, 5)):
        every = block_view(img, grid)
        dy, dx = grid
        assert every.shape == ((203 - dy) // 8 * ((150 - dx) // 8), 64) and every.dtype == np.float32
        assert np.array_equal(every[1].reshape(8, 8), img[dy:dy + 8, dx + 8:dx + 16] - np.float32(128.0))
        picked = block_view(img, grid, 100)
        assert np.array_equal(picked, every[np.linspace(0, len(every) - 1, 100).astype(np.int64)])
        assert np.array_equal(block_view(img, grid, 10_000), every)


@pytest.mark.parametrize("sigma", [2.0, 5.0, 12.0])
def test_noise_on_flat_paper_with_and_without_jpeg(sigma):
    rng = np.random.default_rng(int(sigma))
    flat = np.clip(np.rint(180 + rng.standard_normal((256, 256)) * sigma), 0, 255).astype(np.uint8)
    found = noise_sigma(flat)
    assert abs(found.sigma - sigma) < 0.1 * sigma + 0.2 and found.fraction > 0.8  # all but the odd block
    compressed = decoded(jpeg_bytes(flat, 90))
    corrected = noise_sigma(compressed, standard_tables()[89, 0].reshape(8, 8)).sigma
    plain = noise_sigma(compressed).sigma
    assert abs(corrected - sigma) < 0.15 * sigma + 0.3  # the table puts back what JPEG removed
    assert plain is None or plain < corrected  # without the table, JPEG hides part of the noise


def test_noise_is_none_on_a_screentone_without_noise():
    yy, xx = np.mgrid[0:256, 0:256]
    dots = np.where(((yy % 5) - 2) ** 2 + ((xx % 5) - 2) ** 2 < 3, 60, 200).astype(np.uint8)
    assert noise_sigma(dots).sigma is None  # strong at a few frequencies only: texture, not noise


@pytest.mark.parametrize("sigma", [0.5, 1.0, 1.5, 2.0])
def test_blur_of_sharp_edges(sigma):
    params = {"sigma": sigma, "kernel_size": 2 * math.ceil(3 * sigma) + 1}
    img = OPS["gaussian_blur"].apply(sharp_page(), params)
    assert abs(blur_sigma(img, 0.0, 255.0, 0.0).sigma - sigma) <= 0.1


@pytest.mark.parametrize("factor, mode", [(1.5, "bicubic_aa"), (2.0, "bilinear_aa"), (3.0, "lanczos")])
def test_enlargement_factor_and_kernel(page, factor, mode):
    h, w = page.shape
    small = resize_image(page, round(h / factor), round(w / factor), "bicubic_aa")
    found = upscaled_by(resize_image(small, h, w, mode))
    assert abs(found.factor - w / round(w / factor)) < 1e-9 and found.kernel == mode.split("_")[0]
    assert upscaled_by(page).factor == 1.0
    assert upscaled_by(OPS["gaussian_blur"].apply(page, {"sigma": 1.5, "kernel_size": 11})).factor == 1.0


def test_levels_and_tone(page):
    washed = OPS["levels"].apply(page, {"black": 30.0, "white": 220.0, "gamma": 1.0})
    found = levels(washed, None)
    assert abs(found.black - 30) <= 2 and abs(found.white - 220) <= 2
    ramp = np.zeros((128, 256), np.uint8)  # solid black, a ramp of midtones, paper
    ramp[:, 32:224] = np.linspace(0, 255, 192).astype(np.uint8)
    ramp[:, 224:] = 255
    base = levels(ramp, None).gamma
    assert abs(base - 1.0) < 0.1
    for g in (0.7, 1.5):  # the reading follows the curve, by less than g (the window's ends stay put)
        lifted = levels(OPS["levels"].apply(ramp, {"black": 0.0, "white": 255.0, "gamma": g}), None).gamma
        assert min(1.0, g) < lifted / base < max(1.0, g)
    flat_tone = tone(OPS["gaussian_blur"].apply(page, {"sigma": 2.0, "kernel_size": 13}))
    assert tone(page) > flat_tone
    assert levels(np.full((64, 64), 200, np.uint8), None).black is None  # no solid black at all


@pytest.fixture(scope="module")
def demo_pages() -> list[np.ndarray]:
    return [resize_image(manga_page(1600, 1131, seed=seed), 400, 283, "bicubic_aa") for seed in (3, 4, 5)]


def test_gamma_reads_the_tone_curve_not_blur_jpeg_noise_or_enlargement(demo_pages):
    """Blur, resizing, JPEG and noise keep local means; a tone curve after them moves them."""
    for seed, page in zip((3, 4, 5), demo_pages, strict=True):
        base = levels(page, None).gamma
        hr = manga_page(1600, 1131, seed=seed)
        kept = {
            "blur 1.0": OPS["gaussian_blur"].apply(page, {"sigma": 1.0, "kernel_size": 7}),
            "enlarged x2": resize_image(resize_image(hr, 200, 142, "bicubic_aa"), 400, 283, "bicubic_aa"),
            "JPEG q75": decoded(jpeg_bytes(page, 75)),
            "noise 4 on scanned paper": OPS["gaussian_noise"].apply(
                OPS["levels"].apply(page, {"black": 16.0, "white": 224.0, "gamma": 1.0}),
                {"sigma": 4.0, "gray": True, "noise_seed": 1}),
        }
        for what, img in kept.items():
            found = levels(img, noise_sigma(img).sigma).gamma
            assert abs(found / base - 1.0) <= 0.07, (seed, what, found, base)
        for g in (0.77, 1.3):
            washed = {"black": 20.0, "white": 235.0, "gamma": g}
            curved = levels(OPS["levels"].apply(page, washed), None).gamma
            assert (curved / base >= 1.1) if g > 1 else (curved / base <= 0.9), (seed, g, curved, base)


def test_gamma_response_turns_a_reading_back_into_the_levels_gamma(demo_pages):
    """Calibrated on pages, the response maps the reading of those pages put through levels g (and JPEG)
    back to g."""
    response = gamma_response(demo_pages)
    gammas, factors = zip(*response, strict=True)
    assert gammas == tuple(sorted(gammas)) and (1.0, 1.0) in response
    assert all(a < b for a, b, g in zip(factors, factors[1:], gammas, strict=False) if g < 2.0)
    assert all(a <= b for a, b in zip(factors, factors[1:], strict=False))  # lighter curve, no lower reading
    baseline = Baseline(gamma_response=response)
    for g in (0.8, 1.3, 1.6):
        ratios = []
        for page in demo_pages:
            washed = {"black": 20.0, "white": 235.0, "gamma": g}
            raw = decoded(jpeg_bytes(OPS["levels"].apply(page, washed), 85))
            ratios.append(levels(raw, None).gamma / levels(page, None).gamma)
        assert abs(baseline.levels_gamma(float(np.median(ratios))) - g) <= 0.1 * g, (g, ratios)
    assert Baseline().levels_gamma(1.2) == 1.2  # no HR tiles to calibrate on: the factor itself


# ---- the accuracy the issue asks for, on raws made from the real dev pages ------------------------------


@pytest.fixture(scope="module")
def dev_hr(manga_dev_pages) -> list[np.ndarray]:
    return [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in manga_dev_pages]


def measure(hr: np.ndarray, spec: RawSpec) -> dict:
    img, data, suffix = make_raw(hr, spec)
    return measure_array(img, data if suffix == ".jpg" else None)


def test_real_pages_jpeg_quality(dev_hr):
    for page, hr in enumerate(dev_hr):
        for q, colour in ((62, False), (77, True), (91, False), (95, True)):
            assert measure(hr, RawSpec(page, quality=q, colour=colour))["jpeg_quality"] == q
            found = measure(hr, RawSpec(page, quality=q, colour=colour, save="png"))
            assert found["jpeg_quality_source"] == "blockiness" and abs(found["jpeg_quality"] - q) <= 5


def test_real_pages_enlargement_within_5_percent(dev_hr):
    for page, hr in enumerate(dev_hr):
        assert measure(hr, RawSpec(page))["upscaled_by"] == 1.0
        for u, kernel, q in ((1.5, "bicubic_aa", None), (2.0, "lanczos", 90), (3.0, "bilinear_aa", None)):
            w = hr.shape[1] // 4
            truth = w / round(w / u)
            got = measure(hr, RawSpec(page, enlarge=u, kernel=kernel, quality=q))["upscaled_by"]
            assert abs(got - truth) <= 0.05 * truth, (page, u, kernel, got)


def test_real_pages_blur_within_0_3_px(dev_hr):
    for page, hr in enumerate(dev_hr):
        own = measure(hr, RawSpec(page))["blur_sigma"]  # the page's own softness, reduced
        for sigma, q in ((0.5, None), (1.0, 85), (1.5, None), (2.0, 85)):
            got = measure(hr, RawSpec(page, blur=sigma, quality=q))["blur_sigma"]
            assert abs(got - math.hypot(sigma, own)) <= 0.3, (page, sigma, got)


def test_real_pages_noise_within_1_5_levels(dev_hr):
    """Noise comes with scans, whose paper is not pure white (levels 16..224 under the noise)."""
    for page, hr in enumerate(dev_hr):
        for sigma, q, colour in ((2.0, 95, False), (5.0, 90, True), (10.0, 95, True), (15.0, 90, False)):
            got = measure(hr, RawSpec(page, noise=sigma, quality=q, colour=colour, levels=SCAN, seed=page))
            assert abs(got["noise_sigma"] - sigma) <= 1.5, (page, sigma, q, got["noise_sigma"])
