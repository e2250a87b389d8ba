"""The manga scores mean what their names say, on the real dev pages and on generated patterns."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from PIL import Image

from srkit.core.images import read_image
from srkit.demo.pages import _screentone, manga_page
from srkit.train.manga_scores import (
    SCORE_NAMES,
    WINDOW,
    line_f1_by_window,
    manga_scores,
    reference,
    score_against,
    tone_kept_by_window,
    window_starts,
)
from srkit.train.metrics import psnr_ssim_y

BLURS = (0.5, 1.0, 1.5, 2.0, 3.0)


def down_up(img: np.ndarray, factor: int, down: str = "bicubic", up: str = "bicubic") -> np.ndarray:
    """Pillow resize to 1/factor and back to the image's size."""
    filters = {"bicubic": Image.Resampling.BICUBIC, "nearest": Image.Resampling.NEAREST}
    h, w = img.shape
    small = Image.fromarray(img).resize((w // factor, h // factor), filters[down])
    return np.asarray(small.resize((w, h), filters[up]))


def dot_tone(pitch: float, angle: float, size: int = 256, coverage: float = 0.3) -> np.ndarray:
    """A page of one black-dot screentone on white."""
    return np.where(_screentone((size, size), pitch, angle, coverage), 0, 255).astype(np.uint8)


def noise_on_paper(img: np.ndarray, sigma: float = 6.0, seed: int = 0) -> np.ndarray:
    """Gaussian noise added only where the image is white paper (>= 240)."""
    out = img.astype(np.float64)
    white = img >= 240
    out[white] += np.random.default_rng(seed).normal(0.0, sigma, int(white.sum()))
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def dev_pages(manga_dev_pages) -> list[np.ndarray]:
    return [read_image(p, color="gray")[0] for p in manga_dev_pages]


@pytest.fixture(scope="module")
def generated_pages() -> list[np.ndarray]:
    return [manga_page(800, 568, seed=s) for s in (0, 1)]


@pytest.fixture(scope="module")
def enlarged_tones(dev_pages) -> list[np.ndarray]:
    """From each dev page, the 512 px square holding the most screentone, enlarged 2.4 x (bicubic) as
    the page would be at the manga blog post's 4800 px height. At 2000 px the pages' dot screens
    repeat every 2.3 to 2.5 px, finer than a x2 downscale can hold; enlarged, every 6 px."""
    out = []
    for page in dev_pages:
        windows = reference(page).windows
        y, x = max(((y, x) for y, x in windows),
                   key=lambda c: sum(c[0] <= y < c[0] + 448 and c[1] <= x < c[1] + 448 for y, x in windows))
        crop = page[y:y + 512, x:x + 512]
        out.append(cv2.resize(crop, (1228, 1228), interpolation=cv2.INTER_CUBIC))
    return out


def _all_pages(dev_pages, generated_pages):
    return [*dev_pages, *generated_pages]


def test_identical_images_score_perfectly(dev_pages, generated_pages):
    for page in _all_pages(dev_pages, generated_pages):
        scores = manga_scores(page, page.copy(), border=4)
        assert scores == {"tone_kept": 1.0, "moire": 0.0, "line_precision": 1.0, "line_recall": 1.0,
                          "line_f1": 1.0, "paper_noise": 0.0}
    tone = dot_tone(5.0, 45.0)
    assert manga_scores(tone, tone)["tone_kept"] == 1.0 and manga_scores(tone, tone)["moire"] == 0.0


def _decreasing(values: list[float]) -> bool:
    return all(a > b for a, b in zip([1.0, *values], values, strict=False))


def test_blur_lowers_tone_kept_and_line_f1_monotonically(dev_pages, generated_pages, enlarged_tones):
    for page in _all_pages(dev_pages, generated_pages):
        ref = reference(page, border=4)
        lines = [score_against(ref, cv2.GaussianBlur(page, (0, 0), sigma))["line_f1"] for sigma in BLURS]
        assert _decreasing(lines) and lines[-1] < 0.3, lines  # sigma 3 smears the lines away
    for page in [*enlarged_tones, *generated_pages]:
        ref = reference(page, border=4)
        tone = [score_against(ref, cv2.GaussianBlur(page, (0, 0), sigma))["tone_kept"] for sigma in BLURS]
        assert _decreasing(tone) and tone[-1] < 0.05, tone  # and the dots
    # at their own size, the dev pages' fine screens are gone at sigma 1 already
    for page in dev_pages:
        ref = reference(page, border=4)
        tone = [score_against(ref, cv2.GaussianBlur(page, (0, 0), sigma))["tone_kept"] for sigma in BLURS[:2]]
        assert 0.1 < tone[0] and tone[1] < 0.01, tone


def test_x4_down_up_keeps_far_less_screentone_than_x2(enlarged_tones):
    for page in [*enlarged_tones, dot_tone(6.0, 45.0)]:
        ref = reference(page, border=4)
        x2 = score_against(ref, down_up(page, 2))["tone_kept"]
        x4 = score_against(ref, down_up(page, 4))["tone_kept"]
        assert x2 > 0.3 and x4 < 0.5 * x2, (x2, x4)


def test_nearest_resampling_of_a_fine_screentone_raises_moire(dev_pages):
    for tone in (dot_tone(3.0, 45.0), dot_tone(4.0, 30.0), *dev_pages):
        ref = reference(tone)
        nearest = score_against(ref, down_up(tone, 2, "nearest", "nearest"))["moire"]
        bicubic = score_against(ref, down_up(tone, 2))["moire"]
        assert nearest > 0.15 and bicubic < 0.05, (nearest, bicubic)


def test_noise_on_white_paper_raises_paper_noise_and_leaves_lines(dev_pages, generated_pages):
    for page in _all_pages(dev_pages, generated_pages):
        ref = reference(page, border=4)
        clean = score_against(ref, page)
        noisy = score_against(ref, noise_on_paper(page))
        assert clean["paper_noise"] == 0.0 and noisy["paper_noise"] > 3.0
        assert noisy["line_f1"] > 0.99 and noisy["tone_kept"] > 0.95
        assert score_against(ref, noise_on_paper(page, sigma=2.0))["paper_noise"] < noisy["paper_noise"]


def test_tone_kept_ignores_where_the_dots_sit_and_psnr_does_not():
    tone = dot_tone(6.0, 45.0)
    shifted = np.roll(tone, 3, axis=1)  # the same screen, moved by half a cell
    gray = np.full_like(tone, int(tone.mean()))  # the dots smeared into their mean gray
    assert manga_scores(shifted, tone)["tone_kept"] > 0.95 and manga_scores(gray, tone)["tone_kept"] < 0.05
    # PSNR ranks the intact but shifted screen below the smear
    assert psnr_ssim_y(shifted, tone)[0] < psnr_ssim_y(gray, tone)[0]


def test_scores_are_nan_where_the_hr_has_nothing_to_measure():
    paper = np.full((200, 200), 255, np.uint8)
    scores = manga_scores(paper, paper)
    assert all(math.isnan(scores[k]) for k in ("tone_kept", "moire", "line_precision", "line_f1"))
    assert scores["paper_noise"] == 0.0
    assert math.isnan(manga_scores(dot_tone(3.0, 45.0), dot_tone(3.0, 45.0))["paper_noise"])


def test_rgb_is_scored_on_its_luma(generated_pages):
    page = generated_pages[0]
    rgb = np.repeat(page[:, :, None], 3, axis=2)
    blurred = cv2.GaussianBlur(page, (0, 0), 1.0)
    rgb_blurred = np.repeat(blurred[:, :, None], 3, axis=2)
    assert manga_scores(rgb_blurred, rgb) == manga_scores(blurred, page)
    assert manga_scores(blurred[:, :, None], page[:, :, None]) == manga_scores(blurred, page)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="sizes differ"):
        manga_scores(np.zeros((100, 90), np.uint8), np.zeros((100, 100), np.uint8))
    with pytest.raises(TypeError):
        manga_scores(np.zeros((100, 100), np.float32), np.zeros((100, 100), np.uint8))
    with pytest.raises(ValueError, match="too small"):
        manga_scores(np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8), border=4)


def test_windows_cover_the_image_evenly():
    assert window_starts(WINDOW - 1) == []
    assert window_starts(WINDOW) == [0]
    for length in (65, 200, 1406, 1992):
        starts = window_starts(length)
        assert starts[0] == 0 and starts[-1] == length - WINDOW
        assert all(0 < b - a <= WINDOW for a, b in zip(starts, starts[1:], strict=False))
    assert set(SCORE_NAMES) == set(manga_scores(dot_tone(5.0, 0.0), dot_tone(5.0, 0.0)))


def test_scores_by_window_point_at_what_was_lost(dev_pages):
    page = dev_pages[1]
    ref = reference(page, border=4)
    assert set(tone_kept_by_window(ref, page).values()) == {1.0}
    assert set(line_f1_by_window(ref, page).values()) == {1.0}
    damaged = page.copy()
    damaged[1000:1400, 200:600] = cv2.GaussianBlur(page, (0, 0), 2.0)[1000:1400, 200:600]
    tone = tone_kept_by_window(ref, damaged)
    assert np.mean(list(tone.values())) == pytest.approx(score_against(ref, damaged)["tone_kept"])
    for by_window in (tone, line_f1_by_window(ref, damaged)):
        y, x = min(by_window, key=by_window.get)  # the worst window lies in the blurred square
        assert 1000 - WINDOW < y < 1400 and 200 - WINDOW < x < 600 and by_window[(y, x)] < 0.5
        assert max(by_window.values()) == 1.0  # and windows away from it are untouched
